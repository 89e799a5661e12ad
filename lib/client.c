/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <assert.h>
#include <inttypes.h>
#include <pwd.h>
#include <sys/time.h>
#include <time.h>

#include "client.h"
#include "credentials.h"
#include "hashmap.h"
#include "log.h"
#include "message.h"
#include "nagios.h"
#include "registry.h"
#include "topology.h"
#include "util.h"

#define REPLY_TO "amq.rabbitmq.reply-to"

void client_result_done(ClientResult *r) {
        for (size_t i = 0; i < r->n_replies; i++) {
                free(r->replies[i].identity);   /* statusmsg lives in the same allocation */
                json_decref(r->replies[i].data);
        }
        free(r->replies);
        strv_free(r->expected);
        strv_free(r->missing);
        strv_free(r->unreachable);
        *r = (ClientResult) {};
}

/* librabbitmq says only "a socket error occurred"; say which. */
static void client_name_errno(Client *c, int saved_errno) {
        size_t l = strlen(c->error);
        if (saved_errno <= 0 || !strstr(c->error, "a socket error occurred") || l + 8 >= sizeof c->error)
                return;
        snprintf(c->error + l, sizeof c->error - l, " (%s)", strerror(saved_errno));
}

static int make_callerid(char **ret) {
        struct passwd *pw = getpwuid(getuid());
        if (pw && callerid_is_valid(pw->pw_name))
                return asprintf(ret, "user=%s", pw->pw_name) < 0 ? -ENOMEM : 0;
        return asprintf(ret, "uid=%u", (unsigned) getuid()) < 0 ? -ENOMEM : 0;
}

int client_open(Client *c, MusterConfig *config, uint64_t deadline) {
        int r;

        c->config = config;
        c->deadline = deadline;
        r = make_callerid(&c->callerid);
        if (r < 0)
                return r;

        Credentials creds;
        char reason[sizeof c->error - sizeof "cannot " + 1];
        r = credentials_load(config, CREDENTIALS_SIGN | CREDENTIALS_NODE_KEYS, &creds, &c->warnings, reason,
                             sizeof reason);
        if (r < 0) {
                snprintf(c->error, sizeof c->error, "cannot %s", reason);
                return r;
        }
        /* client_close() frees them. */
        c->psk = creds.psk;
        c->signer = creds.signer;
        c->node_keys = creds.keys;
        c->verifier = creds.verifier;

        /* Never let one connection attempt outlive the overall deadline. */
        uint64_t now = now_usec(CLOCK_MONOTONIC);
        if (deadline > now && deadline - now < config->connect_timeout_usec)
                config->connect_timeout_usec = MAX(deadline - now, 100 * USEC_PER_MSEC);

        errno = 0;
        r = amqp_session_connect(&c->session, config);
        if (r < 0) {
                int saved_errno = errno;
                snprintf(c->error, sizeof c->error, "cannot connect to a broker: %s", c->session.error);
                client_name_errno(c, saved_errno);
                return r;
        }

        r = amqp_session_declare_exchanges(&c->session, config);
        if (r < 0) {
                snprintf(c->error, sizeof c->error, "%s", c->session.error);
                return r;
        }

        amqp_basic_consume(c->session.conn, AMQP_CHANNEL, amqp_cstring_bytes(REPLY_TO), amqp_empty_bytes, 0, 1, 0,
                           amqp_empty_table);
        r = amqp_reply_to_errno(amqp_get_rpc_reply(c->session.conn), "consume replies", c->error, sizeof c->error);
        if (r < 0)
                return r;
        return 0;
}

void client_close(Client *c) {
        amqp_session_done(&c->session);
        psk_free(c->psk);
        c->psk = NULL;
        signer_done(&c->signer);
        c->node_keys = keyring_free(c->node_keys);
        free(c->callerid);
        c->callerid = NULL;
        strv_free(c->warnings);
        c->warnings = NULL;
}

typedef struct Discovery {
        const Filter *filter;
        const char *collective;
        char **ids;
        size_t n, alloc;
        char ***agents;           /* every agent named, when asked for */
} Discovery;

