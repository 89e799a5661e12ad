/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <jansson.h>
#include <sys/types.h>
#include <systemd/sd-event.h>

/* The local control socket: a Unix stream socket, passed by systemd as a
 * named fd or bound by the daemon itself. One request per connection: the
 * client writes one JSON object and a newline, e.g. {"verb":"status"} or
 * {"verb":"request","request":{...}}; the daemon answers with one JSON line
 * and closes. Only root, the daemon's own user and members of the "muster"
 * group may talk to it (SO_PEERCRED, and SO_PEERGROUPS for supplementary
 * groups). Answers are written without blocking the event loop; a peer that
 * stops reading its answer for 5 s is dropped. */

typedef struct Control Control;
typedef struct ControlConnection ControlConnection;

typedef void (*control_handler_t)(ControlConnection *c, const char *verb, json_t *msg, void *userdata);

/* What the running server went on past, for the daemon to log: control.c
 * logs nothing itself. */
typedef enum ControlEventType {
        CONTROL_EVENT_REFUSED,        /* a peer that is not root, not the daemon's user, not in the group;
                                       * error: why its groups could not be read, or 0 */
        CONTROL_EVENT_ACCEPT_FAILED,  /* accept(), the peer's credentials or memory failed: error */
        _CONTROL_EVENT_TYPE_MAX,
} ControlEventType;

typedef struct ControlEvent {
        ControlEventType type;
        int error;                    /* negative errno, or 0 */
        uid_t uid;                    /* the peer's, for CONTROL_EVENT_REFUSED */
        gid_t gid;
        pid_t pid;
        const char *group;            /* the group it is not in, for CONTROL_EVENT_REFUSED */
        const char *message;          /* one sentence for the log, e.g. "Refused control connection from
                                       * uid 1000 (pid 42): not root, not in group muster." */
} ControlEvent;

/* ev and its strings live only for the call. */
typedef void (*control_event_handler_t)(const ControlEvent *ev, void *userdata);

/* fd_name: the FileDescriptorName= to look for among the passed fds.
 * path: where to bind when no fd was passed (NULL or "": run without).
 * Negative errno on failure (-ENAMETOOLONG: path too long for a socket).
 * When path cannot be bound (run by hand without /run/muster), c serves
 * nothing and control_listen_error() says why. */
int control_new(sd_event *e, const char *fd_name, const char *path, control_handler_t handler, void *userdata,
                Control **ret);
/* Why the socket at path is not served (negative errno), or 0. */
int control_listen_error(const Control *c);
Control *control_free(Control *c);
/* Connections alive: accepted and not yet finished (for tests and STATUS). */
size_t control_connections(const Control *c);
/* Where the events go (a daemon logs them, rate-limited: a local peer can
 * repeat them at will); without a handler they are dropped. */
void control_set_event_handler(Control *c, control_event_handler_t handler, void *userdata);
/* The group whose members may connect (default "muster"); for tests. The
 * string must outlive c. */
void control_set_group(Control *c, const char *group);

ControlConnection *control_connection_ref(ControlConnection *c);
ControlConnection *control_connection_unref(ControlConnection *c);
/* Send one line and close. Further sends are ignored. A handler that does
 * not answer at once takes a reference and answers later; a connection
 * whose last reference goes unanswered gets {"error": ...}. */
int control_connection_send(ControlConnection *c, const char *body, size_t size);
int control_connection_send_error(ControlConnection *c, const char *error);
uid_t control_connection_uid(const ControlConnection *c);

/* Client side: connect to path, send msg, read the one-line answer. */
int control_call(const char *path, json_t *msg, uint64_t timeout_usec, json_t **ret);

/* Take the passed fd named name (sd_listen_fds_with_names) that is a
 * listening socket of the given type, and mark it claimed. Returns the fd,
 * -ENOENT (none passed under that name, or not such a socket: that one is
 * left for listen_fds_close_unclaimed() to close and name), or -ENOMEM. */
int listen_fd_take(const char *name, int type);
/* Once every listen_fd_take() is done: close each passed fd that none
 * claimed, and append to *warnings (NULL: dropped) one sentence for each,
 * ending in ", ignoring.", for the caller to log with log_warnings().
 * Returns how many were closed, or -ENOMEM (all are closed all the same,
 * some sentences missing). */
int listen_fds_close_unclaimed(char ***warnings);
