/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* muster-check-runner: runs one NRPE check for muster-responder or
 * muster-heartbeat, as the check user, on a connection muster-check.socket
 * accepted (Accept=yes). The daemons then hold no capability: the uid
 * switch is systemd's (User=), and what a check leaves behind dies with
 * this instance's cgroup. */
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <systemd/sd-daemon.h>

#include "log.h"
#include "nrpe.h"
#include "util.h"

#define RECEIVE_TIMEOUT_SEC 10
/* After the caller's own timeout, which normally ends the check first. */
#define KILL_GRACE_USEC (5 * USEC_PER_SEC)

static const char *arg_user = "muster-check";

static void help(void) {
        printf("Usage: muster-check-runner [OPTIONS]\n\n"
               "Run one NRPE check for muster-responder or muster-heartbeat on the connection\n"
               "muster-check.socket passes (Accept=yes), as the check user.\n\n"
               "     --user=NAME   When started as root, run the check as NAME (default\n"
               "                   muster-check); otherwise checks run as this process's user\n"
               "  -h --help        Show this help\n"
               "     --version     Show the version\n\n"
               "See muster-check-runner(8).\n");
}

static int parse_argv(int argc, char *argv[]) {
        enum { ARG_VERSION = 0x100, ARG_USER };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, ARG_VERSION },
                { "user", required_argument, NULL, ARG_USER },
                {}
        };
        int c;

        while ((c = getopt_long(argc, argv, "h", options, NULL)) >= 0)
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case ARG_VERSION:
                        printf("muster-check-runner %s\n", PACKAGE_VERSION);
                        return 0;
                case ARG_USER:
                        if (isempty(optarg))
                                return log_error_errno(-EINVAL, "--user= needs a user name.");
                        arg_user = optarg;
                        break;
                default:
                        return -EINVAL;
                }
        if (optind < argc)
                return log_error_errno(-EINVAL, "This program takes no arguments.");
        return 1;
}

/* One request and the output pipe's write end that comes with it. */
static int receive_request(int sock, NrpeRunnerRequest *ret, int *ret_out_fd) {
        _cleanup_free_ char *buf = malloc(NRPE_RUNNER_REQUEST_MAX + 1);
        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int) * 4)];
        } control = {};
        struct iovec iov = { .iov_base = buf, .iov_len = NRPE_RUNNER_REQUEST_MAX + 1 };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control,
                             .msg_controllen = sizeof control };
        _cleanup_close_ int out_fd = -1;
        const char *why = NULL;
        ssize_t n;
        int r;

        if (!buf)
                return log_oom();
        n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC);
        if (n < 0)
                return log_error_errno(-errno, "Failed to receive the request: %m");

        /* Whatever descriptors came, ours is the first; close the rest. */
        for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
                if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
                        continue;
                size_t k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
                for (size_t i = 0; i < k; i++) {
                        int fd;
                        memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
                        if (out_fd < 0)
                                out_fd = fd;
                        else
                                close(fd);
                }
        }
        if (n == 0)
                return log_error_errno(-ECONNRESET, "The caller hung up before sending a request.");
        if (mh.msg_flags & (MSG_TRUNC | MSG_CTRUNC))
                return log_error_errno(-EBADMSG, "Refusing a request: longer than %u bytes or too many "
                                       "descriptors.", NRPE_RUNNER_REQUEST_MAX);
        if (out_fd < 0)
                return log_error_errno(-EBADMSG, "Refusing a request: no output pipe attached.");

        struct stat st;
        if (fstat(out_fd, &st) < 0)
                return log_error_errno(-errno, "Failed to check the output pipe: %m");
        if (!S_ISFIFO(st.st_mode) && !S_ISSOCK(st.st_mode))
                return log_error_errno(-EBADMSG, "Refusing a request: its output descriptor is not a pipe.");

        r = nrpe_runner_request_parse(buf, (size_t) n, ret, &why);
        if (r == -EBADMSG)
                return log_error_errno(r, "Refusing a malformed request: %s.", why);
        if (r < 0)
                return log_error_errno(r, "Failed to parse the request: %m");
        *ret_out_fd = TAKE_FD(out_fd);
        return 0;
}

static void send_result(int sock, int code, int status) {
        char buf[32];
        int n = nrpe_runner_format_result(buf, sizeof buf, code, status);

        if (n > 0 && send(sock, buf, (size_t) n, MSG_NOSIGNAL) < 0 && errno != EPIPE && errno != ECONNRESET)
                log_warning_errno(-errno, "Failed to send the check's result: %m, ignoring.");
}

/* The check fails before it starts: the reason is its output. */
_printf_(3, 4) static int refuse(int sock, int out_fd, const char *fmt, ...) {
        char msg[1024];
        va_list ap;

        va_start(ap, fmt);
        int n = vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);

        if (n > 0)
                (void) !write(out_fd, msg, MIN((size_t) n, sizeof msg - 1));
        close(out_fd);
        send_result(sock, CLD_EXITED, 3);
        return 0;
}

/* Kill the check's process group, reap it and whatever it daemonized
 * (we are a subreaper). */
