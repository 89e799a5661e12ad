/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* idle-floor: the memory floor of an idle muster-responder. It links the
 * same shared libraries and uses each of them the least a responder must:
 * an sd-event loop with signal handling, one AMQP connection consuming an
 * exclusive queue (librabbitmq), one JSON document (jansson), one INI
 * string (inih), READY=1 (sd-daemon) and one log line through sd-journal's
 * sender when JOURNAL_STREAM is set; with "hmac", also one HMAC-SHA256
 * (libcrypto's default provider: what the first signed request costs any
 * process). Then it idles. Its VmRSS is what those libraries cost in any
 * process that uses them, counted in full; its Pss (smaps_rollup) shares
 * their pages among the processes mapping them, which is what the
 * responder's memory target is judged on (idle Pss <= 3 MiB: the 4 MiB RSS
 * target is retired, libssl and libcrypto come with librabbitmq). The
 * responder's figure minus this one is muster's own.
 *
 *   idle-floor HOST PORT [hmac]
 */

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <amqp.h>
#include <amqp_tcp_socket.h>
#include <ini.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <systemd/sd-daemon.h>
#include <systemd/sd-event.h>
#include <systemd/sd-journal.h>

static int on_ini(void *user, const char *section, const char *name, const char *value) {
        (void) user;
        (void) section;
        (void) name;
        (void) value;
        return 1;
}

static int on_io(sd_event_source *s, int fd, uint32_t revents, void *userdata) {
        amqp_connection_state_t conn = userdata;
        struct timeval tv = { 0, 0 };
        amqp_envelope_t env;
        (void) s;
        (void) fd;
        (void) revents;
        for (;;) {
                amqp_maybe_release_buffers(conn);
                amqp_rpc_reply_t r = amqp_consume_message(conn, &env, &tv, 0);
                if (r.reply_type != AMQP_RESPONSE_NORMAL)
                        break;
                amqp_destroy_envelope(&env);
        }
        return 0;
}

static int die(const char *what) {
        fprintf(stderr, "idle-floor: %s failed\n", what);
        return EXIT_FAILURE;
}

int main(int argc, char *argv[]) {
        sd_event *e = NULL;
        sigset_t mask;

        if (argc != 3 && !(argc == 4 && strcmp(argv[3], "hmac") == 0))
                return die("usage: idle-floor HOST PORT [hmac];");

        sigemptyset(&mask);
        sigaddset(&mask, SIGTERM);
        sigaddset(&mask, SIGINT);
        sigprocmask(SIG_BLOCK, &mask, NULL);
        if (sd_event_default(&e) < 0 || sd_event_add_signal(e, NULL, SIGTERM, NULL, NULL) < 0 ||
            sd_event_add_signal(e, NULL, SIGINT, NULL, NULL) < 0)
                return die("sd-event");

        if (ini_parse_string("[main]\nidentity=floor\n", on_ini, NULL) != 0)
                return die("inih");
        json_t *j = json_loads("{\"identity\": \"floor\", \"facts\": {\"role\": \"web\"}}", 0, NULL);
        char *dump = j ? json_dumps(j, JSON_COMPACT) : NULL;
        if (!dump)
                return die("jansson");
        unsigned char mac[EVP_MAX_MD_SIZE];
        unsigned mac_len = 0;
        if (argc == 4 && !HMAC(EVP_sha256(), "0123456789abcdef", 16, (const unsigned char *) dump, strlen(dump), mac, &mac_len))
                return die("HMAC");
        free(dump);
        json_decref(j);

        amqp_connection_state_t conn = amqp_new_connection();
        amqp_socket_t *sock = amqp_tcp_socket_new(conn);
        if (!sock || amqp_socket_open(sock, argv[1], atoi(argv[2])) != AMQP_STATUS_OK)
                return die("connect");
        if (amqp_login(conn, "/", 0, 131072, 30, AMQP_SASL_METHOD_PLAIN, "guest", "guest").reply_type !=
            AMQP_RESPONSE_NORMAL)
                return die("login");
        amqp_channel_open(conn, 1);
        amqp_queue_declare_ok_t *q = amqp_queue_declare(conn, 1, amqp_empty_bytes, 0, 0, 1, 1, amqp_empty_table);
        if (!q)
                return die("queue declare");
        amqp_bytes_t queue = amqp_bytes_malloc_dup(q->queue);
        amqp_basic_consume(conn, 1, queue, amqp_empty_bytes, 0, 1, 1, amqp_empty_table);
        if (amqp_get_rpc_reply(conn).reply_type != AMQP_RESPONSE_NORMAL)
                return die("consume");
        amqp_bytes_free(queue);
        if (sd_event_add_io(e, NULL, amqp_get_sockfd(conn), EPOLLIN, on_io, conn) < 0)
                return die("sd_event_add_io");

        if (getenv("JOURNAL_STREAM"))
                sd_journal_send("MESSAGE=idle-floor ready", "PRIORITY=6", NULL);
        else
                fprintf(stderr, "<6>idle-floor ready\n");
        sd_notify(0, "READY=1");
        int r = sd_event_loop(e);
        amqp_connection_close(conn, AMQP_REPLY_SUCCESS);
        amqp_destroy_connection(conn);
        sd_event_unref(e);
        return r < 0 ? EXIT_FAILURE : EXIT_SUCCESS;
}
