//! FIFOs, sockets and device nodes inside a root are not trusted by type (issue 8, item 2).
//!
//! Whoever controls the root decides what a name is. `open_file`, `create_file` of an existing
//! name and `Handle::reopen` look at the entry through `O_PATH` first and refuse special files
//! (`SafetyViolation`, `ENXIO`, the type named) unless the root allows them; allowed, they are
//! opened without blocking. Every operation that could hang on a FIFO runs on a helper thread
//! with a deadline: on the old code it blocked forever, so a hang must fail the test, not hang
//! it (the blocked open is then released by opening the FIFO's other end).
//!
//! Device nodes need `CAP_MKNOD`: those tests call `require_privilege`.

use std::ffi::CString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::sync::mpsc;
use std::time::Duration;

use procroot::{Backend, ErrorKind, OFlags, Root, SpecialFiles};
use procroot_testutil::{mkfifo, require_privilege, with_racing_thread, Tree};
use rustix::io::Errno;

const BACKENDS: [Backend; 2] = [Backend::Kernel, Backend::Emulated];
/// Far longer than any of these operations takes on a loaded machine, far shorter than forever.
const DEADLINE: Duration = Duration::from_secs(10);

fn mknod_char(path: &Path, major: u32, minor: u32) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::from_raw_mode(0o666),
        rustix::fs::makedev(major, minor),
    )
    .unwrap_or_else(|e| panic!("mknod {}: {e}", path.display()));
}

/// Runs `f` on a thread and waits at most [`DEADLINE`]. If it is still running then, it is
/// blocked in an open of the FIFO at `fifo`: open both ends of it to release the thread, and
/// fail.
fn within<T: Send + 'static>(what: &str, fifo: &Path, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(f());
    });
    match rx.recv_timeout(DEADLINE) {
        Ok(out) => out,
        Err(_) => {
            let flags = OFlags::RDWR | OFlags::NONBLOCK;
            let _ = rustix::fs::open(fifo, flags, rustix::fs::Mode::empty());
            panic!("{what}: still blocked after {DEADLINE:?} (a FIFO open hung)");
        }
    }
}

/// Asserts the refusal of a special file: `SafetyViolation`, `ENXIO`, the type named.
fn assert_refused<T: std::fmt::Debug>(what: &str, got: procroot::Result<T>, type_name: &str) {
    let err = got.expect_err(what);
    assert_eq!(err.kind(), ErrorKind::SafetyViolation, "{what}: {err}");
    assert_eq!(err.errno(), Errno::NXIO, "{what}: {err}");
    let text = err.to_string();
    assert!(
        text.contains(type_name),
        "{what}: {type_name:?} not named in {text:?}"
    );
    assert!(text.contains("--special-files"), "{what}: {text:?}");
}

fn root(tree: &Tree, backend: Backend) -> Root {
    Root::open(tree.path()).unwrap().with_backend(backend)
}

#[test]
fn a_fifo_is_refused_without_blocking() {
    for backend in BACKENDS {
        let tree = Tree::new("dir d");
        mkfifo(&tree.join("d/fifo"));
        tree.symlink("/d/fifo", "link");
        let fifo = tree.join("d/fifo");
        for (path, flags) in [
            ("d/fifo", OFlags::RDONLY),
            ("d/fifo", OFlags::WRONLY | OFlags::APPEND),
            ("d/fifo", OFlags::RDWR),
            ("link", OFlags::RDONLY),
        ] {
            let r = root(&tree, backend);
            let what = format!("{backend:?} open_file {path} {flags:?}");
            let got = within(&what, &fifo, move || r.open_file(path, flags));
            assert_refused(&what, got, "a FIFO");
        }
        // create_file of an existing name opens what is there: the same check.
        for flags in [OFlags::WRONLY | OFlags::APPEND, OFlags::RDONLY] {
            let r = root(&tree, backend);
            let what = format!("{backend:?} create_file {flags:?}");
            let got = within(&what, &fifo, move || r.create_file("d/fifo", flags, 0o644));
            assert_refused(&what, got, "a FIFO");
        }
        // Handle::reopen refuses too; reopen_with(Allow) opens without blocking.
        let handle = root(&tree, backend).resolve("d/fifo").unwrap();
        assert_refused("reopen", handle.reopen(OFlags::RDONLY), "a FIFO");
        let handle = root(&tree, backend).resolve("d/fifo").unwrap();
        let what = format!("{backend:?} reopen_with Allow");
        let file = within(&what, &fifo, move || {
            handle.reopen_with(OFlags::RDONLY, SpecialFiles::Allow)
        });
        file.unwrap();
    }
}