static void kill_and_reap(pid_t pid, siginfo_t *ret) {
        (void) kill(-pid, SIGKILL);
        for (;;) {
                siginfo_t si = {};
                if (waitid(P_PID, (id_t) pid, &si, WEXITED) >= 0) {
                        if (ret)
                                *ret = si;
                        break;
                }
                if (errno != EINTR)
                        break;
        }
        (void) kill(-pid, SIGKILL);
        int k = nrpe_kill_orphans(NULL, 0);
        if (k > 0)
                log_notice("Killed %d process(es) a check left behind.", k);
}

static int run(int argc, char *argv[]) {
        _cleanup_(nrpe_runner_request_done) NrpeRunnerRequest req = {};
        _cleanup_(nrpe_user_freep) NrpeUser *user = NULL;
        const char *why = NULL;
        int out_fd = -1, sock, n, r;
        pid_t pid;

        log_setup("muster-check-runner", true);
        r = parse_argv(argc, argv);
        if (r <= 0)
                return r;

        n = sd_listen_fds(true);
        if (n < 0)
                return log_error_errno(n, "Failed to read the sockets systemd passed: %m");
        if (n != 1)
                return log_error_errno(-EBADF, "Expected one connection from muster-check.socket (Accept=yes), "
                                       "got %d descriptors: this program is started by systemd, see "
                                       "muster-check-runner(8).", n);
        sock = SD_LISTEN_FDS_START;
        r = sd_is_socket_unix(sock, SOCK_SEQPACKET, 0, NULL, 0);
        if (r <= 0)
                return log_error_errno(r < 0 ? r : -EBADF, "The descriptor systemd passed is not a connected "
                                       "AF_UNIX SOCK_SEQPACKET socket (Accept=yes, ListenSequentialPacket=).");
        struct timeval tv = { .tv_sec = RECEIVE_TIMEOUT_SEC };
        (void) setsockopt(sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);

        r = receive_request(sock, &req, &out_fd);
        if (r < 0)
                return r;

        /* As root (started by hand) the check drops to --user; under the
         * unit (User=muster-check) it runs as we do. Never as root. */
        r = nrpe_user_resolve(geteuid() == 0 ? arg_user : NULL, "no", &user, &why);
        if (r < 0)
                return refuse(sock, out_fd, "UNKNOWN: the check runner cannot run checks as %s: %s\n",
                              geteuid() == 0 ? arg_user : "its own user", why ?: strerror(-r));
        if (!streq(req.user, user->name))
                return refuse(sock, out_fd,
                              "UNKNOWN: the check runner runs checks as user %s, not as %s ([nrpe] user); "
                              "see muster-check-runner(8)\n", user->name, req.user);

        if (prctl(PR_SET_CHILD_SUBREAPER, 1) < 0)
                log_debug_errno(-errno, "Cannot become a subreaper: %m, ignoring.");

        r = nrpe_spawn(req.command_line, out_fd, user, &pid);
        close(out_fd);
        if (r < 0) {
                send_result(sock, CLD_EXITED, 3);
                return log_error_errno(r, "Failed to start the check: %m");
        }

        _cleanup_close_ int pidfd = (int) syscall(SYS_pidfd_open, pid, 0);
        if (pidfd < 0) {
                kill_and_reap(pid, NULL);
                send_result(sock, CLD_EXITED, 3);
                return log_error_errno(-errno, "Failed to watch the check's process: %m");
        }

        uint64_t deadline = req.timeout_usec > 0 ? now_usec(CLOCK_MONOTONIC) + req.timeout_usec + KILL_GRACE_USEC
                                                 : UINT64_MAX;
        for (;;) {
                struct pollfd p[2] = {
                        { .fd = pidfd, .events = POLLIN },
                        { .fd = sock, .events = POLLIN | POLLRDHUP },
                };
                int timeout_ms = -1;

                if (deadline != UINT64_MAX) {
                        uint64_t now = now_usec(CLOCK_MONOTONIC);
                        timeout_ms = now >= deadline ? 0 : (int) MIN((deadline - now + 999) / 1000, (uint64_t) INT32_MAX);
                }
                r = poll(p, 2, timeout_ms);
                if (r < 0 && errno == EINTR)
                        continue;
                if (r < 0) {
                        kill_and_reap(pid, NULL);
                        return log_error_errno(-errno, "poll() failed: %m");
                }
                if (r == 0) {
                        /* The caller should have given up by now. */
                        log_warning("The check ran past its timeout of %" PRIu64 " ms and %" PRIu64
                                    " s more, killing it.", req.timeout_usec / USEC_PER_MSEC,
                                    KILL_GRACE_USEC / USEC_PER_SEC);
                        deadline = UINT64_MAX;
                        (void) kill(-pid, SIGKILL);
                        continue;
                }
                if (p[0].revents) {
                        siginfo_t si = {};
                        kill_and_reap(pid, &si);
                        send_result(sock, si.si_code, si.si_status);
                        return 0;
                }
                if (p[1].revents) {
                        /* The caller gave up (its timeout, its stop): so do we. */
                        kill_and_reap(pid, NULL);
                        log_debug("The caller hung up, the check was killed.");
                        return 0;
                }
        }
}

int main(int argc, char *argv[]) {
        int r = run(argc, argv);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
