/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Running checks without blocking the event loop: process group, timeout, output cap, check user, orphans. */
#include <fcntl.h>
#include <grp.h>
#include <inttypes.h>
#include <linux/capability.h>
#include <pwd.h>
#include <signal.h>
#include <sys/epoll.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>

#include "log.h"
#include "nrpe-internal.h"
#include "util.h"

extern char **environ;


struct NrpeRun {
        sd_event *event;
        sd_event_source *child_source;
        sd_event_source *io_source;
        sd_event_source *timer_source;
        int fd;
        pid_t pid;                      /* also the process group; 0: the check runner runs it */

        /* Run by muster-check-runner: its connection, which brings the
         * result; closing it kills the check. */
        int sock_fd;
        sd_event_source *sock_source;
        bool runner_lost;               /* the runner ended without a result */

        bool exited;                    /* child exited (sd-event reaps it after our callback) */
        bool eof;
        bool timed_out;
        int code;                       /* CLD_EXITED, CLD_KILLED, CLD_DUMPED */
        int status;

        char *buf;
        size_t size, alloc, output_max;
        bool truncated;

        uint64_t start_usec;
        uint64_t timeout_usec;

        nrpe_run_handler_t handler;
        void *userdata;
};

pid_t nrpe_run_pid(const NrpeRun *run) {
        return run ? run->pid : 0;
}

static void run_close_pipe(NrpeRun *run) {
        run->io_source = sd_event_source_unref(run->io_source);
        if (run->fd >= 0) {
                close(run->fd);
                run->fd = -1;
        }
}

static void run_close_runner(NrpeRun *run) {
        run->sock_source = sd_event_source_unref(run->sock_source);
        if (run->sock_fd >= 0) {
                close(run->sock_fd);
                run->sock_fd = -1;
        }
}

static NrpeRun *run_free(NrpeRun *run) {
        if (!run)
                return NULL;
        run_close_runner(run);
        run->child_source = sd_event_source_unref(run->child_source);
        run->timer_source = sd_event_source_unref(run->timer_source);
        run_close_pipe(run);
        sd_event_unref(run->event);
        free(run->buf);
        free(run);
        return NULL;
}

void nrpe_run_abort(NrpeRun *run) {
        if (!run)
                return;

        if (run->pid > 0 && !run->exited) {
                /* Not reaped yet, so the group id cannot have been reused. */
                (void) kill(-run->pid, SIGKILL);
                run->child_source = sd_event_source_unref(run->child_source);
                for (;;) {
                        siginfo_t si = {};

                        if (waitid(P_PID, (id_t) run->pid, &si, WEXITED) >= 0 || errno != EINTR)
                                break;
                }
        }
        run_free(run);
}

static void nrpe_run_abortp(NrpeRun **run) {
        nrpe_run_abort(*run);
}

/* Cut a truncated buffer back to the start of an incomplete UTF-8 sequence
 * at its end, so that the kept text stays valid where the input was. */
static size_t utf8_trim_incomplete(const char *s, size_t n) {
        size_t i = n, cont = 0;

        while (i > 0 && cont < 3 && ((unsigned char) s[i - 1] & 0xc0) == 0x80) {
                i--;
                cont++;
        }
        if (i == 0)
                return n;

        unsigned char lead = (unsigned char) s[i - 1];
        size_t need;
        if ((lead & 0xe0) == 0xc0)
                need = 1;
        else if ((lead & 0xf0) == 0xe0)
                need = 2;
        else if ((lead & 0xf8) == 0xf0)
                need = 3;
        else
                return n;
        return cont < need ? i - 1 : n;
}

static void format_seconds(char *buf, size_t n, uint64_t usec) {
        if (usec % USEC_PER_SEC == 0)
                snprintf(buf, n, "%" PRIu64, usec / USEC_PER_SEC);
        else {
                uint64_t ms = (usec + USEC_PER_MSEC / 2) / USEC_PER_MSEC;
                int decimals = ms % 10 != 0 ? 3 : ms % 100 != 0 ? 2 : 1;
                snprintf(buf, n, "%.*f", decimals, (double) ms / 1000.0);
        }
}

