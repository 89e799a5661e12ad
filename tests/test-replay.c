/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The replay cache and the responder's decision path around it: no trusted
 * key can fill the cache and lock the node out (a flood of requests that
 * never run leaves nothing behind, a key that runs many is held to its
 * quota), every TTL is clamped to security.max_ttl, nothing sent before the
 * daemon started runs, replies go only to allowed reply_to names, the
 * caller is the key that verified, and running out of memory while
 * building a reply never answers OK. */

#include <time.h>

/* lib/config.h: in a meson build "config.h" is the generated one (-include). */
#include "../lib/config.h"
#include "hashmap.h"
#include "message.h"
#include "nrpe.h"
#include "policy.h"
#include "replay.h"
#include "responder-core.h"
#include "sign.h"
#include "tests.h"
#include "util.h"

#define NOW INT64_C(1700000000)

static const char key1[] = "0123456789abcdef0123456789abcdef";

static uint64_t mono_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

static long vm_rss_kib(void) {
        _cleanup_fclose_ FILE *f = fopen("/proc/self/status", "re");
        char line[256];
        long v = -1;
        while (f && fgets(line, sizeof line, f))
                if (sscanf(line, "VmRSS: %ld kB", &v) == 1)
                        break;
        return v;
}

/* ---- the cache itself ---- */

static void test_siphash(void) {
        uint8_t key[16], msg[64];

        TEST("siphash24: the reference vectors (key 00..0f, message 00..n-1)");
        for (unsigned i = 0; i < 16; i++)
                key[i] = (uint8_t) i;
        for (unsigned i = 0; i < sizeof msg; i++)
                msg[i] = (uint8_t) i;
        ASSERT_UINT_EQ(siphash24(msg, 0, key), UINT64_C(0x726fdb47dd0e0e31));
        ASSERT_UINT_EQ(siphash24(msg, 1, key), UINT64_C(0x74f839c593dc67fd));
        ASSERT_UINT_EQ(siphash24(msg, 15, key), UINT64_C(0xa129ca6149be45e5));
        /* another key, another hash: what a sender cannot know */
        key[0] ^= 1;
        ASSERT_TRUE(siphash24(msg, 15, key) != UINT64_C(0xa129ca6149be45e5));
        TEST_OK();
}

static void id_of(unsigned long n, char id[static 33]) {
        snprintf(id, 33, "%032lx", n);
}

static void test_quota(void) {
        char id[33];
        ReplayCache *c;

        TEST("replay_cache: one owner is held to its quota, the others are not");
        c = replay_cache_new(100);
        ASSERT_NOT_NULL(c);
        replay_cache_set_quota(c, 10);
        for (unsigned long i = 0; i < 10; i++) {
                id_of(i, id);
                ASSERT_INT_EQ(replay_cache_add_owned(c, "mallory", id, NOW + 60, NOW), 0);
        }
        id_of(10, id);
        ASSERT_INT_EQ(replay_cache_add_owned(c, "mallory", id, NOW + 60, NOW), -EDQUOT);
        ASSERT_UINT_EQ(replay_cache_owner_size(c, "mallory"), 10);
        /* a replay is still a replay, whoever sends it */
        id_of(3, id);
        ASSERT_INT_EQ(replay_cache_add_owned(c, "alice", id, NOW + 60, NOW), -EEXIST);
        for (unsigned long i = 100; i < 110; i++) {
                id_of(i, id);
                ASSERT_INT_EQ(replay_cache_add_owned(c, "alice", id, NOW + 60, NOW), 0);
        }
        ASSERT_UINT_EQ(replay_cache_owner_size(c, "alice"), 10);
        ASSERT_UINT_EQ(replay_cache_size(c), 20);
        /* once they expire, the quota is free again */
        id_of(10, id);
        ASSERT_INT_EQ(replay_cache_add_owned(c, "mallory", id, NOW + 200, NOW + 61), 0);
        ASSERT_UINT_EQ(replay_cache_owner_size(c, "mallory"), 1);
        ASSERT_UINT_EQ(replay_cache_owner_size(c, "alice"), 0);
        /* an expired id added again belongs to its new owner */
        id_of(100, id);
        ASSERT_INT_EQ(replay_cache_add_owned(c, "bob", id, NOW + 200, NOW + 61), 0);
        ASSERT_UINT_EQ(replay_cache_owner_size(c, "bob"), 1);
        ASSERT_TRUE(replay_cache_contains(c, id, NOW + 61));
        ASSERT_FALSE(replay_cache_contains(c, id, NOW + 201));
        c = replay_cache_free(c);
        TEST_OK();

        TEST("replay_cache: a full cache is scanned at most once a second");
        c = replay_cache_new(2);
        ASSERT_INT_EQ(replay_cache_add(c, "00000000000000000000000000000001", NOW + 1, NOW), 0);
        ASSERT_INT_EQ(replay_cache_add(c, "00000000000000000000000000000002", NOW + 1, NOW), 0);
        ASSERT_INT_EQ(replay_cache_add(c, "00000000000000000000000000000003", NOW + 1, NOW + 2), 0);
        ASSERT_INT_EQ(replay_cache_add(c, "00000000000000000000000000000004", NOW + 9, NOW + 2), 0);
        ASSERT_INT_EQ(replay_cache_add(c, "00000000000000000000000000000005", NOW + 9, NOW + 2), -ENOSPC);
        c = replay_cache_free(c);
        TEST_OK();
}

