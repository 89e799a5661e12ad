/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "facts.h"
#include "macro.h"
#include "util.h"

static unsigned test_number;
static const char *test_name;
static char tmpdir[] = "/tmp/test-facts-XXXXXX";
static bool tmpdir_made;

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(path);
}

static void cleanup_tmpdir(void) {
        if (tmpdir_made)
                (void) nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
        tmpdir_made = false;
}

#define CHECK(expr)                                                                             \
        do {                                                                                    \
                if (!(expr)) {                                                                  \
                        printf("not ok %u - %s\n", test_number, strna(test_name));              \
                        fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__, #expr); \
                        cleanup_tmpdir();                                                       \
                        exit(EXIT_FAILURE);                                                     \
                }                                                                               \
        } while (0)

static void test_begin(const char *name) {
        test_number++;
        test_name = name;
}

static void test_ok(void) {
        printf("ok %u - %s\n", test_number, test_name);
        fflush(stdout);
}

static char *path_join(const char *dir, const char *name) {
        char *p = NULL;
        CHECK(asprintf(&p, "%s/%s", dir, name) >= 0);
        return p;
}

static void write_file_n(const char *dir, const char *name, const char *data, size_t n) {
        _cleanup_free_ char *p = path_join(dir, name);
        _cleanup_close_ int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

        CHECK(fd >= 0);
        CHECK(write(fd, data, n) == (ssize_t) n);
}

static void write_file(const char *dir, const char *name, const char *data) {
        write_file_n(dir, name, data, strlen(data));
}

static char *make_subdir(const char *name) {
        char *p = path_join(tmpdir, name);
        CHECK(mkdir(p, 0755) == 0);
        return p;
}

/* The string value of key, or NULL when absent; fails when it is no string. */
static const char *fact(json_t *facts, const char *key) {
        json_t *v = json_object_get(facts, key);
        if (!v)
                return NULL;
        CHECK(json_is_string(v));
        return json_string_value(v);
}

static bool fact_is(json_t *facts, const char *key, const char *value) {
        return streq_ptr(fact(facts, key), value);
}

static void test_missing_dir(void) {
        _cleanup_free_ char *p = path_join(tmpdir, "does-not-exist");
        _cleanup_json_ json_t *facts = NULL;

        test_begin("facts_load_dir: a missing directory is -ENOENT, a file -ENOTDIR");
        CHECK(facts_load_dir(p, &facts) == -ENOENT);
        CHECK(!facts);
        CHECK(facts_load_dir("/etc/hostname", &facts) == -ENOTDIR);
        CHECK(!facts);
        test_ok();
}

static void test_empty_dir(void) {
        _cleanup_free_ char *d = make_subdir("empty");
        _cleanup_json_ json_t *facts = NULL;

        test_begin("facts_load_dir: an empty directory yields an empty object");
        CHECK(facts_load_dir(d, &facts) == 0);
        CHECK(json_is_object(facts) && json_object_size(facts) == 0);
        test_ok();
}

static void test_not_a_dir(void) {
        _cleanup_free_ char *p = path_join(tmpdir, "plain-file");
        json_t *facts = (json_t *) &test_number;

        test_begin("facts_load_dir: a file instead of a directory is an error, ret untouched");
        write_file(tmpdir, "plain-file", "a=b\n");
        CHECK(facts_load_dir(p, &facts) < 0);
        CHECK(facts == (json_t *) &test_number);
        test_ok();
}

