/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <math.h>

#include "filter.h"
#include "macro.h"
#include "util.h"

/* Limits on what a request (or the command line) may ask for. Every string is
 * at most FILTER_STRING_MAX bytes, every list at most FILTER_ENTRIES_MAX long,
 * and regexes are bounded and free of back-references, so that matching one
 * request costs a node little, whoever sent it. */
#define FILTER_STRING_MAX 256
#define FILTER_REGEX_MAX 256
#define FILTER_ENTRIES_MAX 64
/* glibc's regcomp() expands repetitions by copying the repeated part: "x+"
 * becomes "xx*", "x{3,5}" five copies of x, and a quantifier on something
 * already quantified or on a quantified group multiplies again: "a" followed
 * by 22 '+' takes regcomp() 25 s, 24 of them exhaust memory, and long chains
 * of optional parts cost it time quadratic in their length. So quantifiers
 * may not follow each other (POSIX leaves "a+*" undefined anyway), and
 * patterns whose expansion, as estimated by regex_expansion(), is larger than
 * this are refused. */
#define FILTER_REGEX_EXPANSION_MAX 1024

/* The reasons one field can be refused for, as static strings. */
typedef struct FieldErrors {
        const char *not_array;
        const char *too_many;
        const char *not_string;
        const char *empty;
        const char *too_long;
        const char *nul;
        const char *utf8;
        const char *regex_empty;
        const char *regex_too_long;
        const char *regex_backref;
        const char *regex_invalid;
        const char *regex_complex;
} FieldErrors;

#define FIELD_ERRORS(list, p)                                                       \
        {                                                                           \
                .not_array = list ": must be an array",                             \
                .too_many = list ": more than 64 entries",                          \
                .not_string = p ": missing or not a string",                        \
                .empty = p ": must not be empty",                                   \
                .too_long = p ": longer than 256 bytes",                            \
                .nul = p ": contains a NUL byte",                                   \
                .utf8 = p ": not valid UTF-8",                                      \
                .regex_empty = p ": empty regular expression",                      \
                .regex_too_long = p ": regular expression longer than 256 bytes",   \
                .regex_backref = p ": back-references are not allowed in regular expressions", \
                .regex_invalid = p ": invalid regular expression",                  \
                .regex_complex = p ": regular expression too complex (stacked or too many repetitions)", \
        }

/* Field names as they appear in a request... */
static const FieldErrors json_fact_errors = FIELD_ERRORS("filter.fact", "filter.fact[].fact");
static const FieldErrors json_value_errors = FIELD_ERRORS("filter.fact", "filter.fact[].value");
static const FieldErrors json_operator_errors = FIELD_ERRORS("filter.fact", "filter.fact[].operator");
static const FieldErrors json_class_errors = FIELD_ERRORS("filter.class", "filter.class[]");
static const FieldErrors json_identity_errors = FIELD_ERRORS("filter.identity", "filter.identity[]");
static const FieldErrors json_agent_errors = FIELD_ERRORS("filter.agent", "filter.agent[]");
/* ... and on the command line. */
static const FieldErrors cli_fact_errors = FIELD_ERRORS("fact filters", "fact name");
static const FieldErrors cli_value_errors = FIELD_ERRORS("fact filters", "fact value");
static const FieldErrors cli_class_errors = FIELD_ERRORS("class filters", "class");
static const FieldErrors cli_identity_errors = FIELD_ERRORS("identity filters", "identity");
static const FieldErrors cli_agent_errors = FIELD_ERRORS("agent filters", "agent");

static const char *const filter_op_table[_FILTER_OP_MAX] = {
        [FILTER_OP_EQ] = "==",
        [FILTER_OP_NE] = "!=",
        [FILTER_OP_LT] = "<",
        [FILTER_OP_GT] = ">",
        [FILTER_OP_LE] = "<=",
        [FILTER_OP_GE] = ">=",
        [FILTER_OP_MATCH] = "=~",
};

const char *filter_op_to_string(FilterOp op) {
        if (op < 0 || op >= _FILTER_OP_MAX)
                return NULL;
        return filter_op_table[op];
}

FilterOp filter_op_from_string(const char *s) {
        if (!s)
                return _FILTER_OP_INVALID;
        for (FilterOp op = 0; op < _FILTER_OP_MAX; op++)
                if (streq(s, filter_op_table[op]))
                        return op;
        return _FILTER_OP_INVALID;
}

