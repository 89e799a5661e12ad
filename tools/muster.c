/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* muster: ask the fleet (ping, rpc, nrpe), list registered nodes. */

#include <inttypes.h>
#include <time.h>

#include "cli.h"
#include "client.h"
#include "control.h"
#include "log.h"
#include "message.h"
#include "nagios.h"
#include "nrpe.h"
#include "registry.h"
#include "util.h"

static CliOptions arg_opts = {};
static bool arg_json = false;
static int arg_progress = -1;   /* -1: when stderr is a terminal and the count is known */
static bool arg_local = false;
static bool arg_forget = false;
static int arg_verbose = 0;

static void help(void) {
        printf("Usage: muster COMMAND [OPTIONS]\n\n"
               "Ask the fleet through the broker, or read the registry.\n\n"
               "Commands:\n"
               "  ping                        Discover the nodes and show their round trip times\n"
               "  rpc AGENT ACTION [K=V ...]  Call an agent action on every matching node\n"
               "  nrpe COMMAND [ARG ...]      Run an NRPE command on every matching node\n"
               "  nodes                       List registered nodes, their age and state\n"
               "  nodes --forget ID ...       Retire nodes for good through the collector\n"
               "  inventory IDENTITY          Show a node's last registration\n\n"
               "Options:\n"
               "  -j, --json                  Print JSON\n"
               "      --local                 rpc/nrpe/ping on this node through the responder's\n"
               "                              control socket, no broker involved\n"
               "      --progress, --no-progress  Show a progress bar on stderr\n"
               "      --forget                With nodes: remove the named nodes' registrations\n"
               "  -v, --verbose               Show more\n"
               "  -h, --help                  Show this help\n"
               "      --version               Show the version\n\n"
               "%s\n"
               "See muster(1).\n",
               CLI_FILTER_HELP);
}

/* Progress bar on stderr when the expected count is known. */
static void on_reply_progress(const ClientReply *reply, size_t n, size_t expected, void *userdata) {
        if (expected == 0 || arg_progress == 0)
                return;
        size_t width = 50, done = MIN(n * width / expected, width);
        fprintf(stderr, "\r * [ ");
        for (size_t i = 0; i < width; i++)
                fputc(i < done ? '=' : i == done ? '>' : ' ', stderr);
        fprintf(stderr, " ] %zu / %zu", n, expected);
        fflush(stderr);
}

static void progress_end(void) {
        if (arg_progress > 0)
                fprintf(stderr, "\n\n");
}

static int print_summary(const ClientResult *res, size_t expected) {
        printf("\nFinished processing %zu / %zu hosts in %.2f ms\n", res->n_replies, MAX(expected, res->n_replies),
               (double) res->total_usec / 1000.0);
        if (strv_length(res->missing) > 0) {
                printf("\nNo response from:\n\n");
                for (char **m = res->missing; *m; m++)
                        printf("   %s%s\n", *m, strv_contains(res->unreachable, *m) ? " (no queue on the broker)" : "");
        }
        return 0;
}

static json_t *result_json(const ClientResult *res) {
        json_t *replies = json_array(), *missing = json_array();
        if (!replies || !missing) {
                json_decref(replies);
                json_decref(missing);
                return NULL;
        }
        for (size_t i = 0; i < res->n_replies; i++) {
                const ClientReply *r = &res->replies[i];
                json_array_append_new(replies, json_pack("{s:s, s:i, s:s, s:O, s:f}",
                                                         "sender", r->identity,
                                                         "statuscode", r->statuscode,
                                                         "statusmsg", r->statusmsg,
                                                         "data", r->data ?: json_null(),
                                                         "rtt_ms", (double) r->rtt_usec / 1000.0));
        }
        for (char **m = res->missing; m && *m; m++)
                json_array_append_new(missing, json_string(*m));
        return json_pack("{s:o, s:o, s:{s:I, s:I, s:f, s:f}}",
                         "replies", replies,
                         "no_response", missing,
                         "stats",
                         "responses", (json_int_t) res->n_replies,
                         "expected", (json_int_t) MAX(strv_length(res->expected), res->n_replies),
                         "discovery_ms", (double) res->discovery_usec / 1000.0,
                         "total_ms", (double) res->total_usec / 1000.0);
}