static int discover_node(const RegistryNode *e, void *userdata) {
        Discovery *d = userdata;

        /* A registration of another collective is not a node of this one. An
         * unreadable file is kept when nothing is to be matched: the node is
         * there, its last word unknown. */
        if (e->valid && d->collective && !streq(e->collective, d->collective))
                return 0;
        if (d->agents && e->valid)
                for (char *const *a = e->agents; a && *a; a++)
                        if (!strv_contains(*d->agents, *a) && strv_extend(d->agents, *a) < 0)
                                return -ENOMEM;
        if (d->filter) {
                if (!e->valid)
                        return 0; /* nothing to match against */
                NodeInfo n = {
                        .identity = e->identity,
                        .facts = e->facts,
                        .classes = e->classes,
                        .agents = e->agents,
                };
                if (!filter_match(d->filter, &n))
                        return 0;
        }
        if (GREEDY_REALLOC(d->ids, d->alloc, d->n + 2) < 0)
                return -ENOMEM;
        d->ids[d->n] = strdup(e->identity);
        if (!d->ids[d->n])
                return -ENOMEM;
        d->ids[++d->n] = NULL;
        return 0;
}

static int cmp_str(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

int client_registry_discover_full(const char *dir, const char *collective, const Filter *filter,
                                  RegistryScanFlags flags, char ***ret, char ***ret_agents,
                                  RegistryScanStats *stats) {
        /* One node at a time: only the identities that match are kept. */
        Discovery d = { .filter = filter && !filter_is_empty(filter) ? filter : NULL, .collective = collective };
        char **agents = NULL;
        int r;

        if (ret_agents)
                d.agents = &agents;
        if (d.filter || d.collective || d.agents)
                flags |= REGISTRY_SCAN_PARSE;
        if (d.filter && d.filter->n_facts > 0)
                flags |= REGISTRY_SCAN_FACTS;
        r = registry_scan(dir, flags, discover_node, &d, stats);
        if (r < 0) {
                strv_free(d.ids);
                strv_free(agents);
                return r;
        }
        if (d.n > 1)
                qsort(d.ids, d.n, sizeof *d.ids, cmp_str);
        *ret = d.ids; /* NULL when nothing matched */
        if (ret_agents)
                *ret_agents = agents;
        return 0;
}

int client_registry_discover(const char *dir, const char *collective, const Filter *filter, char ***ret,
                             char ***ret_agents) {
        return client_registry_discover_full(dir, collective, filter, 0, ret, ret_agents, NULL);
}

bool filter_identities_are_names(const Filter *f) {
        if (!f || strv_length(f->identities) == 0)
                return false;
        for (char **i = f->identities; *i; i++)
                if ((*i)[0] == '/')
                        return false;
        return true;
}

static uint64_t splitmix64(uint64_t *x) {
        uint64_t z = (*x += UINT64_C(0x9e3779b97f4a7c15));
        z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
        z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
        return z ^ (z >> 31);
}

int client_limit_nodes(char ***l, size_t count, unsigned percent, bool random, uint64_t seed) {
        size_t n = strv_length(*l);

        if (percent > 0)
                count = MAX((size_t) ((double) n * percent / 100.0), (size_t) 1);
        if (count == 0 || n <= count)
                return 0;
        if (random) {
                /* The same seed and the same nodes give the same pick. */
                qsort(*l, n, sizeof **l, cmp_str);
                uint64_t state = seed;
                for (size_t i = 0; i < count; i++) {
                        size_t j = i + (size_t) (splitmix64(&state) % (n - i));
                        char *t = (*l)[i];
                        (*l)[i] = (*l)[j];
                        (*l)[j] = t;
                }
        }
        for (size_t i = count; i < n; i++) {
                free((*l)[i]);
                (*l)[i] = NULL;
        }
        return 0;
}

/* Who is expected and who answered: the map (lib/hashmap.c) takes an
 * identity to 1 + its index in states[], which holds the node's state and
 * is changed in place, one lookup per reply. The expected nodes are
 * states[0 .. n_total - 1], in the order of res.expected; a node that was
 * not expected (broadcast) is appended as it answers. The map borrows its
 * keys: the strings of res.expected and the identities of the replies, which
 * outlive it. */
enum {
        NODE_UNKNOWN = 0,      /* not in the map */
        NODE_EXPECTED = 1,
        NODE_ANSWERED = 2,
        NODE_UNREACHABLE = 3,  /* expected; its directed request came back unroutable */
};

typedef struct CallState {
        Client *client;
        const ClientRequest *req;
        const char *requestid;
        const char *routing_prefix;    /* "<collective>.node." for returned messages */
        Hashmap *seen;
        uint8_t *states;
        size_t n_states, alloc_states;
        ReplyDataCache data_cache;     /* replies with the same data share one object */
        size_t n_expected;             /* sent so far and expected; 0 = open ended (wait for the deadline) */
        size_t n_total;                /* expected in all, every batch included */
        bool wait_all;                 /* wait until the deadline even when complete (batch pause) */
        size_t n_answered_expected;
        size_t n_unreachable;
        uint64_t published_at;
        ClientResult *result;
        size_t alloc;
} CallState;

static int call_state_init(CallState *st, size_t n) {
        st->seen = hashmap_new_full(HASHMAP_BORROW_KEYS);
        if (!st->seen || hashmap_reserve(st->seen, n) < 0)
                return -ENOMEM;
        if (n > 0 && GREEDY_REALLOC(st->states, st->alloc_states, n) < 0)
                return -ENOMEM;
        return 0;
}

static void call_state_done(CallState *st) {
        st->seen = hashmap_free(st->seen, NULL);
        free(st->states);
        st->states = NULL;
        st->n_states = st->alloc_states = 0;
        reply_data_cache_done(&st->data_cache);
}

/* A new node, in state; identity is borrowed by the map (see above). */
static int state_add(CallState *st, const char *identity, uint8_t state) {
        if (GREEDY_REALLOC(st->states, st->alloc_states, st->n_states + 1) < 0)
                return -ENOMEM;
        st->states[st->n_states] = state;
        if (hashmap_put(st->seen, identity, (void *) (uintptr_t) (st->n_states + 1)) < 0)
                return -ENOMEM;
        st->n_states++;
        return 0;
}

/* The state of identity, to read and change in place; NULL when unknown. */
static uint8_t *state_find(const CallState *st, const char *identity) {
        uintptr_t i = (uintptr_t) hashmap_get(st->seen, identity);
        return i > 0 ? &st->states[i - 1] : NULL;
}

static bool call_complete(const CallState *st) {
        return !st->wait_all && st->n_expected > 0 && st->n_answered_expected + st->n_unreachable >= st->n_expected;
}

static int handle_reply(CallState *st, const amqp_basic_properties_t *p, const void *body, size_t size) {
        Client *c = st->client;
        char scheme[32], sig[SIGNATURE_HEX_MAX], err[MESSAGE_ERROR_MAX], key_id[KEY_ID_MAX];
        _cleanup_reply_ Reply *reply = NULL;
        const char *signer = NULL;
        int r;

        r = verify_message(&c->verifier, body, size,
                           amqp_header_string(p, SIGNATURE_HEADER_SCHEME, scheme, sizeof scheme),
                           amqp_header_string(p, SIGNATURE_HEADER_KEY_ID, key_id, sizeof key_id),
                           amqp_header_string(p, SIGNATURE_HEADER_VALUE, sig, sizeof sig), &signer);
        if (r < 0) {
                log_debug("Ignoring reply: %s.", r == -ENOKEY ? "no signature" : r == -ENXIO ? "unknown node key" :
                          r == -EPERM ? "pre-shared key not accepted" : "bad signature");
                return 0;
        }
        r = reply_parse_cached(body, size, c->config->max_message_size, &st->data_cache, &reply, err);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                log_debug("Ignoring malformed reply: %s", err);
                return 0;
        }
        if (!streq(reply->requestid, st->requestid))
                return 0; /* a late answer to an earlier request */
        if (!streq(signer, "psk") && !streq(signer, reply->senderid)) {
                log_debug("Ignoring reply from %s signed by the key of %s.", reply->senderid, signer);
                return 0; /* one node may not answer for another */
        }

        uint8_t *state = state_find(st, reply->senderid);
        if (state && *state == NODE_ANSWERED)
                return 0; /* duplicate */

        ClientResult *res = st->result;
        if (GREEDY_REALLOC(res->replies, st->alloc, res->n_replies + 1) < 0)
                return -ENOMEM;
        /* identity and statusmsg in one allocation, freed with identity. */
        size_t id_size = strlen(reply->senderid) + 1, msg_size = strlen(reply->statusmsg) + 1;
        char *strings = malloc(id_size + msg_size);
        if (!strings)
                return -ENOMEM;
        memcpy(strings, reply->senderid, id_size);
        memcpy(strings + id_size, reply->statusmsg, msg_size);
        ClientReply *cr = &res->replies[res->n_replies];
        *cr = (ClientReply) {
                .identity = strings,
                .statuscode = reply->statuscode,
                .statusmsg = strings + id_size,
                .data = json_incref(reply->data),
                .rtt_usec = now_usec(CLOCK_MONOTONIC) - st->published_at,
        };
        res->n_replies++;

        if (state) {
                if (*state == NODE_EXPECTED || *state == NODE_UNREACHABLE)
                        st->n_answered_expected++;
                if (*state == NODE_UNREACHABLE)
                        st->n_unreachable--;
                *state = NODE_ANSWERED;
        } else {
                /* Not expected (broadcast): remembered from now on, as answered. */
                r = state_add(st, cr->identity, NODE_ANSWERED);
                if (r < 0)
                        return r;
        }

        if (st->req->on_reply)
                st->req->on_reply(cr, res->n_replies, st->n_total, st->req->userdata);
        if (st->req->drop_data) {
                json_decref(cr->data);
                cr->data = NULL;
        }
        return 0;
}