/* The pid of the run whose handler is running (0: none). */
static pid_t completing_pid = 0;

static void run_complete(NrpeRun *run) {
        _cleanup_free_ char *msg = NULL;
        const char *output;
        size_t output_size;
        uint64_t duration;
        int exitcode;

        duration = now_usec(CLOCK_MONOTONIC) - run->start_usec;

        if (run->timed_out) {
                char secs[32];

                exitcode = 3;
                format_seconds(secs, sizeof secs, run->timeout_usec);
                if (asprintf(&msg, "UNKNOWN: command timed out after %s s", secs) < 0)
                        msg = NULL;
                output = msg ?: "UNKNOWN: command timed out";
                output_size = strlen(output);
        } else if (run->runner_lost && run->size == 0) {
                exitcode = 3;
                output = "UNKNOWN: the check runner ended without a result (see its journal)";
                output_size = strlen(output);
        } else {
                if (run->truncated) {
                        size_t keep = utf8_trim_incomplete(run->buf, run->size);
                        bool nl = keep > 0 && run->buf[keep - 1] != '\n';
                        size_t need = keep + nl + strlen(NRPE_TRUNCATED_NOTE) + 1;
                        char *t = need > run->alloc ? realloc(run->buf, need) : run->buf;

                        if (t) {
                                run->buf = t;
                                run->alloc = MAX(run->alloc, need);
                                run->size = keep;
                                if (nl)
                                        run->buf[run->size++] = '\n';
                                memcpy(run->buf + run->size, NRPE_TRUNCATED_NOTE, strlen(NRPE_TRUNCATED_NOTE));
                                run->size += strlen(NRPE_TRUNCATED_NOTE);
                        }
                }
                if (run->buf)
                        run->buf[run->size] = '\0';

                output = run->buf ?: "";
                output_size = run->size;

                bool empty = true;
                for (size_t i = 0; i < output_size && empty; i++)
                        if (!is_blank(output[i]))
                                empty = false;

                if (run->code == CLD_EXITED && run->status >= 0 && run->status <= 3)
                        exitcode = run->status;
                else {
                        exitcode = 3;
                        if (empty) {
                                int k;

                                if (run->code == CLD_EXITED)
                                        k = asprintf(&msg, "UNKNOWN: command exited with status %d",
                                                     run->status);
                                else if (sigabbrev_np(run->status))
                                        k = asprintf(&msg, "UNKNOWN: command killed by signal %d (SIG%s)",
                                                     run->status, sigabbrev_np(run->status));
                                else
                                        k = asprintf(&msg, "UNKNOWN: command killed by signal %d",
                                                     run->status);
                                if (k < 0)
                                        msg = NULL;
                                output = msg ?: "UNKNOWN: command failed";
                                output_size = strlen(output);
                        }
                }
        }

        /* The child may still be a zombie that sd-event reaps after us: the
         * orphan sweep, called from the handler, must leave it alone. */
        completing_pid = run->exited ? run->pid : 0;
        run->handler(run, exitcode, output, output_size, duration, run->userdata);
        completing_pid = 0;
        run_free(run);
}

static int run_on_child(sd_event_source *s, const siginfo_t *si, void *userdata) {
        NrpeRun *run = userdata;

        run->exited = true;
        run->code = si->si_code;
        run->status = si->si_status;

        /* The child is still a zombie here (sd-event reaps it after this
         * callback), so the group id is still ours: kill whatever the
         * command left behind in its group, which also ends a background
         * grandchild holding our pipe open. */
        (void) kill(-run->pid, SIGKILL);

        run->child_source = sd_event_source_unref(run->child_source);

        if (run->eof || run->timed_out)
                run_complete(run);
        return 0;
}

