/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* muster-responder: consumes requests for this node, checks signature, TTL
 * and filter, runs the agent and publishes the reply. */

#include <inttypes.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "amqp-session.h"
#include "catalog-ids.h"
#include "config.h"
#include "daemon-util.h"
#include "control.h"
#include "credentials.h"
#include "facts.h"
#include "federation.h"
#include "jobqueue.h"
#include "log.h"
#include "nagios.h"
#include "node-queue.h"
#include "nrpe.h"
#include "policy.h"
#include "responder-core.h"
#include "topology.h"
#include "util.h"

#define PENDING_MAX 1024        /* checks waiting for one of max_concurrent_checks */
#define PREFETCH 64

typedef struct Manager Manager;

/* Everything the configuration points at, loaded together so that a reload
 * either replaces all of it or none. */
typedef struct Runtime {
        Credentials creds;      /* the PSK, the node's key, the client keys */
        NrpeConfig *nrpe;
        json_t *facts;
        char **classes;
        Policy *policy;
        NrpeUser *check_user;   /* [nrpe] user */
} Runtime;

typedef enum State {
        STATE_DISCONNECTED,
        STATE_CONSUMING,
        STATE_STOPPING,
} State;

struct Manager {
        sd_event *event;
        char *config_path;
        MusterConfig config;
        Runtime rt;
        ResponderCore core;

        AmqpSession session;
        State state;
        char *queue;
        char *consumer_tag;
        char *reply_exchange;   /* <prefix>.reply with responder.federated_replies, else NULL */
        sd_event_source *io_source;
        sd_event_source *heartbeat_source;
        sd_event_source *reconnect_source;
        sd_event_source *prune_source;
        sd_event_source *stop_source;
        bool ready_sent;
        uint64_t last_delivery_tag;

        JobQueue jobs;

        Control *control;

        RateLimit drop_ratelimit;
        RateLimit error_ratelimit;
};

static const char *arg_config = NULL;

static void manager_schedule_reconnect(Manager *m);
static void manager_update_status(Manager *m);

static int64_t now_sec(void) {
        return (int64_t) time(NULL);
}

static void manager_log_drop(Manager *m, const Dispatch *d) {
        unsigned suppressed = 0;

        if (!ratelimit_below(&m->drop_ratelimit, &suppressed))
                return;
        if (suppressed > 0)
                log_warning("Suppressed %u further dropped-message entries.", suppressed);
        log_struct(LOG_WARNING, 0, MSGID_REQUEST_DROPPED,
                   KV("MUSTER_EVENT", EVENT_REQUEST_DROPPED,
                      "MUSTER_REASON", drop_reason_to_string(d->reason),
                      "MUSTER_REQUESTID", d->request ? d->request->requestid : NULL,
                      "MUSTER_SENDER", d->request ? d->request->senderid : NULL,
                      "MUSTER_AGENT", d->request ? d->request->agent : NULL),
                   "Dropped request (%s): %s", drop_reason_to_string(d->reason), d->detail);
}

/* Publish a reply to where the request asked for it. */
static int manager_send_reply(Manager *m, const Request *req, const char *reply_to, bool federated,
                              ControlConnection *control, int statuscode, const char *statusmsg, json_t *data) {
        _cleanup_free_ char *body = NULL;
        char sig[SIGNATURE_HEX_MAX];
        size_t size;
        int r;

        const char *scheme = NULL, *key_id = NULL;
        r = responder_build_reply_signed(&m->core, req, statuscode, statusmsg, data, now_sec(), &body, &size, sig,
                                         &scheme, &key_id);
        if (r < 0) {
                log_error_errno(r, "Failed to build reply to %s: %m", req->requestid);
                if (control)
                        (void) control_connection_send_error(control, "failed to build the reply");
                return r;
        }

        if (control)
                return control_connection_send(control, body, size);

        if (!reply_to)
                return 0;
        if (m->state != STATE_CONSUMING && m->state != STATE_STOPPING)
                return log_warning_errno(-ENOTCONN, "Not connected to a broker, reply to request %s lost.",
                                         req->requestid);
        if (!amqp_session_is_open(&m->session))
                return log_warning_errno(-ENOTCONN, "Not connected to a broker, reply to request %s lost.",
                                         req->requestid);

        /* A request from another site is answered through its shovel (muster(7)). */
        const char *exchange = federation_reply_exchange(&m->config, m->reply_exchange, federated);
        r = amqp_session_publish(&m->session, exchange ?: "", reply_to, body, size,
                                 &(PublishOptions) { .signature = sig, .scheme = scheme, .key_id = key_id });
        if (r < 0) {
                log_warning_errno(r, "Failed to publish reply to request %s: %s", req->requestid, m->session.error);
                manager_schedule_reconnect(m);
                return r;
        }
        return 0;
}

