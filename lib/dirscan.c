/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One stat of every file of a directory, as cheaply as the kernel allows: the listing in one
 * buffer, the names in inode order, the stats batched through io_uring. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "dirscan.h"
#include "macro.h"
#include "util.h"

/* The whole listing, in as few getdents64() calls as the buffer allows. */
static int read_listing(int dfd, char **ret_buf, size_t *ret_size) {
        _cleanup_free_ char *buf = NULL;
        size_t alloc = 0, size = 0;

        for (;;) {
                /* Room for at least one largest record (name of 255 bytes). */
                if (alloc - size < 64 * 1024) {
                        size_t a = alloc ? alloc * 2 : 256 * 1024;
                        char *b = realloc(buf, a);
                        if (!b)
                                return -ENOMEM;
                        buf = b;
                        alloc = a;
                }
                ssize_t n = getdents64(dfd, buf + size, MIN(alloc - size, (size_t) (4 * 1024 * 1024)));
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                size += (size_t) n;
        }
        *ret_buf = TAKE_PTR(buf);
        *ret_size = size;
        return 0;
}

/* A record of the listing that may be a node, by its inode number. */
typedef struct DirEntry {
        uint64_t ino;
        size_t offset;
} DirEntry;

static struct dirent64 *entry_dirent(const char *listing, const DirEntry *e) {
        return (struct dirent64 *) (listing + e->offset);
}

/* Least significant byte first; a byte that all inode numbers share is
 * skipped (those of one directory are often close together). */
static int sort_by_inode(DirEntry **entries, size_t n) {
        _cleanup_free_ DirEntry *tmp = NULL;
        DirEntry *a = *entries;

        if (n < 2)
                return 0;
        tmp = malloc(n * sizeof *tmp);
        if (!tmp)
                return -ENOMEM;
        for (unsigned shift = 0; shift < 64; shift += 8) {
                size_t count[257] = {};
                for (size_t i = 0; i < n; i++)
                        count[((a[i].ino >> shift) & 0xff) + 1]++;
                if (count[((a[0].ino >> shift) & 0xff) + 1] == n)
                        continue;
                for (size_t b = 0; b < 256; b++)
                        count[b + 1] += count[b];
                for (size_t i = 0; i < n; i++)
                        tmp[count[(a[i].ino >> shift) & 0xff]++] = a[i];
                DirEntry *t = a;
                a = tmp;
                tmp = t;
        }
        *entries = a;
        return 0;
}

/* As fstatat() without flags has done since Linux 4.14: no automount. */
#define STATX_FLAGS (AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT)

typedef struct Scan {
        unsigned mask;
        dirscan_seen_t seen;
        void *userdata;
} Scan;

static int stat_one(Scan *s, int dfd, const char *name) {
        struct statx sx;
        if (statx(dfd, name, STATX_FLAGS, s->mask, &sx) < 0)
                return errno == ENOENT ? 0 : -errno; /* ENOENT: went away while we looked */
        return s->seen(name, &sx, s->userdata);
}

/* The same through io_uring: one io_uring_enter() for many statx, which the
 * kernel runs on its own workers (one per CPU, at most 8), without a system
 * call per file. */
#define RING_DEPTH 512u
#define RING_WAIT_MIN 64u

typedef struct Ring {
        int fd;
        struct io_uring_params p;
        void *sq_map, *cq_map;
        size_t sq_map_size, cq_map_size;
        struct io_uring_sqe *sqes;
        size_t sqes_size;
} Ring;

static void ring_done(Ring *r) {
        if (r->sqes && r->sqes != MAP_FAILED)
                munmap(r->sqes, r->sqes_size);
        if (r->cq_map && r->cq_map != MAP_FAILED && r->cq_map != r->sq_map)
                munmap(r->cq_map, r->cq_map_size);
        if (r->sq_map && r->sq_map != MAP_FAILED)
                munmap(r->sq_map, r->sq_map_size);
        if (r->fd >= 0)
                close(r->fd);
        *r = (Ring) { .fd = -1 };
}

