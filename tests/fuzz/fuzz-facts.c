/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Fact files: facts_parse_kv() on the input, then the input written both as
 * <tmp>/10-fuzz.json and as <tmp>/20-fuzz (a key=value file, which wins)
 * and loaded with facts_load_dir(). Every fact loaded must have a valid key
 * and a valid string value, and the key=value file's facts must come out as
 * facts_parse_kv() saw them. The input is also read as a classes file. */

#include <ctype.h>

#include "facts.h"
#include "fuzz.h"
#include "macro.h"
#include "util.h"

static char classes_path[4200];

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        (void) argc;
        (void) argv;
        fuzz_setup_logging();
        snprintf(classes_path, sizeof classes_path, "%s/classes.txt", fuzz_tmpdir());
        return 0;
}

static void check_facts(json_t *obj) {
        const char *key;
        json_t *v;

        FUZZ_ASSERT(json_is_object(obj));
        json_object_foreach(obj, key, v) {
                size_t n = strlen(key);

                FUZZ_ASSERT(n >= 1 && n <= 128);
                for (size_t i = 0; i < n; i++)
                        FUZZ_ASSERT(isascii((unsigned char) key[i]) &&
                                    (isalnum((unsigned char) key[i]) || strchr("_.:-", key[i])));
                FUZZ_ASSERT(json_is_string(v));
                FUZZ_ASSERT(json_string_length(v) <= 4096);
                FUZZ_ASSERT(strlen(json_string_value(v)) == json_string_length(v));
                FUZZ_ASSERT(utf8_is_valid(json_string_value(v), json_string_length(v)));
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        _cleanup_json_ json_t *kv = json_object(), *loaded = NULL;
        _cleanup_strv_free_ char **classes = NULL;
        const char *key;
        json_t *v;
        int r;

        FUZZ_ASSERT(kv);
        r = facts_parse_kv(kv, "fuzz", (const char *) data, size);
        if (r == -ENOMEM)
                return 0;
        FUZZ_ASSERT(r == 0);
        check_facts(kv);

        /* A fact dir is where the files are: start with an empty one. */
        fuzz_clean_dir(fuzz_tmpdir());
        fuzz_mkdir(fuzz_tmpdir(), "facts.d");
        char dir[4300];
        snprintf(dir, sizeof dir, "%s/facts.d", fuzz_tmpdir());
        fuzz_write_file(dir, "10-fuzz.json", data, size);
        fuzz_write_file(dir, "20-fuzz", data, size);
        fuzz_write_file(dir, ".hidden", data, size);

        r = facts_load_dir(dir, &loaded);
        if (r == -ENOMEM)
                return 0;
        FUZZ_ASSERT(r == 0);
        check_facts(loaded);
        json_object_foreach(kv, key, v) {
                json_t *w = json_object_get(loaded, key);
                FUZZ_ASSERT(w && json_equal(v, w));
        }

        fuzz_write_file(fuzz_tmpdir(), "classes.txt", data, size);
        r = classes_load(classes_path, &classes);
        if (r == -ENOMEM)
                return 0;
        FUZZ_ASSERT(r == 0);
        for (char **c = classes; c && *c; c++) {
                FUZZ_ASSERT(**c);
                FUZZ_ASSERT(!strchr(*c, '\n'));
                FUZZ_ASSERT(!isspace((unsigned char) (*c)[0]));
                FUZZ_ASSERT(utf8_is_valid(*c, strlen(*c)));
        }
        return 0;
}
