//! The Go module (bindings/go): `go vet` and `go test -race` against the library installed by
//! `make install-files` into a staging prefix (cgo finds it through pkg-config).
//!
//! Go missing is a failure, never a silent pass. `.ci/run` installs Debian's `golang-go`; a
//! machine that cannot have Go builds the tests with `RUSTFLAGS='--cfg procroot_no_go'`, which
//! marks this test ignored, so that nextest counts it as skipped.

mod common;

use std::process::Command;

fn go(args: &[&str]) {
    let dir = common::workspace().join("bindings/go");
    let mut cmd = Command::new("go");
    cmd.args(args)
        .current_dir(&dir)
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