/* Whatever a finished check left behind (a daemonized grandchild came back
 * to us as subreaper) is killed, so nothing outlives its check. */
static void manager_kill_orphans(Manager *m) {
        pid_t keep[256];

        size_t n = jobqueue_pids(&m->jobs, keep, ELEMENTSOF(keep));
        if (n > ELEMENTSOF(keep))
                return; /* cannot tell them apart; next time */
        int k = nrpe_kill_orphans(keep, n);
        if (k > 0)
                log_notice("Killed %d process(es) a check left behind.", k);
}

/* j: the job that holds the request (for runallcommands the batch's owner);
 * command: the check that ran. */
static void manager_log_check(Job *j, const char *command, int exitcode, bool timed_out, json_t *data,
                              uint64_t duration_usec) {
        char ec[16], dur[32];

        json_t *o = json_object_get(data, "output");
        snprintf(ec, sizeof ec, "%d", exitcode);
        snprintf(dur, sizeof dur, "%" PRIu64, duration_usec);
        log_struct(timed_out ? LOG_WARNING : LOG_INFO, 0, timed_out ? MSGID_CHECK_TIMEOUT : MSGID_CHECK_FINISHED,
                   KV("MUSTER_EVENT", timed_out ? EVENT_CHECK_TIMEOUT : EVENT_CHECK_FINISHED,
                      "MUSTER_AGENT", "nrpe",
                      "MUSTER_ACTION", j->request->action,
                      "MUSTER_COMMAND", command,
                      "MUSTER_REQUESTID", j->request->requestid,
                      "MUSTER_SENDER", j->request->senderid,
                      "MUSTER_CALLER", j->caller,
                      "MUSTER_CLAIMED_CALLER", streq(j->caller, j->request->callerid) ? NULL
                                                                                      : j->request->callerid,
                      "MUSTER_EXITCODE", ec,
                      "MUSTER_DURATION_USEC", dur),
                   "Check %s finished %s in %.1f ms for %s: %s", command,
                   nagios_state_name(exitcode), (double) duration_usec / 1000.0, j->caller,
                   json_string_value(o));
}

/* One command of an nrpe runallcommands finished (or never ran): into its
 * batch; the last one answers the request, which the batch's owner job holds. */
static void manager_batch_result(Manager *m, Job *j, int error, int exitcode, const char *output, size_t size,
                                 uint64_t duration_usec, bool timed_out) {
        NrpeBatch *b = TAKE_PTR(j->userdata);
        Job *owner = nrpe_batch_get_userdata(b);

        if (error == 0) {
                _cleanup_json_ json_t *one = nrpe_result_data(j->command, exitcode, output, size);
                if (one)
                        manager_log_check(owner, j->command, exitcode, timed_out, one, duration_usec);
        }
        if (nrpe_batch_add_result(b, j->command, exitcode, output, size)) {
                int statuscode = STATUS_UNKNOWN_ERROR;
                const char *statusmsg = "Unknown error: out of memory";
                _cleanup_json_ json_t *data = nrpe_batch_reply(b, &statuscode, &statusmsg);
                if (!data)
                        log_oom();   /* answered with the error above */
                (void) manager_send_reply(m, owner->request, owner->reply_to, owner->federated, owner->control,
                                          statuscode, statusmsg, data);
        }
        nrpe_batch_unref(b);
}

static void job_free_void(void *j) {
        job_free(j);
}

/* nrpe runallcommands: one job per command, each through the queue as a
 * runcommand is; the request rides in the batch's owner job. */
static void manager_run_all(Manager *m, Dispatch *d, const char *reply_to, bool federated,
                            ControlConnection *control) {
        NrpeBatch *b = d->batch;
        Job *owner;

        if (job_new_from_dispatch(d, reply_to, federated, control, &owner) < 0) {
                log_oom();
                if (control)
                        (void) control_connection_send_error(control, "out of memory");
                return;
        }
        nrpe_batch_set_userdata(b, owner, job_free_void);
        for (size_t i = 0; i < nrpe_batch_n_commands(b); i++) {
                const char *command = nrpe_batch_command(b, i);
                Job *j;

                if (job_new_command(command, nrpe_batch_command_line(b, i), &j) < 0) {
                        static const char msg[] = "UNKNOWN: out of memory";
                        log_oom();
                        (void) nrpe_batch_add_result(b, command, 3, msg, sizeof msg - 1);
                        continue;
                }
                j->userdata = nrpe_batch_ref(b);
                jobqueue_submit(&m->jobs, j);
        }
}

