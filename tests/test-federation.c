/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Two sites: which replies go through <prefix>.reply (muster(7), TWO SITES). */
#include "config.h"
#include "federation.h"
#include "tests.h"

static char tmpdir[] = "/tmp/test-federation-XXXXXX";

static void cleanup(void) {
        tests_rm_rf(tmpdir);
}

static amqp_basic_properties_t with_headers(amqp_table_entry_t *entries, int n) {
        return (amqp_basic_properties_t) {
                ._flags = AMQP_BASIC_HEADERS_FLAG,
                .headers = { .num_entries = n, .entries = entries },
        };
}

static void test_delivery_federated(void) {
        TEST("amqp_delivery_federated: only a delivery with x-received-from came through a federation link");
        amqp_basic_properties_t none = {};
        ASSERT_FALSE(amqp_delivery_federated(&none));

        amqp_table_entry_t sig[] = {
                { .key = amqp_cstring_bytes("x-muster-signature"),
                  .value = { .kind = AMQP_FIELD_KIND_UTF8, .value.bytes = amqp_cstring_bytes("00") } },
                { .key = amqp_cstring_bytes("x-received-fro"),
                  .value = { .kind = AMQP_FIELD_KIND_UTF8, .value.bytes = amqp_cstring_bytes("x") } },
                { .key = amqp_cstring_bytes("x-received-from-elsewhere"),
                  .value = { .kind = AMQP_FIELD_KIND_UTF8, .value.bytes = amqp_cstring_bytes("x") } },
        };
        amqp_basic_properties_t local = with_headers(sig, 3);
        ASSERT_FALSE(amqp_delivery_federated(&local));

        /* What the federation link adds: an array of tables. */
        amqp_table_entry_t fed[] = {
                sig[0],
                { .key = amqp_cstring_bytes("x-received-from"),
                  .value = { .kind = AMQP_FIELD_KIND_ARRAY, .value.array = { .num_entries = 0 } } },
        };
        amqp_basic_properties_t federated = with_headers(fed, 2);
        ASSERT_TRUE(amqp_delivery_federated(&federated));
        /* Headers present but the flag unset: no headers. */
        federated._flags = 0;
        ASSERT_FALSE(amqp_delivery_federated(&federated));
        TEST_OK();
}

static void test_config(void) {
        MusterConfig a, b;
        unsigned errors = 0;

        TEST("responder.federated_replies: off by default, parsed, a change reconnects");
        ASSERT_OK(config_init(&a));
        ASSERT_FALSE(a.federated_replies);
        ASSERT_NULL(federation_reply_exchange(&a, "muster.reply", true));

        ASSERT_NOT_NULL(mkdtemp(tmpdir));
        atexit(cleanup);
        char *path = tests_path(tmpdir, "muster.conf");
        tests_write_file(path, "[responder]\nfederated_replies=yes\n");
        ASSERT_OK(config_init(&b));
        ASSERT_OK(config_parse_file(&b, path, &errors));
        ASSERT_UINT_EQ(errors, 0);
        ASSERT_TRUE(b.federated_replies);
        ASSERT_STR_EQ(federation_reply_exchange(&b, "muster.reply", true), "muster.reply");
        /* Requests asked at this site are answered as always. */
        ASSERT_NULL(federation_reply_exchange(&b, "muster.reply", false));
        ASSERT_TRUE(config_broker_changed(&a, &b));

        tests_write_file(path, "[responder]\nfederated_replies=perhaps\n");
        errors = 0;
        TestsCapture cap;
        tests_capture_begin(&cap);
        (void) config_parse_file(&b, path, &errors);
        char *log = tests_capture_end(&cap);
        ASSERT_UINT_EQ(errors, 1);
        ASSERT_STR_CONTAINS(log, "responder.federated_replies");
        free(log);
        free(path);
        config_done(&a);
        config_done(&b);
        TEST_OK();
}

int main(void) {
        test_delivery_federated();
        test_config();
        return 0;
}
