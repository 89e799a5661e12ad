/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <sys/stat.h>

#include "filter.h"
#include "macro.h"
#include "message.h"
#include "registry.h"
#include "tests.h"
#include "util.h"

static char tmpdir[] = "/tmp/test-registry-XXXXXX";
static bool tmpdir_made;
static char *statedir;    /* tmpdir/state */

static void cleanup_tmpdir(void) {
        if (tmpdir_made)
                tests_rm_rf(tmpdir);
        tmpdir_made = false;
}

#define NOW INT64_C(1700000000)

static Registration *make_registration(const char *identity, int64_t msgtime, int64_t uptime, const char *role) {
        char *classes[] = { (char *) "web", NULL };
        char *agents[] = { (char *) "discovery", (char *) "rpcutil", (char *) "nrpe", NULL };
        char err[MESSAGE_ERROR_MAX] = "";
        Registration *r = NULL;

        json_t *facts = json_pack("{s:s, s:s}", "role", role, "os", "debian");
        json_t *j = registration_build(identity, "muster", msgtime, 300, facts, classes, agents,
                                       "0123456789abcdef0123456789abcdef", uptime, "0.1.0");
        json_decref(facts);
        ASSERT_NOT_NULL(j);
        if (registration_from_json(j, &r, err) < 0)
                test_fail(__FILE__, __LINE__, "registration_from_json: %s", err);
        json_decref(j);
        return r;
}

/* Names in dir, sorted, as one space separated string. */
static char *list_names(const char *dir) {
        char **l = NULL;
        DIR *d = opendir(dir);
        struct dirent *de;
        ASSERT_NOT_NULL(d);
        while ((de = readdir(d)))
                if (!streq(de->d_name, ".") && !streq(de->d_name, ".."))
                        ASSERT_INT_EQ(strv_extend(&l, de->d_name), 0);
        closedir(d);
        strv_sort(l);
        char *buf = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&buf, &n);
        ASSERT_NOT_NULL(f);
        for (char **i = l; i && *i; i++)
                fprintf(f, "%s%s", i == l ? "" : " ", *i);
        fclose(f);
        strv_free(l);
        return buf;
}

static json_t *load_json(const char *path) {
        json_error_t e;
        json_t *j = json_load_file(path, JSON_REJECT_DUPLICATES, &e);
        if (!j)
                test_fail(__FILE__, __LINE__, "%s: %s", path, e.text);
        return j;
}

static struct stat stat_of(const char *path) {
        struct stat st;
        if (stat(path, &st) < 0)
                test_fail(__FILE__, __LINE__, "stat(%s): %m", path);
        return st;
}

static void set_mtime(const char *path, time_t t) {
        struct timespec ts[2] = { { .tv_sec = t }, { .tv_sec = t } };
        ASSERT_INT_EQ(utimensat(AT_FDCWD, path, ts, 0), 0);
}