static void job_finished(Job *j, int error, int exitcode, const char *output, size_t size, uint64_t duration_usec,
                         void *userdata) {
        Manager *m = userdata;
        bool timed_out = exitcode == 3 && output && startswith(output, "UNKNOWN: command timed out");

        if (error == 0) {
                m->core.stats.checks_run++;
                if (timed_out)
                        m->core.stats.checks_timed_out++;
                manager_kill_orphans(m);
        } else if (error != -EBUSY)
                log_error_errno(error, "Failed to start check %s: %m", j->command);

        if (j->userdata) {
                manager_batch_result(m, j, error, exitcode, output, size, duration_usec, timed_out);
                if (m->state == STATE_STOPPING && m->jobs.n_running == 0 && m->jobs.n_pending == 0)
                        sd_event_exit(m->event, 0);
                return;
        }

        _cleanup_json_ json_t *data = nrpe_result_data(j->command, exitcode, output, size);
        if (!data) {
                /* Never an OK without its data: the caller sees an error. */
                log_oom();
                (void) manager_send_reply(m, j->request, j->reply_to, j->federated, j->control,
                                          STATUS_UNKNOWN_ERROR, "Unknown error: out of memory", NULL);
        } else {
                if (error == 0)
                        manager_log_check(j, j->command, exitcode, timed_out, data, duration_usec);
                (void) manager_send_reply(m, j->request, j->reply_to, j->federated, j->control,
                                          exitcode == 0 ? STATUS_OK : STATUS_ABORTED,
                                          nagios_state_name(exitcode), data);
        }

        if (m->state == STATE_STOPPING && m->jobs.n_running == 0 && m->jobs.n_pending == 0)
                sd_event_exit(m->event, 0);
}

/* The one dispatch path for broker and local requests. */
static void manager_handle_request(Manager *m, const void *body, size_t size, const char *scheme,
                                   const char *key_id, const char *sig, const char *reply_to, bool federated,
                                   ControlConnection *control) {
        Dispatch d;
        int r;

        if (control)
                r = responder_dispatch_local(&m->core, body, size, now_sec(), &d);
        else
                r = responder_dispatch_delivery(&m->core, body, size, scheme, key_id, sig, reply_to, now_sec(), &d);
        if (r < 0) {
                log_error_errno(r, "Failed to process request: %m");
                if (control)
                        (void) control_connection_send_error(control, "failed to process the request");
                dispatch_done(&d);
                return;
        }

        switch (d.kind) {
        case DISPATCH_DROP:
                manager_log_drop(m, &d);
                if (control)
                        (void) control_connection_send_error(control, d.detail);
                break;

        case DISPATCH_IGNORE:
                log_debug("Request %s from %s does not select this node, ignoring.", d.request->requestid,
                          d.request->senderid);
                if (control)
                        (void) control_connection_send_error(control, "the filter does not select this node");
                break;

        case DISPATCH_REPLY:
                if (d.denied)
                        log_struct(LOG_WARNING, 0, MSGID_REQUEST_DENIED,
                                   KV("MUSTER_EVENT", EVENT_REQUEST_DENIED,
                                      "MUSTER_CALLER", d.caller,
                                      "MUSTER_CLAIMED_CALLER", streq(d.caller, d.request->callerid) ? NULL
                                                                                                    : d.request->callerid,
                                      "MUSTER_AGENT", d.request->agent,
                                      "MUSTER_ACTION", d.request->action,
                                      "MUSTER_REQUESTID", d.request->requestid,
                                      "MUSTER_SENDER", d.request->senderid),
                                   "Denied %s %s to caller %s (%s from %s): not allowed by the policy.",
                                   d.request->agent, d.request->action, d.caller, d.request->callerid,
                                   d.request->senderid);
                log_struct(LOG_DEBUG, 0, MSGID_REQUEST_SERVED,
                           KV("MUSTER_EVENT", EVENT_REQUEST_SERVED,
                              "MUSTER_CALLER", d.caller,
                              "MUSTER_AGENT", d.request->agent,
                              "MUSTER_ACTION", d.request->action,
                              "MUSTER_REQUESTID", d.request->requestid,
                              "MUSTER_SENDER", d.request->senderid),
                           "Answered %s %s from %s: %s", d.request->agent, d.request->action, d.request->senderid,
                           d.statusmsg);
                if (!reply_to && !control)
                        log_debug("Request %s has no reply_to, not answering.", d.request->requestid);
                (void) manager_send_reply(m, d.request, reply_to, federated, control, d.statuscode, d.statusmsg,
                                          d.data);
                break;

        case DISPATCH_RUN: {
                Job *j;
                if (job_new_from_dispatch(&d, reply_to, federated, control, &j) < 0) {
                        log_oom();
                        if (control)
                                (void) control_connection_send_error(control, "out of memory");
                        break;
                }
                jobqueue_submit(&m->jobs, j);
                break;
        }

        case DISPATCH_RUN_ALL:
                manager_run_all(m, &d, reply_to, federated, control);
                break;
        }
        dispatch_done(&d);
}

