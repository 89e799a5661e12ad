/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* check-mc-nrpe: run one NRPE command on every matching node and collate
 * the answers into one Nagios result. */

#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <time.h>

#include "checks.h"
#include "cli.h"
#include "client.h"
#include "log.h"
#include "nagios.h"
#include "nrpe.h"
#include "registry.h"
#include "util.h"

static CliOptions arg_opts = {};
static const char *arg_command = NULL;
static int arg_verbose = 0;
static bool arg_from_registry = false;
static NagiosThreshold arg_warning = {}, arg_critical = {};
static unsigned alarm_seconds = 0;

enum {
        ARG_WARNING = 0x2000,
        ARG_CRITICAL,
        ARG_FROM_REGISTRY,
};

static void help(void) {
        printf("check-mc-nrpe %s\n"
               "Run an NRPE command on every matching node through the muster broker and\n"
               "collate the answers into one Nagios result.\n\n"
               "Usage: check-mc-nrpe COMMAND [OPTIONS]\n\n"
               "Options:\n"
               "  -h, --help              Print this help\n"
               "  -V, --version           Print the version\n"
               "  -v, --verbose           Also print each node's output\n"
               "  -w, --warning N|P%%      WARNING when more than N nodes (or P%% of them) are not OK\n"
               "  -c, --critical N|P%%     CRITICAL when more than N nodes (or P%% of them) are not OK\n"
               "      --from-registry     Collate the results the nodes pushed with their registrations\n"
               "                          ([heartbeat] checks), from the registry directory, with no\n"
               "                          broker; a result older than its node's interval plus\n"
               "                          [collector] stale_grace counts UNKNOWN and is named STALE\n\n"
               "%s\n"
               "Output (exit code 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN). Without -w and -c the\n"
               "worst state wins, CRITICAL over WARNING over UNKNOWN; with them, the count of\n"
               "nodes that are not OK decides (-w 2 warns at 3). Silent expected nodes count\n"
               "as UNKNOWN, and so as not OK:\n"
               "  check_load: OK: 2 WARNING: 1 CRITICAL: 0 UNKNOWN: 0| total=3 ok=2 warn=1 crit=0 unknown=0 checktime=0.172370\n"
               "  WARNING: www21\n\n"
               "See check-mc-nrpe(1).\n",
               PACKAGE_VERSION, CLI_FILTER_HELP);
}

static char alarm_message[128];

static void on_alarm(int sig) {
        /* Last resort for -t: nothing may hang a Nagios check. */
        (void) !write(STDOUT_FILENO, alarm_message, strlen(alarm_message));
        _exit(NAGIOS_UNKNOWN);
}

/* Log a command line error and keep it for the status line. */
_printf_(1, 2) static int usage_error(const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        vsnprintf(arg_opts.error, sizeof arg_opts.error, format, ap);
        va_end(ap);
        return log_error_errno(-EINVAL, "%s", arg_opts.error);
}

/* Nagios shows only standard output, so the reason goes on the status line,
 * in the lower case of the other status texts ("Invalid x" -> "invalid x",
 * "NRPE ..." stays). */
static const char *status_reason(char *reason) {
        if (reason[0] >= 'A' && reason[0] <= 'Z' && reason[1] >= 'a' && reason[1] <= 'z')
                reason[0] = (char) (reason[0] - 'A' + 'a');
        return reason;
}

/* Returns 1 to go on, 0 to exit 0 (help, version), or a negative errno. */
static int parse_argv(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                { "verbose", no_argument, NULL, 'v' },
                { "warning", required_argument, NULL, 'w' },
                { "critical", required_argument, NULL, 'c' },
                { "from-registry", no_argument, NULL, ARG_FROM_REGISTRY },
                CLI_FILTER_OPTIONS,
                {}
        };
        int c, r;

        /* getopt's own messages would go to standard error only. */
        opterr = 0;
        while ((c = getopt_long(argc, argv, ":hVvw:c:" CLI_FILTER_SHORTOPTS, options, NULL)) >= 0) {
                switch (c) {
                case 'h':
                        help();
                        return 0;
                case 'V':
                        printf("check-mc-nrpe %s (muster)\n", PACKAGE_VERSION);
                        return 0;
                case 'v':
                        arg_verbose++;
                        continue;
                case ARG_FROM_REGISTRY:
                        arg_from_registry = true;
                        arg_opts.no_broker = true;
                        continue;
                case 'w':
                case 'c':
                        r = nagios_threshold_parse(optarg, c == 'w' ? &arg_warning : &arg_critical);
                        if (r < 0)
                                return usage_error("Invalid %s threshold \"%s\", expected a number of nodes such as 2 "
                                                   "or a percentage such as 10%% (at most 100%%)",
                                                   c == 'w' ? "warning" : "critical", optarg);
                        continue;
                case ':':
                        return usage_error("Option %s needs an argument, see check-mc-nrpe --help",
                                           argv[optind - 1]);
                case '?':
                        if (optopt > 0)
                                return usage_error("Unknown option -%c, see check-mc-nrpe --help", optopt);
                        return usage_error("Unknown option %s, see check-mc-nrpe --help", argv[optind - 1]);
                }
                r = cli_handle_option(&arg_opts, c, optarg);
                if (r < 0)
                        return r;
                if (r == 0)
                        return usage_error("Unhandled option %s", argv[optind - 1]);
        }
        if (optind >= argc)
                return usage_error("NRPE command not specified, see check-mc-nrpe --help");
        if (argc - optind > 1)
                return usage_error("Only one NRPE command may be given, got \"%s\" and \"%s\"", argv[optind],
                                   argv[optind + 1]);
        arg_command = argv[optind];
        return 1;
}

