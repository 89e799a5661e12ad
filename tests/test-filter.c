/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "filter.h"
#include "macro.h"
#include "tests.h"
#include "util.h"

/* ---- nodes ---------------------------------------------------------------------------- */

typedef struct TestNode {
        const char *identity;
        const char *facts; /* JSON text, or NULL for no facts at all */
        const char *const *classes;
        const char *const *agents;
} TestNode;

static const TestNode web1 = {
        .identity = "www1",
        .facts = "{ \"os\": \"debian\", \"osrelease\": \"12.5\", \"kernel\": \"5.10.0\","
                 "  \"memorymb\": \"2048\", \"load\": \"0.75\", \"cores\": \"8\","
                 "  \"name\": \"web-front\", \"bs\": \"a\\\\1\","
                 "  \"count\": 7, \"flag\": true, \"ratio\": 0.5 }",
        .classes = (const char *const[]) { "webserver", "base", "db_client", NULL },
        .agents = (const char *const[]) { "nrpe", "rpcutil", NULL },
};

/* Knows nothing about itself but its name. */
static const TestNode bare = {
        .identity = "bare1",
};

/* ---- the table ------------------------------------------------------------------------ */

enum {
        NO_MATCH = 0,
        MATCH = 1,
        INVALID = -1,
};

typedef struct FilterCase {
        const char *name;
        const TestNode *node;
        const char *json;               /* the filter as JSON text ... */
        char *(*generate)(void);        /* ... or generated JSON text ... */
        const char *cli[9];             /* ... or command line pairs: "-F", "os=debian", ... */
        int expect;
        const char *error;              /* for INVALID: a part of the expected error */
} FilterCase;

static char *dump(json_t *j) {
        char *s = json_dumps(j, JSON_COMPACT);
        json_decref(j);
        return s;
}

static char *repeat(char c, size_t n) {
        char *s = malloc(n + 1);
        if (s) {
                memset(s, c, n);
                s[n] = '\0';
        }
        return s;
}

static char *gen_facts(size_t n) {
        json_t *a = json_array();
        for (size_t i = 0; i < n; i++)
                json_array_append_new(a, json_pack("{s:s, s:s, s:s}", "fact", "os", "operator", "==",
                                                   "value", "debian"));
        return dump(json_pack("{s:o}", "fact", a));
}

static char *gen_64_facts(void) {
        return gen_facts(64);
}

static char *gen_65_facts(void) {
        return gen_facts(65);
}

static char *gen_65_classes(void) {
        json_t *a = json_array();
        for (size_t i = 0; i < 65; i++)
                json_array_append_new(a, json_string("webserver"));
        return dump(json_pack("{s:o}", "class", a));
}

/* "=~" with a 256 byte regex: the longest allowed. */
static char *gen_regex_256(void) {
        _cleanup_free_ char *x = repeat('x', 254);
        _cleanup_free_ char *re = NULL;
        if (!x || asprintf(&re, "^%s$", x) < 0)
                return NULL;
        return dump(json_pack("{s:[{s:s, s:s, s:s}]}", "fact", "fact", "name", "operator", "=~", "value", re));
}

/* "=~" with a 300 byte regex. */
static char *gen_regex_300(void) {
        _cleanup_free_ char *re = repeat('a', 300);
        return dump(json_pack("{s:[{s:s, s:s, s:s}]}", "fact", "fact", "name", "operator", "=~", "value", re));
}

/* An identity "/aaa...a/" of 302 bytes. */
static char *gen_identity_regex_300(void) {
        _cleanup_free_ char *a = repeat('a', 300);
        _cleanup_free_ char *re = NULL;
        if (!a || asprintf(&re, "/%s/", a) < 0)
                return NULL;
        return dump(json_pack("{s:[s]}", "identity", re));
}

static char *gen_agent_257(void) {
        _cleanup_free_ char *a = repeat('n', 257);
        return dump(json_pack("{s:[s]}", "agent", a));
}

