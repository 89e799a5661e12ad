/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* muster: ask the fleet (ping, rpc, nrpe), list registered nodes. */

#include <inttypes.h>
#include <time.h>

#include "agents/agents.h"
#include "checks.h"
#include "cli.h"
#include "client.h"
#include "control.h"
#include "log.h"
#include "message.h"
#include "nagios.h"
#include "nrpe.h"
#include "registry.h"
#include "util.h"

typedef enum Display {
        DISPLAY_ALL,
        DISPLAY_OK,
        DISPLAY_FAILED,
        DISPLAY_NONE,
} Display;

static CliOptions arg_opts = {};
static bool arg_json = false;
static bool arg_jsonl = false;
static int arg_progress = -1;   /* -1: when stderr is a terminal and the output is text */
static bool arg_local = false;
static bool arg_forget = false;
static bool arg_all = false;
static const char *arg_check = NULL;
static int arg_verbose = 0;
static bool arg_help = false;
static const char *arg_nodes = NULL;
static size_t arg_limit = 0;
static unsigned arg_limit_percent = 0;
static bool arg_limit_seed_set = false;
static uint64_t arg_limit_seed = 0;
static size_t arg_batch = 0;
static unsigned arg_batch_percent = 0;
static uint64_t arg_batch_sleep_usec = USEC_PER_SEC;   /* mco's default */
static Display arg_display = DISPLAY_ALL;

/* What went wrong, for {"error": ...} on stdout with --json. */
static char error_text[1024];
static bool bar_drawn = false;
static bool discovery_shown = false;
static uint64_t discovery_timeout_shown = 0;

#define NO_NODES_TEXT "No request sent, we did not discover any nodes."
#define NO_RESPONSE_SHOWN 200

/* Log an error and keep it for the JSON error object. */
#define fail(r, ...)                                                                      \
        ({                                                                                \
                snprintf(error_text, sizeof error_text, __VA_ARGS__);                     \
                log_error_errno((r), "%s", error_text);                                   \
        })

/* The same for an error of the command line: muster then exits 2, not 1. */
static bool usage_failed = false;
#define usage_fail(...)                                                                   \
        ({                                                                                \
                usage_failed = true;                                                      \
                fail(-EINVAL, __VA_ARGS__);                                               \
        })

#define COMMON_OPTIONS_HELP                                                                                \
        "  -j, --json                  Print JSON\n"                                                       \
        "      --jsonl                 Print one JSON object per line, each answer as it arrives\n"        \
        "      --display MODE          Which answers to print: all (default), ok, failed or none\n"       \
        "      --nodes FILE            Address the identities in FILE (one a line, - for standard\n"      \
        "                              input) directly, without discovery\n"                               \
        "      --limit N|P%            Address only N (or P percent) of the discovered nodes\n"            \
        "      --limit-seed NUMBER     Pick the --limit nodes at random, repeatably for NUMBER\n"          \
        "      --batch N|P%            Address N (or P percent of the) nodes at a time\n"                  \
        "      --batch-sleep DURATION  Pause between batches (default 1s)\n"                               \
        "      --local                 rpc/nrpe/ping on this node through the responder's\n"              \
        "                              control socket, no broker involved\n"                               \
        "      --progress, --no-progress  Show discovery and a progress bar on stderr\n"                  \
        "      --forget                With nodes: retire the named nodes through the collector\n"        \
        "      --all                   With nrpe: run every NRPE command of each node at once\n"          \
        "      --check NAME            With nodes: show each node's pushed result of check NAME\n"        \
        "  -v, --verbose               Show more\n"                                                        \
        "  -c, --config PATH           Configuration file\n"                                               \
        "  -h, --help                  Show this help (muster COMMAND --help: the command's)\n"            \
        "      --version               Show the version\n"

static void help(void) {
        printf("Usage: muster COMMAND [OPTIONS]\n\n"
               "Ask the fleet through the broker, or read the registry.\n\n"
               "Commands:\n"
               "  ping                        Discover the nodes and show their round trip times\n"
               "  rpc AGENT ACTION [K=V ...]  Call an agent action on every matching node\n"
               "  nrpe COMMAND [ARG ...]      Run an NRPE command on every matching node\n"
               "  nrpe --all                  Run every NRPE command on every matching node: a table\n"
               "  nodes                       List registered nodes, their age and state\n"
               "  nodes --forget ID ...       Retire nodes for good through the collector\n"
               "  nodes --check NAME          Show each node's stored result of a pushed check\n"
               "  inventory IDENTITY          Show a node's last registration\n"
               "  help [COMMAND]              Show this help, or a command's\n\n"
               "Options:\n"
               "%s\n"
               "%s\n"
               "See muster(1).\n",
               COMMON_OPTIONS_HELP, CLI_FILTER_HELP);
}

