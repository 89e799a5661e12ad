/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <sys/stat.h>

#include "checks.h"
#include "macro.h"
#include "message.h"
#include "registry.h"
#include "tests.h"
#include "util.h"

static char tmpdir[] = "/tmp/test-checks-XXXXXX";
static bool tmpdir_made;

static void cleanup_tmpdir(void) {
        if (tmpdir_made)
                tests_rm_rf(tmpdir);
        tmpdir_made = false;
}

static json_t *checks_of(int disk, const char *disk_out, int load) {
        json_t *c = json_object();
        json_object_set_new(c, "check_disk", check_result_build(disk, disk_out, "free=1", 1000, 1700000000));
        json_object_set_new(c, "check_load", check_result_build(load, "LOAD", "", 10, 1700000000));
        return c;
}

static void test_validate(void) {
        char err[MESSAGE_ERROR_MAX] = "";
        _cleanup_json_ json_t *good = checks_of(0, "DISK OK", 1);

        TEST("checks_validate takes what the heartbeat builds and refuses bad states and names");
        ASSERT_OK(checks_validate(good, err));
        ASSERT_OK(checks_validate(NULL, err));
        _cleanup_json_ json_t *bad_state = json_pack("{s:{s:i, s:I}}", "check_x", "state", 4, "when", (json_int_t) 1);
        ASSERT_INT_EQ(checks_validate(bad_state, err), -EBADMSG);
        ASSERT_STR_CONTAINS(err, "\"state\" must be 0 to 3");
        _cleanup_json_ json_t *bad_name = json_pack("{s:{s:i, s:I}}", "check x", "state", 0, "when", (json_int_t) 1);
        ASSERT_INT_EQ(checks_validate(bad_name, err), -EBADMSG);
        ASSERT_STR_CONTAINS(err, "not a valid NRPE command name");
        _cleanup_json_ json_t *not_obj = json_string("x");
        ASSERT_INT_EQ(checks_validate(not_obj, err), -EBADMSG);
        TEST_OK();

        TEST("check_result_build cuts output at 1024 bytes and clamps the state");
        char big[3000];
        memset(big, 'a', sizeof big - 1);
        big[sizeof big - 1] = '\0';
        _cleanup_json_ json_t *r = check_result_build(7, big, "", 0, 1);
        ASSERT_INT_EQ(json_integer_value(json_object_get(r, "state")), 3);
        ASSERT_UINT_EQ(json_string_length(json_object_get(r, "output")), CHECK_OUTPUT_MAX);
        TEST_OK();
}

static void test_digest(void) {
        RegistryDigest a, b, c;
        _cleanup_json_ json_t *r1 = json_pack("{s:s, s:o}", "identity", "n1", "checks", checks_of(0, "DISK OK 1", 0));
        _cleanup_json_ json_t *r2 = json_pack("{s:s, s:o}", "identity", "n1", "checks", checks_of(0, "DISK OK 2", 0));
        _cleanup_json_ json_t *r3 = json_pack("{s:s, s:o}", "identity", "n1", "checks", checks_of(2, "DISK CRIT", 0));

        TEST("the registration digest covers the checks' states, not their outputs");
        ASSERT_OK(registry_digest(r1, &a));
        ASSERT_OK(registry_digest(r2, &b));
        ASSERT_OK(registry_digest(r3, &c));
        ASSERT_TRUE(memcmp(a.bytes, b.bytes, sizeof a.bytes) == 0);
        ASSERT_FALSE(memcmp(a.bytes, c.bytes, sizeof a.bytes) == 0);
        TEST_OK();
}

