/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <inttypes.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <sys/stat.h>

#include "checks.h"
#include "filter.h"
#include "hashmap.h"
#include "registry.h"
#include "util.h"

#define REGISTRY_FILE_MAX (UINT64_C(1) << 20)

void registry_entry_done(RegistryEntry *e) {
        free(e->identity);
        json_decref(e->root);
        registration_free(e->registration);
        *e = (RegistryEntry) {};
}

void registry_list_done(RegistryList *l) {
        for (size_t i = 0; i < l->n; i++)
                registry_entry_done(&l->entries[i]);
        free(l->entries);
        *l = (RegistryList) {};
}

static int read_entry(int dfd, const char *name, bool parse, RegistryEntry *ret) {
        _cleanup_close_ int fd = -1;
        struct stat st;
        RegistryEntry e = {};

        fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode))
                return -EBADFD;

        e.identity = strdup(name);
        if (!e.identity)
                return -ENOMEM;
        e.mtime = st.st_mtim;

        if (parse && (uint64_t) st.st_size <= REGISTRY_FILE_MAX) {
                json_error_t err;
                FILE *f = fdopen(fd, "re");
                if (!f) {
                        registry_entry_done(&e);
                        return -errno;
                }
                fd = -1;
                e.root = json_loadf(f, JSON_REJECT_DUPLICATES, &err);
                fclose(f);
                if (e.root) {
                        char msg[MESSAGE_ERROR_MAX];
                        if (registration_from_json(e.root, &e.registration, msg) >= 0) {
                                /* A file must hold the registration of the node it is named after. */
                                if (!streq(e.registration->identity, name))
                                        e.registration = registration_free(e.registration);
                                else
                                        e.interval = e.registration->interval;
                        }
                }
        }
        *ret = e;
        return 0;
}

int registry_read(const char *dir, const char *identity, RegistryEntry *ret) {
        _cleanup_close_ int dfd = -1;

        if (!identity_is_valid(identity))
                return -EINVAL;
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return -errno;
        return read_entry(dfd, identity, true, ret);
}

static int cmp_entry(const void *a, const void *b) {
        return strcmp(((const RegistryEntry *) a)->identity, ((const RegistryEntry *) b)->identity);
}

int registry_foreach(const char *dir, bool parse, registry_entry_cb_t cb, void *userdata) {
        _cleanup_closedir_ DIR *d = NULL;
        struct dirent *de;
        int r;

        d = opendir(dir);
        if (!d)
                return -errno;
        while ((errno = 0, de = readdir(d))) {
                RegistryEntry e;

                if (!identity_is_valid(de->d_name))
                        continue;
                if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
                        continue;
                r = read_entry(dirfd(d), de->d_name, parse, &e);
                if (r == -ENOMEM)
                        return r;
                if (r < 0)
                        continue; /* vanished or not a regular file */
                r = cb(&e, userdata);
                if (r < 0)
                        return r;
        }
        return errno > 0 ? -errno : 0;
}

typedef struct ListBuilder {
        RegistryList l;
        size_t alloc;
} ListBuilder;

static int list_add(RegistryEntry *e, void *userdata) {
        ListBuilder *b = userdata;
        if (GREEDY_REALLOC(b->l.entries, b->alloc, b->l.n + 1) < 0) {
                registry_entry_done(e);
                return -ENOMEM;
        }
        b->l.entries[b->l.n++] = *e;
        return 0;
}

int registry_list(const char *dir, bool parse, RegistryList *ret) {
        ListBuilder b = {};
        int r;

        r = registry_foreach(dir, parse, list_add, &b);
        if (r < 0) {
                registry_list_done(&b.l);
                return r;
        }
        if (b.l.n > 1)
                qsort(b.l.entries, b.l.n, sizeof *b.l.entries, cmp_entry);
        *ret = b.l;
        return 0;
}

bool registry_is_stale(int64_t now, int64_t mtime, int64_t interval, int64_t grace) {
        return now - mtime > interval + grace;
}

bool registry_entry_is_stale(const RegistryEntry *e, int64_t now, int64_t interval, int64_t grace) {
        return registry_is_stale(now, (int64_t) e->mtime.tv_sec, interval, grace);
}

static int json_strv(json_t *a, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        json_t *v;
        size_t i;

        json_array_foreach(a, i, v)
                if (json_is_string(v) && strv_extend(&l, json_string_value(v)) < 0)
                        return -ENOMEM;
        *ret = TAKE_PTR(l);
        return 0;
}

int registry_entry_node_info(const RegistryEntry *e, void *ret_node_info, char ***ret_classes, char ***ret_agents) {
        NodeInfo *n = ret_node_info;
        char **classes = NULL, **agents = NULL;

        if (e->registration) {
                if (json_strv(e->registration->classes, &classes) < 0)
                        return -ENOMEM;
                if (json_strv(e->registration->agents, &agents) < 0) {
                        strv_free(classes);
                        return -ENOMEM;
                }
        }
        *n = (NodeInfo) {
                .identity = e->identity,
                .facts = e->registration ? e->registration->facts : NULL,
                .classes = classes,
                .agents = agents,
        };
        *ret_classes = classes;
        *ret_agents = agents;
        return 0;
}