#[test]
fn a_socket_is_refused() {
    let tree = Tree::new("dir d");
    let _listener = std::os::unix::net::UnixListener::bind(tree.join("d/sock")).unwrap();
    for backend in BACKENDS {
        let r = root(&tree, backend);
        assert_refused(
            "open_file",
            r.open_file("d/sock", OFlags::RDONLY),
            "a socket",
        );
        assert_refused(
            "create_file",
            r.create_file("d/sock", OFlags::WRONLY, 0o644),
            "a socket",
        );
        // Allowed, the kernel's own answer for opening a socket: ENXIO, not a refusal of ours.
        let err = r
            .with_special_files(SpecialFiles::Allow)
            .open_file("d/sock", OFlags::RDONLY)
            .expect_err("sockets cannot be opened");
        assert_eq!(err.errno(), Errno::NXIO);
        assert_ne!(err.kind(), ErrorKind::SafetyViolation, "{err}");
    }
}

/// `c 1 9` is the host's urandom and `c 1 3` its null device: read through a node planted in
/// the root, they are the host's devices. Refused, for reading and for appending.
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
#[test]
fn device_nodes_are_refused() {
    require_privilege("CAP_MKNOD to make device nodes");
    let tree = Tree::new("dir d");
    mknod_char(&tree.join("d/urandom"), 1, 9);
    mknod_char(&tree.join("d/null"), 1, 3);
    let fifo = tree.join("unused");
    for backend in BACKENDS {
        for name in ["d/urandom", "d/null"] {
            let r = root(&tree, backend);
            assert_refused(
                name,
                r.open_file(name, OFlags::RDONLY),
                "a character device",
            );
            assert_refused(
                name,
                r.open_file(name, OFlags::WRONLY),
                "a character device",
            );
            assert_refused(
                name,
                r.create_file(name, OFlags::WRONLY | OFlags::APPEND, 0o644),
                "a character device",
            );
        }
        // Opting in opens them (and nothing blocks).
        let r = root(&tree, backend).with_special_files(SpecialFiles::Allow);
        let mut bytes = [0u8; 16];
        within("read urandom", &fifo, move || {
            r.open_file("d/urandom", OFlags::RDONLY)
                .unwrap()
                .read_exact(&mut bytes)
                .unwrap();
        });
        let r = root(&tree, backend).with_special_files(SpecialFiles::Allow);
        let mut null = r
            .create_file("d/null", OFlags::WRONLY | OFlags::APPEND, 0o644)
            .unwrap();
        null.write_all(b"gone").unwrap();
        assert!(std::fs::symlink_metadata(tree.join("d/null"))
            .map(|m| std::os::unix::fs::FileTypeExt::is_char_device(&m.file_type()))
            .unwrap());
    }
}

/// Allowed, a FIFO opens at once whatever is at the other end, and `O_NONBLOCK` is cleared
/// again (unless asked for) so that reads and writes behave as usual.
#[test]
fn an_allowed_fifo_opens_without_blocking() {
    for backend in BACKENDS {
        let tree = Tree::new("dir d");
        let fifo = tree.join("d/fifo");
        mkfifo(&fifo);
        let r = root(&tree, backend).with_special_files(SpecialFiles::Allow);
        // No writer: opens at once, reads end-of-file.
        let r2 = r.clone();
        let mut reader = within("read, no writer", &fifo, move || {
            r2.open_file("d/fifo", OFlags::RDONLY).unwrap()
        });
        let fl = rustix::fs::fcntl_getfl(&reader).unwrap();
        assert!(
            !fl.contains(OFlags::NONBLOCK),
            "{backend:?}: O_NONBLOCK left set"
        );
        let mut out = Vec::new();
        assert_eq!(reader.read_to_end(&mut out).unwrap(), 0);
        drop(reader);
        // No reader: writing fails at once with the kernel's ENXIO.
        let r2 = r.clone();
        let err = within("write, no reader", &fifo, move || {
            r2.open_file("d/fifo", OFlags::WRONLY).unwrap_err()
        });
        assert_eq!(err.errno(), Errno::NXIO, "{backend:?}: {err}");
        // With a reader: appending works and the bytes arrive.
        let mut peer = File::from(
            rustix::fs::open(
                &fifo,
                OFlags::RDONLY | OFlags::NONBLOCK,
                rustix::fs::Mode::empty(),
            )
            .unwrap(),
        );
        let r2 = r.clone();
        let mut writer = within("append, with a reader", &fifo, move || {
            r2.create_file("d/fifo", OFlags::WRONLY | OFlags::APPEND, 0o644)
                .unwrap()
        });
        writer.write_all(b"through").unwrap();
        drop(writer);
        let mut got = Vec::new();
        peer.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"through");
        // O_NONBLOCK asked for is kept.
        let reader = r
            .open_file("d/fifo", OFlags::RDONLY | OFlags::NONBLOCK)
            .unwrap();
        assert!(rustix::fs::fcntl_getfl(&reader)
            .unwrap()
            .contains(OFlags::NONBLOCK));
    }
}

