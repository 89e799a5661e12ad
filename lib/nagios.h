/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

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

/* One collated result over many nodes. names[state] lists the nodes in each
 * state (NULL-terminated, may be NULL). */
typedef struct NagiosCollation {
        char **names[4];
        size_t replies;          /* "total=": nodes that answered */
        double checktime;        /* seconds */
} NagiosCollation;

/* Worst state: CRITICAL > WARNING > UNKNOWN > OK. */
int nagios_collation_state(const NagiosCollation *c);

/* Print the check-mc-nrpe output:
 *   CMD: OK: 2 WARNING: 1 CRITICAL: 0 UNKNOWN: 0| total=3 ok=2 warn=1 crit=0 unknown=0 checktime=0.172370
 *   WARNING: www21
 * (one line per non-OK state with nodes, CRITICAL, WARNING, UNKNOWN in that
 * order, names separated by spaces). Returns the exit code. */
int nagios_collation_print(const NagiosCollation *c, const char *command, FILE *out);

/* Map a plugin exit status to a state (anything outside 0..3 is UNKNOWN). */
int nagios_state_from_exit(int code);