static bool is_volatile_key(const char *key) {
        return streq(key, "msgtime") || streq(key, "uptime") || streq(key, "received");
}

/* The checks' states enter the digest after the canonical JSON of the
 * rest, sorted by name: "\0checks\0" then "NAME=STATE\n" each. The same
 * bytes whether they come from the parsed JSON or from checks_scan(). */
typedef struct DigestCheck {
        const char *name;
        size_t len;
        int64_t state;
} DigestCheck;

static int digest_check_cmp(const void *a, const void *b) {
        const DigestCheck *x = a, *y = b;
        int c = memcmp(x->name, y->name, MIN(x->len, y->len));
        return c != 0 ? c : (x->len > y->len) - (x->len < y->len);
}

static int digest_content(json_t *root, json_t **ret) {
        _cleanup_json_ json_t *content = json_object();
        const char *key;
        json_t *v;

        if (!content)
                return -ENOMEM;
        json_object_foreach(root, key, v) {
                if (is_volatile_key(key))
                        continue;
                /* Pushed checks: their states, not their outputs and timings,
                 * which change at every beat (muster(7), PUSHED CHECKS). */
                if (streq(key, "checks") && json_is_object(v))
                        continue;
                if (json_object_set(content, key, v) < 0)
                        return -ENOMEM;
        }
        *ret = TAKE_PTR(content);
        return 0;
}

static int digest_finish(json_t *content, DigestCheck *checks, size_t n, bool has_checks, RegistryDigest *ret) {
        static EVP_MD *sha256 = NULL;
        static EVP_MD_CTX *ctx = NULL;
        _cleanup_free_ char *text = NULL;
        char buf[32];
        bool ok;

        if (!sha256) {
                sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
                if (!sha256)
                        return -ENOMEM;
        }
        if (!ctx) {
                ctx = EVP_MD_CTX_new();
                if (!ctx)
                        return -ENOMEM;
        }
        text = json_dumps(content, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        if (!text)
                return -ENOMEM;
        ok = EVP_DigestInit_ex(ctx, sha256, NULL) == 1 && EVP_DigestUpdate(ctx, text, strlen(text)) == 1;
        if (ok && has_checks) {
                /* A handful, mostly in order already: insertion sort. */
                for (size_t i = 1; i < n; i++)
                        for (size_t j = i; j > 0 && digest_check_cmp(&checks[j - 1], &checks[j]) > 0; j--) {
                                DigestCheck t = checks[j];
                                checks[j] = checks[j - 1];
                                checks[j - 1] = t;
                        }
                ok = EVP_DigestUpdate(ctx, "\0checks\0", 8) == 1;
                for (size_t i = 0; ok && i < n; i++) {
                        int k;
                        if (checks[i].state >= 0 && checks[i].state <= 9)
                                k = 3, buf[0] = '=', buf[1] = (char) ('0' + checks[i].state), buf[2] = '\n';
                        else
                                k = snprintf(buf, sizeof buf, "=%" PRId64 "\n", checks[i].state);
                        ok = EVP_DigestUpdate(ctx, checks[i].name, checks[i].len) == 1 &&
                             EVP_DigestUpdate(ctx, buf, (size_t) k) == 1;
                }
        }
        if (!ok || EVP_DigestFinal_ex(ctx, ret->bytes, NULL) != 1)
                return -ENOMEM;
        ret->set = true;
        return 0;
}

int registry_digest(json_t *root, RegistryDigest *ret) {
        _cleanup_json_ json_t *content = NULL;
        _cleanup_free_ DigestCheck *heap = NULL;
        DigestCheck stack[CHECKS_MAX], *c = stack;
        json_t *checks, *v;
        const char *name;
        size_t n = 0;
        int r;

        if (!json_is_object(root))
                return -EINVAL;
        r = digest_content(root, &content);
        if (r < 0)
                return r;
        checks = json_object_get(root, "checks");
        if (!json_is_object(checks))
                return digest_finish(content, NULL, 0, false, ret);
        if (json_object_size(checks) > CHECKS_MAX) {
                c = heap = calloc(json_object_size(checks), sizeof *heap);
                if (!heap)
                        return -ENOMEM;
        }
        json_object_foreach(checks, name, v) {
                json_t *s = json_object_get(v, "state");
                c[n++] = (DigestCheck) { .name = name, .len = strlen(name),
                                         .state = json_is_integer(s) ? (int64_t) json_integer_value(s) : 3 };
        }
        return digest_finish(content, c, n, true, ret);
}

int registry_digest_scanned(json_t *root, const ChecksScan *scan, RegistryDigest *ret) {
        _cleanup_json_ json_t *content = NULL;
        DigestCheck c[CHECKS_MAX];
        int r;

        if (!json_is_object(root) || scan->n > CHECKS_MAX)
                return -EINVAL;
        r = digest_content(root, &content);
        if (r < 0)
                return r;
        /* root has no "checks" (or, from a caller that left one, it is left out above). */
        for (size_t i = 0; i < scan->n; i++)
                c[i] = (DigestCheck) { .name = scan->items[i].name, .len = scan->items[i].name_len,
                                       .state = scan->items[i].state };
        return digest_finish(content, c, scan->n, true, ret);
}

int registry_touch(int dirfd, const char *identity, int64_t seen_at) {
        struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_sec = (time_t) seen_at } };
        if (!identity_is_valid(identity))
                return -EINVAL;
        return utimensat(dirfd, identity, ts, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
}

