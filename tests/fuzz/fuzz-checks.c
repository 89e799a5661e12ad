/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The two hand-written parsers of pushed check results (lib/checks.c). The
 * first byte of the input chooses which one gets the rest: odd ("I"), the
 * check index file (checks_index_read(), checks_index_state()); even, the
 * collector's in-place scan of a registration's "checks" (checks_scan()),
 * where the rest is the whole body ("R", bit 2 clear) or, so that more
 * inputs get past the rest of the registration's validation, only the value
 * of "checks", put first ("F", bit 3 clear) or last ("L", bit 3 set) into
 * an otherwise valid registration. The corpus names its inputs accordingly.
 *
 * checks_scan() must agree with the whole parse, as in tests/test-checks.c:
 * whenever it takes a body (returns 1) and the body without
 * [cut_start, cut_end) parses (the collector's repeat path), the whole body
 * must parse and validate too, be the same registration but for "checks",
 * and its checks must be the scanned ones (names, states, times, in order),
 * with the same digest. When it returns 0, the body has no top-level
 * "checks". The body is in a buffer of its exact size (libFuzzer's own
 * for "R", a copy for "F" and "L"), so that ASan sees any read past its end.
 *
 * The index is written as .index/checks of a private directory and read
 * back: every node's identity and states must lie within the mapping, and
 * checks_index_state() must agree with a plain reading of its states. */

#include "checks.h"
#include "fuzz.h"
#include "macro.h"
#include "message.h"
#include "registry.h"
#include "util.h"

static int index_dfd = -1;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        (void) argc;
        (void) argv;
        fuzz_setup_logging();
        fuzz_mkdir(fuzz_tmpdir(), ".index");
        index_dfd = open(fuzz_tmpdir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        FUZZ_ASSERT(index_dfd >= 0);
        return 0;
}

/* ---- checks_scan() ------------------------------------------------------ */

static void fuzz_scan(const char *body, size_t size) {
        _cleanup_registration_ Registration *whole = NULL, *reduced = NULL;
        _cleanup_json_ json_t *without = NULL;
        _cleanup_free_ char *buf = NULL;
        char err[MESSAGE_ERROR_MAX] = "";
        RegistryDigest a = {}, b = {};
        ChecksScan scan;
        bool whole_ok;
        json_t *checks, *v;
        const char *name;
        size_t i, n;
        int r;

        r = registration_parse(body, size, 0, &whole, err);
        FUZZ_ASSERT(r >= 0 || r == -EBADMSG || r == -EMSGSIZE || r == -ENOMEM);
        whole_ok = r >= 0 && checks_validate(json_object_get(whole->root, "checks"), err) >= 0;

        r = checks_scan(body, size, &scan);
        FUZZ_ASSERT(r == 1 || r == 0 || r == -EAGAIN);
        if (r == 0) {
                /* No top-level "checks": the whole parse finds none either. */
                if (whole)
                        FUZZ_ASSERT(!json_object_get(whole->root, "checks"));
                return;
        }
        if (r < 0)
                return;

        FUZZ_ASSERT(scan.cut_start < scan.cut_end && scan.cut_end <= size);
        FUZZ_ASSERT(scan.n <= CHECKS_MAX);
        for (i = 0; i < scan.n; i++) {
                const ChecksScanItem *it = &scan.items[i];
                FUZZ_ASSERT(it->name >= body + scan.cut_start && it->name < body + scan.cut_end &&
                            it->name_len <= (size_t) (body + scan.cut_end - it->name));
                FUZZ_ASSERT(it->state >= 0 && it->state <= 3);
                FUZZ_ASSERT(it->when >= 0);
        }

        /* What the collector parses on its repeat path. */
        n = scan.cut_start + (size - scan.cut_end);
        buf = malloc(n ?: 1);
        if (!buf)
                return;
        memcpy(buf, body, scan.cut_start);
        memcpy(buf + scan.cut_start, body + scan.cut_end, size - scan.cut_end);
        r = registration_parse(buf, n, 0, &reduced, err);
        FUZZ_ASSERT(r >= 0 || r == -EBADMSG || r == -EMSGSIZE || r == -ENOMEM);
        if (r < 0)
                return; /* the collector parses the whole body, for its verdict */

        if (!whole_ok)
                fuzz_report("the repeat path took a body the whole parse refuses (%s): %.*s\n", err, (int) size,
                            body);
        FUZZ_ASSERT(whole_ok);
        FUZZ_ASSERT(!json_object_get(reduced->root, "checks"));

        without = json_deep_copy(whole->root);
        if (!without)
                return;
        FUZZ_ASSERT(json_object_del(without, "checks") == 0);
        FUZZ_ASSERT(json_equal(without, reduced->root));

        checks = json_object_get(whole->root, "checks");
        FUZZ_ASSERT(json_is_object(checks));
        FUZZ_ASSERT(json_object_size(checks) == scan.n);
        i = 0;
        json_object_foreach(checks, name, v) {
                FUZZ_ASSERT(i < scan.n);
                FUZZ_ASSERT(strlen(name) == scan.items[i].name_len);
                FUZZ_ASSERT(memcmp(name, scan.items[i].name, scan.items[i].name_len) == 0);
                FUZZ_ASSERT(json_integer_value(json_object_get(v, "state")) == scan.items[i].state);
                FUZZ_ASSERT(json_integer_value(json_object_get(v, "when")) == scan.items[i].when);
                i++;
        }
        FUZZ_ASSERT(i == scan.n);

        if (registry_digest(whole->root, &a) == -ENOMEM)
                return;
        r = registry_digest_scanned(reduced->root, &scan, &b);
        if (r == -ENOMEM)
                return;
        FUZZ_ASSERT(r >= 0);
        FUZZ_ASSERT(a.set == b.set);
        FUZZ_ASSERT(memcmp(a.bytes, b.bytes, sizeof a.bytes) == 0);
}

/* ---- the check index ---------------------------------------------------- */

/* The state of name in "NAME=STATE NAME=STATE ...", read plainly: the first
 * space-separated word that is exactly name, '=' and a digit 0..3. */
static int reference_state(const char *s, size_t len, const char *name) {
        size_t nl = strlen(name), i = 0;

        while (i <= len) {
                size_t j = i;
                while (j < len && s[j] != ' ')
                        j++;
                if (j - i == nl + 2 && memcmp(s + i, name, nl) == 0 && s[i + nl] == '=' && s[i + nl + 1] >= '0' &&
                    s[i + nl + 1] <= '3')
                        return s[i + nl + 1] - '0';
                i = j + 1;
        }
        return -ENOENT;
}

static void check_state(const ChecksIndexNode *node, const char *name) {
        int r = checks_index_state(node, name);

        FUZZ_ASSERT(r == -ENOENT || (r >= 0 && r <= 3));
        FUZZ_ASSERT(r == reference_state(node->states, node->states_len, name));
}

static void fuzz_index(const uint8_t *data, size_t size) {
        _cleanup_(checks_index_done) ChecksIndex x = {};
        int r;

        fuzz_write_file(fuzz_tmpdir(), CHECKS_INDEX_NAME, data, size);
        r = checks_index_read(index_dfd, &x);
        FUZZ_ASSERT(r == 0 || r == -EBADMSG || r == -ENOMEM);
        if (r < 0) {
                FUZZ_ASSERT(!x.nodes && !x.map && x.n == 0);
                return;
        }
        FUZZ_ASSERT(x.map && x.map_size == size);
        FUZZ_ASSERT(memcmp(x.map, data, size) == 0);

        const char *m = x.map, *e = m + x.map_size;
        for (size_t i = 0; i < x.n; i++) {
                const ChecksIndexNode *node = &x.nodes[i];
                char word[256];

                FUZZ_ASSERT(node->identity >= m && node->identity < e);
                FUZZ_ASSERT(node->identity_len > 0 && node->identity_len <= (size_t) (e - node->identity));
                FUZZ_ASSERT(!memchr(node->identity, ' ', node->identity_len));
                FUZZ_ASSERT(!memchr(node->identity, '\n', node->identity_len));
                FUZZ_ASSERT(node->states >= m && node->states <= e);
                FUZZ_ASSERT(node->states_len <= (size_t) (e - node->states));
                FUZZ_ASSERT(!memchr(node->states, '\n', node->states_len));
                /* Each line ends: the states are followed by the newline. */
                FUZZ_ASSERT(node->states + node->states_len < e && node->states[node->states_len] == '\n');
                FUZZ_ASSERT(node->interval >= 0);
                FUZZ_ASSERT(node->key.btime_nsec < 1000000000u);
                if (i > 0)
                        FUZZ_ASSERT(node->identity > x.nodes[i - 1].states + x.nodes[i - 1].states_len);

                check_state(node, "check_disk");
                check_state(node, "c");
                check_state(node, "");
                /* And the names the line itself has, so that they are found. */
                for (size_t k = 0, w = 0; k <= node->states_len && w < 4; k++) {
                        size_t j = k;
                        while (j < node->states_len && node->states[j] != ' ' && node->states[j] != '=')
                                j++;
                        if (j - k < sizeof word) {
                                /* (A NUL in it makes the name a prefix: a name all the same.) */
                                memcpy(word, node->states + k, j - k);
                                word[j - k] = '\0';
                                check_state(node, word);
                                w++;
                        }
                        while (j < node->states_len && node->states[j] != ' ')
                                j++;
                        k = j;
                }
        }
}

#define REG_HEAD "\"protocol\":\"muster:registration:1\",\"identity\":\"web1\",\"collective\":\"c\"," \
                 "\"msgtime\":1700000000,\"interval\":300"

/* The body {"checks":VALUE,HEAD} or {HEAD,"checks":VALUE}, in a buffer of
 * its exact size. */
static void fuzz_scan_wrapped(const uint8_t *value, size_t size, bool last) {
        static const char first_pre[] = "{\"checks\":", first_post[] = "," REG_HEAD "}";
        static const char last_pre[] = "{" REG_HEAD ",\"checks\":", last_post[] = "}";
        const char *pre = last ? last_pre : first_pre, *post = last ? last_post : first_post;
        size_t a = strlen(pre), b = strlen(post);
        _cleanup_free_ char *body = malloc(a + size + b);

        if (!body)
                return;
        memcpy(body, pre, a);
        memcpy(body + a, value, size);
        memcpy(body + a + size, post, b);
        fuzz_scan(body, a + size + b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        if (size == 0)
                return 0;
        if (data[0] & 1)
                fuzz_index(data + 1, size - 1);
        else if (data[0] & 4)
                fuzz_scan_wrapped(data + 1, size - 1, data[0] & 8);
        else
                fuzz_scan((const char *) data + 1, size - 1);
        return 0;
}
