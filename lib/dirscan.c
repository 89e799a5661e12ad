/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One stat of every file of a directory, as cheaply as the kernel allows: the listing in one
 * buffer, the names in inode order, the stats batched through io_uring. */
#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "dirscan.h"
#include "macro.h"
#include "util.h"

/* The buffers of a large directory (100,000 names: 3 MiB of listing, 3 MiB
 * of records) are mapped in 2 MiB pages where the kernel has them
 * (MADV_HUGEPAGE): touched a 4 KiB page at a time they cost a page fault
 * each, and on a virtual machine a fault costs more than a stat of a
 * cached file. Smaller ones come from malloc(). */
#define HUGE_PAGE_SIZE (2u * 1024u * 1024u)

typedef struct Block {
        void *p;
        size_t size;
        bool mapped; /* mmap()ed, size bytes, else malloc()ed */
} Block;

static size_t round_up(size_t x, size_t to) {
        return (x + to - 1) / to * to;
}

static int block_alloc(Block *b, size_t size) {
        *b = (Block) {};
        if (size >= HUGE_PAGE_SIZE) {
                /* One huge page more, to start on a huge page boundary. */
                size_t want = round_up(size, HUGE_PAGE_SIZE), len = want + HUGE_PAGE_SIZE;
                char *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
                if (m != MAP_FAILED) {
                        char *a = (char *) round_up((uintptr_t) m, HUGE_PAGE_SIZE);
                        if (a > m)
                                (void) munmap(m, (size_t) (a - m));
                        if (m + len > a + want)
                                (void) munmap(a + want, (size_t) (m + len - (a + want)));
                        (void) madvise(a, want, MADV_HUGEPAGE); /* a hint: EINVAL without THP */
                        *b = (Block) { .p = a, .size = want, .mapped = true };
                        return 0;
                }
        }
        b->p = malloc(MAX(size, (size_t) 1));
        if (!b->p)
                return -ENOMEM;
        b->size = size;
        return 0;
}

static void block_free(Block *b) {
        if (b->mapped)
                (void) munmap(b->p, b->size);
        else
                free(b->p);
        *b = (Block) {};
}

/* The whole listing, in as few getdents64() calls as the buffer allows.
 * A record of getdents64() takes at most twice the bytes of ext4's on the
 * disk, so twice the directory's size is the first guess; a file system
 * that counts otherwise only makes the buffer grow. */