static void test_store(int dfd) {
        _cleanup_free_ char *path = tests_path(statedir, "node1"), *before = NULL, *after = NULL, *names = NULL;
        Registration *reg;
        bool is_new;
        json_t *j;

        TEST("registry_store: a new node's file, with \"received\"");
        reg = make_registration("node1", NOW - 5, 1000, "web");
        is_new = false;
        ASSERT_INT_EQ(registry_store(dfd, reg, NOW, NOW - 2, &is_new), 1);
        ASSERT_TRUE(is_new);
        j = load_json(path);
        ASSERT_INT_EQ(json_integer_value(json_object_get(j, "received")), NOW);
        ASSERT_STR_EQ(json_string_value(json_object_get(j, "identity")), "node1");
        ASSERT_INT_EQ(json_integer_value(json_object_get(j, "msgtime")), NOW - 5);
        ASSERT_STR_EQ(json_string_value(json_object_get(json_object_get(j, "facts"), "role")), "web");
        /* everything of the registration is in the file, and only "received" besides */
        ASSERT_INT_EQ(json_object_del(j, "received"), 0);
        ASSERT_TRUE(json_equal(j, reg->root));
        json_decref(j);
        ASSERT_INT_EQ(stat_of(path).st_mtim.tv_sec, NOW - 2);   /* mtime: when the node sent it */
        ASSERT_INT_EQ(stat_of(path).st_mode & 0777, 0644);
        registration_free(reg);
        TEST_OK();

        TEST("registry_store: same content, new timestamps: only the mtime moves");
        before = tests_read_file(path);
        set_mtime(path, 1000);
        reg = make_registration("node1", NOW + 295, 1300, "web");
        is_new = true;
        ASSERT_INT_EQ(registry_store(dfd, reg, NOW + 300, NOW + 298, &is_new), 0);
        ASSERT_FALSE(is_new);
        after = tests_read_file(path);
        ASSERT_STR_EQ(after, before);                           /* not rewritten: old msgtime, old received */
        ASSERT_INT_EQ(stat_of(path).st_mtim.tv_sec, NOW + 298);
        registration_free(reg);
        free(after);
        after = NULL;

        /* a registration with its keys in another order is the same registration */
        json_t *shuffled = json_object();
        reg = make_registration("node1", NOW + 600, 1600, "web");
        void *iter = json_object_iter(reg->root);
        char **keys = NULL;
        for (; iter; iter = json_object_iter_next(reg->root, iter))
                ASSERT_INT_EQ(strv_extend(&keys, json_object_iter_key(iter)), 0);
        for (size_t i = strv_length(keys); i > 0; i--)
                ASSERT_INT_EQ(json_object_set(shuffled, keys[i - 1], json_object_get(reg->root, keys[i - 1])), 0);
        strv_free(keys);
        Registration *reg2 = NULL;
        char err[MESSAGE_ERROR_MAX];
        ASSERT_INT_EQ(registration_from_json(shuffled, &reg2, err), 0);
        json_decref(shuffled);
        set_mtime(path, 1000);
        ASSERT_INT_EQ(registry_store(dfd, reg2, NOW + 600, NOW + 600, &is_new), 0);
        ASSERT_INT_EQ(stat_of(path).st_mtim.tv_sec, NOW + 600);
        after = tests_read_file(path);
        ASSERT_STR_EQ(after, before);
        free(after);
        after = NULL;
        registration_free(reg2);
        registration_free(reg);

        /* ret_new is optional */
        reg = make_registration("node1", NOW + 900, 1900, "web");
        ASSERT_INT_EQ(registry_store(dfd, reg, NOW + 900, NOW + 900, NULL), 0);
        registration_free(reg);
        TEST_OK();

        TEST("registry_store: a changed fact rewrites the file");
        reg = make_registration("node1", NOW + 1200, 2200, "db");
        is_new = true;
        set_mtime(path, 1000);
        ASSERT_INT_EQ(registry_store(dfd, reg, NOW + 1201, NOW + 1200, &is_new), 1);
        ASSERT_FALSE(is_new);
        j = load_json(path);
        ASSERT_STR_EQ(json_string_value(json_object_get(json_object_get(j, "facts"), "role")), "db");
        ASSERT_INT_EQ(json_integer_value(json_object_get(j, "received")), NOW + 1201);
        ASSERT_INT_EQ(json_integer_value(json_object_get(j, "msgtime")), NOW + 1200);
        json_decref(j);
        ASSERT_INT_EQ(stat_of(path).st_mtim.tv_sec, NOW + 1200);
        registration_free(reg);

        /* a key gone missing is a change too */
        reg = make_registration("node1", NOW + 1500, 2500, "db");
        json_t *fewer = json_deep_copy(reg->root);
        registration_free(reg);
        ASSERT_INT_EQ(json_object_del(fewer, "boot_id"), 0);
        ASSERT_INT_EQ(registration_from_json(fewer, &reg, err), 0);
        json_decref(fewer);
        ASSERT_INT_EQ(registry_store(dfd, reg, NOW + 1500, NOW + 1500, &is_new), 1);
        j = load_json(path);
        ASSERT_NULL(json_object_get(j, "boot_id"));
        json_decref(j);
        registration_free(reg);

        /* a file that no longer parses is rewritten */
        tests_write_file(path, "{ garbage");
        reg = make_registration("node1", NOW + 1800, 2800, "db");
        is_new = true;
        ASSERT_INT_EQ(registry_store(dfd, reg, NOW + 1800, NOW + 1800, &is_new), 1);
        ASSERT_FALSE(is_new);
        j = load_json(path);
        ASSERT_INT_EQ(json_integer_value(json_object_get(j, "msgtime")), NOW + 1800);
        json_decref(j);
        registration_free(reg);
        TEST_OK();

        TEST("registry_store: no temp files are left behind");
        reg = make_registration("node2", NOW, 1, "web");
        ASSERT_INT_EQ(registry_store(dfd, reg, NOW, NOW, &is_new), 1);
        ASSERT_TRUE(is_new);
        registration_free(reg);
        names = list_names(statedir);
        ASSERT_STR_EQ(names, "node1 node2");
        TEST_OK();
}

