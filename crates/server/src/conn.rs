//! A connection that may be upgraded to TLS in place (STARTTLS).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) enum Conn {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    /// COMPRESS=DEFLATE on top of one of the above.
    Compressed(Box<crate::deflate::Deflate>),
    /// Only while an upgrade is in progress or after it failed.
    Gone,
}

/// Admits a new connection, the same way on every listener: takes a slot of `pool` for the
/// peer's address, then performs the handshake on an implicit-TLS port. A connection turned
/// away hears `refusal` (when it speaks plain text: on an implicit-TLS port there is no one
/// to read it before the handshake) and is closed. `None`: the connection is over.
pub(crate) async fn admit(
    pool: &crate::limits::ConnLimits,
    tls: &tokio_rustls::TlsAcceptor,
    stream: TcpStream,
    peer: std::net::SocketAddr,
    implicit_tls: bool,
    refusal: impl FnOnce(crate::limits::Refused) -> &'static str,
) -> Option<(Conn, crate::limits::Slot)> {
    use tokio::io::AsyncWriteExt;
    let mut conn = Conn::Plain(stream);
    let slot = match pool.acquire(peer.ip()) {
        Ok(s) => s,
        Err(why) => {
            let text = refusal(why);
            if !implicit_tls && !text.is_empty() {
                let _ = conn.write_all(text.as_bytes()).await;
            }
            let _ = conn.shutdown().await;
            return None;
        }
    };
    if implicit_tls && conn.upgrade(tls).await.is_err() {
        return None;
    }
    Some((conn, slot))
}

impl Conn {
    /// Performs the server side of a TLS handshake on a plain connection.
    pub async fn upgrade(&mut self, acceptor: &tokio_rustls::TlsAcceptor) -> io::Result<()> {
        let Conn::Plain(tcp) = std::mem::replace(self, Conn::Gone) else {
            return Err(io::Error::other("connection is not plain TCP"));
        };
        let tls = tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))??;
        *self = Conn::Tls(Box::new(tls));
        Ok(())
    }

    pub fn is_tls(&self) -> bool {
        match self {
            Conn::Tls(_) => true,
            Conn::Compressed(d) => d.inner().is_tls(),
            _ => false,
        }
    }

    pub fn is_compressed(&self) -> bool {
        matches!(self, Conn::Compressed(_))
    }

    /// Starts DEFLATE compression in both directions (after the OK was flushed).
    pub fn compress(&mut self) {
        let inner = std::mem::replace(self, Conn::Gone);
        *self = Conn::Compressed(Box::new(crate::deflate::Deflate::new(inner)));
    }

    /// "TLS1.3 TLS13_AES_256_GCM_SHA384" for trace headers.
    pub fn tls_description(&self) -> Option<String> {
        let t = match self {
            Conn::Tls(t) => t,
            Conn::Compressed(d) => return d.inner().tls_description(),
            _ => return None,
        };
        let c = t.get_ref().1;
        Some(format!(
            "version={:?} cipher={:?}",
            c.protocol_version()?,
            c.negotiated_cipher_suite()?.suite()
        ))
    }
}

impl AsyncRead for Conn {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tls(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Compressed(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Conn::Gone => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tls(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Compressed(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Conn::Gone => Poll::Ready(Err(io::ErrorKind::NotConnected.into())),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_flush(cx),
            Conn::Tls(s) => Pin::new(s).poll_flush(cx),
            Conn::Compressed(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Conn::Gone => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tls(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Compressed(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Conn::Gone => Poll::Ready(Ok(())),
        }
    }
}
