/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>

#include "nagios.h"
#include "util.h"

static bool ascii_isdigit(char c) {
        return c >= '0' && c <= '9';
}

const char *nagios_state_name(int state) {
        static const char *const t[] = { "OK", "WARNING", "CRITICAL", "UNKNOWN" };
        return state >= 0 && state <= 3 ? t[state] : "UNKNOWN";
}

int nagios_state_from_exit(int code) {
        return code >= 0 && code <= 3 ? code : NAGIOS_UNKNOWN;
}

int nagios_threshold_parse(const char *s, NagiosThreshold *ret) {
        NagiosThreshold t = { .set = true };
        const char *p = s;
        char *end;

        if (!s || !ascii_isdigit(*s))
                return -EINVAL;
        /* Digits, an optional fraction for shares, an optional "%". */
        while (ascii_isdigit(*p))
                p++;
        if (*p == '.') {
                p++;
                if (!ascii_isdigit(*p))
                        return -EINVAL;
                while (ascii_isdigit(*p))
                        p++;
        }
        t.percent = *p == '%';
        if (t.percent)
                p++;
        if (*p != '\0')
                return -EINVAL;
        errno = 0;
        t.value = strtod(s, &end);
        if (errno != 0 || end == s)
                return -EINVAL;
        if (!t.percent && t.value != (double) (uint64_t) t.value)
                return -EINVAL;
        if (t.value > (t.percent ? 100.0 : 1000000.0))
                return -ERANGE;
        *ret = t;
        return 0;
}

bool nagios_threshold_exceeded(const NagiosThreshold *t, size_t notok, size_t total) {
        if (!t->set)
                return false;
        if (t->percent)
                /* notok / total > value / 100, without dividing */
                return total > 0 && (double) notok * 100.0 > t->value * (double) total;
        return (double) notok > t->value;
}

static size_t collation_count(const NagiosCollation *c, size_t n[static 4]) {
        for (int i = 0; i < 4; i++)
                n[i] = strv_length(c->names[i]);
        n[NAGIOS_OK] += c->n_ok;
        return n[0] + n[1] + n[2] + n[3];
}

int nagios_collation_state(const NagiosCollation *c) {
        if (c->warning.set || c->critical.set) {
                size_t n[4], total = collation_count(c, n), notok = total - n[NAGIOS_OK];

                if (nagios_threshold_exceeded(&c->critical, notok, total))
                        return NAGIOS_CRITICAL;
                if (nagios_threshold_exceeded(&c->warning, notok, total))
                        return NAGIOS_WARNING;
                return NAGIOS_OK;
        }
        if (strv_length(c->names[NAGIOS_CRITICAL]) > 0)
                return NAGIOS_CRITICAL;
        if (strv_length(c->names[NAGIOS_WARNING]) > 0)
                return NAGIOS_WARNING;
        if (strv_length(c->names[NAGIOS_UNKNOWN]) > 0)
                return NAGIOS_UNKNOWN;
        return NAGIOS_OK;
}

/* A perfdata number: whole numbers bare, others with up to two decimals. */
static void print_number(FILE *out, double v) {
        char buf[64];
        size_t l;

        snprintf(buf, sizeof buf, "%.2f", v);
        l = strlen(buf);
        while (l > 0 && buf[l - 1] == '0')
                buf[--l] = '\0';
        if (l > 0 && buf[l - 1] == '.')
                buf[--l] = '\0';
        fputs(buf, out);
}

static void print_threshold(FILE *out, const NagiosThreshold *t, bool percent) {
        fputc(';', out);
        if (t->set && t->percent == percent)
                print_number(out, t->value);
}

int nagios_collation_print(const NagiosCollation *c, const char *command, FILE *out) {
        size_t n[4], all;
        static const int order[] = { NAGIOS_CRITICAL, NAGIOS_WARNING, NAGIOS_UNKNOWN };

        all = collation_count(c, n);

        fprintf(out, "%s: OK: %zu WARNING: %zu CRITICAL: %zu UNKNOWN: %zu| total=%zu ok=%zu warn=%zu crit=%zu "
                "unknown=%zu checktime=%f",
                command, n[0], n[1], n[2], n[3], c->replies, n[0], n[1], n[2], n[3], c->checktime);
        if (c->warning.set || c->critical.set) {
                size_t notok = all - n[NAGIOS_OK];

                fprintf(out, " notok=%zu", notok);
                print_threshold(out, &c->warning, false);
                print_threshold(out, &c->critical, false);
                fprintf(out, ";0;%zu", all);
                if ((c->warning.set && c->warning.percent) || (c->critical.set && c->critical.percent)) {
                        fputs(" notok_pct=", out);
                        print_number(out, all > 0 ? (double) notok * 100.0 / (double) all : 0.0);
                        fputc('%', out);
                        print_threshold(out, &c->warning, true);
                        print_threshold(out, &c->critical, true);
                        fputs(";0;100", out);
                }
        }
        fputc('\n', out);

        for (size_t i = 0; i < ELEMENTSOF(order); i++) {
                int s = order[i];
                if (n[s] == 0)
                        continue;
                fprintf(out, "%s:", nagios_state_name(s));
                for (char **p = c->names[s]; *p; p++)
                        fprintf(out, " %s", *p);
                fputc('\n', out);
        }
        return nagios_collation_state(c);
}
