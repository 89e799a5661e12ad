/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <errno.h>
#include <regex.h>
#include <stdbool.h>
#include <jansson.h>

/* Request filters (DESIGN.md "Messages"):
 *   "filter": { "fact":     [ { "fact": "os", "operator": "==", "value": "debian" }, ... ],
 *               "class":    [ "webserver", "/^db/" ],
 *               "identity": [ "www1", "/^www[0-9]+$/" ],
 *               "agent":    [ "nrpe" ] }
 * Semantics: every fact filter must match, every class filter must match,
 * every agent filter must match, and at least one identity filter must match
 * (when any is given). An empty or missing filter matches every node. */

typedef enum FilterOp {
        FILTER_OP_EQ,     /* == ; a value written /re/ is a regex match, as =~ */
        FILTER_OP_NE,     /* != */
        FILTER_OP_LT,     /* <  numeric when both sides are numbers, else string order */
        FILTER_OP_GT,     /* >  */
        FILTER_OP_LE,     /* <= */
        FILTER_OP_GE,     /* >= */
        FILTER_OP_MATCH,  /* =~ POSIX extended regex, value with or without /.../ */
        _FILTER_OP_MAX,
        _FILTER_OP_INVALID = -EINVAL,
} FilterOp;

typedef struct FactFilter {
        char *fact;
        FilterOp op;
        char *value;
        bool is_regex;    /* compiled below */
        regex_t regex;
} FactFilter;

typedef struct Filter {
        FactFilter *facts;
        size_t n_facts;
        char **classes;     /* NULL-terminated; "/re/" entries are regexes */
        char **identities;  /* NULL-terminated; "/re/" entries are regexes */
        char **agents;      /* NULL-terminated */
} Filter;

/* What a node knows about itself, for matching. */
typedef struct NodeInfo {
        const char *identity;
        json_t *facts;          /* object of strings (non-string values are compared as their JSON text) */
        char *const *classes;   /* NULL-terminated, may be NULL */
        char *const *agents;    /* NULL-terminated, may be NULL */
} NodeInfo;

const char *filter_op_to_string(FilterOp op);
FilterOp filter_op_from_string(const char *s);

Filter *filter_new(void);
Filter *filter_free(Filter *f);
static inline void filter_freep(Filter **f) { filter_free(*f); }
#define _cleanup_filter_ __attribute__((cleanup(filter_freep)))

bool filter_is_empty(const Filter *f);

/* Parse the request's "filter" value (NULL or JSON null = empty filter).
 * On error returns -EINVAL and sets *ret_error to a static, human readable
 * reason (e.g. "filter.fact[1].operator: unknown operator \"~~\""; the index
 * is not included, a fixed string is fine). Regexes are compiled here; a bad
 * regex or one longer than 256 bytes is -EINVAL. */
int filter_from_json(json_t *j, Filter **ret, const char **ret_error);
json_t *filter_to_json(const Filter *f);

/* Command line forms, as mco accepts them:
 *   -F "os=debian"  -F "os==debian"  -F "load>2"  -F "kernel!=5.10"
 *   -F "name=~^web" -F "name=/^web/"  -F "mem>=1024"  -F "mem<=2048"  -F "x<1"
 * Adds one fact filter; -EINVAL when no operator or empty fact name. */
int filter_add_fact_arg(Filter *f, const char *arg, const char **ret_error);
int filter_add_class(Filter *f, const char *s, const char **ret_error);
int filter_add_identity(Filter *f, const char *s, const char **ret_error);
int filter_add_agent(Filter *f, const char *s, const char **ret_error);

bool filter_match(const Filter *f, const NodeInfo *node);
