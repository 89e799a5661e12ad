/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_ssl_socket.h>
#include <amqp_tcp_socket.h>
#include <inttypes.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/time.h>

#include "amqp-session.h"
#include "log.h"
#include "sign.h"
#include "util.h"

int amqp_status_to_errno(int status) {
        switch (status) {
        case AMQP_STATUS_OK:
                return 0;
        case AMQP_STATUS_NO_MEMORY:
                return -ENOMEM;
        case AMQP_STATUS_TIMEOUT:
        case AMQP_STATUS_HEARTBEAT_TIMEOUT:
                return -ETIMEDOUT;
        case AMQP_STATUS_CONNECTION_CLOSED:
        case AMQP_STATUS_SOCKET_CLOSED:
                return -ECONNRESET;
        case AMQP_STATUS_HOSTNAME_RESOLUTION_FAILED:
                return -EHOSTUNREACH;
        case AMQP_STATUS_SSL_ERROR:
        case AMQP_STATUS_SSL_HOSTNAME_VERIFY_FAILED:
        case AMQP_STATUS_SSL_PEER_VERIFY_FAILED:
        case AMQP_STATUS_SSL_CONNECTION_FAILED:
                return -EPROTO;
        case AMQP_STATUS_SOCKET_ERROR:
        case AMQP_STATUS_TCP_ERROR:
                return -ECONNREFUSED;
        default:
                return -EIO;
        }
}

int amqp_reply_to_errno(amqp_rpc_reply_t r, const char *what, char *err, size_t n) {
        switch (r.reply_type) {
        case AMQP_RESPONSE_NORMAL:
                return 0;
        case AMQP_RESPONSE_NONE:
                snprintf(err, n, "%s: missing reply from broker", what);
                return -EPROTO;
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
                snprintf(err, n, "%s: %s", what, amqp_error_string2(r.library_error));
                return amqp_status_to_errno(r.library_error);
        case AMQP_RESPONSE_SERVER_EXCEPTION:
                if (r.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
                        amqp_connection_close_t *m = r.reply.decoded;
                        snprintf(err, n, "%s: broker closed the connection: %u %.*s", what, m->reply_code,
                                 (int) m->reply_text.len, (const char *) m->reply_text.bytes);
                        return m->reply_code == AMQP_ACCESS_REFUSED ? -EACCES : -ECONNRESET;
                }
                if (r.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
                        amqp_channel_close_t *m = r.reply.decoded;
                        snprintf(err, n, "%s: broker closed the channel: %u %.*s", what, m->reply_code,
                                 (int) m->reply_text.len, (const char *) m->reply_text.bytes);
                        return m->reply_code == AMQP_ACCESS_REFUSED ? -EACCES :
                               m->reply_code == AMQP_NOT_FOUND ? -ENOENT :
                               m->reply_code == AMQP_RESOURCE_LOCKED ? -EBUSY : -EPROTO;
                }
                snprintf(err, n, "%s: unexpected broker method 0x%08x", what, r.reply.id);
                return -EPROTO;
        }
        snprintf(err, n, "%s: unknown error", what);
        return -EIO;
}

char *url_strip_credentials(const char *url) {
        const char *scheme_end = strstr(url, "://");
        const char *at, *host;
        char *s;

        if (!scheme_end)
                return strdup(url);
        host = scheme_end + 3;
        at = strchr(host, '@');
        const char *slash = strchr(host, '/');
        if (at && (!slash || at < slash))
                host = at + 1;
        if (asprintf(&s, "%.*s://%s", (int) (scheme_end - url), url, host) < 0)
                return NULL;
        return s;
}

static void timeval_from_usec(struct timeval *tv, uint64_t usec) {
        tv->tv_sec = (time_t) (usec / USEC_PER_SEC);
        tv->tv_usec = (suseconds_t) (usec % USEC_PER_SEC);
}

static void amqp_connection_destroyp(amqp_connection_state_t *c) {
        if (*c)
                amqp_destroy_connection(*c);
}

