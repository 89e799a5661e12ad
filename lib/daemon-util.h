/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <getopt.h>

/* What muster-responder, -collector and -heartbeat share before their
 * manager exists: the command line and the blocked signals. */

typedef struct DaemonArgs {
        const char *name;                     /* for --version */
        void (*help)(void);
        const char **config;                  /* set by -c/--config */
        const struct option *extra;           /* further options, {} terminated; NULL: none */
        int (*parse_extra)(int c, const char *arg);
} DaemonArgs;

/* -c/--config=PATH, -h/--help, --version and a's extra options. Returns 1
 * to go on, 0 when --help or --version was answered, -EINVAL for an
 * unknown option (getopt said which), -E2BIG when arguments are left over
 * (none are taken: the caller says so), or parse_extra's error. */
int daemon_parse_argv(int argc, char *argv[], const DaemonArgs *a);

/* Block the signals (a list ending in -1), so that sd-event takes them
 * through signalfd. -errno on failure. */
int sigprocmask_block(int sig, ...);

/* The control socket's events (a refused peer, a failed accept()) as
 * warnings, rate limited: a local peer can repeat them at will. For
 * control_set_event_handler(). */
struct ControlEvent;
void daemon_log_control_event(const struct ControlEvent *ev, void *userdata);
