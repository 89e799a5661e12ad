/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* muster-heartbeat: publish this node's registration, wait for the broker
 * to confirm it, exit. Run by muster-heartbeat.timer. */

#include <inttypes.h>
#include <signal.h>
#include <time.h>

#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>

#include "amqp-session.h"
#include "catalog-ids.h"
#include "checks.h"
#include "config.h"
#include "daemon-util.h"
#include "credentials.h"
#include "facts.h"
#include "log.h"
#include "message.h"
#include "nagios.h"
#include "nrpe.h"
#include "sign.h"
#include "topology.h"
#include "util.h"

static const char *arg_config = NULL;
static bool arg_deregister = false;

static void help(void) {
        printf("Usage: muster-heartbeat [OPTIONS]\n\n"
               "Publish this node's registration and wait until the broker confirmed it.\n\n"
               "  -c --config=PATH   Read PATH instead of " MUSTER_CONFIG_FILE "\n"
               "     --deregister    Tell the collectors this node is gone for good (run when\n"
               "                     the package is purged, never on stop)\n"
               "  -h --help          Show this help\n"
               "     --version       Show the version\n\n"
               "See muster-heartbeat(8).\n");
}

enum { ARG_DEREGISTER = 0x200 };

static int parse_extra(int c, const char *arg) {
        if (c != ARG_DEREGISTER)
                return -EINVAL;
        arg_deregister = true;
        return 0;
}

static int parse_argv(int argc, char *argv[]) {
        static const struct option extra[] = {
                { "deregister", no_argument, NULL, ARG_DEREGISTER },
                {}
        };
        static const DaemonArgs args = { .name = "muster-heartbeat", .help = help, .config = &arg_config,
                                         .extra = extra, .parse_extra = parse_extra };
        int r = daemon_parse_argv(argc, argv, &args);
        if (r == -E2BIG)
                return log_error_errno(-EINVAL, "This program takes no arguments.");
        return r;
}

/* One line on stderr and in the journal, so systemctl status shows why. */
static int fail(int error, const char *detail) {
        log_struct(LOG_ERR, error, MSGID_HEARTBEAT_FAILED,
                   KV("MUSTER_EVENT", EVENT_HEARTBEAT_FAILED), "Registration failed: %s.", detail);
        (void) sd_notifyf(false, "STATUS=Failed: %s", detail);
        return error < 0 ? error : -EIO;
}

/* Wait for the confirm of delivery tag 1; a basic.return before it means
 * no collector queue is bound. */
static int wait_confirm(AmqpSession *s, uint64_t deadline, char *err, size_t n) {
        bool returned = false;

        for (;;) {
                uint64_t now = now_usec(CLOCK_MONOTONIC);
                if (now >= deadline) {
                        snprintf(err, n, "the broker did not confirm the registration in time");
                        return -ETIMEDOUT;
                }
                struct timeval tv = { .tv_sec = (time_t) ((deadline - now) / USEC_PER_SEC),
                                      .tv_usec = (suseconds_t) ((deadline - now) % USEC_PER_SEC) };
                amqp_frame_t frame;
                int st = amqp_simple_wait_frame_noblock(s->conn, &frame, &tv);
                if (st == AMQP_STATUS_TIMEOUT)
                        continue;
                if (st != AMQP_STATUS_OK) {
                        snprintf(err, n, "lost the broker connection: %s", amqp_error_string2(st));
                        return amqp_status_to_errno(st);
                }
                if (frame.frame_type != AMQP_FRAME_METHOD)
                        continue;
                switch (frame.payload.method.id) {
                case AMQP_BASIC_ACK_METHOD:
                        if (returned) {
                                snprintf(err, n, "no collector queue is bound to the registration exchange, "
                                         "the registration was not stored");
                                return -ENOENT;
                        }
                        return 0;
                case AMQP_BASIC_NACK_METHOD:
                        snprintf(err, n, "the broker refused the registration (nack)");
                        return -EIO;
                case AMQP_BASIC_RETURN_METHOD: {
                        amqp_message_t msg;
                        returned = true;
                        if (amqp_read_message(s->conn, frame.channel, &msg, 0).reply_type == AMQP_RESPONSE_NORMAL)
                                amqp_destroy_message(&msg);
                        break;
                }
                case AMQP_CHANNEL_CLOSE_METHOD:
                case AMQP_CONNECTION_CLOSE_METHOD:
                        snprintf(err, n, "the broker closed the connection");
                        return -ECONNRESET;
                }
        }
}

