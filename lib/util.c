/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/stat.h>

#include "util.h"

int parse_uint64(const char *s, uint64_t *ret) {
        char *end = NULL;
        unsigned long long v;

        if (isempty(s) || !isdigit((unsigned char) s[0]))
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno == ERANGE)
                return -ERANGE;
        if (errno != 0 || !end || *end != '\0')
                return -EINVAL;
        *ret = v;
        return 0;
}

int parse_uint(const char *s, unsigned *ret) {
        uint64_t v;
        int r = parse_uint64(s, &v);
        if (r < 0)
                return r;
        if (v > UINT_MAX)
                return -ERANGE;
        *ret = (unsigned) v;
        return 0;
}

int parse_int_range(const char *s, long min, long max, long *ret) {
        char *end = NULL;
        long v;

        if (isempty(s) || isspace((unsigned char) s[0]))
                return -EINVAL;
        errno = 0;
        v = strtol(s, &end, 10);
        if (errno == ERANGE)
                return -ERANGE;
        if (errno != 0 || !end || *end != '\0')
                return -EINVAL;
        if (v < min || v > max)
                return -ERANGE;
        *ret = v;
        return 0;
}

static const struct {
        const char *suffix;
        uint64_t usec;
} duration_units[] = {
        /* longest first, so "ms" is not read as "m" + "s" */
        { "usec", 1 },
        { "us", 1 },
        { "msec", USEC_PER_MSEC },
        { "ms", USEC_PER_MSEC },
        { "seconds", USEC_PER_SEC },
        { "second", USEC_PER_SEC },
        { "sec", USEC_PER_SEC },
        { "s", USEC_PER_SEC },
        { "minutes", 60 * USEC_PER_SEC },
        { "minute", 60 * USEC_PER_SEC },
        { "min", 60 * USEC_PER_SEC },
        { "m", 60 * USEC_PER_SEC },
        { "hours", 3600 * USEC_PER_SEC },
        { "hour", 3600 * USEC_PER_SEC },
        { "hr", 3600 * USEC_PER_SEC },
        { "h", 3600 * USEC_PER_SEC },
        { "days", 86400 * USEC_PER_SEC },
        { "day", 86400 * USEC_PER_SEC },
        { "d", 86400 * USEC_PER_SEC },
};

int parse_duration(const char *s, uint64_t *ret_usec) {
        uint64_t total = 0;
        const char *p = s;
        bool any = false;

        if (!s)
                return -EINVAL;
        for (;;) {
                while (*p == ' ')
                        p++;
                if (*p == '\0')
                        break;
                if (!isdigit((unsigned char) *p))
                        return -EINVAL;

                char *end;
                errno = 0;
                unsigned long long whole = strtoull(p, &end, 10);
                if (errno == ERANGE)
                        return -ERANGE;
                uint64_t frac_num = 0, frac_den = 1;
                if (*end == '.') {
                        end++;
                        if (!isdigit((unsigned char) *end))
                                return -EINVAL;
                        while (isdigit((unsigned char) *end)) {
                                if (frac_den < UINT64_C(1000000000)) {
                                        frac_num = frac_num * 10 + (uint64_t) (*end - '0');
                                        frac_den *= 10;
                                }
                                end++;
                        }
                }
                p = end;
                while (*p == ' ')
                        p++;

                uint64_t mult = USEC_PER_SEC;
                if (isalpha((unsigned char) *p)) {
                        size_t len = 0;
                        while (isalpha((unsigned char) p[len]))
                                len++;
                        bool found = false;
                        for (size_t i = 0; i < ELEMENTSOF(duration_units); i++)
                                if (strlen(duration_units[i].suffix) == len &&
                                    strncmp(p, duration_units[i].suffix, len) == 0) {
                                        mult = duration_units[i].usec;
                                        found = true;
                                        break;
                                }
                        if (!found)
                                return -EINVAL;
                        p += len;
                }
                if (whole > UINT64_MAX / mult)
                        return -ERANGE;
                /* 128-bit for the fraction: 0.999999999 days in µs overflows 64 bits. */
                unsigned __int128 frac = (unsigned __int128) frac_num * mult / frac_den;
                unsigned __int128 v128 = (unsigned __int128) whole * mult + frac;
                if (v128 > UINT64_MAX)
                        return -ERANGE;
                uint64_t v = (uint64_t) v128;
                if (total > UINT64_MAX - v)
                        return -ERANGE;
                total += v;
                any = true;
        }
        if (!any)
                return -EINVAL;
        *ret_usec = total;
        return 0;
}