static void test_hostile(int dfd) {
        static const char *const hostile[] = {
                "../x", "..", ".", "", "/x", "a/b", ".hidden", ".#x", "x\n", "x y", "\xc3\xa9",
        };
        _cleanup_free_ char *before = list_names(statedir), *parent_before = list_names(tmpdir);

        TEST("registry_store: hostile identities are refused, nothing is created anywhere");
        Registration *good = make_registration("node9", NOW, 1, "web");
        for (size_t i = 0; i < ELEMENTSOF(hostile); i++) {
                json_t *root = json_deep_copy(good->root);
                ASSERT_INT_EQ(json_object_set_new(root, "identity", json_string(hostile[i])), 0);

                /* registration_from_json will not make such a registration ... */
                Registration *refused = NULL;
                char err[MESSAGE_ERROR_MAX] = "";
                ASSERT_INT_EQ(registration_from_json(root, &refused, err), -EBADMSG);
                ASSERT_NULL(refused);

                /* ... so fill one in by hand */
                Registration r = *good;
                r.root = root;
                r.identity = hostile[i];
                bool is_new = true;
                int k = registry_store(dfd, &r, NOW, NOW, &is_new);
                if (k != -EINVAL)
                        test_fail(__FILE__, __LINE__, "registry_store(\"%s\") = %d, want -EINVAL", hostile[i], k);
                ASSERT_TRUE(is_new);   /* untouched on failure */
                json_decref(root);
        }
        /* an absolute path would make openat() ignore dirfd */
        Registration r = *good;
        r.identity = "/tmp/registry-absolute-path-test";
        ASSERT_INT_EQ(registry_store(dfd, &r, NOW, NOW, NULL), -EINVAL);
        ASSERT_INT_EQ(access("/tmp/registry-absolute-path-test", F_OK), -1);
        /* a NUL inside the JSON identity cannot sneak past either */
        json_t *root = json_deep_copy(good->root);
        ASSERT_INT_EQ(json_object_set_new(root, "identity", json_stringn("node9\0/../x", 11)), 0);
        Registration *refused = NULL;
        char err[MESSAGE_ERROR_MAX] = "";
        ASSERT_INT_EQ(registration_from_json(root, &refused, err), -EBADMSG);
        ASSERT_STR_CONTAINS(err, "NUL");
        json_decref(root);
        registration_free(good);

        _cleanup_free_ char *after = list_names(statedir), *parent_after = list_names(tmpdir);
        ASSERT_STR_EQ(after, before);
        ASSERT_STR_EQ(parent_after, parent_before);
        _cleanup_free_ char *x = tests_path(tmpdir, "x");
        ASSERT_INT_EQ(access(x, F_OK), -1);
        TEST_OK();

        TEST("registry_store: a symlink in the way is not followed");
        _cleanup_free_ char *target = tests_path(tmpdir, "target"), *link = tests_path(statedir, "nodelink");
        tests_write_file(target, "precious\n");
        ASSERT_INT_EQ(symlink(target, link), 0);
        Registration *lreg = make_registration("nodelink", NOW, 1, "web");
        ASSERT_TRUE(registry_store(dfd, lreg, NOW, NOW, NULL) < 0);
        registration_free(lreg);
        _cleanup_free_ char *content = tests_read_file(target);
        ASSERT_STR_EQ(content, "precious\n");
        struct stat lst;
        ASSERT_INT_EQ(lstat(link, &lst), 0);
        ASSERT_TRUE(S_ISLNK(lst.st_mode));
        ASSERT_INT_EQ(unlink(link), 0);
        TEST_OK();

        TEST("registry_store: a directory in the way is not replaced");
        _cleanup_free_ char *dpath = tests_path(statedir, "nodedir");
        ASSERT_INT_EQ(mkdir(dpath, 0755), 0);
        Registration *reg = make_registration("nodedir", NOW, 1, "web");
        ASSERT_TRUE(registry_store(dfd, reg, NOW, NOW, NULL) < 0);
        registration_free(reg);
        struct stat st = stat_of(dpath);
        ASSERT_TRUE(S_ISDIR(st.st_mode));
        ASSERT_INT_EQ(rmdir(dpath), 0);
        TEST_OK();
}

