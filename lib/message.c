/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <stdarg.h>

#include "message.h"
#include "util.h"

static const char *const status_table[_STATUS_MAX] = {
        [STATUS_OK] = "OK",
        [STATUS_ABORTED] = "Aborted",
        [STATUS_UNKNOWN_ACTION] = "Unknown action",
        [STATUS_MISSING_DATA] = "Missing data",
        [STATUS_INVALID_DATA] = "Invalid data",
        [STATUS_UNKNOWN_ERROR] = "Unknown error",
};

const char *status_code_to_string(int code) {
        return code >= 0 && code < _STATUS_MAX ? status_table[code] : "Invalid status code";
}

bool requestid_is_valid(const char *s) {
        if (!s || strlen(s) != 32)
                return false;
        for (size_t i = 0; i < 32; i++)
                if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
                        return false;
        return true;
}

bool callerid_is_valid(const char *s) {
        size_t n = 0;
        if (!s || !*s)
                return false;
        for (; s[n]; n++)
                if (n >= 256 || (unsigned char) s[n] < 0x20 || (unsigned char) s[n] > 0x7e)
                        return false;
        return true;
}

_printf_(2, 3)
static int fail(char err[static MESSAGE_ERROR_MAX], const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, MESSAGE_ERROR_MAX, fmt, ap);
        va_end(ap);
        return -EBADMSG;
}

static int load(const void *body, size_t size, uint64_t max_size, json_t **ret, char err[static MESSAGE_ERROR_MAX]) {
        json_error_t e;
        json_t *j;

        if (max_size == 0)
                max_size = MESSAGE_SIZE_DEFAULT;
        if (size > max_size) {
                snprintf(err, MESSAGE_ERROR_MAX, "message of %zu bytes exceeds the limit of %" PRIu64 " bytes",
                         size, max_size);
                return -EMSGSIZE;
        }
        if (size == 0)
                return fail(err, "empty message");
        /* jansson checks UTF-8 itself; we check first for a clearer reason. */
        if (!utf8_is_valid(body, size))
                return fail(err, "message is not valid UTF-8");
        j = json_loadb(body, size, JSON_REJECT_DUPLICATES, &e);
        if (!j)
                return fail(err, "message is not valid JSON: %s (line %d, column %d)", e.text, e.line, e.column);
        if (!json_is_object(j)) {
                json_decref(j);
                return fail(err, "message is not a JSON object");
        }
        *ret = j;
        return 0;
}

typedef enum Check {
        CHECK_IDENTITY,
        CHECK_NAME,
        CHECK_REQUESTID,
        CHECK_CALLERID,
        CHECK_TEXT,       /* any UTF-8 string up to 64 KiB */
        CHECK_SHORT,      /* printable, up to 256 */
} Check;

static int get_string(json_t *root, const char *key, Check check, bool required, const char **ret,
                      char err[static MESSAGE_ERROR_MAX]) {
        json_t *v = json_object_get(root, key);
        const char *s;
        bool ok;

        /* An optional field may also be null: registration_build() writes
         * null for a missing boot_id ("s?"), and that must be accepted. */
        if (!v || (!required && json_is_null(v))) {
                if (!required) {
                        *ret = NULL;
                        return 0;
                }
                return fail(err, "missing field \"%s\"", key);
        }
        if (!json_is_string(v))
                return fail(err, "field \"%s\" must be a string", key);
        s = json_string_value(v);
        if (strlen(s) != json_string_length(v))
                return fail(err, "field \"%s\" contains a NUL byte", key);
        switch (check) {
        case CHECK_IDENTITY:
                ok = identity_is_valid(s);
                break;
        case CHECK_NAME:
                ok = name_is_valid(s, 64);
                break;
        case CHECK_REQUESTID:
                ok = requestid_is_valid(s);
                break;
        case CHECK_CALLERID:
        case CHECK_SHORT:
                ok = callerid_is_valid(s);
                break;
        case CHECK_TEXT:
        default:
                ok = json_string_length(v) <= 65536;
                break;
        }
        if (!ok) {
                static const char *const what[] = {
                        [CHECK_IDENTITY] = "an identity of 1 to 255 characters from [A-Za-z0-9._-], not starting with '.'",
                        [CHECK_NAME] = "a name of 1 to 64 characters from [A-Za-z0-9_-]",
                        [CHECK_REQUESTID] = "32 lowercase hexadecimal digits",
                        [CHECK_CALLERID] = "1 to 256 printable ASCII characters",
                        [CHECK_TEXT] = "at most 65536 bytes",
                        [CHECK_SHORT] = "1 to 256 printable ASCII characters",
                };
                return fail(err, "field \"%s\" must be %s", key, what[check]);
        }
        *ret = s;
        return 0;
}

