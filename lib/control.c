/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <systemd/sd-daemon.h>

#include "control.h"
#include "log.h"
#include "util.h"

#define CONTROL_MAX_REQUEST (256 * 1024)
#define CONTROL_TIMEOUT_USEC (5 * USEC_PER_SEC)

#ifndef SO_PEERGROUPS
#define SO_PEERGROUPS 59
#endif

struct Control {
        sd_event *event;
        int fd;
        bool bound;          /* we bound it ourselves and unlink it at exit */
        int listen_error;    /* why path could not be bound (negative errno), or 0 */
        char *path;
        sd_event_source *source;
        sd_event_source *retry;     /* accept() ran out of fds: listen again later */
        control_handler_t handler;
        void *userdata;
        control_event_handler_t event_handler;
        void *event_userdata;
        gid_t muster_gid;
        bool have_gid;
        bool looked_up_gid;
        const char *group;          /* "muster"; a test may point it elsewhere */
        ControlConnection *connections;
        size_t n_connections;
};

/* Who holds a reference: the connection itself from accept() until its
 * request was handed to the handler (or reading failed); a handler that
 * answers later (control_connection_ref()); and the answer while it is
 * being written. When the last one goes and nothing was answered, the
 * peer gets {"error": ...} rather than silence. */
struct ControlConnection {
        unsigned n_ref;
        Control *control;
        ControlConnection *next, *prev;
        int fd;
        sd_event_source *source;
        sd_event_source *timeout;
        char *buf;
        size_t size;
        char *out;                  /* the answer being written, with its newline */
        size_t out_size, out_done;
        uid_t uid;
        gid_t gid;
        pid_t pid;
        bool done;                  /* answered (or given up): further sends are ignored */
};

/* The fds systemd passed us, claimed by name. */
typedef enum PassedState {
        PASSED_UNCLAIMED,
        PASSED_WRONG_TYPE,      /* asked for by name, but not a listening socket of that type */
        PASSED_CLAIMED,
        PASSED_CLOSED,
} PassedState;

typedef struct Passed {
        PassedState state;
        int type;               /* the type asked for, when PASSED_WRONG_TYPE */
} Passed;

static char **passed_names = NULL;
static int n_passed = -1;
static Passed *passed = NULL;   /* NULL: out of memory, nothing can be claimed */

static void listen_fds_load(void) {
        if (n_passed >= 0)
                return;
        n_passed = sd_listen_fds_with_names(true, &passed_names);
        if (n_passed < 0)
                n_passed = 0;
        passed = calloc((size_t) n_passed + 1, sizeof(Passed));
}

static const char *passed_name(int i) {
        return passed_names && passed_names[i] ? passed_names[i] : "unnamed";
}

static const char *socket_type_name(int type) {
        switch (type) {
        case SOCK_STREAM:
                return "stream ";
        case SOCK_DGRAM:
                return "datagram ";
        case SOCK_SEQPACKET:
                return "seqpacket ";
        default:
                return "";
        }
}

int listen_fd_take(const char *name, int type) {
        listen_fds_load();
        if (!passed)
                return -ENOMEM;
        for (int i = 0; i < n_passed; i++) {
                if (!passed_names || !passed_names[i] || !streq(passed_names[i], name) ||
                    passed[i].state != PASSED_UNCLAIMED)
                        continue;
                int fd = SD_LISTEN_FDS_START + i;
                if (sd_is_socket(fd, AF_UNSPEC, type, 1) <= 0) {
                        /* Named after the caller, and yet of no use to it:
                         * listen_fds_close_unclaimed() says so. */
                        passed[i] = (Passed) { .state = PASSED_WRONG_TYPE, .type = type };
                        continue;
                }
                passed[i].state = PASSED_CLAIMED;
                return fd;
        }
        return -ENOENT;
}

int listen_fds_close_unclaimed(char ***warnings) {
        int n = 0, r = 0;

        listen_fds_load();
        for (int i = 0; i < n_passed; i++) {
                PassedState state = passed ? passed[i].state : PASSED_UNCLAIMED;
                int fd = SD_LISTEN_FDS_START + i, k;

                if (state == PASSED_CLAIMED || state == PASSED_CLOSED)
                        continue;
                if (state == PASSED_WRONG_TYPE)
                        k = strv_pushf(warnings, "Passed fd %d (\"%s\") is not a listening %ssocket, ignoring.", fd,
                                 passed_name(i), socket_type_name(passed[i].type));
                else
                        k = strv_pushf(warnings, "Passed fd %d (\"%s\") is not used by %s, ignoring.", fd,
                                 passed_name(i), program_invocation_short_name);
                if (k < 0)
                        r = k;
                close(fd);
                if (passed)
                        passed[i].state = PASSED_CLOSED;
                n++;
        }
        if (!passed && n_passed > 0)
                r = -ENOMEM;    /* none could be named */
        return r < 0 ? r : n;
}