char *const *client_nrpe_tally_keys(const ClientNrpeTally *t) {
        static char *const state[] = { (char *) "exitcode", NULL };
        static char *const state_output[] = { (char *) "exitcode", (char *) "output", NULL };
        return t->keep_output ? state_output : state;
}

int client_nrpe_state(const json_t *data) {
        json_t *ec = data ? json_object_get(data, "exitcode") : NULL;
        return json_is_integer(ec) ? nagios_state_from_exit((int) json_integer_value(ec)) : NAGIOS_UNKNOWN;
}

void client_nrpe_tally_reply(const ClientReply *reply, size_t n_received, size_t n_expected, void *userdata) {
        ClientNrpeTally *t = userdata;
        (void) n_expected;

        if (t->error < 0)
                return;
        assert(n_received == t->n + 1);
        if (GREEDY_REALLOC(t->states, t->alloc_states, t->n + 1) < 0)
                goto oom;
        t->states[t->n] = (uint8_t) client_nrpe_state(reply->data);
        if (t->keep_output) {
                json_t *o = reply->data ? json_object_get(reply->data, "output") : NULL;
                if (GREEDY_REALLOC(t->outputs, t->alloc_outputs, t->n + 1) < 0)
                        goto oom;
                t->outputs[t->n] = NULL;
                if (json_is_string(o) && !(t->outputs[t->n] = strdup(json_string_value(o))))
                        goto oom;
        }
        t->n++;
        return;
oom:
        t->error = -ENOMEM;
}

