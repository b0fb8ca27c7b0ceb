//! The knobs of a resolution: policy, trailing-symlink mode, flags and backend.

#![forbid(unsafe_code)]

/// How `..`, absolute paths and absolute symlinks relate to the root.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Policy {
    /// Kernel `RESOLVE_IN_ROOT` semantics, chroot-like: `..` at the root stays at the root, and
    /// absolute paths and absolute symlinks restart at the root. The default.
    #[default]
    InRoot,
    /// procfsroot semantics, for `/proc/<pid>/root` wormholes: absolute paths and absolute
    /// symlinks restart at the root, but `..` above the root is an error (`EXDEV`) instead of
    /// being silently clamped.
    InRootStrict,
    /// Kernel `RESOLVE_BENEATH` semantics (Go `os.Root`, cap-std): any escape is `EXDEV`,
    /// including an absolute path and an absolute symlink.
    Beneath,
}

/// What to do with the last component of the path if it is a symlink.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Trailing {
    /// Follow it, as `open(2)` does by default.
    #[default]
    Follow,
    /// Do not follow it: the result is the symlink itself (`O_NOFOLLOW`). A trailing slash still
    /// forces it to be followed, as in the kernel.
    NoFollow,
    /// Resolve only the parent, which must exist and be a directory. The last component is
    /// neither followed nor required to exist (procfsroot's `EvalExceptLast`). A last component
    /// of `.` or `..` is not a name, so such a path is resolved in full.
    ParentOnly,
}

bitflags::bitflags! {
    /// Restrictions on what a resolution may walk through.
    #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
    pub struct ResolveFlags: u32 {
        /// Refuse every symlink with `ELOOP` (`RESOLVE_NO_SYMLINKS`). A trailing symlink that is
        /// not followed is still returned.
        const NO_SYMLINKS = 1 << 0;
        /// Refuse to cross a mount point with `EXDEV` (`RESOLVE_NO_XDEV`).
        const NO_XDEV = 1 << 1;
        /// Refuse procfs magic links such as `/proc/self/root` or `/proc/self/fd/3` with `ELOOP`
        /// (`RESOLVE_NO_MAGICLINKS`). On by default. Without it a magic link still cannot be
        /// followed inside a root: the kernel refuses magic-link jumps in scoped lookups with
        /// `EXDEV`, and so does the emulated walker.
        const NO_MAGICLINKS = 1 << 2;
    }
}

impl Default for ResolveFlags {
    fn default() -> Self {
        ResolveFlags::NO_MAGICLINKS
    }
}

/// Which implementation of the resolver to use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Backend {
    /// The kernel backend when `openat2(2)` works, the emulated walker when it does not. The
    /// default.
    #[default]
    Auto,
    /// `openat2(2)`. Fails with [`ErrorKind::NotSupported`](crate::ErrorKind) when the kernel
    /// lacks it or a seccomp filter refuses it, instead of falling back.
    ///
    /// Two exceptions, where the emulated walker decides and the result reports
    /// [`BackendUsed::Emulated`]: [`Policy::InRootStrict`] has no kernel flag, so it is asked as
    /// `RESOLVE_BENEATH`, and an `EXDEV` answer (an absolute symlink, allowed by the policy, or
    /// an escape, refused by it) is re-examined; and an `EAGAIN` that
    /// persists through the retries (a rename or mount somewhere on the system during every
    /// attempt of a lookup through `..`) is answered by the walker instead. Every other answer,
    /// success or error (`EACCES`, `ENOENT`, `EXDEV` under the other policies...), is the
    /// kernel's and reports [`BackendUsed::Kernel`].
    Kernel,
    /// Only the userspace walker.
    Emulated,
}

/// The backend that actually produced a result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BackendUsed {
    /// `openat2(2)`: the kernel's answer, as it gave it.
    Kernel,
    /// The userspace walker: under [`Backend::Emulated`], under [`Backend::Auto`] without a
    /// usable `openat2`, or under [`Backend::Kernel`] when the kernel's answer had to be
    /// re-examined (see [`Backend::Kernel`]).
    Emulated,
}

impl BackendUsed {
    /// `"kernel"` or `"emulated"`, as the CLI prints it.
    pub fn as_str(self) -> &'static str {
        match self {
            BackendUsed::Kernel => "kernel",
            BackendUsed::Emulated => "emulated",
        }
    }
}

/// Everything about a resolution except the path and the trailing mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct ResolveOptions {
    /// How escapes are treated.
    pub policy: Policy,
    /// Extra restrictions.
    pub flags: ResolveFlags,
    /// Which implementation to use.
    pub backend: Backend,
}