#define FACT1(f, op, v) "{ \"fact\": [ { \"fact\": \"" f "\", \"operator\": \"" op "\", \"value\": \"" v "\" } ] }"

static const FilterCase cases[] = {
        /* == and != */
        { "== string equal", &web1, FACT1("os", "==", "debian"), .expect = MATCH },
        { "== string differs", &web1, FACT1("os", "==", "redhat"), .expect = NO_MATCH },
        { "== is case sensitive", &web1, FACT1("os", "==", "Debian"), .expect = NO_MATCH },
        { "== is textual: 2048 is not 2048.0", &web1, FACT1("memorymb", "==", "2048.0"), .expect = NO_MATCH },
        { "== is textual: 2048 == 2048", &web1, FACT1("memorymb", "==", "2048"), .expect = MATCH },
        { "!= differs", &web1, FACT1("os", "!=", "redhat"), .expect = MATCH },
        { "!= equal", &web1, FACT1("os", "!=", "debian"), .expect = NO_MATCH },
        { "!= numeric: 2048 != 2e3", &web1, FACT1("memorymb", "!=", "2e3"), .expect = MATCH },
        /* ordering, numeric */
        { "< numeric (2048 < 10000, string order says no)", &web1, FACT1("memorymb", "<", "10000"), .expect = MATCH },
        { "> numeric (2048 > 512, string order says no)", &web1, FACT1("memorymb", ">", "512"), .expect = MATCH },
        { "< numeric fails", &web1, FACT1("memorymb", "<", "1024"), .expect = NO_MATCH },
        { "<= numeric equal", &web1, FACT1("memorymb", "<=", "2048"), .expect = MATCH },
        { "<= numeric fails", &web1, FACT1("memorymb", "<=", "2047.5"), .expect = NO_MATCH },
        { ">= numeric equal, other spelling", &web1, FACT1("memorymb", ">=", "2048.00"), .expect = MATCH },
        { ">= numeric fails", &web1, FACT1("memorymb", ">=", "4096"), .expect = NO_MATCH },
        { "< fractional", &web1, FACT1("load", "<", "1"), .expect = MATCH },
        { "> fractional fails", &web1, FACT1("load", ">", "1.5"), .expect = NO_MATCH },
        { "> negative number", &web1, FACT1("cores", ">", "-3"), .expect = MATCH },
        /* ordering, strings */
        { "< string order", &web1, FACT1("os", "<", "ubuntu"), .expect = MATCH },
        { "> string order fails", &web1, FACT1("os", ">", "ubuntu"), .expect = NO_MATCH },
        { "> string order when one side is no number", &web1, FACT1("kernel", ">", "5.9"), .expect = NO_MATCH },
        { "<= string order equal", &web1, FACT1("os", "<=", "debian"), .expect = MATCH },
        { ">= string order", &web1, FACT1("os", ">=", "centos"), .expect = MATCH },
        { "nan is no number: string order", &web1, FACT1("cores", "<", "nan"), .expect = MATCH },
        { "1e999 (infinite) is no number: string order", &web1, FACT1("cores", "<", "1e999"), .expect = NO_MATCH },
        /* regexes */
        { "=~ bare regex", &web1, FACT1("name", "=~", "^web-"), .expect = MATCH },
        { "=~ /regex/", &web1, FACT1("name", "=~", "/front$/"), .expect = MATCH },
        { "=~ no match", &web1, FACT1("name", "=~", "^db"), .expect = NO_MATCH },
        { "=~ extended syntax", &web1, FACT1("kernel", "=~", "^[0-9]+\\\\.[0-9]{2}\\\\."), .expect = MATCH },
        { "== /regex/", &web1, FACT1("os", "==", "/^deb(ian)?$/"), .expect = MATCH },
        { "== /regex/ no match", &web1, FACT1("os", "==", "/^rhel/"), .expect = NO_MATCH },
        { "=~ escaped backslash before a digit is no back-reference", &web1,
          FACT1("bs", "=~", "^a\\\\\\\\1$"), .expect = MATCH },
        { "=~ 256 byte regex is allowed", &web1, .generate = gen_regex_256, .expect = NO_MATCH },
        /* non-string facts */
        { "integer fact as JSON text", &web1, FACT1("count", "==", "7"), .expect = MATCH },
        { "integer fact numeric order", &web1, FACT1("count", ">", "5"), .expect = MATCH },
        { "boolean fact as JSON text", &web1, FACT1("flag", "==", "true"), .expect = MATCH },
        { "real fact numeric", &web1, FACT1("ratio", "<", "0.6"), .expect = MATCH },
        /* missing facts never match */
        { "missing fact ==", &web1, FACT1("nosuch", "==", "x"), .expect = NO_MATCH },
        { "missing fact !=", &web1, FACT1("nosuch", "!=", "x"), .expect = NO_MATCH },
        { "missing fact <", &web1, FACT1("nosuch", "<", "5"), .expect = NO_MATCH },
        { "missing fact >=", &web1, FACT1("nosuch", ">=", "5"), .expect = NO_MATCH },
        { "missing fact =~", &web1, FACT1("nosuch", "=~", ".*"), .expect = NO_MATCH },
        { "node without facts", &bare, FACT1("os", "!=", "x"), .expect = NO_MATCH },
        { "every fact filter must match", &web1,
          "{ \"fact\": [ { \"fact\": \"os\", \"operator\": \"==\", \"value\": \"debian\" },"
          "              { \"fact\": \"cores\", \"operator\": \">\", \"value\": \"16\" } ] }", .expect = NO_MATCH },
        { "64 fact filters", &web1, .generate = gen_64_facts, .expect = MATCH },
        /* identity: any one must match */
        { "identity exact", &web1, "{ \"identity\": [ \"www1\" ] }", .expect = MATCH },
        { "identity exact differs", &web1, "{ \"identity\": [ \"www\" ] }", .expect = NO_MATCH },
        { "identity regex", &web1, "{ \"identity\": [ \"/^www[0-9]+$/\" ] }", .expect = MATCH },
        { "identity regex no match", &web1, "{ \"identity\": [ \"/^db/\" ] }", .expect = NO_MATCH },
        { "identity OR: second matches", &web1, "{ \"identity\": [ \"db1\", \"www1\" ] }", .expect = MATCH },
        { "identity OR: none matches", &web1, "{ \"identity\": [ \"db1\", \"/^mail/\" ] }", .expect = NO_MATCH },
        /* class: every one must match */
        { "class exact", &web1, "{ \"class\": [ \"webserver\" ] }", .expect = MATCH },
        { "class AND: both present", &web1, "{ \"class\": [ \"webserver\", \"base\" ] }", .expect = MATCH },
        { "class AND: one missing", &web1, "{ \"class\": [ \"webserver\", \"mail\" ] }", .expect = NO_MATCH },
        { "class regex", &web1, "{ \"class\": [ \"/^db_/\" ] }", .expect = MATCH },
        { "class regex no match", &web1, "{ \"class\": [ \"/^dbserver$/\" ] }", .expect = NO_MATCH },
        { "class on a node without classes", &bare, "{ \"class\": [ \"/.*/\" ] }", .expect = NO_MATCH },
        /* agent: every one must be there */
        { "agent present", &web1, "{ \"agent\": [ \"nrpe\" ] }", .expect = MATCH },
        { "agent AND: both present", &web1, "{ \"agent\": [ \"nrpe\", \"rpcutil\" ] }", .expect = MATCH },
        { "agent AND: one missing", &web1, "{ \"agent\": [ \"nrpe\", \"puppet\" ] }", .expect = NO_MATCH },
        { "agent is never a regex", &web1, "{ \"agent\": [ \"/nrpe/\" ] }", .expect = NO_MATCH },
        { "agent on a node without agents", &bare, "{ \"agent\": [ \"nrpe\" ] }", .expect = NO_MATCH },
        /* empty filters */
        { "empty object", &web1, "{}", .expect = MATCH },
        { "null", &bare, "null", .expect = MATCH },
        { "empty lists", &bare, "{ \"fact\": [], \"class\": [], \"identity\": [], \"agent\": [] }", .expect = MATCH },
        /* everything at once */
        { "all kinds, all match", &web1,
          "{ \"fact\": [ { \"fact\": \"os\", \"operator\": \"==\", \"value\": \"debian\" } ],"
          "  \"class\": [ \"base\" ], \"identity\": [ \"nomatch\", \"/^www/\" ], \"agent\": [ \"nrpe\" ] }",
          .expect = MATCH },
        { "all kinds, the agent fails", &web1,
          "{ \"fact\": [ { \"fact\": \"os\", \"operator\": \"==\", \"value\": \"debian\" } ],"
          "  \"class\": [ \"base\" ], \"identity\": [ \"/^www/\" ], \"agent\": [ \"puppet\" ] }",
          .expect = NO_MATCH },
        /* command line */
        { "cli os=debian", &web1, .cli = { "-F", "os=debian" }, .expect = MATCH },
        { "cli os==debian", &web1, .cli = { "-F", "os==debian" }, .expect = MATCH },
        { "cli kernel!=5.4", &web1, .cli = { "-F", "kernel!=5.4" }, .expect = MATCH },
        { "cli load>0.5", &web1, .cli = { "-F", "load>0.5" }, .expect = MATCH },
        { "cli cores<9", &web1, .cli = { "-F", "cores<9" }, .expect = MATCH },
        { "cli memorymb>=1024", &web1, .cli = { "-F", "memorymb>=1024" }, .expect = MATCH },
        { "cli memorymb<=2047", &web1, .cli = { "-F", "memorymb<=2047" }, .expect = NO_MATCH },
        { "cli name=~^web", &web1, .cli = { "-F", "name=~^web" }, .expect = MATCH },
        { "cli name=/^web/", &web1, .cli = { "-F", "name=/^web/" }, .expect = MATCH },
        { "cli name=/^db/", &web1, .cli = { "-F", "name=/^db/" }, .expect = NO_MATCH },
        { "cli value holding '=': only the first operator counts", &web1, .cli = { "-F", "os=deb=ian" },
          .expect = NO_MATCH },
        { "cli class, identity and agent", &web1,
          .cli = { "-C", "webserver", "-C", "/^ba/", "-I", "/^www/", "-A", "nrpe" }, .expect = MATCH },
        { "cli class missing", &web1, .cli = { "-F", "os=debian", "-C", "dbserver" }, .expect = NO_MATCH },
        /* invalid filters */
        { "invalid: filter is an array", &web1, "[]", .expect = INVALID, .error = "filter" },
        { "invalid: filter is a string", &web1, "\"os=debian\"", .expect = INVALID, .error = "filter" },
        { "invalid: unknown key", &web1, "{ \"facts\": [] }", .expect = INVALID, .error = "unknown key" },
        { "invalid: fact is no array", &web1, "{ \"fact\": {} }", .expect = INVALID,
          .error = "filter.fact: must be an array" },
        { "invalid: fact entry is no object", &web1, "{ \"fact\": [ \"os=debian\" ] }", .expect = INVALID,
          .error = "object" },
        { "invalid: bad operator", &web1, FACT1("os", "~~", "debian"), .expect = INVALID,
          .error = "unknown operator" },
        { "invalid: = is no JSON operator", &web1, FACT1("os", "=", "debian"), .expect = INVALID,
          .error = "unknown operator" },
        { "invalid: operator is a number", &web1,
          "{ \"fact\": [ { \"fact\": \"os\", \"operator\": 1, \"value\": \"debian\" } ] }", .expect = INVALID,
          .error = "operator" },
        { "invalid: value is a number", &web1,
          "{ \"fact\": [ { \"fact\": \"cores\", \"operator\": \"==\", \"value\": 8 } ] }", .expect = INVALID,
          .error = "value" },
        { "invalid: value missing", &web1, "{ \"fact\": [ { \"fact\": \"os\", \"operator\": \"==\" } ] }",
          .expect = INVALID, .error = "value" },
        { "invalid: empty fact name", &web1, FACT1("", "==", "debian"), .expect = INVALID, .error = "empty" },
        { "invalid: empty value", &web1, FACT1("os", "==", ""), .expect = INVALID, .error = "empty" },
        { "invalid: NUL in a value", &web1, FACT1("os", "==", "deb\\u0000ian"), .expect = INVALID,
          .error = "NUL" },
        { "invalid: unknown key in a fact entry", &web1,
          "{ \"fact\": [ { \"fact\": \"os\", \"operator\": \"==\", \"value\": \"x\", \"negate\": \"yes\" } ] }",
          .expect = INVALID, .error = "unknown key" },
        { "invalid: class is a string", &web1, "{ \"class\": \"webserver\" }", .expect = INVALID,
          .error = "array" },
        { "invalid: class entry is a number", &web1, "{ \"class\": [ 1 ] }", .expect = INVALID,
          .error = "string" },
        { "invalid: identity is an object", &web1, "{ \"identity\": { \"www1\": true } }", .expect = INVALID,
          .error = "array" },
        { "invalid: empty identity", &web1, "{ \"identity\": [ \"\" ] }", .expect = INVALID, .error = "empty" },
        { "invalid: agent is null", &web1, "{ \"agent\": null }", .expect = INVALID, .error = "array" },
        { "invalid: agent longer than 256 bytes", &web1, .generate = gen_agent_257, .expect = INVALID,
          .error = "256" },
        { "invalid: bad regex", &web1, FACT1("name", "=~", "([a-"), .expect = INVALID, .error = "regular" },
        { "invalid: bad class regex", &web1, "{ \"class\": [ \"/([/\" ] }", .expect = INVALID,
          .error = "regular" },
        { "invalid: empty /regex/", &web1, FACT1("name", "==", "//"), .expect = INVALID, .error = "empty" },
        { "invalid: too long regex", &web1, .generate = gen_regex_300, .expect = INVALID,
          .error = "regular expression longer than 256 bytes" },
        { "invalid: too long identity regex", &web1, .generate = gen_identity_regex_300, .expect = INVALID,
          .error = "regular expression longer than 256 bytes" },
        { "invalid: back-reference", &web1, FACT1("name", "=~", "(a)\\\\1"), .expect = INVALID,
          .error = "back-reference" },
        { "invalid: back-reference in == /regex/", &web1, FACT1("name", "==", "/(.)\\\\1/"), .expect = INVALID,
          .error = "back-reference" },
        { "invalid: back-reference in an identity", &web1, "{ \"identity\": [ \"/^(w)\\\\1/\" ] }",
          .expect = INVALID, .error = "back-reference" },
        { "invalid: 65 fact filters", &web1, .generate = gen_65_facts, .expect = INVALID,
          .error = "filter.fact: more than 64" },
        { "invalid: 65 class filters", &web1, .generate = gen_65_classes, .expect = INVALID,
          .error = "filter.class: more than 64" },
        { "invalid cli: no operator", &web1, .cli = { "-F", "osdebian" }, .expect = INVALID, .error = "operator" },
        { "invalid cli: only !", &web1, .cli = { "-F", "os!debian" }, .expect = INVALID, .error = "operator" },
        { "invalid cli: empty fact name", &web1, .cli = { "-F", "=debian" }, .expect = INVALID, .error = "empty" },
        { "invalid cli: empty value", &web1, .cli = { "-F", "os=" }, .expect = INVALID, .error = "empty" },
        { "invalid cli: back-reference", &web1, .cli = { "-F", "name=~(a)\\1" }, .expect = INVALID,
          .error = "back-reference" },
        { "invalid cli: bad identity regex", &web1, .cli = { "-I", "/[/" }, .expect = INVALID,
          .error = "regular" },
        { "invalid cli: empty class", &web1, .cli = { "-C", "" }, .expect = INVALID, .error = "empty" },
        { "invalid cli: non-UTF-8 agent", &web1, .cli = { "-A", "nr\xffpe" }, .expect = INVALID, .error = "UTF-8" },
};

