//! The outbound queue's workers: take due recipients, deliver them grouped by destination
//! domain (one connection carries every message for that domain), record each recipient's
//! outcome, and tell senders about failures and long delays (RFC 3464).

pub(crate) mod client;
pub(crate) mod mta_sts;
mod route;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use mailkeep_core::outbound::{DsnKind, DsnRecipient, build_dsn, retry_delay};
use mailkeep_core::store::{Claimed, Outcome};
use mailkeep_core::time;

use crate::{Shared, blocking};
use client::{Client, Outgoing, RcptResult, TlsPolicy};

/// How long a claim holds recipients: past it, they count as abandoned (a worker that died)
/// and are due again. Longer than any one delivery can take.
fn lease_secs(shared: &Shared) -> i64 {
    (shared.config.outbound.timeout_secs as i64) * 8 + 60
}

/// Runs until the server stops.
pub(crate) async fn run(shared: Arc<Shared>) {
    let store = shared.store.clone();
    if let Some(Ok(n)) = blocking(move || store.queue_release_claims()).await
        && n > 0
    {
        tracing::info!(
            recipients = n,
            "released delivery claims left by the last run"
        );
    }
    let workers = Arc::new(tokio::sync::Semaphore::new(shared.config.outbound.workers));
    loop {
        let now = time::now();
        let lease = lease_secs(&shared);
        let store = shared.store.clone();
        let claimed = match blocking(move || store.queue_claim(now, lease, 500)).await {
            Some(Ok(c)) => c,
            other => {
                if let Some(Err(e)) = other {
                    tracing::error!(error = %e, "reading the queue failed");
                }
                tokio::time::sleep(Duration::from_secs(5)).await;
                continue;
            }
        };
        if claimed.is_empty() {
            let store = shared.store.clone();
            let next = blocking(move || store.queue_next_due())
                .await
                .and_then(Result::ok)
                .flatten();
            let wait = next.map_or(60, |t| (t - time::now()).clamp(1, 60)) as u64;
            tokio::select! {
                () = shared.queue_wake.notified() => {}
                () = tokio::time::sleep(Duration::from_secs(wait)) => {}
            }
            continue;
        }
        let mut by_domain: BTreeMap<String, Vec<Claimed>> = BTreeMap::new();
        for c in claimed {
            by_domain.entry(c.domain.clone()).or_default().push(c);
        }
        for (domain, items) in by_domain {
            let Ok(permit) = workers.clone().acquire_owned().await else {
                return;
            };
            let shared = shared.clone();
            tokio::spawn(async move {
                let _permit = permit;
                deliver_domain(&shared, &domain, items).await;
            });
        }
    }
}

/// One message's recipients at one domain.
struct Batch {
    items: Vec<Claimed>,
}

/// How far ahead an open connection looks for more mail to the same domain: mail falling due
/// within this many seconds goes now rather than over a new connection a moment later.
const REUSE_LOOKAHEAD_SECS: i64 = 5;
/// More mail taken over one connection after the first claim, at most this many rounds.
const REUSE_ROUNDS: usize = 20;

fn by_message(items: Vec<Claimed>) -> Vec<Batch> {
    let mut batches: Vec<Batch> = Vec::new();
    for c in items {
        match batches
            .iter_mut()
            .find(|b| b.items[0].queue_id == c.queue_id)
        {
            Some(b) => b.items.push(c),
            None => batches.push(Batch { items: vec![c] }),
        }
    }
    batches
}