static bool digest_equal(const RegistryDigest *a, const RegistryDigest *b) {
        return a->set && b->set && memcmp(a->bytes, b->bytes, sizeof a->bytes) == 0;
}

/* The digest of the node's stored file; unset when it cannot be read or is
 * not a JSON object (then it is simply rewritten). */
static void stored_digest(int dirfd, const char *identity, RegistryDigest *ret) {
        RegistryEntry e;

        *ret = (RegistryDigest) {};
        if (read_entry(dirfd, identity, true, &e) < 0)
                return;
        if (e.root)
                (void) registry_digest(e.root, ret);
        registry_entry_done(&e);
}

static int touch_file(int dirfd, const char *identity, int64_t seen_at) {
        return registry_touch(dirfd, identity, seen_at);
}

static int write_all(int fd, const char *p, size_t n) {
        while (n > 0) {
                ssize_t k = write(fd, p, n);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                p += k;
                n -= (size_t) k;
        }
        return 0;
}

int registry_store(int dirfd, const Registration *reg, int64_t now, int64_t seen_at, bool *ret_new) {
        RegistryDigest known = {};
        return registry_store_known(dirfd, reg, now, seen_at, &known, ret_new);
}

int registry_store_known(int dirfd, const Registration *reg, int64_t now, int64_t seen_at, RegistryDigest *known,
                         bool *ret_new) {
        return registry_store_full(dirfd, reg, now, seen_at, known, false, ret_new);
}

int registry_store_full(int dirfd, const Registration *reg, int64_t now, int64_t seen_at, RegistryDigest *known,
                        bool rewrite, bool *ret_new) {
        const char *identity = reg->identity;
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *body = NULL;
        RegistryDigest incoming;
        struct stat st;
        bool exists;
        size_t len;
        int r;

        if (!identity_is_valid(identity))
                return -EINVAL;
        r = registry_digest(reg->root, &incoming);
        if (r < 0)
                return r;

        /* Most registrations repeat the last one: then only the mtime moves. */
        if (!rewrite && digest_equal(known, &incoming)) {
                r = touch_file(dirfd, identity, seen_at);
                if (r >= 0) {
                        if (ret_new)
                                *ret_new = false;
                        return 0;
                }
                if (r != -ENOENT)
                        return r;
                /* Removed behind our back: written again below. */
        }

        exists = fstatat(dirfd, identity, &st, AT_SYMLINK_NOFOLLOW) >= 0;
        if (!exists && errno != ENOENT)
                return -errno;
        if (exists && !S_ISREG(st.st_mode))
                return -EEXIST;

        if (exists && !known->set && !rewrite) {
                RegistryDigest stored;
                stored_digest(dirfd, identity, &stored);
                if (digest_equal(&stored, &incoming)) {
                        r = touch_file(dirfd, identity, seen_at);
                        if (r < 0)
                                return r;
                        *known = incoming;
                        if (ret_new)
                                *ret_new = false;
                        return 0;
                }
        }

        _cleanup_json_ json_t *copy = json_deep_copy(reg->root);
        if (!copy || json_object_set_new(copy, "received", json_integer(now)) < 0)
                return -ENOMEM;
        body = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS);
        if (!body)
                return -ENOMEM;
        len = strlen(body);
        /* json_dumps() leaves no room; one write() for body and newline. */
        char *t = realloc(body, len + 2);
        if (!t)
                return -ENOMEM;
        body = t;
        body[len++] = '\n';
        body[len] = '\0';

        /* Not named after the identity: a 255-byte identity plus a suffix
         * would exceed NAME_MAX. Unique per process and write; O_EXCL
         * catches a leftover of an earlier process with the same pid. */
        static uint64_t counter = 0;
        char tmp[64];
        for (unsigned attempt = 0;; attempt++) {
                snprintf(tmp, sizeof tmp, ".#tmp.%u.%" PRIu64, (unsigned) getpid(), ++counter);
                fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0644);
                if (fd >= 0)
                        break;
                if (errno != EEXIST || attempt >= 16)
                        return -errno;
        }
        r = write_all(fd, body, len);
        /* No fsync(): the page cache survives a crash of the collector,
         * and ext4 flushes the data of a file renamed over another. */
        if (r >= 0) {
                struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_sec = (time_t) seen_at } };
                if (futimens(fd, ts) < 0)
                        r = -errno;
        }
        if (r >= 0 && close(TAKE_FD(fd)) < 0)
                r = -errno;
        if (r >= 0 && renameat(dirfd, tmp, dirfd, identity) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlinkat(dirfd, tmp, 0);
                return r;
        }
        *known = incoming;
        if (ret_new)
                *ret_new = !exists;
        return 1;
}