/* Pushed checks ([heartbeat] checks): run in parallel through the NRPE
 * runner, as the responder runs them (same command set, same user), each
 * with a timeout below the interval, so that the registration still goes
 * out on time. */
typedef struct PushedChecks PushedChecks;

typedef struct PushedCheck {
        PushedChecks *all;
        const char *name;
        NrpeRun *run;
        json_t *result;
} PushedCheck;

struct PushedChecks {
        sd_event *event;
        PushedCheck *checks;
        size_t n, n_running;
};

static void nrpe_config_freep(NrpeConfig **c) {
        nrpe_config_free(*c);
}

static void pushed_check_set(PushedCheck *c, int state, const char *output, const char *perfdata,
                             uint64_t duration_usec) {
        json_decref(c->result);
        c->result = check_result_build(state, output, perfdata, duration_usec, (int64_t) time(NULL));
}

static void pushed_check_done(NrpeRun *run, int exitcode, const char *output, size_t size, uint64_t duration_usec,
                              void *userdata) {
        PushedCheck *c = userdata;
        PushedChecks *all = c->all;
        NrpeOutput o = {};

        c->run = NULL; /* freed by the library */
        if (nrpe_parse_output(output ?: "", output ? size : 0, &o) >= 0) {
                pushed_check_set(c, nagios_state_from_exit(exitcode), o.output, o.perfdata, duration_usec);
                nrpe_output_done(&o);
        } else
                pushed_check_set(c, 3, "UNKNOWN: out of memory", "", duration_usec);
        all->n_running--;
        if (all->n_running == 0)
                (void) sd_event_exit(all->event, 0);
}

static uint64_t pushed_check_timeout(const MusterConfig *c) {
        uint64_t t = c->heartbeat_check_timeout_usec;
        if (t == 0)
                t = MIN(c->nrpe_timeout_usec, c->heartbeat_interval_usec / 2);
        /* Below the interval, and leave the broker its client timeout. */
        if (t >= c->heartbeat_interval_usec)
                t = c->heartbeat_interval_usec / 2;
        return MAX(t, USEC_PER_SEC);
}

static int on_checks_deadline(sd_event_source *s, uint64_t usec, void *userdata) {
        return sd_event_exit(userdata, 0);
}

/* Run every configured check; *ret is the registration's "checks" object
 * (NULL when none are configured). A check that cannot run (no such
 * command, no user to run it as) is UNKNOWN with the reason. */
