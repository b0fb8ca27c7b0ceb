//! Applies one layer file to a root directory with `RootUnpackExt::apply_layer` and prints the
//! report: the library alone, without the CLI, for BENCHMARKS.md ("Image layers") and `strace`.
//!
//! `cargo run --release -p procroot-runtime --example apply_layer -- LAYER ROOT [--no-same-owner]`

use procroot::Root;
use procroot_runtime::unpack::LayerOptions;
use procroot_runtime::RootUnpackExt;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [layer, root, rest @ ..] = args.as_slice() else {
        return Err("usage: apply_layer LAYER ROOT [--no-same-owner]".into());
    };
    let same_owner = !rest.iter().any(|a| a == "--no-same-owner");
    let file = std::fs::File::open(layer)?;
    let report =
        Root::open(root)?.apply_layer(file, LayerOptions::default().with_same_owner(same_owner))?;
    println!("{report:?}");
    Ok(())
}