static int get_int(json_t *root, const char *key, int64_t min, int64_t max, bool required, int64_t *ret,
                   char err[static MESSAGE_ERROR_MAX]) {
        json_t *v = json_object_get(root, key);
        if (!v) {
                if (!required) {
                        *ret = 0;
                        return 0;
                }
                return fail(err, "missing field \"%s\"", key);
        }
        if (!json_is_integer(v))
                return fail(err, "field \"%s\" must be an integer", key);
        json_int_t i = json_integer_value(v);
        if (i < min || i > max)
                return fail(err, "field \"%s\" must be between %" PRId64 " and %" PRId64, key, min, max);
        *ret = i;
        return 0;
}

static int check_protocol(json_t *root, const char *expected, char err[static MESSAGE_ERROR_MAX]) {
        json_t *v = json_object_get(root, "protocol");
        if (!v)
                return fail(err, "missing field \"protocol\"");
        if (!json_is_string(v))
                return fail(err, "field \"protocol\" must be a string");
        if (!streq(json_string_value(v), expected))
                return fail(err, "unsupported protocol \"%.64s\", expected \"%s\"", json_string_value(v), expected);
        return 0;
}

static int get_object(json_t *root, const char *key, bool required, json_t **ret, char err[static MESSAGE_ERROR_MAX]) {
        json_t *v = json_object_get(root, key);
        if (!v || json_is_null(v)) {
                if (required && !v)
                        return fail(err, "missing field \"%s\"", key);
                *ret = NULL;
                return 0;
        }
        if (!json_is_object(v))
                return fail(err, "field \"%s\" must be an object", key);
        *ret = v;
        return 0;
}

#define MSGTIME_MAX INT64_C(253402300799) /* 9999-12-31 */

Request *request_free(Request *r) {
        if (!r)
                return NULL;
        filter_free(r->filter);
        json_decref(r->root);
        free(r);
        return NULL;
}

int request_parse(const void *body, size_t size, uint64_t max_size, Request **ret, char err[static MESSAGE_ERROR_MAX]) {
        _cleanup_request_ Request *r = NULL;
        const char *ferr = NULL;
        int k;

        r = calloc(1, sizeof *r);
        if (!r)
                return -ENOMEM;
        k = load(body, size, max_size, &r->root, err);
        if (k < 0)
                return k;
        if ((k = check_protocol(r->root, PROTOCOL_REQUEST, err)) < 0 ||
            (k = get_string(r->root, "requestid", CHECK_REQUESTID, true, &r->requestid, err)) < 0 ||
            (k = get_string(r->root, "senderid", CHECK_IDENTITY, true, &r->senderid, err)) < 0 ||
            (k = get_string(r->root, "callerid", CHECK_CALLERID, true, &r->callerid, err)) < 0 ||
            (k = get_string(r->root, "collective", CHECK_NAME, true, &r->collective, err)) < 0 ||
            (k = get_string(r->root, "agent", CHECK_NAME, true, &r->agent, err)) < 0 ||
            (k = get_string(r->root, "action", CHECK_NAME, true, &r->action, err)) < 0 ||
            (k = get_int(r->root, "msgtime", 0, MSGTIME_MAX, true, &r->msgtime, err)) < 0 ||
            (k = get_int(r->root, "ttl", 1, TTL_MAX, true, &r->ttl, err)) < 0 ||
            (k = get_object(r->root, "data", false, &r->data, err)) < 0)
                return k;

        json_t *f = json_object_get(r->root, "filter");
        k = filter_from_json(f, &r->filter, &ferr);
        if (k == -ENOMEM)
                return k;
        if (k < 0)
                return fail(err, "invalid filter: %s", strempty(ferr));

        *ret = TAKE_PTR(r);
        return 0;
}

