//! TLS to the database: with `Options::tls` every connection is TLS and the server's
//! certificate is verified; a server that refuses plain TCP proves the store never falls
//! back, and a certificate from another authority is refused.

use mailkeep_store_api::conformance::message;
use mailkeep_store_api::prelude::*;
use mailkeep_store_api::{Error, Target};
use mailkeep_store_pg::{Options, PgStore, testing::Cluster};
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};

/// A certificate authority and a server certificate it signed for 127.0.0.1.
struct Pki {
    ca_pem: String,
    cert_pem: String,
    key_pem: String,
}

fn pki() -> Pki {
    let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca = CertifiedIssuer::self_signed(ca, KeyPair::generate().unwrap()).unwrap();
    let key = KeyPair::generate().unwrap();
    let cert = CertificateParams::new(vec!["127.0.0.1".to_owned()])
        .unwrap()
        .signed_by(&key, &ca)
        .unwrap();
    Pki {
        ca_pem: ca.pem(),
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    }
}

/// A client configuration that trusts only `ca_pem`.
fn trusting(ca_pem: &str) -> rustls::ClientConfig {
    use rustls::pki_types::CertificateDer;
    use rustls::pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        roots.add(cert.unwrap()).unwrap();
    }
    rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

fn open(url: &str, tls: Option<rustls::ClientConfig>) -> mailkeep_store_api::Result<PgStore> {
    PgStore::open(Options {
        url: url.to_owned(),
        tls,
        ..Options::default()
    })
}

#[test]
fn the_store_speaks_tls_to_the_database_and_verifies_its_certificate() {
    let ours = pki();
    let cluster = Cluster::start_tls(&ours.cert_pem, &ours.key_pem);
    let url = cluster.database();

    // Trusting the authority that signed the server's certificate: mail flows.
    let store = open(&url, Some(trusting(&ours.ca_pem))).expect("TLS with a trusted certificate");
    store.add_domain("example.org", 0).unwrap();
    let account = store
        .add_account("tls@example.org", "example.org", "h", 0, 7)
        .unwrap();
    let m = message("over tls", 2000);
    store
        .deliver(m.clone(), vec![Target::inbox(account)], 0, "tls-1")
        .unwrap();
    assert_eq!(store.read_blob(&mailkeep_store_api::hash(&m)).unwrap(), m);
    drop(store);

    // Plain TCP: the server refuses it, so the store above cannot have used it.
    match open(&url, None) {
        Err(Error::Db(e)) => assert!(e.message.contains("no encryption"), "{}", e.message),
        other => panic!("a plain connection was accepted: {:?}", other.err()),
    }

    // A certificate no trusted authority signed: refused, whatever the URL's sslmode says.
    let stranger = pki();
    match open(
        &format!("{url}?sslmode=prefer"),
        Some(trusting(&stranger.ca_pem)),
    ) {
        Err(Error::Db(e)) => assert!(e.message.contains("certificate"), "{}", e.message),
        other => panic!("an untrusted certificate was accepted: {:?}", other.err()),
    }
}
