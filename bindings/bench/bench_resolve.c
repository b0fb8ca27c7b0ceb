/* One resolve through the C API against raw openat2(RESOLVE_IN_ROOT) on the same path,
 * alternating rounds (scripts/bench-bindings.sh). usage: bench_resolve <root> <path> <iters> */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/openat2.h>
#include <procroot.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e9 + ts.tv_nsec;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    if (argc != 4) return 2;
    const char *path = argv[2];
    long iters = atol(argv[3]);
    procroot_root *root;
    if (procroot_root_open(argv[1], &root, NULL) < 0) return 1;
    int rootfd = procroot_root_fd(root, NULL);
    struct open_how how = {.flags = O_PATH | O_CLOEXEC,
                           .resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS};
    enum { ROUNDS = 15 };
    double raw[ROUNDS], capi[ROUNDS], pidroot[ROUNDS];
    /* The drop-in's PID-root case: this process's /proc/<pid>/root (its "/"), opened and
     * evaluated in for every call, as procfsroot's EvalSymlinks(path, "/proc/<pid>/root"). */
    char full[4096], out[4096];
    snprintf(full, sizeof full, "%s/%s", argv[1], path);
    long pid_iters = iters / 8 > 0 ? iters / 8 : 1;
    for (int r = 0; r < ROUNDS; r++) {
        double t0 = now();
        for (long i = 0; i < iters; i++) {
            int fd = (int)syscall(SYS_openat2, rootfd, path, &how, sizeof how);
            if (fd < 0) return 1;
            close(fd);
        }
        double t1 = now();
        for (long i = 0; i < iters; i++) {
            int fd = procroot_resolve(root, path, NULL);
            if (fd < 0) return 1;
            close(fd);
        }
        double t2 = now();
        for (long i = 0; i < pid_iters; i++) {
            procroot_root *pr;
            if (procroot_root_for_pid((uint32_t)getpid(), &pr, NULL) < 0) return 1;
            procroot_root_set_policy(pr, PROCROOT_POLICY_IN_ROOT_STRICT, NULL);
            if (procroot_eval_symlinks(pr, full, PROCROOT_EVAL_FULL, out, sizeof out, NULL) < 0)
                return 1;
            procroot_root_free(pr);
        }
        double t3 = now();
        raw[r] = (t1 - t0) / iters;
        capi[r] = (t2 - t1) / iters;
        pidroot[r] = (t3 - t2) / pid_iters;
    }
    qsort(raw, ROUNDS, sizeof(double), cmp);
    qsort(capi, ROUNDS, sizeof(double), cmp);
    qsort(pidroot, ROUNDS, sizeof(double), cmp);
    printf("c_raw_openat2_ns %.0f\nc_procroot_resolve_ns %.0f\n", raw[ROUNDS / 2],
           capi[ROUNDS / 2]);
    printf("c_for_pid_eval_symlinks_ns %.0f (%.2fx raw)\n", pidroot[ROUNDS / 2],
           pidroot[ROUNDS / 2] / raw[ROUNDS / 2]);
    procroot_root_free(root);
    return 0;
}