static int run_on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        NrpeRun *run = userdata;
        char scratch[16384];

        for (unsigned i = 0; i < 16; i++) {
                char *dst = scratch;
                size_t room = sizeof scratch;
                ssize_t k;

                if (run->size < run->output_max) {
                        size_t want = MIN(run->output_max - run->size, (size_t) NRPE_READ_CHUNK);

                        if (run->alloc < run->size + want + 1) {
                                size_t na = MAX(run->alloc * 2, run->size + want + 1);
                                na = MIN(na, run->output_max + 1);
                                char *t = realloc(run->buf, na);
                                if (t) {
                                        run->buf = t;
                                        run->alloc = na;
                                }
                        }
                        if (run->alloc > run->size + 1) {
                                dst = run->buf + run->size;
                                room = MIN(want, run->alloc - run->size - 1);
                        }
                }

                k = read(fd, dst, room);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                return 0;
                        break; /* treat errors like EOF */
                }
                if (k == 0)
                        break;
                if (dst == scratch)
                        run->truncated = true;
                else
                        run->size += (size_t) k;
                if (i == 15)
                        return 0; /* more later, let others run */
        }

        run->eof = true;
        run_close_pipe(run);
        if (run->exited)
                run_complete(run);
        return 0;
}

static int run_on_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        NrpeRun *run = userdata;

        run->timed_out = true;
        run->timer_source = sd_event_source_unref(run->timer_source);
        run_close_pipe(run);

        if (run->pid == 0) {
                /* The runner kills the check's process group (and its
                 * unit's cgroup goes with it) when we hang up. */
                run_close_runner(run);
                run_complete(run);
                return 0;
        }

        if (run->exited)
                /* Only the pipe was still open, held by something that left
                 * the group; nothing of ours is left to kill. */
                run_complete(run);
        else
                /* Completes when the child source sees it die. */
                (void) kill(-run->pid, SIGKILL);
        return 0;
}

/* Keep the pipe away from fds 0..2 so the dup2() in the child is real. */
static int fd_move_above_stdio(int fd) {
        int n;

        if (fd > STDERR_FILENO)
                return fd;
        n = fcntl(fd, F_DUPFD_CLOEXEC, STDERR_FILENO + 1);
        if (n < 0)
                n = -errno;
        close(fd);
        return n;
}

static void user_set_error(const char **ret_error, const char *e) {
        if (ret_error)
                *ret_error = e;
}

NrpeUser *nrpe_user_free(NrpeUser *u) {
        if (!u)
                return NULL;
        free(u->runner);
        free(u->name);
        free(u->groups);
        free(u->home);
        free(u);
        return NULL;
}


/* CAP_* bits of the effective set, without libcap. */
static int have_effective_caps(uint64_t mask) {
        struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
        struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3] = {};

        if (syscall(SYS_capget, &h, d) < 0)
                return -errno;
        uint64_t eff = (uint64_t) d[0].effective | ((uint64_t) d[1].effective << 32);
        return (eff & mask) == mask;
}

