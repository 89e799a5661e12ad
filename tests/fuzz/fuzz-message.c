/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Message bodies as a peer sends them: request_parse(), reply_parse() and
 * registration_parse() on the raw input; requests that parse are matched
 * against fixed nodes and checked for freshness, and every message that
 * parses is built again from its fields and must parse again to the same
 * fields (what a node accepts, the library can produce and vice versa). */

#include "filter.h"
#include "fuzz.h"
#include "macro.h"
#include "message.h"
#include "util.h"

#define NOW INT64_C(1700000000)

static json_t *node_facts;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        (void) argc;
        (void) argv;
        fuzz_setup_logging();
        node_facts = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:f, s:b, s:n, s:[i,s], s:{s:s}}",
                               "os", "debian",
                               "kernel", "5.10",
                               "mem", "2048",
                               "load", "0.5",
                               "fqdn", "www1.example.com",
                               "unicode", "gr\xc3\xbc\xc3\x9f",
                               "cores", 8,
                               "ratio", 1.5,
                               "virtual", 1,
                               "none",
                               "list", 1, "a",
                               "nested", "k", "v");
        FUZZ_ASSERT(node_facts);
        return 0;
}

static void match_nodes(const Filter *f) {
        static char *const classes[] = { (char *) "webserver", (char *) "db::mysql", (char *) "base", NULL };
        static char *const agents[] = { (char *) "discovery", (char *) "rpcutil", (char *) "nrpe", NULL };
        const NodeInfo nodes[] = {
                { .identity = "www1.example.com", .facts = node_facts, .classes = classes, .agents = agents },
                { .identity = "db-2", .facts = node_facts, .classes = NULL, .agents = agents },
                { .identity = NULL, .facts = NULL, .classes = NULL, .agents = NULL },
        };

        for (size_t i = 0; i < ELEMENTSOF(nodes); i++)
                (void) filter_match(f, &nodes[i]);
        (void) filter_match(f, NULL);
}

static void check_time(int64_t msgtime, int64_t ttl) {
        /* What callers pass: msgtime and ttl as parsed, now a clock reading,
         * skew the configured max_clock_skew in seconds (a uint64 µs value). */
        static const int64_t skews[] = { 0, 30, (int64_t) (UINT64_MAX / USEC_PER_SEC) };
        const int64_t nows[] = { 0, NOW, msgtime, msgtime + ttl, msgtime + ttl + 1, INT64_C(253402300799) };

        for (size_t i = 0; i < ELEMENTSOF(nows); i++)
                for (size_t j = 0; j < ELEMENTSOF(skews); j++) {
                        int r = message_check_time(msgtime, ttl, nows[i], skews[j]);
                        FUZZ_ASSERT(r == 0 || r == -ETIME || r == -EDOM);
                        if (nows[i] >= msgtime && nows[i] <= msgtime + ttl)
                                FUZZ_ASSERT(r == 0);
                }
}

static char *dump_body(json_t *j, size_t *n) {
        char *s = NULL;
        FUZZ_ASSERT(j);
        FUZZ_ASSERT(message_dump(j, &s, n) == 0);
        return s;
}

static void fuzz_request(const uint8_t *data, size_t size) {
        _cleanup_request_ Request *r = NULL, *again = NULL;
        char err[MESSAGE_ERROR_MAX] = "";
        int k;

        k = request_parse(data, size, 0, &r, err);
        if (k < 0) {
                FUZZ_ASSERT(k == -EBADMSG || k == -EMSGSIZE || k == -ENOMEM);
                FUZZ_ASSERT(strnlen(err, sizeof err) < sizeof err);
                return;
        }
        FUZZ_ASSERT(requestid_is_valid(r->requestid));
        FUZZ_ASSERT(identity_is_valid(r->senderid));
        FUZZ_ASSERT(callerid_is_valid(r->callerid));
        FUZZ_ASSERT(name_is_valid(r->collective, 64));
        FUZZ_ASSERT(name_is_valid(r->agent, 64));
        FUZZ_ASSERT(name_is_valid(r->action, 64));
        FUZZ_ASSERT(r->ttl >= 1 && r->ttl <= TTL_MAX);
        FUZZ_ASSERT(r->filter);

        match_nodes(r->filter);
        check_time(r->msgtime, r->ttl);

        /* What we accepted, we can send on. */
        _cleanup_json_ json_t *j = request_build(r->requestid, r->senderid, r->callerid, r->collective, r->agent,
                                                 r->action, r->msgtime, r->ttl, r->filter, r->data);
        size_t n;
        _cleanup_free_ char *body = dump_body(j, &n);
        k = request_parse(body, n, UINT64_MAX, &again, err);
        if (k < 0)
                fuzz_report("rebuilt request refused: %s\n%s\n", err, body);
        FUZZ_ASSERT(k == 0);
        FUZZ_ASSERT(streq(again->requestid, r->requestid));
        FUZZ_ASSERT(streq(again->senderid, r->senderid));
        FUZZ_ASSERT(streq(again->callerid, r->callerid));
        FUZZ_ASSERT(streq(again->agent, r->agent));
        FUZZ_ASSERT(again->msgtime == r->msgtime && again->ttl == r->ttl);

        _cleanup_json_ json_t *f1 = filter_to_json(r->filter), *f2 = filter_to_json(again->filter);
        FUZZ_ASSERT(f1 && f2 && json_equal(f1, f2));
}

/* The client's data cache, kept from one input to the next (a cached data
 * text from one input meeting another body is what it must get right). */
static ReplyDataCache reply_cache;
/* And one that builds only what check-mc-nrpe reads of data. */
static char *const keep_nrpe[] = { (char *) "exitcode", (char *) "output", NULL };
static ReplyDataCache reply_cache_keep = { .keep = keep_nrpe };

