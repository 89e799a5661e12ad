/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <inttypes.h>
#include <unistd.h>
#include <openssl/evp.h>
#include <sys/stat.h>

#include "filter.h"
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

bool registry_entry_is_stale(const RegistryEntry *e, int64_t now, int64_t interval, int64_t grace) {
        return now - (int64_t) e->mtime.tv_sec > interval + grace;
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

int registry_digest(json_t *root, RegistryDigest *ret) {
        static EVP_MD *sha256 = NULL;
        _cleanup_json_ json_t *content = NULL;
        _cleanup_free_ char *text = NULL;
        const char *key;
        json_t *v;

        if (!json_is_object(root))
                return -EINVAL;
        if (!sha256) {
                sha256 = EVP_MD_fetch(NULL, "SHA256", NULL);
                if (!sha256)
                        return -ENOMEM;
        }
        content = json_object();
        if (!content)
                return -ENOMEM;
        json_object_foreach(root, key, v)
                if (!is_volatile_key(key) && json_object_set(content, key, v) < 0)
                        return -ENOMEM;
        text = json_dumps(content, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
        if (!text)
                return -ENOMEM;
        if (EVP_Digest(text, strlen(text), ret->bytes, NULL, sha256, NULL) != 1)
                return -ENOMEM;
        ret->set = true;
        return 0;
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
        struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_sec = (time_t) seen_at } };
        return utimensat(dirfd, identity, ts, AT_SYMLINK_NOFOLLOW) < 0 ? -errno : 0;
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
        if (digest_equal(known, &incoming)) {
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

        if (exists && !known->set) {
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
