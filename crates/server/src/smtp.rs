//! Drives a `mailkeep_smtp::Session` over one connection.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mailkeep_core::accounts::{self, Recipient};
use mailkeep_core::delivery::{self, Trace};
use mailkeep_smtp::{
    BareNewline, Event, MessageVerdict, RcptVerdict, Reply, Session, SessionConfig,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::conn::Conn;
use crate::limits::Refused;
use crate::{Kind, Shared, blocking};

fn session_config(shared: &Shared, kind: Kind) -> SessionConfig {
    let s = &shared.config.smtp;
    SessionConfig {
        hostname: shared.config.hostname.clone(),
        max_command_line: s.max_command_line,
        max_data_line: s.max_data_line,
        max_message_size: s.max_message_size,
        max_recipients: s.max_recipients,
        max_errors: s.max_errors,
        command_timeout: Duration::from_secs(s.command_timeout_secs),
        data_timeout: Duration::from_secs(s.data_timeout_secs),
        bare_newline: match s.bare_newline {
            mailkeep_core::config::BareNewline::Normalize => BareNewline::Normalize,
            mailkeep_core::config::BareNewline::Reject => BareNewline::Reject,
        },
        starttls_available: !kind.implicit_tls(),
        require_auth: matches!(kind, Kind::Submission | Kind::Submissions),
    }
}

/// Whether the account is at or over its storage quota (never, without one).
async fn over_quota(shared: &Arc<Shared>, account_id: i64) -> bool {
    let limit = shared.config.accounts.quota_bytes;
    if limit == 0 {
        return false;
    }
    let store = shared.store.clone();
    matches!(
        blocking(move || store.account_usage(account_id)).await,
        Some(Ok(used)) if used >= limit
    )
}

fn temp_failure() -> Reply {
    Reply::new(
        451,
        Some((4, 3, 0)),
        "Error: local storage problem, try again later",
    )
}

pub(crate) async fn serve(shared: Arc<Shared>, stream: TcpStream, peer: SocketAddr, kind: Kind) {
    let mut conn = Conn::Plain(stream);
    let _slot = match shared.smtp_limits.acquire(peer.ip()) {
        Ok(s) => s,
        Err(why) => {
            let text = match why {
                Refused::PerIp => "421 4.7.0 Error: too many connections from your address\r\n",
                Refused::Total => "421 4.3.2 Error: too many connections, try again later\r\n",
            };
            if !kind.implicit_tls() {
                let _ = conn.write_all(text.as_bytes()).await;
            }
            let _ = conn.shutdown().await;
            return;
        }
    };
    if kind.implicit_tls() && conn.upgrade(&shared.tls).await.is_err() {
        return;
    }
    if let Err(e) = drive(&shared, &mut conn, peer, kind).await {
        tracing::debug!(%peer, error = %e, "smtp connection ended");
    }
    let _ = conn.shutdown().await;
}

async fn drive(
    shared: &Arc<Shared>,
    conn: &mut Conn,
    peer: SocketAddr,
    kind: Kind,
) -> std::io::Result<()> {
    let mut session = Session::new(session_config(shared, kind), conn.is_tls(), Instant::now());
    let mut shutdown = shared.shutdown.clone();
    let mut shutting_down = false;
    // Accepted recipients of the current transaction and the account each resolved to.
    let mut accounts: HashMap<String, i64> = HashMap::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        while let Some(event) = session.poll_event() {
            match event {
                Event::Recipient { address, .. } => {
                    // A new transaction (after RSET or a rejected one): forget the old one's
                    // recipients, so a connection cannot grow this map without bound.
                    if session.accepted_recipients() == 0 {
                        accounts.clear();
                    }
                    // Cache hits cost one small file read; misses go to the blocking pool.
                    let stamp = shared.store.directory_stamp();
                    let found = match shared.recipients.get(&stamp, &address) {
                        Some(hit) => Some(Ok::<_, mailkeep_core::store::Error>(hit)),
                        None => {
                            let (store, shared2, addr) =
                                (shared.store.clone(), shared.clone(), address.clone());
                            blocking(move || {
                                let found = accounts::resolve_recipient(&store, &addr)?;
                                shared2.recipients.put(stamp, &addr, &found);
                                Ok(found)
                            })
                            .await
                        }
                    };
                    let verdict = match found {
                        Some(Ok(Recipient::Local(acc))) if over_quota(shared, acc.id).await => {
                            RcptVerdict::Reject(Reply::new(
                                452,
                                Some((4, 2, 2)),
                                format!("<{address}>: Mailbox full, try again later"),
                            ))
                        }
                        Some(Ok(Recipient::Local(acc))) => {
                            accounts.insert(address, acc.id);
                            RcptVerdict::Accept
                        }
                        Some(Ok(Recipient::UnknownUser)) => RcptVerdict::Reject(Reply::new(
                            550,
                            Some((5, 1, 1)),
                            format!("<{address}>: Recipient address rejected: User unknown"),
                        )),
                        Some(Ok(Recipient::NotLocal)) => RcptVerdict::Reject(Reply::new(
                            554,
                            Some((5, 7, 1)),
                            format!("<{address}>: Relay access denied"),
                        )),
                        Some(Ok(Recipient::Invalid)) => RcptVerdict::Reject(Reply::new(
                            550,
                            Some((5, 1, 3)),
                            format!("<{address}>: Bad recipient address syntax"),
                        )),
                        Some(Err(e)) => {
                            tracing::error!(error = %e, "recipient lookup failed");
                            RcptVerdict::Reject(Reply::new(
                                451,
                                Some((4, 3, 0)),
                                "Error: temporary lookup failure, try again later",
                            ))
                        }
                        None => RcptVerdict::Reject(temp_failure()),
                    };
                    session.recipient_verdict(verdict);
                    // The lookup's time is ours, not the client's idleness.
                    session.receive(&[], Instant::now());
                }
                Event::Message { envelope, body } => {
                    let ids: Vec<i64> = envelope
                        .recipients
                        .iter()
                        .filter_map(|r| accounts.get(r).copied())
                        .collect();
                    accounts.clear();
                    let verdict = if ids.is_empty() {
                        MessageVerdict::Rejected(Reply::new(
                            554,
                            Some((5, 5, 1)),
                            "Error: no valid recipients",
                        ))
                    } else {
                        let trace = Trace {
                            helo: envelope.helo.clone(),
                            peer_ip: peer.ip(),
                            protocol: match (envelope.esmtp, envelope.tls) {
                                (false, _) => "SMTP",
                                (true, false) => "ESMTP",
                                (true, true) => "ESMTPS",
                            },
                            hostname: shared.config.hostname.clone(),
                            tls: conn.tls_description(),
                        };
                        let id = delivery::new_id(rand::random());
                        let (tx, rx) = tokio::sync::oneshot::channel();
                        delivery::deliver(
                            &shared.store,
                            &trace,
                            &id,
                            &envelope.recipients,
                            &ids,
                            &body,
                            mailkeep_core::time::now(),
                            move |r| {
                                let _ = tx.send(r);
                            },
                        );
                        let stored = rx.await.ok();
                        match stored {
                            Some(Ok(placed)) => {
                                for p in &placed {
                                    shared.notify(p.mailbox_id);
                                }
                                tracing::info!(%id, from = %envelope.mail_from, rcpts = envelope.recipients.len(), "delivered");
                                MessageVerdict::Accepted { id }
                            }
                            Some(Err(e)) => {
                                tracing::error!(error = %e, "delivery failed");
                                MessageVerdict::Rejected(temp_failure())
                            }
                            None => MessageVerdict::Rejected(temp_failure()),
                        }
                    };
                    session.message_verdict(verdict);
                    session.receive(&[], Instant::now());
                }
                Event::StartTls => {
                    let out = session.take_output();
                    conn.write_all(&out).await?;
                    conn.flush().await?;
                    conn.upgrade(&shared.tls).await?;
                    session.tls_started();
                }
                Event::Close => {
                    let out = session.take_output();
                    conn.write_all(&out).await?;
                    conn.flush().await?;
                    return Ok(());
                }
            }
        }
        let out = session.take_output();
        if !out.is_empty() {
            conn.write_all(&out).await?;
            conn.flush().await?;
        }
        if session.is_closed() {
            return Ok(());
        }
        let deadline = session.next_deadline();
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d.into()).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            r = conn.read(&mut buf) => match r? {
                0 => return Ok(()),
                n => session.receive(&buf[..n], Instant::now()),
            },
            () = sleep => session.handle_timeout(Instant::now()),
            _ = shutdown.changed(), if !shutting_down => {
                shutting_down = true;
                session.shutdown();
            }
        }
    }
}