static void test_index(void) {
        _cleanup_close_ int dfd = -1;
        ChecksIndexWriter *w = NULL;
        ChecksIndex x = {};
        ChecksFileKey key;
        int64_t mtime;
        bool regular;
        char *names[] = { (char *) "check_disk", (char *) "check_load", NULL };
        int8_t states[] = { 0, 2 };

        dfd = open(tmpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        ASSERT_TRUE(dfd >= 0);

        TEST("no index: -ENOENT");
        ASSERT_INT_EQ(checks_index_read(dfd, &x), -ENOENT);
        TEST_OK();

        TEST("the index is written atomically and read back with keys, intervals and states");
        int fd = openat(dfd, "web1", O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        ASSERT_TRUE(fd >= 0);
        close(fd);
        ASSERT_OK(checks_file_key(dfd, "web1", &key, &mtime, &regular));
        ASSERT_TRUE(regular);
        ASSERT_OK(checks_index_writer_new(dfd, &w));
        ASSERT_OK(checks_index_writer_add(w, "web1", &key, 300, names, states, 2));
        ASSERT_OK(checks_index_writer_add(w, "bare1", &key, 60, NULL, NULL, 0));
        ASSERT_OK(checks_index_writer_commit(w));
        w = checks_index_writer_free(w);
        ASSERT_OK(checks_index_read(dfd, &x));
        ASSERT_UINT_EQ(x.n, 2);
        ASSERT_UINT_EQ(x.nodes[0].identity_len, 4);
        ASSERT_TRUE(memcmp(x.nodes[0].identity, "web1", 4) == 0);
        ASSERT_INT_EQ(x.nodes[0].interval, 300);
        ASSERT_UINT_EQ(x.nodes[0].key.ino, key.ino);
        ASSERT_INT_EQ(checks_index_state(&x.nodes[0], "check_disk"), 0);
        ASSERT_INT_EQ(checks_index_state(&x.nodes[0], "check_load"), 2);
        ASSERT_INT_EQ(checks_index_state(&x.nodes[0], "check_loa"), -ENOENT);
        ASSERT_INT_EQ(checks_index_state(&x.nodes[0], "check"), -ENOENT);
        ASSERT_UINT_EQ(x.nodes[1].identity_len, 5);
        ASSERT_TRUE(memcmp(x.nodes[1].identity, "bare1", 5) == 0);
        ASSERT_UINT_EQ(x.nodes[1].states_len, 0);
        ASSERT_INT_EQ(checks_index_state(&x.nodes[1], "check_disk"), -ENOENT);
        checks_index_done(&x);
        /* No temp file left behind. */
        ASSERT_TRUE(faccessat(dfd, CHECKS_INDEX_NAME, F_OK, 0) == 0);
        TEST_OK();

        TEST("a corrupt index is refused");
        fd = openat(dfd, CHECKS_INDEX_NAME, O_WRONLY | O_TRUNC | O_CLOEXEC);
        ASSERT_TRUE(fd >= 0);
        ASSERT_TRUE(write(fd, "muster-checks 1\nweb1 x\n", 23) == 23);
        close(fd);
        ASSERT_INT_EQ(checks_index_read(dfd, &x), -EBADMSG);
        TEST_OK();
}

/* checks_scan() must agree with the whole parse: whenever it takes a body
 * and the body without the cut parses (the collector's repeat path),
 * registration_parse() + checks_validate() take the whole body too, it is
 * the same registration but for "checks", the scanned checks are the
 * parsed ones, and the digest is the same. (When the rest does not parse,
 * the collector parses the whole body, for its verdict.) Returns what
 * checks_scan() returned, or 2 when it was taken and the rest parsed. */
static int scan_agrees(const char *body, size_t size) {
        _cleanup_registration_ Registration *whole = NULL, *reduced = NULL;
        _cleanup_json_ json_t *without = NULL;
        char err[MESSAGE_ERROR_MAX], buf[8192];
        RegistryDigest a = {}, b = {};
        ChecksScan scan;
        bool whole_ok;
        int r;

        r = checks_scan(body, size, &scan);
        whole_ok = registration_parse(body, size, 0, &whole, err) >= 0 &&
                   checks_validate(json_object_get(whole->root, "checks"), err) >= 0;
        if (r <= 0)
                return r;
        ASSERT_TRUE(scan.cut_start <= scan.cut_end && scan.cut_end <= size);
        size_t n = scan.cut_start + size - scan.cut_end;
        ASSERT_TRUE(n < sizeof buf);
        memcpy(buf, body, scan.cut_start);
        memcpy(buf + scan.cut_start, body + scan.cut_end, size - scan.cut_end);
        if (registration_parse(buf, n, 0, &reduced, err) < 0)
                return r;
        if (!whole_ok)
                test_fail(__FILE__, __LINE__, "the repeat path took a body the whole parse refuses: %.*s", (int) size,
                          body);
        without = json_deep_copy(whole->root);
        json_object_del(without, "checks");
        ASSERT_TRUE(json_equal(without, reduced->root));
        json_t *checks = json_object_get(whole->root, "checks");
        ASSERT_UINT_EQ(json_object_size(checks), scan.n);
        const char *name;
        json_t *v;
        size_t i = 0;
        json_object_foreach(checks, name, v) {
                ASSERT_UINT_EQ(strlen(name), scan.items[i].name_len);
                ASSERT_TRUE(memcmp(name, scan.items[i].name, scan.items[i].name_len) == 0);
                ASSERT_INT_EQ(json_integer_value(json_object_get(v, "state")), scan.items[i].state);
                ASSERT_INT_EQ(json_integer_value(json_object_get(v, "when")), scan.items[i].when);
                i++;
        }
        ASSERT_OK(registry_digest(whole->root, &a));
        ASSERT_OK(registry_digest_scanned(reduced->root, &scan, &b));
        ASSERT_TRUE(memcmp(a.bytes, b.bytes, sizeof a.bytes) == 0);
        return 2;
}

static int scan_agrees_str(const char *body) {
        return scan_agrees(body, strlen(body));
}

#define REG_HEAD "\"protocol\":\"muster:registration:1\",\"identity\":\"web1\",\"collective\":\"c\",\"msgtime\":1700000000,\"interval\":300"
#define RESULT(state, out) "{\"state\":" #state ",\"output\":\"" out "\",\"perfdata\":\"v=1;2;3;0\",\"duration_usec\":4567,\"when\":1700000000}"
#define FIVE "{\"check_disk\":" RESULT(0, "DISK OK - free 61 %") ",\"check_load\":" RESULT(1, "LOAD WARNING") \
             ",\"check_mem\":" RESULT(0, "MEM OK") ",\"check_ntp\":" RESULT(2, "NTP \\\"off\\\"\\n by 3 s") \
             ",\"check_procs\":" RESULT(3, "PROCS UNKNOWN")"}"

static void test_scan(void) {
        ChecksScan scan;

        TEST("checks_scan: the heartbeat's checks are read in place, wherever the member is");
        ASSERT_INT_EQ(scan_agrees_str("{" REG_HEAD ",\"checks\":" FIVE "}"), 2);
        ASSERT_INT_EQ(scan_agrees_str("{\"checks\":" FIVE "," REG_HEAD "}"), 2);
        ASSERT_INT_EQ(scan_agrees_str("{\"protocol\":\"muster:registration:1\", \"checks\" : " FIVE " , "
                                      "\"identity\":\"web1\",\"collective\":\"c\",\"msgtime\":1700000000,"
                                      "\"interval\":300,\"facts\":{\"a\":\"{[\\\"\"},\"classes\":[\"x\"]}"), 2);
        ASSERT_INT_EQ(checks_scan("{" REG_HEAD ",\"checks\":" FIVE "}", strlen("{" REG_HEAD ",\"checks\":" FIVE "}"),
                                  &scan), 1);
        ASSERT_UINT_EQ(scan.n, 5);
        ASSERT_TRUE(scan.items[3].name_len == 9 && memcmp(scan.items[3].name, "check_ntp", 9) == 0);
        ASSERT_INT_EQ(scan.items[3].state, 2);
        ASSERT_INT_EQ(scan.items[3].when, 1700000000);
        /* Indented as a person might send it. */
        _cleanup_json_ json_t *j = json_loads("{" REG_HEAD ",\"checks\":" FIVE "}", 0, NULL);
        ASSERT_NOT_NULL(j);
        _cleanup_free_ char *indented = json_dumps(j, JSON_INDENT(3));
        ASSERT_INT_EQ(scan_agrees_str(indented), 2);
        TEST_OK();

        TEST("checks_scan: no checks, empty checks, only checks");
        ASSERT_INT_EQ(scan_agrees_str("{" REG_HEAD "}"), 0);
        ASSERT_INT_EQ(scan_agrees_str("{" REG_HEAD ",\"checks\":{}}"), 2);
        ASSERT_INT_EQ(scan_agrees_str("{" REG_HEAD ",\"checks\":{ \n}}"), 2);
        ASSERT_INT_EQ(checks_scan("{\"checks\":{}}", 13, &scan), 1);
        ASSERT_UINT_EQ(scan.cut_start, 1);
        ASSERT_UINT_EQ(scan.cut_end, 12);
        ASSERT_INT_EQ(checks_scan("{}", 2, &scan), 0);
        TEST_OK();

        TEST("checks_scan: empty checks and no checks have different digests");
        _cleanup_registration_ Registration *none = NULL, *empty = NULL;
        char err[MESSAGE_ERROR_MAX];
        RegistryDigest d1, d2;
        ASSERT_OK(registration_parse("{" REG_HEAD "}", strlen("{" REG_HEAD "}"), 0, &none, err));
        ASSERT_OK(registration_parse("{" REG_HEAD ",\"checks\":{}}", strlen("{" REG_HEAD ",\"checks\":{}}"), 0, &empty,
                                     err));
        ASSERT_OK(registry_digest(none->root, &d1));
        ASSERT_OK(registry_digest(empty->root, &d2));
        ASSERT_FALSE(memcmp(d1.bytes, d2.bytes, sizeof d1.bytes) == 0);
        TEST_OK();

        TEST("checks_scan: anything outside its subset is left to the whole parse");
        static const char *const others[] = {
                /* valid, but not taken */
                "{" REG_HEAD ",\"checks\":{\"check_x\":{\"state\":0,\"output\":\"\\u00e9\",\"when\":1}}}",
                "{" REG_HEAD ",\"check\\u0073\":{\"check_x\":{\"state\":0,\"when\":1}}}",
                "{" REG_HEAD ",\"checks\":{\"check_x\":{\"state\":0,\"when\":1,\"extra\":1}}}",
                "{" REG_HEAD ",\"checks\":{\"check_x\":{\"state\":0,\"when\":1.5}}}",
                "{" REG_HEAD ",\"checks\":{\"check_x\":{\"state\":0,\"when\":1e3}}}",
                "{" REG_HEAD ",\"checks\":{\"check_x\":{\"state\":0,\"when\":1,\"output\":null}}}",
                /* refused by the whole parse */
                "{" REG_HEAD ",\"checks\":{\"check_x\":{\"state\":4,\"when\":1}}}",
                "{" REG_HEAD ",\"checks\":{\"check_x\":{\"state\":0,\"when\":-1}}}",
                "{" REG_HEAD ",\"checks\":{\"check_x\":{\"state\":0,\"when\":01}}}",
                "{" REG_HEAD ",\"checks\":{\"check_x\":{\"state\":0}}}",
                "{" REG_HEAD ",\"checks\":{\"check x\":{\"state\":0,\"when\":1}}}",
                "{" REG_HEAD ",\"checks\":{\"check_x\":{\"state\":0,\"when\":1},\"check_x\":{\"state\":0,\"when\":1}}}",
                "{" REG_HEAD ",\"checks\":{\"check_x\":{\"state\":0,\"state\":1,\"when\":1}}}",
                "{" REG_HEAD ",\"checks\":{},\"checks\":{}}",
                "{" REG_HEAD ",\"checks\":[]}",
                "{" REG_HEAD ",\"checks\":{\"check_x\":{\"state\":0,\"when\":1,\"output\":\"a\tb\"}}}",
                "{" REG_HEAD ",\"checks\":{\"check_x\":{\"state\":0,\"when\":1,\"output\":\"\xc3\"}}}",
                "{" REG_HEAD ",\"checks\":{\"check_x\":{\"state\":0,\"when\":1,\"output\":\"\\x\"}}}",
                "{" REG_HEAD ",\"checks\":{\"check_x\":{\"state\":0,\"when\":1}}",
                "[{" REG_HEAD ",\"checks\":{}}]",
        };
        for (size_t i = 0; i < ELEMENTSOF(others); i++) {
                int r = scan_agrees_str(others[i]);
                if (r != -EAGAIN)
                        test_fail(__FILE__, __LINE__, "checks_scan(%s) = %d, want -EAGAIN", others[i], r);
        }
        /* Longer than 1024 bytes of output, more than 64 checks. */
        char big[8192];
        int k = snprintf(big, sizeof big, "{" REG_HEAD ",\"checks\":{\"check_x\":{\"state\":0,\"when\":1,\"output\":\"");
        memset(big + k, 'a', 1025);
        snprintf(big + k + 1025, sizeof big - (size_t) k - 1025, "\"}}}");
        ASSERT_INT_EQ(scan_agrees_str(big), -EAGAIN);
        k = snprintf(big, sizeof big, "{" REG_HEAD ",\"checks\":{");
        for (int c = 0; c < 65; c++)
                k += snprintf(big + k, sizeof big - (size_t) k, "%s\"c%d\":{\"state\":0,\"when\":1}", c ? "," : "", c);
        snprintf(big + k, sizeof big - (size_t) k, "}}");
        ASSERT_INT_EQ(scan_agrees_str(big), -EAGAIN);
        /* UTF-8 in an output is taken when it is valid. */
        ASSERT_INT_EQ(scan_agrees_str("{" REG_HEAD ",\"checks\":{\"check_t\":{\"state\":0,\"when\":1,\"output\":"
                                      "\"TEMP OK 41 \xc2\xb0" "C\"}}}"), 2);
        TEST_OK();

        TEST("checks_scan: 50,000 mutated bodies, never taken where the whole parse refuses, always agreeing");
        static const char *const seeds[] = {
                "{" REG_HEAD ",\"checks\":" FIVE "}",
                "{\"checks\":" FIVE "," REG_HEAD "}",
                "{" REG_HEAD ",\"checks\":{\"check_x\":{\"state\":0,\"when\":1}},\"facts\":{\"a\":\"b\"}}",
        };
        static const char alphabet[] = "\"{}[],:\\ 0123456789u-.eE\t\n\x01\x80\xc3\xbf" "abc";
        unsigned seed = 1;
        size_t taken = 0;
        for (unsigned iter = 0; iter < 50000; iter++) {
                const char *s0 = seeds[iter % ELEMENTSOF(seeds)];
                size_t len = strlen(s0);
                char m[4096];
                memcpy(m, s0, len);
                unsigned edits = 1 + rand_r(&seed) % 3;
                for (unsigned e = 0; e < edits && len > 2; e++) {
                        size_t pos = (size_t) rand_r(&seed) % len;
                        char c = alphabet[rand_r(&seed) % (sizeof alphabet - 1)];
                        switch (rand_r(&seed) % 3) {
                        case 0: /* replace */
                                m[pos] = c;
                                break;
                        case 1: /* delete */
                                memmove(m + pos, m + pos + 1, len - pos - 1);
                                len--;
                                break;
                        default: /* insert */
                                if (len + 1 < sizeof m) {
                                        memmove(m + pos + 1, m + pos, len - pos);
                                        m[pos] = c;
                                        len++;
                                }
                        }
                }
                if (scan_agrees(m, len) == 2)
                        taken++;
        }
        /* Some mutations leave a valid body (a digit changed): those are taken. */
        fprintf(stderr, "# %zu of 50000 mutated bodies taken by the repeat path\n", taken);
        ASSERT_TRUE(taken > 250);
        TEST_OK();
}

int main(void) {
        ASSERT_NOT_NULL(mkdtemp(tmpdir));
        tmpdir_made = true;
        atexit(cleanup_tmpdir);
        test_validate();
        test_digest();
        test_scan();
        test_index();
        return 0;
}
