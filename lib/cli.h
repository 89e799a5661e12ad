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
        { "target", required_argument, NULL, 'T' },                                 \
        { "dt", required_argument, NULL, CLI_ARG_DT },                              \
        { "discovery-timeout", required_argument, NULL, CLI_ARG_DT },               \
        { "dm", required_argument, NULL, CLI_ARG_DM },                              \
        { "discovery-method", required_argument, NULL, CLI_ARG_DM },                \
        { "timeout", required_argument, NULL, 't' },                                \
        { "config", required_argument, NULL, CLI_ARG_CONFIG },                      \
        { "registry-dir", required_argument, NULL, CLI_ARG_REGISTRY_DIR }

#define CLI_FILTER_SHORTOPTS "F:C:I:A:T:t:"

#define CLI_FILTER_HELP                                                                        \
        "Filters (may be repeated):\n"                                                         \
        "  -F, --wf FACT=VALUE     Fact filter; operators == != < > <= >= =~, /regex/ values\n"  \
        "  -C, --wc CLASS          Class filter, exact or /regex/\n"                           \
        "  -I, --wi IDENTITY       Identity filter, exact or /regex/\n"                        \
        "  -A, --wa AGENT          Nodes that serve AGENT\n"                                   \
        "  -T, --target COLLECTIVE Collective to address\n\n"                                  \
        "Discovery and timing:\n"                                                              \
        "      --dm METHOD         Discovery method: broadcast or registry\n"                  \
        "      --dt DURATION       Discovery timeout (broadcast), e.g. 2s\n"                   \
        "  -t, --timeout DURATION  Bound for the whole run, e.g. 10 or 10s\n"                  \
        "      --registry-dir DIR  Registration directory for registry discovery\n"            \
        "      --config PATH       Configuration file (default " MUSTER_CONFIG_FILE ")\n"

/* Returns 1 when opt was one of ours and handled, 0 when not ours, or a
 * negative errno after printing an error. */
int cli_handle_option(CliOptions *o, int opt, const char *arg);

/* Load the configuration and apply the command line on top. */
int cli_load_config(const CliOptions *o, MusterConfig *ret);

/* Fill a ClientRequest's discovery fields from the config. */
void cli_request_defaults(const MusterConfig *c, ClientRequest *req);