static void test_list(void) {
        _cleanup_free_ char *dir = tests_path(tmpdir, "list");
        RegistryList l = {};
        int dfd;

        ASSERT_INT_EQ(mkdir(dir, 0755), 0);
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ASSERT_TRUE(dfd >= 0);

        TEST("registry_list: sorted, dot files and invalid names skipped, bad files flagged");
        Registration *reg;
        static const char *const ids[] = { "web2", "db1", "web10" };
        for (size_t i = 0; i < ELEMENTSOF(ids); i++) {
                reg = make_registration(ids[i], NOW, 1, "web");
                ASSERT_INT_EQ(registry_store(dfd, reg, NOW, NOW - (int64_t) i, NULL), 1);
                registration_free(reg);
        }
        /* same JSON as web2, under other names */
        _cleanup_free_ char *web2 = tests_path(dir, "web2"), *body = tests_read_file(web2);
        static const char *const others[] = { ".hidden", ".#web2.0123456789abcdef", "bad name", "caf\xc3\xa9" };
        for (size_t i = 0; i < ELEMENTSOF(others); i++) {
                _cleanup_free_ char *p = tests_path(dir, others[i]);
                tests_write_file(p, body);
        }
        _cleanup_free_ char *impostor = tests_path(dir, "impostor"), *garbage = tests_path(dir, "garbage"),
                            *empty = tests_path(dir, "empty"), *array = tests_path(dir, "array"),
                            *partial = tests_path(dir, "partial"), *subdir = tests_path(dir, "subdir");
        tests_write_file(impostor, body);                       /* says it is web2 */
        tests_write_file(garbage, "{ this is not json");
        tests_write_file(empty, "");
        tests_write_file(array, "[1,2,3]\n");
        tests_write_file(partial, "{\"protocol\":\"muster:registration:1\",\"identity\":\"partial\"}\n");
        ASSERT_INT_EQ(mkdir(subdir, 0755), 0);
        /* neither a FIFO (no hang) nor a symlink is a node's file */
        _cleanup_free_ char *fifo = tests_path(dir, "fifo"), *lnk = tests_path(dir, "link");
        ASSERT_INT_EQ(mkfifo(fifo, 0644), 0);
        ASSERT_INT_EQ(symlink(web2, lnk), 0);

        ASSERT_INT_EQ(registry_list(dir, true, &l), 0);
        static const char *const want[] = { "array", "db1", "empty", "garbage", "impostor", "partial", "web10",
                                            "web2" };
        if (l.n != ELEMENTSOF(want)) {
                for (size_t i = 0; i < l.n; i++)
                        fprintf(stderr, "entry %zu: %s\n", i, l.entries[i].identity);
                test_fail(__FILE__, __LINE__, "%zu entries, want %zu", l.n, ELEMENTSOF(want));
        }
        for (size_t i = 0; i < l.n; i++)
                ASSERT_STR_EQ(l.entries[i].identity, want[i]);

        /* valid ones */
        RegistryEntry *e = &l.entries[1];
        ASSERT_NOT_NULL(e->registration);
        ASSERT_NOT_NULL(e->root);
        ASSERT_STR_EQ(e->registration->identity, "db1");
        ASSERT_INT_EQ(e->interval, 300);
        ASSERT_INT_EQ(e->mtime.tv_sec, NOW - 1);
        ASSERT_NOT_NULL(l.entries[6].registration);
        ASSERT_NOT_NULL(l.entries[7].registration);
        ASSERT_INT_EQ(l.entries[7].mtime.tv_sec, NOW);
        /* invalid JSON */
        ASSERT_NULL(l.entries[2].registration);
        ASSERT_NULL(l.entries[3].registration);
        ASSERT_NULL(l.entries[3].root);
        ASSERT_INT_EQ(l.entries[3].interval, 0);
        /* valid JSON, but not a registration */
        ASSERT_NULL(l.entries[0].registration);
        ASSERT_NULL(l.entries[5].registration);
        /* a file whose JSON names another node */
        ASSERT_NULL(l.entries[4].registration);
        ASSERT_INT_EQ(l.entries[4].interval, 0);
        registry_list_done(&l);
        ASSERT_INT_EQ(l.n, 0);
        ASSERT_NULL(l.entries);

        /* without parsing: names and mtimes only */
        ASSERT_INT_EQ(registry_list(dir, false, &l), 0);
        ASSERT_INT_EQ(l.n, ELEMENTSOF(want));
        for (size_t i = 0; i < l.n; i++) {
                ASSERT_STR_EQ(l.entries[i].identity, want[i]);
                ASSERT_NULL(l.entries[i].registration);
        }
        registry_list_done(&l);
        TEST_OK();

        TEST("registry_list: missing dir, empty dir");
        _cleanup_free_ char *missing = tests_path(tmpdir, "missing"), *emptydir = tests_path(tmpdir, "emptydir");
        ASSERT_INT_EQ(registry_list(missing, true, &l), -ENOENT);
        ASSERT_INT_EQ(mkdir(emptydir, 0755), 0);
        ASSERT_INT_EQ(registry_list(emptydir, true, &l), 0);
        ASSERT_INT_EQ(l.n, 0);
        registry_list_done(&l);
        TEST_OK();

        TEST("registry_read and registry_entry_node_info");
        RegistryEntry r = {};
        ASSERT_INT_EQ(registry_read(dir, "web10", &r), 0);
        ASSERT_STR_EQ(r.identity, "web10");
        ASSERT_NOT_NULL(r.registration);
        ASSERT_INT_EQ(r.interval, 300);
        NodeInfo ni;
        char **classes = NULL, **agents = NULL;
        ASSERT_INT_EQ(registry_entry_node_info(&r, &ni, &classes, &agents), 0);
        ASSERT_STR_EQ(ni.identity, "web10");
        ASSERT_STR_EQ(json_string_value(json_object_get(ni.facts, "role")), "web");
        ASSERT_INT_EQ(strv_length(classes), 1);
        ASSERT_STR_EQ(classes[0], "web");
        ASSERT_INT_EQ(strv_length(agents), 3);
        ASSERT_TRUE(ni.classes == classes);
        ASSERT_TRUE(ni.agents == agents);
        strv_free(classes);
        strv_free(agents);
        registry_entry_done(&r);

        ASSERT_INT_EQ(registry_read(dir, "garbage", &r), 0);
        ASSERT_NULL(r.registration);
        ASSERT_INT_EQ(registry_entry_node_info(&r, &ni, &classes, &agents), 0);
        ASSERT_STR_EQ(ni.identity, "garbage");
        ASSERT_NULL(ni.facts);
        ASSERT_NULL(classes);
        registry_entry_done(&r);

        ASSERT_INT_EQ(registry_read(dir, "nobody", &r), -ENOENT);
        ASSERT_INT_EQ(registry_read(dir, "../list/web2", &r), -EINVAL);
        ASSERT_INT_EQ(registry_read(dir, ".hidden", &r), -EINVAL);
        ASSERT_INT_EQ(registry_read(dir, "", &r), -EINVAL);
        TEST_OK();

        close(dfd);
}

