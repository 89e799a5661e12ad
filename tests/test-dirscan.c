/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/time.h>
#include <linux/magic.h>

#include "dirscan.h"
#include "macro.h"
#include "tests.h"
#include "util.h"

static char tmpdir[] = "/tmp/test-dirscan-XXXXXX";
static bool tmpdir_made;

static void cleanup_tmpdir(void) {
        if (tmpdir_made)
                tests_rm_rf(tmpdir);
        tmpdir_made = false;
}

typedef struct Seen {
        unsigned n, bad_mtime, not_regular;
        unsigned long long sum;         /* of the file numbers seen, each once */
        int stop_at;                    /* > 0: fail with -EUCLEAN at this count */
        unsigned min_cpus, max_cpus;    /* the CPUs this thread may run on, as seen from the callback */
} Seen;

static bool skip_multiples_of_seven(const char *name, void *userdata) {
        unsigned k;
        return !(sscanf(name, "f%u", &k) == 1 && k % 7 == 0);
}

static int on_seen(const char *name, const struct statx *sx, void *userdata) {
        Seen *s = userdata;
        unsigned k;

        cpu_set_t set;
        ASSERT_INT_EQ(sched_getaffinity(0, sizeof set, &set), 0);
        unsigned cpus = (unsigned) CPU_COUNT(&set);
        s->min_cpus = s->n == 0 && s->not_regular == 0 ? cpus : MIN(s->min_cpus, cpus);
        s->max_cpus = MAX(s->max_cpus, cpus);

        if (!S_ISREG(sx->stx_mode)) {
                s->not_regular++;
                return 0;
        }
        ASSERT_INT_EQ(sscanf(name, "f%u", &k), 1);
        /* Each file's mtime was set to 1,000,000 + its number. */
        if (sx->stx_mtime.tv_sec != 1000000 + (int64_t) k)
                s->bad_mtime++;
        s->n++;
        s->sum += k;
        if (s->stop_at > 0 && (int) s->n == s->stop_at)
                return -EUCLEAN;
        return 0;
}

/* n files f0..f(n-1) (padded with '_' to pad bytes when pad > 0), plus what
 * is not a node: a dotfile, a directory, a symbolic link and a FIFO. */
static int make_dir_in(const char *base, const char *sub, unsigned n, unsigned pad) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s/%s", base, sub);
        ASSERT_INT_EQ(mkdir(path, 0755), 0);
        int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ASSERT_TRUE(dfd >= 0);
        for (unsigned i = 0; i < n; i++) {
                char name[256];
                int len = snprintf(name, sizeof name, "f%u", i);
                if (pad > (unsigned) len && pad < sizeof name) {
                        memset(name + len, '_', pad - (unsigned) len);
                        name[pad] = '\0';
                }
                int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
                ASSERT_TRUE(fd >= 0);
                struct timespec ts[2] = { { .tv_sec = 1000000 + i }, { .tv_sec = 1000000 + i } };
                ASSERT_INT_EQ(futimens(fd, ts), 0);
                close(fd);
        }
        ASSERT_INT_EQ(close(openat(dfd, ".hidden", O_WRONLY | O_CREAT | O_CLOEXEC, 0644)), 0);
        ASSERT_INT_EQ(mkdirat(dfd, "adir", 0755), 0);
        ASSERT_INT_EQ(symlinkat("f1", dfd, "alink"), 0);
        ASSERT_INT_EQ(mkfifoat(dfd, "afifo", 0644), 0);
        return dfd;
}

static int make_dir(const char *sub, unsigned n) {
        return make_dir_in(tmpdir, sub, n, 0);
}

/* Every file once with its mtime (names may be padded: f<k>___...). */
static Seen check_all_seen(int dfd, unsigned n) {
        Seen s = {};
        ASSERT_INT_EQ(lseek(dfd, 0, SEEK_SET), 0);
        ASSERT_INT_EQ(dirscan(dfd, STATX_MTIME, NULL, on_seen, &s), 0);
        ASSERT_UINT_EQ(s.n, n);
        ASSERT_UINT_EQ(s.sum, (unsigned long long) n * (n - 1) / 2);
        ASSERT_UINT_EQ(s.bad_mtime, 0);
        return s;
}

