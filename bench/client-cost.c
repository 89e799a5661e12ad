/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* client-cost: the CPU time the client spends per node.
 *
 *   client-cost registry --dir DIR --nodes N [--repeats R]
 *       Fill DIR with N registration files (as the collector writes them) if
 *       it holds none, write the registry index, then time registry
 *       discovery reading every file (the old path) and through the index,
 *       without a filter and with -F group=0. Needs no broker.
 *
 *   client-cost replies --config PATH --dir DIR [--repeats R]
 *       Against a broker and muster-simulator (whose registry is DIR): send
 *       a directed ping to every node through client_call() and time the
 *       client's CPU per reply; then the same requests with a bare consumer
 *       that only receives the replies (librabbitmq's floor), in the same
 *       process on the same connection.
 *
 * Prints one JSON object; CPU times are getrusage(RUSAGE_SELF), user plus
 * system, in microseconds per node. For client_call() also user and system
 * apart, replies per wakeup (replies / voluntary context switches: how many
 * the broker had delivered each time the client woke) and minor page faults
 * per 1,000 replies (fresh memory, 10-20 us of CPU per page on the VM this
 * was written on). */

#include <fcntl.h>
#include <getopt.h>
#include <limits.h>
#include <inttypes.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "client.h"
#include "config.h"
#include "filter.h"
#include "log.h"
#include "message.h"
#include "registry.h"
#include "util.h"

static const char *arg_dir = NULL;
static const char *arg_config = NULL;
static size_t arg_nodes = 1000;
static unsigned arg_repeats = 5;
static bool arg_no_floor = false;
static const char *arg_nrpe = NULL;      /* replies: ask the nrpe agent to run this, not a ping */

static uint64_t cpu_usec(void) {
        struct rusage ru;
        (void) getrusage(RUSAGE_SELF, &ru);
        return (uint64_t) ru.ru_utime.tv_sec * USEC_PER_SEC + (uint64_t) ru.ru_utime.tv_usec +
               (uint64_t) ru.ru_stime.tv_sec * USEC_PER_SEC + (uint64_t) ru.ru_stime.tv_usec;
}

/* User and system CPU and voluntary context switches (wakeups from a wait), apart. */
typedef struct Usage {
        uint64_t user, sys, nvcsw, minflt;
} Usage;

static Usage usage_now(void) {
        struct rusage ru;
        (void) getrusage(RUSAGE_SELF, &ru);
        return (Usage) {
                .user = (uint64_t) ru.ru_utime.tv_sec * USEC_PER_SEC + (uint64_t) ru.ru_utime.tv_usec,
                .sys = (uint64_t) ru.ru_stime.tv_sec * USEC_PER_SEC + (uint64_t) ru.ru_stime.tv_usec,
                .nvcsw = (uint64_t) ru.ru_nvcsw,
                .minflt = (uint64_t) ru.ru_minflt,
        };
}

static size_t count_files(const char *dir) {
        _cleanup_closedir_ DIR *d = opendir(dir);
        struct dirent *de;
        size_t n = 0;
        if (!d)
                return 0;
        while ((de = readdir(d)))
                if (identity_is_valid(de->d_name))
                        n++;
        return n;
}

/* The simulator's registrations: facts group, rack, role, os; classes sim
 * and the role; agents discovery, rpcutil, nrpe. */
static int populate(const char *dir, size_t n) {
        static const char *const roles[] = { "web", "db", "cache" };
        char *agents[] = { (char *) "discovery", (char *) "rpcutil", (char *) "nrpe", NULL };
        _cleanup_close_ int dfd = -1;
        int64_t now = (int64_t) time(NULL);
        int r;

        (void) mkdir(dir, 0755);
        dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0)
                return log_error_errno(-errno, "Failed to open %s: %m", dir);
        for (size_t i = 0; i < n; i++) {
                _cleanup_json_ json_t *facts = NULL, *j = NULL;
                _cleanup_free_ char *body = NULL;
                _cleanup_registration_ Registration *reg = NULL;
                char id[32], group[16], rack[16], boot_id[64], err[MESSAGE_ERROR_MAX];
                char *classes[] = { (char *) "sim", (char *) roles[i % 3], NULL };
                size_t size;

                snprintf(id, sizeof id, "sim%05zu", i + 1);
                snprintf(group, sizeof group, "%zu", i % 10);
                snprintf(rack, sizeof rack, "r%02zu", i / 40 % 25);
                snprintf(boot_id, sizeof boot_id, "00000000-0000-4000-8000-%012zu", i + 1);
                facts = json_pack("{s:s, s:s, s:s, s:s}", "group", group, "rack", rack, "role", roles[i % 3],
                                  "os", "debian");
                j = facts ? registration_build(id, "muster", now, 300, facts, classes, agents, boot_id, 3600,
                                               "bench") : NULL;
                if (!j || message_dump(j, &body, &size) < 0)
                        return log_oom();
                r = registration_parse(body, size, 1 << 20, &reg, err);
                if (r < 0)
                        return log_error_errno(r, "Invalid registration: %s", err);
                r = registry_store(dfd, reg, now, now, NULL);
                if (r < 0)
                        return log_error_errno(r, "Failed to write %s: %m", id);
        }
        return 0;
}

