/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>

#include "control.h"
#include "daemon-util.h"
#include "log.h"
#include "util.h"
#include "macro.h"

int daemon_parse_argv(int argc, char *argv[], const DaemonArgs *a) {
        enum { ARG_VERSION = 0x100 };
        struct option options[16] = {
                { "config", required_argument, NULL, 'c' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
        };
        size_t n = 3;
        int c, r;

        for (const struct option *o = a->extra; o && o->name; o++) {
                if (n + 1 >= ELEMENTSOF(options))
                        return -E2BIG;
                options[n++] = *o;
        }

        while ((c = getopt_long(argc, argv, "c:h", options, NULL)) >= 0)
                switch (c) {
                case 'c':
                        *a->config = optarg;
                        break;
                case 'h':
                        a->help();
                        return 0;
                case ARG_VERSION:
                        printf("%s %s\n", a->name, PACKAGE_VERSION);
                        return 0;
                case '?':
                        return -EINVAL;
                default:
                        if (!a->parse_extra)
                                return -EINVAL;
                        r = a->parse_extra(c, optarg);
                        if (r < 0)
                                return r;
                }
        if (optind < argc)
                return -E2BIG;
        return 1;
}

int sigprocmask_block(int sig, ...) {
        sigset_t ss;
        va_list ap;

        sigemptyset(&ss);
        va_start(ap, sig);
        for (; sig >= 0; sig = va_arg(ap, int))
                if (sigaddset(&ss, sig) < 0) {
                        va_end(ap);
                        return -errno;
                }
        va_end(ap);
        if (sigprocmask(SIG_BLOCK, &ss, NULL) < 0)
                return -errno;
        return 0;
}

void daemon_log_control_event(const ControlEvent *ev, void *userdata) {
        static RateLimit ratelimit = RATELIMIT_INIT(10 * USEC_PER_SEC, 10);
        unsigned suppressed = 0;

        if (!ratelimit_below(&ratelimit, &suppressed))
                return;
        if (suppressed > 0)
                log_warning("Suppressed %u further control socket entries.", suppressed);
        (void) log_warning_errno(ev->error, "%s", ev->message);
}