Reply *reply_free(Reply *r) {
        if (!r)
                return NULL;
        if (r->root)
                json_decref(r->root);
        else
                json_decref(r->data);
        free(r);
        return NULL;
}

/* The fast path of reply_parse(): a client reads one reply per node, and
 * building every field as a jansson value was most of its cost. This reads
 * the usual shape only: one object of the known fields, each once, strings
 * without escapes, integers without fraction or exponent, data an object
 * (parsed by jansson) or null, every value valid. Anything else, valid or
 * not, returns -EAGAIN and reply_parse() parses the body with jansson, so
 * what is accepted, and every error, stay exactly those of that path. The
 * body has been checked for size and UTF-8 already. */
#define WS(c) ((c) == ' ' || (c) == '\t' || (c) == '\n' || (c) == '\r')

static size_t skip_ws(const char *b, size_t i, size_t n) {
        while (i < n && WS(b[i]))
                i++;
        return i;
}

/* A string without escapes or control characters at b[i] == '"': NUL-terminated in place (the closing
 * quote overwritten), returns the index after it, or 0. */
static size_t fast_string(char *b, size_t i, size_t n, const char **ret, size_t *ret_len) {
        size_t start = ++i;
        for (; i < n; i++) {
                unsigned char c = (unsigned char) b[i];
                if (c == '"') {
                        b[i] = '\0';
                        *ret = b + start;
                        *ret_len = i - start;
                        return i + 1;
                }
                if (c == '\\' || c < 0x20)
                        return 0;
        }
        return 0;
}

/* A JSON integer as jansson reads it, at most 18 digits (no overflow); returns the index after it, or 0. */
static size_t fast_int(const char *b, size_t i, size_t n, int64_t *ret) {
        bool neg = false;
        int64_t v = 0;
        size_t digits = 0;

        if (i < n && b[i] == '-') {
                neg = true;
                i++;
        }
        if (i >= n || b[i] < '0' || b[i] > '9')
                return 0;
        if (b[i] == '0' && i + 1 < n && b[i + 1] >= '0' && b[i + 1] <= '9')
                return 0; /* a leading zero: invalid JSON */
        for (; i < n && b[i] >= '0' && b[i] <= '9'; i++) {
                if (++digits > 18)
                        return 0;
                v = v * 10 + (b[i] - '0');
        }
        if (i < n && (b[i] == '.' || b[i] == 'e' || b[i] == 'E'))
                return 0; /* a real */
        *ret = neg ? -v : v;
        return i;
}

/* data as a flat object of strings without escapes and integers, built
 * directly (jansson's parser costs several times as much for these few
 * values); NULL for anything else, which jansson's parser then reads. b is
 * the NUL-terminated copy, strings are terminated in place. With keep, only
 * those keys are built; the others are read all the same. */
#define FAST_FLAT_KEYS_MAX 32       /* more keys: left to jansson */
static json_t *fast_flat_object(char *b, size_t *pos, size_t n, char *const *keep) {
        _cleanup_json_ json_t *o = json_object();
        size_t i = skip_ws(b, *pos + 1, n), n_keys = 0;
        const char *keys[FAST_FLAT_KEYS_MAX];

        if (!o)
                return NULL;
        if (i < n && b[i] == '}') {
                *pos = i + 1;
                return TAKE_PTR(o);
        }
        for (;;) {
                const char *key, *v;
                size_t klen, vlen;
                json_t *value = NULL;
                int64_t x;

                if (i >= n || b[i] != '"' || !(i = fast_string(b, i, n, &key, &klen)))
                        return NULL;
                if (n_keys >= FAST_FLAT_KEYS_MAX)
                        return NULL;
                for (size_t k = 0; k < n_keys; k++)
                        if (streq(keys[k], key))
                                return NULL; /* twice: jansson's error */
                keys[n_keys++] = key;
                bool build = !keep || strv_contains(keep, key);
                i = skip_ws(b, i, n);
                if (i >= n || b[i] != ':')
                        return NULL;
                i = skip_ws(b, i + 1, n);
                if (i < n && b[i] == '"') {
                        if (!(i = fast_string(b, i, n, &v, &vlen)))
                                return NULL;
                        if (build)
                                value = json_stringn_nocheck(v, vlen);
                } else {
                        if (!(i = fast_int(b, i, n, &x)))
                                return NULL;
                        if (build)
                                value = json_integer((json_int_t) x);
                }
                if (build && json_object_set_new_nocheck(o, key, value) < 0)
                        return NULL;
                i = skip_ws(b, i, n);
                if (i >= n)
                        return NULL;
                if (b[i] == '}')
                        break;
                if (b[i] != ',')
                        return NULL;
                i = skip_ws(b, i + 1, n);
        }
        *pos = i + 1;
        return TAKE_PTR(o);
}

