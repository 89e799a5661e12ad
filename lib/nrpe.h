/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

/* NRPE command definitions in nagios-nrpe-server's own syntax:
 *   command[check_load]=/usr/lib/nagios/plugins/check_load -w 15,10,5 -c 30,25,20
 *   include=/etc/nagios/other.cfg
 *   include_dir=/etc/nagios/nrpe.d
 * Other nrpe.cfg keys (server_port=, allowed_hosts=, ...) are ignored, so an
 * existing nrpe.cfg or nrpe.d can be pointed at. */

typedef struct NrpeCommand {
        char *name;
        char *command_line;
} NrpeCommand;

typedef struct NrpeConfig {
        NrpeCommand *commands;
        size_t n_commands;
} NrpeConfig;

/* path: a directory (every "*.cfg" in it, lexical order) or a single file.
 * A later definition of the same command wins. include= and include_dir=
 * are followed (relative paths against the including file's directory),
 * at most 16 levels deep, and a file is never read twice (loops). Malformed
 * lines are logged as warnings naming file:line and skipped; unreadable
 * includes are warnings. A missing path yields an empty config. */
int nrpe_config_load(const char *path, NrpeConfig **ret);
/* Parse one buffer (exposed for tests and the fuzzer; include lines are
 * resolved relative to dir, may be NULL to ignore includes). */
int nrpe_config_parse_buffer(NrpeConfig *c, const char *name, const char *dir, const char *buf, size_t n);
NrpeConfig *nrpe_config_new(void);
NrpeConfig *nrpe_config_free(NrpeConfig *c);
const char *nrpe_config_find(const NrpeConfig *c, const char *name);

/* Command names: [A-Za-z0-9_.-], 1..64 bytes (like check_load). */
bool nrpe_command_name_is_valid(const char *name);

/* Substitute $ARG1$..$ARG16$ in command_line with args (n_args may be 0:
 * $ARGn$ without a value becomes ""). When args are given but allow is
 * false: -EPERM, *ret_error "Command arguments are disabled". An argument
 * holding any char of nasty: -EINVAL, *ret_error "Request contained illegal
 * metachars!". More than 16 args: -E2BIG. */
int nrpe_expand_arguments(const char *command_line, char *const *args, size_t n_args,
                          bool allow, const char *nasty, char **ret, const char **ret_error);

/* Split plugin output the Nagios plugin way: first line "TEXT|PERF";
 * following lines are long output, and after a '|' in the long output the
 * rest is more perfdata (joined to perfdata with a space). Trailing newlines
 * dropped. */
typedef struct NrpeOutput {
        char *output;
        char *perfdata;
        char *long_output;
} NrpeOutput;
int nrpe_parse_output(const char *buf, size_t n, NrpeOutput *ret);
void nrpe_output_done(NrpeOutput *o);

/* Running a command without blocking the event loop.
 * The command line runs as /bin/sh -c LINE in a new process group, stdin
 * /dev/null, stdout captured (at most output_max bytes are kept, the rest is
 * read and dropped, and the kept output gets a note "(output truncated)"),
 * stderr inherited. On timeout the whole process group gets SIGKILL, and
 * the result is exit code 3 with output "UNKNOWN: command timed out after
 * N s" (N the timeout). After the child exits, the process group is also
 * SIGKILLed so nothing it left behind in the group survives. A child killed
 * by a signal or exiting with a code outside 0..3 yields exit code 3 and
 * output naming what happened when there was no output.
 * Children are reaped through the event loop (sd_event_add_child; the caller
 * must have SIGCHLD blocked). */
typedef struct NrpeRun NrpeRun;
typedef void (*nrpe_run_handler_t)(NrpeRun *run, int exitcode, const char *output, size_t output_size,
                                   uint64_t duration_usec, void *userdata);
int nrpe_run_start(sd_event *e, const char *command_line, uint64_t timeout_usec, size_t output_max,
                   nrpe_run_handler_t handler, void *userdata, NrpeRun **ret);
/* Kill (SIGKILL to the group) and free a run that has not completed; the
 * handler is not called. Safe on NULL. After the handler ran the run is
 * freed by the library: do not call this on it. */
void nrpe_run_abort(NrpeRun *run);
pid_t nrpe_run_pid(const NrpeRun *run);

/* Checks that daemonize (fork twice, setsid) leave their process group,
 * so killing the group misses them. A responder that made itself a child
 * subreaper (PR_SET_CHILD_SUBREAPER) gets those orphans back as its own
 * children: this kills and reaps every child of ours whose pid is not in
 * keep (the checks still running), until none is left. Returns how many. */
int nrpe_kill_orphans(const pid_t *keep, size_t n_keep);
