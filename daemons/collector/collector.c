/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* muster-collector: consumes registrations from a durable queue and keeps
 * one state file per node; acks only once the file is in place. */

#include <fcntl.h>
#include <inttypes.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>

#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "amqp-session.h"
#include "catalog-ids.h"
#include "checks.h"
#include "config.h"
#include "daemon-util.h"
#include "control.h"
#include "credentials.h"
#include "hashmap.h"
#include "log.h"
#include "message.h"
#include "metrics.h"
#include "registry.h"
#include "sign.h"
#include "topology.h"
#include "util.h"

typedef enum RejectReason {
        REJECT_OVERSIZE,
        REJECT_UNSIGNED,
        REJECT_BAD_SIGNATURE,
        REJECT_MALFORMED,
        REJECT_INVALID_IDENTITY,
        REJECT_WRONG_COLLECTIVE,
        REJECT_FUTURE,
        REJECT_UNWRITABLE,
        _REJECT_MAX,
} RejectReason;

static const char *const reject_table[_REJECT_MAX] = {
        [REJECT_OVERSIZE] = "oversize",
        [REJECT_UNSIGNED] = "unsigned",
        [REJECT_BAD_SIGNATURE] = "bad-signature",
        [REJECT_MALFORMED] = "malformed",
        [REJECT_INVALID_IDENTITY] = "invalid-identity",
        [REJECT_WRONG_COLLECTIVE] = "wrong-collective",
        [REJECT_FUTURE] = "future",
        [REJECT_UNWRITABLE] = "unwritable",
};

typedef struct Node {
        int64_t last_seen;   /* msgtime of the newest registration */
        int64_t interval;
        bool stale;
        RegistryDigest digest; /* of the stored file, so repeats need no read */
        /* Pushed checks (muster(7), PUSHED CHECKS): the latest state and
         * time of each, from every registration; the file holds the states
         * always and the outputs as of checks_written_at. */
        char **check_names;
        int8_t *check_states;
        int64_t *check_when;
        size_t n_checks;
        int64_t checks_written_at;
        ChecksFileKey key;     /* of the file as last written, for the check index */
} Node;

/* A delivery we could not write yet: kept, unacked, in order. */
typedef struct Held {
        struct Held *next;
        uint64_t tag;
        char *body;
        size_t size;
        char *scheme;
        char *key_id;
        char *sig;
} Held;

typedef struct Manager {
        sd_event *event;
        char *config_path;
        MusterConfig config;
        Credentials creds;      /* the PSK when accepted, the node keys */

        AmqpSession session;
        bool consuming;
        bool stopping;
        bool ready_sent;
        char *queue;
        sd_event_source *io_source, *heartbeat_source, *reconnect_source, *sweep_source, *retry_source,
                *status_source;

        int dirfd;
        Hashmap *nodes;
        size_t n_stale;
        /* The registry's index (registry.h): rewritten when nodes changed,
         * and again while it could not be stamped. */
        bool registry_index_dirty, registry_index_stamped;
        sd_event_source *registry_index_source;

        /* Stored but not yet acked: one multiple ack per read from the
         * socket, always after the renames it covers. */
        uint64_t ack_tag;
        uint64_t status_at;

        Held *held_head, *held_tail;
        size_t n_held;
        bool degraded;
        char degraded_reason[256];
        unsigned retry_failures;

        uint64_t received, written, touched, rejected[_REJECT_MAX];
        uint32_t per_second[60];
        int64_t per_second_at[60];

        /* The check-state index (checks.h): rewritten shortly after a state changes. */
        bool checks_index_dirty;
        sd_event_source *checks_index_source;
        uint64_t checks_index_delay;   /* grows with the time a write takes */
        uint64_t check_state_changes;

        Control *control;
        MetricsServer *metrics;
        RateLimit reject_ratelimit, error_ratelimit;

        /* The repeat path: a body without its "checks" (checks_scan()), reused. */
        char *reduced;
        size_t reduced_alloc;
} Manager;

static const char *arg_config = NULL;

static void manager_schedule_reconnect(Manager *m);
static void manager_update_status(Manager *m);
static void manager_update_status_throttled(Manager *m);

/* Everything up to the newest stored delivery, in one frame. Held
 * deliveries always come after it: once one is held, all later ones are. */
static void manager_flush_acks(Manager *m) {
        if (m->ack_tag == 0)
                return;
        if (amqp_session_is_open(&m->session))
                (void) amqp_basic_ack(m->session.conn, AMQP_CHANNEL, m->ack_tag, 1);
        m->ack_tag = 0;
}

static void held_free(Held *h) {
        if (!h)
                return;
        free(h->body);
        free(h->scheme);
        free(h->key_id);
        free(h->sig);
        free(h);
}

static void count_registration(Manager *m, int64_t now) {
        size_t i = (size_t) (now % 60);
        if (m->per_second_at[i] != now) {
                m->per_second_at[i] = now;
                m->per_second[i] = 0;
        }
        m->per_second[i]++;
}

static unsigned registrations_per_minute(const Manager *m, int64_t now) {
        unsigned sum = 0;
        for (size_t i = 0; i < 60; i++)
                if (now - m->per_second_at[i] < 60)
                        sum += m->per_second[i];
        return sum;
}

/* Hostile identities are logged escaped. */
static void escape_identity(const char *s, char *buf, size_t n) {
        size_t o = 0;
        for (; s && *s && o + 5 < n; s++) {
                unsigned char c = (unsigned char) *s;
                if (c >= 0x20 && c < 0x7f && c != '\\')
                        buf[o++] = (char) c;
                else
                        o += (size_t) snprintf(buf + o, n - o, "\\x%02x", c);
        }
        buf[o] = '\0';
}

static void manager_reject(Manager *m, uint64_t tag, RejectReason reason, const char *identity, const char *detail) {
        char id[1100] = "", shown[300];
        unsigned suppressed = 0;

        m->rejected[reason]++;
        if (amqp_session_is_open(&m->session))
                (void) amqp_basic_reject(m->session.conn, AMQP_CHANNEL, tag, 0);

        if (!ratelimit_below(&m->reject_ratelimit, &suppressed))
                return;
        if (suppressed > 0)
                log_warning("Suppressed %u further registration-rejected entries.", suppressed);
        if (identity) {
                escape_identity(identity, id, sizeof id);
                snprintf(shown, sizeof shown, " from \"%.256s\"", id);
        } else
                shown[0] = '\0';
        log_struct(LOG_WARNING, 0, MSGID_REGISTRATION_REJECTED,
                   KV("MUSTER_EVENT", EVENT_REGISTRATION_REJECTED,
                      "MUSTER_REASON", reject_table[reason],
                      "MUSTER_IDENTITY", identity ? id : NULL),
                   "Rejected registration%s (%s): %s", shown, reject_table[reason], detail);
}

static void node_event(Manager *m, const char *msgid, const char *event, int level, const char *identity,
                       const char *fmt_suffix) {
        log_struct(level, 0, msgid,
                   KV("MUSTER_EVENT", event, "MUSTER_IDENTITY", identity,
                      "MUSTER_COLLECTIVE", m->config.collective),
                   "Node %s %s.", identity, fmt_suffix);
}

static void node_free(void *p);
static void manager_checks_index_changed(Manager *m);

/* Remove a node: its file and its entry. Returns 1 when there was either,
 * 0 when the node was unknown, or a negative errno when the file could not
 * be removed (then the entry stays too). */
static int manager_remove_node(Manager *m, const char *identity) {
        Node *n;
        bool had_file = true;

        if (!identity_is_valid(identity))
                return -EINVAL;
        if (unlinkat(m->dirfd, identity, 0) < 0) {
                if (errno != ENOENT)
                        return -errno;
                had_file = false;
        }
        m->registry_index_dirty = true;
        n = hashmap_remove(m->nodes, identity);
        if (!n)
                return had_file;
        if (n->stale)
                m->n_stale--;
        if (n->n_checks > 0)
                manager_checks_index_changed(m);
        node_free(n);
        return 1;
}

