//! Drives a `mailkeep_smtp::Session` over one connection.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use mailkeep_core::accounts::{self, Recipient};
use mailkeep_core::delivery::{self, Accepted, Trace};
use mailkeep_core::store::{Account, Actor, NewOutbound};
use mailkeep_smtp::{
    AuthVerdict, BareNewline, Credentials, Envelope, Event, MessageVerdict, RcptVerdict, Reply,
    Session, SessionConfig,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::conn::Conn;
use crate::limits::{Refused, Slot};
use crate::spool::{self, Spool};
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
        max_session: Duration::from_secs(s.max_session_secs),
        max_junk_commands: s.max_junk_commands,
        min_data_rate: s.min_data_rate,
        bare_newline: match s.bare_newline {
            mailkeep_core::config::BareNewline::Normalize => BareNewline::Normalize,
            mailkeep_core::config::BareNewline::Reject => BareNewline::Reject,
        },
        starttls_available: !kind.implicit_tls(),
        auth_available: matches!(kind, Kind::Submission | Kind::Submissions),
        require_auth: matches!(kind, Kind::Submission | Kind::Submissions),
    }
}

/// Whether the account is at or over its storage quota (never, without one); `None` when
/// its usage cannot be read, which must refuse (a limit that fails open is no limit).
async fn over_quota(shared: &Arc<Shared>, account_id: i64) -> Option<bool> {
    let limit = shared.config.accounts.quota_bytes;
    if limit == 0 {
        return Some(false);
    }
    let store = shared.store.clone();
    match blocking(move || store.account_usage(account_id)).await {
        Some(Ok(used)) => Some(used >= limit),
        Some(Err(e)) => {
            tracing::error!(error = %e, account_id, "quota check failed: usage unreadable");
            None
        }
        None => None,
    }
}

fn temp_failure() -> Reply {
    Reply::new(
        451,
        Some((4, 3, 0)),
        "Error: local storage problem, try again later",
    )
}

pub(crate) async fn serve(shared: Arc<Shared>, stream: TcpStream, peer: SocketAddr, kind: Kind) {
    let pool = if kind == Kind::Smtp {
        &shared.mx_limits
    } else {
        &shared.submission_limits
    };
    let refusal = |why| match why {
        Refused::PerIp => "421 4.7.0 Error: too many connections from your address\r\n",
        Refused::Total => "421 4.3.2 Error: too many connections, try again later\r\n",
    };
    let admitted = crate::conn::admit(
        pool,
        &shared.tls,
        stream,
        peer,
        kind.implicit_tls(),
        refusal,
    );
    let Some((mut conn, slot)) = admitted.await else {
        return;
    };
    if let Err(e) = drive(&shared, &mut conn, peer, kind, &slot).await {
        tracing::debug!(%peer, error = %e, "smtp connection ended");
    }
    let _ = conn.shutdown().await;
}

/// Per-connection state beside the session.
#[derive(Default)]
struct Conversation {
    /// The authenticated account.
    account: Option<Account>,
    /// Accepted local recipients of the current transaction and their accounts.
    local: HashMap<String, i64>,
    /// Accepted remote recipients (authenticated sessions only).
    remote: Vec<String>,
}

fn reply(code: u16, enhanced: (u8, u16, u16), text: impl Into<String>) -> Reply {
    Reply::new(code, Some(enhanced), text)
}