static int connect_one(AmqpSession *s, const MusterConfig *c, const char *url, char *err, size_t n) {
        struct amqp_connection_info info;
        _cleanup_(amqp_connection_destroyp) amqp_connection_state_t conn = NULL;
        amqp_socket_t *sock;
        struct timeval tv;
        int heartbeat = (int) MIN(c->heartbeat_usec / USEC_PER_SEC, (uint64_t) 65535);
        _cleanup_free_ char *copy = strdup(url);
        int r, status;

        if (!copy)
                return -ENOMEM;
        amqp_default_connection_info(&info);
        status = amqp_parse_url(copy, &info);
        if (status != AMQP_STATUS_OK) {
                snprintf(err, n, "invalid broker URL");
                return -EINVAL;
        }
        /* "amqp://host:port/" names the empty vhost; we mean RabbitMQ's default. */
        const char *vhost = isempty(info.vhost) ? "/" : info.vhost;
        /* Credentials in the URL win over the configured ones only when given. */
        bool url_has_user = strchr(url + strlen(info.ssl ? "amqps://" : "amqp://"), '@') != NULL;
        const char *user = url_has_user ? info.user : strempty(c->username);
        const char *password = url_has_user ? info.password : strempty(c->password);

        conn = amqp_new_connection();
        if (!conn)
                return -ENOMEM;

        if (info.ssl) {
                sock = amqp_ssl_socket_new(conn);
                if (!sock) {
                        snprintf(err, n, "cannot create TLS socket");
                        return -ENOMEM;
                }
                amqp_ssl_socket_set_verify_peer(sock, c->tls_verify_peer);
                amqp_ssl_socket_set_verify_hostname(sock, c->tls_verify_hostname);
                if (c->tls_verify_peer && c->tls_ca) {
                        status = amqp_ssl_socket_set_cacert(sock, c->tls_ca);
                        if (status != AMQP_STATUS_OK) {
                                snprintf(err, n, "cannot load CA file %s: %s", c->tls_ca, amqp_error_string2(status));
                                return -EINVAL;
                        }
                }
                if (c->tls_cert) {
                        status = amqp_ssl_socket_set_key(sock, c->tls_cert, c->tls_key ?: c->tls_cert);
                        if (status != AMQP_STATUS_OK) {
                                snprintf(err, n, "cannot load client certificate %s: %s", c->tls_cert,
                                         amqp_error_string2(status));
                                return -EINVAL;
                        }
                }
        } else {
                sock = amqp_tcp_socket_new(conn);
                if (!sock) {
                        snprintf(err, n, "cannot create socket");
                        return -ENOMEM;
                }
        }

        timeval_from_usec(&tv, c->connect_timeout_usec);
        status = amqp_socket_open_noblock(sock, info.host, info.port, &tv);
        if (status != AMQP_STATUS_OK) {
                snprintf(err, n, "cannot connect: %s", amqp_error_string2(status));
                return amqp_status_to_errno(status);
        }

        /* Bound every synchronous call, so a broker that stops answering
         * cannot hang us. */
        (void) amqp_set_rpc_timeout(conn, &tv);
        (void) amqp_set_handshake_timeout(conn, &tv);

        r = amqp_reply_to_errno(amqp_login(conn, vhost, 0, 131072, heartbeat, AMQP_SASL_METHOD_PLAIN, user, password),
                                "login", err, n);
        if (r < 0)
                return r;

        amqp_channel_open(conn, AMQP_CHANNEL);
        r = amqp_reply_to_errno(amqp_get_rpc_reply(conn), "channel open", err, n);
        if (r < 0)
                return r;

        s->conn = TAKE_PTR(conn);
        s->tls = info.ssl;
        return 0;
}

int amqp_session_connect(AmqpSession *s, const MusterConfig *c) {
        size_t n = strv_length(c->broker_urls), off = 0;
        int r = -EINVAL;

        amqp_session_close(s);
        s->error[0] = '\0';
        if (n == 0) {
                snprintf(s->error, sizeof s->error, "no broker configured");
                return -EINVAL;
        }
        for (size_t i = 0; i < n; i++) {
                size_t k = (s->next_index + i) % n;
                const char *url = c->broker_urls[k];
                _cleanup_free_ char *display = url_strip_credentials(url);
                char err[256];

                r = connect_one(s, c, url, err, sizeof err);
                if (r >= 0) {
                        s->next_index = k;
                        free(s->url);
                        s->url = TAKE_PTR(display);
                        s->error[0] = '\0';
                        return 0;
                }
                if (off < sizeof s->error) {
                        int w = snprintf(s->error + off, sizeof s->error - off, "%s%s: %s", off ? "; " : "",
                                         strna(display), err);
                        if (w > 0)
                                off += (size_t) w;
                }
        }
        /* Start with the next broker next time. */
        s->next_index = (s->next_index + 1) % n;
        return r;
}

