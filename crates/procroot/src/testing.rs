//! Switches for tests and for reproducing a user's older kernel: they make procroot behave as if
//! the kernel lacked a feature, or as if a sysctl had a given value. Production code has no
//! reason to call them; they are not part of the stable API.

#![forbid(unsafe_code)]

pub use crate::resolve::protected::set_protected_symlinks;
pub use crate::sys::features::{disable, known_unavailable, Feature};

/// How many [`Root::eval_symlinks`](crate::Root::eval_symlinks) calls made on the calling thread
/// were answered from the kernel's own path (`openat2` plus `d_path`) rather than by the
/// emulated walk: for tests that must know which of the two answered.
pub fn eval_symlinks_kernel_answers() -> u64 {
    crate::root::eval_kernel_answers()
}

/// How many PID roots [`Root::for_pid`](crate::Root::for_pid) keeps right now (see
/// [`Root::set_pid_root_cache`](crate::Root::set_pid_root_cache)): for tests of its bound.
pub fn pid_root_cache_len() -> usize {
    crate::root::pid_root_cache_len()
}

/// Binds `path` onto itself, a final symlink included and not followed, with
/// `MOUNT_ATTR_NOSYMFOLLOW` set (`nosymfollow`) or cleared on the new mount: the shared resolve
/// table's `M` lines, which reproduce libpathrs's mounted-symlink cases. The same three steps
/// the container layer uses (a clone of exactly the file an `O_PATH|O_NOFOLLOW` fd pins, its
/// attributes set while detached, then attached onto that fd), so nothing is looked up by name
/// twice. Changes the caller's mount namespace: call it in a private one.
pub fn rebind_symfollow(path: impl AsRef<std::path::Path>, nosymfollow: bool) -> crate::Result<()> {
    use rustix::fs::{Mode, OFlags};
    use rustix::mount::MountAttrFlags;
    use std::os::fd::AsFd;
    let pinned = rustix::fs::open(
        path.as_ref(),
        OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    let clone = crate::sys::mount::clone_tree(pinned.as_fd(), false)?;
    let flag = MountAttrFlags::MOUNT_ATTR_NOSYMFOLLOW;
    let (set, clear) = if nosymfollow {
        (flag, MountAttrFlags::empty())
    } else {
        (MountAttrFlags::empty(), flag)
    };
    crate::sys::mount::set_attrs(clone.as_fd(), set, clear, false, false)?;
    crate::sys::mount::attach(clone.as_fd(), pinned.as_fd())?;
    Ok(())
}
