/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <sys/stat.h>

/* lib/config.h: in a meson build "config.h" is the generated one (-include). */
#include "../lib/config.h"
#include "filter.h"
#include "log.h"
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "macro.h"
#include "message.h"
#include "nrpe.h"
#include "replay.h"
#include "responder-core.h"
#include "sign.h"
#include "tests.h"
#include "util.h"

static char tmpdir[] = "/tmp/test-message-XXXXXX";
static bool tmpdir_made;

static void cleanup_tmpdir(void) {
        if (tmpdir_made)
                tests_rm_rf(tmpdir);
        tmpdir_made = false;
}

#define NOW INT64_C(1700000000)
#define RID "0123456789abcdef0123456789abcdef"

/* A JSON value from its text (numbers, strings, arrays, ...). */
static json_t *J(const char *text) {
        json_error_t e;
        json_t *j = json_loads(text, JSON_DECODE_ANY, &e);
        if (!j)
                test_fail(__FILE__, __LINE__, "bad JSON in test: %s: %s", text, e.text);
        return j;
}

static char *dump(const json_t *j, size_t *ret_size) {
        char *s = NULL;
        ASSERT_INT_EQ(message_dump(j, &s, ret_size), 0);
        return s;
}

/* The body of base with key set to v (stolen), or removed when v is NULL. */
static char *mutated(const json_t *base, const char *key, json_t *v, size_t *ret_size) {
        json_t *copy = json_deep_copy(base);
        ASSERT_NOT_NULL(copy);
        if (v)
                ASSERT_INT_EQ(json_object_set_new(copy, key, v), 0);
        else
                ASSERT_INT_EQ(json_object_del(copy, key), 0);
        char *s = dump(copy, ret_size);
        json_decref(copy);
        return s;
}

static json_t *base_request(void) {
        json_t *data = json_pack("{s:s}", "command", "check_load");
        json_t *j = request_build(RID, "client1", "cert=nagios", "muster", "nrpe", "runcommand", NOW, 60, NULL, data);
        json_decref(data);
        ASSERT_NOT_NULL(j);
        return j;
}

static json_t *base_reply(void) {
        json_t *data = json_pack("{s:s, s:i, s:s}", "command", "check_load", "exitcode", 1, "output", "WARNING - load");
        json_t *j = reply_build(RID, "node1", "nrpe", "runcommand", NOW, 0, "OK", data);
        json_decref(data);
        ASSERT_NOT_NULL(j);
        return j;
}

static json_t *base_registration(void) {
        char *classes[] = { (char *) "web", (char *) "base", NULL };
        char *agents[] = { (char *) "discovery", (char *) "nrpe", NULL };
        json_t *facts = json_pack("{s:s, s:s}", "role", "web", "os", "debian");
        json_t *j = registration_build("node1", "muster", NOW, 300, facts, classes, agents,
                                       "0123456789abcdef0123456789abcdef", 12345, "0.1.0");
        json_decref(facts);
        ASSERT_NOT_NULL(j);
        return j;
}

typedef enum Kind { KIND_REQUEST, KIND_REPLY, KIND_REGISTRATION } Kind;

static int parse_any(Kind k, const void *body, size_t size, uint64_t max, char err[static MESSAGE_ERROR_MAX]) {
        int r;
        switch (k) {
        case KIND_REQUEST: {
                Request *q = NULL;
                r = request_parse(body, size, max, &q, err);
                if (r >= 0)
                        ASSERT_NOT_NULL(q);
                request_free(q);
                return r;
        }
        case KIND_REPLY: {
                Reply *q = NULL;
                r = reply_parse(body, size, max, &q, err);
                if (r >= 0)
                        ASSERT_NOT_NULL(q);
                reply_free(q);
                return r;
        }
        default: {
                Registration *q = NULL;
                r = registration_parse(body, size, max, &q, err);
                if (r >= 0)
                        ASSERT_NOT_NULL(q);
                registration_free(q);
                return r;
        }
        }
}

static void check_bad_body(int line, Kind k, const void *body, size_t size, uint64_t max, int want,
                           const char *needle, const char *needle2) {
        char err[MESSAGE_ERROR_MAX] = "";
        int r = parse_any(k, body, size, max, err);
        if (r != want || !strstr(err, needle) || (needle2 && !strstr(err, needle2)))
                test_fail(__FILE__, line, "body %.200s: want %d with \"%s\"%s%s%s, got %d with \"%s\"",
                          size < 300 ? (const char *) body : "(large)", want, needle,
                          needle2 ? " and \"" : "", needle2 ?: "", needle2 ? "\"" : "", r, err);
}

/* key of the base message set to the JSON text value (NULL: key removed)
 * must be refused with -EBADMSG and an error naming needle (and needle2). */
#define BAD(kind, base, key, value, needle, needle2)                           \
        do {                                                                   \
                size_t _n;                                                     \
                char *_b = mutated(base, key, (value) ? J(value) : NULL, &_n); \
                check_bad_body(__LINE__, kind, _b, _n, 0, -EBADMSG, needle, needle2); \
                free(_b);                                                      \
        } while (0)

#define BAD_TEXT(kind, text, want, needle)                                     \
        check_bad_body(__LINE__, kind, text, sizeof(text) - 1, 0, want, needle, NULL)

#define GOOD(kind, base, key, value)                                           \
        do {                                                                   \
                size_t _n;                                                     \
                char _err[MESSAGE_ERROR_MAX] = "";                             \
                char *_b = mutated(base, key, (value) ? J(value) : NULL, &_n); \
                int _r = parse_any(kind, _b, _n, 0, _err);                     \
                if (_r != 0)                                                   \
                        test_fail(__FILE__, __LINE__, "body %s: want 0, got %d with \"%s\"", _b, _r, _err); \
                free(_b);                                                      \
        } while (0)