void client_nrpe_tally_done(ClientNrpeTally *t) {
        if (t->outputs)
                for (size_t i = 0; i < t->n; i++)
                        free(t->outputs[i]);
        free(t->outputs);
        free(t->states);
        *t = (ClientNrpeTally) {};
}

static void handle_return(CallState *st, const amqp_basic_return_t *m) {
        size_t plen = strlen(st->routing_prefix);
        char id[256];

        if (m->routing_key.len <= plen || m->routing_key.len - plen >= sizeof id ||
            memcmp(m->routing_key.bytes, st->routing_prefix, plen) != 0)
                return;
        memcpy(id, (const char *) m->routing_key.bytes + plen, m->routing_key.len - plen);
        id[m->routing_key.len - plen] = '\0';
        uint8_t *state = state_find(st, id);
        if (state && *state == NODE_EXPECTED) {
                *state = NODE_UNREACHABLE;
                st->n_unreachable++;
        }
}

/* Collect replies until every expected node answered or the deadline. */
static int collect(CallState *st, uint64_t until) {
        Client *c = st->client;

        for (;;) {
                if (call_complete(st))
                        return 0;
                uint64_t now = now_usec(CLOCK_MONOTONIC);
                if (now >= until)
                        return -ETIMEDOUT;
                uint64_t left = until - now;
                struct timeval tv = { .tv_sec = (time_t) (left / USEC_PER_SEC),
                                      .tv_usec = (suseconds_t) (left % USEC_PER_SEC) };
                AmqpMessage m;

                errno = 0;
                int r = amqp_session_read(&c->session, &tv, &m);
                int saved_errno = errno;
                if (r == -ETIMEDOUT || r == -EAGAIN)
                        continue; /* its timer rounds to milliseconds: the loop's check decides */
                if (r == -ESHUTDOWN) {
                        snprintf(c->error, sizeof c->error, "the broker closed the connection");
                        return -ECONNRESET;
                }
                if (r < 0) {
                        snprintf(c->error, sizeof c->error, "lost the broker connection: %s", c->session.error);
                        client_name_errno(c, saved_errno);
                        return -ECONNRESET;
                }
                if (m.method == AMQP_BASIC_RETURN_METHOD) {
                        handle_return(st, m.returned);
                        continue;
                }
                r = handle_reply(st, m.properties, m.body, m.size);
                if (r < 0)
                        return r;
        }
}

