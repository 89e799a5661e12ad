/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* stat-floor: what reading a registry directory costs this machine without
 * muster. Lists DIR and stat()s every entry on one thread, then times a null
 * system call, and prints one JSON line:
 *   {"files": N, "readdir_ms": ..., "stat_ms": ..., "syscall_ns": ...}
 * check_mcollective must do at least the listing and one stat per file.
 *
 *   stat-floor DIR
 */

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static double now_ms(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (double) ts.tv_sec * 1e3 + (double) ts.tv_nsec / 1e6;
}

int main(int argc, char *argv[]) {
        if (argc != 2) {
                fprintf(stderr, "usage: stat-floor DIR\n");
                return EXIT_FAILURE;
        }
        double t0 = now_ms();
        DIR *d = opendir(argv[1]);
        if (!d) {
                perror(argv[1]);
                return EXIT_FAILURE;
        }
        size_t n = 0, alloc = 0;
        char **names = NULL;
        struct dirent *de;
        while ((de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                if (n == alloc) {
                        alloc = alloc ? alloc * 2 : 1024;
                        names = realloc(names, alloc * sizeof *names);
                        if (!names)
                                return EXIT_FAILURE;
                }
                if (!(names[n++] = strdup(de->d_name)))
                        return EXIT_FAILURE;
        }
        double t1 = now_ms();
        size_t ok = 0;
        for (size_t i = 0; i < n; i++) {
                struct stat st;
                ok += fstatat(dirfd(d), names[i], &st, AT_SYMLINK_NOFOLLOW) == 0;
        }
        double t2 = now_ms();
        for (int i = 0; i < 100000; i++)
                (void) syscall(SYS_getppid);
        double t3 = now_ms();
        printf("{\"files\": %zu, \"stat_ok\": %zu, \"readdir_ms\": %.3f, \"stat_ms\": %.3f, \"syscall_ns\": %.1f}\n", n,
               ok, t1 - t0, t2 - t1, (t3 - t2) * 10.0);
        for (size_t i = 0; i < n; i++)
                free(names[i]);
        free(names);
        closedir(d);
        return EXIT_SUCCESS;
}
