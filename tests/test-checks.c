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
        ASSERT_STR_EQ(x.nodes[0].identity, "web1");
        ASSERT_INT_EQ(x.nodes[0].interval, 300);
        ASSERT_UINT_EQ(x.nodes[0].key.ino, key.ino);
        ASSERT_INT_EQ(checks_index_state(&x.nodes[0], "check_disk"), 0);
        ASSERT_INT_EQ(checks_index_state(&x.nodes[0], "check_load"), 2);
        ASSERT_INT_EQ(checks_index_state(&x.nodes[0], "check_loa"), -ENOENT);
        ASSERT_INT_EQ(checks_index_state(&x.nodes[0], "check"), -ENOENT);
        ASSERT_STR_EQ(x.nodes[1].identity, "bare1");
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

int main(void) {
        ASSERT_NOT_NULL(mkdtemp(tmpdir));
        tmpdir_made = true;
        atexit(cleanup_tmpdir);
        test_validate();
        test_digest();
        test_index();
        return 0;
}