static void test_request_parse(void) {
        json_t *base = base_request();
        _cleanup_free_ char *body = NULL;
        char err[MESSAGE_ERROR_MAX] = "";
        Request *q = NULL;
        size_t n;

        TEST("request_parse: a built request parses back");
        body = dump(base, &n);
        ASSERT_INT_EQ(request_parse(body, n, 0, &q, err), 0);
        ASSERT_STR_EQ(q->requestid, RID);
        ASSERT_STR_EQ(q->senderid, "client1");
        ASSERT_STR_EQ(q->callerid, "cert=nagios");
        ASSERT_STR_EQ(q->collective, "muster");
        ASSERT_STR_EQ(q->agent, "nrpe");
        ASSERT_STR_EQ(q->action, "runcommand");
        ASSERT_INT_EQ(q->msgtime, NOW);
        ASSERT_INT_EQ(q->ttl, 60);
        ASSERT_NOT_NULL(q->filter);
        ASSERT_TRUE(filter_is_empty(q->filter));
        ASSERT_TRUE(json_is_object(q->data));
        ASSERT_STR_EQ(json_string_value(json_object_get(q->data, "command")), "check_load");
        q = request_free(q);

        /* with a filter */
        _cleanup_filter_ Filter *f = filter_new();
        const char *ferr = NULL;
        ASSERT_NOT_NULL(f);
        ASSERT_INT_EQ(filter_add_fact_arg(f, "role=web", &ferr), 0);
        ASSERT_INT_EQ(filter_add_identity(f, "/^node[0-9]+$/", &ferr), 0);
        json_t *wf = request_build(RID, "client1", "c", "muster", "discovery", "ping", NOW, 60, f, NULL);
        ASSERT_NOT_NULL(wf);
        free(body);
        body = dump(wf, &n);
        json_decref(wf);
        ASSERT_INT_EQ(request_parse(body, n, 0, &q, err), 0);
        ASSERT_INT_EQ(q->filter->n_facts, 1);
        ASSERT_STR_EQ(q->filter->facts[0].fact, "role");
        ASSERT_STR_EQ(q->filter->identities[0], "/^node[0-9]+$/");
        q = request_free(q);

        /* optional data and filter, ttl bounds */
        GOOD(KIND_REQUEST, base, "data", NULL);
        GOOD(KIND_REQUEST, base, "data", "null");
        GOOD(KIND_REQUEST, base, "filter", NULL);
        GOOD(KIND_REQUEST, base, "filter", "null");
        GOOD(KIND_REQUEST, base, "ttl", "1");
        GOOD(KIND_REQUEST, base, "ttl", "604800");
        GOOD(KIND_REQUEST, base, "msgtime", "0");
        TEST_OK();

        TEST("request_parse: every required field missing");
        static const char *const required[] = { "protocol", "requestid", "senderid", "callerid", "collective",
                                                "agent", "action", "msgtime", "ttl" };
        for (size_t i = 0; i < ELEMENTSOF(required); i++) {
                char want[64];
                snprintf(want, sizeof want, "missing field \"%s\"", required[i]);
                BAD(KIND_REQUEST, base, required[i], NULL, want, NULL);
        }
        TEST_OK();

        TEST("request_parse: wrong types for every field");
        static const char *const strings[] = { "protocol", "requestid", "senderid", "callerid", "collective",
                                               "agent", "action" };
        static const char *const not_strings[] = { "5", "null", "true", "[]", "{}", "[\"x\"]", "1.5" };
        for (size_t i = 0; i < ELEMENTSOF(strings); i++)
                for (size_t k = 0; k < ELEMENTSOF(not_strings); k++) {
                        char want[64];
                        snprintf(want, sizeof want, "field \"%s\" must be a string", strings[i]);
                        BAD(KIND_REQUEST, base, strings[i], not_strings[k], want, NULL);
                }
        static const char *const not_ints[] = { "\"5\"", "null", "true", "[]", "{}", "1.5", "1e3" };
        for (size_t k = 0; k < ELEMENTSOF(not_ints); k++) {
                BAD(KIND_REQUEST, base, "msgtime", not_ints[k], "field \"msgtime\" must be an integer", NULL);
                BAD(KIND_REQUEST, base, "ttl", not_ints[k], "field \"ttl\" must be an integer", NULL);
        }
        BAD(KIND_REQUEST, base, "data", "[]", "field \"data\" must be an object", NULL);
        BAD(KIND_REQUEST, base, "data", "\"x\"", "field \"data\" must be an object", NULL);
        BAD(KIND_REQUEST, base, "data", "5", "field \"data\" must be an object", NULL);
        BAD(KIND_REQUEST, base, "filter", "\"role=web\"", "invalid filter", NULL);
        BAD(KIND_REQUEST, base, "filter", "[]", "invalid filter", NULL);
        BAD(KIND_REQUEST, base, "filter", "{\"fact\":[{\"fact\":\"a\",\"operator\":\"~~\",\"value\":\"b\"}]}",
            "invalid filter", "operator");
        BAD(KIND_REQUEST, base, "filter", "{\"bogus\":[]}", "invalid filter", NULL);
        TEST_OK();

        TEST("request_parse: field values");
        BAD(KIND_REQUEST, base, "protocol", "\"muster:request:2\"", "unsupported protocol", PROTOCOL_REQUEST);
        BAD(KIND_REQUEST, base, "protocol", "\"muster:reply:1\"", "unsupported protocol", NULL);
        BAD(KIND_REQUEST, base, "protocol", "\"\"", "unsupported protocol", NULL);
        static const char *const bad_rids[] = {
                "\"0123456789ABCDEF0123456789ABCDEF\"",  /* uppercase */
                "\"0123456789abcdef0123456789abcde\"",   /* 31 */
                "\"0123456789abcdef0123456789abcdef0\"", /* 33 */
                "\"0123456789abcdef0123456789abcdeg\"",
                "\"0123456789abcdef-123456789abcdef\"",
                "\"\"",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad_rids); i++)
                BAD(KIND_REQUEST, base, "requestid", bad_rids[i], "requestid", "32 lowercase hex");
        static const char *const bad_ids[] = { "\"../etc/passwd\"", "\".hidden\"", "\"\"", "\"a b\"",
                                               "\"a/b\"", "\"n\\u00e9\"", "\"a\\nb\"" };
        for (size_t i = 0; i < ELEMENTSOF(bad_ids); i++)
                BAD(KIND_REQUEST, base, "senderid", bad_ids[i], "senderid", "identity");
        BAD(KIND_REQUEST, base, "callerid", "\"\"", "callerid", "printable");
        BAD(KIND_REQUEST, base, "callerid", "\"a\\tb\"", "callerid", "printable");
        BAD(KIND_REQUEST, base, "callerid", "\"caf\\u00e9\"", "callerid", "printable");
        BAD(KIND_REQUEST, base, "collective", "\"a.b\"", "collective", "name");
        BAD(KIND_REQUEST, base, "agent", "\"../x\"", "agent", "name");
        BAD(KIND_REQUEST, base, "action", "\"\"", "action", "name");
        TEST_OK();

        TEST("request_parse: ttl 0, ttl over 7 days, negative msgtime");
        BAD(KIND_REQUEST, base, "ttl", "0", "ttl", "between 1 and 604800");
        BAD(KIND_REQUEST, base, "ttl", "-1", "ttl", "between 1 and 604800");
        BAD(KIND_REQUEST, base, "ttl", "604801", "ttl", "between 1 and 604800");
        BAD(KIND_REQUEST, base, "ttl", "9223372036854775807", "ttl", "between");
        BAD(KIND_REQUEST, base, "msgtime", "-1", "msgtime", "between 0");
        BAD(KIND_REQUEST, base, "msgtime", "-9223372036854775808", "msgtime", "between 0");
        BAD(KIND_REQUEST, base, "msgtime", "9223372036854775807", "msgtime", "between");
        TEST_OK();

        TEST("request_parse: oversize bodies");
        /* a valid request padded to 2 MiB */
        size_t big = 2u << 20;
        char *pad = malloc(big + 1);
        ASSERT_NOT_NULL(pad);
        memset(pad, 'x', big);
        pad[big] = '\0';
        json_t *j = json_deep_copy(base);
        ASSERT_INT_EQ(json_object_set_new(json_object_get(j, "data"), "pad", json_string(pad)), 0);
        free(pad);
        char *bb = dump(j, &n);
        json_decref(j);
        ASSERT_TRUE(n > big);
        char want[128];
        snprintf(want, sizeof want, "message of %zu bytes exceeds the limit of 1048576 bytes", n);
        check_bad_body(__LINE__, KIND_REQUEST, bb, n, 0, -EMSGSIZE, want, NULL);
        check_bad_body(__LINE__, KIND_REQUEST, bb, n, MESSAGE_SIZE_DEFAULT, -EMSGSIZE, "exceeds the limit", NULL);
        check_bad_body(__LINE__, KIND_REPLY, bb, n, 0, -EMSGSIZE, "exceeds the limit", NULL);
        check_bad_body(__LINE__, KIND_REGISTRATION, bb, n, 0, -EMSGSIZE, "exceeds the limit", NULL);
        /* ...which a larger limit lets through */
        ASSERT_INT_EQ(request_parse(bb, n, 4u << 20, &q, err), 0);
        q = request_free(q);
        free(bb);
        /* the limit is exact */
        free(body);
        body = dump(base, &n);
        ASSERT_INT_EQ(request_parse(body, n, n, &q, err), 0);
        q = request_free(q);
        check_bad_body(__LINE__, KIND_REQUEST, body, n, n - 1, -EMSGSIZE, "exceeds the limit", NULL);
        TEST_OK();

        TEST("request_parse: not UTF-8, NUL bytes, duplicate keys, not an object, nesting");
        BAD_TEXT(KIND_REQUEST, "{\"protocol\":\"muster:request:1\",\"callerid\":\"a\xff" "b\"}", -EBADMSG,
                 "not valid UTF-8");
        BAD_TEXT(KIND_REQUEST, "{\"protocol\":\"muster:request:1\",\"callerid\":\"a\xc0\xaf" "b\"}", -EBADMSG,
                 "not valid UTF-8");
        BAD_TEXT(KIND_REQUEST, "{\"protocol\":\"muster:request:1\",\"callerid\":\"a\xed\xa0\x80" "b\"}", -EBADMSG,
                 "not valid UTF-8");
        /* \u0000 in a checked field and in free-form data */
        free(body);
        body = mutated(base, "callerid", json_stringn("a\0b", 3), &n);
        ASSERT_NOT_NULL(strstr(body, "\\u0000"));
        check_bad_body(__LINE__, KIND_REQUEST, body, n, 0, -EBADMSG, "\\u0000", NULL);
        free(body);
        body = mutated(base, "senderid", json_stringn("node1\0evil", 10), &n);
        check_bad_body(__LINE__, KIND_REQUEST, body, n, 0, -EBADMSG, "\\u0000", NULL);
        free(body);
        body = mutated(base, "data", json_pack("{s:s%}", "command", "check\0x", (size_t) 7), &n);
        check_bad_body(__LINE__, KIND_REQUEST, body, n, 0, -EBADMSG, "\\u0000", NULL);
        /* a raw NUL byte inside the body */
        static const char rawnul[] = "{\"protocol\":\"muster:request:1\",\"callerid\":\"a\0b\"}";
        check_bad_body(__LINE__, KIND_REQUEST, rawnul, sizeof rawnul - 1, 0, -EBADMSG, "not valid JSON", NULL);
        /* duplicate keys: the second "agent" must not silently win or lose */
        free(body);
        body = dump(base, &n);
        char *dup = NULL;
        ASSERT(asprintf(&dup, "{\"agent\":\"discovery\",%s", body + 1) > 0);
        check_bad_body(__LINE__, KIND_REQUEST, dup, strlen(dup), 0, -EBADMSG, "duplicate", NULL);
        free(dup);
        BAD_TEXT(KIND_REQUEST, "[]", -EBADMSG, "not a JSON object");
        BAD_TEXT(KIND_REQUEST, "[{\"protocol\":\"muster:request:1\"}]", -EBADMSG, "not a JSON object");
        BAD_TEXT(KIND_REQUEST, "\"muster:request:1\"", -EBADMSG, "JSON");
        BAD_TEXT(KIND_REQUEST, "42", -EBADMSG, "JSON");
        BAD_TEXT(KIND_REQUEST, "null", -EBADMSG, "JSON");
        BAD_TEXT(KIND_REQUEST, "", -EBADMSG, "empty");
        BAD_TEXT(KIND_REQUEST, "{", -EBADMSG, "not valid JSON");
        BAD_TEXT(KIND_REQUEST, "{} {}", -EBADMSG, "not valid JSON");
        BAD_TEXT(KIND_REQUEST, "{\"protocol\":\"muster:request:1\",}", -EBADMSG, "not valid JSON");
        BAD_TEXT(KIND_REQUEST, "{}", -EBADMSG, "missing field \"protocol\"");
        /* deeply nested: refused, no stack overflow */
        size_t depth = 200000;
        char *deep = malloc(2 * depth + 64);
        ASSERT_NOT_NULL(deep);
        size_t o = (size_t) sprintf(deep, "{\"data\":");
        for (size_t i = 0; i < depth; i++)
                deep[o++] = '[';
        for (size_t i = 0; i < depth; i++)
                deep[o++] = ']';
        deep[o++] = '}';
        deep[o] = '\0';
        check_bad_body(__LINE__, KIND_REQUEST, deep, o, 0, -EBADMSG, "not valid JSON", "depth");
        free(deep);
        TEST_OK();

        json_decref(base);
}

