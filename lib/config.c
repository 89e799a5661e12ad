/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ini.h>
#include <libgen.h>
#include <limits.h>
#include <stdarg.h>
#include <stddef.h>

#include "agents/agents.h"
#include "config.h"
#include "util.h"

typedef int (*ConfigParser)(const char *value, void *data, const char **ret_expected);

typedef struct ConfigItem {
        const char *section;
        const char *key;
        ConfigParser parse;
        size_t offset;
} ConfigItem;

static int parse_string(const char *value, void *data, const char **expected) {
        char **p = data;
        return free_and_strdup(p, isempty(value) ? NULL : value);
}

static int parse_strv(const char *value, void *data, const char **expected) {
        char ***p = data;
        _cleanup_strv_free_ char **l = NULL;
        _cleanup_free_ char *copy = strdup(value);
        char *save = NULL;

        if (!copy)
                return -ENOMEM;
        for (char *w = strtok_r(copy, " \t,", &save); w; w = strtok_r(NULL, " \t,", &save))
                if (strv_extend(&l, w) < 0)
                        return -ENOMEM;
        strv_free(*p);
        *p = TAKE_PTR(l);
        return 0;
}

static int parse_duration_item(const char *value, void *data, const char **expected) {
        *expected = "a duration such as 30s, 5min, 1h or 250ms";
        return parse_duration(value, data);
}

static int parse_duration_positive(const char *value, void *data, const char **expected) {
        uint64_t v;
        *expected = "a positive duration such as 30s, 5min, 1h or 250ms";
        int r = parse_duration(value, &v);
        if (r < 0)
                return r;
        if (v == 0)
                return -ERANGE;
        *(uint64_t *) data = v;
        return 0;
}

static int parse_size_item(const char *value, void *data, const char **expected) {
        *expected = "a size in bytes such as 65536, 64K or 1M";
        return parse_size(value, data);
}

static int parse_message_size(const char *value, void *data, const char **expected) {
        uint64_t v;
        *expected = "a size between 4K and 64M such as 1M";
        int r = parse_size(value, &v);
        if (r < 0)
                return r;
        if (v < 4096 || v > (UINT64_C(64) << 20))
                return -ERANGE;
        *(uint64_t *) data = v;
        return 0;
}

static int parse_bool_item(const char *value, void *data, const char **expected) {
        *expected = "a boolean (yes/no, true/false, on/off, 1/0)";
        int r = parse_boolean(value);
        if (r < 0)
                return r;
        *(bool *) data = r;
        return 0;
}

static int parse_tristate_item(const char *value, void *data, const char **expected) {
        *expected = "a boolean (yes/no, true/false, on/off, 1/0)";
        int r = parse_boolean(value);
        if (r < 0)
                return r;
        *(int *) data = r;
        return 0;
}

static int parse_uint_positive(const char *value, void *data, const char **expected) {
        unsigned v;
        *expected = "a whole number between 1 and 65535";
        int r = parse_uint(value, &v);
        if (r < 0)
                return r;
        if (v < 1 || v > 65535)
                return -ERANGE;
        *(unsigned *) data = v;
        return 0;
}

static int parse_log_level_item(const char *value, void *data, const char **expected) {
        *expected = "one of debug, info, notice, warning, err, crit, alert, emerg";
        int l = log_level_from_string(value);
        if (l < 0)
                return l;
        *(int *) data = l;
        return 0;
}

static int parse_log_target_item(const char *value, void *data, const char **expected) {
        *expected = "one of auto, journal, console, syslog";
        LogTarget t = log_target_from_string(value);
        if (t < 0)
                return t;
        *(LogTarget *) data = t;
        return 0;
}

static int parse_discovery_item(const char *value, void *data, const char **expected) {
        *expected = "broadcast or registry";
        DiscoveryMethod m = discovery_method_from_string(value);
        if (m < 0)
                return m;
        *(DiscoveryMethod *) data = m;
        return 0;
}

