//! `procroot find` (issue 24, section 2): what GNU `find -xdev` lists, on a real distribution
//! tree and on small trees, with every predicate; never a host entry, even with `--follow`.

use std::collections::BTreeSet;
use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Command;

use procroot_testutil::cli::Cli;
use procroot_testutil::Tree;
use serde_json::Value;

fn procroot() -> Cli {
    Cli::new(env!("CARGO_BIN_EXE_procroot"))
}

/// The real distribution tree the correctness checks compare on: this machine's `/usr`
/// (Debian's, about 150,000 entries), read-only for the test.
const REAL_TREE: &str = "/usr";

/// GNU `find ROOT -xdev ARGS...`, each path made relative to ROOT as procroot prints it (ROOT
/// itself is `/`), as a set of byte strings.
fn gnu_find(root: &Path, args: &[&str]) -> BTreeSet<Vec<u8>> {
    let out = Command::new("find")
        .arg(root)
        .arg("-xdev")
        .args(args)
        .arg("-print0")
        .output()
        .expect("run GNU find");
    assert!(out.status.success(), "find {args:?}: {out:?}");
    let prefix = root.as_os_str().as_bytes();
    out.stdout
        .split(|&b| b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| {
            let rel = p.strip_prefix(prefix).expect("under the root");
            if rel.is_empty() {
                b"/".to_vec()
            } else {
                rel.to_vec()
            }
        })
        .collect()
}

/// `procroot find --print0 --root ROOT ARGS...` as a set, asserting success and no duplicate.
fn our_find(root: &Path, args: &[&str]) -> BTreeSet<Vec<u8>> {
    let run = procroot()
        .args(["find", "--print0"])
        .args(args)
        .root(root)
        .run();
    run.success();
    let list: Vec<Vec<u8>> = run
        .stdout
        .split(|&b| b == 0)
        .filter(|p| !p.is_empty())
        .map(<[u8]>::to_vec)
        .collect();
    let set: BTreeSet<Vec<u8>> = list.iter().cloned().collect();
    assert_eq!(set.len(), list.len(), "an entry listed twice: {args:?}");
    set
}

/// Asserts the two listings are equal, showing a few differences rather than two huge sets.
#[track_caller]
fn assert_same(ours: &BTreeSet<Vec<u8>>, theirs: &BTreeSet<Vec<u8>>, what: &str) {
    let show = |s: Vec<&Vec<u8>>| -> Vec<String> {
        s.into_iter()
            .take(10)
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect()
    };
    let only_ours = show(ours.difference(theirs).collect());
    let only_theirs = show(theirs.difference(ours).collect());
    assert!(
        only_ours.is_empty() && only_theirs.is_empty(),
        "{what}: only procroot lists {only_ours:?}; only GNU find lists {only_theirs:?} \
         ({} vs {} entries)",
        ours.len(),
        theirs.len()
    );
}

/// On a real distribution tree, `procroot find` lists exactly what `find -xdev` lists, with
/// both resolver backends and with and without the Landlock wall.
#[test]
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: /usr has directories only root may read"
)]
fn lists_exactly_what_gnu_find_lists_on_a_distribution_tree() {
    procroot_testutil::require_privilege("reading all of /usr");
    let root = Path::new(REAL_TREE);
    let theirs = gnu_find(root, &[]);
    assert!(theirs.len() > 10_000, "{REAL_TREE} is too small a tree");
    for backend in ["kernel", "emulated"] {
        for sandbox in [None, Some("--no-sandbox")] {
            let mut args = vec!["--backend", backend];
            args.extend(sandbox);
            assert_same(&our_find(root, &args), &theirs, &format!("{args:?}"));
        }
    }
}