/* ---- the responder's decision path ---- */

typedef struct Fixture {
        MusterConfig config;
        Psk *psk;
        json_t *facts;
        NrpeConfig *nrpe;
        Policy *policy;
        ResponderCore core;
} Fixture;

static void fixture_init(Fixture *f, const char *policy) {
        static const char nrpe_cfg[] = "command[check_true]=/bin/true\n";

        *f = (Fixture) {};
        ASSERT_INT_EQ(config_init(&f->config), 0);
        ASSERT_INT_EQ(free_and_strdup(&f->config.identity, "node1"), 0);
        ASSERT_INT_EQ(psk_from_memory(key1, strlen(key1), &f->psk), 0);
        f->facts = json_pack("{s:s}", "role", "web");
        f->nrpe = nrpe_config_new();
        ASSERT_NOT_NULL(f->nrpe);
        ASSERT_OK(nrpe_config_parse_buffer(f->nrpe, "test.cfg", NULL, nrpe_cfg, strlen(nrpe_cfg)));
        if (policy)
                ASSERT_INT_EQ(policy_parse("policy", policy, &f->policy), 0);
        f->core = (ResponderCore) {
                .config = &f->config,
                .psk = f->psk,
                .replay = responder_replay_cache_new(),
                .facts = f->facts,
                .nrpe = f->nrpe,
                .policy = f->policy,
                .started_at = NOW - 100,
        };
        ASSERT_NOT_NULL(f->core.replay);
}

static void fixture_done(Fixture *f) {
        config_done(&f->config);
        psk_free(f->psk);
        replay_cache_free(f->core.replay);
        json_decref(f->facts);
        nrpe_config_free(f->nrpe);
        policy_free(f->policy);
}

typedef struct Req {
        const char *agent, *action, *callerid, *data;
        int64_t msgtime, ttl;
        const char *identity_filter;   /* NULL: no filter */
} Req;

static char *make_request(const Req *r, size_t *ret_size) {
        char rid[33];
        ASSERT_INT_EQ(random_hex_id(rid), 0);
        json_t *data = r->data ? json_loads(r->data, 0, NULL) : NULL;
        json_t *j = request_build(rid, "client1", r->callerid ?: "cert=test", "muster", r->agent ?: "discovery",
                                  r->action ?: "ping", r->msgtime ?: NOW, r->ttl ?: 60, NULL, data);
        json_decref(data);
        ASSERT_NOT_NULL(j);
        if (r->identity_filter)
                ASSERT_INT_EQ(json_object_set_new(j, "filter", json_pack("{s:[s]}", "identity", r->identity_filter)),
                              0);
        char *s = NULL;
        ASSERT_INT_EQ(message_dump(j, &s, ret_size), 0);
        json_decref(j);
        return s;
}