Filter *filter_new(void) {
        return calloc(1, sizeof(Filter));
}

static void fact_filter_done(FactFilter *ff) {
        free(ff->fact);
        free(ff->value);
        if (ff->is_regex)
                regfree(&ff->regex);
}

Filter *filter_free(Filter *f) {
        if (!f)
                return NULL;
        for (size_t i = 0; i < f->n_facts; i++)
                fact_filter_done(&f->facts[i]);
        free(f->facts);
        strv_free(f->classes);
        strv_free(f->identities);
        strv_free(f->agents);
        free(f);
        return NULL;
}

bool filter_is_empty(const Filter *f) {
        return !f ||
                (f->n_facts == 0 &&
                 strv_length(f->classes) == 0 &&
                 strv_length(f->identities) == 0 &&
                 strv_length(f->agents) == 0);
}

static void set_error(const char **ret_error, const char *error) {
        if (ret_error)
                *ret_error = error;
}

/* "/re/": a regex written the mco way. */
static bool is_slashed(const char *s) {
        size_t n = strlen(s);
        return n >= 2 && s[0] == '/' && s[n - 1] == '/';
}

static bool has_backref(const char *p) {
        for (; *p; p++)
                if (*p == '\\') {
                        if (isdigit((unsigned char) p[1]))
                                return true;
                        if (p[1] == '\0')
                                break;
                        p++; /* skip the escaped character, so "\\1" is not taken for "\1" */
                }
        return false;
}

static size_t mul_sat(size_t a, size_t b) {
        return b != 0 && a > SIZE_MAX / b ? SIZE_MAX : a * b;
}

static size_t add_sat(size_t a, size_t b) {
        return a > SIZE_MAX - b ? SIZE_MAX : a + b;
}

/* "{m}", "{m,}", "{m,n}" (and glibc's "{,n}") at p: returns its length and
 * the number of copies of the repeated part regcomp() makes at most, or 0
 * when p is no interval (then '{' is counted as a literal). */
static size_t parse_interval(const char *p, size_t *ret_copies) {
        const char *q = p + 1;
        size_t m = 0, n = 0;
        bool has_m = false;

        while (isdigit((unsigned char) *q)) {
                m = add_sat(mul_sat(m, 10), (size_t) (*q++ - '0'));
                has_m = true;
        }
        if (*q == ',') {
                q++;
                while (isdigit((unsigned char) *q))
                        n = add_sat(mul_sat(n, 10), (size_t) (*q++ - '0'));
        } else if (!has_m)
                return 0;
        else
                n = m;
        if (*q != '}')
                return 0;
        *ret_copies = add_sat(MAX(m, n), 1);
        return (size_t) (q + 1 - p);
}

/* An upper estimate of the number of nodes regcomp() builds for an ERE: every
 * atom counts 1, a group the sum of its contents plus 1, and a quantifier
 * replaces what it applies to by as many copies as it makes, plus 1. A
 * quantifier right after another one yields SIZE_MAX. */
static size_t regex_expansion(const char *p) {
        size_t stack[FILTER_REGEX_MAX + 1]; /* size of each open group so far */
        size_t depth = 0, last = 0;         /* last: size of the unit a quantifier would apply to */
        bool quantified = false;            /* last was quantified already */

        stack[0] = 0;
        while (*p) {
                size_t unit = 1, copies = 0, len;

                switch (*p) {
                case '\\':
                        p += p[1] ? 2 : 1;
                        break;
                case '[': {
                        const char *q = p + 1;
                        if (*q == '^')
                                q++;
                        if (*q == ']')
                                q++;
                        while (*q && *q != ']') {
                                if (*q == '[' && (q[1] == ':' || q[1] == '.' || q[1] == '=')) {
                                        const char *e = strchr(q + 2, q[1]);
                                        while (e && e[1] != ']')
                                                e = strchr(e + 1, q[1]);
                                        q = e ? e + 2 : q + strlen(q);
                                } else
                                        q++;
                        }
                        p = *q ? q + 1 : q;
                        break;
                }
                case '(':
                        if (depth >= FILTER_REGEX_MAX)
                                return SIZE_MAX;
                        stack[++depth] = 0;
                        last = 0;
                        quantified = false;
                        p++;
                        continue;
                case ')':
                        if (depth == 0) {
                                p++; /* a literal, or an error regcomp() reports */
                                break;
                        }
                        unit = add_sat(stack[depth--], 1);
                        p++;
                        break;
                case '|':
                        last = 0;
                        quantified = false;
                        p++;
                        continue;
                case '*':
                case '?':
                        copies = 1;
                        p++;
                        break;
                case '+':
                        copies = 2;
                        p++;
                        break;
                case '{':
                        len = parse_interval(p, &copies);
                        p += len > 0 ? len : 1;
                        break;
                default:
                        p++;
                        break;
                }

                if (copies > 0) {
                        /* Replace the unit quantified by its copies. */
                        size_t grown;

                        if (quantified)
                                return SIZE_MAX;
                        grown = add_sat(mul_sat(MAX(last, (size_t) 1), copies), 1);
                        stack[depth] = add_sat(stack[depth] - MIN(last, stack[depth]), grown);
                        last = grown;
                        quantified = true;
                } else {
                        stack[depth] = add_sat(stack[depth], unit);
                        last = unit;
                        quantified = false;
                }
        }
        /* Unclosed groups: regcomp() refuses them, count them anyway. */
        while (depth > 0) {
                size_t inner = stack[depth--];
                stack[depth] = add_sat(stack[depth], inner);
        }
        return stack[0];
}