static int publish_request(CallState *st, const char *agent, const char *action, const char *requestid,
                           char **targets) {
        Client *c = st->client;
        const ClientRequest *req = st->req;
        _cleanup_json_ json_t *j = NULL;
        _cleanup_free_ char *body = NULL, *exchange = NULL, *key = NULL;
        char sig[SIGNATURE_HEX_MAX];
        size_t size;
        int r;

        int64_t ttl = (int64_t) (c->config->ttl_usec / USEC_PER_SEC);
        j = request_build(requestid, c->config->identity, c->callerid, c->config->collective, agent, action,
                          (int64_t) time(NULL), ttl > 0 ? ttl : 1, req->filter, req->data);
        if (!j)
                return -ENOMEM;
        r = message_dump(j, &body, &size);
        if (r < 0)
                return r;
        const char *scheme = NULL, *key_id = NULL;
        r = signer_sign(&c->signer, body, size, sig, &scheme, &key_id);
        if (r < 0)
                return r;

        PublishOptions o = {
                .reply_to = REPLY_TO,
                .signature = sig,
                .scheme = scheme,
                .key_id = key_id,
                .message_id = requestid,
                /* Nobody should act on it once the caller has given up. */
                .expiration_ms = c->config->ttl_usec / USEC_PER_MSEC,
        };

        if (!targets) {
                if (config_exchange(c->config, "broadcast", &exchange) < 0 ||
                    !(key = routing_key_agent(c->config->collective, agent)))
                        return -ENOMEM;
                errno = 0;
                r = amqp_session_publish(&c->session, exchange, key, body, size, &o);
                if (r < 0) {
                        int saved_errno = errno;
                        snprintf(c->error, sizeof c->error, "%s", c->session.error);
                        client_name_errno(c, saved_errno);
                        return r;
                }
                return 0;
        }

        if (config_exchange(c->config, "directed", &exchange) < 0)
                return -ENOMEM;
        o.mandatory = true; /* unroutable: the node has no queue, it is down */
        /* One request per node: written to the socket in batches, not three send() calls each. */
        amqp_session_batch_begin(&c->session);
        for (char **t = targets; *t; t++) {
                free(key);
                key = routing_key_node(c->config->collective, *t);
                if (!key)
                        return -ENOMEM;
                errno = 0;
                r = amqp_session_publish(&c->session, exchange, key, body, size, &o);
                if (r < 0) {
                        int saved_errno = errno;
                        snprintf(c->error, sizeof c->error, "%s", c->session.error);
                        client_name_errno(c, saved_errno);
                        (void) amqp_session_flush(&c->session); /* the whole requests queued before it */
                        return r;
                }
        }
        errno = 0;
        r = amqp_session_flush(&c->session);
        if (r < 0) {
                int saved_errno = errno;
                snprintf(c->error, sizeof c->error, "%s", c->session.error);
                client_name_errno(c, saved_errno);
                return r;
        }
        return 0;
}

