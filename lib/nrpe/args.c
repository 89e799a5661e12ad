/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* $ARGn$ expansion in command lines, with the argument checks of nagios-nrpe-server. */
#include <ctype.h>
#include <inttypes.h>

#include "log.h"
#include "nrpe-internal.h"
#include "util.h"


/* "$ARGn$" with n in 1..16 (after the '$'): returns n, 0 for "ARG<digits>"
 * out of range, -1 for anything else. */
static int arg_macro_index(const char *s, size_t len) {
        unsigned v = 0;

        if (len < 4 || strncmp(s, "ARG", 3) != 0)
                return -1;
        for (size_t i = 3; i < len; i++) {
                if (!isdigit((unsigned char) s[i]))
                        return -1;
                if (v <= NRPE_ARGS_MAX)
                        v = v * 10 + (unsigned) (s[i] - '0');
        }
        return v >= 1 && v <= NRPE_ARGS_MAX ? (int) v : 0;
}

static void set_error(const char **ret_error, const char *e) {
        if (ret_error)
                *ret_error = e;
}

/* NRPE's process_macros(): "$ARGn$" becomes argument n (or "" when there is
 * none, and also for n outside 1..16), "$$" becomes "$", any other
 * "$text$" stays as it is, and a '$' without a closing one is literal. The
 * substituted arguments are not scanned again. *ret_error is set on -EPERM,
 * -EINVAL and -E2BIG. An argument is refused (-EINVAL) when it holds a
 * character of nasty (NULL: NRPE's list plus '$'), or any of $ ` \ CR LF
 * whatever nasty says, or begins with '-'. */
int nrpe_expand_arguments(const char *command_line, char *const *args, size_t n_args, bool allow, const char *nasty,
                          char **ret, const char **ret_error) {
        _cleanup_(strbuf_done) StrBuf b = {};
        const char *p;
        int r;

        if (!command_line || !ret || (n_args > 0 && !args))
                return -EINVAL;

        if (n_args > 0 && !allow) {
                set_error(ret_error, "Command arguments are disabled");
                return -EPERM;
        }
        if (n_args > NRPE_ARGS_MAX) {
                set_error(ret_error, "Too many command arguments");
                return -E2BIG;
        }

        if (!nasty)
                nasty = NRPE_NASTY_METACHARS_DEFAULT;
        for (size_t i = 0; i < n_args; i++) {
                if (!args[i])
                        continue;
                if (strpbrk(args[i], nasty) || strpbrk(args[i], NRPE_ALWAYS_REFUSED)) {
                        set_error(ret_error, "Request contained illegal metachars!");
                        return -EINVAL;
                }
                /* An argument that reads as an option changes what the plugin
                 * does (-f FILE, --output=...), not just a value. */
                if (args[i][0] == '-') {
                        set_error(ret_error, "Request contained an argument beginning with '-'");
                        return -EINVAL;
                }
        }

        p = command_line;
        for (;;) {
                const char *dollar = strchr(p, '$'), *close;

                if (!dollar) {
                        r = strbuf_puts(&b, p);
                        if (r < 0)
                                return r;
                        break;
                }
                r = strbuf_append(&b, p, (size_t) (dollar - p));
                if (r < 0)
                        return r;

                close = strchr(dollar + 1, '$');
                if (!close) {
                        r = strbuf_puts(&b, dollar);
                        if (r < 0)
                                return r;
                        break;
                }

                size_t len = (size_t) (close - dollar - 1);
                int idx = arg_macro_index(dollar + 1, len);

                if (len == 0)
                        r = strbuf_puts(&b, "$");
                else if (idx > 0)
                        r = (size_t) idx <= n_args ? strbuf_puts(&b, strempty(args[idx - 1])) : 0;
                else if (idx == 0)
                        r = 0;
                else
                        r = strbuf_append(&b, dollar, len + 2);
                if (r < 0)
                        return r;

                p = close + 1;
        }

        char *s = strbuf_steal(&b);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}