static void test_reply_parse(void) {
        json_t *base = base_reply();
        char err[MESSAGE_ERROR_MAX] = "";
        Reply *q = NULL;
        size_t n;

        TEST("reply_parse: a built reply parses back");
        char *body = dump(base, &n);
        ASSERT_INT_EQ(reply_parse(body, n, 0, &q, err), 0);
        ASSERT_STR_EQ(q->requestid, RID);
        ASSERT_STR_EQ(q->senderid, "node1");
        ASSERT_STR_EQ(q->agent, "nrpe");
        ASSERT_STR_EQ(q->action, "runcommand");
        ASSERT_INT_EQ(q->msgtime, NOW);
        ASSERT_INT_EQ(q->statuscode, 0);
        ASSERT_STR_EQ(q->statusmsg, "OK");
        ASSERT_INT_EQ(json_integer_value(json_object_get(q->data, "exitcode")), 1);
        q = reply_free(q);
        free(body);
        GOOD(KIND_REPLY, base, "data", NULL);
        GOOD(KIND_REPLY, base, "statuscode", "5");
        GOOD(KIND_REPLY, base, "statusmsg", "\"\"");
        GOOD(KIND_REPLY, base, "statusmsg", "\"Unknown action: caf\\u00e9\"");
        TEST_OK();

        TEST("reply_parse: missing fields, wrong types, bad values");
        static const char *const required[] = { "protocol", "requestid", "senderid", "agent", "action",
                                                "msgtime", "statuscode", "statusmsg" };
        for (size_t i = 0; i < ELEMENTSOF(required); i++) {
                char want[64];
                snprintf(want, sizeof want, "missing field \"%s\"", required[i]);
                BAD(KIND_REPLY, base, required[i], NULL, want, NULL);
        }
        static const char *const strings[] = { "protocol", "requestid", "senderid", "agent", "action", "statusmsg" };
        for (size_t i = 0; i < ELEMENTSOF(strings); i++) {
                char want[64];
                snprintf(want, sizeof want, "field \"%s\" must be a string", strings[i]);
                BAD(KIND_REPLY, base, strings[i], "7", want, NULL);
                BAD(KIND_REPLY, base, strings[i], "null", want, NULL);
        }
        BAD(KIND_REPLY, base, "statuscode", "\"0\"", "field \"statuscode\" must be an integer", NULL);
        BAD(KIND_REPLY, base, "statuscode", "0.0", "field \"statuscode\" must be an integer", NULL);
        BAD(KIND_REPLY, base, "msgtime", "true", "field \"msgtime\" must be an integer", NULL);
        BAD(KIND_REPLY, base, "statuscode", "6", "statuscode", "between 0 and 5");
        BAD(KIND_REPLY, base, "statuscode", "-1", "statuscode", "between 0 and 5");
        BAD(KIND_REPLY, base, "msgtime", "-5", "msgtime", "between 0");
        BAD(KIND_REPLY, base, "data", "[1]", "field \"data\" must be an object", NULL);
        BAD(KIND_REPLY, base, "protocol", "\"muster:request:1\"", "unsupported protocol", PROTOCOL_REPLY);
        BAD(KIND_REPLY, base, "requestid", "\"xyz\"", "requestid", "32 lowercase hex");
        BAD(KIND_REPLY, base, "senderid", "\"../../etc/shadow\"", "senderid", "identity");
        BAD_TEXT(KIND_REPLY, "[]", -EBADMSG, "not a JSON object");
        BAD_TEXT(KIND_REPLY, "{\"statusmsg\":\"\xf4\x90\x80\x80\"}", -EBADMSG, "not valid UTF-8");
        /* a request body is not a reply */
        json_t *req = base_request();
        body = dump(req, &n);
        json_decref(req);
        check_bad_body(__LINE__, KIND_REPLY, body, n, 0, -EBADMSG, "unsupported protocol", NULL);
        free(body);
        /* statusmsg is free text, but bounded */
        char *longmsg = malloc(65538);
        ASSERT_NOT_NULL(longmsg);
        memset(longmsg, 'm', 65537);
        longmsg[65537] = '\0';
        body = mutated(base, "statusmsg", json_string(longmsg), &n);
        check_bad_body(__LINE__, KIND_REPLY, body, n, 0, -EBADMSG, "statusmsg", "65536");
        free(body);
        free(longmsg);
        TEST_OK();

        json_decref(base);
}

static void test_registration_parse(void) {
        json_t *base = base_registration();
        char err[MESSAGE_ERROR_MAX] = "";
        Registration *q = NULL;
        size_t n;

        TEST("registration_parse: a built registration parses back");
        char *body = dump(base, &n);
        ASSERT_INT_EQ(registration_parse(body, n, 0, &q, err), 0);
        ASSERT_STR_EQ(q->identity, "node1");
        ASSERT_STR_EQ(q->collective, "muster");
        ASSERT_INT_EQ(q->msgtime, NOW);
        ASSERT_INT_EQ(q->interval, 300);
        ASSERT_STR_EQ(json_string_value(json_object_get(q->facts, "role")), "web");
        ASSERT_INT_EQ(json_array_size(q->classes), 2);
        ASSERT_INT_EQ(json_array_size(q->agents), 2);
        ASSERT_STR_EQ(q->boot_id, "0123456789abcdef0123456789abcdef");
        ASSERT_INT_EQ(q->uptime, 12345);
        ASSERT_STR_EQ(q->version, "0.1.0");
        q = registration_free(q);
        free(body);
        GOOD(KIND_REGISTRATION, base, "facts", NULL);
        GOOD(KIND_REGISTRATION, base, "classes", "[]");
        GOOD(KIND_REGISTRATION, base, "boot_id", NULL);
        GOOD(KIND_REGISTRATION, base, "uptime", NULL);
        TEST_OK();

        TEST("registration_parse: hostile and malformed registrations");
        static const char *const required[] = { "protocol", "identity", "collective", "msgtime", "interval" };
        for (size_t i = 0; i < ELEMENTSOF(required); i++) {
                char want[64];
                snprintf(want, sizeof want, "missing field \"%s\"", required[i]);
                BAD(KIND_REGISTRATION, base, required[i], NULL, want, NULL);
        }
        BAD(KIND_REGISTRATION, base, "identity", "\"../x\"", "identity", "[A-Za-z0-9._-]");
        BAD(KIND_REGISTRATION, base, "identity", "\".\"", "identity", NULL);
        BAD(KIND_REGISTRATION, base, "identity", "\"..\"", "identity", NULL);
        BAD(KIND_REGISTRATION, base, "identity", "\"/etc/passwd\"", "identity", NULL);
        BAD(KIND_REGISTRATION, base, "identity", "\"a\\u0001b\"", "identity", NULL);
        BAD(KIND_REGISTRATION, base, "identity", "5", "field \"identity\" must be a string", NULL);
        BAD(KIND_REGISTRATION, base, "protocol", "\"muster:registration:2\"", "unsupported protocol", NULL);
        BAD(KIND_REGISTRATION, base, "interval", "0", "interval", "between 1");
        BAD(KIND_REGISTRATION, base, "interval", "\"300\"", "field \"interval\" must be an integer", NULL);
        BAD(KIND_REGISTRATION, base, "msgtime", "-1", "msgtime", "between 0");
        BAD(KIND_REGISTRATION, base, "uptime", "-1", "uptime", "between 0");
        BAD(KIND_REGISTRATION, base, "facts", "[]", "field \"facts\" must be an object", NULL);
        BAD(KIND_REGISTRATION, base, "facts", "{\"cpus\":4}", "fact \"cpus\" must be a string", NULL);
        BAD(KIND_REGISTRATION, base, "facts", "{\"x\":{\"y\":\"z\"}}", "fact \"x\" must be a string", NULL);
        BAD(KIND_REGISTRATION, base, "classes", "\"web\"", "classes", "array of strings");
        BAD(KIND_REGISTRATION, base, "classes", "[1]", "classes", "strings");
        BAD(KIND_REGISTRATION, base, "agents", "[\"\"]", "agents", "strings");
        BAD(KIND_REGISTRATION, base, "boot_id", "\"a\\nb\"", "boot_id", "printable");
        BAD(KIND_REGISTRATION, base, "version", "7", "field \"version\" must be a string", NULL);
        TEST_OK();

        TEST("registration_from_json refuses what registration_parse refuses");
        json_t *hostile = json_deep_copy(base);
        ASSERT_INT_EQ(json_object_set_new(hostile, "identity", json_string("../x")), 0);
        ASSERT_INT_EQ(registration_from_json(hostile, &q, err), -EBADMSG);
        ASSERT_NULL(q);
        ASSERT_STR_CONTAINS(err, "identity");
        json_decref(hostile);
        ASSERT_INT_EQ(registration_from_json(base, &q, err), 0);
        ASSERT_STR_EQ(q->identity, "node1");
        q = registration_free(q);
        TEST_OK();

        json_decref(base);
}

static void test_check_time(void) {
        TEST("message_check_time: expired, in the future, within skew");
        ASSERT_INT_EQ(message_check_time(NOW, 60, NOW, 30), 0);
        ASSERT_INT_EQ(message_check_time(NOW, 60, NOW + 60, 30), 0);        /* last second of its life */
        ASSERT_INT_EQ(message_check_time(NOW, 60, NOW + 61, 30), -ETIME);
        ASSERT_INT_EQ(message_check_time(NOW - 3600, 60, NOW, 30), -ETIME);
        ASSERT_INT_EQ(message_check_time(NOW + 30, 60, NOW, 30), 0);        /* exactly the skew */
        ASSERT_INT_EQ(message_check_time(NOW + 31, 60, NOW, 30), -EDOM);
        ASSERT_INT_EQ(message_check_time(NOW + 86400, 60, NOW, 30), -EDOM);
        ASSERT_INT_EQ(message_check_time(NOW + 1, 60, NOW, 0), -EDOM);
        ASSERT_INT_EQ(message_check_time(NOW - 10, 60, NOW, 0), 0);
        TEST_OK();

        TEST("status_code_to_string, requestid_is_valid, callerid_is_valid");
        ASSERT_STR_EQ(status_code_to_string(0), "OK");
        ASSERT_STR_EQ(status_code_to_string(2), "Unknown action");
        ASSERT_NOT_NULL(status_code_to_string(99));
        ASSERT_NOT_NULL(status_code_to_string(-1));
        ASSERT_TRUE(requestid_is_valid(RID));
        ASSERT_FALSE(requestid_is_valid(NULL));
        ASSERT_FALSE(requestid_is_valid("0123456789ABCDEF0123456789abcdef"));
        ASSERT_TRUE(callerid_is_valid("cert=nagios user@host"));
        ASSERT_FALSE(callerid_is_valid(""));
        ASSERT_FALSE(callerid_is_valid("a\x7f"));
        char c257[258];
        memset(c257, 'c', 257);
        c257[257] = '\0';
        ASSERT_FALSE(callerid_is_valid(c257));
        c257[256] = '\0';
        ASSERT_TRUE(callerid_is_valid(c257));
        TEST_OK();
}

#define KEY1 "0123456789abcdef0123456789abcdef"
static const char key1[] = KEY1;
static const char key2[] = "fedcba9876543210fedcba9876543210";