static int dispatch_body(Fixture *f, const char *body, size_t n, const char *reply_to, int64_t now, Dispatch *d) {
        char sig[SIGNATURE_HEX_MAX];
        ASSERT_INT_EQ(sign_body(f->psk, body, n, sig), 0);
        return responder_dispatch_delivery(&f->core, body, n, SIGNATURE_SCHEME_HMAC, NULL, sig, reply_to, now, d);
}

static void dispatch_req(Fixture *f, const Req *r, Dispatch *d) {
        size_t n;
        _cleanup_free_ char *body = make_request(r, &n);
        ASSERT_INT_EQ(dispatch_body(f, body, n, NULL, NOW, d), 0);
}

#define ASSERT_KIND(d, k, why)                                                 \
        do {                                                                   \
                if ((d)->kind != (k) || ((k) == DISPATCH_DROP && (d)->reason != (why))) \
                        test_fail(__FILE__, __LINE__, "want kind %d reason %s, got kind %d reason %s (%s)", \
                                  (k), drop_reason_to_string(why), (d)->kind,  \
                                  drop_reason_to_string((d)->reason), (d)->detail); \
        } while (0)

/* 1,100,000 > 2^20, the cache's size: before, these filled it. */
#define FLOOD (UINT32_C(1100000))

static void test_flood_filtered(void) {
        Fixture f;
        Dispatch d;
        size_t n;
        char sig[SIGNATURE_HEX_MAX];

        fixture_init(&f, NULL);

        TEST("1,100,000 filtered-out requests with the largest TTL from one key, then a ping is answered");
        /* One body, its request id rewritten in place for each request. */
        _cleanup_free_ char *body = make_request(&(Req) { .ttl = TTL_MAX, .identity_filter = "elsewhere" }, &n);
        char *rid = strstr(body, "\"requestid\":\"");
        ASSERT_NOT_NULL(rid);
        rid += strlen("\"requestid\":\"");
        long rss_before = vm_rss_kib();
        uint64_t t0 = mono_usec();
        for (uint32_t i = 0; i < FLOOD; i++) {
                char id[33];
                snprintf(id, sizeof id, "%08" PRIx32 "%024x", i, 0);
                memcpy(rid, id, 32);
                ASSERT_INT_EQ(sign_body(f.psk, body, n, sig), 0);
                if (responder_dispatch_delivery(&f.core, body, n, SIGNATURE_SCHEME_HMAC, NULL, sig,
                                                "amq.rabbitmq.reply-to.abc", NOW, &d) != 0 ||
                    d.kind != DISPATCH_IGNORE)
                        test_fail(__FILE__, __LINE__, "request %" PRIu32 ": kind %d (%s)", i, d.kind, d.detail);
                dispatch_done(&d);
        }
        uint64_t t1 = mono_usec();
        long rss_after = vm_rss_kib();
        /* Nothing that does not run is remembered. */
        ASSERT_UINT_EQ(replay_cache_size(f.core.replay), 0);
        ASSERT_UINT_EQ(f.core.stats.filtered, FLOOD);
        dispatch_req(&f, &(Req) {}, &d);
        ASSERT_KIND(&d, DISPATCH_REPLY, 0);
        ASSERT_INT_EQ(d.statuscode, STATUS_OK);
        dispatch_done(&d);
        printf("# %" PRIu32 " filtered-out requests dispatched in %.2f s (%.0f/s); VmRSS %ld -> %ld kB\n", FLOOD,
               (double) (t1 - t0) / 1e6, FLOOD / ((double) (t1 - t0) / 1e6), rss_before, rss_after);
#if defined(__SANITIZE_ADDRESS__)
        /* ASan keeps freed memory in quarantine: RSS says nothing there. */
        printf("# ASan build: RSS not checked\n");
#else
        ASSERT_TRUE(rss_after - rss_before < 16 * 1024);
#endif
        TEST_OK();

        fixture_done(&f);
}