/* The expected nodes that did not answer, and of them the unreachable ones:
 * in the order of res.expected, which is sorted. */
static int finish_missing(CallState *st) {
        ClientResult *res = st->result;
        size_t n_missing = 0, n_unreachable = 0;

        for (size_t i = 0; i < st->n_total; i++)
                if (st->states[i] == NODE_EXPECTED || st->states[i] == NODE_UNREACHABLE)
                        n_missing++;
        if (n_missing == 0)
                return 0;
        res->missing = calloc(n_missing + 1, sizeof(char *));
        res->unreachable = calloc(st->n_unreachable + 1, sizeof(char *));
        if (!res->missing || !res->unreachable)
                return -ENOMEM;
        n_missing = 0;
        for (size_t i = 0; i < st->n_total; i++) {
                uint8_t v = st->states[i];
                const char *k = res->expected[i];

                if (v != NODE_EXPECTED && v != NODE_UNREACHABLE)
                        continue;
                if (!(res->missing[n_missing++] = strdup(k)))
                        return -ENOMEM;
                if (v == NODE_UNREACHABLE && n_unreachable < st->n_unreachable &&
                    !(res->unreachable[n_unreachable++] = strdup(k)))
                        return -ENOMEM;
        }
        if (n_unreachable == 0) {
                free(res->unreachable);
                res->unreachable = NULL;
        }
        return 0;
}

/* The names of l, each once, in their first order. */
static int names_unique(char *const *l, char ***ret) {
        Hashmap *set = hashmap_new_full(HASHMAP_BORROW_KEYS);   /* the keys are l's */
        char **u = NULL;
        size_t n = 0, alloc = 0;
        int r = 0;

        if (!set)
                return -ENOMEM;
        for (; l && *l && r >= 0; l++) {
                r = hashmap_put(set, *l, (void *) 1);
                if (r <= 0)
                        continue;  /* seen before, or out of memory */
                if (GREEDY_REALLOC(u, alloc, n + 2) < 0 || !(u[n] = strdup(*l))) {
                        r = -ENOMEM;
                        break;
                }
                u[++n] = NULL;
        }
        hashmap_free(set, NULL);
        if (r < 0) {
                strv_free(u);
                return r;
        }
        *ret = u;
        return 0;
}

/* The names of l, each once, sorted: the same set as names_unique(), for
 * when the order does not matter (no --limit), without a hash set. */
static int names_sorted_unique(char *const *l, char ***ret) {
        size_t n = strv_length((char **) l), k = 0;
        _cleanup_free_ char **sorted = NULL;   /* borrowed from l */
        char **u;

        if (n == 0) {
                *ret = NULL;
                return 0;
        }
        sorted = malloc(n * sizeof(char *));
        u = calloc(n + 1, sizeof(char *));
        if (!sorted || !u) {
                free(u);
                return -ENOMEM;
        }
        memcpy(sorted, l, n * sizeof(char *));
        qsort(sorted, n, sizeof(char *), cmp_str);
        for (size_t i = 0; i < n; i++) {
                if (k > 0 && streq(u[k - 1], sorted[i]))
                        continue;
                if (!(u[k++] = strdup(sorted[i]))) {
                        strv_free(u);
                        return -ENOMEM;
                }
        }
        *ret = u;
        return 0;
}

/* Like mco: calling AGENT discovers only the nodes that serve it. */
static int filter_with_agent(const Filter *f, const char *agent, Filter **ret) {
        _cleanup_json_ json_t *j = f ? filter_to_json(f) : json_object();
        const char *error = NULL;
        Filter *n = NULL;
        int r;

        if (!j)
                return -ENOMEM;
        r = filter_from_json(j, &n, &error);
        if (r < 0)
                return r;
        if (!strv_contains(n->agents, agent)) {
                r = filter_add_agent(n, agent, &error);
                if (r < 0) {
                        filter_free(n);
                        return r;
                }
        }
        *ret = n;
        return 0;
}

static void discovery_progress(const ClientReply *reply, size_t n, size_t expected, void *userdata) {
        const ClientRequest *outer = userdata;
        outer->on_discovery(n, outer->discovery_timeout_usec, false, outer->userdata);
}

