//! The shared library's SONAME carries the major version: a program linked against
//! libprocroot.so.0 refuses to load an incompatible libprocroot.so.1.
fn main() {
    let major = std::env::var("CARGO_PKG_VERSION_MAJOR").expect("cargo sets it");
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libprocroot.so.{major}");
    println!("cargo:rerun-if-changed=build.rs");
}