static void print_list(const char *name, const double *v, unsigned n, bool last) {
        printf("  \"%s\": [", name);
        for (unsigned i = 0; i < n; i++)
                printf("%s%.3f", i ? ", " : "", v[i]);
        printf("]%s\n", last ? "" : ",");
}

static int run_registry(void) {
        _cleanup_filter_ Filter *group0 = NULL;
        double files[64], index[64], checked[64], files_f[64], index_f[64], checked_f[64];
        const char *error = NULL;
        RegistryScanStats ws = {};
        size_t n;
        int r;

        n = count_files(arg_dir);
        if (n == 0) {
                r = populate(arg_dir, arg_nodes);
                if (r < 0)
                        return r;
                n = count_files(arg_dir);
        }
        group0 = filter_new();
        if (!group0 || filter_add_fact_arg(group0, "group=0", &error) < 0)
                return log_error_errno(-EINVAL, "Cannot build the filter: %s", strna(error));

        uint64_t c0 = cpu_usec();
        r = registry_index_write(arg_dir, &ws);
        if (r < 0)
                return log_error_errno(r, "Failed to write the index: %m");
        uint64_t write_first = cpu_usec() - c0;
        /* Creating .index/ moved the directory's mtime: the collector's next
         * write, once it is 2 s old, carries the stamp. */
        if (!ws.stamped)
                (void) usleep(2100 * 1000);
        c0 = cpu_usec();
        r = registry_index_write(arg_dir, &ws);
        if (r < 0)
                return log_error_errno(r, "Failed to write the index: %m");
        uint64_t write_again = cpu_usec() - c0;
        if (!ws.stamped)
                return log_error_errno(-ESTALE, "The directory keeps changing: the index cannot be stamped.");

        for (unsigned i = 0; i < arg_repeats; i++) {
                struct { RegistryScanFlags flags; const Filter *f; double *out; } runs[] = {
                        { REGISTRY_SCAN_NO_INDEX, NULL, &files[i] }, { 0, NULL, &index[i] },
                        { REGISTRY_SCAN_MTIME, NULL, &checked[i] },
                        { REGISTRY_SCAN_NO_INDEX, group0, &files_f[i] }, { 0, group0, &index_f[i] },
                        { REGISTRY_SCAN_MTIME, group0, &checked_f[i] },
                };
                for (size_t k = 0; k < ELEMENTSOF(runs); k++) {
                        _cleanup_strv_free_ char **ids = NULL;
                        RegistryScanStats st = {};
                        size_t want = runs[k].f ? (n + 9) / 10 : n;
                        c0 = cpu_usec();
                        bool use_index = !(runs[k].flags & REGISTRY_SCAN_NO_INDEX);
                        r = client_registry_discover_full(arg_dir, "muster", runs[k].f, runs[k].flags, &ids, NULL,
                                                          &st);
                        uint64_t c = cpu_usec() - c0;
                        if (r < 0)
                                return log_error_errno(r, "Discovery failed: %m");
                        if (strv_length(ids) != want || (use_index && st.n_indexed != n) ||
                            (use_index && st.stamped != !(runs[k].flags & REGISTRY_SCAN_MTIME)))
                                return log_error_errno(-EIO, "Discovery found %zu of %zu nodes (%zu indexed).",
                                                       strv_length(ids), want, st.n_indexed);
                        *runs[k].out = (double) c / (double) n;
                }
        }
        struct stat ist;
        char ipath[PATH_MAX];
        snprintf(ipath, sizeof ipath, "%s/%s/registry", arg_dir, REGISTRY_INDEX_NAME);
        if (stat(ipath, &ist) < 0)
                return log_error_errno(-errno, "No index: %m");
        printf("{\n  \"files\": %zu,\n  \"index_bytes\": %jd,\n", n, (intmax_t) ist.st_size);
        printf("  \"index_stamped\": %s,\n", ws.stamped ? "true" : "false");
        printf("  \"index_write_ms\": %.1f,\n  \"index_rewrite_ms\": %.1f,\n", write_first / 1000.0,
               write_again / 1000.0);
        print_list("files_us_per_node", files, arg_repeats, false);
        print_list("index_us_per_node", index, arg_repeats, false);
        print_list("index_checked_us_per_node", checked, arg_repeats, false);
        print_list("files_filter_us_per_node", files_f, arg_repeats, false);
        print_list("index_filter_us_per_node", index_f, arg_repeats, false);
        print_list("index_checked_filter_us_per_node", checked_f, arg_repeats, true);
        printf("}\n");
        return 0;
}