static int parse_identity_item(const char *value, void *data, const char **expected) {
        *expected = "an identity of 1 to 255 characters from [A-Za-z0-9._-], not starting with '.'";
        if (!identity_is_valid(value))
                return -EINVAL;
        return free_and_strdup(data, value);
}

static int parse_name_item(const char *value, void *data, const char **expected) {
        *expected = "a name of 1 to 64 characters from [A-Za-z0-9_-]";
        if (!name_is_valid(value, 64))
                return -EINVAL;
        return free_and_strdup(data, value);
}

static int parse_broker_urls(const char *value, void *data, const char **expected) {
        _cleanup_strv_free_ char **l = NULL;
        *expected = "a list of amqp:// or amqps:// URLs";
        int r = parse_strv(value, &l, expected);
        if (r < 0)
                return r;
        if (!l)
                return -EINVAL;
        for (char **u = l; *u; u++)
                if (!startswith(*u, "amqp://") && !startswith(*u, "amqps://"))
                        return -EINVAL;
        strv_free(*(char ***) data);
        *(char ***) data = TAKE_PTR(l);
        return 0;
}

static int parse_queue_type(const char *value, void *data, const char **expected) {
        *expected = "quorum or classic";
        if (!streq(value, "quorum") && !streq(value, "classic"))
                return -EINVAL;
        return free_and_strdup(data, value);
}

/* An INI value cannot hold CR or LF: they are always refused. */
static int parse_metachars(const char *value, void *data, const char **expected) {
        _cleanup_free_ char *v = NULL;
        if (asprintf(&v, "%s\r\n", value) < 0)
                return -ENOMEM;
        return free_and_strdup(data, v);
}

/* At most a request's own largest ttl (7 days). */
static int parse_max_ttl(const char *value, void *data, const char **expected) {
        uint64_t v;
        *expected = "a duration between 1s and 7d such as 5min";
        int r = parse_duration(value, &v);
        if (r < 0)
                return r;
        if (v < USEC_PER_SEC || v > UINT64_C(7) * 86400 * USEC_PER_SEC)
                return -ERANGE;
        *(uint64_t *) data = v;
        return 0;
}

static int parse_runner(const char *value, void *data, const char **expected) {
        *expected = "auto, no or the absolute path of the check runner's socket";
        if (!streq(value, "auto") && !streq(value, "no") && (value[0] != '/' || strlen(value) >= 108))
                return -EINVAL;
        return parse_string(value, data, expected);
}

static int parse_reply_to_list(const char *value, void *data, const char **expected) {
        _cleanup_strv_free_ char **l = NULL;
        *expected = "a list of queue names, each may end in *";
        int r = parse_strv(value, &l, expected);
        if (r < 0)
                return r;
        if (!l)
                return -EINVAL;
        for (char **n = l; *n; n++) {
                const char *star = strchr(*n, '*');
                if (strlen(*n) > 255 || (star && star[1] != '\0'))
                        return -EINVAL;
                for (const char *c = *n; *c; c++)
                        if ((unsigned char) *c < 0x21 || (unsigned char) *c > 0x7e)
                                return -EINVAL;
        }
        strv_free(*(char ***) data);
        *(char ***) data = TAKE_PTR(l);
        return 0;
}