/// `--type`, `--perm` (all three forms), `--name`, `--path`, `--size` and the depths select
/// what the matching GNU find predicates select, on the distribution tree.
#[test]
#[cfg_attr(
    procroot_unprivileged,
    ignore = "needs root: /usr has directories only root may read"
)]
fn predicates_select_what_gnu_find_selects_on_a_distribution_tree() {
    procroot_testutil::require_privilege("reading all of /usr");
    let root = Path::new(REAL_TREE);
    let cases: &[(&[&str], &[&str])] = &[
        (&["--type", "l"], &["-type", "l"]),
        (&["--type", "f,d"], &["-type", "f,d"]),
        (&["--perm", "/6000"], &["-perm", "/6000"]),
        (
            &["--perm", "-0755", "--type", "f"],
            &["-perm", "-0755", "-type", "f"],
        ),
        (&["--perm", "644"], &["-perm", "644"]),
        (&["--name", "*.so*"], &["-name", "*.so*"]),
        (
            &["--name", "[a-c]*", "--name", "*s"],
            &["-name", "[a-c]*", "-name", "*s"],
        ),
        (
            &["--path", "/lib/*/bin/*"],
            &["-path", &format!("{REAL_TREE}/lib/*/bin/*")],
        ),
        (&["--size", "+100k"], &["-size", "+100k"]),
        (
            &["--size", "-2", "--type", "f"],
            &["-size", "-2", "-type", "f"],
        ),
        (
            &["--min-depth", "2", "--max-depth", "3"],
            &["-mindepth", "2", "-maxdepth", "3"],
        ),
    ];
    for (ours, theirs) in cases {
        let expected = gnu_find(root, theirs);
        assert!(!expected.is_empty(), "{theirs:?} finds nothing: no test");
        assert_same(&our_find(root, ours), &expected, &format!("{ours:?}"));
    }
}

/// A small tree with one entry of each kind, a non-UTF-8 name, set-ID bits, sizes around the
/// unit boundaries and two owners: every predicate agrees with GNU find there, `--uid`,
/// `--gid` and `--newer` included.
#[test]
#[cfg_attr(procroot_unprivileged, ignore = "needs root (chown)")]
fn every_predicate_agrees_with_gnu_find_on_a_small_tree() {
    procroot_testutil::require_privilege("chown");
    let tree = Tree::new(
        "file a/one x
         file a/b/two.txt
         dir a/c
         symlink a/link one
         symlink a/abs /a/b
         file big.bin",
    );
    let p = |rel: &str| tree.join(rel);
    std::fs::write(p("big.bin"), vec![7u8; 2049]).unwrap();
    std::fs::write(p("a/kilo"), vec![7u8; 1024]).unwrap();
    std::fs::write(tree.path().join(OsStr::from_bytes(b"a/n\xffme")), b"").unwrap();
    procroot_testutil::mkfifo(&p("a/fifo"));
    let chmod = |rel: &str, mode: u32| {
        std::fs::set_permissions(p(rel), std::os::unix::fs::PermissionsExt::from_mode(mode))
            .unwrap()
    };
    chmod("a/one", 0o4755);
    chmod("a/b/two.txt", 0o2640);
    chmod("a/c", 0o1777);
    std::os::unix::fs::chown(p("a/b/two.txt"), Some(1234), Some(4321)).unwrap();
    std::os::unix::fs::lchown(p("a/link"), Some(1234), None).unwrap();
    // --newer: a/one is older than the reference, big.bin newer.
    let set_mtime = |rel: &str, secs: i64, nsec: u32| {
        let f = std::fs::File::options().write(true).open(p(rel)).unwrap();
        let t = std::time::UNIX_EPOCH + std::time::Duration::new(secs as u64, nsec);
        f.set_modified(t).unwrap();
    };
    set_mtime("a/one", 1_000_000_000, 0);
    set_mtime("a/kilo", 1_500_000_000, 5);
    set_mtime("big.bin", 1_500_000_000, 6);
    let root = tree.path();
    let kilo = format!("{}", p("a/kilo").display());
    let cases: Vec<(Vec<&str>, Vec<&str>)> = vec![
        (vec![], vec![]),
        (vec!["--uid", "1234"], vec!["-uid", "1234"]),
        (vec!["--gid", "4321"], vec!["-gid", "4321"]),
        (vec!["--newer", "/a/kilo"], vec!["-newer", &kilo]),
        (vec!["--type", "p,l"], vec!["-type", "p,l"]),
        (vec!["--perm", "-4000"], vec!["-perm", "-4000"]),
        (vec!["--perm", "/2000"], vec!["-perm", "/2000"]),
        (vec!["--perm", "1777"], vec!["-perm", "1777"]),
        (vec!["--size", "-1k"], vec!["-size", "-1k"]),
        (vec!["--size", "1k"], vec!["-size", "1k"]),
        (vec!["--size", "+1k"], vec!["-size", "+1k"]),
        (vec!["--size", "5"], vec!["-size", "5"]),
        (vec!["--size", "2049c"], vec!["-size", "2049c"]),
        (vec!["--name", "n*e"], vec!["-name", "n*e"]),
        (vec!["--max-depth", "0"], vec!["-maxdepth", "0"]),
        (vec!["--min-depth", "3"], vec!["-mindepth", "3"]),
    ];
    for (ours, theirs) in &cases {
        for backend in ["kernel", "emulated"] {
            let mut args = vec!["--backend", backend];
            args.extend(ours);
            assert_same(
                &our_find(root, &args),
                &gnu_find(root, theirs),
                &format!("{args:?}"),
            );
        }
    }
    // A starting PATH inside the root: its entries, as find DIR lists them.
    assert_same(
        &our_find(root, &["/a/b"]),
        &gnu_find(&p("a/b"), &[])
            .into_iter()
            .map(|rel| {
                let mut full = b"/a/b".to_vec();
                if rel != b"/" {
                    full.extend_from_slice(&rel);
                }
                full
            })
            .collect(),
        "PATH /a/b",
    );
}