static void manager_handle_delivery(Manager *m, amqp_envelope_t *env) {
        DeliveryHeaders h;

        delivery_headers_read(&env->message.properties, &h);
        manager_handle_request(m, env->message.body.bytes, env->message.body.len, h.scheme, h.key_id, h.signature,
                               h.reply_to, h.federated, NULL);
}

static void manager_disconnect(Manager *m) {
        m->io_source = sd_event_source_disable_unref(m->io_source);
        m->heartbeat_source = sd_event_source_disable_unref(m->heartbeat_source);
        amqp_session_close(&m->session);
        free(m->queue);
        m->queue = NULL;
        free(m->consumer_tag);
        m->consumer_tag = NULL;
        free(m->reply_exchange);
        m->reply_exchange = NULL;
}

static void manager_connection_lost(Manager *m, int error, const char *what) {
        log_struct(LOG_WARNING, error, MSGID_BROKER_DISCONNECTED,
                   KV("MUSTER_EVENT", EVENT_BROKER_DISCONNECTED, "MUSTER_BROKER", m->session.url),
                   "Lost connection to broker %s: %s", strna(m->session.url), what);
        manager_disconnect(m);
        if (m->state == STATE_STOPPING) {
                /* Nothing more to send replies through. */
                return;
        }
        m->state = STATE_DISCONNECTED;
        manager_schedule_reconnect(m);
}

static void on_delivery(amqp_envelope_t *env, void *userdata) {
        Manager *m = userdata;

        m->last_delivery_tag = env->delivery_tag;
        if (m->state == STATE_CONSUMING)
                manager_handle_delivery(m, env);
}

/* Read everything the broker sent us, without blocking, then ack it all at once. */
static int manager_drain(Manager *m) {
        int r;

        m->last_delivery_tag = 0;
        r = amqp_session_drain(&m->session, on_delivery, m);
        if (r < 0) {
                manager_connection_lost(m, r, m->session.error);
                return r;
        }
        if (m->last_delivery_tag > 0 && amqp_session_is_open(&m->session)) {
                int st = amqp_basic_ack(m->session.conn, AMQP_CHANNEL, m->last_delivery_tag, 1);
                if (st != AMQP_STATUS_OK) {
                        manager_connection_lost(m, amqp_status_to_errno(st), amqp_error_string2(st));
                        return amqp_status_to_errno(st);
                }
        }
        return 0;
}

static int on_amqp_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        Manager *m = userdata;
        (void) manager_drain(m);
        return 0;
}

static int on_heartbeat(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        uint64_t interval = MAX(m->config.heartbeat_usec / 2, USEC_PER_SEC);

        /* Lets librabbitmq send a heartbeat when one is due and notice a
         * silent broker. */
        (void) manager_drain(m);
        if (m->heartbeat_source)
                (void) event_source_rearm(s, interval);
        return 0;
}

static int manager_setup_consumer(Manager *m) {
        AmqpSession *s = &m->session;
        _cleanup_free_ char *bcast = NULL, *directed = NULL;
        int r;

        r = amqp_session_declare_exchanges(s, &m->config);
        if (r < 0)
                return r;
        r = amqp_session_declare_reply_exchange(s, &m->config, &m->reply_exchange);
        if (r < 0)
                return r;
        if (config_exchange(&m->config, "broadcast", &bcast) < 0 ||
            config_exchange(&m->config, "directed", &directed) < 0)
                return -ENOMEM;

        amqp_basic_qos(s->conn, AMQP_CHANNEL, 0, PREFETCH, 0);
        r = amqp_reply_to_errno(amqp_get_rpc_reply(s->conn), "basic qos", s->error, sizeof s->error);
        if (r < 0)
                return r;

        /* One exclusive, server-named queue for this responder. */
        return node_queue_setup(s, &m->config, m->config.identity, bcast, directed, &m->queue, &m->consumer_tag);
}

