/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* credentials_load(): what every binary reads of [security], and the one
 * wording of each failure that daemons log and plugins put on their status
 * line, and the warnings it hands up (it logs nothing itself). config_load_all(): the config sequence that comes before it. */

#include <pwd.h>
#include <sys/wait.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "config.h"
#include "credentials.h"
#include "log.h"
#include "sign.h"
#include "tests.h"
#include "util.h"

static char tmpdir[] = "/tmp/test-credentials-XXXXXX";
static bool tmpdir_made;

static void cleanup_tmpdir(void) {
        if (tmpdir_made)
                tests_rm_rf(tmpdir);
        tmpdir_made = false;
}

static const char PSK[] = "0123456789abcdef0123456789abcdef\n";

/* A config with every key file under tmpdir; psk_file is "psk". */
static void config_for(MusterConfig *c, const char *psk_name, int accept_psk) {
        _cleanup_free_ char *psk = tests_path(tmpdir, psk_name);
        _cleanup_free_ char *clients = tests_path(tmpdir, "clients.d");
        _cleanup_free_ char *nodes = tests_path(tmpdir, "nodes.d");

        ASSERT_INT_EQ(config_init(c), 0);
        ASSERT_INT_EQ(free_and_strdup(&c->psk_file, psk), 0);
        ASSERT_INT_EQ(free_and_strdup(&c->client_keys_dir, clients), 0);
        ASSERT_INT_EQ(free_and_strdup(&c->node_keys_dir, nodes), 0);
        ASSERT_INT_EQ(free_and_strdup(&c->identity, "n1"), 0);
        c->accept_psk = accept_psk;
}

static void write_public(const char *dir, const char *id, EVP_PKEY *pk) {
        _cleanup_free_ char *name = NULL;
        ASSERT_TRUE(asprintf(&name, "%s.pem", id) > 0);
        _cleanup_free_ char *path = tests_path(dir, name);
        FILE *f = fopen(path, "we");
        ASSERT_NOT_NULL(f);
        ASSERT_INT_EQ(PEM_write_PUBKEY(f, pk), 1);
        fclose(f);
}

static void write_private(const char *path, EVP_PKEY *pk) {
        FILE *f = fopen(path, "we");
        ASSERT_NOT_NULL(f);
        ASSERT_INT_EQ(PEM_write_PrivateKey(f, pk, NULL, NULL, 0, NULL, NULL), 1);
        fclose(f);
        ASSERT_INT_EQ(chmod(path, 0600), 0);
}

/* The warnings the last load() handed up. */
static char **warnings;

/* credentials_load(), which logs nothing itself: what it went on past is in
 * warnings. */
static int load(const MusterConfig *c, CredentialsFlags flags, Credentials *ret, char *error, size_t n) {
        TestsCapture cap;

        error[0] = '\0';
        strv_free(warnings);
        warnings = NULL;
        tests_capture_begin(&cap);
        int r = credentials_load(c, flags, ret, &warnings, error, n);
        _cleanup_free_ char *logged = tests_capture_end(&cap);
        ASSERT_STR_EQ(logged, "");
        return r;
}

