/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Who may call what: the authorization policy's parser (a line whose
 * actions are only commas is an error naming file and line, never "any
 * action"), the client key ring (reserved ids, bad files skipped with the
 * warnings it hands up, one key under two ids), and
 * what a caller may pass as $ARGn$. */

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "log.h"
#include "nrpe.h"
#include "policy.h"
#include "sign.h"
#include "tests.h"
#include "util.h"

static char tmpdir[] = "/tmp/test-policy-XXXXXX";
static bool tmpdir_made;

static void cleanup_tmpdir(void) {
        if (tmpdir_made)
                tests_rm_rf(tmpdir);
        tmpdir_made = false;
}

/* policy_parse(text), with what it logged. */
static int parse_logged(const char *text, Policy **ret, char **ret_log) {
        TestsCapture cap;
        tests_capture_begin(&cap);
        int r = policy_parse("/etc/muster/policy.conf", text, ret);
        *ret_log = tests_capture_end(&cap);
        return r;
}

static void test_policy(void) {
        Policy *p = NULL;
        char *logged = NULL;

        TEST("policy: actions that are only commas are a parse error naming file and line");
        static const char *const bad[] = {
                "allow x nrpe ,\n",
                "allow x nrpe ,,,\n",
                "allow x nrpe runcommand,\n",
                "allow x nrpe ,runcommand\n",
                "allow x nrpe runcommand,,inventory\n",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                _cleanup_free_ char *text = NULL;
                ASSERT_TRUE(asprintf(&text, "policy default deny\n# comment\n%s", bad[i]) > 0);
                p = NULL;
                ASSERT_INT_EQ(parse_logged(text, &p, &logged), -EINVAL);
                ASSERT_NULL(p);
                ASSERT_STR_CONTAINS(logged, "/etc/muster/policy.conf:3:");
                ASSERT_STR_CONTAINS(logged, "empty action");
                free(logged);
        }
        TEST_OK();

        TEST("policy: first match wins, lists of actions, *, and the default");
        ASSERT_INT_EQ(parse_logged("policy default deny\n"
                                   "deny  mallory *         *\n"
                                   "allow ops     rpcutil   inventory,daemon_stats\n"
                                   "allow *       discovery ping\n"
                                   "allow nagios  nrpe      *\n", &p, &logged), 0);
        ASSERT_STR_EQ(logged, "");
        free(logged);
        ASSERT_TRUE(policy_allows(p, "ops", "rpcutil", "inventory"));
        ASSERT_TRUE(policy_allows(p, "ops", "rpcutil", "daemon_stats"));
        ASSERT_FALSE(policy_allows(p, "ops", "rpcutil", "get_fact"));
        ASSERT_FALSE(policy_allows(p, "ops", "nrpe", "runcommand"));
        ASSERT_TRUE(policy_allows(p, "anyone", "discovery", "ping"));
        ASSERT_FALSE(policy_allows(p, "mallory", "discovery", "ping"));
        ASSERT_TRUE(policy_allows(p, "nagios", "nrpe", "runcommand"));
        p = policy_free(p);
        TEST_OK();

        TEST("policy: other malformed lines, all reported");
        ASSERT_INT_EQ(parse_logged("allow x nrpe\n"
                                   "permit x nrpe run\n"
                                   "allow x nrpe bad!action\n"
                                   "policy default maybe\n", &p, &logged), -EINVAL);
        ASSERT_STR_CONTAINS(logged, "policy.conf:1:");
        ASSERT_STR_CONTAINS(logged, "policy.conf:2:");
        ASSERT_STR_CONTAINS(logged, "policy.conf:3: invalid action \"bad!action\"");
        ASSERT_STR_CONTAINS(logged, "policy.conf:4:");
        free(logged);
        TEST_OK();
}

static void write_key(const char *dir, const char *id, EVP_PKEY *pk) {
        _cleanup_free_ char *name = NULL;
        ASSERT_TRUE(asprintf(&name, "%s.pem", id) > 0);
        _cleanup_free_ char *path = tests_path(dir, name);
        FILE *f = fopen(path, "we");
        ASSERT_NOT_NULL(f);
        ASSERT_INT_EQ(PEM_write_PUBKEY(f, pk), 1);
        fclose(f);
}

#define ZERO_SIGNATURE                                                                                   \
        "0000000000000000000000000000000000000000000000000000000000000000"                                \
        "0000000000000000000000000000000000000000000000000000000000000000"

/* keyring_load_dir() into *k with the warnings it hands up; asserts it logs nothing itself. */
static int load_keyring(const char *dir, KeyRing **k, char ***warnings, char *error, size_t n) {
        TestsCapture cap;
        tests_capture_begin(&cap);
        int r = keyring_load_dir(dir, k, warnings, error, n);
        _cleanup_free_ char *logged = tests_capture_end(&cap);
        ASSERT_STR_EQ(logged, "");
        return r;
}