static const struct {
        const char *name;
        const char *usage;
        const char *text;
        bool broker;   /* takes the request options */
} verb_help[] = {
        { "ping", "muster ping [OPTIONS]",
          "Discover the nodes that match the filters and show each one's round trip time.\n"
          "Named nodes (-I NAME, no /regex/) and --nodes are pinged directly, and the run\n"
          "ends when all have answered; a broadcast ping lasts the discovery timeout.\n", true },
        { "rpc", "muster rpc AGENT ACTION [KEY=VALUE ...] [OPTIONS]",
          "Call ACTION of AGENT on every matching node that serves AGENT, with the\n"
          "arguments as the request's data. The responder's agents and actions:\n"
          "  discovery ping\n"
          "  rpcutil inventory | agent_inventory | daemon_stats | get_fact fact=NAME\n"
          "  nrpe runcommand command=NAME | runallcommands\n", true },
        { "nrpe", "muster nrpe COMMAND [ARG ...] [OPTIONS]\n       muster nrpe --all [OPTIONS]",
          "Run the NRPE command COMMAND on every matching node that serves nrpe and show\n"
          "each node's first output line and a count per exit status. ARGs fill $ARG1$...\n"
          "With --all, each node runs every command it defines (nrpe runallcommands, in\n"
          "parallel, with runcommand's limits and timeout) and answers them all at once:\n"
          "a table of nodes and commands with their states, then the output of those not OK\n"
          "(of all with -v); --json gives every result.\n", true },
        { "nodes", "muster nodes [OPTIONS]",
          "List the nodes in the registration directory with the age of their last\n"
          "registration and their state (current or stale). Filters select from the\n"
          "registrations. With --check NAME, also each node's stored result of the pushed\n"
          "check NAME ([heartbeat] checks): its state (STALE when the node is) and output.\n"
          "Options: -j, --json, --check, -c, --config, --registry-dir, the filters.\n", false },
        { "inventory", "muster inventory IDENTITY [OPTIONS]",
          "Show the last registration of one node: collective, time, interval, version,\n"
          "uptime, boot ID, agents, classes, facts and the results of its pushed checks.\n"
          "Options: -j, --json, -c, --config,\n"
          "--registry-dir.\n", false },
        { "help", "muster help [COMMAND]", "Show the help, or a command's.\n", false },
};

static int help_verb(const char *name) {
        for (size_t i = 0; i < ELEMENTSOF(verb_help); i++) {
                if (!streq(verb_help[i].name, name))
                        continue;
                printf("Usage: %s\n\n%s\n", verb_help[i].usage, verb_help[i].text);
                if (verb_help[i].broker)
                        printf("Options:\n%s\n%s\n", COMMON_OPTIONS_HELP, CLI_FILTER_HELP);
                printf("See muster(1).\n");
                return 0;
        }
        fail(-EINVAL, "Unknown command \"%s\"; the commands are ping, rpc, nrpe, nodes, inventory and help.", name);
        return 2;
}

static void print_reply_jsonl(const ClientReply *r) {
        json_t *j = json_pack("{s:s, s:s, s:i, s:s, s:O, s:f}",
                              "type", "reply",
                              "sender", r->identity,
                              "statuscode", r->statuscode,
                              "statusmsg", r->statusmsg,
                              "data", r->data ?: json_null(),
                              "rtt_ms", (double) r->rtt_usec / 1000.0);
        if (!j)
                return;
        json_dumpf(j, stdout, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(15));
        fputc('\n', stdout);
        fflush(stdout);
        json_decref(j);
}

static void on_discovery(size_t n, uint64_t timeout_usec, bool done, void *userdata);

/* Each answer as it arrives: a JSON line, and a progress bar on stderr when
 * the expected count is known. */
static void on_reply_progress(const ClientReply *reply, size_t n, size_t expected, void *userdata) {
        if (arg_jsonl)
                print_reply_jsonl(reply);
        if (arg_progress <= 0)
                return;
        if (expected == 0) {
                /* a broadcast ping: it is the discovery */
                if (discovery_shown)
                        on_discovery(n, discovery_timeout_shown, false, userdata);
                return;
        }
        size_t width = 50, done = MIN(n * width / expected, width);
        fprintf(stderr, "\r * [ ");
        for (size_t i = 0; i < width; i++)
                fputc(i < done ? '=' : i == done ? '>' : ' ', stderr);
        fprintf(stderr, " ] %zu / %zu", n, expected);
        fflush(stderr);
        bar_drawn = true;
}

/* Broadcast discovery waits out its timeout: say so, and count who answered. */
static void on_discovery(size_t n, uint64_t timeout_usec, bool done, void *userdata) {
        char buf[32];

        if (arg_progress <= 0)
                return;
        fprintf(stderr, "\rDiscovering hosts using the broadcast method for %s .... %zu",
                format_duration(buf, sizeof buf, timeout_usec), n);
        if (done)
                fputc('\n', stderr);
        fflush(stderr);
        discovery_shown = !done;
        discovery_timeout_shown = timeout_usec;
}

static void progress_end(void) {
        if (bar_drawn)
                fprintf(stderr, "\n\n");
        bar_drawn = false;
}

/* Without a configuration file every path is a default: say so beside an
 * error about one of them. */
static const char *config_hint(void) {
        static char buf[sizeof(MUSTER_CONFIG_FILE) + 64];

        if (arg_opts.config_path || access(MUSTER_CONFIG_FILE, F_OK) >= 0 || errno != ENOENT)
                return "";
        snprintf(buf, sizeof buf, " (no configuration: %s does not exist)", MUSTER_CONFIG_FILE);
        return buf;
}

static const char *missing_reason(const ClientResult *res, const char *id) {
        return strv_contains(res->unreachable, id) ? "no queue on the broker" :
               res->timed_out ? "no reply within the timeout" : "no reply";
}

static bool request_sent(const ClientResult *res) {
        return res->n_batches > 0;
}

static int print_summary(const ClientResult *res, size_t expected, char **unknown) {
        if (!request_sent(res)) {
                printf("\n%s\n", NO_NODES_TEXT);
                for (char **u = unknown; u && *u; u++)
                        printf("No node serves the agent \"%s\".\n", *u);
                return 0;
        }
        printf("\nFinished processing %zu / %zu hosts in %.2f ms\n", res->n_replies, MAX(expected, res->n_replies),
               (double) res->total_usec / 1000.0);
        size_t n_missing = strv_length(res->missing);
        if (n_missing > 0) {
                size_t shown = arg_verbose ? n_missing : MIN(n_missing, (size_t) NO_RESPONSE_SHOWN);
                printf("\nNo response from:\n\n");
                for (size_t i = 0; i < shown; i++)
                        printf("   %s%s\n", res->missing[i],
                               strv_contains(res->unreachable, res->missing[i]) ? " (no queue on the broker)" : "");
                if (shown < n_missing)
                        printf("   ... and %zu more (all of them with -v)\n", n_missing - shown);
        }
        return 0;
}