void amqp_session_done(AmqpSession *s) {
        amqp_session_close(s);
        free(s->url);
        s->url = NULL;
        free(s->out);
        s->out = NULL;
        s->out_alloc = 0;
        free(s->body);
        s->body = NULL;
        s->body_alloc = 0;
}

void amqp_session_close(AmqpSession *s) {
        s->batching = false;
        s->out_size = 0;
        if (s->conn) {
                /* Best effort; a dead peer just makes these fail. */
                (void) amqp_channel_close(s->conn, AMQP_CHANNEL, AMQP_REPLY_SUCCESS);
                (void) amqp_connection_close(s->conn, AMQP_REPLY_SUCCESS);
                amqp_destroy_connection(s->conn);
                s->conn = NULL;
        }
}

int amqp_session_fd(const AmqpSession *s) {
        return s->conn ? amqp_get_sockfd(s->conn) : -EBADF;
}

uint64_t amqp_session_backoff_usec(AmqpSession *s, const MusterConfig *c) {
        uint64_t d = c->reconnect_min_usec;
        unsigned f = ++s->failures;

        while (f-- > 1 && d < c->reconnect_max_usec)
                d *= 2;
        d = MIN(d, c->reconnect_max_usec);

        /* Jitter: somewhere in [d/2, d], so a fleet does not reconnect in step. */
        uint32_t rnd = 0;
        (void) random_bytes(&rnd, sizeof rnd);
        return d / 2 + (d / 2) * rnd / UINT32_MAX;
}

int amqp_session_declare_exchanges(AmqpSession *s, const MusterConfig *c) {
        static const struct {
                const char *kind;
                const char *type;
        } exchanges[] = {
                { "broadcast", "topic" },
                { "directed", "direct" },
                { "registration", "topic" },
        };

        for (size_t i = 0; i < ELEMENTSOF(exchanges); i++) {
                _cleanup_free_ char *name = NULL;
                if (config_exchange(c, exchanges[i].kind, &name) < 0)
                        return -ENOMEM;
                amqp_exchange_declare(s->conn, AMQP_CHANNEL, amqp_cstring_bytes(name),
                                      amqp_cstring_bytes(exchanges[i].type), 0, 1, 0, 0, amqp_empty_table);
                int r = amqp_reply_to_errno(amqp_get_rpc_reply(s->conn), "exchange declare", s->error,
                                            sizeof s->error);
                if (r < 0)
                        return r;
        }
        return 0;
}

/* Frames as librabbitmq writes them: type, channel, payload size, payload, frame end. */
#define FRAME_HEADER_SIZE 7
#define FRAME_OVERHEAD 8
#define BATCH_FLUSH_SIZE (64 * 1024)

static void put16(uint8_t *p, uint16_t v) {
        p[0] = (uint8_t) (v >> 8);
        p[1] = (uint8_t) v;
}

static void put32(uint8_t *p, uint32_t v) {
        put16(p, (uint16_t) (v >> 16));
        put16(p + 2, (uint16_t) v);
}

static void put64(uint8_t *p, uint64_t v) {
        put32(p, (uint32_t) (v >> 32));
        put32(p + 4, (uint32_t) v);
}

static int out_reserve(AmqpSession *s, size_t need) {
        if (s->out_size + need <= s->out_alloc)
                return 0;
        size_t a = MAX(s->out_alloc * 2, s->out_size + need + BATCH_FLUSH_SIZE);
        uint8_t *n = realloc(s->out, a);
        if (!n)
                return -ENOMEM;
        s->out = n;
        s->out_alloc = a;
        return 0;
}

/* Start a frame of type at the end of the queue; its payload goes at the returned offset. */
static size_t frame_start(AmqpSession *s, uint8_t type) {
        uint8_t *p = s->out + s->out_size;
        p[0] = type;
        put16(p + 1, AMQP_CHANNEL);
        return s->out_size + FRAME_HEADER_SIZE;
}

static void frame_end(AmqpSession *s, size_t payload) {
        uint8_t *p = s->out + s->out_size;
        put32(p + 3, (uint32_t) payload);
        p[FRAME_HEADER_SIZE + payload] = AMQP_FRAME_END;
        s->out_size += payload + FRAME_OVERHEAD;
}

