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

/* The user checks run as ([nrpe] user), looked up once (at start and at
 * reload), so that the forked child only makes system calls: setgroups(),
 * setresgid(), setresuid(), then execve(). */
typedef struct NrpeUser {
        char *runner;           /* the check runner's socket; NULL: checks are forked here */
        char *name;
        uid_t uid;
        gid_t gid;
        gid_t *groups;          /* the user's supplementary groups (getgrouplist) */
        size_t n_groups;
        char *home;
        bool change;            /* false: already running as that user */
} NrpeUser;

/* The check runner (muster-check-runner(8), started by muster-check.socket
 * for each connection) runs checks for the daemons, which then need no
 * capability at all. runner: "auto" (or NULL/""): the runner when
 * NRPE_RUNNER_SOCKET is a socket, else the check is forked here; "no":
 * always forked here; a path: that runner's socket, which must exist. */
#define NRPE_RUNNER_SOCKET "/run/muster/check.socket"

/* Look up user name and check that checks can run as it: through the
 * runner (which refuses to run a check as anyone but its own user), or
 * here, when this process is that user already or holds CAP_SETUID,
 * CAP_SETGID and CAP_KILL (root has them; CAP_KILL lets the runner kill
 * checks that run under another uid). name NULL or "": the daemon's own
 * user, refused (-EPERM) when that is root, so that checks never run as
 * root unless "root" is named. Errors: -ENOENT (no such user, or the
 * runner named is not a socket), -EPERM (cannot switch to it, or root by
 * default); *ret_error then says why in words. */
int nrpe_user_resolve(const char *name, const char *runner, NrpeUser **ret, const char **ret_error);
NrpeUser *nrpe_user_free(NrpeUser *u);
static inline void nrpe_user_freep(NrpeUser **u) {
        nrpe_user_free(*u);
}

/* As nrpe_run_start(), but the command runs as user (NULL: as this
 * process). The child sets the user's groups, gid and uid (real,
 * effective and saved) before exec, drops CAP_SETUID, CAP_SETGID, CAP_KILL
 * and CAP_SETPCAP from every capability set (other ambient capabilities,
 * granted to checks on purpose, stay), runs in /,
 * and gets HOME, USER and LOGNAME of that user; systemd's NOTIFY_SOCKET,
 * WATCHDOG_*, LISTEN_* and CREDENTIALS_DIRECTORY are not passed on. A
 * child that cannot switch prints "UNKNOWN: cannot run the check as user
 * NAME: REASON" and exits 3: a check never runs as the wrong user. */
int nrpe_run_start_as(sd_event *e, const char *command_line, const NrpeUser *user, uint64_t timeout_usec,
                      size_t output_max, nrpe_run_handler_t handler, void *userdata, NrpeRun **ret);
/* Kill (SIGKILL to the group) and free a run that has not completed; the
 * handler is not called. Safe on NULL. After the handler ran the run is
 * freed by the library: do not call this on it. */
void nrpe_run_abort(NrpeRun *run);
/* The process id of the check; 0 when the check runner runs it. */
pid_t nrpe_run_pid(const NrpeRun *run);

/* Checks that daemonize (fork twice, setsid) leave their process group,
 * so killing the group misses them. A responder that made itself a child
 * subreaper (PR_SET_CHILD_SUBREAPER) gets those orphans back as its own
 * children: this kills and reaps every child of ours whose pid is not in
 * keep (the checks still running), until none is left. Returns how many
 * were still running when killed: a leftover that had already exited (a
 * zombie) is reaped without being counted, and so is never the check whose
 * completion handler is running (the sweep is meant to be called from it). */
int nrpe_kill_orphans(const pid_t *keep, size_t n_keep);

/* For muster-check-runner: fork and exec command_line under /bin/sh -c as
 * nrpe_run_start_as() does (process group, stdin /dev/null, stdout_fd as
 * stdout, the user switch and the capability drop), without an event loop. */
int nrpe_spawn(const char *command_line, int stdout_fd, const NrpeUser *user, pid_t *ret);

/* The runner's protocol, on an AF_UNIX SOCK_SEQPACKET connection: one
 * request, "muster-check 1\nuser=NAME\ntimeout=USEC\n\nCOMMAND LINE",
 * with the write end of the check's output pipe attached (SCM_RIGHTS);
 * one answer once the check ended, "exited N", "killed N" or "dumped N"
 * (waitid()'s si_code and si_status). The caller hanging up kills the
 * check. */
#define NRPE_RUNNER_REQUEST_MAX (64U * 1024U)
typedef struct NrpeRunnerRequest {
        char *user;
        uint64_t timeout_usec;
        char *command_line;
} NrpeRunnerRequest;
/* Parse a request (the bytes received, not NUL-terminated). -EBADMSG with
 * *ret_error saying what is wrong. */
int nrpe_runner_request_parse(const char *buf, size_t n, NrpeRunnerRequest *ret, const char **ret_error);
void nrpe_runner_request_done(NrpeRunnerRequest *r);
/* Format the answer for si_code/si_status into buf (at least 32 bytes). */
int nrpe_runner_format_result(char *buf, size_t n, int code, int status);
int nrpe_runner_parse_result(const char *buf, size_t n, int *ret_code, int *ret_status);