/* Whether a store error belongs to the whole state directory (then the
 * registration is held and retried: nothing is lost while the disk is full)
 * rather than to one node's path (then only that registration is rejected).
 * A permission error counts as global when the directory itself is not
 * writable, as after a chmod or an unmounted volume. */
static bool write_error_is_global(Manager *m, int r) {
        switch (-r) {
        case ENOSPC: case EDQUOT: case EROFS: case EIO: case ENOMEM: case EMFILE: case ENFILE: case EAGAIN:
        case EBUSY: case ESTALE: case ENOTCONN:
                return true;
        case EACCES: case EPERM:
                return faccessat(m->dirfd, ".", W_OK | X_OK, AT_EACCESS) < 0;
        default:
                return false;
        }
}

/* The raw identity of a message that failed validation, for the log. */
static char *raw_identity(const void *body, size_t size) {
        _cleanup_json_ json_t *j = json_loadb(body, size, 0, NULL);
        json_t *v = j ? json_object_get(j, "identity") : NULL;
        if (!json_is_string(v))
                return NULL;
        return strndup(json_string_value(v), MIN(json_string_length(v), (size_t) 1024));
}

static const char *state_name(int s) {
        static const char *const names[] = { "OK", "WARNING", "CRITICAL", "UNKNOWN" };
        return s >= 0 && s <= 3 ? names[s] : "NONE";
}

/* Take a registration's pushed checks into the node: log each state that
 * changed (once per change: the node's previous state is remembered, also
 * across restarts, from its file), and mark the index for rewriting. */
static void check_state_changed(Manager *m, const char *identity, const char *name, int state, int previous,
                                json_t *result) {
        json_t *o = json_object_get(result, "output");
        m->check_state_changes++;
        log_struct(state == 0 ? LOG_NOTICE : LOG_WARNING, 0, MSGID_CHECK_STATE_CHANGED,
                   KV("MUSTER_EVENT", EVENT_CHECK_STATE_CHANGED,
                      "MUSTER_IDENTITY", identity,
                      "MUSTER_COLLECTIVE", m->config.collective,
                      "MUSTER_CHECK", name,
                      "MUSTER_STATE", state_name(state),
                      "MUSTER_PREVIOUS_STATE", state_name(previous),
                      "MUSTER_OUTPUT", json_string_value(o)),
                   "Check %s on %s is now %s (was %s): %s", name, identity, state_name(state),
                   state_name(previous), strempty(json_string_value(o)));
}

/* The common case: the same checks as last time, in the same order. Only
 * states and times are updated, nothing is allocated. Returns false when
 * the set of checks differs. */
static bool manager_update_checks_in_place(Manager *m, const char *identity, Node *n, json_t *checks) {
        const char *name;
        json_t *v;
        size_t i = 0;

        if (json_object_size(checks) != n->n_checks)
                return false;
        json_object_foreach(checks, name, v)
                if (!streq(name, n->check_names[i++]))
                        return false;
        i = 0;
        json_object_foreach(checks, name, v) {
                int64_t w = 0;
                int state = checks_get_state(checks, name, &w);
                if (state != n->check_states[i]) {
                        check_state_changed(m, identity, name, state, n->check_states[i], v);
                        n->check_states[i] = (int8_t) state;
                        manager_checks_index_changed(m);
                }
                n->check_when[i++] = w;
        }
        return true;
}

static void manager_update_checks(Manager *m, const char *identity, Node *n, json_t *checks) {
        if (manager_update_checks_in_place(m, identity, n, checks))
                return;
        size_t k = json_object_size(checks);
        _cleanup_strv_free_ char **names = NULL;
        _cleanup_free_ int8_t *states = NULL;
        _cleanup_free_ int64_t *when = NULL;
        bool changed = k != n->n_checks;
        const char *name;
        json_t *v;
        size_t i = 0;

        if (k > 0) {
                names = calloc(k + 1, sizeof *names);
                states = calloc(k, sizeof *states);
                when = calloc(k, sizeof *when);
                if (!names || !states || !when) {
                        log_oom();
                        return;
                }
        }
        json_object_foreach(checks, name, v) {
                int64_t w = 0;
                int state = checks_get_state(checks, name, &w), previous = -1;
                names[i] = strdup(name);
                if (!names[i]) {
                        log_oom();
                        return;
                }
                states[i] = (int8_t) state;
                when[i] = w;
                for (size_t j = 0; j < n->n_checks; j++)
                        if (streq(n->check_names[j], name)) {
                                previous = n->check_states[j];
                                break;
                        }
                if (previous != state) {
                        changed = true;
                        /* A check seen first is news only when it is not OK. */
                        if (previous >= 0 || state != 0)
                                check_state_changed(m, identity, name, state, previous, v);
                }
                i++;
        }
        if (!changed)
                for (size_t j = 0; j < k; j++)
                        if (!streq(names[j], n->check_names[j])) {
                                changed = true;
                                break;
                        }
        strv_free(n->check_names);
        free(n->check_states);
        free(n->check_when);
        n->check_names = TAKE_PTR(names);
        n->check_states = TAKE_PTR(states);
        n->check_when = TAKE_PTR(when);
        n->n_checks = k;
        if (changed)
                manager_checks_index_changed(m);
}

/* Parse and validate the whole body: 0 with *ret set, 1 when rejected,
 * -ENOMEM. */
static int manager_parse_whole(Manager *m, uint64_t tag, const void *body, size_t size, Registration **ret) {
        _cleanup_registration_ Registration *reg = NULL;
        char err[MESSAGE_ERROR_MAX];
        int r;

        r = registration_parse(body, size, m->config.max_message_size, &reg, err);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                _cleanup_free_ char *id = raw_identity(body, size);
                bool bad_id = strstr(err, "\"identity\"") != NULL;
                manager_reject(m, tag, bad_id ? REJECT_INVALID_IDENTITY : REJECT_MALFORMED, id, err);
                return 1;
        }
        if (checks_validate(json_object_get(reg->root, "checks"), err) < 0) {
                manager_reject(m, tag, REJECT_MALFORMED, reg->identity, err);
                return 1;
        }
        *ret = TAKE_PTR(reg);
        return 0;
}

/* Parse the body without the "checks" member that scan read: 0 with *ret
 * set, -EAGAIN when that fails for any reason (then the whole body is
 * parsed, which gives the verdict), -ENOMEM. Nothing is rejected here. */
static int manager_parse_reduced(Manager *m, const char *body, size_t size, const ChecksScan *scan,
                                 Registration **ret) {
        size_t n = scan->cut_start + (size - scan->cut_end);
        char err[MESSAGE_ERROR_MAX];
        int r;

        if (GREEDY_REALLOC(m->reduced, m->reduced_alloc, n) < 0)
                return -ENOMEM;
        memcpy(m->reduced, body, scan->cut_start);
        memcpy(m->reduced + scan->cut_start, body + scan->cut_end, size - scan->cut_end);
        r = registration_parse(m->reduced, n, m->config.max_message_size, ret, err);
        if (r == -ENOMEM)
                return r;
        return r < 0 ? -EAGAIN : 0;
}

/* The repeat path for a registration parsed without its checks: when its
 * digest is the stored one and every check keeps its state, only the file's
 * mtime and the checks' times move. Returns 1 when done so, 0 when the
 * registration must take the whole path (a change, an output refresh, a
 * file gone), or a negative errno. */
static int manager_repeat_scanned(Manager *m, Node *n, const Registration *reg, const ChecksScan *scan,
                                  int64_t seen_at) {
        RegistryDigest incoming;
        int r;

        if (!n || !n->digest.set || scan->n != n->n_checks)
                return 0;
        for (size_t i = 0; i < scan->n; i++)
                if (scan->items[i].state != n->check_states[i] ||
                    strlen(n->check_names[i]) != scan->items[i].name_len ||
                    memcmp(n->check_names[i], scan->items[i].name, scan->items[i].name_len) != 0)
                        return 0;
        r = registry_digest_scanned(reg->root, scan, &incoming);
        if (r < 0)
                return r;
        if (memcmp(incoming.bytes, n->digest.bytes, sizeof incoming.bytes) != 0)
                return 0;
        r = registry_touch(m->dirfd, reg->identity, seen_at);
        if (r < 0)
                return 0; /* the whole path tries again and says why */
        for (size_t i = 0; i < scan->n; i++)
                n->check_when[i] = scan->items[i].when;
        return 1;
}