/* ---- the index ---------------------------------------------------------- */

#define INDEX_MAGIC "muster-registry-index 1\n"
#define INDEX_FILE REGISTRY_INDEX_NAME "/registry"
#define INDEX_MAX (UINT64_C(1) << 31)
#define LIST_SEP '\x1f'

typedef struct FileKey {
        uint64_t ino, size;
        int64_t sec;
        uint32_t nsec;
        char kind;                /* 'b': birth time, 'c': change time */
} FileKey;

static int key_from_statx(const struct statx *sx, FileKey *ret) {
        if (!S_ISREG(sx->stx_mode))
                return -EBADFD;
        *ret = (FileKey) { .ino = sx->stx_ino, .size = sx->stx_size };
        if (sx->stx_mask & STATX_BTIME) {
                ret->kind = 'b';
                ret->sec = sx->stx_btime.tv_sec;
                ret->nsec = sx->stx_btime.tv_nsec;
        } else {
                ret->kind = 'c';
                ret->sec = sx->stx_ctime.tv_sec;
                ret->nsec = sx->stx_ctime.tv_nsec;
        }
        return 0;
}

static bool key_equal(const FileKey *a, const FileKey *b) {
        return a->kind == b->kind && a->ino == b->ino && a->size == b->size && a->sec == b->sec &&
               a->nsec == b->nsec;
}

typedef struct IndexRec {
        const char *identity;
        FileKey key;
        bool valid;
        const char *collective;
        int64_t interval;
        size_t agents, classes;   /* offsets into Index.pool, NULL-terminated runs */
        const char *facts;        /* compact JSON, or NULL */
} IndexRec;

typedef struct Index {
        char *buf;
        bool stamped;             /* the directory's inode and mtime when written */
        uint64_t dir_ino;
        struct timespec dir_mtime;
        IndexRec *recs;
        size_t n, alloc;
        char **pool;
        size_t n_pool, alloc_pool;
        Hashmap *by_id;           /* identity -> rec number + 1 */
} Index;

static void index_done(Index *x) {
        free(x->buf);
        free(x->recs);
        free(x->pool);
        hashmap_free(x->by_id, NULL);
        *x = (Index) {};
}

static bool parse_u64(const char *s, uint64_t *ret) {
        uint64_t v = 0;
        if (!*s)
                return false;
        for (; *s; s++) {
                if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
                        return false;
                v = v * 10 + (uint64_t) (*s - '0');
        }
        *ret = v;
        return true;
}

static bool parse_key(char *s, FileKey *k) {
        /* <kind><sec>.<nsec>:<ino>:<size> */
        uint64_t sec, nsec;
        char *dot, *c1, *c2;

        if (s[0] != 'b' && s[0] != 'c')
                return false;
        k->kind = s[0];
        dot = strchr(s, '.');
        c1 = dot ? strchr(dot, ':') : NULL;
        c2 = c1 ? strchr(c1 + 1, ':') : NULL;
        if (!c2)
                return false;
        *dot = *c1 = *c2 = '\0';
        if (!parse_u64(s + 1, &sec) || !parse_u64(dot + 1, &nsec) || nsec >= 1000000000 ||
            !parse_u64(c1 + 1, &k->ino) || !parse_u64(c2 + 1, &k->size) || sec > INT64_MAX)
                return false;
        k->sec = (int64_t) sec;
        k->nsec = (uint32_t) nsec;
        return true;
}

/* Split a LIST_SEP-separated field into the pool; returns its offset. */
static int pool_add_list(Index *x, char *s, size_t *ret) {
        *ret = x->n_pool;
        while (*s) {
                char *e = strchr(s, LIST_SEP);
                if (e)
                        *e = '\0';
                if (GREEDY_REALLOC(x->pool, x->alloc_pool, x->n_pool + 2) < 0)
                        return -ENOMEM;
                x->pool[x->n_pool++] = s;
                if (!e)
                        break;
                s = e + 1;
        }
        if (GREEDY_REALLOC(x->pool, x->alloc_pool, x->n_pool + 1) < 0)
                return -ENOMEM;
        x->pool[x->n_pool++] = NULL;
        return 0;
}

static int sha256_hex(const void *p, size_t n, char ret[65]) {
        uint8_t md[32];
        if (EVP_Digest(p, n, md, NULL, EVP_sha256(), NULL) != 1)
                return -ENOMEM;
        hex_encode(md, 32, ret);
        return 0;
}

/* Load and check dir's index. -ENOENT: none; -EBADMSG: corrupt; -ENOMEM. */
/* The index carries the directory's stamp, and the directory still has it:
 * nothing was added, removed or replaced since the index was written. */
