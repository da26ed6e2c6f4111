//! The seam's conformance suite, unmodified, against PostgreSQL with bodies in a 3-node
//! Garage cluster: a fresh database and a fresh key prefix per check.

use std::sync::Arc;

use mailkeep_store_api::FixedClock;
use mailkeep_store_api::conformance::{Fixture, START};
use mailkeep_store_pg::{Options, PgStore, testing};

fn postgres_and_garage() -> Fixture {
    let url = testing::shared().database();
    let prefix = url.rsplit('/').next().unwrap().to_owned();
    let clock = FixedClock::at(START);
    let store = PgStore::open(Options {
        url,
        password: None,
        clock: Some(clock.clone()),
        objects: Some(testing::garage().options(&prefix)),
        tls: None,
    })
    .unwrap();
    Fixture {
        backend: Arc::new(store),
        clock,
        // Neither engine's durability is the backend's to fake; nothing to inject.
        fail_next_sync: None,
        guard: Box::new(()),
    }
}

mailkeep_store_api::conformance_tests!(postgres_and_garage);
