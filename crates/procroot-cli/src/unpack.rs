//! `procroot unpack`: container image layers, or an OCI image layout, applied to the root
//! ([`RootUnpackExt::apply_layer`], [`RootUnpackExt::apply_image`]). The layer files are opened
//! here, before the command confines itself, so its Landlock rules need not allow reading them
//! (nor anything beside them); an image layout is read by the library, beneath its directory.

use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use procroot::Root;
use procroot_runtime::unpack::image::{ImageLayerReport, ImageReport};
use procroot_runtime::unpack::{
    apply_layer_threaded, LayerOptions, LayerReport, RootUnpackExt, UnpackProgress,
};
use serde_json::{json, Map, Value};

use crate::cli::UnpackArgs;
use crate::confine::{confine, Job, Notice};
use crate::output::{insert_os, print_json, Failure};
use crate::progress::{Watcher, Work};

/// One LAYER operand, opened.
enum Input {
    Stdin,
    /// A regular file: its data copied by the kernel ([`RootUnpackExt::apply_layer_file`]).
    File(File),
    /// Anything else opened by name (a FIFO, `/dev/stdin`): read as a stream.
    Stream(File),
}

/// How a layer is read: a regular file by the library (the kernel copies its files' data), a
/// stream through the watcher (Ctrl-C ends a read that waits).
enum Source {
    File(File),
    Stream(Box<dyn Read + Send>),
}

/// `procroot unpack`.
pub fn unpack(args: &UnpackArgs) -> Result<ExitCode, Failure> {
    let root = args.root.open()?;
    if args.layers.iter().filter(|l| l.as_os_str() == "-").count() > 1 {
        return Err(crate::mutate::usage_error(
            "unpack",
            "`-` (stdin) can be given only once",
        ));
    }
    // Every layer is opened before anything is applied: a missing third layer fails the
    // command before the first one changes the root.
    let mut inputs = Vec::with_capacity(args.layers.len());
    for layer in &args.layers {
        inputs.push(if layer.as_os_str() == "-" {
            Input::Stdin
        } else {
            let file = File::open(layer)
                .map_err(|e| procroot::Error::from(e).context("open layer", layer))?;
            match file.metadata() {
                Ok(meta) if meta.is_file() => Input::File(file),
                _ => Input::Stream(file),
            }
        });
    }
    let image = args.image.as_deref().map(split_image);
    // The layout directory, for its Landlock rule only (the library opens it again, by the
    // same path, beneath which it then reads).
    let layout_dir = match &image {
        Some((dir, _)) => Some(Root::open(dir).map_err(|e| e.within("open image layout", dir))?),
        None => None,
    };
    // Read while /proc is still readable: the Landlock domain hides it, and knowing the umask
    // saves an fchmod per file.
    let umask = procroot_runtime::unpack::process_umask();
    let mut job = Job::on("unpack", &root).special_files(args.special_files);
    if let Some(dir) = &layout_dir {
        job = job.image(dir.as_fd());
    }
    confine(Notice::json(args.root.json), job)?;

    let mut watcher = Watcher::new(Work::Unpack, args.root.json, args.quiet);
    let mut obj = Map::new();
    obj.insert("op".into(), "unpack".into());
    if let Some((dir, reference)) = &image {
        let applied = {
            let mut hook = |p: &UnpackProgress| watcher.unpack_hook(p);
            root.apply_image(
                dir,
                reference.as_deref(),
                layer_options(args)
                    .with_umask(umask)
                    .with_progress(&mut hook),
            )
        };
        let report = applied.map_err(|e| watcher.failure(e))?;
        watcher.clear();
        image_json(&mut obj, dir, &report);
    } else {
        let total = inputs.len();
        let mut layers = Vec::with_capacity(total);
        for (i, (input, name)) in inputs.into_iter().zip(&args.layers).enumerate() {
            // A stream's reads go through the watcher, so that Ctrl-C also ends a read that
            // waits for data (a pipe, a terminal); the decompressing runs on a second thread.
            // A regular file never waits: Ctrl-C is seen between entries.
            let source = match input {
                Input::File(file) => Source::File(file),
                Input::Stdin => Source::Stream(Box::new(watcher.reader(io::stdin()))),
                Input::Stream(file) => Source::Stream(Box::new(watcher.reader(file))),
            };
            let applied = {
                let mut hook = |p: &UnpackProgress| watcher.unpack_hook(p);
                let opts = layer_options(args)
                    .with_umask(umask)
                    .with_progress(&mut hook);
                match source {
                    Source::File(file) => root.apply_layer_file(&file, opts),
                    Source::Stream(stream) => apply_layer_threaded(&root, stream, opts),
                }
            };
            let report = applied.map_err(|e| {
                let what = format!("layer {} of {total}", i + 1);
                let e = if i > 0 {
                    e.within(format!("{what} (the {i} before it were applied)"), name)
                } else {
                    e.within(what, name)
                };
                watcher.failure(e)
            })?;
            layers.push(layer_json(name.as_os_str(), &report));
        }
        watcher.clear();
        obj.insert("layers".into(), Value::Array(layers));
    }
    if args.root.json {
        print_json(&Value::Object(obj))?;
    }
    Ok(ExitCode::SUCCESS)
}

