//! Unpacking container image layers into a root.

#![forbid(unsafe_code)]

pub mod image;