int parse_size(const char *s, uint64_t *ret) {
        char *end;
        unsigned long long v;
        uint64_t mult = 1;

        if (isempty(s) || !isdigit((unsigned char) s[0]))
                return -EINVAL;
        errno = 0;
        v = strtoull(s, &end, 10);
        if (errno == ERANGE)
                return -ERANGE;
        if (*end) {
                const char *u = end;
                if (strchr("KkMGT", *u)) {
                        switch (*u) {
                        case 'K': case 'k': mult = UINT64_C(1) << 10; break;
                        case 'M': mult = UINT64_C(1) << 20; break;
                        case 'G': mult = UINT64_C(1) << 30; break;
                        case 'T': mult = UINT64_C(1) << 40; break;
                        }
                        u++;
                        if (streq(u, "iB") || streq(u, "B"))
                                u += strlen(u);
                } else if (streq(u, "B"))
                        u++;
                if (*u)
                        return -EINVAL;
        }
        if (v > UINT64_MAX / mult)
                return -ERANGE;
        *ret = v * mult;
        return 0;
}

int parse_boolean(const char *s) {
        static const char *const yes[] = { "1", "yes", "y", "true", "t", "on" };
        static const char *const no[] = { "0", "no", "n", "false", "f", "off" };
        for (size_t i = 0; i < ELEMENTSOF(yes); i++)
                if (strcasecmp(s, yes[i]) == 0)
                        return 1;
        for (size_t i = 0; i < ELEMENTSOF(no); i++)
                if (strcasecmp(s, no[i]) == 0)
                        return 0;
        return -EINVAL;
}

char *format_duration(char *buf, size_t n, uint64_t usec) {
        if (usec % (3600 * USEC_PER_SEC) == 0 && usec > 0)
                snprintf(buf, n, "%" PRIu64 "h", usec / (3600 * USEC_PER_SEC));
        else if (usec % (60 * USEC_PER_SEC) == 0 && usec > 0)
                snprintf(buf, n, "%" PRIu64 "min", usec / (60 * USEC_PER_SEC));
        else if (usec % USEC_PER_SEC == 0)
                snprintf(buf, n, "%" PRIu64 "s", usec / USEC_PER_SEC);
        else if (usec % USEC_PER_MSEC == 0)
                snprintf(buf, n, "%" PRIu64 "ms", usec / USEC_PER_MSEC);
        else
                snprintf(buf, n, "%" PRIu64 "us", usec);
        return buf;
}

size_t strv_length(char *const *l) {
        size_t n = 0;
        if (l)
                while (l[n])
                        n++;
        return n;
}

int greedy_realloc(void **p, size_t *alloc, size_t need, size_t size) {
        if (need <= *alloc)
                return 0;
        size_t na = MAX(MAX(*alloc * 2, need), (size_t) 64);
        if (na > SIZE_MAX / size)
                return -ENOMEM;
        void *t = realloc(*p, na * size);
        if (!t)
                return -ENOMEM;
        *p = t;
        *alloc = na;
        return 0;
}

int strv_push(char ***l, char *s) {
        size_t n = strv_length(*l);
        char **t = realloc(*l, sizeof(char *) * (n + 2));
        if (!t)
                return -ENOMEM;
        t[n] = s;
        t[n + 1] = NULL;
        *l = t;
        return 0;
}