static int read_listing(int dfd, Block *ret, size_t *ret_size) {
        _cleanup_(block_free) Block buf = {};
        struct stat st;
        size_t size = 0;
        int r;

        /* A directory that once held millions of names keeps its size:
         * beyond 64 MiB the buffer grows as it fills. */
        size_t guess = 256 * 1024;
        if (fstat(dfd, &st) >= 0 && st.st_size > 0)
                guess = MAX(guess, 2 * (size_t) MIN((uint64_t) st.st_size, (uint64_t) 32 * 1024 * 1024) + 64 * 1024);
        r = block_alloc(&buf, guess);
        if (r < 0)
                return r;

        for (;;) {
                /* Room for at least one largest record (name of 255 bytes). */
                if (buf.size - size < 64 * 1024) {
                        _cleanup_(block_free) Block b = {};
                        r = block_alloc(&b, buf.size * 2);
                        if (r < 0)
                                return r;
                        memcpy(b.p, buf.p, size);
                        Block t = buf;
                        buf = b;
                        b = t;
                }
                ssize_t n = getdents64(dfd, (char *) buf.p + size, MIN(buf.size - size, (size_t) (4 * 1024 * 1024)));
                if (n < 0)
                        return -errno;
                if (n == 0)
                        break;
                size += (size_t) n;
        }
        *ret = buf;
        buf = (Block) {};
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

/* Least significant byte first, through tmp (as many entries); a byte that
 * all inode numbers share is skipped (those of one directory are often
 * close together). Returns the array that holds the result: a or tmp. */
static DirEntry *sort_by_inode(DirEntry *a, DirEntry *tmp, size_t n) {
        if (n < 2)
                return a;
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
        return a;
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
 * kernel runs on its own workers, without a system call per file. */
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

static int ring_setup(Ring *r, int cpu) {
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

        /* Left alone, the kernel starts up to 4 workers per CPU. As many as
         * CPUs (at most 8) is enough: on one CPU (below) they only take turns
         * while the files are cached, and each waits on the disk while they
         * are not. A kernel without the knob (before 5.15) keeps its
         * default, and one without IORING_REGISTER_IOWQ_AFF (before 5.14)
         * runs the workers where it likes. */
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        unsigned workers[2];
        workers[0] = workers[1] = (unsigned) MIN(MAX(cpus, 1L), 8L);
        (void) syscall(__NR_io_uring_register, fd, IORING_REGISTER_IOWQ_MAX_WORKERS, workers, 2);
        if (cpu >= 0) {
                cpu_set_t set;
                CPU_ZERO(&set);
                CPU_SET(cpu, &set);
                (void) syscall(__NR_io_uring_register, fd, IORING_REGISTER_IOWQ_AFF, &set, sizeof set);
        }
        return 0;
}

#define RING_FIELD(r, map, off) ((unsigned *) ((char *) (r)->map + (r)->p.off))

/* Returns -EOPNOTSUPP when io_uring cannot be used at all (then nothing was
 * looked at). *ret_leaked: after an io_uring_enter() failure with requests
 * still in flight, their buffers cannot be freed (the kernel may still write
 * them). */
static int stat_ring(Scan *s, int dfd, const char *listing, const DirEntry *entries, size_t n, int cpu,
                     bool *ret_leaked) {
        _cleanup_(ring_done) Ring ring = { .fd = -1 };
        _cleanup_free_ struct statx *sx = NULL;
        _cleanup_free_ unsigned *free_slots = NULL;
        _cleanup_free_ size_t *slot_entry = NULL;
        size_t next = 0, inflight = 0, queued = 0, n_free;
        bool submitted = false;
        int r = 0;

        *ret_leaked = false;
        if (ring_setup(&ring, cpu) < 0)
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

/* The scan and the kernel's workers that run its statx on one CPU, the one
 * this thread is on. Spread over several, each request crosses CPUs twice
 * (queued here, run there, completed here): a wake-up with an interrupt
 * between CPUs, and the request's cache lines with it, which costs more
 * than the stat. On 2 virtual CPUs, 100,000 cached files took 158 ms of CPU
 * on one against 272 ms on two, in the same wall time. The thread's own
 * affinity is put back after the scan. */
typedef struct Pin {
        int cpu; /* -1: not pinned */
        cpu_set_t saved;
} Pin;

static Pin pin_to_this_cpu(void) {
        Pin p = { .cpu = -1 };
        int cpu = sched_getcpu();
        if (cpu < 0 || cpu >= CPU_SETSIZE)
                return p;
        /* More CPUs than a cpu_set_t holds: sched_getaffinity() fails, and
         * the scan runs where the scheduler puts it. */
        if (sched_getaffinity(0, sizeof p.saved, &p.saved) < 0 || CPU_COUNT(&p.saved) < 2)
                return p;
        cpu_set_t one;
        CPU_ZERO(&one);
        CPU_SET(cpu, &one);
        if (sched_setaffinity(0, sizeof one, &one) < 0)
                return p;
        p.cpu = cpu;
        return p;
}

static void unpin(Pin *p) {
        if (p->cpu >= 0)
                (void) sched_setaffinity(0, sizeof p->saved, &p->saved);
        p->cpu = -1;
}

#define RING_MIN_FILES 1024

int dirscan(int dfd, unsigned mask, dirscan_filter_t filter, dirscan_seen_t seen, void *userdata) {
        _cleanup_(block_free) Block listing_block = {}, entries_block = {};
        size_t size = 0, n = 0;
        Scan s = { .mask = mask | STATX_TYPE, .seen = seen, .userdata = userdata };
        int r;

        if (dfd < 0 || !seen)
                return -EINVAL;
        r = read_listing(dfd, &listing_block, &size);
        if (r < 0)
                return r;
        const char *listing = listing_block.p;

        /* A record takes 24 bytes at least: room for all, and as many again
         * to sort them through. */
        size_t max = size / 24 + 1;
        r = block_alloc(&entries_block, 2 * max * sizeof(DirEntry));
        if (r < 0)
                return r;
        DirEntry *entries = entries_block.p;

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
                assert(n < max);
                entries[n++] = (DirEntry) { .ino = de->d_ino, .offset = here };
        }
        entries = sort_by_inode(entries, entries + max, n);

        r = -EOPNOTSUPP;
        if (n >= RING_MIN_FILES) {
                bool leaked;
                Pin pin = pin_to_this_cpu();
                r = stat_ring(&s, dfd, listing, entries, n, pin.cpu, &leaked);
                unpin(&pin);
                if (leaked) {
                        /* The kernel may still read the names. */
                        listing_block = (Block) {};
                        entries_block = (Block) {};
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
