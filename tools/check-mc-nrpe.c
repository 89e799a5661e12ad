/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* check-mc-nrpe: run one NRPE command on every matching node and collate
 * the answers into one Nagios result. */

#include <signal.h>
#include <time.h>

#include "cli.h"
#include "client.h"
#include "log.h"
#include "nagios.h"
#include "nrpe.h"
#include "util.h"

static CliOptions arg_opts = {};
static const char *arg_command = NULL;
static int arg_verbose = 0;
static unsigned alarm_seconds = 0;

static void help(void) {
        printf("check-mc-nrpe %s\n"
               "Run an NRPE command on every matching node through the muster broker and\n"
               "collate the answers into one Nagios result.\n\n"
               "Usage: check-mc-nrpe COMMAND [OPTIONS]\n\n"
               "Options:\n"
               "  -h, --help              Print this help\n"
               "  -V, --version           Print the version\n"
               "  -v, --verbose           Also print each node's output\n"
               "%s\n"
               "Output (exit code 0 OK, 1 WARNING, 2 CRITICAL, 3 UNKNOWN; the worst state wins,\n"
               "CRITICAL over WARNING over UNKNOWN; silent expected nodes count as UNKNOWN):\n"
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

/* Returns 1 to go on, 0 to exit 0 (help, version), or a negative errno. */
static int parse_argv(int argc, char *argv[]) {
        static const struct option options[] = {
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                { "verbose", no_argument, NULL, 'v' },
                CLI_FILTER_OPTIONS,
                {}
        };
        int c, r;

        while ((c = getopt_long(argc, argv, "hVv" CLI_FILTER_SHORTOPTS, options, NULL)) >= 0) {
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
                case '?':
                        return -EINVAL;
                }
                r = cli_handle_option(&arg_opts, c, optarg);
                if (r < 0)
                        return r;
                if (r == 0)
                        return -EINVAL;
        }
        if (optind >= argc)
                return log_error_errno(-EINVAL, "NRPE command not specified.");
        if (argc - optind > 1)
                return log_error_errno(-EINVAL, "Only one NRPE command may be given.");
        arg_command = argv[optind];
        return 1;
}

static int run(int argc, char *argv[]) {
        _cleanup_json_ json_t *data = NULL;
        MusterConfig config;
        Client client = {};
        ClientResult result = {};
        NagiosCollation col = {};
        int r, ret;

        log_setup("check-mc-nrpe", false);
        r = parse_argv(argc, argv);
        if (r == 0)
                return NAGIOS_OK;
        if (r < 0) {
                printf("UNKNOWN: invalid command line, see check-mc-nrpe --help\n");
                return NAGIOS_UNKNOWN;
        }
        if (!nrpe_command_name_is_valid(arg_command)) {
                printf("UNKNOWN: invalid NRPE command name \"%s\"\n", arg_command);
                return NAGIOS_UNKNOWN;
        }

        r = cli_load_config(&arg_opts, &config);
        if (r < 0) {
                printf("%s: UNKNOWN: invalid configuration, see the messages above\n", arg_command);
                return NAGIOS_UNKNOWN;
        }

        alarm_seconds = (unsigned) (config.client_timeout_usec / USEC_PER_SEC) + 2;
        snprintf(alarm_message, sizeof alarm_message, "%s: UNKNOWN: check-mc-nrpe timed out after %u s\n",
                 arg_command, alarm_seconds);
        signal(SIGALRM, on_alarm);
        alarm(alarm_seconds);

        uint64_t start = now_usec(CLOCK_MONOTONIC);
        r = client_open(&client, &config, start + config.client_timeout_usec);
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
        ClientRequest req = {
                .agent = "nrpe",
                .action = "runcommand",
                .data = data,
                .filter = arg_opts.filter,
        };
        cli_request_defaults(&config, &req);

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

        for (size_t i = 0; i < result.n_replies; i++) {
                const ClientReply *rep = &result.replies[i];
                json_t *ec = rep->data ? json_object_get(rep->data, "exitcode") : NULL;
                int state = json_is_integer(ec) ? nagios_state_from_exit((int) json_integer_value(ec)) : NAGIOS_UNKNOWN;
                if (strv_extend(&col.names[state], rep->identity) < 0) {
                        r = log_oom();
                        ret = NAGIOS_UNKNOWN;
                        goto finish;
                }
        }
        /* Expected nodes that stayed silent are UNKNOWN. */
        for (char **m = result.missing; m && *m; m++)
                if (strv_extend(&col.names[NAGIOS_UNKNOWN], *m) < 0) {
                        r = log_oom();
                        ret = NAGIOS_UNKNOWN;
                        goto finish;
                }
        for (int i = 0; i < 4; i++)
                strv_sort(col.names[i]);
        col.replies = result.n_replies;
        col.checktime = (double) result.total_usec / 1e6;

        ret = nagios_collation_print(&col, arg_command, stdout);

        if (arg_verbose) {
                for (size_t i = 0; i < result.n_replies; i++) {
                        const ClientReply *rep = &result.replies[i];
                        json_t *o = rep->data ? json_object_get(rep->data, "output") : NULL;
                        printf("%s: %s\n", rep->identity, json_is_string(o) ? json_string_value(o) : rep->statusmsg);
                }
                for (char **m = result.missing; m && *m; m++)
                        printf("%s: no response\n", *m);
        }

finish:
        alarm(0);
        for (int i = 0; i < 4; i++)
                strv_free(col.names[i]);
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