enum {
        F_PROTOCOL, F_REQUESTID, F_SENDERID, F_AGENT, F_ACTION, F_MSGTIME, F_STATUSCODE, F_STATUSMSG, F_DATA,
        _F_MAX,
};

#define REPLY_DATA_CACHE_MAX 4096   /* longer data texts are not kept */

void reply_data_cache_done(ReplyDataCache *c) {
        if (!c)
                return;
        free(c->text);
        json_decref(c->data);
        *c = (ReplyDataCache) { .keep = c->keep };
}

/* What jansson built, cut down to keep (NULL: all of it). */
static void data_keep_only(json_t *data, char *const *keep) {
        const char *key;
        json_t *v;
        void *tmp;

        if (!keep || !json_is_object(data))
                return;
        json_object_foreach_safe(data, tmp, key, v)
                if (!strv_contains(keep, key))
                        (void) json_object_del(data, key);
}

/* Remember data, read from text; on failure the cache is just emptied. */
static void reply_data_cache_set(ReplyDataCache *c, const char *text, size_t size, json_t *data) {
        json_decref(c->data);
        c->data = NULL;
        c->size = 0;
        if (size > REPLY_DATA_CACHE_MAX || GREEDY_REALLOC(c->text, c->alloc, size) < 0)
                return;
        memcpy(c->text, text, size);
        c->size = size;
        c->data = json_incref(data);
}