static int print_json(json_t *j) {
        if (!j)
                return log_oom();
        json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
        fputc('\n', stdout);
        json_decref(j);
        return 0;
}

static int cmp_reply(const void *a, const void *b) {
        return strcmp(((const ClientReply *) a)->identity, ((const ClientReply *) b)->identity);
}

static int call(MusterConfig *config, ClientRequest *req, ClientResult *ret) {
        Client client = {};
        int r;

        uint64_t start = now_usec(CLOCK_MONOTONIC);
        r = client_open(&client, config, start + config->client_timeout_usec);
        if (r < 0) {
                log_error("%s", client.error);
                client_close(&client);
                return r;
        }
        if (arg_progress < 0)
                arg_progress = !arg_json && isatty(STDERR_FILENO) && req->method == DISCOVERY_REGISTRY;
        req->on_reply = on_reply_progress;
        r = client_call(&client, req, ret);
        if (r < 0)
                log_error("%s", client.error[0] ? client.error : strerror(-r));
        client_close(&client);
        if (r >= 0) {
                progress_end();
                if (ret->n_replies > 1)
                        qsort(ret->replies, ret->n_replies, sizeof *ret->replies, cmp_reply);
        }
        return r;
}

static int exit_status(const ClientResult *res) {
        if (res->n_replies == 0 || strv_length(res->missing) > 0)
                return 1;
        for (size_t i = 0; i < res->n_replies; i++)
                if (res->replies[i].statuscode != 0)
                        return 1;
        return 0;
}

/* --local: one request to this node's responder over its control socket. */
static int call_local(MusterConfig *config, const char *agent, const char *action, json_t *data) {
        char requestid[33];
        _cleanup_json_ json_t *answer = NULL, *msg = NULL;
        int r;

        r = random_hex_id(requestid);
        if (r < 0)
                return log_error_errno(r, "Failed to generate a request id: %m");
        msg = json_pack("{s:s, s:o}", "verb", "request", "request",
                        request_build(requestid, config->identity, "local", config->collective, agent, action,
                                      (int64_t) time(NULL), 60, NULL, data));
        if (!msg)
                return log_oom();
        r = control_call(config->control_socket, msg, config->client_timeout_usec, &answer);
        if (r < 0)
                return log_error_errno(r, "Failed to talk to the responder at %s: %m", config->control_socket);
        json_t *err = json_object_get(answer, "error");
        if (err) {
                log_error("The responder refused the request: %s", json_string_value(err));
                return 1;
        }
        if (arg_json)
                return print_json(json_incref(answer)), 0;
        json_t *d = json_object_get(answer, "data");
        printf("%s\n", json_string_value(json_object_get(answer, "senderid")) ?: "?");
        printf("   status: %s\n", json_string_value(json_object_get(answer, "statusmsg")) ?: "?");
        const char *key;
        json_t *v;
        json_object_foreach(d, key, v) {
                _cleanup_free_ char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
                printf("   %s: %s\n", key, json_is_string(v) ? json_string_value(v) : strna(s));
        }
        return json_integer_value(json_object_get(answer, "statuscode")) == 0 ? 0 : 1;
}

