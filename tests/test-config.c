/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <sys/stat.h>

/* lib/config.h: in a meson build "config.h" is the generated one (-include). */
#include "../lib/config.h"
#include "log.h"
#include "macro.h"
#include "tests.h"
#include "util.h"

static char tmpdir[] = "/tmp/test-config-XXXXXX";
static bool tmpdir_made;
static unsigned case_counter;

static void cleanup_tmpdir(void) {
        if (tmpdir_made)
                tests_rm_rf(tmpdir);
        tmpdir_made = false;
}

#define SEC(x) ((uint64_t) (x) * USEC_PER_SEC)

/* A fresh directory under tmpdir; returned malloc'd. */
static char *new_case_dir(void) {
        char *d = NULL;
        ASSERT(asprintf(&d, "%s/case%u", tmpdir, ++case_counter) >= 0);
        ASSERT_INT_EQ(mkdir(d, 0755), 0);
        return d;
}

static void write_in(const char *dir, const char *name, const char *text) {
        _cleanup_free_ char *p = tests_path(dir, name);
        tests_write_file(p, text);
}

/* config_load(dir/muster.conf) on a fresh config, with stderr captured into
 * *ret_log. Returns config_load's result; *c is left initialized. */
static int load_dir(const char *dir, MusterConfig *c, char **ret_log) {
        _cleanup_free_ char *p = tests_path(dir, "muster.conf");
        TestsCapture cap;
        int r;

        ASSERT_INT_EQ(config_init(c), 0);
        tests_capture_begin(&cap);
        r = config_load(c, p, false);
        *ret_log = tests_capture_end(&cap);
        return r;
}

/* Writes text as the main file of a fresh dir (no conf.d) and loads it. The
 * path of the file goes to *ret_path. */
static int load_text(const char *text, MusterConfig *c, char **ret_log, char **ret_path) {
        _cleanup_free_ char *d = new_case_dir();
        write_in(d, "muster.conf", text);
        if (ret_path)
                *ret_path = tests_path(d, "muster.conf");
        return load_dir(d, c, ret_log);
}

