//! The seam's conformance suite, unmodified, against PostgreSQL: a fresh database per check
//! in one throwaway cluster started by the test process.

use std::sync::Arc;

use mailkeep_store_api::FixedClock;
use mailkeep_store_api::conformance::{Fixture, START};
use mailkeep_store_pg::{Options, PgStore, testing};

fn postgres() -> Fixture {
    let url = testing::shared().database();
    let clock = FixedClock::at(START);
    let store = PgStore::open(Options {
        url,
        password: None,
        clock: Some(clock.clone()),
        objects: None,
        tls: None,
    })
    .unwrap();
    Fixture {
        backend: Arc::new(store),
        clock,
        // PostgreSQL's own durability is not the backend's to fake; nothing to inject.
        fail_next_sync: None,
        guard: Box::new(()),
    }
}

mailkeep_store_api::conformance_tests!(postgres);