/* Validate and store one registration. Returns 0 when it was handled
 * (acked or rejected), or a negative errno when it could not be written
 * and must be retried later. */
static int manager_process(Manager *m, uint64_t tag, const void *body, size_t size, const char *scheme,
                           const char *key_id, const char *sig) {
        _cleanup_registration_ Registration *reg = NULL;
        char err[MESSAGE_ERROR_MAX];
        int64_t now = (int64_t) time(NULL);
        bool is_new = false;
        int r;

        if (size > m->config.max_message_size) {
                snprintf(err, sizeof err, "%zu bytes exceed the limit of %" PRIu64 " bytes", size,
                         m->config.max_message_size);
                manager_reject(m, tag, REJECT_OVERSIZE, NULL, err);
                return 0;
        }
        const char *signer = NULL;
        r = verify_message(&m->creds.verifier, body, size, scheme, key_id, sig, &signer);
        if (r < 0) {
                _cleanup_free_ char *id = raw_identity(body, size);
                manager_reject(m, tag, r == -ENOKEY ? REJECT_UNSIGNED : REJECT_BAD_SIGNATURE, id,
                               r == -ENOKEY ? "the message carries no signature" :
                               r == -EPROTONOSUPPORT ? "unsupported signature scheme" :
                               r == -EPERM ? "signed with the pre-shared key, which is not accepted" :
                               r == -ENXIO ? "signed with a key that is not among the trusted node keys" :
                                             "the signature does not match the message");
                return 0;
        }
        /* Pushed checks: their outputs need not become JSON values unless
         * the file is written (muster(7), PUSHED CHECKS). The body is
         * parsed without its "checks", which checks_scan() read in place;
         * whatever it does not take, and whatever fails so, is parsed
         * whole below, for the same verdict and reason as always. */
        ChecksScan scan;
        bool scanned = false;
        if (checks_scan(body, size, &scan) > 0) {
                r = manager_parse_reduced(m, body, size, &scan, &reg);
                if (r == -ENOMEM)
                        return r;
                scanned = r >= 0;
        }
        if (!scanned) {
                r = manager_parse_whole(m, tag, body, size, &reg);
                if (r != 0)
                        return r < 0 ? r : 0;
        }
        if (!streq(signer, "psk") && !streq(signer, reg->identity)) {
                snprintf(err, sizeof err, "signed with the key of %s; a node may only register itself", signer);
                manager_reject(m, tag, REJECT_BAD_SIGNATURE, reg->identity, err);
                return 0;
        }
        if (!streq(reg->collective, m->config.collective)) {
                snprintf(err, sizeof err, "collective \"%s\", this collector serves \"%s\"", reg->collective,
                         m->config.collective);
                manager_reject(m, tag, REJECT_WRONG_COLLECTIVE, reg->identity, err);
                return 0;
        }
        if (reg->msgtime > now + (int64_t) (m->config.max_clock_skew_usec / USEC_PER_SEC)) {
                snprintf(err, sizeof err, "dated %" PRId64 " s in the future", reg->msgtime - now);
                manager_reject(m, tag, REJECT_FUTURE, reg->identity, err);
                return 0;
        }

        Node *n = hashmap_get(m->nodes, reg->identity);
        if (json_is_true(json_object_get(reg->root, "deregister"))) {
                /* Signed by the node itself (or the fleet's key), checked above. */
                m->ack_tag = tag;
                if (n && reg->msgtime < n->last_seen)
                        return 0; /* it registered again since */
                r = manager_remove_node(m, reg->identity);
                if (r < 0 && !write_error_is_global(m, r)) {
                        snprintf(err, sizeof err, "cannot remove %s/%s: %s", m->config.state_dir, reg->identity,
                                 strerror(-r));
                        m->ack_tag = 0;
                        manager_reject(m, tag, REJECT_UNWRITABLE, reg->identity, err);
                        return 0;
                }
                if (r < 0) {
                        m->ack_tag = 0;
                        return r;
                }
                if (r > 0)
                        node_event(m, MSGID_NODE_DEREGISTERED, EVENT_NODE_DEREGISTERED, LOG_NOTICE, reg->identity,
                                   "deregistered itself and was removed");
                manager_update_status(m);
                return 0;
        }
        if (n && reg->msgtime < n->last_seen) {
                /* Older than what we have (out of order, or replayed): nothing to do. */
                m->ack_tag = tag;
                return 0;
        }

        RegistryDigest digest = n ? n->digest : (RegistryDigest) {};
        json_t *checks = scanned ? NULL : json_object_get(reg->root, "checks");
        size_t n_checks = scanned ? scan.n : json_object_size(checks);
        /* The digest covers the checks' states only: the outputs in the
         * file are refreshed every check_output_refresh, not at every beat. */
        bool refresh = n && n_checks > 0 && m->config.check_output_refresh_usec > 0 &&
                       now - n->checks_written_at >= (int64_t) (m->config.check_output_refresh_usec / USEC_PER_SEC);
        bool repeated = false;
        if (scanned && !refresh) {
                r = manager_repeat_scanned(m, n, reg, &scan, MIN(reg->msgtime, now));
                if (r < 0)
                        return r;
                repeated = r > 0;
        }
        if (scanned && !repeated) {
                /* A change, an output refresh or a new node: the file gets the
                 * whole registration, outputs and all. */
                reg = registration_free(reg);
                r = manager_parse_whole(m, tag, body, size, &reg);
                if (r != 0)
                        return r < 0 ? r : 0;
                checks = json_object_get(reg->root, "checks");
        }
        if (repeated)
                r = 0;
        else
                r = registry_store_full(m->dirfd, reg, now, MIN(reg->msgtime, now), &digest, refresh, &is_new);
        if (r < 0 && !write_error_is_global(m, r)) {
                /* This node's path alone (a directory, a symlink, an immutable
                 * file in its place): reject this one and go on with the fleet. */
                snprintf(err, sizeof err, "cannot store %s/%s: %s", m->config.state_dir, reg->identity,
                         r == -EEXIST ? "something other than a regular file is in its place" : strerror(-r));
                manager_reject(m, tag, REJECT_UNWRITABLE, reg->identity, err);
                return 0;
        }
        if (r < 0)
                return r;
        m->ack_tag = tag;
        if (r > 0)
                m->written++;
        else
                m->touched++;
        count_registration(m, now);
        if (r > 0)
                m->registry_index_dirty = true;

        if (!n) {
                n = calloc(1, sizeof *n);
                if (!n || hashmap_put(m->nodes, reg->identity, n) < 0) {
                        free(n);
                        return log_oom(), 0;
                }
                if (is_new)
                        node_event(m, MSGID_NODE_NEW, EVENT_NODE_NEW, LOG_NOTICE, reg->identity,
                                   "registered for the first time");
        } else if (n->stale) {
                n->stale = false;
                m->n_stale--;
                node_event(m, MSGID_NODE_RECOVERED, EVENT_NODE_RECOVERED, LOG_NOTICE, reg->identity,
                           "checked in again");
        }
        n->last_seen = reg->msgtime;
        n->interval = reg->interval;
        n->digest = digest;
        if (r > 0) {
                n->checks_written_at = now;
                /* A new file: the index must name it, or readers read the file. */
                (void) checks_file_key(m->dirfd, reg->identity, &n->key, NULL, NULL);
                manager_checks_index_changed(m);
        }
        if (!repeated && (checks || n->n_checks > 0))
                manager_update_checks(m, reg->identity, n, checks);
        return 0;
}


static int on_retry(sd_event_source *s, uint64_t usec, void *userdata);

