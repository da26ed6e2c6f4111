//! Which addresses an account may send as (submission, RFC 6409 §6.1).

use mailkeep_core::accounts::{add_alias, add_domain, add_user, owns_address};
use mailkeep_core::embedded::{OpenOptions, Store};
use mailkeep_core::store::prelude::*;

#[test]
fn an_account_owns_its_address_aliases_and_tags_only() {
    let dir = tempfile::tempdir().unwrap();
    Store::create(dir.path()).unwrap();
    let store = Store::open(dir.path(), OpenOptions::default()).unwrap();
    add_domain(&store, "example.org", 1).unwrap();
    add_user(
        &store,
        "alice@example.org",
        "a long enough password",
        12,
        1,
        1,
    )
    .unwrap();
    add_user(
        &store,
        "bob@example.org",
        "a long enough password",
        12,
        1,
        2,
    )
    .unwrap();
    add_alias(&store, "sales@example.org", "alice@example.org", 1).unwrap();
    add_alias(&store, "@example.org", "bob@example.org", 1).unwrap();
    let alice = store.account("alice@example.org").unwrap().unwrap();
    let bob = store.account("bob@example.org").unwrap().unwrap();
    for owned in [
        "alice@example.org",
        "alice+lists@example.org",
        "alice@EXAMPLE.org",
        "sales@example.org",
        "sales+q4@example.org",
    ] {
        assert!(owns_address(&store, &alice, owned).unwrap(), "{owned}");
    }
    for foreign in [
        "bob@example.org",
        "alice@example.net",
        "ceo@example.org",
        "alice",
        "",
        "<alice@example.org>",
    ] {
        assert!(!owns_address(&store, &alice, foreign).unwrap(), "{foreign}");
    }
    // The catch-all delivers every unknown address to bob, but does not let him sign as them.
    assert!(!owns_address(&store, &bob, "ceo@example.org").unwrap());
    assert!(!owns_address(&store, &bob, "sales@example.org").unwrap());
}
