/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The control socket: no connection outlives its use (a failed send, a
 * handler that never answers), answers never block the event loop (a peer
 * that does not read cannot stall the daemon), and a member of the group
 * by a supplementary group is let in by the groups it had when it
 * connected (SO_PEERGROUPS), not by what /proc says later. control.c logs
 * nothing: a refused peer and a failed accept() come to the daemon through
 * the event handler, the passed fds it closes as warnings for the caller. */

#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>

#include <systemd/sd-event.h>

#include "control.h"
#include "log.h"
#include "tests.h"
#include "util.h"

static char tmpdir[] = "/tmp/test-control-XXXXXX";
static bool tmpdir_made;
static char *sock_path;

static void cleanup_tmpdir(void) {
        if (tmpdir_made)
                tests_rm_rf(tmpdir);
        tmpdir_made = false;
}

static uint64_t mono_usec(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / 1000;
}

typedef enum Mode {
        MODE_ANSWER,        /* answer at once with a short line */
        MODE_BIG,           /* answer at once with BIG bytes */
        MODE_SILENT,        /* neither answer nor keep a reference */
        MODE_KEEP,          /* keep a reference, answer later */
} Mode;

#define BIG (8u << 20)

/* A copy of what the event handler was given. */
typedef struct Event {
        ControlEventType type;
        int error;
        uid_t uid;
        gid_t gid;
        pid_t pid;
        char *group;
        char *message;
} Event;

#define MAX_EVENTS 64

typedef struct State {
        Mode mode;
        unsigned calls;
        ControlConnection *kept;
        uint64_t handler_usec;   /* how long the handler's send took */
        int send_result;
        Event events[MAX_EVENTS];
        unsigned n_events;       /* all of them, including those past MAX_EVENTS */
} State;

static void on_event(const ControlEvent *ev, void *userdata) {
        State *s = userdata;
        if (s->n_events < MAX_EVENTS) {
                Event *c = &s->events[s->n_events];
                *c = (Event) { .type = ev->type, .error = ev->error, .uid = ev->uid, .gid = ev->gid,
                               .pid = ev->pid, .group = ev->group ? strdup(ev->group) : NULL,
                               .message = strdup(ev->message) };
                ASSERT_NOT_NULL(c->message);
        }
        s->n_events++;
}

static void events_clear(State *s) {
        for (unsigned i = 0; i < MIN(s->n_events, (unsigned) MAX_EVENTS); i++) {
                free(s->events[i].group);
                free(s->events[i].message);
        }
        s->n_events = 0;
}

static void handler(ControlConnection *c, const char *verb, json_t *msg, void *userdata) {
        State *s = userdata;
        s->calls++;
        uint64_t t0 = mono_usec();
        if (s->mode == MODE_BIG)
                t0 = 0;   /* set after the body is built */
        switch (s->mode) {
        case MODE_ANSWER:
                s->send_result = control_connection_send(c, "{\"ok\":true}", 11);
                break;
        case MODE_BIG: {
                char *b = malloc(BIG);
                ASSERT_NOT_NULL(b);
                memset(b, 'x', BIG);
                b[0] = '"';
                b[BIG - 1] = '"';
                t0 = mono_usec();
                s->send_result = control_connection_send(c, b, BIG);
                free(b);
                break;
        }
        case MODE_SILENT:
                break;
        case MODE_KEEP:
                s->kept = control_connection_ref(c);
                break;
        }
        s->handler_usec = mono_usec() - t0;
}

static int client_connect(void) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        ASSERT_TRUE(fd >= 0);
        snprintf(sa.sun_path, sizeof sa.sun_path, "%s", sock_path);
        ASSERT_INT_EQ(connect(fd, (struct sockaddr *) &sa, sizeof sa), 0);
        return fd;
}

static void client_send(int fd, const char *line) {
        ASSERT_INT_EQ(send(fd, line, strlen(line), MSG_NOSIGNAL), (ssize_t) strlen(line));
}