static int reply_parse_fast(const void *body, size_t size, ReplyDataCache *cache, Reply **ret) {
#define FIELD(s) { s, sizeof(s) - 1 }
        static const struct { const char *name; size_t len; } fields[_F_MAX] = {
                [F_PROTOCOL] = FIELD("protocol"), [F_REQUESTID] = FIELD("requestid"),
                [F_SENDERID] = FIELD("senderid"), [F_AGENT] = FIELD("agent"), [F_ACTION] = FIELD("action"),
                [F_MSGTIME] = FIELD("msgtime"), [F_STATUSCODE] = FIELD("statuscode"),
                [F_STATUSMSG] = FIELD("statusmsg"), [F_DATA] = FIELD("data"),
        };
#undef FIELD
        _cleanup_reply_ Reply *r = NULL;
        const char *str[_F_MAX] = {};
        size_t len[_F_MAX] = {};
        int64_t num[_F_MAX] = {};
        unsigned seen = 0;
        size_t i;

        /* The strings live in a copy of the body after the struct: one allocation. */
        r = malloc(sizeof *r + size + 1);
        if (!r)
                return -ENOMEM;
        *r = (Reply) {};
        char *b = (char *) (r + 1);
        memcpy(b, body, size);
        b[size] = '\0';

        i = skip_ws(b, 0, size);
        if (i >= size || b[i] != '{')
                return -EAGAIN;
        i = skip_ws(b, i + 1, size);
        if (i < size && b[i] == '}')
                return -EAGAIN; /* no fields */
        for (;;) {
                const char *key;
                size_t klen, f;

                if (i >= size || b[i] != '"' || !(i = fast_string(b, i, size, &key, &klen)))
                        return -EAGAIN;
                for (f = 0; f < _F_MAX; f++)
                        if (klen == fields[f].len && memcmp(key, fields[f].name, klen) == 0)
                                break;
                if (f == _F_MAX || (seen & (1u << f)))
                        return -EAGAIN; /* another field, or one twice */
                seen |= 1u << f;
                i = skip_ws(b, i, size);
                if (i >= size || b[i] != ':')
                        return -EAGAIN;
                i = skip_ws(b, i + 1, size);
                if (i >= size)
                        return -EAGAIN;

                if (f == F_MSGTIME || f == F_STATUSCODE) {
                        if (!(i = fast_int(b, i, size, &num[f])))
                                return -EAGAIN;
                } else if (f == F_DATA) {
                        size_t start = i;
                        if (size - i >= 4 && memcmp(b + i, "null", 4) == 0)
                                i += 4;
                        else if (cache && cache->data && size - i >= cache->size &&
                                 memcmp((const char *) body + i, cache->text, cache->size) == 0) {
                                /* The cached text is one whole JSON object that jansson's rules
                                 * accepted: the same bytes here are that object, ending at the
                                 * same place, whatever follows them. */
                                r->data = json_incref(cache->data);
                                i += cache->size;
                        } else if (b[i] == '{' && (r->data = fast_flat_object(b, &i, size, cache ? cache->keep : NULL))) {
                                if (cache)
                                        reply_data_cache_set(cache, (const char *) body + start, i - start, r->data);
                        } else if (b[i] == '{') {
                                json_error_t e;
                                /* jansson's depth limit counts the enclosing object: leave deep data to it. */
                                size_t brackets = 0;
                                for (size_t k = i; k < size; k++)
                                        brackets += b[k] == '{' || b[k] == '[';
                                if (brackets > 1000)
                                        return -EAGAIN;
                                r->data = json_loadb((const char *) body + i, size - i,
                                                     JSON_REJECT_DUPLICATES | JSON_DISABLE_EOF_CHECK, &e);
                                if (!r->data)
                                        return -EAGAIN;
                                if (!json_is_object(r->data) || e.position <= 0 || (size_t) e.position > size - i)
                                        return -EAGAIN;
                                i += (size_t) e.position;
                                data_keep_only(r->data, cache ? cache->keep : NULL);
                                if (cache)
                                        reply_data_cache_set(cache, (const char *) body + start, i - start, r->data);
                        } else
                                return -EAGAIN;
                } else {
                        if (b[i] != '"' || !(i = fast_string(b, i, size, &str[f], &len[f])))
                                return -EAGAIN;
                }
                i = skip_ws(b, i, size);
                if (i >= size)
                        return -EAGAIN;
                if (b[i] == '}')
                        break;
                if (b[i] != ',')
                        return -EAGAIN;
                i = skip_ws(b, i + 1, size);
        }
        if (skip_ws(b, i + 1, size) != size)
                return -EAGAIN; /* something after the object */
        if ((seen | (1u << F_DATA)) != (1u << _F_MAX) - 1)
                return -EAGAIN; /* a field missing */
        if (!streq(str[F_PROTOCOL], PROTOCOL_REPLY) || !requestid_is_valid(str[F_REQUESTID]) ||
            !identity_is_valid(str[F_SENDERID]) || !name_is_valid(str[F_AGENT], 64) ||
            !name_is_valid(str[F_ACTION], 64) || num[F_MSGTIME] < 0 || num[F_MSGTIME] > MSGTIME_MAX ||
            num[F_STATUSCODE] < 0 || num[F_STATUSCODE] > _STATUS_MAX - 1 || len[F_STATUSMSG] > 65536)
                return -EAGAIN;
        r->requestid = str[F_REQUESTID];
        r->senderid = str[F_SENDERID];
        r->agent = str[F_AGENT];
        r->action = str[F_ACTION];
        r->msgtime = num[F_MSGTIME];
        r->statuscode = (int) num[F_STATUSCODE];
        r->statusmsg = str[F_STATUSMSG];
        *ret = TAKE_PTR(r);
        return 0;
}

