//! `procroot find`: the entries under paths inside a root that match a set of predicates, with
//! GNU find's meaning for each predicate.
//!
//! The predicates that need only the directory entry (`--name`, `--path`, `--type` when the file
//! system gives `d_type`) are checked first, so a walk that asks for nothing else makes no
//! `statx` at all; the others (`--perm`, `--uid`, `--gid`, `--size`, `--newer`) make one `statx`
//! per entry that got that far, through the entry's directory fd, never by path.

#![forbid(unsafe_code)]

use std::fmt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobMatcher};
use procroot::WalkEntry;
use procroot::{Errno, Error, FileType, Root};
use rustix::fs::Statx;

/// Why a predicate's text was refused (a usage error: nothing was walked).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PredicateError {
    /// The option (`--perm`, `--size`, ...).
    pub option: &'static str,
    /// The text given.
    pub value: String,
    /// What is wrong with it.
    pub reason: String,
}

impl fmt::Display for PredicateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The reason only: clap's usage error already names the option and the value.
        f.write_str(&self.reason)
    }
}

impl std::error::Error for PredicateError {}

fn bad(option: &'static str, value: &str, reason: impl Into<String>) -> PredicateError {
    PredicateError {
        option,
        value: value.to_owned(),
        reason: reason.into(),
    }
}

/// A shell glob, as `find -name` and `-path` take it (`fnmatch(3)` without flags): `*` and `?`
/// match any byte, `/` and a leading `.` included; `[...]` is a class; `\` escapes. (The
/// `globset` syntax also has `{a,b}` alternatives and `**`, which find does not.) Matched against
/// the bytes of the name or path, so a name that is not UTF-8 can match.
#[derive(Debug, Clone)]
pub struct Glob {
    text: String,
    matcher: GlobMatcher,
}

impl Glob {
    /// Compiles `pattern`; `option` names it in the error.
    pub fn new(option: &'static str, pattern: &str) -> Result<Glob, PredicateError> {
        let glob = GlobBuilder::new(pattern)
            // fnmatch without FNM_PATHNAME: `*` matches `/` too (find -path '/usr/*' matches
            // /usr/lib/x).
            .literal_separator(false)
            .backslash_escape(true)
            .build()
            .map_err(|e| bad(option, pattern, e.kind().to_string()))?;
        Ok(Glob {
            text: pattern.to_owned(),
            matcher: glob.compile_matcher(),
        })
    }

    /// Whether `text` (a name or a path) matches.
    pub fn is_match(&self, text: &Path) -> bool {
        self.matcher.is_match(text)
    }

    /// The pattern as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }
}

/// `--type`: a set of file types, parsed from find's letters `f,d,l,p,s,c,b`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TypeSet(u8);

impl TypeSet {
    fn bit(ft: FileType) -> u8 {
        match ft {
            FileType::File => 1,
            FileType::Dir => 2,
            FileType::Symlink => 4,
            FileType::Fifo => 8,
            FileType::Socket => 16,
            FileType::CharDevice => 32,
            FileType::BlockDevice => 64,
            FileType::Unknown => 128,
        }
    }

    /// Parses `f,d,l,p,s,c,b` (any of them, comma-separated, as GNU find's `-type f,d`).
    pub fn parse(text: &str) -> Result<TypeSet, PredicateError> {
        let mut set = 0;
        for letter in text.split(',') {
            set |= Self::bit(match letter {
                "f" => FileType::File,
                "d" => FileType::Dir,
                "l" => FileType::Symlink,
                "p" => FileType::Fifo,
                "s" => FileType::Socket,
                "c" => FileType::CharDevice,
                "b" => FileType::BlockDevice,
                _ => {
                    return Err(bad(
                        "--type",
                        text,
                        format!(
                        "unknown type {letter:?}: expected f, d, l, p, s, c or b, comma-separated"
                    ),
                    ))
                }
            });
        }
        Ok(TypeSet(set))
    }

    /// Whether `ft` is in the set.
    pub fn contains(self, ft: FileType) -> bool {
        self.0 & Self::bit(ft) != 0
    }
}

/// `--perm`, with `find -perm`'s three forms.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Perm {
    /// `MODE`: the permission bits (set-ID and sticky included) are exactly MODE.
    Exactly(u32),
    /// `-MODE`: all of MODE's bits are set.
    All(u32),
    /// `/MODE`: any of MODE's bits is set (`/0` matches everything, as in GNU find).
    Any(u32),
}