static int verb_ping(MusterConfig *config, int argc, char *argv[]) {
        ClientResult res = {};
        ClientRequest req = { .filter = arg_opts.filter, .discovery_only = true };
        int r;

        if (argc > 0)
                return log_error_errno(-EINVAL, "ping takes no arguments.");
        if (arg_local)
                return call_local(config, "discovery", "ping", NULL);
        cli_request_defaults(config, &req);
        r = call(config, &req, &res);
        if (r < 0)
                return r;

        if (arg_json)
                r = print_json(result_json(&res));
        else {
                /* Sorted by identity, like every listing here. */
                double min = 0, max = 0, sum = 0;
                ClientReply *sorted = res.replies;
                for (size_t i = 0; i < res.n_replies; i++) {
                        double ms = (double) sorted[i].rtt_usec / 1000.0;
                        printf("%-40s time=%.2f ms\n", sorted[i].identity, ms);
                        min = i == 0 ? ms : MIN(min, ms);
                        max = MAX(max, ms);
                        sum += ms;
                }
                printf("\n\n---- ping statistics ----\n");
                if (res.n_replies > 0)
                        printf("%zu replies max: %.2f min: %.2f avg: %.2f\n", res.n_replies, max, min,
                               sum / (double) res.n_replies);
                else
                        printf("No responses received\n");
                /* A broadcast ping waits out the discovery timeout; the round
                 * trip is the time to the last answer. */
                res.total_usec = 0;
                for (size_t i = 0; i < res.n_replies; i++)
                        res.total_usec = MAX(res.total_usec, sorted[i].rtt_usec);
                print_summary(&res, strv_length(res.expected));
        }
        int ret = r < 0 ? r : res.n_replies == 0 || strv_length(res.missing) > 0 ? 1 : 0;
        client_result_done(&res);
        return ret;
}

static void print_reply_generic(const ClientReply *r) {
        const char *key;
        json_t *v;

        printf("%-40s %s\n", r->identity, r->statuscode == 0 ? "" : r->statusmsg);
        if (!r->data)
                return;
        json_object_foreach(r->data, key, v) {
                _cleanup_free_ char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
                printf("   %20s: %s\n", key, json_is_string(v) ? json_string_value(v) : strna(s));
        }
        printf("\n");
}

static int verb_rpc(MusterConfig *config, int argc, char *argv[]) {
        _cleanup_json_ json_t *data = NULL;
        ClientResult res = {};
        int r;

        if (argc < 2)
                return log_error_errno(-EINVAL, "Usage: muster rpc AGENT ACTION [KEY=VALUE ...]");
        if (!name_is_valid(argv[0], 64) || !name_is_valid(argv[1], 64))
                return log_error_errno(-EINVAL, "Agent and action must be names of 1 to 64 characters from [A-Za-z0-9_-].");
        data = json_object();
        if (!data)
                return log_oom();
        for (int i = 2; i < argc; i++) {
                char *eq = strchr(argv[i], '=');
                if (!eq || eq == argv[i])
                        return log_error_errno(-EINVAL, "Arguments must be KEY=VALUE, got \"%s\".", argv[i]);
                _cleanup_free_ char *k = strndup(argv[i], (size_t) (eq - argv[i]));
                if (!k || json_object_set_new(data, k, json_string(eq + 1)) < 0)
                        return log_error_errno(-EINVAL, "Invalid argument \"%s\" (not UTF-8?).", argv[i]);
        }
        if (arg_local)
                return call_local(config, argv[0], argv[1], data);

        ClientRequest req = { .agent = argv[0], .action = argv[1], .data = data, .filter = arg_opts.filter };
        cli_request_defaults(config, &req);
        r = call(config, &req, &res);
        if (r < 0)
                return r;
        if (arg_json)
                r = print_json(result_json(&res));
        else {
                for (size_t i = 0; i < res.n_replies; i++)
                        print_reply_generic(&res.replies[i]);
                print_summary(&res, strv_length(res.expected));
        }
        int ret = r < 0 ? r : exit_status(&res);
        client_result_done(&res);
        return ret;
}