/// The command line's layer options, without the progress hook.
fn layer_options<'a>(args: &UnpackArgs) -> LayerOptions<'a> {
    // tar's rule: the archive's owners by default for root only (anyone else's fchown to
    // another user fails, and the first entry would stop the layer).
    let same_owner = if args.same_owner || args.no_same_owner {
        args.same_owner
    } else {
        rustix::process::geteuid().is_root()
    };
    LayerOptions::default()
        .with_same_owner(same_owner)
        .with_special_files(crate::commands::special_files(args.special_files))
        .with_no_dirlinks(args.no_dirlinks)
        .with_overwrite_dirs(args.overwrite_dirs)
}

/// `DIR[:REF]`: split at the first `:` after the last `/` (a REF has no `/`, and a digest REF
/// has a `:` of its own: `img:sha256:…`), unless the whole operand is an existing directory.
fn split_image(operand: &Path) -> (PathBuf, Option<String>) {
    if operand.is_dir() {
        return (operand.to_path_buf(), None);
    }
    let bytes = operand.as_os_str().as_bytes();
    let name_start = bytes.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1);
    match bytes[name_start..].iter().position(|&b| b == b':') {
        Some(at) if name_start + at > 0 => {
            let at = name_start + at;
            (
                PathBuf::from(OsStr::from_bytes(&bytes[..at])),
                Some(String::from_utf8_lossy(&bytes[at + 1..]).into_owned()),
            )
        }
        _ => (operand.to_path_buf(), None),
    }
}

/// The report of one layer, as `--json` prints it.
fn layer_json(name: &OsStr, report: &LayerReport) -> Value {
    let mut obj = Map::new();
    insert_os(&mut obj, "layer", name);
    fill_report(&mut obj, report);
    Value::Object(obj)
}

fn fill_report(obj: &mut Map<String, Value>, report: &LayerReport) {
    let e = &report.entries;
    obj.insert("compression".into(), report.compression.to_string().into());
    obj.insert(
        "entries".into(),
        json!({
            "files": e.files, "dirs": e.dirs, "symlinks": e.symlinks,
            "hardlinks": e.hardlinks, "fifos": e.fifos,
            "char_devices": e.char_devices, "block_devices": e.block_devices,
        }),
    );
    obj.insert("bytes_written".into(), report.bytes_written.into());
    obj.insert("whiteouts".into(), report.whiteouts.into());
    obj.insert("opaque_dirs".into(), report.opaque_dirs.into());
    let skipped = report.skipped.iter().map(|s| {
        let mut entry = Map::new();
        insert_os(&mut entry, "path", OsStr::from_bytes(&s.path));
        entry.insert("reason".into(), s.reason.to_string().into());
        Value::Object(entry)
    });
    obj.insert("skipped".into(), Value::Array(skipped.collect()));
}

/// The report of `--image`: the layout, the manifest, and each layer's report with its digest.
fn image_json(obj: &mut Map<String, Value>, dir: &Path, report: &ImageReport) {
    insert_os(obj, "image", dir.as_os_str());
    if let Some(r) = &report.reference {
        obj.insert("reference".into(), r.clone().into());
    }
    obj.insert("manifest".into(), report.manifest.clone().into());
    let layers = report.layers.iter().map(|l: &ImageLayerReport| {
        let mut o = Map::new();
        o.insert("digest".into(), l.digest.clone().into());
        o.insert("media_type".into(), l.media_type.clone().into());
        o.insert("size".into(), l.size.into());
        fill_report(&mut o, &l.report);
        Value::Object(o)
    });
    obj.insert("layers".into(), Value::Array(layers.collect()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_operands_split_at_the_last_colon() {
        let split = |s: &str| split_image(Path::new(s));
        assert_eq!(
            split("img:latest"),
            (PathBuf::from("img"), Some("latest".into()))
        );
        assert_eq!(
            split("a:b/img:v1"),
            (PathBuf::from("a:b/img"), Some("v1".into()))
        );
        assert_eq!(split("a:b/img"), (PathBuf::from("a:b/img"), None));
        assert_eq!(split("img"), (PathBuf::from("img"), None));
        assert_eq!(
            split("img:sha256:0123"),
            (PathBuf::from("img"), Some("sha256:0123".into()))
        );
    }
}