static json_t *result_json(const ClientResult *res, char **unknown) {
        json_t *replies = json_array(), *missing = json_array(), *reasons = json_object(), *unk = json_array();
        if (!replies || !missing || !reasons || !unk) {
                json_decref(replies);
                json_decref(missing);
                json_decref(reasons);
                json_decref(unk);
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
        for (char **m = res->missing; m && *m; m++) {
                json_array_append_new(missing, json_string(*m));
                json_object_set_new(reasons, *m, json_string(missing_reason(res, *m)));
        }
        for (char **u = unknown; u && *u; u++)
                json_array_append_new(unk, json_string(*u));
        json_t *j = json_pack("{s:o, s:o, s:o, s:b, s:{s:I, s:I, s:I, s:I, s:f, s:f, s:f}}",
                              "replies", replies,
                              "no_response", missing,
                              "no_response_reasons", reasons,
                              "request_sent", request_sent(res),
                              "stats",
                              "responses", (json_int_t) res->n_replies,
                              "expected", (json_int_t) MAX(strv_length(res->expected), res->n_replies),
                              "discovered", (json_int_t) res->n_discovered,
                              "batches", (json_int_t) res->n_batches,
                              "discovery_ms", (double) res->discovery_usec / 1000.0,
                              "request_ms", (double) res->total_usec / 1000.0,
                              "total_ms", (double) res->run_usec / 1000.0);
        if (!j) {
                json_decref(unk);
                return NULL;
        }
        if (!request_sent(res)) {
                json_object_set_new(j, "message", json_string(NO_NODES_TEXT));
                json_object_set_new(j, "unknown_agents", unk);
        } else
                json_decref(unk);
        return j;
}

static int print_json(json_t *j) {
        if (!j)
                return log_oom();
        json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(15));
        fputc('\n', stdout);
        json_decref(j);
        return 0;
}

/* --jsonl: who did not answer, then the statistics, one line each. */
static int print_jsonl_end(const ClientResult *res, char **unknown) {
        for (char **m = res->missing; m && *m; m++) {
                json_t *j = json_pack("{s:s, s:s, s:s}", "type", "no_response", "sender", *m, "reason",
                                      missing_reason(res, *m));
                if (!j)
                        return log_oom();
                json_dumpf(j, stdout, JSON_COMPACT | JSON_SORT_KEYS);
                fputc('\n', stdout);
                json_decref(j);
        }
        json_t *all = result_json(res, unknown);
        if (!all)
                return log_oom();
        json_t *j = json_pack("{s:s, s:O}", "type", "stats", "stats", json_object_get(all, "stats"));
        if (j) {
                json_object_set(j, "request_sent", json_object_get(all, "request_sent"));
                if (json_object_get(all, "message"))
                        json_object_set(j, "message", json_object_get(all, "message"));
                if (json_object_get(all, "unknown_agents"))
                        json_object_set(j, "unknown_agents", json_object_get(all, "unknown_agents"));
                json_dumpf(j, stdout, JSON_COMPACT | JSON_SORT_KEYS | JSON_REAL_PRECISION(15));
                fputc('\n', stdout);
        }
        json_decref(j);
        json_decref(all);
        return j ? 0 : log_oom();
}

/* The output of ping, rpc and nrpe after the per-node lines. */
static int print_result(const ClientResult *res, char **unknown) {
        if (arg_jsonl)
                return print_jsonl_end(res, unknown);
        if (arg_json)
                return print_json(result_json(res, unknown));
        return print_summary(res, strv_length(res->expected), unknown);
}

static bool display_reply(bool ok) {
        return arg_display == DISPLAY_ALL || (arg_display == DISPLAY_OK && ok) ||
               (arg_display == DISPLAY_FAILED && !ok);
}

static int cmp_reply(const void *a, const void *b) {
        return strcmp(((const ClientReply *) a)->identity, ((const ClientReply *) b)->identity);
}

/* --nodes FILE: one identity a line; blank lines and # comments skipped. */
static int read_nodes_file(const char *path, char ***ret) {
        _cleanup_strv_free_ char **ids = NULL;
        _cleanup_free_ char *line = NULL;
        size_t alloc = 0, lineno = 0;
        FILE *f;

        f = streq(path, "-") ? stdin : fopen(path, "re");
        if (!f) {
                int r = -errno;
                return fail(r, "Failed to open the node list %s: %s", path, strerror(-r));
        }
        while (getline(&line, &alloc, f) >= 0) {
                char *l = strstrip(line);
                lineno++;
                if (l[0] == '\0' || l[0] == '#')
                        continue;
                if (!identity_is_valid(l)) {
                        if (f != stdin)
                                fclose(f);
                        return usage_fail( "%s:%zu: \"%s\" is not a valid identity.", streq(path, "-") ? "stdin" : path,
                                    lineno, l);
                }
                if (!strv_contains(ids, l) && strv_extend(&ids, l) < 0) {
                        if (f != stdin)
                                fclose(f);
                        return log_oom();
                }
        }
        if (f != stdin)
                fclose(f);
        *ret = TAKE_PTR(ids);
        return 0;
}

/* The identities of --nodes, narrowed by -I (names or /regex/); facts,
 * classes and agents are the nodes' own to check. */