static bool index_matches_dir(const Index *x, int dfd) {
        struct stat st;

        return x->stamped && fstat(dfd, &st) >= 0 && (uint64_t) st.st_ino == x->dir_ino &&
               st.st_mtim.tv_sec == x->dir_mtime.tv_sec && st.st_mtim.tv_nsec == x->dir_mtime.tv_nsec;
}

static int index_load(int dfd, Index *ret) {
        _cleanup_close_ int fd = -1;
        Index x = {};
        struct stat st;
        size_t size = 0;
        int r;

        fd = openat(dfd, INDEX_FILE, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
        if (fd < 0)
                return errno == ENOENT ? -ENOENT : -EBADMSG;
        if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || (uint64_t) st.st_size > INDEX_MAX)
                return -EBADMSG;
        x.buf = malloc((size_t) st.st_size + 1);
        if (!x.buf)
                return -ENOMEM;
        while (size < (size_t) st.st_size) {
                ssize_t k = read(fd, x.buf + size, (size_t) st.st_size - size);
                if (k < 0 && errno == EINTR)
                        continue;
                if (k <= 0)
                        break;
                size += (size_t) k;
        }
        x.buf[size] = '\0';

        /* Trailer: "end <count> <sha256 of everything before it>\n". */
        char *trailer, *count_s, *sum, *line, *nl;
        r = -EBADMSG;
        if (size < strlen(INDEX_MAGIC) || memcmp(x.buf, INDEX_MAGIC, strlen(INDEX_MAGIC)) != 0 ||
            x.buf[size - 1] != '\n' || strlen(x.buf) != size)
                goto fail;
        x.buf[size - 1] = '\0';
        trailer = strrchr(x.buf, '\n');
        if (!trailer || strncmp(trailer + 1, "end ", 4) != 0)
                goto fail;
        trailer++;
        count_s = trailer + 4;
        sum = strchr(count_s, ' ');
        char hex[65];
        uint64_t count;
        if (!sum || strlen(sum + 1) != 64)
                goto fail;
        *sum++ = '\0';
        if (!parse_u64(count_s, &count))
                goto fail;
        if (sha256_hex(x.buf, (size_t) (trailer - x.buf), hex) < 0) {
                r = -ENOMEM;
                goto fail;
        }
        if (memcmp(hex, sum, 64) != 0)
                goto fail;

        /* "dir <inode> <sec>.<nsec>\n", or "dir -\n" when no stamp could be taken. */
        line = x.buf + strlen(INDEX_MAGIC);
        nl = strchr(line, '\n');
        if (!nl || strncmp(line, "dir ", 4) != 0)
                goto fail;
        *nl = '\0';
        for (char *t = nl; t > line + 4 && t[-1] == ' '; t--)
                t[-1] = '\0';  /* the stamp is padded to a fixed width */
        if (!streq(line + 4, "-")) {
                char *sp = strchr(line + 4, ' '), *dot = sp ? strchr(sp, '.') : NULL;
                uint64_t sec, nsec;
                if (!dot)
                        goto fail;
                *sp = *dot = '\0';
                if (!parse_u64(line + 4, &x.dir_ino) || !parse_u64(sp + 1, &sec) || !parse_u64(dot + 1, &nsec) ||
                    nsec >= 1000000000 || sec > INT64_MAX)
                        goto fail;
                x.stamped = true;
                x.dir_mtime = (struct timespec) { (time_t) sec, (long) nsec };
        }
        trailer[-1] = '\0';
        for (line = nl + 1; line < trailer;) {
                char *f[10], *end = strchr(line, '\n');
                size_t nf = 0;
                uint64_t u;

                if (end)
                        *end = '\0';
                for (char *s = line;; ) {
                        if (nf == ELEMENTSOF(f))
                                goto fail;
                        f[nf++] = s;
                        s = strchr(s, '\t');
                        if (!s)
                                break;
                        *s++ = '\0';
                }
                if (nf != ELEMENTSOF(f) || GREEDY_REALLOC(x.recs, x.alloc, x.n + 1) < 0)
                        goto fail;
                IndexRec *rec = &x.recs[x.n];
                *rec = (IndexRec) { .identity = f[0], .collective = f[3] };
                if (!identity_is_valid(f[0]) || !parse_key(f[1], &rec->key) || (!streq(f[2], "0") &&
                    !streq(f[2], "1")) || !parse_u64(f[4], &u) || u > INT64_MAX)
                        goto fail;
                rec->valid = f[2][0] == '1';
                rec->interval = (int64_t) u;
                if (pool_add_list(&x, f[5], &rec->agents) < 0 || pool_add_list(&x, f[6], &rec->classes) < 0) {
                        r = -ENOMEM;
                        goto fail;
                }
                rec->facts = f[7][0] ? f[7] : NULL;
                /* f[8], f[9]: reserved, empty */
                x.n++;
                if (!end)
                        break;
                line = end + 1;
        }
        if (x.n != count)
                goto fail;
        *ret = x;
        return 0;
fail:
        index_done(&x);
        return r;
}