static void test_stale(void) {
        TEST("registry_entry_is_stale: now - mtime > interval + grace");
        RegistryEntry e = { .mtime = { .tv_sec = NOW } };
        ASSERT_FALSE(registry_entry_is_stale(&e, NOW, 300, 30));
        ASSERT_FALSE(registry_entry_is_stale(&e, NOW + 329, 300, 30));
        ASSERT_FALSE(registry_entry_is_stale(&e, NOW + 330, 300, 30));   /* exactly interval + grace */
        ASSERT_TRUE(registry_entry_is_stale(&e, NOW + 331, 300, 30));
        ASSERT_TRUE(registry_entry_is_stale(&e, NOW + 86400, 300, 30));
        ASSERT_FALSE(registry_entry_is_stale(&e, NOW + 300, 300, 0));
        ASSERT_TRUE(registry_entry_is_stale(&e, NOW + 301, 300, 0));
        /* an mtime in the future (clock skew) is not stale */
        ASSERT_FALSE(registry_entry_is_stale(&e, NOW - 1000, 300, 30));
        TEST_OK();
}

/* Run last: fails against lib/registry.c as of writing (the temp file name
 * ".#<identity>.<16 hex>" is 19 bytes longer than the identity, so identities
 * of more than 236 bytes hit NAME_MAX = 255). */