static void test_defaults(void) {
        MusterConfig c;

        TEST("config_init: the defaults of muster.conf(5)");
        ASSERT_INT_EQ(config_init(&c), 0);
        ASSERT_NOT_NULL(c.identity);
        ASSERT_TRUE(identity_is_valid(c.identity));
        ASSERT_STR_EQ(c.collective, "muster");
        ASSERT_STR_EQ(c.prefix, "muster");
        ASSERT_INT_EQ(c.log_level, LOG_INFO);
        ASSERT_INT_EQ(c.log_target, LOG_TARGET_AUTO);
        ASSERT_UINT_EQ(c.max_message_size, 1 << 20);

        ASSERT_INT_EQ(strv_length(c.broker_urls), 1);
        ASSERT_STR_EQ(c.broker_urls[0], "amqp://localhost:5672/");
        ASSERT_STR_EQ(c.username, "guest");
        ASSERT_STR_EQ(c.password, "guest");
        ASSERT_NULL(c.password_file);
        ASSERT_UINT_EQ(c.heartbeat_usec, SEC(30));
        ASSERT_UINT_EQ(c.connect_timeout_usec, SEC(5));
        ASSERT_UINT_EQ(c.reconnect_min_usec, SEC(1));
        ASSERT_UINT_EQ(c.reconnect_max_usec, SEC(60));
        ASSERT_STR_EQ(c.tls_ca, "/etc/ssl/certs/ca-certificates.crt");
        ASSERT_NULL(c.tls_cert);
        ASSERT_NULL(c.tls_key);
        ASSERT_TRUE(c.tls_verify_peer);
        ASSERT_TRUE(c.tls_verify_hostname);

        ASSERT_STR_EQ(c.psk_file, PKGSYSCONFDIR "/psk");
        ASSERT_UINT_EQ(c.max_clock_skew_usec, SEC(30));
        ASSERT_UINT_EQ(c.ttl_usec, SEC(60));

        ASSERT_INT_EQ(strv_length(c.agents), 3);
        ASSERT_STR_EQ(c.agents[0], "discovery");
        ASSERT_STR_EQ(c.agents[1], "rpcutil");
        ASSERT_STR_EQ(c.agents[2], "nrpe");
        ASSERT_STR_EQ(c.facts_dir, PKGSYSCONFDIR "/facts.d");
        ASSERT_STR_EQ(c.classes_file, "/var/lib/puppet/state/classes.txt");
        ASSERT_UINT_EQ(c.max_concurrent_checks, 16);
        ASSERT_STR_EQ(c.control_socket, RUNSTATEDIR "/responder.control");

        ASSERT_STR_EQ(c.nrpe_dir, PKGSYSCONFDIR "/nrpe.d");
        ASSERT_UINT_EQ(c.nrpe_timeout_usec, SEC(60));
        ASSERT_UINT_EQ(c.nrpe_output_max, 64 * 1024);
        ASSERT_FALSE(c.nrpe_allow_arguments);
        ASSERT_STR_EQ(c.nrpe_nasty_metachars, "|`&><'\"\\[]{};$\r\n");

        ASSERT_INT_EQ(c.discovery_method, DISCOVERY_BROADCAST);
        ASSERT_UINT_EQ(c.discovery_timeout_usec, SEC(2));
        ASSERT_UINT_EQ(c.client_timeout_usec, SEC(10));
        ASSERT_STR_EQ(c.registry_dir, STATEDIR "/registrations");

        ASSERT_STR_EQ(c.collector_name, "default");
        ASSERT_STR_EQ(c.state_dir, STATEDIR "/registrations");
        ASSERT_UINT_EQ(c.collector_prefetch, 256);
        ASSERT_STR_EQ(c.collector_queue_type, "classic");
        ASSERT_STR_EQ(c.collector_control_socket, RUNSTATEDIR "/collector.control");
        ASSERT_UINT_EQ(c.sweep_interval_usec, SEC(30));
        ASSERT_UINT_EQ(c.stale_grace_usec, SEC(30));
        ASSERT_UINT_EQ(c.heartbeat_interval_usec, SEC(300));
        config_done(&c);
        TEST_OK();

        TEST("discovery_method strings, config_exchange");
        ASSERT_STR_EQ(discovery_method_to_string(DISCOVERY_BROADCAST), "broadcast");
        ASSERT_STR_EQ(discovery_method_to_string(DISCOVERY_REGISTRY), "registry");
        ASSERT_INT_EQ(discovery_method_from_string("registry"), DISCOVERY_REGISTRY);
        ASSERT_INT_EQ(discovery_method_from_string("Registry"), _DISCOVERY_INVALID);
        ASSERT_NULL(discovery_method_to_string(_DISCOVERY_MAX));
        ASSERT_INT_EQ(config_init(&c), 0);
        _cleanup_free_ char *x = NULL;
        ASSERT_INT_EQ(config_exchange(&c, "broadcast", &x), 0);
        ASSERT_STR_EQ(x, "muster.broadcast");
        config_done(&c);
        TEST_OK();
}

