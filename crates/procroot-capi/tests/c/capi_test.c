/* Exercises every function of the C API and its error paths, against the installed
 * libprocroot (built by tests/c_api.rs with `cc $(pkg-config --cflags --libs procroot)`).
 *
 * usage: capi_test <scratch-dir> <resolve_cases.txt>
 * Prints "N passed, N failed" and exits non-zero on any failure. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <procroot.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sched.h>
#include <stdint.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static int passed, failed;

#define CHECK(cond, ...)                                                                       \
    do {                                                                                       \
        if (cond) {                                                                            \
            passed++;                                                                          \
        } else {                                                                               \
            failed++;                                                                          \
            fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);                    \
            fprintf(stderr, __VA_ARGS__);                                                      \
            fprintf(stderr, "\n");                                                             \
        }                                                                                      \
    } while (0)

static procroot_error *err;

static int expect_ok(int ret, const char *what) {
    if (ret < 0) {
        failed++;
        fprintf(stderr, "FAIL %s: %d (%s)\n", what, ret, err ? err->message : "no error");
    } else {
        passed++;
    }
    procroot_error_free(err);
    err = NULL;
    return ret;
}

/* A call that must fail with -want and fill err with that errno, the kind and a message. */
static void expect_err(int ret, int want, procroot_error_kind kind, const char *what) {
    if (ret != -want) {
        failed++;
        fprintf(stderr, "FAIL %s: got %d, want %d (%s)\n", what, ret, -want,
                err ? err->message : "no error");
    } else if (err == NULL || err->saved_errno != want || err->message == NULL ||
               err->message[0] == 0 || (kind != 0 && err->kind != kind)) {
        failed++;
        fprintf(stderr, "FAIL %s: bad error object (kind %d)\n", what, err ? (int)err->kind : -1);
    } else {
        passed++;
    }
    procroot_error_free(err);
    err = NULL;
}

static const char *errno_name(int e) {
    switch (e) {
    case ENOENT: return "ENOENT";
    case EXDEV: return "EXDEV";
    case ELOOP: return "ELOOP";
    case ENOTDIR: return "ENOTDIR";
    case EACCES: return "EACCES";
    case EINVAL: return "EINVAL";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case EISDIR: return "EISDIR";
    case EEXIST: return "EEXIST";
    case EPERM: return "EPERM";
    case ENOTEMPTY: return "ENOTEMPTY";
    default: return "E?";
    }
}

/* A C line's path field: "@rep:<n>:<text>" is <text> repeated n times, into out. */
static const char *expand(const char *field, char *out, size_t size) {
    if (strncmp(field, "@rep:", 5) != 0) return field;
    char *colon = NULL;
    long n = strtol(field + 5, &colon, 10);
    if (!colon || *colon != ':') return field;
    const char *text = colon + 1;
    size_t len = strlen(text), at = 0;
    for (long i = 0; i < n && at + len < size; i++, at += len) memcpy(out + at, text, len);
    out[at] = 0;
    return out;
}

/* An M line: bind path onto itself, a final symlink not followed, with MOUNT_ATTR_NOSYMFOLLOW
 * set or cleared (open_tree, mount_setattr, move_mount; raw syscalls, as older C libraries
 * have no wrappers). */
static int rebind_symfollow(const char *path, int nosymfollow) {
    struct {
        uint64_t attr_set, attr_clr, propagation, userns_fd;
    } attr = {0, 0, 0, 0};
    if (nosymfollow)
        attr.attr_set = 0x00200000; /* MOUNT_ATTR_NOSYMFOLLOW */
    else
        attr.attr_clr = 0x00200000;
    int fd = (int)syscall(428 /* open_tree */, AT_FDCWD, path,
                          1 /* OPEN_TREE_CLONE */ | O_CLOEXEC | AT_SYMLINK_NOFOLLOW);
    if (fd < 0) return -1;
    int rc = (int)syscall(442 /* mount_setattr */, fd, "", AT_EMPTY_PATH, &attr, sizeof attr);
    if (rc == 0)
        rc = (int)syscall(429 /* move_mount */, fd, "", AT_FDCWD, path,
                          4 /* MOVE_MOUNT_F_EMPTY_PATH */);
    close(fd);
    return rc;
}

