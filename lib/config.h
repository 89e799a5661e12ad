/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>

#include "log.h"

#define MUSTER_CONFIG_FILE PKGSYSCONFDIR "/muster.conf"

typedef enum DiscoveryMethod {
        DISCOVERY_BROADCAST,
        DISCOVERY_REGISTRY,
        _DISCOVERY_MAX,
        _DISCOVERY_INVALID = -EINVAL,
} DiscoveryMethod;

typedef struct MusterConfig {
        /* [main] */
        char *identity;
        char *collective;
        char *prefix;
        int log_level;
        LogTarget log_target;
        uint64_t max_message_size;

        /* [broker] */
        char **broker_urls;
        char *username;
        char *password;
        char *password_file;
        uint64_t heartbeat_usec;
        uint64_t connect_timeout_usec;
        uint64_t reconnect_min_usec;
        uint64_t reconnect_max_usec;
        char *tls_ca;
        char *tls_cert;
        char *tls_key;
        bool tls_verify_peer;
        bool tls_verify_hostname;

        /* [security] */
        char *psk_file;
        int accept_psk;                 /* 1, 0, or -1: no when client keys are loaded (config_accept_psk()) */
        char *private_key;
        char *key_id;
        char *client_keys_dir;
        char *node_keys_dir;
        char *policy_file;
        uint64_t max_clock_skew_usec;
        uint64_t ttl_usec;
        uint64_t max_ttl_usec;      /* every request's ttl is clamped to this */

        /* [responder] */
        char **agents;
        char *facts_dir;
        char *classes_file;
        unsigned max_concurrent_checks;
        char *control_socket;
        bool federated_replies;     /* replies to federated requests go to <prefix>.reply */
        char **allowed_reply_to;    /* reply_to names; a trailing '*' matches any rest */

        /* [nrpe] */
        char *nrpe_dir;
        uint64_t nrpe_timeout_usec;
        uint64_t nrpe_output_max;
        bool nrpe_allow_arguments;
        char *nrpe_nasty_metachars;
        char *nrpe_user;                /* checks run as this user; "": as the daemon */
        char *nrpe_runner;              /* "auto", "no" or the check runner's socket */

        /* [client] */
        DiscoveryMethod discovery_method;
        uint64_t discovery_timeout_usec;
        uint64_t client_timeout_usec;
        char *registry_dir;

        /* [collector] */
        char *collector_name;
        char *state_dir;
        unsigned collector_prefetch;
        char *collector_queue_type;
        char *collector_control_socket;
        char *metrics_address;
        uint64_t sweep_interval_usec;
        uint64_t stale_grace_usec;
        uint64_t expire_after_usec;      /* 0: never */

        /* [heartbeat] */
        uint64_t heartbeat_interval_usec;
        char **heartbeat_checks;         /* NRPE commands run at each beat, results pushed */
        uint64_t heartbeat_check_timeout_usec; /* 0: half the interval, at most command_timeout */

        /* [collector], pushed checks */
        uint64_t check_output_refresh_usec; /* rewrite a node's file for its outputs at most this often; 0: only on state changes */

        /* The first error config_load() or config_resolve_secrets() met,
         * one line without a final period, for a plugin's status line;
         * NULL when none. */
        char *error;
} MusterConfig;

/* Fill in every default. */
int config_init(MusterConfig *c);
void config_done(MusterConfig *c);

/* Parse path (NULL: MUSTER_CONFIG_FILE), then <dir of path>/conf.d/\*.conf
 * in lexical order. A missing main file is fine when optional is true.
 * Unknown keys are logged as warnings; malformed values are logged as errors
 * naming file:line, key and what was expected, and make this fail with
 * -EINVAL after the whole file was read (so every error is reported). */
int config_load(MusterConfig *c, const char *path, bool optional);

/* Parse one file into c; exposed for tests and the fuzzer. ret_errors
 * counts malformed lines. */
int config_parse_file(MusterConfig *c, const char *path, unsigned *ret_errors);

/* Read password from password_file when set. */
int config_resolve_secrets(MusterConfig *c);

typedef enum ConfigLoadFlags {
        CONFIG_LOAD_OPTIONAL   = 1 << 0, /* a missing main file is fine */
        CONFIG_LOAD_NO_SECRETS = 1 << 1, /* no broker: leave password_file unread */
        CONFIG_LOAD_LOG        = 1 << 2, /* then apply log_level and log_target */
} ConfigLoadFlags;

/* The whole sequence every binary runs: config_init(), config_load(),
 * config_resolve_secrets(). Every error was logged; on failure ret_error
 * (may be NULL) gets the first, for a status line, and *ret is untouched. */
int config_load_all(const char *path, ConfigLoadFlags flags, MusterConfig *ret, char *ret_error, size_t n);

/* Whether two configs differ in the connection itself: brokers, credentials,
 * TLS, heartbeat. */
bool config_connection_changed(const MusterConfig *a, const MusterConfig *b);
/* The same, or anything that changes a responder's queue bindings (identity,
 * collective, prefix, agents). */
bool config_broker_changed(const MusterConfig *a, const MusterConfig *b);
/* Whether PSK-signed requests are accepted: [security] accept_psk when it
 * is set, otherwise yes exactly when no client key is loaded. */
bool config_accept_psk(const MusterConfig *c, size_t n_client_keys);

const char *discovery_method_to_string(DiscoveryMethod m);
DiscoveryMethod discovery_method_from_string(const char *s);

/* Exchange names for the configured prefix. */
int config_exchange(const MusterConfig *c, const char *kind, char **ret);
