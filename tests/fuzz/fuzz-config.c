/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* muster.conf and its drop-ins. The input is split on "\n#%%\n": the first
 * part becomes <tmp>/muster.conf, the next ones (at most three)
 * <tmp>/conf.d/NN-fuzz.conf, and config_load() reads them all. */

/* lib/config.h, spelled so that it cannot be taken for a generated config.h;
 * this is found as <srcdir>/lib/../lib/config.h through -I<srcdir>/lib. */
#include "../lib/config.h"
#include "fuzz.h"
#include "macro.h"
#include "util.h"

#define SEPARATOR "\n#%%\n"
#define DROPINS_MAX 3

static char main_path[4200];
static char dropin_dir[4200];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        const char *tmp;

        (void) argc;
        (void) argv;
        fuzz_setup_logging();
        tmp = fuzz_tmpdir();
        snprintf(main_path, sizeof main_path, "%s/muster.conf", tmp);
        snprintf(dropin_dir, sizeof dropin_dir, "%s/conf.d", tmp);
        return 0;
}

static void check_config(const MusterConfig *c) {
        FUZZ_ASSERT(identity_is_valid(c->identity));
        FUZZ_ASSERT(name_is_valid(c->collective, 64));
        FUZZ_ASSERT(name_is_valid(c->prefix, 64));
        FUZZ_ASSERT(c->log_level >= LOG_EMERG && c->log_level <= LOG_DEBUG);
        FUZZ_ASSERT(log_target_to_string(c->log_target));
        FUZZ_ASSERT(discovery_method_to_string(c->discovery_method));
        FUZZ_ASSERT(c->max_message_size >= 4096 && c->max_message_size <= (UINT64_C(64) << 20));
        FUZZ_ASSERT(c->broker_urls && c->broker_urls[0]);
        for (char **u = c->broker_urls; *u; u++)
                FUZZ_ASSERT(startswith(*u, "amqp://") || startswith(*u, "amqps://"));
        for (char **a = c->agents; a && *a; a++)
                FUZZ_ASSERT(streq(*a, "discovery") || streq(*a, "rpcutil") || streq(*a, "nrpe"));
        FUZZ_ASSERT(c->connect_timeout_usec > 0 && c->reconnect_min_usec > 0 && c->reconnect_max_usec > 0);
        FUZZ_ASSERT(c->ttl_usec > 0 && c->nrpe_timeout_usec > 0 && c->heartbeat_interval_usec > 0);
        FUZZ_ASSERT(c->max_concurrent_checks >= 1 && c->max_concurrent_checks <= 65535);
        FUZZ_ASSERT(c->collector_prefetch >= 1 && c->collector_prefetch <= 65535);
        FUZZ_ASSERT(streq(c->collector_queue_type, "quorum") || streq(c->collector_queue_type, "classic"));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        MusterConfig c, defaults;
        const uint8_t *part;
        size_t n;
        unsigned errors = 0;
        int r;

        fuzz_clean_dir(fuzz_tmpdir());

        if (!fuzz_next_part(&data, &size, SEPARATOR, &part, &n))
                return 0;
        fuzz_write_file(fuzz_tmpdir(), "muster.conf", part, n);
        fuzz_mkdir(fuzz_tmpdir(), "conf.d");
        for (unsigned i = 0; i < DROPINS_MAX && fuzz_next_part(&data, &size, SEPARATOR, &part, &n); i++) {
                char name[32];
                snprintf(name, sizeof name, "%02u-fuzz.conf", (i + 1) * 10);
                fuzz_write_file(dropin_dir, name, part, n);
        }

        FUZZ_ASSERT(config_init(&defaults) == 0);
        FUZZ_ASSERT(config_init(&c) == 0);
        r = config_load(&c, main_path, false);
        FUZZ_ASSERT(r == 0 || r == -EINVAL || r == -ENOMEM);
        check_config(&c);
        if (r == 0)
                FUZZ_ASSERT(c.reconnect_min_usec <= c.reconnect_max_usec);
        (void) config_broker_changed(&defaults, &c);
        _cleanup_free_ char *exchange = NULL;
        FUZZ_ASSERT(config_exchange(&c, "broadcast", &exchange) == 0);
        config_done(&c);

        /* The same main file on its own, through the parser used by the tests. */
        FUZZ_ASSERT(config_init(&c) == 0);
        r = config_parse_file(&c, main_path, &errors);
        FUZZ_ASSERT(r == 0 || r == -EINVAL);
        FUZZ_ASSERT((r == 0) == (errors == 0));
        check_config(&c);
        config_done(&c);
        config_done(&defaults);
        return 0;
}