ControlConnection *control_connection_ref(ControlConnection *c) {
        if (c)
                c->n_ref++;
        return c;
}

static void connection_close(ControlConnection *c) {
        c->source = sd_event_source_disable_unref(c->source);
        c->timeout = sd_event_source_disable_unref(c->timeout);
        if (c->fd >= 0) {
                /* Closing with the peer's request still unread resets the
                 * connection, and the peer would read ECONNRESET instead of
                 * our answer: read what is there first (a bounded amount). */
                char scratch[4096];
                for (unsigned i = 0; i < 16; i++)
                        if (recv(c->fd, scratch, sizeof scratch, MSG_DONTWAIT) <= 0)
                                break;
                close(c->fd);
                c->fd = -1;
        }
}

static void connection_detach(ControlConnection *c) {
        Control *ctl = c->control;
        if (!ctl)
                return;
        if (c->prev)
                c->prev->next = c->next;
        else
                ctl->connections = c->next;
        if (c->next)
                c->next->prev = c->prev;
        c->next = c->prev = NULL;
        ctl->n_connections--;
        c->control = NULL;
}

ControlConnection *control_connection_unref(ControlConnection *c) {
        if (!c || --c->n_ref > 0)
                return NULL;
        if (!c->done && c->fd >= 0) {
                /* Nobody answered: say so, without waiting for the peer. */
                static const char msg[] = "{\"error\":\"the daemon could not answer this request\"}\n";
                c->done = true;
                (void) !send(c->fd, msg, sizeof msg - 1, MSG_DONTWAIT | MSG_NOSIGNAL);
        }
        connection_close(c);
        connection_detach(c);
        free(c->buf);
        free(c->out);
        free(c);
        return NULL;
}

size_t control_connections(const Control *c) {
        return c ? c->n_connections : 0;
}

int control_listen_error(const Control *c) {
        return c->listen_error;
}

void control_set_event_handler(Control *c, control_event_handler_t handler, void *userdata) {
        c->event_handler = handler;
        c->event_userdata = userdata;
}

/* Hand ev to the daemon, with its sentence formatted from format. */
static void control_event(Control *ctl, ControlEvent *ev, const char *format, ...) _printf_(3, 4);
static void control_event(Control *ctl, ControlEvent *ev, const char *format, ...) {
        char message[512];
        va_list ap;

        if (!ctl->event_handler)
                return;
        va_start(ap, format);
        (void) vsnprintf(message, sizeof message, format, ap);
        va_end(ap);
        ev->message = message;
        ctl->event_handler(ev, ctl->event_userdata);
}

void control_set_group(Control *c, const char *group) {
        c->group = group;
        c->looked_up_gid = false;
        c->have_gid = false;
}

uid_t control_connection_uid(const ControlConnection *c) {
        return c->uid;
}

/* Write what the socket takes now; 1 when all of it went, 0 when the rest
 * must wait for EPOLLOUT. */
static int connection_flush(ControlConnection *c) {
        while (c->out_done < c->out_size) {
                ssize_t k = send(c->fd, c->out + c->out_done, c->out_size - c->out_done, MSG_DONTWAIT | MSG_NOSIGNAL);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        if (errno == EAGAIN)
                                return 0;
                        return -errno;
                }
                c->out_done += (size_t) k;
        }
        return 1;
}

/* The writer's reference goes with the connection's fd. */
static void connection_write_finished(ControlConnection *c) {
        connection_close(c);
        control_connection_unref(c);
}

static int on_connection_writable(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        ControlConnection *c = userdata;
        size_t before = c->out_done;
        int r = connection_flush(c);
        if (r != 0)                            /* all written, or failed: either way done */
                connection_write_finished(c);
        else if (c->out_done > before)         /* the peer reads: it has another while */
                (void) event_source_rearm(c->timeout, CONTROL_TIMEOUT_USEC);
        return 0;
}

static int on_write_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        connection_write_finished(userdata);   /* the peer does not read: give up */
        return 0;
}

