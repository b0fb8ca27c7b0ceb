//! Errors name the syscall that failed, with its key arguments, on one line (issue 9 §4).

use procroot::{Backend, Errno, Root};

fn tree() -> (tempfile::TempDir, Root) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    std::fs::write(dir.path().join("data/file"), b"x").unwrap();
    let root = Root::open(dir.path()).unwrap();
    (dir, root)
}

fn one_line(err: &procroot::Error) -> String {
    let text = err.to_string();
    assert!(!text.contains('\n'), "{text:?}");
    text
}

#[test]
fn remove_names_unlinkat_with_its_directory_name_and_flags() {
    let (_dir, root) = tree();
    let err = root.remove_file("/data/nope").unwrap_err();
    assert_eq!(err.errno(), Errno::NOENT);
    assert_eq!(err.syscall(), Some("unlinkat"));
    assert_eq!(err.syscall_args(), Some("\"/data/\", \"nope\", 0"));
    let text = one_line(&err);
    assert!(
        text.contains("unlinkat(\"/data/\", \"nope\", 0): No such file or directory (ENOENT)"),
        "{text}"
    );
    // A trailing slash reaches the kernel as part of the name (remove_file refuses it before
    // any syscall: libpathrs's ENOTDIR).
    let err = root.remove_dir("/data/file/").unwrap_err();
    assert_eq!(err.errno(), Errno::NOTDIR);
    assert_eq!(err.syscall(), Some("unlinkat"));
    let args = err.syscall_args().expect("arguments");
    assert!(args.starts_with("\"/data/\", \"file/\", "), "{args}");
}

#[test]
fn mkdir_names_mkdirat_with_the_mode() {
    let (_dir, root) = tree();
    let err = root.mkdir("/data", 0o750).unwrap_err();
    assert_eq!(err.errno(), Errno::EXIST);
    assert_eq!(err.syscall(), Some("mkdirat"));
    assert!(
        one_line(&err).contains("mkdirat(\"/\", \"data\", 0o750)"),
        "{err}"
    );
}

#[test]
fn resolution_names_the_backends_syscall() {
    let (_dir, root) = tree();
    let emulated = root.clone().with_backend(Backend::Emulated);
    let err = emulated.resolve("/data/nope/x").unwrap_err();
    assert_eq!(err.errno(), Errno::NOENT);
    assert_eq!(err.syscall(), Some("openat"));
    let args = err.syscall_args().unwrap();
    assert!(args.starts_with("\"nope\", O_"), "{args}");
    one_line(&err);
    // The kernel backend, where openat2 is usable.
    match root
        .clone()
        .with_backend(Backend::Kernel)
        .resolve("/data/nope/x")
    {
        Err(err) if err.errno() == Errno::NOENT => {
            assert_eq!(err.syscall(), Some("openat2"), "{err}");
            one_line(&err);
        }
        Err(err) => assert_eq!(err.syscall(), Some("openat2"), "{err}"),
        Ok(_) => panic!("resolved a missing path"),
    }
}

#[test]
fn errors_procroot_raises_itself_name_no_syscall() {
    let (_dir, root) = tree();
    let err = root.resolve("a\0b").unwrap_err();
    assert_eq!(err.syscall(), None);
    assert_eq!(err.syscall_args(), None);
}

#[test]
fn error_is_16_bytes() {
    assert_eq!(std::mem::size_of::<procroot::Error>(), 16);
}