static int run_pushed_checks(const MusterConfig *c, json_t **ret) {
        _cleanup_(nrpe_config_freep) NrpeConfig *nrpe = NULL;
        _cleanup_(nrpe_user_freep) NrpeUser *user = NULL;
        _cleanup_json_ json_t *checks = NULL;
        _cleanup_free_ PushedCheck *list = NULL;
        sd_event *e = NULL;
        const char *why = NULL;
        char buf[512];
        int r, user_error;
        uint64_t timeout = pushed_check_timeout(c);
        size_t n = strv_length(c->heartbeat_checks);

        *ret = NULL;
        if (n == 0)
                return 0;
        checks = json_object();
        list = calloc(n, sizeof *list);
        if (!checks || !list)
                return -ENOMEM;

        r = nrpe_config_load(c->nrpe_dir, &nrpe);
        if (r < 0)
                log_warning_errno(r, "Failed to load NRPE commands from %s: %m, the checks are UNKNOWN.", c->nrpe_dir);
        user_error = nrpe_user_resolve(c->nrpe_user, c->nrpe_runner, &user, &why);
        if (user_error < 0)
                log_warning_errno(user_error, "Cannot run checks as user %s ([nrpe] user): %s", c->nrpe_user ?: "(own)",
                                  why ?: strerror(-user_error));

        /* The runner reaps its children through the event loop. */
        sigset_t ss;
        sigemptyset(&ss);
        sigaddset(&ss, SIGCHLD);
        if (sigprocmask(SIG_BLOCK, &ss, NULL) < 0)
                return -errno;
        r = sd_event_new(&e);
        if (r < 0)
                return r;
        PushedChecks all = { .event = e, .checks = list, .n = n };
        for (size_t i = 0; i < n; i++) {
                PushedCheck *pc = &list[i];
                pc->all = &all;
                const char *line = nrpe ? nrpe_config_find(nrpe, c->heartbeat_checks[i]) : NULL;
                _cleanup_free_ char *expanded = NULL;
                const char *error = NULL;

                pc->name = c->heartbeat_checks[i];
                if (!line) {
                        snprintf(buf, sizeof buf, "UNKNOWN: no such NRPE command %s in %s", pc->name, c->nrpe_dir);
                        pushed_check_set(pc, 3, buf, "", 0);
                        continue;
                }
                if (user_error < 0) {
                        snprintf(buf, sizeof buf, "UNKNOWN: cannot run the check as user %s: %s",
                                 c->nrpe_user ?: "(own)", why ?: strerror(-user_error));
                        pushed_check_set(pc, 3, buf, "", 0);
                        continue;
                }
                r = nrpe_expand_arguments(line, NULL, 0, false, c->nrpe_nasty_metachars, &expanded, &error);
                if (r >= 0)
                        r = nrpe_run_start_as(e, expanded, user, timeout, c->nrpe_output_max, pushed_check_done, pc,
                                              &pc->run);
                if (r < 0) {
                        snprintf(buf, sizeof buf, "UNKNOWN: cannot start the check: %s", error ?: strerror(-r));
                        pushed_check_set(pc, 3, buf, "", 0);
                        continue;
                }
                all.n_running++;
        }
        if (all.n_running > 0) {
                /* The runner kills a check at its timeout; this only guards
                 * against a loop that would wait for ever. */
                (void) sd_event_add_time_relative(e, NULL, CLOCK_MONOTONIC, timeout + 2 * USEC_PER_SEC, 0,
                                                  on_checks_deadline, e);
                r = sd_event_loop(e);
                if (r < 0)
                        log_warning_errno(r, "Running the checks failed: %m, ignoring.");
        }
        for (size_t i = 0; i < n; i++) {
                PushedCheck *pc = &list[i];
                if (pc->run) {
                        nrpe_run_abort(TAKE_PTR(pc->run));
                        snprintf(buf, sizeof buf, "UNKNOWN: command timed out after %" PRIu64 " s",
                                 timeout / USEC_PER_SEC);
                        pushed_check_set(pc, 3, buf, "", timeout);
                }
                if (!pc->result || json_object_set_new(checks, pc->name, TAKE_PTR(pc->result)) < 0) {
                        for (size_t k = i + 1; k < n; k++)
                                json_decref(list[k].result);
                        sd_event_unref(e);
                        return -ENOMEM;
                }
        }
        sd_event_unref(e);
        *ret = TAKE_PTR(checks);
        return 0;
}

static int read_boot_id(char ret[static 64]) {
        _cleanup_free_ char *s = NULL;
        int r = read_one_line_file("/proc/sys/kernel/random/boot_id", &s);
        if (r < 0)
                return r;
        snprintf(ret, 64, "%s", s);
        return 0;
}

