/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <sys/stat.h>

#include "facts.h"
#include "log.h"
#include "util.h"

#define FACT_KEY_MAX 128
#define FACT_VALUE_MAX 4096
#define FACT_FILE_MAX (4U * 1024U * 1024U)
#define CLASSES_FILE_MAX (4U * 1024U * 1024U)

static bool fact_key_is_valid(const char *s) {
        size_t n;

        for (n = 0; s[n]; n++) {
                unsigned char c = s[n];
                if (n >= FACT_KEY_MAX)
                        return false;
                if (!(isascii(c) && (isalnum(c) || strchr("_.:-", c))))
                        return false;
        }
        return n > 0;
}

static bool fact_value_is_valid(const char *s, size_t n) {
        return n <= FACT_VALUE_MAX && strlen(s) == n && utf8_is_valid(s, n);
}

static int set_fact(json_t *obj, const char *key, const char *value, size_t n) {
        json_t *v = json_stringn(value, n);
        if (!v)
                return -ENOMEM;
        if (json_object_set_new(obj, key, v) < 0)
                return -ENOMEM;
        return 0;
}

int facts_parse_kv(json_t *obj, const char *name, const char *buf, size_t n) {
        const char *p = buf, *e = buf + n;
        unsigned line = 0;
        int r;

        if (!json_is_object(obj) || (!buf && n > 0))
                return -EINVAL;
        name = strna(name);

        while (p < e) {
                _cleanup_free_ char *copy = NULL;
                const char *nl = memchr(p, '\n', (size_t) (e - p));
                size_t len = (nl ? nl : e) - p;
                char *s, *eq, *key, *value;

                line++;
                if (memchr(p, '\0', len)) {
                        log_warning("%s:%u: line contains a NUL byte, ignoring.", name, line);
                        p += len + 1;
                        continue;
                }
                copy = strndup(p, len);
                if (!copy)
                        return -ENOMEM;
                p += len + 1;

                s = strstrip(copy);
                if (*s == '\0' || *s == '#')
                        continue;

                eq = strchr(s, '=');
                if (!eq) {
                        log_warning("%s:%u: line without '=', ignoring.", name, line);
                        continue;
                }
                *eq = '\0';
                key = strstrip(s);
                value = strstrip(eq + 1);
                if (*key == '\0') {
                        log_warning("%s:%u: empty key, ignoring.", name, line);
                        continue;
                }
                if (!fact_key_is_valid(key)) {
                        log_warning("%s:%u: invalid key \"%.*s\" (1..%d of [A-Za-z0-9_.:-]), ignoring.", name, line,
                                    FACT_KEY_MAX, utf8_is_valid(key, strlen(key)) ? key : "?", FACT_KEY_MAX);
                        continue;
                }
                if (strlen(value) > FACT_VALUE_MAX) {
                        log_warning("%s:%u: value of \"%s\" is longer than %d bytes, ignoring.", name, line, key,
                                    FACT_VALUE_MAX);
                        continue;
                }
                if (!utf8_is_valid(value, strlen(value))) {
                        log_warning("%s:%u: value of \"%s\" is not valid UTF-8, ignoring.", name, line, key);
                        continue;
                }

                r = set_fact(obj, key, value, strlen(value));
                if (r < 0)
                        return r;
        }
        return 0;
}

/* The JSON text of a number or boolean. Reals get the shortest of %.15g,
 * %.16g, %.17g that reads back as the same double, so 0.1 is "0.1", not
 * "0.10000000000000001". */
static char *scalar_to_text(json_t *v) {
        if (json_is_real(v))
                for (int prec = 15; prec < 17; prec++) {
                        _cleanup_free_ char *t = json_dumps(v, JSON_ENCODE_ANY | JSON_REAL_PRECISION(prec));
                        if (!t)
                                return NULL;
                        if (strtod(t, NULL) == json_real_value(v))
                                return TAKE_PTR(t);
                }
        return json_dumps(v, JSON_ENCODE_ANY);
}

