/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "checks.h"
#include "client.h"
#include "dirscan.h"
#include "hashmap.h"
#include "registry.h"
#include "nrpe.h"
#include "util.h"

#define CHECKS_INDEX_HEADER "muster-checks 1\n"
#define CHECKS_INDEX_MAX (UINT64_C(1) << 30)

/* At most max bytes of s, not cutting a UTF-8 sequence. */
static json_t *string_cut(const char *s, size_t max) {
        size_t n = strlen(s ?: "");
        if (n > max) {
                n = max;
                while (n > 0 && ((unsigned char) s[n] & 0xC0) == 0x80)
                        n--;
        }
        _cleanup_free_ char *clean = utf8_sanitize(s ?: "", n);
        return clean ? json_string(clean) : NULL;
}

json_t *check_result_build(int state, const char *output, const char *perfdata, uint64_t duration_usec,
                           int64_t when) {
        json_t *o = string_cut(output, CHECK_OUTPUT_MAX), *p = string_cut(perfdata, CHECK_OUTPUT_MAX);
        if (!o || !p) {
                json_decref(o);
                json_decref(p);
                return NULL;
        }
        return json_pack("{s:i, s:o, s:o, s:I, s:I}", "state", state < 0 || state > 3 ? 3 : state, "output", o,
                         "perfdata", p, "duration_usec", (json_int_t) MIN(duration_usec, (uint64_t) INT64_MAX),
                         "when", (json_int_t) when);
}

_printf_(2, 3) static int fail(char *err, const char *fmt, ...) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, MESSAGE_ERROR_MAX, fmt, ap);
        va_end(ap);
        return -EBADMSG;
}

int checks_validate(json_t *checks, char err[static MESSAGE_ERROR_MAX]) {
        const char *name;
        json_t *v;

        if (!checks)
                return 0;
        if (!json_is_object(checks))
                return fail(err, "field \"checks\" must be an object");
        if (json_object_size(checks) > CHECKS_MAX)
                return fail(err, "field \"checks\" has more than 64 entries");
        json_object_foreach(checks, name, v) {
                json_t *s, *o, *p, *d, *w;
                if (!nrpe_command_name_is_valid(name))
                        return fail(err, "check name \"%.64s\" is not a valid NRPE command name", name);
                if (!json_is_object(v))
                        return fail(err, "check \"%.64s\" must be an object", name);
                s = json_object_get(v, "state");
                o = json_object_get(v, "output");
                p = json_object_get(v, "perfdata");
                d = json_object_get(v, "duration_usec");
                w = json_object_get(v, "when");
                if (!json_is_integer(s) || json_integer_value(s) < 0 || json_integer_value(s) > 3)
                        return fail(err, "check \"%.64s\": \"state\" must be 0 to 3", name);
                if ((o && !json_is_string(o)) || (p && !json_is_string(p)))
                        return fail(err, "check \"%.64s\": \"output\" and \"perfdata\" must be strings", name);
                if ((o && json_string_length(o) > CHECK_OUTPUT_MAX) || (p && json_string_length(p) > CHECK_OUTPUT_MAX))
                        return fail(err, "check \"%.64s\": output or perfdata longer than 1024 bytes", name);
                if ((d && (!json_is_integer(d) || json_integer_value(d) < 0)) ||
                    !json_is_integer(w) || json_integer_value(w) < 0)
                        return fail(err, "check \"%.64s\": \"when\" and \"duration_usec\" must be non-negative integers",
                                    name);
        }
        return 0;
}

/* ---- the raw scan of a registration's "checks" (checks.h) ---------------- */

/* Bytes that end a run of plain string content: '"', '\\', control
 * characters and everything >= 0x80 (STR); what skipping a string stops at,
 * '"' and '\\' alone (SKIP); what skipping an object or array looks at
 * (NEST). A table, so that the loops over plain bytes stay tight. */
enum {
        CLASS_STR = 1 << 0,
        CLASS_SKIP = 1 << 1,
        CLASS_NEST = 1 << 2,
};