async fn deliver_domain(shared: &Arc<Shared>, domain: &str, items: Vec<Claimed>) {
    let mut batches = by_message(items);
    let mut results: Vec<(Claimed, RcptResult, Option<String>)> = Vec::new();
    let cfg = &shared.config.outbound;
    let timeout = Duration::from_secs(cfg.timeout_secs);
    let hosts = route::mx_hosts(&shared.resolver, domain, cfg.port).await;
    let mut conn: Option<Client> = None;
    let mut last_error = String::new();
    match hosts {
        Err(route::RouteError::Permanent(e)) => {
            for b in batches {
                for c in b.items {
                    results.push((c, RcptResult::Permanent(e.clone()), None));
                }
            }
            batches = Vec::new();
        }
        Err(route::RouteError::Temporary(e)) => last_error = e,
        Ok(mut targets) => {
            let policy = mta_sts::policy(
                &shared.resolver,
                &shared.store,
                &shared.roots,
                domain,
                cfg.mta_sts_port,
                time::now(),
            )
            .await
            .filter(|p| p.mode == mailkeep_core::mta_sts::Mode::Enforce);
            if let Some(p) = &policy {
                targets.retain(|t| p.allows(&t.name));
                if targets.is_empty() {
                    last_error = format!(
                        "451 4.7.5 none of the MX hosts of {domain} is allowed by its MTA-STS policy"
                    );
                }
            }
            // Under an enforced policy there is no fallback to unverified or plain SMTP.
            let attempts: &[TlsPolicy] = if policy.is_some() {
                &[TlsPolicy::Verified]
            } else {
                &[TlsPolicy::Opportunistic, TlsPolicy::Plain]
            };
            'hosts: for t in &targets {
                for &addr in &t.addrs {
                    for &tls in attempts {
                        match Client::connect(
                            addr,
                            &t.name,
                            &shared.config.hostname,
                            timeout,
                            tls,
                            &shared.roots,
                        )
                        .await
                        {
                            Ok(c) => {
                                tracing::info!(%domain, host = %t.name, %addr, tls = c.is_tls(), verified = c.is_verified(), "connected");
                                conn = Some(c);
                                break 'hosts;
                            }
                            Err(e) => {
                                let tls_failed = e.contains("TLS handshake");
                                tracing::info!(%domain, host = %t.name, %addr, error = %e, "delivery connection failed");
                                last_error = e;
                                if !tls_failed {
                                    break;
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    let Some(mut client) = conn else {
        let why = if last_error.is_empty() {
            format!("no mail server of {domain} could be reached")
        } else {
            last_error
        };
        for b in batches {
            for c in b.items {
                results.push((c, RcptResult::Temporary(why.clone()), None));
            }
        }
        settle(shared, results).await;
        return;
    };
    let mut reset_first = false;
    let mut tried: Vec<i64> = Vec::new();
    for round in 0..=REUSE_ROUNDS {
        tried.extend(
            batches
                .iter()
                .flat_map(|b| b.items.iter().map(|c| c.rcpt_id)),
        );
        let healthy = send_batches(shared, &mut client, batches, reset_first, &mut results).await;
        settle(shared, std::mem::take(&mut results)).await;
        if !healthy || round == REUSE_ROUNDS {
            break;
        }
        let now = time::now();
        let lease = lease_secs(shared);
        let store = shared.store.clone();
        let wanted = domain.to_owned();
        let skip = tried.clone();
        let more = blocking(move || {
            store.queue_claim_domain(&wanted, &skip, now + REUSE_LOOKAHEAD_SECS, now, lease, 100)
        })
        .await
        .and_then(Result::ok)
        .unwrap_or_default();
        if more.is_empty() {
            break;
        }
        tracing::info!(%domain, recipients = more.len(), "more mail for an open connection");
        batches = by_message(more);
        reset_first = true;
    }
    client.quit().await;
}

/// Sends each message over `client`; returns whether the connection is still usable. Once it
/// breaks, the rest wait for the next round.
async fn send_batches(
    shared: &Arc<Shared>,
    client: &mut Client,
    batches: Vec<Batch>,
    mut reset_first: bool,
    results: &mut Vec<(Claimed, RcptResult, Option<String>)>,
) -> bool {
    let mut pending = batches.into_iter();
    let mut healthy = true;
    let mut last_error = String::new();
    for b in pending.by_ref() {
        if reset_first && client.reset().await.is_err() {
            last_error = format!("{} stopped answering", client.host);
            for c in b.items {
                results.push((c, RcptResult::Temporary(last_error.clone()), None));
            }
            healthy = false;
            break;
        }
        reset_first = true;
        let head = &b.items[0];
        let blob = head.blob;
        let store = shared.store.clone();
        let body = match blocking(move || store.read_blob(&blob)).await {
            Some(Ok(body)) => body,
            _ => {
                for c in b.items {
                    results.push((
                        c,
                        RcptResult::Temporary("the stored message could not be read".into()),
                        None,
                    ));
                }
                continue;
            }
        };
        let rcpts: Vec<String> = b.items.iter().map(|c| c.address.clone()).collect();
        let out = Outgoing {
            sender: &head.sender,
            recipients: &rcpts,
            body: &body,
            smtputf8: head.smtputf8,
            body_8bit: head.body_8bit,
            requiretls: head.requiretls,
        };
        match client.send(&out).await {
            Ok(per_rcpt) => {
                for (c, r) in b.items.into_iter().zip(per_rcpt) {
                    results.push((c, r, Some(client.host.clone())));
                }
            }
            Err(e) => {
                // The connection died mid-transaction: nothing is known to be delivered.
                last_error = e;
                for c in b.items {
                    results.push((
                        c,
                        RcptResult::Temporary(last_error.clone()),
                        Some(client.host.clone()),
                    ));
                }
                healthy = false;
                break;
            }
        }
    }
    for b in pending {
        for c in b.items {
            results.push((c, RcptResult::Temporary(last_error.clone()), None));
        }
    }
    healthy
}

/// Records outcomes, turning old temporary failures into expiry, and notifies senders.
async fn settle(shared: &Arc<Shared>, results: Vec<(Claimed, RcptResult, Option<String>)>) {
    let cfg = &shared.config.outbound;
    let now = time::now();
    let mut outcomes = Vec::new();
    let mut bounces: BTreeMap<String, (Claimed, Vec<DsnRecipient>)> = BTreeMap::new();
    let mut delays: BTreeMap<String, (Claimed, Vec<DsnRecipient>)> = BTreeMap::new();
    for (c, r, mta) in results {
        let age = now - c.created_at;
        let outcome = match r {
            RcptResult::Sent(reply) => {
                tracing::info!(queue_id = %c.queue_id, rcpt = %c.address, %reply, "sent");
                Outcome::Sent { reply }
            }
            RcptResult::Permanent(error) => Outcome::Failed { error },
            RcptResult::Temporary(error) if age >= cfg.expiry_secs as i64 => Outcome::Failed {
                // RFC 3463 X.4.7: delivery time expired.
                error: format!(
                    "554 5.4.7 gave up after {} days in the queue; last error: {error}",
                    age / 86_400
                ),
            },
            RcptResult::Temporary(error) => {
                let warn =
                    cfg.delay_warning_secs > 0 && !c.warned && age >= cfg.delay_warning_secs as i64;
                if warn {
                    delays
                        .entry(c.queue_id.clone())
                        .or_insert_with(|| (c.clone(), Vec::new()))
                        .1
                        .push(DsnRecipient {
                            address: c.address.clone(),
                            diagnostic: error.clone(),
                            remote_mta: mta.clone(),
                        });
                }
                let delay = retry_delay(c.attempts + 1, cfg.retry_initial_secs, cfg.retry_max_secs);
                tracing::info!(queue_id = %c.queue_id, rcpt = %c.address, %error, retry_in = delay, "deferred");
                Outcome::Deferred {
                    error,
                    next_attempt: now + delay as i64,
                    warned: warn,
                }
            }
        };
        if let Outcome::Failed { error } = &outcome {
            tracing::warn!(queue_id = %c.queue_id, rcpt = %c.address, %error, "failed");
            bounces
                .entry(c.queue_id.clone())
                .or_insert_with(|| (c.clone(), Vec::new()))
                .1
                .push(DsnRecipient {
                    address: c.address.clone(),
                    diagnostic: error.clone(),
                    remote_mta: mta,
                });
        }
        outcomes.push((c.rcpt_id, outcome));
    }
    let store = shared.store.clone();
    if let Some(Err(e)) = blocking(move || store.queue_record(outcomes, now)).await {
        tracing::error!(error = %e, "recording delivery outcomes failed; they will be retried");
        return;
    }
    for (kind, set) in [(DsnKind::Failed, bounces), (DsnKind::Delayed, delays)] {
        for (queue_id, (c, rcpts)) in set {
            notify_sender(shared, kind, &queue_id, &c, &rcpts).await;
        }
    }
}

/// Puts a DSN into the sender's INBOX (senders of queued mail are our own accounts). Mail
/// from the null sender is never answered (RFC 5321 §6.1: no loops).
async fn notify_sender(
    shared: &Arc<Shared>,
    kind: DsnKind,
    queue_id: &str,
    c: &Claimed,
    rcpts: &[DsnRecipient],
) {
    let (Some(account_id), false) = (c.account_id, c.sender.is_empty()) else {
        return;
    };
    let blob = c.blob;
    let store = shared.store.clone();
    let original = blocking(move || store.read_blob(&blob))
        .await
        .and_then(Result::ok)
        .unwrap_or_default();
    let now = time::now();
    let dsn = build_dsn(
        kind,
        &shared.config.hostname,
        &c.sender,
        queue_id,
        rcpts,
        &original,
        now,
        rand::random(),
    );
    let id = mailkeep_core::delivery::new_id(rand::random());
    let (tx, rx) = tokio::sync::oneshot::channel();
    shared.store.accept_then(
        dsn,
        vec![mailkeep_core::store::Target::inbox(account_id)],
        None,
        (String::new(), vec![c.sender.clone()]),
        now,
        &id,
        Box::new(move |r| {
            let _ = tx.send(r);
        }),
    );
    match rx.await {
        Ok(Ok(_)) => {
            shared.committed();
            tracing::info!(%queue_id, sender = %c.sender, ?kind, "delivery status notification stored");
        }
        _ => tracing::error!(%queue_id, "storing the delivery status notification failed"),
    }
}
