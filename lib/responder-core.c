/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <time.h>

#include "responder-core.h"
#include "util.h"

static const char *const drop_table[_DROP_MAX] = {
        [DROP_OVERSIZE] = "oversize",
        [DROP_UNSIGNED] = "unsigned",
        [DROP_BAD_SIGNATURE] = "bad-signature",
        [DROP_MALFORMED] = "malformed",
        [DROP_EXPIRED] = "expired",
        [DROP_FUTURE] = "future",
        [DROP_REPLAYED] = "replayed",
        [DROP_WRONG_COLLECTIVE] = "wrong-collective",
        [DROP_REPLAY_CACHE_FULL] = "replay-cache-full",
        [DROP_UNKNOWN_KEY] = "unknown-key",
        [DROP_PSK_REFUSED] = "psk-refused",
        [DROP_REPLAY_QUOTA] = "replay-quota",
        [DROP_REPLY_TO] = "reply-to-refused",
};

const char *drop_reason_to_string(DropReason r) {
        return r < _DROP_MAX ? drop_table[r] : "unknown";
}

const char *nagios_state_to_string(int exitcode) {
        static const char *const t[] = { "OK", "WARNING", "CRITICAL", "UNKNOWN" };
        return exitcode >= 0 && exitcode <= 3 ? t[exitcode] : "UNKNOWN";
}

void dispatch_done(Dispatch *d) {
        request_free(d->request);
        free(d->statusmsg);
        json_decref(d->data);
        free(d->command);
        free(d->command_line);
        *d = (Dispatch) {};
}

bool responder_serves(const ResponderCore *c, const char *agent) {
        return strv_contains(c->config->agents, agent);
}

ReplayCache *responder_replay_cache_new(void) {
        ReplayCache *r = replay_cache_new(REPLAY_CACHE_MAX);
        if (r)
                replay_cache_set_quota(r, REPLAY_QUOTA_PER_SIGNER);
        return r;
}

bool responder_reply_to_allowed(const ResponderCore *c, const char *reply_to) {
        if (!reply_to)
                return true;
        for (char **p = c->config->allowed_reply_to; p && *p; p++) {
                size_t n = strlen(*p);
                if (n > 0 && (*p)[n - 1] == '*' ? strncmp(reply_to, *p, n - 1) == 0 : streq(reply_to, *p))
                        return true;
        }
        return false;
}

static int drop(Dispatch *d, DropReason reason, const char *detail) {
        d->kind = DISPATCH_DROP;
        d->reason = reason;
        if (detail != d->detail)
                snprintf(d->detail, sizeof d->detail, "%s", detail);
        return 0;
}

/* An answer without data (NULL: an empty object). */
static int reply(Dispatch *d, int statuscode, const char *statusmsg, json_t *data) {
        d->kind = DISPATCH_REPLY;
        d->statuscode = statuscode;
        d->statusmsg = strdup(statusmsg);
        d->data = data ?: json_object();
        if (!d->statusmsg || !d->data)
                return -ENOMEM;
        return 0;
}

/* An answer whose data a builder just made: NULL means the builder ran out
 * of memory, and the answer is then "unknown error", never statuscode with
 * missing data. */
static int reply_data(Dispatch *d, int statuscode, const char *statusmsg, json_t *data) {
        if (!data)
                return reply(d, STATUS_UNKNOWN_ERROR, "Unknown error: out of memory", NULL);
        return reply(d, statuscode, statusmsg, data);
}

static int agent_index(const char *agent) {
        if (streq(agent, "discovery"))
                return 0;
        if (streq(agent, "rpcutil"))
                return 1;
        if (streq(agent, "nrpe"))
                return 2;
        return -1;
}

static int64_t system_uptime(void) {
        struct timespec ts;
        if (clock_gettime(CLOCK_BOOTTIME, &ts) < 0)
                return 0;
        return ts.tv_sec;
}