impl Perm {
    /// Parses `MODE`, `-MODE` or `/MODE`, MODE in octal, at most 07777. (Symbolic modes such as
    /// `u+s` are refused.)
    pub fn parse(text: &str) -> Result<Perm, PredicateError> {
        let (make, digits): (fn(u32) -> Perm, &str) = if let Some(rest) = text.strip_prefix('-') {
            (Perm::All, rest)
        } else if let Some(rest) = text.strip_prefix('/') {
            (Perm::Any, rest)
        } else {
            (Perm::Exactly, text)
        };
        let mode = (!digits.is_empty() && digits.bytes().all(|b| (b'0'..=b'7').contains(&b)))
            .then(|| u32::from_str_radix(digits, 8).ok())
            .flatten()
            .filter(|&m| m <= 0o7777)
            .ok_or_else(|| {
                bad(
                    "--perm",
                    text,
                    "expected an octal MODE up to 7777, -MODE (all bits) or /MODE (any bit); \
                     symbolic modes are not supported",
                )
            })?;
        Ok(make(mode))
    }

    /// Whether a file of mode `mode` (`st_mode`) matches.
    pub fn matches(self, mode: u32) -> bool {
        let perm = mode & 0o7777;
        match self {
            Perm::Exactly(m) => perm == m,
            Perm::All(m) => perm & m == m,
            Perm::Any(m) => m == 0 || perm & m != 0,
        }
    }
}

/// `--size [+-]N[cwbkMG]`, with find's rounding: the size is counted in the unit rounded up, so
/// `-size -1M` matches only empty files and `-size 1M` any size from 1 byte to 1 MiB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    cmp: std::cmp::Ordering,
    n: u64,
    unit: u64,
}

impl Size {
    /// Parses `[+-]N[cwbkMG]`: `+` more than, `-` less than, else exactly N units; the unit is
    /// `c` bytes, `w` 2 bytes, `b` 512-byte blocks (the default, as in find), `k` KiB, `M` MiB,
    /// `G` GiB.
    pub fn parse(text: &str) -> Result<Size, PredicateError> {
        let (cmp, rest) = match text.as_bytes().first() {
            Some(b'+') => (std::cmp::Ordering::Greater, &text[1..]),
            Some(b'-') => (std::cmp::Ordering::Less, &text[1..]),
            _ => (std::cmp::Ordering::Equal, text),
        };
        let (digits, unit) = match rest.as_bytes().last() {
            Some(b'c') => (&rest[..rest.len() - 1], 1),
            Some(b'w') => (&rest[..rest.len() - 1], 2),
            Some(b'b') => (&rest[..rest.len() - 1], 512),
            Some(b'k') => (&rest[..rest.len() - 1], 1 << 10),
            Some(b'M') => (&rest[..rest.len() - 1], 1 << 20),
            Some(b'G') => (&rest[..rest.len() - 1], 1 << 30),
            _ => (rest, 512),
        };
        let n = (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| digits.parse::<u64>().ok())
            .flatten()
            .ok_or_else(|| {
                bad(
                    "--size",
                    text,
                    "expected [+-]N[cwbkMG]: a number of units (c bytes, w 2 bytes, b 512-byte \
                     blocks, the default, k KiB, M MiB, G GiB)",
                )
            })?;
        Ok(Size { cmp, n, unit })
    }

    /// Whether a file of `size` bytes matches.
    pub fn matches(self, size: u64) -> bool {
        size.div_ceil(self.unit).cmp(&self.n) == self.cmp
    }
}

/// What [`find`] looks for: every predicate that is set must hold (they are ANDed, as find's).
#[derive(Debug, Clone, Default)]
pub struct Query {
    /// The starting paths inside the root (default `/`).
    pub paths: Vec<PathBuf>,
    /// `--name`: the entry's name matches each glob.
    pub names: Vec<Glob>,
    /// `--path`: the entry's path inside the root matches each glob.
    pub path_globs: Vec<Glob>,
    /// `--type`.
    pub types: Option<TypeSet>,
    /// `--perm`.
    pub perm: Option<Perm>,
    /// `--uid`.
    pub uid: Option<u32>,
    /// `--gid`.
    pub gid: Option<u32>,
    /// `--size`.
    pub size: Option<Size>,
    /// `--newer PATH`: PATH inside the root; an entry matches when its modification time is
    /// later than PATH's (to the nanosecond). PATH's last symlink is followed, inside the root,
    /// only with `follow_links` (as find's `-newer` under `-P` and `-L`).
    pub newer: Option<PathBuf>,
    /// `--min-depth`: entries at least this deep (the starting path is depth 0).
    pub min_depth: Option<usize>,
    /// `--max-depth`: entries at most this deep.
    pub max_depth: Option<usize>,
    /// `--follow`: follow symlinks, inside the root (default: never).
    pub follow_links: bool,
    /// `--cross-mounts`: enter other mounts (default: stay on each starting path's mount, as
    /// `find -xdev`).
    pub cross_mounts: bool,
    /// `--sort`: each directory's entries in bytewise order of their names.
    pub sort: bool,
    /// Give every match its `statx` ([`Found::stat`]), as `--json` needs.
    pub with_stat: bool,
}