static void test_psk(void) {
        MusterConfig c;
        Credentials creds;
        char error[CREDENTIALS_ERROR_MAX], want[CREDENTIALS_ERROR_MAX];

        TEST("credentials: a readable PSK is loaded, signs without a private key, and is accepted");
        _cleanup_free_ char *psk = tests_path(tmpdir, "psk");
        tests_write_file_n(psk, PSK, strlen(PSK), 0600);
        config_for(&c, "psk", -1);
        ASSERT_INT_EQ(load(&c, CREDENTIALS_SIGN | CREDENTIALS_CLIENT_KEYS, &creds, error, sizeof error), 0);
        ASSERT_NOT_NULL(creds.psk);
        ASSERT_UINT_EQ(creds.psk->size, strlen(PSK) - 1);
        ASSERT_TRUE(creds.signer.psk == creds.psk);
        ASSERT_NULL(creds.signer.key);
        ASSERT_TRUE(creds.verifier.psk == creds.psk);
        ASSERT_TRUE(creds.verifier.accept_psk);
        ASSERT_NULL(warnings);
        credentials_done(&creds);
        TEST_OK();

        TEST("credentials: a PSK readable by everyone is used, with one warning naming it for the caller to log");
        ASSERT_INT_EQ(chmod(psk, 0644), 0);
        ASSERT_INT_EQ(load(&c, CREDENTIALS_SIGN | CREDENTIALS_CLIENT_KEYS, &creds, error, sizeof error), 0);
        ASSERT_NOT_NULL(creds.psk);
        ASSERT_TRUE(creds.verifier.accept_psk);
        ASSERT_UINT_EQ(strv_length(warnings), 1);
        snprintf(want, sizeof want, "Key file %s is readable by everyone; it should be mode 0640 or stricter.", psk);
        ASSERT_STR_EQ(warnings[0], want);
        credentials_done(&creds);
        ASSERT_INT_EQ(chmod(psk, 0600), 0);
        config_done(&c);
        TEST_OK();

        TEST("credentials: a missing PSK, while PSK signatures are accepted, names the file and the errno");
        config_for(&c, "no-such-psk", -1);
        ASSERT_INT_EQ(load(&c, CREDENTIALS_NODE_KEYS, &creds, error, sizeof error), -ENOENT);
        snprintf(want, sizeof want, "read key file %s/no-such-psk: No such file or directory", tmpdir);
        ASSERT_STR_EQ(error, want);
        config_done(&c);
        TEST_OK();

        TEST("credentials: a missing PSK is fine with accept_psk=no when nothing is signed with it");
        config_for(&c, "no-such-psk", 0);
        ASSERT_INT_EQ(load(&c, CREDENTIALS_NODE_KEYS, &creds, error, sizeof error), 0);
        ASSERT_NULL(creds.psk);
        ASSERT_FALSE(creds.verifier.accept_psk);
        credentials_done(&creds);
        TEST_OK();

        TEST("credentials: accept_psk=no without a private key still needs the PSK to sign");
        ASSERT_INT_EQ(load(&c, CREDENTIALS_SIGN, &creds, error, sizeof error), -ENOENT);
        ASSERT_STR_EQ(error, want);
        config_done(&c);
        TEST_OK();

        TEST("credentials: a PSK shorter than 16 bytes is refused, saying how long it must be");
        _cleanup_free_ char *shortpsk = tests_path(tmpdir, "short-psk");
        tests_write_file_n(shortpsk, "0123456789abcde\n", 16, 0600);   /* 15 bytes once the newline is gone */
        config_for(&c, "short-psk", 1);
        ASSERT_INT_EQ(load(&c, CREDENTIALS_SIGN, &creds, error, sizeof error), -EINVAL);
        snprintf(want, sizeof want, "read key file %s: it must hold 16 to 4096 bytes", shortpsk);
        ASSERT_STR_EQ(error, want);
        config_done(&c);
        TEST_OK();

        TEST("credentials: a PSK path below a regular file, or a directory, is an error naming it");
        config_for(&c, "psk/psk", -1);
        ASSERT_INT_EQ(load(&c, CREDENTIALS_SIGN, &creds, error, sizeof error), -ENOTDIR);
        snprintf(want, sizeof want, "read key file %s/psk/psk: Not a directory", tmpdir);
        ASSERT_STR_EQ(error, want);
        config_done(&c);
        _cleanup_free_ char *dir = tests_path(tmpdir, "psk-dir");
        ASSERT_INT_EQ(mkdir(dir, 0700), 0);
        config_for(&c, "psk-dir", -1);
        ASSERT_TRUE(load(&c, CREDENTIALS_SIGN, &creds, error, sizeof error) < 0);
        snprintf(want, sizeof want, "read key file %s: ", dir);
        ASSERT_TRUE(startswith(error, want));
        config_done(&c);
        TEST_OK();
}

/* What a user who may not read the PSK sees: check-mc-nrpe prints
 * "UNKNOWN: cannot " and this. Root reads any file, so as root the load
 * runs in a child that became nobody. */
