/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* A tiny TAP-ish harness for muster's unit tests.
 *
 *   TEST("parse_duration accepts units");   starts check group N
 *   ASSERT_INT_EQ(r, 0); ASSERT_STR_CONTAINS(err, "ttl"); ...
 *   TEST_OK();                              prints "ok N - description"
 *
 * The first failed assertion prints "not ok N - description" on stdout and
 * "file:line: failed: expression (details)" on stderr, runs the atexit()
 * handlers (tests register their temp dir cleanup there) and exits 1. */

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static unsigned tests_number __attribute__((unused));
static const char *tests_name __attribute__((unused)) = "setup";

static inline void test_begin(const char *name) {
        tests_number++;
        tests_name = name;
}

static inline void test_ok(void) {
        printf("ok %u - %s\n", tests_number, tests_name);
        fflush(stdout);
}

__attribute__((noreturn, format(printf, 3, 4)))
static inline void test_fail(const char *file, int line, const char *fmt, ...) {
        va_list ap;

        printf("not ok %u - %s\n", tests_number, tests_name);
        fflush(stdout);
        fprintf(stderr, "%s:%d: failed: ", file, line);
        va_start(ap, fmt);
        vfprintf(stderr, fmt, ap);
        va_end(ap);
        fputc('\n', stderr);
        fflush(stderr);
        exit(EXIT_FAILURE);
}

#define TEST(name) test_begin(name)
#define TEST_OK() test_ok()