static int nodes_targets(char ***ret) {
        _cleanup_strv_free_ char **ids = NULL, **keep = NULL;
        int r;

        r = read_nodes_file(arg_nodes, &ids);
        if (r < 0)
                return r;
        if (!arg_opts.filter || strv_length(arg_opts.filter->identities) == 0) {
                *ret = TAKE_PTR(ids);
                return 0;
        }
        Filter only = { .identities = arg_opts.filter->identities };
        for (char **i = ids; i && *i; i++) {
                NodeInfo n = { .identity = *i };
                if (filter_match(&only, &n) && strv_extend(&keep, *i) < 0)
                        return log_oom();
        }
        *ret = TAKE_PTR(keep);
        return 0;
}

/* After an empty discovery: which of the agents asked for no node serves. */
static char **unknown_agents(const MusterConfig *config, const ClientRequest *req) {
        _cleanup_strv_free_ char **asked = NULL, **known = NULL, **ids = NULL, **unknown = NULL;

        if (req->agent && !req->discovery_only && strv_extend(&asked, req->agent) < 0)
                return NULL;
        for (char **a = req->filter ? req->filter->agents : NULL; a && *a; a++)
                if (!strv_contains(asked, *a) && strv_extend(&asked, *a) < 0)
                        return NULL;
        if (!asked)
                return NULL;
        /* The registry lists every node's agents; otherwise the responder's own
         * agents are all there can be. */
        if (req->method == DISCOVERY_REGISTRY &&
            client_registry_discover(config->registry_dir, config->collective, NULL, &ids, &known) < 0)
                return NULL;
        for (char **a = asked; *a; a++) {
                bool served = req->method == DISCOVERY_REGISTRY ? strv_contains(known, *a) : agent_get(*a) != NULL;
                if (!served && strv_extend(&unknown, *a) < 0)
                        return NULL;
        }
        return TAKE_PTR(unknown);
}

