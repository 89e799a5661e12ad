/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdio.h>
#include <systemd/sd-event.h>

/* A Prometheus text endpoint served by libmicrohttpd from the daemon's own
 * event loop (no thread: the renderer reads daemon state directly). */

typedef struct MetricsServer MetricsServer;

/* Write the exposition text to f. */
typedef void (*metrics_render_t)(FILE *f, void *userdata);

/* fd: a listening TCP socket (socket activation), or -1 to bind address
 * ("127.0.0.1:9477", "[::1]:9477"). */
int metrics_server_new(sd_event *e, int fd, const char *address, metrics_render_t render, void *userdata,
                       MetricsServer **ret);
MetricsServer *metrics_server_free(MetricsServer *m);

/* Escape a Prometheus label value. */
void metrics_label_escape(FILE *f, const char *s);
