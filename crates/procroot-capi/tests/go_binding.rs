//! The Go module (bindings/go): `go vet` and `go test -race` against the library installed by
//! `make install-files` into a staging prefix (cgo finds it through pkg-config).
//!
//! Go missing is a failure, never a silent pass. `.ci/run` installs Debian's `golang-go`; a
//! machine that cannot have Go builds the tests with `RUSTFLAGS='--cfg procroot_no_go'`, which
//! marks this test ignored, so that nextest counts it as skipped.

mod common;

use std::path::Path;
use std::process::Command;

fn go(args: &[&str]) {
    go_in(&common::workspace().join("bindings/go"), args, &[]);
}

/// Runs `go <args>` in `dir` with the staged library (build-time environment of
/// [`common::binding_env`]) and `env` on top; fails the test when go fails.
fn go_in(dir: &Path, args: &[&str], env: &[(&str, String)]) {
    let mut cmd = Command::new("go");
    cmd.args(args)
        .current_dir(dir)
        .env("CGO_ENABLED", "1")
        .env("GOFLAGS", "-mod=mod")
        .env("GOTOOLCHAIN", "local");
    // Under target/ unless set: CI's environment may have no HOME for Go's defaults.
    if std::env::var_os("GOCACHE").is_none() {
        cmd.env("GOCACHE", common::workspace().join("target/go-cache"));
    }
    if std::env::var_os("GOPATH").is_none() {
        cmd.env("GOPATH", common::workspace().join("target/go-path"));
    }
    common::binding_env(&mut cmd);
    cmd.envs(env.iter().map(|(k, v)| (k, v)));
    let out = cmd.output().unwrap_or_else(|e| {
        panic!(
            "cannot run `go` ({e}): install Debian's golang-go (.ci/run does), or build the \
             tests with RUSTFLAGS='--cfg procroot_no_go' to skip the Go binding visibly"
        )
    });
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("go {}:\n{text}", args.join(" "));
    assert!(
        out.status.success(),
        "go {} failed:\n{text}",
        args.join(" ")
    );
}

#[test]
#[cfg_attr(
    procroot_no_go,
    ignore = "built with --cfg procroot_no_go: Go is not installed"
)]
#[cfg_attr(
    all(procroot_unprivileged, not(procroot_no_go)),
    ignore = "needs root: built with --cfg procroot_unprivileged"
)]
fn go_vet_and_test() {
    procroot_testutil::require_privilege("the Go tests chown and make FIFOs");
    go(&["vet", "./..."]);
    go(&["test", "-race", "-count=1", "./..."]);
}

/// The fenced block right after `<!-- example: NAME -->` in bindings/go/README.md.
fn readme_block(readme: &str, name: &str) -> String {
    let marker = format!("<!-- example: {name} -->");
    let after = &readme[readme
        .find(&marker)
        .unwrap_or_else(|| panic!("no {marker}"))..];
    let start = after.find("```").expect("fence");
    let body = &after[start..];
    let body = &body[body.find('\n').expect("fence line") + 1..];
    body[..body.find("\n```").expect("closing fence")].to_string() + "\n"
}

/// bindings/go/README.md's `go.mod` and `main.go`, as a user copies them: a module of its own
/// outside bindings/go, the checkout's path put in for `/path/to/procroot`, built with no module
/// download (`GOPROXY=off`) and the rpath the README gives for a non-system prefix, then run
/// without `LD_LIBRARY_PATH`: it prints the rootfs's os-release and the in-root answer of
/// procfsroot's EvalSymlinks. The README's procfsroot line is the one-line import swap.
#[test]
#[cfg_attr(
    procroot_no_go,
    ignore = "built with --cfg procroot_no_go: Go is not installed"
)]
fn readme_example_builds_as_another_module() {
    let readme = std::fs::read_to_string(common::workspace().join("bindings/go/README.md"))
        .expect("bindings/go/README.md");
    let top = std::fs::read_to_string(common::workspace().join("README.md")).expect("README");
    assert!(
        top.contains("(bindings/go/README.md)"),
        "README.md does not link bindings/go/README.md"
    );
    let swap = readme_block(&readme, "import swap");
    assert_eq!(
        swap.lines()
            .map(|l| l.split("//").next().unwrap().trim())
            .collect::<Vec<_>>(),
        [
            "import \"github.com/thediveo/procfsroot\"",
            "import \"example.invalid/procroot/procfsroot\""
        ]
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let module = dir.path().join("myapp");
    std::fs::create_dir(&module).expect("mkdir");
    let gomod = readme_block(&readme, "go.mod").replace(
        "/path/to/procroot",
        common::workspace().to_str().expect("utf-8 path"),
    );
    std::fs::write(module.join("go.mod"), gomod).expect("go.mod");
    std::fs::write(module.join("main.go"), readme_block(&readme, "main.go")).expect("main.go");
    let lib = common::staged_prefix().join("lib");
    go_in(
        &module,
        &["build", "-o", "myapp", "."],
        &[
            ("GOPROXY", "off".into()),
            ("GOFLAGS", "-mod=mod".into()),
            ("CGO_LDFLAGS", format!("-Wl,-rpath,{}", lib.display())),
        ],
    );

    // A rootfs whose /var/run is an absolute symlink: procfsroot answers inside the root.
    let rootfs = dir.path().join("rootfs");
    std::fs::create_dir_all(rootfs.join("etc")).expect("mkdir");
    std::fs::create_dir_all(rootfs.join("run")).expect("mkdir");
    std::fs::create_dir_all(rootfs.join("var")).expect("mkdir");
    std::fs::write(rootfs.join("etc/os-release"), "ID=readme-example\n").expect("write");
    std::os::unix::fs::symlink("/run", rootfs.join("var/run")).expect("symlink");
    let out = Command::new(module.join("myapp"))
        .arg(&rootfs)
        .env_remove("LD_LIBRARY_PATH")
        .env_remove("PROCROOT_LIB")
        .output()
        .expect("run myapp");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "myapp failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout, "ID=readme-example\n/run\n");
}