async fn drive(
    shared: &Arc<Shared>,
    conn: &mut Conn,
    peer: SocketAddr,
    kind: Kind,
    slot: &Slot,
) -> std::io::Result<()> {
    let mut session = Session::new(session_config(shared, kind), conn.is_tls(), Instant::now());
    let mut shutdown = shared.shutdown.clone();
    let mut shutting_down = false;
    let mut convo = Conversation::default();
    let mut buf = vec![0u8; 64 * 1024];
    let mut spool = Spool::new(shared.spool_dir.clone());
    loop {
        while let Some(event) = session.poll_event() {
            match event {
                Event::Auth(creds) => {
                    let verdict = auth(shared, &mut convo, creds, peer).await;
                    if matches!(verdict, AuthVerdict::Accept { .. }) {
                        slot.logged_in();
                    }
                    session.auth_verdict(verdict);
                    session.receive(&[], Instant::now());
                }
                Event::Sender { address, .. } => {
                    let verdict = sender(shared, &convo, &address).await;
                    session.sender_verdict(verdict);
                    session.receive(&[], Instant::now());
                }
                Event::Recipient { address, .. } => {
                    // A new transaction (after RSET or a rejected one): forget the old one's
                    // recipients, so a connection cannot grow this state without bound.
                    if session.accepted_recipients() == 0 {
                        convo.local.clear();
                        convo.remote.clear();
                    }
                    let verdict = recipient(shared, &mut convo, address, &session).await;
                    session.recipient_verdict(verdict);
                    // The lookup's time is ours, not the client's idleness.
                    session.receive(&[], Instant::now());
                }
                Event::Message { envelope, body } => {
                    let verdict = match whole_message(shared, &mut spool, &session, body).await {
                        Ok((body, _memory)) => {
                            message(shared, &mut convo, conn, peer, envelope, body).await
                        }
                        Err(refused) => MessageVerdict::Rejected(refused),
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
                n => {
                    session.receive(&buf[..n], Instant::now());
                    let content = session.take_content();
                    if !content.is_empty() {
                        spool.append(session.content_id(), content).await;
                    }
                }
            },
            () = sleep => session.handle_timeout(Instant::now()),
            () = slot.evicted(), if convo.account.is_none() => {
                let out = session.take_output();
                conn.write_all(&out).await?;
                conn.write_all(b"421 4.3.2 Error: too many connections; the oldest not logged in are closed\r\n").await?;
                conn.flush().await?;
                return Ok(());
            }
            _ = shutdown.changed(), if !shutting_down => {
                shutting_down = true;
                session.shutdown();
            }
        }
    }
}

/// The complete message the session just announced: what was spooled while it arrived
/// and the `tail` the session still held, in memory within the server-wide budget (which
/// the returned permit holds until the message is stored).
async fn whole_message(
    shared: &Arc<Shared>,
    spool: &mut Spool,
    session: &Session,
    tail: Vec<u8>,
) -> Result<(Vec<u8>, Option<tokio::sync::OwnedSemaphorePermit>), Reply> {
    let id = session.content_id();
    let size = spool.size(id, tail.len());
    // Small messages never left the connection's own bounded buffer.
    let memory = if size > spool::IN_MEMORY as u64 {
        let wait = Duration::from_secs(shared.config.memory.wait_secs);
        match shared.memory.reserve(size.saturating_mul(2), wait).await {
            Some(permit) => Some(permit),
            None => {
                tracing::warn!(
                    size,
                    "message deferred: memory for messages in flight exhausted"
                );
                return Err(reply(
                    451,
                    (4, 3, 1),
                    "Error: too many large messages in progress, try again later",
                ));
            }
        }
    } else {
        None
    };
    match spool.finish(id, tail).await {
        Ok(body) => Ok((body, memory)),
        Err(e) if e.kind() == std::io::ErrorKind::StorageFull => {
            tracing::error!(error = %e, "spooling the message failed: the disk is full");
            Err(reply(
                452,
                (4, 3, 1),
                "Error: insufficient system storage, try again later",
            ))
        }
        Err(e) => {
            tracing::error!(error = %e, "spooling the message failed");
            Err(temp_failure())
        }
    }
}

/// Checks AUTH credentials, within the password-guessing throttle ([`crate::throttle`]).
async fn auth(
    shared: &Arc<Shared>,
    convo: &mut Conversation,
    creds: Credentials,
    peer: SocketAddr,
) -> AuthVerdict {
    if !creds.authzid.is_empty() && creds.authzid != creds.username {
        crate::throttle::log_failure("smtp", peer.ip(), &creds.username, "authzid-mismatch");
        return AuthVerdict::Fail(reply(
            535,
            (5, 7, 8),
            "Error: acting as another user is not permitted",
        ));
    }
    let anonymous = || {
        shared.store.acting(Actor {
            kind: mailkeep_core::store::journal::ActorKind::Peer,
            name: String::new(),
            origin: peer.ip().to_string(),
        })
    };
    let ip = peer.ip();
    let name = crate::throttle::login_name(&creds.username);
    // A name that is no address takes a try from the address's budget like a wrong
    // password, so guessing user names is throttled too.
    let valid = name.is_some();
    let budget_name = name.clone().unwrap_or_else(|| creds.username.clone());
    let try_ = match crate::throttle::reserve_login(shared, ip, &budget_name).await {
        Ok(t) => t,
        Err(blocked) => {
            crate::throttle::log_failure("smtp", ip, &creds.username, "throttled");
            return AuthVerdict::Fail(reply(454, (4, 7, 0), blocked.text()));
        }
    };
    let verdict = match name {
        None => Some(Ok(None)),
        Some(user) => {
            let (store, cache) = (shared.store.clone(), shared.login_cache.clone());
            let pass = creds.password.clone();
            blocking(move || {
                let service = accounts::Service::Smtp;
                accounts::authenticate(&*store, Some(&cache), &user, &pass, service)
            })
            .await
        }
    };
    match verdict {
        Some(Ok(Some(acc))) => {
            shared.auth_throttle.succeeded(try_);
            tracing::info!(%peer, user = %acc.address, mechanism = creds.mechanism.name(), "smtp auth ok");
            let me = shared
                .store
                .acting(Actor::account(&acc.address, &peer.ip().to_string()));
            crate::audit(&me, &acc.address, "smtp auth").await;
            let identity = acc.address.clone();
            convo.account = Some(acc);
            AuthVerdict::Accept { identity }
        }
        Some(Ok(None)) => {
            let reason = if valid {
                "bad-credentials"
            } else {
                "invalid-login-name"
            };
            let delay = crate::throttle::login_failed(
                shared,
                &anonymous(),
                try_,
                "smtp",
                ip,
                &creds.username,
                reason,
            )
            .await;
            tokio::time::sleep(delay).await;
            AuthVerdict::Reject
        }
        _ => {
            shared.auth_throttle.refund(try_);
            AuthVerdict::Fail(reply(
                454,
                (4, 7, 0),
                "Temporary authentication failure, try again later",
            ))
        }
    }
}

/// MAIL FROM of an authenticated session: the account must own the address, and be within
/// its hourly sending limit.
async fn sender(shared: &Arc<Shared>, convo: &Conversation, address: &str) -> RcptVerdict {
    let Some(acc) = convo.account.clone() else {
        return RcptVerdict::Reject(reply(530, (5, 7, 0), "Authentication required"));
    };
    let limit = shared.config.submission.max_messages_per_hour as u64;
    let (store, id) = (shared.store.clone(), acc.id);
    let hour_ago = mailkeep_core::time::now() - 3600;
    let sent = match blocking(move || store.submissions_since(id, hour_ago)).await {
        Some(Ok(n)) => n,
        // A limit that fails open is no limit.
        _ => return RcptVerdict::Reject(temp_failure()),
    };
    if sent >= limit {
        return RcptVerdict::Reject(reply(
            451,
            (4, 7, 1),
            format!("Sending limit of {limit} messages per hour reached, try again later"),
        ));
    }
    if address.is_empty() {
        return RcptVerdict::Reject(reply(
            553,
            (5, 7, 1),
            "The null sender <> is reserved for delivery notifications",
        ));
    }
    let (store, addr, acc2) = (shared.store.clone(), address.to_owned(), acc.clone());
    match blocking(move || accounts::owns_address(&*store, &acc2, &addr)).await {
        Some(Ok(true)) => RcptVerdict::Accept,
        Some(Ok(false)) => RcptVerdict::Reject(reply(
            553,
            (5, 7, 1),
            format!(
                "Sender address <{address}> is not owned by {}; send as your own address or one of your aliases",
                acc.address
            ),
        )),
        _ => RcptVerdict::Reject(temp_failure()),
    }
}

async fn recipient(
    shared: &Arc<Shared>,
    convo: &mut Conversation,
    address: String,
    session: &Session,
) -> RcptVerdict {
    let authenticated = convo.account.is_some();
    if authenticated
        && session.accepted_recipients() >= shared.config.submission.max_recipients_per_message
    {
        return RcptVerdict::Reject(reply(
            452,
            (4, 5, 3),
            "Too many recipients for one submitted message",
        ));
    }
    // Cache hits cost one read of the open stamp file; misses go to the blocking pool.
    let stamp = shared.store.directory_stamp();
    let found = match shared.recipients.get(&stamp, &address) {
        Some(hit) => Some(Ok::<_, mailkeep_core::store::Error>(hit)),
        None => {
            let (store, shared2, addr) = (shared.store.clone(), shared.clone(), address.clone());
            blocking(move || {
                let found = accounts::resolve_recipient(&*store, &addr)?;
                shared2.recipients.put(stamp, &addr, &found);
                Ok(found)
            })
            .await
        }
    };
    match found {
        Some(Ok(Recipient::Local(acc))) => match over_quota(shared, acc.id).await {
            Some(false) => {
                convo.local.insert(address, acc.id);
                RcptVerdict::Accept
            }
            Some(true) => RcptVerdict::Reject(reply(
                452,
                (4, 2, 2),
                format!("<{address}>: Mailbox full, try again later"),
            )),
            None => RcptVerdict::Reject(reply(
                451,
                (4, 3, 0),
                "Error: temporary lookup failure, try again later",
            )),
        },
        Some(Ok(Recipient::NotLocal)) if authenticated => {
            convo.remote.push(address);
            RcptVerdict::Accept
        }
        Some(Ok(Recipient::UnknownUser)) => RcptVerdict::Reject(reply(
            550,
            (5, 1, 1),
            format!("<{address}>: Recipient address rejected: User unknown"),
        )),
        Some(Ok(Recipient::NotLocal)) => RcptVerdict::Reject(reply(
            554,
            (5, 7, 1),
            format!("<{address}>: Relay access denied"),
        )),
        Some(Ok(Recipient::Invalid)) => RcptVerdict::Reject(reply(
            550,
            (5, 1, 3),
            format!("<{address}>: Bad recipient address syntax"),
        )),
        Some(Err(e)) => {
            tracing::error!(error = %e, "recipient lookup failed");
            RcptVerdict::Reject(reply(
                451,
                (4, 3, 0),
                "Error: temporary lookup failure, try again later",
            ))
        }
        None => RcptVerdict::Reject(temp_failure()),
    }
}

/// Our domains, re-read only when the directory changed (not once per message). `None`
/// when they cannot be read: own-domain protection must then refuse, not switch off.
async fn own_domains(shared: &Arc<Shared>) -> Option<Vec<String>> {
    let stamp = shared.store.directory_stamp();
    {
        let cached = shared.own_domains.lock().unwrap_or_else(|p| p.into_inner());
        if cached.0 == stamp {
            return Some(cached.1.clone());
        }
    }
    let store = shared.store.clone();
    let domains = match blocking(move || store.domains()).await? {
        Ok(d) => d,
        Err(e) => {
            tracing::error!(error = %e, "own-domain check failed: domains unreadable");
            return None;
        }
    };
    let names: Vec<String> = domains.into_iter().map(|d| d.name).collect();
    *shared.own_domains.lock().unwrap_or_else(|p| p.into_inner()) = (stamp, names.clone());
    Some(names)
}

async fn message(
    shared: &Arc<Shared>,
    convo: &mut Conversation,
    conn: &Conn,
    peer: SocketAddr,
    envelope: Envelope,
    body: Vec<u8>,
) -> MessageVerdict {
    let local: Vec<(String, i64)> = envelope
        .recipients
        .iter()
        .filter_map(|r| convo.local.get(r).map(|&a| (r.clone(), a)))
        .collect();
    let remote: Vec<String> = envelope
        .recipients
        .iter()
        .filter(|r| convo.remote.contains(r))
        .cloned()
        .collect();
    convo.local.clear();
    convo.remote.clear();
    if local.is_empty() && remote.is_empty() {
        return MessageVerdict::Rejected(reply(554, (5, 5, 1), "Error: no valid recipients"));
    }
    let mut plan = delivery::Plan::new(local, remote);
    let mut body = body;
    let mut extra = String::new();
    let account = convo.account.clone();
    if let Some(acc) = &account {
        // Submission: the From: must be the user's own too, and we sign for its domain.
        let (store, acc2) = (shared.store.clone(), acc.clone());
        let (checked, b) = match blocking(move || {
            let r = mailkeep_core::submission::check_from(&*store, &acc2, &body);
            (r, body)
        })
        .await
        {
            Some(x) => x,
            None => return MessageVerdict::Rejected(temp_failure()),
        };
        body = b;
        let domain = match checked {
            Ok(Ok(domain)) => domain,
            Ok(Err(refusal)) => return MessageVerdict::Rejected(reply(553, (5, 7, 1), refusal.0)),
            Err(_) => return MessageVerdict::Rejected(temp_failure()),
        };
        // RSA signing costs about a millisecond of CPU: not on the runtime's threads.
        let signer = shared.clone();
        match blocking(move || (signer.dkim.sign(&domain, &body), body)).await {
            Some((signature, b)) => {
                extra = signature;
                body = b;
            }
            None => return MessageVerdict::Rejected(temp_failure()),
        }
    }
    let own = if account.is_none()
        && (shared.config.inbound.authenticate || shared.config.verdict.enabled)
    {
        let Some(own) = own_domains(shared).await else {
            return MessageVerdict::Rejected(temp_failure());
        };
        own
    } else {
        Vec::new()
    };
    let mut auth = None;
    if account.is_none() && shared.config.inbound.authenticate {
        body = crate::auth_in::strip_forged_results(body, &shared.config.hostname);
        let cx = crate::auth_in::Context {
            ip: peer.ip(),
            helo: &envelope.helo,
            mail_from: &envelope.mail_from,
            hostname: &shared.config.hostname,
            own_domains: &own,
        };
        match crate::auth_in::check(&shared.resolver, &shared.config.inbound, &cx, &body).await {
            crate::auth_in::Decision::Accept {
                header,
                junk,
                auth: outcomes,
            } => {
                extra = header;
                auth = Some(outcomes);
                if junk {
                    plan.file_in("Junk");
                }
            }
            crate::auth_in::Decision::Reject(text) => plan.reject_all(&text),
        }
    }
    if account.is_none() && shared.config.verdict.enabled {
        let (store, settings, mail_from) = (
            shared.store.clone(),
            shared.config.verdict.clone(),
            envelope.mail_from.clone(),
        );
        let recipients: Vec<String> = plan.local.iter().map(|r| r.address.clone()).collect();
        let judged = blocking(move || {
            // Names of colleagues come from the local addresses.
            let local_addresses = || {
                store
                    .accounts()
                    .map(|a| a.into_iter().map(|a| a.address).collect())
                    .unwrap_or_default()
            };
            let mut plan = plan;
            let known = crate::verdict_in::Known {
                mail_from: &mail_from,
                recipients,
                own_domains: &own,
                local_addresses: &local_addresses,
                auth,
            };
            let judged = crate::verdict_in::apply(&settings, known, body, &mut plan);
            (judged, plan)
        })
        .await;
        let Some((judged, p)) = judged else {
            return MessageVerdict::Rejected(temp_failure());
        };
        plan = p;
        body = judged.body;
        extra.push_str(&judged.header);
    }
    let (targets, remote) = match plan.resolve() {
        delivery::Outcome::Store {
            targets,
            remote,
            refused,
        } => {
            for (rcpt, why) in refused {
                tracing::info!(%peer, from = %envelope.mail_from, %rcpt, reason = %why, "recipient refused");
            }
            (targets, remote)
        }
        delivery::Outcome::Reject(text) => {
            tracing::info!(%peer, from = %envelope.mail_from, reason = %text, "rejected");
            return MessageVerdict::Rejected(reply(550, (5, 7, 1), text));
        }
        delivery::Outcome::Defer(text) => {
            tracing::info!(%peer, from = %envelope.mail_from, reason = %text, "deferred");
            return MessageVerdict::Rejected(reply(451, (4, 7, 1), text));
        }
    };
    let trace = Trace {
        helo: envelope.helo.clone(),
        peer_ip: peer.ip(),
        protocol: match (envelope.esmtp, envelope.tls, account.is_some()) {
            (false, _, _) => "SMTP",
            (true, false, _) => "ESMTP",
            (true, true, false) => "ESMTPS",
            (true, true, true) => "ESMTPSA",
        },
        hostname: shared.config.hostname.clone(),
        tls: conn.tls_description(),
    };
    let id = delivery::new_id(rand::random());
    let local_copies = targets.len();
    let outbound = (!remote.is_empty()).then(|| NewOutbound {
        queue_id: id.clone(),
        account_id: account.as_ref().map(|a| a.id),
        sender: envelope.mail_from.clone(),
        recipients: remote.clone(),
        smtputf8: envelope.smtputf8,
        body_8bit: envelope.body_8bit || body.iter().any(|b| *b >= 0x80),
        requiretls: envelope.requiretls,
    });
    let actor = match &account {
        Some(acc) => Actor::account(&acc.address, &peer.ip().to_string()),
        None => Actor::peer(&envelope.helo, &peer.ip().to_string()),
    };
    let (tx, rx) = tokio::sync::oneshot::channel();
    delivery::accept(
        &*shared.store.acting(actor),
        &trace,
        Accepted {
            id: &id,
            mail_from: &envelope.mail_from,
            rcpts: &envelope.recipients,
            targets,
            extra_headers: &extra,
            outbound,
        },
        body,
        mailkeep_core::time::now(),
        move |r| {
            let _ = tx.send(r);
        },
    );
    match rx.await.ok() {
        Some(Ok(placed)) => {
            if !placed.is_empty() {
                shared.committed();
            }
            if let Some(acc) = &account {
                // Counted for every node; a count lost to a crash here only errs in the
                // sender's favour by one.
                let (store, id) = (shared.store.clone(), acc.id);
                let now = mailkeep_core::time::now();
                let counted = blocking(move || store.record_submission(id, now, now - 3600)).await;
                if let Some(Err(e)) = counted {
                    tracing::warn!(error = %e, "recording a submission for the hourly limit failed");
                }
            }
            if !remote.is_empty() {
                shared.queue_wake.notify_one();
            }
            tracing::info!(%id, from = %envelope.mail_from, local = local_copies, remote = remote.len(), "accepted");
            MessageVerdict::Accepted { id }
        }
        Some(Err(e)) if e.is_storage_full() => {
            tracing::error!(error = %e, "storing the message failed: the disk is full");
            MessageVerdict::Rejected(reply(
                452,
                (4, 3, 1),
                "Error: insufficient system storage, try again later",
            ))
        }
        Some(Err(e)) => {
            tracing::error!(error = %e, "storing the message failed");
            MessageVerdict::Rejected(temp_failure())
        }
        None => MessageVerdict::Rejected(temp_failure()),
    }
}