static void test_denied_and_quota(void) {
        Fixture f;
        Dispatch d;

        TEST("requests the policy denies are answered but not remembered");
        fixture_init(&f, "policy default deny\nallow local * *\n");
        for (unsigned i = 0; i < 1000; i++) {
                dispatch_req(&f, &(Req) { .ttl = TTL_MAX }, &d);
                ASSERT_KIND(&d, DISPATCH_REPLY, 0);
                ASSERT_INT_EQ(d.statuscode, STATUS_ABORTED);
                ASSERT_TRUE(d.denied);
                dispatch_done(&d);
        }
        ASSERT_UINT_EQ(replay_cache_size(f.core.replay), 0);
        fixture_done(&f);
        TEST_OK();

        TEST("a key whose requests run is held to its quota; another caller is still answered");
        fixture_init(&f, NULL);
        replay_cache_free(f.core.replay);
        f.core.replay = replay_cache_new(1000);
        replay_cache_set_quota(f.core.replay, 100);
        unsigned answered = 0, quota = 0;
        for (unsigned i = 0; i < 150; i++) {
                dispatch_req(&f, &(Req) { .ttl = TTL_MAX }, &d);
                if (d.kind == DISPATCH_REPLY && d.statuscode == STATUS_OK)
                        answered++;
                else if (d.kind == DISPATCH_DROP && d.reason == DROP_REPLAY_QUOTA) {
                        ASSERT_STR_CONTAINS(d.detail, "psk has too many requests");
                        quota++;
                }
                dispatch_done(&d);
        }
        ASSERT_UINT_EQ(answered, 100);
        ASSERT_UINT_EQ(quota, 50);
        ASSERT_UINT_EQ(f.core.stats.dropped[DROP_REPLAY_QUOTA], 50);
        size_t n;
        _cleanup_free_ char *body = make_request(&(Req) {}, &n);
        ASSERT_INT_EQ(responder_dispatch_local(&f.core, body, n, NOW, &d), 0);
        ASSERT_KIND(&d, DISPATCH_REPLY, 0);
        ASSERT_INT_EQ(d.statuscode, STATUS_OK);
        ASSERT_STR_EQ(d.caller, "local");
        dispatch_done(&d);
        /* The responder's own cache: one signer may hold an eighth. */
        ReplayCache *real = responder_replay_cache_new();
        ASSERT_NOT_NULL(real);
        char id[33];
        for (uint32_t i = 0; i < REPLAY_QUOTA_PER_SIGNER; i++) {
                snprintf(id, sizeof id, "%032" PRIx32, i);
                if (replay_cache_add_owned(real, "mallory", id, NOW + 300, NOW) != 0)
                        test_fail(__FILE__, __LINE__, "id %" PRIu32 " refused", i);
        }
        snprintf(id, sizeof id, "%032x", 0xfffffff);
        ASSERT_INT_EQ(replay_cache_add_owned(real, "mallory", id, NOW + 300, NOW), -EDQUOT);
        ASSERT_INT_EQ(replay_cache_add_owned(real, "alice", id, NOW + 300, NOW), 0);
        replay_cache_free(real);
        fixture_done(&f);
        TEST_OK();
}

