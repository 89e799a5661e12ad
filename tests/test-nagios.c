/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "client.h"
#include "macro.h"
#include "nagios.h"
#include "tests.h"
#include "util.h"

/* Runs nagios_collation_print into a string; the exit code goes to *ret_code. */
static char *print_collation(const NagiosCollation *c, const char *command, int *ret_code) {
        char *buf = NULL;
        size_t n = 0;
        FILE *f = open_memstream(&buf, &n);

        ASSERT_NOT_NULL(f);
        *ret_code = nagios_collation_print(c, command, f);
        ASSERT_INT_EQ(fclose(f), 0);
        ASSERT_NOT_NULL(buf);
        ASSERT_INT_EQ(strlen(buf), n);
        return buf;
}

static void test_print(void) {
        char *ok_names[] = { (char *) "www1", (char *) "www2", (char *) "www3", NULL };
        char *ok2[] = { (char *) "www1", (char *) "www2", NULL };
        char *warn[] = { (char *) "www21", NULL };
        char *warn2[] = { (char *) "web7", (char *) "web8", NULL };
        char *crit[] = { (char *) "db1", (char *) "db2", (char *) "db3", NULL };
        char *unknown[] = { (char *) "mail1", NULL };
        char *empty[] = { NULL };
        char *out;
        int code;

        TEST("nagios_collation_print: all OK");
        NagiosCollation all_ok = { .names = { ok_names }, .replies = 3, .checktime = 0.5 };
        out = print_collation(&all_ok, "check_load", &code);
        ASSERT_STR_EQ(out,
                      "check_load: OK: 3 WARNING: 0 CRITICAL: 0 UNKNOWN: 0| total=3 ok=3 warn=0 crit=0 unknown=0 "
                      "checktime=0.500000\n");
        ASSERT_INT_EQ(code, NAGIOS_OK);
        free(out);
        TEST_OK();

        TEST("nagios_collation_print: the check-mc-nrpe example of DESIGN.md");
        NagiosCollation one_warn = { .names = { ok2, warn }, .replies = 3, .checktime = 0.17237 };
        out = print_collation(&one_warn, "check_x", &code);
        ASSERT_STR_EQ(out,
                      "check_x: OK: 2 WARNING: 1 CRITICAL: 0 UNKNOWN: 0| total=3 ok=2 warn=1 crit=0 unknown=0 "
                      "checktime=0.172370\n"
                      "WARNING: www21\n");
        ASSERT_INT_EQ(code, NAGIOS_WARNING);
        free(out);
        one_warn.checktime = 0.172370;
        out = print_collation(&one_warn, "check_puppet_run", &code);
        ASSERT_STR_EQ(out,
                      "check_puppet_run: OK: 2 WARNING: 1 CRITICAL: 0 UNKNOWN: 0| total=3 ok=2 warn=1 crit=0 "
                      "unknown=0 checktime=0.172370\n"
                      "WARNING: www21\n");
        free(out);
        TEST_OK();

        TEST("nagios_collation_print: CRITICAL, WARNING, UNKNOWN lines in that order");
        NagiosCollation mixed = {
                .names = { [NAGIOS_OK] = ok2, [NAGIOS_WARNING] = warn2, [NAGIOS_CRITICAL] = crit,
                           [NAGIOS_UNKNOWN] = unknown },
                .replies = 8,
                .checktime = 1.25,
        };
        out = print_collation(&mixed, "check_disk", &code);
        ASSERT_STR_EQ(out,
                      "check_disk: OK: 2 WARNING: 2 CRITICAL: 3 UNKNOWN: 1| total=8 ok=2 warn=2 crit=3 unknown=1 "
                      "checktime=1.250000\n"
                      "CRITICAL: db1 db2 db3\n"
                      "WARNING: web7 web8\n"
                      "UNKNOWN: mail1\n");
        ASSERT_INT_EQ(code, NAGIOS_CRITICAL);
        free(out);
        TEST_OK();

        TEST("nagios_collation_print: empty lists and no answers");
        NagiosCollation none = { .names = { empty, empty, NULL, empty }, .replies = 0, .checktime = 2 };
        out = print_collation(&none, "check_load", &code);
        ASSERT_STR_EQ(out,
                      "check_load: OK: 0 WARNING: 0 CRITICAL: 0 UNKNOWN: 0| total=0 ok=0 warn=0 crit=0 unknown=0 "
                      "checktime=2.000000\n");
        ASSERT_INT_EQ(code, NAGIOS_OK);
        free(out);

        /* only UNKNOWN: the WARNING/CRITICAL lines are left out */
        NagiosCollation unk = { .names = { [NAGIOS_UNKNOWN] = unknown }, .replies = 1, .checktime = 0 };
        out = print_collation(&unk, "c", &code);
        ASSERT_STR_EQ(out,
                      "c: OK: 0 WARNING: 0 CRITICAL: 0 UNKNOWN: 1| total=1 ok=0 warn=0 crit=0 unknown=1 "
                      "checktime=0.000000\n"
                      "UNKNOWN: mail1\n");
        ASSERT_INT_EQ(code, NAGIOS_UNKNOWN);
        free(out);
        TEST_OK();
}