int reply_parse(const void *body, size_t size, uint64_t max_size, Reply **ret, char err[static MESSAGE_ERROR_MAX]) {
        return reply_parse_cached(body, size, max_size, NULL, ret, err);
}

int reply_parse_cached(const void *body, size_t size, uint64_t max_size, ReplyDataCache *cache, Reply **ret,
                       char err[static MESSAGE_ERROR_MAX]) {
        _cleanup_reply_ Reply *r = NULL;
        int64_t code;
        int k;

        if (max_size == 0)
                max_size = MESSAGE_SIZE_DEFAULT;
        if (size > 0 && size <= max_size && utf8_is_valid(body, size)) {
                k = reply_parse_fast(body, size, cache, ret);
                if (k != -EAGAIN)
                        return k;
        }

        r = calloc(1, sizeof *r);
        if (!r)
                return -ENOMEM;
        k = load(body, size, max_size, &r->root, err);
        if (k < 0)
                return k;
        if ((k = check_protocol(r->root, PROTOCOL_REPLY, err)) < 0 ||
            (k = get_string(r->root, "requestid", CHECK_REQUESTID, true, &r->requestid, err)) < 0 ||
            (k = get_string(r->root, "senderid", CHECK_IDENTITY, true, &r->senderid, err)) < 0 ||
            (k = get_string(r->root, "agent", CHECK_NAME, true, &r->agent, err)) < 0 ||
            (k = get_string(r->root, "action", CHECK_NAME, true, &r->action, err)) < 0 ||
            (k = get_int(r->root, "msgtime", 0, MSGTIME_MAX, true, &r->msgtime, err)) < 0 ||
            (k = get_int(r->root, "statuscode", 0, _STATUS_MAX - 1, true, &code, err)) < 0 ||
            (k = get_string(r->root, "statusmsg", CHECK_TEXT, true, &r->statusmsg, err)) < 0 ||
            (k = get_object(r->root, "data", false, &r->data, err)) < 0)
                return k;
        data_keep_only(r->data, cache ? cache->keep : NULL);
        r->statuscode = (int) code;
        *ret = TAKE_PTR(r);
        return 0;
}

Registration *registration_free(Registration *r) {
        if (!r)
                return NULL;
        json_decref(r->root);
        free(r);
        return NULL;
}

static int check_string_array(json_t *root, const char *key, json_t **ret, char err[static MESSAGE_ERROR_MAX]) {
        json_t *v = json_object_get(root, key), *e;
        size_t i;

        if (!v || json_is_null(v)) {
                *ret = NULL;
                return 0;
        }
        if (!json_is_array(v))
                return fail(err, "field \"%s\" must be an array of strings", key);
        if (json_array_size(v) > 4096)
                return fail(err, "field \"%s\" has more than 4096 entries", key);
        json_array_foreach(v, i, e)
                if (!json_is_string(e) || json_string_length(e) == 0 || json_string_length(e) > 256 ||
                    strlen(json_string_value(e)) != json_string_length(e))
                        return fail(err, "field \"%s\" must hold strings of 1 to 256 bytes", key);
        *ret = v;
        return 0;
}

int registration_from_json(json_t *root, Registration **ret, char err[static MESSAGE_ERROR_MAX]) {
        _cleanup_registration_ Registration *r = NULL;
        const char *key;
        json_t *v;
        int k;

        r = calloc(1, sizeof *r);
        if (!r)
                return -ENOMEM;
        r->root = json_incref(root);
        if ((k = check_protocol(r->root, PROTOCOL_REGISTRATION, err)) < 0 ||
            (k = get_string(r->root, "identity", CHECK_IDENTITY, true, &r->identity, err)) < 0 ||
            (k = get_string(r->root, "collective", CHECK_NAME, true, &r->collective, err)) < 0 ||
            (k = get_int(r->root, "msgtime", 0, MSGTIME_MAX, true, &r->msgtime, err)) < 0 ||
            (k = get_int(r->root, "interval", 1, TTL_MAX, true, &r->interval, err)) < 0 ||
            (k = get_object(r->root, "facts", false, &r->facts, err)) < 0 ||
            (k = check_string_array(r->root, "classes", &r->classes, err)) < 0 ||
            (k = check_string_array(r->root, "agents", &r->agents, err)) < 0 ||
            (k = get_string(r->root, "boot_id", CHECK_SHORT, false, &r->boot_id, err)) < 0 ||
            (k = get_int(r->root, "uptime", 0, INT64_MAX, false, &r->uptime, err)) < 0 ||
            (k = get_string(r->root, "version", CHECK_SHORT, false, &r->version, err)) < 0)
                return k;
        if (r->facts) {
                if (json_object_size(r->facts) > 4096)
                        return fail(err, "field \"facts\" has more than 4096 entries");
                json_object_foreach(r->facts, key, v)
                        if (!json_is_string(v))
                                return fail(err, "fact \"%.64s\" must be a string", key);
        }
        *ret = TAKE_PTR(r);
        return 0;
}