static int manager_connect(Manager *m) {
        int r;

        r = amqp_session_connect(&m->session, &m->config);
        if (r < 0)
                return r;

        r = manager_setup_consumer(m);
        if (r < 0) {
                amqp_session_close(&m->session);
                return r;
        }

        r = sd_event_add_io(m->event, &m->io_source, amqp_session_fd(&m->session), EPOLLIN, on_amqp_io, m);
        if (r < 0)
                return r;
        uint64_t hb = MAX(m->config.heartbeat_usec / 2, USEC_PER_SEC);
        r = sd_event_add_time_relative(m->event, &m->heartbeat_source, CLOCK_MONOTONIC, hb, 0, on_heartbeat, m);
        if (r < 0)
                return r;

        m->state = STATE_CONSUMING;
        m->session.failures = 0;
        log_struct(LOG_INFO, 0, MSGID_BROKER_CONNECTED,
                   KV("MUSTER_EVENT", EVENT_BROKER_CONNECTED,
                      "MUSTER_BROKER", m->session.url,
                      "MUSTER_IDENTITY", m->config.identity,
                      "MUSTER_COLLECTIVE", m->config.collective),
                   "Connected to broker %s, consuming requests for %s in collective %s.", m->session.url,
                   m->config.identity, m->config.collective);
        if (!m->ready_sent) {
                (void) sd_notify(false, "READY=1");
                m->ready_sent = true;
        }
        manager_update_status(m);

        /* Anything already buffered by the login is processed now. */
        (void) manager_drain(m);
        return 0;
}

static int on_reconnect(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        int r;

        m->reconnect_source = sd_event_source_disable_unref(m->reconnect_source);
        r = manager_connect(m);
        if (r < 0) {
                manager_disconnect(m);
                manager_schedule_reconnect(m);
        }
        return 0;
}

static void manager_schedule_reconnect(Manager *m) {
        char buf[32];
        int r;

        if (m->reconnect_source || m->state == STATE_STOPPING)
                return;
        if (amqp_session_is_open(&m->session))
                manager_disconnect(m);
        m->state = STATE_DISCONNECTED;

        uint64_t delay = amqp_session_backoff_usec(&m->session, &m->config);
        r = sd_event_add_time_relative(m->event, &m->reconnect_source, CLOCK_MONOTONIC, delay, 0, on_reconnect, m);
        if (r < 0) {
                log_error_errno(r, "Failed to schedule reconnect: %m");
                sd_event_exit(m->event, r);
                return;
        }
        unsigned suppressed;
        if (ratelimit_below(&m->error_ratelimit, &suppressed))
                log_warning("Cannot reach a broker: %s. Retrying in %s.",
                            m->session.error[0] ? m->session.error : "connection lost",
                            format_duration(buf, sizeof buf, delay / USEC_PER_MSEC * USEC_PER_MSEC));
        (void) sd_notifyf(false, "STATUS=Reconnecting in %s: %s", format_duration(buf, sizeof buf,
                          delay / USEC_PER_MSEC * USEC_PER_MSEC),
                          m->session.error[0] ? m->session.error : "connection lost");
}

static void manager_update_status(Manager *m) {
        switch (m->state) {
        case STATE_CONSUMING:
                (void) sd_notifyf(false, "STATUS=Connected to %s, consuming as %s; %u check(s) running, %u queued",
                                  strna(m->session.url), m->config.identity, m->jobs.n_running, m->jobs.n_pending);
                break;
        case STATE_STOPPING:
                (void) sd_notifyf(false, "STATUS=Stopping: waiting for %u check(s) to finish", m->jobs.n_running);
                break;
        case STATE_DISCONNECTED:
                break;
        }
}

static void runtime_done(Runtime *rt) {
        credentials_done(&rt->creds);
        nrpe_config_free(rt->nrpe);
        json_decref(rt->facts);
        strv_free(rt->classes);
        policy_free(rt->policy);
        nrpe_user_free(rt->check_user);
        *rt = (Runtime) {};
}

static int runtime_load(const MusterConfig *c, Runtime *ret) {
        Runtime rt = {};
        int r;

        char error[CREDENTIALS_ERROR_MAX];
        _cleanup_strv_free_ char **warnings = NULL;
        r = credentials_load(c, CREDENTIALS_SIGN | CREDENTIALS_CLIENT_KEYS, &rt.creds, &warnings, error, sizeof error);
        log_warnings(warnings);
        if (r < 0)
                return log_error_errno(r, "Failed to %s.", error);
        if (c->policy_file) {
                r = policy_load(c->policy_file, &rt.policy);
                if (r < 0) {
                        runtime_done(&rt);
                        return log_error_errno(r, "Failed to load the authorization policy %s: %s", c->policy_file,
                                               r == -EINVAL ? "see the errors above" : strerror(-r));
                }
        }

        r = nrpe_config_load(c->nrpe_dir, &rt.nrpe);
        if (r < 0) {
                runtime_done(&rt);
                return log_error_errno(r, "Failed to load NRPE commands from %s: %m", c->nrpe_dir);
        }
        /* Checks never run as root unless told to, nor as a user we cannot
         * become: refuse to start (or to reload) instead. */
        const char *why = NULL;
        r = nrpe_user_resolve(c->nrpe_user, c->nrpe_runner, &rt.check_user, &why);
        if (r < 0) {
                runtime_done(&rt);
                return log_error_errno(r, "Cannot run checks as user %s ([nrpe] user): %s", c->nrpe_user ?: "(own)",
                                       why ?: strerror(-r));
        }
        r = facts_load_dir(c->facts_dir, &rt.facts);
        if (r < 0) {
                runtime_done(&rt);
                return log_error_errno(r, "Failed to load facts from %s: %m", c->facts_dir);
        }
        r = classes_load(c->classes_file, &rt.classes);
        if (r < 0) {
                runtime_done(&rt);
                return log_error_errno(r, "Failed to load classes from %s: %m", c->classes_file);
        }
        *ret = rt;
        return 0;
}