/// One matching entry.
pub struct Found<'a> {
    /// The entry.
    pub entry: &'a WalkEntry,
    /// Its `statx` ([`WalkEntry::statx`]: not following a symlink, unless the walk followed
    /// it), when a predicate or [`Query::with_stat`] needed it.
    pub stat: Option<&'a Statx>,
}

impl Query {
    /// Whether any predicate needs the entry's statx.
    fn needs_stat(&self) -> bool {
        self.with_stat
            || self.perm.is_some()
            || self.uid.is_some()
            || self.gid.is_some()
            || self.size.is_some()
            || self.newer.is_some()
    }

    /// The predicates that need only the name, the path and `d_type` (`None` for the type
    /// when the file system did not give it: then it is checked on the statx).
    fn matches_entry(&self, entry: &WalkEntry) -> bool {
        if let Some(types) = self.types {
            let ft = entry.file_type();
            if ft != FileType::Unknown && !types.contains(ft) {
                return false;
            }
        }
        let name = Path::new(entry.file_name());
        self.names.iter().all(|g| g.is_match(name))
            && self.path_globs.iter().all(|g| g.is_match(entry.path()))
    }

    /// The predicates on the statx. `newer` is the reference time (seconds, nanoseconds).
    fn matches_stat(&self, st: &Statx, newer: Option<(i64, u32)>) -> bool {
        let mode = u32::from(st.stx_mode);
        if let Some(types) = self.types {
            if !types.contains(FileType::from_mode(mode)) {
                return false;
            }
        }
        self.perm.is_none_or(|p| p.matches(mode))
            && self.uid.is_none_or(|u| st.stx_uid == u)
            && self.gid.is_none_or(|g| st.stx_gid == g)
            && self.size.is_none_or(|s| s.matches(st.stx_size))
            && newer.is_none_or(|t| (st.stx_mtime.tv_sec, st.stx_mtime.tv_nsec) > t)
    }
}