int nrpe_user_resolve(const char *name, const char *runner, NrpeUser **ret, const char **ret_error) {
        _cleanup_(nrpe_user_freep) NrpeUser *u = NULL;
        const char *runner_path = NULL;
        bool runner_explicit = false;
        struct passwd *pw;
        int r;

        user_set_error(ret_error, NULL);
        if (!ret)
                return -EINVAL;

        if (isempty(runner) || streq(runner, "auto"))
                runner_path = NRPE_RUNNER_SOCKET;
        else if (!streq(runner, "no")) {
                if (runner[0] != '/') {
                        user_set_error(ret_error, "[nrpe] runner must be auto, no or an absolute path");
                        return -EINVAL;
                }
                runner_path = runner;
                runner_explicit = true;
        }

        errno = 0;
        pw = isempty(name) ? getpwuid(geteuid()) : getpwnam(name);
        if (!pw) {
                if (errno != 0 && errno != ENOENT && errno != ESRCH && errno != EBADF && errno != EPERM)
                        return -errno;
                user_set_error(ret_error, "no such user");
                return -ENOENT;
        }
        if (isempty(name) && pw->pw_uid == 0) {
                user_set_error(ret_error, "checks would run as root; name an unprivileged user (or \"root\")");
                return -EPERM;
        }

        u = calloc(1, sizeof(NrpeUser));
        if (!u)
                return -ENOMEM;
        u->uid = pw->pw_uid;
        u->gid = pw->pw_gid;
        u->name = strdup(pw->pw_name);
        u->home = strdup(isempty(pw->pw_dir) ? "/" : pw->pw_dir);
        if (!u->name || !u->home)
                return -ENOMEM;

        /* The groups of name itself (not of this process), as login would. */
        int n = 16;
        for (;;) {
                gid_t *g = reallocarray(u->groups, (size_t) n, sizeof(gid_t));
                int k = n;

                if (!g)
                        return -ENOMEM;
                u->groups = g;
                if (getgrouplist(u->name, u->gid, u->groups, &k) >= 0) {
                        u->n_groups = (size_t) k;
                        break;
                }
                if (k <= n || k > 65536)
                        return -E2BIG;
                n = k;
        }

        if (runner_path) {
                struct stat st;

                if (stat(runner_path, &st) >= 0 && S_ISSOCK(st.st_mode)) {
                        /* The runner runs checks as its own user and
                         * refuses requests for another one. */
                        u->runner = strdup(runner_path);
                        if (!u->runner)
                                return -ENOMEM;
                        *ret = TAKE_PTR(u);
                        return 0;
                }
                if (runner_explicit) {
                        user_set_error(ret_error, "the check runner's socket ([nrpe] runner) does not exist or "
                                                  "is not a socket");
                        return -ENOENT;
                }
        }

        u->change = isempty(name) ? false : !(geteuid() == u->uid && getuid() == u->uid && getegid() == u->gid);
        if (u->change) {
                r = have_effective_caps((UINT64_C(1) << CAP_SETUID) | (UINT64_C(1) << CAP_SETGID) |
                                        (UINT64_C(1) << CAP_KILL));
                if (r < 0)
                        return r;
                if (r == 0) {
                        user_set_error(ret_error, "switching to it needs CAP_SETUID, CAP_SETGID and CAP_KILL, "
                                             "which this process does not have, and no check runner listens "
                                             "on " NRPE_RUNNER_SOCKET " (muster-check.socket)");
                        return -EPERM;
                }
        }

        *ret = TAKE_PTR(u);
        return 0;
}

/* The environment of a check: ours, without what systemd handed to the
 * daemon alone, with the check user's HOME, USER and LOGNAME. Built before
 * fork(), so that the child does not allocate. */
static int build_environment(const NrpeUser *user, char ***ret) {
        static const char *const drop[] = {
                "NOTIFY_SOCKET=", "WATCHDOG_PID=", "WATCHDOG_USEC=", "LISTEN_PID=", "LISTEN_FDS=",
                "LISTEN_FDNAMES=", "CREDENTIALS_DIRECTORY=",
        };
        char **env = NULL;
        int r;

        for (char **e = environ; e && *e; e++) {
                bool skip = false;

                for (size_t i = 0; i < ELEMENTSOF(drop) && !skip; i++)
                        skip = startswith(*e, drop[i]);
                if (user && (startswith(*e, "HOME=") || startswith(*e, "USER=") || startswith(*e, "LOGNAME=")))
                        skip = true;
                if (skip)
                        continue;
                r = strv_extend(&env, *e);
                if (r < 0)
                        goto fail;
        }
        if (user) {
                char *v;

                if (asprintf(&v, "HOME=%s", user->home) < 0 || (r = strv_push(&env, v)) < 0)
                        goto oom;
                if (asprintf(&v, "USER=%s", user->name) < 0 || (r = strv_push(&env, v)) < 0)
                        goto oom;
                if (asprintf(&v, "LOGNAME=%s", user->name) < 0 || (r = strv_push(&env, v)) < 0)
                        goto oom;
        }
        if (!env && strv_extend(&env, "PATH=/usr/local/bin:/usr/bin:/bin") < 0)
                goto oom;
        *ret = env;
        return 0;
oom:
        r = -ENOMEM;
fail:
        strv_free(env);
        return r;
}

/* Between fork() and execve(): system calls only, no allocation. Reports
 * a failure on the check's stdout, so that it becomes the check's UNKNOWN
 * output, and exits 3. */