/* Compiles s (its surrounding slashes removed when it has them) into *re.
 * On failure *re is untouched and needs no regfree(). */
static int regex_compile(const char *s, regex_t *re, const FieldErrors *e, const char **ret_error) {
        _cleanup_free_ char *pattern = NULL;
        size_t n;
        int r;

        if (is_slashed(s)) {
                n = strlen(s) - 2;
                pattern = strndup(s + 1, n);
        } else {
                n = strlen(s);
                pattern = strdup(s);
        }
        if (!pattern)
                return -ENOMEM;

        if (n == 0) {
                set_error(ret_error, e->regex_empty);
                return -EINVAL;
        }
        if (n > FILTER_REGEX_MAX) {
                set_error(ret_error, e->regex_too_long);
                return -EINVAL;
        }
        if (has_backref(pattern)) {
                set_error(ret_error, e->regex_backref);
                return -EINVAL;
        }
        if (regex_expansion(pattern) > FILTER_REGEX_EXPANSION_MAX) {
                set_error(ret_error, e->regex_complex);
                return -EINVAL;
        }

        r = regcomp(re, pattern, REG_EXTENDED | REG_NOSUB);
        if (r == REG_ESPACE)
                return -ENOMEM;
        if (r != 0) {
                set_error(ret_error, e->regex_invalid);
                return -EINVAL;
        }
        return 0;
}

/* Checks a string of a filter: len is its full length (a JSON string may hold
 * a NUL byte, which a C string would silently cut at). regex only picks the
 * message for a string too long. */
static int check_string(const char *s, size_t len, bool regex, const FieldErrors *e, const char **ret_error) {
        if (!s) {
                set_error(ret_error, e->not_string);
                return -EINVAL;
        }
        if (len == 0) {
                set_error(ret_error, e->empty);
                return -EINVAL;
        }
        if (len > FILTER_STRING_MAX) {
                set_error(ret_error, regex ? e->regex_too_long : e->too_long);
                return -EINVAL;
        }
        if (strlen(s) != len) {
                set_error(ret_error, e->nul);
                return -EINVAL;
        }
        if (!utf8_is_valid(s, len)) {
                set_error(ret_error, e->utf8);
                return -EINVAL;
        }
        return 0;
}

