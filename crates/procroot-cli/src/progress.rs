//! The progress line of `cp`, `rm -r` and `unpack`, and Ctrl-C during them.
//!
//! The library draws nothing: it calls a hook after every entry (`CopyOptions::progress`,
//! `RemoveAllOptions::progress`). [`Watcher::hook`] is that hook. It answers `Break` once
//! SIGINT has arrived, so the library stops between two entries through its own error path: a
//! copy is undone by identity like any failed copy (its `.procroot-copy-*` temporary included,
//! never anything by name alone), a removal stops with what it removed gone. A Ctrl-C while a
//! failed (or stopped) copy is being undone stops the undo too: the temporary is then kept,
//! and the message names it. The command then exits with 130, as shells expect after Ctrl-C.
//!
//! `write` reads its stdin through [`Watcher::reader`], which waits with `poll(2)` (never
//! restarted after a signal, unlike `read(2)` under the handler's `SA_RESTART`): a read blocked
//! on a terminal or pipe returns at Ctrl-C, and the library removes its temporary.
//!
//! The line (entries, bytes, rate, current path) is drawn on stderr with `indicatif`, only when
//! stderr is a terminal, without `--json` and `--quiet`, and only once the work has taken
//! [`DELAY`]: a short copy prints nothing.

use std::io::{self, IsTerminal};
use std::ops::ControlFlow;
use std::os::fd::AsFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};
use procroot::{Errno, Progress};
use procroot_runtime::unpack::UnpackProgress;
use rustix::event::{PollFd, PollFlags};

use crate::output::Failure;

/// How long the work runs before the progress line appears.
const DELAY: Duration = Duration::from_millis(500);
/// How often the line's text is rebuilt (indicatif limits the drawing itself).
const REFRESH: Duration = Duration::from_millis(100);
/// `PROCROOT_PROGRESS_DELAY_MS` replaces [`DELAY`]: for tests, which cannot make a copy take
/// half a second reliably on every machine.
const DELAY_ENV: &str = "PROCROOT_PROGRESS_DELAY_MS";

/// Which work is watched: what the line says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Work {
    /// `cp`: entries and bytes copied, bytes per second.
    Copy,
    /// `rm -r`: entries removed, entries per second.
    Remove,
    /// `write`: no line (the input may be a terminal), only Ctrl-C ([`Watcher::reader`]).
    Write,
    /// `unpack`: entries and bytes written, bytes per second ([`Watcher::unpack_hook`]).
    Unpack,
}

/// Watches one command's copies or removals: SIGINT, and the progress line.
pub struct Watcher {
    work: Work,
    /// Set by the SIGINT handler; cleared when the hook acts on it, so that a second Ctrl-C
    /// can stop the undo of the copy the first one stopped.
    interrupted: Arc<AtomicBool>,
    /// Whether a Ctrl-C was acted upon (the exit status is then 130).
    stopped: bool,
    /// Whether the line may be drawn at all (a terminal, no `--json`, no `--quiet`).
    show: bool,
    delay: Duration,
    start: Instant,
    /// When the text was last rebuilt.
    shown_at: Option<Instant>,
    bar: Option<ProgressBar>,
}

impl Watcher {
    /// Installs the SIGINT handler (a flag; the handler does nothing else) and decides whether
    /// the line may be shown. A failure to install the handler leaves Ctrl-C as it was
    /// (ending the process at once).
    pub fn new(work: Work, json: bool, quiet: bool) -> Watcher {
        let interrupted = Arc::new(AtomicBool::new(false));
        let _ = signal_hook::flag::register(signal_hook::consts::SIGINT, interrupted.clone());
        let delay = std::env::var(DELAY_ENV)
            .ok()
            .and_then(|ms| ms.parse().ok())
            .map_or(DELAY, Duration::from_millis);
        Watcher {
            work,
            interrupted,
            stopped: false,
            show: !json && !quiet && std::io::stderr().is_terminal(),
            delay,
            start: Instant::now(),
            shown_at: None,
            bar: None,
        }
    }

    /// The library's progress hook: stop after Ctrl-C, else update the line.
    pub fn hook(&mut self, progress: &Progress<'_>) -> ControlFlow<()> {
        if self.interrupted.swap(false, Ordering::Relaxed) {
            self.stopped = true;
            return ControlFlow::Break(());
        }
        if self.show {
            self.draw(progress);
        }
        ControlFlow::Continue(())
    }