_noreturn_ static void child_fail(const NrpeUser *user, const char *what, int error) {
        char buf[512];
        int n;

        if (user)
                n = snprintf(buf, sizeof buf, "UNKNOWN: cannot run the check as user %s: %s: %s\n", user->name,
                             what, strerror(error));
        else
                n = snprintf(buf, sizeof buf, "UNKNOWN: cannot run the check: %s: %s\n", what, strerror(error));
        if (n > 0)
                (void) !write(STDOUT_FILENO, buf, MIN((size_t) n, sizeof buf - 1));
        _exit(3);
}

_noreturn_ static void child_exec(const char *command_line, int stdout_fd, const NrpeUser *user, char **env) {
        char *argv[] = { (char *) "/bin/sh", (char *) "-c", (char *) command_line, NULL };
        struct sigaction sa = { .sa_handler = SIG_DFL };
        sigset_t none;
        int fd;

        (void) setpgid(0, 0);
        for (int sig = 1; sig < _NSIG; sig++)
                if (sig != SIGKILL && sig != SIGSTOP)
                        (void) sigaction(sig, &sa, NULL);
        sigemptyset(&none);
        (void) sigprocmask(SIG_SETMASK, &none, NULL);

        if (dup2(stdout_fd, STDOUT_FILENO) < 0)
                _exit(3);
        fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                child_fail(user, "/dev/null", errno);
        if (dup2(fd, STDIN_FILENO) < 0)
                child_fail(user, "stdin", errno);
        if (syscall(SYS_close_range, STDERR_FILENO + 1, ~0U, 0) < 0)
                for (int i = STDERR_FILENO + 1; i < 1024; i++)
                        (void) close(i);
        if (chdir("/") < 0)
                child_fail(user, "chdir /", errno);

        if (user && user->change) {
                if (setgroups(user->n_groups, user->groups) < 0)
                        child_fail(user, "setgroups", errno);
                if (setresgid(user->gid, user->gid, user->gid) < 0)
                        child_fail(user, "setresgid", errno);
                if (setresuid(user->uid, user->uid, user->uid) < 0)
                        child_fail(user, "setresuid", errno);
                /* Never run a check as anyone else. */
                uid_t ru, eu, su;
                gid_t rg, eg, sg;
                if (getresuid(&ru, &eu, &su) < 0 || getresgid(&rg, &eg, &sg) < 0 ||
                    ru != user->uid || eu != user->uid || su != user->uid ||
                    rg != user->gid || eg != user->gid || sg != user->gid)
                        child_fail(user, "credentials did not change", EPERM);
        }

        /* The capabilities that switch users and kill checks are the
         * daemon's, never a check's: out of every set, the ambient one
         * (which would survive execve()) and the inheritable one (which a
         * binary with file capabilities could draw on) included. A setuid
         * from root has emptied the others already; from another uid it
         * kept them. What an admin granted checks on purpose through
         * AmbientCapabilities= (e.g. CAP_NET_RAW for check_icmp) stays. */
        struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3, .pid = 0 };
        struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3] = {};
        uint32_t keep = ~(UINT32_C(1) << CAP_SETUID | UINT32_C(1) << CAP_SETGID | UINT32_C(1) << CAP_KILL |
                          UINT32_C(1) << CAP_SETPCAP);
        if (syscall(SYS_capget, &h, d) < 0)
                child_fail(user, "capget", errno);
        d[0].effective &= keep;
        d[0].permitted &= keep;
        d[0].inheritable &= keep;
        if (syscall(SYS_capset, &h, d) < 0)
                child_fail(user, "capset", errno);

        execve(argv[0], argv, env);
        child_fail(user, "/bin/sh", errno);
}

int nrpe_spawn(const char *command_line, int stdout_fd, const NrpeUser *user, pid_t *ret) {
        char **env = NULL;
        pid_t pid;
        int r;

        r = build_environment(user, &env);
        if (r < 0)
                return r;

        pid = fork();
        if (pid < 0) {
                r = -errno;
                strv_free(env);
                return r;
        }
        if (pid == 0)
                child_exec(command_line, stdout_fd, user, env);

        /* Also here, so that the group exists before anyone kills it. */
        (void) setpgid(pid, pid);
        strv_free(env);
        *ret = pid;
        return 0;
}

