//! A synchronous standby: a commit, and so every `250` and `OK`, waits until the standby has
//! it, whatever the database's own `synchronous_commit`; when the primary is lost, the
//! promoted standby holds every acknowledged message.

use std::time::{Duration, Instant};

use mailkeep_store_api::Target;
use mailkeep_store_api::conformance::message;
use mailkeep_store_api::prelude::*;
use mailkeep_store_pg::{Options, PgStore, testing};

fn node(url: &str) -> PgStore {
    PgStore::open(Options {
        url: url.to_owned(),
        ..Options::default()
    })
    .unwrap()
}

fn wait_until(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting until {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn acknowledged_mail_waits_for_the_synchronous_standby_and_survives_failover() {
    let primary = testing::Cluster::start();
    let url = primary.database();
    let db = url.rsplit('/').next().unwrap().to_owned();
    // Tuning that would acknowledge a commit the standby does not have yet.
    primary.execute(&format!(
        "ALTER DATABASE {db} SET synchronous_commit = local"
    ));
    let standby = testing::Cluster::standby_of(&primary, "s1");
    let sync_names = |names: &str| {
        primary.execute(&format!(
            "ALTER SYSTEM SET synchronous_standby_names = '{names}'; SELECT pg_reload_conf()"
        ));
    };
    sync_names("s1");
    wait_until("s1 is the synchronous standby", || {
        primary
            .query_text("SELECT sync_state FROM pg_stat_replication WHERE application_name = 's1'")
            .as_deref()
            == Some("sync")
    });

    let store = node(&url);
    store.add_domain("example.org", 0).unwrap();
    let a = store
        .add_account("u@example.org", "example.org", "h", 0, 7)
        .unwrap();
    let (first, second) = (message("first", 2000), message("second", 2000));
    store
        .deliver(first.clone(), vec![Target::inbox(a)], 0, "first")
        .unwrap();

    // Two synchronous standbys wanted, one there: no commit completes, so no delivery
    // returns, until the primary is content with the one it has.
    sync_names("FIRST 2 (s1, s2)");
    std::thread::scope(|s| {
        let waiting =
            s.spawn(|| store.deliver(second.clone(), vec![Target::inbox(a)], 0, "second"));
        std::thread::sleep(Duration::from_secs(3));
        assert!(
            !waiting.is_finished(),
            "a delivery returned before the synchronous standbys had it: {:?}",
            waiting.join()
        );
        sync_names("s1");
        waiting.join().unwrap().unwrap();
    });
    drop(store);

    // The primary is lost; what was acknowledged is on the promoted standby.
    primary.kill();
    standby.promote();
    let survivor = node(&standby.url(&db));
    let inbox = survivor.mailbox(a, "INBOX").unwrap().unwrap().id;
    let bodies: Vec<Vec<u8>> = survivor
        .messages(inbox)
        .unwrap()
        .iter()
        .map(|m| survivor.read_blob(&m.hash).unwrap())
        .collect();
    assert_eq!(bodies, vec![first, second]);
}
