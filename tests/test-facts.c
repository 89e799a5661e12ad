/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "facts.h"
#include "macro.h"
#include "tests.h"
#include "util.h"

static char tmpdir[] = "/tmp/test-facts-XXXXXX";
static bool tmpdir_made;

static void cleanup_tmpdir(void) {
        if (tmpdir_made)
                tests_rm_rf(tmpdir);
        tmpdir_made = false;
}

#define path_join tests_path

static void write_file_n(const char *dir, const char *name, const char *data, size_t n) {
        _cleanup_free_ char *p = path_join(dir, name);
        tests_write_file_n(p, data, n, 0644);
}

static void write_file(const char *dir, const char *name, const char *data) {
        write_file_n(dir, name, data, strlen(data));
}

static char *make_subdir(const char *name) {
        char *p = path_join(tmpdir, name);
        ASSERT(mkdir(p, 0755) == 0);
        return p;
}

/* The string value of key, or NULL when absent; fails when it is no string. */
static const char *fact(json_t *facts, const char *key) {
        json_t *v = json_object_get(facts, key);
        if (!v)
                return NULL;
        ASSERT(json_is_string(v));
        return json_string_value(v);
}

static bool fact_is(json_t *facts, const char *key, const char *value) {
        return streq_ptr(fact(facts, key), value);
}

static void test_missing_dir(void) {
        _cleanup_free_ char *p = path_join(tmpdir, "does-not-exist");
        _cleanup_json_ json_t *facts = NULL;

        test_begin("facts_load_dir: a missing directory is -ENOENT, a file -ENOTDIR");
        ASSERT(facts_load_dir(p, &facts) == -ENOENT);
        ASSERT(!facts);
        ASSERT(facts_load_dir("/etc/hostname", &facts) == -ENOTDIR);
        ASSERT(!facts);
        test_ok();
}

static void test_empty_dir(void) {
        _cleanup_free_ char *d = make_subdir("empty");
        _cleanup_json_ json_t *facts = NULL;

        test_begin("facts_load_dir: an empty directory yields an empty object");
        ASSERT(facts_load_dir(d, &facts) == 0);
        ASSERT(json_is_object(facts) && json_object_size(facts) == 0);
        test_ok();
}