/* --from-registry: the stored results, no broker. */
static int run_from_registry(MusterConfig *config) {
        _cleanup_(checks_collation_done) ChecksCollation cc = {};
        NagiosCollation col = {};
        uint64_t start = now_usec(CLOCK_MONOTONIC);
        int64_t now = (int64_t) time(NULL);
        int r, ret;

        r = checks_collate_registry(config->registry_dir, config->collective, arg_opts.filter, arg_command, now,
                                    (int64_t) (config->stale_grace_usec / USEC_PER_SEC),
                                    (int64_t) (config->heartbeat_interval_usec / USEC_PER_SEC),
                                    arg_verbose ? CHECKS_COLLATE_LIST_OK : 0, &cc);
        if (r < 0) {
                printf("%s: UNKNOWN: cannot read the registry %s: %s\n", arg_command, config->registry_dir,
                       strerror(-r));
                return NAGIOS_UNKNOWN;
        }
        if (cc.n == 0) {
                printf("%s: UNKNOWN: No node pushes results of %s to %s\n", arg_command, arg_command,
                       config->registry_dir);
                return NAGIOS_UNKNOWN;
        }
        for (int i = 0; i < 4; i++) {
                strv_sort(cc.names[i]);
                col.names[i] = cc.names[i];
        }
        col.n_ok = cc.n_ok;
        col.replies = cc.n;
        col.checktime = (double) (now_usec(CLOCK_MONOTONIC) - start) / 1e6;
        col.warning = arg_warning;
        col.critical = arg_critical;
        ret = nagios_collation_print(&col, arg_command, stdout);
        /* Which of the UNKNOWNs are results too old to trust, and which
         * nodes (selected by a filter) do not push this check at all. */
        if (cc.stale) {
                strv_sort(cc.stale);
                printf("STALE:");
                for (char **i = cc.stale; *i; i++)
                        printf(" %s", *i);
                printf("\n");
        }
        if (cc.not_pushed) {
                strv_sort(cc.not_pushed);
                printf("NOT PUSHED:");
                for (char **i = cc.not_pushed; *i; i++)
                        printf(" %s", *i);
                printf("\n");
        }
        if (arg_verbose)
                for (int s = 0; s < 4; s++)
                        for (char **i = cc.names[s]; i && *i; i++) {
                                RegistryEntry e = {};
                                json_t *c = NULL, *o = NULL, *w = NULL;
                                if (registry_read(config->registry_dir, *i, &e) >= 0 && e.root) {
                                        c = json_object_get(json_object_get(e.root, "checks"), arg_command);
                                        o = json_object_get(c, "output");
                                        w = json_object_get(c, "when");
                                }
                                if (strv_contains(cc.not_pushed, *i))
                                        printf("%s: does not push %s\n", *i, arg_command);
                                else if (json_is_string(o))
                                        printf("%s: %s (as of %" PRId64 " s ago%s)\n", *i, json_string_value(o),
                                               now - (int64_t) json_integer_value(w),
                                               strv_contains(cc.stale, *i) ? ", stale" : "");
                                else
                                        printf("%s: no stored result\n", *i);
                                registry_entry_done(&e);
                        }
        return ret;
}

/* OK nodes are counted; the others are named, with the expected nodes that
 * stayed silent among the UNKNOWNs. The names are the result's own
 * strings, borrowed: free only the arrays. */
static int collate(const ClientResult *result, const ClientNrpeTally *tally, NagiosCollation *col) {
        size_t counts[4] = {}, fill[4] = {}, n_missing = strv_length(result->missing);

        if (tally->error < 0 || tally->n != result->n_replies)
                return -ENOMEM;
        for (size_t i = 0; i < tally->n; i++)
                counts[tally->states[i]]++;
        counts[NAGIOS_UNKNOWN] += n_missing;
        for (int s = NAGIOS_WARNING; s <= NAGIOS_UNKNOWN; s++)
                if (counts[s] > 0 && !(col->names[s] = calloc(counts[s] + 1, sizeof(char *))))
                        return -ENOMEM;
        for (size_t i = 0; i < tally->n; i++)
                if (tally->states[i] != NAGIOS_OK)
                        col->names[tally->states[i]][fill[tally->states[i]]++] = result->replies[i].identity;
        for (size_t i = 0; i < n_missing; i++)
                col->names[NAGIOS_UNKNOWN][fill[NAGIOS_UNKNOWN]++] = result->missing[i];
        for (int s = 0; s < 4; s++)
                strv_sort(col->names[s]);
        col->n_ok = counts[NAGIOS_OK];
        col->replies = result->n_replies;
        return 0;
}

