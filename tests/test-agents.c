/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The agent table (lib/agents/): what muster-responder serves, the answer
 * to an action the table lacks, and config validation by the same table. */
#include <jansson.h>

/* lib/config.h: in a meson build "config.h" is the generated one (-include). */
#include "../lib/config.h"
#include "agents/agents.h"
#include "message.h"
#include "nagios.h"
#include "nrpe.h"
#include "policy.h"
#include "replay.h"
#include "responder-core.h"
#include "sign.h"
#include "tests.h"
#include "util.h"

#define NOW INT64_C(1700000000)

static const char key[] = "0123456789abcdef0123456789abcdef";

typedef struct Fixture {
        MusterConfig config;
        Psk *psk;
        ReplayCache *replay;
        json_t *facts;
        NrpeConfig *nrpe;
        ResponderCore core;
} Fixture;

static void fixture_init(Fixture *f) {
        static const char nrpe_cfg[] = "command[check_true]=/bin/true\n";

        *f = (Fixture) {};
        ASSERT_INT_EQ(config_init(&f->config), 0);
        ASSERT_INT_EQ(free_and_strdup(&f->config.identity, "node1"), 0);
        ASSERT_INT_EQ(psk_from_memory(key, strlen(key), &f->psk), 0);
        f->replay = replay_cache_new(1024);
        ASSERT_NOT_NULL(f->replay);
        f->facts = json_pack("{s:s}", "role", "web");
        ASSERT_NOT_NULL(f->facts);
        f->nrpe = nrpe_config_new();
        ASSERT_NOT_NULL(f->nrpe);
        ASSERT_OK(nrpe_config_parse_buffer(f->nrpe, "test.cfg", NULL, nrpe_cfg, strlen(nrpe_cfg)));
        f->core = (ResponderCore) {
                .config = &f->config,
                .psk = f->psk,
                .replay = f->replay,
                .facts = f->facts,
                .nrpe = f->nrpe,
                .started_at = NOW - 100,
        };
}

static void fixture_done(Fixture *f) {
        config_done(&f->config);
        psk_free(f->psk);
        replay_cache_free(f->replay);
        json_decref(f->facts);
        nrpe_config_free(f->nrpe);
}

/* A signed request for agent/action (data: JSON text or NULL), dispatched at NOW. */
static void dispatch_action(Fixture *f, const char *agent, const char *action, const char *data, Dispatch *d) {
        _cleanup_free_ char *body = NULL;
        char rid[33], sig[SIGNATURE_HEX_MAX];
        json_t *jd = NULL;
        size_t n;

        ASSERT_INT_EQ(random_hex_id(rid), 0);
        if (data) {
                jd = json_loads(data, 0, NULL);
                ASSERT_NOT_NULL(jd);
        }
        json_t *j = request_build(rid, "client1", "cert=test", "muster", agent, action, NOW, 60, NULL, jd);
        json_decref(jd);
        ASSERT_NOT_NULL(j);
        ASSERT_INT_EQ(message_dump(j, &body, &n), 0);
        json_decref(j);
        ASSERT_INT_EQ(sign_body(f->psk, body, n, sig), 0);
        ASSERT_INT_EQ(responder_dispatch(&f->core, body, n, SIGNATURE_SCHEME_HMAC, sig, NOW, d), 0);
}