static void test_dropins(void) {
        _cleanup_free_ char *d = new_case_dir(), *cd = tests_path(d, "conf.d"), *log = NULL;
        MusterConfig c;

        TEST("config_load: main file then conf.d/*.conf in lexical order, later wins");
        write_in(d, "muster.conf",
                 "# main file\n"
                 "[main]\n"
                 "collective=maincoll\n"
                 "prefix=mainprefix\n"
                 "identity=mainnode\n"
                 "[broker]\n"
                 "username = mainuser\n"
                 "heartbeat=10s\n"
                 "url=amqp://a:5672/ amqps://b:5671/\n"
                 "[nrpe]\n"
                 "allow_arguments=yes\n");
        ASSERT_INT_EQ(mkdir(cd, 0755), 0);
        write_in(cd, "10-a.conf",
                 "[main]\n"
                 "identity=nodea\n"
                 "collective=froma\n"
                 "[nrpe]\n"
                 "command_timeout=5min\n");
        write_in(cd, "20-b.conf",
                 "[main]\n"
                 "identity=nodeb\n"
                 "[broker]\n"
                 "username=buser\n");
        /* "2-x" sorts after "10-a" and before "20-b": byte order, not numeric */
        write_in(cd, "2-x.conf",
                 "[main]\n"
                 "identity=nodex\n"
                 "collective=fromx\n"
                 "[nrpe]\n"
                 "allow_arguments=no\n");
        /* Not drop-ins: would fail the load if they were read. */
        write_in(cd, "30-c.conf.disabled", "[main]\nidentity=../bad\nthis is not ini\n");
        write_in(cd, "40-d.conf~", "[main]\nidentity=../bad\n");
        write_in(cd, "README", "this is not ini\n");
        write_in(cd, ".50-hidden.conf", "[main]\nidentity=hidden\n");
        _cleanup_free_ char *sub = tests_path(cd, "60-dir.conf");
        ASSERT_INT_EQ(mkdir(sub, 0755), 0);

        ASSERT_INT_EQ(load_dir(d, &c, &log), 0);
        ASSERT_STR_NOT_CONTAINS(log, "<3>");   /* no errors, no warnings */
        ASSERT_STR_NOT_CONTAINS(log, "<4>");
        ASSERT_STR_EQ(c.identity, "nodeb");        /* 20-b.conf wins */
        ASSERT_STR_EQ(c.collective, "fromx");      /* 2-x.conf is read after 10-a.conf */
        ASSERT_STR_EQ(c.prefix, "mainprefix");     /* untouched by drop-ins */
        ASSERT_STR_EQ(c.username, "buser");        /* drop-in overrides the main file */
        ASSERT_UINT_EQ(c.heartbeat_usec, SEC(10));
        ASSERT_UINT_EQ(c.nrpe_timeout_usec, SEC(300));
        ASSERT_FALSE(c.nrpe_allow_arguments);
        ASSERT_INT_EQ(strv_length(c.broker_urls), 2);
        ASSERT_STR_EQ(c.broker_urls[0], "amqp://a:5672/");
        ASSERT_STR_EQ(c.broker_urls[1], "amqps://b:5671/");
        ASSERT_STR_EQ(c.password, "guest");        /* default kept */
        config_done(&c);
        free(log);
        log = NULL;
        TEST_OK();

        TEST("config_load: a key given twice keeps the later value; lists replace");
        _cleanup_free_ char *d2 = new_case_dir();
        write_in(d2, "muster.conf",
                 "[main]\ncollective=one\ncollective=two\n"
                 "[broker]\nurl=amqp://a/ amqp://b/\nurl=amqp://c/\n"
                 "[responder]\nagents=nrpe, discovery\n");
        ASSERT_INT_EQ(load_dir(d2, &c, &log), 0);
        ASSERT_STR_EQ(c.collective, "two");
        ASSERT_INT_EQ(strv_length(c.broker_urls), 1);
        ASSERT_STR_EQ(c.broker_urls[0], "amqp://c/");
        ASSERT_INT_EQ(strv_length(c.agents), 2);
        ASSERT_STR_EQ(c.agents[0], "nrpe");
        ASSERT_STR_EQ(c.agents[1], "discovery");
        config_done(&c);
        free(log);
        log = NULL;
        TEST_OK();

        TEST("config_load: missing main file (optional or not), drop-ins still read");
        _cleanup_free_ char *d3 = new_case_dir(), *cd3 = tests_path(d3, "conf.d"),
                            *p3 = tests_path(d3, "muster.conf");
        ASSERT_INT_EQ(mkdir(cd3, 0755), 0);
        write_in(cd3, "50-local.conf", "[main]\ncollective=dropin\n");
        ASSERT_INT_EQ(config_init(&c), 0);
        TestsCapture cap;
        tests_capture_begin(&cap);
        int r = config_load(&c, p3, true);
        log = tests_capture_end(&cap);
        ASSERT_INT_EQ(r, 0);
        ASSERT_STR_EQ(c.collective, "dropin");
        config_done(&c);
        free(log);

        ASSERT_INT_EQ(config_init(&c), 0);
        tests_capture_begin(&cap);
        r = config_load(&c, p3, false);
        log = tests_capture_end(&cap);
        ASSERT_INT_EQ(r, -ENOENT);
        ASSERT_STR_CONTAINS(log, p3);
        config_done(&c);
        TEST_OK();
}