static void test_sign(void) {
        Psk *p1 = NULL, *p2 = NULL;
        char sig[SIGNATURE_HEX_MAX], sig2[SIGNATURE_HEX_MAX];
        static const char body[] = "{\"protocol\":\"muster:request:1\"}";
        const size_t n = sizeof body - 1;

        TEST("sign_body: HMAC-SHA256, 64 lowercase hex digits (RFC 4231 case 1)");
        uint8_t k[20];
        memset(k, 0x0b, sizeof k);
        ASSERT_INT_EQ(psk_from_memory(k, sizeof k, &p1), 0);
        ASSERT_INT_EQ(sign_body(p1, "Hi There", 8, sig), 0);
        ASSERT_STR_EQ(sig, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
        p1 = psk_free(p1);
        TEST_OK();

        TEST("sign_body: the precomputed key states give OpenSSL's one-shot HMAC for keys of 16 to 4096 bytes");
        static const size_t sizes[] = { 16, 20, 63, 64, 65, 131, 4096 };
        for (size_t i = 0; i < ELEMENTSOF(sizes); i++) {
                uint8_t key[4096], mac[EVP_MAX_MD_SIZE];
                unsigned mac_len = 0;
                char hex[SIGNATURE_HEX_MAX];
                for (size_t j = 0; j < sizes[i]; j++)
                        key[j] = (uint8_t) (j * 7 + i);
                ASSERT_INT_EQ(psk_from_memory(key, sizes[i], &p1), 0);
                for (size_t len = 0; len < 300; len += 37) {
                        ASSERT_INT_EQ(sign_body(p1, key, len, sig), 0);
                        ASSERT_NOT_NULL(HMAC(EVP_sha256(), key, (int) sizes[i], key, len, mac, &mac_len));
                        hex_encode(mac, mac_len, hex);
                        ASSERT_STR_EQ(sig, hex);
                }
                p1 = psk_free(p1);
        }
        TEST_OK();

        TEST("verify_body: good, tampered body, tampered signature, wrong key");
        ASSERT_INT_EQ(psk_from_memory(key1, strlen(key1), &p1), 0);
        ASSERT_INT_EQ(psk_from_memory(key2, strlen(key2), &p2), 0);
        ASSERT_INT_EQ(sign_body(p1, body, n, sig), 0);
        ASSERT_INT_EQ(strlen(sig), 64);
        ASSERT_INT_EQ(strspn(sig, "0123456789abcdef"), 64);
        ASSERT_INT_EQ(verify_body(p1, body, n, SIGNATURE_SCHEME_HMAC, sig), 0);

        char tampered[sizeof body];
        for (size_t i = 0; i < n; i++) {
                memcpy(tampered, body, sizeof body);
                tampered[i] ^= 0x01;
                if (verify_body(p1, tampered, n, SIGNATURE_SCHEME_HMAC, sig) != -EBADMSG)
                        test_fail(__FILE__, __LINE__, "flipping body byte %zu is detected", i);
        }
        ASSERT_INT_EQ(verify_body(p1, body, n - 1, SIGNATURE_SCHEME_HMAC, sig), -EBADMSG);   /* truncated */

        for (size_t i = 0; i < 64; i++) {
                memcpy(sig2, sig, sizeof sig2);
                sig2[i] = sig2[i] == '0' ? '1' : '0';
                if (verify_body(p1, body, n, SIGNATURE_SCHEME_HMAC, sig2) != -EBADMSG)
                        test_fail(__FILE__, __LINE__, "flipping signature digit %zu is detected", i);
        }
        memcpy(sig2, sig, sizeof sig2);
        sig2[63] = '\0';
        ASSERT_INT_EQ(verify_body(p1, body, n, SIGNATURE_SCHEME_HMAC, sig2), -EBADMSG);     /* short */
        memcpy(sig2, sig, 64);
        sig2[64] = '0';
        sig2[65] = '\0';
        ASSERT_INT_EQ(verify_body(p1, body, n, SIGNATURE_SCHEME_HMAC, sig2), -EBADMSG);     /* long */
        ASSERT_INT_EQ(verify_body(p1, body, n, SIGNATURE_SCHEME_HMAC, "not hex at all"), -EBADMSG);

        ASSERT_INT_EQ(verify_body(p2, body, n, SIGNATURE_SCHEME_HMAC, sig), -EBADMSG);
        ASSERT_INT_EQ(sign_body(p2, body, n, sig2), 0);
        ASSERT_TRUE(strcmp(sig, sig2) != 0);
        TEST_OK();

        TEST("verify_body: no signature -ENOKEY, unknown scheme -EPROTONOSUPPORT");
        ASSERT_INT_EQ(verify_body(p1, body, n, SIGNATURE_SCHEME_HMAC, NULL), -ENOKEY);
        ASSERT_INT_EQ(verify_body(p1, body, n, SIGNATURE_SCHEME_HMAC, ""), -ENOKEY);
        ASSERT_INT_EQ(verify_body(p1, body, n, NULL, NULL), -ENOKEY);
        ASSERT_INT_EQ(verify_body(p1, body, n, "hmac-sha1", sig), -EPROTONOSUPPORT);
        ASSERT_INT_EQ(verify_body(p1, body, n, "ed25519", sig), -EPROTONOSUPPORT);
        ASSERT_INT_EQ(verify_body(p1, body, n, "HMAC-SHA256", sig), -EPROTONOSUPPORT);
        ASSERT_INT_EQ(verify_body(p1, body, n, "", sig), -EPROTONOSUPPORT);
        ASSERT_INT_EQ(verify_body(p1, body, n, NULL, sig), -EPROTONOSUPPORT);
        p1 = psk_free(p1);
        p2 = psk_free(p2);
        TEST_OK();

        TEST("psk_from_memory: 16..4096 bytes");
        char big[PSK_MAX_SIZE + 1];
        memset(big, 'k', sizeof big);
        ASSERT_INT_EQ(psk_from_memory(big, PSK_MIN_SIZE - 1, &p1), -EINVAL);
        ASSERT_NULL(p1);
        ASSERT_INT_EQ(psk_from_memory(big, PSK_MIN_SIZE, &p1), 0);
        p1 = psk_free(p1);
        ASSERT_INT_EQ(psk_from_memory(big, PSK_MAX_SIZE, &p1), 0);
        p1 = psk_free(p1);
        ASSERT_INT_EQ(psk_from_memory(big, PSK_MAX_SIZE + 1, &p1), -EINVAL);
        ASSERT_NULL(p1);
        TEST_OK();

        TEST("psk_load: trailing newline stripped, too short, missing");
        _cleanup_free_ char *f1 = tests_path(tmpdir, "psk-plain"), *f2 = tests_path(tmpdir, "psk-newline"),
                            *f3 = tests_path(tmpdir, "psk-crlf"), *f4 = tests_path(tmpdir, "psk-short"),
                            *f5 = tests_path(tmpdir, "psk-short-nl"), *f6 = tests_path(tmpdir, "psk-missing"),
                            *f7 = tests_path(tmpdir, "psk-two-newlines"), *f8 = tests_path(tmpdir, "psk-huge");
        tests_write_file_n(f1, key1, strlen(key1), 0600);
        tests_write_file_n(f2, KEY1 "\n", strlen(key1) + 1, 0600);
        tests_write_file_n(f3, KEY1 "\r\n", strlen(key1) + 2, 0600);
        tests_write_file_n(f4, "0123456789abcde", 15, 0600);
        tests_write_file_n(f5, "0123456789abcde\n", 16, 0600);
        tests_write_file_n(f7, KEY1 "\n\n", strlen(key1) + 2, 0600);
        tests_write_file_n(f8, big, sizeof big, 0600);

        ASSERT_INT_EQ(sign_body(&(Psk) { (uint8_t *) key1, strlen(key1) }, body, n, sig), 0);
        const char *const files[] = { f1, f2, f3 };
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                ASSERT_INT_EQ(psk_load(files[i], &p1, NULL), 0);
                ASSERT_INT_EQ(p1->size, strlen(key1));
                ASSERT_INT_EQ(verify_body(p1, body, n, SIGNATURE_SCHEME_HMAC, sig), 0);
                p1 = psk_free(p1);
        }
        /* only one newline is stripped: "key\n\n" is the key "key\n" */
        ASSERT_INT_EQ(psk_load(f7, &p1, NULL), 0);
        ASSERT_INT_EQ(p1->size, strlen(key1) + 1);
        ASSERT_INT_EQ(verify_body(p1, body, n, SIGNATURE_SCHEME_HMAC, sig), -EBADMSG);
        p1 = psk_free(p1);

        ASSERT_INT_EQ(psk_load(f4, &p1, NULL), -EINVAL);
        ASSERT_NULL(p1);
        ASSERT_INT_EQ(psk_load(f5, &p1, NULL), -EINVAL);   /* 15 bytes once the newline is gone */
        ASSERT_NULL(p1);
        ASSERT_INT_EQ(psk_load(f6, &p1, NULL), -ENOENT);
        ASSERT_NULL(p1);
        ASSERT_INT_EQ(psk_load(f8, &p1, NULL), -EINVAL);
        ASSERT_NULL(p1);

        TEST_OK();

        TEST("psk_load: a key file readable by everyone is used, with one warning naming it; nothing is logged");
        _cleanup_strv_free_ char **warnings = NULL;
        TestsCapture cap;
        tests_capture_begin(&cap);
        ASSERT_INT_EQ(psk_load(f1, &p1, &warnings), 0);
        char *log = tests_capture_end(&cap);
        ASSERT_STR_EQ(log, "");
        free(log);
        ASSERT_NULL(warnings);
        p1 = psk_free(p1);
        ASSERT_INT_EQ(chmod(f1, 0644), 0);
        tests_capture_begin(&cap);
        ASSERT_INT_EQ(psk_load(f1, &p1, &warnings), 0);
        log = tests_capture_end(&cap);
        ASSERT_STR_EQ(log, "");
        free(log);
        ASSERT_NOT_NULL(p1);
        ASSERT_INT_EQ(verify_body(p1, body, n, SIGNATURE_SCHEME_HMAC, sig), 0);
        p1 = psk_free(p1);
        ASSERT_UINT_EQ(strv_length(warnings), 1);
        _cleanup_free_ char *want = NULL;
        ASSERT_TRUE(asprintf(&want, "Key file %s is readable by everyone; it should be mode 0640 or stricter.",
                             f1) > 0);
        ASSERT_STR_EQ(warnings[0], want);
        /* Appended to what is there; NULL drops them. */
        ASSERT_INT_EQ(psk_load(f1, &p1, &warnings), 0);
        p1 = psk_free(p1);
        ASSERT_UINT_EQ(strv_length(warnings), 2);
        ASSERT_INT_EQ(psk_load(f1, &p1, NULL), 0);
        p1 = psk_free(p1);
        TEST_OK();
}