/// `--json`: one object per entry with the fields, equal to what the file system
/// says, `target` for symlinks, and the `_base64` twin of a name that is not UTF-8; `--print0`
/// prints such a name's bytes exactly.
#[test]
fn json_fields_and_print0_bytes() {
    let tree = Tree::new("file d/f hello\nsymlink d/l /d/f");
    std::fs::write(tree.path().join(OsStr::from_bytes(b"d/x\xff")), b"").unwrap();
    let run = procroot()
        .args(["find", "--json", "--sort", "/d"])
        .root(tree.path())
        .run();
    run.success();
    let lines = run.json_lines();
    let paths: Vec<&str> = lines.iter().map(|v| v["path"].as_str().unwrap()).collect();
    assert_eq!(paths, ["/d", "/d/f", "/d/l", "/d/x\u{fffd}"]);
    let md = std::fs::metadata(tree.join("d/f")).unwrap();
    let f = &lines[1];
    let keys: Vec<&str> = f.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "path",
            "type",
            "mode",
            "size",
            "uid",
            "gid",
            "mtime",
            "mtime_nsec",
            "nlink",
            "ino",
            "dev",
            "target"
        ]
    );
    assert_eq!(f["type"], "file");
    assert_eq!(f["mode"], format!("{:04o}", md.mode() & 0o7777));
    assert_eq!(f["size"], 5);
    assert_eq!(f["uid"], md.uid());
    assert_eq!(f["gid"], md.gid());
    assert_eq!(f["mtime"], md.mtime());
    assert_eq!(f["mtime_nsec"], md.mtime_nsec());
    assert_eq!(f["nlink"], 1);
    assert_eq!(f["ino"], md.ino());
    assert_eq!(
        f["dev"],
        format!("{}:{}", libc::major(md.dev()), libc::minor(md.dev()))
    );
    assert_eq!(f["target"], Value::Null);
    assert_eq!(lines[0]["type"], "dir");
    assert_eq!(lines[2]["type"], "symlink");
    assert_eq!(lines[2]["target"], "/d/f");
    assert_eq!(lines[3]["path_base64"], "L2QveP8=");

    let run = procroot()
        .args(["find", "--print0", "--sort", "/d"])
        .root(tree.path())
        .run();
    run.success();
    assert_eq!(run.stdout, b"/d\0/d/f\0/d/l\0/d/x\xff\0");
    let run = procroot()
        .args(["find", "--sort", "--name", "l", "/d"])
        .root(tree.path())
        .run();
    run.success();
    assert_eq!(run.text(), "/d/l\n");
}

