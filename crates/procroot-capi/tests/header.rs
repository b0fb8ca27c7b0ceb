//! CI gate: the committed `include/procroot.h` is exactly what the pinned cbindgen generates
//! from `src/`. A change to the C API without regenerating the header fails here.
//! `PROCROOT_BLESS_HEADER=1` rewrites a stale header, and the test still fails that run: the
//! variable can never make a stale header pass.

use std::path::Path;

#[test]
fn committed_header_is_fresh() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let config = cbindgen::Config::from_file(dir.join("cbindgen.toml")).expect("cbindgen.toml");
    let mut fresh = Vec::new();
    cbindgen::Builder::new()
        .with_crate(dir)
        .with_config(config)
        .generate()
        .expect("cbindgen generates the header")
        .write(&mut fresh);
    let committed_path = dir.join("include/procroot.h");
    let committed = std::fs::read(&committed_path).unwrap_or_default();
    if committed == fresh {
        return;
    }
    // Blessing writes the header and still fails: a `PROCROOT_BLESS_HEADER` leaked into CI's
    // environment must never turn a stale header green. The next run (without changes) passes.
    if std::env::var_os("PROCROOT_BLESS_HEADER").is_some() {
        std::fs::write(&committed_path, &fresh).expect("write include/procroot.h");
        panic!(
            "include/procroot.h was stale and has been regenerated (PROCROOT_BLESS_HEADER is \
             set): review and commit it, then run the test again"
        );
    }
    panic!(
        "include/procroot.h differs from what cbindgen generates from src/; regenerate it \
         with PROCROOT_BLESS_HEADER=1 cargo nextest run -p procroot-capi --test header \
         (which rewrites it and fails once), and commit it"
    );
}
