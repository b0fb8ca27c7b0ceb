"""Builds the package with the C library inside it.

``pip install ./bindings/python`` (from a procroot checkout) runs cargo on
``crates/procroot-capi`` and ships the resulting library as ``procroot/libprocroot.so.0``, so
``import procroot`` needs no separately installed library, no ``LD_LIBRARY_PATH`` and no
``ldconfig``. Everything else about the package is in pyproject.toml.

Environment: ``CARGO`` (the cargo to run, default ``cargo``), ``CARGO_TARGET_DIR`` (honoured as
cargo honours it: point it at the workspace's ``target/`` to reuse a build), and
``PROCROOT_CARGO_PROFILE`` (default ``release``, the profile ``make -C crates/procroot-capi``
builds; ``dev`` for a quick debug build).
"""

import json
import os
import shutil
import subprocess

from setuptools import setup
from setuptools.command.build_py import build_py
from setuptools.dist import Distribution

HERE = os.path.dirname(os.path.abspath(__file__))
WORKSPACE = os.path.normpath(os.path.join(HERE, "..", ".."))
SONAME = "libprocroot.so.0"


def build_library():
    """Runs cargo and returns the path of the ``libprocroot_capi.so`` it built, as cargo reports
    it (so ``CARGO_TARGET_DIR`` and the profile's directory need no guessing)."""
    manifest = os.path.join(WORKSPACE, "crates", "procroot-capi", "Cargo.toml")
    if not os.path.exists(manifest):
        raise SystemExit(
            f"procroot: {manifest} is missing: the package builds the C library from a procroot "
            "checkout; run `pip install ./bindings/python` in one"
        )
    cargo = os.environ.get("CARGO", "cargo")
    profile = os.environ.get("PROCROOT_CARGO_PROFILE", "release")
    cmd = [
        cargo, "build", "--locked", "--manifest-path", manifest, "-p", "procroot-capi",
        "--profile", profile, "--message-format=json-render-diagnostics",
    ]
    try:
        proc = subprocess.run(cmd, cwd=WORKSPACE, stdout=subprocess.PIPE, check=False)
    except FileNotFoundError as e:
        raise SystemExit(
            f"procroot: cannot run {cargo!r} ({e}): building the package needs Rust 1.87 or "
            "newer (https://rustup.rs), with cargo on PATH or in $CARGO"
        ) from e
    if proc.returncode != 0:
        raise SystemExit(f"procroot: {' '.join(cmd)} failed (exit {proc.returncode})")
    built = None
    for line in proc.stdout.decode().splitlines():
        msg = json.loads(line) if line.startswith("{") else {}
        if msg.get("reason") == "compiler-artifact" and msg["target"]["name"] == "procroot_capi":
            built = next((f for f in msg["filenames"] if f.endswith(".so")), built)
    if built is None:
        raise SystemExit(f"procroot: {' '.join(cmd)} reported no libprocroot_capi.so")
    return built


class BuildWithLibrary(build_py):
    """build_py, then the C library into the built package (never into the source tree, where a
    stale copy would shadow the one a later build makes)."""

    def run(self):
        super().run()
        dest = os.path.join(self.build_lib, "procroot", SONAME)
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        # Always copied: setuptools' copy_file skips a destination that looks newer, which would
        # keep a library left in build/ by an earlier build of another profile.
        shutil.copyfile(build_library(), dest)
        os.chmod(dest, 0o755)


class BinaryDistribution(Distribution):
    """The wheel holds a native library: tag it for this platform, not as pure Python."""

    def has_ext_modules(self):
        return True


setup(cmdclass={"build_py": BuildWithLibrary}, distclass=BinaryDistribution)
