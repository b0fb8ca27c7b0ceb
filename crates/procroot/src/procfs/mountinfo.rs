//! `/proc/<pid>/mountinfo` lines, parsed (see `proc_pid_mountinfo(5)`).
//!
//! Mountinfo is text the kernel printed: a mount point is a `d_path` string, relative to the
//! reader's root, and says nothing certain about which file it names. Callers use it to *find*
//! mounts, and verify each one by its mount id on an fd before acting on it.

#![forbid(unsafe_code)]

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

/// One mountinfo line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountinfoLine {
    /// Field 1: the mount id (the `STATX_MNT_ID` kind).
    pub mount_id: u64,
    /// Field 2: the parent mount's id (its own id for the top of a mount namespace).
    pub parent_id: u64,
    /// Field 3: `major:minor` of the file system.
    pub dev: String,
    /// Field 4: the path inside the file system that is mounted, exact bytes.
    pub root: PathBuf,
    /// Field 5: the mount point, relative to the reader's root, exact bytes.
    pub mount_point: PathBuf,
    /// Field 6: the per-mount options (`ro,nosuid,...`).
    pub options: String,
    /// The file system type, after the ` - ` separator.
    pub fs_type: String,
    /// The source, lossily decoded.
    pub source: String,
    /// The file system's options.
    pub super_options: String,
}

/// Parses mountinfo text. Malformed lines are skipped.
pub fn parse(text: &str) -> Vec<MountinfoLine> {
    text.lines()
        .filter_map(|line| {
            let (before, after) = line.split_once(" - ")?;
            let fields: Vec<&str> = before.split(' ').collect();
            let mut rest = after.split(' ');
            Some(MountinfoLine {
                mount_id: fields.first()?.parse().ok()?,
                parent_id: fields.get(1)?.parse().ok()?,
                dev: fields.get(2)?.to_string(),
                root: PathBuf::from(OsString::from_vec(unescape(fields.get(3)?))),
                mount_point: PathBuf::from(OsString::from_vec(unescape(fields.get(4)?))),
                options: fields.get(5)?.to_string(),
                fs_type: rest.next()?.to_string(),
                source: String::from_utf8_lossy(&unescape(rest.next()?)).into_owned(),
                super_options: rest.next().unwrap_or("").to_string(),
            })
        })
        .collect()
}

/// Undoes mountinfo's octal escapes (`\040` for a space, `\012` for a newline, ...).
fn unescape(field: &str) -> Vec<u8> {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|b| (b'0'..=b'7').contains(b)));
        match (bytes[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_bytes_of_escaped_paths() {
        let text =
            "36 35 98:0 /mnt\\0401 /a\\134b\\377 rw,noatime master:1 - ext3 /dev/r\\040x rw\n\
                    garbage\n";
        let lines = parse(text);
        assert_eq!(lines.len(), 1);
        let l = &lines[0];
        assert_eq!((l.mount_id, l.parent_id), (36, 35));
        assert_eq!(l.root, PathBuf::from("/mnt 1"));
        assert_eq!(
            l.mount_point.as_os_str().as_encoded_bytes(),
            b"/a\\b\xff".as_slice()
        );
        assert_eq!(l.source, "/dev/r x");
        assert_eq!(l.fs_type, "ext3");
    }
}