/// Symlinks to a host decoy (absolute, and `..` above the root) are never followed out of the
/// root: by default they are listed as symlinks and nothing under them is; with `--follow`
/// they are resolved inside the root (where the decoy's path does not exist), while a link to
/// a directory inside the root is walked through.
#[test]
fn never_lists_a_host_entry_even_with_follow() {
    let decoy = Tree::new("file DECOY-ESCAPED/secret x");
    let decoy_dir = decoy.join("DECOY-ESCAPED");
    let depth = decoy_dir.components().count();
    let climb = "../".repeat(depth + 2);
    let tree = Tree::new(&format!(
        "file real/inside x
         symlink abs {}
         symlink rel {climb}{}
         symlink inroot /real",
        decoy_dir.display(),
        decoy_dir.display().to_string().trim_start_matches('/'),
    ));
    // The links reach the decoy when followed on the host.
    assert!(tree.join("abs/secret").exists() && tree.join("rel/secret").exists());
    for backend in ["kernel", "emulated"] {
        for sandbox in [None, Some("--no-sandbox")] {
            let mut args = vec!["--backend", backend];
            args.extend(sandbox);
            let plain = our_find(tree.path(), &args);
            let want: BTreeSet<Vec<u8>> = ["/", "/real", "/real/inside", "/abs", "/rel", "/inroot"]
                .iter()
                .map(|s| s.as_bytes().to_vec())
                .collect();
            assert_eq!(plain, want, "{args:?}");
            args.push("--follow");
            let followed = our_find(tree.path(), &args);
            let text: Vec<String> = followed
                .iter()
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .collect();
            assert!(
                !text.iter().any(|p| p.contains("secret")),
                "{args:?} escaped: {text:?}"
            );
            assert!(
                followed.contains(b"/inroot/inside".as_slice()),
                "{args:?}: the link inside the root was not followed: {text:?}"
            );
        }
    }
}

/// Another mount inside the root is listed but not entered (find -xdev) unless
/// `--cross-mounts`.
#[test]
#[cfg_attr(procroot_unprivileged, ignore = "needs root (mount namespace)")]
fn stays_on_one_mount_unless_cross_mounts() {
    procroot_testutil::require_privilege("a mount namespace");
    let tree = Tree::new("file top x\ndir mnt");
    procroot_testutil::in_private_mount_ns(|| {
        procroot_testutil::mount_raw(Some("tmpfs"), tree.join("mnt"), Some("tmpfs"), 0, None)
            .expect("mount a tmpfs in the tree");
        std::fs::write(tree.join("mnt/under"), b"x").unwrap();
        let plain = our_find(tree.path(), &[]);
        assert!(plain.contains(b"/mnt".as_slice()), "{plain:?}");
        assert!(!plain.contains(b"/mnt/under".as_slice()), "{plain:?}");
        assert_same(&plain, &gnu_find(tree.path(), &[]), "default");
        let crossed = our_find(tree.path(), &["--cross-mounts"]);
        assert!(crossed.contains(b"/mnt/under".as_slice()), "{crossed:?}");
    });
}

/// Bad predicate values are usage errors (exit 2) naming the option, before anything is
/// walked; a missing starting PATH or --newer reference is an operation error.
#[test]
fn bad_predicates_are_usage_errors() {
    let tree = Tree::new("file f x");
    for (args, needle) in [
        (&["--perm", "u+s"][..], "--perm"),
        (&["--perm", "17777"], "--perm"),
        (&["--type", "x"], "--type"),
        (&["--size", "1K"], "--size"),
        (&["--name", "[x"], "--name"),
        (&["--max-depth", "-1"], "-1"),
        (&["--json", "--print0"], "--print0"),
    ] {
        procroot()
            .arg("find")
            .args(args)
            .root(tree.path())
            .run()
            .usage_error(needle);
    }
    let run = procroot().args(["find", "/nope"]).root(tree.path()).run();
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("/nope"), "{run:?}");
    assert!(run.stdout.is_empty(), "{run:?}");
    let run = procroot()
        .args(["find", "--newer", "/nope"])
        .root(tree.path())
        .run();
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stdout.is_empty(), "{run:?}");
}