static int verb_nrpe(MusterConfig *config, int argc, char *argv[]) {
        _cleanup_json_ json_t *data = NULL, *args = NULL;
        ClientResult res = {};
        size_t counts[4] = {};
        int r;

        if (argc < 1)
                return log_error_errno(-EINVAL, "Usage: muster nrpe COMMAND [ARG ...]");
        if (!nrpe_command_name_is_valid(argv[0]))
                return log_error_errno(-EINVAL, "Invalid NRPE command name \"%s\".", argv[0]);
        args = json_array();
        for (int i = 1; args && i < argc; i++)
                if (json_array_append_new(args, json_string(argv[i])) < 0)
                        return log_error_errno(-EINVAL, "Invalid argument \"%s\" (not UTF-8?).", argv[i]);
        data = json_pack("{s:s}", "command", argv[0]);
        if (!data || !args)
                return log_oom();
        if (argc > 1)
                json_object_set(data, "args", args);
        if (arg_local)
                return call_local(config, "nrpe", "runcommand", data);

        ClientRequest req = { .agent = "nrpe", .action = "runcommand", .data = data, .filter = arg_opts.filter };
        cli_request_defaults(config, &req);
        r = call(config, &req, &res);
        if (r < 0)
                return r;

        for (size_t i = 0; i < res.n_replies; i++) {
                json_t *ec = res.replies[i].data ? json_object_get(res.replies[i].data, "exitcode") : NULL;
                counts[json_is_integer(ec) ? nagios_state_from_exit((int) json_integer_value(ec)) : 3]++;
        }
        if (arg_json)
                r = print_json(result_json(&res));
        else {
                for (size_t i = 0; i < res.n_replies; i++) {
                        const ClientReply *rep = &res.replies[i];
                        json_t *o = rep->data ? json_object_get(rep->data, "output") : NULL;
                        printf("%40s: %s\n", rep->identity, json_is_string(o) ? json_string_value(o) : rep->statusmsg);
                        if (arg_verbose) {
                                json_t *p = json_object_get(rep->data, "perfdata");
                                if (json_is_string(p) && json_string_length(p) > 0)
                                        printf("%40s  perfdata: %s\n", "", json_string_value(p));
                        }
                }
                printf("\nSummary of Exit Code:\n\n");
                static const int order[] = { 0, 1, 2, 3 };
                for (size_t i = 0; i < 4; i++)
                        printf("%14s : %zu\n", nagios_state_name(order[i]), counts[order[i]]);
                print_summary(&res, strv_length(res.expected));
        }
        int ret = r < 0 ? r : exit_status(&res);
        client_result_done(&res);
        return ret;
}

/* muster nodes --forget ID...: ask the collector to retire nodes for good. */
static int forget_nodes(MusterConfig *config, int argc, char *argv[]) {
        _cleanup_json_ json_t *ids = json_array(), *msg = NULL, *answer = NULL;
        json_t *v;
        size_t i;
        int r, ret = 0;

        if (argc == 0)
                return log_error_errno(-EINVAL, "Usage: muster nodes --forget IDENTITY...");
        for (int k = 0; k < argc; k++) {
                if (!identity_is_valid(argv[k]))
                        return log_error_errno(-EINVAL, "Invalid identity \"%s\".", argv[k]);
                if (!ids || json_array_append_new(ids, json_string(argv[k])) < 0)
                        return log_oom();
        }
        msg = json_pack("{s:s, s:O}", "verb", "forget", "identities", ids);
        if (!msg)
                return log_oom();
        r = control_call(config->collector_control_socket, msg, config->client_timeout_usec, &answer);
        if (r < 0)
                return log_error_errno(r, "Failed to talk to the collector at %s: %m",
                                       config->collector_control_socket);
        json_t *err = json_object_get(answer, "error");
        if (err) {
                log_error("The collector refused: %s", json_string_value(err));
                return 1;
        }
        if (arg_json)
                return print_json(json_incref(answer)), 0;
        json_array_foreach(json_object_get(answer, "forgotten"), i, v)
                printf("%s: forgotten\n", json_string_value(v));
        json_array_foreach(json_object_get(answer, "unknown"), i, v) {
                printf("%s: not known to the collector\n", json_string_value(v));
                ret = 1;
        }
        const char *key;
        json_object_foreach(json_object_get(answer, "failed"), key, v) {
                printf("%s: %s\n", key, json_string_value(v));
                ret = 1;
        }
        return ret;
}

