/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Helpers shared by the libFuzzer targets in this directory. Everything here
 * is static inline so that a target only pays for what it uses. */

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

/* Where diagnostics of the targets go: the original stderr, saved before
 * libFuzzer's -close_fd_mask=2 (used by run-fuzzers.sh to silence the log
 * messages of the code under test) points fd 2 at /dev/null. */
static int fuzz_stderr_fd = -1;

static inline int fuzz_err_fd(void) {
        return fuzz_stderr_fd >= 0 ? fuzz_stderr_fd : STDERR_FILENO;
}

#define fuzz_report(...) ((void) dprintf(fuzz_err_fd(), __VA_ARGS__))

static inline void fuzz_tmpdir_remove(void);

/* An invariant of the code under test was broken: say which, and abort() so
 * that libFuzzer prints the stack and saves the input. */
__attribute__((noreturn))
static inline void fuzz_assert_failed(const char *file, int line, const char *func, const char *expr) {
        fuzz_report("%s:%d: %s: invariant violated: %s\n", file, line, func, expr);
        fuzz_tmpdir_remove();
        abort();
}

#define FUZZ_ASSERT(expr)                                                              \
        do {                                                                           \
                if (!(expr))                                                           \
                        fuzz_assert_failed(__FILE__, __LINE__, __func__, #expr);       \
        } while (0)

/* Logging is off unless $MUSTER_FUZZ_LOG names a level ("debug", ...): the
 * log calls' arguments are only evaluated when their level is enabled, so
 * run-fuzzers.sh turns it on (with -close_fd_mask=2 to keep stderr quiet)
 * to fuzz the formatting of messages too. */
static inline void fuzz_setup_logging(void) {
        const char *e = getenv("MUSTER_FUZZ_LOG");
        int level = LOG_EMERG - 1;

        if (e && *e) {
                int l = log_level_from_string(e);
                if (l >= 0)
                        level = l;
        }
        /* LLVMFuzzerInitialize() runs before libFuzzer handles -close_fd_mask. */
        if (fuzz_stderr_fd < 0)
                fuzz_stderr_fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
        log_set_target(LOG_TARGET_CONSOLE);
        log_set_max_level(level);
}

static inline int fuzz_rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) st;
        (void) flag;
        if (ftw->level > 0)
                (void) remove(path);
        return 0;
}

/* Remove everything below dir, keeping dir itself. */
static inline void fuzz_clean_dir(const char *dir) {
        (void) nftw(dir, fuzz_rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

static char fuzz_tmpdir_path[4096];

static inline void fuzz_tmpdir_remove(void) {
        if (fuzz_tmpdir_path[0]) {
                fuzz_clean_dir(fuzz_tmpdir_path);
                (void) rmdir(fuzz_tmpdir_path);
                fuzz_tmpdir_path[0] = '\0';
        }
}

/* One scratch directory per process, made on first use and removed at exit:
 * in $MUSTER_FUZZ_TMPDIR, else in /dev/shm (file system calls on a tmpfs
 * make the file based targets several times faster), else in $TMPDIR or
 * /tmp. */
static inline const char *fuzz_tmpdir(void) {
        if (!fuzz_tmpdir_path[0]) {
                const char *t = getenv("MUSTER_FUZZ_TMPDIR");
                if (!t || !*t)
                        t = access("/dev/shm", W_OK | X_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
                if (!t || !*t)
                        t = "/tmp";
                snprintf(fuzz_tmpdir_path, sizeof fuzz_tmpdir_path, "%s/muster-fuzz-XXXXXX", t);
                if (!mkdtemp(fuzz_tmpdir_path)) {
                        fuzz_report("mkdtemp(%s): %m\n", fuzz_tmpdir_path);
                        abort();
                }
                atexit(fuzz_tmpdir_remove);
        }
        return fuzz_tmpdir_path;
}

/* Write p[0..n) to dir/name (replacing it); aborts on failure, since a
 * failing fuzzer setup must not look like a clean run. */
static inline void fuzz_write_file(const char *dir, const char *name, const void *p, size_t n) {
        char path[8192];
        const char *q = p;
        int fd;

        snprintf(path, sizeof path, "%s/%s", dir, name);
        fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0) {
                fuzz_report("%s: %m\n", path);
                abort();
        }
        while (n > 0) {
                ssize_t k = write(fd, q, n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        fuzz_report("%s: %m\n", path);
                        abort();
                }
                q += k;
                n -= (size_t) k;
        }
        close(fd);
}

static inline void fuzz_mkdir(const char *dir, const char *name) {
        char path[8192];

        snprintf(path, sizeof path, "%s/%s", dir, name);
        if (mkdir(path, 0755) < 0 && errno != EEXIST) {
                fuzz_report("%s: %m\n", path);
                abort();
        }
}

/* Split data at the first occurrence of sep: the part before it is returned
 * through ret/ret_n, and data/size advance past the separator (or to the end
 * when there is none). Returns false when nothing is left at all. */
static inline bool fuzz_next_part(const uint8_t **data, size_t *size, const char *sep, const uint8_t **ret,
                                  size_t *ret_n) {
        size_t sl = strlen(sep);
        const uint8_t *p;

        if (!*data)
                return false;
        p = *size >= sl ? memmem(*data, *size, sep, sl) : NULL;
        *ret = *data;
        if (p) {
                *ret_n = (size_t) (p - *data);
                *size -= *ret_n + sl;
                *data = p + sl;
        } else {
                *ret_n = *size;
                *data = NULL;
                *size = 0;
        }
        return true;
}
