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

/* Where the shell that runs the command line stands, so that an argument
 * is inserted as part of exactly one word. */
typedef enum QuoteState {
        QUOTE_NONE,
        QUOTE_SINGLE,
        QUOTE_DOUBLE,
} QuoteState;

typedef struct Lexer {
        QuoteState state;
        bool escaped;           /* after a backslash outside single quotes */
} Lexer;

static void lexer_feed(Lexer *l, const char *p, size_t n) {
        for (size_t i = 0; i < n; i++) {
                char c = p[i];

                if (l->escaped) {
                        l->escaped = false;
                        continue;
                }
                switch (l->state) {
                case QUOTE_NONE:
                        if (c == '\\')
                                l->escaped = true;
                        else if (c == '\'')
                                l->state = QUOTE_SINGLE;
                        else if (c == '"')
                                l->state = QUOTE_DOUBLE;
                        break;
                case QUOTE_SINGLE:
                        if (c == '\'')
                                l->state = QUOTE_NONE;
                        break;
                case QUOTE_DOUBLE:
                        if (c == '\\')
                                l->escaped = true;
                        else if (c == '"')
                                l->state = QUOTE_NONE;
                        break;
                }
        }
}

static int append_literal(StrBuf *b, Lexer *l, const char *p, size_t n) {
        lexer_feed(l, p, n);
        return strbuf_append(b, p, n);
}

/* The argument as (part of) one shell word, whatever it holds: outside
 * quotes in single quotes, inside quotes with the closing quote escaped.
 * ($ ` \ and newlines never get here.) The shell sees the same text the
 * request sent, never a second word, a glob, or a separator. */
static int append_argument(StrBuf *b, const Lexer *l, const char *arg) {
        int r;

        if (l->state == QUOTE_NONE && (r = strbuf_puts(b, "'")) < 0)
                return r;
        for (const char *c = arg; *c; c++) {
                if (*c == '\'' && l->state != QUOTE_DOUBLE)
                        r = strbuf_puts(b, "'\\''");
                else if (*c == '"' && l->state == QUOTE_DOUBLE)
                        r = strbuf_puts(b, "\\\"");
                else
                        r = strbuf_append(b, c, 1);
                if (r < 0)
                        return r;
        }
        if (l->state == QUOTE_NONE && (r = strbuf_puts(b, "'")) < 0)
                return r;
        return 0;
}

/* NRPE's process_macros(): "$ARGn$" becomes argument n (nothing when there
 * is none, and also for n outside 1..16), "$$" becomes "$", any other
 * "$text$" stays as it is, and a '$' without a closing one is literal. The
 * substituted arguments are not scanned again. Unlike NRPE, an argument is
 * quoted for the shell that runs the line, so that it stays within one
 * word: "a b" is one argument of the plugin, "a;b" no command separator.
 * *ret_error is set on -EPERM, -EINVAL and -E2BIG. An argument is refused
 * (-EINVAL) when it holds a character of nasty (NULL: NRPE's list plus
 * '$'), or any of $ ` \ CR LF whatever nasty says, or begins with '-'. */
int nrpe_expand_arguments(const char *command_line, char *const *args, size_t n_args, bool allow, const char *nasty,
                          char **ret, const char **ret_error) {
        _cleanup_(strbuf_done) StrBuf b = {};
        Lexer lexer = {};
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
                        r = append_literal(&b, &lexer, p, strlen(p));
                        if (r < 0)
                                return r;
                        break;
                }
                r = append_literal(&b, &lexer, p, (size_t) (dollar - p));
                if (r < 0)
                        return r;

                close = strchr(dollar + 1, '$');
                if (!close) {
                        r = append_literal(&b, &lexer, dollar, strlen(dollar));
                        if (r < 0)
                                return r;
                        break;
                }

                size_t len = (size_t) (close - dollar - 1);
                int idx = arg_macro_index(dollar + 1, len);

                if (len == 0)
                        r = append_literal(&b, &lexer, "$", 1);
                else if (idx > 0 && lexer.escaped && (size_t) idx <= n_args && args[idx - 1]) {
                        /* "\$ARG1$": the backslash would take the quote. */
                        set_error(ret_error, "Command line has a backslash before an argument macro");
                        return -EINVAL;
                } else if (idx > 0)
                        r = (size_t) idx <= n_args && args[idx - 1] ? append_argument(&b, &lexer, args[idx - 1]) : 0;
                else if (idx == 0)
                        r = 0;
                else
                        r = append_literal(&b, &lexer, dollar, len + 2);
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
