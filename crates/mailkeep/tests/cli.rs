//! The command line: happy paths and a one-line reason for every kind of bad input.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::*;

fn fails_with(dir: &std::path::Path, args: &[&str], stdin: Option<&str>, reason: &str) {
    let (ok, _out, err) = cli(dir, args, stdin);
    assert!(!ok, "mailkeep {args:?} should fail");
    let err = err.trim();
    assert_eq!(err.lines().count(), 1, "one line of reason, got {err:?}");
    assert!(err.starts_with("mailkeep: error: "), "{err}");
    assert!(
        err.contains(reason),
        "{args:?}: {err:?} should mention {reason:?}"
    );
}

#[test]
fn init_creates_config_cert_and_private_keys() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    ok(
        &dir,
        &[
            "init",
            "--domain",
            "example.org",
            "--hostname",
            "mx.example.org",
        ],
        None,
    );
    let cfg = std::fs::read_to_string(dir.join("mailkeep.toml")).unwrap();
    assert!(cfg.contains("hostname = \"mx.example.org\""));
    assert!(cfg.contains("smtp = [\"127.0.0.1:2525\"]"));
    assert!(cfg.contains("max_message_size = 52428800"));
    assert!(
        cfg.lines()
            .filter(|l| l.trim_start().starts_with('#'))
            .count()
            >= 5,
        "commented"
    );
    for f in [
        "tls-cert.pem",
        "tls-key.pem",
        "dkim-example.org-ed25519.pem",
        "dkim-example.org-rsa.pem",
    ] {
        let mode = std::fs::metadata(dir.join("keys").join(f))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{f}");
    }
    assert_eq!(ok(&dir, &["domain", "list"], None), "example.org\n");
    fails_with(
        &dir,
        &["init", "--domain", "example.org"],
        None,
        "already initialised",
    );
}

#[test]
fn users_domains_aliases() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    fails_with(
        &dir,
        &["user", "list"],
        None,
        "not a mailkeep data directory",
    );
    fails_with(&dir, &["serve"], None, "not a mailkeep data directory");
    ok(&dir, &["init", "--domain", "example.org"], None);
    let pw = Some("a good long password\n");
    ok(
        &dir,
        &["user", "add", "alice@example.org", "--password-stdin"],
        pw,
    );
    fails_with(
        &dir,
        &["user", "add", "alice@example.org", "--password-stdin"],
        pw,
        "already exists",
    );
    fails_with(
        &dir,
        &["user", "add", "Alice@EXAMPLE.org", "--password-stdin"],
        pw,
        "already exists",
    );
    fails_with(
        &dir,
        &["user", "add", "carol@example.net", "--password-stdin"],
        pw,
        "unknown domain",
    );
    fails_with(
        &dir,
        &["user", "add", "not-an-address", "--password-stdin"],
        pw,
        "malformed address",
    );
    fails_with(
        &dir,
        &["user", "add", "dave@example.org", "--password-stdin"],
        Some("\n"),
        "password is empty",
    );
    fails_with(
        &dir,
        &["user", "add", "dave@example.org", "--password-stdin"],
        Some("short\n"),
        "minimum of 12",
    );
    ok(&dir, &["domain", "add", "Example.NET"], None);
    fails_with(
        &dir,
        &["domain", "add", "example.net"],
        None,
        "already exists",
    );
    fails_with(&dir, &["domain", "add", "bad_domain!"], None, "malformed");
    assert_eq!(
        ok(&dir, &["domain", "list"], None),
        "example.net\nexample.org\n"
    );
    ok(
        &dir,
        &["user", "add", "carol@example.net", "--password-stdin"],
        pw,
    );
    assert_eq!(
        ok(&dir, &["user", "list"], None),
        "alice@example.org\ncarol@example.net\n"
    );
    ok(
        &dir,
        &["alias", "add", "sales@example.org", "alice@example.org"],
        None,
    );
    ok(
        &dir,
        &["alias", "add", "@example.net", "carol@example.net"],
        None,
    );
    fails_with(
        &dir,
        &["alias", "add", "sales@example.org", "carol@example.net"],
        None,
        "already exists",
    );
    fails_with(
        &dir,
        &["alias", "add", "x@example.org", "nobody@example.org"],
        None,
        "no such user",
    );
    fails_with(
        &dir,
        &["alias", "add", "x@nowhere.org", "alice@example.org"],
        None,
        "unknown domain",
    );
    let aliases = ok(&dir, &["alias", "list"], None);
    assert!(aliases.contains("sales@example.org -> alice@example.org"));
    assert!(aliases.contains("@example.net -> carol@example.net"));
    assert!(
        aliases.contains("postmaster@example.org -> alice@example.org"),
        "first user gets postmaster"
    );
    ok(
        &dir,
        &["user", "passwd", "alice@example.org", "--password-stdin"],
        Some("another long password\n"),
    );
    fails_with(
        &dir,
        &["user", "passwd", "zed@example.org", "--password-stdin"],
        pw,
        "no such user",
    );
    fails_with(
        &dir,
        &["user", "passwd", "alice@example.org", "--password-stdin"],
        Some("tiny\n"),
        "minimum",
    );
    ok(&dir, &["user", "del", "carol@example.net"], None);
    fails_with(
        &dir,
        &["user", "del", "carol@example.net"],
        None,
        "no such user",
    );
    assert_eq!(ok(&dir, &["user", "list"], None), "alice@example.org\n");
}