static void manager_enter_degraded(Manager *m, int error) {
        char buf[32];

        m->retry_failures++;
        uint64_t delay = MIN(USEC_PER_SEC << MIN(m->retry_failures - 1, 5u), 30 * USEC_PER_SEC);
        snprintf(m->degraded_reason, sizeof m->degraded_reason, "cannot write to %s: %s", m->config.state_dir,
                 strerror(-error));
        if (!m->degraded || ratelimit_below(&m->error_ratelimit, NULL))
                log_struct(LOG_ERR, error, MSGID_STATE_WRITE_FAILED, KV("MUSTER_EVENT", EVENT_STATE_WRITE_FAILED),
                           "Cannot store registrations: %s; %zu registration(s) held unacknowledged, retrying in %s.",
                           m->degraded_reason, m->n_held, format_duration(buf, sizeof buf, delay));
        m->degraded = true;
        manager_update_status(m);
        m->retry_source = sd_event_source_disable_unref(m->retry_source);
        (void) sd_event_add_time_relative(m->event, &m->retry_source, CLOCK_MONOTONIC, delay, 0, on_retry, m);
}

static void manager_hold(Manager *m, uint64_t tag, const void *body, size_t size, const char *scheme,
                         const char *key_id, const char *sig) {
        manager_flush_acks(m);
        Held *h = calloc(1, sizeof *h);
        if (!h || !(h->body = malloc(size ? size : 1)) || (scheme && !(h->scheme = strdup(scheme))) ||
            (key_id && !(h->key_id = strdup(key_id))) ||
            (sig && !(h->sig = strdup(sig)))) {
                held_free(h);
                /* Not acked: the broker gives it back once we reconnect. */
                log_oom();
                return;
        }
        memcpy(h->body, body, size);
        h->size = size;
        h->tag = tag;
        if (m->held_tail)
                m->held_tail->next = h;
        else
                m->held_head = h;
        m->held_tail = h;
        m->n_held++;
}

/* Write what we hold, in order; stop at the first failure. */
static void manager_flush_held(Manager *m) {
        while (m->held_head) {
                Held *h = m->held_head;
                int r = manager_process(m, h->tag, h->body, h->size, h->scheme, h->key_id, h->sig);
                if (r < 0) {
                        manager_flush_acks(m);
                        manager_enter_degraded(m, r);
                        return;
                }
                m->held_head = h->next;
                if (!m->held_head)
                        m->held_tail = NULL;
                m->n_held--;
                held_free(h);
        }
        manager_flush_acks(m);
        if (m->degraded) {
                log_info("The state directory is writable again, %s registrations written.",
                         m->retry_failures ? "held" : "all");
                m->degraded = false;
                m->retry_failures = 0;
                m->retry_source = sd_event_source_disable_unref(m->retry_source);
                manager_update_status(m);
        }
}

static int on_retry(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        m->retry_source = sd_event_source_disable_unref(m->retry_source);
        manager_flush_held(m);
        return 0;
}

static void drop_held(Manager *m) {
        /* Their delivery tags die with the connection; the broker redelivers them. */
        while (m->held_head) {
                Held *h = m->held_head;
                m->held_head = h->next;
                held_free(h);
        }
        m->held_tail = NULL;
        m->n_held = 0;
}

static void on_delivery(amqp_envelope_t *env, void *userdata) {
        Manager *m = userdata;
        const amqp_basic_properties_t *p = &env->message.properties;
        char scheme[32], sig[SIGNATURE_HEX_MAX], key_id[KEY_ID_MAX];
        const char *sc = amqp_header_string(p, SIGNATURE_HEADER_SCHEME, scheme, sizeof scheme);
        const char *ki = amqp_header_string(p, SIGNATURE_HEADER_KEY_ID, key_id, sizeof key_id);
        const char *sg = amqp_header_string(p, SIGNATURE_HEADER_VALUE, sig, sizeof sig);

        m->received++;
        if (m->held_head) {
                manager_hold(m, env->delivery_tag, env->message.body.bytes, env->message.body.len, sc, ki, sg);
                return;
        }
        int r = manager_process(m, env->delivery_tag, env->message.body.bytes, env->message.body.len, sc, ki, sg);
        if (r < 0) {
                manager_hold(m, env->delivery_tag, env->message.body.bytes, env->message.body.len, sc, ki, sg);
                manager_enter_degraded(m, r);
        }
}

static void manager_disconnect(Manager *m) {
        manager_flush_acks(m);
        m->io_source = sd_event_source_disable_unref(m->io_source);
        m->heartbeat_source = sd_event_source_disable_unref(m->heartbeat_source);
        amqp_session_close(&m->session);
        free(m->queue);
        m->queue = NULL;
        m->consuming = false;
        drop_held(m);
}

static void manager_connection_lost(Manager *m, int error) {
        log_struct(LOG_WARNING, error, MSGID_BROKER_DISCONNECTED,
                   KV("MUSTER_EVENT", EVENT_BROKER_DISCONNECTED, "MUSTER_BROKER", m->session.url),
                   "Lost connection to broker %s: %s", strna(m->session.url), m->session.error);
        manager_disconnect(m);
        if (!m->stopping)
                manager_schedule_reconnect(m);
}

/* Everything the socket has, then the acks for what was stored. */
static int manager_drain(Manager *m) {
        int r = amqp_session_drain(&m->session, on_delivery, m);
        manager_flush_acks(m);
        return r;
}

static int on_amqp_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Manager *m = userdata;
        int r = manager_drain(m);
        if (r < 0)
                manager_connection_lost(m, r);
        else
                manager_update_status_throttled(m);
        return 0;
}

static int on_heartbeat(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        int r = manager_drain(m);
        if (r < 0) {
                manager_connection_lost(m, r);
                return 0;
        }
        (void) event_source_rearm(s, MAX(m->config.heartbeat_usec / 2, USEC_PER_SEC));
        return 0;
}

static int manager_setup_consumer(Manager *m) {
        AmqpSession *s = &m->session;
        _cleanup_free_ char *exchange = NULL, *key = NULL;
        amqp_table_entry_t args[1];
        amqp_table_t table = { .num_entries = 1, .entries = args };
        int r;

        r = amqp_session_declare_exchanges(s, &m->config);
        if (r < 0)
                return r;
        if (config_exchange(&m->config, "registration", &exchange) < 0 ||
            asprintf(&m->queue, "%s.registrations.%s", m->config.prefix, m->config.collector_name) < 0 ||
            !(key = routing_key_registration(m->config.collective, "#")))
                return -ENOMEM;

        args[0].key = amqp_cstring_bytes("x-queue-type");
        args[0].value.kind = AMQP_FIELD_KIND_UTF8;
        args[0].value.value.bytes = amqp_cstring_bytes(m->config.collector_queue_type);

        amqp_queue_declare(s->conn, AMQP_CHANNEL, amqp_cstring_bytes(m->queue), 0, 1, 0, 0, table);
        r = amqp_reply_to_errno(amqp_get_rpc_reply(s->conn), "queue declare", s->error, sizeof s->error);
        if (r < 0)
                return r;
        amqp_queue_bind(s->conn, AMQP_CHANNEL, amqp_cstring_bytes(m->queue), amqp_cstring_bytes(exchange),
                        amqp_cstring_bytes(key), amqp_empty_table);
        r = amqp_reply_to_errno(amqp_get_rpc_reply(s->conn), "queue bind", s->error, sizeof s->error);
        if (r < 0)
                return r;
        amqp_basic_qos(s->conn, AMQP_CHANNEL, 0, (uint16_t) MIN(m->config.collector_prefetch, 65535u), 0);
        r = amqp_reply_to_errno(amqp_get_rpc_reply(s->conn), "basic qos", s->error, sizeof s->error);
        if (r < 0)
                return r;
        amqp_basic_consume(s->conn, AMQP_CHANNEL, amqp_cstring_bytes(m->queue), amqp_empty_bytes, 0, 0, 0,
                           amqp_empty_table);
        return amqp_reply_to_errno(amqp_get_rpc_reply(s->conn), "basic consume", s->error, sizeof s->error);
}