static int fact_add(Filter *f, const char *fact, size_t fact_len, FilterOp op, const char *value, size_t value_len,
                    const FieldErrors *ef, const FieldErrors *ev, const char **ret_error) {
        _cleanup_free_ char *fact_copy = NULL, *value_copy = NULL;
        FactFilter *ff;
        bool is_regex;
        int r;

        if (!f || op < 0 || op >= _FILTER_OP_MAX)
                return -EINVAL;
        if (f->n_facts >= FILTER_ENTRIES_MAX) {
                set_error(ret_error, ef->too_many);
                return -EINVAL;
        }
        is_regex = op == FILTER_OP_MATCH || (op == FILTER_OP_EQ && value && is_slashed(value));
        r = check_string(fact, fact_len, false, ef, ret_error);
        if (r < 0)
                return r;
        r = check_string(value, value_len, is_regex, ev, ret_error);
        if (r < 0)
                return r;

        /* The array is allocated once at its maximum size: a compiled regex_t
         * is never moved by a realloc(). */
        if (!f->facts) {
                f->facts = calloc(FILTER_ENTRIES_MAX, sizeof(FactFilter));
                if (!f->facts)
                        return -ENOMEM;
        }

        fact_copy = strdup(fact);
        value_copy = strdup(value);
        if (!fact_copy || !value_copy)
                return -ENOMEM;

        ff = &f->facts[f->n_facts];
        if (is_regex) {
                r = regex_compile(value, &ff->regex, ev, ret_error);
                if (r < 0)
                        return r;
        }

        ff->fact = TAKE_PTR(fact_copy);
        ff->op = op;
        ff->value = TAKE_PTR(value_copy);
        ff->is_regex = is_regex;
        f->n_facts++;
        return 0;
}

static int list_add(char ***l, const char *s, size_t len, bool allow_regex, const FieldErrors *e,
                    const char **ret_error) {
        int r;

        if (strv_length(*l) >= FILTER_ENTRIES_MAX) {
                set_error(ret_error, e->too_many);
                return -EINVAL;
        }
        r = check_string(s, len, allow_regex && s && is_slashed(s), e, ret_error);
        if (r < 0)
                return r;
        if (allow_regex && is_slashed(s)) {
                regex_t re;

                /* Only checked here: Filter keeps the text, matching compiles it again. */
                r = regex_compile(s, &re, e, ret_error);
                if (r < 0)
                        return r;
                regfree(&re);
        }
        return strv_extend(l, s);
}

static int list_from_json(json_t *a, char ***l, bool allow_regex, const FieldErrors *e, const char **ret_error) {
        json_t *v;
        size_t i;
        int r;

        if (!json_is_array(a)) {
                set_error(ret_error, e->not_array);
                return -EINVAL;
        }
        if (json_array_size(a) > FILTER_ENTRIES_MAX) {
                set_error(ret_error, e->too_many);
                return -EINVAL;
        }
        json_array_foreach(a, i, v) {
                if (!json_is_string(v)) {
                        set_error(ret_error, e->not_string);
                        return -EINVAL;
                }
                r = list_add(l, json_string_value(v), json_string_length(v), allow_regex, e, ret_error);
                if (r < 0)
                        return r;
        }
        return 0;
}

static int json_get_string(json_t *o, const char *key, const FieldErrors *e, const char **ret_string,
                           size_t *ret_len, const char **ret_error) {
        json_t *v = json_object_get(o, key);

        if (!json_is_string(v)) {
                set_error(ret_error, e->not_string);
                return -EINVAL;
        }
        *ret_string = json_string_value(v);
        *ret_len = json_string_length(v);
        return 0;
}

static int facts_from_json(json_t *a, Filter *f, const char **ret_error) {
        json_t *v;
        size_t i;
        int r;

        if (!json_is_array(a)) {
                set_error(ret_error, json_fact_errors.not_array);
                return -EINVAL;
        }
        if (json_array_size(a) > FILTER_ENTRIES_MAX) {
                set_error(ret_error, json_fact_errors.too_many);
                return -EINVAL;
        }
        json_array_foreach(a, i, v) {
                const char *key, *fact, *operator, *value;
                size_t fact_len, operator_len, value_len;
                json_t *w;
                FilterOp op;

                if (!json_is_object(v)) {
                        set_error(ret_error, "filter.fact[]: must be an object");
                        return -EINVAL;
                }
                json_object_foreach(v, key, w)
                        if (!streq(key, "fact") && !streq(key, "operator") && !streq(key, "value")) {
                                set_error(ret_error, "filter.fact[]: unknown key");
                                return -EINVAL;
                        }

                if ((r = json_get_string(v, "fact", &json_fact_errors, &fact, &fact_len, ret_error)) < 0 ||
                    (r = json_get_string(v, "operator", &json_operator_errors, &operator, &operator_len,
                                         ret_error)) < 0 ||
                    (r = json_get_string(v, "value", &json_value_errors, &value, &value_len, ret_error)) < 0)
                        return r;

                r = check_string(operator, operator_len, false, &json_operator_errors, ret_error);
                if (r < 0)
                        return r;
                op = filter_op_from_string(operator);
                if (op < 0) {
                        set_error(ret_error, "filter.fact[].operator: unknown operator");
                        return -EINVAL;
                }

                r = fact_add(f, fact, fact_len, op, value, value_len, &json_fact_errors, &json_value_errors,
                             ret_error);
                if (r < 0)
                        return r;
        }
        return 0;
}