static void test_state(void) {
        char *a[] = { (char *) "a", NULL };
        char *empty[] = { NULL };

        TEST("nagios_collation_state: CRITICAL > WARNING > UNKNOWN > OK");
        /* every combination of the three non-OK states being present */
        for (unsigned mask = 0; mask < 8; mask++) {
                NagiosCollation c = { .names = { a, NULL, NULL, NULL } };
                bool w = mask & 1, cr = mask & 2, u = mask & 4;
                c.names[NAGIOS_WARNING] = w ? a : empty;
                c.names[NAGIOS_CRITICAL] = cr ? a : NULL;
                c.names[NAGIOS_UNKNOWN] = u ? a : empty;
                int want = cr ? NAGIOS_CRITICAL : w ? NAGIOS_WARNING : u ? NAGIOS_UNKNOWN : NAGIOS_OK;
                if (nagios_collation_state(&c) != want)
                        test_fail(__FILE__, __LINE__, "mask %u: want %d, got %d", mask, want,
                                  nagios_collation_state(&c));
                FILE *f = fopen("/dev/null", "we");
                ASSERT_NOT_NULL(f);
                ASSERT_INT_EQ(nagios_collation_print(&c, "x", f), want);
                fclose(f);
        }
        NagiosCollation nothing = {};
        ASSERT_INT_EQ(nagios_collation_state(&nothing), NAGIOS_OK);
        TEST_OK();

        TEST("OK nodes counted without a list (n_ok) add to the listed ones, in counts and thresholds");
        char *crit1[] = { (char *) "db1", NULL };
        NagiosCollation counted = { .names = { a, NULL, crit1, NULL }, .n_ok = 98, .replies = 100 };
        counted.critical = (NagiosThreshold) { .set = true, .percent = true, .value = 5 };
        int code;
        _cleanup_free_ char *out = print_collation(&counted, "check_disk", &code);
        ASSERT_TRUE(startswith(out, "check_disk: OK: 99 WARNING: 0 CRITICAL: 1 UNKNOWN: 0| total=100 ok=99 "));
        ASSERT_NOT_NULL(strstr(out, "notok=1;;;0;100 notok_pct=1%;;5;0;100"));
        ASSERT_NOT_NULL(strstr(out, "\nCRITICAL: db1\n"));
        ASSERT_INT_EQ(code, NAGIOS_OK); /* 1 % is under the 5 % threshold */
        TEST_OK();

        TEST("nagios_state_name, nagios_state_from_exit");
        ASSERT_STR_EQ(nagios_state_name(NAGIOS_OK), "OK");
        ASSERT_STR_EQ(nagios_state_name(NAGIOS_WARNING), "WARNING");
        ASSERT_STR_EQ(nagios_state_name(NAGIOS_CRITICAL), "CRITICAL");
        ASSERT_STR_EQ(nagios_state_name(NAGIOS_UNKNOWN), "UNKNOWN");
        ASSERT_STR_EQ(nagios_state_name(4), "UNKNOWN");
        ASSERT_STR_EQ(nagios_state_name(-1), "UNKNOWN");
        for (int i = 0; i <= 3; i++)
                ASSERT_INT_EQ(nagios_state_from_exit(i), i);
        ASSERT_INT_EQ(nagios_state_from_exit(4), NAGIOS_UNKNOWN);
        ASSERT_INT_EQ(nagios_state_from_exit(127), NAGIOS_UNKNOWN);
        ASSERT_INT_EQ(nagios_state_from_exit(255), NAGIOS_UNKNOWN);
        ASSERT_INT_EQ(nagios_state_from_exit(-1), NAGIOS_UNKNOWN);
        TEST_OK();
}

