/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <getopt.h>

#include "client.h"
#include "config.h"
#include "filter.h"

/* What `muster` and `check-mc-nrpe` share: the request options, in the
 * spellings mco users know. */

typedef struct CliOptions {
        const char *config_path;
        Filter *filter;
        const char *collective;         /* -T */
        const char *discovery_method;   /* --dm */
        uint64_t discovery_timeout_usec; /* --dt, 0: config */
        uint64_t timeout_usec;          /* -t, 0: config */
        const char *registry_dir;       /* --registry-dir */
        /* The command does not talk to the broker (muster nodes, inventory,
         * --local): the broker password is not read, so that a user who may
         * read the registrations or use the control socket needs no more. */
        bool no_broker;
        /* Why the last option or the configuration was refused, one line
         * without a final period: the check plugins put it on their status
         * line, since Nagios shows only standard output. */
        char error[512];
} CliOptions;

enum {
        CLI_ARG_DT = 0x1000,
        CLI_ARG_DM,
        CLI_ARG_CONFIG,
        CLI_ARG_REGISTRY_DIR,
        CLI_ARG_VERSION,
};

#define CLI_FILTER_OPTIONS                                                          \
        { "wf", required_argument, NULL, 'F' },                                     \
        { "with-fact", required_argument, NULL, 'F' },                              \
        { "wc", required_argument, NULL, 'C' },                                     \
        { "with-class", required_argument, NULL, 'C' },                             \
        { "wi", required_argument, NULL, 'I' },                                     \
        { "with-identity", required_argument, NULL, 'I' },                          \
        { "wa", required_argument, NULL, 'A' },                                     \
        { "with-agent", required_argument, NULL, 'A' },                             \
        { "with", required_argument, NULL, 'W' },                                   \
        { "target", required_argument, NULL, 'T' },                                 \
        { "dt", required_argument, NULL, CLI_ARG_DT },                              \
        { "discovery-timeout", required_argument, NULL, CLI_ARG_DT },               \
        { "dm", required_argument, NULL, CLI_ARG_DM },                              \
        { "discovery-method", required_argument, NULL, CLI_ARG_DM },                \
        { "timeout", required_argument, NULL, 't' },                                \
        { "config", required_argument, NULL, CLI_ARG_CONFIG },                      \
        { "registry-dir", required_argument, NULL, CLI_ARG_REGISTRY_DIR }

#define CLI_FILTER_SHORTOPTS "F:C:I:A:W:T:t:"

#define CLI_FILTER_HELP                                                                        \
        "Filters (may be repeated):\n"                                                         \
        "  -F, --wf FACT=VALUE     Fact filter; operators == != < > <= >= =~, /regex/ values\n"  \
        "  -C, --wc CLASS          Class filter, exact or /regex/\n"                           \
        "  -I, --wi IDENTITY       Identity filter, exact or /regex/\n"                        \
        "  -A, --wa AGENT          Nodes that serve AGENT\n"                                   \
        "  -W, --with \"WORD...\"    Combined filter: a word with an operator is a fact\n"      \
        "                          filter, a word without is a class filter\n"               \
        "  -T, --target COLLECTIVE Collective to address\n\n"                                  \
        "Discovery and timing:\n"                                                              \
        "      --dm METHOD         Discovery method: broadcast (or mc) or registry\n"         \
        "      --dt DURATION       Discovery timeout (broadcast), e.g. 2s\n"                   \
        "  -t, --timeout DURATION  Bound for the whole run, e.g. 10 or 10s\n"                  \
        "      --registry-dir DIR  Registration directory for registry discovery\n"            \
        "      --config PATH       Configuration file (default " MUSTER_CONFIG_FILE ")\n"

/* Returns 1 when opt was one of ours and handled, 0 when not ours, or a
 * negative errno after printing an error (also left in o->error). */
int cli_handle_option(CliOptions *o, int opt, const char *arg);

/* -W, --with "WORD...", as mco's: the words are separated by white space;
 * a word written /regex/ is a class filter, any other word that holds an
 * operator (one of = < >, so also == != <= >= =~) is a fact filter as
 * with -F, and a word without one is a class filter as with -C. Every
 * word must match. Does not log: on -EINVAL *ret_error points to a static
 * reason and *ret_word (optional) is a copy of the refused word, to be
 * freed by the caller. Returns the number of words added. */
int cli_filter_add_with(Filter *f, const char *arg, const char **ret_error, char **ret_word);

/* Load the configuration and apply the command line on top. On failure,
 * o->error holds the first reason. */
int cli_load_config(CliOptions *o, MusterConfig *ret);

/* Fill a ClientRequest's discovery fields from the config. */
void cli_request_defaults(const MusterConfig *c, ClientRequest *req);
