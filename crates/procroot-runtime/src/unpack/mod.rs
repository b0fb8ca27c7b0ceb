//! Unpacking container image layers into a root: [`RootUnpackExt::apply_layer`].
//!
//! The archive is the attacker's: every name, link target and whiteout in it is a path the
//! attacker chose, and the tree it lands in may hold symlinks that an earlier layer (or an
//! earlier entry of this one) planted. umoci's CVE-2021-29136 (a `/.` symlink entry that sent
//! the next layer to the host), the "tar slip" `../../etc/ld.so.preload`, hard links to
//! `/etc/shadow` and whiteouts of `../../x` all came from joining such a name to the root's
//! path as a string. Here no name is ever joined to a host path:
//!
//! - a name is cleaned lexically inside the root (`/` and `.` dropped, a `..` that climbs above
//!   the root refuses the entry); its parent is resolved (and made) by
//!   [`Root::mkdir_all`](procroot::Root::mkdir_all), so a symlink on the way is followed inside
//!   the root, never out of it;
//! - the last name is only ever handed to an `*at` call on that parent fd, never followed: a
//!   new inode is made (exclusive create, `mkdirat`, `symlinkat`, `mknodat`), under a temporary
//!   name if something is there, then renamed over it. An existing file is never opened, so a
//!   FIFO or device planted at the name can neither block nor be written;
//! - hard-link targets are resolved in the root without following the last component, and
//!   linked by fd ([`Root::hardlink_fd`](procroot::Root::hardlink_fd)): never a host file;
//! - whiteouts remove with [`Root::remove_all`](procroot::Root::remove_all) (the shared walker,
//!   this mount only), and never what this layer itself made, which is recorded by (directory
//!   identity, name);
//! - set-ID bits follow the copy rule ([`procroot::set_id_kept`]), device nodes need
//!   [`SpecialFiles::Allow`](procroot::SpecialFiles::Allow).
//!
//! Where the bytes come from changes nothing above. [`RootUnpackExt::apply_layer`] reads any
//! stream; [`RootUnpackExt::apply_layer_file`] reads a plain tar in a regular file with
//! `pread(2)` through a 32 KiB buffer and has the kernel copy each file's data straight from
//! the layer file to the new file (`copy_file_range(2)`, else `sendfile(2)`): one copy of
//! every byte instead of two, which is most of why `procroot unpack LAYER.tar` is faster than
//! `tar -xf` (BENCHMARKS.md). A compressed layer is decompressed on a second thread
//! ([`apply_layer_threaded`]).

#![forbid(unsafe_code)]

mod file_layer;
pub mod image;
mod layer;
mod pipeline;

pub use layer::{
    process_umask, Compression, EntryCounts, LayerOptions, LayerReport, RootUnpackExt, SkipReason,
    SkippedEntry, UnpackProgress, UnpackProgressFn,
};
pub use pipeline::apply_layer_threaded;