/* r's data less the keys keep does not name (a new object; NULL for none). */
static json_t *data_kept(const json_t *data, char *const *keep) {
        const char *key;
        json_t *v, *o;

        if (!data || !keep)
                return data ? json_deep_copy(data) : NULL;
        o = json_object();
        FUZZ_ASSERT(o);
        json_object_foreach((json_t *) data, key, v)
                if (strv_contains(keep, key))
                        FUZZ_ASSERT(json_object_set(o, key, v) == 0);
        return o;
}

/* reply_parse_cached() must answer as reply_parse() did (k, err, r), twice
 * in a row: the second read may take its data from the cache; with keep,
 * data is r's less the keys not kept. */
static void check_reply_cached(const uint8_t *data, size_t size, int k, const char *err, const Reply *r) {
        for (int pass = 0; pass < 4; pass++) {
                ReplyDataCache *cache = pass < 2 ? &reply_cache : &reply_cache_keep;
                char err2[MESSAGE_ERROR_MAX] = "";
                Reply *c = NULL;
                int k2 = reply_parse_cached(data, size, 0, cache, &c, err2);
                if (k2 != k || (k < 0 && !streq(err, err2)))
                        fuzz_report("cached reply parse: %d \"%s\", uncached %d \"%s\"\n", k2, err2, k, err);
                FUZZ_ASSERT(k2 == k);
                FUZZ_ASSERT(k < 0 || streq(err, err2));
                if (k == 0) {
                        _cleanup_json_ json_t *want = data_kept(r->data, cache->keep);
                        FUZZ_ASSERT(!c->data == !want);
                        FUZZ_ASSERT(!c->data || json_equal(c->data, want));
                        FUZZ_ASSERT(streq(c->senderid, r->senderid) && streq(c->statusmsg, r->statusmsg));
                        FUZZ_ASSERT(c->statuscode == r->statuscode && c->msgtime == r->msgtime);
                }
                reply_free(c);
        }
}

static void fuzz_reply(const uint8_t *data, size_t size) {
        _cleanup_reply_ Reply *r = NULL, *again = NULL;
        char err[MESSAGE_ERROR_MAX] = "";
        int k;

        k = reply_parse(data, size, 0, &r, err);
        if (k != -ENOMEM)
                check_reply_cached(data, size, k, err, r);
        if (k < 0) {
                FUZZ_ASSERT(k == -EBADMSG || k == -EMSGSIZE || k == -ENOMEM);
                return;
        }
        FUZZ_ASSERT(r->statuscode >= 0 && r->statuscode < _STATUS_MAX);
        FUZZ_ASSERT(status_code_to_string(r->statuscode));

        _cleanup_json_ json_t *j = reply_build(r->requestid, r->senderid, r->agent, r->action, r->msgtime,
                                               r->statuscode, r->statusmsg, r->data);
        size_t n;
        _cleanup_free_ char *body = dump_body(j, &n);
        k = reply_parse(body, n, UINT64_MAX, &again, err);
        if (k < 0)
                fuzz_report("rebuilt reply refused: %s\n%s\n", err, body);
        FUZZ_ASSERT(k == 0);
        FUZZ_ASSERT(streq(again->statusmsg, r->statusmsg));
        FUZZ_ASSERT(again->statuscode == r->statuscode);
}

static char **json_to_strv(json_t *a) {
        char **l = calloc(json_array_size(a) + 1, sizeof(char *));
        json_t *v;
        size_t i;

        FUZZ_ASSERT(l);
        json_array_foreach(a, i, v)
                l[i] = (char *) json_string_value(v);
        return l;
}

static void fuzz_registration(const uint8_t *data, size_t size) {
        _cleanup_registration_ Registration *r = NULL, *again = NULL;
        char err[MESSAGE_ERROR_MAX] = "";
        int k;

        k = registration_parse(data, size, 0, &r, err);
        if (k < 0) {
                FUZZ_ASSERT(k == -EBADMSG || k == -EMSGSIZE || k == -ENOMEM);
                return;
        }
        FUZZ_ASSERT(identity_is_valid(r->identity));
        FUZZ_ASSERT(r->interval >= 1 && r->interval <= TTL_MAX);

        /* registration_build() wants a version; the responder always sends one. */
        if (!r->version)
                return;
        _cleanup_free_ char **classes = r->classes ? json_to_strv(r->classes) : NULL;
        _cleanup_free_ char **agents = r->agents ? json_to_strv(r->agents) : NULL;
        _cleanup_json_ json_t *j = registration_build(r->identity, r->collective, r->msgtime, r->interval, r->facts,
                                                      classes, agents, r->boot_id, r->uptime, r->version);
        size_t n;
        _cleanup_free_ char *body = dump_body(j, &n);
        k = registration_parse(body, n, UINT64_MAX, &again, err);
        if (k < 0)
                fuzz_report("rebuilt registration refused: %s\n%s\n", err, body);
        FUZZ_ASSERT(k == 0);
        FUZZ_ASSERT(streq(again->identity, r->identity));
        FUZZ_ASSERT(streq_ptr(again->boot_id, r->boot_id));
        FUZZ_ASSERT(again->uptime == r->uptime);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        fuzz_request(data, size);
        fuzz_reply(data, size);
        fuzz_registration(data, size);

        /* The size limit is checked before anything is read. */
        if (size > 16) {
                _cleanup_request_ Request *r = NULL;
                char err[MESSAGE_ERROR_MAX];
                FUZZ_ASSERT(request_parse(data, size, 16, &r, err) == -EMSGSIZE);
                FUZZ_ASSERT(!r);
        }
        return 0;
}