/* One malformed line: -EINVAL, an error line (<3>) naming file:line, the key
 * and what was expected; the previous value stays. */
static void check_bad_value(const char *text, unsigned line, const char *key, const char *expected) {
        _cleanup_free_ char *log = NULL, *path = NULL, *where = NULL;
        MusterConfig c;

        int r = load_text(text, &c, &log, &path);
        ASSERT(asprintf(&where, "<3>%s:%u: ", path, line) >= 0);
        if (r != -EINVAL || !strstr(log, where) || !strstr(log, key) || !strstr(log, expected))
                test_fail(__FILE__, __LINE__, "config text \"%s\": want -EINVAL and a log naming \"%s\", %s and "
                          "\"%s\"; got %d and log \"%s\"", text, where, key, expected, r, log);
        /* "key" is "section.key": the whole of it is named */
        ASSERT_STR_NOT_CONTAINS(log, "syntax error");
        config_done(&c);
}

static void test_bad_values(void) {
        _cleanup_free_ char *log = NULL, *path = NULL;
        MusterConfig c;

        TEST("config_load: unknown key, unknown section, key outside a section: warnings, still 0");
        ASSERT_INT_EQ(load_text("[main]\ncollective=ok\nfrobnicate=1\n", &c, &log, &path), 0);
        ASSERT_STR_CONTAINS(log, "<4>");
        ASSERT_STR_CONTAINS(log, path);
        ASSERT_STR_CONTAINS(log, "muster.conf:3:");
        ASSERT_STR_CONTAINS(log, "frobnicate");
        ASSERT_STR_CONTAINS(log, "ignoring");
        ASSERT_STR_NOT_CONTAINS(log, "<3>");
        ASSERT_STR_EQ(c.collective, "ok");
        config_done(&c);
        free(log);
        free(path);

        ASSERT_INT_EQ(load_text("[main]\ncollective=ok\n[bogus]\nkey=1\n", &c, &log, &path), 0);
        ASSERT_STR_CONTAINS(log, "<4>");
        ASSERT_STR_CONTAINS(log, "muster.conf:4:");
        ASSERT_STR_CONTAINS(log, "bogus");
        ASSERT_STR_NOT_CONTAINS(log, "<3>");
        config_done(&c);
        free(log);
        free(path);

        ASSERT_INT_EQ(load_text("collective=outside\n[main]\n", &c, &log, &path), 0);
        ASSERT_STR_CONTAINS(log, "<4>");
        ASSERT_STR_CONTAINS(log, "muster.conf:1:");
        ASSERT_STR_CONTAINS(log, "collective");
        ASSERT_STR_EQ(c.collective, "muster");  /* not applied */
        config_done(&c);
        free(log);
        free(path);
        log = path = NULL;
        TEST_OK();

        TEST("config_load: malformed durations");
        check_bad_value("[broker]\nheartbeat=5 parsecs\n", 2, "broker.heartbeat", "duration");
        check_bad_value("[broker]\n\nheartbeat=-1\n", 3, "broker.heartbeat", "duration");
        check_bad_value("[broker]\nconnect_timeout=0\n", 2, "broker.connect_timeout", "positive duration");
        check_bad_value("[security]\nttl=1e3\n", 2, "security.ttl", "duration");
        check_bad_value("[security]\nmax_clock_skew=\n", 2, "security.max_clock_skew", "duration");
        check_bad_value("[collector]\nsweep_interval=soon\n", 2, "collector.sweep_interval", "duration");
        check_bad_value("[heartbeat]\ninterval=0s\n", 2, "heartbeat.interval", "positive duration");
        check_bad_value("[broker]\nheartbeat=99999999999999999999\n", 2, "broker.heartbeat", "duration");
        TEST_OK();

        TEST("config_load: malformed booleans, sizes, numbers");
        check_bad_value("[broker]\ntls_verify_peer=maybe\n", 2, "broker.tls_verify_peer", "boolean");
        check_bad_value("[nrpe]\nallow_arguments=2\n", 2, "nrpe.allow_arguments", "boolean");
        check_bad_value("[nrpe]\noutput_max=lots\n", 2, "nrpe.output_max", "size");
        check_bad_value("[nrpe]\noutput_max=-1\n", 2, "nrpe.output_max", "size");
        check_bad_value("[main]\nmax_message_size=1K\n", 2, "main.max_message_size", "between 4K and 64M");
        check_bad_value("[main]\nmax_message_size=65M\n", 2, "main.max_message_size", "between 4K and 64M");
        check_bad_value("[responder]\nmax_concurrent_checks=0\n", 2, "responder.max_concurrent_checks",
                        "whole number");
        check_bad_value("[responder]\nmax_concurrent_checks=abc\n", 2, "responder.max_concurrent_checks",
                        "whole number");
        check_bad_value("[collector]\nprefetch=65536\n", 2, "collector.prefetch", "whole number");
        check_bad_value("[collector]\nprefetch=+5\n", 2, "collector.prefetch", "whole number");
        TEST_OK();

        TEST("config_load: malformed urls, identities, names, agents, enums");
        check_bad_value("[broker]\nurl=http://broker/\n", 2, "broker.url", "amqp://");
        check_bad_value("[broker]\nurl=amqp://a/ ftp://b/\n", 2, "broker.url", "amqp://");
        check_bad_value("[broker]\nurl=\n", 2, "broker.url", "amqp://");
        check_bad_value("[main]\nidentity=../etc/passwd\n", 2, "main.identity", "identity");
        check_bad_value("[main]\nidentity=.hidden\n", 2, "main.identity", "identity");
        check_bad_value("[main]\nidentity=a b\n", 2, "main.identity", "identity");
        check_bad_value("[main]\ncollective=has.dot\n", 2, "main.collective", "name");
        check_bad_value("[collector]\nname=a/b\n", 2, "collector.name", "name");
        check_bad_value("[responder]\nagents=discovery shell\n", 2, "responder.agents", "agents");
        check_bad_value("[main]\nlog_level=loud\n", 2, "main.log_level", "debug");
        check_bad_value("[main]\nlog_target=printer\n", 2, "main.log_target", "journal");
        check_bad_value("[client]\ndiscovery_method=psychic\n", 2, "client.discovery_method", "registry");
        check_bad_value("[collector]\nqueue_type=lazy\n", 2, "collector.queue_type", "quorum");
        TEST_OK();

        TEST("config_load: a bad value leaves the previous value");
        ASSERT_INT_EQ(load_text("[broker]\nheartbeat=7s\nheartbeat=never\n[main]\nidentity=ok1\nidentity=/x\n",
                                &c, &log, &path), -EINVAL);
        ASSERT_UINT_EQ(c.heartbeat_usec, SEC(7));
        ASSERT_STR_EQ(c.identity, "ok1");
        config_done(&c);
        free(log);
        free(path);
        log = path = NULL;
        TEST_OK();

        TEST("config_load: a line without '=' is a syntax error naming file:line");
        ASSERT_INT_EQ(load_text("[main]\ncollective=ok\njust some words\nprefix=later\n", &c, &log, &path), -EINVAL);
        ASSERT_STR_CONTAINS(log, "<3>");
        ASSERT_STR_CONTAINS(log, "muster.conf:3:");
        ASSERT_STR_CONTAINS(log, path);
        ASSERT_STR_CONTAINS(log, "syntax error");
        ASSERT_STR_EQ(c.prefix, "later");   /* the file was read to its end */
        config_done(&c);
        free(log);
        free(path);

        ASSERT_INT_EQ(load_text("[main\ncollective=x\n", &c, &log, &path), -EINVAL);
        ASSERT_STR_CONTAINS(log, "muster.conf:1:");
        config_done(&c);
        free(log);
        free(path);
        log = path = NULL;
        TEST_OK();

        TEST("config_load: an over-long line is an error naming file:line; parsing goes on");
        char text[1024];
        char longval[400];
        memset(longval, 'x', sizeof longval - 1);
        longval[sizeof longval - 1] = '\0';
        snprintf(text, sizeof text, "[main]\nidentity=%s\ncollective=after\n", longval);
        ASSERT_INT_EQ(load_text(text, &c, &log, &path), -EINVAL);
        ASSERT_STR_CONTAINS(log, "<3>");
        ASSERT_STR_CONTAINS(log, "muster.conf:2:");
        ASSERT_STR_CONTAINS(log, "too long");
        ASSERT_STR_NOT_CONTAINS(log, "muster.conf:3:");
        ASSERT_STR_EQ(c.collective, "after");
        ASSERT_STR_NOT_CONTAINS(c.identity, "xxx");
        config_done(&c);
        free(log);
        free(path);

        /* a long comment too: the limit is per line */
        snprintf(text, sizeof text, "[main]\n# %s\ncollective=after\n", longval);
        ASSERT_INT_EQ(load_text(text, &c, &log, &path), -EINVAL);
        ASSERT_STR_CONTAINS(log, "muster.conf:2:");
        ASSERT_STR_CONTAINS(log, "too long");
        config_done(&c);
        free(log);
        free(path);

        /* 198 bytes of content fit (Debian's libinih: INI_MAX_LINE 200) */
        memset(longval, 'y', 198 - strlen("identity="));
        longval[198 - strlen("identity=")] = '\0';
        snprintf(text, sizeof text, "[main]\nidentity=%s\n", longval);
        ASSERT_INT_EQ(load_text(text, &c, &log, &path), 0);
        ASSERT_STR_EQ(c.identity, longval);
        config_done(&c);
        free(log);
        free(path);
        log = path = NULL;
        TEST_OK();

        TEST("config_load: reconnect_min > reconnect_max is refused");
        ASSERT_INT_EQ(load_text("[broker]\nreconnect_min=2min\nreconnect_max=1min\n", &c, &log, &path), -EINVAL);
        ASSERT_STR_CONTAINS(log, "<3>");
        ASSERT_STR_CONTAINS(log, "reconnect_min");
        ASSERT_STR_CONTAINS(log, "reconnect_max");
        config_done(&c);
        free(log);
        free(path);
        /* equal is fine, and so is a drop-in that fixes it */
        ASSERT_INT_EQ(load_text("[broker]\nreconnect_min=1min\nreconnect_max=1min\n", &c, &log, &path), 0);
        config_done(&c);
        free(log);
        free(path);
        _cleanup_free_ char *d = new_case_dir(), *cd = tests_path(d, "conf.d");
        ASSERT_INT_EQ(mkdir(cd, 0755), 0);
        write_in(d, "muster.conf", "[broker]\nreconnect_min=2min\n");
        write_in(cd, "10-fix.conf", "[broker]\nreconnect_max=5min\n");
        ASSERT_INT_EQ(load_dir(d, &c, &log), 0);
        config_done(&c);
        free(log);
        log = path = NULL;
        TEST_OK();

        TEST("config_load: errors in the main file and in a drop-in are all reported");
        _cleanup_free_ char *e = new_case_dir(), *ecd = tests_path(e, "conf.d"), *emain = tests_path(e, "muster.conf"),
                            *edrop = tests_path(ecd, "10-x.conf"), *w1 = NULL, *w2 = NULL;
        ASSERT_INT_EQ(mkdir(ecd, 0755), 0);
        write_in(e, "muster.conf", "[main]\nlog_level=loud\n");
        write_in(ecd, "10-x.conf", "[nrpe]\n\n\nallow_arguments=perhaps\n[main]\ncollective=set-anyway\n");
        ASSERT_INT_EQ(load_dir(e, &c, &log), -EINVAL);
        ASSERT(asprintf(&w1, "%s:2: ", emain) >= 0);
        ASSERT(asprintf(&w2, "%s:4: ", edrop) >= 0);
        ASSERT_STR_CONTAINS(log, w1);
        ASSERT_STR_CONTAINS(log, w2);
        ASSERT_STR_CONTAINS(log, "nrpe.allow_arguments");
        ASSERT_STR_EQ(c.collective, "set-anyway");
        config_done(&c);
        free(log);
        log = NULL;
        TEST_OK();
}