static void test_ttl_and_start(void) {
        Fixture f;
        Dispatch d;

        fixture_init(&f, NULL);

        TEST("security.max_ttl (default 5 min) clamps every ttl");
        ASSERT_UINT_EQ(f.config.max_ttl_usec, 300 * USEC_PER_SEC);
        f.core.started_at = NOW - 3600;
        dispatch_req(&f, &(Req) { .msgtime = NOW - 301, .ttl = TTL_MAX }, &d);
        ASSERT_KIND(&d, DISPATCH_DROP, DROP_EXPIRED);
        ASSERT_STR_CONTAINS(d.detail, "clamped to security.max_ttl");
        dispatch_done(&d);
        dispatch_req(&f, &(Req) { .msgtime = NOW - 300, .ttl = TTL_MAX }, &d);
        ASSERT_KIND(&d, DISPATCH_REPLY, 0);
        dispatch_done(&d);
        /* remembered until msgtime + max_ttl + skew, not for a week */
        ASSERT_UINT_EQ(replay_cache_size(f.core.replay), 1);
        ASSERT_UINT_EQ(replay_cache_prune(f.core.replay, NOW + 31), 1);
        f.config.max_ttl_usec = 3600 * USEC_PER_SEC;
        dispatch_req(&f, &(Req) { .msgtime = NOW - 301, .ttl = TTL_MAX }, &d);
        ASSERT_KIND(&d, DISPATCH_REPLY, 0);
        dispatch_done(&d);
        /* a ttl below max_ttl is its own */
        dispatch_req(&f, &(Req) { .msgtime = NOW - 61, .ttl = 60 }, &d);
        ASSERT_KIND(&d, DISPATCH_DROP, DROP_EXPIRED);
        dispatch_done(&d);
        f.config.max_ttl_usec = 300 * USEC_PER_SEC;
        TEST_OK();

        TEST("requests sent before the daemon started (less the skew) are refused");
        f.core.started_at = NOW - 100;
        dispatch_req(&f, &(Req) { .msgtime = NOW - 131, .ttl = 300 }, &d);
        ASSERT_KIND(&d, DISPATCH_DROP, DROP_EXPIRED);
        ASSERT_STR_CONTAINS(d.detail, "before this daemon started");
        dispatch_done(&d);
        dispatch_req(&f, &(Req) { .msgtime = NOW - 130, .ttl = 300 }, &d);
        ASSERT_KIND(&d, DISPATCH_REPLY, 0);
        dispatch_done(&d);
        TEST_OK();

        fixture_done(&f);
}

static void test_reply_to_and_caller(void) {
        Fixture f;
        Dispatch d;
        size_t n;

        fixture_init(&f, NULL);

        TEST("reply_to: only RabbitMQ direct reply-to names by default, not remembered when refused");
        _cleanup_free_ char *body = make_request(&(Req) {}, &n);
        ASSERT_INT_EQ(dispatch_body(&f, body, n, "amq.gen-JzTY20BRgKO-HjmUJj0wLg", NOW, &d), 0);
        ASSERT_KIND(&d, DISPATCH_DROP, DROP_REPLY_TO);
        ASSERT_STR_CONTAINS(d.detail, "amq.gen-JzTY20BRgKO-HjmUJj0wLg");
        dispatch_done(&d);
        ASSERT_INT_EQ(dispatch_body(&f, body, n, "amq.rabbitmq.reply-to", NOW, &d), 0);
        ASSERT_KIND(&d, DISPATCH_DROP, DROP_REPLY_TO);
        dispatch_done(&d);
        ASSERT_UINT_EQ(replay_cache_size(f.core.replay), 0);
        /* the same captured request still runs once, for its real sender */
        ASSERT_INT_EQ(dispatch_body(&f, body, n, "amq.rabbitmq.reply-to.g1h2AA5yZXBseUAxMjM0.aBc", NOW, &d), 0);
        ASSERT_KIND(&d, DISPATCH_REPLY, 0);
        dispatch_done(&d);
        ASSERT_INT_EQ(dispatch_body(&f, body, n, "amq.rabbitmq.reply-to.g1h2AA5yZXBseUAxMjM0.aBc", NOW, &d), 0);
        ASSERT_KIND(&d, DISPATCH_DROP, DROP_REPLAYED);
        dispatch_done(&d);
        free(body);
        body = make_request(&(Req) {}, &n);
        ASSERT_INT_EQ(dispatch_body(&f, body, n, NULL, NOW, &d), 0);   /* no reply wanted */
        ASSERT_KIND(&d, DISPATCH_REPLY, 0);
        dispatch_done(&d);
        /* configured otherwise */
        strv_free(f.config.allowed_reply_to);
        f.config.allowed_reply_to = NULL;
        ASSERT_INT_EQ(strv_extend(&f.config.allowed_reply_to, "replies"), 0);
        ASSERT_INT_EQ(strv_extend(&f.config.allowed_reply_to, "nagios.*"), 0);
        ASSERT_TRUE(responder_reply_to_allowed(&f.core, "replies"));
        ASSERT_FALSE(responder_reply_to_allowed(&f.core, "replies2"));
        ASSERT_TRUE(responder_reply_to_allowed(&f.core, "nagios.x"));
        ASSERT_FALSE(responder_reply_to_allowed(&f.core, "amq.rabbitmq.reply-to.x"));
        TEST_OK();

        TEST("the caller is the key that verified, not the callerid the body claims");
        free(body);
        body = make_request(&(Req) { .callerid = "cert=admin" }, &n);
        ASSERT_INT_EQ(dispatch_body(&f, body, n, NULL, NOW, &d), 0);
        ASSERT_KIND(&d, DISPATCH_REPLY, 0);
        ASSERT_STR_EQ(d.caller, "psk");
        ASSERT_STR_EQ(d.request->callerid, "cert=admin");
        dispatch_done(&d);
        TEST_OK();

        fixture_done(&f);
}