/* Encode with fn into the free space after off, growing the buffer while it is too small. */
static int encode_grow(AmqpSession *s, size_t off, size_t min_free, int (*fn)(AmqpSession *s, amqp_bytes_t b, void *u),
                       void *u) {
        for (size_t want = min_free;; want *= 2) {
                if (out_reserve(s, off - s->out_size + want + 1) < 0)
                        return -ENOMEM;
                int n = fn(s, (amqp_bytes_t) { .len = s->out_alloc - off - 1, .bytes = s->out + off }, u);
                if (n >= 0)
                        return n;
                if (want > 16 * 1024 * 1024)
                        return -EMSGSIZE;
        }
}

typedef struct EncodeArgs {
        amqp_basic_publish_t *m;
        amqp_basic_properties_t *props;
} EncodeArgs;

static int encode_method(AmqpSession *s, amqp_bytes_t b, void *u) {
        EncodeArgs *a = u;
        if (b.len < 4)
                return -1;
        put32(b.bytes, AMQP_BASIC_PUBLISH_METHOD);
        int n = amqp_encode_method(AMQP_BASIC_PUBLISH_METHOD, a->m,
                                   (amqp_bytes_t) { .len = b.len - 4, .bytes = (uint8_t *) b.bytes + 4 });
        return n < 0 ? n : n + 4;
}

static int encode_properties(AmqpSession *s, amqp_bytes_t b, void *u) {
        EncodeArgs *a = u;
        if (b.len < 12)
                return -1;
        /* class, weight, body size: filled in by the caller */
        int n = amqp_encode_properties(AMQP_BASIC_CLASS, a->props,
                                       (amqp_bytes_t) { .len = b.len - 12, .bytes = (uint8_t *) b.bytes + 12 });
        return n < 0 ? n : n + 12;
}

static int out_write(AmqpSession *s);

static int batch_publish(AmqpSession *s, const char *exchange, const char *routing_key, bool mandatory,
                         amqp_basic_properties_t *props, const void *body, size_t size) {
        amqp_basic_publish_t m = {
                .exchange = amqp_cstring_bytes(exchange),
                .routing_key = amqp_cstring_bytes(routing_key),
                .mandatory = mandatory,
        };
        EncodeArgs a = { .m = &m, .props = props };
        size_t start = s->out_size, frame_max = (size_t) amqp_get_frame_max(s->conn), off;
        int n;

        if (frame_max <= FRAME_OVERHEAD)
                frame_max = 131072;
        /* On failure nothing of this message stays queued. */
        if (out_reserve(s, FRAME_OVERHEAD) < 0)
                goto oom;
        off = frame_start(s, AMQP_FRAME_METHOD);
        n = encode_grow(s, off, 1024, encode_method, &a);
        if (n < 0)
                goto fail;
        frame_end(s, (size_t) n);

        if (out_reserve(s, FRAME_OVERHEAD) < 0)
                goto oom;
        off = frame_start(s, AMQP_FRAME_HEADER);
        n = encode_grow(s, off, 1024, encode_properties, &a);
        if (n < 0)
                goto fail;
        put16(s->out + off, AMQP_BASIC_CLASS);
        put16(s->out + off + 2, 0);
        put64(s->out + off + 4, size);
        frame_end(s, (size_t) n);

        for (size_t done = 0; done < size;) {
                size_t chunk = MIN(size - done, frame_max - FRAME_OVERHEAD);
                if (out_reserve(s, chunk + FRAME_OVERHEAD) < 0)
                        goto oom;
                off = frame_start(s, AMQP_FRAME_BODY);
                memcpy(s->out + off, (const uint8_t *) body + done, chunk);
                frame_end(s, chunk);
                done += chunk;
        }
        if (s->out_size >= BATCH_FLUSH_SIZE)
                return out_write(s);
        return 0;

oom:
        n = -ENOMEM;
fail:
        s->out_size = start;
        snprintf(s->error, sizeof s->error, "publish: %s", n == -ENOMEM ? "out of memory" : "cannot encode the message");
        return n == -ENOMEM ? -ENOMEM : -EINVAL;
}