static int run(int argc, char *argv[]) {
        _cleanup_(config_done) MusterConfig config = {};
        _cleanup_(credentials_done) Credentials creds = {};
        _cleanup_(amqp_session_done) AmqpSession session = {};
        _cleanup_json_ json_t *facts = NULL, *reg = NULL, *checks = NULL;
        _cleanup_strv_free_ char **classes = NULL;
        _cleanup_free_ char *body = NULL, *exchange = NULL, *key = NULL;
        const char *scheme = NULL, *key_id = NULL;
        char sig[SIGNATURE_HEX_MAX], boot_id[64] = "", err[MAX(AMQP_ERROR_MAX + 128, CREDENTIALS_ERROR_MAX + 16)];
        struct timespec up;
        uint64_t deadline;
        size_t size;
        int r;

        log_setup("muster-heartbeat", true);
        r = parse_argv(argc, argv);
        if (r <= 0)
                return r;

        r = config_load_all(arg_config, CONFIG_LOAD_LOG, &config, NULL, 0);
        if (r < 0)
                return fail(r, "the configuration is invalid");

        char error[CREDENTIALS_ERROR_MAX];
        _cleanup_strv_free_ char **warnings = NULL;
        r = credentials_load(&config, CREDENTIALS_SIGN, &creds, &warnings, error, sizeof error);
        log_warnings(warnings);
        if (r < 0) {
                snprintf(err, sizeof err, "cannot %s", error);
                return fail(r, err);
        }
        r = facts_load_dir(config.facts_dir, &facts);
        if (r < 0) {
                snprintf(err, sizeof err, "cannot read the facts directory %s: %s", config.facts_dir, strerror(-r));
                return fail(r, err);
        }
        r = classes_load(config.classes_file, &classes);
        if (r < 0) {
                snprintf(err, sizeof err, "cannot read the classes file %s: %s", config.classes_file, strerror(-r));
                return fail(r, err);
        }
        if (!arg_deregister) {
                r = run_pushed_checks(&config, &checks);
                if (r < 0)
                        return log_oom();
        }
        (void) read_boot_id(boot_id);
        clock_gettime(CLOCK_BOOTTIME, &up);

        reg = registration_build(config.identity, config.collective, (int64_t) time(NULL),
                                 (int64_t) (config.heartbeat_interval_usec / USEC_PER_SEC), facts, classes,
                                 config.agents, boot_id[0] ? boot_id : NULL, (int64_t) up.tv_sec, PACKAGE_VERSION);
        if (reg && arg_deregister && json_object_set_new(reg, "deregister", json_true()) < 0)
                return log_oom();
        if (reg && checks && json_object_set(reg, "checks", checks) < 0)
                return log_oom();
        if (!reg || message_dump(reg, &body, &size) < 0 ||
            signer_sign(&creds.signer, body, size, sig, &scheme, &key_id) < 0)
                return log_oom();
        if (size > config.max_message_size) {
                snprintf(err, sizeof err, "the registration is %zu bytes, more than max_message_size", size);
                return fail(-EMSGSIZE, err);
        }

        deadline = now_usec(CLOCK_MONOTONIC) + config.client_timeout_usec;
        r = amqp_session_connect(&session, &config);
        if (r < 0) {
                snprintf(err, sizeof err, "cannot connect to a broker: %s", session.error);
                return fail(r, err);
        }
        r = amqp_session_declare_exchanges(&session, &config);
        if (r >= 0) {
                amqp_confirm_select(session.conn, AMQP_CHANNEL);
                r = amqp_reply_to_errno(amqp_get_rpc_reply(session.conn), "confirm select", session.error,
                                        sizeof session.error);
        }
        if (r >= 0 && (config_exchange(&config, "registration", &exchange) < 0 ||
                       !(key = routing_key_registration(config.collective, config.identity))))
                r = -ENOMEM;
        if (r >= 0)
                r = amqp_session_publish(&session, exchange, key, body, size,
                                         &(PublishOptions) { .signature = sig, .scheme = scheme, .key_id = key_id,
                                                             .mandatory = true, .persistent = true });
        if (r < 0)
                return fail(r, session.error);
        r = wait_confirm(&session, deadline, err, sizeof err);
        if (r < 0)
                return fail(r, err);

        log_struct(LOG_INFO, 0, MSGID_HEARTBEAT_SENT,
                   KV("MUSTER_EVENT", EVENT_HEARTBEAT_SENT,
                      "MUSTER_IDENTITY", config.identity,
                      "MUSTER_COLLECTIVE", config.collective,
                      "MUSTER_BROKER", session.url,
                      "MUSTER_DEREGISTER", arg_deregister ? "1" : NULL),
                   "%s %s in collective %s through %s.", arg_deregister ? "Deregistered" : "Registered",
                   config.identity, config.collective, session.url);
        return 0;
}

int main(int argc, char *argv[]) {
        int r = run(argc, argv);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