/* The floor: the same signed request to every node through librabbitmq's
 * amqp_basic_publish() (timed as ret_publish), then the replies received
 * with amqp_consume_message() and dropped (timed as ret_receive: replies
 * that came during the publishing wait in the socket and are read then). */
static int floor_round(Client *c, char **targets, size_t n, uint64_t *ret_publish, uint64_t *ret_receive) {
        _cleanup_json_ json_t *j = NULL;
        _cleanup_free_ char *body = NULL, *exchange = NULL;
        char requestid[33], sig[SIGNATURE_HEX_MAX], key[512];
        const char *scheme = NULL, *key_id = NULL;
        size_t size, got = 0;
        int r;

        uint64_t c0 = cpu_usec();
        r = random_hex_id(requestid);
        if (r < 0)
                return r;
        j = request_build(requestid, c->config->identity, c->callerid, c->config->collective, "discovery", "ping",
                          (int64_t) time(NULL), 60, NULL, NULL);
        if (!j || message_dump(j, &body, &size) < 0 || config_exchange(c->config, "directed", &exchange) < 0)
                return -ENOMEM;
        r = signer_sign(&c->signer, body, size, sig, &scheme, &key_id);
        if (r < 0)
                return r;
        PublishOptions o = { .reply_to = "amq.rabbitmq.reply-to", .signature = sig, .scheme = scheme,
                             .key_id = key_id, .message_id = requestid, .expiration_ms = 60000 };
        for (size_t i = 0; i < n; i++) {
                snprintf(key, sizeof key, "%s.node.%s", c->config->collective, targets[i]);
                r = amqp_session_publish(&c->session, exchange, key, body, size, &o);
                if (r < 0)
                        return log_error_errno(r, "Publish failed: %s", c->session.error);
        }
        uint64_t c1 = cpu_usec();
        uint64_t deadline = now_usec(CLOCK_MONOTONIC) + 120 * USEC_PER_SEC;
        while (got < n && now_usec(CLOCK_MONOTONIC) < deadline) {
                struct timeval tv = { .tv_sec = 1 };
                amqp_envelope_t env;
                amqp_maybe_release_buffers(c->session.conn);
                amqp_rpc_reply_t res = amqp_consume_message(c->session.conn, &env, &tv, 0);
                if (res.reply_type == AMQP_RESPONSE_NORMAL) {
                        got++;
                        amqp_destroy_envelope(&env);
                        continue;
                }
                if (res.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && res.library_error == AMQP_STATUS_TIMEOUT)
                        continue;
                return log_error_errno(-EIO, "Lost the broker connection.");
        }
        *ret_publish = c1 - c0;
        *ret_receive = cpu_usec() - c1;
        return got == n ? 0 : log_error_errno(-ETIMEDOUT, "Floor: %zu of %zu replies.", got, n);
}

