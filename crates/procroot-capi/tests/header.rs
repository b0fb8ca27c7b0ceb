//! CI gate: the committed `include/procroot.h` is exactly what the pinned cbindgen generates
//! from `src/lib.rs`. A change to the C API without regenerating the header fails here.
//! `PROCROOT_BLESS_HEADER=1` rewrites the header instead.

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
    if std::env::var_os("PROCROOT_BLESS_HEADER").is_some() {
        std::fs::write(&committed_path, &fresh).expect("write include/procroot.h");
        return;
    }
    let committed = std::fs::read(&committed_path).unwrap_or_default();
    assert!(
        committed == fresh,
        "include/procroot.h differs from what cbindgen generates from src/lib.rs; regenerate it \
         with PROCROOT_BLESS_HEADER=1 cargo nextest run -p procroot-capi --test header \
         and commit it"
    );
}