static int verb_nodes(MusterConfig *config, int argc, char *argv[]) {
        RegistryList list = {};
        _cleanup_json_ json_t *arr = NULL;
        int64_t now = (int64_t) time(NULL);
        int64_t grace = (int64_t) (config->stale_grace_usec / USEC_PER_SEC);
        int64_t default_interval = (int64_t) (config->heartbeat_interval_usec / USEC_PER_SEC);
        size_t n_stale = 0, n_shown = 0;
        int r;

        if (arg_forget)
                return forget_nodes(config, argc, argv);
        if (argc > 0)
                return log_error_errno(-EINVAL, "nodes takes no arguments.");
        r = registry_list(config->registry_dir, true, &list);
        if (r < 0)
                return log_error_errno(r, "Failed to read the registry %s: %m", config->registry_dir);

        arr = json_array();
        if (!arr) {
                registry_list_done(&list);
                return log_oom();
        }
        if (!arg_json)
                printf("%-40s %10s  %s\n", "IDENTITY", "AGE", "STATE");
        for (size_t i = 0; i < list.n; i++) {
                RegistryEntry *e = &list.entries[i];
                if (arg_opts.filter && !filter_is_empty(arg_opts.filter)) {
                        NodeInfo n;
                        char **classes = NULL, **agents = NULL;
                        if (!e->registration || registry_entry_node_info(e, &n, &classes, &agents) < 0)
                                continue;
                        bool match = filter_match(arg_opts.filter, &n);
                        strv_free(classes);
                        strv_free(agents);
                        if (!match)
                                continue;
                }
                int64_t interval = e->interval > 0 ? e->interval : default_interval;
                bool stale = registry_entry_is_stale(e, now, interval, grace);
                int64_t age = now - (int64_t) e->mtime.tv_sec;
                n_stale += stale;
                n_shown++;
                if (arg_json)
                        json_array_append_new(arr, json_pack("{s:s, s:I, s:I, s:I, s:s, s:b}",
                                                             "identity", e->identity,
                                                             "last_seen", (json_int_t) e->mtime.tv_sec,
                                                             "age", (json_int_t) age,
                                                             "interval", (json_int_t) interval,
                                                             "state", stale ? "stale" : "current",
                                                             "valid", e->registration != NULL));
                else {
                        char buf[32];
                        printf("%-40s %10s  %s%s\n", e->identity,
                               format_duration(buf, sizeof buf, (uint64_t) MAX(age, 0) * USEC_PER_SEC),
                               stale ? "stale" : "current", e->registration ? "" : " (unreadable registration)");
                }
        }
        if (arg_json)
                print_json(json_incref(arr));
        else
                printf("\n%zu node(s), %zu stale\n", n_shown, n_stale);
        registry_list_done(&list);
        return n_stale > 0 ? 1 : 0;
}

