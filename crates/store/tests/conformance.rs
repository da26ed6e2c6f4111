//! The seam's conformance suite, run against the embedded backend (SQLite + segment files).

use std::sync::Arc;

use mailkeep_store::faults::{Fault, arm};
use mailkeep_store::{OpenOptions, Store};
use mailkeep_store_api::FixedClock;
use mailkeep_store_api::conformance::{Fixture, START};

fn embedded() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    Store::create(dir.path()).unwrap();
    let clock = FixedClock::at(START);
    let store = Store::open(
        dir.path(),
        OpenOptions {
            exclusive: true,
            clock: Some(clock.clone()),
        },
    )
    .unwrap();
    Fixture {
        backend: Arc::new(store),
        clock,
        fail_next_sync: Some(Box::new(|| arm(Fault::SegmentSync))),
        guard: Box::new(dir),
    }
}

mailkeep_store_api::conformance_tests!(embedded);