/* [heartbeat] checks: NRPE command names, [A-Za-z0-9_.-], at most 64 of them. */
static int parse_check_list(const char *value, void *data, const char **expected) {
        _cleanup_strv_free_ char **l = NULL;
        *expected = "NRPE command names ([A-Za-z0-9_.-], 1 to 64 bytes), at most 64, separated by spaces";
        int r = parse_strv(value, &l, expected);
        if (r < 0)
                return r;
        if (strv_length(l) > 64)
                return -EINVAL;
        for (char **n = l; n && *n; n++) {
                size_t len = strlen(*n);
                if (len == 0 || len > 64 || strspn(*n, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-") != len)
                        return -EINVAL;
        }
        strv_free(*(char ***) data);
        *(char ***) data = TAKE_PTR(l);
        return 0;
}

/* The agents are those of the agent table (lib/agents/). */
static int parse_agents(const char *value, void *data, const char **expected) {
        static char expected_text[128];
        _cleanup_strv_free_ char **l = NULL;
        _cleanup_free_ char *names = agent_names_joined(", ", ", ");
        snprintf(expected_text, sizeof expected_text, "a list of agents among %s", strna(names));
        *expected = expected_text;
        int r = parse_strv(value, &l, expected);
        if (r < 0)
                return r;
        for (char **a = l; a && *a; a++)
                if (agent_from_string(*a) < 0)
                        return -EINVAL;
        strv_free(*(char ***) data);
        *(char ***) data = TAKE_PTR(l);
        return 0;
}

#define O(f) offsetof(MusterConfig, f)
static const ConfigItem config_items[] = {
        { "main",      "identity",              parse_identity_item,     O(identity) },
        { "main",      "collective",            parse_name_item,         O(collective) },
        { "main",      "prefix",                parse_name_item,         O(prefix) },
        { "main",      "log_level",             parse_log_level_item,    O(log_level) },
        { "main",      "log_target",            parse_log_target_item,   O(log_target) },
        { "main",      "max_message_size",      parse_message_size,      O(max_message_size) },

        { "broker",    "url",                   parse_broker_urls,       O(broker_urls) },
        { "broker",    "username",              parse_string,            O(username) },
        { "broker",    "password",              parse_string,            O(password) },
        { "broker",    "password_file",         parse_string,            O(password_file) },
        { "broker",    "heartbeat",             parse_duration_item,     O(heartbeat_usec) },
        { "broker",    "connect_timeout",       parse_duration_positive, O(connect_timeout_usec) },
        { "broker",    "reconnect_min",         parse_duration_positive, O(reconnect_min_usec) },
        { "broker",    "reconnect_max",         parse_duration_positive, O(reconnect_max_usec) },
        { "broker",    "tls_ca",                parse_string,            O(tls_ca) },
        { "broker",    "tls_cert",              parse_string,            O(tls_cert) },
        { "broker",    "tls_key",               parse_string,            O(tls_key) },
        { "broker",    "tls_verify_peer",       parse_bool_item,         O(tls_verify_peer) },
        { "broker",    "tls_verify_hostname",   parse_bool_item,         O(tls_verify_hostname) },

        { "security",  "psk_file",              parse_string,            O(psk_file) },
        { "security",  "accept_psk",            parse_tristate_item,     O(accept_psk) },
        { "security",  "private_key",           parse_string,            O(private_key) },
        { "security",  "key_id",                parse_identity_item,     O(key_id) },
        { "security",  "client_keys_dir",       parse_string,            O(client_keys_dir) },
        { "security",  "node_keys_dir",         parse_string,            O(node_keys_dir) },
        { "security",  "policy_file",           parse_string,            O(policy_file) },
        { "security",  "max_clock_skew",        parse_duration_item,     O(max_clock_skew_usec) },
        { "security",  "ttl",                   parse_duration_positive, O(ttl_usec) },
        { "security",  "max_ttl",               parse_max_ttl,           O(max_ttl_usec) },

        { "responder", "agents",                parse_agents,            O(agents) },
        { "responder", "facts_dir",             parse_string,            O(facts_dir) },
        { "responder", "classes_file",          parse_string,            O(classes_file) },
        { "responder", "max_concurrent_checks", parse_uint_positive,     O(max_concurrent_checks) },
        { "responder", "control_socket",        parse_string,            O(control_socket) },
        { "responder", "federated_replies",     parse_bool_item,         O(federated_replies) },
        { "responder", "allowed_reply_to",      parse_reply_to_list,     O(allowed_reply_to) },

        { "nrpe",      "command_dir",           parse_string,            O(nrpe_dir) },
        { "nrpe",      "command_timeout",       parse_duration_positive, O(nrpe_timeout_usec) },
        { "nrpe",      "output_max",            parse_size_item,         O(nrpe_output_max) },
        { "nrpe",      "allow_arguments",       parse_bool_item,         O(nrpe_allow_arguments) },
        { "nrpe",      "nasty_metachars",       parse_metachars,         O(nrpe_nasty_metachars) },
        { "nrpe",      "user",                  parse_string,            O(nrpe_user) },
        { "nrpe",      "runner",                parse_runner,            O(nrpe_runner) },

        { "client",    "discovery_method",      parse_discovery_item,    O(discovery_method) },
        { "client",    "discovery_timeout",     parse_duration_positive, O(discovery_timeout_usec) },
        { "client",    "timeout",               parse_duration_positive, O(client_timeout_usec) },
        { "client",    "registry_dir",          parse_string,            O(registry_dir) },

        { "collector", "name",                  parse_name_item,         O(collector_name) },
        { "collector", "state_dir",             parse_string,            O(state_dir) },
        { "collector", "prefetch",              parse_uint_positive,     O(collector_prefetch) },
        { "collector", "queue_type",            parse_queue_type,        O(collector_queue_type) },
        { "collector", "control_socket",        parse_string,            O(collector_control_socket) },
        { "collector", "metrics_address",       parse_string,            O(metrics_address) },
        { "collector", "sweep_interval",        parse_duration_positive, O(sweep_interval_usec) },
        { "collector", "stale_grace",           parse_duration_item,     O(stale_grace_usec) },
        { "collector", "expire_after",          parse_duration_item,     O(expire_after_usec) },

        { "collector", "check_output_refresh",  parse_duration_item,     O(check_output_refresh_usec) },

        { "heartbeat", "interval",              parse_duration_positive, O(heartbeat_interval_usec) },
        { "heartbeat", "checks",                parse_check_list,        O(heartbeat_checks) },
        { "heartbeat", "check_timeout",         parse_duration_item,     O(heartbeat_check_timeout_usec) },
};
#undef O

/* NRPE's own NASTY_METACHARS. */
#define DEFAULT_NASTY_METACHARS "|`&><'\"\\[]{};$\r\n"

int config_init(MusterConfig *c) {
        char host[HOST_NAME_MAX + 1] = "";

        *c = (MusterConfig) {
                .log_level = LOG_INFO,
                .log_target = LOG_TARGET_AUTO,
                .max_message_size = UINT64_C(1) << 20,
                .heartbeat_usec = 30 * USEC_PER_SEC,
                .connect_timeout_usec = 5 * USEC_PER_SEC,
                .reconnect_min_usec = 1 * USEC_PER_SEC,
                .reconnect_max_usec = 60 * USEC_PER_SEC,
                .tls_verify_peer = true,
                .tls_verify_hostname = true,
                .max_clock_skew_usec = 30 * USEC_PER_SEC,
                .accept_psk = -1,
                .ttl_usec = 60 * USEC_PER_SEC,
                .max_ttl_usec = 300 * USEC_PER_SEC,
                .max_concurrent_checks = 16,
                .nrpe_timeout_usec = 60 * USEC_PER_SEC,
                .nrpe_output_max = 64 * 1024,
                .nrpe_allow_arguments = false,
                .discovery_method = DISCOVERY_BROADCAST,
                .discovery_timeout_usec = 2 * USEC_PER_SEC,
                .client_timeout_usec = 10 * USEC_PER_SEC,
                .collector_prefetch = 256,
                .sweep_interval_usec = 30 * USEC_PER_SEC,
                .stale_grace_usec = 30 * USEC_PER_SEC,
                .heartbeat_interval_usec = 300 * USEC_PER_SEC,
                .check_output_refresh_usec = 300 * USEC_PER_SEC,
        };

        (void) gethostname(host, sizeof host - 1);
        /* A host name is not always a valid identity; fall back to "localhost". */
        if (!identity_is_valid(host))
                strcpy(host, "localhost");

        if (!(c->identity = strdup(host)) ||
            !(c->collective = strdup("muster")) ||
            !(c->prefix = strdup("muster")) ||
            strv_extend(&c->broker_urls, "amqp://localhost:5672/") < 0 ||
            !(c->username = strdup("guest")) ||
            !(c->password = strdup("guest")) ||
            !(c->tls_ca = strdup("/etc/ssl/certs/ca-certificates.crt")) ||
            !(c->psk_file = strdup(PKGSYSCONFDIR "/psk")) ||
            !(c->client_keys_dir = strdup(PKGSYSCONFDIR "/clients.d")) ||
            !(c->node_keys_dir = strdup(PKGSYSCONFDIR "/nodes.d")) ||
            !(c->facts_dir = strdup(PKGSYSCONFDIR "/facts.d")) ||
            !(c->classes_file = strdup("/var/lib/puppet/state/classes.txt")) ||
            !(c->nrpe_dir = strdup(PKGSYSCONFDIR "/nrpe.d")) ||
            !(c->nrpe_nasty_metachars = strdup(DEFAULT_NASTY_METACHARS)) ||
            !(c->nrpe_user = strdup("muster-check")) ||
            !(c->nrpe_runner = strdup("auto")) ||
            !(c->registry_dir = strdup(STATEDIR "/registrations")) ||
            !(c->collector_name = strdup("default")) ||
            !(c->state_dir = strdup(STATEDIR "/registrations")) ||
            !(c->control_socket = strdup(RUNSTATEDIR "/responder.control")) ||
            strv_extend(&c->allowed_reply_to, "amq.rabbitmq.reply-to.*") < 0 ||
            !(c->collector_queue_type = strdup("classic")) ||
            !(c->collector_control_socket = strdup(RUNSTATEDIR "/collector.control"))) {
                config_done(c);
                return -ENOMEM;
        }
        /* Every agent of the table is served unless [responder] agents= says otherwise. */
        for (size_t i = 0; i < _AGENT_MAX; i++)
                if (strv_extend(&c->agents, agent_table[i]->name) < 0) {
                        config_done(c);
                        return -ENOMEM;
                }
        return 0;
}

void config_done(MusterConfig *c) {
        free(c->identity);
        free(c->collective);
        free(c->prefix);
        strv_free(c->broker_urls);
        free(c->username);
        if (c->password)
                explicit_bzero(c->password, strlen(c->password));
        free(c->password);
        free(c->password_file);
        free(c->tls_ca);
        free(c->tls_cert);
        free(c->tls_key);
        free(c->psk_file);
        free(c->private_key);
        free(c->key_id);
        free(c->client_keys_dir);
        free(c->node_keys_dir);
        free(c->policy_file);
        strv_free(c->agents);
        free(c->facts_dir);
        free(c->classes_file);
        free(c->nrpe_dir);
        free(c->nrpe_nasty_metachars);
        free(c->nrpe_user);
        free(c->nrpe_runner);
        free(c->registry_dir);
        free(c->collector_name);
        free(c->state_dir);
        free(c->control_socket);
        strv_free(c->allowed_reply_to);
        free(c->collector_queue_type);
        free(c->collector_control_socket);
        free(c->metrics_address);
        strv_free(c->heartbeat_checks);
        free(c->error);
        *c = (MusterConfig) {};
}

/* Keep the first error for a one-line status as well as logging it. */
_printf_(3, 4) static void config_note_error(MusterConfig *c, int error, const char *format, ...) {
        va_list ap;

        if (c->error)
                return;
        errno = abs(error);
        va_start(ap, format);
        if (vasprintf(&c->error, format, ap) < 0)
                c->error = NULL;
        va_end(ap);
}
#define config_error_errno(c, e, ...) \
        ({ config_note_error(c, e, __VA_ARGS__); log_error_errno(e, __VA_ARGS__); })
#define config_error(c, ...) (void) config_error_errno(c, 0, __VA_ARGS__)

typedef struct ParseState {
        MusterConfig *config;
        const char *path;
        FILE *f;
        unsigned line;
        unsigned errors;
} ParseState;

/* inih reads through us so we know the line number of every key (inih's own
 * line numbers are a compile-time option of the library), and so that every
 * malformed line is reported, not only the first. */
static bool line_is_well_formed(const char *line) {
        const char *p = line;

        while (*p == ' ' || *p == '\t')
                p++;
        if (*p == '\0' || *p == '\n' || *p == '\r' || *p == ';' || *p == '#')
                return true;
        if (p != line)
                return true; /* indented: a continuation of the previous value */
        if (*p == '[')
                return strchr(p, ']') != NULL;
        return strpbrk(p, "=:") != NULL && *p != '=' && *p != ':';
}

static char *reader(char *buf, int size, void *userdata) {
        ParseState *s = userdata;

        if (!fgets(buf, size, s->f))
                return NULL;
        s->line++;
        size_t n = strlen(buf);
        if (n == (size_t) size - 1 && buf[n - 1] != '\n' && !feof(s->f)) {
                /* Over-long line: swallow the rest and report it. */
                int ch;
                while ((ch = fgetc(s->f)) != EOF && ch != '\n')
                        ;
                config_error(s->config, "%s:%u: line too long (more than %d bytes)", s->path, s->line, size - 2);
                s->errors++;
                buf[0] = '\0';
                return buf;
        }
        if (!line_is_well_formed(buf)) {
                config_error(s->config, "%s:%u: syntax error, expected \"[section]\", \"key = value\" or a comment",
                             s->path, s->line);
                s->errors++;
                buf[0] = '\0'; /* inih sees an empty line */
        }
        return buf;
}

static int handler(void *userdata, const char *section, const char *name, const char *value) {
        ParseState *s = userdata;

        for (size_t i = 0; i < ELEMENTSOF(config_items); i++) {
                const ConfigItem *it = &config_items[i];
                if (!streq(it->section, section) || !streq(it->key, name))
                        continue;

                const char *expected = "a valid value";
                int r = it->parse(value, (uint8_t *) s->config + it->offset, &expected);
                if (r == -ENOMEM) {
                        log_oom();
                        s->errors++;
                        return 0;
                }
                if (r < 0) {
                        config_error(s->config, "%s:%u: invalid value for %s.%s: \"%s\", expected %s",
                                     s->path, s->line, section, name, value, expected);
                        s->errors++;
                        return 0;
                }
                return 1;
        }

        if (isempty(section))
                log_warning("%s:%u: key \"%s\" outside of any [section], ignoring.", s->path, s->line, name);
        else
                log_warning("%s:%u: unknown key \"%s\" in section [%s], ignoring.", s->path, s->line, name, section);
        return 1;
}

int config_parse_file(MusterConfig *c, const char *path, unsigned *ret_errors) {
        _cleanup_fclose_ FILE *f = NULL;
        ParseState s = { .config = c, .path = path };
        int r;

        f = fopen(path, "re");
        if (!f)
                return -errno;
        s.f = f;

        r = ini_parse_stream(reader, &s, handler, &s);
        /* A positive r is the first line with an error, every one of which
         * was already reported by reader() or handler(). */
        if (r < 0)
                return config_error_errno(c, -EIO, "Failed to parse %s", path);
        if (ret_errors)
                *ret_errors = s.errors;
        return s.errors > 0 ? -EINVAL : 0;
}

int config_load(MusterConfig *c, const char *path, bool optional) {
        _cleanup_strv_free_ char **dropins = NULL;
        _cleanup_free_ char *copy = NULL, *dir = NULL;
        int r, ret = 0;

        if (!path) {
                path = MUSTER_CONFIG_FILE;
                optional = true;
        }

        r = config_parse_file(c, path, NULL);
        if (r == -ENOENT && optional)
                r = 0;
        else if (r == -ENOENT)
                return config_error_errno(c, r, "Failed to open configuration file %s: %m", path);
        else if (r < 0 && r != -EINVAL)
                return config_error_errno(c, r, "Failed to read configuration file %s: %m", path);
        if (r < 0)
                ret = r;

        copy = strdup(path);
        if (!copy)
                return log_oom();
        if (asprintf(&dir, "%s/conf.d", dirname(copy)) < 0)
                return log_oom();

        r = dir_list_sorted(dir, ".conf", &dropins);
        if (r < 0)
                return config_error_errno(c, r, "Failed to list %s: %m", dir);

        for (char **d = dropins; d && *d; d++) {
                r = config_parse_file(c, *d, NULL);
                if (r == -EINVAL)
                        ret = r;
                else if (r < 0)
                        return config_error_errno(c, r, "Failed to read configuration file %s: %m", *d);
        }

        if (c->reconnect_min_usec > c->reconnect_max_usec) {
                config_error(c, "broker.reconnect_min must not be larger than broker.reconnect_max");
                ret = -EINVAL;
        }
        return ret;
}

int config_load_all(const char *path, ConfigLoadFlags flags, MusterConfig *ret, char *ret_error, size_t n) {
        MusterConfig c;
        int r;

        r = config_init(&c);
        if (r < 0) {
                if (ret_error && n > 0)
                        snprintf(ret_error, n, "out of memory");
                return log_oom();
        }
        r = config_load(&c, path, flags & CONFIG_LOAD_OPTIONAL);
        if (r >= 0 && !(flags & CONFIG_LOAD_NO_SECRETS))
                r = config_resolve_secrets(&c);
        if (r < 0) {
                if (ret_error && n > 0)
                        snprintf(ret_error, n, "%s", c.error ?: "invalid configuration");
                config_done(&c);
                return r;
        }
        if (flags & CONFIG_LOAD_LOG) {
                log_set_max_level(c.log_level);
                log_set_target(c.log_target);
        }
        *ret = c;
        return 0;
}

int config_resolve_secrets(MusterConfig *c) {
        if (!c->password_file)
                return 0;
        _cleanup_free_ char *pw = NULL;
        int r = read_one_line_file(c->password_file, &pw);
        if (r < 0)
                return config_error_errno(c, r, "Failed to read broker password file %s: %m", c->password_file);
        if (c->password)
                explicit_bzero(c->password, strlen(c->password));
        free(c->password);
        c->password = TAKE_PTR(pw);
        return 0;
}

static bool strv_equal(char **a, char **b) {
        size_t n = strv_length(a);
        if (n != strv_length(b))
                return false;
        for (size_t i = 0; i < n; i++)
                if (!streq(a[i], b[i]))
                        return false;
        return true;
}

bool config_accept_psk(const MusterConfig *c, size_t n_client_keys) {
        return c->accept_psk >= 0 ? c->accept_psk > 0 : n_client_keys == 0;
}

bool config_connection_changed(const MusterConfig *a, const MusterConfig *b) {
        return !strv_equal(a->broker_urls, b->broker_urls) ||
                !streq_ptr(a->username, b->username) ||
                !streq_ptr(a->password, b->password) ||
                !streq_ptr(a->password_file, b->password_file) ||
                a->heartbeat_usec != b->heartbeat_usec ||
                !streq_ptr(a->tls_ca, b->tls_ca) ||
                !streq_ptr(a->tls_cert, b->tls_cert) ||
                !streq_ptr(a->tls_key, b->tls_key) ||
                a->tls_verify_peer != b->tls_verify_peer ||
                a->tls_verify_hostname != b->tls_verify_hostname;
}

bool config_broker_changed(const MusterConfig *a, const MusterConfig *b) {
        return config_connection_changed(a, b) ||
                !streq_ptr(a->identity, b->identity) ||
                !streq_ptr(a->collective, b->collective) ||
                !streq_ptr(a->prefix, b->prefix) ||
                !strv_equal(a->agents, b->agents) ||
                a->federated_replies != b->federated_replies;
}

static const char *const discovery_table[_DISCOVERY_MAX] = {
        [DISCOVERY_BROADCAST] = "broadcast",
        [DISCOVERY_REGISTRY] = "registry",
};

const char *discovery_method_to_string(DiscoveryMethod m) {
        return m >= 0 && m < _DISCOVERY_MAX ? discovery_table[m] : NULL;
}

DiscoveryMethod discovery_method_from_string(const char *s) {
        for (int i = 0; i < _DISCOVERY_MAX; i++)
                if (streq(s, discovery_table[i]))
                        return i;
        return _DISCOVERY_INVALID;
}

int config_exchange(const MusterConfig *c, const char *kind, char **ret) {
        return asprintf(ret, "%s.%s", c->prefix, kind) < 0 ? -ENOMEM : 0;
}