static int verb_inventory(MusterConfig *config, int argc, char *argv[]) {
        RegistryEntry e = {};
        int r;

        if (argc != 1)
                return log_error_errno(-EINVAL, "Usage: muster inventory IDENTITY");
        if (!identity_is_valid(argv[0]))
                return log_error_errno(-EINVAL, "Invalid identity \"%s\".", argv[0]);
        r = registry_read(config->registry_dir, argv[0], &e);
        if (r == -ENOENT)
                return log_error_errno(r, "No registration for %s in %s.", argv[0], config->registry_dir);
        if (r < 0)
                return log_error_errno(r, "Failed to read the registration of %s: %m", argv[0]);
        if (!e.registration) {
                registry_entry_done(&e);
                return log_error_errno(-EBADMSG, "The registration file of %s is not a valid registration.", argv[0]);
        }
        if (arg_json)
                print_json(json_incref(e.root));
        else {
                Registration *reg = e.registration;
                char when[64];
                struct tm tm;
                time_t t = e.mtime.tv_sec;
                strftime(when, sizeof when, "%Y-%m-%d %H:%M:%S %Z", localtime_r(&t, &tm));
                printf("Inventory for %s:\n\n", reg->identity);
                printf("   Collective: %s\n", reg->collective);
                printf("   Last seen:  %s\n", when);
                printf("   Interval:   %" PRId64 " s\n", reg->interval);
                if (reg->version)
                        printf("   Version:    %s\n", reg->version);
                if (reg->uptime)
                        printf("   Uptime:     %" PRId64 " s\n", reg->uptime);
                if (reg->boot_id)
                        printf("   Boot ID:    %s\n", reg->boot_id);
                json_t *v;
                size_t i;
                printf("\n   Agents:\n");
                json_array_foreach(reg->agents, i, v)
                        printf("      %s\n", json_string_value(v));
                printf("\n   Classes:\n");
                json_array_foreach(reg->classes, i, v)
                        printf("      %s\n", json_string_value(v));
                printf("\n   Facts:\n");
                const char *key;
                json_object_foreach(reg->facts, key, v)
                        printf("      %s => %s\n", key, json_string_value(v));
        }
        registry_entry_done(&e);
        return 0;
}

static int run(int argc, char *argv[]) {
        enum { ARG_LOCAL = 0x2000, ARG_PROGRESS, ARG_NO_PROGRESS, ARG_FORGET };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, CLI_ARG_VERSION },
                { "json", no_argument, NULL, 'j' },
                { "verbose", no_argument, NULL, 'v' },
                { "local", no_argument, NULL, ARG_LOCAL },
                { "progress", no_argument, NULL, ARG_PROGRESS },
                { "no-progress", no_argument, NULL, ARG_NO_PROGRESS },
                { "forget", no_argument, NULL, ARG_FORGET },
                { "config", required_argument, NULL, 'c' },
                CLI_FILTER_OPTIONS,
                {}
        };
        static const struct {
                const char *name;
                int (*fn)(MusterConfig *c, int argc, char *argv[]);
        } verbs[] = {
                { "ping", verb_ping },
                { "rpc", verb_rpc },
                { "nrpe", verb_nrpe },
                { "nodes", verb_nodes },
                { "inventory", verb_inventory },
        };
        MusterConfig config;
        int c, r;

        log_setup("muster", false);

        /* Options may come before or after the verb and its arguments. */
        while ((c = getopt_long(argc, argv, "hjvc:" CLI_FILTER_SHORTOPTS, options, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case CLI_ARG_VERSION:
                        printf("muster %s\n", PACKAGE_VERSION);
                        return 0;
                case 'j':
                        arg_json = true;
                        continue;
                case 'v':
                        arg_verbose++;
                        continue;
                case 'c':
                        arg_opts.config_path = optarg;
                        continue;
                case ARG_LOCAL:
                        arg_local = true;
                        continue;
                case ARG_PROGRESS:
                        arg_progress = 1;
                        continue;
                case ARG_NO_PROGRESS:
                        arg_progress = 0;
                        continue;
                case ARG_FORGET:
                        arg_forget = true;
                        continue;
                case '?':
                        return 2;
                }
                r = cli_handle_option(&arg_opts, c, optarg);
                if (r <= 0)
                        return 2;
        }
        if (optind >= argc) {
                help();
                return 2;
        }

        for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
                if (!streq(argv[optind], verbs[i].name))
                        continue;
                r = cli_load_config(&arg_opts, &config);
                if (r < 0)
                        return 1;
                r = verbs[i].fn(&config, argc - optind - 1, argv + optind + 1);
                config_done(&config);
                filter_free(arg_opts.filter);
                fflush(stdout);
                /* -EINVAL: the verb's own arguments were wrong. */
                return r == -EINVAL ? 2 : r < 0 ? 1 : r;
        }
        log_error("Unknown command \"%s\"; see muster --help.", argv[optind]);
        return 2;
}

int main(int argc, char *argv[]) {
        return run(argc, argv);
}