int strv_extend(char ***l, const char *s) {
        char *c = strdup(s);
        if (!c)
                return -ENOMEM;
        int r = strv_push(l, c);
        if (r < 0)
                free(c);
        return r;
}

bool strv_contains(char *const *l, const char *s) {
        if (l)
                for (; *l; l++)
                        if (streq(*l, s))
                                return true;
        return false;
}

void strv_free(char **l) {
        strv_freep(&l);
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

void strv_sort(char **l) {
        size_t n = strv_length(l);
        if (n > 1)
                qsort(l, n, sizeof(char *), cmp_str);
}

char *strstrip(char *s) {
        while (isspace((unsigned char) *s))
                s++;
        size_t n = strlen(s);
        while (n > 0 && isspace((unsigned char) s[n - 1]))
                s[--n] = '\0';
        return s;
}

bool startswith(const char *s, const char *prefix) {
        return strncmp(s, prefix, strlen(prefix)) == 0;
}

bool endswith(const char *s, const char *suffix) {
        size_t a = strlen(s), b = strlen(suffix);
        return a >= b && memcmp(s + a - b, suffix, b) == 0;
}

bool identity_is_valid(const char *s) {
        size_t n;

        if (!s || !*s || s[0] == '.')
                return false;
        for (n = 0; s[n]; n++) {
                unsigned char c = s[n];
                if (n >= 255)
                        return false;
                if (!(isascii(c) && (isalnum(c) || c == '.' || c == '_' || c == '-')))
                        return false;
        }
        return true;
}

bool name_is_valid(const char *s, size_t max) {
        size_t n;

        if (!s || !*s)
                return false;
        for (n = 0; s[n]; n++) {
                unsigned char c = s[n];
                if (n >= max)
                        return false;
                if (!(isascii(c) && (isalnum(c) || c == '_' || c == '-')))
                        return false;
        }
        return true;
}

bool utf8_is_valid(const char *s, size_t n) {
        const unsigned char *p = (const unsigned char *) s, *e = p + n;

        while (p < e) {
                unsigned c;
                size_t len;
                uint32_t cp;

                /* Messages are mostly ASCII: eight bytes at a time while no high bit is set. */
                while ((size_t) (e - p) >= 8) {
                        uint64_t w;
                        memcpy(&w, p, sizeof w);
                        if (w & UINT64_C(0x8080808080808080))
                                break;
                        p += 8;
                }
                if (p >= e)
                        break;
                c = *p;
                if (c < 0x80) {
                        p++;
                        continue;
                } else if ((c & 0xe0) == 0xc0) {
                        len = 2;
                        cp = c & 0x1f;
                } else if ((c & 0xf0) == 0xe0) {
                        len = 3;
                        cp = c & 0x0f;
                } else if ((c & 0xf8) == 0xf0) {
                        len = 4;
                        cp = c & 0x07;
                } else
                        return false;
                if ((size_t) (e - p) < len)
                        return false;
                for (size_t i = 1; i < len; i++) {
                        if ((p[i] & 0xc0) != 0x80)
                                return false;
                        cp = (cp << 6) | (p[i] & 0x3f);
                }
                /* overlong, surrogates, beyond Unicode */
                if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
                    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
                        return false;
                p += len;
        }
        return true;
}

char *utf8_sanitize(const char *p, size_t n) {
        char *out = malloc(n + 1);
        size_t i = 0;

        if (!out)
                return NULL;
        while (i < n) {
                unsigned char c = (unsigned char) p[i];
                size_t len = c < 0x80 ? 1 : (c & 0xe0) == 0xc0 ? 2 : (c & 0xf0) == 0xe0 ? 3 : (c & 0xf8) == 0xf0 ? 4 : 0;
                if (c == 0 || len == 0 || i + len > n || !utf8_is_valid(p + i, len)) {
                        out[i++] = '?';
                        continue;
                }
                memcpy(out + i, p + i, len);
                i += len;
        }
        out[n] = '\0';
        return out;
}

char *hex_encode(const void *p, size_t n, char *ret) {
        static const char digits[] = "0123456789abcdef";
        const uint8_t *b = p;

        for (size_t i = 0; i < n; i++) {
                ret[i * 2] = digits[b[i] >> 4];
                ret[i * 2 + 1] = digits[b[i] & 15];
        }
        ret[n * 2] = '\0';
        return ret;
}

static int unhex(char c) {
        if (c >= '0' && c <= '9')
                return c - '0';
        if (c >= 'a' && c <= 'f')
                return c - 'a' + 10;
        if (c >= 'A' && c <= 'F')
                return c - 'A' + 10;
        return -EINVAL;
}

int hex_decode(const char *s, uint8_t *buf, size_t n) {
        if (strlen(s) != n * 2)
                return -EINVAL;
        for (size_t i = 0; i < n; i++) {
                int a = unhex(s[i * 2]), b = unhex(s[i * 2 + 1]);
                if (a < 0 || b < 0)
                        return -EINVAL;
                buf[i] = (uint8_t) (a << 4 | b);
        }
        return 0;
}

int random_bytes(void *p, size_t n) {
        uint8_t *q = p;
        while (n > 0) {
                ssize_t k = getrandom(q, n, 0);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                q += k;
                n -= (size_t) k;
        }
        return 0;
}

int random_hex_id(char ret[static 33]) {
        uint8_t b[16];
        int r = random_bytes(b, sizeof b);
        if (r < 0)
                return r;
        hex_encode(b, sizeof b, ret);
        return 0;
}

int read_full_file(const char *path, size_t max, char **ret, size_t *ret_size) {
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *buf = NULL;
        size_t size = 0, alloc = 0;

        fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0)
                return -errno;
        for (;;) {
                if (size + 4096 + 1 > alloc) {
                        size_t na = MAX(alloc * 2, (size_t) 8192);
                        char *t = realloc(buf, na);
                        if (!t)
                                return -ENOMEM;
                        buf = t;
                        alloc = na;
                }
                ssize_t k = read(fd, buf + size, alloc - size - 1);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                if (k == 0)
                        break;
                size += (size_t) k;
                if (size > max)
                        return -EFBIG;
        }
        buf[size] = '\0';
        *ret = TAKE_PTR(buf);
        if (ret_size)
                *ret_size = size;
        return 0;
}

