/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdio.h>
#include <stddef.h>

/* Nagios plugin states and exit codes. */
enum {
        NAGIOS_OK = 0,
        NAGIOS_WARNING = 1,
        NAGIOS_CRITICAL = 2,
        NAGIOS_UNKNOWN = 3,
};

const char *nagios_state_name(int state);

/* A threshold on how many of the nodes are not OK (WARNING, CRITICAL or
 * UNKNOWN, silent ones included): a count "N" or a share "P%" of all the
 * nodes. As monitoring-plugins do with a plain -w N, it is exceeded when
 * the value is greater than the threshold: "2" is exceeded by 3 nodes, not
 * by 2; "10%" by 2 of 10 nodes, not by 1 of 10. */
typedef struct NagiosThreshold {
        bool set;
        bool percent;
        double value;            /* a count (whole number), or 0..100 */
} NagiosThreshold;

/* "N" (0 to 1000000) or "P%" (0 to 100, decimals allowed). -EINVAL when
 * malformed, -ERANGE when out of range. */
int nagios_threshold_parse(const char *s, NagiosThreshold *ret);
bool nagios_threshold_exceeded(const NagiosThreshold *t, size_t notok, size_t total);

/* One collated result over many nodes. names[state] lists the nodes in each
 * state (NULL-terminated, may be NULL). OK nodes are never printed by name:
 * a caller may count them in n_ok instead of listing them (both add up). */
typedef struct NagiosCollation {
        char **names[4];
        size_t n_ok;             /* OK nodes not in names[NAGIOS_OK] */
        size_t replies;          /* "total=": nodes that answered */
        double checktime;        /* seconds */
        /* check-mc-nrpe -w/-c. When either is set they decide the state
         * instead of the worst node, and the perfdata gains
         * "notok=N;W;C;0;TOTAL" (and "notok_pct=P%;W;C;0;100" when one of
         * them is a share). */
        NagiosThreshold warning, critical;
} NagiosCollation;

/* Without thresholds, the worst state: CRITICAL > WARNING > UNKNOWN > OK.
 * With them: CRITICAL when the critical threshold is exceeded, else
 * WARNING when the warning one is, else OK. */
int nagios_collation_state(const NagiosCollation *c);

/* Print the check-mc-nrpe output:
 *   CMD: OK: 2 WARNING: 1 CRITICAL: 0 UNKNOWN: 0| total=3 ok=2 warn=1 crit=0 unknown=0 checktime=0.172370
 *   WARNING: www21
 * (one line per non-OK state with nodes, CRITICAL, WARNING, UNKNOWN in that
 * order, names separated by spaces). Returns the exit code. */
int nagios_collation_print(const NagiosCollation *c, const char *command, FILE *out);

/* Map a plugin exit status to a state (anything outside 0..3 is UNKNOWN). */
int nagios_state_from_exit(int code);