/* Point the dispatch core at the current config and runtime. Runtime moves
 * by value, so the pointers are taken from m->rt here. */
static void manager_bind_core(Manager *m) {
        m->core.config = &m->config;
        m->core.psk = m->rt.creds.psk;
        m->core.nrpe = m->rt.nrpe;
        m->core.facts = m->rt.facts;
        m->core.classes = m->rt.classes;
        m->core.verifier = &m->rt.creds.verifier;
        m->core.signer = &m->rt.creds.signer;
        m->jobs.max_running = m->config.max_concurrent_checks;
        m->jobs.max_pending = PENDING_MAX;
        m->jobs.user = m->rt.check_user;
        m->jobs.timeout_usec = m->config.nrpe_timeout_usec;
        m->jobs.output_max = m->config.nrpe_output_max;
        m->jobs.finished = job_finished;
        m->jobs.userdata = m;
        m->core.policy = m->rt.policy;
}

static void apply_log_config(const MusterConfig *c) {
        log_set_max_level(c->log_level);
        log_set_target(c->log_target);
}

static int manager_reload(Manager *m) {
        MusterConfig c;
        Runtime rt = {};
        int r;

        (void) sd_notifyf(false, "RELOADING=1\nSTATUS=Reloading configuration\nMONOTONIC_USEC=%" PRIu64,
                          now_usec(CLOCK_MONOTONIC));

        r = config_load_all(m->config_path, 0, &c, NULL, 0);
        if (r >= 0) {
                r = runtime_load(&c, &rt);
                if (r < 0)
                        config_done(&c);
        }
        if (r < 0) {
                log_struct(LOG_ERR, r, MSGID_CONFIG_RELOAD_FAILED, KV("MUSTER_EVENT", EVENT_CONFIG_RELOAD_FAILED),
                           "Reloading the configuration failed, the previous configuration stays in force.");
                (void) sd_notify(false, "READY=1");
                manager_update_status(m);
                return 0;
        }

        bool reconnect = config_broker_changed(&m->config, &c);
        config_done(&m->config);
        m->config = c;
        apply_log_config(&m->config);
        runtime_done(&m->rt);
        m->rt = rt;
        manager_bind_core(m);

        log_struct(LOG_INFO, 0, MSGID_CONFIG_RELOADED,
                   KV("MUSTER_EVENT", EVENT_CONFIG_RELOADED),
                   "Configuration reloaded%s.", reconnect ? ", reconnecting to the broker" : "");
        if (reconnect && m->state == STATE_CONSUMING) {
                manager_disconnect(m);
                m->state = STATE_DISCONNECTED;
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

static int on_sighup(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        return manager_reload(userdata);
}

static int on_stop_timeout(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        log_warning("Checks still running at shutdown after the grace period, killing them.");
        sd_event_exit(m->event, 0);
        return 0;
}

static int on_sigterm(sd_event_source *s, const struct signalfd_siginfo *si, void *userdata) {
        Manager *m = userdata;

        if (m->state == STATE_STOPPING)
                return 0;
        log_struct(LOG_INFO, 0, MSGID_DAEMON_STOPPING, KV("MUSTER_EVENT", EVENT_DAEMON_STOPPING),
                   "Received %s, stopping: no new requests, %u check(s) still running.", strsignal(si->ssi_signo),
                   m->jobs.n_running);
        (void) sd_notify(false, "STOPPING=1");

        /* Stop consuming; the broker requeues nothing since our queue goes
         * away with us. Replies of running checks are still sent. */
        if (amqp_session_is_open(&m->session) && m->consumer_tag) {
                amqp_basic_cancel(m->session.conn, AMQP_CHANNEL, amqp_cstring_bytes(m->consumer_tag));
                (void) amqp_get_rpc_reply(m->session.conn);
        }
        m->state = STATE_STOPPING;
        m->reconnect_source = sd_event_source_disable_unref(m->reconnect_source);

        /* Queued requests that never started are answered as aborted. */
        for (Job *j; (j = jobqueue_pop_pending(&m->jobs)); ) {
                if (j->userdata) {
                        static const char msg[] = "UNKNOWN: responder is shutting down";
                        manager_batch_result(m, j, -ECANCELED, 3, msg, sizeof msg - 1, 0, false);
                        job_free(j);
                        continue;
                }
                _cleanup_json_ json_t *data = nrpe_result_data(j->command, 3, "UNKNOWN: responder is shutting down",
                                                               strlen("UNKNOWN: responder is shutting down"));
                (void) manager_send_reply(m, j->request, j->reply_to, j->federated, j->control, STATUS_ABORTED,
                                          "UNKNOWN", data);
                job_free(j);
        }

        if (m->jobs.n_running == 0) {
                sd_event_exit(m->event, 0);
                return 0;
        }
        manager_update_status(m);
        (void) sd_event_add_time_relative(m->event, &m->stop_source, CLOCK_MONOTONIC,
                                          m->config.nrpe_timeout_usec + 5 * USEC_PER_SEC, 0, on_stop_timeout, m);
        return 0;
}

static int on_prune(sd_event_source *s, uint64_t usec, void *userdata) {
        Manager *m = userdata;
        replay_cache_prune(m->core.replay, now_sec());
        /* The counts in STATUS= move with every check: refresh them here,
         * not at every start and finish. */
        manager_update_status(m);
        (void) event_source_rearm(s, 10 * USEC_PER_SEC);
        return 0;
}

/* Local requests over the control socket run through the same dispatch as
 * broker requests. The peer was authenticated by its credentials, so the
 * daemon signs the body itself. */
static void on_control_request(ControlConnection *cc, const char *verb, json_t *msg, void *userdata) {
        Manager *m = userdata;

        if (streq(verb, "status")) {
                _cleanup_json_ json_t *j = json_pack(
                        "{s:s, s:s, s:s, s:b, s:s?, s:I, s:I, s:I, s:I, s:I}",
                        "identity", m->config.identity,
                        "collective", m->config.collective,
                        "version", PACKAGE_VERSION,
                        "connected", m->state == STATE_CONSUMING,
                        "broker", m->session.url,
                        "checks_running", (json_int_t) m->jobs.n_running,
                        "checks_queued", (json_int_t) m->jobs.n_pending,
                        "received", (json_int_t) m->core.stats.received,
                        "served", (json_int_t) m->core.stats.served,
                        "filtered", (json_int_t) m->core.stats.filtered);
                _cleanup_free_ char *s = j ? json_dumps(j, JSON_COMPACT) : NULL;
                if (!s)
                        (void) control_connection_send_error(cc, "out of memory");
                else
                        (void) control_connection_send(cc, s, strlen(s));
                return;
        }
        if (streq(verb, "request")) {
                json_t *req = json_object_get(msg, "request");
                size_t size;

                if (!json_is_object(req)) {
                        (void) control_connection_send_error(cc, "missing \"request\" object");
                        return;
                }
                _cleanup_free_ char *body = NULL;
                if (message_dump(req, &body, &size) < 0) {
                        (void) control_connection_send_error(cc, "out of memory");
                        return;
                }
                log_info("Local request from uid %u over the control socket.", (unsigned) control_connection_uid(cc));
                /* The peer was authenticated by its credentials: no signature needed. */
                manager_handle_request(m, body, size, NULL, NULL, NULL, NULL, false, cc);
                return;
        }
        (void) control_connection_send_error(cc, "unknown verb");
}

static Manager *manager_free(Manager *m) {
        if (!m)
                return NULL;
        /* Batches of runallcommands still running go with their jobs. */
        for (Job *j = m->jobs.running; j; j = j->next)
                j->userdata = nrpe_batch_unref(j->userdata);
        for (Job *j = m->jobs.pending_head; j; j = j->next)
                j->userdata = nrpe_batch_unref(j->userdata);
        jobqueue_clear(&m->jobs);
        control_free(m->control);
        manager_disconnect(m);
        free(m->session.url);
        m->reconnect_source = sd_event_source_disable_unref(m->reconnect_source);
        m->prune_source = sd_event_source_disable_unref(m->prune_source);
        m->stop_source = sd_event_source_disable_unref(m->stop_source);
        sd_event_unref(m->event);
        replay_cache_free(m->core.replay);
        runtime_done(&m->rt);
        config_done(&m->config);
        free(m->config_path);
        free(m);
        return NULL;
}

static void manager_freep(Manager **m) {
        manager_free(*m);
}

static int manager_new(const char *config_path, Manager **ret) {
        _cleanup_(manager_freep) Manager *m = NULL;
        int r;

        m = calloc(1, sizeof *m);
        if (!m)
                return log_oom();
        m->drop_ratelimit = (RateLimit) RATELIMIT_INIT(10 * USEC_PER_SEC, 10);
        m->error_ratelimit = (RateLimit) RATELIMIT_INIT(60 * USEC_PER_SEC, 5);
        if (config_path && !(m->config_path = strdup(config_path)))
                return log_oom();

        r = config_load_all(m->config_path, 0, &m->config, NULL, 0);
        if (r < 0)
                return r;
        apply_log_config(&m->config);

        r = runtime_load(&m->config, &m->rt);
        if (r < 0)
                return r;
        manager_bind_core(m);

        m->core.started_at = now_sec();
        m->core.replay = responder_replay_cache_new();
        if (!m->core.replay)
                return log_oom();

        r = sd_event_default(&m->event);
        if (r < 0)
                return log_error_errno(r, "Failed to allocate event loop: %m");
        m->jobs.event = m->event;
        (void) sd_event_set_watchdog(m->event, true);

        r = sd_event_add_signal(m->event, NULL, SIGTERM, on_sigterm, m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, NULL, SIGINT, on_sigterm, m);
        if (r >= 0)
                r = sd_event_add_signal(m->event, NULL, SIGHUP, on_sighup, m);
        if (r < 0)
                return log_error_errno(r, "Failed to set up signal handling: %m");

        r = sd_event_add_time_relative(m->event, &m->prune_source, CLOCK_MONOTONIC, 10 * USEC_PER_SEC, 0, on_prune, m);
        if (r < 0)
                return log_error_errno(r, "Failed to set up timer: %m");

        r = control_new(m->event, "control", m->config.control_socket, on_control_request, m, &m->control);
        if (r < 0)
                return log_error_errno(r, "Failed to set up the control socket %s: %m", m->config.control_socket);
        control_set_event_handler(m->control, daemon_log_control_event, m);
        if (control_listen_error(m->control) < 0)
                log_info_errno(control_listen_error(m->control), "Not serving the control socket %s: %m",
                               m->config.control_socket);

        *ret = TAKE_PTR(m);
        return 0;
}

static void help(void) {
        printf("Usage: muster-responder [OPTIONS]\n\n"
               "Answer muster requests for this node from the message broker.\n\n"
               "  -c --config=PATH   Read PATH instead of " MUSTER_CONFIG_FILE "\n"
               "                     (and the conf.d/ directory beside it)\n"
               "  -h --help          Show this help\n"
               "     --version       Show the version\n\n"
               "See muster-responder(8) and muster.conf(5).\n");
}

static int parse_argv(int argc, char *argv[]) {
        static const DaemonArgs args = { .name = "muster-responder", .help = help, .config = &arg_config };
        int r = daemon_parse_argv(argc, argv, &args);
        if (r == -E2BIG)
                return log_error_errno(-EINVAL, "This program takes no arguments.");
        return r;
}

static int run(int argc, char *argv[]) {
        _cleanup_(manager_freep) Manager *m = NULL;
        int r;

        log_setup("muster-responder", true);

        r = parse_argv(argc, argv);
        if (r <= 0)
                return r;

        r = sigprocmask_block(SIGTERM, SIGINT, SIGHUP, SIGCHLD, -1);
        if (r < 0)
                return log_error_errno(r, "Failed to block signals: %m");
        /* Daemonizing checks come back to us, not to PID 1, so we can kill them. */
        if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0)
                log_warning_errno(-errno, "Failed to become a child subreaper: %m, ignoring.");

        r = manager_new(arg_config, &m);
        if (r < 0)
                return r;
        _cleanup_strv_free_ char **fd_warnings = NULL;
        r = listen_fds_close_unclaimed(&fd_warnings);
        log_warnings(fd_warnings);
        if (r < 0)
                log_warning_errno(r, "Failed to name each passed fd closed: %m, ignoring.");
        log_struct(LOG_INFO, 0, MSGID_DAEMON_STARTED,
                   KV("MUSTER_EVENT", EVENT_DAEMON_STARTED, "MUSTER_IDENTITY", m->config.identity,
                      "MUSTER_COLLECTIVE", m->config.collective),
                   "muster-responder %s starting as %s in collective %s, serving %zu NRPE command(s) as user %s.",
                   PACKAGE_VERSION, m->config.identity, m->config.collective,
                   m->rt.nrpe ? m->rt.nrpe->n_commands : 0, m->rt.check_user->name);

        (void) sd_notify(false, "STATUS=Connecting to the broker");
        r = manager_connect(m);
        if (r < 0) {
                manager_disconnect(m);
                manager_schedule_reconnect(m);
        }

        r = sd_event_loop(m->event);
        if (r < 0)
                return log_error_errno(r, "Event loop failed: %m");
        (void) sd_notify(false, "STOPPING=1\nSTATUS=Stopped");
        return r;
}

int main(int argc, char *argv[]) {
        int r = run(argc, argv);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