static int runner_on_result(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        NrpeRun *run = userdata;
        char buf[64];
        ssize_t k;

        k = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (k < 0 && (errno == EINTR || errno == EAGAIN))
                return 0;
        if (k <= 0 || nrpe_runner_parse_result(buf, (size_t) k, &run->code, &run->status) < 0) {
                run->runner_lost = true;
                run->code = CLD_EXITED;
                run->status = 3;
        }
        run->exited = true;
        run_close_runner(run);
        if (run->eof)
                run_complete(run);
        return 0;
}

/* A check that cannot reach the runner ends at once as UNKNOWN saying
 * why: the reason goes down the output pipe as if the check printed it. */
static void runner_unreachable(NrpeRun *run, const NrpeUser *user, int write_fd, int error) {
        char msg[PATH_MAX + 256];
        int n = snprintf(msg, sizeof msg, "UNKNOWN: cannot reach the check runner at %s: %s\n", user->runner,
                         strerror(error));

        if (n > 0)
                (void) !write(write_fd, msg, MIN((size_t) n, sizeof msg - 1));
        run->exited = true;
        run->code = CLD_EXITED;
        run->status = 3;
}

static int runner_start(NrpeRun *run, const char *command_line, const NrpeUser *user, int write_fd) {
        _cleanup_free_ char *req = NULL;
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int n, r;

        if (strlen(user->runner) >= sizeof sa.sun_path)
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, user->runner);

        n = asprintf(&req, "muster-check 1\nuser=%s\ntimeout=%" PRIu64 "\n\n%s", user->name,
                     run->timeout_usec == UINT64_MAX ? 0 : run->timeout_usec, command_line);
        if (n < 0) {
                req = NULL;
                return -ENOMEM;
        }
        if ((size_t) n > NRPE_RUNNER_REQUEST_MAX)
                return -E2BIG;

        _cleanup_close_ int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        /* A full backlog (EAGAIN) or a stopped socket unit (ENOENT,
         * ECONNREFUSED) fails this one check. (Beyond MaxConnections=
         * systemd accepts and closes: runner_on_result() sees no result.) */
        if (connect(fd, (struct sockaddr *) &sa, sizeof sa) < 0) {
                runner_unreachable(run, user, write_fd, errno);
                return 0;
        }

        union {
                struct cmsghdr h;
                char buf[CMSG_SPACE(sizeof(int))];
        } control = {};
        struct iovec iov = { .iov_base = req, .iov_len = (size_t) n };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = &control,
                             .msg_controllen = sizeof control };
        struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
        c->cmsg_level = SOL_SOCKET;
        c->cmsg_type = SCM_RIGHTS;
        c->cmsg_len = CMSG_LEN(sizeof(int));
        memcpy(CMSG_DATA(c), &write_fd, sizeof(int));
        if (sendmsg(fd, &mh, MSG_NOSIGNAL) < 0) {
                runner_unreachable(run, user, write_fd, errno);
                return 0;
        }

        r = sd_event_add_io(run->event, &run->sock_source, fd, EPOLLIN, runner_on_result, run);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(run->sock_source, "nrpe-runner");
        run->sock_fd = TAKE_FD(fd);
        return 0;
}

int nrpe_run_start(sd_event *e, const char *command_line, uint64_t timeout_usec, size_t output_max,
                   nrpe_run_handler_t handler, void *userdata, NrpeRun **ret) {
        return nrpe_run_start_as(e, command_line, NULL, timeout_usec, output_max, handler, userdata, ret);
}