static int facts_parse_json(json_t *obj, const char *name, const char *buf, size_t n) {
        _cleanup_json_ json_t *j = NULL;
        json_error_t error;
        const char *key;
        json_t *v;
        int r;

        j = json_loadb(buf, n, 0, &error);
        if (!j) {
                log_warning("%s: invalid JSON at line %d (%s), ignoring.", name, error.line, error.text);
                return 0;
        }
        if (!json_is_object(j)) {
                log_warning("%s: not a JSON object, ignoring.", name);
                return 0;
        }

        json_object_foreach(j, key, v) {
                _cleanup_free_ char *text = NULL;

                if (!fact_key_is_valid(key)) {
                        log_warning("%s: invalid key \"%.*s\" (1..%d of [A-Za-z0-9_.:-]), ignoring.", name,
                                    FACT_KEY_MAX, key, FACT_KEY_MAX);
                        continue;
                }

                if (json_is_string(v)) {
                        const char *s = json_string_value(v);
                        size_t len = json_string_length(v);

                        if (!fact_value_is_valid(s, len)) {
                                log_warning("%s: value of \"%s\" holds a NUL byte or is longer than %d bytes, ignoring.",
                                            name, key, FACT_VALUE_MAX);
                                continue;
                        }
                        r = set_fact(obj, key, s, len);
                } else if (json_is_number(v) || json_is_boolean(v)) {
                        text = scalar_to_text(v);
                        if (!text)
                                return -ENOMEM;
                        r = set_fact(obj, key, text, strlen(text));
                } else {
                        log_debug("%s: value of \"%s\" is null, an array or an object, ignoring.", name, key);
                        continue;
                }
                if (r < 0)
                        return r;
        }
        return 0;
}

int facts_load_dir(const char *dir, json_t **ret) {
        _cleanup_strv_free_ char **files = NULL;
        _cleanup_json_ json_t *obj = NULL;
        int r;

        if (!dir || !ret)
                return -EINVAL;

        obj = json_object();
        if (!obj)
                return -ENOMEM;

        struct stat dst;
        if (stat(dir, &dst) < 0)
                return -errno;
        if (!S_ISDIR(dst.st_mode))
                return -ENOTDIR;

        /* Sorted full paths under one directory: lexical order of the names.
         * Names starting with '.' are left out already. */
        r = dir_list_sorted(dir, NULL, &files);
        if (r < 0)
                return r;

        for (char **f = files; f && *f; f++) {
                _cleanup_free_ char *buf = NULL;
                size_t size;
                struct stat st;

                if (stat(*f, &st) < 0) {
                        if (errno == ENOENT)
                                continue; /* removed meanwhile, or a dangling symlink */
                        return -errno;
                }
                if (!S_ISREG(st.st_mode))
                        continue;

                r = read_full_file(*f, FACT_FILE_MAX, &buf, &size);
                if (r == -ENOENT)
                        continue;
                if (r == -EFBIG) {
                        log_warning("%s: larger than %u bytes, ignoring.", *f, FACT_FILE_MAX);
                        continue;
                }
                if (r < 0)
                        return r;

                if (endswith(*f, ".json"))
                        r = facts_parse_json(obj, *f, buf, size);
                else
                        r = facts_parse_kv(obj, *f, buf, size);
                if (r < 0)
                        return r;
        }

        *ret = TAKE_PTR(obj);
        return 0;
}

int classes_load(const char *path, char ***ret) {
        _cleanup_strv_free_ char **l = NULL;
        _cleanup_free_ char *buf = NULL;
        size_t size;
        unsigned line = 0;
        int r;

        if (!path || !ret)
                return -EINVAL;

        r = read_full_file(path, CLASSES_FILE_MAX, &buf, &size);
        if (r == -ENOENT) {
                *ret = NULL;
                return 0;
        }
        if (r < 0)
                return r;

        for (char *p = buf, *e = buf + size; p < e;) {
                char *nl = memchr(p, '\n', (size_t) (e - p));
                size_t len = (nl ? nl : e) - p;
                char *s;

                line++;
                p[len] = '\0'; /* the '\n', or the terminating NUL of the buffer */
                s = p;
                p += len + 1;

                if (strlen(s) != len) {
                        log_warning("%s:%u: line contains a NUL byte, ignoring.", path, line);
                        continue;
                }
                s = strstrip(s);
                if (*s == '\0')
                        continue;
                if (!utf8_is_valid(s, strlen(s))) {
                        log_warning("%s:%u: class name is not valid UTF-8, ignoring.", path, line);
                        continue;
                }
                r = strv_extend(&l, s);
                if (r < 0)
                        return r;
        }

        *ret = TAKE_PTR(l);
        return 0;
}
