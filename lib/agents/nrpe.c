/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The nrpe agent: "runcommand" runs one command of the node's NRPE config
 * ($ARGn$ expanded from the request's args) through the responder's check
 * runner, which answers with nrpe_result_data(). */
#include "agents/agents.h"
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

static const AgentAction actions[] = {
        { "runcommand", nrpe_runcommand },
};

const Agent agent_nrpe = {
        .name = "nrpe",
        .actions = actions,
        .n_actions = ELEMENTSOF(actions),
};
