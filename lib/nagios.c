/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "nagios.h"
#include "util.h"

const char *nagios_state_name(int state) {
        static const char *const t[] = { "OK", "WARNING", "CRITICAL", "UNKNOWN" };
        return state >= 0 && state <= 3 ? t[state] : "UNKNOWN";
}

int nagios_state_from_exit(int code) {
        return code >= 0 && code <= 3 ? code : NAGIOS_UNKNOWN;
}

int nagios_collation_state(const NagiosCollation *c) {
        if (strv_length(c->names[NAGIOS_CRITICAL]) > 0)
                return NAGIOS_CRITICAL;
        if (strv_length(c->names[NAGIOS_WARNING]) > 0)
                return NAGIOS_WARNING;
        if (strv_length(c->names[NAGIOS_UNKNOWN]) > 0)
                return NAGIOS_UNKNOWN;
        return NAGIOS_OK;
}

int nagios_collation_print(const NagiosCollation *c, const char *command, FILE *out) {
        size_t n[4];
        static const int order[] = { NAGIOS_CRITICAL, NAGIOS_WARNING, NAGIOS_UNKNOWN };

        for (int i = 0; i < 4; i++)
                n[i] = strv_length(c->names[i]);

        fprintf(out, "%s: OK: %zu WARNING: %zu CRITICAL: %zu UNKNOWN: %zu| total=%zu ok=%zu warn=%zu crit=%zu "
                "unknown=%zu checktime=%f\n",
                command, n[0], n[1], n[2], n[3], c->replies, n[0], n[1], n[2], n[3], c->checktime);

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
