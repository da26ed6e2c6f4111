//! The phishing test set (`tests/phish/`, written by `make.py`): 50 phishing messages, every
//! one caught (warned about, put in Junk or refused), and 50 legitimate ones that look like
//! them, every one delivered untouched.

use std::path::Path;

use mailkeep_verdict::{Action, Classifier, Context, Correspondents, Mailbox, Policy, View, judge};

fn mailbox(name: &str, address: &str) -> Mailbox {
    Mailbox {
        name: name.into(),
        address: address.into(),
    }
}

/// Alice at example.org: her colleagues, and whom she has written with.
fn alice() -> Context {
    let mut correspondents = Correspondents::default();
    for m in [
        mailbox("Bob Jones", "bob@partner.com"),
        mailbox("Partner team", "team@partner.com"),
        mailbox("Alice Smith", "alice.smith.home@gmail.com"),
    ] {
        correspondents.add(&m);
    }
    Context {
        own_domains: vec!["example.org".into()],
        colleagues: vec![
            mailbox("Alice Smith", "alice@example.org"),
            mailbox("Carol White", "carol@example.org"),
            mailbox("Dave Brown", "dave@example.org"),
        ],
        correspondents,
        knows_correspondents: true,
        ..Context::default()
    }
}

#[test]
fn every_phishing_message_is_caught_and_every_look_alike_left_alone() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/phish");
    let expected = std::fs::read_to_string(dir.join("expected.tsv")).unwrap();
    let ctx = alice();
    let (mut phish, mut caught, mut legit, mut untouched) = (0, 0, 0, 0);
    let mut wrong = Vec::new();
    for line in expected.lines() {
        let mut f = line.split('\t');
        let (file, want, shows) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
        let raw = std::fs::read(dir.join(file)).unwrap();
        let v = judge(
            &View::of(&raw),
            &ctx,
            &Classifier::new(),
            &Policy::default(),
        );
        let delivered = v.action == Action::Deliver;
        match want {
            "caught" => {
                phish += 1;
                caught += usize::from(!delivered);
            }
            _ => {
                legit += 1;
                untouched += usize::from(delivered);
            }
        }
        if delivered != (want == "untouched") {
            wrong.push(format!("{file} ({shows}): {}", v.header()));
        }
    }
    println!("phishing caught: {caught}/{phish}; legitimate untouched: {untouched}/{legit}");
    assert!(phish >= 50 && legit >= 50, "the set is {phish} + {legit}");
    assert!(wrong.is_empty(), "wrong verdicts:\n{}", wrong.join("\n"));
}

#[test]
fn the_password_message_is_junked_with_a_warning_that_names_the_trick() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/phish");
    let raw = std::fs::read(dir.join("phish-00-someone-has-your-password.eml")).unwrap();
    let v = judge(
        &View::of(&raw),
        &alice(),
        &Classifier::new(),
        &Policy::default(),
    );
    assert!(
        matches!(v.action, Action::Junk | Action::Refuse),
        "{}",
        v.header()
    );
    let warning = v.warning().unwrap();
    assert!(
        warning.contains("google.com but goes to bit.ly"),
        "{warning}"
    );
}