/* warnings[i] is the formatted text. */
_printf_(3, 4)
static void assert_warning(char **warnings, size_t i, const char *format, ...) {
        _cleanup_free_ char *want = NULL;
        va_list ap;

        ASSERT_TRUE(i < strv_length(warnings));
        va_start(ap, format);
        int r = vasprintf(&want, format, ap);
        va_end(ap);
        ASSERT_TRUE(r > 0);
        ASSERT_STR_EQ(warnings[i], want);
}

static void test_keyring(void) {
        EVP_PKEY *alice = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        EVP_PKEY *bob = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        EVP_PKEY *p256 = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        KeyRing *k = NULL;
        char error[8192];
        const char *signer = NULL;

        ASSERT_NOT_NULL(alice);
        ASSERT_NOT_NULL(bob);
        ASSERT_NOT_NULL(p256);

        TEST("keyring: \"local\" and \"psk\" are reserved key ids");
        _cleanup_free_ char *d1 = tests_path(tmpdir, "reserved");
        _cleanup_strv_free_ char **warnings = NULL;
        ASSERT_INT_EQ(mkdir(d1, 0755), 0);
        write_key(d1, "alice", alice);
        write_key(d1, "local", bob);
        ASSERT_INT_EQ(load_keyring(d1, &k, &warnings, error, sizeof error), 0);
        ASSERT_UINT_EQ(keyring_size(k), 1);
        ASSERT_UINT_EQ(strv_length(warnings), 1);
        assert_warning(warnings, 0, "%s/local.pem: key id \"local\" is reserved, ignoring.", d1);
        Verifier v = { .keys = k };
        /* a request claiming key "local" is from an unknown key */
        ASSERT_INT_EQ(verify_message(&v, "{}", 2, SIGNATURE_SCHEME_ED25519, "local", ZERO_SIGNATURE, &signer),
                      -ENXIO);
        k = keyring_free(k);
        ASSERT_TRUE(key_id_is_reserved("local"));
        ASSERT_TRUE(key_id_is_reserved("psk"));
        ASSERT_FALSE(key_id_is_reserved("alice"));
        TEST_OK();

        TEST("keyring: bad files are skipped with one warning each, in order, and the good keys load beside them");
        _cleanup_free_ char *d3 = tests_path(tmpdir, "mixed");
        ASSERT_INT_EQ(mkdir(d3, 0755), 0);
        write_key(d3, "alice", alice);
        write_key(d3, "bad!id", bob);
        write_key(d3, "bob", bob);
        _cleanup_free_ char *gone = tests_path(d3, "gone.pem");
        ASSERT_INT_EQ(symlink("/nonexistent/gone.pem", gone), 0);
        _cleanup_free_ char *junk = tests_path(d3, "junk.pem");
        tests_write_file(junk, "not a key\n");
        write_key(d3, "local", alice);     /* skipped before it is read: no duplicate of alice */
        write_key(d3, "p256", p256);       /* a public key in PEM, not Ed25519 */
        write_key(d3, "psk", alice);
        strv_free(warnings);
        warnings = NULL;
        ASSERT_INT_EQ(load_keyring(d3, &k, &warnings, error, sizeof error), 0);
        ASSERT_UINT_EQ(keyring_size(k), 2);
        ASSERT_UINT_EQ(strv_length(warnings), 6);
        assert_warning(warnings, 0, "%s/bad!id.pem: \"bad!id\" is not a valid key id, ignoring.", d3);
        assert_warning(warnings, 1, "Failed to open %s/gone.pem: No such file or directory, ignoring.", d3);
        assert_warning(warnings, 2, "%s/junk.pem is not an Ed25519 public key in PEM, ignoring.", d3);
        assert_warning(warnings, 3, "%s/local.pem: key id \"local\" is reserved, ignoring.", d3);
        assert_warning(warnings, 4, "%s/p256.pem is not an Ed25519 public key in PEM, ignoring.", d3);
        assert_warning(warnings, 5, "%s/psk.pem: key id \"psk\" is reserved, ignoring.", d3);
        v = (Verifier) { .keys = k };
        /* alice and bob are there (a wrong signature, not an unknown key); the skipped ids are not */
        ASSERT_INT_EQ(verify_message(&v, "{}", 2, SIGNATURE_SCHEME_ED25519, "alice", ZERO_SIGNATURE, &signer),
                      -EBADMSG);
        ASSERT_INT_EQ(verify_message(&v, "{}", 2, SIGNATURE_SCHEME_ED25519, "bob", ZERO_SIGNATURE, &signer),
                      -EBADMSG);
        ASSERT_INT_EQ(verify_message(&v, "{}", 2, SIGNATURE_SCHEME_ED25519, "junk", ZERO_SIGNATURE, &signer),
                      -ENXIO);
        ASSERT_INT_EQ(verify_message(&v, "{}", 2, SIGNATURE_SCHEME_ED25519, "p256", ZERO_SIGNATURE, &signer),
                      -ENXIO);
        k = keyring_free(k);
        /* Without a strv the warnings are dropped, and still nothing is logged. */
        ASSERT_INT_EQ(load_keyring(d3, &k, NULL, NULL, 0), 0);
        ASSERT_UINT_EQ(keyring_size(k), 2);
        k = keyring_free(k);
        TEST_OK();

        TEST("keyring: one public key under two ids is refused at load, naming both files in the error");
        _cleanup_free_ char *d2 = tests_path(tmpdir, "twice");
        ASSERT_INT_EQ(mkdir(d2, 0755), 0);
        write_key(d2, "alice", alice);
        write_key(d2, "bob", bob);
        _cleanup_free_ char *junk2 = tests_path(d2, "junk.pem");
        tests_write_file(junk2, "not a key\n");
        write_key(d2, "ops", alice);
        strv_free(warnings);
        warnings = NULL;
        error[0] = '\0';
        ASSERT_INT_EQ(load_keyring(d2, &k, &warnings, error, sizeof error), -ENOTUNIQ);
        ASSERT_NULL(k);
        _cleanup_free_ char *want = NULL;
        ASSERT_TRUE(asprintf(&want, "%s/alice.pem and %s/ops.pem hold the same public key: "
                             "one key may have only one id", d2, d2) > 0);
        ASSERT_STR_EQ(error, want);
        /* what was skipped before the failure is handed up too */
        ASSERT_UINT_EQ(strv_length(warnings), 1);
        assert_warning(warnings, 0, "%s/junk.pem is not an Ed25519 public key in PEM, ignoring.", d2);
        _cleanup_free_ char *dup = tests_path(d2, "ops.pem");
        ASSERT_INT_EQ(unlink(dup), 0);
        ASSERT_INT_EQ(load_keyring(d2, &k, NULL, NULL, 0), 0);
        ASSERT_UINT_EQ(keyring_size(k), 2);
        k = keyring_free(k);
        TEST_OK();

        EVP_PKEY_free(alice);
        EVP_PKEY_free(bob);
        EVP_PKEY_free(p256);
}