static void test_long_identity(int dfd) {
        char id[256];

        TEST("registry_store: the longest valid identity (255 bytes) can be stored");
        memset(id, 'n', 255);
        id[255] = '\0';
        ASSERT_TRUE(identity_is_valid(id));
        Registration *reg = make_registration(id, NOW, 1, "web");
        bool is_new = false;
        int r = registry_store(dfd, reg, NOW, NOW, &is_new);
        registration_free(reg);
        if (r != 1)
                test_fail(__FILE__, __LINE__, "registry_store(255-byte identity) = %d (%s), want 1", r,
                          strerror(-r));
        ASSERT_TRUE(is_new);
        _cleanup_free_ char *p = tests_path(statedir, id);
        ASSERT_INT_EQ(access(p, F_OK), 0);
        TEST_OK();
}

static int count_entry(RegistryEntry *e, void *userdata) {
        size_t *n = userdata;
        ASSERT_TRUE(e->identity != NULL);
        (*n)++;
        registry_entry_done(e);
        return *n == 2 ? -ECANCELED : 0;
}

static void test_known_digest(int dfd) {
        _cleanup_free_ char *path = tests_path(statedir, "node9"), *before = NULL, *after = NULL;
        RegistryDigest known = {}, d1 = {}, d2 = {};
        Registration *reg, *later, *changed;
        bool is_new = false;

        TEST("registry_digest: timestamps do not count, facts do");
        reg = make_registration("node9", NOW, 100, "web");
        later = make_registration("node9", NOW + 300, 400, "web");
        changed = make_registration("node9", NOW + 300, 400, "db");
        ASSERT_INT_EQ(registry_digest(reg->root, &d1), 0);
        ASSERT_INT_EQ(registry_digest(later->root, &d2), 0);
        ASSERT_TRUE(d1.set && memcmp(d1.bytes, d2.bytes, sizeof d1.bytes) == 0);
        ASSERT_INT_EQ(registry_digest(changed->root, &d2), 0);
        ASSERT_TRUE(memcmp(d1.bytes, d2.bytes, sizeof d1.bytes) != 0);
        json_t *array = json_array();
        ASSERT_INT_EQ(registry_digest(array, &d2), -EINVAL);
        json_decref(array);
        TEST_OK();

        TEST("registry_store_known: a known digest is returned, repeats only move the mtime");
        ASSERT_INT_EQ(registry_store_known(dfd, reg, NOW, NOW, &known, &is_new), 1);
        ASSERT_TRUE(is_new);
        ASSERT_TRUE(known.set && memcmp(known.bytes, d1.bytes, sizeof d1.bytes) == 0);
        /* the file is not read back (the collector owns the directory): a
         * file edited behind its back is not noticed until the content changes */
        FILE *f = fopen(path, "we");
        ASSERT_TRUE(f != NULL);
        fputs("{\"edited\": true}\n", f);
        fclose(f);
        before = tests_read_file(path);
        ASSERT_INT_EQ(registry_store_known(dfd, later, NOW + 300, NOW + 300, &known, &is_new), 0);
        ASSERT_FALSE(is_new);
        ASSERT_INT_EQ(stat_of(path).st_mtim.tv_sec, NOW + 300);
        after = tests_read_file(path);
        ASSERT_STR_EQ(after, before);
        free(after);
        after = NULL;
        TEST_OK();

        TEST("registry_store_known: a changed registration is written, its digest kept");
        ASSERT_INT_EQ(registry_store_known(dfd, changed, NOW + 600, NOW + 600, &known, &is_new), 1);
        ASSERT_FALSE(is_new);
        ASSERT_INT_EQ(registry_digest(changed->root, &d2), 0);
        ASSERT_TRUE(memcmp(known.bytes, d2.bytes, sizeof d2.bytes) == 0);
        after = tests_read_file(path);
        ASSERT_TRUE(strstr(after, "\"db\"") != NULL);
        free(after);
        after = NULL;
        TEST_OK();

        TEST("registry_store_known: a file removed behind our back is written again");
        ASSERT_INT_EQ(unlinkat(dfd, "node9", 0), 0);
        ASSERT_INT_EQ(registry_store_known(dfd, changed, NOW + 900, NOW + 900, &known, &is_new), 1);
        ASSERT_TRUE(is_new);
        ASSERT_INT_EQ(stat_of(path).st_mtim.tv_sec, NOW + 900);
        TEST_OK();

        TEST("registry_store_known: an unset digest compares with the file and learns it");
        known = (RegistryDigest) {};
        ASSERT_INT_EQ(registry_store_known(dfd, changed, NOW + 1200, NOW + 1200, &known, &is_new), 0);
        ASSERT_TRUE(known.set && memcmp(known.bytes, d2.bytes, sizeof d2.bytes) == 0);
        TEST_OK();

        TEST("registry_foreach: one entry at a time; the callback can stop the walk");
        size_t n = 0;
        ASSERT_INT_EQ(registry_foreach(statedir, false, count_entry, &n), -ECANCELED);
        ASSERT_INT_EQ(n, 2);
        ASSERT_INT_EQ(registry_foreach("/nonexistent-muster-dir", false, count_entry, &n), -ENOENT);
        TEST_OK();

        ASSERT_INT_EQ(unlinkat(dfd, "node9", 0), 0);
        registration_free(reg);
        registration_free(later);
        registration_free(changed);
}

int main(void) {
        int dfd;

        ASSERT_NOT_NULL(mkdtemp(tmpdir));
        tmpdir_made = true;
        atexit(cleanup_tmpdir);
        statedir = tests_path(tmpdir, "state");
        ASSERT_INT_EQ(mkdir(statedir, 0755), 0);
        dfd = open(statedir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ASSERT_TRUE(dfd >= 0);

        test_store(dfd);
        test_known_digest(dfd);
        test_hostile(dfd);
        test_list();
        test_stale();
        test_long_identity(dfd);

        close(dfd);
        free(statedir);
        return EXIT_SUCCESS;
}