static void test_replay(void) {
        ReplayCache *c;

        TEST("replay_cache: add, duplicate, expiry boundary, re-add after expiry");
        c = replay_cache_new(100);
        ASSERT_NOT_NULL(c);
        ASSERT_INT_EQ(replay_cache_size(c), 0);
        ASSERT_INT_EQ(replay_cache_add(c, RID, NOW + 60, NOW), 0);
        ASSERT_INT_EQ(replay_cache_size(c), 1);
        ASSERT_INT_EQ(replay_cache_add(c, RID, NOW + 60, NOW), -EEXIST);
        ASSERT_INT_EQ(replay_cache_add(c, RID, NOW + 60, NOW + 59), -EEXIST);
        ASSERT_INT_EQ(replay_cache_add(c, RID, NOW + 60, NOW + 60), -EEXIST);  /* expires_at not yet passed */
        ASSERT_INT_EQ(replay_cache_add(c, RID, NOW + 200, NOW + 61), 0);       /* expired: new again */
        ASSERT_INT_EQ(replay_cache_size(c), 1);
        ASSERT_INT_EQ(replay_cache_add(c, RID, NOW + 200, NOW + 199), -EEXIST); /* with its new expiry */
        ASSERT_INT_EQ(replay_cache_add(c, "ffffffffffffffffffffffffffffffff", NOW + 60, NOW), 0);
        ASSERT_INT_EQ(replay_cache_size(c), 2);
        c = replay_cache_free(c);
        ASSERT_NULL(replay_cache_free(NULL));
        TEST_OK();

        TEST("replay_cache_prune: counts what it forgets");
        c = replay_cache_new(100);
        char id[33];
        for (int i = 0; i < 10; i++) {
                snprintf(id, sizeof id, "%032x", i);
                ASSERT_INT_EQ(replay_cache_add(c, id, NOW + i, NOW), 0);
        }
        ASSERT_INT_EQ(replay_cache_size(c), 10);
        ASSERT_INT_EQ(replay_cache_prune(c, NOW), 0);
        ASSERT_INT_EQ(replay_cache_prune(c, NOW + 4), 4);   /* NOW+0..NOW+3 have passed */
        ASSERT_INT_EQ(replay_cache_size(c), 6);
        ASSERT_INT_EQ(replay_cache_prune(c, NOW + 4), 0);
        snprintf(id, sizeof id, "%032x", 0);
        ASSERT_INT_EQ(replay_cache_add(c, id, NOW + 100, NOW + 4), 0);
        snprintf(id, sizeof id, "%032x", 5);
        ASSERT_INT_EQ(replay_cache_add(c, id, NOW + 100, NOW + 4), -EEXIST);
        ASSERT_INT_EQ(replay_cache_prune(c, NOW + 1000), 7);
        ASSERT_INT_EQ(replay_cache_size(c), 0);
        c = replay_cache_free(c);
        TEST_OK();

        TEST("replay_cache: full of unexpired ids is -ENOSPC, expired ones make room");
        c = replay_cache_new(3);
        ASSERT_INT_EQ(replay_cache_add(c, "00000000000000000000000000000001", NOW + 10, NOW), 0);
        ASSERT_INT_EQ(replay_cache_add(c, "00000000000000000000000000000002", NOW + 20, NOW), 0);
        ASSERT_INT_EQ(replay_cache_add(c, "00000000000000000000000000000003", NOW + 30, NOW), 0);
        ASSERT_INT_EQ(replay_cache_add(c, "00000000000000000000000000000004", NOW + 30, NOW), -ENOSPC);
        ASSERT_INT_EQ(replay_cache_size(c), 3);
        /* a duplicate is still recognized when full */
        ASSERT_INT_EQ(replay_cache_add(c, "00000000000000000000000000000002", NOW + 20, NOW), -EEXIST);
        ASSERT_INT_EQ(replay_cache_add(c, "00000000000000000000000000000004", NOW + 30, NOW + 11), 0);
        ASSERT_INT_EQ(replay_cache_size(c), 3);
        ASSERT_INT_EQ(replay_cache_add(c, "00000000000000000000000000000005", NOW + 30, NOW + 11), -ENOSPC);
        c = replay_cache_free(c);
        TEST_OK();

        TEST("replay_cache: grows past many thousands of entries");
        const int many = 100000;
        c = replay_cache_new((size_t) many);
        for (int i = 0; i < many; i++) {
                snprintf(id, sizeof id, "%08x%024x", (unsigned) i * 2654435761u, i);
                if (replay_cache_add(c, id, NOW + 1 + (i % 2), NOW) != 0)
                        test_fail(__FILE__, __LINE__, "adding entry %d", i);
        }
        ASSERT_INT_EQ(replay_cache_size(c), many);
        for (int i = 0; i < many; i++) {
                snprintf(id, sizeof id, "%08x%024x", (unsigned) i * 2654435761u, i);
                if (replay_cache_add(c, id, NOW + 100, NOW) != -EEXIST)
                        test_fail(__FILE__, __LINE__, "entry %d is remembered", i);
        }
        ASSERT_INT_EQ(replay_cache_add(c, "ffffffffffffffffffffffffffffffff", NOW + 100, NOW), -ENOSPC);
        ASSERT_INT_EQ(replay_cache_prune(c, NOW + 2), many / 2);
        ASSERT_INT_EQ(replay_cache_size(c), many / 2);
        ASSERT_INT_EQ(replay_cache_add(c, "ffffffffffffffffffffffffffffffff", NOW + 100, NOW + 2), 0);
        c = replay_cache_free(c);
        TEST_OK();
}

/* ---- the responder's decision path ---- */

typedef struct Fixture {
        MusterConfig config;
        Psk *psk;
        ReplayCache *replay;
        json_t *facts;
        NrpeConfig *nrpe;
        ResponderCore core;
} Fixture;

static void fixture_init(Fixture *f) {
        static const char nrpe_cfg[] = "command[check_true]=/bin/true\n"
                                       "command[check_args]=/bin/echo $ARG1$\n";

        *f = (Fixture) {};
        ASSERT_INT_EQ(config_init(&f->config), 0);
        ASSERT_INT_EQ(free_and_strdup(&f->config.identity, "node1"), 0);
        ASSERT_STR_EQ(f->config.collective, "muster");
        ASSERT_INT_EQ(psk_from_memory(key1, strlen(key1), &f->psk), 0);
        f->replay = replay_cache_new(1024);
        ASSERT_NOT_NULL(f->replay);
        f->facts = json_pack("{s:s}", "role", "web");
        ASSERT_NOT_NULL(f->facts);
        f->nrpe = nrpe_config_new();
        ASSERT_NOT_NULL(f->nrpe);
        ASSERT_OK(nrpe_config_parse_buffer(f->nrpe, "test.cfg", NULL, nrpe_cfg, strlen(nrpe_cfg)));
        ASSERT_STR_EQ(nrpe_config_find(f->nrpe, "check_true"), "/bin/true");
        f->core = (ResponderCore) {
                .config = &f->config,
                .psk = f->psk,
                .replay = f->replay,
                .facts = f->facts,
                .nrpe = f->nrpe,
                .started_at = NOW - 100,
        };
}

static void fixture_done(Fixture *f) {
        config_done(&f->config);
        psk_free(f->psk);
        replay_cache_free(f->replay);
        json_decref(f->facts);
        nrpe_config_free(f->nrpe);
}

typedef struct Req {
        const char *collective;
        const char *agent;
        const char *action;
        int64_t msgtime;
        int64_t ttl;
        const Filter *filter;
        const char *data;          /* JSON text or NULL */
} Req;

/* A request body with a fresh request id. */
static char *make_request(const Req *r, size_t *ret_size) {
        char rid[33];
        ASSERT_INT_EQ(random_hex_id(rid), 0);
        json_t *data = r->data ? J(r->data) : NULL;
        json_t *j = request_build(rid, "client1", "cert=test", r->collective ?: "muster", r->agent ?: "discovery",
                                  r->action ?: "ping", r->msgtime ?: NOW, r->ttl ?: 60, r->filter, data);
        json_decref(data);
        ASSERT_NOT_NULL(j);
        char *s = dump(j, ret_size);
        json_decref(j);
        return s;
}

/* Sign body with the fixture's key and dispatch it at NOW. */
static void dispatch_signed(Fixture *f, const char *body, size_t n, Dispatch *d) {
        char sig[SIGNATURE_HEX_MAX];
        ASSERT_INT_EQ(sign_body(f->psk, body, n, sig), 0);
        ASSERT_INT_EQ(responder_dispatch(&f->core, body, n, SIGNATURE_SCHEME_HMAC, sig, NOW, d), 0);
}

static void dispatch_req(Fixture *f, const Req *r, Dispatch *d) {
        size_t n;
        _cleanup_free_ char *body = make_request(r, &n);
        dispatch_signed(f, body, n, d);
}

#define ASSERT_DROP(d, why)                                                    \
        do {                                                                   \
                if ((d)->kind != DISPATCH_DROP || (d)->reason != (why))        \
                        test_fail(__FILE__, __LINE__, "want DROP %s, got kind %d reason %s (%s)", \
                                  drop_reason_to_string(why), (d)->kind,       \
                                  drop_reason_to_string((d)->reason), (d)->detail); \
        } while (0)

#define ASSERT_REPLY(d, code)                                                  \
        do {                                                                   \
                if ((d)->kind != DISPATCH_REPLY || (d)->statuscode != (code))  \
                        test_fail(__FILE__, __LINE__, "want REPLY %d, got kind %d statuscode %d (%s / %s)", \
                                  code, (d)->kind, (d)->statuscode, strna((d)->statusmsg), (d)->detail); \
                ASSERT_NOT_NULL((d)->request);                                 \
                ASSERT_NOT_NULL((d)->statusmsg);                               \
                ASSERT_TRUE(json_is_object((d)->data));                        \
        } while (0)

