/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The nrpe agent: "runcommand" runs one command of the node's NRPE config
 * ($ARGn$ expanded from the request's args) through the responder's check
 * runner, which answers with nrpe_result_data(); "runallcommands" runs
 * every command of it and answers them all at once (an NrpeBatch). */
#include "agents/agents.h"
#include "nagios.h"
#include "nrpe.h"
#include "responder-core.h"
#include "util.h"

static int nrpe_fail(Dispatch *d, const char *command, const char *output) {
        return dispatch_reply_data(d, STATUS_ABORTED, "UNKNOWN", nrpe_result_data(command, 3, output, strlen(output)));
}

static int nrpe_runcommand(ResponderCore *c, const Request *req, int64_t now, Dispatch *d) {
        _cleanup_strv_free_ char **args = NULL;
        const char *error = NULL, *command;
        char buf[256];
        json_t *a, *e;
        size_t i;
        int r;

        json_t *cmd = req->data ? json_object_get(req->data, "command") : NULL;
        if (!cmd)
                return dispatch_reply(d, STATUS_MISSING_DATA, "Missing data: command", NULL);
        if (!json_is_string(cmd) || !nrpe_command_name_is_valid(json_string_value(cmd)))
                return dispatch_reply(d, STATUS_INVALID_DATA,
                                      "Invalid data: command must be 1 to 64 characters from [A-Za-z0-9_.-]", NULL);
        command = json_string_value(cmd);

        a = json_object_get(req->data, "args");
        if (a && !json_is_null(a)) {
                if (!json_is_array(a) || json_array_size(a) > 16)
                        return dispatch_reply(d, STATUS_INVALID_DATA,
                                              "Invalid data: args must be a list of at most 16 strings", NULL);
                json_array_foreach(a, i, e) {
                        if (!json_is_string(e) || strlen(json_string_value(e)) != json_string_length(e))
                                return dispatch_reply(d, STATUS_INVALID_DATA, "Invalid data: args must be strings",
                                                      NULL);
                        if (strv_extend(&args, json_string_value(e)) < 0)
                                return -ENOMEM;
                }
        }

        const char *line = c->nrpe ? nrpe_config_find(c->nrpe, command) : NULL;
        if (!line) {
                snprintf(buf, sizeof buf, "No such command: %s", command);
                return nrpe_fail(d, command, buf);
        }

        _cleanup_free_ char *expanded = NULL;
        r = nrpe_expand_arguments(line, args, strv_length(args), c->config->nrpe_allow_arguments,
                                  c->config->nrpe_nasty_metachars, &expanded, &error);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                snprintf(buf, sizeof buf, "UNKNOWN: %s", strempty(error));
                return nrpe_fail(d, command, buf);
        }

        d->kind = DISPATCH_RUN;
        d->command = strdup(command);
        d->command_line = TAKE_PTR(expanded);
        if (!d->command)
                return -ENOMEM;
        return 0;
}

json_t *nrpe_result_data(const char *command, int exitcode, const char *output, size_t size) {
        _cleanup_free_ char *clean = NULL;
        NrpeOutput o = {};
        json_t *j;

        /* Plugins print whatever they like; the reply is JSON, so UTF-8. */
        clean = utf8_sanitize(output ?: "", output ? size : 0);
        if (!clean || nrpe_parse_output(clean, output ? size : 0, &o) < 0)
                return NULL;
        j = json_pack("{s:s, s:i, s:s, s:s, s:s}",
                      "command", command,
                      "exitcode", exitcode < 0 || exitcode > 3 ? 3 : exitcode,
                      "output", strempty(o.output),
                      "perfdata", strempty(o.perfdata),
                      "long_output", strempty(o.long_output));
        nrpe_output_done(&o);
        return j;
}

struct NrpeBatch {
        unsigned n_ref;
        char **commands;         /* to run, in name order */
        char **command_lines;
        size_t n_expected;       /* results to wait for: the commands, and those that could not run */
        size_t n_results;
        json_t *results;         /* NAME → {exitcode, output, perfdata, long_output} */
        int worst;               /* the worst state so far, CRITICAL > WARNING > UNKNOWN > OK */
        bool oom;                /* a result was lost to out of memory: the reply is an error */
        void *userdata;
        void (*destroy)(void *userdata);
};

NrpeBatch *nrpe_batch_new(void) {
        NrpeBatch *b = calloc(1, sizeof *b);
        if (!b)
                return NULL;
        b->n_ref = 1;
        b->worst = NAGIOS_OK;
        b->results = json_object();
        if (!b->results) {
                free(b);
                return NULL;
        }
        return b;
}

NrpeBatch *nrpe_batch_ref(NrpeBatch *b) {
        if (b)
                b->n_ref++;
        return b;
}

NrpeBatch *nrpe_batch_unref(NrpeBatch *b) {
        if (!b || --b->n_ref > 0)
                return NULL;
        if (b->destroy)
                b->destroy(b->userdata);
        strv_free(b->commands);
        strv_free(b->command_lines);
        json_decref(b->results);
        free(b);
        return NULL;
}

static void nrpe_batch_unrefp(NrpeBatch **b) {
        nrpe_batch_unref(*b);
}