int read_one_line_file(const char *path, char **ret) {
        _cleanup_free_ char *buf = NULL;
        int r = read_full_file(path, 64 * 1024, &buf, NULL);
        if (r < 0)
                return r;
        char *nl = strchr(buf, '\n');
        if (nl)
                *nl = '\0';
        char *s = strdup(strstrip(buf));
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

int dir_list_sorted(const char *dir, const char *suffix, char ***ret) {
        _cleanup_closedir_ DIR *d = NULL;
        _cleanup_strv_free_ char **l = NULL;
        struct dirent *de;

        d = opendir(dir);
        if (!d) {
                if (errno == ENOENT) {
                        *ret = NULL;
                        return 0;
                }
                return -errno;
        }
        while ((errno = 0, de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                if (suffix && !endswith(de->d_name, suffix))
                        continue;
                if (de->d_type != DT_REG && de->d_type != DT_LNK && de->d_type != DT_UNKNOWN)
                        continue;
                char *p;
                if (asprintf(&p, "%s/%s", dir, de->d_name) < 0)
                        return -ENOMEM;
                if (strv_push(&l, p) < 0) {
                        free(p);
                        return -ENOMEM;
                }
        }
        if (errno != 0)
                return -errno;
        strv_sort(l);
        *ret = TAKE_PTR(l);
        return 0;
}

int strv_pushf(char ***l, const char *format, ...) {
        va_list ap;
        char *s;
        int r;

        if (!l)
                return 0;
        va_start(ap, format);
        r = vasprintf(&s, format, ap);
        va_end(ap);
        if (r < 0)
                return -ENOMEM;
        r = strv_push(l, s);
        if (r < 0)
                free(s);
        return r;
}