static int manager_connect(Manager *m) {
        int r;

        r = amqp_session_connect(&m->session, &m->config);
        if (r < 0)
                return r;
        r = manager_setup_consumer(m);
        if (r < 0)
                return r;
        r = sd_event_add_io(m->event, &m->io_source, amqp_session_fd(&m->session), EPOLLIN, on_amqp_io, m);
        if (r < 0)
                return r;
        r = sd_event_add_time_relative(m->event, &m->heartbeat_source, CLOCK_MONOTONIC,
                                       MAX(m->config.heartbeat_usec / 2, USEC_PER_SEC), 0, on_heartbeat, m);
        if (r < 0)
                return r;
        m->consuming = true;
        m->session.failures = 0;
        log_struct(LOG_INFO, 0, MSGID_BROKER_CONNECTED,
                   KV("MUSTER_EVENT", EVENT_BROKER_CONNECTED, "MUSTER_BROKER", m->session.url),
                   "Connected to broker %s, consuming registrations from queue %s.", m->session.url, m->queue);
        if (!m->ready_sent) {
                (void) sd_notify(false, "READY=1");
                m->ready_sent = true;
        }
        manager_update_status(m);
        /* Deliveries that came with the consume-ok are not announced by the
         * socket again. */
        r = manager_drain(m);
        if (r < 0)
                manager_connection_lost(m, r);
        return 0;
}

static int on_reconnect(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        m->reconnect_source = sd_event_source_disable_unref(m->reconnect_source);
        if (manager_connect(m) < 0) {
                manager_disconnect(m);
                manager_schedule_reconnect(m);
        }
        return 0;
}

static void manager_schedule_reconnect(Manager *m) {
        char buf[32];

        if (m->reconnect_source || m->stopping)
                return;
        uint64_t delay = amqp_session_backoff_usec(&m->session, &m->config);
        if (sd_event_add_time_relative(m->event, &m->reconnect_source, CLOCK_MONOTONIC, delay, 0, on_reconnect, m) <
            0) {
                sd_event_exit(m->event, -ENOMEM);
                return;
        }
        format_duration(buf, sizeof buf, delay / USEC_PER_MSEC * USEC_PER_MSEC);
        if (ratelimit_below(&m->error_ratelimit, NULL))
                log_warning("Cannot reach a broker: %s. Retrying in %s.",
                            m->session.error[0] ? m->session.error : "connection lost", buf);
        (void) sd_notifyf(false, "STATUS=Reconnecting in %s: %s", buf,
                          m->session.error[0] ? m->session.error : "connection lost");
}

/* From the receive path: at most once a second (the status timer catches
 * up), not a datagram to the service manager per read. */
static void manager_update_status_throttled(Manager *m) {
        uint64_t t = now_usec(CLOCK_MONOTONIC);
        if (t < m->status_at + USEC_PER_SEC)
                return;
        manager_update_status(m);
}

static void manager_update_status(Manager *m) {
        int64_t now = (int64_t) time(NULL);

        m->status_at = now_usec(CLOCK_MONOTONIC);
        if (m->degraded)
                (void) sd_notifyf(false, "STATUS=degraded: %s; %zu registration(s) held; %zu nodes, %zu stale",
                                  m->degraded_reason, m->n_held, hashmap_size(m->nodes), m->n_stale);
        else if (m->consuming && m->rejected[REJECT_UNWRITABLE] > 0)
                (void) sd_notifyf(false, "STATUS=%zu nodes, %zu stale, %u registrations/min, "
                                  "%" PRIu64 " rejected because their file cannot be written",
                                  hashmap_size(m->nodes), m->n_stale, registrations_per_minute(m, now),
                                  m->rejected[REJECT_UNWRITABLE]);
        else if (m->consuming)
                (void) sd_notifyf(false, "STATUS=%zu nodes, %zu stale, %u registrations/min",
                                  hashmap_size(m->nodes), m->n_stale, registrations_per_minute(m, now));
}

static void manager_sweep(Manager *m, bool log_events) {
        int64_t now = (int64_t) time(NULL);
        int64_t grace = (int64_t) (m->config.stale_grace_usec / USEC_PER_SEC);
        const char *id;
        void *v;
        size_t i = 0;

        int64_t expire = (int64_t) (m->config.expire_after_usec / USEC_PER_SEC);
        _cleanup_strv_free_ char **expired = NULL;

        while (hashmap_iterate(m->nodes, &i, &id, &v)) {
                Node *n = v;
                int64_t interval = n->interval > 0 ? n->interval
                                                   : (int64_t) (m->config.heartbeat_interval_usec / USEC_PER_SEC);
                bool stale = registry_is_stale(now, n->last_seen, interval, grace);
                if (expire > 0 && now - n->last_seen > expire) {
                        /* Removed after the walk: removal moves entries. */
                        if (strv_extend(&expired, id) < 0)
                                log_oom();
                        continue;
                }
                if (stale && !n->stale) {
                        n->stale = true;
                        m->n_stale++;
                        if (log_events) {
                                char ago[32];
                                snprintf(ago, sizeof ago, "%" PRId64, now - n->last_seen);
                                log_struct(LOG_WARNING, 0, MSGID_NODE_STALE,
                                           KV("MUSTER_EVENT", EVENT_NODE_STALE, "MUSTER_IDENTITY", id,
                                              "MUSTER_COLLECTIVE", m->config.collective, "MUSTER_LAST_SEEN_AGO", ago),
                                           "Node %s stopped checking in: last seen %s s ago, interval %" PRId64 " s.",
                                           id, ago, interval);
                        }
                }
        }
        for (size_t k = 0; expired && expired[k]; k++) {
                int r = manager_remove_node(m, expired[k]);
                if (r < 0)
                        log_warning_errno(r, "Failed to remove expired node %s: %m, ignoring.", expired[k]);
                else if (r > 0)
                        log_struct(LOG_NOTICE, 0, MSGID_NODE_EXPIRED,
                                   KV("MUSTER_EVENT", EVENT_NODE_EXPIRED, "MUSTER_IDENTITY", expired[k],
                                      "MUSTER_COLLECTIVE", m->config.collective),
                                   "Node %s expired: silent for more than %" PRId64 " s, removed.", expired[k],
                                   expire);
        }
        manager_update_status(m);
}

static int on_sweep(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        manager_sweep(m, true);
        (void) event_source_rearm(s, m->config.sweep_interval_usec);
        return 0;
}

/* Every node's check states in one file, for check-mc-nrpe --from-registry. */
static int manager_write_checks_index(Manager *m) {
        ChecksIndexWriter *w = NULL;
        const char *id;
        void *v;
        size_t i = 0;
        uint64_t start;
        int r;

        m->checks_index_dirty = false;
        r = checks_index_writer_new(m->dirfd, &w);
        if (r < 0)
                goto fail;
        start = now_usec(CLOCK_MONOTONIC);
        while (hashmap_iterate(m->nodes, &i, &id, &v)) {
                Node *n = v;
                /* Every node, so that a reader knows its file needs no reading. */
                r = checks_index_writer_add(w, id, &n->key, n->interval, n->check_names, n->check_states,
                                            n->n_checks);
                if (r < 0)
                        goto fail;
        }
        r = checks_index_writer_commit(w);
        checks_index_writer_free(w);
        if (r < 0)
                goto fail_logged;
        /* A large fleet's index takes a while: spend at most 5 % on it. */
        m->checks_index_delay = MAX(USEC_PER_SEC, 20 * (now_usec(CLOCK_MONOTONIC) - start));
        return 0;
fail:
        checks_index_writer_free(w);
fail_logged:
        m->checks_index_dirty = true;
        if (ratelimit_below(&m->error_ratelimit, NULL))
                log_warning_errno(r, "Failed to write the check index %s/%s: %m, retrying.", m->config.state_dir,
                                  CHECKS_INDEX_NAME);
        return r;
}