static int expand(const char *arg, const char *nasty, const char **ret_error) {
        char *args[] = { (char *) arg, NULL };
        _cleanup_free_ char *out = NULL;
        return nrpe_expand_arguments("check $ARG1$", args, 1, true, nasty, &out, ret_error);
}

static void test_arguments(void) {
        const char *error;

        TEST("$ARGn$: $ ` \\ and newlines are refused whatever nasty_metachars says");
        static const char *const always[] = { "$(id)", "${HOME}", "`id`", "a\\b", "a\nb", "a\rb", "$" };
        static const char *const lists[] = { NULL, "", "#", "|&;" };
        for (size_t i = 0; i < ELEMENTSOF(always); i++)
                for (size_t j = 0; j < ELEMENTSOF(lists); j++) {
                        error = NULL;
                        if (expand(always[i], lists[j], &error) != -EINVAL)
                                test_fail(__FILE__, __LINE__, "argument \"%s\" with nasty_metachars \"%s\" accepted",
                                          always[i], lists[j] ?: "(default)");
                        ASSERT_STR_EQ(error, "Request contained illegal metachars!");
                }
        TEST_OK();

        TEST("$ARGn$: arguments beginning with '-' are refused");
        ASSERT_INT_EQ(expand("-f/etc/muster/psk", "#", &error), -EINVAL);
        ASSERT_STR_CONTAINS(error, "beginning with '-'");
        ASSERT_INT_EQ(expand("--output=/tmp/x", NULL, &error), -EINVAL);
        ASSERT_INT_EQ(expand("-", NULL, &error), -EINVAL);
        TEST_OK();

        TEST("$ARGn$: ordinary values still pass");
        static const char *const fine[] = { "80%", "10,20", "/var", "eth0", "5", "a-b", "1.5" };
        for (size_t i = 0; i < ELEMENTSOF(fine); i++)
                ASSERT_INT_EQ(expand(fine[i], NULL, &error), 0);
        TEST_OK();
}

int main(void) {
        log_setup("test-policy", false);
        ASSERT_NOT_NULL(mkdtemp(tmpdir));
        tmpdir_made = true;
        atexit(cleanup_tmpdir);

        test_policy();
        test_keyring();
        test_arguments();
        return 0;
}