typedef struct SampleTally {
        ClientNrpeTally tally;
        unsigned show;                 /* print the data of this many first replies */
} SampleTally;

static void sample_tally_reply(const ClientReply *reply, size_t n_received, size_t n_expected, void *userdata) {
        SampleTally *t = userdata;
        if (n_received <= t->show) {
                /* What the replies carried: the bench's reader checks it. */
                _cleanup_free_ char *d = json_dumps(reply->data, JSON_COMPACT | JSON_SORT_KEYS);
                fprintf(stderr, "reply %zu: %s %s\n", n_received - 1, reply->identity, strna(d));
        }
        client_nrpe_tally_reply(reply, n_received, n_expected, &t->tally);
}

static int run_replies(void) {
        _cleanup_strv_free_ char **targets = NULL;
        MusterConfig config;
        Client c = {};
        double per_reply[64], floor[64], floor_publish[64], floor_receive[64];
        double user[64], sys[64], wakeups[64], faults[64];
        int r;

        r = config_init(&config);
        if (r < 0)
                return log_oom();
        r = config_load(&config, arg_config, false);
        if (r < 0)
                return log_error_errno(r, "Failed to load %s: %m", arg_config);
        r = config_resolve_secrets(&config);
        if (r < 0)
                return log_error_errno(r, "Failed to read the secrets: %m");

        r = client_registry_discover(arg_dir, config.collective, NULL, &targets, NULL);
        if (r < 0)
                return log_error_errno(r, "Discovery failed: %m");
        size_t n = strv_length(targets);
        if (n == 0)
                return log_error_errno(-ENOENT, "No nodes in %s.", arg_dir);

        r = client_open(&c, &config, now_usec(CLOCK_MONOTONIC) + 600 * USEC_PER_SEC);
        log_warnings(c.warnings);
        if (r < 0)
                return log_error_errno(r, "%s", c.error);
        _cleanup_json_ json_t *nrpe_data = arg_nrpe ? json_pack("{s:s}", "command", arg_nrpe) : NULL;
        if (arg_nrpe && !nrpe_data)
                return log_oom();
        /* With --nrpe, a first call that is not measured keeps the whole
         * data and prints two replies' (what the replies carry); the
         * measured ones keep what check-mc-nrpe keeps and build what it reads. */
        for (int i = arg_nrpe ? -1 : 0; i < (int) arg_repeats; i++) {
                ClientResult res = {};
                SampleTally tally = { .show = i < 0 ? 2 : 0 };
                ClientRequest req = {
                        .agent = arg_nrpe ? "nrpe" : NULL,
                        .action = arg_nrpe ? "runcommand" : NULL,
                        .data = nrpe_data,
                        .discovery_only = !arg_nrpe,
                        .targets = targets,
                        .method = DISCOVERY_REGISTRY,
                        .timeout_usec = 120 * USEC_PER_SEC,
                        .discovery_timeout_usec = 120 * USEC_PER_SEC,
                        .on_reply = arg_nrpe ? sample_tally_reply : NULL,
                        .userdata = &tally,
                        .drop_data = arg_nrpe,
                        .data_keys = arg_nrpe && i >= 0 ? client_nrpe_tally_keys(&tally.tally) : NULL,
                };
                c.deadline = now_usec(CLOCK_MONOTONIC) + 120 * USEC_PER_SEC;
                Usage u0 = usage_now();
                uint64_t c0 = cpu_usec();
                r = client_call(&c, &req, &res);
                uint64_t cpu = cpu_usec() - c0;
                Usage u1 = usage_now();
                if (r < 0)
                        return log_error_errno(r, "client_call failed: %s", c.error);
                if (res.n_replies != n)
                        return log_error_errno(-EIO, "%zu of %zu replies.", res.n_replies, n);
                if (arg_nrpe && (tally.tally.error < 0 || tally.tally.n != n))
                        return log_error_errno(-EIO, "%zu of %zu replies tallied.", tally.tally.n, n);
                client_nrpe_tally_done(&tally.tally);
                client_result_done(&res);
                if (i < 0)
                        continue;
                per_reply[i] = (double) cpu / (double) n;
                user[i] = (double) (u1.user - u0.user) / (double) n;
                sys[i] = (double) (u1.sys - u0.sys) / (double) n;
                wakeups[i] = (double) n / (double) MAX(u1.nvcsw - u0.nvcsw, (uint64_t) 1);
                faults[i] = (double) (u1.minflt - u0.minflt) * 1000.0 / (double) n;

                if (arg_no_floor) {
                        floor[i] = floor_publish[i] = floor_receive[i] = 0;
                        continue;
                }
                uint64_t fpub = 0, frecv = 0;
                r = floor_round(&c, targets, n, &fpub, &frecv);
                if (r < 0)
                        return r;
                floor[i] = (double) (fpub + frecv) / (double) n;
                floor_publish[i] = (double) fpub / (double) n;
                floor_receive[i] = (double) frecv / (double) n;
        }
        client_close(&c);
        config_done(&config);
        printf("{\n  \"nodes\": %zu,\n", n);
        print_list("client_us_per_reply", per_reply, arg_repeats, false);
        print_list("client_user_us_per_reply", user, arg_repeats, false);
        print_list("client_sys_us_per_reply", sys, arg_repeats, false);
        print_list("client_replies_per_wakeup", wakeups, arg_repeats, false);
        print_list("client_page_faults_per_1000_replies", faults, arg_repeats, false);
        print_list("floor_us_per_reply", floor, arg_repeats, false);
        print_list("floor_publish_us_per_reply", floor_publish, arg_repeats, false);
        print_list("floor_receive_us_per_reply", floor_receive, arg_repeats, true);
        printf("}\n");
        return 0;
}