static int ring_setup(Ring *r) {
        /* Completions are run when we ask for them, by this thread alone
         * (Linux 6.1); without that, as they come. */
        static const unsigned flags[] = { IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN, 0 };
        int fd = -1;

        for (size_t i = 0; i < ELEMENTSOF(flags) && fd < 0; i++) {
                r->p = (struct io_uring_params) { .flags = flags[i] };
                fd = (int) syscall(__NR_io_uring_setup, RING_DEPTH, &r->p);
                if (fd < 0 && errno != EINVAL)
                        break;
        }
        if (fd < 0)
                return -errno;
        r->fd = fd;

        /* IORING_OP_STATX came with Linux 5.6, as did the probe: io_uring
         * of 5.1 to 5.5 would fail every request. */
        _cleanup_free_ struct io_uring_probe *probe = calloc(1, sizeof *probe + 256 * sizeof probe->ops[0]);
        if (!probe)
                return -ENOMEM;
        if (syscall(__NR_io_uring_register, fd, IORING_REGISTER_PROBE, probe, 256) < 0)
                return -errno;
        if (probe->last_op < IORING_OP_STATX || !(probe->ops[IORING_OP_STATX].flags & IO_URING_OP_SUPPORTED))
                return -EOPNOTSUPP;

        r->sq_map_size = r->p.sq_off.array + r->p.sq_entries * sizeof(unsigned);
        r->cq_map_size = r->p.cq_off.cqes + r->p.cq_entries * sizeof(struct io_uring_cqe);
        if (r->p.features & IORING_FEAT_SINGLE_MMAP)
                r->sq_map_size = r->cq_map_size = MAX(r->sq_map_size, r->cq_map_size);
        r->sq_map = mmap(NULL, r->sq_map_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
                         IORING_OFF_SQ_RING);
        if (r->sq_map == MAP_FAILED)
                return -errno;
        if (r->p.features & IORING_FEAT_SINGLE_MMAP)
                r->cq_map = r->sq_map;
        else {
                r->cq_map = mmap(NULL, r->cq_map_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
                                 IORING_OFF_CQ_RING);
                if (r->cq_map == MAP_FAILED)
                        return -errno;
        }
        r->sqes_size = r->p.sq_entries * sizeof(struct io_uring_sqe);
        r->sqes = mmap(NULL, r->sqes_size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, IORING_OFF_SQES);
        if (r->sqes == MAP_FAILED)
                return -errno;

        /* Left alone, the kernel starts up to 4 workers per CPU, which only
         * take turns on the CPUs. A kernel without the knob (before 5.15)
         * keeps its default. */
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        unsigned workers[2];
        workers[0] = workers[1] = (unsigned) MIN(MAX(cpus, 1L), 8L);
        (void) syscall(__NR_io_uring_register, fd, IORING_REGISTER_IOWQ_MAX_WORKERS, workers, 2);
        return 0;
}

#define RING_FIELD(r, map, off) ((unsigned *) ((char *) (r)->map + (r)->p.off))

/* Returns -EOPNOTSUPP when io_uring cannot be used at all (then nothing was
 * looked at). *ret_leaked: after an io_uring_enter() failure with requests
 * still in flight, their buffers cannot be freed (the kernel may still write
 * them). */
