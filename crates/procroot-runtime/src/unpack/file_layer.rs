//! A plain tar layer in a regular file ([`RootUnpackExt::apply_layer_file`]): its headers read
//! through a small buffer with `pread(2)`, its files' data copied by the kernel from the layer
//! file to each new file (`copy_file_range(2)`), never through this process's memory.
//!
//! Why: a layer is mostly file data (a Debian rootfs: 370 MiB in 20,000 entries). Read through
//! a reader, every byte is copied twice, into user memory and out again; `tar -xf` does the
//! same through its 10 KiB records. Here the kernel copies each file's data once, page to page.
//! The headers, and the data of files that fit in what was read with them, go through a
//! [`BUFFER`]-sized buffer: small enough to stay in the CPU's cache (with a 256 KiB one, the
//! kernel's copy into it was 24% of the unpack's time, against 7% for `tar`'s copy into its
//! 10 KiB records: BENCHMARKS.md 9).
//!
//! The fallback chain, per layer (the first refusal settles it for the rest of the layer):
//! `copy_file_range` (the layer and the root on one file system, or any two since Linux 5.3
//! until 5.18) → `sendfile(2)` (any regular file to any file, since 2.6.33) → `pread` and
//! `write` through the buffer. Only a refusal of the call itself (`EXDEV`, `EINVAL`,
//! `EOPNOTSUPP`, `ENOSYS`) falls back; any other error (`ENOSPC`, `EIO`, `EFBIG`) is the
//! entry's error. A layer that ends inside a file's data fails that entry, as the reader does.
//!
//! Nothing here is about trust: the layer's bytes are parsed exactly as from any reader, and
//! the new file they go to was made by the unpacker, exclusively, in a directory resolved
//! inside the root. The kernel copy only changes who moves the bytes.

#![forbid(unsafe_code)]

use std::cell::{Cell, RefCell};
use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::fd::AsFd;
use std::rc::Rc;

use procroot::error::SyscallErrno as _;
use procroot::{Errno, Error, ErrorKind, Result};

/// The size of the buffer headers (and small files' data) are read into.
pub(super) const BUFFER: usize = 32 * 1024;
/// The most one copy call is asked to move: the progress hook is told between two, so that
/// Ctrl-C is seen within a large file (a `copy_file_range` restarts after a signal).
const MOST_PER_CALL: u64 = super::layer::PROGRESS_EVERY;

/// How file data is moved out of the layer file; see the module docs for the order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Copier {
    CopyFileRange,
    Sendfile,
    ReadWrite,
}

/// The layer file, read from `base` on: a [`Read`] + [`Seek`] for the `tar` crate (a seek only
/// moves the position: the data of a file copied by the kernel is never read here), and the
/// copier of an entry's data. Cloned handles share one state.
#[derive(Clone)]
pub(super) struct FileLayer {
    state: Rc<RefCell<State>>,
    copier: Rc<Cell<Copier>>,
}

struct State {
    file: File,
    /// The file offset the tar stream starts at.
    base: u64,
    /// The stream position the next read starts at.
    pos: u64,
    buf: Vec<u8>,
    /// The stream position of `buf[0]`; `buf` holds `filled` bytes from there.
    buf_at: u64,
    filled: usize,
}

impl FileLayer {
    /// The layer in `file` (a regular file), its tar stream starting at offset `base`.
    pub(super) fn new(file: File, base: u64) -> Self {
        FileLayer {
            state: Rc::new(RefCell::new(State {
                file,
                base,
                pos: 0,
                buf: vec![0; BUFFER],
                buf_at: 0,
                filled: 0,
            })),
            copier: Rc::new(Cell::new(Copier::CopyFileRange)),
        }
    }

    /// The file offset just after what the tar stream consumed: where a reader would have
    /// left the file's offset.
    pub(super) fn end_offset(&self) -> u64 {
        let state = self.state.borrow();
        state.base + state.pos
    }