static void test_psk_unreadable(void) {
        TEST("credentials: an unreadable PSK (mode 0000): \"read key file PATH: Permission denied\"");
        _cleanup_free_ char *psk = tests_path(tmpdir, "locked-psk");
        tests_write_file_n(psk, PSK, strlen(PSK), 0000);
        ASSERT_INT_EQ(chmod(tmpdir, 0755), 0);

        pid_t pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                if (geteuid() == 0) {
                        struct passwd *pw = getpwnam("nobody");
                        if (!pw || setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) < 0 ||
                            setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) < 0)
                                _exit(2);
                }
                MusterConfig c;
                Credentials creds;
                char error[CREDENTIALS_ERROR_MAX], want[CREDENTIALS_ERROR_MAX];
                config_for(&c, "locked-psk", -1);
                if (load(&c, CREDENTIALS_SIGN, &creds, error, sizeof error) != -EACCES)
                        _exit(3);
                snprintf(want, sizeof want, "read key file %s: Permission denied", psk);
                if (!streq(error, want)) {
                        fprintf(stderr, "got \"%s\"\n", error);
                        _exit(4);
                }
                config_done(&c);
                _exit(0);
        }
        int status;
        ASSERT_INT_EQ(waitpid(pid, &status, 0), pid);
        ASSERT_TRUE(WIFEXITED(status));
        ASSERT_INT_EQ(WEXITSTATUS(status), 0);
        TEST_OK();
}

static void test_private_key(void) {
        MusterConfig c;
        Credentials creds;
        char error[CREDENTIALS_ERROR_MAX], want[CREDENTIALS_ERROR_MAX];
        EVP_PKEY *node = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        ASSERT_NOT_NULL(node);

        TEST("credentials: with a private key and accept_psk=no, no PSK is needed; the key signs as identity");
        _cleanup_free_ char *key = tests_path(tmpdir, "node.pem");
        write_private(key, node);
        config_for(&c, "no-such-psk", 0);
        ASSERT_INT_EQ(free_and_strdup(&c.private_key, key), 0);
        ASSERT_INT_EQ(load(&c, CREDENTIALS_SIGN | CREDENTIALS_CLIENT_KEYS, &creds, error, sizeof error), 0);
        ASSERT_NULL(creds.psk);
        ASSERT_NOT_NULL(creds.signer.key);
        ASSERT_STR_EQ(creds.signer.key_id, "n1");
        char sig[SIGNATURE_HEX_MAX];
        const char *scheme = NULL, *key_id = NULL;
        ASSERT_INT_EQ(signer_sign(&creds.signer, "{}", 2, sig, &scheme, &key_id), 0);
        ASSERT_STR_EQ(scheme, SIGNATURE_SCHEME_ED25519);
        ASSERT_STR_EQ(key_id, "n1");
        credentials_done(&creds);
        TEST_OK();

        TEST("credentials: the private key is loaded only for a binary that signs");
        ASSERT_INT_EQ(free_and_strdup(&c.private_key, "/nonexistent/node.pem"), 0);
        ASSERT_INT_EQ(load(&c, CREDENTIALS_NODE_KEYS, &creds, error, sizeof error), 0);
        ASSERT_NULL(creds.signer.key);
        credentials_done(&creds);
        TEST_OK();

        TEST("credentials: a private key that is not an Ed25519 key in PEM is refused, naming the file");
        _cleanup_free_ char *bad = tests_path(tmpdir, "bad.pem");
        tests_write_file_n(bad, "not a key\n", 10, 0600);
        ASSERT_INT_EQ(free_and_strdup(&c.private_key, bad), 0);
        int r = load(&c, CREDENTIALS_SIGN, &creds, error, sizeof error);
        ASSERT_TRUE(r == -EBADMSG || r == -EKEYREJECTED);
        snprintf(want, sizeof want, "load the Ed25519 private key %s: not an Ed25519 key in PEM", bad);
        ASSERT_STR_EQ(error, want);
        TEST_OK();

        TEST("credentials: a missing private key names the file and the errno");
        _cleanup_free_ char *missing = tests_path(tmpdir, "missing.pem");
        ASSERT_INT_EQ(free_and_strdup(&c.private_key, missing), 0);
        ASSERT_INT_EQ(load(&c, CREDENTIALS_SIGN, &creds, error, sizeof error), -ENOENT);
        snprintf(want, sizeof want, "load the Ed25519 private key %s: No such file or directory", missing);
        ASSERT_STR_EQ(error, want);
        config_done(&c);
        TEST_OK();

        EVP_PKEY_free(node);
}