/* Run the loop until cond holds (checked between iterations) or 10 s. */
#define RUN_UNTIL(e, cond)                                                     \
        do {                                                                   \
                uint64_t _end = mono_usec() + 10 * USEC_PER_SEC;               \
                while (!(cond)) {                                              \
                        if (mono_usec() > _end)                                \
                                test_fail(__FILE__, __LINE__, "timed out waiting for %s", #cond); \
                        ASSERT_OK(sd_event_run(e, 10 * 1000));                 \
                }                                                              \
        } while (0)

/* Read the peer's whole answer (until EOF) while the loop runs. */
static char *client_read_all(sd_event *e, int fd, size_t *ret_size) {
        char *buf = NULL;
        size_t size = 0;
        uint64_t end = mono_usec() + 20 * USEC_PER_SEC;
        for (;;) {
                char tmp[65536];
                ssize_t k = recv(fd, tmp, sizeof tmp, MSG_DONTWAIT);
                if (k == 0)
                        break;
                if (k < 0) {
                        ASSERT_TRUE(errno == EAGAIN);
                        if (mono_usec() > end)
                                test_fail(__FILE__, __LINE__, "no EOF from the daemon");
                        ASSERT_OK(sd_event_run(e, 10 * 1000));
                        continue;
                }
                buf = realloc(buf, size + (size_t) k + 1);
                ASSERT_NOT_NULL(buf);
                memcpy(buf + size, tmp, (size_t) k);
                size += (size_t) k;
                buf[size] = '\0';
        }
        if (ret_size)
                *ret_size = size;
        return buf ?: strdup("");
}

/* Put fd at target (3, 4, 5: where systemd passes them). */
static void move_fd(int fd, int target) {
        ASSERT_TRUE(fd >= 0);
        ASSERT_INT_EQ(dup2(fd, target), target);
        close(fd);
}

/* In a child of its own: what sd_listen_fds_with_names() finds is read
 * once per process. */
static void test_passed_fds(void) {
        TEST("passed fds: the one asked for is taken, one of the wrong type and one nobody asks for are "
             "closed and named in warnings for the daemon to log; nothing is logged");
        fflush(stdout);
        fflush(stderr);
        pid_t pid = fork();
        ASSERT_TRUE(pid >= 0);
        if (pid == 0) {
                /* Made above 100 first, so that none lands on 3..5 before its turn. */
                int dgram = fcntl(socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0), F_DUPFD_CLOEXEC, 100);
                int lst = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
                struct sockaddr_in sin = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
                ASSERT_INT_EQ(bind(lst, (struct sockaddr *) &sin, sizeof sin), 0);
                ASSERT_INT_EQ(listen(lst, 1), 0);
                lst = fcntl(lst, F_DUPFD_CLOEXEC, 100);
                int p[2];
                ASSERT_INT_EQ(pipe2(p, O_CLOEXEC), 0);
                int pipe_r = fcntl(p[0], F_DUPFD_CLOEXEC, 100);
                for (int fd = 3; fd < 100; fd++)
                        if (fd != dgram && fd != lst && fd != pipe_r)
                                (void) close(fd);
                move_fd(dgram, 3);
                move_fd(lst, 4);
                move_fd(pipe_r, 5);
                char pidstr[32];
                snprintf(pidstr, sizeof pidstr, "%d", (int) getpid());
                ASSERT_INT_EQ(setenv("LISTEN_PID", pidstr, 1), 0);
                ASSERT_INT_EQ(setenv("LISTEN_FDS", "3", 1), 0);
                ASSERT_INT_EQ(setenv("LISTEN_FDNAMES", "control:metrics:stray", 1), 0);

                TestsCapture cap;
                _cleanup_strv_free_ char **warnings = NULL;
                tests_capture_begin(&cap);
                int control = listen_fd_take("control", SOCK_STREAM);
                int metrics = listen_fd_take("metrics", SOCK_STREAM);
                int again = listen_fd_take("metrics", SOCK_STREAM);
                int closed = listen_fds_close_unclaimed(&warnings);
                int closed_again = listen_fds_close_unclaimed(NULL);
                _cleanup_free_ char *logged = tests_capture_end(&cap);

                ASSERT_INT_EQ(control, -ENOENT);   /* a datagram socket: the daemon binds its path instead */
                ASSERT_INT_EQ(metrics, 4);
                ASSERT_INT_EQ(again, -ENOENT);     /* claimed once */
                ASSERT_INT_EQ(closed, 2);
                ASSERT_INT_EQ(closed_again, 0);
                ASSERT_STR_EQ(logged, "");
                ASSERT_UINT_EQ(strv_length(warnings), 2);
                ASSERT_STR_EQ(warnings[0], "Passed fd 3 (\"control\") is not a listening stream socket, ignoring.");
                ASSERT_STR_EQ(warnings[1], "Passed fd 5 (\"stray\") is not used by test-control, ignoring.");
                ASSERT_TRUE(fcntl(3, F_GETFD) < 0 && errno == EBADF);
                ASSERT_TRUE(fcntl(4, F_GETFD) >= 0);
                ASSERT_TRUE(fcntl(5, F_GETFD) < 0 && errno == EBADF);
                fflush(stdout);
                _exit(0);
        }
        int st;
        ASSERT_INT_EQ(waitpid(pid, &st, 0), pid);
        ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
        TEST_OK();
}