static json_t *stats_json(const ResponderCore *c, int64_t now) {
        json_t *dropped = json_object();
        if (!dropped)
                return NULL;
        for (int i = 0; i < _DROP_MAX; i++)
                if (json_object_set_new(dropped, drop_table[i], json_integer((json_int_t) c->stats.dropped[i])) < 0) {
                        json_decref(dropped);
                        return NULL;
                }
        return json_pack("{s:I, s:I, s:I, s:I, s:o, s:{s:I, s:I, s:I}, s:I, s:I, s:I}",
                         "received", (json_int_t) c->stats.received,
                         "denied", (json_int_t) c->stats.denied,
                         "served", (json_int_t) c->stats.served,
                         "filtered", (json_int_t) c->stats.filtered,
                         "dropped", dropped,
                         "agents",
                         "discovery", (json_int_t) c->stats.by_agent[0],
                         "rpcutil", (json_int_t) c->stats.by_agent[1],
                         "nrpe", (json_int_t) c->stats.by_agent[2],
                         "checks_run", (json_int_t) c->stats.checks_run,
                         "checks_timed_out", (json_int_t) c->stats.checks_timed_out,
                         "daemon_uptime", (json_int_t) (now - c->started_at));
}

static json_t *strv_to_json(char *const *l) {
        json_t *a = json_array();
        if (!a)
                return NULL;
        for (; l && *l; l++)
                if (json_array_append_new(a, json_string(*l)) < 0) {
                        json_decref(a);
                        return NULL;
                }
        return a;
}

static int agent_rpcutil(ResponderCore *c, const Request *req, int64_t now, Dispatch *d) {
        if (streq(req->action, "inventory"))
                return reply_data(d, STATUS_OK, "OK",
                             json_pack("{s:O, s:o, s:o, s:s, s:s, s:s, s:I, s:o}",
                                       "facts", c->facts,
                                       "classes", strv_to_json(c->classes),
                                       "agents", strv_to_json(c->config->agents),
                                       "identity", c->config->identity,
                                       "collective", c->config->collective,
                                       "version", PACKAGE_VERSION,
                                       "uptime", (json_int_t) system_uptime(),
                                       "stats", stats_json(c, now)));
        if (streq(req->action, "agent_inventory"))
                return reply_data(d, STATUS_OK, "OK",
                                  json_pack("{s:o}", "agents", strv_to_json(c->config->agents)));
        if (streq(req->action, "daemon_stats"))
                return reply_data(d, STATUS_OK, "OK", json_pack("{s:o}", "stats", stats_json(c, now)));
        if (streq(req->action, "get_fact")) {
                json_t *f = req->data ? json_object_get(req->data, "fact") : NULL;
                if (!f)
                        return reply(d, STATUS_MISSING_DATA, "Missing data: fact", NULL);
                if (!json_is_string(f))
                        return reply(d, STATUS_INVALID_DATA, "Invalid data: fact must be a string", NULL);
                json_t *v = json_object_get(c->facts, json_string_value(f));
                return reply_data(d, STATUS_OK, "OK",
                                  json_pack("{s:O, s:O}", "fact", f, "value", v ?: json_null()));
        }
        return reply(d, STATUS_UNKNOWN_ACTION, "Unknown action", NULL);
}

static int nrpe_fail(Dispatch *d, const char *command, const char *output) {
        return reply_data(d, STATUS_ABORTED, "UNKNOWN", nrpe_result_data(command, 3, output, strlen(output)));
}