static void test_key_rings(void) {
        MusterConfig c;
        Credentials creds;
        char error[CREDENTIALS_ERROR_MAX], want[CREDENTIALS_ERROR_MAX];
        EVP_PKEY *alice = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        EVP_PKEY *bob = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        ASSERT_NOT_NULL(alice);
        ASSERT_NOT_NULL(bob);
        _cleanup_free_ char *clients = tests_path(tmpdir, "clients.d");
        _cleanup_free_ char *nodes = tests_path(tmpdir, "nodes.d");

        TEST("credentials: accept_psk unset accepts PSK requests exactly while no client key is there");
        config_for(&c, "psk", -1);
        ASSERT_INT_EQ(load(&c, CREDENTIALS_CLIENT_KEYS, &creds, error, sizeof error), 0);
        ASSERT_UINT_EQ(keyring_size(creds.keys), 0);
        ASSERT_TRUE(creds.verifier.accept_psk);
        credentials_done(&creds);
        ASSERT_INT_EQ(mkdir(clients, 0755), 0);
        write_public(clients, "alice", alice);
        ASSERT_INT_EQ(load(&c, CREDENTIALS_CLIENT_KEYS, &creds, error, sizeof error), 0);
        ASSERT_UINT_EQ(keyring_size(creds.keys), 1);
        ASSERT_TRUE(creds.verifier.keys == creds.keys);
        ASSERT_FALSE(creds.verifier.accept_psk);
        /* still read: replies are signed with it when there is no private key */
        ASSERT_NOT_NULL(creds.psk);
        credentials_done(&creds);
        TEST_OK();

        TEST("credentials: accept_psk=yes and =no hold whatever keys there are");
        c.accept_psk = 1;
        ASSERT_INT_EQ(load(&c, CREDENTIALS_CLIENT_KEYS, &creds, error, sizeof error), 0);
        ASSERT_TRUE(creds.verifier.accept_psk);
        credentials_done(&creds);
        c.accept_psk = 0;
        ASSERT_INT_EQ(load(&c, CREDENTIALS_CLIENT_KEYS, &creds, error, sizeof error), 0);
        ASSERT_FALSE(creds.verifier.accept_psk);
        credentials_done(&creds);
        TEST_OK();

        TEST("credentials: node keys; their receivers accept the PSK unless accept_psk=no");
        ASSERT_INT_EQ(mkdir(nodes, 0755), 0);
        write_public(nodes, "n1", bob);
        c.accept_psk = -1;
        ASSERT_INT_EQ(load(&c, CREDENTIALS_NODE_KEYS, &creds, error, sizeof error), 0);
        ASSERT_UINT_EQ(keyring_size(creds.keys), 1);
        ASSERT_TRUE(creds.verifier.accept_psk);
        credentials_done(&creds);
        c.accept_psk = 0;
        ASSERT_INT_EQ(load(&c, CREDENTIALS_NODE_KEYS, &creds, error, sizeof error), 0);
        ASSERT_FALSE(creds.verifier.accept_psk);
        credentials_done(&creds);
        TEST_OK();

        TEST("credentials: key files skipped in a key ring are handed up as warnings; the good keys load");
        EVP_PKEY *carol = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
        ASSERT_NOT_NULL(carol);
        write_public(clients, "bad!id", carol);
        write_public(clients, "local", carol);
        _cleanup_free_ char *junk = tests_path(clients, "junk.pem");
        tests_write_file(junk, "-----BEGIN PUBLIC KEY-----\nnot base64\n-----END PUBLIC KEY-----\n");
        write_public(clients, "carol", carol);
        c.accept_psk = -1;
        ASSERT_INT_EQ(load(&c, CREDENTIALS_CLIENT_KEYS, &creds, error, sizeof error), 0);
        ASSERT_UINT_EQ(keyring_size(creds.keys), 2);             /* alice and carol */
        ASSERT_FALSE(creds.verifier.accept_psk);
        ASSERT_UINT_EQ(strv_length(warnings), 3);
        snprintf(want, sizeof want, "%s/bad!id.pem: \"bad!id\" is not a valid key id, ignoring.", clients);
        ASSERT_STR_EQ(warnings[0], want);
        snprintf(want, sizeof want, "%s/junk.pem is not an Ed25519 public key in PEM, ignoring.", clients);
        ASSERT_STR_EQ(warnings[1], want);
        snprintf(want, sizeof want, "%s/local.pem: key id \"local\" is reserved, ignoring.", clients);
        ASSERT_STR_EQ(warnings[2], want);
        credentials_done(&creds);
        EVP_PKEY_free(carol);
        TEST_OK();

        TEST("credentials: one public key under two ids fails the load, naming the directory and both files");
        write_public(clients, "ops", alice);
        write_public(nodes, "n2", bob);
        _cleanup_free_ char *psk = tests_path(tmpdir, "psk");
        ASSERT_INT_EQ(chmod(psk, 0644), 0);
        ASSERT_INT_EQ(load(&c, CREDENTIALS_CLIENT_KEYS, &creds, error, sizeof error), -ENOTUNIQ);
        snprintf(want, sizeof want,
                 "load client keys from %s: %s/alice.pem and %s/ops.pem hold the same public key: "
                 "one key may have only one id", clients, clients, clients);
        ASSERT_STR_EQ(error, want);
        /* what went on before the failure is handed up with it, in order */
        ASSERT_UINT_EQ(strv_length(warnings), 4);
        ASSERT_TRUE(startswith(warnings[0], "Key file "));
        ASSERT_STR_CONTAINS(warnings[0], psk);
        ASSERT_STR_CONTAINS(warnings[1], "bad!id.pem");
        ASSERT_STR_CONTAINS(warnings[2], "junk.pem");
        ASSERT_STR_CONTAINS(warnings[3], "local.pem");
        ASSERT_INT_EQ(chmod(psk, 0600), 0);
        ASSERT_INT_EQ(load(&c, CREDENTIALS_NODE_KEYS, &creds, error, sizeof error), -ENOTUNIQ);
        snprintf(want, sizeof want,
                 "load node keys from %s: %s/n1.pem and %s/n2.pem hold the same public key: "
                 "one key may have only one id", nodes, nodes, nodes);
        ASSERT_STR_EQ(error, want);
        ASSERT_NULL(warnings);
        config_done(&c);
        TEST_OK();

        EVP_PKEY_free(alice);
        EVP_PKEY_free(bob);
}