/* accept() fails while no fd is left (EMFILE): the daemon hears of it
 * through the handler and serves the same peer once fds are back. */
static void test_accept_failed(sd_event *e, Control *ctl, State *s) {
        struct rlimit saved, low;
        TestsCapture cap;

        TEST("a failed accept() comes to the event handler as CONTROL_EVENT_ACCEPT_FAILED with its errno, "
             "nothing is logged, and the peer is served once it can be");
        ASSERT_UINT_EQ(s->n_events, 0);      /* nothing before went wrong */
        s->mode = MODE_ANSWER;
        s->calls = 0;
        tests_capture_begin(&cap);
        int fd = client_connect();
        client_send(fd, "{\"verb\":\"status\"}\n");
        /* The lowest free fd becomes the limit: none is left for accept(). */
        int probe = fcntl(0, F_DUPFD_CLOEXEC, 0);
        ASSERT_TRUE(probe >= 0);
        close(probe);
        ASSERT_INT_EQ(getrlimit(RLIMIT_NOFILE, &saved), 0);
        low = (struct rlimit) { .rlim_cur = (rlim_t) probe, .rlim_max = saved.rlim_max };
        ASSERT_INT_EQ(setrlimit(RLIMIT_NOFILE, &low), 0);
        RUN_UNTIL(e, s->n_events >= 1);
        /* At the limit the pending connection keeps the socket readable:
         * the server pauses listening (100 ms) instead of spinning. */
        uint64_t until = mono_usec() + 300 * USEC_PER_MSEC;
        while (mono_usec() < until)
                ASSERT_OK(sd_event_run(e, 10 * 1000));
        printf("# %u failed accept() call(s) in 300 ms at the limit\n", s->n_events);
        ASSERT_TRUE(s->n_events <= 5);
        ASSERT_INT_EQ(setrlimit(RLIMIT_NOFILE, &saved), 0);
        unsigned n = s->n_events;
        _cleanup_free_ char *answer = client_read_all(e, fd, NULL);
        close(fd);
        RUN_UNTIL(e, control_connections(ctl) == 0);
        _cleanup_free_ char *logged = tests_capture_end(&cap);

        ASSERT_STR_EQ(logged, "");
        ASSERT_STR_EQ(answer, "{\"ok\":true}\n");
        ASSERT_UINT_EQ(s->calls, 1);
        ASSERT_UINT_EQ(s->n_events, n);     /* none once fds were back */
        printf("# %u failed accept() call(s) while at the limit\n", n);
        for (unsigned i = 0; i < MIN(n, (unsigned) MAX_EVENTS); i++) {
                ASSERT_INT_EQ(s->events[i].type, CONTROL_EVENT_ACCEPT_FAILED);
                ASSERT_INT_EQ(s->events[i].error, -EMFILE);
                ASSERT_STR_EQ(s->events[i].message,
                              "Failed to accept a control connection: Too many open files, ignoring.");
        }
        events_clear(s);
        TEST_OK();
}