static int run(int argc, char *argv[]) {
        _cleanup_json_ json_t *data = NULL;
        MusterConfig config;
        Client client = {};
        ClientResult result = {};
        ClientRequest req;
        NagiosCollation col = {};
        ClientNrpeTally tally = {};
        int r, ret;

        log_setup("check-mc-nrpe", false);
        r = parse_argv(argc, argv);
        if (r == 0)
                return NAGIOS_OK;
        if (r < 0) {
                printf("UNKNOWN: %s\n", arg_opts.error[0] ? status_reason(arg_opts.error) :
                       "invalid command line, see check-mc-nrpe --help");
                filter_free(arg_opts.filter);
                return NAGIOS_UNKNOWN;
        }
        if (!nrpe_command_name_is_valid(arg_command)) {
                printf("UNKNOWN: invalid NRPE command name \"%s\"\n", arg_command);
                filter_free(arg_opts.filter);
                return NAGIOS_UNKNOWN;
        }

        r = cli_load_config(&arg_opts, &config);
        if (r < 0) {
                printf("%s: UNKNOWN: %s\n", arg_command, arg_opts.error[0] ? status_reason(arg_opts.error) :
                       "invalid configuration");
                filter_free(arg_opts.filter);
                return NAGIOS_UNKNOWN;
        }

        if (arg_from_registry) {
                ret = run_from_registry(&config);
                config_done(&config);
                filter_free(arg_opts.filter);
                fflush(stdout);
                return ret;
        }

        alarm_seconds = (unsigned) (config.client_timeout_usec / USEC_PER_SEC) + 2;
        snprintf(alarm_message, sizeof alarm_message, "%s: UNKNOWN: check-mc-nrpe timed out after %u s\n",
                 arg_command, alarm_seconds);
        signal(SIGALRM, on_alarm);
        alarm(alarm_seconds);

        uint64_t start = now_usec(CLOCK_MONOTONIC);
        r = client_open(&client, &config, start + config.client_timeout_usec);
        log_warnings(client.warnings);
        if (r < 0) {
                printf("%s: UNKNOWN: %s\n", arg_command, client.error);
                ret = NAGIOS_UNKNOWN;
                goto finish;
        }

        data = json_pack("{s:s}", "command", arg_command);
        if (!data) {
                r = log_oom();
                ret = NAGIOS_UNKNOWN;
                goto finish;
        }
        req = (ClientRequest) {
                .agent = "nrpe",
                .action = "runcommand",
                .data = data,
                .filter = arg_opts.filter,
        };
        cli_request_defaults(&config, &req);
        /* -I names without a /regex/ are the nodes to ask, as in muster(1):
         * no discovery, and a named node that does not answer is UNKNOWN
         * rather than left out. */
        req.direct_identities = true;
        req.on_reply = client_nrpe_tally_reply;
        req.userdata = &tally;
        tally.keep_output = arg_verbose;
        req.drop_data = true;
        req.data_keys = client_nrpe_tally_keys(&tally);

        r = client_call(&client, &req, &result);
        if (r < 0) {
                printf("%s: UNKNOWN: %s\n", arg_command, client.error[0] ? client.error : strerror(-r));
                ret = NAGIOS_UNKNOWN;
                goto finish;
        }

        if (strv_length(result.expected) == 0 && result.n_replies == 0) {
                printf("%s: UNKNOWN: No nodes discovered\n", arg_command);
                ret = NAGIOS_UNKNOWN;
                goto finish;
        }

        r = collate(&result, &tally, &col);
        if (r < 0) {
                log_oom();
                ret = NAGIOS_UNKNOWN;
                goto finish;
        }
        col.checktime = (double) result.total_usec / 1e6;
        col.warning = arg_warning;
        col.critical = arg_critical;

        ret = nagios_collation_print(&col, arg_command, stdout);

        if (arg_verbose) {
                for (size_t i = 0; i < result.n_replies; i++) {
                        const ClientReply *rep = &result.replies[i];
                        printf("%s: %s\n", rep->identity, tally.outputs[i] ?: rep->statusmsg);
                }
                for (char **m = result.missing; m && *m; m++)
                        printf("%s: no response\n", *m);
        }

finish:
        alarm(0);
        for (int i = 0; i < 4; i++)
                free(col.names[i]);             /* the strings are the result's */
        client_nrpe_tally_done(&tally);
        client_result_done(&result);
        client_close(&client);
        config_done(&config);
        filter_free(arg_opts.filter);
        fflush(stdout);
        return ret;
}

int main(int argc, char *argv[]) {
        return run(argc, argv);
}