static void check_scan(unsigned n) {
        char sub[32];
        snprintf(sub, sizeof sub, "d%u", n);
        int dfd = make_dir(sub, n);

        Seen s = check_all_seen(dfd, n);
        /* The symbolic link and the FIFO are stat()ed (their d_type says
         * what they are only on some file systems) and reported as such. */
        ASSERT_TRUE(s.not_regular <= 2);

        /* The filter: what it refuses is never stat()ed or seen. */
        ASSERT_INT_EQ(lseek(dfd, 0, SEEK_SET), 0);
        Seen f = {};
        ASSERT_INT_EQ(dirscan(dfd, STATX_MTIME, skip_multiples_of_seven, on_seen, &f), 0);
        unsigned expected = n - (n + 6) / 7;
        ASSERT_UINT_EQ(f.n, expected);

        ASSERT_INT_EQ(lseek(dfd, 0, SEEK_SET), 0);
        Seen stop = { .stop_at = 10 };
        ASSERT_INT_EQ(dirscan(dfd, STATX_MTIME, NULL, on_seen, &stop), -EUCLEAN);
        ASSERT_TRUE(stop.n >= 10);
        close(dfd);
}

int main(void) {
        ASSERT_TRUE(mkdtemp(tmpdir));
        tmpdir_made = true;
        ASSERT_INT_EQ(atexit(cleanup_tmpdir), 0);

        TEST("dirscan: 100 files (one statx each): every regular file once, with its mtime; dotfiles, directories "
             "skipped; the filter and the callback's error are honoured");
        check_scan(100);
        TEST_OK();

        TEST("dirscan: 5,000 files (batched through io_uring where it can): the same");
        check_scan(5000);
        TEST_OK();

        TEST("dirscan: a batched scan runs on one CPU, and the thread gets all its CPUs back after it");
        {
                cpu_set_t before, after;
                ASSERT_INT_EQ(sched_getaffinity(0, sizeof before, &before), 0);
                int dfd = make_dir("pin", 3000);
                Seen s = check_all_seen(dfd, 3000);
                ASSERT_UINT_EQ(s.min_cpus, 1);
                ASSERT_UINT_EQ(s.max_cpus, 1);
                ASSERT_INT_EQ(sched_getaffinity(0, sizeof after, &after), 0);
                ASSERT_TRUE(CPU_EQUAL(&before, &after));
                if (CPU_COUNT(&before) < 2)
                        printf("# this machine has one CPU: nothing was pinned, nothing to give back\n");

                /* Under 1,024 files (one statx each), nothing is pinned. */
                Seen few = {};
                int small = make_dir("pin-few", 100);
                ASSERT_INT_EQ(dirscan(small, STATX_MTIME, NULL, on_seen, &few), 0);
                ASSERT_UINT_EQ(few.min_cpus, (unsigned) CPU_COUNT(&before));
                close(small);

                /* A thread already held to one CPU keeps it, and keeps it after. */
                cpu_set_t one;
                CPU_ZERO(&one);
                CPU_SET(sched_getcpu(), &one);
                ASSERT_INT_EQ(sched_setaffinity(0, sizeof one, &one), 0);
                check_all_seen(dfd, 3000);
                ASSERT_INT_EQ(sched_getaffinity(0, sizeof after, &after), 0);
                ASSERT_TRUE(CPU_EQUAL(&one, &after));
                ASSERT_INT_EQ(sched_setaffinity(0, sizeof before, &before), 0);
                close(dfd);
        }
        TEST_OK();

        TEST("dirscan: a listing larger than the first buffer (tmpfs counts 20 bytes a name, getdents64() takes "
             "232 for one of 200 bytes): the buffer grows, to 4 MiB in huge pages, and every file is seen");
        {
                struct statfs sf;
                char shm[] = "/dev/shm/test-dirscan-XXXXXX";
                bool tmpfs = statfs("/dev/shm", &sf) >= 0 && sf.f_type == TMPFS_MAGIC && mkdtemp(shm);
                /* Elsewhere the directory's size is not smaller than its listing
                 * (ext4): the same files, the first buffer large enough. */
                if (!tmpfs)
                        printf("# no tmpfs at /dev/shm: the long names on %s instead\n", tmpdir);
                int dfd = make_dir_in(tmpfs ? shm : tmpdir, "long", 10000, 200);
                if (tmpfs) {
                        struct stat st;
                        ASSERT_INT_EQ(fstat(dfd, &st), 0);
                        ASSERT_TRUE(st.st_size < 10000 * 232 / 4); /* the guess is too small */
                }
                check_all_seen(dfd, 10000);
                close(dfd);
                if (tmpfs)
                        tests_rm_rf(shm);
        }
        TEST_OK();

        TEST("dirscan: a bad fd or no callback is refused");
        ASSERT_INT_EQ(dirscan(-1, STATX_MTIME, NULL, on_seen, NULL), -EINVAL);
        ASSERT_INT_EQ(dirscan(0, STATX_MTIME, NULL, NULL, NULL), -EINVAL);
        TEST_OK();

        printf("1..%u\n", tests_number);
        return EXIT_SUCCESS;
}
