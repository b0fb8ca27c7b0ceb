//! The masked and read-only path lists container runtimes apply by default, where each comes
//! from, and the `*` expansion the per-CPU entries need.

#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, PathBuf};

use crate::root::Root;

/// runc's default masked paths: the `maskedPaths` of the spec template `runc spec` writes.
///
/// Origin: opencontainers/runc, `libcontainer/specconv/example.go`, as of commit 76d9cf5
/// (2026-08-19); the list itself last changed in c740965 (2019-08-26, "libcontainer: update
/// masked paths of /proc"). Kernel interfaces that leak host information or give host-wide
/// control.
pub const RUNC_MASKED_PATHS: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/proc/scsi",
];

/// runc's default read-only paths: the `readonlyPaths` of the same template (same origin as
/// [`RUNC_MASKED_PATHS`]: runc `libcontainer/specconv/example.go`, commit 76d9cf5,
/// 2026-08-19).
pub const RUNC_READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Docker's default masked paths: runc's list plus `/proc/interrupts`,
/// `/sys/devices/virtual/powercap` (the RAPL energy counters, a side channel) and
/// `/sys/devices/system/cpu/cpu*/thermal_throttle` (per-CPU throttling counters, another side
/// channel).
///
/// Origin: moby/moby, `daemon/pkg/oci/defaults.go`, as of commit a3fef5d (2025-03-10), which
/// added the `thermal_throttle` entries for GHSA-6fw5-f8r9-fgfm (containerd and CRI-O followed
/// in 2025). moby expands that glob on the host when it writes a spec; here [`harden`]
/// expands it inside the root, at harden time ([`expand_globs`]), so the masks follow the
/// CPUs the rootfs's `/sys` shows.
///
/// [`harden`]: super::harden
pub const DOCKER_MASKED_PATHS: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
    "/sys/devices/system/cpu/cpu*/thermal_throttle",
];

/// Expands every component that holds a `*` (any run of characters, not a leading `.`) against
/// the entries of the directory it is in, listed inside `root` ([`Root::read_dir`]: symlinks on
/// the way followed inside the root, never out of it), keeping the paths that exist, in name
/// order; a path without `*` is kept as is. A pattern that matches nothing, or whose directory
/// cannot be listed, is kept as given, so that [`mask_paths`](super::mask_paths) reports it
/// (skipped as missing) instead of it vanishing from the report.
pub fn expand_globs(root: &Root, paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for path in paths {
        if !path.as_os_str().as_bytes().contains(&b'*') {
            out.push(path.clone());
            continue;
        }
        let mut found = Vec::new();
        expand_into(root, PathBuf::from("/"), path.components(), &mut found);
        // As a shell glob (and moby's `filepath.Glob`): only paths that exist. `cpu*` also
        // matches `cpufreq`, which has no `thermal_throttle`.
        found.retain(|p| root.symlink_metadata(p).is_ok());
        if found.is_empty() {
            out.push(path.clone());
        }
        out.extend(found);
    }
    out
}

fn expand_into<'a>(
    root: &Root,
    prefix: PathBuf,
    mut rest: std::path::Components<'a>,
    out: &mut Vec<PathBuf>,
) {
    loop {
        let Some(component) = rest.next() else {
            out.push(prefix);
            return;
        };
        let name = match component {
            Component::Normal(name) => name,
            Component::ParentDir => {
                // Lexical, as `mask_paths` itself resolves `..` inside the root.
                let mut prefix = prefix;
                prefix.push("..");
                return expand_into(root, prefix, rest, out);
            }
            _ => continue,
        };
        if !name.as_bytes().contains(&b'*') {
            let mut prefix = prefix;
            prefix.push(name);
            return expand_into(root, prefix, rest, out);
        }
        let Ok(entries) = root.read_dir(&prefix) else {
            return;
        };
        let mut matches: Vec<OsString> = entries
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_owned())
            .filter(|n| wildcard(name.as_bytes(), n.as_bytes()))
            .collect();
        matches.sort();
        for m in matches {
            expand_into(root, prefix.join(&m), rest.clone(), out);
        }
        return;
    }
}

/// Whether `name` matches `pattern`, where `*` stands for any run of bytes; a leading `.` in
/// `name` must be matched literally (as in the shell).
fn wildcard(pattern: &[u8], name: &[u8]) -> bool {
    if name.first() == Some(&b'.') && pattern.first() != Some(&b'.') {
        return false;
    }
    // Iterative matching with one backtrack point (the last `*`).
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, n));
            p += 1;
        } else if p < pattern.len() && pattern[p] == name[n] {
            p += 1;
            n += 1;
        } else if let Some((sp, sn)) = star {
            p = sp + 1;
            n = sn + 1;
            star = Some((sp, sn + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&b| b == b'*')
}

#[cfg(test)]
mod tests {
    use super::wildcard;

    #[test]
    fn wildcard_matches_like_the_shell() {
        assert!(wildcard(b"cpu*", b"cpu0"));
        assert!(wildcard(b"cpu*", b"cpu"));
        assert!(wildcard(b"cpu*", b"cpufreq"));
        assert!(!wildcard(b"cpu*", b"node0"));
        assert!(wildcard(b"*", b"x"));
        assert!(!wildcard(b"*", b".hidden"));
        assert!(wildcard(b"a*b*c", b"aXbYc"));
        assert!(!wildcard(b"a*b*c", b"aXbY"));
        assert!(wildcard(b"exact", b"exact"));
    }
}