static void test_table(void) {
        TEST("agent table: discovery, rpcutil and nrpe with their actions, in name order");
        ASSERT_INT_EQ(_AGENT_MAX, 3);
        ASSERT_STR_EQ(agent_table[AGENT_DISCOVERY]->name, "discovery");
        ASSERT_STR_EQ(agent_table[AGENT_RPCUTIL]->name, "rpcutil");
        ASSERT_STR_EQ(agent_table[AGENT_NRPE]->name, "nrpe");
        for (int i = 0; i < _AGENT_MAX; i++) {
                const Agent *a = agent_table[i];
                ASSERT_INT_EQ(agent_from_string(a->name), i);
                ASSERT_TRUE(agent_get(a->name) == a);
                ASSERT_TRUE(a->n_actions > 0);
                for (size_t k = 0; k < a->n_actions; k++) {
                        ASSERT_NOT_NULL(a->actions[k].name);
                        ASSERT_NOT_NULL(a->actions[k].handler);
                        ASSERT_TRUE(agent_find_action(a, a->actions[k].name) == &a->actions[k]);
                        if (k > 0)
                                ASSERT_TRUE(strcmp(a->actions[k - 1].name, a->actions[k].name) < 0);
                }
                ASSERT_NULL(agent_find_action(a, "nonsense"));
                ASSERT_NULL(agent_find_action(a, NULL));
        }
        ASSERT_INT_EQ(agent_from_string("puppet"), -ENOENT);
        ASSERT_INT_EQ(agent_from_string(NULL), -ENOENT);
        ASSERT_NULL(agent_get("shell"));

        /* what the client's hints print */
        _cleanup_free_ char *d = agent_actions_joined("discovery"), *r = agent_actions_joined("rpcutil"),
                             *n = agent_actions_joined("nrpe"), *u = agent_actions_joined("puppet");
        ASSERT_STR_EQ(d, "ping");
        ASSERT_STR_EQ(r, "agent_inventory, daemon_stats, get_fact, inventory");
        ASSERT_STR_EQ(n, "runallcommands, runcommand");
        ASSERT_NULL(u);
        _cleanup_free_ char *names = agent_names_joined(", ", " and "), *plain = agent_names_joined(", ", ", ");
        ASSERT_STR_EQ(names, "discovery, rpcutil and nrpe");
        ASSERT_STR_EQ(plain, "discovery, rpcutil, nrpe");
        TEST_OK();
}

