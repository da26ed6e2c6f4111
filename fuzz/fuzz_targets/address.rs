//! Arbitrary text as an address, a domain or a configuration file, the way an administrator's
//! command line or `mailkeep.toml` reaches them: nothing may panic, and what parses is in
//! its canonical form (parsing it again gives it back unchanged).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mailkeep_core::address::{Address, parse_domain};
use mailkeep_core::config::{Config, parse_period};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(a) = Address::parse(text) {
        let again = Address::parse(&a.to_string()).expect("a parsed address parses again");
        assert_eq!(again.to_string(), a.to_string());
    }
    if let Ok(d) = parse_domain(text) {
        assert_eq!(parse_domain(&d).ok().as_deref(), Some(d.as_str()));
    }
    let _ = parse_period(text);
    let _ = Config::parse(text);
});