static void test_not_a_dir(void) {
        _cleanup_free_ char *p = path_join(tmpdir, "plain-file");
        json_t *facts = (json_t *) &tests_number;

        test_begin("facts_load_dir: a file instead of a directory is an error, ret untouched");
        write_file(tmpdir, "plain-file", "a=b\n");
        ASSERT(facts_load_dir(p, &facts) < 0);
        ASSERT(facts == (json_t *) &tests_number);
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
        ASSERT(k128 && k129 && v4096 && v4097);
        memset(k128, 'k', 128), k128[128] = '\0';
        memset(k129, 'K', 129), k129[129] = '\0';
        memset(v4096, 'v', 4096), v4096[4096] = '\0';
        memset(v4097, 'w', 4097), v4097[4097] = '\0';
        ASSERT(asprintf(&kv,
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
        ASSERT(mkdir(sub, 0755) == 0);
        write_file(sub, "sub", "insubdir=1\n");
        ASSERT(symlink("no-such-target", dangling) == 0);

        ASSERT(facts_load_dir(d, &facts) == 0);
        ASSERT(json_is_object(facts));

        /* every value is a string */
        json_object_foreach(facts, key, v)
                ASSERT(json_is_string(v));

        /* JSON files */
        ASSERT(fact_is(facts, "os", "ubuntu"));          /* 30-override.json wins over 10-base.json */
        ASSERT(fact_is(facts, "cores", "16"));
        ASSERT(fact_is(facts, "virtual", "true"));
        ASSERT(fact_is(facts, "physical", "false"));
        ASSERT(fact_is(facts, "ratio", "0.1"));
        ASSERT(fact_is(facts, "big", "-12345678901"));
        ASSERT(fact_is(facts, "umlaut", "\xc3\xbc"));
        ASSERT(!fact(facts, "nested"));
        ASSERT(!fact(facts, "list"));
        ASSERT(!fact(facts, "nothing"));
        ASSERT(!fact(facts, "bad key"));
        ASSERT(!fact(facts, "broken"));
        ASSERT(!fact(facts, "array"));

        /* key=value files */
        ASSERT(fact_is(facts, "role", "web"));           /* 20-local wins over 10-base.json, stripped */
        ASSERT(fact_is(facts, "url", "http://example.com/?a=b"));
        ASSERT(fact_is(facts, "empty", ""));
        ASSERT(fact_is(facts, "utf8", "caf\xc3\xa9"));
        ASSERT(fact_is(facts, "dotted.key:with-colon_and-dash", "ok"));
        ASSERT(fact_is(facts, k128, "ok128"));
        ASSERT(fact_is(facts, "v4096", v4096));
        ASSERT(fact_is(facts, "crlf", "yes"));
        ASSERT(fact_is(facts, "last", "no newline at the end"));
        ASSERT(!fact(facts, "latin1"));
        ASSERT(!fact(facts, "overlong"));
        ASSERT(!fact(facts, k129));
        ASSERT(!fact(facts, "v4097"));
        ASSERT(!fact(facts, "bad"));
        ASSERT(!fact(facts, "bad/key"));
        ASSERT(!fact(facts, "no equals sign here"));
        ASSERT(!fact(facts, "# indented comment"));
        ASSERT(!fact(facts, ""));

        /* order, dot files, directories, dangling symlinks, NUL bytes */
        ASSERT(fact_is(facts, "order", "two"));
        ASSERT(!fact(facts, "hidden"));
        ASSERT(!fact(facts, "insubdir"));
        ASSERT(fact_is(facts, "before", "1"));
        ASSERT(fact_is(facts, "after", "1"));
        ASSERT(!fact(facts, "nul"));

        ASSERT(json_object_size(facts) == 19);
        test_ok();
}

static void test_parse_kv(void) {
        static const char text[] = "a=1\nb = 2\n=3\nc\n#d=4\ne=5";
        _cleanup_json_ json_t *obj = json_object();
        _cleanup_free_ char *buf = NULL;

        test_begin("facts_parse_kv: buffer without terminating NUL, last line without newline");
        ASSERT(obj);
        /* exactly the bytes, no NUL after them: ASan catches any read beyond */
        buf = malloc(sizeof(text) - 1);
        ASSERT(buf);
        memcpy(buf, text, sizeof(text) - 1);
        ASSERT(facts_parse_kv(obj, "test", buf, sizeof(text) - 1) == 0);
        ASSERT(json_object_size(obj) == 3);
        ASSERT(fact_is(obj, "a", "1"));
        ASSERT(fact_is(obj, "b", "2"));
        ASSERT(fact_is(obj, "e", "5"));

        /* a prefix of the buffer: "e=" */
        json_object_clear(obj);
        ASSERT(facts_parse_kv(obj, "test", buf, sizeof(text) - 2) == 0);
        ASSERT(fact_is(obj, "e", ""));

        /* nothing at all */
        json_object_clear(obj);
        ASSERT(facts_parse_kv(obj, "test", buf, 0) == 0);
        ASSERT(json_object_size(obj) == 0);

        /* later lines win within one buffer */
        ASSERT(facts_parse_kv(obj, NULL, "x=1\nx=2\n", 8) == 0);
        ASSERT(fact_is(obj, "x", "2"));

        ASSERT(facts_parse_kv(NULL, "test", "x=1", 3) == -EINVAL);
        test_ok();
}

static void test_classes(void) {
        _cleanup_free_ char *missing = path_join(tmpdir, "no-classes.txt");
        _cleanup_free_ char *empty = path_join(tmpdir, "empty-classes.txt");
        _cleanup_free_ char *full = path_join(tmpdir, "classes.txt");
        _cleanup_strv_free_ char **l = NULL;
        char **sentinel = (char **) &tests_number;

        test_begin("classes_load: a missing file yields an empty list");
        l = sentinel;
        ASSERT(classes_load(missing, &l) == 0);
        ASSERT(l != sentinel);
        ASSERT(strv_length(l) == 0);
        strv_free(l);
        l = NULL;
        test_ok();

        test_begin("classes_load: an empty file yields an empty list");
        write_file(tmpdir, "empty-classes.txt", "\n\n   \n");
        ASSERT(classes_load(empty, &l) == 0);
        ASSERT(strv_length(l) == 0);
        strv_free(l);
        l = NULL;
        test_ok();

        test_begin("classes_load: one class per line, stripped, blank lines skipped");
        write_file(tmpdir, "classes.txt", "settings\n\nwebserver\n  base::ntp  \r\n\t\ndb_client");
        ASSERT(classes_load(full, &l) == 0);
        ASSERT(strv_length(l) == 4);
        ASSERT(streq(l[0], "settings"));
        ASSERT(streq(l[1], "webserver"));
        ASSERT(streq(l[2], "base::ntp"));
        ASSERT(streq(l[3], "db_client"));
        ASSERT(l[4] == NULL);
        test_ok();

        test_begin("classes_load: a directory is an error, ret untouched");
        strv_free(l);
        l = sentinel;
        ASSERT(classes_load(tmpdir, &l) < 0);
        ASSERT(l == sentinel);
        l = NULL;
        test_ok();
}

int main(void) {
        ASSERT(mkdtemp(tmpdir));
        tmpdir_made = true;
        atexit(cleanup_tmpdir);

        test_missing_dir();
        test_empty_dir();
        test_not_a_dir();
        test_mixed_dir();
        test_parse_kv();
        test_classes();

        cleanup_tmpdir();
        printf("1..%u\n", tests_number);
        return EXIT_SUCCESS;
}