int control_connection_send(ControlConnection *c, const char *body, size_t size) {
        int r;

        if (c->done || c->fd < 0)
                return 0;
        c->done = true;
        /* One request per connection: nothing more is read. */
        c->source = sd_event_source_disable_unref(c->source);
        c->timeout = sd_event_source_disable_unref(c->timeout);

        c->out = malloc(size + 1);
        if (!c->out) {
                connection_close(c);
                return -ENOMEM;
        }
        memcpy(c->out, body, size);
        c->out[size] = '\n';
        c->out_size = size + 1;

        /* Never block the event loop: what the socket does not take now is
         * written when the peer reads, for at most CONTROL_TIMEOUT_USEC. */
        r = connection_flush(c);
        if (r < 0) {
                connection_close(c);
                return r;
        }
        if (r > 0) {
                connection_close(c);
                return 0;
        }
        sd_event *e = c->control ? c->control->event : NULL;
        r = e ? sd_event_add_io(e, &c->source, c->fd, EPOLLOUT, on_connection_writable, c) : -ESTALE;
        if (r >= 0)
                r = sd_event_add_time_relative(e, &c->timeout, CLOCK_MONOTONIC, CONTROL_TIMEOUT_USEC, 0,
                                               on_write_timeout, c);
        if (r < 0) {
                connection_close(c);
                return r;
        }
        control_connection_ref(c);             /* the writer's, until the answer is out */
        return 0;
}

int control_connection_send_error(ControlConnection *c, const char *error) {
        _cleanup_json_ json_t *j = json_pack("{s:s}", "error", error);
        _cleanup_free_ char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
        if (!s)
                return -ENOMEM;
        return control_connection_send(c, s, strlen(s));
}

/* The peer's supplementary groups as of connect(), from the kernel
 * (SO_PEERGROUPS, Linux 4.13): no race with the peer's exit or exec, and no
 * need to read /proc. */
static int peer_groups(int fd, gid_t **ret, size_t *ret_n) {
        socklen_t len = 32 * sizeof(gid_t);

        for (unsigned attempt = 0; attempt < 4; attempt++) {
                _cleanup_free_ gid_t *g = malloc(MAX(len, (socklen_t) sizeof(gid_t)));
                if (!g)
                        return -ENOMEM;
                if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, g, &len) >= 0) {
                        *ret_n = len / sizeof(gid_t);
                        *ret = TAKE_PTR(g);
                        return 0;
                }
                if (errno != ERANGE)
                        return -errno;
                /* len now holds the size needed */
        }
        return -ERANGE;
}

/* 1: the peer may talk to us; 0: it may not; negative errno: its groups
 * could not be read (refused as well). */
static int peer_allowed(Control *ctl, ControlConnection *c) {
        if (c->uid == 0 || c->uid == geteuid())
                return 1;
        /* Looked up only when needed: NSS modules cost an idle daemon memory. */
        if (!ctl->looked_up_gid) {
                struct group *g = getgrnam(ctl->group ?: "muster");
                if (g) {
                        ctl->muster_gid = g->gr_gid;
                        ctl->have_gid = true;
                }
                ctl->looked_up_gid = true;
        }
        if (!ctl->have_gid)
                return 0;
        if (c->gid == ctl->muster_gid)
                return 1;
        _cleanup_free_ gid_t *groups = NULL;
        size_t n = 0;
        int r = peer_groups(c->fd, &groups, &n);
        if (r < 0)
                return r;
        for (size_t i = 0; i < n; i++)
                if (groups[i] == ctl->muster_gid)
                        return 1;
        return 0;
}

static int on_connection_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        ControlConnection *c = userdata;
        (void) control_connection_send_error(c, "timed out waiting for the request");
        control_connection_unref(c);           /* the connection's own */
        return 0;
}

/* An answer of our own, then the connection's own reference goes. */
static void connection_refuse(ControlConnection *c, const char *error) {
        (void) control_connection_send_error(c, error);
        control_connection_unref(c);
}