static void test_mixed_dir(void) {
        _cleanup_free_ char *d = make_subdir("facts.d");
        _cleanup_free_ char *sub = path_join(d, "40-dir");
        _cleanup_free_ char *dangling = path_join(d, "80-dangling");
        _cleanup_free_ char *k128 = NULL, *k129 = NULL, *v4096 = NULL, *v4097 = NULL, *kv = NULL;
        static const char nul_text[] = "before=1\nnul=a\0b\nafter=1\n";
        _cleanup_json_ json_t *facts = NULL;
        const char *key;
        json_t *v;

        test_begin("facts_load_dir: JSON and key=value files, lexical order, invalid entries skipped");

        write_file(d, "10-base.json",
                   "{ \"os\": \"debian\", \"role\": \"base\", \"cores\": 4, \"virtual\": true,"
                   "  \"physical\": false, \"ratio\": 0.1, \"big\": -12345678901,"
                   "  \"nested\": { \"a\": 1 }, \"list\": [ 1, 2 ], \"nothing\": null,"
                   "  \"bad key\": \"x\", \"umlaut\": \"\\u00fc\" }");

        /* A key of 128 characters is fine, 129 is not; values up to 4096 bytes. */
        k128 = malloc(129);
        k129 = malloc(130);
        v4096 = malloc(4097);
        v4097 = malloc(4098);
        CHECK(k128 && k129 && v4096 && v4097);
        memset(k128, 'k', 128), k128[128] = '\0';
        memset(k129, 'K', 129), k129[129] = '\0';
        memset(v4096, 'v', 4096), v4096[4096] = '\0';
        memset(v4097, 'w', 4097), v4097[4097] = '\0';
        CHECK(asprintf(&kv,
                       "# a comment\n"
                       "\n"
                       "   \t\n"
                       "  role = web  \n"
                       "no equals sign here\n"
                       " = value without key\n"
                       "bad key=1\n"
                       "bad/key=1\n"
                       "url=http://example.com/?a=b\n"
                       "empty=\n"
                       "latin1=caf\xe9\n"
                       "overlong=\xc0\xaf\n"
                       "utf8=caf\xc3\xa9\n"
                       "dotted.key:with-colon_and-dash=ok\n"
                       "  # indented comment=not a fact\n"
                       "%s=ok128\n"
                       "%s=bad129\n"
                       "v4096=%s\n"
                       "v4097=%s\n"
                       "crlf=yes\r\n"
                       "last=no newline at the end",
                       k128, k129, v4096, v4097) >= 0);
        write_file(d, "20-local", kv);

        write_file(d, "30-override.json", "{ \"os\": \"ubuntu\", \"cores\": \"16\" }");
        /* Lexical, not numeric: "10-order" < "2-order" < "20-local". */
        write_file(d, "10-order", "order=ten\n");
        write_file(d, "2-order", "order=two\n");
        write_file(d, ".hidden", "hidden=1\n");
        write_file(d, ".hidden.json", "{ \"hidden\": \"1\" }");
        write_file(d, "50-broken.json", "{ \"broken\": ");
        write_file(d, "60-array.json", "[ \"array\" ]");
        write_file(d, "65-empty", "");
        write_file_n(d, "66-nul", nul_text, sizeof(nul_text) - 1);
        CHECK(mkdir(sub, 0755) == 0);
        write_file(sub, "sub", "insubdir=1\n");
        CHECK(symlink("no-such-target", dangling) == 0);

        CHECK(facts_load_dir(d, &facts) == 0);
        CHECK(json_is_object(facts));

        /* every value is a string */
        json_object_foreach(facts, key, v)
                CHECK(json_is_string(v));

        /* JSON files */
        CHECK(fact_is(facts, "os", "ubuntu"));          /* 30-override.json wins over 10-base.json */
        CHECK(fact_is(facts, "cores", "16"));
        CHECK(fact_is(facts, "virtual", "true"));
        CHECK(fact_is(facts, "physical", "false"));
        CHECK(fact_is(facts, "ratio", "0.1"));
        CHECK(fact_is(facts, "big", "-12345678901"));
        CHECK(fact_is(facts, "umlaut", "\xc3\xbc"));
        CHECK(!fact(facts, "nested"));
        CHECK(!fact(facts, "list"));
        CHECK(!fact(facts, "nothing"));
        CHECK(!fact(facts, "bad key"));
        CHECK(!fact(facts, "broken"));
        CHECK(!fact(facts, "array"));

        /* key=value files */
        CHECK(fact_is(facts, "role", "web"));           /* 20-local wins over 10-base.json, stripped */
        CHECK(fact_is(facts, "url", "http://example.com/?a=b"));
        CHECK(fact_is(facts, "empty", ""));
        CHECK(fact_is(facts, "utf8", "caf\xc3\xa9"));
        CHECK(fact_is(facts, "dotted.key:with-colon_and-dash", "ok"));
        CHECK(fact_is(facts, k128, "ok128"));
        CHECK(fact_is(facts, "v4096", v4096));
        CHECK(fact_is(facts, "crlf", "yes"));
        CHECK(fact_is(facts, "last", "no newline at the end"));
        CHECK(!fact(facts, "latin1"));
        CHECK(!fact(facts, "overlong"));
        CHECK(!fact(facts, k129));
        CHECK(!fact(facts, "v4097"));
        CHECK(!fact(facts, "bad"));
        CHECK(!fact(facts, "bad/key"));
        CHECK(!fact(facts, "no equals sign here"));
        CHECK(!fact(facts, "# indented comment"));
        CHECK(!fact(facts, ""));

        /* order, dot files, directories, dangling symlinks, NUL bytes */
        CHECK(fact_is(facts, "order", "two"));
        CHECK(!fact(facts, "hidden"));
        CHECK(!fact(facts, "insubdir"));
        CHECK(fact_is(facts, "before", "1"));
        CHECK(fact_is(facts, "after", "1"));
        CHECK(!fact(facts, "nul"));

        CHECK(json_object_size(facts) == 19);
        test_ok();
}

