//! Every attack of `unpack_attacks.rs` again, each layer read from a regular file with
//! `RootUnpackExt::apply_layer_file` (its files' data copied by the kernel): this binary's name
//! makes `unpack_common::reader` pick that reader. With `PROCROOT_NAIVE_UNPACK=1` the naive
//! unpacker runs instead, as there.

#[path = "unpack_attacks.rs"]
mod attacks;
