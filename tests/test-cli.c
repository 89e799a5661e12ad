/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "cli.h"
#include "filter.h"
#include "tests.h"

static bool matches(const Filter *f, const char *identity, const char *facts_json, char **classes) {
        json_t *facts = json_loads(facts_json, 0, NULL);
        NodeInfo node = { .identity = identity, .facts = facts, .classes = classes };
        ASSERT_NOT_NULL(facts);
        bool m = filter_match(f, &node);
        json_decref(facts);
        return m;
}

static void test_with(void) {
        char *web[] = { (char *) "webserver", (char *) "base", NULL };
        char *mon[] = { (char *) "monitor", NULL };
        const char *error = NULL;
        char *word = NULL;
        Filter *f;

        TEST("-W: words with an operator are facts, others classes");
        f = filter_new();
        ASSERT_NOT_NULL(f);
        ASSERT_INT_EQ(cli_filter_add_with(f, "webserver role=web", &error, &word), 2);
        ASSERT_UINT_EQ(f->n_facts, 1);
        ASSERT_STR_EQ(f->facts[0].fact, "role");
        ASSERT_INT_EQ(f->facts[0].op, FILTER_OP_EQ);
        ASSERT_STR_EQ(f->facts[0].value, "web");
        ASSERT_STR_EQ(f->classes[0], "webserver");
        ASSERT_NULL(f->classes[1]);
        ASSERT_TRUE(matches(f, "web1", "{\"role\": \"web\"}", web));
        ASSERT_FALSE(matches(f, "web1", "{\"role\": \"db\"}", web));    /* every word must match */
        ASSERT_FALSE(matches(f, "mon1", "{\"role\": \"web\"}", mon));
        filter_free(f);
        TEST_OK();

        TEST("-W: the talk's single class, white space, every operator, /regex/ classes");
        f = filter_new();
        ASSERT_INT_EQ(cli_filter_add_with(f, "monitor", &error, &word), 1);
        ASSERT_UINT_EQ(f->n_facts, 0);
        ASSERT_STR_EQ(f->classes[0], "monitor");
        filter_free(f);

        f = filter_new();
        ASSERT_INT_EQ(cli_filter_add_with(f, " \t/^web/  load<2 mem>=1024 dc!=west os=~^deb x==1 y<=3 z>0\n",
                                          &error, &word), 8);
        ASSERT_UINT_EQ(f->n_facts, 7);
        ASSERT_STR_EQ(f->classes[0], "/^web/");
        ASSERT_INT_EQ(f->facts[0].op, FILTER_OP_LT);
        ASSERT_INT_EQ(f->facts[1].op, FILTER_OP_GE);
        ASSERT_INT_EQ(f->facts[2].op, FILTER_OP_NE);
        ASSERT_INT_EQ(f->facts[3].op, FILTER_OP_MATCH);
        ASSERT_INT_EQ(f->facts[4].op, FILTER_OP_EQ);
        ASSERT_INT_EQ(f->facts[5].op, FILTER_OP_LE);
        ASSERT_INT_EQ(f->facts[6].op, FILTER_OP_GT);
        filter_free(f);

        /* a /regex/ word is a class even when it holds an operator character */
        f = filter_new();
        ASSERT_INT_EQ(cli_filter_add_with(f, "/^a=b$/", &error, &word), 1);
        ASSERT_UINT_EQ(f->n_facts, 0);
        ASSERT_STR_EQ(f->classes[0], "/^a=b$/");
        filter_free(f);
        TEST_OK();

        TEST("-W: refused words are named");
        f = filter_new();
        ASSERT_INT_EQ(cli_filter_add_with(f, "webserver =web", &error, &word), -EINVAL);
        ASSERT_STR_EQ(word, "=web");
        ASSERT_NOT_NULL(error);
        free(word);
        word = NULL;
        ASSERT_INT_EQ(cli_filter_add_with(f, "a=/[/", &error, &word), -EINVAL);
        ASSERT_STR_EQ(word, "a=/[/");
        free(word);
        word = NULL;
        ASSERT_INT_EQ(cli_filter_add_with(f, "", &error, &word), -EINVAL);
        ASSERT_NULL(word);
        ASSERT_INT_EQ(cli_filter_add_with(f, " \t ", &error, NULL), -EINVAL);
        filter_free(f);
        TEST_OK();

        TEST("cli_handle_option: -W and the reason for a status line");
        CliOptions o = {};
        ASSERT_INT_EQ(cli_handle_option(&o, 'W', "webserver dc=east"), 1);
        ASSERT_INT_EQ(cli_handle_option(&o, 'W', "base"), 1);
        ASSERT_UINT_EQ(o.filter->n_facts, 1);
        ASSERT_STR_EQ(o.filter->classes[1], "base");
        ASSERT_INT_EQ(cli_handle_option(&o, 'W', "=x"), -EINVAL);
        ASSERT_STR_CONTAINS(o.error, "Invalid filter \"=x\" in -W \"=x\"");
        ASSERT_INT_EQ(cli_handle_option(&o, 't', "5x"), -EINVAL);
        ASSERT_STR_EQ(o.error, "Invalid timeout \"5x\", expected a duration such as 10 or 10s");
        filter_free(o.filter);
        TEST_OK();
}

int main(void) {
        test_with();
        return EXIT_SUCCESS;
}