static void test_thresholds(void) {
        NagiosThreshold t;
        char *ok[] = { (char *) "a", (char *) "b", (char *) "c", (char *) "d", (char *) "e", (char *) "f",
                       (char *) "g", NULL };
        char *warn[] = { (char *) "w1", (char *) "w2", NULL };
        char *crit[] = { (char *) "c1", NULL };
        char *out;
        int code;

        TEST("nagios_threshold_parse");
        ASSERT_OK(nagios_threshold_parse("2", &t));
        ASSERT_TRUE(t.set && !t.percent && t.value == 2.0);
        ASSERT_OK(nagios_threshold_parse("0", &t));
        ASSERT_TRUE(t.set && !t.percent && t.value == 0.0);
        ASSERT_OK(nagios_threshold_parse("10%", &t));
        ASSERT_TRUE(t.set && t.percent && t.value == 10.0);
        ASSERT_OK(nagios_threshold_parse("12.5%", &t));
        ASSERT_TRUE(t.percent && t.value == 12.5);
        ASSERT_OK(nagios_threshold_parse("100%", &t));
        ASSERT_OK(nagios_threshold_parse("1000000", &t));
        ASSERT_INT_EQ(nagios_threshold_parse("100.1%", &t), -ERANGE);
        ASSERT_INT_EQ(nagios_threshold_parse("1000001", &t), -ERANGE);
        static const char *const bad[] = { "", "-1", "1.5", "x", "%", "1%%", "1 ", " 1", "1.%", ".5%", "2:5",
                                           "10x", "1e3", "0x10" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                if (nagios_threshold_parse(bad[i], &t) != -EINVAL)
                        test_fail(__FILE__, __LINE__, "\"%s\" was accepted", bad[i]);
        TEST_OK();

        TEST("nagios_threshold_exceeded: more than N, more than P%");
        NagiosThreshold n2 = { .set = true, .value = 2 }, p10 = { .set = true, .percent = true, .value = 10 };
        NagiosThreshold unset = {};
        ASSERT_FALSE(nagios_threshold_exceeded(&n2, 2, 10));
        ASSERT_TRUE(nagios_threshold_exceeded(&n2, 3, 10));
        ASSERT_FALSE(nagios_threshold_exceeded(&p10, 1, 10));    /* 10% is not more than 10% */
        ASSERT_TRUE(nagios_threshold_exceeded(&p10, 2, 10));
        ASSERT_TRUE(nagios_threshold_exceeded(&p10, 1, 9));      /* 11.1% */
        ASSERT_FALSE(nagios_threshold_exceeded(&p10, 0, 0));
        ASSERT_FALSE(nagios_threshold_exceeded(&unset, 100, 100));
        TEST_OK();

        TEST("collation with thresholds: state and perfdata");
        NagiosCollation c = { .names = { ok, warn, crit, NULL }, .replies = 10, .checktime = 0.5 };
        c.warning = (NagiosThreshold) { .set = true, .value = 2 };
        c.critical = (NagiosThreshold) { .set = true, .value = 5 };
        out = print_collation(&c, "check_x", &code);
        ASSERT_INT_EQ(code, NAGIOS_WARNING);    /* 3 not OK: more than 2, not more than 5 */
        ASSERT_STR_EQ(out, "check_x: OK: 7 WARNING: 2 CRITICAL: 1 UNKNOWN: 0| total=10 ok=7 warn=2 crit=1 "
                           "unknown=0 checktime=0.500000 notok=3;2;5;0;10\n"
                           "CRITICAL: c1\n"
                           "WARNING: w1 w2\n");
        free(out);
        c.warning.value = 3;
        ASSERT_INT_EQ(nagios_collation_state(&c), NAGIOS_OK);
        c.critical = (NagiosThreshold) { .set = true, .percent = true, .value = 25 };
        out = print_collation(&c, "check_x", &code);
        ASSERT_INT_EQ(code, NAGIOS_CRITICAL);   /* 30% > 25% */
        ASSERT_STR_CONTAINS(out, " checktime=0.500000 notok=3;3;;0;10 notok_pct=30%;;25;0;100\n");
        free(out);
        c.critical.value = 30;
        ASSERT_INT_EQ(nagios_collation_state(&c), NAGIOS_OK);
        c.names[NAGIOS_OK] = NULL;              /* 3 of 3: 100% */
        out = print_collation(&c, "check_x", &code);
        ASSERT_INT_EQ(code, NAGIOS_CRITICAL);
        ASSERT_STR_CONTAINS(out, " notok=3;3;;0;3 notok_pct=100%;;30;0;100\n");
        free(out);
        TEST_OK();
}

/* check-mc-nrpe keeps a state (and with -v the output) per reply, not the
 * reply's data: an exit code maps to its state, anything else is UNKNOWN. */
static void test_nrpe_tally(void) {
        const char *texts[] = {
                "{\"exitcode\": 0, \"output\": \"OK - load 0.1\"}",
                "{\"exitcode\": 2, \"output\": \"CRITICAL - disk 99%\", \"perfdata\": \"x=1\"}",
                "{\"exitcode\": 1}",
                "{\"exitcode\": 7, \"output\": \"odd exit\"}",
                "{\"exitcode\": \"2\", \"output\": \"a string exit code\"}",
                NULL,                  /* no data: a node that could not run it */
        };
        const uint8_t want[] = { NAGIOS_OK, NAGIOS_CRITICAL, NAGIOS_WARNING, NAGIOS_UNKNOWN, NAGIOS_UNKNOWN,
                                 NAGIOS_UNKNOWN };
        const char *want_output[] = { "OK - load 0.1", "CRITICAL - disk 99%", NULL, "odd exit",
                                      "a string exit code", NULL };

        TEST("an NRPE tally keeps each reply's state, and its output only when asked, from the keys it names");
        for (int keep = 0; keep <= 1; keep++) {
                ClientNrpeTally t = { .keep_output = keep };
                for (size_t i = 0; i < ELEMENTSOF(texts); i++) {
                        json_t *data = texts[i] ? json_loads(texts[i], 0, NULL) : NULL;
                        /* Only the keys the tally asks the client to build. */
                        const char *key;
                        json_t *v;
                        void *tmp;
                        if (json_is_object(data))
                                json_object_foreach_safe(data, tmp, key, v)
                                        if (!strv_contains(client_nrpe_tally_keys(&t), key))
                                                (void) json_object_del(data, key);
                        ClientReply rep = { .identity = (char *) "node", .statusmsg = (char *) "OK", .data = data };
                        ASSERT_TRUE(!texts[i] || data);
                        client_nrpe_tally_reply(&rep, i + 1, 0, &t);
                        json_decref(data);     /* the tally keeps nothing of it */
                }
                ASSERT_INT_EQ(t.error, 0);
                ASSERT_INT_EQ(t.n, ELEMENTSOF(texts));
                for (size_t i = 0; i < ELEMENTSOF(texts); i++) {
                        ASSERT_INT_EQ(t.states[i], want[i]);
                        if (!keep || !want_output[i])
                                ASSERT_TRUE(!t.outputs || !t.outputs[i]);
                        else
                                ASSERT_STR_EQ(t.outputs[i], want_output[i]);
                }
                if (!keep)
                        ASSERT_TRUE(t.outputs == NULL);
                client_nrpe_tally_done(&t);
                ASSERT_TRUE(t.states == NULL && t.n == 0);
        }
        TEST_OK();
}

int main(void) {
        test_print();
        test_state();
        test_thresholds();
        test_nrpe_tally();
        return EXIT_SUCCESS;
}