static void test_parse_kv(void) {
        static const char text[] = "a=1\nb = 2\n=3\nc\n#d=4\ne=5";
        _cleanup_json_ json_t *obj = json_object();
        _cleanup_free_ char *buf = NULL;

        test_begin("facts_parse_kv: buffer without terminating NUL, last line without newline");
        CHECK(obj);
        /* exactly the bytes, no NUL after them: ASan catches any read beyond */
        buf = malloc(sizeof(text) - 1);
        CHECK(buf);
        memcpy(buf, text, sizeof(text) - 1);
        CHECK(facts_parse_kv(obj, "test", buf, sizeof(text) - 1) == 0);
        CHECK(json_object_size(obj) == 3);
        CHECK(fact_is(obj, "a", "1"));
        CHECK(fact_is(obj, "b", "2"));
        CHECK(fact_is(obj, "e", "5"));

        /* a prefix of the buffer: "e=" */
        json_object_clear(obj);
        CHECK(facts_parse_kv(obj, "test", buf, sizeof(text) - 2) == 0);
        CHECK(fact_is(obj, "e", ""));

        /* nothing at all */
        json_object_clear(obj);
        CHECK(facts_parse_kv(obj, "test", buf, 0) == 0);
        CHECK(json_object_size(obj) == 0);

        /* later lines win within one buffer */
        CHECK(facts_parse_kv(obj, NULL, "x=1\nx=2\n", 8) == 0);
        CHECK(fact_is(obj, "x", "2"));

        CHECK(facts_parse_kv(NULL, "test", "x=1", 3) == -EINVAL);
        test_ok();
}

static void test_classes(void) {
        _cleanup_free_ char *missing = path_join(tmpdir, "no-classes.txt");
        _cleanup_free_ char *empty = path_join(tmpdir, "empty-classes.txt");
        _cleanup_free_ char *full = path_join(tmpdir, "classes.txt");
        _cleanup_strv_free_ char **l = NULL;
        char **sentinel = (char **) &test_number;

        test_begin("classes_load: a missing file yields an empty list");
        l = sentinel;
        CHECK(classes_load(missing, &l) == 0);
        CHECK(l != sentinel);
        CHECK(strv_length(l) == 0);
        strv_free(l);
        l = NULL;
        test_ok();

        test_begin("classes_load: an empty file yields an empty list");
        write_file(tmpdir, "empty-classes.txt", "\n\n   \n");
        CHECK(classes_load(empty, &l) == 0);
        CHECK(strv_length(l) == 0);
        strv_free(l);
        l = NULL;
        test_ok();

        test_begin("classes_load: one class per line, stripped, blank lines skipped");
        write_file(tmpdir, "classes.txt", "settings\n\nwebserver\n  base::ntp  \r\n\t\ndb_client");
        CHECK(classes_load(full, &l) == 0);
        CHECK(strv_length(l) == 4);
        CHECK(streq(l[0], "settings"));
        CHECK(streq(l[1], "webserver"));
        CHECK(streq(l[2], "base::ntp"));
        CHECK(streq(l[3], "db_client"));
        CHECK(l[4] == NULL);
        test_ok();

        test_begin("classes_load: a directory is an error, ret untouched");
        strv_free(l);
        l = sentinel;
        CHECK(classes_load(tmpdir, &l) < 0);
        CHECK(l == sentinel);
        l = NULL;
        test_ok();
}

int main(void) {
        CHECK(mkdtemp(tmpdir));
        tmpdir_made = true;

        test_missing_dir();
        test_empty_dir();
        test_not_a_dir();
        test_mixed_dir();
        test_parse_kv();
        test_classes();

        cleanup_tmpdir();
        printf("1..%u\n", test_number);
        return EXIT_SUCCESS;
}