/* Broadcast a discovery ping with the request's filter; the nodes that
 * answer within the discovery timeout are the expected ones, in the order
 * they answered. */
static int broadcast_discover(Client *c, const ClientRequest *req, const char *prefix, char ***ret) {
        ClientResult dres = {};
        ClientRequest dreq = { .filter = req->filter };
        CallState ds = { .client = c, .req = &dreq, .result = &dres, .routing_prefix = prefix };
        char requestid[33];
        char **ids = NULL;
        int r;

        if (req->on_discovery) {
                dreq.on_reply = discovery_progress;
                dreq.userdata = (void *) req;
                req->on_discovery(0, req->discovery_timeout_usec, false, req->userdata);
        }
        r = call_state_init(&ds, 0);
        if (r >= 0)
                r = random_hex_id(requestid);
        if (r >= 0) {
                ds.requestid = requestid;
                ds.published_at = now_usec(CLOCK_MONOTONIC);
                r = publish_request(&ds, "discovery", "ping", requestid, NULL);
        }
        if (r >= 0) {
                uint64_t until = MIN(ds.published_at + req->discovery_timeout_usec, c->deadline);
                r = collect(&ds, until);
                if (r == -ETIMEDOUT)
                        r = 0;
        }
        for (size_t i = 0; r >= 0 && i < dres.n_replies; i++)
                r = strv_extend(&ids, dres.replies[i].identity);
        if (req->on_discovery)
                req->on_discovery(dres.n_replies, req->discovery_timeout_usec, true, req->userdata);
        client_result_done(&dres);
        call_state_done(&ds);
        if (r < 0) {
                strv_free(ids);
                return r;
        }
        *ret = ids;
        return 0;
}