    /// The `unpack` hook ([`procroot_runtime::unpack::LayerOptions::progress`]): as
    /// [`Watcher::hook`], for an image layer's progress.
    pub fn unpack_hook(&mut self, progress: &UnpackProgress) -> ControlFlow<()> {
        if self.interrupted.swap(false, Ordering::Relaxed) {
            self.stopped = true;
            return ControlFlow::Break(());
        }
        if self.show {
            if let Some(secs) = self.due() {
                // The name is the archive's, chosen by whoever wrote it: `{:?}` quotes it and
                // escapes control characters, so it cannot drive the terminal.
                let text = format!(
                    "unpacked {} entries, {} ({}/s) {:?}",
                    progress.entries,
                    HumanBytes(progress.bytes_written),
                    HumanBytes((progress.bytes_written as f64 / secs) as u64),
                    progress.path
                );
                self.set_line(text);
            }
        }
        ControlFlow::Continue(())
    }

    /// The seconds since the start when the line is due to be drawn (after [`DELAY`], at most
    /// every [`REFRESH`]), else `None`.
    fn due(&mut self) -> Option<f64> {
        let now = Instant::now();
        let elapsed = now.duration_since(self.start);
        if elapsed < self.delay || self.shown_at.is_some_and(|t| now - t < REFRESH) {
            return None;
        }
        self.shown_at = Some(now);
        Some(elapsed.as_secs_f64().max(0.001))
    }

    /// Draws `text` as the line (one draw: the text changes every time, and a spinner's tick
    /// would draw it twice).
    fn set_line(&mut self, text: String) {
        let bar = self.bar.get_or_insert_with(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            if let Ok(style) = ProgressStyle::with_template("{wide_msg}") {
                bar.set_style(style);
            }
            bar
        });
        bar.set_message(text);
    }

    fn draw(&mut self, progress: &Progress<'_>) {
        let Some(secs) = self.due() else {
            return;
        };
        // The path is the entry's name inside a tree someone else may control: `{:?}` quotes
        // it and escapes control characters, so a name cannot move the cursor or recolour the
        // terminal.
        let text = match self.work {
            Work::Write | Work::Unpack => return,
            Work::Copy if progress.undoing => format!(
                "copy failed; removing what it made: {} entries removed {:?}",
                progress.entries,
                progress.path()
            ),
            Work::Copy => format!(
                "copied {} entries, {} ({}/s) {:?}",
                progress.entries,
                HumanBytes(progress.bytes),
                HumanBytes((progress.bytes as f64 / secs) as u64),
                progress.path()
            ),
            Work::Remove => format!(
                "removed {} entries ({:.0}/s) {:?}",
                progress.entries,
                progress.entries as f64 / secs,
                progress.path()
            ),
        };
        self.set_line(text);
    }

    /// Clears the line, before anything else is printed.
    pub fn clear(&mut self) {
        if let Some(bar) = self.bar.take() {
            bar.finish_and_clear();
        }
    }

    /// `err`, or [`Failure::Interrupted`] when Ctrl-C stopped the work (or its undo, or a
    /// read of [`Watcher::reader`]).
    pub fn failure(&mut self, err: procroot::Error) -> Failure {
        self.clear();
        if self.stopped || self.interrupted.load(Ordering::Relaxed) {
            Failure::Interrupted(err)
        } else {
            Failure::Library(err)
        }
    }

    /// `input`, read so that Ctrl-C ends a read that is waiting for data: each read first
    /// waits with `poll(2)` (at most [`REFRESH`] at a time, so a signal arriving just before
    /// the wait is not missed), and gives up with an error once SIGINT has arrived. `io::copy`
    /// retries `Interrupted`, so the error has another kind ([`io::ErrorKind::Other`]) and
    /// says "interrupted".
    pub fn reader<R: io::Read + AsFd>(&self, input: R) -> Interruptible<R> {
        Interruptible {
            input,
            interrupted: self.interrupted.clone(),
        }
    }
}

/// A reader that stops at Ctrl-C: see [`Watcher::reader`].
pub struct Interruptible<R> {
    input: R,
    interrupted: Arc<AtomicBool>,
}

impl<R: io::Read + AsFd> io::Read for Interruptible<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let timeout = rustix::event::Timespec::try_from(REFRESH).ok();
        loop {
            if self.interrupted.load(Ordering::Relaxed) {
                return Err(io::Error::other("interrupted (SIGINT)"));
            }
            let mut fds = [PollFd::new(&self.input, PollFlags::IN)];
            match rustix::event::poll(&mut fds, timeout.as_ref()) {
                // Readable, at end of file or hung up: read() does not block now.
                Ok(n) if n > 0 => return self.input.read(buf),
                Ok(_) | Err(Errno::INTR) => continue,
                // Not pollable (some special files): read as it is.
                Err(_) => return self.input.read(buf),
            }
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.clear();
    }
}