static void test_dispatch_drops(void) {
        Fixture f;
        Dispatch d;
        size_t n;
        char sig[SIGNATURE_HEX_MAX];

        fixture_init(&f);

        TEST("responder_dispatch: unsigned, badly signed, unknown scheme");
        _cleanup_free_ char *body = make_request(&(Req) {}, &n);
        ASSERT_INT_EQ(responder_dispatch(&f.core, body, n, NULL, NULL, NOW, &d), 0);
        ASSERT_DROP(&d, DROP_UNSIGNED);
        ASSERT_NULL(d.request);
        dispatch_done(&d);
        ASSERT_INT_EQ(responder_dispatch(&f.core, body, n, SIGNATURE_SCHEME_HMAC, "", NOW, &d), 0);
        ASSERT_DROP(&d, DROP_UNSIGNED);
        dispatch_done(&d);

        ASSERT_INT_EQ(sign_body(f.psk, body, n, sig), 0);
        sig[10] = sig[10] == 'a' ? 'b' : 'a';
        ASSERT_INT_EQ(responder_dispatch(&f.core, body, n, SIGNATURE_SCHEME_HMAC, sig, NOW, &d), 0);
        ASSERT_DROP(&d, DROP_BAD_SIGNATURE);
        ASSERT_NULL(d.request);
        dispatch_done(&d);

        ASSERT_INT_EQ(sign_body(f.psk, body, n, sig), 0);
        body[n / 2] ^= 1;
        ASSERT_INT_EQ(responder_dispatch(&f.core, body, n, SIGNATURE_SCHEME_HMAC, sig, NOW, &d), 0);
        ASSERT_DROP(&d, DROP_BAD_SIGNATURE);
        dispatch_done(&d);
        body[n / 2] ^= 1;

        /* signed with another key */
        Psk *other = NULL;
        ASSERT_INT_EQ(psk_from_memory(key2, strlen(key2), &other), 0);
        ASSERT_INT_EQ(sign_body(other, body, n, sig), 0);
        other = psk_free(other);
        ASSERT_INT_EQ(responder_dispatch(&f.core, body, n, SIGNATURE_SCHEME_HMAC, sig, NOW, &d), 0);
        ASSERT_DROP(&d, DROP_BAD_SIGNATURE);
        dispatch_done(&d);

        ASSERT_INT_EQ(sign_body(f.psk, body, n, sig), 0);
        ASSERT_INT_EQ(responder_dispatch(&f.core, body, n, "ed25519", sig, NOW, &d), 0);
        ASSERT_DROP(&d, DROP_BAD_SIGNATURE);
        ASSERT_STR_CONTAINS(d.detail, "ed25519");
        dispatch_done(&d);
        ASSERT_INT_EQ(f.core.stats.dropped[DROP_UNSIGNED], 2);
        ASSERT_INT_EQ(f.core.stats.dropped[DROP_BAD_SIGNATURE], 4);
        TEST_OK();

        TEST("responder_dispatch: malformed (signed) bodies");
        static const char *const malformed[] = {
                "{}", "[]", "not json", "{\"protocol\":\"muster:request:1\"}",
        };
        for (size_t i = 0; i < ELEMENTSOF(malformed); i++) {
                dispatch_signed(&f, malformed[i], strlen(malformed[i]), &d);
                ASSERT_DROP(&d, DROP_MALFORMED);
                ASSERT_TRUE(d.detail[0] != '\0');
                dispatch_done(&d);
        }
        json_t *bad = J("{\"protocol\":\"muster:request:1\",\"requestid\":\"" RID "\",\"senderid\":\"c\","
                        "\"callerid\":\"c\",\"collective\":\"muster\",\"agent\":\"discovery\",\"action\":\"ping\","
                        "\"msgtime\":1700000000,\"ttl\":0}");
        free(body);
        body = dump(bad, &n);
        json_decref(bad);
        dispatch_signed(&f, body, n, &d);
        ASSERT_DROP(&d, DROP_MALFORMED);
        ASSERT_STR_CONTAINS(d.detail, "ttl");
        dispatch_done(&d);
        TEST_OK();

        TEST("responder_dispatch: expired, from the future, replayed, wrong collective");
        dispatch_req(&f, &(Req) { .msgtime = NOW - 120, .ttl = 60 }, &d);
        ASSERT_DROP(&d, DROP_EXPIRED);
        ASSERT_STR_CONTAINS(d.detail, "expired");
        dispatch_done(&d);
        dispatch_req(&f, &(Req) { .msgtime = NOW - 60, .ttl = 60 }, &d);   /* last second */
        ASSERT_REPLY(&d, STATUS_OK);
        dispatch_done(&d);

        dispatch_req(&f, &(Req) { .msgtime = NOW + 3600 }, &d);
        ASSERT_DROP(&d, DROP_FUTURE);
        ASSERT_STR_CONTAINS(d.detail, "future");
        dispatch_done(&d);
        dispatch_req(&f, &(Req) { .msgtime = NOW + 30 }, &d);              /* within the 30 s skew */
        ASSERT_REPLY(&d, STATUS_OK);
        dispatch_done(&d);
        dispatch_req(&f, &(Req) { .msgtime = NOW + 31 }, &d);
        ASSERT_DROP(&d, DROP_FUTURE);
        dispatch_done(&d);

        free(body);
        body = make_request(&(Req) {}, &n);
        dispatch_signed(&f, body, n, &d);
        ASSERT_REPLY(&d, STATUS_OK);
        dispatch_done(&d);
        dispatch_signed(&f, body, n, &d);
        ASSERT_DROP(&d, DROP_REPLAYED);
        ASSERT_STR_CONTAINS(d.detail, "already seen");
        dispatch_done(&d);
        /* still a replay at the end of its ttl + skew window */
        ASSERT_INT_EQ(sign_body(f.psk, body, n, sig), 0);
        ASSERT_INT_EQ(responder_dispatch(&f.core, body, n, SIGNATURE_SCHEME_HMAC, sig, NOW + 60, &d), 0);
        ASSERT_DROP(&d, DROP_REPLAYED);
        dispatch_done(&d);

        dispatch_req(&f, &(Req) { .collective = "other" }, &d);
        ASSERT_DROP(&d, DROP_WRONG_COLLECTIVE);
        ASSERT_STR_CONTAINS(d.detail, "other");
        dispatch_done(&d);
        TEST_OK();

        TEST("responder_dispatch: oversize");
        f.config.max_message_size = 64;
        free(body);
        body = make_request(&(Req) {}, &n);
        ASSERT_TRUE(n > 64);
        dispatch_signed(&f, body, n, &d);
        ASSERT_DROP(&d, DROP_OVERSIZE);
        ASSERT_STR_CONTAINS(d.detail, "exceeds the limit");
        dispatch_done(&d);
        /* unsigned and oversize: oversize first, no HMAC over huge bodies */
        ASSERT_INT_EQ(responder_dispatch(&f.core, body, n, NULL, NULL, NOW, &d), 0);
        ASSERT_DROP(&d, DROP_OVERSIZE);
        dispatch_done(&d);
        f.config.max_message_size = MESSAGE_SIZE_DEFAULT;
        dispatch_signed(&f, body, n, &d);
        ASSERT_REPLY(&d, STATUS_OK);
        dispatch_done(&d);
        ASSERT_INT_EQ(f.core.stats.dropped[DROP_OVERSIZE], 2);
        TEST_OK();

        TEST("responder_dispatch: replay cache full");
        ReplayCache *small = replay_cache_new(1), *saved = f.core.replay;
        f.core.replay = small;
        dispatch_req(&f, &(Req) {}, &d);
        ASSERT_REPLY(&d, STATUS_OK);
        dispatch_done(&d);
        dispatch_req(&f, &(Req) {}, &d);
        ASSERT_DROP(&d, DROP_REPLAY_CACHE_FULL);
        dispatch_done(&d);
        f.core.replay = saved;
        replay_cache_free(small);
        TEST_OK();

        fixture_done(&f);
}