/// A directory that cannot be read is reported on stderr with its path and the walk goes on,
/// exit status 1, as GNU find does; the entries it could list are all listed.
#[test]
#[cfg_attr(procroot_unprivileged, ignore = "needs root (a run as another user)")]
fn an_unreadable_directory_is_reported_and_the_walk_goes_on() {
    procroot_testutil::require_privilege("running as another user");
    let tree = Tree::new("file a/x 1\nfile closed/secret 2\nfile z/y 3");
    std::fs::set_permissions(tree.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(tree.join("closed"), std::fs::Permissions::from_mode(0o700)).unwrap();
    for json in [false, true] {
        let run = procroot()
            .args(["find", "--sort", "--no-sandbox"])
            .args(json.then_some("--json"))
            .root(tree.path())
            .uid(65534)
            .run();
        assert_eq!(run.code, 1, "{run:?}");
        assert!(run.stderr.contains("\"/closed\""), "{run:?}");
        assert!(run.stderr.contains("EACCES"), "{run:?}");
        assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
        let paths: Vec<String> = if json {
            run.json_lines()
                .iter()
                .filter_map(|v| v["path"].as_str().map(str::to_owned))
                .collect()
        } else {
            run.text().lines().map(str::to_owned).collect()
        };
        assert_eq!(
            paths,
            ["/", "/a", "/a/x", "/closed", "/z", "/z/y"],
            "{run:?}"
        );
        if json {
            let errors: Vec<Value> = run
                .json_lines()
                .into_iter()
                .filter(|v| v.get("error").is_some())
                .collect();
            assert_eq!(errors.len(), 1, "{run:?}");
            assert_eq!(errors[0]["error"]["errno"], "EACCES");
        }
    }
}

/// A reader that goes away (`procroot find | head -1`) ends the walk quietly with status 0.
#[test]
fn a_closed_stdout_ends_quietly() {
    let tree = Tree::new("file a/b x\nfile c y");
    let run = procroot()
        .args(["find"])
        .root(tree.path())
        .closed_stdout()
        .run();
    assert_eq!((run.code, run.stderr.as_str()), (0, ""), "{run:?}");
}

/// `--follow` lists what `find -L` lists when every link stays inside the root (relative
/// targets, so the host's reading and the root's agree): a linked directory is walked through,
/// a dangling link is listed as a link, and `--type` describes what a link leads to.
#[test]
fn follow_lists_what_find_l_lists_inside_the_root() {
    let tree = Tree::new(
        "file sub/deep/f x
         symlink sublink sub
         symlink flink sub/deep/f
         symlink dangling nowhere
         symlink sub/deep/up ../../flink",
    );
    let root = tree.path();
    let find_l = |args: &[&str]| -> BTreeSet<Vec<u8>> {
        let out = Command::new("find")
            .arg("-L")
            .arg(root)
            .args(args)
            .arg("-print0")
            .output()
            .unwrap();
        assert!(out.status.success(), "{out:?}");
        let prefix = root.as_os_str().as_bytes();
        out.stdout
            .split(|&b| b == 0)
            .filter(|p| !p.is_empty())
            .map(|p| match &p[prefix.len()..] {
                b"" => b"/".to_vec(),
                rel => rel.to_vec(),
            })
            .collect()
    };
    for backend in ["kernel", "emulated"] {
        for (ours, theirs) in [
            (&["--follow"][..], &[][..]),
            (&["--follow", "--type", "f"], &["-type", "f"]),
            (&["--follow", "--type", "l"], &["-type", "l"]),
            (&["--follow", "--type", "d"], &["-type", "d"]),
        ] {
            let mut args = vec!["--backend", backend];
            args.extend(ours);
            assert_same(
                &our_find(root, &args),
                &find_l(theirs),
                &format!("{args:?}"),
            );
        }
    }
}