int nrpe_run_start_as(sd_event *e, const char *command_line, const NrpeUser *user, uint64_t timeout_usec,
                      size_t output_max, nrpe_run_handler_t handler, void *userdata, NrpeRun **ret) {
        _cleanup_(nrpe_run_abortp) NrpeRun *run = NULL;
        _cleanup_close_ int write_fd = -1;
        int pipefd[2], r;
        sigset_t ss;

        if (!e || isempty(command_line) || !handler)
                return -EINVAL;

        /* sd_event_add_child() needs SIGCHLD blocked; find out before
         * starting anything. */
        if (sigprocmask(SIG_SETMASK, NULL, &ss) < 0)
                return -errno;
        if (!sigismember(&ss, SIGCHLD))
                return -EBUSY;

        run = calloc(1, sizeof(NrpeRun));
        if (!run)
                return -ENOMEM;
        *run = (NrpeRun) {
                .event = sd_event_ref(e),
                .fd = -1,
                .output_max = output_max,
                .timeout_usec = timeout_usec,
                .handler = handler,
                .userdata = userdata,
        };

        if (pipe2(pipefd, O_CLOEXEC) < 0)
                return -errno;
        run->sock_fd = -1;
        run->fd = fd_move_above_stdio(pipefd[0]);
        write_fd = fd_move_above_stdio(pipefd[1]);
        if (run->fd < 0 || write_fd < 0)
                return run->fd < 0 ? run->fd : write_fd;
        if (fcntl(run->fd, F_SETFL, fcntl(run->fd, F_GETFL) | O_NONBLOCK) < 0)
                return -errno;

        run->start_usec = now_usec(CLOCK_MONOTONIC);
        if (user && user->runner) {
                r = runner_start(run, command_line, user, write_fd);
                if (r < 0)
                        return r;
                /* Only the check writes. */
                closep(&write_fd);
                write_fd = -1;
        } else {
                r = nrpe_spawn(command_line, write_fd, user, &run->pid);
                if (r < 0)
                        return r;
                /* Only the child writes. */
                closep(&write_fd);
                write_fd = -1;

                r = sd_event_add_child(e, &run->child_source, run->pid, WEXITED, run_on_child, run);
                if (r < 0)
                        return r;
                (void) sd_event_source_set_description(run->child_source, "nrpe-child");
        }

        r = sd_event_add_io(e, &run->io_source, run->fd, EPOLLIN, run_on_io, run);
        if (r < 0)
                return r;
        (void) sd_event_source_set_description(run->io_source, "nrpe-stdout");

        if (timeout_usec > 0 && timeout_usec != UINT64_MAX) {
                r = sd_event_add_time_relative(e, &run->timer_source, CLOCK_MONOTONIC, timeout_usec,
                                               USEC_PER_MSEC, run_on_timeout, run);
                if (r < 0)
                        return r;
                (void) sd_event_source_set_description(run->timer_source, "nrpe-timeout");
        }

        if (ret)
                *ret = run;
        TAKE_PTR(run);
        return 0;
}

static bool pid_in(pid_t pid, const pid_t *l, size_t n) {
        for (size_t i = 0; i < n; i++)
                if (l[i] == pid)
                        return true;
        return false;
}

int nrpe_kill_orphans(const pid_t *keep, size_t n_keep) {
        pid_t self = getpid();
        int killed = 0;

        /* Killing one orphan hands its own children to us: repeat. */
        for (unsigned round = 0; round < 16; round++) {
                _cleanup_closedir_ DIR *d = opendir("/proc");
                struct dirent *de;
                int found = 0;

                if (!d)
                        return -errno;
                while ((de = readdir(d))) {
                        char path[64], buf[512];
                        unsigned pid_u;

                        if (parse_uint(de->d_name, &pid_u) < 0)
                                continue;
                        pid_t pid = (pid_t) pid_u;
                        if (pid == self || pid == completing_pid || pid_in(pid, keep, n_keep))
                                continue;
                        snprintf(path, sizeof path, "/proc/%u/stat", pid_u);
                        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
                        if (fd < 0)
                                continue;
                        ssize_t k = read(fd, buf, sizeof buf - 1);
                        if (k <= 0)
                                continue;
                        buf[k] = '\0';
                        /* "pid (comm) state ppid ...": comm may hold spaces and parens. */
                        char *p = strrchr(buf, ')');
                        int ppid;
                        char state;
                        if (!p || sscanf(p + 1, " %c %d", &state, &ppid) != 2 || ppid != self)
                                continue;
                        /* One that already exited is reaped, not counted. */
                        if (state != 'Z')
                                (void) kill(pid, SIGKILL);
                        (void) waitpid(pid, NULL, 0);
                        if (state != 'Z')
                                killed++;
                        found++;
                }
                if (found == 0)
                        break;
        }
        return killed;
}