static void test_dispatch_agents(void) {
        Fixture f;
        Dispatch d;
        const char *ferr = NULL;

        fixture_init(&f);

        TEST("responder_dispatch: filters that do not select this node are ignored");
        _cleanup_filter_ Filter *nomatch = filter_new(), *match = filter_new(), *other_id = filter_new(),
                                *other_agent = filter_new();
        ASSERT_INT_EQ(filter_add_fact_arg(nomatch, "role=db", &ferr), 0);
        ASSERT_INT_EQ(filter_add_fact_arg(match, "role=web", &ferr), 0);
        ASSERT_INT_EQ(filter_add_identity(match, "/^node[0-9]$/", &ferr), 0);
        ASSERT_INT_EQ(filter_add_identity(other_id, "node2", &ferr), 0);
        ASSERT_INT_EQ(filter_add_agent(other_agent, "puppet", &ferr), 0);
        const Filter *const ignored[] = { nomatch, other_id, other_agent };
        for (size_t i = 0; i < ELEMENTSOF(ignored); i++) {
                dispatch_req(&f, &(Req) { .filter = ignored[i] }, &d);
                if (d.kind != DISPATCH_IGNORE)
                        test_fail(__FILE__, __LINE__, "filter %zu: want IGNORE, got %d (%s)", i, d.kind, d.detail);
                ASSERT_NOT_NULL(d.request);
                dispatch_done(&d);
        }
        ASSERT_INT_EQ(f.core.stats.filtered, 3);
        dispatch_req(&f, &(Req) { .filter = match }, &d);
        ASSERT_REPLY(&d, STATUS_OK);
        dispatch_done(&d);
        TEST_OK();

        TEST("responder_dispatch: discovery ping");
        dispatch_req(&f, &(Req) { .agent = "discovery", .action = "ping" }, &d);
        ASSERT_REPLY(&d, STATUS_OK);
        ASSERT_STR_EQ(d.request->agent, "discovery");
        ASSERT_STR_EQ(d.request->action, "ping");
        dispatch_done(&d);
        dispatch_req(&f, &(Req) { .agent = "discovery", .action = "pong" }, &d);
        ASSERT_REPLY(&d, STATUS_UNKNOWN_ACTION);
        dispatch_done(&d);
        TEST_OK();

        TEST("responder_dispatch: rpcutil inventory, unknown action, unknown agent");
        dispatch_req(&f, &(Req) { .agent = "rpcutil", .action = "inventory" }, &d);
        ASSERT_REPLY(&d, STATUS_OK);
        json_t *facts = json_object_get(d.data, "facts");
        ASSERT_TRUE(json_is_object(facts));
        ASSERT_STR_EQ(json_string_value(json_object_get(facts, "role")), "web");
        json_t *agents = json_object_get(d.data, "agents");
        ASSERT_TRUE(json_is_array(agents));
        ASSERT_INT_EQ(json_array_size(agents), 3);
        ASSERT_STR_EQ(json_string_value(json_array_get(agents, 2)), "nrpe");
        ASSERT_STR_EQ(json_string_value(json_object_get(d.data, "version")), PACKAGE_VERSION);
        dispatch_done(&d);

        dispatch_req(&f, &(Req) { .agent = "rpcutil", .action = "reboot" }, &d);
        ASSERT_REPLY(&d, STATUS_UNKNOWN_ACTION);
        dispatch_done(&d);

        dispatch_req(&f, &(Req) { .agent = "puppet", .action = "runonce" }, &d);
        ASSERT_REPLY(&d, STATUS_UNKNOWN_ACTION);
        ASSERT_STR_CONTAINS(d.statusmsg, "agent");
        dispatch_done(&d);

        /* an agent this node does not serve is as unknown as one that does not exist */
        char **saved = f.config.agents;
        f.config.agents = NULL;
        ASSERT_INT_EQ(strv_extend(&f.config.agents, "discovery"), 0);
        dispatch_req(&f, &(Req) { .agent = "nrpe", .action = "runcommand", .data = "{\"command\":\"check_true\"}" },
                     &d);
        ASSERT_REPLY(&d, STATUS_UNKNOWN_ACTION);
        dispatch_done(&d);
        strv_free(f.config.agents);
        f.config.agents = saved;
        TEST_OK();

        TEST("responder_dispatch: nrpe without command, unknown command, arguments disabled");
        dispatch_req(&f, &(Req) { .agent = "nrpe", .action = "runcommand" }, &d);
        ASSERT_REPLY(&d, STATUS_MISSING_DATA);
        ASSERT_STR_CONTAINS(d.statusmsg, "command");
        dispatch_done(&d);
        dispatch_req(&f, &(Req) { .agent = "nrpe", .action = "runcommand", .data = "{\"args\":[]}" }, &d);
        ASSERT_REPLY(&d, STATUS_MISSING_DATA);
        dispatch_done(&d);
        dispatch_req(&f, &(Req) { .agent = "nrpe", .action = "runcommand", .data = "{\"command\":5}" }, &d);
        ASSERT_REPLY(&d, STATUS_INVALID_DATA);
        dispatch_done(&d);
        dispatch_req(&f, &(Req) { .agent = "nrpe", .action = "runcommand", .data = "{\"command\":\"../bin/sh\"}" },
                     &d);
        ASSERT_REPLY(&d, STATUS_INVALID_DATA);
        dispatch_done(&d);
        dispatch_req(&f, &(Req) { .agent = "nrpe", .action = "status", .data = "{\"command\":\"check_true\"}" }, &d);
        ASSERT_REPLY(&d, STATUS_UNKNOWN_ACTION);
        dispatch_done(&d);

        dispatch_req(&f, &(Req) { .agent = "nrpe", .action = "runcommand", .data = "{\"command\":\"check_nope\"}" },
                     &d);
        ASSERT_INT_EQ(d.kind, DISPATCH_REPLY);
        ASSERT_INT_EQ(json_integer_value(json_object_get(d.data, "exitcode")), 3);
        ASSERT_STR_EQ(json_string_value(json_object_get(d.data, "output")), "No such command: check_nope");
        ASSERT_STR_EQ(json_string_value(json_object_get(d.data, "command")), "check_nope");
        dispatch_done(&d);

        dispatch_req(&f, &(Req) { .agent = "nrpe", .action = "runcommand",
                                  .data = "{\"command\":\"check_args\",\"args\":[\"x\"]}" }, &d);
        ASSERT_INT_EQ(d.kind, DISPATCH_REPLY);
        ASSERT_INT_EQ(json_integer_value(json_object_get(d.data, "exitcode")), 3);
        ASSERT_STR_CONTAINS(json_string_value(json_object_get(d.data, "output")), "Command arguments are disabled");
        ASSERT_NULL(d.command_line);
        dispatch_done(&d);

        /* enabled: nasty metachars are still refused */
        f.config.nrpe_allow_arguments = true;
        dispatch_req(&f, &(Req) { .agent = "nrpe", .action = "runcommand",
                                  .data = "{\"command\":\"check_args\",\"args\":[\"x; rm -rf /\"]}" }, &d);
        ASSERT_INT_EQ(d.kind, DISPATCH_REPLY);
        ASSERT_INT_EQ(json_integer_value(json_object_get(d.data, "exitcode")), 3);
        ASSERT_STR_CONTAINS(json_string_value(json_object_get(d.data, "output")), "illegal metachars");
        ASSERT_NULL(d.command_line);
        dispatch_done(&d);
        dispatch_req(&f, &(Req) { .agent = "nrpe", .action = "runcommand",
                                  .data = "{\"command\":\"check_args\",\"args\":[\"hello\"]}" }, &d);
        ASSERT_INT_EQ(d.kind, DISPATCH_RUN);
        ASSERT_STR_EQ(d.command_line, "/bin/echo 'hello'");
        dispatch_done(&d);
        f.config.nrpe_allow_arguments = false;
        TEST_OK();

        TEST("responder_dispatch: nrpe check_true is run");
        dispatch_req(&f, &(Req) { .agent = "nrpe", .action = "runcommand", .data = "{\"command\":\"check_true\"}" },
                     &d);
        if (d.kind != DISPATCH_RUN)
                test_fail(__FILE__, __LINE__, "want RUN, got %d (%s)", d.kind, d.detail);
        ASSERT_STR_EQ(d.command, "check_true");
        ASSERT_STR_EQ(d.command_line, "/bin/true");
        ASSERT_NOT_NULL(d.request);
        ASSERT_STR_EQ(d.request->agent, "nrpe");
        dispatch_done(&d);
        TEST_OK();

        TEST("responder_build_reply: parses and verifies");
        dispatch_req(&f, &(Req) { .agent = "nrpe", .action = "runcommand", .data = "{\"command\":\"check_true\"}" },
                     &d);
        ASSERT_INT_EQ(d.kind, DISPATCH_RUN);
        json_t *data = nrpe_result_data("check_true", 1, "WARNING: load 5|load=5\nmore\n", 28);
        ASSERT_NOT_NULL(data);
        char *body = NULL, sig[SIGNATURE_HEX_MAX];
        size_t n = 0;
        ASSERT_INT_EQ(responder_build_reply(&f.core, d.request, STATUS_OK, "OK", data, NOW + 1, &body, &n, sig), 0);
        json_decref(data);
        ASSERT_INT_EQ(n, strlen(body));
        ASSERT_INT_EQ(verify_body(f.psk, body, n, SIGNATURE_SCHEME_HMAC, sig), 0);
        char err[MESSAGE_ERROR_MAX] = "";
        Reply *rep = NULL;
        ASSERT_INT_EQ(reply_parse(body, n, 0, &rep, err), 0);
        ASSERT_STR_EQ(rep->requestid, d.request->requestid);
        ASSERT_STR_EQ(rep->senderid, "node1");
        ASSERT_STR_EQ(rep->agent, "nrpe");
        ASSERT_STR_EQ(rep->action, "runcommand");
        ASSERT_INT_EQ(rep->msgtime, NOW + 1);
        ASSERT_INT_EQ(rep->statuscode, STATUS_OK);
        ASSERT_STR_EQ(json_string_value(json_object_get(rep->data, "command")), "check_true");
        ASSERT_INT_EQ(json_integer_value(json_object_get(rep->data, "exitcode")), 1);
        ASSERT_STR_EQ(json_string_value(json_object_get(rep->data, "output")), "WARNING: load 5");
        ASSERT_STR_EQ(json_string_value(json_object_get(rep->data, "perfdata")), "load=5");
        ASSERT_STR_EQ(json_string_value(json_object_get(rep->data, "long_output")), "more");
        rep = reply_free(rep);
        body[5] ^= 1;
        ASSERT_INT_EQ(verify_body(f.psk, body, n, SIGNATURE_SCHEME_HMAC, sig), -EBADMSG);
        free(body);
        dispatch_done(&d);

        /* a reply's data: plugin output that is not UTF-8 still makes a valid reply */
        data = nrpe_result_data("check_x", 7, "bad \xff byte", 10);
        ASSERT_NOT_NULL(data);
        ASSERT_INT_EQ(json_integer_value(json_object_get(data, "exitcode")), 3);
        dispatch_req(&f, &(Req) {}, &d);
        ASSERT_INT_EQ(responder_build_reply(&f.core, d.request, STATUS_OK, "OK", data, NOW, &body, &n, sig), 0);
        json_decref(data);
        ASSERT_INT_EQ(reply_parse(body, n, 0, &rep, err), 0);
        rep = reply_free(rep);
        free(body);
        dispatch_done(&d);
        TEST_OK();

        TEST("responder_dispatch: statistics");
        ASSERT_TRUE(f.core.stats.received > 0);
        ASSERT_TRUE(f.core.stats.served > 0);
        ASSERT_INT_EQ(f.core.stats.filtered, 3);
        ASSERT_STR_EQ(drop_reason_to_string(DROP_REPLAYED), "replayed");
        ASSERT_STR_EQ(drop_reason_to_string(DROP_OVERSIZE), "oversize");
        TEST_OK();

        fixture_done(&f);
}

/* One cache through datas, each checked against reply_parse() (with keep:
 * against a fresh cache that keeps the same keys) and against jansson. */
