//! `set_xattr ROOT PATH NAME VALUE [--no-second-check]`: sets an extended attribute inside a
//! root with [`procroot::Root::set_xattr`] and prints `ok`, or the error and its errno name
//! (exit status 1).
//!
//! The `procroot` command has no xattr subcommand; `tests/sandbox_cli.rs` builds this with the
//! fault-injected library to show the second check stopping an xattr write that the broken
//! resolver sends to a host file (Landlock does not mediate `setxattr`).

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    let [root, path, name, value, rest @ ..] = &args[..] else {
        eprintln!("usage: set_xattr ROOT PATH NAME VALUE [--no-second-check]");
        return ExitCode::from(2);
    };
    let check = !rest.iter().any(|a| a == "--no-second-check");
    let result = procroot::Root::open(root).and_then(|root| {
        root.with_second_check(check).set_xattr(
            path,
            name,
            std::os::unix::ffi::OsStrExt::as_bytes(value.as_os_str()),
        )
    });
    match result {
        Ok(()) => {
            println!("ok");
            ExitCode::SUCCESS
        }
        Err(e) => {
            println!("{} {e}", e.errno_name());
            ExitCode::from(1)
        }
    }
}