/* ---- out of memory while building a reply ---- */

static long alloc_countdown = -1;   /* fail when it reaches 0; -1: never */
static unsigned alloc_failures;

static void *failing_malloc(size_t n) {
        if (alloc_countdown >= 0 && alloc_countdown-- == 0) {
                alloc_failures++;
                return NULL;
        }
        return malloc(n);
}

static void test_oom_reply(void) {
        static const struct {
                const char *agent, *action, *data, *key;
        } cases[] = {
                { "rpcutil", "inventory", NULL, "facts" },
                { "rpcutil", "daemon_stats", NULL, "stats" },
                { "rpcutil", "agent_inventory", NULL, "agents" },
                { "rpcutil", "get_fact", "{\"fact\":\"role\"}", "value" },
                { "discovery", "ping", NULL, "pong" },
                { "nrpe", "runcommand", "{\"command\":\"check_missing\"}", "output" },
        };
        Fixture f;
        Dispatch d;

        TEST("out of memory while building a reply: an error or nothing, never OK without its data");
        fixture_init(&f, NULL);
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                size_t n;
                bool saw_error = false;
                for (long k = 0; k < 400; k++) {
                        _cleanup_free_ char *body = make_request(
                                &(Req) { .agent = cases[i].agent, .action = cases[i].action, .data = cases[i].data },
                                &n);
                        char sig[SIGNATURE_HEX_MAX];
                        ASSERT_INT_EQ(sign_body(f.psk, body, n, sig), 0);
                        unsigned before = alloc_failures;
                        alloc_countdown = k;
                        json_set_alloc_funcs(failing_malloc, free);
                        int r = responder_dispatch(&f.core, body, n, SIGNATURE_SCHEME_HMAC, sig, NOW, &d);
                        json_set_alloc_funcs(malloc, free);
                        alloc_countdown = -1;
                        bool failed = alloc_failures > before;
                        if (r == 0 && d.kind == DISPATCH_REPLY && d.statuscode == STATUS_UNKNOWN_ERROR)
                                saw_error = true;
                        if (r == 0 && d.kind == DISPATCH_REPLY && d.statuscode != STATUS_UNKNOWN_ERROR &&
                            !json_object_get(d.data, cases[i].key))
                                test_fail(__FILE__, __LINE__, "%s %s, allocation %ld failed: statuscode %d without "
                                          "\"%s\" in its data", cases[i].agent, cases[i].action, k, d.statuscode,
                                          cases[i].key);
                        dispatch_done(&d);
                        if (!failed)
                                break;   /* the whole dispatch ran without reaching allocation k */
                }
                if (!saw_error)
                        test_fail(__FILE__, __LINE__, "%s %s: no allocation failure answered statuscode 5",
                                  cases[i].agent, cases[i].action);
        }
        fixture_done(&f);
        TEST_OK();
}

int main(void) {
        log_setup("test-replay", false);
        log_set_max_level(LOG_ERR);
        test_siphash();
        test_quota();
        test_ttl_and_start();
        test_reply_to_and_caller();
        test_denied_and_quota();
        test_oom_reply();
        test_flood_filtered();
        return 0;
}
