/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Request filters, both ways they are made:
 *  - the input as the JSON "filter" value: filter_from_json(), matched
 *    against a few nodes, filter_to_json() and back, which must give the same
 *    JSON and the same matches;
 *  - the input as command line arguments, one per line: each line is handed
 *    to filter_add_fact_arg(), _class(), _identity() and _agent(). What the
 *    command line accepts is sent to the nodes as JSON, so its JSON must be
 *    accepted by filter_from_json() and match the same nodes. */

#include "filter.h"
#include "fuzz.h"
#include "macro.h"
#include "util.h"

static json_t *facts_a, *facts_b;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        (void) argc;
        (void) argv;
        fuzz_setup_logging();
        facts_a = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:f, s:b, s:n, s:[i,s], s:{s:s}, s:s}",
                            "os", "debian",
                            "kernel", "5.10",
                            "mem", "2048",
                            "load", "0.5",
                            "name", "web01",
                            "empty", "",
                            "unicode", "gr\xc3\xbc\xc3\x9f",
                            "cores", 8,
                            "ratio", 1.5,
                            "virtual", 1,
                            "none",
                            "list", 1, "a",
                            "nested", "k", "v",
                            "neg", "-1e3");
        facts_b = json_pack("{s:s, s:s, s:s, s:s, s:s}",
                            "os", "redhat",
                            "kernel", "5.1",
                            "mem", "512",
                            "load", "inf",
                            "name", "db10");
        FUZZ_ASSERT(facts_a && facts_b);
        return 0;
}

#define N_NODES 5

static void match_all(const Filter *f, bool ret[static N_NODES]) {
        static char *const classes_a[] = { (char *) "webserver", (char *) "db::mysql", (char *) "base", NULL };
        static char *const classes_b[] = { (char *) "", (char *) "/x/", NULL };
        static char *const agents_a[] = { (char *) "discovery", (char *) "rpcutil", (char *) "nrpe", NULL };
        static char *const agents_b[] = { (char *) "nrpe", NULL };
        const NodeInfo nodes[N_NODES] = {
                { .identity = "www1.example.com", .facts = facts_a, .classes = classes_a, .agents = agents_a },
                { .identity = "db-2", .facts = facts_b, .classes = classes_b, .agents = agents_b },
                { .identity = "x", .facts = facts_a, .classes = NULL, .agents = NULL },
                { .identity = NULL, .facts = NULL, .classes = NULL, .agents = NULL },
                { .identity = "/x/", .facts = facts_b, .classes = classes_a, .agents = agents_a },
        };

        for (size_t i = 0; i < N_NODES; i++)
                ret[i] = filter_match(f, &nodes[i]);
        FUZZ_ASSERT(filter_match(f, NULL) == filter_is_empty(f));
        if (filter_is_empty(f))
                for (size_t i = 0; i < N_NODES; i++)
                        FUZZ_ASSERT(ret[i]);
}

/* f's JSON must be accepted again, be stable, and match the same nodes. */
static void round_trip(const Filter *f, const bool matched[static N_NODES]) {
        _cleanup_json_ json_t *j = filter_to_json(f), *j2 = NULL;
        _cleanup_filter_ Filter *g = NULL;
        const char *err = NULL;
        bool again[N_NODES];
        int r;

        if (!j)
                return; /* OOM */
        r = filter_from_json(j, &g, &err);
        if (r == -ENOMEM)
                return;
        if (r < 0) {
                _cleanup_free_ char *s = json_dumps(j, JSON_ENCODE_ANY);
                fuzz_report("filter_to_json() output refused by filter_from_json(): %s\n%s\n", strna(err),
                            strna(s));
        }
        FUZZ_ASSERT(r == 0);
        j2 = filter_to_json(g);
        FUZZ_ASSERT(j2);
        FUZZ_ASSERT(json_equal(j, j2));
        FUZZ_ASSERT(filter_is_empty(f) == filter_is_empty(g));
        match_all(g, again);
        for (size_t i = 0; i < N_NODES; i++)
                FUZZ_ASSERT(again[i] == matched[i]);
}

static void fuzz_json(const uint8_t *data, size_t size) {
        _cleanup_json_ json_t *j = NULL;
        _cleanup_filter_ Filter *f = NULL;
        const char *err = NULL;
        bool matched[N_NODES];
        int r;

        /* Any JSON value, NUL bytes in strings included: filter_from_json()
         * gets whatever a request's "filter" holds. */
        j = json_loadb((const char *) data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        if (!j)
                return;
        r = filter_from_json(j, &f, &err);
        if (r == -ENOMEM)
                return;
        if (r < 0) {
                FUZZ_ASSERT(r == -EINVAL);
                FUZZ_ASSERT(err && *err);
                FUZZ_ASSERT(!f);
                return;
        }
        FUZZ_ASSERT(f);
        if (json_is_null(j))
                FUZZ_ASSERT(filter_is_empty(f));
        match_all(f, matched);
        round_trip(f, matched);
}

static void fuzz_lines(const uint8_t *data, size_t size) {
        _cleanup_filter_ Filter *f = filter_new();
        const uint8_t *part;
        size_t n;
        bool matched[N_NODES];

        FUZZ_ASSERT(f);
        while (fuzz_next_part(&data, &size, "\n", &part, &n)) {
                _cleanup_free_ char *line = strndup((const char *) part, n);
                const char *err;
                int r;

                if (!line)
                        return;
                err = NULL;
                r = filter_add_fact_arg(f, line, &err);
                FUZZ_ASSERT(r == 0 || r == -ENOMEM || (r == -EINVAL && err));
                err = NULL;
                r = filter_add_class(f, line, &err);
                FUZZ_ASSERT(r == 0 || r == -ENOMEM || (r == -EINVAL && err));
                err = NULL;
                r = filter_add_identity(f, line, &err);
                FUZZ_ASSERT(r == 0 || r == -ENOMEM || (r == -EINVAL && err));
                err = NULL;
                r = filter_add_agent(f, line, &err);
                FUZZ_ASSERT(r == 0 || r == -ENOMEM || (r == -EINVAL && err));
        }
        FUZZ_ASSERT(filter_add_class(f, NULL, NULL) == -EINVAL);
        FUZZ_ASSERT(filter_add_fact_arg(f, NULL, NULL) == -EINVAL);

        match_all(f, matched);
        round_trip(f, matched);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        fuzz_json(data, size);
        fuzz_lines(data, size);
        return 0;
}
