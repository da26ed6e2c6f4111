//! Regression test for the patch carried on mail-auth 0.13.3 (workspace `[patch]`): with
//! relaxed body canonicalisation, trailing lines holding only whitespace are empty lines and
//! must not change the body hash (RFC 6376 §3.4.4, §3.4.3). Unpatched 0.13.3 hashes
//! `Hello\r\n\r\n\r\n` here and every verifier rejects the signature.

use base64::Engine;
use mail_auth::common::crypto::Ed25519Key;
use mail_auth::dkim::DkimSigner;
use sha2::{Digest, Sha256};

fn body_hash(message: &[u8]) -> Vec<u8> {
    let key = Ed25519Key::from_pkcs8_der(&Ed25519Key::generate_pkcs8().unwrap()).unwrap();
    DkimSigner::from_key(key)
        .domain("example.org")
        .selector("t")
        .headers(["From"])
        .sign(message)
        .unwrap()
        .bh
}

#[test]
fn whitespace_only_trailing_lines_do_not_change_the_relaxed_body_hash() {
    let expected = Sha256::digest(b"Hello\r\n").to_vec();
    assert_eq!(
        base64::engine::general_purpose::STANDARD.encode(&expected),
        "Ba3gj8+xBPQLJTahTfzW6RbWQ/XPgESxkCi2B66PSQg=",
    );
    let head = b"From: a@example.org\r\n\r\n";
    for body in [
        &b"Hello\r\n"[..],
        b"Hello\r\n  \r\n\t\r\n",
        b"Hello \t\r\n\r\n \r\n",
        b"Hello\r\n\r\n\r\n",
    ] {
        let msg = [&head[..], body].concat();
        assert_eq!(
            body_hash(&msg),
            expected,
            "{:?}",
            String::from_utf8_lossy(body)
        );
    }
    // Whitespace before text survives as one space; inner empty lines stay.
    let msg = [&head[..], b"Hello\r\n  \r\n  world  \r\n \r\n"].concat();
    assert_eq!(
        body_hash(&msg),
        Sha256::digest(b"Hello\r\n\r\n world\r\n").to_vec()
    );
}
