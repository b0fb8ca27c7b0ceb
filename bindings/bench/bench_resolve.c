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
    double raw[ROUNDS], capi[ROUNDS];
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
        raw[r] = (t1 - t0) / iters;
        capi[r] = (t2 - t1) / iters;
    }
    qsort(raw, ROUNDS, sizeof(double), cmp);
    qsort(capi, ROUNDS, sizeof(double), cmp);
    printf("c_raw_openat2_ns %.0f\nc_procroot_resolve_ns %.0f\n", raw[ROUNDS / 2],
           capi[ROUNDS / 2]);
    procroot_root_free(root);
    return 0;
}
