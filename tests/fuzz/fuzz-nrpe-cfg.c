/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* nrpe.cfg syntax: the input is parsed as a config buffer (includes
 * ignored), every command found is looked up and has its $ARGn$ macros
 * expanded with a few argument sets, and the input is also taken as plugin
 * output for nrpe_parse_output(). */

#include "fuzz.h"
#include "macro.h"
#include "nrpe.h"
#include "util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        (void) argc;
        (void) argv;
        fuzz_setup_logging();
        return 0;
}

static void expand(const char *line) {
        static char *const none[] = { NULL };
        static char *const three[] = { (char *) "1", (char *) "", (char *) "x y ARG1 %%", NULL };
        /* Refused whatever nasty_metachars says: $ ` \ and newlines, a leading '-'. */
        static char *const always[] = { (char *) "x $ARG1$", NULL };
        static char *const option[] = { (char *) "--help", NULL };
        static char *const with_null[] = { (char *) "a", NULL, (char *) "c" };
        static char *const nasty[] = { (char *) "ok", (char *) "rm -rf /; echo", NULL };
        static char *const sixteen[16] = {
                (char *) "a1", (char *) "a2", (char *) "a3", (char *) "a4", (char *) "a5", (char *) "a6",
                (char *) "a7", (char *) "a8", (char *) "a9", (char *) "a10", (char *) "a11", (char *) "a12",
                (char *) "a13", (char *) "a14", (char *) "a15", (char *) "a16",
        };
        static char *const seventeen[17] = {
                (char *) "a", (char *) "a", (char *) "a", (char *) "a", (char *) "a", (char *) "a",
                (char *) "a", (char *) "a", (char *) "a", (char *) "a", (char *) "a", (char *) "a",
                (char *) "a", (char *) "a", (char *) "a", (char *) "a", (char *) "a",
        };
        const struct {
                char *const *args;
                size_t n;
                bool allow;
                const char *nasty;
                int expected; /* 1: success */
        } cases[] = {
                { none, 0, false, NULL, 1 },
                { none, 0, true, NULL, 1 },
                { three, 3, false, NULL, -EPERM },
                { three, 3, true, NULL, 1 },
                { three, 3, true, "", 1 },
                { always, 1, true, "", -EINVAL },
                { option, 1, true, "", -EINVAL },
                { with_null, 3, true, NULL, 1 },
                { nasty, 2, true, NULL, -EINVAL },
                { nasty, 2, true, "#", 1 },
                { sixteen, 16, true, NULL, 1 },
                { seventeen, 17, true, NULL, -E2BIG },
        };

        for (size_t i = 0; i < ELEMENTSOF(cases); i++) {
                _cleanup_free_ char *out = NULL;
                const char *err = NULL;
                int r;

                r = nrpe_expand_arguments(line, cases[i].args, cases[i].n, cases[i].allow, cases[i].nasty, &out,
                                          &err);
                if (r == -ENOMEM)
                        continue;
                /* A backslash right before a macro would take the quote
                 * that keeps the argument one word: refused, with a reason. */
                if (r == -EINVAL && err && strstr(err, "backslash before an argument macro"))
                        continue;
                if (cases[i].expected == 1) {
                        FUZZ_ASSERT(r == 0);
                        FUZZ_ASSERT(out);
                        /* Without any '$' nothing is substituted. */
                        if (!strchr(line, '$'))
                                FUZZ_ASSERT(streq(out, line));
                        /* No arguments and no macro: never longer than the input. */
                        if (cases[i].n == 0)
                                FUZZ_ASSERT(strlen(out) <= strlen(line));
                } else {
                        FUZZ_ASSERT(r == cases[i].expected);
                        FUZZ_ASSERT(err);
                        FUZZ_ASSERT(!out);
                }
        }
}

static void check_output(const uint8_t *data, size_t size) {
        NrpeOutput o = {};
        int r;

        r = nrpe_parse_output((const char *) data, size, &o);
        if (r == -ENOMEM)
                return;
        FUZZ_ASSERT(r == 0);
        FUZZ_ASSERT(o.output);
        FUZZ_ASSERT(!strchr(o.output, '\n'));
        FUZZ_ASSERT(!strchr(o.output, '|'));
        FUZZ_ASSERT(!o.perfdata || (*o.perfdata && !strchr(o.perfdata, '\n')));
        FUZZ_ASSERT(!o.long_output || *o.long_output);
        /* Output stops at the first NUL byte. */
        FUZZ_ASSERT(strlen(o.output) <= strnlen((const char *) data, size));
        nrpe_output_done(&o);
        nrpe_output_done(&o);

        /* Empty and NULL buffers are fine too. */
        FUZZ_ASSERT(nrpe_parse_output(NULL, 0, &o) == 0);
        FUZZ_ASSERT(o.output && streq(o.output, "") && !o.perfdata && !o.long_output);
        nrpe_output_done(&o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        NrpeConfig *c;
        int r;

        c = nrpe_config_new();
        FUZZ_ASSERT(c);
        r = nrpe_config_parse_buffer(c, "fuzz.cfg", NULL, (const char *) data, size);
        FUZZ_ASSERT(r == 0 || r == -ENOMEM);

        for (size_t i = 0; i < c->n_commands; i++) {
                const NrpeCommand *cmd = &c->commands[i];

                /* Sorted, unique, valid names, non-empty lines; find() sees each. */
                FUZZ_ASSERT(nrpe_command_name_is_valid(cmd->name));
                FUZZ_ASSERT(cmd->command_line && *cmd->command_line);
                if (i > 0)
                        FUZZ_ASSERT(strcmp(c->commands[i - 1].name, cmd->name) < 0);
                FUZZ_ASSERT(nrpe_config_find(c, cmd->name) == cmd->command_line);
                expand(cmd->command_line);
        }
        FUZZ_ASSERT(!nrpe_config_find(c, "no such command!"));
        FUZZ_ASSERT(!nrpe_config_find(c, NULL));
        (void) nrpe_config_find(c, "check_load");

        /* A second parse into the same table: redefinitions replace. */
        size_t before = c->n_commands;
        r = nrpe_config_parse_buffer(c, NULL, NULL, (const char *) data, size);
        FUZZ_ASSERT(r == 0 || r == -ENOMEM);
        if (r == 0)
                FUZZ_ASSERT(c->n_commands == before);
        nrpe_config_free(c);

        check_output(data, size);

        /* The whole input as a command line (NUL-terminated copy). */
        _cleanup_free_ char *line = strndup((const char *) data, size);
        if (line)
                expand(line);
        return 0;
}