/* By name, for checking files one by one; built on first use. */
static int index_hash(Index *x) {
        if (x->by_id || x->n == 0)
                return 0;
        x->by_id = hashmap_new();
        if (!x->by_id)
                return -ENOMEM;
        for (size_t i = 0; i < x->n; i++) {
                int r = hashmap_put(x->by_id, x->recs[i].identity, (void *) (uintptr_t) (i + 1));
                if (r < 0)
                        return r;
        }
        return 0;
}

static const IndexRec *index_find(const Index *x, const char *identity) {
        if (!x->by_id)
                return NULL;
        uintptr_t i = (uintptr_t) hashmap_get(x->by_id, identity);
        return i ? &x->recs[i - 1] : NULL;
}

static int index_entry_stat(int dfd, const char *name, struct statx *sx) {
        if (statx(dfd, name, AT_SYMLINK_NOFOLLOW, STATX_TYPE | STATX_MTIME | STATX_CTIME | STATX_INO |
                  STATX_SIZE | STATX_BTIME, sx) < 0)
                return -errno;
        return 0;
}

static int node_from_rec(const Index *x, const IndexRec *rec, RegistryScanFlags flags, const struct timespec *mtime,
                         RegistryNode *n, json_t **facts) {
        *facts = NULL;
        if ((flags & REGISTRY_SCAN_FACTS) && rec->valid && rec->facts) {
                *facts = json_loads(rec->facts, 0, NULL);
                if (!*facts)
                        return -ENOMEM;
        }
        *n = (RegistryNode) {
                .identity = rec->identity,
                .mtime = mtime ? *mtime : (struct timespec) {},
                .valid = rec->valid,
                .collective = rec->valid ? rec->collective : NULL,
                .interval = rec->interval,
                .agents = rec->valid ? x->pool + rec->agents : NULL,
                .classes = rec->valid ? x->pool + rec->classes : NULL,
                .facts = *facts,
        };
        return 0;
}

typedef struct NodeScratch {
        char **agents, **classes;
} NodeScratch;

/* From a file that was read (e.registration may be NULL). */
static int node_from_entry(const RegistryEntry *e, RegistryNode *n, NodeScratch *s) {
        *n = (RegistryNode) { .identity = e->identity, .mtime = e->mtime };
        if (!e->registration)
                return 0;
        if (json_strv(e->registration->agents, &s->agents) < 0 ||
            json_strv(e->registration->classes, &s->classes) < 0)
                return -ENOMEM;
        n->valid = true;
        n->collective = e->registration->collective;
        n->interval = e->registration->interval;
        n->agents = s->agents;
        n->classes = s->classes;
        n->facts = e->registration->facts;
        return 0;
}

int registry_scan(const char *dir, RegistryScanFlags flags, registry_node_cb_t cb, void *userdata,
                  RegistryScanStats *stats) {
        _cleanup_closedir_ DIR *d = NULL;
        RegistryScanStats s = {};
        Index x = {};
        struct dirent *de;
        int r = 0;

        if (flags & REGISTRY_SCAN_FACTS)
                flags |= REGISTRY_SCAN_PARSE;
        d = opendir(dir);
        if (!d)
                return -errno;
        if ((flags & REGISTRY_SCAN_PARSE) && !(flags & REGISTRY_SCAN_NO_INDEX)) {
                r = index_load(dirfd(d), &x);
                if (r == -ENOMEM)
                        return r;
                s.index = r == -ENOENT ? REGISTRY_INDEX_MISSING : r < 0 ? REGISTRY_INDEX_INVALID :
                          REGISTRY_INDEX_USED;
                s.n_index_entries = x.n;
                r = 0;
        }

        /* Nothing was added, removed or replaced since the index was
         * written: it is the directory, no file need be looked at. */
        if (!(flags & REGISTRY_SCAN_MTIME) && index_matches_dir(&x, dirfd(d))) {
                s.stamped = true;
                for (size_t i = 0; i < x.n; i++) {
                        _cleanup_json_ json_t *facts = NULL;
                        RegistryNode n;
                        r = node_from_rec(&x, &x.recs[i], flags, NULL, &n, &facts);
                        if (r < 0)
                                break;
                        s.n_nodes++;
                        s.n_indexed++;
                        r = cb(&n, userdata);
                        if (r < 0)
                                break;
                }
                index_done(&x);
                if (stats)
                        *stats = s;
                return r;
        }
        if (index_hash(&x) < 0) {
                index_done(&x);
                return -ENOMEM;
        }

        while ((errno = 0, de = readdir(d))) {
                struct statx sx;
                FileKey key;
                RegistryNode n;

                if (!identity_is_valid(de->d_name))
                        continue;
                if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
                        continue;
                if (!(flags & REGISTRY_SCAN_PARSE)) {
                        if (index_entry_stat(dirfd(d), de->d_name, &sx) < 0 || !S_ISREG(sx.stx_mode))
                                continue;
                        n = (RegistryNode) { .identity = de->d_name,
                                             .mtime = { sx.stx_mtime.tv_sec, sx.stx_mtime.tv_nsec } };
                        s.n_nodes++;
                        r = cb(&n, userdata);
                        if (r < 0)
                                break;
                        continue;
                }

                const IndexRec *rec = index_find(&x, de->d_name);
                if (rec && index_entry_stat(dirfd(d), de->d_name, &sx) >= 0 && key_from_statx(&sx, &key) >= 0 &&
                    key_equal(&key, &rec->key)) {
                        _cleanup_json_ json_t *facts = NULL;
                        struct timespec mtime = { sx.stx_mtime.tv_sec, sx.stx_mtime.tv_nsec };
                        r = node_from_rec(&x, rec, flags, &mtime, &n, &facts);
                        if (r < 0)
                                break;
                        s.n_nodes++;
                        s.n_indexed++;
                        r = cb(&n, userdata);
                        if (r < 0)
                                break;
                        continue;
                }

                /* Not indexed, or changed since: the file itself. */
                RegistryEntry e;
                NodeScratch scratch = {};
                r = read_entry(dirfd(d), de->d_name, true, &e);
                if (r == -ENOMEM)
                        break;
                r = 0;
                if (!e.identity)
                        continue;
                r = node_from_entry(&e, &n, &scratch);
                if (r >= 0) {
                        s.n_nodes++;
                        s.n_read++;
                        r = cb(&n, userdata);
                }
                strv_free(scratch.agents);
                strv_free(scratch.classes);
                registry_entry_done(&e);
                if (r < 0)
                        break;
        }
        if (r >= 0 && errno > 0)
                r = -errno;
        index_done(&x);
        if (stats)
                *stats = s;
        return r;
}

