//! Decompression on a second thread: [`apply_layer_threaded`] (a plain tar is applied on the
//! calling thread: there is nothing to overlap but a copy).
//!
//! A gzip layer costs about as much CPU to inflate as to write out; `tar -xzf` runs `gzip -d`
//! as a second process for that reason. Here a scoped thread reads the layer (and, for an image
//! blob, hashes it), decompresses it, and hands the tar stream over in [`CHUNK`]-sized buffers,
//! while the calling thread applies the entries. Nothing is shared but the buffers: the
//! unpacker, its checks and every syscall on the root stay on the calling thread.

#![forbid(unsafe_code)]

use std::io::{self, Read};
use std::sync::mpsc;

use super::{LayerOptions, LayerReport, RootUnpackExt};
use crate::error::{Error, Result};
use crate::Root;

/// The size of the buffers handed from the decompressing thread to the unpacker.
const CHUNK: usize = 1 << 20;
/// How many buffers may be in flight: enough to ride over a large file's write, few enough to
/// keep the memory bounded (`DEPTH` x [`CHUNK`], whatever the layer's size).
const DEPTH: usize = 4;

/// [`RootUnpackExt::apply_layer`], with the reading and decompressing of a compressed `reader`
/// on a second thread (a scoped one: it ends before this returns, and stops at its next buffer when the
/// unpacker stops early). The report is the same, its [`LayerReport::compression`] included.
pub fn apply_layer_threaded(
    root: &Root,
    mut reader: impl Read + Send,
    opts: LayerOptions<'_>,
) -> Result<LayerReport> {
    // A plain tar has nothing to decompress: the thread would only add a copy of every byte
    // and a hand-off per buffer, so it is applied here, from the reader itself.
    let mut head = [0u8; 4];
    let got = super::layer::read_full(&mut reader, &mut head)
        .map_err(|e| Error::from(e).context("read layer", root.display_name()))?;
    let reader = io::Cursor::new(head[..got].to_vec()).chain(reader);
    if !super::layer::is_compressed(&head[..got]) {
        return root.apply_layer(reader, opts);
    }
    let (full_tx, full_rx) = mpsc::sync_channel::<io::Result<Vec<u8>>>(DEPTH);
    let (empty_tx, empty_rx) = mpsc::channel::<Vec<u8>>();
    std::thread::scope(|scope| {
        let producer = scope.spawn(move || -> io::Result<super::Compression> {
            let (compression, mut stream) = super::layer::decompressed(reader)?;
            loop {
                let mut buf = empty_rx.try_recv().unwrap_or_default();
                buf.resize(CHUNK, 0);
                let n = match super::layer::read_full(&mut stream, &mut buf) {
                    Ok(n) => n,
                    Err(e) => {
                        let _ = full_tx.send(Err(e));
                        return Ok(compression);
                    }
                };
                buf.truncate(n);
                // The unpacker stopped (its receiver is gone): stop reading too.
                if n == 0 || full_tx.send(Ok(buf)).is_err() {
                    return Ok(compression);
                }
            }
        });
        let consumer = ChannelReader {
            rx: full_rx,
            recycle: empty_tx,
            buf: Vec::new(),
            pos: 0,
        };
        let applied = root.apply_layer(consumer, opts);
        // The consumer (and its receiver) was dropped by apply_layer: the producer ends at its
        // next send.
        let compression = producer
            .join()
            .unwrap_or_else(|_| Err(io::Error::other("the decompressing thread panicked")));
        let mut report = applied?;
        report.compression =
            compression.map_err(|e| Error::from(e).context("read layer", root.display_name()))?;
        Ok(report)
    })
}

/// The unpacker's end: the buffers from the decompressing thread, in order; a read error
/// there is this reader's error, at the same place in the stream.
struct ChannelReader {
    rx: mpsc::Receiver<io::Result<Vec<u8>>>,
    recycle: mpsc::Sender<Vec<u8>>,
    buf: Vec<u8>,
    pos: usize,
}

impl Read for ChannelReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.buf.len() {
            match self.rx.recv() {
                Ok(Ok(next)) => {
                    let done = std::mem::replace(&mut self.buf, next);
                    let _ = self.recycle.send(done);
                    self.pos = 0;
                }
                Ok(Err(e)) => return Err(e),
                // The thread ended: the stream did (a zero-length buffer is never sent).
                Err(_) => return Ok(0),
            }
        }
        let n = out.len().min(self.buf.len() - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}