void amqp_session_batch_begin(AmqpSession *s) {
        s->batching = s->conn && !s->tls && amqp_get_sockfd(s->conn) >= 0;
}

static int out_write(AmqpSession *s) {
        size_t done = 0;
        int fd;

        if (s->out_size == 0)
                return 0;
        fd = s->conn ? amqp_get_sockfd(s->conn) : -1;
        if (fd < 0) {
                snprintf(s->error, sizeof s->error, "publish: %s", amqp_error_string2(AMQP_STATUS_SOCKET_CLOSED));
                s->out_size = 0;
                return -ENOTCONN;
        }
        /* As long as librabbitmq would wait for one frame: twice the heartbeat, or without end. */
        int heartbeat = amqp_get_heartbeat(s->conn);
        int timeout_ms = heartbeat > 0 ? heartbeat * 2 * 1000 : -1;
        while (done < s->out_size) {
                ssize_t k = send(fd, s->out + done, s->out_size - done, MSG_NOSIGNAL);
                if (k >= 0) {
                        done += (size_t) k;
                        continue;
                }
                if (errno == EINTR)
                        continue;
                if (errno == EAGAIN) {
                        struct pollfd p = { .fd = fd, .events = POLLOUT };
                        int q = poll(&p, 1, timeout_ms);
                        if (q > 0 || (q < 0 && errno == EINTR))
                                continue;
                        if (q == 0)
                                errno = ETIMEDOUT;
                }
                int e = errno;
                snprintf(s->error, sizeof s->error, "publish: %s", strerror(e));
                s->out_size = 0;
                return -e;
        }
        s->out_size = 0;
        return 0;
}

int amqp_session_flush(AmqpSession *s) {
        s->batching = false;
        return out_write(s);
}

int amqp_session_publish(AmqpSession *s, const char *exchange, const char *routing_key, const void *body,
                         size_t size, const PublishOptions *o) {
        amqp_basic_properties_t props = {};
        amqp_table_entry_t entries[3];
        char expiration[32];
        int status;

        props._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG;
        props.content_type = amqp_cstring_bytes("application/json");
        props.delivery_mode = o && o->persistent ? AMQP_DELIVERY_PERSISTENT : AMQP_DELIVERY_NONPERSISTENT;
        if (o && o->reply_to) {
                props._flags |= AMQP_BASIC_REPLY_TO_FLAG;
                props.reply_to = amqp_cstring_bytes(o->reply_to);
        }
        if (o && o->message_id) {
                props._flags |= AMQP_BASIC_MESSAGE_ID_FLAG;
                props.message_id = amqp_cstring_bytes(o->message_id);
        }
        if (o && o->expiration_ms > 0) {
                snprintf(expiration, sizeof expiration, "%" PRIu64, o->expiration_ms);
                props._flags |= AMQP_BASIC_EXPIRATION_FLAG;
                props.expiration = amqp_cstring_bytes(expiration);
        }
        if (o && o->signature) {
                entries[0].key = amqp_cstring_bytes(SIGNATURE_HEADER_SCHEME);
                entries[0].value.kind = AMQP_FIELD_KIND_UTF8;
                entries[0].value.value.bytes = amqp_cstring_bytes(o->scheme ?: SIGNATURE_SCHEME_HMAC);
                entries[1].key = amqp_cstring_bytes(SIGNATURE_HEADER_VALUE);
                entries[1].value.kind = AMQP_FIELD_KIND_UTF8;
                entries[1].value.value.bytes = amqp_cstring_bytes(o->signature);
                props._flags |= AMQP_BASIC_HEADERS_FLAG;
                props.headers.num_entries = 2;
                if (o->key_id) {
                        entries[2].key = amqp_cstring_bytes(SIGNATURE_HEADER_KEY_ID);
                        entries[2].value.kind = AMQP_FIELD_KIND_UTF8;
                        entries[2].value.value.bytes = amqp_cstring_bytes(o->key_id);
                        props.headers.num_entries = 3;
                }
                props.headers.entries = entries;
        }

        if (s->batching)
                return batch_publish(s, exchange, routing_key, o && o->mandatory, &props, body, size);

        status = amqp_basic_publish(s->conn, AMQP_CHANNEL, amqp_cstring_bytes(exchange),
                                    amqp_cstring_bytes(routing_key), o && o->mandatory, 0, &props,
                                    (amqp_bytes_t) { .len = size, .bytes = (void *) body });
        if (status != AMQP_STATUS_OK) {
                snprintf(s->error, sizeof s->error, "publish: %s", amqp_error_string2(status));
                return amqp_status_to_errno(status);
        }
        return 0;
}