static int stat_ring(Scan *s, int dfd, const char *listing, const DirEntry *entries, size_t n, bool *ret_leaked) {
        _cleanup_(ring_done) Ring ring = { .fd = -1 };
        _cleanup_free_ struct statx *sx = NULL;
        _cleanup_free_ unsigned *free_slots = NULL;
        _cleanup_free_ size_t *slot_entry = NULL;
        size_t next = 0, inflight = 0, queued = 0, n_free;
        bool submitted = false;
        int r = 0;

        *ret_leaked = false;
        if (ring_setup(&ring) < 0)
                return -EOPNOTSUPP;

        unsigned depth = ring.p.sq_entries;
        sx = malloc(depth * sizeof *sx);
        free_slots = malloc(depth * sizeof *free_slots);
        slot_entry = malloc(depth * sizeof *slot_entry);
        if (!sx || !free_slots || !slot_entry)
                return -ENOMEM;
        for (unsigned i = 0; i < depth; i++)
                free_slots[i] = i;
        n_free = depth;

        unsigned *sq_tail = RING_FIELD(&ring, sq_map, sq_off.tail), *sq_array = RING_FIELD(&ring, sq_map, sq_off.array);
        unsigned sq_mask = *RING_FIELD(&ring, sq_map, sq_off.ring_mask);
        unsigned *cq_head = RING_FIELD(&ring, cq_map, cq_off.head), *cq_tail = RING_FIELD(&ring, cq_map, cq_off.tail);
        unsigned cq_mask = *RING_FIELD(&ring, cq_map, cq_off.ring_mask);
        struct io_uring_cqe *cqes = (struct io_uring_cqe *) ((char *) ring.cq_map + ring.p.cq_off.cqes);

        /* After the first error: no more requests, only those in flight reaped. */
        while (inflight > 0 || (next < n && r == 0)) {
                /* New requests go after those the kernel has not taken yet. */
                unsigned tail = __atomic_load_n(sq_tail, __ATOMIC_RELAXED), added = 0;
                while (r == 0 && next < n && n_free > 0) {
                        unsigned slot = free_slots[--n_free], i = (tail + added) & sq_mask;
                        struct io_uring_sqe *q = &ring.sqes[i];
                        *q = (struct io_uring_sqe) {
                                .opcode = IORING_OP_STATX,
                                .fd = dfd,
                                .addr = (uintptr_t) entry_dirent(listing, &entries[next])->d_name,
                                .len = s->mask,
                                .statx_flags = STATX_FLAGS,
                                .off = (uintptr_t) &sx[slot],
                                .user_data = slot,
                        };
                        sq_array[i] = i;
                        slot_entry[slot] = next++;
                        added++;
                }
                __atomic_store_n(sq_tail, tail + added, __ATOMIC_RELEASE);
                queued += added;
                inflight += added;

                long k = syscall(__NR_io_uring_enter, ring.fd, (unsigned) queued,
                                 (unsigned) MIN(inflight, (size_t) RING_WAIT_MIN), IORING_ENTER_GETEVENTS, NULL, 0);
                if (k < 0) {
                        if (errno == EINTR || errno == EAGAIN || errno == EBUSY)
                                continue;
                        if (!submitted)
                                return -EOPNOTSUPP; /* e.g. a seccomp filter: nothing in flight */
                        r = -errno;
                        *ret_leaked = true;
                        TAKE_PTR(sx);
                        return r;
                }
                submitted = submitted || k > 0;
                queued -= (size_t) k;

                unsigned head = __atomic_load_n(cq_head, __ATOMIC_RELAXED);
                unsigned end = __atomic_load_n(cq_tail, __ATOMIC_ACQUIRE);
                for (; head != end; head++) {
                        const struct io_uring_cqe *c = &cqes[head & cq_mask];
                        unsigned slot = (unsigned) c->user_data;
                        const char *name = entry_dirent(listing, &entries[slot_entry[slot]])->d_name;
                        int q = 0;
                        if (c->res == -ECANCELED || c->res == -EAGAIN || c->res == -EINTR || c->res == -EINVAL)
                                /* Not run: io_uring found no worker (e.g. at the limit of
                                 * processes), was interrupted, or refused the request. Here
                                 * then; statx() gives the answer. */
                                q = stat_one(s, dfd, name);
                        else if (c->res < 0 && c->res != -ENOENT) /* ENOENT: went away while we looked */
                                q = c->res;
                        else if (c->res >= 0)
                                q = s->seen(name, &sx[slot], s->userdata);
                        if (q < 0 && r == 0)
                                r = q;
                        free_slots[n_free++] = slot;
                        inflight--;
                }
                __atomic_store_n(cq_head, head, __ATOMIC_RELEASE);
        }
        return r;
}

#define RING_MIN_FILES 1024

int dirscan(int dfd, unsigned mask, dirscan_filter_t filter, dirscan_seen_t seen, void *userdata) {
        _cleanup_free_ char *listing = NULL;
        _cleanup_free_ DirEntry *entries = NULL;
        size_t size = 0, n = 0, alloc = 0;
        Scan s = { .mask = mask | STATX_TYPE, .seen = seen, .userdata = userdata };
        int r;

        if (dfd < 0 || !seen)
                return -EINVAL;
        r = read_listing(dfd, &listing, &size);
        if (r < 0)
                return r;

        for (size_t off = 0; off < size;) {
                const struct dirent64 *de = (const struct dirent64 *) (listing + off);
                size_t here = off;
                off += de->d_reclen;
                if (de->d_name[0] == '.')
                        continue;
                if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
                        continue;
                if (filter && !filter(de->d_name, userdata))
                        continue;
                if (GREEDY_REALLOC(entries, alloc, n + 1) < 0)
                        return -ENOMEM;
                entries[n++] = (DirEntry) { .ino = de->d_ino, .offset = here };
        }
        r = sort_by_inode(&entries, n);
        if (r < 0)
                return r;

        r = -EOPNOTSUPP;
        if (n >= RING_MIN_FILES) {
                bool leaked;
                r = stat_ring(&s, dfd, listing, entries, n, &leaked);
                if (leaked) {
                        /* The kernel may still read the names. */
                        TAKE_PTR(listing);
                        TAKE_PTR(entries);
                }
        }
        if (r == -EOPNOTSUPP) {
                /* No io_uring here (or not worth it): one statx() per file. */
                r = 0;
                for (size_t i = 0; i < n && r >= 0; i++)
                        r = stat_one(&s, dfd, entry_dirent(listing, &entries[i])->d_name);
        }
        return r;
}
