/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cli.h"
#include "log.h"
#include "util.h"

static int ensure_filter(CliOptions *o) {
        if (!o->filter && !(o->filter = filter_new()))
                return log_oom();
        return 0;
}

int cli_handle_option(CliOptions *o, int opt, const char *arg) {
        const char *error = NULL;
        uint64_t u;
        int r;

        switch (opt) {
        case 'F':
        case 'C':
        case 'I':
        case 'A':
                r = ensure_filter(o);
                if (r < 0)
                        return r;
                r = opt == 'F' ? filter_add_fact_arg(o->filter, arg, &error) :
                    opt == 'C' ? filter_add_class(o->filter, arg, &error) :
                    opt == 'I' ? filter_add_identity(o->filter, arg, &error) :
                                 filter_add_agent(o->filter, arg, &error);
                if (r == -ENOMEM)
                        return log_oom();
                if (r < 0)
                        return log_error_errno(r, "Invalid filter \"%s\": %s", arg, strempty(error));
                return 1;
        case 'T':
                if (!name_is_valid(arg, 64))
                        return log_error_errno(-EINVAL, "Invalid collective \"%s\".", arg);
                o->collective = arg;
                return 1;
        case 't':
                r = parse_duration(arg, &u);
                if (r < 0 || u == 0)
                        return log_error_errno(-EINVAL, "Invalid timeout \"%s\", expected a duration such as 10 or 10s.",
                                               arg);
                o->timeout_usec = u;
                return 1;
        case CLI_ARG_DT:
                r = parse_duration(arg, &u);
                if (r < 0 || u == 0)
                        return log_error_errno(-EINVAL,
                                               "Invalid discovery timeout \"%s\", expected a duration such as 2 or 2s.",
                                               arg);
                o->discovery_timeout_usec = u;
                return 1;
        case CLI_ARG_DM:
                if (discovery_method_from_string(arg) < 0)
                        return log_error_errno(-EINVAL, "Invalid discovery method \"%s\", expected broadcast or registry.",
                                               arg);
                o->discovery_method = arg;
                return 1;
        case CLI_ARG_CONFIG:
                o->config_path = arg;
                return 1;
        case CLI_ARG_REGISTRY_DIR:
                o->registry_dir = arg;
                return 1;
        }
        return 0;
}

int cli_load_config(const CliOptions *o, MusterConfig *ret) {
        MusterConfig c;
        int r;

        r = config_init(&c);
        if (r < 0)
                return log_oom();
        r = config_load(&c, o->config_path, false);
        if (r < 0) {
                config_done(&c);
                return r;
        }
        r = config_resolve_secrets(&c);
        if (r < 0) {
                config_done(&c);
                return r;
        }
        /* log_level is for the daemons; tools say warnings and errors
         * unless MUSTER_LOG_LEVEL asks for more. */
        if (!getenv("MUSTER_LOG_LEVEL"))
                log_set_max_level(LOG_WARNING);
        if (o->collective && free_and_strdup(&c.collective, o->collective) < 0)
                goto oom;
        if (o->discovery_method)
                c.discovery_method = discovery_method_from_string(o->discovery_method);
        if (o->discovery_timeout_usec > 0)
                c.discovery_timeout_usec = o->discovery_timeout_usec;
        if (o->timeout_usec > 0)
                c.client_timeout_usec = o->timeout_usec;
        if (o->registry_dir && free_and_strdup(&c.registry_dir, o->registry_dir) < 0)
                goto oom;
        *ret = c;
        return 0;
oom:
        config_done(&c);
        return log_oom();
}

void cli_request_defaults(const MusterConfig *c, ClientRequest *req) {
        req->method = c->discovery_method;
        req->discovery_timeout_usec = c->discovery_timeout_usec;
        req->timeout_usec = c->client_timeout_usec;
}
