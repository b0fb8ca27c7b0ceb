#!/usr/bin/env python3
"""Prints the BENCHMARKS.md tables from criterion's output files.

Usage: scripts/bench-table.py [CRITERION_DIR]

CRITERION_DIR defaults to $CARGO_TARGET_DIR/criterion, else target/criterion. The numbers are the
medians (`median.point_estimate`, in ns) of `<group>/<id>/new/estimates.json`, as written by
`cargo bench -p procroot --bench resolve` (the resolution table), `--bench procfs` and
`--bench mutate` (one table per group, each column against the group's baseline). A table whose
benchmarks have not been run is left out.
"""

import json
import os
import sys

COLUMNS = [
    "raw_openat2",
    "procroot_kernel",
    "procroot_emulated",
    "pathrs_kernel",
    "pathrs_emulated",
    "floor",
]
KINDS = [("sym0", "0", "-"), ("sym4rel", "4", "relative"), ("sym4abs", "4", "absolute")]
DEPTHS = [1, 8, 32]

# (label, numerator, denominator, target or None, "le": met when ratio <= target, "ge": >=)
RATIOS = [
    ("procroot_kernel / raw", "procroot_kernel", "raw_openat2", 1.05, "le"),
    ("procroot_emulated / floor", "procroot_emulated", "floor", 1.3, "le"),
    ("pathrs_emulated / procroot_emulated", "pathrs_emulated", "procroot_emulated", 10.0, "ge"),
    ("pathrs_kernel / raw", "pathrs_kernel", "raw_openat2", None, None),
    # What any userspace walker could reach at best: the bound on the 10x target.
    ("pathrs_emulated / floor", "pathrs_emulated", "floor", None, None),
]


# Groups of the procfs and mutate benches: (group, baseline id, target ratio or None, ids).
GROUPS = [
    ("procfs_open_self_status", "raw_open", 1.5,
     ["raw_open", "procroot_cached", "procroot_cached_lookup", "pathrs_procfs_handle"]),
    ("procfs_acquire", None, None, None),
    ("mkdir_all_depth16", "floor", 1.3, ["floor", "procroot", "procroot_emulated", "pathrs"]),
    ("remove_all_10000_files", "std", 1.5, ["std", "procroot", "pathrs"]),
]


def median(base, group, bench_id):
    path = os.path.join(base, group, bench_id, "new", "estimates.json")
    try:
        with open(path) as f:
            return json.load(f)["median"]["point_estimate"]
    except FileNotFoundError:
        return None


def fmt_time(ns):
    if ns is None:
        return "n/a"
    if ns >= 1_000_000:
        return f"{ns / 1_000_000:.2f} ms"
    if ns >= 1000:
        return f"{ns / 1000:.2f} µs"
    return f"{ns:.0f} ns"


def fmt_ratio(num, den, target, sense):
    if num is None or den is None:
        return "n/a"
    r = num / den
    text = f"{r:.3f}x" if r < 2 else f"{r:.1f}x"
    if target is not None:
        ok = r <= target if sense == "le" else r >= target
        text += " ✅" if ok else " ❌"
    return text


def main():
    if len(sys.argv) > 1:
        base = sys.argv[1]
    else:
        target = os.environ.get("CARGO_TARGET_DIR", "target")
        base = os.path.join(target, "criterion")
    if not os.path.isdir(base):
        sys.exit(f"no criterion output in {base}")

    if os.path.isdir(os.path.join(base, "depth1_sym0")):
        resolve_tables(base)
    for group, baseline, target, ids in GROUPS:
        group_table(base, group, baseline, target, ids)


def group_table(base, group, baseline, target, ids):
    """One table for a procfs or mutate group: median and ratio to the baseline per id."""
    gdir = os.path.join(base, group)
    if not os.path.isdir(gdir):
        return
    if ids is None:
        ids = sorted(i for i in os.listdir(gdir) if median(base, group, i) is not None)
    base_t = median(base, group, baseline) if baseline else None
    print()
    if baseline:
        print(f"| `{group}` | median | / `{baseline}` |")
        print("|---|---:|---:|")
    else:
        print(f"| `{group}` | median |")
        print("|---|---:|")
    for bench_id in ids:
        t = median(base, group, bench_id)
        if t is None:
            continue
        row = f"| `{bench_id}` | {fmt_time(t)} |"
        if baseline:
            is_ours = bench_id.startswith("procroot")
            row += f" {fmt_ratio(t, base_t, target if is_ours else None, 'le')} |"
        print(row)


def resolve_tables(base):
    head = ["depth", "symlinks", "kind"] + COLUMNS + [r[0] for r in RATIOS]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join(["---:"] * 2 + ["---"] + ["---:"] * (len(head) - 3)) + "|")
    for depth in DEPTHS:
        for suffix, nsym, kind in KINDS:
            group = f"depth{depth}_{suffix}"
            t = {c: median(base, group, c) for c in COLUMNS}
            cells = [str(depth), nsym, kind] + [fmt_time(t[c]) for c in COLUMNS]
            cells += [fmt_ratio(t[n], t[d], tgt, s) for _, n, d, tgt, s in RATIOS]
            print("| " + " | ".join(cells) + " |")

    extra = os.path.join(base, "extra")
    if os.path.isdir(extra):
        print()
        print("| extra (informational) | median |")
        print("|---|---:|")
        for bench_id in sorted(os.listdir(extra)):
            t = median(base, "extra", bench_id)
            if t is not None:
                print(f"| `{bench_id}` | {fmt_time(t)} |")


if __name__ == "__main__":
    main()