static int agent_nrpe(ResponderCore *c, const Request *req, Dispatch *d) {
        _cleanup_strv_free_ char **args = NULL;
        const char *error = NULL, *command;
        char buf[256];
        json_t *a, *e;
        size_t i;
        int r;

        if (!streq(req->action, "runcommand"))
                return reply(d, STATUS_UNKNOWN_ACTION, "Unknown action", NULL);

        json_t *cmd = req->data ? json_object_get(req->data, "command") : NULL;
        if (!cmd)
                return reply(d, STATUS_MISSING_DATA, "Missing data: command", NULL);
        if (!json_is_string(cmd) || !nrpe_command_name_is_valid(json_string_value(cmd)))
                return reply(d, STATUS_INVALID_DATA, "Invalid data: command must be 1 to 64 characters from [A-Za-z0-9_.-]",
                             NULL);
        command = json_string_value(cmd);

        a = json_object_get(req->data, "args");
        if (a && !json_is_null(a)) {
                if (!json_is_array(a) || json_array_size(a) > 16)
                        return reply(d, STATUS_INVALID_DATA, "Invalid data: args must be a list of at most 16 strings",
                                     NULL);
                json_array_foreach(a, i, e) {
                        if (!json_is_string(e) || strlen(json_string_value(e)) != json_string_length(e))
                                return reply(d, STATUS_INVALID_DATA, "Invalid data: args must be strings", NULL);
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

int responder_dispatch(ResponderCore *c, const void *body, size_t size, const char *scheme, const char *signature,
                       int64_t now, Dispatch *d) {
        return responder_dispatch_keyed(c, body, size, scheme, NULL, signature, now, d);
}

static int dispatch(ResponderCore *c, const void *body, size_t size, const char *scheme, const char *key_id,
                    const char *signature, const char *reply_to, bool check_reply_to, bool local, int64_t now,
                    Dispatch *d);

int responder_dispatch_keyed(ResponderCore *c, const void *body, size_t size, const char *scheme, const char *key_id,
                             const char *signature, int64_t now, Dispatch *d) {
        return dispatch(c, body, size, scheme, key_id, signature, NULL, false, false, now, d);
}

int responder_dispatch_delivery(ResponderCore *c, const void *body, size_t size, const char *scheme,
                                const char *key_id, const char *signature, const char *reply_to, int64_t now,
                                Dispatch *d) {
        return dispatch(c, body, size, scheme, key_id, signature, reply_to, true, false, now, d);
}

int responder_dispatch_local(ResponderCore *c, const void *body, size_t size, int64_t now, Dispatch *d) {
        return dispatch(c, body, size, NULL, NULL, NULL, NULL, false, true, now, d);
}

static int dispatch(ResponderCore *c, const void *body, size_t size, const char *scheme, const char *key_id,
                    const char *signature, const char *reply_to, bool check_reply_to, bool local, int64_t now,
                    Dispatch *d) {
        _cleanup_request_ Request *req = NULL;
        const char *signer = local ? "local" : "psk";
        int r;

        *d = (Dispatch) {};
        c->stats.received++;

        if (size > c->config->max_message_size) {
                snprintf(d->detail, sizeof d->detail, "message of %zu bytes exceeds the limit of %" PRIu64 " bytes",
                         size, c->config->max_message_size);
                c->stats.dropped[DROP_OVERSIZE]++;
                return drop(d, DROP_OVERSIZE, d->detail);
        }

        if (local)
                r = 0;
        else if (c->verifier)
                r = verify_message(c->verifier, body, size, scheme, key_id, signature, &signer);
        else
                r = verify_body(c->psk, body, size, scheme, signature);
        if (r == -EPERM) {
                c->stats.dropped[DROP_PSK_REFUSED]++;
                return drop(d, DROP_PSK_REFUSED, "signed with the pre-shared key, which this node does not accept");
        }
        if (r == -ENXIO) {
                c->stats.dropped[DROP_UNKNOWN_KEY]++;
                snprintf(d->detail, sizeof d->detail, "signed with key \"%.64s\", which is not among the trusted "
                         "client keys", strempty(key_id));
                return drop(d, DROP_UNKNOWN_KEY, d->detail);
        }
        if (r == -ENOKEY) {
                c->stats.dropped[DROP_UNSIGNED]++;
                return drop(d, DROP_UNSIGNED, "message carries no signature");
        }
        if (r == -EPROTONOSUPPORT) {
                c->stats.dropped[DROP_BAD_SIGNATURE]++;
                snprintf(d->detail, sizeof d->detail, "unsupported signature scheme \"%.64s\"", strempty(scheme));
                return drop(d, DROP_BAD_SIGNATURE, d->detail);
        }
        if (r < 0) {
                c->stats.dropped[DROP_BAD_SIGNATURE]++;
                return drop(d, DROP_BAD_SIGNATURE, "signature does not match the message");
        }
        /* From here on the caller is the key that verified, whatever the
         * body's callerid claims. */
        snprintf(d->caller, sizeof d->caller, "%s", signer);

        r = request_parse(body, size, c->config->max_message_size, &req, d->detail);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                c->stats.dropped[r == -EMSGSIZE ? DROP_OVERSIZE : DROP_MALFORMED]++;
                return drop(d, r == -EMSGSIZE ? DROP_OVERSIZE : DROP_MALFORMED, d->detail);
        }

        /* security.max_ttl clamps every request's ttl: a request lives at
         * most that long, whatever it asks for. */
        int64_t skew = (int64_t) (c->config->max_clock_skew_usec / USEC_PER_SEC);
        int64_t max_ttl = (int64_t) (c->config->max_ttl_usec / USEC_PER_SEC);
        int64_t ttl = max_ttl > 0 ? MIN(req->ttl, max_ttl) : req->ttl;
        r = message_check_time(req->msgtime, ttl, now, skew);
        if (r == -ETIME) {
                c->stats.dropped[DROP_EXPIRED]++;
                snprintf(d->detail, sizeof d->detail, "request %s expired %" PRId64 " s ago%s", req->requestid,
                         now - req->msgtime - ttl, ttl < req->ttl ? " (its ttl clamped to security.max_ttl)" : "");
                d->request = TAKE_PTR(req);
                return drop(d, DROP_EXPIRED, d->detail);
        }
        if (r == -EDOM) {
                c->stats.dropped[DROP_FUTURE]++;
                snprintf(d->detail, sizeof d->detail, "request %s is dated %" PRId64 " s in the future",
                         req->requestid, req->msgtime - now);
                d->request = TAKE_PTR(req);
                return drop(d, DROP_FUTURE, d->detail);
        }
        /* The replay cache lives in memory: whatever was sent before this
         * daemon started (less the clock skew) may have run already. */
        if (c->started_at > 0 && req->msgtime < c->started_at - skew) {
                c->stats.dropped[DROP_EXPIRED]++;
                snprintf(d->detail, sizeof d->detail, "request %s was sent %" PRId64 " s before this daemon started",
                         req->requestid, c->started_at - req->msgtime);
                d->request = TAKE_PTR(req);
                return drop(d, DROP_EXPIRED, d->detail);
        }

        if (!streq(req->collective, c->config->collective)) {
                c->stats.dropped[DROP_WRONG_COLLECTIVE]++;
                snprintf(d->detail, sizeof d->detail, "request for collective \"%s\", this node is in \"%s\"",
                         req->collective, c->config->collective);
                d->request = TAKE_PTR(req);
                return drop(d, DROP_WRONG_COLLECTIVE, d->detail);
        }

        if (check_reply_to && !responder_reply_to_allowed(c, reply_to)) {
                _cleanup_free_ char *esc = utf8_sanitize(reply_to, strlen(reply_to));
                c->stats.dropped[DROP_REPLY_TO]++;
                snprintf(d->detail, sizeof d->detail, "reply_to \"%.64s\" is not allowed by responder.allowed_reply_to",
                         strna(esc));
                d->request = TAKE_PTR(req);
                return drop(d, DROP_REPLY_TO, d->detail);
        }

        NodeInfo node = {
                .identity = c->config->identity,
                .facts = c->facts,
                .classes = c->classes,
                .agents = c->config->agents,
        };
        if (!filter_match(req->filter, &node)) {
                c->stats.filtered++;
                d->kind = DISPATCH_IGNORE;
                d->request = TAKE_PTR(req);
                return 0;
        }

        if (!policy_allows(c->policy, signer, req->agent, req->action)) {
                c->stats.served++;
                c->stats.denied++;
                char msg[300];
                snprintf(msg, sizeof msg, "Not authorized: %s may not call %s %s", signer, req->agent, req->action);
                r = reply(d, STATUS_ABORTED, msg, NULL);
                if (r < 0)
                        return r;
                d->denied = true;
                d->request = TAKE_PTR(req);
                return 0;
        }

        /* Only a request that will run is remembered: signature, filter and
         * policy passed. Until it could no longer pass the freshness check,
         * skew included; at most a quota per signer. */
        r = replay_cache_add_owned(c->replay, signer, req->requestid, req->msgtime + ttl + skew, now);
        if (r == -ENOMEM)
                return r;
        if (r == -EEXIST) {
                c->stats.dropped[DROP_REPLAYED]++;
                snprintf(d->detail, sizeof d->detail, "request %s was already seen", req->requestid);
                d->request = TAKE_PTR(req);
                return drop(d, DROP_REPLAYED, d->detail);
        }
        if (r == -EDQUOT) {
                c->stats.dropped[DROP_REPLAY_QUOTA]++;
                snprintf(d->detail, sizeof d->detail, "%.64s has too many requests within their TTL", signer);
                d->request = TAKE_PTR(req);
                return drop(d, DROP_REPLAY_QUOTA, d->detail);
        }
        if (r < 0) {
                c->stats.dropped[DROP_REPLAY_CACHE_FULL]++;
                d->request = TAKE_PTR(req);
                return drop(d, DROP_REPLAY_CACHE_FULL, "too many requests within their TTL");
        }

        c->stats.served++;
        int ai = agent_index(req->agent);
        if (ai < 0 || !responder_serves(c, req->agent))
                r = reply(d, STATUS_UNKNOWN_ACTION, "Unknown agent", NULL);
        else {
                c->stats.by_agent[ai]++;
                if (ai == 0) {
                        if (streq(req->action, "ping"))
                                r = reply_data(d, STATUS_OK, "OK", json_pack("{s:I}", "pong", (json_int_t) now));
                        else
                                r = reply(d, STATUS_UNKNOWN_ACTION, "Unknown action", NULL);
                } else if (ai == 1)
                        r = agent_rpcutil(c, req, now, d);
                else
                        r = agent_nrpe(c, req, d);
        }
        if (r < 0)
                return r;
        d->request = TAKE_PTR(req);
        return 0;
}

int responder_build_reply(ResponderCore *c, const Request *req, int statuscode, const char *statusmsg, json_t *data,
                          int64_t now, char **ret_body, size_t *ret_size, char ret_sig[static SIGNATURE_HEX_MAX]) {
        return responder_build_reply_signed(c, req, statuscode, statusmsg, data, now, ret_body, ret_size, ret_sig,
                                            NULL, NULL);
}

int responder_build_reply_signed(ResponderCore *c, const Request *req, int statuscode, const char *statusmsg,
                                 json_t *data, int64_t now, char **ret_body, size_t *ret_size,
                                 char ret_sig[static SIGNATURE_HEX_MAX], const char **ret_scheme,
                                 const char **ret_key_id) {
        _cleanup_json_ json_t *j = NULL;
        _cleanup_free_ char *body = NULL;
        size_t size;
        int r;

        j = reply_build(req->requestid, c->config->identity, req->agent, req->action, now, statuscode, statusmsg, data);
        if (!j)
                return -ENOMEM;
        r = message_dump(j, &body, &size);
        if (r < 0)
                return r;
        if (c->signer)
                r = signer_sign(c->signer, body, size, ret_sig, ret_scheme, ret_key_id);
        else {
                r = sign_body(c->psk, body, size, ret_sig);
                if (ret_scheme)
                        *ret_scheme = SIGNATURE_SCHEME_HMAC;
                if (ret_key_id)
                        *ret_key_id = NULL;
        }
        if (r < 0)
                return r;
        *ret_body = TAKE_PTR(body);
        *ret_size = size;
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