static int on_connection_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        ControlConnection *c = userdata;
        Control *ctl = c->control;
        char tmp[4096];

        ssize_t k = recv(fd, tmp, sizeof tmp, MSG_DONTWAIT);
        if (k < 0) {
                if (errno == EAGAIN || errno == EINTR)
                        return 0;
                c->done = true;
                connection_close(c);
                control_connection_unref(c);
                return 0;
        }
        if (k == 0 && c->size == 0) {
                c->done = true;
                connection_close(c);
                control_connection_unref(c);
                return 0;
        }
        if (c->size + (size_t) k > CONTROL_MAX_REQUEST)
                return connection_refuse(c, "request too large"), 0;
        char *nb = realloc(c->buf, c->size + (size_t) k + 1);
        if (!nb)
                return connection_refuse(c, "out of memory"), 0;
        c->buf = nb;
        memcpy(c->buf + c->size, tmp, (size_t) k);
        c->size += (size_t) k;
        c->buf[c->size] = '\0';

        char *nl = memchr(c->buf, '\n', c->size);
        if (!nl && k > 0)
                return 0;
        if (nl)
                *nl = '\0';

        /* One request per connection: stop reading. */
        c->source = sd_event_source_disable_unref(c->source);
        c->timeout = sd_event_source_disable_unref(c->timeout);

        json_error_t e;
        _cleanup_json_ json_t *msg = json_loads(c->buf, JSON_REJECT_DUPLICATES, &e);
        if (!msg || !json_is_object(msg) || !json_is_string(json_object_get(msg, "verb")))
                return connection_refuse(c, "malformed request, expected {\"verb\": ...}"), 0;

        /* The handler answers now, or takes a reference and answers later.
         * If it does neither, the last unref answers with an error. */
        if (ctl)
                ctl->handler(c, json_string_value(json_object_get(msg, "verb")), msg, ctl->userdata);
        control_connection_unref(c);
        return 0;
}

#define CONTROL_ACCEPT_RETRY_USEC (100 * USEC_PER_MSEC)

static int on_accept_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        Control *ctl = userdata;

        ctl->retry = sd_event_source_disable_unref(ctl->retry);
        (void) sd_event_source_set_enabled(ctl->source, SD_EVENT_ON);
        return 0;
}