static const uint8_t char_class[256] = {
        [0x00 ... 0x1f] = CLASS_STR,
        ['"'] = CLASS_STR | CLASS_SKIP | CLASS_NEST,
        ['\\'] = CLASS_STR | CLASS_SKIP | CLASS_NEST,
        ['{'] = CLASS_NEST,
        ['}'] = CLASS_NEST,
        ['['] = CLASS_NEST,
        [']'] = CLASS_NEST,
        [0x80 ... 0xff] = CLASS_STR,
};

/* The first byte at or after p (below e) of class STR (quote, backslash,
 * control, >= 0x80), or with skip_only of class SKIP (quote, backslash):
 * 16 bytes at a time where SSE2 is there (every x86-64), a byte at a time
 * for the rest. Outputs are the long strings of a registration with
 * checks; this is most of what the collector's repeat path spends on them. */
static const char *find_special(const char *p, const char *e, bool skip_only) {
#ifdef __SSE2__
        const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'), space = _mm_set1_epi8(0x20);
        while (e - p >= 16) {
                __m128i v = _mm_loadu_si128((const __m128i *) (const void *) p);
                __m128i m = _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, backslash));
                if (!skip_only)
                        /* signed: 0x00-0x1f and 0x80-0xff are below 0x20 */
                        m = _mm_or_si128(m, _mm_cmplt_epi8(v, space));
                unsigned mask = (unsigned) _mm_movemask_epi8(m);
                if (mask)
                        return p + __builtin_ctz(mask);
                p += 16;
        }
#endif
        uint8_t class = skip_only ? CLASS_SKIP : CLASS_STR;
        while (p < e && !(char_class[(unsigned char) *p] & class))
                p++;
        return p;
}

