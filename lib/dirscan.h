/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <sys/stat.h>

/* Whether a name of the listing is worth a stat (NULL: every one). */
typedef bool (*dirscan_filter_t)(const char *name, void *userdata);
/* One entry, stat()ed; a negative return ends the scan with it. */
typedef int (*dirscan_seen_t)(const char *name, const struct statx *sx, void *userdata);

/* statx() (AT_SYMLINK_NOFOLLOW, AT_NO_AUTOMOUNT; mask, STATX_TYPE always)
 * of every entry of the directory dfd that does not begin with '.', is a
 * regular file or of unknown type, and that filter accepts; seen is called
 * for each that still exists (one removed meanwhile is skipped). The listing
 * is read in as few getdents64() calls as a buffer allows (in 2 MiB pages
 * when large), the names are stat()ed in the order of their inode numbers,
 * and from 1,024 of them through io_uring (IORING_OP_STATX, one
 * io_uring_enter() for many), with statx() where io_uring is missing,
 * blocked, or did not run a request. For such a batched scan the calling
 * thread and io_uring's workers are held to the CPU the thread is on; the
 * thread's affinity is put back before dirscan() returns.
 * Returns 0, seen's first negative return, or a negative errno. dfd's
 * position is left at the end of the listing. */
int dirscan(int dfd, unsigned mask, dirscan_filter_t filter, dirscan_seen_t seen, void *userdata);