#[test]
fn serve_refuses_port_in_use_bad_cert_bad_config_and_newer_format() {
    let tmp = data_dir(&[]);
    let dir = data_path(&tmp);
    let cfg_path = dir.join("mailkeep.toml");
    let cfg = std::fs::read_to_string(&cfg_path).unwrap();

    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port();
    std::fs::write(
        &cfg_path,
        cfg.replacen(
            "smtp = [\"127.0.0.1:0\"]",
            &format!("smtp = [\"127.0.0.1:{port}\"]"),
            1,
        ),
    )
    .unwrap();
    fails_with(&dir, &["serve"], None, "Address already in use");
    drop(busy);

    std::fs::write(
        &cfg_path,
        cfg.replace("keys/tls-cert.pem", "keys/missing.pem"),
    )
    .unwrap();
    fails_with(&dir, &["serve"], None, "cannot read TLS certificate");
    std::fs::write(
        &cfg_path,
        cfg.replace("max_recipients = 100", "max_recipients = \"lots\""),
    )
    .unwrap();
    fails_with(&dir, &["serve"], None, "mailkeep.toml");
    std::fs::write(&cfg_path, &cfg).unwrap();

    std::fs::write(dir.join("FORMAT"), "mailkeep-data 999\n").unwrap();
    fails_with(&dir, &["serve"], None, "newer than this binary supports");
    fails_with(&dir, &["user", "list"], None, "nothing was modified");
}

#[test]
fn sigterm_shuts_down_cleanly() {
    let tmp = data_dir(&[]);
    let dir = data_path(&tmp);
    let mut server = Server::start(&dir);
    assert!(
        send_mail(
            server.addr("smtp"),
            "x@example.net",
            &["alice@example.org"],
            "From: x@example.net\r\nSubject: a\r\n\r\nb\r\n"
        )
        .starts_with("250")
    );
    // A client in the middle of DATA is told to come back later, not acknowledged.
    let mut c = Client::connect(server.addr("smtp"));
    c.reply();
    c.cmd("EHLO x.example.net");
    c.cmd("MAIL FROM:<x@example.net>");
    c.cmd("RCPT TO:<alice@example.org>");
    assert!(c.cmd("DATA").starts_with("354"));
    c.send(b"Subject: unfinished\r\n\r\n");
    assert!(server.terminate(), "exit status 0");
    assert!(c.reply().starts_with("421 4.3.2"));
    let log = server.log.lock().unwrap().clone();
    assert!(log.contains("stopped"), "{log}");
}

#[test]
fn a_second_server_on_the_same_data_is_refused() {
    let tmp = data_dir(&[]);
    let dir = data_path(&tmp);
    let _server = Server::start(&dir);
    fails_with(&dir, &["serve"], None, "already serving");
    // Administration beside a running server still works.
    ok(&dir, &["domain", "add", "example.net"], None);
}

/// An IDN domain is stored once, as A-labels: `init`, `domain add`, `user add` and `dns`
/// accept either spelling, and `dns` prints only what a DNS provider accepts (ASCII).
#[test]
fn idn_domains_are_stored_and_printed_as_a_labels() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("d");
    ok(&dir, &["init", "--domain", "b\u{fc}cher.example"], None);
    ok(&dir, &["domain", "add", "M\u{fc}ller.example"], None);
    let list = ok(&dir, &["domain", "list"], None);
    assert!(list.contains("xn--bcher-kva.example"), "{list}");
    assert!(list.contains("xn--mller-kva.example"), "{list}");
    assert!(list.is_ascii(), "{list}");
    fails_with(
        &dir,
        &["domain", "add", "xn--mller-kva.example"],
        None,
        "exists",
    );
    let pw = Some("a good long password\n");
    ok(
        &dir,
        &[
            "user",
            "add",
            "anna@b\u{fc}cher.example",
            "--password-stdin",
        ],
        pw,
    );
    fails_with(
        &dir,
        &[
            "user",
            "add",
            "anna@xn--bcher-kva.example",
            "--password-stdin",
        ],
        pw,
        "already exists",
    );
    for spelling in ["b\u{fc}cher.example", "xn--bcher-kva.example"] {
        let zone = ok(&dir, &["dns", spelling], None);
        assert!(zone.is_ascii(), "{zone}");
        assert!(zone.contains("xn--bcher-kva.example"), "{zone}");
    }
}
