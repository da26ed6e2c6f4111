//! Leaf encoding round trips and rejects garbage; checkpoints sign and verify, and any change
//! to one is caught.

use mailkeep_journal::checkpoint::{self, Checkpoint, NoteError, Signer};
use mailkeep_journal::leaf::{ActorKind, Event, Kind, commitment};
use proptest::prelude::*;

fn signer(name: &str) -> Signer {
    let pkcs8 =
        aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(&aws_lc_rs::rand::SystemRandom::new())
            .unwrap();
    Signer::from_pkcs8(name, pkcs8.as_ref()).unwrap()
}

fn event() -> Event {
    Event {
        kind: Some(Kind::Delivered),
        time: 1_795_752_863,
        actor_kind: Some(ActorKind::Peer),
        actor: "mx.remote.example".into(),
        origin: "192.0.2.7".into(),
        account: "alice@example.org".into(),
        mailbox: "INBOX".into(),
        mailbox_id: 3,
        uid: 42,
        mail_from: "bob@remote.example".into(),
        recipients: vec!["alice@example.org".into(), "hidden-bcc@example.org".into()],
        commitment: Some(commitment(&[7; 32], &[5; 32])),
        detail: String::new(),
    }
}

#[test]
fn events_round_trip_and_the_encoding_is_stable() {
    let e = event();
    let bytes = e.encode();
    assert_eq!(Event::decode(&bytes), Some(e.clone()));
    assert_eq!(bytes[0], 1, "version 1");
    assert_eq!(bytes[1], Kind::Delivered as u8);
    // Trailing bytes, truncation, unknown versions and kinds are refused.
    let mut longer = bytes.clone();
    longer.push(0);
    assert_eq!(Event::decode(&longer), None);
    assert_eq!(Event::decode(&bytes[..bytes.len() - 1]), None);
    let mut v2 = bytes.clone();
    v2[0] = 2;
    assert_eq!(Event::decode(&v2), None);
    let mut bad_kind = bytes;
    bad_kind[1] = 200;
    assert_eq!(Event::decode(&bad_kind), None);
}

#[test]
fn the_commitment_hides_the_message_without_its_secret() {
    let a = commitment(&[1; 32], &[9; 32]);
    assert_eq!(a, commitment(&[1; 32], &[9; 32]));
    assert_ne!(a, commitment(&[2; 32], &[9; 32]), "keyed");
    assert_ne!(a, commitment(&[1; 32], &[8; 32]));
}

#[test]
fn checkpoints_sign_and_verify() {
    let s = signer("mail.example.org");
    let cp = Checkpoint {
        origin: "mail.example.org/journal".into(),
        size: 1234,
        root: [9; 32],
        time: 1_795_752_863,
    };
    let note = s.sign(&cp);
    assert!(note.starts_with("mail.example.org/journal\n1234\n"));
    assert!(note.contains("\n\n\u{2014} mail.example.org "));
    let vkey = s.verifier_key();
    assert_eq!(checkpoint::verify(&note, &vkey), Ok(cp));
    // Another key, an altered size, an altered signature.
    let other = signer("mail.example.org").verifier_key();
    assert!(matches!(
        checkpoint::verify(&note, &other),
        Err(NoteError::NoSignature | NoteError::BadSignature)
    ));
    let forged = note.replacen("\n1234\n", "\n1233\n", 1);
    assert_eq!(
        checkpoint::verify(&forged, &vkey),
        Err(NoteError::BadSignature)
    );
    assert_eq!(
        checkpoint::verify("garbage", &vkey),
        Err(NoteError::Malformed)
    );
    assert_eq!(
        checkpoint::verify(&note, "not+a+key"),
        Err(NoteError::BadKey)
    );
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic_the_decoder(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        if let Some(e) = Event::decode(&bytes) {
            prop_assert_eq!(e.encode(), bytes);
        }
    }

    #[test]
    fn arbitrary_notes_never_panic_the_verifier(note in ".{0,300}") {
        let _ = checkpoint::verify(&note, "a+00000000+AQ==");
    }
}
