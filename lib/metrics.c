/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "log.h"
#include "metrics.h"
#include "util.h"

struct MetricsServer {
        sd_event *event;
        struct MHD_Daemon *mhd;
        sd_event_source *io, *timer;
        metrics_render_t render;
        void *userdata;
        int fd;
};

void metrics_label_escape(FILE *f, const char *s) {
        for (; *s; s++) {
                if (*s == '\\' || *s == '"')
                        fputc('\\', f);
                if (*s == '\n') {
                        fputs("\\n", f);
                        continue;
                }
                fputc(*s, f);
        }
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
                                  const char *version, const char *upload_data, size_t *upload_data_size,
                                  void **con_cls) {
        MetricsServer *m = cls;
        struct MHD_Response *resp;
        enum MHD_Result ret;
        char *buf = NULL;
        size_t size = 0;
        unsigned status = MHD_HTTP_OK;

        if (!streq(method, "GET") && !streq(method, "HEAD")) {
                static const char msg[] = "only GET\n";
                resp = MHD_create_response_from_buffer(sizeof msg - 1, (void *) msg, MHD_RESPMEM_PERSISTENT);
                status = MHD_HTTP_METHOD_NOT_ALLOWED;
        } else if (!streq(url, "/metrics") && !streq(url, "/")) {
                static const char msg[] = "not found; see /metrics\n";
                resp = MHD_create_response_from_buffer(sizeof msg - 1, (void *) msg, MHD_RESPMEM_PERSISTENT);
                status = MHD_HTTP_NOT_FOUND;
        } else {
                FILE *f = open_memstream(&buf, &size);
                if (!f)
                        return MHD_NO;
                m->render(f, m->userdata);
                if (fclose(f) != 0) {
                        free(buf);
                        return MHD_NO;
                }
                resp = MHD_create_response_from_buffer(size, buf, MHD_RESPMEM_MUST_FREE);
        }
        if (!resp) {
                free(buf);
                return MHD_NO;
        }
        if (status == MHD_HTTP_OK)
                MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
        ret = MHD_queue_response(conn, status, resp);
        MHD_destroy_response(resp);
        return ret;
}

static void rearm(MetricsServer *m);

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        MetricsServer *m = userdata;
        MHD_run(m->mhd);
        rearm(m);
        return 0;
}

static int on_timer(sd_event_source *s, uint64_t usec, void *userdata) {
        MetricsServer *m = userdata;
        MHD_run(m->mhd);
        rearm(m);
        return 0;
}

static void rearm(MetricsServer *m) {
        MHD_UNSIGNED_LONG_LONG ms;
        if (MHD_get_timeout(m->mhd, &ms) == MHD_YES)
                (void) event_source_rearm(m->timer, (uint64_t) ms * USEC_PER_MSEC);
        else
                (void) sd_event_source_set_enabled(m->timer, SD_EVENT_OFF);
}

static int bind_address(const char *address) {
        struct sockaddr_storage ss = {};
        socklen_t len;
        char host[128];
        const char *colon = strrchr(address, ':');
        unsigned port;

        if (!colon || (size_t) (colon - address) >= sizeof host || parse_uint(colon + 1, &port) < 0 || port > 65535)
                return -EINVAL;
        memcpy(host, address, (size_t) (colon - address));
        host[colon - address] = '\0';
        if (host[0] == '[' && host[strlen(host) - 1] == ']') {
                struct sockaddr_in6 *a = (struct sockaddr_in6 *) &ss;
                host[strlen(host) - 1] = '\0';
                a->sin6_family = AF_INET6;
                a->sin6_port = htons((uint16_t) port);
                if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1)
                        return -EINVAL;
                len = sizeof *a;
        } else {
                struct sockaddr_in *a = (struct sockaddr_in *) &ss;
                a->sin_family = AF_INET;
                a->sin_port = htons((uint16_t) port);
                if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
                        return -EINVAL;
                len = sizeof *a;
        }
        int fd = socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
        if (fd < 0)
                return -errno;
        int one = 1;
        (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (bind(fd, (struct sockaddr *) &ss, len) < 0 || listen(fd, 64) < 0) {
                int r = -errno;
                close(fd);
                return r;
        }
        return fd;
}

int metrics_server_new(sd_event *e, int fd, const char *address, metrics_render_t render, void *userdata,
                       MetricsServer **ret) {
        MetricsServer *m;
        int r;

        if (fd < 0) {
                fd = bind_address(address);
                if (fd < 0)
                        return fd;
        }
        m = calloc(1, sizeof *m);
        if (!m) {
                close(fd);
                return -ENOMEM;
        }
        m->event = e;
        m->render = render;
        m->userdata = userdata;
        m->fd = fd;
        m->mhd = MHD_start_daemon(MHD_USE_EPOLL | MHD_USE_SUPPRESS_DATE_NO_CLOCK, 0, NULL, NULL, on_request, m,
                                  MHD_OPTION_LISTEN_SOCKET, fd,
                                  MHD_OPTION_CONNECTION_LIMIT, (unsigned) 64,
                                  MHD_OPTION_CONNECTION_TIMEOUT, (unsigned) 10,
                                  MHD_OPTION_END);
        if (!m->mhd) {
                metrics_server_free(m);
                return -EIO;
        }
        const union MHD_DaemonInfo *info = MHD_get_daemon_info(m->mhd, MHD_DAEMON_INFO_EPOLL_FD);
        if (!info) {
                metrics_server_free(m);
                return -EIO;
        }
        r = sd_event_add_io(e, &m->io, info->epoll_fd, EPOLLIN, on_io, m);
        if (r >= 0)
                r = sd_event_add_time_relative(e, &m->timer, CLOCK_MONOTONIC, USEC_PER_SEC, 0, on_timer, m);
        if (r < 0) {
                metrics_server_free(m);
                return r;
        }
        rearm(m);
        *ret = m;
        return 0;
}

MetricsServer *metrics_server_free(MetricsServer *m) {
        if (!m)
                return NULL;
        m->io = sd_event_source_disable_unref(m->io);
        m->timer = sd_event_source_disable_unref(m->timer);
        if (m->mhd)
                MHD_stop_daemon(m->mhd);
        if (m->fd >= 0)
                close(m->fd);
        free(m);
        return NULL;
}