/// The old `touch` of a missing name: `create_file(O_RDONLY)` while an attacker keeps creating
/// and removing a FIFO at that name. A plain `open(O_CREAT)` hung when the FIFO appeared at the
/// right moment (about 1 in 40 tries). Now every round ends at once: a new regular file, or the
/// FIFO refused with its type named.
#[test]
fn creating_a_name_where_a_fifo_appears_never_hangs() {
    const ROUNDS: usize = 400;
    let tree = Tree::new("dir d");
    let name = tree.join("d/x");
    let (mut created, mut refused) = (0usize, 0usize);
    let c_name = CString::new(name.as_os_str().as_bytes()).unwrap();
    let attacker = || {
        let made = rustix::fs::mknodat(
            rustix::fs::CWD,
            c_name.as_c_str(),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o666),
            0,
        )
        .is_ok();
        let _ = rustix::fs::unlink(c_name.as_c_str());
        made
    };
    let ((), fifos) = with_racing_thread(attacker, || {
        for i in 0..ROUNDS {
            let backend = BACKENDS[i % 2];
            let r = root(&tree, backend);
            let what = format!("round {i} {backend:?}");
            let got = within(&what, &name, move || {
                r.create_file("d/x", OFlags::RDONLY, 0o644).map(drop)
            });
            match got {
                Ok(()) => created += 1,
                Err(e) if e.kind() == ErrorKind::SafetyViolation => {
                    assert_eq!(e.errno(), Errno::NXIO, "{what}: {e}");
                    assert!(e.to_string().contains("a FIFO"), "{what}: {e}");
                    refused += 1;
                }
                // The FIFO was removed while we looked: the retries ran out, or the regular
                // file we created was unlinked by the attacker's loop. Never a hang.
                Err(e) => assert!(
                    [Errno::AGAIN, Errno::NOENT].contains(&e.errno()),
                    "{what}: {e}"
                ),
            }
            // Our own regular file, if it is still there, is removed for the next round.
            if std::fs::symlink_metadata(&name).is_ok_and(|m| m.is_file()) {
                let _ = std::fs::remove_file(&name);
            }
        }
    });
    println!("{ROUNDS} rounds: {created} created, {refused} FIFOs refused, {fifos} FIFOs made");
    assert!(created + refused > 0, "no round completed");
}

/// A regular file and a directory still open as before; the O_PATH look adds no surprises.
#[test]
fn regular_files_and_directories_still_open() {
    for backend in BACKENDS {
        let tree = Tree::new("file d/f hello\nsymlink l d/f");
        let r = root(&tree, backend);
        let mut s = String::new();
        r.open_file("l", OFlags::RDONLY)
            .unwrap()
            .read_to_string(&mut s)
            .unwrap();
        assert_eq!(s, "hello");
        r.open_file("d", OFlags::RDONLY | OFlags::DIRECTORY)
            .unwrap();
        let e = r
            .open_file("d/f", OFlags::RDONLY | OFlags::DIRECTORY)
            .unwrap_err();
        assert_eq!(e.errno(), Errno::NOTDIR);
        let e = r
            .open_file("l", OFlags::RDONLY | OFlags::NOFOLLOW)
            .unwrap_err();
        assert_eq!(e.errno(), Errno::LOOP);
        let e = r.open_file("d", OFlags::WRONLY).unwrap_err();
        assert_eq!(e.errno(), Errno::ISDIR);
        let mut f = r
            .create_file("d/f", OFlags::WRONLY | OFlags::APPEND, 0o644)
            .unwrap();
        f.write_all(b"!").unwrap();
        assert_eq!(std::fs::read(tree.join("d/f")).unwrap(), b"hello!");
        let e = r.create_file("d", OFlags::WRONLY, 0o644).unwrap_err();
        assert_eq!(e.errno(), Errno::ISDIR);
        let e = r.create_file("l", OFlags::WRONLY, 0o644).unwrap_err();
        assert_eq!(e.errno(), Errno::LOOP);
        let e = r
            .create_file("d/f", OFlags::WRONLY | OFlags::EXCL, 0o644)
            .unwrap_err();
        assert_eq!(e.errno(), Errno::EXIST);
        // O_TRUNC still truncates an existing file.
        r.create_file("d/f", OFlags::WRONLY | OFlags::TRUNC, 0o644)
            .unwrap();
        assert_eq!(std::fs::read(tree.join("d/f")).unwrap(), b"");
    }
}