/* Run last: these fail against lib/config.c as of writing (inih reports the
 * FIRST error line of a file, config_parse_file compares it with the LAST). */
static void test_every_error_reported(void) {
        _cleanup_free_ char *log = NULL, *path = NULL;
        MusterConfig c;

        TEST("config_load: two bad values: both named, no made-up syntax error");
        ASSERT_INT_EQ(load_text("[main]\nlog_level=loud\n[broker]\nheartbeat=never\n", &c, &log, &path), -EINVAL);
        ASSERT_STR_CONTAINS(log, "muster.conf:2: invalid value for main.log_level");
        ASSERT_STR_CONTAINS(log, "muster.conf:4: invalid value for broker.heartbeat");
        ASSERT_INT_EQ(tests_count(log, "<3>"), 2);
        ASSERT_STR_NOT_CONTAINS(log, "syntax error");
        config_done(&c);
        free(log);
        free(path);
        log = path = NULL;
        TEST_OK();

        TEST("config_load: a syntax error after a bad value is still reported");
        ASSERT_INT_EQ(load_text("[main]\nlog_level=loud\n\nnot a key value line\n", &c, &log, &path), -EINVAL);
        ASSERT_STR_CONTAINS(log, "muster.conf:2: invalid value for main.log_level");
        ASSERT_STR_CONTAINS(log, "muster.conf:4: syntax error");
        config_done(&c);
        free(log);
        free(path);
        log = path = NULL;
        TEST_OK();

        TEST("config_load: every syntax error of a file is reported");
        ASSERT_INT_EQ(load_text("[main]\nfirst bad line\ncollective=x\nsecond bad line\n", &c, &log, &path), -EINVAL);
        ASSERT_STR_CONTAINS(log, "muster.conf:2: syntax error");
        ASSERT_STR_CONTAINS(log, "muster.conf:4: syntax error");
        config_done(&c);
        TEST_OK();
}