static void test_dispatch(void) {
        Fixture f;
        Dispatch d;

        fixture_init(&f);

        TEST("responder_dispatch: every action of the table is served, none answers \"Unknown action\"");
        for (int i = 0; i < _AGENT_MAX; i++)
                for (size_t k = 0; k < agent_table[i]->n_actions; k++) {
                        const char *action = agent_table[i]->actions[k].name;
                        /* each with the data it needs, so that it runs */
                        const char *data = streq(action, "get_fact") ? "{\"fact\":\"role\"}" :
                                           streq(action, "runcommand") ? "{\"command\":\"check_true\"}" : NULL;
                        dispatch_action(&f, agent_table[i]->name, action, data, &d);
                        if (d.kind == DISPATCH_REPLY && d.statuscode != STATUS_OK)
                                test_fail(__FILE__, __LINE__, "%s %s answered %d %s", agent_table[i]->name, action,
                                          d.statuscode, d.statusmsg);
                        ASSERT_TRUE(d.kind == DISPATCH_REPLY || d.kind == DISPATCH_RUN || d.kind == DISPATCH_RUN_ALL);
                        if (d.kind == DISPATCH_RUN) {
                                ASSERT_STR_EQ(d.command, "check_true");
                                ASSERT_STR_EQ(d.command_line, "/bin/true");
                        }
                        if (d.kind == DISPATCH_RUN_ALL) {
                                ASSERT_STR_EQ(action, "runallcommands");
                                ASSERT_INT_EQ(nrpe_batch_n_commands(d.batch), 1);
                                ASSERT_STR_EQ(nrpe_batch_command(d.batch, 0), "check_true");
                                ASSERT_STR_EQ(nrpe_batch_command_line(d.batch, 0), "/bin/true");
                        }
                        dispatch_done(&d);
                }
        TEST_OK();

        TEST("responder_dispatch: an action the table lacks answers statuscode 2 \"Unknown action\"");
        for (int i = 0; i < _AGENT_MAX; i++) {
                dispatch_action(&f, agent_table[i]->name, "nonsense", NULL, &d);
                ASSERT_INT_EQ(d.kind, DISPATCH_REPLY);
                ASSERT_INT_EQ(d.statuscode, STATUS_UNKNOWN_ACTION);
                ASSERT_STR_EQ(d.statusmsg, "Unknown action");
                ASSERT_NOT_NULL(d.request);
                dispatch_done(&d);
        }
        /* an agent outside the table, and one this node does not serve */
        dispatch_action(&f, "puppet", "runonce", NULL, &d);
        ASSERT_INT_EQ(d.statuscode, STATUS_UNKNOWN_ACTION);
        ASSERT_STR_EQ(d.statusmsg, "Unknown agent");
        dispatch_done(&d);
        char **saved = f.config.agents;
        f.config.agents = NULL;
        ASSERT_INT_EQ(strv_extend(&f.config.agents, "discovery"), 0);
        dispatch_action(&f, "rpcutil", "inventory", NULL, &d);
        ASSERT_INT_EQ(d.statuscode, STATUS_UNKNOWN_ACTION);
        ASSERT_STR_EQ(d.statusmsg, "Unknown agent");
        dispatch_done(&d);
        strv_free(f.config.agents);
        f.config.agents = saved;
        TEST_OK();

        TEST("rpcutil daemon_stats: one counter per agent of the table");
        dispatch_action(&f, "rpcutil", "daemon_stats", NULL, &d);
        ASSERT_INT_EQ(d.statuscode, STATUS_OK);
        json_t *agents = json_object_get(json_object_get(d.data, "stats"), "agents");
        ASSERT_TRUE(json_is_object(agents));
        ASSERT_INT_EQ(json_object_size(agents), _AGENT_MAX);
        for (int i = 0; i < _AGENT_MAX; i++) {
                json_t *v = json_object_get(agents, agent_table[i]->name);
                ASSERT_TRUE(json_is_integer(v));
                ASSERT_INT_EQ(json_integer_value(v), (json_int_t) f.core.stats.by_agent[i]);
        }
        /* counted above: each action once, "nonsense" once, and this call */
        ASSERT_INT_EQ(f.core.stats.by_agent[AGENT_DISCOVERY], 2);
        ASSERT_INT_EQ(f.core.stats.by_agent[AGENT_RPCUTIL], 4 + 1 + 1);
        ASSERT_INT_EQ(f.core.stats.by_agent[AGENT_NRPE], (int) agent_nrpe.n_actions + 1);
        dispatch_done(&d);
        TEST_OK();

        fixture_done(&f);
}

