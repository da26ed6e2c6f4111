//! A sans-IO SMTP server session for mailkeep.
//!
//! [`Session`] implements the server side of one SMTP connection: RFC 5321
//! with PIPELINING (RFC 2920), SIZE (RFC 1869), 8BITMIME (RFC 6152),
//! SMTPUTF8 (RFC 6531), ENHANCEDSTATUSCODES (RFC 2034/3463), CHUNKING/BDAT
//! (RFC 3030) and STARTTLS (RFC 3207). It does no I/O, reads no clock and
//! stores nothing: the network runtime moves bytes in and out, supplies the
//! current time, and answers the decisions the session cannot make itself
//! (does this recipient exist, was the message stored).
//!
//! # Calling protocol
//!
//! 1. [`Session::new`] queues the greeting.
//! 2. Loop:
//!    * Drain [`Session::poll_event`] and act on each [`Event`]:
//!      - [`Event::Recipient`]: look the address up, then call
//!        [`Session::recipient_verdict`];
//!      - [`Event::Message`]: store the message, then call
//!        [`Session::message_verdict`];
//!      - [`Event::StartTls`]: write the pending output, perform the TLS
//!        handshake, then call [`Session::tls_started`];
//!      - [`Event::Auth`] (listeners with [`SessionConfig::auth_available`]):
//!        check the credentials, then call [`Session::auth_verdict`];
//!      - [`Event::Sender`] (authenticated sessions only): check that the
//!        account may use this reverse-path, then call [`Session::sender_verdict`];
//!      - [`Event::Close`]: write the pending output and close.
//!
//!      Nothing else is processed while a verdict is pending.
//!    * Write [`Session::take_output`] to the peer.
//!    * If [`Session::wants_input`], read from the peer and pass the bytes
//!      to [`Session::receive`] with the current time; if
//!      [`Session::next_deadline`] passes first, call
//!      [`Session::handle_timeout`]. [`Session::shutdown`] ends the session
//!      when the server stops.
//!
//! Input may be split anywhere: the result does not depend on how the peer's
//! bytes are cut into `receive` calls (STARTTLS aside, where input that
//! arrives before the handshake is deliberately dropped). All buffers are
//! bounded by the configured limits, and malformed input only ever produces
//! error replies.
//!
//! ```
//! use std::time::Instant;
//! use mailkeep_smtp::{Event, MessageVerdict, RcptVerdict, Session, SessionConfig};
//!
//! let mut session = Session::new(SessionConfig::default(), false, Instant::now());
//! let mut wire = session.take_output();
//! session.receive(
//!     b"EHLO client.example\r\nMAIL FROM:<a@example.org>\r\nRCPT TO:<b@example.net>\r\n\
//!       DATA\r\nSubject: hi\r\n\r\nHello\r\n.\r\nQUIT\r\n",
//!     Instant::now(),
//! );
//! let mut stored = Vec::new();
//! while let Some(event) = session.poll_event() {
//!     match event {
//!         Event::Recipient { .. } => session.recipient_verdict(RcptVerdict::Accept),
//!         Event::Message { envelope, body } => {
//!             stored.push((envelope, body));
//!             session.message_verdict(MessageVerdict::Accepted { id: "42".into() });
//!         }
//!         Event::StartTls => session.tls_started(),
//!         Event::Auth(_) | Event::Sender { .. } => unreachable!("not offered"),
//!         Event::Close => break,
//!     }
//! }
//! wire.extend(session.take_output());
//! assert!(session.is_closed());
//! assert_eq!(stored[0].0.recipients, ["b@example.net"]);
//! assert_eq!(stored[0].1, b"Subject: hi\r\n\r\nHello\r\n");
//! assert!(String::from_utf8(wire).unwrap().ends_with("250 2.0.0 Ok: queued as 42\r\n221 2.0.0 Bye\r\n"));
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![cfg_attr(
    not(test),
    deny(
        clippy::indexing_slicing,
        clippy::unwrap_used,
        clippy::expect_used,
        clippy::panic,
        clippy::unreachable,
        clippy::todo,
        clippy::unimplemented
    )
)]

mod address;
pub mod client;
mod command;
mod config;
mod data;
mod reply;
mod sasl;
mod session;

#[cfg(test)]
mod tests;

pub use config::{BareNewline, SessionConfig};
pub use reply::Reply;
pub use sasl::{Credentials, Mechanism};
pub use session::{AuthVerdict, Envelope, Event, MessageVerdict, RcptVerdict, Session};