int client_call(Client *c, const ClientRequest *caller_req, ClientResult *ret) {
        ClientResult res = {};
        ClientRequest copy = *caller_req;
        const ClientRequest *req = &copy;
        _cleanup_filter_ Filter *agent_filter = NULL;
        CallState st = { .client = c, .req = req, .result = &res, .data_cache.keep = req->data_keys };
        _cleanup_free_ char *prefix = NULL;
        char requestid[33];
        uint64_t start = now_usec(CLOCK_MONOTONIC);
        bool limited = req->limit > 0 || req->limit_percent > 0;
        bool batched = req->batch_size > 0 || req->batch_percent > 0;
        bool open_ended = false;  /* a broadcast ping: whoever answers in time */
        int r;

        prefix = routing_key_node(c->config->collective, "");
        if (!prefix)
                return -ENOMEM;
        st.routing_prefix = prefix;
        if (!copy.discovery_only && copy.agent) {
                r = filter_with_agent(copy.filter, copy.agent, &agent_filter);
                if (r < 0) {
                        snprintf(c->error, sizeof c->error, "invalid filter for agent %s", copy.agent);
                        return r;
                }
                copy.filter = agent_filter;
        }
        /* Set below; declared here, before the first jump to finish. */
        size_t n_expected, batch;
        const char *agent, *action;

        /* Discovery: who is expected to answer. */
        if (req->targets) {
                /* Without --limit the order is lost to the sort below anyway. */
                r = (limited ? names_unique : names_sorted_unique)(req->targets, &res.expected);
                if (r < 0)
                        goto finish;
                res.directed = true;
        } else if (req->method == DISCOVERY_REGISTRY) {
                r = client_registry_discover(c->config->registry_dir, c->config->collective, req->filter,
                                             &res.expected, NULL);
                if (r < 0) {
                        snprintf(c->error, sizeof c->error, "cannot read the registry %s: %s",
                                 c->config->registry_dir, strerror(-r));
                        goto finish;
                }
                res.directed = true;
        } else if (req->direct_identities && filter_identities_are_names(req->filter)) {
                /* Named nodes need no discovery: address them directly. */
                r = (limited ? names_unique : names_sorted_unique)(req->filter->identities, &res.expected);
                if (r < 0)
                        goto finish;
                res.directed = true;
        } else if (!req->discovery_only || limited || batched) {
                r = broadcast_discover(c, req, prefix, &res.expected);
                if (r < 0)
                        goto finish;
                res.directed = limited || batched;
        } else
                open_ended = true;
        res.n_discovered = strv_length(res.expected);
        if (limited) {
                r = client_limit_nodes(&res.expected, req->limit, req->limit_percent, req->limit_random,
                                       req->limit_seed);
                if (r < 0)
                        goto finish;
        }
        strv_sort(res.expected);
        res.discovery_usec = now_usec(CLOCK_MONOTONIC) - start;

        n_expected = strv_length(res.expected);
        r = call_state_init(&st, n_expected);
        if (r < 0)
                goto finish;
        if (!open_ended) {
                if (n_expected == 0) {
                        r = 0;
                        goto finish;
                }
                for (char **e = res.expected; *e; e++) {
                        r = state_add(&st, *e, NODE_EXPECTED);
                        if (r < 0)
                                goto finish;
                }
                st.n_total = n_expected;
                /* One reply per expected node, usually: the array in one go. */
                if (GREEDY_REALLOC(res.replies, st.alloc, n_expected) < 0) {
                        r = -ENOMEM;
                        goto finish;
                }
        }

        r = random_hex_id(requestid);
        if (r < 0)
                goto finish;
        st.requestid = requestid;
        agent = req->discovery_only ? "discovery" : req->agent;
        action = req->discovery_only ? "ping" : req->action;

        batch = n_expected;
        if (batched && req->batch_percent > 0)
                batch = MAX((n_expected * req->batch_percent + 99) / 100, (size_t) 1);  /* rounded up, as mco */
        else if (batched)
                batch = req->batch_size;
        if (batch == 0)
                batch = 1;

        /* A broadcast ping is its own discovery: report it as one. */
        if (open_ended && req->on_discovery)
                req->on_discovery(0, req->discovery_timeout_usec, false, req->userdata);
        st.published_at = now_usec(CLOCK_MONOTONIC);
        for (size_t sent = 0;;) {
                _cleanup_free_ char **group = NULL;  /* borrowed from res.expected */
                uint64_t batch_start = now_usec(CLOCK_MONOTONIC);

                size_t n_group = 0;
                if (res.directed) {
                        n_group = MIN(batch, n_expected - sent);
                        group = calloc(n_group + 1, sizeof(char *));
                        if (!group) {
                                r = -ENOMEM;
                                goto finish;
                        }
                        memcpy(group, res.expected + sent, n_group * sizeof(char *));
                }
                r = publish_request(&st, agent, action, requestid, res.directed ? group : NULL);
                if (r < 0)
                        goto finish;
                res.n_batches++;
                sent += res.directed ? n_group : n_expected;
                st.n_expected = open_ended ? 0 : sent;

                /* --timeout bounds each batch, as mco's; without batches it is the whole run's. */
                uint64_t until = batched ? MAX(c->deadline, batch_start + req->timeout_usec) : c->deadline;
                if (open_ended)
                        until = MIN(until, batch_start + req->discovery_timeout_usec);
                r = collect(&st, until);
                if (r == -ETIMEDOUT) {
                        /* The discovery timeout ending a broadcast ping is its normal end. */
                        if (!open_ended)
                                res.timed_out = true;
                        r = 0;
                }
                if (r < 0)
                        goto finish;
                if (!res.directed || sent >= n_expected)
                        break;
                if (req->batch_sleep_usec > 0) {
                        /* Pause, still taking late answers (and keeping the connection alive). */
                        st.wait_all = true;
                        r = collect(&st, now_usec(CLOCK_MONOTONIC) + req->batch_sleep_usec);
                        st.wait_all = false;
                        if (r == -ETIMEDOUT)
                                r = 0;
                        if (r < 0)
                                goto finish;
                }
        }
        res.total_usec = now_usec(CLOCK_MONOTONIC) - st.published_at;
        if (open_ended) {
                res.n_discovered = res.n_replies;  /* the ping was the discovery */
                if (req->on_discovery)
                        req->on_discovery(res.n_replies, req->discovery_timeout_usec, true, req->userdata);
        }
        r = finish_missing(&st);

finish:
        res.run_usec = now_usec(CLOCK_MONOTONIC) - start;
        call_state_done(&st);
        if (r < 0) {
                client_result_done(&res);
                return r;
        }
        *ret = res;
        return 0;
}
