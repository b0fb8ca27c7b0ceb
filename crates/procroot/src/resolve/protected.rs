//! `fs.protected_symlinks`, as the emulated walker needs it.
//!
//! With the sysctl at 1 the kernel refuses (`EACCES`) to follow a *trailing* symlink in a
//! sticky, world-writable directory (`/tmp`) unless the link's owner is the follower's fsuid or
//! the directory's owner (`may_follow_link` in `fs/namei.c`), root included: owning the
//! directory does not let the follower follow a stranger's link in it. The kernel backend gets
//! this for free; the emulated walker has to apply the same rule, and so needs the value.
//!
//! # Layering
//!
//! The value lives in `/proc/sys/fs/protected_symlinks`, which must be read through the hardened
//! procfs handle (an overmounted `/proc/sys` could lie). But `procfs` is built *on* this module
//! (its lookups are resolutions), so `resolve` must not call it. Instead the layer above both
//! (`Root`'s) installs a reader ([`install_reader`]) when it builds a `Root`, and this
//! module calls it lazily, the first time the walker meets a link the rule could refuse, and
//! keeps the answer for the life of the process. A walk that follows no such link never reads
//! anything.
//!
//! When the value is unknown (no reader installed: a caller of [`super::resolve`] that never
//! made a `Root`; or the reader failed: `/proc/sys` masked, as containers often do), the walker
//! assumes 1, the conservative answer: at worst it refuses a link the kernel would follow,
//! never the reverse (libpathrs issue #372 hit exactly this). A failed read is not cached, so a
//! later walk asks again. Recursion (the reader's own procfs lookup meeting such a link, which
//! procfs's layout rules out) also sees "unknown", never a deadlock.

#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::OnceLock;

const UNKNOWN: u8 = 0;
const READING: u8 = 1;
const OFF: u8 = 2;
const ON: u8 = 3;

static STATE: AtomicU8 = AtomicU8::new(UNKNOWN);
static READER: OnceLock<fn() -> Option<bool>> = OnceLock::new();

/// Installs the function that reads the sysctl (`Some(enabled)`, or `None` if it cannot be
/// read). The first one installed wins; later calls are no-ops, so this is cheap to call on every
/// `Root` construction.
pub(crate) fn install_reader(reader: fn() -> Option<bool>) {
    if READER.get().is_none() {
        let _ = READER.set(reader);
    }
}

/// Whether the kernel applies protected symlinks, as far as this process knows: the cached
/// value, else the installed reader's answer, else `true`.
pub(crate) fn enabled() -> bool {
    match STATE.load(Ordering::Acquire) {
        OFF => return false,
        ON => return true,
        _ => {}
    }
    if STATE
        .compare_exchange(UNKNOWN, READING, Ordering::AcqRel, Ordering::Acquire)
        .is_err()
    {
        // Being read right now (by another thread, or by the reader's own lookup), or just set.
        return STATE.load(Ordering::Acquire) != OFF;
    }
    let value = READER.get().and_then(|read| read());
    let state = match value {
        Some(true) => ON,
        Some(false) => OFF,
        None => UNKNOWN,
    };
    // Only replace our own READING: a concurrent `set_protected_symlinks` wins.
    let _ = STATE.compare_exchange(READING, state, Ordering::AcqRel, Ordering::Acquire);
    value.unwrap_or(true)
}

/// Whether the sysctl is known to be 0, without reading it: lets the walker skip the facts the
/// rule needs (a `fstat` of the directory) once the answer cannot depend on them.
pub(crate) fn known_off() -> bool {
    STATE.load(Ordering::Acquire) == OFF
}

/// Tells the emulated walker the value of `fs.protected_symlinks` instead of reading it
/// (`Some(true)` for 1, `Some(false)` for 0), or forgets a known value so that it is read again
/// on next need (`None`). Process-wide.
///
/// The walker reads the sysctl itself through the hardened procfs and assumes 1 when it cannot
/// (see the module documentation); this is for a caller that knows better, such as one in a
/// container whose `/proc/sys` is masked, and for tests. A value that differs from the kernel's
/// makes the emulated backend disagree with `openat2(2)` on links in sticky, world-writable
/// directories: `Some(false)` on a kernel with 1 would follow links the kernel refuses.
pub fn set_protected_symlinks(value: Option<bool>) {
    STATE.store(
        match value {
            Some(true) => ON,
            Some(false) => OFF,
            None => UNKNOWN,
        },
        Ordering::Release,
    );
}
