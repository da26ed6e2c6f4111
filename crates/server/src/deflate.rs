//! COMPRESS=DEFLATE (RFC 4978): raw DEFLATE in both directions on top of a connection, with
//! a sync flush at every flush so that each response reaches the client at once.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::conn::Conn;

/// Compressed bytes read ahead from the peer, at most.
const READ_CHUNK: usize = 16 * 1024;

pub(crate) struct Deflate {
    inner: Conn,
    compress: Compress,
    decompress: Decompress,
    /// Compressed input not yet inflated: `input[at..]`.
    input: Vec<u8>,
    at: usize,
    /// Compressed output not yet written to `inner`.
    output: Vec<u8>,
    eof: bool,
}

impl Deflate {
    pub fn new(inner: Conn) -> Self {
        Deflate {
            inner,
            // RFC 4978: raw deflate, no zlib header.
            compress: Compress::new(Compression::fast(), false),
            decompress: Decompress::new(false),
            input: Vec::new(),
            at: 0,
            output: Vec::new(),
            eof: false,
        }
    }

    pub fn inner(&self) -> &Conn {
        &self.inner
    }

    fn deflate(&mut self, mut data: &[u8], flush: FlushCompress) -> io::Result<()> {
        self.output.reserve(data.len() / 2 + 256);
        loop {
            let (in_before, out_before) = (self.compress.total_in(), self.compress.total_out());
            self.compress
                .compress_vec(data, &mut self.output, flush)
                .map_err(io::Error::other)?;
            let used = (self.compress.total_in() - in_before) as usize;
            let produced = self.compress.total_out() - out_before;
            data = data.get(used..).unwrap_or_default();
            // Done once all input is taken and the output did not fill up (so a requested
            // flush is complete too).
            if data.is_empty() && self.output.len() < self.output.capacity() {
                return Ok(());
            }
            if used == 0 && produced == 0 || self.output.len() == self.output.capacity() {
                self.output.reserve(self.output.capacity().max(4096));
            }
        }
    }

    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.output.is_empty() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.output))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.output.drain(..n);
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncRead for Deflate {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if this.at < this.input.len() {
                let out = buf.initialize_unfilled();
                let (in_before, out_before) =
                    (this.decompress.total_in(), this.decompress.total_out());
                this.decompress
                    .decompress(&this.input[this.at..], out, FlushDecompress::Sync)
                    .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
                this.at += (this.decompress.total_in() - in_before) as usize;
                let produced = (this.decompress.total_out() - out_before) as usize;
                if produced > 0 {
                    buf.advance(produced);
                    return Poll::Ready(Ok(()));
                }
                if this.decompress.total_in() == in_before {
                    // No progress without more input: keep the tail and read on.
                    this.input.drain(..this.at);
                    this.at = 0;
                }
            }
            if this.eof {
                return Poll::Ready(Ok(()));
            }
            if this.at >= this.input.len() {
                this.input.clear();
                this.at = 0;
            }
            let mut chunk = [0u8; READ_CHUNK];
            let mut rb = ReadBuf::new(&mut chunk);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut rb))?;
            if rb.filled().is_empty() {
                this.eof = true;
            } else if this.input.len() + rb.filled().len() > 4 * READ_CHUNK {
                return Poll::Ready(Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    "compressed input makes no progress",
                )));
            } else {
                this.input.extend_from_slice(rb.filled());
            }
        }
    }
}

impl AsyncWrite for Deflate {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_write_out(cx))?;
        this.deflate(data, FlushCompress::None)?;
        Poll::Ready(Ok(data.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.deflate(&[], FlushCompress::Sync)?;
        ready!(this.poll_write_out(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_write_out(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}
