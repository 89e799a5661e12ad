/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Plugin output: first line, perfdata and long output, the Nagios plugin way. */
#include <ctype.h>

#include "log.h"
#include "nrpe-internal.h"
#include "util.h"


/* Copy [p, p+n) with surrounding whitespace removed; NULL (and 0) if empty
 * and !keep_empty. */
static int strip_dup(const char *p, size_t n, bool keep_empty, char **ret) {
        while (n > 0 && is_blank(p[0])) {
                p++;
                n--;
        }
        while (n > 0 && is_blank(p[n - 1]))
                n--;
        if (n == 0 && !keep_empty) {
                *ret = NULL;
                return 0;
        }
        char *s = strndup(p, n);
        if (!s)
                return -ENOMEM;
        *ret = s;
        return 0;
}

/* output is always set ("" when there was none); perfdata and long_output
 * are NULL when empty. "\r\n" line ends are accepted, and the output ends at
 * the first NUL byte. */
int nrpe_parse_output(const char *buf, size_t n, NrpeOutput *ret) {
        _cleanup_free_ char *copy = NULL, *output = NULL, *perf1 = NULL, *long_output = NULL;
        _cleanup_(strbuf_done) StrBuf perf = {};
        char *first, *rest, *nl, *bar, *end;
        int r;

        if (!ret || (!buf && n > 0))
                return -EINVAL;

        n = buf ? strnlen(buf, n) : 0;
        copy = malloc(n + 1);
        if (!copy)
                return -ENOMEM;
        /* Normalize "\r\n" to "\n". */
        size_t k = 0;
        for (size_t i = 0; i < n; i++)
                if (!(buf[i] == '\r' && i + 1 < n && buf[i + 1] == '\n'))
                        copy[k++] = buf[i];
        copy[k] = '\0';

        first = copy;
        nl = strchr(first, '\n');
        if (nl) {
                *nl = '\0';
                rest = nl + 1;
        } else
                rest = NULL;

        /* First line: "TEXT|PERF" */
        bar = strchr(first, '|');
        r = strip_dup(first, bar ? (size_t) (bar - first) : strlen(first), true, &output);
        if (r < 0)
                return r;
        if (bar) {
                r = strip_dup(bar + 1, strlen(bar + 1), false, &perf1);
                if (r < 0)
                        return r;
                if (perf1) {
                        r = strbuf_puts(&perf, perf1);
                        if (r < 0)
                                return r;
                }
        }

        if (rest) {
                /* Long output up to the first '|', then more perfdata lines. */
                bar = strchr(rest, '|');
                end = bar ?: rest + strlen(rest);

                /* Drop leading empty lines and all trailing whitespace, but
                 * keep the indentation of the first line. */
                while (rest < end && (*rest == '\n' || (*rest == '\r' && rest + 1 < end && rest[1] == '\n')))
                        rest++;
                while (end > rest && is_blank(end[-1]))
                        end--;
                if (end > rest) {
                        long_output = strndup(rest, (size_t) (end - rest));
                        if (!long_output)
                                return -ENOMEM;
                }

                if (bar) {
                        char *line = bar + 1;

                        for (;;) {
                                _cleanup_free_ char *piece = NULL;
                                char *e = strchr(line, '\n');
                                size_t len = e ? (size_t) (e - line) : strlen(line);

                                r = strip_dup(line, len, false, &piece);
                                if (r < 0)
                                        return r;
                                if (piece) {
                                        if (perf.len > 0) {
                                                r = strbuf_puts(&perf, " ");
                                                if (r < 0)
                                                        return r;
                                        }
                                        r = strbuf_puts(&perf, piece);
                                        if (r < 0)
                                                return r;
                                }
                                if (!e)
                                        break;
                                line = e + 1;
                        }
                }
        }

        *ret = (NrpeOutput) {
                .output = TAKE_PTR(output),
                .perfdata = perf.len > 0 ? TAKE_PTR(perf.s) : NULL,
                .long_output = TAKE_PTR(long_output),
        };
        return 0;
}

void nrpe_output_done(NrpeOutput *o) {
        if (!o)
                return;
        free(o->output);
        free(o->perfdata);
        free(o->long_output);
        *o = (NrpeOutput) {};
}