const char *amqp_header_string(const amqp_basic_properties_t *p, const char *key, char *buf, size_t n) {
        size_t klen = strlen(key);

        if (!(p->_flags & AMQP_BASIC_HEADERS_FLAG))
                return NULL;
        for (int i = 0; i < p->headers.num_entries; i++) {
                const amqp_table_entry_t *e = &p->headers.entries[i];
                if (e->key.len != klen || memcmp(e->key.bytes, key, klen) != 0)
                        continue;
                if (e->value.kind != AMQP_FIELD_KIND_UTF8 && e->value.kind != AMQP_FIELD_KIND_BYTES)
                        return NULL;
                const amqp_bytes_t *b = &e->value.value.bytes;
                if (b->len >= n || memchr(b->bytes, 0, b->len))
                        return NULL;
                memcpy(buf, b->bytes, b->len);
                buf[b->len] = '\0';
                return buf;
        }
        return NULL;
}

static int read_failed(AmqpSession *s, int status) {
        snprintf(s->error, sizeof s->error, "%s", amqp_error_string2(status));
        int r = amqp_status_to_errno(status);
        /* A missed heartbeat is a lost connection, not a wait that ended. */
        return r == -ETIMEDOUT || r == 0 ? -ECONNRESET : r;
}

/* A method that ends the channel or the connection; 0 for any other. */
static int closing_method(AmqpSession *s, const amqp_frame_t *f) {
        if (f->frame_type != AMQP_FRAME_METHOD)
                return 0;
        switch (f->payload.method.id) {
        case AMQP_CHANNEL_CLOSE_METHOD: {
                amqp_channel_close_t *c = f->payload.method.decoded;
                snprintf(s->error, sizeof s->error, "channel closed by broker: %u %.*s", c->reply_code,
                         (int) c->reply_text.len, (const char *) c->reply_text.bytes);
                return -ESHUTDOWN;
        }
        case AMQP_CONNECTION_CLOSE_METHOD: {
                amqp_connection_close_t *c = f->payload.method.decoded;
                snprintf(s->error, sizeof s->error, "connection closed by broker: %u %.*s", c->reply_code,
                         (int) c->reply_text.len, (const char *) c->reply_text.bytes);
                return -ESHUTDOWN;
        }
        default:
                return 0;
        }
}

int amqp_session_read(AmqpSession *s, const struct timeval *timeout, AmqpMessage *ret) {
        amqp_frame_t frame;
        int st, r;

        if (!s->conn) {
                snprintf(s->error, sizeof s->error, "not connected");
                return -ENOTCONN;
        }
        /* The frames of the message returned before are no longer used. */
        amqp_maybe_release_buffers(s->conn);

        st = amqp_simple_wait_frame_noblock(s->conn, &frame, timeout);
        if (st == AMQP_STATUS_TIMEOUT)
                return -ETIMEDOUT;
        if (st != AMQP_STATUS_OK)
                return read_failed(s, st);
        r = closing_method(s, &frame);
        if (r < 0)
                return r;
        if (frame.frame_type != AMQP_FRAME_METHOD || (frame.payload.method.id != AMQP_BASIC_DELIVER_METHOD &&
                                                      frame.payload.method.id != AMQP_BASIC_RETURN_METHOD))
                return -EAGAIN;

        AmqpMessage m = { .method = frame.payload.method.id };
        if (m.method == AMQP_BASIC_DELIVER_METHOD)
                m.deliver = frame.payload.method.decoded;
        else
                m.returned = frame.payload.method.decoded;
        amqp_channel_t channel = frame.channel;

        /* The content header, then the body frames, on the same channel (as amqp_read_message()). */
        st = amqp_simple_wait_frame(s->conn, &frame);
        if (st != AMQP_STATUS_OK)
                return read_failed(s, st);
        r = closing_method(s, &frame);
        if (r < 0)
                return r;
        if (frame.frame_type != AMQP_FRAME_HEADER || frame.channel != channel)
                return read_failed(s, AMQP_STATUS_BAD_AMQP_DATA);
        m.properties = frame.payload.properties.decoded;
        uint64_t size = frame.payload.properties.body_size;
        if (size > SIZE_MAX / 2)
                return read_failed(s, AMQP_STATUS_NO_MEMORY);

        for (size_t got = 0; got < size;) {
                st = amqp_simple_wait_frame(s->conn, &frame);
                if (st != AMQP_STATUS_OK)
                        return read_failed(s, st);
                r = closing_method(s, &frame);
                if (r < 0)
                        return r;
                if (frame.frame_type != AMQP_FRAME_BODY || frame.channel != channel ||
                    frame.payload.body_fragment.len > size - got)
                        return read_failed(s, AMQP_STATUS_BAD_AMQP_DATA);
                const amqp_bytes_t *b = &frame.payload.body_fragment;
                if (got == 0 && b->len == size) {
                        /* The whole body in one frame: used where it lies. */
                        m.body = b->bytes;
                        got = size;
                        break;
                }
                if (got == 0 && size > s->body_alloc) {
                        uint8_t *n = realloc(s->body, (size_t) size);
                        if (!n)
                                return read_failed(s, AMQP_STATUS_NO_MEMORY);
                        s->body = n;
                        s->body_alloc = (size_t) size;
                }
                memcpy(s->body + got, b->bytes, b->len);
                got += b->len;
                m.body = s->body;
        }
        m.size = (size_t) size;
        if (size == 0)
                m.body = "";
        *ret = m;
        return 0;
}