    /// Copies `len` bytes of the stream at `at` (an entry's data, from
    /// `tar::Entry::raw_file_position`) to the end of `out`; the bytes copied (`len`), or an
    /// error if the layer ends first. `scratch`: the buffer of the last fallback. `tick` is told
    /// the bytes copied so far after each [`MOST_PER_CALL`] of them; its error stops the copy.
    pub(super) fn copy_to(
        &self,
        out: &mut File,
        at: u64,
        len: u64,
        scratch: &mut Vec<u8>,
        tick: &mut dyn FnMut(u64) -> Result<()>,
    ) -> Result<u64> {
        {
            // Data already read with its header (a small file): written from the buffer.
            let state = self.state.borrow();
            if at >= state.buf_at && at + len <= state.buf_at + state.filled as u64 {
                let from = (at - state.buf_at) as usize;
                out.write_all(&state.buf[from..from + len as usize])
                    .map_err(Error::from)?;
                return Ok(len);
            }
        }
        let state = self.state.borrow();
        let (layer, base) = (state.file.as_fd(), state.base);
        let mut off = base + at;
        let end = off + len;
        let mut next_tick = MOST_PER_CALL;
        while off < end {
            let want = (end - off).min(MOST_PER_CALL) as usize;
            let copied = match self.copier.get() {
                Copier::CopyFileRange => {
                    rustix::fs::copy_file_range(layer, Some(&mut off), &*out, None, want)
                }
                Copier::Sendfile => rustix::fs::sendfile(&*out, layer, Some(&mut off), want),
                Copier::ReadWrite => {
                    scratch.resize(BUFFER.max(scratch.len()), 0);
                    let want = want.min(scratch.len());
                    match rustix::io::pread(layer, &mut scratch[..want], off) {
                        Ok(n) => {
                            out.write_all(&scratch[..n]).map_err(Error::from)?;
                            off += n as u64;
                            Ok(n)
                        }
                        Err(e) => Err(e),
                    }
                }
            };
            match copied {
                Ok(0) => {
                    return Err(Error::with_detail(
                        ErrorKind::Os,
                        Errno::IO,
                        format!(
                            "the layer ends inside the file's data ({} of {len} bytes)",
                            len - (end - off)
                        ),
                    ))
                }
                Ok(_) => {
                    let done = len - (end - off);
                    if done >= next_tick && done < len {
                        tick(done)?;
                        next_tick = done + MOST_PER_CALL;
                    }
                }
                Err(Errno::INTR) => {}
                // The call itself is refused for this pair of files: the next one in the chain,
                // for the rest of the layer.
                Err(Errno::XDEV | Errno::INVAL | Errno::OPNOTSUPP | Errno::NOSYS)
                    if self.copier.get() == Copier::CopyFileRange =>
                {
                    self.copier.set(Copier::Sendfile)
                }
                Err(Errno::INVAL | Errno::NOSYS) if self.copier.get() == Copier::Sendfile => {
                    self.copier.set(Copier::ReadWrite)
                }
                Err(e) => {
                    return Err(e.syscall(match self.copier.get() {
                        Copier::CopyFileRange => "copy_file_range",
                        Copier::Sendfile => "sendfile",
                        Copier::ReadWrite => "pread",
                    }))
                }
            }
        }
        Ok(len)
    }
}

impl Read for FileLayer {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        let mut state = self.state.borrow_mut();
        let state = &mut *state;
        let in_buf = state.pos >= state.buf_at && state.pos < state.buf_at + state.filled as u64;
        if !in_buf {
            let at = state.base + state.pos;
            if out.len() >= state.buf.len() {
                // A read as large as the buffer (a long PAX header, the fallback's data) goes
                // straight to the caller.
                let n = rustix::io::pread(&state.file, out, at)?;
                state.pos += n as u64;
                return Ok(n);
            }
            let n = rustix::io::pread(&state.file, &mut state.buf[..], at)?;
            state.buf_at = state.pos;
            state.filled = n;
            if n == 0 {
                return Ok(0);
            }
        }
        let from = (state.pos - state.buf_at) as usize;
        let n = out.len().min(state.filled - from);
        out[..n].copy_from_slice(&state.buf[from..from + n]);
        state.pos += n as u64;
        Ok(n)
    }
}

impl Seek for FileLayer {
    /// Only moves the position (the `tar` crate skips an entry's data with
    /// `SeekFrom::Current`); the next read past the buffer reads from there.
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let mut state = self.state.borrow_mut();
        let pos = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::Current(d) => state.pos.checked_add_signed(d),
            SeekFrom::End(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::Unsupported,
                    "a layer is not seeked from its end",
                ))
            }
        };
        state.pos = pos.ok_or_else(|| io::Error::from(io::ErrorKind::InvalidInput))?;
        Ok(state.pos)
    }
}