static void test_secrets(void) {
        _cleanup_free_ char *d = new_case_dir(), *pw = tests_path(d, "broker-password"), *nope = tests_path(d, "nope");
        MusterConfig c;
        TestsCapture cap;

        TEST("config_resolve_secrets: first line of password_file, stripped");
        ASSERT_INT_EQ(config_init(&c), 0);
        ASSERT_INT_EQ(config_resolve_secrets(&c), 0);   /* no password_file: password kept */
        ASSERT_STR_EQ(c.password, "guest");
        tests_write_file(pw, "  hunter2 \t\nsecond line\n");
        c.password_file = strdup(pw);
        ASSERT_INT_EQ(config_resolve_secrets(&c), 0);
        ASSERT_STR_EQ(c.password, "hunter2");
        config_done(&c);

        ASSERT_INT_EQ(config_init(&c), 0);
        c.password_file = strdup(nope);
        tests_capture_begin(&cap);
        int r = config_resolve_secrets(&c);
        _cleanup_free_ char *log = tests_capture_end(&cap);
        ASSERT_INT_EQ(r, -ENOENT);
        ASSERT_STR_CONTAINS(log, nope);
        ASSERT_STR_EQ(c.password, "guest");
        config_done(&c);

        /* through the config file */
        _cleanup_free_ char *text = NULL, *log2 = NULL;
        ASSERT(asprintf(&text, "[broker]\npassword=inline\npassword_file=%s\n", pw) >= 0);
        ASSERT_INT_EQ(load_text(text, &c, &log2, NULL), 0);
        ASSERT_STR_EQ(c.password_file, pw);
        ASSERT_INT_EQ(config_resolve_secrets(&c), 0);
        ASSERT_STR_EQ(c.password, "hunter2");
        config_done(&c);
        TEST_OK();
}

