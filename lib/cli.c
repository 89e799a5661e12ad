/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <stdarg.h>

#include "cli.h"
#include "log.h"
#include "util.h"

/* Log the reason and keep it for a status line. */
_printf_(3, 4) static int cli_error(CliOptions *o, int error, const char *format, ...) {
        va_list ap;

        va_start(ap, format);
        vsnprintf(o->error, sizeof o->error, format, ap);
        va_end(ap);
        return log_error_errno(error, "%s", o->error);
}

static int ensure_filter(CliOptions *o) {
        if (!o->filter && !(o->filter = filter_new()))
                return log_oom();
        return 0;
}

static bool word_is_regex(const char *w, size_t n) {
        return n >= 2 && w[0] == '/' && w[n - 1] == '/';
}

int cli_filter_add_with(Filter *f, const char *arg, const char **ret_error, char **ret_word) {
        const char *p = arg;
        int n = 0, r;

        if (!f || !arg)
                return -EINVAL;

        for (;;) {
                _cleanup_free_ char *word = NULL;
                size_t len;

                while (isspace((unsigned char) *p))
                        p++;
                if (*p == '\0')
                        break;
                len = 0;
                while (p[len] != '\0' && !isspace((unsigned char) p[len]))
                        len++;
                word = strndup(p, len);
                if (!word)
                        return -ENOMEM;
                p += len;

                if (!word_is_regex(word, len) && strpbrk(word, "=<>"))
                        r = filter_add_fact_arg(f, word, ret_error);
                else
                        r = filter_add_class(f, word, ret_error);
                if (r == -ENOMEM)
                        return r;
                if (r < 0) {
                        if (ret_word)
                                *ret_word = TAKE_PTR(word);
                        return r;
                }
                n++;
        }

        if (n == 0) {
                if (ret_error)
                        *ret_error = "no words, expected classes and FACT=VALUE filters";
                if (ret_word)
                        *ret_word = NULL;
                return -EINVAL;
        }
        return n;
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
                        return cli_error(o, r, "Invalid filter \"%s\": %s", arg, strempty(error));
                return 1;
        case 'W': {
                _cleanup_free_ char *word = NULL;

                r = ensure_filter(o);
                if (r < 0)
                        return r;
                r = cli_filter_add_with(o->filter, arg, &error, &word);
                if (r == -ENOMEM)
                        return log_oom();
                if (r < 0 && word)
                        return cli_error(o, r, "Invalid filter \"%s\" in -W \"%s\": %s", word, arg, strempty(error));
                if (r < 0)
                        return cli_error(o, r, "Invalid filter -W \"%s\": %s", arg, strempty(error));
                return 1;
        }
        case 'T':
                if (!name_is_valid(arg, 64))
                        return cli_error(o, -EINVAL, "Invalid collective \"%s\"", arg);
                o->collective = arg;
                return 1;
        case 't':
                r = parse_duration(arg, &u);
                if (r < 0 || u == 0)
                        return cli_error(o, -EINVAL, "Invalid timeout \"%s\", expected a duration such as 10 or 10s", arg);
                o->timeout_usec = u;
                return 1;
        case CLI_ARG_DT:
                r = parse_duration(arg, &u);
                if (r < 0 || u == 0)
                        return cli_error(o, -EINVAL,
                                         "Invalid discovery timeout \"%s\", expected a duration such as 2 or 2s", arg);
                o->discovery_timeout_usec = u;
                return 1;
        case CLI_ARG_DM:
                /* mco's name of its broadcast discovery */
                if (streq(arg, "mc"))
                        arg = "broadcast";
                if (discovery_method_from_string(arg) < 0)
                        return cli_error(o, -EINVAL, "Invalid discovery method \"%s\", expected broadcast or registry",
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

int cli_load_config(CliOptions *o, MusterConfig *ret) {
        MusterConfig c;
        int r;

        /* Every error was logged; the first is the one a status line has
         * room for. */
        r = config_load_all(o->config_path, o->no_broker ? CONFIG_LOAD_NO_SECRETS : 0, &c, o->error, sizeof o->error);
        if (r < 0)
                return r;
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