int filter_from_json(json_t *j, Filter **ret, const char **ret_error) {
        _cleanup_filter_ Filter *f = NULL;
        const char *key;
        json_t *v;
        int r;

        if (!ret)
                return -EINVAL;

        f = filter_new();
        if (!f)
                return -ENOMEM;

        if (j && !json_is_null(j)) {
                if (!json_is_object(j)) {
                        set_error(ret_error, "filter: must be an object or null");
                        return -EINVAL;
                }
                json_object_foreach(j, key, v) {
                        if (streq(key, "fact"))
                                r = facts_from_json(v, f, ret_error);
                        else if (streq(key, "class"))
                                r = list_from_json(v, &f->classes, true, &json_class_errors, ret_error);
                        else if (streq(key, "identity"))
                                r = list_from_json(v, &f->identities, true, &json_identity_errors, ret_error);
                        else if (streq(key, "agent"))
                                r = list_from_json(v, &f->agents, false, &json_agent_errors, ret_error);
                        else {
                                set_error(ret_error, "filter: unknown key");
                                r = -EINVAL;
                        }
                        if (r < 0)
                                return r;
                }
        }

        *ret = TAKE_PTR(f);
        return 0;
}

static int json_add_strv(json_t *o, const char *key, char *const *l) {
        _cleanup_json_ json_t *a = NULL;

        if (strv_length(l) == 0)
                return 0;
        a = json_array();
        if (!a)
                return -ENOMEM;
        for (; *l; l++)
                if (json_array_append_new(a, json_string(*l)) < 0)
                        return -ENOMEM;
        if (json_object_set_new(o, key, TAKE_PTR(a)) < 0)
                return -ENOMEM;
        return 0;
}

json_t *filter_to_json(const Filter *f) {
        _cleanup_json_ json_t *o = NULL;

        o = json_object();
        if (!o)
                return NULL;
        if (!f)
                return TAKE_PTR(o);

        if (f->n_facts > 0) {
                _cleanup_json_ json_t *a = json_array();
                if (!a)
                        return NULL;
                for (size_t i = 0; i < f->n_facts; i++) {
                        const FactFilter *ff = &f->facts[i];
                        json_t *e = json_pack("{s:s, s:s, s:s}",
                                              "fact", ff->fact,
                                              "operator", filter_op_to_string(ff->op),
                                              "value", ff->value);
                        if (json_array_append_new(a, e) < 0)
                                return NULL;
                }
                if (json_object_set_new(o, "fact", TAKE_PTR(a)) < 0)
                        return NULL;
        }

        if (json_add_strv(o, "class", f->classes) < 0 ||
            json_add_strv(o, "identity", f->identities) < 0 ||
            json_add_strv(o, "agent", f->agents) < 0)
                return NULL;

        return TAKE_PTR(o);
}

int filter_add_fact_arg(Filter *f, const char *arg, const char **ret_error) {
        /* At each position the two character operators are tried first, so
         * the earliest operator wins and, there, the longest. */
        static const struct {
                const char *text;
                FilterOp op;
        } ops[] = {
                { "==", FILTER_OP_EQ },
                { "!=", FILTER_OP_NE },
                { "<=", FILTER_OP_LE },
                { ">=", FILTER_OP_GE },
                { "=~", FILTER_OP_MATCH },
                { "<",  FILTER_OP_LT },
                { ">",  FILTER_OP_GT },
                { "=",  FILTER_OP_EQ },
        };

        if (!f || !arg)
                return -EINVAL;

        for (const char *p = arg; *p; p++)
                for (size_t i = 0; i < ELEMENTSOF(ops); i++) {
                        _cleanup_free_ char *fact = NULL;
                        size_t n = strlen(ops[i].text);
                        const char *value = p + n;

                        if (strncmp(p, ops[i].text, n) != 0)
                                continue;
                        if (p == arg) {
                                set_error(ret_error, cli_fact_errors.empty);
                                return -EINVAL;
                        }
                        fact = strndup(arg, (size_t) (p - arg));
                        if (!fact)
                                return -ENOMEM;
                        return fact_add(f, fact, strlen(fact), ops[i].op, value, strlen(value),
                                        &cli_fact_errors, &cli_value_errors, ret_error);
                }

        set_error(ret_error, "no operator, expected one of == != < > <= >= =~ =");
        return -EINVAL;
}