static void test_runallcommands(void) {
        static const char cfg[] = "command[check_b]=/bin/echo b $ARG1$\n"
                                  "command[check_a]=/bin/true\n"
                                  "command[check_c]=/bin/false\n";
        Fixture f;
        Dispatch d;
        int statuscode;
        const char *statusmsg;

        fixture_init(&f);

        TEST("nrpe runallcommands: every command of the config, in name order, $ARGn$ empty");
        ASSERT_OK(nrpe_config_parse_buffer(f.nrpe, "more.cfg", NULL, cfg, strlen(cfg)));
        dispatch_action(&f, "nrpe", "runallcommands", NULL, &d);
        ASSERT_INT_EQ(d.kind, DISPATCH_RUN_ALL);
        ASSERT_NOT_NULL(d.request);
        ASSERT_INT_EQ(nrpe_batch_n_commands(d.batch), 4);
        ASSERT_STR_EQ(nrpe_batch_command(d.batch, 0), "check_a");
        ASSERT_STR_EQ(nrpe_batch_command(d.batch, 1), "check_b");
        ASSERT_STR_EQ(nrpe_batch_command_line(d.batch, 1), "/bin/echo b ");
        ASSERT_STR_EQ(nrpe_batch_command(d.batch, 3), "check_true");
        ASSERT_NULL(nrpe_batch_command(d.batch, 4));
        TEST_OK();

        TEST("nrpe runallcommands: one reply once every command answered, the worst state as its status");
        NrpeBatch *b = d.batch;
        ASSERT_FALSE(nrpe_batch_complete(b));
        ASSERT_FALSE(nrpe_batch_add_result(b, "check_a", 0, "OK: fine|a=1\n", 13));
        ASSERT_FALSE(nrpe_batch_add_result(b, "check_b", 3, "UNKNOWN: command timed out after 2 s", 36));
        ASSERT_FALSE(nrpe_batch_add_result(b, "check_c", 1, "WARNING: high\nline 2\n", 21));
        json_t *partial = nrpe_batch_reply(b, &statuscode, &statusmsg);
        ASSERT_NOT_NULL(partial);
        ASSERT_INT_EQ(statuscode, STATUS_ABORTED);
        ASSERT_STR_EQ(statusmsg, "WARNING");      /* WARNING is worse than UNKNOWN */
        json_decref(partial);
        ASSERT_TRUE(nrpe_batch_add_result(b, "check_true", 2, "CRITICAL: down", 14));
        ASSERT_TRUE(nrpe_batch_complete(b));
        json_t *data = nrpe_batch_reply(b, &statuscode, &statusmsg);
        ASSERT_NOT_NULL(data);
        ASSERT_INT_EQ(statuscode, STATUS_ABORTED);
        ASSERT_STR_EQ(statusmsg, "CRITICAL");
        json_t *cmds = json_object_get(data, "commands");
        ASSERT_INT_EQ(json_object_size(cmds), 4);
        json_t *a = json_object_get(cmds, "check_a");
        ASSERT_INT_EQ(json_integer_value(json_object_get(a, "exitcode")), 0);
        ASSERT_STR_EQ(json_string_value(json_object_get(a, "output")), "OK: fine");
        ASSERT_STR_EQ(json_string_value(json_object_get(a, "perfdata")), "a=1");
        ASSERT_STR_EQ(json_string_value(json_object_get(a, "long_output")), "");
        ASSERT_NULL(json_object_get(a, "command"));
        json_t *c = json_object_get(cmds, "check_c");
        ASSERT_INT_EQ(json_integer_value(json_object_get(c, "exitcode")), 1);
        ASSERT_STR_EQ(json_string_value(json_object_get(c, "long_output")), "line 2");
        ASSERT_STR_EQ(json_string_value(json_object_get(json_object_get(cmds, "check_b"), "output")),
                      "UNKNOWN: command timed out after 2 s");
        json_decref(data);
        dispatch_done(&d);
        TEST_OK();

        TEST("nrpe runallcommands: all OK answers statuscode 0 \"OK\"; no commands at all too, at once");
        b = nrpe_batch_new();
        ASSERT_NOT_NULL(b);
        ASSERT_OK(nrpe_batch_add_command(b, "check_x", "/bin/true"));
        ASSERT_TRUE(nrpe_batch_add_result(b, "check_x", 0, "OK", 2));
        data = nrpe_batch_reply(b, &statuscode, &statusmsg);
        ASSERT_INT_EQ(statuscode, STATUS_OK);
        ASSERT_STR_EQ(statusmsg, "OK");
        json_decref(data);
        nrpe_batch_unref(b);

        NrpeConfig *saved = f.nrpe;
        f.core.nrpe = NULL;
        dispatch_action(&f, "nrpe", "runallcommands", NULL, &d);
        ASSERT_INT_EQ(d.kind, DISPATCH_REPLY);
        ASSERT_INT_EQ(d.statuscode, STATUS_OK);
        ASSERT_TRUE(json_is_object(json_object_get(d.data, "commands")));
        ASSERT_INT_EQ(json_object_size(json_object_get(d.data, "commands")), 0);
        dispatch_done(&d);
        f.core.nrpe = saved;
        TEST_OK();

        TEST("policy: runallcommands only where runcommand is allowed too");
        static const struct {
                const char *policy;
                bool runcommand, runallcommands;
        } cases[] = {
                /* a key allowed only runcommand does not get runallcommands */
                { "policy default deny\nallow psk nrpe runcommand\n", true, false },
                /* nor one allowed runallcommands but not runcommand */
                { "policy default deny\nallow psk nrpe runallcommands\n", false, false },
                /* denied runcommand under a default allow: denied both */
                { "deny psk nrpe runcommand\n", false, false },
                { "policy default deny\nallow psk nrpe runcommand,runallcommands\n", true, true },
                { "allow psk nrpe *\n", true, true },
        };
        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                Policy *p = NULL;
                ASSERT_OK(policy_parse("test.policy", cases[i].policy, &p));
                f.core.policy = p;
                dispatch_action(&f, "nrpe", "runcommand", "{\"command\":\"check_true\"}", &d);
                ASSERT_INT_EQ(d.kind == DISPATCH_RUN, cases[i].runcommand);
                ASSERT_INT_EQ(d.denied, !cases[i].runcommand);
                dispatch_done(&d);
                dispatch_action(&f, "nrpe", "runallcommands", NULL, &d);
                if (cases[i].runallcommands)
                        ASSERT_INT_EQ(d.kind, DISPATCH_RUN_ALL);
                else {
                        ASSERT_INT_EQ(d.kind, DISPATCH_REPLY);
                        ASSERT_TRUE(d.denied);
                        ASSERT_INT_EQ(d.statuscode, STATUS_ABORTED);
                        ASSERT_STR_EQ(d.statusmsg, "Not authorized: psk may not call nrpe runallcommands");
                }
                dispatch_done(&d);
                f.core.policy = NULL;
                policy_free(p);
        }
        TEST_OK();

        fixture_done(&f);
}