/// `Root::touch`: creates a missing file, sets an existing one's times through its handle
/// (following a trailing symlink, or not with `touch_nofollow`), never creates a dangling
/// symlink's target (ELOOP), and refuses special files unless allowed, without opening them.
#[test]
fn touch_creates_or_sets_times_and_never_opens() {
    use std::os::unix::fs::MetadataExt;
    let mtime = |p: &Path| std::fs::symlink_metadata(p).unwrap().mtime();
    let old = |p: &Path| {
        let t = rustix::fs::Timestamps {
            last_access: rustix::fs::Timespec {
                tv_sec: 1_000_000,
                tv_nsec: 0,
            },
            last_modification: rustix::fs::Timespec {
                tv_sec: 1_000_000,
                tv_nsec: 0,
            },
        };
        rustix::fs::utimensat(
            rustix::fs::CWD,
            p,
            &t,
            rustix::fs::AtFlags::SYMLINK_NOFOLLOW,
        )
        .unwrap();
    };
    for backend in BACKENDS {
        let tree = Tree::new("file d/old keep\ndir d/sub");
        tree.symlink("/d/old", "d/link");
        tree.symlink("/d/missing", "d/dangling");
        mkfifo(&tree.join("d/fifo"));
        let r = root(&tree, backend);
        // Missing: created empty. Existing (through an absolute symlink): times only.
        r.touch("d/new").unwrap();
        assert_eq!(std::fs::read(tree.join("d/new")).unwrap(), b"");
        old(&tree.join("d/old"));
        r.touch("/d/link").unwrap();
        assert!(mtime(&tree.join("d/old")) > 1_000_000, "{backend:?}");
        assert_eq!(std::fs::read(tree.join("d/old")).unwrap(), b"keep");
        // touch_nofollow: the link's own times, not the target's.
        old(&tree.join("d/old"));
        old(&tree.join("d/link"));
        r.touch_nofollow("/d/link").unwrap();
        assert!(mtime(&tree.join("d/link")) > 1_000_000, "{backend:?}");
        assert_eq!(mtime(&tree.join("d/old")), 1_000_000, "{backend:?}");
        // A directory is fine.
        r.touch("d/sub").unwrap();
        // A dangling symlink's target is never created.
        let err = r.touch("/d/dangling").unwrap_err();
        assert_eq!(err.errno(), Errno::LOOP, "{err}");
        assert!(
            err.to_string().starts_with("touch \"/d/dangling\""),
            "{err}"
        );
        assert!(!tree.join("d/missing").exists());
        // Missing parent; a trailing slash on a missing name.
        assert_eq!(r.touch("no/such").unwrap_err().errno(), Errno::NOENT);
        // A trailing slash names a directory, which touch never makes: EINVAL before any
        // syscall (create_file's rule, libpathrs's answer).
        assert_eq!(r.touch("d/x/").unwrap_err().errno(), Errno::INVAL);
        // A FIFO: refused unless allowed, never opened (either way this would hang if it were).
        let fifo = tree.join("d/fifo");
        let what = format!("{backend:?} touch fifo");
        let got = within(&what, &fifo, move || r.touch("d/fifo"));
        assert_refused(&what, got, "a FIFO");
        old(&fifo);
        let r = root(&tree, backend).with_special_files(SpecialFiles::Allow);
        within(&what, &fifo, move || r.touch("d/fifo")).unwrap();
        assert!(mtime(&fifo) > 1_000_000, "{backend:?}");
    }
}