/* An O line: the operation's outcome, "ok" or the errno name. */
static const char *operation(procroot_root *root, char **fld, int n) {
    int r = -EINVAL;
    const char *op = fld[1];
    if (!strcmp(op, "create_file") && n == 4) {
        r = procroot_create_file(root, fld[2], O_RDWR | O_EXCL, 0644, NULL);
        if (r >= 0) close(r);
    } else if (!strcmp(op, "mkfifo") && n == 4) {
        r = procroot_mknod(root, fld[2], S_IFIFO, 0644, 0, 0, NULL);
    } else if (!strcmp(op, "symlink") && n == 5) {
        r = procroot_symlink(root, fld[2], fld[3], NULL);
    } else if (!strcmp(op, "hardlink") && n == 5) {
        r = procroot_hardlink(root, fld[2], fld[3], NULL);
    } else if (!strcmp(op, "open_excl") && n == 4) {
        r = procroot_open_file(root, fld[2], O_RDONLY | O_EXCL, NULL);
        if (r >= 0) close(r);
    } else if (!strcmp(op, "remove_file") && n == 4) {
        r = procroot_remove_file(root, fld[2], NULL);
    } else if (!strcmp(op, "remove_dir") && n == 4) {
        r = procroot_remove_dir(root, fld[2], NULL);
    } else if (!strcmp(op, "remove_all") && n == 4) {
        r = procroot_remove_all(root, fld[2], NULL);
    } else {
        CHECK(0, "bad operation line: %s", op);
    }
    return r >= 0 ? "ok" : errno_name(-r);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* A W line of the shared table: every entry path and every "path!ERRNO" the walk reports,
 * sorted bytewise and joined with commas, into out. */
static const char *walk_line(procroot_root *root, char **fld, char *out, size_t size) {
    uint32_t flags = 0;
    int64_t max_depth = PROCROOT_WALK_NO_MAX_DEPTH;
    char opts[256];
    snprintf(opts, sizeof opts, "%s", fld[1]);
    for (char *save = NULL, *o = strtok_r(opts, ",", &save); o; o = strtok_r(NULL, ",", &save)) {
        if (!strcmp(o, "follow")) flags |= PROCROOT_WALK_FOLLOW_LINKS;
        else if (!strncmp(o, "max=", 4)) max_depth = atoi(o + 4);
        else CHECK(!strcmp(o, "-"), "bad walk option %s", o);
    }
    procroot_walk *w = NULL;
    expect_ok(procroot_walk_open(root, fld[2], flags, 0, max_depth, &w, &err), "walk_open");
    char *items[256];
    int count = 0;
    procroot_walk_entry e;
    for (;;) {
        int r = procroot_walk_next(w, &e, &err);
        if (r == 0) break;
        char item[4200];
        if (r > 0) {
            CHECK(strlen(e.path) == e.path_len, "path_len %zu", e.path_len);
            snprintf(item, sizeof item, "%s", e.path);
        } else {
            CHECK(err && err->saved_errno == -r, "entry error object");
            snprintf(item, sizeof item, "%s!%s", e.path, errno_name(-r));
            procroot_error_free(err);
            err = NULL;
        }
        if (count < 256) items[count++] = strdup(item);
    }
    procroot_walk_free(w);
    qsort(items, (size_t)count, sizeof items[0], cmp_str);
    out[0] = 0;
    for (int i = 0; i < count; i++) {
        if (i) strncat(out, ",", size - strlen(out) - 1);
        strncat(out, items[i], size - strlen(out) - 1);
        free(items[i]);
    }
    return out;
}

/* The shared resolve table (bindings/testdata/resolve_cases.txt), in a forked child with a
 * private mount namespace (its M lines mount). */
static void resolve_table_lines(const char *scratch, const char *table) {
    static char line[16384], path[16384];
    char dir[4096], full[8192];
    snprintf(dir, sizeof dir, "%s/table", scratch);
    mkdir(dir, 0755);
    FILE *f = fopen(table, "r");
    CHECK(f != NULL, "open %s", table);
    if (!f) return;
    procroot_root *root = NULL;
    expect_ok(procroot_root_open(dir, &root, &err), "open table root");
    int cases = 0;
    while (fgets(line, sizeof line, f)) {
        char *hash = strchr(line, '#');
        if (hash) *hash = 0;
        char *fld[6] = {0};
        int n = 0;
        for (char *tok = strtok(line, " \t\n"); tok && n < 6; tok = strtok(NULL, " \t\n"))
            fld[n++] = tok;
        if (n == 0) continue;
        if (!strcmp(fld[0], "D")) {
            char cmd[8192];
            snprintf(cmd, sizeof cmd, "mkdir -p '%s/%s'", dir, fld[1]);
            CHECK(system(cmd) == 0, "%s", cmd);
        } else if (!strcmp(fld[0], "F")) {
            snprintf(full, sizeof full, "%s/%s", dir, fld[1]);
            int fd = open(full, O_CREAT | O_WRONLY, 0644);
            CHECK(fd >= 0, "create %s", full);
            close(fd);
        } else if (!strcmp(fld[0], "L")) {
            char cmd[8192];
            snprintf(cmd, sizeof cmd, "mkdir -p \"$(dirname '%s/%s')\"", dir, fld[1]);
            CHECK(system(cmd) == 0, "%s", cmd);
            snprintf(full, sizeof full, "%s/%s", dir, fld[1]);
            CHECK(symlink(fld[2], full) == 0, "symlink %s", full);
        } else if (!strcmp(fld[0], "M") && n == 3) {
            snprintf(full, sizeof full, "%s/%s", dir, fld[1]);
            CHECK(rebind_symfollow(full, !strcmp(fld[2], "nosymfollow")) == 0, "mount %s: %s", full,
                  strerror(errno));
        } else if (!strcmp(fld[0], "C") && n == 5) {
            cases++;
            int policy = !strcmp(fld[1], "in_root")          ? PROCROOT_POLICY_IN_ROOT
                         : !strcmp(fld[1], "in_root_strict") ? PROCROOT_POLICY_IN_ROOT_STRICT
                                                             : PROCROOT_POLICY_BENEATH;
            int mode = !strcmp(fld[2], "full") ? PROCROOT_EVAL_FULL : PROCROOT_EVAL_EXCEPT_LAST;
            const char *input = expand(fld[3], path, sizeof path);
            expect_ok(procroot_root_set_policy(root, policy, &err), "set_policy");
            char out[4096];
            int r = procroot_eval_symlinks(root, input, mode, out, sizeof out, NULL);
            const char *got = r >= 0 ? out : errno_name(-r);
            CHECK(!strcmp(got, fld[4]), "table %s %s %s: got %s, want %s", fld[1], fld[2], fld[3],
                  got, fld[4]);
            /* The one-shot form (root opened by path for the call) gives the same answers. */
            r = procroot_eval_symlinks_in(dir, input, policy, mode, out, sizeof out, NULL);
            got = r >= 0 ? out : errno_name(-r);
            CHECK(!strcmp(got, fld[4]), "table eval_in %s %s %s: got %s, want %s", fld[1], fld[2],
                  fld[3], got, fld[4]);
        } else if (!strcmp(fld[0], "O") && n >= 4) {
            cases++;
            expect_ok(procroot_root_set_policy(root, PROCROOT_POLICY_IN_ROOT, &err), "set_policy");
            const char *got = operation(root, fld, n);
            CHECK(!strcmp(got, fld[n - 1]), "table O %s %s%s%s: got %s, want %s", fld[1], fld[2],
                  n == 5 ? " " : "", n == 5 ? fld[3] : "", got, fld[n - 1]);
        } else if (!strcmp(fld[0], "W") && n == 4) {
            cases++;
            expect_ok(procroot_root_set_policy(root, PROCROOT_POLICY_IN_ROOT, &err), "set_policy");
            const char *got = walk_line(root, fld, path, sizeof path);
            CHECK(!strcmp(got, fld[3]), "table W %s %s: got %s, want %s", fld[1], fld[2], got,
                  fld[3]);
        } else {
            CHECK(0, "bad table line starting %s", fld[0]);
        }
    }
    fclose(f);
    CHECK(cases > 20, "table has %d cases", cases);
    procroot_root_free(root);
}

/* Forks: returns 1 in a child that has its own private mount namespace (and the namespaces
 * in extra_flags), with its own pass/fail counts; waits for that child and returns 0 in the
 * parent, checking that the child succeeded. The child ends with child_done. Tests that mount
 * run there, so nothing reaches the host. */
static int in_private_ns_child(int extra_flags, const char *what) {
    pid_t pid = fork();
    if (pid < 0) {
        CHECK(0, "fork");
        return 0;
    }
    if (pid > 0) {
        int status = 0;
        waitpid(pid, &status, 0);
        CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s child status %d", what, status);
        return 0;
    }
    passed = failed = 0;
    if (unshare(CLONE_NEWNS | extra_flags) != 0 ||
        mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) {
        perror("unshare/mount private");
        _exit(1);
    }
    return 1;
}

/* The end of an in_private_ns_child child: its counts, and its exit status. */
static void child_done(const char *what) {
    fprintf(stderr, "%s: %d passed, %d failed\n", what, passed, failed);
    _exit(failed ? 1 : 0);
}

static void resolve_table(const char *scratch, const char *table) {
    if (!in_private_ns_child(0, "table")) return;
    resolve_table_lines(scratch, table);
    child_done("table");
}

/* A setter racing a call on another thread waits for it (the root's lock): set_policy issued
 * while remove_all of 20,000 files runs returns only once they are all gone, and never changes
 * the settings under the call in flight (issue 21, item 1). */
struct remover {
    procroot_root *root;
    int ret;
};

static void *remove_big(void *arg) {
    struct remover *r = arg;
    r->ret = procroot_remove_all(r->root, "big", NULL);
    return NULL;
}

static void setter_waits_for_calls(const char *scratch) {
    char dir[4096], big[4200], path[4300];
    snprintf(dir, sizeof dir, "%s/setter", scratch);
    snprintf(big, sizeof big, "%s/big", dir);
    CHECK(mkdir(dir, 0755) == 0 && mkdir(big, 0755) == 0, "mkdir %s", big);
    for (int i = 0; i < 20000; i++) {
        snprintf(path, sizeof path, "%s/%d", big, i);
        int fd = open(path, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
        if (fd >= 0) close(fd);
    }
    procroot_root *root = NULL;
    expect_ok(procroot_root_open(dir, &root, &err), "open setter root");
    struct remover rm = {root, 1};
    pthread_t t;
    CHECK(pthread_create(&t, NULL, remove_big, &rm) == 0, "pthread_create");
    /* Wait until the removal is under way: some entries gone. */
    struct stat st;
    int in_flight = 0;
    for (;;) {
        snprintf(path, sizeof path, "%s/0", big);
        if (stat(big, &st) != 0) break;
        if (stat(path, &st) != 0) {
            in_flight = 1;
            break;
        }
    }
    expect_ok(procroot_root_set_policy(root, PROCROOT_POLICY_BENEATH, &err), "set_policy racing");
    CHECK(stat(big, &st) != 0 && errno == ENOENT,
          "set_policy returned while remove_all was still removing");
    pthread_join(t, NULL);
    CHECK(rm.ret == 0, "remove_all: %d", rm.ret);
    CHECK(in_flight, "remove_all finished before set_policy was called: nothing was tested");
    procroot_root_free(root);
}

/* The container layer changes mounts: it runs in a forked child with its own mount (made
 * private, so nothing propagates to the host) and UTS namespaces. */
static void container_tests(const char *scratch) {
    char dir[2048], buf[4096];
    snprintf(dir, sizeof dir, "%s/ct", scratch);
    if (!in_private_ns_child(CLONE_NEWUTS, "container")) return;
    mkdir(dir, 0755);
    snprintf(buf, sizeof buf, "%s/proc", dir);
    mkdir(buf, 0755);
    snprintf(buf, sizeof buf, "%s/masked-dir", dir);
    mkdir(buf, 0755);
    snprintf(buf, sizeof buf, "%s/masked-dir/inside", dir);
    close(open(buf, O_CREAT | O_WRONLY, 0644));
    snprintf(buf, sizeof buf, "%s/ro", dir);
    mkdir(buf, 0755);
    snprintf(buf, sizeof buf, "%s/secret", dir);
    int fd = open(buf, O_CREAT | O_WRONLY, 0644);
    CHECK(write(fd, "secret", 6) == 6, "write secret");
    close(fd);
    snprintf(buf, sizeof buf, "%s/proc-link", dir);
    CHECK(symlink("proc", buf) == 0, "symlink");

    procroot_root *root = NULL;
    expect_ok(procroot_root_open(dir, &root, &err), "container root");
    const char *masks[] = {"secret", "missing", "/masked-dir"};
    int32_t results[3] = {7, 7, 7};
    int n = expect_ok(procroot_mask_paths(root, masks, 3, results, &err), "mask_paths");
    CHECK(n == 2 && results[0] == PROCROOT_PATH_DONE && results[1] == PROCROOT_PATH_SKIPPED &&
              results[2] == PROCROOT_PATH_DONE,
          "mask results %d: %d %d %d", n, results[0], results[1], results[2]);
    snprintf(buf, sizeof buf, "%s/secret", dir);
    fd = open(buf, O_RDONLY);
    char b[8] = {0};
    CHECK(fd >= 0 && read(fd, b, sizeof b) == 0, "masked file reads empty: %s", b);
    close(fd);
    snprintf(buf, sizeof buf, "%s/masked-dir/inside", dir);
    CHECK(access(buf, F_OK) != 0, "masked dir hides its content");
    expect_err(procroot_mask_paths(root, NULL, 2, NULL, &err), EINVAL, 0, "mask_paths(NULL, 2)");
    const char *nullpath[] = {NULL};
    expect_err(procroot_mask_paths(root, nullpath, 1, NULL, &err), EINVAL, 0, "mask_paths([NULL])");
    expect_err(procroot_mask_paths(NULL, masks, 1, NULL, &err), EINVAL, 0, "mask_paths(root NULL)");

    const char *ro[] = {"ro"};
    n = expect_ok(procroot_make_readonly(root, ro, 1, NULL, &err), "make_readonly");
    CHECK(n == 1, "readonly count %d", n);
    snprintf(buf, sizeof buf, "%s/ro/new", dir);
    CHECK(open(buf, O_CREAT | O_WRONLY, 0644) < 0 && errno == EROFS, "read-only: errno %d", errno);

    expect_ok(procroot_mount_procfs(root, "proc", -1, 0, -1, &err), "mount_procfs");
    snprintf(buf, sizeof buf, "%s/proc/self/stat", dir);
    CHECK(access(buf, R_OK) == 0, "procfs mounted");
    expect_err(procroot_mount_procfs(root, "proc-link", -1, 0, -1, &err), ELOOP,
               PROCROOT_ERROR_SAFETY_VIOLATION, "mount_procfs on a symlink");
    expect_err(procroot_mount_procfs(root, "secret", -1, 0, -1, &err), ENOTDIR, 0,
               "mount_procfs on a file");
    expect_err(procroot_mount_procfs(root, "proc", -1, 0, 3, &err), EINVAL, 0, "hidepid 3");
    expect_err(procroot_mount_procfs(root, "proc", -1, 2, -1, &err), EINVAL, 0, "subset 2");
    expect_err(procroot_mount_procfs(root, "proc", -5, 0, -1, &err), EBADF, 0, "pidns fd -5");
    procroot_root_free(root);

    expect_ok(procroot_write_sysctl(0, "kernel.hostname", "capi-a", &err), "write_sysctl");
    char host[64] = {0};
    gethostname(host, sizeof host);
    CHECK(!strcmp(host, "capi-a"), "hostname %s", host);
    /* With a pid: only in a namespace that process does not share with us (our own pid shares
     * everything), and only for a namespaced name: both refused, the hostname unchanged. */
    expect_err(procroot_write_sysctl((uint32_t)getpid(), "kernel/hostname", "capi-b", &err),
               EINVAL, PROCROOT_ERROR_INVALID_INPUT, "write_sysctl in a shared namespace");
    expect_err(procroot_write_sysctl((uint32_t)getpid(), "kernel.core_pattern", "|/x", &err),
               EINVAL, PROCROOT_ERROR_INVALID_INPUT, "write_sysctl of a machine-wide name");
    gethostname(host, sizeof host);
    CHECK(!strcmp(host, "capi-a"), "hostname %s", host);
    expect_err(procroot_write_sysctl(0, "../x", "1", &err), EINVAL, 0, "write_sysctl(..)");
    expect_err(procroot_write_sysctl(0, NULL, "1", &err), EINVAL, 0, "write_sysctl(NULL)");
    child_done("container");
}

/* One ustar header (and its data, padded to 512 bytes) appended to buf at *len. */
static void tar_entry(char *buf, size_t *len, const char *name, char type, const char *data,
                      const char *link) {
    char *h = buf + *len;
    size_t size = data ? strlen(data) : 0;
    memset(h, 0, 512);
    snprintf(h, 100, "%s", name);
    snprintf(h + 100, 8, "%07o", 0644);
    snprintf(h + 108, 8, "%07o", 0);
    snprintf(h + 116, 8, "%07o", 0);
    snprintf(h + 124, 12, "%011o", (unsigned)size); /* the test's data is small */
    snprintf(h + 136, 12, "%011o", 1700000000);
    h[156] = type;
    if (link) snprintf(h + 157, 100, "%s", link);
    memcpy(h + 257, "ustar\0" "00", 8);
    memset(h + 148, ' ', 8);
    unsigned sum = 0;
    for (int i = 0; i < 512; i++) sum += (unsigned char)h[i];
    snprintf(h + 148, 8, "%06o", sum);
    *len += 512;
    if (size) {
        memset(buf + *len, 0, (size + 511) / 512 * 512);
        memcpy(buf + *len, data, size);
        *len += (size + 511) / 512 * 512;
    }
}

/* procroot_apply_layer: a layer read from a pipe, with an entry that climbs out of the root
 * (skipped and counted, nothing written beside the root), and the argument checks. */
static void unpack_tests(const char *scratch) {
    char dir[2048], path[2300];
    static char layer[8192];
    size_t len = 0;
    snprintf(dir, sizeof dir, "%s/unpack/root", scratch);
    snprintf(path, sizeof path, "%s/unpack", scratch);
    mkdir(path, 0755);
    mkdir(dir, 0755);
    tar_entry(layer, &len, "etc/", '5', NULL, NULL);
    tar_entry(layer, &len, "etc/hostname", '0', "inside\n", NULL);
    tar_entry(layer, &len, "etc/again", '1', NULL, "etc/hostname");
    tar_entry(layer, &len, "../escaped", '0', "outside\n", NULL);
    len += 1024; /* the end-of-archive blocks (already zero) */
    int p[2];
    CHECK(pipe2(p, O_CLOEXEC) == 0, "pipe");
    CHECK(write(p[1], layer, len) == (ssize_t)len, "write layer to the pipe");
    close(p[1]);
    procroot_root *root = NULL;
    expect_ok(procroot_root_open(dir, &root, &err), "unpack root");
    procroot_layer_report rep;
    memset(&rep, 0xff, sizeof rep);
    expect_ok(procroot_apply_layer(root, p[0], PROCROOT_LAYER_NO_SAME_OWNER, &rep, &err),
              "apply_layer");
    close(p[0]);
    CHECK(rep.files == 1 && rep.dirs == 1 && rep.hardlinks == 1 && rep.skipped == 1 &&
              rep.compression == PROCROOT_COMPRESSION_NONE && rep.bytes_written == 7,
          "report files %llu dirs %llu hardlinks %llu skipped %llu compression %d bytes %llu",
          (unsigned long long)rep.files, (unsigned long long)rep.dirs,
          (unsigned long long)rep.hardlinks, (unsigned long long)rep.skipped, rep.compression,
          (unsigned long long)rep.bytes_written);
    snprintf(path, sizeof path, "%s/etc/again", dir);
    struct stat st;
    CHECK(stat(path, &st) == 0 && st.st_nlink == 2, "hard link made");
    snprintf(path, sizeof path, "%s/unpack/escaped", scratch);
    CHECK(access(path, F_OK) != 0, "../escaped was not written beside the root");
    /* NULL report is allowed; an unknown flag, a bad fd, a NULL root are not. */
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    expect_ok(procroot_apply_layer(root, devnull, 0, NULL, &err), "apply_layer(empty, NULL)");
    expect_err(procroot_apply_layer(root, devnull, 0x100, NULL, &err), EINVAL,
               PROCROOT_ERROR_INVALID_INPUT, "apply_layer(unknown flag)");
    close(devnull);
    expect_err(procroot_apply_layer(root, -1, 0, NULL, &err), EBADF, 0, "apply_layer(-1)");
    expect_err(procroot_apply_layer(NULL, 0, 0, NULL, &err), EINVAL, 0, "apply_layer(NULL)");
    procroot_root_free(root);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s <scratch-dir> <resolve_cases.txt>\n", argv[0]);
        return 2;
    }
    const char *scratch = argv[1];
    char dir[2048], buf[8192];

    /* sealed_exe_ensure first: it may re-execute this program from a sealed copy. */
    int sealed = procroot_sealed_exe_ensure(&err);
    if (sealed < 0) {
        /* Only a missing kernel feature is acceptable; the message must say why. */
        CHECK(err != NULL && err->message[0] != 0, "sealed_exe_ensure error has a message");
        fprintf(stderr, "note: sealed_exe_ensure: %s\n", err ? err->message : "?");
        procroot_error_free(err);
        err = NULL;
    } else {
        CHECK(sealed == PROCROOT_SEALED_OVERLAY || sealed == PROCROOT_SEALED_MEMFD ||
                  sealed == PROCROOT_SEALED_TMPFILE || sealed == PROCROOT_SEALED_READ_ONLY_MOUNT,
              "sealed strategy %d", sealed);
    }

    CHECK(strcmp(procroot_version(), "0.1.0") == 0, "version %s", procroot_version());
    procroot_error_free(NULL);

    snprintf(dir, sizeof dir, "%s/root", scratch);
    CHECK(mkdir(dir, 0755) == 0 || errno == EEXIST, "mkdir %s", dir);

    /* --- Root --- */
    procroot_root *root = NULL;
    expect_ok(procroot_root_open(dir, &root, &err), "root_open");
    expect_err(procroot_root_open(NULL, &root, &err), EINVAL, PROCROOT_ERROR_INVALID_INPUT,
               "root_open(NULL)");
    expect_err(procroot_root_open(dir, NULL, &err), EINVAL, PROCROOT_ERROR_INVALID_INPUT,
               "root_open(out NULL)");
    procroot_root *missing = NULL;
    expect_err(procroot_root_open("/nonexistent/procroot", &missing, &err), ENOENT,
               PROCROOT_ERROR_NOT_FOUND, "root_open(missing)");
    /* The syscall is named where the Rust error has one. */
    procroot_root_open("/nonexistent/procroot", &missing, &err);
    CHECK(err && err->syscall && strcmp(err->syscall, "open") == 0, "syscall %s",
          err && err->syscall ? err->syscall : "(null)");
    procroot_error_free(err);
    err = NULL;
    /* err NULL is allowed. */
    CHECK(procroot_root_open(NULL, &missing, NULL) == -EINVAL, "err NULL");

    int rootfd = expect_ok(procroot_root_fd(root, &err), "root_fd");
    CHECK(rootfd >= 0, "root fd");
    expect_err(procroot_root_fd(NULL, &err), EINVAL, PROCROOT_ERROR_INVALID_INPUT, "root_fd(NULL)");

    int dfd = open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
    procroot_root *root2 = NULL;
    expect_ok(procroot_root_from_fd(dfd, &root2, &err), "root_from_fd");
    close(dfd); /* the root holds its own copy */
    expect_err(procroot_root_from_fd(-1, &root2, &err), EBADF, PROCROOT_ERROR_INVALID_INPUT,
               "from_fd(-1)");
    expect_err(procroot_root_from_fd(4000, &root2, &err), EBADF, 0, "from_fd(closed)");
    int filefd = open("/etc/hostname", O_RDONLY | O_CLOEXEC);
    if (filefd < 0) filefd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    procroot_root *notdir = NULL;
    expect_err(procroot_root_from_fd(filefd, &notdir, &err), ENOTDIR, 0, "from_fd(file)");
    close(filefd);

    procroot_root *self_root = NULL;
    expect_ok(procroot_root_for_pid((uint32_t)getpid(), &self_root, &err), "root_for_pid");
    expect_err(procroot_root_for_pid(0, &self_root, &err), EINVAL, 0, "for_pid(0)");
    expect_err(procroot_root_for_pid(0x3fffffff, &self_root, &err), ESRCH,
               PROCROOT_ERROR_NOT_FOUND, "for_pid(dead)");
    if (self_root) {
        int fd = expect_ok(procroot_resolve(self_root, "/proc/self", &err), "for_pid resolve");
        if (fd >= 0) close(fd);
    }
    procroot_root_free(self_root);

    expect_ok(procroot_root_set_policy(root2, PROCROOT_POLICY_BENEATH, &err), "set_policy");
    expect_err(procroot_root_set_policy(root2, 7, &err), EINVAL, PROCROOT_ERROR_INVALID_INPUT,
               "set_policy(7)");
    expect_err(procroot_root_set_policy(NULL, 0, &err), EINVAL, 0, "set_policy(NULL)");
    expect_ok(procroot_root_set_flags(root2, PROCROOT_RESOLVE_NO_SYMLINKS |
                                                 PROCROOT_RESOLVE_NO_MAGICLINKS, &err),
              "set_flags");
    expect_err(procroot_root_set_flags(root2, 1u << 7, &err), EINVAL, 0, "set_flags(bad)");
    expect_ok(procroot_root_set_backend(root2, PROCROOT_BACKEND_EMULATED, &err), "set_backend");
    expect_err(procroot_root_set_backend(root2, 3, &err), EINVAL, 0, "set_backend(3)");
    expect_ok(procroot_root_set_special_files(root, 0, &err), "set_special_files");
    expect_err(procroot_root_set_special_files(root, 2, &err), EINVAL, 0, "special(2)");

    /* --- mutation --- */
    int fd = expect_ok(procroot_mkdir_all(root, "a/b/c", 0755, &err), "mkdir_all");
    if (fd >= 0) close(fd);
    expect_err(procroot_mkdir_all(root, NULL, 0755, &err), EINVAL, 0, "mkdir_all(NULL)");
    fd = expect_ok(procroot_create_file(root, "a/b/file", O_WRONLY | O_EXCL | O_CLOEXEC, 0644,
                                        &err),
                   "create_file");
    if (fd >= 0) {
        CHECK(write(fd, "hello", 5) == 5, "write");
        close(fd);
    }
    expect_err(procroot_create_file(root, "a/b/file", O_WRONLY | O_EXCL, 0644, &err), EEXIST, 0,
               "create_file(exists)");
    expect_err(procroot_create_file(root, "a/b/x", 0x40000000, 0644, &err), EINVAL,
               PROCROOT_ERROR_INVALID_INPUT, "create_file(unknown flag)");
    expect_ok(procroot_symlink(root, "/a/b/file", "a/link", &err), "symlink");
    expect_ok(procroot_symlink(root, "../../../..", "a/up", &err), "symlink up");
    expect_err(procroot_symlink(root, NULL, "a/l2", &err), EINVAL, 0, "symlink(NULL)");
    expect_ok(procroot_hardlink(root, "a/b/file", "a/hard", &err), "hardlink");
    expect_err(procroot_hardlink(root, "a/nope", "a/hard2", &err), ENOENT, 0, "hardlink(missing)");
    expect_ok(procroot_rename(root, "a/hard", "a/hard-renamed", 0, &err), "rename");
    expect_err(procroot_rename(root, "a/hard-renamed", "a/link", 1 /* RENAME_NOREPLACE */, &err),
               EEXIST, 0, "rename noreplace");
    expect_err(procroot_rename(root, "a/x", "a/y", 1u << 12, &err), EINVAL, 0, "rename(bad flag)");
    /* An unknown bit is refused by procroot itself (no syscall), and named in the message. */
    {
        int r = procroot_rename(root, "a/hard-renamed", "a/renamed-again", 1u | (1u << 12), &err);
        CHECK(r == -EINVAL && err && err->syscall == NULL && err->kind == PROCROOT_ERROR_INVALID_INPUT &&
                  strstr(err->message, "0x1000") != NULL,
              "rename(unknown bit): %d %s", r, err ? err->message : "");
        procroot_error_free(err);
        err = NULL;
        struct stat st;
        char kept[4096];
        snprintf(kept, sizeof kept, "%s/a/hard-renamed", dir);
        CHECK(stat(kept, &st) == 0, "rename(unknown bit) renamed nothing");
    }
    expect_ok(procroot_mknod(root, "a/fifo", S_IFIFO, 0600, 0, 0, &err), "mknod fifo");
    expect_ok(procroot_mknod(root, "a/null", S_IFCHR, 0666, 1, 3, &err), "mknod chr");
    expect_err(procroot_mknod(root, "a/big", S_IFBLK, 0600, 8, 1u << 20, &err), EINVAL, 0,
               "mknod(minor too big)");
    expect_err(procroot_mknod(root, "a/reg", S_IFREG, 0600, 0, 0, &err), EINVAL, 0,
               "mknod(S_IFREG)");
    expect_ok(procroot_set_permissions(root, "a/b/file", 0600, &err), "set_permissions");
    struct stat st;
    snprintf(buf, sizeof buf, "%s/a/b/file", dir);
    CHECK(stat(buf, &st) == 0 && (st.st_mode & 07777) == 0600, "mode %o", st.st_mode);
    expect_ok(procroot_chown(root, "a/b/file", 1000, PROCROOT_ID_UNCHANGED, &err), "chown");
    CHECK(stat(buf, &st) == 0 && st.st_uid == 1000, "uid %d", st.st_uid);
    expect_err(procroot_chown(root, "a/nope", 0, 0, &err), ENOENT, PROCROOT_ERROR_NOT_FOUND,
               "chown(missing)");

    /* --- resolution --- */
    fd = expect_ok(procroot_resolve(root, "a/link", &err), "resolve");
    if (fd >= 0) {
        CHECK((fcntl(fd, F_GETFL) & O_PATH) != 0, "O_PATH");
        int rfd = expect_ok(procroot_reopen(fd, O_RDONLY | O_CLOEXEC, 0, &err), "reopen");
        if (rfd >= 0) {
            char b[8] = {0};
            CHECK(read(rfd, b, sizeof b) == 5 && !strcmp(b, "hello"), "read %s", b);
            close(rfd);
        }
        expect_err(procroot_reopen(fd, O_RDONLY | O_CREAT, 0, &err), EINVAL, 0, "reopen(O_CREAT)");
        expect_err(procroot_reopen(fd, 0x40000000, 0, &err), EINVAL, 0, "reopen(bad flag)");
        expect_err(procroot_reopen(fd, O_RDONLY, 5, &err), EINVAL, 0, "reopen(allow 5)");
        close(fd);
    }
    expect_err(procroot_reopen(-1, O_RDONLY, 0, &err), EBADF, 0, "reopen(-1)");
    expect_err(procroot_reopen(4001, O_RDONLY, 0, &err), EBADF, 0, "reopen(closed)");
    fd = expect_ok(procroot_resolve_nofollow(root, "a/link", &err), "resolve_nofollow");
    if (fd >= 0) {
        expect_err(procroot_reopen(fd, O_RDONLY, 0, &err), ELOOP, 0, "reopen(symlink)");
        close(fd);
    }
    expect_err(procroot_resolve(root, "a/nope", &err), ENOENT, PROCROOT_ERROR_NOT_FOUND,
               "resolve(missing)");
    expect_err(procroot_resolve(NULL, "a", &err), EINVAL, 0, "resolve(NULL root)");
    expect_err(procroot_resolve(root, NULL, &err), EINVAL, 0, "resolve(NULL path)");
    /* root2: BENEATH + NO_SYMLINKS, emulated backend */
    expect_err(procroot_resolve(root2, "a/link", &err), ELOOP, 0, "no_symlinks");
    expect_err(procroot_resolve(root2, "/a", &err), EXDEV, PROCROOT_ERROR_SAFETY_VIOLATION,
               "beneath absolute");
    procroot_root_free(root2);

    fd = expect_ok(procroot_open_file(root, "a/up/a/b/file", O_RDONLY | O_CLOEXEC, &err),
                   "open_file through ..");
    if (fd >= 0) close(fd);
    expect_err(procroot_open_file(root, "a/fifo", O_RDONLY, &err), ENXIO,
               PROCROOT_ERROR_SAFETY_VIOLATION, "open_file(fifo refused)");
    expect_ok(procroot_root_set_special_files(root, 1, &err), "allow special");
    fd = expect_ok(procroot_open_file(root, "a/fifo", O_RDONLY | O_CLOEXEC, &err),
                   "open_file(fifo allowed)");
    if (fd >= 0) close(fd);
    expect_ok(procroot_root_set_special_files(root, 0, &err), "refuse special");
    expect_err(procroot_open_file(root, "a", 0x40000000, &err), EINVAL, 0, "open_file(bad flag)");

    int n = expect_ok(procroot_readlink(root, "a/link", buf, sizeof buf, &err), "readlink");
    CHECK(n == 9 && !strcmp(buf, "/a/b/file"), "readlink %d %s", n, buf);
    /* Too small: the needed length, nothing written. */
    char small[4] = "xyz";
    n = procroot_readlink(root, "a/link", small, sizeof small, &err);
    CHECK(n == 9 && !strcmp(small, "xyz"), "readlink small %d %s", n, small);
    CHECK(procroot_readlink(root, "a/link", NULL, 0, &err) == 9, "readlink size query");
    expect_err(procroot_readlink(root, "a/link", NULL, 5, &err), EINVAL, 0, "readlink(NULL, 5)");
    expect_err(procroot_readlink(root, "a/b/file", buf, sizeof buf, &err), EINVAL, 0,
               "readlink(not a link)");
    n = expect_ok(procroot_eval_symlinks(root, "a/link", PROCROOT_EVAL_FULL, buf, sizeof buf,
                                         &err),
                  "eval_symlinks");
    CHECK(!strcmp(buf, "/a/b/file"), "eval %s", buf);
    n = procroot_eval_symlinks(root, "a/link", PROCROOT_EVAL_EXCEPT_LAST, small, 2, &err);
    CHECK(n == 7 && !strcmp(small, "xyz"), "eval small %d", n);
    expect_err(procroot_eval_symlinks(root, "a", 9, buf, sizeof buf, &err), EINVAL, 0,
               "eval(bad mode)");
    n = expect_ok(procroot_eval_symlinks_in(dir, "a/link", PROCROOT_POLICY_IN_ROOT_STRICT,
                                            PROCROOT_EVAL_FULL, buf, sizeof buf, &err),
                  "eval_symlinks_in");
    CHECK(n == 9 && !strcmp(buf, "/a/b/file"), "eval_in %d %s", n, buf);
    n = procroot_eval_symlinks_in(dir, "a/link", PROCROOT_POLICY_IN_ROOT,
                                  PROCROOT_EVAL_EXCEPT_LAST, small, 2, &err);
    CHECK(n == 7 && !strcmp(small, "xyz"), "eval_in small %d", n);
    expect_err(procroot_eval_symlinks_in(dir, "a", PROCROOT_POLICY_IN_ROOT, 9, buf, sizeof buf,
                                         &err),
               EINVAL, 0, "eval_in(bad mode)");
    expect_err(procroot_eval_symlinks_in(dir, "a", 7, PROCROOT_EVAL_FULL, buf, sizeof buf, &err),
               EINVAL, 0, "eval_in(bad policy)");
    expect_err(procroot_eval_symlinks_in(NULL, "a", PROCROOT_POLICY_IN_ROOT, PROCROOT_EVAL_FULL,
                                         buf, sizeof buf, &err),
               EINVAL, PROCROOT_ERROR_INVALID_INPUT, "eval_in(NULL root)");
    expect_err(procroot_eval_symlinks_in(dir, NULL, PROCROOT_POLICY_IN_ROOT, PROCROOT_EVAL_FULL,
                                         buf, sizeof buf, &err),
               EINVAL, PROCROOT_ERROR_INVALID_INPUT, "eval_in(NULL path)");
    expect_err(procroot_eval_symlinks_in("/nonexistent/procroot", "a", PROCROOT_POLICY_IN_ROOT,
                                         PROCROOT_EVAL_FULL, buf, sizeof buf, &err),
               ENOENT, 0, "eval_in(missing root)");
    expect_err(procroot_eval_symlinks_in(dir, "a/missing/x", PROCROOT_POLICY_IN_ROOT,
                                         PROCROOT_EVAL_FULL, buf, sizeof buf, &err),
               ENOENT, 0, "eval_in(missing path)");

    /* --- walk --- */
    expect_ok(procroot_mkdir_all(root, "w/sub/deeper", 0755, &err) >= 0 ? 0 : -1, "mkdir w");
    snprintf(buf, sizeof buf, "%s/w/fifo", dir);
    CHECK(mkfifo(buf, 0644) == 0, "mkfifo %s", buf);
    snprintf(buf, sizeof buf, "%s/w/sub/file", dir);
    close(open(buf, O_CREAT | O_WRONLY | O_CLOEXEC, 0644));
    {
        procroot_walk *w = NULL;
        procroot_walk_entry e;
        expect_err(procroot_walk_open(NULL, "w", 0, 0, PROCROOT_WALK_NO_MAX_DEPTH, &w, &err),
                   EINVAL, PROCROOT_ERROR_INVALID_INPUT, "walk_open(NULL root)");
        expect_err(procroot_walk_open(root, "w", 0x100, 0, PROCROOT_WALK_NO_MAX_DEPTH, &w, &err),
                   EINVAL, PROCROOT_ERROR_INVALID_INPUT, "walk_open(unknown flag)");
        expect_err(procroot_walk_next(NULL, &e, &err), EINVAL, 0, "walk_next(NULL)");
        expect_ok(procroot_walk_open(root, "w", PROCROOT_WALK_SORT, 1, PROCROOT_WALK_NO_MAX_DEPTH,
                                     &w, &err),
                  "walk_open");
        expect_err(procroot_walk_open_entry(w, O_RDONLY, &err), EINVAL, 0,
                   "open_entry before next");
        /* Sorted, min_depth 1: fifo, sub (skipped: not entered), then the end. */
        CHECK(procroot_walk_next(w, &e, NULL) == 1 && !strcmp(e.path, "/w/fifo") &&
                  e.file_type == PROCROOT_TYPE_FIFO && e.depth == 1,
              "first entry %s", e.path);
        /* A FIFO is refused, not opened (which would block). */
        expect_err(procroot_walk_open_entry(w, O_RDONLY, &err), ENXIO,
                   PROCROOT_ERROR_SAFETY_VIOLATION, "open_entry(fifo)");
        CHECK(procroot_walk_next(w, &e, NULL) == 1 && !strcmp(e.path, "/w/sub") &&
                  e.file_type == PROCROOT_TYPE_DIR && e.is_mount_point == 0,
              "second entry %s", e.path);
        expect_ok(procroot_walk_skip_current_dir(w, &err), "skip_current_dir");
        CHECK(procroot_walk_next(w, &e, NULL) == 0, "skipped sub: the end");
        procroot_walk_free(w);
        procroot_walk_free(NULL);
        /* Not skipped: the file below, opened through the walk. */
        expect_ok(procroot_walk_open(root, "w/sub", 0, 0, PROCROOT_WALK_NO_MAX_DEPTH, &w, &err),
                  "walk_open sub");
        int files = 0;
        while (procroot_walk_next(w, &e, NULL) == 1) {
            if (e.file_type != PROCROOT_TYPE_FILE) continue;
            files++;
            int fd = expect_ok(procroot_walk_open_entry(w, O_RDONLY, &err), "open_entry");
            if (fd >= 0) close(fd);
        }
        CHECK(files == 1, "files %d", files);
        procroot_walk_free(w);
        /* The walk keeps its own reference to the root: the root may be freed first (ASan
         * checks that nothing freed is used). */
        procroot_root *own = NULL;
        expect_ok(procroot_root_open(dir, &own, &err), "root_open for walk");
        expect_ok(procroot_walk_open(own, "w", PROCROOT_WALK_SORT, 0, PROCROOT_WALK_NO_MAX_DEPTH,
                                     &w, &err),
                  "walk_open own");
        procroot_root_free(own);
        int entries = 0;
        while (procroot_walk_next(w, &e, NULL) == 1) entries++;
        CHECK(entries == 5, "entries after the root was freed: %d", entries);
        procroot_walk_free(w);
    }

    /* --- removal --- */
    expect_ok(procroot_remove_file(root, "a/hard-renamed", &err), "remove_file");
    expect_err(procroot_remove_file(root, "a/hard-renamed", &err), ENOENT, 0, "remove_file again");
    expect_ok(procroot_mkdir_all(root, "empty", 0755, &err) >= 0 ? 0 : -1, "mkdir empty");
    expect_ok(procroot_remove_dir(root, "empty", &err), "remove_dir");
    expect_err(procroot_remove_dir(root, "a", &err), ENOTEMPTY, 0, "remove_dir(not empty)");
    expect_ok(procroot_remove_all(root, "a", &err), "remove_all");
    snprintf(buf, sizeof buf, "%s/a", dir);
    CHECK(access(buf, F_OK) != 0, "a removed");
    expect_err(procroot_remove_all(NULL, "a", &err), EINVAL, 0, "remove_all(NULL)");

    /* --- procfs, every base --- */
    char pidstat[64];
    snprintf(pidstat, sizeof pidstat, "%d/stat", (int)getpid());
    fd = expect_ok(procroot_procfs_open(NULL, PROCROOT_BASE_ROOT, 0, NULL, pidstat,
                                        O_RDONLY | O_CLOEXEC, &err),
                   "procfs root");
    if (fd >= 0) close(fd);
    fd = expect_ok(procroot_procfs_open(NULL, PROCROOT_BASE_SELF, 0, NULL, "status",
                                        O_RDONLY | O_CLOEXEC, &err),
                   "procfs self");
    if (fd >= 0) close(fd);
    fd = expect_ok(procroot_procfs_open(NULL, PROCROOT_BASE_THREAD_SELF, 0, NULL, "stat",
                                        O_RDONLY | O_CLOEXEC, &err),
                   "procfs thread-self");
    if (fd >= 0) close(fd);
    fd = expect_ok(procroot_procfs_open(NULL, PROCROOT_BASE_PID, (uint32_t)getpid(), NULL,
                                        "stat", O_RDONLY | O_CLOEXEC, &err),
                   "procfs pid");
    if (fd >= 0) close(fd);
    procroot_pidfd *pidfd = NULL;
    expect_ok(procroot_pidfd_open((uint32_t)getpid(), &pidfd, &err), "pidfd_open");
    expect_err(procroot_pidfd_open(0x3fffffff, &pidfd, &err), ESRCH, 0, "pidfd_open(dead)");
    fd = expect_ok(procroot_procfs_open(NULL, PROCROOT_BASE_PIDFD, 0, pidfd, "stat",
                                        O_RDONLY | O_CLOEXEC, &err),
                   "procfs pidfd");
    if (fd >= 0) close(fd);
    expect_err(procroot_procfs_open(NULL, PROCROOT_BASE_PIDFD, 0, NULL, "stat", O_RDONLY, &err),
               EINVAL, 0, "pidfd base without pidfd");
    expect_err(procroot_procfs_open(NULL, PROCROOT_BASE_SELF, 0, pidfd, "stat", O_RDONLY, &err),
               EINVAL, 0, "pidfd with self base");
    expect_err(procroot_procfs_open(NULL, 9, 0, NULL, "stat", O_RDONLY, &err), EINVAL, 0,
               "unknown base");
    expect_err(procroot_procfs_open(NULL, PROCROOT_BASE_SELF, 0, NULL, "exe", O_RDONLY, &err),
               ELOOP, 0, "procfs_open magic link");
    expect_err(procroot_procfs_open(NULL, PROCROOT_BASE_SELF, 0, NULL, "../1", O_RDONLY, &err),
               EINVAL, 0, "procfs_open ..");
    fd = expect_ok(procroot_procfs_open_follow(NULL, PROCROOT_BASE_PIDFD, 0, pidfd, "root",
                                               O_PATH | O_DIRECTORY | O_CLOEXEC, &err),
                   "open_follow pidfd root");
    if (fd >= 0) close(fd);
    fd = expect_ok(procroot_procfs_open_follow(NULL, PROCROOT_BASE_SELF, 0, NULL, "exe",
                                               O_PATH | O_CLOEXEC, &err),
                   "open_follow self exe");
    if (fd >= 0) close(fd);
    n = expect_ok(procroot_procfs_readlink(NULL, PROCROOT_BASE_THREAD_SELF, 0, NULL, "cwd", buf,
                                           sizeof buf, &err),
                  "procfs_readlink");
    char cwd[4096];
    CHECK(getcwd(cwd, sizeof cwd) && !strcmp(cwd, buf), "cwd %s vs %s", cwd, buf);
    n = procroot_procfs_readlink(NULL, PROCROOT_BASE_PIDFD, 0, pidfd, "cwd", small, 1, &err);
    CHECK(n == (int)strlen(cwd), "readlink small %d", n);
    expect_ok(procroot_procfs_write(NULL, PROCROOT_BASE_SELF, 0, NULL, "comm", (const uint8_t *)"capi-a", 6,
                                    &err),
              "procfs_write self");
    expect_ok(procroot_procfs_write(NULL, PROCROOT_BASE_THREAD_SELF, 0, NULL, "comm",
                                    (const uint8_t *)"capi-b", 6, &err),
              "procfs_write thread-self");
    expect_ok(procroot_procfs_write(NULL, PROCROOT_BASE_PIDFD, 0, pidfd, "comm",
                                    (const uint8_t *)"capi-c", 6, &err),
              "procfs_write pidfd");
    expect_ok(procroot_procfs_write(NULL, PROCROOT_BASE_PID, (uint32_t)getpid(), NULL, "comm",
                                    (const uint8_t *)"capi-d", 6, &err),
              "procfs_write pid");
    expect_err(procroot_procfs_write(NULL, PROCROOT_BASE_SELF, 0, NULL, "comm", NULL, 3, &err),
               EINVAL, 0, "procfs_write(NULL, 3)");
    procroot_pidfd_free(pidfd);
    procroot_pidfd_free(NULL);

    int nsfd = open("/proc/self/ns/pid", O_RDONLY | O_CLOEXEC);
    procroot_procfs *pidns = NULL;
    expect_ok(procroot_procfs_for_pidns(nsfd, &pidns, &err), "for_pidns");
    if (pidns) {
        fd = expect_ok(procroot_procfs_open(pidns, PROCROOT_BASE_PID, (uint32_t)getpid(), NULL,
                                            "stat", O_RDONLY | O_CLOEXEC, &err),
                       "pidns procfs open");
        if (fd >= 0) close(fd);
    }
    procroot_procfs_free(pidns);
    procroot_procfs_free(NULL);
    expect_err(procroot_procfs_for_pidns(-1, &pidns, &err), EBADF, 0, "for_pidns(-1)");
    int notns = open("/", O_RDONLY | O_CLOEXEC);
    expect_err(procroot_procfs_for_pidns(notns, &pidns, &err), EINVAL, 0, "for_pidns(not ns)");
    close(notns);
    close(nsfd);

    setter_waits_for_calls(scratch);
    container_tests(scratch);
    unpack_tests(scratch);
    resolve_table(scratch, argv[2]);

    procroot_root_free(root);
    procroot_root_free(NULL);
    printf("%d passed, %d failed\n", passed, failed);
    return failed == 0 ? 0 : 1;
}