static int on_checks_index(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        if (manager_write_checks_index(m) < 0)
                (void) event_source_rearm(s, 5 * USEC_PER_SEC);
        else
                (void) sd_event_source_set_enabled(s, SD_EVENT_OFF);
        return 0;
}

/* At most one rewrite a second, however many states change in it. */
static void manager_checks_index_changed(Manager *m) {
        m->checks_index_dirty = true;
        if (!m->event)
                return;
        if (m->checks_index_source) {
                int enabled = SD_EVENT_OFF;
                (void) sd_event_source_get_enabled(m->checks_index_source, &enabled);
                if (enabled == SD_EVENT_OFF)
                        (void) event_source_rearm(m->checks_index_source, MAX(m->checks_index_delay, USEC_PER_SEC));
                return;
        }
        (void) sd_event_add_time_relative(m->event, &m->checks_index_source, CLOCK_MONOTONIC,
                                          MAX(m->checks_index_delay, USEC_PER_SEC), 0, on_checks_index, m);
}

static int on_registry_index(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;

        if (m->dirfd >= 0 && (m->registry_index_dirty || !m->registry_index_stamped)) {
                RegistryScanStats st = {};
                m->registry_index_dirty = false;
                int r = registry_index_write(m->config.state_dir, &st);
                if (r < 0) {
                        m->registry_index_dirty = true;
                        if (ratelimit_below(&m->error_ratelimit, NULL))
                                log_warning_errno(r, "Failed to write the registry index in %s: %m, ignoring.",
                                                  m->config.state_dir);
                } else
                        m->registry_index_stamped = st.stamped;
        }
        (void) event_source_rearm(s, REGISTRY_INDEX_INTERVAL_SEC * USEC_PER_SEC);
        return 0;
}

static int on_status_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        manager_update_status(userdata);
        (void) event_source_rearm(s, 10 * USEC_PER_SEC);
        return 0;
}

/* The states in a stored file: what the collector remembers across restarts. */
static int node_load_checks(Node *n, json_t *root) {
        json_t *checks = json_object_get(root, "checks"), *received = json_object_get(root, "received");
        size_t k = json_object_size(checks), i = 0;
        const char *name;
        json_t *v;

        if (k == 0 || checks_validate(checks, (char[MESSAGE_ERROR_MAX]) {}) < 0)
                return 0;
        n->check_names = calloc(k + 1, sizeof *n->check_names);
        n->check_states = calloc(k, sizeof *n->check_states);
        n->check_when = calloc(k, sizeof *n->check_when);
        if (!n->check_names || !n->check_states || !n->check_when)
                return -ENOMEM;
        json_object_foreach(checks, name, v) {
                n->check_names[i] = strdup(name);
                if (!n->check_names[i])
                        return -ENOMEM;
                n->check_states[i] = (int8_t) checks_get_state(checks, name, &n->check_when[i]);
                i++;
        }
        n->n_checks = k;
        n->checks_written_at = json_is_integer(received) ? (int64_t) json_integer_value(received) : 0;
        return 0;
}

typedef struct LoadState {
        Hashmap *nodes;
        int dirfd;
} LoadState;

static int load_entry(RegistryEntry *e, void *userdata) {
        LoadState *lm = userdata;
        Hashmap *nodes = lm->nodes;
        Node *n = calloc(1, sizeof *n);
        int r;

        if (!n || (r = hashmap_put(nodes, e->identity, n)) < 0) {
                free(n);
                registry_entry_done(e);
                return -ENOMEM;
        }
        n->last_seen = e->mtime.tv_sec;
        n->interval = e->interval;
        if (e->root)
                (void) registry_digest(e->root, &n->digest);
        (void) checks_file_key(lm->dirfd, e->identity, &n->key, NULL, NULL);
        if (e->registration && node_load_checks(n, e->root) < 0) {
                registry_entry_done(e);
                return -ENOMEM;
        }
        registry_entry_done(e);
        return 0;
}

static void node_free(void *p);

/* Open dir (created when only its last component is missing) and load its
 * nodes; on success m stores into it from now on. On failure m is left as it
 * was, and the error is logged. */
static int manager_open_state(Manager *m, const char *dir) {
        _cleanup_close_ int fd = -1;
        Hashmap *nodes = NULL;
        int r;

        (void) mkdir(dir, 0755);
        fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0)
                return log_error_errno(-errno, "Failed to open the state directory %s: %m", dir);
        nodes = hashmap_new();
        if (!nodes)
                return log_oom();
        /* One file at a time: a large fleet's state is never all in memory. */
        r = registry_foreach(dir, true, load_entry, &(LoadState) { .nodes = nodes, .dirfd = fd });
        if (r < 0) {
                hashmap_free(nodes, node_free);
                if (r == -ENOMEM)
                        return log_oom();
                return log_error_errno(r, "Failed to read the state directory %s: %m", dir);
        }
        hashmap_free(m->nodes, node_free);
        m->nodes = nodes;
        m->n_stale = 0;
        if (m->dirfd >= 0)
                (void) close(m->dirfd);
        m->dirfd = TAKE_FD(fd);
        log_info("Loaded %zu node(s) from %s.", hashmap_size(m->nodes), dir);
        manager_checks_index_changed(m);
        /* An index that still describes the directory is left as it is: a
         * restart does not cost a walk of every file (0.1-0.5 s at 10,000 to
         * 50,000 nodes) in the middle of the first deliveries. */
        r = registry_index_is_current(m->dirfd);
        if (r == -ENOMEM)
                return log_oom();
        m->registry_index_stamped = r > 0;
        m->registry_index_dirty = r <= 0;
        /* Nodes that went quiet while we were away are reported at the first sweep. */
        return 0;
}

static int on_sigterm(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;
        log_struct(LOG_INFO, 0, MSGID_DAEMON_STOPPING, KV("MUSTER_EVENT", EVENT_DAEMON_STOPPING),
                   "Received %s, stopping; %zu held registration(s) go back to the queue.", strsignal(si->ssi_signo),
                   m->n_held);
        (void) sd_notify(false, "STOPPING=1");
        manager_flush_acks(m);
        m->stopping = true;
        sd_event_exit(m->event, 0);
        return 0;
}

static int load_config(const char *path, ConfigLoadFlags flags, MusterConfig *ret_config, Credentials *ret_creds) {
        char error[CREDENTIALS_ERROR_MAX];
        _cleanup_strv_free_ char **warnings = NULL;
        MusterConfig c;
        int r;

        r = config_load_all(path, flags, &c, NULL, 0);
        if (r < 0)
                return r;
        r = credentials_load(&c, CREDENTIALS_NODE_KEYS, ret_creds, &warnings, error, sizeof error);
        log_warnings(warnings);
        if (r < 0) {
                config_done(&c);
                return log_error_errno(r, "Failed to %s.", error);
        }
        *ret_config = c;
        return 0;
}

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;
        MusterConfig c;
        Credentials creds;
        int r;

        (void) sd_notifyf(false, "RELOADING=1\nSTATUS=Reloading configuration\nMONOTONIC_USEC=%" PRIu64,
                          now_usec(CLOCK_MONOTONIC));
        if (load_config(m->config_path, 0, &c, &creds) < 0) {
                log_struct(LOG_ERR, 0, MSGID_CONFIG_RELOAD_FAILED, KV("MUSTER_EVENT", EVENT_CONFIG_RELOAD_FAILED),
                           "Reloading the configuration failed, the previous configuration stays in force.");
                (void) sd_notify(false, "READY=1");
                manager_update_status(m);
                return 0;
        }
        /* What the collector's queue and bindings depend on; the responder's
         * identity and agents do not matter here. */
        bool reconnect = config_connection_changed(&m->config, &c) ||
                         !streq(c.collective, m->config.collective) || !streq(c.prefix, m->config.prefix) ||
                         !streq(c.collector_name, m->config.collector_name) ||
                         !streq(c.collector_queue_type, m->config.collector_queue_type) ||
                         c.collector_prefetch != m->config.collector_prefetch;
        if (!streq(c.state_dir, m->config.state_dir) && manager_open_state(m, c.state_dir) < 0) {
                log_warning("Keeping the state directory %s.", m->config.state_dir);
                r = free_and_strdup(&c.state_dir, m->config.state_dir);
                if (r < 0) {
                        config_done(&c);
                        credentials_done(&creds);
                        log_oom();
                        (void) sd_notify(false, "READY=1");
                        return 0;
                }
        }
        config_done(&m->config);
        m->config = c;
        credentials_done(&m->creds);
        m->creds = creds;
        log_set_max_level(m->config.log_level);
        log_set_target(m->config.log_target);
        log_struct(LOG_INFO, 0, MSGID_CONFIG_RELOADED, KV("MUSTER_EVENT", EVENT_CONFIG_RELOADED),
                   "Configuration reloaded%s.", reconnect ? ", reconnecting to the broker" : "");
        if (reconnect) {
                manager_disconnect(m);
                m->reconnect_source = sd_event_source_disable_unref(m->reconnect_source);
                m->session.failures = 0;
                if (manager_connect(m) < 0) {
                        manager_disconnect(m);
                        manager_schedule_reconnect(m);
                }
        }
        (void) sd_notify(false, "READY=1");
        manager_update_status(m);
        return 0;
}