static void test_lifetimes(sd_event *e, Control *ctl, State *s) {
        TEST("a send to a peer that has gone fails, and the connection is freed");
        s->mode = MODE_ANSWER;
        s->calls = 0;
        int fd = client_connect();
        client_send(fd, "{\"verb\":\"status\"}\n");
        close(fd);
        RUN_UNTIL(e, s->calls == 1);
        RUN_UNTIL(e, control_connections(ctl) == 0);
        TEST_OK();

        TEST("a handler that neither answers nor keeps the connection: the peer gets an error, nothing leaks");
        s->mode = MODE_SILENT;
        fd = client_connect();
        client_send(fd, "{\"verb\":\"status\"}\n");
        _cleanup_free_ char *answer = client_read_all(e, fd, NULL);
        close(fd);
        ASSERT_STR_CONTAINS(answer, "\"error\"");
        ASSERT_STR_CONTAINS(answer, "could not answer");
        RUN_UNTIL(e, control_connections(ctl) == 0);
        TEST_OK();

        TEST("a handler that keeps the connection answers later, once");
        s->mode = MODE_KEEP;
        fd = client_connect();
        client_send(fd, "{\"verb\":\"request\"}\n");
        RUN_UNTIL(e, s->kept != NULL);
        ASSERT_UINT_EQ(control_connections(ctl), 1);
        ASSERT_INT_EQ(control_connection_send(s->kept, "{\"later\":1}", 11), 0);
        ASSERT_INT_EQ(control_connection_send_error(s->kept, "ignored"), 0);   /* one answer only */
        s->kept = control_connection_unref(s->kept);
        free(answer);
        answer = client_read_all(e, fd, NULL);
        close(fd);
        ASSERT_STR_EQ(answer, "{\"later\":1}\n");
        RUN_UNTIL(e, control_connections(ctl) == 0);
        TEST_OK();

        TEST("malformed requests and peers that hang up early leave nothing behind");
        for (unsigned i = 0; i < 50; i++) {
                fd = client_connect();
                if (i % 2)
                        client_send(fd, "not json\n");
                close(fd);
        }
        RUN_UNTIL(e, control_connections(ctl) == 0);
        TEST_OK();
}

static void test_nonblocking(sd_event *e, Control *ctl, State *s) {
        TEST("an 8 MiB answer to a peer that does not read returns at once; the loop serves others meanwhile");
        s->mode = MODE_BIG;
        s->calls = 0;
        int slow = client_connect();
        client_send(slow, "{\"verb\":\"status\"}\n");
        RUN_UNTIL(e, s->calls == 1);
        ASSERT_INT_EQ(s->send_result, 0);
        printf("# handler's send of %u bytes took %.1f ms\n", BIG, (double) s->handler_usec / 1000.0);
        /* Before, it blocked until the peer read or 5 s passed. */
        ASSERT_TRUE(s->handler_usec < 2 * USEC_PER_SEC);
        ASSERT_UINT_EQ(control_connections(ctl), 1);

        /* While the first peer does not read, another one is answered. */
        s->mode = MODE_ANSWER;
        int quick = client_connect();
        client_send(quick, "{\"verb\":\"status\"}\n");
        _cleanup_free_ char *a = client_read_all(e, quick, NULL);
        close(quick);
        ASSERT_STR_EQ(a, "{\"ok\":true}\n");

        /* Now the first one reads, and gets all of it. */
        size_t size;
        _cleanup_free_ char *big = client_read_all(e, slow, &size);
        close(slow);
        ASSERT_UINT_EQ(size, BIG + 1);
        ASSERT_TRUE(big[BIG] == '\n');
        RUN_UNTIL(e, control_connections(ctl) == 0);
        TEST_OK();

        TEST("a peer that never reads its answer is dropped after 5 s");
        s->mode = MODE_BIG;
        s->calls = 0;
        /* From before the request: the 5 s start when the answer is sent. */
        uint64_t t0 = mono_usec();
        slow = client_connect();
        client_send(slow, "{\"verb\":\"status\"}\n");
        RUN_UNTIL(e, s->calls == 1);
        ASSERT_UINT_EQ(control_connections(ctl), 1);
        RUN_UNTIL(e, control_connections(ctl) == 0);
        uint64_t waited = mono_usec() - t0;
        printf("# dropped after %.1f s\n", (double) waited / 1e6);
        ASSERT_TRUE(waited >= 5 * USEC_PER_SEC && waited < 10 * USEC_PER_SEC);
        close(slow);
        TEST_OK();
}