static char tmpdir[] = "/tmp/test-agents-XXXXXX";

static void cleanup_tmpdir(void) {
        tests_rm_rf(tmpdir);
}

/* config_load of text as a main file; stderr captured into *ret_log. */
static int load_text(const char *text, MusterConfig *c, char **ret_log) {
        _cleanup_free_ char *p = tests_path(tmpdir, "muster.conf");
        TestsCapture cap;
        int r;

        tests_write_file(p, text);
        ASSERT_INT_EQ(config_init(c), 0);
        tests_capture_begin(&cap);
        r = config_load(c, p, false);
        *ret_log = tests_capture_end(&cap);
        return r;
}

static void test_config(void) {
        MusterConfig c;

        ASSERT_NOT_NULL(mkdtemp(tmpdir));
        atexit(cleanup_tmpdir);

        TEST("config: [responder] agents= defaults to every agent of the table, in its order");
        ASSERT_INT_EQ(config_init(&c), 0);
        ASSERT_INT_EQ(strv_length(c.agents), _AGENT_MAX);
        for (int i = 0; i < _AGENT_MAX; i++)
                ASSERT_STR_EQ(c.agents[i], agent_table[i]->name);
        config_done(&c);
        TEST_OK();

        TEST("config: each agent of the table is accepted, one outside it refused with the table's names");
        for (int i = 0; i < _AGENT_MAX; i++) {
                _cleanup_free_ char *text = NULL, *log = NULL;
                ASSERT(asprintf(&text, "[responder]\nagents=%s\n", agent_table[i]->name) >= 0);
                ASSERT_INT_EQ(load_text(text, &c, &log), 0);
                ASSERT_INT_EQ(strv_length(c.agents), 1);
                ASSERT_STR_EQ(c.agents[0], agent_table[i]->name);
                config_done(&c);
        }
        _cleanup_free_ char *log = NULL;
        ASSERT_INT_EQ(load_text("[responder]\nagents=discovery shell\n", &c, &log), -EINVAL);
        ASSERT_STR_CONTAINS(log, "responder.agents");
        ASSERT_STR_CONTAINS(log, "a list of agents among discovery, rpcutil, nrpe");
        config_done(&c);
        TEST_OK();
}

int main(void) {
        test_table();
        test_dispatch();
        test_runallcommands();
        test_config();
        return 0;
}