static void help(void) {
        printf("Usage: client-cost registry --dir DIR [--nodes N] [--repeats R]\n"
               "       client-cost replies --config PATH --dir DIR [--repeats R] [--no-floor] [--nrpe COMMAND]\n\n"
               "The client's CPU time per registry node and per reply (see the source).\n");
}

int main(int argc, char *argv[]) {
        static const struct option options[] = {
                { "dir", required_argument, NULL, 'd' },
                { "config", required_argument, NULL, 'c' },
                { "nodes", required_argument, NULL, 'n' },
                { "repeats", required_argument, NULL, 'r' },
                { "no-floor", no_argument, NULL, 'F' },
                { "nrpe", required_argument, NULL, 'N' },
                { "help", no_argument, NULL, 'h' },
                {}
        };
        uint64_t u;
        int c, r;

        log_setup("client-cost", false);
        while ((c = getopt_long(argc, argv, "d:c:n:r:h", options, NULL)) >= 0)
                switch (c) {
                case 'd':
                        arg_dir = optarg;
                        break;
                case 'c':
                        arg_config = optarg;
                        break;
                case 'n':
                        if (parse_uint64(optarg, &u) < 0 || u < 1 || u > 99999)
                                return log_error_errno(-EINVAL, "Invalid --nodes."), 2;
                        arg_nodes = (size_t) u;
                        break;
                case 'r':
                        if (parse_uint64(optarg, &u) < 0 || u < 1 || u > 64)
                                return log_error_errno(-EINVAL, "Invalid --repeats (1 to 64)."), 2;
                        arg_repeats = (unsigned) u;
                        break;
                case 'F':
                        arg_no_floor = true;
                        break;
                case 'N':
                        arg_nrpe = optarg;
                        break;
                case 'h':
                        help();
                        return 0;
                default:
                        return 2;
                }
        if (optind + 1 != argc || !arg_dir) {
                help();
                return 2;
        }
        if (streq(argv[optind], "registry"))
                r = run_registry();
        else if (streq(argv[optind], "replies") && arg_config)
                r = run_replies();
        else {
                help();
                return 2;
        }
        return r < 0 ? 1 : 0;
}