/// `Root::touch` of a missing name while an attacker keeps creating and removing a FIFO there
/// (the library twin of the CLI's `touch_never_hangs_on_a_fifo_that_appears`). A touch that
/// opened the name with `O_CREAT` hung when the FIFO appeared at the right moment. Every round
/// must end at once: the file created (or touched), the FIFO refused with its type named, or
/// `EAGAIN` when the name churns too fast to settle.
#[test]
fn touch_never_hangs_on_a_fifo_that_appears() {
    const ROUNDS: usize = 400;
    let tree = Tree::new("dir d");
    let name = tree.join("d/x");
    let (mut done, mut refused) = (0usize, 0usize);
    let c_name = CString::new(name.as_os_str().as_bytes()).unwrap();
    let attacker = || {
        let made = rustix::fs::mknodat(
            rustix::fs::CWD,
            c_name.as_c_str(),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o666),
            0,
        )
        .is_ok();
        // Only a FIFO is removed: the file touch creates stays until the round ends.
        let is_fifo = rustix::fs::lstat(c_name.as_c_str())
            .is_ok_and(|st| rustix::fs::FileType::from_raw_mode(st.st_mode).is_fifo());
        if is_fifo {
            let _ = rustix::fs::unlink(c_name.as_c_str());
        }
        made
    };
    let ((), fifos) = with_racing_thread(attacker, || {
        for i in 0..ROUNDS {
            let backend = BACKENDS[i % 2];
            let r = root(&tree, backend);
            let what = format!("round {i} {backend:?}");
            match within(&what, &name, move || r.touch("d/x")) {
                Ok(()) => done += 1,
                Err(e) if e.kind() == ErrorKind::SafetyViolation => {
                    assert_eq!(e.errno(), Errno::NXIO, "{what}: {e}");
                    assert!(e.to_string().contains("a FIFO"), "{what}: {e}");
                    refused += 1;
                }
                // The FIFO came and went while we looked: the retries ran out. Or it was
                // removed between the resolve and the set_times (ENOENT is not possible: the
                // handle pins it), never a hang.
                Err(e) => assert_eq!(e.errno(), Errno::AGAIN, "{what}: {e}"),
            }
            if std::fs::symlink_metadata(&name).is_ok_and(|m| m.is_file()) {
                let _ = std::fs::remove_file(&name);
            }
        }
    });
    println!("{ROUNDS} rounds: {done} touched, {refused} FIFOs refused, {fifos} FIFOs made");
    assert!(fifos > 0, "the attacker never made a FIFO");
    assert!(done + refused > 0, "no round completed");
}

/// `reopen_with(O_PATH, SpecialFiles::Allow)` works on every special type (issue 21 section 6:
/// the `F_SETFL` that clears `O_NONBLOCK` after the open failed with `EBADF` on an `O_PATH` fd,
/// filepath-securejoin's four failed reopen rows): same (dev, ino) as the handle, and nothing
/// opened for contents (the FIFO has no reader, so a real open would block or fail). Device
/// nodes need `CAP_MKNOD`.
#[test]
#[cfg_attr(procroot_unprivileged, ignore = "needs root (mknod of device nodes)")]
fn reopen_o_path_of_every_special_type() {
    require_privilege("mknod of device nodes");
    let tree = Tree::new("dir d");
    mkfifo(&tree.join("d/fifo"));
    let _listener = std::os::unix::net::UnixListener::bind(tree.join("d/sock")).unwrap();
    mknod_char(&tree.join("d/null"), 1, 3);
    rustix::fs::mknodat(
        rustix::fs::CWD,
        tree.join("d/loop"),
        rustix::fs::FileType::BlockDevice,
        rustix::fs::Mode::from_raw_mode(0o600),
        rustix::fs::makedev(7, 0),
    )
    .expect("mknod block");
    for backend in BACKENDS {
        for name in ["fifo", "sock", "null", "loop"] {
            let path = format!("d/{name}");
            let handle = root(&tree, backend).resolve(&path).unwrap();
            let what = format!("{backend:?} reopen_with(O_PATH, Allow) {path}");
            let fifo = tree.join("d/fifo");
            let want = procroot_testutil::fd_identity(&handle);
            let file = within(&what, &fifo, move || {
                handle.reopen_with(OFlags::PATH, SpecialFiles::Allow)
            })
            .unwrap_or_else(|e| panic!("{what}: {e}"));
            assert_eq!(procroot_testutil::fd_identity(&file), want, "{what}");
            let fl = rustix::fs::fcntl_getfl(&file).expect("getfl");
            assert!(fl.contains(OFlags::PATH), "{what}: not O_PATH ({fl:?})");
        }
    }
}
