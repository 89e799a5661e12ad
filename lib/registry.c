/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
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

int registry_list(const char *dir, bool parse, RegistryList *ret) {
        _cleanup_closedir_ DIR *d = NULL;
        RegistryList l = {};
        size_t alloc = 0;
        struct dirent *de;
        int r;

        d = opendir(dir);
        if (!d)
                return -errno;
        while ((errno = 0, de = readdir(d))) {
                if (!identity_is_valid(de->d_name))
                        continue;
                if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
                        continue;
                if (l.n == alloc) {
                        size_t na = MAX(alloc * 2, (size_t) 64);
                        RegistryEntry *t = realloc(l.entries, na * sizeof *t);
                        if (!t) {
                                registry_list_done(&l);
                                return -ENOMEM;
                        }
                        l.entries = t;
                        alloc = na;
                }
                r = read_entry(dirfd(d), de->d_name, parse, &l.entries[l.n]);
                if (r == -ENOMEM) {
                        registry_list_done(&l);
                        return r;
                }
                if (r < 0)
                        continue; /* vanished or not a regular file */
                l.n++;
        }
        if (errno != 0) {
                r = -errno;
                registry_list_done(&l);
                return r;
        }
        if (l.n > 1)
                qsort(l.entries, l.n, sizeof *l.entries, cmp_entry);
        *ret = l;
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

/* Whether two registrations say the same thing, timestamps aside. */
static bool same_content(json_t *stored, json_t *incoming) {
        const char *key;
        json_t *v;
        static const char *const volatile_keys[] = { "msgtime", "uptime", "received" };

        json_object_foreach(incoming, key, v) {
                bool skip = false;
                for (size_t i = 0; i < ELEMENTSOF(volatile_keys); i++)
                        if (streq(key, volatile_keys[i]))
                                skip = true;
                if (skip)
                        continue;
                json_t *o = json_object_get(stored, key);
                if (!o || !json_equal(o, v))
                        return false;
        }
        json_object_foreach(stored, key, v) {
                bool skip = false;
                for (size_t i = 0; i < ELEMENTSOF(volatile_keys); i++)
                        if (streq(key, volatile_keys[i]))
                                skip = true;
                if (!skip && !json_object_get(incoming, key))
                        return false;
        }
        return true;
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
        const char *identity = reg->identity;
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *body = NULL;
        char tmp[300];
        struct stat st;
        bool exists;
        int r;

        if (!identity_is_valid(identity))
                return -EINVAL;

        exists = fstatat(dirfd, identity, &st, AT_SYMLINK_NOFOLLOW) >= 0;
        if (!exists && errno != ENOENT)
                return -errno;
        if (exists && !S_ISREG(st.st_mode))
                return -EEXIST;

        if (exists) {
                /* Most registrations repeat the last one: then only the mtime moves. */
                _cleanup_close_ int rfd = openat(dirfd, identity, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
                if (rfd >= 0 && st.st_size <= (off_t) REGISTRY_FILE_MAX) {
                        FILE *f = fdopen(rfd, "re");
                        if (f) {
                                rfd = -1;
                                json_t *stored = json_loadf(f, JSON_REJECT_DUPLICATES, NULL);
                                fclose(f);
                                bool same = stored && json_is_object(stored) && same_content(stored, reg->root);
                                json_decref(stored);
                                if (same) {
                                        struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT },
                                                                  { .tv_sec = (time_t) seen_at } };
                                        if (utimensat(dirfd, identity, ts, AT_SYMLINK_NOFOLLOW) < 0)
                                                return -errno;
                                        if (ret_new)
                                                *ret_new = false;
                                        return 0;
                                }
                        }
                }
        }

        _cleanup_json_ json_t *copy = json_deep_copy(reg->root);
        if (!copy || json_object_set_new(copy, "received", json_integer(now)) < 0)
                return -ENOMEM;
        body = json_dumps(copy, JSON_COMPACT | JSON_SORT_KEYS);
        if (!body)
                return -ENOMEM;

        uint64_t rnd = 0;
        (void) random_bytes(&rnd, sizeof rnd);
        /* Not named after the identity: a 255-byte identity plus a suffix
         * would exceed NAME_MAX. */
        snprintf(tmp, sizeof tmp, ".#tmp.%016llx", (unsigned long long) rnd);

        fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0644);
        if (fd < 0)
                return -errno;
        r = write_all(fd, body, strlen(body));
        if (r >= 0)
                r = write_all(fd, "\n", 1);
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
        if (ret_new)
                *ret_new = !exists;
        return 1;
}