static void test_config_load_all(void) {
        MusterConfig c;
        char error[512], want[512];
        TestsCapture cap;

        TEST("config_load_all: a missing file is an error naming it, unless optional");
        _cleanup_free_ char *missing = tests_path(tmpdir, "missing.conf");
        tests_capture_begin(&cap);
        int r = config_load_all(missing, 0, &c, error, sizeof error);
        free(tests_capture_end(&cap));
        ASSERT_INT_EQ(r, -ENOENT);
        snprintf(want, sizeof want, "%s: No such file or directory", missing);
        ASSERT_STR_CONTAINS(error, want);
        ASSERT_INT_EQ(config_load_all(missing, CONFIG_LOAD_OPTIONAL, &c, error, sizeof error), 0);
        config_done(&c);
        TEST_OK();

        TEST("config_load_all: the first error of the file, and the broker password read unless asked not to");
        _cleanup_free_ char *conf = tests_path(tmpdir, "muster.conf");
        _cleanup_free_ char *pwfile = tests_path(tmpdir, "password");
        _cleanup_free_ char *text = NULL;
        ASSERT_TRUE(asprintf(&text, "[broker]\npassword_file=%s\n[heartbeat]\ninterval=5x\n", pwfile) > 0);
        tests_write_file(conf, text);
        tests_capture_begin(&cap);
        r = config_load_all(conf, 0, &c, error, sizeof error);
        free(tests_capture_end(&cap));
        ASSERT_INT_EQ(r, -EINVAL);
        snprintf(want, sizeof want, "%s:4: invalid value for heartbeat.interval", conf);
        ASSERT_STR_CONTAINS(error, want);
        free(TAKE_PTR(text));
        ASSERT_TRUE(asprintf(&text, "[broker]\npassword_file=%s\n", pwfile) > 0);
        tests_write_file(conf, text);
        tests_capture_begin(&cap);
        r = config_load_all(conf, 0, &c, error, sizeof error);
        free(tests_capture_end(&cap));
        ASSERT_INT_EQ(r, -ENOENT);
        ASSERT_STR_CONTAINS(error, pwfile);
        ASSERT_INT_EQ(config_load_all(conf, CONFIG_LOAD_NO_SECRETS, &c, error, sizeof error), 0);
        config_done(&c);
        tests_write_file_n(pwfile, "secret\n", 7, 0600);
        ASSERT_INT_EQ(config_load_all(conf, 0, &c, error, sizeof error), 0);
        ASSERT_STR_EQ(c.password, "secret");
        config_done(&c);
        TEST_OK();
}

int main(void) {
        log_setup("test-credentials", false);
        ASSERT_NOT_NULL(mkdtemp(tmpdir));
        tmpdir_made = true;
        atexit(cleanup_tmpdir);

        test_psk();
        test_psk_unreadable();
        test_private_key();
        test_key_rings();
        test_config_load_all();
        strv_free(warnings);
        return 0;
}
