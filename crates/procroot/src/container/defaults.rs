//! The masked and read-only path lists container runtimes apply by default.

#![forbid(unsafe_code)]

/// runc's default masked paths: the `maskedPaths` of the spec template `runc spec` writes
/// (`libcontainer/specconv/example.go`). Kernel interfaces that leak host information or give
/// host-wide control.
pub const RUNC_MASKED_PATHS: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/proc/scsi",
];

/// runc's default read-only paths: the `readonlyPaths` of the same template.
pub const RUNC_READONLY_PATHS: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// Docker's default masked paths (moby `oci/defaults.go`): runc's list plus `/proc/interrupts`
/// and `/sys/devices/virtual/powercap` (the RAPL energy counters, a side channel), which recent
/// Docker added.
pub const DOCKER_MASKED_PATHS: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/interrupts",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/proc/scsi",
    "/sys/firmware",
    "/sys/devices/virtual/powercap",
];