int nrpe_batch_add_command(NrpeBatch *b, const char *command, const char *command_line) {
        if (strv_extend(&b->commands, command) < 0)
                return -ENOMEM;
        if (strv_extend(&b->command_lines, command_line) < 0) {
                /* keep both lists the same length */
                size_t n = strv_length(b->commands);
                free(b->commands[n - 1]);
                b->commands[n - 1] = NULL;
                return -ENOMEM;
        }
        b->n_expected++;
        return 0;
}

size_t nrpe_batch_n_commands(const NrpeBatch *b) {
        return strv_length(b->commands);
}

const char *nrpe_batch_command(const NrpeBatch *b, size_t i) {
        return i < nrpe_batch_n_commands(b) ? b->commands[i] : NULL;
}

const char *nrpe_batch_command_line(const NrpeBatch *b, size_t i) {
        return i < nrpe_batch_n_commands(b) ? b->command_lines[i] : NULL;
}

static int state_rank(int state) {
        /* CRITICAL > WARNING > UNKNOWN > OK, as the collation ranks them */
        static const int rank[] = { [NAGIOS_OK] = 0, [NAGIOS_WARNING] = 2, [NAGIOS_CRITICAL] = 3, [NAGIOS_UNKNOWN] = 1 };
        return rank[nagios_state_from_exit(state)];
}

static int batch_put(NrpeBatch *b, const char *command, int exitcode, const char *output, size_t size) {
        json_t *r = nrpe_result_data(command, exitcode, output, size);
        if (!r)
                return -ENOMEM;
        /* the name is the key: the entry holds the rest */
        json_object_del(r, "command");
        bool seen = json_object_get(b->results, command);
        if (json_object_set_new(b->results, command, r) < 0)
                return -ENOMEM;
        if (!seen)
                b->n_results++;
        int state = nagios_state_from_exit(exitcode);
        if (state_rank(state) > state_rank(b->worst))
                b->worst = state;
        return 0;
}

bool nrpe_batch_add_result(NrpeBatch *b, const char *command, int exitcode, const char *output, size_t size) {
        if (batch_put(b, command, exitcode, output, size) < 0) {
                /* Still counted, so that the batch completes and its caller answers. */
                b->oom = true;
                b->n_results++;
        }
        return nrpe_batch_complete(b);
}

bool nrpe_batch_complete(const NrpeBatch *b) {
        return b->n_results >= b->n_expected;
}

json_t *nrpe_batch_reply(const NrpeBatch *b, int *ret_statuscode, const char **ret_statusmsg) {
        if (b->oom)
                return NULL;
        *ret_statuscode = b->worst == NAGIOS_OK ? STATUS_OK : STATUS_ABORTED;
        *ret_statusmsg = nagios_state_name(b->worst);
        return json_pack("{s:O}", "commands", b->results);
}

void nrpe_batch_set_userdata(NrpeBatch *b, void *userdata, void (*destroy)(void *userdata)) {
        b->userdata = userdata;
        b->destroy = destroy;
}

void *nrpe_batch_get_userdata(const NrpeBatch *b) {
        return b->userdata;
}

/* Every command of the config, with no arguments. A command line that
 * cannot be expanded (it cannot, without arguments, but the check is
 * runcommand's) answers UNKNOWN without running. */
static int nrpe_runallcommands(ResponderCore *c, const Request *req, int64_t now, Dispatch *d) {
        _cleanup_(nrpe_batch_unrefp) NrpeBatch *b = nrpe_batch_new();
        _cleanup_strv_free_ char **failed = NULL;
        int r;

        if (!b)
                return -ENOMEM;
        for (size_t i = 0; c->nrpe && i < c->nrpe->n_commands; i++) {
                const NrpeCommand *cmd = &c->nrpe->commands[i];
                _cleanup_free_ char *expanded = NULL;
                const char *error = NULL;

                r = nrpe_expand_arguments(cmd->command_line, NULL, 0, c->config->nrpe_allow_arguments,
                                          c->config->nrpe_nasty_metachars, &expanded, &error);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        char buf[256];
                        snprintf(buf, sizeof buf, "UNKNOWN: %s", strempty(error));
                        if (strv_extend(&failed, cmd->name) < 0 || strv_extend(&failed, buf) < 0)
                                return -ENOMEM;
                        continue;
                }
                r = nrpe_batch_add_command(b, cmd->name, expanded);
                if (r < 0)
                        return r;
        }
        /* The commands that cannot run answer at once, the others when they finish. */
        size_t n_run = nrpe_batch_n_commands(b);
        for (char **f = failed; f && f[0] && f[1]; f += 2) {
                b->n_expected++;
                r = batch_put(b, f[0], 3, f[1], strlen(f[1]));
                if (r < 0)
                        return r;
        }
        if (n_run == 0) {
                int statuscode;
                const char *statusmsg;
                json_t *data = nrpe_batch_reply(b, &statuscode, &statusmsg);
                return dispatch_reply_data(d, statuscode, statusmsg, data);
        }

        d->kind = DISPATCH_RUN_ALL;
        d->batch = TAKE_PTR(b);
        return 0;
}

static const AgentAction actions[] = {
        { "runallcommands", nrpe_runallcommands, .policy_also = "runcommand" },
        { "runcommand", nrpe_runcommand },
};

const Agent agent_nrpe = {
        .name = "nrpe",
        .actions = actions,
        .n_actions = ELEMENTSOF(actions),
};