/* ---- writing it --------------------------------------------------------- */

static bool index_string_ok(const char *s) {
        for (; *s; s++)
                if ((unsigned char) *s < 0x20 || *s == 0x7f)
                        return false;
        return true;
}

static bool index_list_ok(char *const *l) {
        for (; l && *l; l++)
                if (!**l || !index_string_ok(*l))
                        return false;
        return true;
}

static void put_list(FILE *f, char *const *l) {
        for (size_t i = 0; l && l[i]; i++) {
                if (i > 0)
                        fputc(LIST_SEP, f);
                fputs(l[i], f);
        }
}

/* One line; false when the node cannot be indexed (its file is read then). */
static bool put_node(FILE *f, const char *identity, const FileKey *k, const RegistryNode *n, const char *facts) {
        if (n->valid && (!index_string_ok(n->collective) || !index_list_ok(n->agents) ||
                         !index_list_ok(n->classes) || (facts && strpbrk(facts, "\t\n"))))
                return false;
        fprintf(f, "%s\t%c%" PRId64 ".%09" PRIu32 ":%" PRIu64 ":%" PRIu64 "\t%d\t%s\t%" PRId64 "\t", identity,
                k->kind, k->sec, k->nsec, k->ino, k->size, n->valid, n->valid ? n->collective : "",
                n->valid ? MAX(n->interval, (int64_t) 0) : 0);
        if (n->valid) {
                put_list(f, n->agents);
                fputc('\t', f);
                put_list(f, n->classes);
                fputc('\t', f);
                fputs(facts ?: "", f);
        } else
                fputs("\t\t", f);
        fputs("\t\t\n", f);
        return true;
}

int registry_index_is_current(int dfd) {
        Index x = {};
        int r;

        r = index_load(dfd, &x);
        if (r == -ENOMEM)
                return r;
        r = r >= 0 && index_matches_dir(&x, dfd);
        index_done(&x);
        return r;
}

