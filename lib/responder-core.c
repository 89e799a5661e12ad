/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <inttypes.h>
#include <stdarg.h>

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

void dispatch_done(Dispatch *d) {
        request_free(d->request);
        free(d->statusmsg);
        json_decref(d->data);
        free(d->command);
        free(d->command_line);
        nrpe_batch_unref(d->batch);
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

/* A drop: counted, with a detail for the journal; the request, when it
 * was parsed, goes with it. Always returns 0. */
_printf_(5, 6)
static int drop(ResponderCore *c, Dispatch *d, Request **req, DropReason reason, const char *format, ...) {
        va_list ap;

        c->stats.dropped[reason]++;
        d->kind = DISPATCH_DROP;
        d->reason = reason;
        va_start(ap, format);
        vsnprintf(d->detail, sizeof d->detail, format, ap);
        va_end(ap);
        if (req)
                d->request = TAKE_PTR(*req);
        return 0;
}

int dispatch_reply(Dispatch *d, int statuscode, const char *statusmsg, json_t *data) {
        d->kind = DISPATCH_REPLY;
        d->statuscode = statuscode;
        d->statusmsg = strdup(statusmsg);
        d->data = data ?: json_object();
        if (!d->statusmsg || !d->data)
                return -ENOMEM;
        return 0;
}

int dispatch_reply_data(Dispatch *d, int statuscode, const char *statusmsg, json_t *data) {
        if (!data)
                return dispatch_reply(d, STATUS_UNKNOWN_ERROR, "Unknown error: out of memory", NULL);
        return dispatch_reply(d, statuscode, statusmsg, data);
}

json_t *responder_stats_json(const ResponderCore *c, int64_t now) {
        _cleanup_json_ json_t *dropped = json_object(), *agents = json_object();
        if (!dropped || !agents)
                return NULL;
        for (int i = 0; i < _DROP_MAX; i++)
                if (json_object_set_new(dropped, drop_table[i], json_integer((json_int_t) c->stats.dropped[i])) < 0)
                        return NULL;
        for (int i = 0; i < _AGENT_MAX; i++)
                if (json_object_set_new(agents, agent_table[i]->name, json_integer((json_int_t) c->stats.by_agent[i])) < 0)
                        return NULL;
        return json_pack("{s:I, s:I, s:I, s:I, s:O, s:O, s:I, s:I, s:I}",
                         "received", (json_int_t) c->stats.received,
                         "denied", (json_int_t) c->stats.denied,
                         "served", (json_int_t) c->stats.served,
                         "filtered", (json_int_t) c->stats.filtered,
                         "dropped", dropped,
                         "agents", agents,
                         "checks_run", (json_int_t) c->stats.checks_run,
                         "checks_timed_out", (json_int_t) c->stats.checks_timed_out,
                         "daemon_uptime", (json_int_t) (now - c->started_at));
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

/* Size and signature. Returns 1 when the body may be parsed (*signer then
 * names who signed it), 0 when it was dropped. */
static int dispatch_verify(ResponderCore *c, const void *body, size_t size, const char *scheme, const char *key_id,
                           const char *signature, bool local, Dispatch *d, const char **signer) {
        int r;

        if (size > c->config->max_message_size)
                return drop(c, d, NULL, DROP_OVERSIZE, "message of %zu bytes exceeds the limit of %" PRIu64 " bytes",
                            size, c->config->max_message_size);

        if (local)
                r = 0;
        else if (c->verifier)
                r = verify_message(c->verifier, body, size, scheme, key_id, signature, signer);
        else
                r = verify_body(c->psk, body, size, scheme, signature);
        if (r == -EPERM)
                return drop(c, d, NULL, DROP_PSK_REFUSED, "%s",
                            "signed with the pre-shared key, which this node does not accept");
        if (r == -ENXIO)
                return drop(c, d, NULL, DROP_UNKNOWN_KEY,
                            "signed with key \"%.64s\", which is not among the trusted client keys", strempty(key_id));
        if (r == -ENOKEY)
                return drop(c, d, NULL, DROP_UNSIGNED, "%s", "message carries no signature");
        if (r == -EPROTONOSUPPORT)
                return drop(c, d, NULL, DROP_BAD_SIGNATURE, "unsupported signature scheme \"%.64s\"", strempty(scheme));
        if (r < 0)
                return drop(c, d, NULL, DROP_BAD_SIGNATURE, "%s", "signature does not match the message");
        /* From here on the caller is the key that verified, whatever the
         * body's callerid claims. */
        snprintf(d->caller, sizeof d->caller, "%s", *signer);
        return 1;
}

/* Freshness: security.max_ttl clamps every request's ttl, so a request
 * lives at most that long, whatever it asks for. Returns 1 when fresh,
 * 0 when dropped; *ret_ttl is the clamped ttl. */
static int dispatch_check_time(ResponderCore *c, Request **req, int64_t now, Dispatch *d, int64_t *ret_ttl) {
        int64_t skew = (int64_t) (c->config->max_clock_skew_usec / USEC_PER_SEC);
        int64_t max_ttl = (int64_t) (c->config->max_ttl_usec / USEC_PER_SEC);
        int64_t ttl = max_ttl > 0 ? MIN((*req)->ttl, max_ttl) : (*req)->ttl;
        int r;

        r = message_check_time((*req)->msgtime, ttl, now, skew);
        if (r == -ETIME)
                return drop(c, d, req, DROP_EXPIRED, "request %s expired %" PRId64 " s ago%s", (*req)->requestid,
                            now - (*req)->msgtime - ttl,
                            ttl < (*req)->ttl ? " (its ttl clamped to security.max_ttl)" : "");
        if (r == -EDOM)
                return drop(c, d, req, DROP_FUTURE, "request %s is dated %" PRId64 " s in the future",
                            (*req)->requestid, (*req)->msgtime - now);
        /* The replay cache lives in memory: whatever was sent before this
         * daemon started (less the clock skew) may have run already. */
        if (c->started_at > 0 && (*req)->msgtime < c->started_at - skew)
                return drop(c, d, req, DROP_EXPIRED, "request %s was sent %" PRId64 " s before this daemon started",
                            (*req)->requestid, c->started_at - (*req)->msgtime);
        *ret_ttl = ttl;
        return 1;
}

/* Only a request that will run is remembered: signature, filter and policy
 * passed. Until it could no longer pass the freshness check, skew included;
 * at most a quota per signer. Returns 1 when new, 0 when dropped. */
static int dispatch_remember(ResponderCore *c, Request **req, const char *signer, int64_t ttl, int64_t now,
                             Dispatch *d) {
        int64_t skew = (int64_t) (c->config->max_clock_skew_usec / USEC_PER_SEC);
        int r;

        r = replay_cache_add_owned(c->replay, signer, (*req)->requestid, (*req)->msgtime + ttl + skew, now);
        if (r == -ENOMEM)
                return r;
        if (r == -EEXIST)
                return drop(c, d, req, DROP_REPLAYED, "request %s was already seen", (*req)->requestid);
        if (r == -EDQUOT)
                return drop(c, d, req, DROP_REPLAY_QUOTA, "%.64s has too many requests within their TTL", signer);
        if (r < 0)
                return drop(c, d, req, DROP_REPLAY_CACHE_FULL, "%s", "too many requests within their TTL");
        return 1;
}

/* The policy allows the action, and the one the agent table says it also needs. */
static bool dispatch_allowed(const ResponderCore *c, const char *signer, const Request *req) {
        if (!policy_allows(c->policy, signer, req->agent, req->action))
                return false;
        const AgentAction *a = agent_find_action(agent_get(req->agent), req->action);
        return !a || !a->policy_also || policy_allows(c->policy, signer, req->agent, a->policy_also);
}

static int dispatch(ResponderCore *c, const void *body, size_t size, const char *scheme, const char *key_id,
                    const char *signature, const char *reply_to, bool check_reply_to, bool local, int64_t now,
                    Dispatch *d) {
        _cleanup_request_ Request *req = NULL;
        const char *signer = local ? "local" : "psk";
        int64_t ttl = 0;
        int r;

        *d = (Dispatch) {};
        c->stats.received++;

        r = dispatch_verify(c, body, size, scheme, key_id, signature, local, d, &signer);
        if (r <= 0)
                return r;

        char error[MESSAGE_ERROR_MAX];
        r = request_parse(body, size, c->config->max_message_size, &req, error);
        if (r == -ENOMEM)
                return r;
        if (r < 0)
                return drop(c, d, NULL, r == -EMSGSIZE ? DROP_OVERSIZE : DROP_MALFORMED, "%s", error);

        r = dispatch_check_time(c, &req, now, d, &ttl);
        if (r <= 0)
                return r;

        if (!streq(req->collective, c->config->collective))
                return drop(c, d, &req, DROP_WRONG_COLLECTIVE, "request for collective \"%s\", this node is in \"%s\"",
                            req->collective, c->config->collective);

        if (check_reply_to && !responder_reply_to_allowed(c, reply_to)) {
                _cleanup_free_ char *esc = utf8_sanitize(reply_to, strlen(reply_to));
                return drop(c, d, &req, DROP_REPLY_TO,
                            "reply_to \"%.64s\" is not allowed by responder.allowed_reply_to", strna(esc));
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

        if (!dispatch_allowed(c, signer, req)) {
                char msg[300];

                c->stats.served++;
                c->stats.denied++;
                snprintf(msg, sizeof msg, "Not authorized: %s may not call %s %s", signer, req->agent, req->action);
                r = dispatch_reply(d, STATUS_ABORTED, msg, NULL);
                if (r < 0)
                        return r;
                d->denied = true;
                d->request = TAKE_PTR(req);
                return 0;
        }

        r = dispatch_remember(c, &req, signer, ttl, now, d);
        if (r <= 0)
                return r;

        /* The agent table decides the rest. */
        c->stats.served++;
        int agent = agent_from_string(req->agent);
        if (agent < 0 || !responder_serves(c, req->agent))
                r = dispatch_reply(d, STATUS_UNKNOWN_ACTION, "Unknown agent", NULL);
        else {
                c->stats.by_agent[agent]++;
                const AgentAction *action = agent_find_action(agent_table[agent], req->action);
                r = action ? action->handler(c, req, now, d)
                           : dispatch_reply(d, STATUS_UNKNOWN_ACTION, "Unknown action", NULL);
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
