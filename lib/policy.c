/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "log.h"
#include "policy.h"
#include "util.h"

typedef struct Rule {
        bool allow;
        char *caller;
        char *agent;
        char **actions;   /* NULL: any */
} Rule;

struct Policy {
        bool default_allow;
        Rule *rules;
        size_t n_rules;
};

Policy *policy_free(Policy *p) {
        if (!p)
                return NULL;
        for (size_t i = 0; i < p->n_rules; i++) {
                free(p->rules[i].caller);
                free(p->rules[i].agent);
                strv_free(p->rules[i].actions);
        }
        free(p->rules);
        free(p);
        return NULL;
}

static bool word_ok(const char *w, bool caller) {
        if (streq(w, "*"))
                return true;
        return caller ? identity_is_valid(w) : name_is_valid(w, 64);
}

int policy_parse(const char *name, const char *text, Policy **ret) {
        _cleanup_(policy_freep) Policy *p = NULL;
        _cleanup_free_ char *copy = strdup(text);
        unsigned line = 0, errors = 0;
        char *save_line = NULL;

        p = calloc(1, sizeof *p);
        if (!p || !copy)
                return -ENOMEM;
        p->default_allow = true;

        for (char *l = copy, *next; l; l = next) {
                next = strchr(l, '\n');
                if (next)
                        *next++ = '\0';
                line++;
                char *hash = strchr(l, '#');
                if (hash)
                        *hash = '\0';
                char *w[5] = {};
                size_t n = 0;
                for (char *t = strtok_r(l, " \t\r", &save_line); t; t = strtok_r(NULL, " \t\r", &save_line)) {
                        if (n == ELEMENTSOF(w)) {
                                n++;
                                break;
                        }
                        w[n++] = t;
                }
                if (n == 0)
                        continue;
                if (streq(w[0], "policy")) {
                        if (n != 3 || !streq(w[1], "default") || (!streq(w[2], "allow") && !streq(w[2], "deny"))) {
                                log_error("%s:%u: expected \"policy default allow\" or \"policy default deny\".",
                                          name, line);
                                errors++;
                                continue;
                        }
                        p->default_allow = streq(w[2], "allow");
                        continue;
                }
                if ((!streq(w[0], "allow") && !streq(w[0], "deny")) || n != 4) {
                        log_error("%s:%u: expected \"allow|deny CALLER AGENT ACTIONS\".", name, line);
                        errors++;
                        continue;
                }
                if (!word_ok(w[1], true) || !word_ok(w[2], false)) {
                        log_error("%s:%u: invalid caller or agent \"%s %s\".", name, line, w[1], w[2]);
                        errors++;
                        continue;
                }
                Rule r = { .allow = streq(w[0], "allow") };
                if (!streq(w[3], "*")) {
                        /* Every comma-separated item must name an action: "," or
                         * "a,,b" is an error, never "any action". */
                        _cleanup_free_ char *list = strdup(w[3]);
                        bool bad = false;
                        if (!list)
                                return -ENOMEM;
                        for (char *a = w[3], *comma; a; a = comma ? comma + 1 : NULL) {
                                comma = strchr(a, ',');
                                if (comma)
                                        *comma = '\0';
                                if (!name_is_valid(a, 64)) {
                                        if (isempty(a))
                                                log_error("%s:%u: empty action in \"%s\", expected action names "
                                                          "separated by commas, or \"*\".", name, line, list);
                                        else
                                                log_error("%s:%u: invalid action \"%s\".", name, line, a);
                                        bad = true;
                                        break;
                                }
                                if (strv_extend(&r.actions, a) < 0) {
                                        strv_free(r.actions);
                                        return -ENOMEM;
                                }
                        }
                        if (bad || !r.actions) {
                                strv_free(r.actions);
                                errors++;
                                continue;
                        }
                }
                r.caller = strdup(w[1]);
                r.agent = strdup(w[2]);
                Rule *t = realloc(p->rules, (p->n_rules + 1) * sizeof *t);
                if (!r.caller || !r.agent || !t) {
                        free(r.caller);
                        free(r.agent);
                        strv_free(r.actions);
                        if (t)
                                p->rules = t;
                        return -ENOMEM;
                }
                p->rules = t;
                p->rules[p->n_rules++] = r;
        }
        if (errors > 0)
                return -EINVAL;
        *ret = TAKE_PTR(p);
        return 0;
}

int policy_load(const char *path, Policy **ret) {
        _cleanup_free_ char *text = NULL;
        int r = read_full_file(path, 1 << 20, &text, NULL);
        if (r < 0)
                return r;
        return policy_parse(path, text, ret);
}

bool policy_allows(const Policy *p, const char *caller, const char *agent, const char *action) {
        if (!p)
                return true;
        for (size_t i = 0; i < p->n_rules; i++) {
                const Rule *r = &p->rules[i];
                if (!streq(r->caller, "*") && !streq(r->caller, caller))
                        continue;
                if (!streq(r->agent, "*") && !streq(r->agent, agent))
                        continue;
                if (r->actions && !strv_contains(r->actions, action))
                        continue;
                return r->allow;
        }
        return p->default_allow;
}