static void test_reply_parse_cached_keep(const char *const *datas, size_t n_datas, char *const *keep) {
        ReplyDataCache cache = { .keep = keep };

        for (size_t i = 0; i < n_datas; i++) {
                char body[2048], err1[MESSAGE_ERROR_MAX] = "", err2[MESSAGE_ERROR_MAX] = "";
                Reply *a = NULL, *b = NULL;
                int n = snprintf(body, sizeof body,
                                 "{\"protocol\":\"" PROTOCOL_REPLY "\",\"requestid\":\"" RID "\","
                                 "\"senderid\":\"node1\",\"agent\":\"discovery\",\"action\":\"ping\","
                                 "\"msgtime\":%d,\"statuscode\":0,\"statusmsg\":\"OK\",\"data\":%s}",
                                 (int) NOW, datas[i]);
                ASSERT_TRUE(n > 0 && (size_t) n < sizeof body);
                json_t *prev = cache.data ? json_incref(cache.data) : NULL;
                ReplyDataCache uncached = { .keep = keep };
                int r1 = reply_parse_cached(body, (size_t) n, 0, &cache, &a, err1);
                int r2 = keep ? reply_parse_cached(body, (size_t) n, 0, &uncached, &b, err2)
                              : reply_parse(body, (size_t) n, 0, &b, err2);
                reply_data_cache_done(&uncached);
                if (r1 != r2 || !streq(err1, err2))
                        test_fail(__FILE__, __LINE__, "%s: cached %d \"%s\", uncached %d \"%s\"", body, r1, err1,
                                  r2, err2);

                json_error_t e;
                json_t *whole = json_loadb(body, (size_t) n, JSON_REJECT_DUPLICATES, &e);
                if (r1 == 0) {
                        ASSERT_NOT_NULL(whole);
                        json_t *want = json_object_get(whole, "data");
                        if (keep && json_is_object(want)) {
                                const char *key;
                                json_t *v;
                                void *tmp;
                                json_object_foreach_safe(want, tmp, key, v)
                                        if (!strv_contains(keep, key))
                                                (void) json_object_del(want, key);
                        }
                        json_t *want_data = json_is_null(want) ? NULL : want;
                        ASSERT_TRUE(!a->data == !want_data);
                        ASSERT_TRUE(!a->data || json_equal(a->data, want_data));
                        ASSERT_TRUE(!a->data == !b->data);
                        ASSERT_TRUE(!a->data || json_equal(a->data, b->data));
                        ASSERT_TRUE(!keep || !a->data || !json_object_get(a->data, "perfdata"));
                        ASSERT_STR_EQ(a->senderid, b->senderid);
                        ASSERT_STR_EQ(a->statusmsg, b->statusmsg);
                        ASSERT_INT_EQ(a->msgtime, b->msgtime);
                        /* the same text as the reply before: the same object */
                        if (i > 0 && streq(datas[i], datas[i - 1]) && prev)
                                ASSERT_TRUE(a->data == prev);
                } else
                        ASSERT_TRUE(r1 == -EBADMSG);
                json_decref(whole);
                json_decref(prev);
                reply_free(a);
                reply_free(b);
        }
        reply_data_cache_done(&cache);
        ASSERT_TRUE(cache.keep == keep);
}

/* reply_parse_cached() against reply_parse() and against jansson reading the
 * whole body, one cache carried through a sequence of bodies: the client
 * shares a data object between replies whose data text is the same, and that
 * must never accept, refuse or read anything differently. */
static void test_reply_parse_cached(void) {
        static const char *const datas[] = {
                "{\"pong\":1764500000}",            /* primes the cache (fast path) */
                "{\"pong\":1764500000}",            /* the same text: shared */
                "{\"pong\":1764500000}x",           /* the same object, then garbage */
                "{\"pong\":1764500000}}",           /* then a brace too many */
                "{\"pong\":17645000001}",           /* the cached text less its brace is a prefix */
                "{\"pong\":1764500000 }",           /* the same object, other spacing */
                "{\"pong\":1764500000},\"data\":{\"pong\":1764500000}",   /* data twice */
                "{\"pong\":1764500000},\"statusmsg\":\"OK\"",             /* statusmsg twice */
                "{\"a\":{\"b\":[1,2,\"c\"]},\"d\":null}",                 /* nested: jansson's part */
                "{\"a\":{\"b\":[1,2,\"c\"]},\"d\":null}",
                "{\"a\":{\"b\":[1,2,\"c\"]},\"d\":null}]",
                "{\"s\":\"quote \\\" and \\u00e9\"}",                     /* escapes */
                "{\"s\":\"quote \\\" and \\u00e9\"}",
                "{\"pong\":1,\"pong\":1}",          /* a duplicate key: refused, never cached */
                "{\"pong\":1,\"pong\":1}",
                "{\"pong\":1.5}",
                "{\"pong\":1.5}",
                "{}",
                "{}",
                "{} ",
                "null",
                "{\"pong\":1764500001}",
                "{\"pong\":1764500000}",
                "[1]",
                "\"text\"",
                "{\"pong\":1764500000",              /* cut short */
                /* what an NRPE result carries, for the keys kept */
                "{\"command\":\"c\",\"exitcode\":2,\"output\":\"CRITICAL\",\"perfdata\":\"\"}",
                "{\"command\":\"c\",\"exitcode\":2,\"output\":\"CRITICAL\",\"perfdata\":\"\"}",
                "{\"exitcode\":0,\"perfdata\":\"a\",\"perfdata\":\"b\"}",   /* a duplicate not kept */
                "{\"exitcode\":0,\"perfdata\":\"a\",\"perfdata\":1}",
                "{\"exitcode\":1,\"perfdata\":\"a\\\"b\",\"output\":\"W\"}",  /* an escape: jansson's */
                "{\"exitcode\":1,\"perfdata\":[1],\"output\":\"W\"}",
                "{\"perfdata\":\"a\",\"output\":\"only\"}",
                "{\"exitcode\":3,\"output\":\"U\",\"perfdata\":1.5}",
                "{\"exitcode\":3,\"output\":\"U\",\"perfdata\":\"unterminated}",
                /* more keys than the fast path reads: jansson's */
                "{\"k0\":0,\"k1\":1,\"k2\":2,\"k3\":3,\"k4\":4,\"k5\":5,\"k6\":6,\"k7\":7,\"k8\":8,"
                "\"k9\":9,\"k10\":0,\"k11\":1,\"k12\":2,\"k13\":3,\"k14\":4,\"k15\":5,\"k16\":6,\"k17\":7,"
                "\"k18\":8,\"k19\":9,\"k20\":0,\"k21\":1,\"k22\":2,\"k23\":3,\"k24\":4,\"k25\":5,\"k26\":6,"
                "\"k27\":7,\"k28\":8,\"k29\":9,\"k30\":0,\"k31\":1,\"exitcode\":2,\"output\":\"many\"}",
                "{\"k0\":0,\"k1\":1,\"k2\":2,\"k3\":3,\"k4\":4,\"k5\":5,\"k6\":6,\"k7\":7,\"k8\":8,"
                "\"k9\":9,\"k10\":0,\"k11\":1,\"k12\":2,\"k13\":3,\"k14\":4,\"k15\":5,\"k16\":6,\"k17\":7,"
                "\"k18\":8,\"k19\":9,\"k20\":0,\"k21\":1,\"k22\":2,\"k23\":3,\"k24\":4,\"k25\":5,\"k26\":6,"
                "\"k27\":7,\"k28\":8,\"k29\":9,\"k30\":0,\"k31\":1,\"exitcode\":2,\"k0\":\"twice\"}",
        };
        static char *const keep_state[] = { (char *) "exitcode", NULL };
        static char *const keep_output[] = { (char *) "exitcode", (char *) "output", (char *) "pong", NULL };

        TEST("reply_parse_cached: same answers, errors and data as reply_parse() and jansson");
        test_reply_parse_cached_keep(datas, ELEMENTSOF(datas), NULL);
        TEST_OK();
        /* Keys not kept are read and checked all the same, never built: the
         * same replies are accepted and refused, and data is jansson's data
         * less those keys. */
        TEST("reply_parse_cached: data keeping only \"exitcode\"");
        test_reply_parse_cached_keep(datas, ELEMENTSOF(datas), keep_state);
        TEST_OK();
        TEST("reply_parse_cached: data keeping \"exitcode\", \"output\" and \"pong\"");
        test_reply_parse_cached_keep(datas, ELEMENTSOF(datas), keep_output);
        TEST_OK();

        ReplyDataCache cache = {};
        TEST("reply_parse_cached: long data is read, not kept");
        {
                size_t len = 6000, head;
                char *big, err[MESSAGE_ERROR_MAX] = "";
                Reply *a = NULL;
                static const char start[] = "{\"protocol\":\"" PROTOCOL_REPLY "\",\"requestid\":\"" RID "\","
                                            "\"senderid\":\"node1\",\"agent\":\"nrpe\",\"action\":\"runcommand\","
                                            "\"msgtime\":1700000000,\"statuscode\":0,\"statusmsg\":\"OK\","
                                            "\"data\":{\"output\":\"";
                head = sizeof start - 1;
                big = malloc(head + len + 4);
                ASSERT_NOT_NULL(big);
                memcpy(big, start, head);
                memset(big + head, 'x', len);
                memcpy(big + head + len, "\"}}", 4);
                ASSERT_INT_EQ(reply_parse_cached(big, strlen(big), 0, &cache, &a, err), 0);
                ASSERT_INT_EQ(json_string_length(json_object_get(a->data, "output")), len);
                ASSERT_NULL(cache.data);
                reply_free(a);
                free(big);
        }
        reply_data_cache_done(&cache);
        reply_data_cache_done(&cache);   /* twice: harmless */
        TEST_OK();
}

/* The cache keeps each id whole, whatever its length: a longer id than a
 * request id's 32 digits is no more truncated, so it is found again. */
static void test_replay_long_ids(void) {
        TEST("replay_cache: ids of any length are remembered");
        ReplayCache *c = replay_cache_new(10);
        static const char long_id[] = "0123456789abcdef0123456789abcdef-and-then-some";
        ASSERT_INT_EQ(replay_cache_add(c, long_id, NOW + 60, NOW), 0);
        ASSERT_INT_EQ(replay_cache_add(c, long_id, NOW + 60, NOW), -EEXIST);
        c = replay_cache_free(c);
        TEST_OK();
}

int main(void) {
        log_setup("test", true);
        log_set_target(LOG_TARGET_CONSOLE);
        log_set_max_level(LOG_INFO);

        ASSERT_NOT_NULL(mkdtemp(tmpdir));
        tmpdir_made = true;
        atexit(cleanup_tmpdir);

        test_request_parse();
        test_reply_parse();
        test_reply_parse_cached();
        test_registration_parse();
        test_check_time();
        test_sign();
        test_replay();
        test_dispatch_drops();
        test_dispatch_agents();
        test_replay_long_ids();
        return EXIT_SUCCESS;
}