static int on_accept(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Control *ctl = userdata;
        struct ucred cred;
        socklen_t len = sizeof cred;
        int r;

        int cfd = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
        if (cfd < 0) {
                if (errno == EAGAIN || errno == EINTR)
                        return 0;
                r = -errno;
        } else if (getsockopt(cfd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
                r = -errno;
        else
                r = 0;

        ControlConnection *c = r >= 0 ? calloc(1, sizeof *c) : NULL;
        if (!c) {
                if (r >= 0)
                        r = -ENOMEM;
                if (cfd >= 0)
                        close(cfd);
                control_event(ctl, &(ControlEvent) { .type = CONTROL_EVENT_ACCEPT_FAILED, .error = r },
                              "Failed to accept a control connection: %s, ignoring.", strerror(-r));
                /* Out of fds or memory, the pending connection stays and the
                 * socket stays readable: stop listening for a moment rather
                 * than spin the event loop. */
                if (cfd < 0 && (r == -EMFILE || r == -ENFILE || r == -ENOBUFS || r == -ENOMEM) && !ctl->retry &&
                    sd_event_add_time_relative(ctl->event, &ctl->retry, CLOCK_MONOTONIC,
                                               CONTROL_ACCEPT_RETRY_USEC, 0, on_accept_retry, ctl) >= 0)
                        (void) sd_event_source_set_enabled(ctl->source, SD_EVENT_OFF);
                return 0;
        }
        c->n_ref = 1;
        c->control = ctl;
        c->fd = cfd;
        c->uid = cred.uid;
        c->gid = cred.gid;
        c->pid = cred.pid;
        c->next = ctl->connections;
        if (c->next)
                c->next->prev = c;
        ctl->connections = c;
        ctl->n_connections++;

        r = peer_allowed(ctl, c);
        if (r <= 0) {
                ControlEvent ev = { .type = CONTROL_EVENT_REFUSED, .error = r, .uid = cred.uid, .gid = cred.gid,
                                    .pid = cred.pid, .group = ctl->group ?: "muster" };
                if (r < 0)
                        control_event(ctl, &ev,
                                      "Refused control connection from uid %u (pid %d): "
                                      "cannot read its supplementary groups: %s.",
                                      (unsigned) ev.uid, (int) ev.pid, strerror(-r));
                else
                        control_event(ctl, &ev,
                                      "Refused control connection from uid %u (pid %d): not root, not in group %s.",
                                      (unsigned) ev.uid, (int) ev.pid, ev.group);
                connection_refuse(c, "permission denied");
                return 0;
        }

        r = sd_event_add_io(ctl->event, &c->source, cfd, EPOLLIN, on_connection_io, c);
        if (r >= 0)
                r = sd_event_add_time_relative(ctl->event, &c->timeout, CLOCK_MONOTONIC, CONTROL_TIMEOUT_USEC, 0,
                                               on_connection_timeout, c);
        if (r < 0) {
                c->done = true;
                connection_close(c);
                control_connection_unref(c);
        }
        return 0;
}

int control_new(sd_event *e, const char *fd_name, const char *path, control_handler_t handler, void *userdata,
                Control **ret) {
        Control *ctl;
        int fd, r;

        ctl = calloc(1, sizeof *ctl);
        if (!ctl)
                return -ENOMEM;
        ctl->event = e;
        ctl->fd = -1;
        ctl->handler = handler;
        ctl->userdata = userdata;

        fd = listen_fd_take(fd_name, SOCK_STREAM);
        if (fd < 0 && !isempty(path)) {
                struct sockaddr_un sa = { .sun_family = AF_UNIX };
                if (strlen(path) >= sizeof sa.sun_path) {
                        control_free(ctl);
                        return -ENAMETOOLONG;
                }
                strcpy(sa.sun_path, path);
                fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
                if (fd < 0) {
                        r = -errno;
                        control_free(ctl);
                        return r;
                }
                (void) unlink(path);
                mode_t old = umask(0117);
                r = bind(fd, (struct sockaddr *) &sa, sizeof sa);
                umask(old);
                if (r < 0 || listen(fd, 64) < 0) {
                        /* Run by hand without /run/muster: carry on without it. */
                        ctl->listen_error = -errno;
                        close(fd);
                        fd = -1;
                } else {
                        ctl->bound = true;
                        ctl->path = strdup(path);
                }
        }
        ctl->fd = fd;
        if (fd >= 0) {
                r = sd_event_add_io(e, &ctl->source, fd, EPOLLIN, on_accept, ctl);
                if (r < 0) {
                        control_free(ctl);
                        return r;
                }
        }
        *ret = ctl;
        return 0;
}

Control *control_free(Control *c) {
        if (!c)
                return NULL;
        /* Connections still referenced (a running check's) outlive us. */
        while (c->connections)
                connection_detach(c->connections);
        c->source = sd_event_source_disable_unref(c->source);
        c->retry = sd_event_source_disable_unref(c->retry);
        if (c->fd >= 0)
                close(c->fd);
        if (c->bound && c->path)
                (void) unlink(c->path);
        free(c->path);
        free(c);
        return NULL;
}

int control_call(const char *path, json_t *msg, uint64_t timeout_usec, json_t **ret) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        _cleanup_close_ int fd = -1;
        _cleanup_free_ char *s = NULL, *buf = NULL;
        size_t size = 0;

        if (strlen(path) >= sizeof sa.sun_path)
                return -ENAMETOOLONG;
        strcpy(sa.sun_path, path);
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0)
                return -errno;
        struct timeval tv = { .tv_sec = (time_t) (timeout_usec / USEC_PER_SEC),
                              .tv_usec = (suseconds_t) (timeout_usec % USEC_PER_SEC) };
        (void) setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        (void) setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        if (connect(fd, (struct sockaddr *) &sa, sizeof sa) < 0)
                return -errno;
        s = json_dumps(msg, JSON_COMPACT);
        if (!s)
                return -ENOMEM;
        size_t n = strlen(s);
        s[n] = '\0';
        if (send(fd, s, n, MSG_NOSIGNAL) < 0 || send(fd, "\n", 1, MSG_NOSIGNAL) < 0)
                return -errno;
        for (;;) {
                char tmp[4096];
                ssize_t k = recv(fd, tmp, sizeof tmp, 0);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return errno == EAGAIN ? -ETIMEDOUT : -errno;
                }
                if (k == 0)
                        break;
                if (size + (size_t) k > 16 * 1024 * 1024)
                        return -EFBIG;
                char *nb = realloc(buf, size + (size_t) k + 1);
                if (!nb)
                        return -ENOMEM;
                buf = nb;
                memcpy(buf + size, tmp, (size_t) k);
                size += (size_t) k;
        }
        if (!buf)
                return -ECONNRESET;
        buf[size] = '\0';
        json_t *j = json_loads(buf, 0, NULL);
        if (!j)
                return -EBADMSG;
        *ret = j;
        return 0;
}