static void test_broker_changed(void) {
        MusterConfig a, b;

        TEST("config_broker_changed");
        ASSERT_INT_EQ(config_init(&a), 0);
        ASSERT_INT_EQ(config_init(&b), 0);
        ASSERT_FALSE(config_broker_changed(&a, &b));

#define FLIP_STR(field, value, changed)                                        \
        do {                                                                   \
                char *_old = b.field;                                          \
                b.field = strdup(value);                                       \
                if (config_broker_changed(&a, &b) != (changed))                \
                        test_fail(__FILE__, __LINE__, "changing " #field " is%s a broker change", \
                                  (changed) ? "" : " not");                    \
                free(b.field);                                                 \
                b.field = _old;                                                \
                ASSERT_FALSE(config_broker_changed(&a, &b));                   \
        } while (0)

        FLIP_STR(username, "other", true);
        FLIP_STR(password, "other", true);
        FLIP_STR(tls_ca, "/other/ca.pem", true);
        FLIP_STR(collective, "other", true);
        FLIP_STR(prefix, "other", true);
        FLIP_STR(identity, "other", true);
        FLIP_STR(facts_dir, "/other", false);
        FLIP_STR(nrpe_dir, "/other", false);
        FLIP_STR(state_dir, "/other", false);

        /* unset vs set */
        b.tls_cert = strdup("/x.pem");
        ASSERT_TRUE(config_broker_changed(&a, &b));
        free(b.tls_cert);
        b.tls_cert = NULL;

        ASSERT_INT_EQ(strv_extend(&b.broker_urls, "amqp://second/"), 0);
        ASSERT_TRUE(config_broker_changed(&a, &b));
        ASSERT_INT_EQ(strv_extend(&a.broker_urls, "amqp://second/"), 0);
        ASSERT_FALSE(config_broker_changed(&a, &b));

        b.heartbeat_usec = SEC(5);
        ASSERT_TRUE(config_broker_changed(&a, &b));
        b.heartbeat_usec = a.heartbeat_usec;
        b.tls_verify_peer = false;
        ASSERT_TRUE(config_broker_changed(&a, &b));
        b.tls_verify_peer = true;

        b.nrpe_timeout_usec = SEC(1);
        b.max_concurrent_checks = 1;
        b.log_level = LOG_DEBUG;
        ASSERT_FALSE(config_broker_changed(&a, &b));
        config_done(&a);
        config_done(&b);
        TEST_OK();
}

int main(void) {
        log_setup("test", true);
        log_set_target(LOG_TARGET_CONSOLE);
        log_set_max_level(LOG_INFO);

        ASSERT_NOT_NULL(mkdtemp(tmpdir));
        tmpdir_made = true;
        atexit(cleanup_tmpdir);

        test_defaults();
        test_dropins();
        test_bad_values();
        test_secrets();
        test_broker_changed();
        test_every_error_reported();
        return EXIT_SUCCESS;
}