static bool proc_lists_no_groups(pid_t pid) {
        char path[64], line[4096];
        snprintf(path, sizeof path, "/proc/%d/status", (int) pid);
        _cleanup_fclose_ FILE *f = fopen(path, "re");
        while (f && fgets(line, sizeof line, f))
                if (startswith(line, "Groups:"))
                        return line[strspn(line + 7, " \t") + 7] == '\n';
        return false;
}

/* A child that connects as nobody with gid as a supplementary group, then
 * (as root again) drops that group before it sends: the daemon must judge
 * the groups the peer connected with. */
static void test_peergroups(sd_event *e, Control *ctl, State *s) {
        struct group *gr = NULL;

        TEST("a supplementary group member is let in by the groups it connected with (SO_PEERGROUPS)");
        /* nobody must reach the socket; only the group check may refuse */
        ASSERT_INT_EQ(chmod(tmpdir, 0755), 0);
        ASSERT_INT_EQ(chmod(sock_path, 0666), 0);
        setgrent();
        while ((gr = getgrent()))
                if (gr->gr_gid != 0 && gr->gr_gid != 65534)
                        break;
        ASSERT_NOT_NULL(gr);
        static char group_name[64];
        gid_t gid = gr->gr_gid;
        snprintf(group_name, sizeof group_name, "%s", gr->gr_name);
        endgrent();
        control_set_group(ctl, group_name);
        s->mode = MODE_ANSWER;
        events_clear(s);

        for (unsigned member = 0; member < 2; member++) {
                TestsCapture cap;
                tests_capture_begin(&cap);
                int ready[2], go[2], result[2];
                ASSERT_INT_EQ(pipe2(ready, O_CLOEXEC), 0);
                ASSERT_INT_EQ(pipe2(go, O_CLOEXEC), 0);
                ASSERT_INT_EQ(pipe2(result, O_CLOEXEC), 0);
                pid_t pid = fork();
                ASSERT_TRUE(pid >= 0);
                if (pid == 0) {
                        char ch = 0, buf[512] = "";
                        gid_t groups[1] = { gid };
                        if (setgroups(member ? 1 : 0, groups) < 0 || setresgid(65534, 65534, 0) < 0 ||
                            setresuid(65534, 65534, 0) < 0)
                                _exit(2);
                        int fd = client_connect();
                        /* back to root, and out of the group, before the daemon looks */
                        if (setresuid(0, 0, 0) < 0 || setgroups(0, NULL) < 0)
                                _exit(3);
                        (void) !write(ready[1], &ch, 1);
                        if (read(go[0], &ch, 1) != 1)
                                _exit(4);
                        /* may fail: a refused peer's connection is closed at once */
                        (void) !send(fd, "{\"verb\":\"status\"}\n", 18, MSG_NOSIGNAL);
                        ssize_t n = 0, k;
                        while ((k = recv(fd, buf + n, sizeof buf - 1 - (size_t) n, 0)) > 0)
                                n += k;
                        (void) !write(result[1], buf, (size_t) n);
                        _exit(0);
                }
                close(ready[1]);
                close(go[0]);
                close(result[1]);
                char ch;
                ASSERT_INT_EQ(read(ready[0], &ch, 1), 1);
                /* The child's /proc/PID/status no longer lists the group. */
                ASSERT_TRUE(proc_lists_no_groups(pid));
                ASSERT_INT_EQ(write(go[1], "g", 1), 1);
                char answer[512] = "";
                ssize_t n = 0;
                uint64_t end = mono_usec() + 10 * USEC_PER_SEC;
                for (;;) {
                        if (mono_usec() > end)
                                test_fail(__FILE__, __LINE__, "no answer for the child");
                        ASSERT_OK(sd_event_run(e, 10 * 1000));
                        struct pollfd p = { .fd = result[0], .events = POLLIN };
                        if (poll(&p, 1, 0) > 0) {
                                ssize_t k = read(result[0], answer + n, sizeof answer - 1 - (size_t) n);
                                if (k <= 0)
                                        break;
                                n += k;
                        }
                }
                int st;
                ASSERT_INT_EQ(waitpid(pid, &st, 0), pid);
                ASSERT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0);
                close(ready[0]);
                close(go[1]);
                close(result[0]);
                _cleanup_free_ char *logged = tests_capture_end(&cap);
                ASSERT_STR_EQ(logged, "");
                if (member) {
                        ASSERT_STR_EQ(answer, "{\"ok\":true}\n");
                        ASSERT_UINT_EQ(s->n_events, 0);
                        continue;
                }
                /* Refused: the daemon hears who, and why, and logs it itself. */
                ASSERT_STR_CONTAINS(answer, "permission denied");
                ASSERT_UINT_EQ(s->n_events, 1);
                const Event *ev = &s->events[0];
                ASSERT_INT_EQ(ev->type, CONTROL_EVENT_REFUSED);
                ASSERT_INT_EQ(ev->error, 0);
                ASSERT_UINT_EQ(ev->uid, 65534);
                ASSERT_UINT_EQ(ev->gid, 65534);
                ASSERT_INT_EQ(ev->pid, pid);
                ASSERT_STR_EQ(ev->group, group_name);
                char want[256];
                snprintf(want, sizeof want,
                         "Refused control connection from uid 65534 (pid %d): not root, not in group %s.", (int) pid,
                         group_name);
                ASSERT_STR_EQ(ev->message, want);
                events_clear(s);
        }
        RUN_UNTIL(e, control_connections(ctl) == 0);
        TEST_OK();
}