/* {"verb":"forget","identities":[...]}: retire nodes for good (muster nodes
 * --forget). Only root and the collector's own user may; the answer names
 * what was removed and what was not known. */
static void manager_forget(Manager *m, ControlConnection *cc, json_t *msg) {
        json_t *ids = json_object_get(msg, "identities"), *v;
        size_t i;
        uid_t peer = control_connection_uid(cc);

        if (peer != 0 && peer != getuid()) {
                (void) control_connection_send_error(cc, "permission denied: only root and the collector's user "
                                                         "may forget nodes");
                return;
        }
        if (!json_is_array(ids) || json_array_size(ids) == 0) {
                (void) control_connection_send_error(cc, "\"identities\" must be a non-empty array");
                return;
        }
        _cleanup_json_ json_t *forgotten = json_array(), *unknown = json_array(), *failed = json_object();
        if (!forgotten || !unknown || !failed) {
                (void) control_connection_send_error(cc, "out of memory");
                return;
        }
        json_array_foreach(ids, i, v) {
                const char *id = json_string_value(v);
                if (!id || !identity_is_valid(id)) {
                        json_object_set_new(failed, id ? id : "", json_string("invalid identity"));
                        continue;
                }
                int r = manager_remove_node(m, id);
                if (r < 0) {
                        json_object_set_new(failed, id, json_string(strerror(-r)));
                        continue;
                }
                if (r == 0) {
                        json_array_append_new(unknown, json_string(id));
                        continue;
                }
                json_array_append_new(forgotten, json_string(id));
                char uid[32];
                snprintf(uid, sizeof uid, "%u", (unsigned) peer);
                log_struct(LOG_NOTICE, 0, MSGID_NODE_RETIRED,
                           KV("MUSTER_EVENT", EVENT_NODE_RETIRED, "MUSTER_IDENTITY", id,
                              "MUSTER_COLLECTIVE", m->config.collective, "MUSTER_PEER_UID", uid),
                           "Node %s retired by an operator (uid %s), removed.", id, uid);
        }
        manager_update_status(m);
        _cleanup_json_ json_t *j = json_pack("{s:O, s:O, s:O}", "forgotten", forgotten, "unknown", unknown,
                                             "failed", failed);
        _cleanup_free_ char *out = j ? json_dumps(j, JSON_COMPACT) : NULL;
        if (!out)
                (void) control_connection_send_error(cc, "out of memory");
        else
                (void) control_connection_send(cc, out, strlen(out));
}

static void on_control(ControlConnection *cc, const char *verb, json_t *msg, void *userdata) {
        Manager *m = userdata;
        int64_t now = (int64_t) time(NULL);

        if (streq(verb, "forget")) {
                manager_forget(m, cc, msg);
                return;
        }
        if (!streq(verb, "status")) {
                (void) control_connection_send_error(cc, "unknown verb");
                return;
        }
        json_t *rej = json_object();
        for (int i = 0; rej && i < _REJECT_MAX; i++)
                json_object_set_new(rej, reject_table[i], json_integer((json_int_t) m->rejected[i]));
        _cleanup_json_ json_t *j = json_pack("{s:s, s:b, s:b, s:s?, s:I, s:I, s:I, s:I, s:I, s:I, s:o, s:I}",
                                             "version", PACKAGE_VERSION,
                                             "connected", m->consuming,
                                             "degraded", m->degraded,
                                             "broker", m->session.url,
                                             "nodes", (json_int_t) hashmap_size(m->nodes),
                                             "stale", (json_int_t) m->n_stale,
                                             "received", (json_int_t) m->received,
                                             "written", (json_int_t) m->written,
                                             "touched", (json_int_t) m->touched,
                                             "held", (json_int_t) m->n_held,
                                             "rejected", rej,
                                             "per_minute", (json_int_t) registrations_per_minute(m, now));
        _cleanup_free_ char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
        if (!s)
                (void) control_connection_send_error(cc, "out of memory");
        else
                (void) control_connection_send(cc, s, strlen(s));
}

/* Pushed checks: the latest state of each and how old it is. */
static void render_check_metrics(Manager *m, FILE *f) {
        int64_t now = (int64_t) time(NULL);
        const char *id;
        void *v;
        size_t i;

        fprintf(f, "# HELP muster_check_state Latest state of each pushed check (0 OK, 1 WARNING, 2 CRITICAL, "
                   "3 UNKNOWN).\n"
                   "# TYPE muster_check_state gauge\n");
        for (i = 0; hashmap_iterate(m->nodes, &i, &id, &v);) {
                Node *n = v;
                for (size_t k = 0; k < n->n_checks; k++) {
                        fputs("muster_check_state{identity=\"", f);
                        metrics_label_escape(f, id);
                        fprintf(f, "\",check=\"%s\"} %d\n", n->check_names[k], n->check_states[k]);
                }
        }
        fprintf(f, "# HELP muster_check_age_seconds Seconds since each pushed check last ran on its node.\n"
                   "# TYPE muster_check_age_seconds gauge\n");
        for (i = 0; hashmap_iterate(m->nodes, &i, &id, &v);) {
                Node *n = v;
                for (size_t k = 0; k < n->n_checks; k++) {
                        fputs("muster_check_age_seconds{identity=\"", f);
                        metrics_label_escape(f, id);
                        fprintf(f, "\",check=\"%s\"} %" PRId64 "\n", n->check_names[k],
                                MAX(now - n->check_when[k], (int64_t) 0));
                }
        }
        fprintf(f, "# HELP muster_check_state_changes_total Pushed check state changes logged.\n"
                   "# TYPE muster_check_state_changes_total counter\n"
                   "muster_check_state_changes_total %" PRIu64 "\n", m->check_state_changes);
}