int amqp_session_drain(AmqpSession *s, amqp_delivery_cb_t cb, void *userdata) {
        while (s->conn) {
                amqp_envelope_t env;
                struct timeval tv = {};
                amqp_rpc_reply_t res;

                amqp_maybe_release_buffers(s->conn);
                res = amqp_consume_message(s->conn, &env, &tv, 0);
                if (res.reply_type == AMQP_RESPONSE_NORMAL) {
                        cb(&env, userdata);
                        amqp_destroy_envelope(&env);
                        continue;
                }
                if (res.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION && res.library_error == AMQP_STATUS_TIMEOUT)
                        return 0;
                if (res.reply_type != AMQP_RESPONSE_LIBRARY_EXCEPTION ||
                    res.library_error != AMQP_STATUS_UNEXPECTED_STATE)
                        return amqp_reply_to_errno(res, "receive", s->error, sizeof s->error);

                /* Something other than a delivery. */
                amqp_frame_t frame;
                int st = amqp_simple_wait_frame_noblock(s->conn, &frame, &tv);
                if (st == AMQP_STATUS_TIMEOUT)
                        return 0;
                if (st != AMQP_STATUS_OK) {
                        snprintf(s->error, sizeof s->error, "receive: %s", amqp_error_string2(st));
                        return amqp_status_to_errno(st);
                }
                if (frame.frame_type != AMQP_FRAME_METHOD)
                        continue;
                switch (frame.payload.method.id) {
                case AMQP_BASIC_RETURN_METHOD: {
                        amqp_message_t msg;
                        res = amqp_read_message(s->conn, frame.channel, &msg, 0);
                        if (res.reply_type != AMQP_RESPONSE_NORMAL)
                                return amqp_reply_to_errno(res, "returned message", s->error, sizeof s->error);
                        amqp_destroy_message(&msg);
                        break;
                }
                case AMQP_BASIC_CANCEL_METHOD:
                        snprintf(s->error, sizeof s->error, "the broker cancelled the consumer");
                        return -ECANCELED;
                case AMQP_CHANNEL_CLOSE_METHOD: {
                        amqp_channel_close_t *c = frame.payload.method.decoded;
                        snprintf(s->error, sizeof s->error, "channel closed by broker: %u %.*s", c->reply_code,
                                 (int) c->reply_text.len, (const char *) c->reply_text.bytes);
                        return -EPROTO;
                }
                case AMQP_CONNECTION_CLOSE_METHOD: {
                        amqp_connection_close_t *c = frame.payload.method.decoded;
                        snprintf(s->error, sizeof s->error, "connection closed by broker: %u %.*s", c->reply_code,
                                 (int) c->reply_text.len, (const char *) c->reply_text.bytes);
                        return -ECONNRESET;
                }
                default:
                        break; /* acks of confirms, cancel-ok, ... */
                }
        }
        return -ENOTCONN;
}