int main(void) {
        sd_event *e = NULL;
        Control *ctl = NULL;
        State s = {};

        log_setup("test-control", false);
        /* Anything control.c logged would show in the captures. */
        log_set_target(LOG_TARGET_CONSOLE);
        log_set_max_level(LOG_DEBUG);
        signal(SIGPIPE, SIG_IGN);
        test_passed_fds();
        ASSERT_NOT_NULL(mkdtemp(tmpdir));
        tmpdir_made = true;
        atexit(cleanup_tmpdir);
        sock_path = tests_path(tmpdir, "control");

        ASSERT_OK(sd_event_new(&e));
        ASSERT_OK(control_new(e, "test-control-none", sock_path, handler, &s, &ctl));
        ASSERT_UINT_EQ(control_connections(ctl), 0);
        control_set_event_handler(ctl, on_event, &s);

        test_lifetimes(e, ctl, &s);
        test_nonblocking(e, ctl, &s);
        test_accept_failed(e, ctl, &s);
        if (geteuid() != 0) {
                /* A real SKIP: only root can give a child other groups. */
                printf("# SKIP: SO_PEERGROUPS needs root to set up a peer's groups\n");
                return 77;
        }
        test_peergroups(e, ctl, &s);

        control_free(ctl);
        sd_event_unref(e);
        events_clear(&s);
        free(sock_path);
        return 0;
}
