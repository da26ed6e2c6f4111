//! Session tests: a scripted driver plus unit, smuggling and property tests.

mod auth;
mod limits;
mod props;
mod smuggling;
mod streaming;
mod unit;

use std::time::{Duration, Instant};

use crate::{
    AuthVerdict, BareNewline, Event, MessageVerdict, RcptVerdict, Reply, Session, SessionConfig,
};

/// Drives a session the way the runtime does, answering verdicts at once:
/// recipients starting with "bad" are refused with 550 5.1.1, every message
/// is accepted with ids Q1, Q2, …, and TLS handshakes succeed immediately.
/// AUTH succeeds for the password `good-password` (as the user name given); senders
/// of authenticated sessions must be in `@example.org` or are refused with 553 5.7.1.
pub(crate) struct Driver {
    pub s: Session,
    pub now: Instant,
    pub events: Vec<Event>,
    pub out: Vec<u8>,
    next_id: u32,
}

impl Driver {
    pub fn new(config: SessionConfig) -> Driver {
        Driver::with_tls(config, false)
    }

    pub fn with_tls(config: SessionConfig, tls: bool) -> Driver {
        let now = Instant::now();
        let mut d = Driver {
            s: Session::new(config, tls, now),
            now,
            events: Vec::new(),
            out: Vec::new(),
            next_id: 0,
        };
        d.drive();
        d
    }

    /// Default configuration, greeting consumed.
    pub fn fresh() -> Driver {
        let mut d = Driver::new(SessionConfig::default());
        d.out.clear();
        d
    }

    /// Default configuration after `EHLO client.example`, output cleared.
    pub fn ehlo() -> Driver {
        Driver::ehlo_with(SessionConfig::default())
    }

    pub fn ehlo_with(config: SessionConfig) -> Driver {
        let mut d = Driver::new(config);
        d.send("EHLO client.example\r\n");
        d.out.clear();
        d
    }

    /// After EHLO, MAIL and one accepted RCPT.
    pub fn in_transaction() -> Driver {
        Driver::in_transaction_with(SessionConfig::default())
    }

    pub fn in_transaction_with(config: SessionConfig) -> Driver {
        let mut d = Driver::ehlo_with(config);
        d.send("MAIL FROM:<sender@example.org>\r\nRCPT TO:<rcpt@example.net>\r\n");
        d.out.clear();
        d.events.clear();
        d
    }

    pub fn drive(&mut self) {
        while let Some(event) = self.s.poll_event() {
            match &event {
                Event::Recipient { address, .. } => {
                    let verdict = if address.starts_with("bad") {
                        RcptVerdict::Reject(Reply::new(550, Some((5, 1, 1)), "User unknown"))
                    } else {
                        RcptVerdict::Accept
                    };
                    self.s.recipient_verdict(verdict);
                }
                Event::Message { .. } => {
                    self.next_id += 1;
                    let id = format!("Q{}", self.next_id);
                    self.s.message_verdict(MessageVerdict::Accepted { id });
                }
                Event::StartTls => {
                    self.out.extend(self.s.take_output());
                    self.s.tls_started();
                }
                Event::Auth(creds) => {
                    let verdict = if creds.password == "good-password" {
                        AuthVerdict::Accept {
                            identity: creds.username.clone(),
                        }
                    } else {
                        AuthVerdict::Reject
                    };
                    self.s.auth_verdict(verdict);
                }
                Event::Sender { address, .. } => {
                    let verdict = if address.ends_with("@example.org") {
                        RcptVerdict::Accept
                    } else {
                        RcptVerdict::Reject(Reply::new(553, Some((5, 7, 1)), "Not yours"))
                    };
                    self.s.sender_verdict(verdict);
                }
                Event::Close => {}
            }
            self.events.push(event);
        }
        self.out.extend(self.s.take_output());
    }

    /// Feeds raw bytes, drives, and returns the output they produced.
    pub fn feed(&mut self, bytes: &[u8]) -> String {
        let before = self.out.len();
        self.s.receive(bytes, self.now);
        self.drive();
        String::from_utf8_lossy(&self.out[before..]).into_owned()
    }

    pub fn send(&mut self, text: &str) -> String {
        self.feed(text.as_bytes())
    }

    pub fn advance(&mut self, by: Duration) {
        self.now += by;
    }

    pub fn messages(&self) -> Vec<(crate::Envelope, Vec<u8>)> {
        self.events
            .iter()
            .filter_map(|e| match e {
                Event::Message { envelope, body } => Some((envelope.clone(), body.clone())),
                _ => None,
            })
            .collect()
    }

    pub fn closed_events(&self) -> usize {
        self.events.iter().filter(|e| **e == Event::Close).count()
    }
}

pub(crate) fn reject_config() -> SessionConfig {
    SessionConfig {
        bare_newline: BareNewline::Reject,
        ..SessionConfig::default()
    }
}

/// Feeds `input` cut at `cuts` (sorted positions), returning output and events.
pub(crate) fn run_split(
    config: &SessionConfig,
    input: &[u8],
    cuts: &[usize],
) -> (Vec<u8>, Vec<Event>) {
    let mut d = Driver::new(config.clone());
    let mut start = 0;
    for &cut in cuts.iter().chain([input.len()].iter()) {
        let cut = cut.clamp(start, input.len());
        d.s.receive(&input[start..cut], d.now);
        d.drive();
        start = cut;
    }
    (d.out, d.events)
}