static int call(MusterConfig *config, ClientRequest *req, ClientResult *ret) {
        _cleanup_strv_free_ char **targets = NULL;
        Client client = {};
        int r;

        if (arg_nodes) {
                r = nodes_targets(&targets);
                if (r < 0)
                        return r;
                if (!targets) {
                        /* Nothing to address: the same as an empty discovery. */
                        *ret = (ClientResult) {};
                        return 0;
                }
                req->targets = targets;
        }
        req->direct_identities = true;
        req->limit = arg_limit;
        req->limit_percent = arg_limit_percent;
        req->limit_random = arg_limit_seed_set;
        req->limit_seed = arg_limit_seed;
        req->batch_size = arg_batch;
        req->batch_percent = arg_batch_percent;
        req->batch_sleep_usec = arg_batch_sleep_usec;
        if (arg_progress < 0)
                arg_progress = !arg_json && !arg_jsonl && isatty(STDERR_FILENO);
        req->on_reply = on_reply_progress;
        req->on_discovery = on_discovery;

        uint64_t start = now_usec(CLOCK_MONOTONIC);
        r = client_open(&client, config, start + config->client_timeout_usec);
        log_warnings(client.warnings);
        if (r < 0) {
                /* Without a configuration file every path is a default: say that,
                 * not only which default file was missing. */
                if (!arg_opts.config_path && access(MUSTER_CONFIG_FILE, F_OK) < 0 && errno == ENOENT)
                        fail(r, "No configuration: %s does not exist, and no --config was given (%s).",
                             MUSTER_CONFIG_FILE, client.error);
                else
                        fail(r, "%s", client.error);
                client_close(&client);
                return r;
        }
        r = client_call(&client, req, ret);
        if (r < 0) {
                progress_end();
                fail(r, "%s", client.error[0] ? client.error : strerror(-r));
        }
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

/* A node said "Unknown action": name what the agent has. */
static void hint_unknown_action(const ClientResult *res, const char *agent, const char *action) {
        for (size_t i = 0; i < res->n_replies; i++) {
                if (res->replies[i].statuscode != 2)
                        continue;
                /* The responder's agents and their actions: its own table. */
                _cleanup_free_ char *actions = agent_actions_joined(agent), *names = agent_names_joined(", ", " and ");
                if (streq(res->replies[i].statusmsg, "Unknown agent") || !actions)
                        log_error("The nodes do not know the agent \"%s\"; muster-responder serves %s.", agent,
                                  strna(names));
                else
                        log_error("The agent %s has no action \"%s\"; its actions are: %s.", agent, action, actions);
                return;
        }
}

/* --local: one request to this node's responder over its control socket. */
static int call_local(MusterConfig *config, const char *agent, const char *action, json_t *data) {
        char requestid[33];
        _cleanup_json_ json_t *answer = NULL, *msg = NULL;
        int r;

        r = random_hex_id(requestid);
        if (r < 0)
                return fail(r, "Failed to generate a request id: %s", strerror(-r));
        msg = json_pack("{s:s, s:o}", "verb", "request", "request",
                        request_build(requestid, config->identity, "local", config->collective, agent, action,
                                      (int64_t) time(NULL), 60, NULL, data));
        if (!msg)
                return log_oom();
        r = control_call(config->control_socket, msg, config->client_timeout_usec, &answer);
        if (r < 0)
                return fail(r, "Failed to talk to the responder at %s: %s", config->control_socket, strerror(-r));
        json_t *err = json_object_get(answer, "error");
        if (err) {
                log_error("The responder refused the request: %s", json_string_value(err));
                if (arg_json || arg_jsonl)
                        print_json(json_pack("{s:s}", "error", json_string_value(err) ?: "refused"));
                return 1;
        }
        if (arg_json || arg_jsonl)
                return print_json(json_incref(answer)), json_integer_value(json_object_get(answer, "statuscode")) == 0 ? 0 : 1;
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
        _cleanup_strv_free_ char **unknown = NULL;
        int r;

        if (argc > 0)
                return usage_fail( "ping takes no arguments.");
        if (arg_local)
                return call_local(config, "discovery", "ping", NULL);
        cli_request_defaults(config, &req);
        r = call(config, &req, &res);
        if (r < 0)
                return r;
        if (!request_sent(&res) && strv_length(res.expected) == 0)
                unknown = unknown_agents(config, &req);

        if (arg_json || arg_jsonl)
                r = print_result(&res, unknown);
        else if (!request_sent(&res))
                r = print_summary(&res, 0, unknown);
        else {
                /* Sorted by identity, like every listing here. */
                double min = 0, max = 0, sum = 0;
                ClientReply *sorted = res.replies;
                for (size_t i = 0; i < res.n_replies; i++) {
                        double ms = (double) sorted[i].rtt_usec / 1000.0;
                        if (display_reply(true))
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
                print_summary(&res, strv_length(res.expected), NULL);
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
                _cleanup_free_ char *s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT | JSON_REAL_PRECISION(15));
                printf("   %20s: %s\n", key, json_is_string(v) ? json_string_value(v) : strna(s));
        }
        printf("\n");
}

static int verb_rpc(MusterConfig *config, int argc, char *argv[]) {
        _cleanup_json_ json_t *data = NULL;
        _cleanup_strv_free_ char **unknown = NULL;
        ClientResult res = {};
        int r;

        if (argc < 2)
                return usage_fail( "Usage: muster rpc AGENT ACTION [KEY=VALUE ...]; see muster help rpc.");
        if (!name_is_valid(argv[0], 64) || !name_is_valid(argv[1], 64))
                return usage_fail( "Agent and action must be names of 1 to 64 characters from [A-Za-z0-9_-].");
        data = json_object();
        if (!data)
                return log_oom();
        for (int i = 2; i < argc; i++) {
                char *eq = strchr(argv[i], '=');
                if (!eq || eq == argv[i])
                        return usage_fail( "Arguments must be KEY=VALUE, got \"%s\".", argv[i]);
                _cleanup_free_ char *k = strndup(argv[i], (size_t) (eq - argv[i]));
                if (!k || json_object_set_new(data, k, json_string(eq + 1)) < 0)
                        return usage_fail( "Invalid argument \"%s\" (not UTF-8?).", argv[i]);
        }
        if (arg_local)
                return call_local(config, argv[0], argv[1], data);

        ClientRequest req = { .agent = argv[0], .action = argv[1], .data = data, .filter = arg_opts.filter };
        cli_request_defaults(config, &req);
        r = call(config, &req, &res);
        if (r < 0)
                return r;
        if (!request_sent(&res))
                unknown = unknown_agents(config, &req);
        if (!arg_json && !arg_jsonl)
                for (size_t i = 0; i < res.n_replies; i++)
                        if (display_reply(res.replies[i].statuscode == 0))
                                print_reply_generic(&res.replies[i]);
        r = print_result(&res, unknown);
        hint_unknown_action(&res, argv[0], argv[1]);
        int ret = r < 0 ? r : exit_status(&res);
        client_result_done(&res);
        return ret;
}

static int nrpe_state(const ClientReply *rep) {
        return client_nrpe_state(rep->data);
}

/* The state of command name in a runallcommands reply; -1 when the node
 * did not run it. */
static int nrpe_all_state(const ClientReply *rep, const char *name) {
        json_t *cmds = rep->data ? json_object_get(rep->data, "commands") : NULL;
        json_t *c = json_is_object(cmds) ? json_object_get(cmds, name) : NULL;
        return json_is_object(c) ? client_nrpe_state(c) : -1;
}

/* muster nrpe --all: nrpe runallcommands on every node, shown as a table of
 * nodes × commands (a command a node does not define is "-"; a node that
 * answered no results shows its status message). */
static int verb_nrpe_all(MusterConfig *config, int argc) {
        _cleanup_strv_free_ char **unknown = NULL, **columns = NULL;
        ClientResult res = {};
        size_t counts[4] = {};
        int r;

        if (argc > 0)
                return usage_fail( "Usage: muster nrpe --all (no command); see muster help nrpe.");
        if (arg_local)
                return call_local(config, "nrpe", "runallcommands", NULL);

        ClientRequest req = { .agent = "nrpe", .action = "runallcommands", .filter = arg_opts.filter };
        cli_request_defaults(config, &req);
        r = call(config, &req, &res);
        if (r < 0)
                return r;
        if (!request_sent(&res))
                unknown = unknown_agents(config, &req);

        /* The columns: every command any node ran, in name order. */
        for (size_t i = 0; i < res.n_replies; i++) {
                json_t *cmds = res.replies[i].data ? json_object_get(res.replies[i].data, "commands") : NULL;
                const char *name;
                json_t *v;
                json_object_foreach(json_is_object(cmds) ? cmds : NULL, name, v) {
                        if (!strv_contains(columns, name) && strv_extend(&columns, name) < 0) {
                                client_result_done(&res);
                                return log_oom();
                        }
                        counts[nrpe_all_state(&res.replies[i], name)]++;
                }
        }
        strv_sort(columns);

        if (!arg_json && !arg_jsonl && request_sent(&res)) {
                int idw = 4;
                for (size_t i = 0; i < res.n_replies; i++)
                        idw = MAX(idw, (int) strlen(res.replies[i].identity));
                if (res.n_replies > 0) {
                        printf("%-*s", idw, "NODE");
                        for (char **c = columns; c && *c; c++)
                                printf("  %-*s", c[1] ? MAX(8, (int) strlen(*c)) : 0, *c);
                        printf("\n");
                }
                for (size_t i = 0; i < res.n_replies; i++) {
                        const ClientReply *rep = &res.replies[i];
                        json_t *cmds = rep->data ? json_object_get(rep->data, "commands") : NULL;
                        if (!display_reply(rep->statuscode == 0))
                                continue;
                        printf("%-*s", idw, rep->identity);
                        if (!json_is_object(cmds)) {
                                printf("  %s\n", rep->statusmsg);
                                continue;
                        }
                        for (char **c = columns; c && *c; c++) {
                                int st = nrpe_all_state(rep, *c);
                                /* padded to the column, but for the last one */
                                printf("  %-*s", c[1] ? MAX(8, (int) strlen(*c)) : 0,
                                       st < 0 ? "-" : nagios_state_name(st));
                        }
                        printf("\n");
                }
                /* Why: the first output line of each result not OK (of each with -v). */
                bool first = true;
                for (size_t i = 0; i < res.n_replies; i++) {
                        const ClientReply *rep = &res.replies[i];
                        json_t *cmds = rep->data ? json_object_get(rep->data, "commands") : NULL;
                        if (!json_is_object(cmds) || !display_reply(rep->statuscode == 0))
                                continue;
                        for (char **c = columns; c && *c; c++) {
                                int st = nrpe_all_state(rep, *c);
                                if (st < 0 || (st == 0 && !arg_verbose))
                                        continue;
                                json_t *o = json_object_get(json_object_get(cmds, *c), "output");
                                printf("%s%s %s: %s\n", first ? "\n" : "", rep->identity, *c,
                                       json_is_string(o) ? json_string_value(o) : "");
                                first = false;
                        }
                }
                printf("\nSummary of Exit Code:\n\n");
                for (int i = 0; i < 4; i++)
                        printf("%14s : %zu\n", nagios_state_name(i), counts[i]);
        }
        r = print_result(&res, unknown);
        int ret = r < 0 ? r : exit_status(&res);
        client_result_done(&res);
        return ret;
}

static int verb_nrpe(MusterConfig *config, int argc, char *argv[]) {
        _cleanup_json_ json_t *data = NULL, *args = NULL;
        _cleanup_strv_free_ char **unknown = NULL;
        ClientResult res = {};
        size_t counts[4] = {};
        int r;

        if (arg_all)
                return verb_nrpe_all(config, argc);
        if (argc < 1)
                return usage_fail( "Usage: muster nrpe COMMAND [ARG ...]; see muster help nrpe.");
        if (!nrpe_command_name_is_valid(argv[0]))
                return usage_fail( "Invalid NRPE command name \"%s\".", argv[0]);
        args = json_array();
        for (int i = 1; args && i < argc; i++)
                if (json_array_append_new(args, json_string(argv[i])) < 0)
                        return usage_fail( "Invalid argument \"%s\" (not UTF-8?).", argv[i]);
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
        if (!request_sent(&res))
                unknown = unknown_agents(config, &req);

        for (size_t i = 0; i < res.n_replies; i++)
                counts[nrpe_state(&res.replies[i])]++;
        if (!arg_json && !arg_jsonl && request_sent(&res)) {
                for (size_t i = 0; i < res.n_replies; i++) {
                        const ClientReply *rep = &res.replies[i];
                        if (!display_reply(rep->statuscode == 0 && nrpe_state(rep) == 0))
                                continue;
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
        }
        r = print_result(&res, unknown);
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
                return usage_fail("Usage: muster nodes --forget IDENTITY...");
        for (int k = 0; k < argc; k++) {
                if (!identity_is_valid(argv[k]))
                        return usage_fail("Invalid identity \"%s\".", argv[k]);
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
                return usage_fail( "nodes takes no arguments.");
        r = registry_list(config->registry_dir, true, &list);
        if (r < 0)
                return fail(r, "Failed to read the registry %s: %s%s", config->registry_dir, strerror(-r), config_hint());

        arr = json_array();
        if (!arr) {
                registry_list_done(&list);
                return log_oom();
        }
        if (arg_check && !nrpe_command_name_is_valid(arg_check)) {
                registry_list_done(&list);
                return usage_fail( "Invalid check name \"%s\".", arg_check);
        }
        if (!arg_json)
                printf("%-40s %10s  %-8s%s\n", "IDENTITY", "AGE", "STATE", arg_check ? "  CHECK     OUTPUT" : "");
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
                /* --check NAME: the pushed result as stored; a stale node's
                 * result is too old to trust, as check-mc-nrpe --from-registry says. */
                json_t *chk = arg_check ? json_object_get(json_object_get(e->root, "checks"), arg_check) : NULL;
                if (arg_check && !chk)
                        continue;
                const char *cstate = chk ? (stale ? "STALE" : nagios_state_name(checks_get_state(
                                                       json_object_get(e->root, "checks"), arg_check, NULL)))
                                         : NULL;
                const char *coutput = chk ? json_string_value(json_object_get(chk, "output")) : NULL;
                n_stale += stale;
                n_shown++;
                if (arg_json) {
                        json_t *o = json_pack("{s:s, s:I, s:I, s:I, s:s, s:b}",
                                              "identity", e->identity,
                                              "last_seen", (json_int_t) e->mtime.tv_sec,
                                              "age", (json_int_t) age,
                                              "interval", (json_int_t) interval,
                                              "state", stale ? "stale" : "current",
                                              "valid", e->registration != NULL);
                        if (o && chk)
                                json_object_set_new(o, "check", json_pack("{s:s, s:s, s:s, s:O?, s:O?}",
                                                                          "name", arg_check, "state", cstate,
                                                                          "output", strempty(coutput),
                                                                          "when", json_object_get(chk, "when"),
                                                                          "perfdata",
                                                                          json_object_get(chk, "perfdata")));
                        json_array_append_new(arr, o);
                } else {
                        char buf[32];
                        printf("%-40s %10s  %-8s%s", e->identity,
                               format_duration(buf, sizeof buf, (uint64_t) MAX(age, 0) * USEC_PER_SEC),
                               stale ? "stale" : "current", e->registration ? "" : " (unreadable registration)");
                        if (chk)
                                printf("  %-8s  %s", cstate, strempty(coutput));
                        printf("\n");
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
                return usage_fail( "Usage: muster inventory IDENTITY; see muster help inventory.");
        if (!identity_is_valid(argv[0]))
                return usage_fail( "Invalid identity \"%s\".", argv[0]);
        r = registry_read(config->registry_dir, argv[0], &e);
        if (r == -ENOENT)
                return fail(r, "No registration for %s in %s%s.", argv[0], config->registry_dir, config_hint());
        if (r < 0)
                return fail(r, "Failed to read the registration of %s: %s%s", argv[0], strerror(-r), config_hint());
        if (!e.registration) {
                registry_entry_done(&e);
                return fail(-EBADMSG, "The registration file of %s is not a valid registration.", argv[0]);
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
                json_t *checks = json_object_get(e.root, "checks");
                if (json_object_size(checks) > 0) {
                        /* The states are current as of "Last seen"; the outputs as of
                         * each check's own time (muster(7), PUSHED CHECKS). */
                        printf("\n   Checks:\n");
                        json_object_foreach(checks, key, v) {
                                json_t *w = json_object_get(v, "when");
                                printf("      %-20s %-8s %s (ran %" PRId64 " s ago)\n", key,
                                       nagios_state_name(checks_get_state(checks, key, NULL)),
                                       strempty(json_string_value(json_object_get(v, "output"))),
                                       (int64_t) time(NULL) - (int64_t) json_integer_value(w));
                        }
                }
        }
        registry_entry_done(&e);
        return 0;
}

/* N or P% (P 1..100) */
static int parse_count_or_percent(const char *arg, size_t *ret_n, unsigned *ret_pct) {
        unsigned u;
        uint64_t n;

        if (endswith(arg, "%")) {
                _cleanup_free_ char *num = strndup(arg, strlen(arg) - 1);
                if (!num)
                        return -ENOMEM;
                if (parse_uint(num, &u) < 0 || u == 0 || u > 100)
                        return -EINVAL;
                *ret_n = 0;
                *ret_pct = u;
                return 0;
        }
        if (parse_uint64(arg, &n) < 0 || n == 0 || n > SIZE_MAX)
                return -EINVAL;
        *ret_n = (size_t) n;
        *ret_pct = 0;
        return 0;
}

/* Before the options are parsed, so that a refused option is reported as
 * JSON too. */
static void want_json_early(int argc, char *argv[]) {
        for (int i = 1; i < argc && !streq(argv[i], "--"); i++) {
                if (streq(argv[i], "-j") || streq(argv[i], "--json"))
                        arg_json = true;
                if (streq(argv[i], "--jsonl"))
                        arg_jsonl = true;
        }
}

static int run(int argc, char *argv[]) {
        enum {
                ARG_LOCAL = 0x2000,
                ARG_PROGRESS,
                ARG_NO_PROGRESS,
                ARG_JSONL,
                ARG_NODES,
                ARG_LIMIT,
                ARG_LIMIT_SEED,
                ARG_BATCH,
                ARG_BATCH_SLEEP,
                ARG_DISPLAY,
                ARG_FORGET,
                ARG_ALL,
                ARG_CHECK,
        };
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, CLI_ARG_VERSION },
                { "json", no_argument, NULL, 'j' },
                { "jsonl", no_argument, NULL, ARG_JSONL },
                { "verbose", no_argument, NULL, 'v' },
                { "local", no_argument, NULL, ARG_LOCAL },
                { "progress", no_argument, NULL, ARG_PROGRESS },
                { "no-progress", no_argument, NULL, ARG_NO_PROGRESS },
                { "forget", no_argument, NULL, ARG_FORGET },
                { "all", no_argument, NULL, ARG_ALL },
                { "check", required_argument, NULL, ARG_CHECK },
                { "config", required_argument, NULL, 'c' },
                { "nodes", required_argument, NULL, ARG_NODES },
                { "limit", required_argument, NULL, ARG_LIMIT },
                { "limit-seed", required_argument, NULL, ARG_LIMIT_SEED },
                { "batch", required_argument, NULL, ARG_BATCH },
                { "batch-sleep", required_argument, NULL, ARG_BATCH_SLEEP },
                { "display", required_argument, NULL, ARG_DISPLAY },
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
        const char *arg_limit_str = NULL, *arg_limit_seed_str = NULL, *arg_batch_str = NULL,
                   *arg_batch_sleep_str = NULL, *arg_display_str = NULL;
        MusterConfig config;
        int c, r, exit_status = 1;

        log_setup("muster", false);
        want_json_early(argc, argv);
        /* getopt's messages name argv[0]: the program, not its path. */
        argv[0] = (char *) "muster";

        /* Options may come before or after the verb and its arguments. */
        while ((c = getopt_long(argc, argv, "hjvc:" CLI_FILTER_SHORTOPTS, options, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        arg_help = true;
                        continue;
                case CLI_ARG_VERSION:
                        printf("muster %s\n", PACKAGE_VERSION);
                        return 0;
                case 'j':
                        arg_json = true;
                        continue;
                case ARG_JSONL:
                        arg_jsonl = true;
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
                case ARG_ALL:
                        arg_all = true;
                        continue;
                case ARG_CHECK:
                        arg_check = optarg;
                        continue;
                case ARG_NODES:
                        arg_nodes = optarg;
                        continue;
                /* Checked once all options are read, so that --help wins. */
                case ARG_LIMIT:
                        arg_limit_str = optarg;
                        continue;
                case ARG_LIMIT_SEED:
                        arg_limit_seed_str = optarg;
                        continue;
                case ARG_BATCH:
                        arg_batch_str = optarg;
                        continue;
                case ARG_BATCH_SLEEP:
                        arg_batch_sleep_str = optarg;
                        continue;
                case ARG_DISPLAY:
                        arg_display_str = optarg;
                        continue;
                case '?':
                        /* getopt named the problem; point to the help. */
                        snprintf(error_text, sizeof error_text, "invalid command line");
                        fprintf(stderr, "Try 'muster --help' for more information.\n");
                        goto usage_error;
                }
                r = cli_handle_option(&arg_opts, c, optarg);
                if (r <= 0) {
                        if (arg_opts.error[0])
                                snprintf(error_text, sizeof error_text, "%s", arg_opts.error);
                        goto usage_error;
                }
        }

        if (optind < argc && streq(argv[optind], "help")) {
                if (optind + 1 < argc)
                        return help_verb(argv[optind + 1]);
                help();
                return 0;
        }
        if (arg_help) {
                if (optind < argc)
                        return help_verb(argv[optind]);
                help();
                return 0;
        }
        if (optind >= argc) {
                help();
                return 2;
        }
        if (arg_limit_str && parse_count_or_percent(arg_limit_str, &arg_limit, &arg_limit_percent) < 0) {
                fail(-EINVAL, "Invalid --limit \"%s\", expected a count such as 10 or a percentage such as 25%%.",
                     arg_limit_str);
                goto usage_error;
        }
        if (arg_limit_seed_str) {
                if (parse_uint64(arg_limit_seed_str, &arg_limit_seed) < 0) {
                        fail(-EINVAL, "Invalid --limit-seed \"%s\", expected a number.", arg_limit_seed_str);
                        goto usage_error;
                }
                arg_limit_seed_set = true;
        }
        if (arg_batch_str && parse_count_or_percent(arg_batch_str, &arg_batch, &arg_batch_percent) < 0) {
                fail(-EINVAL, "Invalid --batch \"%s\", expected a count such as 10 or a percentage such as 25%%.",
                     arg_batch_str);
                goto usage_error;
        }
        if (arg_batch_sleep_str && parse_duration(arg_batch_sleep_str, &arg_batch_sleep_usec) < 0) {
                fail(-EINVAL, "Invalid --batch-sleep \"%s\", expected a duration such as 1, 500ms or 2s.",
                     arg_batch_sleep_str);
                goto usage_error;
        }
        if (arg_display_str) {
                if (streq(arg_display_str, "all") || streq(arg_display_str, "always"))
                        arg_display = DISPLAY_ALL;
                else if (streq(arg_display_str, "ok"))
                        arg_display = DISPLAY_OK;
                else if (streq(arg_display_str, "failed"))
                        arg_display = DISPLAY_FAILED;
                else if (streq(arg_display_str, "none"))
                        arg_display = DISPLAY_NONE;
                else {
                        fail(-EINVAL, "Invalid --display \"%s\", expected ok, failed, all or none.", arg_display_str);
                        goto usage_error;
                }
        }
        if (arg_json && arg_jsonl) {
                fail(-EINVAL, "--json and --jsonl exclude each other.");
                goto usage_error;
        }
        if (arg_nodes && arg_opts.filter &&
            (arg_opts.filter->n_facts > 0 || strv_length(arg_opts.filter->classes) > 0 ||
             strv_length(arg_opts.filter->agents) > 0)) {
                fail(-EINVAL, "--nodes takes identity filters (-I) only: the file holds no facts, classes or agents.");
                goto usage_error;
        }
        if (arg_jsonl)
                arg_json = false;

        for (size_t i = 0; i < ELEMENTSOF(verbs); i++) {
                if (!streq(argv[optind], verbs[i].name))
                        continue;
                arg_opts.no_broker = arg_local || streq(verbs[i].name, "nodes") || streq(verbs[i].name, "inventory");
                r = cli_load_config(&arg_opts, &config);
                if (r < 0) {
                        snprintf(error_text, sizeof error_text, "%s",
                                 arg_opts.error[0] ? arg_opts.error : "invalid configuration");
                        goto error;
                }
                r = verbs[i].fn(&config, argc - optind - 1, argv + optind + 1);
                config_done(&config);
                filter_free(arg_opts.filter);
                if (r < 0 && usage_failed)
                        goto usage_error; /* the command's own arguments */
                if (r < 0)
                        goto error;
                fflush(stdout);
                return r;
        }
        fail(-EINVAL, "Unknown command \"%s\"; see muster --help.", argv[optind]);

usage_error:
        exit_status = 2;
error:
        /* With --json a failure is an object too, never an empty stdout. */
        if ((arg_json || arg_jsonl) && ftell(stdout) <= 0) {
                json_t *j = json_pack("{s:s}", "error", error_text[0] ? error_text : "failed, see standard error");
                if (j && arg_jsonl) {
                        json_dumpf(j, stdout, JSON_COMPACT);
                        fputc('\n', stdout);
                        json_decref(j);
                } else if (j)
                        print_json(j);
        }
        fflush(stdout);
        return exit_status;
}

int main(int argc, char *argv[]) {
        return run(argc, argv);
}
