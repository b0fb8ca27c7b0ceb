#!/usr/bin/env bash
# One resolve through Rust, the C API, Go (cgo) and Python, on the depth-8 path with 4
# relative symlinks of benches/resolve.rs (l0/d1/l2/d3/l4/d5/l6/d7/file), each against raw
# openat2(RESOLVE_IN_ROOT) in the same process. Numbers for BENCHMARKS.md section 5.
# usage: scripts/bench-bindings.sh [iters]
set -euo pipefail
cd "$(dirname "$0")/.."
ITERS=${1:-20000}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

# The fixture: d0/.../d7/file, lN -> dN next to dN at levels 0, 2, 4, 6.
ROOT=$WORK/root
mkdir -p "$ROOT/d0/d1/d2/d3/d4/d5/d6/d7"
echo x > "$ROOT/d0/d1/d2/d3/d4/d5/d6/d7/file"
ln -s d0 "$ROOT/l0"
ln -s d2 "$ROOT/d0/d1/l2"
ln -s d4 "$ROOT/d0/d1/d2/d3/l4"
ln -s d6 "$ROOT/d0/d1/d2/d3/d4/d5/l6"
P=l0/d1/l2/d3/l4/d5/l6/d7/file

cargo build -q --release -p procroot-capi --example bench_resolve --example eval_syscall_costs
make -s -C crates/procroot-capi install-files PROFILE=release PREFIX="$WORK/prefix"
export PKG_CONFIG_PATH=$WORK/prefix/lib/pkgconfig LD_LIBRARY_PATH=$WORK/prefix/lib
# shellcheck disable=SC2046
cc -O2 -o "$WORK/bench_c" bindings/bench/bench_resolve.c $(pkg-config --cflags --libs procroot)

echo "== rust"; target/release/examples/bench_resolve "$ROOT" "$P" "$ITERS"
# What each syscall of eval_symlinks's verified kernel path costs against the same raw openat2
# (BENCHMARKS.md section 7.4.1: the floor). The third argument is the same file's path without
# symlinks, which the verification opens.
echo "== rust, per syscall"
target/release/examples/eval_syscall_costs "$ROOT" "$P" d0/d1/d2/d3/d4/d5/d6/d7/file "$ITERS"
echo "== c"; "$WORK/bench_c" "$ROOT" "$P" "$ITERS"
echo "== go"
(cd bindings/go && PROCROOT_BENCH_ROOT=$ROOT PROCROOT_BENCH_PATH=$P \
    go test -run '^$' -bench . -benchtime 1s -count 5 . | grep ^Benchmark)
echo "== python"
PROCROOT_LIB=$WORK/prefix/lib/libprocroot.so.0 PYTHONPATH=bindings/python/src python3 - "$ROOT" "$P" <<'PY'
import os, sys, timeit
import procroot
root_dir, path = sys.argv[1], sys.argv[2]
r = procroot.Root(root_dir)
rootfd = r.fileno()
flags = os.O_PATH | os.O_CLOEXEC
n = 20000
def best(stmt):
    return sorted(timeit.repeat(stmt, number=n, repeat=7))[3] / n * 1e9
# os.open follows the symlinks as usual (no RESOLVE_IN_ROOT): the same kernel walk, unscoped.
print("py_os_open_ns %.0f" % best(lambda: os.close(os.open(path, flags, dir_fd=rootfd))))
print("py_resolve_ns %.0f" % best(lambda: r.resolve(path).close()))
print("py_eval_symlinks_ns %.0f" % best(lambda: r.eval_symlinks(path)))
PY