/* ---- running the table ---------------------------------------------------------------- */

#define SENTINEL ((Filter *) &tests_number)

static int parse_case(const FilterCase *c, Filter **ret, const char **ret_error) {
        int r;

        if (c->cli[0]) {
                _cleanup_filter_ Filter *f = filter_new();

                ASSERT(f);
                for (size_t i = 0; i + 1 < ELEMENTSOF(c->cli) && c->cli[i]; i += 2) {
                        const char *opt = c->cli[i], *arg = c->cli[i + 1];

                        ASSERT(arg);
                        r = streq(opt, "-F") ? filter_add_fact_arg(f, arg, ret_error) :
                            streq(opt, "-C") ? filter_add_class(f, arg, ret_error) :
                            streq(opt, "-I") ? filter_add_identity(f, arg, ret_error) :
                            streq(opt, "-A") ? filter_add_agent(f, arg, ret_error) : -ENOTTY;
                        ASSERT(r != -ENOTTY);
                        if (r < 0)
                                return r;
                }
                *ret = TAKE_PTR(f);
                return 0;
        }

        _cleanup_free_ char *generated = NULL;
        const char *text = c->json;
        if (c->generate) {
                generated = c->generate();
                ASSERT(generated);
                text = generated;
        }
        ASSERT(text);

        json_error_t jerr;
        _cleanup_json_ json_t *j = json_loads(text, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
        if (!j)
                fprintf(stderr, "bad JSON in test case: %s\n", jerr.text);
        ASSERT(j);
        return filter_from_json(j, ret, ret_error);
}

static void run_case(const FilterCase *c) {
        _cleanup_json_ json_t *facts = NULL;
        const char *error = NULL;
        Filter *f = SENTINEL;
        int r;

        test_begin(c->name);

        if (c->node->facts) {
                facts = json_loads(c->node->facts, 0, NULL);
                ASSERT(facts);
        }
        NodeInfo node = {
                .identity = c->node->identity,
                .facts = facts,
                .classes = (char *const *) c->node->classes,
                .agents = (char *const *) c->node->agents,
        };

        r = parse_case(c, &f, &error);
        if (c->expect == INVALID) {
                ASSERT(r == -EINVAL);
                ASSERT(f == SENTINEL);   /* ret untouched on failure */
                ASSERT(!isempty(error));
                if (c->error && !strstr(error, c->error))
                        fprintf(stderr, "error \"%s\" lacks \"%s\"\n", error, c->error);
                ASSERT(!c->error || strstr(error, c->error));
                printf("# error: %s\n", error);
                test_ok();
                return;
        }

        ASSERT(r == 0);
        ASSERT(f && f != SENTINEL);
        ASSERT(filter_match(f, &node) == (c->expect == MATCH));

        /* Round trip: to_json → from_json gives the same JSON and the same answer. */
        _cleanup_filter_ Filter *f1 = f, *f2 = NULL;
        _cleanup_json_ json_t *j1 = filter_to_json(f1), *j2 = NULL;
        ASSERT(j1);
        ASSERT(json_is_object(j1));
        error = NULL;
        ASSERT(filter_from_json(j1, &f2, &error) == 0);
        ASSERT(f2);
        j2 = filter_to_json(f2);
        ASSERT(j2);
        ASSERT(json_equal(j1, j2));
        ASSERT(filter_match(f2, &node) == (c->expect == MATCH));
        ASSERT(filter_is_empty(f1) == (json_object_size(j1) == 0));

        test_ok();
}

/* ---- everything else ------------------------------------------------------------------ */

static void test_ops(void) {
        test_begin("filter_op_to_string / filter_op_from_string");
        for (FilterOp op = 0; op < _FILTER_OP_MAX; op++) {
                const char *s = filter_op_to_string(op);
                ASSERT(s);
                ASSERT(filter_op_from_string(s) == op);
        }
        ASSERT(streq(filter_op_to_string(FILTER_OP_MATCH), "=~"));
        ASSERT(streq(filter_op_to_string(FILTER_OP_LE), "<="));
        ASSERT(filter_op_to_string(_FILTER_OP_MAX) == NULL);
        ASSERT(filter_op_to_string(_FILTER_OP_INVALID) == NULL);
        ASSERT(filter_op_from_string("~~") == _FILTER_OP_INVALID);
        ASSERT(filter_op_from_string("") == _FILTER_OP_INVALID);
        ASSERT(filter_op_from_string(NULL) == _FILTER_OP_INVALID);
        test_ok();
}

static void test_empty(void) {
        _cleanup_filter_ Filter *f = NULL, *g = NULL;
        _cleanup_json_ json_t *j = NULL;
        NodeInfo node = { .identity = "x" };

        test_begin("empty and NULL filters");
        ASSERT(filter_free(NULL) == NULL);
        ASSERT(filter_is_empty(NULL));
        ASSERT(filter_match(NULL, &node));
        f = filter_new();
        ASSERT(f);
        ASSERT(filter_is_empty(f));
        ASSERT(filter_match(f, &node));
        j = filter_to_json(f);
        ASSERT(j && json_is_object(j) && json_object_size(j) == 0);
        ASSERT(filter_from_json(NULL, &g, NULL) == 0);
        ASSERT(g && filter_is_empty(g));
        test_ok();
}

static void test_to_json_shape(void) {
        static const char *const text =
                "{ \"fact\": [ { \"fact\": \"os\", \"operator\": \"==\", \"value\": \"debian\" },"
                "              { \"fact\": \"name\", \"operator\": \"=~\", \"value\": \"/^web/\" },"
                "              { \"fact\": \"mem\", \"operator\": \">=\", \"value\": \"1024\" } ],"
                "  \"class\": [ \"webserver\", \"/^db/\" ],"
                "  \"identity\": [ \"www1\", \"/^www[0-9]+$/\" ],"
                "  \"agent\": [ \"nrpe\" ] }";
        _cleanup_json_ json_t *in = NULL, *out = NULL;
        _cleanup_filter_ Filter *f = NULL;

        test_begin("to_json reproduces a full filter exactly");
        in = json_loads(text, 0, NULL);
        ASSERT(in);
        ASSERT(filter_from_json(in, &f, NULL) == 0);
        ASSERT(f->n_facts == 3);
        ASSERT(f->facts[0].op == FILTER_OP_EQ && !f->facts[0].is_regex);
        ASSERT(f->facts[1].op == FILTER_OP_MATCH && f->facts[1].is_regex);
        ASSERT(f->facts[2].op == FILTER_OP_GE);
        ASSERT(strv_length(f->classes) == 2 && strv_length(f->identities) == 2 && strv_length(f->agents) == 1);
        out = filter_to_json(f);
        ASSERT(out);
        ASSERT(json_equal(in, out));
        test_ok();
}

static void test_cli_shape(void) {
        static const struct {
                const char *arg;
                const char *fact;
                FilterOp op;
                const char *value;
                bool is_regex;
        } args[] = {
                { "os=debian", "os", FILTER_OP_EQ, "debian", false },
                { "os==debian", "os", FILTER_OP_EQ, "debian", false },
                { "load>2", "load", FILTER_OP_GT, "2", false },
                { "kernel!=5.10", "kernel", FILTER_OP_NE, "5.10", false },
                { "name=~^web", "name", FILTER_OP_MATCH, "^web", true },
                { "name=/^web/", "name", FILTER_OP_EQ, "/^web/", true },
                { "mem>=1024", "mem", FILTER_OP_GE, "1024", false },
                { "mem<=2048", "mem", FILTER_OP_LE, "2048", false },
                { "x<1", "x", FILTER_OP_LT, "1", false },
                { "a=b=c", "a", FILTER_OP_EQ, "b=c", false },
                { "a=>1", "a", FILTER_OP_EQ, ">1", false },
                { "a<=>1", "a", FILTER_OP_LE, ">1", false },
                { "a=~=b", "a", FILTER_OP_MATCH, "=b", true },
        };
        _cleanup_filter_ Filter *f = filter_new();
        _cleanup_json_ json_t *j = NULL;
        const char *error = NULL;

        test_begin("command line forms parse into fact, operator, value");
        ASSERT(f);
        for (size_t i = 0; i < ELEMENTSOF(args); i++) {
                ASSERT(filter_add_fact_arg(f, args[i].arg, &error) == 0);
                ASSERT(f->n_facts == i + 1);
                ASSERT(streq(f->facts[i].fact, args[i].fact));
                ASSERT(f->facts[i].op == args[i].op);
                ASSERT(streq(f->facts[i].value, args[i].value));
                ASSERT(f->facts[i].is_regex == args[i].is_regex);
        }
        j = filter_to_json(f);
        ASSERT(j);
        ASSERT(json_array_size(json_object_get(j, "fact")) == ELEMENTSOF(args));
        ASSERT(streq(json_string_value(json_object_get(json_array_get(json_object_get(j, "fact"), 5), "value")),
                    "/^web/"));
        ASSERT(streq(json_string_value(json_object_get(json_array_get(json_object_get(j, "fact"), 5), "operator")),
                    "=="));
        ASSERT(!json_object_get(j, "class") && !json_object_get(j, "identity") && !json_object_get(j, "agent"));
        test_ok();
}

static void test_cli_limits(void) {
        _cleanup_filter_ Filter *f = filter_new();
        _cleanup_free_ char *long_value = NULL, *arg = NULL;
        const char *error = NULL;

        test_begin("command line limits match the JSON ones");
        ASSERT(f);
        for (unsigned i = 0; i < 64; i++) {
                ASSERT(filter_add_fact_arg(f, "os=debian", &error) == 0);
                ASSERT(filter_add_class(f, "web", &error) == 0);
                ASSERT(filter_add_identity(f, "www1", &error) == 0);
                ASSERT(filter_add_agent(f, "nrpe", &error) == 0);
        }
        ASSERT(filter_add_fact_arg(f, "os=debian", &error) == -EINVAL && !isempty(error));
        error = NULL;
        ASSERT(filter_add_class(f, "web", &error) == -EINVAL && !isempty(error));
        error = NULL;
        ASSERT(filter_add_identity(f, "www1", &error) == -EINVAL && !isempty(error));
        error = NULL;
        ASSERT(filter_add_agent(f, "nrpe", &error) == -EINVAL && !isempty(error));
        ASSERT(f->n_facts == 64 && strv_length(f->classes) == 64);

        filter_free(f);
        f = filter_new();
        ASSERT(f);
        long_value = repeat('a', 257);
        ASSERT(long_value);
        ASSERT(asprintf(&arg, "name=~%s", long_value) >= 0);
        error = NULL;
        ASSERT(filter_add_fact_arg(f, arg, &error) == -EINVAL && !isempty(error));
        ASSERT(f->n_facts == 0);
        long_value[256] = '\0';
        free(arg);
        ASSERT(asprintf(&arg, "name=~%s", long_value) >= 0);
        ASSERT(filter_add_fact_arg(f, arg, &error) == 0);
        ASSERT(f->n_facts == 1 && f->facts[0].is_regex);
        test_ok();
}

int main(void) {
        test_ops();
        test_empty();
        test_to_json_shape();
        test_cli_shape();
        test_cli_limits();
        for (size_t i = 0; i < ELEMENTSOF(cases); i++)
                run_case(&cases[i]);
        printf("1..%u\n", tests_number);
        return EXIT_SUCCESS;
}