static void render_metrics(FILE *f, void *userdata) {
        Manager *m = userdata;
        const char *id;
        void *v;
        size_t i = 0;

        fprintf(f, "# HELP muster_nodes Nodes known to the collector, by state.\n"
                   "# TYPE muster_nodes gauge\n"
                   "muster_nodes{state=\"current\"} %zu\n"
                   "muster_nodes{state=\"stale\"} %zu\n",
                hashmap_size(m->nodes) - m->n_stale, m->n_stale);
        fprintf(f, "# HELP muster_registrations_received_total Registrations consumed from the broker.\n"
                   "# TYPE muster_registrations_received_total counter\n"
                   "muster_registrations_received_total %" PRIu64 "\n"
                   "# HELP muster_registrations_stored_total Registrations stored, by how.\n"
                   "# TYPE muster_registrations_stored_total counter\n"
                   "muster_registrations_stored_total{how=\"written\"} %" PRIu64 "\n"
                   "muster_registrations_stored_total{how=\"touched\"} %" PRIu64 "\n",
                m->received, m->written, m->touched);
        fprintf(f, "# HELP muster_registrations_rejected_total Registrations rejected, by reason.\n"
                   "# TYPE muster_registrations_rejected_total counter\n");
        for (int r = 0; r < _REJECT_MAX; r++)
                fprintf(f, "muster_registrations_rejected_total{reason=\"%s\"} %" PRIu64 "\n", reject_table[r],
                        m->rejected[r]);
        fprintf(f, "# HELP muster_registrations_held Registrations held unacknowledged while the state "
                   "directory cannot be written.\n"
                   "# TYPE muster_registrations_held gauge\n"
                   "muster_registrations_held %zu\n"
                   "# HELP muster_broker_connected Whether the collector is connected and consuming.\n"
                   "# TYPE muster_broker_connected gauge\n"
                   "muster_broker_connected %d\n",
                m->n_held, m->consuming ? 1 : 0);
        fprintf(f, "# HELP muster_node_last_seen_timestamp_seconds When each node last registered.\n"
                   "# TYPE muster_node_last_seen_timestamp_seconds gauge\n");
        while (hashmap_iterate(m->nodes, &i, &id, &v)) {
                fputs("muster_node_last_seen_timestamp_seconds{identity=\"", f);
                metrics_label_escape(f, id);
                fprintf(f, "\"} %" PRId64 "\n", ((Node *) v)->last_seen);
        }
        render_check_metrics(m, f);
}

static void node_free(void *p) {
        Node *n = p;
        if (!n)
                return;
        strv_free(n->check_names);
        free(n->check_states);
        free(n->check_when);
        free(n);
}

static Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        manager_disconnect(m);
        free(m->session.url);
        m->reconnect_source = sd_event_source_disable_unref(m->reconnect_source);
        m->sweep_source = sd_event_source_disable_unref(m->sweep_source);
        m->registry_index_source = sd_event_source_disable_unref(m->registry_index_source);
        m->retry_source = sd_event_source_disable_unref(m->retry_source);
        m->status_source = sd_event_source_disable_unref(m->status_source);
        if (m->checks_index_dirty && m->dirfd >= 0)
                (void) manager_write_checks_index(m);
        m->checks_index_source = sd_event_source_disable_unref(m->checks_index_source);
        control_free(m->control);
        metrics_server_free(m->metrics);
        sd_event_unref(m->event);
        hashmap_free(m->nodes, node_free);
        free(m->reduced);
        if (m->dirfd >= 0)
                close(m->dirfd);
        credentials_done(&m->creds);
        config_done(&m->config);
        free(m->config_path);
        free(m);
        return NULL;
}

static void manager_freep(Manager **m) {
        manager_free(*m);
}

static int manager_new(Manager **ret) {
        _cleanup_(manager_freep) Manager *m = NULL;
        int r;

        m = calloc(1, sizeof *m);
        if (!m)
                return log_oom();
        m->dirfd = -1;
        m->reject_ratelimit = (RateLimit) RATELIMIT_INIT(10 * USEC_PER_SEC, 10);
        m->error_ratelimit = (RateLimit) RATELIMIT_INIT(60 * USEC_PER_SEC, 5);
        if (arg_config && !(m->config_path = strdup(arg_config)))
                return log_oom();
        r = load_config(m->config_path, CONFIG_LOAD_LOG, &m->config, &m->creds);
        if (r < 0)
                return r;

        r = manager_open_state(m, m->config.state_dir);
        if (r < 0)
                return r;

        r = sd_event_default(&m->event);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate event loop: %m");
        (void) sd_event_set_watchdog(m->event, true);
        if ((r = sd_event_add_signal(m->event, NULL, SIGTERM, on_sigterm, m)) < 0 ||
            (r = sd_event_add_signal(m->event, NULL, SIGINT, on_sigterm, m)) < 0 ||
            (r = sd_event_add_signal(m->event, NULL, SIGHUP, on_sighup, m)) < 0 ||
            (r = sd_event_add_time_relative(m->event, &m->sweep_source, CLOCK_MONOTONIC,
                                            m->config.sweep_interval_usec, 0, on_sweep, m)) < 0 ||
            (r = sd_event_add_time_relative(m->event, &m->registry_index_source, CLOCK_MONOTONIC, USEC_PER_SEC,
                                            0, on_registry_index, m)) < 0 ||
            (r = sd_event_add_time_relative(m->event, &m->status_source, CLOCK_MONOTONIC, 10 * USEC_PER_SEC, 0,
                                            on_status_timer, m)) < 0)
                return log_error_errno(r, "Failed to set up the event loop: %m");

        r = control_new(m->event, "control", m->config.collector_control_socket, on_control, m, &m->control);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the control socket %s: %m",
                                       m->config.collector_control_socket);
        control_set_event_handler(m->control, daemon_log_control_event, m);
        if (control_listen_error(m->control) < 0)
                log_info_errno(control_listen_error(m->control), "Not serving the control socket %s: %m",
                               m->config.collector_control_socket);

        int mfd = listen_fd_take("metrics", SOCK_STREAM);
        if (mfd >= 0 || !isempty(m->config.metrics_address)) {
                r = metrics_server_new(m->event, mfd, m->config.metrics_address, render_metrics, m, &m->metrics);
                if (r < 0)
                        return log_error_errno(r, "Failed to serve metrics on %s: %m",
                                               mfd >= 0 ? "the passed socket" : m->config.metrics_address);
        }
        /* The index follows the files as loaded (a node's checks may have
         * changed, or gone, while the collector was away). */
        (void) manager_write_checks_index(m);
        *ret = TAKE_PTR(m);
        return 0;
}

static void help(void) {
        printf("Usage: muster-collector [OPTIONS]\n\n"
               "Keep one state file per node from the registrations on the broker.\n\n"
               "  -c --config=PATH   Read PATH instead of " MUSTER_CONFIG_FILE "\n"
               "  -h --help          Show this help\n"
               "     --version       Show the version\n\n"
               "See muster-collector(8).\n");
}

static int parse_argv(int argc, char *argv[]) {
        static const DaemonArgs args = { .name = "muster-collector", .help = help, .config = &arg_config };
        int r = daemon_parse_argv(argc, argv, &args);
        if (r == -E2BIG)
                return log_error_errno(-EINVAL, "This program takes no arguments.");
        return r;
}

static int run(int argc, char *argv[]) {
        _cleanup_(manager_freep) Manager *m = NULL;
        int r;

        log_setup("muster-collector", true);
        r = parse_argv(argc, argv);
        if (r <= 0)
                return r;

        r = sigprocmask_block(SIGTERM, SIGINT, SIGHUP, -1);
        if (r < 0)
                return log_error_errno(r, "Failed to block signals: %m");

        r = manager_new(&m);
        if (r < 0)
                return r;
        _cleanup_strv_free_ char **fd_warnings = NULL;
        r = listen_fds_close_unclaimed(&fd_warnings);
        log_warnings(fd_warnings);
        if (r < 0)
                log_warning_errno(r, "Failed to name each passed fd closed: %m, ignoring.");
        log_struct(LOG_INFO, 0, MSGID_DAEMON_STARTED,
                   KV("MUSTER_EVENT", EVENT_DAEMON_STARTED, "MUSTER_COLLECTIVE", m->config.collective),
                   "muster-collector %s starting for collective %s, state in %s.", PACKAGE_VERSION,
                   m->config.collective, m->config.state_dir);

        (void) sd_notify(false, "STATUS=Connecting to the broker");
        if (manager_connect(m) < 0) {
                manager_disconnect(m);
                manager_schedule_reconnect(m);
        }
        /* The first sweep reports nodes that went quiet while we were away. */
        manager_sweep(m, true);

        r = sd_event_loop(m->event);
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");
        (void) sd_notify(false, "STOPPING=1\nSTATUS=Stopped");
        return 0;
}

int main(int argc, char *argv[]) {
        int r = run(argc, argv);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
