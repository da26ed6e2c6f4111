//! Crash test: concurrent SMTP clients deliver while the server is killed with SIGKILL at a
//! random instant; after a restart every message that got `250` must be in each of its
//! recipients' INBOX, byte for byte, and the store must open cleanly.

mod common;

use mailkeep_core::store::prelude::*;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use mailkeep_core::embedded::{OpenOptions, Store};
use rand::Rng;

const CLIENTS: usize = 8;
const MESSAGES_PER_ROUND: usize = 400;
const ROUNDS: usize = 4;

/// (recipients, body) of every message that was acknowledged.
type Acked = Arc<Mutex<Vec<(Vec<&'static str>, String)>>>;

fn client(addr: std::net::SocketAddr, round: usize, id: usize, acked: Acked) {
    let Some(mut c) = Client::try_connect(addr) else {
        return;
    };
    if !c.reply().starts_with("220") || !c.cmd("EHLO crash.example.net").starts_with("250") {
        return;
    }
    for n in 0..MESSAGES_PER_ROUND / CLIENTS {
        let rcpts: Vec<&'static str> = match n % 3 {
            0 => vec!["alice@example.org"],
            1 => vec!["bob@example.org"],
            _ => vec!["alice@example.org", "bob@example.org"],
        };
        let fill: String = rand::rng()
            .sample_iter(rand::distr::Alphanumeric)
            // Every tenth body is over the inline threshold and goes to a segment file.
            .take(if n % 10 == 9 {
                70_000 + n * 101
            } else {
                200 + n * 37 % 3000
            })
            .map(char::from)
            .collect();
        let body = format!(
            "From: c{id}@example.net\r\nSubject: round {round} client {id} message {n}\r\nMessage-ID: <{round}.{id}.{n}@crash>\r\n\r\n{}\r\n",
            fill.as_bytes()
                .chunks(70)
                .map(|l| std::str::from_utf8(l).unwrap())
                .collect::<Vec<_>>()
                .join("\r\n")
        );
        if !c.cmd("MAIL FROM:<c@example.net>").starts_with("250") {
            return;
        }
        for r in &rcpts {
            if !c.cmd(&format!("RCPT TO:<{r}>")).starts_with("250") {
                return;
            }
        }
        if !c.cmd("DATA").starts_with("354") {
            return;
        }
        c.send(body.as_bytes());
        if c.cmd(".").starts_with("250") {
            acked.lock().unwrap().push((rcpts, body));
        } else {
            return;
        }
    }
}

fn after_received(msg: &[u8]) -> String {
    String::from_utf8(strip_received(msg).to_vec()).unwrap()
}

#[test]
fn acknowledged_mail_survives_sigkill() {
    let tmp = data_dir(&[]);
    let dir = data_path(&tmp);
    let acked: Acked = Arc::default();
    let mut total_killed_in_flight = 0;
    for round in 0..ROUNDS {
        let mut server = Server::start(&dir);
        let addr = server.addr("smtp");
        let before = acked.lock().unwrap().len();
        let threads: Vec<_> = (0..CLIENTS)
            .map(|id| {
                let acked = acked.clone();
                std::thread::spawn(move || client(addr, round, id, acked))
            })
            .collect();
        let delay = rand::rng().random_range(100..1500);
        std::thread::sleep(Duration::from_millis(delay));
        server.kill9();
        for t in threads {
            t.join().unwrap();
        }
        let now = acked.lock().unwrap().len();
        if now - before < MESSAGES_PER_ROUND {
            total_killed_in_flight += 1;
        }
        eprintln!(
            "round {round}: killed after {delay} ms, {} messages acknowledged",
            now - before
        );
    }
    assert!(
        total_killed_in_flight > 0,
        "at least one kill landed mid-delivery"
    );

    // Restart once more: recovery must run cleanly and the server must serve again.
    let mut server = Server::start(&dir);
    assert!(
        send_mail(
            server.addr("smtp"),
            "x@example.net",
            &["bob@example.org"],
            "From: x@example.net\r\nSubject: after\r\n\r\nok\r\n"
        )
        .starts_with("250")
    );
    assert!(server.terminate(), "clean shutdown");

    let store = Store::open(&dir, OpenOptions::exclusive()).unwrap();
    assert!(store.integrity_check().unwrap().is_empty());
    let mut held: HashMap<&str, Vec<String>> = HashMap::new();
    for user in ["alice@example.org", "bob@example.org"] {
        let acc = store.account(user).unwrap().unwrap();
        let mb = store.mailbox(acc.id, "INBOX").unwrap().unwrap();
        let msgs = store.messages(mb.id).unwrap();
        let uids: Vec<u32> = msgs.iter().map(|m| m.uid).collect();
        assert!(
            uids.windows(2).all(|w| w[0] < w[1]),
            "UIDs strictly ascending"
        );
        assert!(mb.uidnext > *uids.last().unwrap_or(&0));
        held.insert(
            user,
            msgs.iter()
                .map(|m| after_received(&store.read_blob(&m.hash).unwrap()))
                .collect(),
        );
    }
    let acked = acked.lock().unwrap();
    assert!(
        acked.len() > 50,
        "the test delivered something ({} acknowledged)",
        acked.len()
    );
    let mut lost = 0;
    for (rcpts, body) in acked.iter() {
        for r in rcpts {
            if !held[r].iter().any(|m| m == body) {
                lost += 1;
                eprintln!("LOST for {r}: {}", body.lines().nth(1).unwrap_or(""));
            }
        }
    }
    assert_eq!(lost, 0, "acknowledged messages lost");
}