/// Walks `query.paths` (default `/`) inside `root` and calls `visit` with every entry that
/// matches, in walk order, and with every entry's error (a directory that cannot be read, an
/// entry that vanished: the walk goes on, as find's does). Symlinks are never followed unless
/// [`Query::follow_links`], and then only inside the root. `visit` stops the walk by returning
/// an error, which is returned. The `--newer` reference failing to resolve is returned before
/// anything is walked.
pub fn find<E: From<Error>>(
    root: &Root,
    query: &Query,
    mut visit: impl FnMut(Result<Found<'_>, Error>) -> Result<(), E>,
) -> Result<(), E> {
    let newer = match &query.newer {
        Some(path) => {
            let handle = if query.follow_links {
                root.resolve(path)?
            } else {
                root.resolve_nofollow(path)?
            };
            let md = handle
                .metadata()
                .map_err(|e| e.context("stat", path).in_root(root.display_name()))?;
            // As statx gives it: nanoseconds 0 to 999,999,999 after the (signed) seconds.
            Some((md.mtime(), md.mtime_nsec() as u32))
        }
        None => None,
    };
    let needs_stat = query.needs_stat();
    let default = [PathBuf::from("/")];
    let paths = if query.paths.is_empty() {
        &default[..]
    } else {
        &query.paths[..]
    };
    for start in paths {
        let mut walk = root
            .walk(start)
            .follow_links(query.follow_links)
            .same_mount(!query.cross_mounts)
            .sort_by_name(query.sort);
        if let Some(n) = query.min_depth {
            walk = walk.min_depth(n);
        }
        if let Some(n) = query.max_depth {
            walk = walk.max_depth(n);
        }
        for item in walk {
            let entry = match item {
                Ok(entry) => entry,
                Err(e) => {
                    visit(Err(e))?;
                    continue;
                }
            };
            if !query.matches_entry(&entry) {
                continue;
            }
            let needs_type = entry.file_type() == FileType::Unknown && query.types.is_some();
            if !(needs_stat || needs_type) {
                visit(Ok(Found {
                    entry: &entry,
                    stat: None,
                }))?;
                continue;
            }
            match entry.statx() {
                Ok(md) if query.matches_stat(&md, newer) => visit(Ok(Found {
                    entry: &entry,
                    stat: Some(&md),
                }))?,
                Ok(_) => {}
                // Gone between the listing and the statx: nothing to report, as find.
                Err(e) if e.errno() == Errno::NOENT => {}
                Err(e) => visit(Err(e))?,
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn perm_has_finds_three_forms() {
        assert_eq!(Perm::parse("-4000"), Ok(Perm::All(0o4000)));
        assert_eq!(Perm::parse("/6000"), Ok(Perm::Any(0o6000)));
        assert_eq!(Perm::parse("644"), Ok(Perm::Exactly(0o644)));
        assert!(Perm::All(0o4000).matches(0o104755));
        assert!(!Perm::All(0o4010).matches(0o104700));
        assert!(Perm::Any(0o6000).matches(0o102755));
        assert!(!Perm::Any(0o6000).matches(0o100755));
        assert!(Perm::Any(0).matches(0o100000));
        assert!(Perm::Exactly(0o644).matches(0o100644));
        assert!(!Perm::Exactly(0o644).matches(0o104644));
        for bad in ["", "-", "/", "u+s", "8", "17777", "0x1", "+644"] {
            assert!(Perm::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn size_rounds_up_to_the_unit_as_find() {
        let s = |t| Size::parse(t).unwrap();
        // -size -1M: only empty files (1 byte is 1 MiB rounded up).
        assert!(s("-1M").matches(0));
        assert!(!s("-1M").matches(1));
        assert!(s("1M").matches(1));
        assert!(s("1M").matches(1 << 20));
        assert!(!s("1M").matches((1 << 20) + 1));
        assert!(s("+1M").matches((1 << 20) + 1));
        // No unit: 512-byte blocks.
        assert!(s("1").matches(512));
        assert!(s("2").matches(513));
        assert!(s("+0c").matches(1));
        assert!(!s("+0c").matches(0));
        assert!(s("10c").matches(10));
        // 2049 bytes are 3 KiB rounded up: not less than 3k.
        assert!(s("-3k").matches(2048));
        assert!(!s("-3k").matches(2049));
        assert!(s("1G").matches(1 << 30));
        assert!(s("2w").matches(4));
        for bad in ["", "+", "k", "1K", "-1.5M", "1MB", "x"] {
            assert!(Size::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn types_parse_finds_letters() {
        let t = TypeSet::parse("f,l").unwrap();
        assert!(t.contains(FileType::File));
        assert!(t.contains(FileType::Symlink));
        assert!(!t.contains(FileType::Dir));
        assert!(!t.contains(FileType::Unknown));
        let all = TypeSet::parse("f,d,l,p,s,c,b").unwrap();
        for ft in [
            FileType::File,
            FileType::Dir,
            FileType::Symlink,
            FileType::Fifo,
            FileType::Socket,
            FileType::CharDevice,
            FileType::BlockDevice,
        ] {
            assert!(all.contains(ft));
        }
        for bad in ["", "x", "f,", "F", "fd"] {
            assert!(TypeSet::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn globs_match_as_fnmatch_without_flags() {
        use std::os::unix::ffi::OsStrExt;
        let g = |p| Glob::new("--name", p).unwrap();
        assert!(g("*.so").is_match(Path::new("libc.so")));
        // A leading dot is matched by `*` (GNU find), and `*` crosses `/` in --path.
        assert!(g("*rc").is_match(Path::new(".bashrc")));
        assert!(g("/usr/*").is_match(Path::new("/usr/lib/x/y")));
        assert!(g("lib?.so").is_match(Path::new("libc.so")));
        assert!(g("[ab]*").is_match(Path::new("bin")));
        assert!(!g("[ab]*").is_match(Path::new("cat")));
        assert!(g("\\*").is_match(Path::new("*")));
        assert!(!g("\\*").is_match(Path::new("x")));
        // Not UTF-8: matched as bytes.
        let name = Path::new(std::ffi::OsStr::from_bytes(b"a\xffb"));
        assert!(g("a*b").is_match(name));
        assert!(g("a?b").is_match(name));
        assert!(Glob::new("--name", "[").is_err());
    }
}