static bool is_ws(char c) {
        return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static const char *skip_ws(const char *p, const char *e) {
        while (p < e && is_ws(*p))
                p++;
        return p;
}

/* A string at p (on its '"'): returns the position after the closing
 * quote, NULL outside the subset (a control character, a \u escape, no
 * end). *ret_len: its length decoded, *ret_escaped whether it has escapes;
 * *nonascii is set when it has bytes >= 0x80. */
static const char *scan_string(const char *p, const char *e, size_t *ret_len, bool *ret_escaped, bool *nonascii) {
        const char *start = ++p;
        size_t escapes = 0;

        for (;;) {
                p = find_special(p, e, false);
                if (p >= e)
                        return NULL;
                unsigned char c = (unsigned char) *p;
                if (c == '"')
                        break;
                if (c < 0x20)
                        return NULL;
                if (c >= 0x80)
                        *nonascii = true;
                else { /* '\\' */
                        if (++p >= e || !memchr("\"\\/bfnrt", *p, 8))
                                return NULL;
                        escapes++;
                }
                p++;
        }
        *ret_len = (size_t) (p - start) - escapes;
        *ret_escaped = escapes > 0;
        return p + 1;
}

/* Any string, for skipping: escapes are stepped over, nothing else checked. */
static const char *skip_string(const char *p, const char *e) {
        for (p++;;) {
                p = find_special(p, e, true);
                if (p >= e)
                        return NULL;
                if (*p == '"')
                        return p + 1;
                if (e - p < 2)
                        return NULL;
                p += 2; /* '\\' and what it escapes */
        }
}

/* Any value, for skipping; the whole parse judges it. */
static const char *skip_value(const char *p, const char *e) {
        unsigned depth = 0;

        if (p >= e)
                return NULL;
        if (*p == '"')
                return skip_string(p, e);
        if (*p != '{' && *p != '[') {
                const char *s = p;
                while (p < e && !is_ws(*p) && *p != ',' && *p != '}' && *p != ']')
                        p++;
                return p > s ? p : NULL;
        }
        for (;;) {
                while (p < e && !(char_class[(unsigned char) *p] & CLASS_NEST))
                        p++;
                if (p >= e)
                        return NULL;
                if (*p == '"') {
                        p = skip_string(p, e);
                        if (!p)
                                return NULL;
                        continue;
                }
                if (*p == '\\')
                        return NULL; /* outside a string */
                if (*p == '{' || *p == '[')
                        depth++;
                else if (--depth == 0)
                        return p + 1;
                p++;
        }
}

/* An unsigned integer: digits, no leading zero, at most 18 of them, ending
 * at a delimiter (so neither a fraction nor an exponent follows). */
static const char *scan_uint(const char *p, const char *e, int64_t *ret) {
        int64_t v = 0;
        const char *s = p;

        while (p < e && *p >= '0' && *p <= '9') {
                if (p - s >= 18)
                        return NULL;
                v = v * 10 + (*p - '0');
                p++;
        }
        if (p == s || (*s == '0' && p - s > 1))
                return NULL;
        if (p < e && !is_ws(*p) && *p != ',' && *p != '}')
                return NULL;
        *ret = v;
        return p;
}

enum {
        KEY_STATE = 1 << 0,
        KEY_OUTPUT = 1 << 1,
        KEY_PERFDATA = 1 << 2,
        KEY_DURATION = 1 << 3,
        KEY_WHEN = 1 << 4,
};

static int key_of(const char *s, size_t n) {
#define KEY(str, bit) if (n == sizeof(str) - 1 && memcmp(s, str, n) == 0) return bit
        KEY("state", KEY_STATE);
        KEY("output", KEY_OUTPUT);
        KEY("perfdata", KEY_PERFDATA);
        KEY("duration_usec", KEY_DURATION);
        KEY("when", KEY_WHEN);
#undef KEY
        return 0;
}

/* One result object at p (on its '{'). */
static const char *scan_result(const char *p, const char *e, ChecksScanItem *item, bool *nonascii) {
        unsigned seen = 0;
        int64_t v;

        p = skip_ws(p + 1, e);
        if (p < e && *p == '}')
                return NULL; /* no state: the whole parse says why */
        for (;;) {
                const char *k;
                size_t len;
                bool escaped;
                int key;

                if (p >= e || *p != '"')
                        return NULL;
                k = p + 1;
                p = scan_string(p, e, &len, &escaped, nonascii);
                if (!p || escaped)
                        return NULL;
                key = key_of(k, len);
                if (key == 0 || (seen & key))
                        return NULL;
                seen |= key;
                p = skip_ws(p, e);
                if (p >= e || *p != ':')
                        return NULL;
                p = skip_ws(p + 1, e);
                if (p >= e)
                        return NULL;
                switch (key) {
                case KEY_STATE:
                        p = scan_uint(p, e, &v);
                        if (!p || v > 3)
                                return NULL;
                        item->state = (int8_t) v;
                        break;
                case KEY_OUTPUT:
                case KEY_PERFDATA:
                        if (*p != '"')
                                return NULL;
                        p = scan_string(p, e, &len, &escaped, nonascii);
                        if (!p || len > CHECK_OUTPUT_MAX)
                                return NULL;
                        break;
                case KEY_DURATION:
                        p = scan_uint(p, e, &v);
                        if (!p)
                                return NULL;
                        break;
                case KEY_WHEN:
                        p = scan_uint(p, e, &item->when);
                        if (!p)
                                return NULL;
                        break;
                }
                p = skip_ws(p, e);
                if (p < e && *p == ',') {
                        p = skip_ws(p + 1, e);
                        continue;
                }
                if (p < e && *p == '}')
                        break;
                return NULL;
        }
        if (!(seen & KEY_STATE) || !(seen & KEY_WHEN))
                return NULL;
        return p + 1;
}

/* The "checks" object at p (on its '{'). */
static const char *scan_checks(const char *p, const char *e, ChecksScan *ret) {
        bool nonascii = false;
        const char *start = p;

        ret->n = 0;
        p = skip_ws(p + 1, e);
        if (p < e && *p == '}')
                return p + 1;
        for (;;) {
                ChecksScanItem *item;
                char name[256];
                size_t len;
                bool escaped;

                if (p >= e || *p != '"' || ret->n >= CHECKS_MAX)
                        return NULL;
                item = &ret->items[ret->n];
                *item = (ChecksScanItem) { .name = p + 1 };
                p = scan_string(p, e, &len, &escaped, &nonascii);
                if (!p || escaped || len >= sizeof name)
                        return NULL;
                item->name_len = len;
                memcpy(name, item->name, len);
                name[len] = '\0';
                if (!nrpe_command_name_is_valid(name))
                        return NULL;
                for (size_t i = 0; i < ret->n; i++)
                        if (ret->items[i].name_len == len && memcmp(ret->items[i].name, name, len) == 0)
                                return NULL;
                p = skip_ws(p, e);
                if (p >= e || *p != ':')
                        return NULL;
                p = skip_ws(p + 1, e);
                if (p >= e || *p != '{')
                        return NULL;
                p = scan_result(p, e, item, &nonascii);
                if (!p)
                        return NULL;
                ret->n++;
                p = skip_ws(p, e);
                if (p < e && *p == ',') {
                        p = skip_ws(p + 1, e);
                        continue;
                }
                if (p < e && *p == '}')
                        break;
                return NULL;
        }
        p++;
        /* The whole parse checks the rest of the body; this part it will not see. */
        if (nonascii && !utf8_is_valid(start, (size_t) (p - start)))
                return NULL;
        return p;
}

int checks_scan(const char *body, size_t size, ChecksScan *ret) {
        const char *p = body, *e = body + size, *prev_end = NULL, *cut_start = NULL, *cut_end = NULL;

        p = skip_ws(p, e);
        if (p >= e || *p != '{')
                return -EAGAIN;
        p = skip_ws(p + 1, e);
        if (p < e && *p == '}')
                return 0;
        for (;;) {
                const char *k, *q = p;
                bool is_checks;

                if (p >= e || *p != '"')
                        return -EAGAIN;
                k = p + 1;
                p = skip_string(p, e);
                if (!p)
                        return -EAGAIN;
                /* A key with escapes may decode to "checks": the whole parse. */
                if (memchr(k, '\\', (size_t) (p - 1 - k)))
                        return -EAGAIN;
                is_checks = p - 1 - k == 6 && memcmp(k, "checks", 6) == 0;
                p = skip_ws(p, e);
                if (p >= e || *p != ':')
                        return -EAGAIN;
                p = skip_ws(p + 1, e);
                if (is_checks) {
                        if (cut_start || p >= e || *p != '{')
                                return -EAGAIN;
                        p = scan_checks(p, e, ret);
                        if (!p)
                                return -EAGAIN;
                        /* From the end of the member before, or else from this
                         * key to the next one: the rest stays an object. */
                        cut_start = prev_end ?: q;
                        cut_end = p;
                } else {
                        p = skip_value(p, e);
                        if (!p)
                                return -EAGAIN;
                }
                prev_end = p;
                p = skip_ws(p, e);
                if (p < e && *p == ',') {
                        p = skip_ws(p + 1, e);
                        if (cut_end == prev_end && cut_start == q)
                                cut_end = p;
                        continue;
                }
                if (p < e && *p == '}')
                        break;
                return -EAGAIN;
        }
        if (!cut_start)
                return 0;
        ret->cut_start = (size_t) (cut_start - body);
        ret->cut_end = (size_t) (cut_end - body);
        return 1;
}

int checks_get_state(json_t *checks, const char *name, int64_t *ret_when) {
        json_t *c = json_object_get(checks, name), *s, *w;
        if (!json_is_object(c))
                return -ENOENT;
        s = json_object_get(c, "state");
        w = json_object_get(c, "when");
        if (ret_when)
                *ret_when = json_is_integer(w) ? (int64_t) json_integer_value(w) : 0;
        return json_is_integer(s) && json_integer_value(s) >= 0 && json_integer_value(s) <= 3 ?
                       (int) json_integer_value(s) : 3;
}

void checks_index_done(ChecksIndex *x) {
        free(x->nodes);
        if (x->map)
                (void) munmap(x->map, x->map_size);
        *x = (ChecksIndex) {};
}

/* A decimal number at *p, below e (digits only, no overflow), then sep:
 * advances *p past sep. */
static bool parse_index_ull(const char **p, const char *e, unsigned long long *ret, char sep) {
        const char *s = *p;
        unsigned long long v = 0;
        size_t n = 0;

        for (; s < e && *s >= '0' && *s <= '9'; s++, n++) {
                unsigned d = (unsigned) (*s - '0');
                if (v > (ULLONG_MAX - d) / 10)
                        return false;
                v = v * 10 + d;
        }
        if (n == 0 || s >= e || *s != sep)
                return false;
        *ret = v;
        *p = s + 1;
        return true;
}

static bool parse_index_ll(const char **p, const char *e, long long *ret, char sep) {
        bool neg = *p < e && **p == '-';
        unsigned long long v;

        if (neg)
                (*p)++;
        if (!parse_index_ull(p, e, &v, sep) || v > (unsigned long long) LLONG_MAX)
                return false;
        *ret = neg ? -(long long) v : (long long) v;
        return true;
}

int checks_index_read(int dirfd, ChecksIndex *ret) {
        _cleanup_close_ int fd = -1;
        _cleanup_(checks_index_done) ChecksIndex x = {};
        size_t alloc = 0;
        struct stat st;

        fd = openat(dirfd, CHECKS_INDEX_NAME, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY);
        if (fd < 0)
                return -errno;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (!S_ISREG(st.st_mode) || (uint64_t) st.st_size > CHECKS_INDEX_MAX ||
            (size_t) st.st_size < strlen(CHECKS_INDEX_HEADER))
                return -EBADMSG;
        /* Mapped, not read: no copy of the file and one fault per 64 KiB
         * instead of one per page of a buffer. The collector replaces the
         * file by a rename, never in place, so the mapping stays whole. */
        x.map_size = (size_t) st.st_size;
        x.map = mmap(NULL, x.map_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
        if (x.map == MAP_FAILED) {
                x.map = NULL;
                return -errno;
        }
        const char *buf = x.map, *end = buf + x.map_size;
        if (memcmp(buf, CHECKS_INDEX_HEADER, strlen(CHECKS_INDEX_HEADER)) != 0)
                return -EBADMSG;
        /* The nodes' array sized once, from the file's size (a line is
         * rarely under 40 bytes); grown only if it is not enough. */
        if (GREEDY_REALLOC(x.nodes, alloc, x.map_size / 40 + 16) < 0)
                return -ENOMEM;
        for (const char *p = buf + strlen(CHECKS_INDEX_HEADER), *eol; p < end; p = eol + 1) {
                eol = memchr(p, '\n', (size_t) (end - p));
                if (!eol)
                        return -EBADMSG; /* written atomically: a line always ends */
                /* "IDENTITY INO.BSEC.BNSEC INTERVAL[ NAME=STATE...]", by hand:
                 * sscanf() was a fifth of --from-registry at 100,000 nodes. */
                const char *sp1 = memchr(p, ' ', (size_t) (eol - p));
                if (!sp1 || sp1 == p)
                        return -EBADMSG;
                unsigned long long ino, bnsec;
                long long bsec, interval;
                const char *q = sp1 + 1;
                if (!parse_index_ull(&q, eol, &ino, '.') || !parse_index_ll(&q, eol, &bsec, '.') ||
                    !parse_index_ull(&q, eol, &bnsec, ' ') || bnsec >= 1000000000ULL)
                        return -EBADMSG;
                /* The interval ends the line or is followed by the states. */
                const char *iend = memchr(q, ' ', (size_t) (eol - q));
                if (!parse_index_ll(&q, eol + 1, &interval, iend ? ' ' : '\n') || interval < 0)
                        return -EBADMSG;
                if (GREEDY_REALLOC(x.nodes, alloc, x.n + 1) < 0)
                        return -ENOMEM;
                x.nodes[x.n++] = (ChecksIndexNode) {
                        .identity = p, .identity_len = (size_t) (sp1 - p),
                        .key = { .ino = ino, .btime_sec = bsec, .btime_nsec = (uint32_t) bnsec },
                        .interval = interval,
                        .states = iend ? iend + 1 : eol, .states_len = iend ? (size_t) (eol - iend - 1) : 0,
                };
        }
        *ret = x;
        x = (ChecksIndex) {};
        return 0;
}

int checks_index_state(const ChecksIndexNode *n, const char *name) {
        size_t len = strlen(name);
        const char *p = n->states, *e = n->states + n->states_len;

        while (p < e) {
                const char *sp = memchr(p, ' ', (size_t) (e - p));
                if (!sp)
                        sp = e;
                if ((size_t) (sp - p) == len + 2 && memcmp(p, name, len) == 0 && p[len] == '=' &&
                    p[len + 1] >= '0' && p[len + 1] <= '3')
                        return p[len + 1] - '0';
                p = sp + 1;
        }
        return -ENOENT;
}

struct ChecksIndexWriter {
        int dirfd;
        FILE *f;
        char tmp[64];
};

ChecksIndexWriter *checks_index_writer_free(ChecksIndexWriter *w) {
        if (!w)
                return NULL;
        if (w->f) {
                fclose(w->f);
                (void) unlinkat(w->dirfd, w->tmp, 0);
        }
        free(w);
        return NULL;
}

int checks_index_writer_new(int dirfd, ChecksIndexWriter **ret) {
        static uint64_t counter = 0;
        ChecksIndexWriter *w = calloc(1, sizeof *w);
        int fd;

        if (!w)
                return -ENOMEM;
        if (mkdirat(dirfd, ".index", 0755) < 0 && errno != EEXIST) {
                int r = -errno;
                free(w);
                return r;
        }
        w->dirfd = dirfd;
        snprintf(w->tmp, sizeof w->tmp, ".index/checks.#%u.%" PRIu64, (unsigned) getpid(), ++counter);
        fd = openat(dirfd, w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0644);
        if (fd < 0) {
                int r = -errno;
                free(w);
                return r;
        }
        w->f = fdopen(fd, "we");
        if (!w->f) {
                int r = -errno;
                close(fd);
                (void) unlinkat(dirfd, w->tmp, 0);
                free(w);
                return r;
        }
        fputs(CHECKS_INDEX_HEADER, w->f);
        *ret = w;
        return 0;
}

/* The key of a file, from a statx() that asked for STATX_INO and STATX_BTIME. */
static ChecksFileKey key_from_statx(const struct statx *sx) {
        return (ChecksFileKey) {
                .ino = sx->stx_ino,
                .btime_sec = (sx->stx_mask & STATX_BTIME) ? sx->stx_btime.tv_sec : 0,
                .btime_nsec = (sx->stx_mask & STATX_BTIME) ? sx->stx_btime.tv_nsec : 0,
        };
}

int checks_file_key(int dirfd, const char *name, ChecksFileKey *ret_key, int64_t *ret_mtime, bool *ret_regular) {
        struct statx sx;
        if (statx(dirfd, name, AT_SYMLINK_NOFOLLOW | AT_STATX_DONT_SYNC,
                  STATX_TYPE | STATX_INO | STATX_MTIME | STATX_BTIME, &sx) < 0)
                return -errno;
        *ret_key = key_from_statx(&sx);
        if (ret_mtime)
                *ret_mtime = sx.stx_mtime.tv_sec;
        if (ret_regular)
                *ret_regular = S_ISREG(sx.stx_mode);
        return 0;
}

static bool key_equal(const ChecksFileKey *a, const ChecksFileKey *b) {
        return a->ino == b->ino && a->btime_sec == b->btime_sec && a->btime_nsec == b->btime_nsec;
}

int checks_index_writer_add(ChecksIndexWriter *w, const char *identity, const ChecksFileKey *key, int64_t interval,
                            char *const *names, const int8_t *states, size_t n) {
        fprintf(w->f, "%s %" PRIu64 ".%" PRId64 ".%" PRIu32 " %" PRId64, identity, key->ino, key->btime_sec,
                key->btime_nsec, interval);
        for (size_t i = 0; i < n; i++)
                fprintf(w->f, " %s=%d", names[i], states[i]);
        fputc('\n', w->f);
        return ferror(w->f) ? -EIO : 0;
}

int checks_index_writer_commit(ChecksIndexWriter *w) {
        FILE *f = TAKE_PTR(w->f);
        int r = 0;

        if (fflush(f) != 0 || ferror(f))
                r = errno > 0 ? -errno : -EIO;
        if (fclose(f) != 0 && r == 0)
                r = -errno;
        if (r == 0 && renameat(w->dirfd, w->tmp, w->dirfd, CHECKS_INDEX_NAME) < 0)
                r = -errno;
        if (r < 0)
                (void) unlinkat(w->dirfd, w->tmp, 0);
        return r;
}

void checks_collation_done(ChecksCollation *c) {
        for (size_t i = 0; i < 4; i++)
                strv_free(c->names[i]);
        strv_free(c->stale);
        strv_free(c->not_pushed);
        *c = (ChecksCollation) {};
}

/* Append to a NULL-terminated list whose length and allocation are known:
 * strv_extend() counts the list at every call, quadratic over 100,000 nodes. */
static int list_append(char ***l, size_t *n, size_t *alloc, const char *s) {
        if (GREEDY_REALLOC(*l, *alloc, *n + 2) < 0)
                return -ENOMEM;
        (*l)[*n] = strdup(s);
        if (!(*l)[*n])
                return -ENOMEM;
        (*l)[++*n] = NULL;
        return 0;
}

static int collate_one(ChecksCollation *c, bool list_ok, const char *identity, int state, bool stale) {
        if (stale) {
                state = 3;
                if (list_append(&c->stale, &c->n_stale, &c->alloc_stale, identity) < 0)
                        return -ENOMEM;
        }
        if (state == 0 && !list_ok)
                c->n_ok++;
        else if (list_append(&c->names[state], &c->n_names[state], &c->alloc_names[state], identity) < 0)
                return -ENOMEM;
        c->n++;
        return 0;
}

static void hashmap_freep(Hashmap **h) {
        hashmap_free(*h, NULL);
}

/* The check index's nodes by inode number: the scan's statx() gives the
 * inode, so a lookup hashes one integer and compares the name only on a
 * hit, instead of hashing and comparing strings for every file. Open
 * addressing, linear probing, at most half full; slot = node index + 1. */
typedef struct InodeTable {
        uint32_t *slots;
        size_t mask;
} InodeTable;

static size_t inode_slot(uint64_t ino, size_t mask) {
        return (size_t) ((ino * UINT64_C(0x9E3779B97F4A7C15)) >> 32) & mask;
}

static int inode_table_build(InodeTable *t, const ChecksIndex *x) {
        size_t size = 16;

        if (x->n >= UINT32_MAX / 2)
                return -E2BIG;
        while (size < 2 * x->n)
                size <<= 1;
        t->slots = calloc(size, sizeof *t->slots);
        if (!t->slots)
                return -ENOMEM;
        t->mask = size - 1;
        for (size_t i = 0; i < x->n; i++) {
                size_t k = inode_slot(x->nodes[i].key.ino, t->mask);
                while (t->slots[k] != 0)
                        k = (k + 1) & t->mask;
                t->slots[k] = (uint32_t) i + 1;
        }
        return 0;
}

static const ChecksIndexNode *inode_table_find(const InodeTable *t, const ChecksIndex *x, const char *name,
                                               const ChecksFileKey *key) {
        size_t len = strlen(name);

        for (size_t k = inode_slot(key->ino, t->mask); t->slots[k] != 0; k = (k + 1) & t->mask) {
                const ChecksIndexNode *n = &x->nodes[t->slots[k] - 1];
                if (key_equal(&n->key, key) && n->identity_len == len && memcmp(n->identity, name, len) == 0)
                        return n;
        }
        return NULL;
}

/* What checks_collate_registry() carries through the directory scan. */
typedef struct CollateScan {
        ChecksCollation *c;
        const char *dir;
        const char *collective;
        const char *check;
        Hashmap *only;
        const ChecksIndex *index;
        const InodeTable *inodes;
        bool list_ok;
        int64_t now, grace, default_interval;
} CollateScan;

static bool collate_wanted(const char *name, void *userdata) {
        CollateScan *s = userdata;
        return identity_is_valid(name) && (!s->only || hashmap_get(s->only, name));
}

static int collate_seen(const char *name, const struct statx *sx, void *userdata) {
        CollateScan *s = userdata;
        ChecksCollation *c = s->c;
        int64_t mtime = sx->stx_mtime.tv_sec, interval;
        int state;

        if (!S_ISREG(sx->stx_mode))
                return 0;
        ChecksFileKey key = key_from_statx(sx);
        const ChecksIndexNode *n = s->index ? inode_table_find(s->inodes, s->index, name, &key) : NULL;
        if (n) {
                state = checks_index_state(n, s->check);
                interval = n->interval;
        } else {
                /* Newer than the index (or no index): the file itself. */
                RegistryEntry e = {};
                c->n_read++;
                if (registry_read(s->dir, name, &e) < 0)
                        return 0;
                if (!e.registration || (s->collective && !streq(e.registration->collective, s->collective))) {
                        registry_entry_done(&e);
                        return 0;
                }
                state = checks_get_state(json_object_get(e.root, "checks"), s->check, NULL);
                interval = e.interval;
                mtime = e.mtime.tv_sec;
                registry_entry_done(&e);
        }
        if (interval <= 0)
                interval = s->default_interval;
        if (state < 0) {
                /* Selected by a filter, but this node does not push the check. */
                if (s->only && (list_append(&c->not_pushed, &c->n_not_pushed, &c->alloc_not_pushed, name) < 0 ||
                                collate_one(c, s->list_ok, name, 3, false) < 0))
                        return -ENOMEM;
                return 0;
        }
        /* The file's mtime is when the node last registered, and so when
         * this result was last confirmed (check_mcollective's test). */
        if (collate_one(c, s->list_ok, name, state, s->now - mtime > interval + s->grace) < 0)
                return -ENOMEM;
        return 0;
}

int checks_collate_registry(const char *dir, const char *collective, const Filter *filter, const char *check,
                            int64_t now, int64_t grace, int64_t default_interval, ChecksCollateFlags flags,
                            ChecksCollation *ret) {
        _cleanup_(checks_collation_done) ChecksCollation c = {};
        _cleanup_(checks_index_done) ChecksIndex x = {};
        _cleanup_(hashmap_freep) Hashmap *only = NULL;
        _cleanup_free_ uint32_t *slots = NULL;
        InodeTable inodes = {};
        _cleanup_close_ int dfd = -1;
        _cleanup_strv_free_ char **ids = NULL;
        int r;

        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return -errno;
        if (filter && !filter_is_empty(filter)) {
                /* The stored facts and classes, as registry discovery reads them. */
                r = client_registry_discover(dir, collective, filter, &ids, NULL);
                if (r < 0)
                        return r;
                /* The keys are the strv's, freed after the map. */
                only = hashmap_new_full(HASHMAP_BORROW_KEYS);
                if (!only || hashmap_reserve(only, strv_length(ids)) < 0)
                        return -ENOMEM;
                for (char **i = ids; i && *i; i++)
                        if (hashmap_put(only, *i, *i) < 0)
                                return -ENOMEM;
        }

        r = checks_index_read(dfd, &x);
        if (r == -ENOMEM)
                return r;
        if (r >= 0) {
                r = inode_table_build(&inodes, &x);
                slots = inodes.slots;
                if (r == -ENOMEM)
                        return r;
                c.used_index = r >= 0;
        }

        /* One stat per file (its key tells whether the index still holds
         * it, its mtime whether the result is stale), batched (lib/dirscan.c). */
        CollateScan s = { .c = &c, .dir = dir, .collective = collective, .check = check, .only = only,
                          .index = c.used_index ? &x : NULL, .inodes = &inodes,
                          .list_ok = flags & CHECKS_COLLATE_LIST_OK,
                          .now = now, .grace = grace, .default_interval = default_interval };
        r = dirscan(dfd, STATX_TYPE | STATX_INO | STATX_MTIME | STATX_BTIME, collate_wanted, collate_seen, &s);
        if (r < 0)
                return r;
        *ret = c;
        c = (ChecksCollation) {};
        return 0;
}