int registration_parse(const void *body, size_t size, uint64_t max_size, Registration **ret,
                       char err[static MESSAGE_ERROR_MAX]) {
        _cleanup_json_ json_t *root = NULL;
        int k = load(body, size, max_size, &root, err);
        if (k < 0)
                return k;
        return registration_from_json(root, ret, err);
}

int message_check_time(int64_t msgtime, int64_t ttl, int64_t now, int64_t skew) {
        if (msgtime > now + skew)
                return -EDOM;
        if (now > msgtime + ttl)
                return -ETIME;
        return 0;
}

json_t *request_build(const char *requestid, const char *senderid, const char *callerid, const char *collective,
                      const char *agent, const char *action, int64_t msgtime, int64_t ttl, const Filter *filter,
                      json_t *data) {
        json_t *f = filter ? filter_to_json(filter) : json_object();
        if (!f)
                return NULL;
        return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:o, s:o}",
                         "protocol", PROTOCOL_REQUEST,
                         "requestid", requestid,
                         "senderid", senderid,
                         "callerid", callerid,
                         "collective", collective,
                         "agent", agent,
                         "action", action,
                         "msgtime", (json_int_t) msgtime,
                         "ttl", (json_int_t) ttl,
                         "filter", f,
                         "data", data ? json_incref(data) : json_object());
}

json_t *reply_build(const char *requestid, const char *senderid, const char *agent, const char *action,
                    int64_t msgtime, int statuscode, const char *statusmsg, json_t *data) {
        return json_pack("{s:s, s:s, s:s, s:s, s:s, s:I, s:i, s:s, s:o}",
                         "protocol", PROTOCOL_REPLY,
                         "requestid", requestid,
                         "senderid", senderid,
                         "agent", agent,
                         "action", action,
                         "msgtime", (json_int_t) msgtime,
                         "statuscode", statuscode,
                         "statusmsg", statusmsg,
                         "data", data ? json_incref(data) : json_object());
}

int message_dump(const json_t *j, char **ret, size_t *ret_size) {
        char *s = json_dumps(j, JSON_COMPACT);
        if (!s)
                return -ENOMEM;
        *ret = s;
        if (ret_size)
                *ret_size = strlen(s);
        return 0;
}

static json_t *strv_json(char *const *l) {
        json_t *a = json_array();
        for (; a && l && *l; l++)
                if (json_array_append_new(a, json_string(*l)) < 0) {
                        json_decref(a);
                        return NULL;
                }
        return a;
}

json_t *registration_build(const char *identity, const char *collective, int64_t msgtime, int64_t interval,
                           json_t *facts, char *const *classes, char *const *agents, const char *boot_id,
                           int64_t uptime, const char *version) {
        return json_pack("{s:s, s:s, s:s, s:I, s:I, s:o, s:o, s:o, s:s?, s:I, s:s}",
                         "protocol", PROTOCOL_REGISTRATION,
                         "identity", identity,
                         "collective", collective,
                         "msgtime", (json_int_t) msgtime,
                         "interval", (json_int_t) interval,
                         "facts", facts ? json_incref(facts) : json_object(),
                         "classes", strv_json(classes),
                         "agents", strv_json(agents),
                         "boot_id", boot_id,
                         "uptime", (json_int_t) uptime,
                         "version", version);
}