int filter_add_class(Filter *f, const char *s, const char **ret_error) {
        if (!f)
                return -EINVAL;
        return list_add(&f->classes, s, s ? strlen(s) : 0, true, &cli_class_errors, ret_error);
}

int filter_add_identity(Filter *f, const char *s, const char **ret_error) {
        if (!f)
                return -EINVAL;
        return list_add(&f->identities, s, s ? strlen(s) : 0, true, &cli_identity_errors, ret_error);
}

int filter_add_agent(Filter *f, const char *s, const char **ret_error) {
        if (!f)
                return -EINVAL;
        return list_add(&f->agents, s, s ? strlen(s) : 0, false, &cli_agent_errors, ret_error);
}

/* Numbers as the ordering operators see them: the whole string, finite. */
static bool parse_number(const char *s, double *ret) {
        char *end;
        double d;

        if (isempty(s) || isspace((unsigned char) s[0]))
                return false;
        errno = 0;
        d = strtod(s, &end);
        if (end == s || *end != '\0' || !isfinite(d))
                return false;
        *ret = d;
        return true;
}

static int compare_values(const char *a, const char *b) {
        double x, y;

        if (parse_number(a, &x) && parse_number(b, &y))
                return (x > y) - (x < y);
        int c = strcmp(a, b);
        return (c > 0) - (c < 0);
}

static bool fact_matches(const FactFilter *ff, json_t *facts) {
        _cleanup_free_ char *text = NULL;
        const char *s;
        json_t *v;
        int c;

        v = json_object_get(facts, ff->fact);
        if (!v)
                return false; /* a fact the node lacks matches nothing, not even != */
        if (json_is_string(v))
                s = json_string_value(v);
        else {
                text = json_dumps(v, JSON_ENCODE_ANY);
                if (!text)
                        return false;
                s = text;
        }

        if (ff->is_regex)
                return regexec(&ff->regex, s, 0, NULL, 0) == 0;

        /* Equality is on the text: a kernel "5.10" is not "5.1". Order
         * compares numbers as numbers. */
        if (ff->op == FILTER_OP_EQ)
                return streq(s, ff->value);
        if (ff->op == FILTER_OP_NE)
                return !streq(s, ff->value);

        c = compare_values(s, ff->value);
        switch (ff->op) {
        case FILTER_OP_LT:
                return c < 0;
        case FILTER_OP_GT:
                return c > 0;
        case FILTER_OP_LE:
                return c <= 0;
        case FILTER_OP_GE:
                return c >= 0;
        default:
                return false;
        }
}

/* Whether pattern (exact, or "/re/") matches any string of l. The pattern was
 * checked when it was added; should compiling fail now, nothing matches. */
static bool pattern_matches_any(const char *pattern, char *const *l) {
        regex_t re;
        bool found = false;

        if (!l)
                return false;
        if (!is_slashed(pattern))
                return strv_contains(l, pattern);

        if (regex_compile(pattern, &re, &cli_class_errors, NULL) < 0)
                return false;
        for (; *l && !found; l++)
                found = regexec(&re, *l, 0, NULL, 0) == 0;
        regfree(&re);
        return found;
}

bool filter_match(const Filter *f, const NodeInfo *node) {
        if (filter_is_empty(f))
                return true;
        if (!node)
                return false;

        if (f->agents)
                for (char **a = f->agents; *a; a++)
                        if (!strv_contains(node->agents, *a))
                                return false;

        if (f->identities && *f->identities) {
                char *const identity[] = { (char *) node->identity, NULL };
                bool found = false;

                if (!node->identity)
                        return false;
                for (char **i = f->identities; *i && !found; i++)
                        found = pattern_matches_any(*i, identity);
                if (!found)
                        return false;
        }

        if (f->classes)
                for (char **c = f->classes; *c; c++)
                        if (!pattern_matches_any(*c, node->classes))
                                return false;

        for (size_t i = 0; i < f->n_facts; i++)
                if (!fact_matches(&f->facts[i], node->facts))
                        return false;

        return true;
}