#define ASSERT(expr)                                                           \
        do {                                                                   \
                if (!(expr))                                                   \
                        test_fail(__FILE__, __LINE__, "%s", #expr);            \
        } while (0)
#define ASSERT_TRUE(expr) ASSERT(expr)
#define ASSERT_FALSE(expr) ASSERT(!(expr))

#define ASSERT_INT_EQ(a, b)                                                    \
        do {                                                                   \
                long long _a = (long long) (a), _b = (long long) (b);          \
                if (_a != _b)                                                  \
                        test_fail(__FILE__, __LINE__, "%s == %s (%lld != %lld)", #a, #b, _a, _b); \
        } while (0)

#define ASSERT_UINT_EQ(a, b)                                                   \
        do {                                                                   \
                unsigned long long _a = (unsigned long long) (a), _b = (unsigned long long) (b); \
                if (_a != _b)                                                  \
                        test_fail(__FILE__, __LINE__, "%s == %s (%llu != %llu)", #a, #b, _a, _b); \
        } while (0)

/* r >= 0 */
#define ASSERT_OK(expr)                                                        \
        do {                                                                   \
                long long _r = (long long) (expr);                             \
                if (_r < 0)                                                    \
                        test_fail(__FILE__, __LINE__, "%s succeeds (got %lld: %s)", #expr, _r, \
                                  strerror((int) -_r));                        \
        } while (0)

#define ASSERT_NULL(p)                                                         \
        do {                                                                   \
                if ((p) != NULL)                                               \
                        test_fail(__FILE__, __LINE__, "%s == NULL", #p);       \
        } while (0)
#define ASSERT_NOT_NULL(p)                                                     \
        do {                                                                   \
                if ((p) == NULL)                                               \
                        test_fail(__FILE__, __LINE__, "%s != NULL", #p);       \
        } while (0)

#define ASSERT_STR_EQ(a, b)                                                    \
        do {                                                                   \
                const char *_a = (a), *_b = (b);                               \
                if (!_a || !_b || strcmp(_a, _b) != 0)                         \
                        test_fail(__FILE__, __LINE__, "%s == %s (\"%s\" != \"%s\")", #a, #b, \
                                  _a ? _a : "(null)", _b ? _b : "(null)");     \
        } while (0)

/* The same, where two NULLs are equal too (streq_ptr()). */
#define ASSERT_STREQ_PTR(a, b)                                                 \
        do {                                                                   \
                const char *_a = (a), *_b = (b);                               \
                if ((_a || _b) && (!_a || !_b || strcmp(_a, _b) != 0))         \
                        test_fail(__FILE__, __LINE__, "%s == %s (\"%s\" != \"%s\")", #a, #b, \
                                  _a ? _a : "(null)", _b ? _b : "(null)");     \
        } while (0)

#define ASSERT_STR_CONTAINS(hay, needle)                                       \
        do {                                                                   \
                const char *_h = (hay), *_n = (needle);                        \
                if (!_h || !strstr(_h, _n))                                    \
                        test_fail(__FILE__, __LINE__, "%s contains \"%s\" (got \"%s\")", #hay, _n, \
                                  _h ? _h : "(null)");                         \
        } while (0)

#define ASSERT_STR_NOT_CONTAINS(hay, needle)                                   \
        do {                                                                   \
                const char *_h = (hay), *_n = (needle);                        \
                if (_h && strstr(_h, _n))                                      \
                        test_fail(__FILE__, __LINE__, "%s does not contain \"%s\" (got \"%s\")", #hay, _n, _h); \
        } while (0)

/* ---- temp dirs and files ---- */

static inline int tests_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        (void) st;
        (void) flag;
        (void) ftw;
        return remove(path);
}

static inline void tests_rm_rf(const char *path) {
        (void) nftw(path, tests_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Returns malloc'd "dir/name". */
static inline char *tests_path(const char *dir, const char *name) {
        char *p = NULL;
        if (asprintf(&p, "%s/%s", dir, name) < 0)
                test_fail(__FILE__, __LINE__, "asprintf");
        return p;
}

static inline void tests_write_file_n(const char *path, const void *data, size_t n, mode_t mode) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
        if (fd < 0)
                test_fail(__FILE__, __LINE__, "open(%s): %m", path);
        if (write(fd, data, n) != (ssize_t) n)
                test_fail(__FILE__, __LINE__, "write(%s): %m", path);
        close(fd);
}

static inline void tests_write_file(const char *path, const char *data) {
        tests_write_file_n(path, data, strlen(data), 0644);
}

/* Reads a whole file into a malloc'd NUL-terminated string. */
static inline char *tests_read_file(const char *path) {
        FILE *f = fopen(path, "re");
        char *buf = NULL;
        size_t n = 0;

        if (!f)
                test_fail(__FILE__, __LINE__, "fopen(%s): %m", path);
        FILE *m = open_memstream(&buf, &n);
        if (!m)
                test_fail(__FILE__, __LINE__, "open_memstream");
        int c;
        while ((c = fgetc(f)) != EOF)
                fputc(c, m);
        fclose(f);
        fclose(m);
        return buf;
}

/* ---- capturing stderr (what log_*() writes on the console target) ---- */

typedef struct TestsCapture {
        int saved_fd;
        FILE *tmp;
} TestsCapture;

static inline void tests_capture_begin(TestsCapture *c) {
        fflush(stderr);
        c->tmp = tmpfile();
        if (!c->tmp)
                test_fail(__FILE__, __LINE__, "tmpfile: %m");
        /* Neither copy may leak into the children a test runs meanwhile. */
        if (fcntl(fileno(c->tmp), F_SETFD, FD_CLOEXEC) < 0)
                test_fail(__FILE__, __LINE__, "fcntl: %m");
        c->saved_fd = fcntl(STDERR_FILENO, F_DUPFD_CLOEXEC, 3);
        if (c->saved_fd < 0 || dup2(fileno(c->tmp), STDERR_FILENO) < 0)
                test_fail(__FILE__, __LINE__, "dup2: %m");
}

/* Restores stderr, returns what was written meanwhile (malloc'd). */
static inline char *tests_capture_end(TestsCapture *c) {
        char *buf;
        long n;

        fflush(stderr);
        if (dup2(c->saved_fd, STDERR_FILENO) < 0)
                test_fail(__FILE__, __LINE__, "dup2: %m");
        close(c->saved_fd);
        if (fseek(c->tmp, 0, SEEK_END) < 0 || (n = ftell(c->tmp)) < 0)
                test_fail(__FILE__, __LINE__, "ftell: %m");
        rewind(c->tmp);
        buf = calloc(1, (size_t) n + 1);
        if (!buf)
                test_fail(__FILE__, __LINE__, "calloc");
        if (n > 0 && fread(buf, 1, (size_t) n, c->tmp) != (size_t) n)
                test_fail(__FILE__, __LINE__, "fread: %m");
        fclose(c->tmp);
        c->tmp = NULL;
        return buf;
}

/* Counts non-overlapping occurrences of needle in hay. */
static inline size_t tests_count(const char *hay, const char *needle) {
        size_t n = 0, l = strlen(needle);
        for (const char *p = hay; (p = strstr(p, needle)); p += l)
                n++;
        return n;
}