int registry_index_write(const char *dir, RegistryScanStats *stats) {
        _cleanup_closedir_ DIR *d = NULL;
        _cleanup_free_ char *body = NULL;
        _cleanup_close_ int fd = -1;
        RegistryScanStats s = {};
        size_t body_size = 0;
        FILE *f = NULL;
        Index old = {};
        struct dirent *de;
        char tmp[64];
        int r;

        d = opendir(dir);
        if (!d)
                return -errno;
        if (mkdirat(dirfd(d), REGISTRY_INDEX_NAME, 0755) < 0 && errno != EEXIST)
                return -errno;
        /* The directory's stamp before and after the walk: when it moved, or
         * is so recent that a change within the same clock tick would not
         * move it, readers check every file against the index instead. */
        struct stat before, after;
        int64_t started = (int64_t) time(NULL);
        if (fstat(dirfd(d), &before) < 0)
                return -errno;
        r = index_load(dirfd(d), &old);
        if (r == -ENOMEM || (r >= 0 && index_hash(&old) < 0)) {
                index_done(&old);
                return -ENOMEM;
        }
        s.index = r == -ENOENT ? REGISTRY_INDEX_MISSING : r < 0 ? REGISTRY_INDEX_INVALID : REGISTRY_INDEX_USED;
        s.n_index_entries = old.n;
        f = open_memstream(&body, &body_size);
        if (!f) {
                index_done(&old);
                return -ENOMEM;
        }
        fputs(INDEX_MAGIC, f);
        long dir_line = ftell(f);
        /* Room for the stamp, filled in once the walk is done. */
        fprintf(f, "dir %-60s\n", "-");

        r = 0;
        while ((errno = 0, de = readdir(d))) {
                struct statx sx;
                FileKey key;

                if (!identity_is_valid(de->d_name))
                        continue;
                if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
                        continue;
                const IndexRec *rec = index_find(&old, de->d_name);
                if (rec && index_entry_stat(dirfd(d), de->d_name, &sx) >= 0 && key_from_statx(&sx, &key) >= 0 &&
                    key_equal(&key, &rec->key)) {
                        RegistryNode n = {
                                .valid = rec->valid, .collective = rec->collective, .interval = rec->interval,
                                .agents = old.pool + rec->agents, .classes = old.pool + rec->classes,
                        };
                        if (put_node(f, rec->identity, &key, &n, rec->facts)) {
                                s.n_nodes++;
                                s.n_indexed++;
                        }
                        continue;
                }

                /* Read through one fd, so that the key is that of what was read. */
                _cleanup_close_ int nfd = openat(dirfd(d), de->d_name,
                                                 O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK);
                if (nfd < 0)
                        continue;
                if (statx(nfd, "", AT_EMPTY_PATH, STATX_TYPE | STATX_INO | STATX_SIZE | STATX_CTIME | STATX_BTIME,
                          &sx) < 0 || key_from_statx(&sx, &key) < 0)
                        continue;
                RegistryEntry e = { .identity = strdup(de->d_name) };
                if (!e.identity) {
                        r = -ENOMEM;
                        break;
                }
                if (sx.stx_size <= REGISTRY_FILE_MAX) {
                        /* json_loadfd() reads a byte per system call. */
                        _cleanup_fclose_ FILE *nf = fdopen(nfd, "re");
                        json_error_t err;
                        if (!nf) {
                                registry_entry_done(&e);
                                continue;
                        }
                        nfd = -1;
                        e.root = json_loadf(nf, JSON_REJECT_DUPLICATES, &err);
                        char msg[MESSAGE_ERROR_MAX];
                        if (e.root && registration_from_json(e.root, &e.registration, msg) >= 0 &&
                            !streq(e.registration->identity, de->d_name))
                                e.registration = registration_free(e.registration);
                }
                RegistryNode n;
                NodeScratch scratch = {};
                _cleanup_free_ char *facts = NULL;
                r = node_from_entry(&e, &n, &scratch);
                if (r >= 0 && n.valid && n.facts) {
                        facts = json_dumps(n.facts, JSON_COMPACT | JSON_ENCODE_ANY);
                        if (!facts)
                                r = -ENOMEM;
                }
                if (r >= 0 && put_node(f, de->d_name, &key, &n, facts)) {
                        s.n_nodes++;
                        s.n_read++;
                }
                strv_free(scratch.agents);
                strv_free(scratch.classes);
                registry_entry_done(&e);
                if (r < 0)
                        break;
        }
        if (r >= 0 && errno > 0)
                r = -errno;
        index_done(&old);
        if (r >= 0 && fstat(dirfd(d), &after) < 0)
                r = -errno;
        if (fclose(f) != 0 && r >= 0)
                r = -ENOMEM;
        if (r < 0)
                return r;
        if (before.st_ino == after.st_ino && before.st_mtim.tv_sec == after.st_mtim.tv_sec &&
            before.st_mtim.tv_nsec == after.st_mtim.tv_nsec && started - (int64_t) before.st_mtim.tv_sec >= 2) {
                char stamp[80];
                snprintf(stamp, sizeof stamp, "dir %-60.60s", "");
                int k = snprintf(stamp + 4, sizeof stamp - 4, "%" PRIu64 " %" PRId64 ".%09ld",
                                 (uint64_t) before.st_ino, (int64_t) before.st_mtim.tv_sec,
                                 before.st_mtim.tv_nsec);
                stamp[4 + k] = ' ';
                memcpy(body + dir_line, stamp, 64);
                s.stamped = true;
        }

        char hex[65], trailer[128];
        r = sha256_hex(body, body_size, hex);
        if (r < 0)
                return r;
        int tl = snprintf(trailer, sizeof trailer, "end %zu %s\n", s.n_nodes, hex);

        snprintf(tmp, sizeof tmp, REGISTRY_INDEX_NAME "/registry.#%u", (unsigned) getpid());
        fd = openat(dirfd(d), tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0644);
        if (fd < 0)
                return -errno;
        r = write_all(fd, body, body_size);
        if (r >= 0)
                r = write_all(fd, trailer, (size_t) tl);
        if (r >= 0 && close(TAKE_FD(fd)) < 0)
                r = -errno;
        if (r >= 0 && renameat(dirfd(d), tmp, dirfd(d), INDEX_FILE) < 0)
                r = -errno;
        if (r < 0) {
                (void) unlinkat(dirfd(d), tmp, 0);
                return r;
        }
        if (stats)
                *stats = s;
        return 0;
}
