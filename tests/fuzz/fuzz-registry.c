/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The collector's state directory. The input is written as the file of node
 * "node1.example.com" (and of "other-node", whose registration never matches
 * its name, plus a temp file that must be skipped) and read back with
 * registry_list() and registry_read(). The input is also parsed as any JSON
 * value and handed to registration_from_json(); a registration that
 * registration_parse() accepts is stored with registry_store() into a second
 * directory, where it must read back as valid, and storing it again must be
 * seen as "unchanged". */

#include <sys/stat.h>

#include "filter.h"
#include "fuzz.h"
#include "macro.h"
#include "message.h"
#include "registry.h"
#include "util.h"

#define NODE "node1.example.com"
#define NOW INT64_C(1700000000)

static char list_dir[4200], store_dir[4200];
static int store_dfd = -1;

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        const char *tmp;

        (void) argc;
        (void) argv;
        fuzz_setup_logging();
        tmp = fuzz_tmpdir();
        snprintf(list_dir, sizeof list_dir, "%s/list", tmp);
        snprintf(store_dir, sizeof store_dir, "%s/store", tmp);
        return 0;
}

static void use_entry(const RegistryEntry *e) {
        static char *const classes[] = { (char *) "/^web/", NULL };
        static const Filter filter = { .classes = (char **) classes };
        _cleanup_strv_free_ char **cl = NULL, **ag = NULL;
        NodeInfo node;

        FUZZ_ASSERT(identity_is_valid(e->identity));
        if (e->registration) {
                FUZZ_ASSERT(e->root);
                FUZZ_ASSERT(streq(e->registration->identity, e->identity));
                FUZZ_ASSERT(e->interval == e->registration->interval);
        } else
                FUZZ_ASSERT(e->interval == 0);
        (void) registry_entry_is_stale(e, NOW, e->interval, 30);
        if (registry_entry_node_info(e, &node, &cl, &ag) == 0) {
                FUZZ_ASSERT(node.identity == e->identity);
                (void) filter_match(&filter, &node);
        }
}

static void fuzz_list(const uint8_t *data, size_t size) {
        RegistryList l = {};
        RegistryEntry e = {};
        int r;

        fuzz_write_file(list_dir, NODE, data, size);
        fuzz_write_file(list_dir, "other-node", data, size);
        fuzz_write_file(list_dir, ".#" NODE ".0123456789abcdef", data, size);

        r = registry_list(list_dir, true, &l);
        FUZZ_ASSERT(r == 0 || r == -ENOMEM);
        if (r == 0) {
                FUZZ_ASSERT(l.n == 2);
                FUZZ_ASSERT(streq(l.entries[0].identity, NODE));
                FUZZ_ASSERT(streq(l.entries[1].identity, "other-node"));
                /* Both files hold the same text: it names at most one of them. */
                FUZZ_ASSERT(!l.entries[0].registration || !l.entries[1].registration);
                for (size_t i = 0; i < l.n; i++)
                        use_entry(&l.entries[i]);
        }
        registry_list_done(&l);

        r = registry_list(list_dir, false, &l);
        FUZZ_ASSERT(r == 0 || r == -ENOMEM);
        for (size_t i = 0; i < l.n; i++)
                FUZZ_ASSERT(!l.entries[i].root && !l.entries[i].registration);
        registry_list_done(&l);

        r = registry_read(list_dir, NODE, &e);
        FUZZ_ASSERT(r == 0 || r == -ENOMEM);
        if (r == 0)
                use_entry(&e);
        registry_entry_done(&e);

        FUZZ_ASSERT(registry_read(list_dir, ".#" NODE ".0123456789abcdef", &e) == -EINVAL);
}

static void fuzz_from_json(const uint8_t *data, size_t size) {
        _cleanup_json_ json_t *j = NULL;
        _cleanup_registration_ Registration *reg = NULL;
        char err[MESSAGE_ERROR_MAX] = "";
        int r;

        j = json_loadb((const char *) data, size, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
        if (!j)
                return;
        r = registration_from_json(j, &reg, err);
        if (r < 0) {
                FUZZ_ASSERT(r == -EBADMSG || r == -ENOMEM);
                FUZZ_ASSERT(!reg);
                return;
        }
        FUZZ_ASSERT(reg->root == j);
        FUZZ_ASSERT(identity_is_valid(reg->identity));
}

static void fuzz_store(const uint8_t *data, size_t size) {
        _cleanup_registration_ Registration *reg = NULL;
        RegistryEntry e = {};
        char err[MESSAGE_ERROR_MAX] = "";
        bool is_new = false;
        int r;

        if (registration_parse(data, size, 0, &reg, err) < 0)
                return;

        r = registry_store(store_dfd, reg, NOW, NOW - 5, &is_new);
        if (r == -ENOMEM)
                return;
        FUZZ_ASSERT(r == 1);
        FUZZ_ASSERT(is_new);

        r = registry_read(store_dir, reg->identity, &e);
        FUZZ_ASSERT(r == 0 || r == -ENOMEM);
        if (r == 0) {
                if (!e.registration)
                        fuzz_report("stored registration of %s does not read back\n", reg->identity);
                FUZZ_ASSERT(e.registration);
                FUZZ_ASSERT(e.mtime.tv_sec == NOW - 5);
                FUZZ_ASSERT(e.interval == reg->interval);
                FUZZ_ASSERT(json_integer_value(json_object_get(e.root, "received")) == NOW);
                use_entry(&e);
        }
        registry_entry_done(&e);

        /* The same registration again only moves the mtime. */
        r = registry_store(store_dfd, reg, NOW + 60, NOW + 55, &is_new);
        if (r == -ENOMEM)
                return;
        FUZZ_ASSERT(r == 0);
        FUZZ_ASSERT(!is_new);
        r = registry_read(store_dir, reg->identity, &e);
        FUZZ_ASSERT(r == 0 || r == -ENOMEM);
        if (r == 0) {
                FUZZ_ASSERT(e.mtime.tv_sec == NOW + 55);
                FUZZ_ASSERT(json_integer_value(json_object_get(e.root, "received")) == NOW);
        }
        registry_entry_done(&e);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        fuzz_clean_dir(fuzz_tmpdir());
        fuzz_mkdir(fuzz_tmpdir(), "list");
        fuzz_mkdir(fuzz_tmpdir(), "store");
        if (store_dfd >= 0)
                close(store_dfd);
        store_dfd = open(store_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        FUZZ_ASSERT(store_dfd >= 0);

        fuzz_list(data, size);
        fuzz_from_json(data, size);
        fuzz_store(data, size);
        return 0;
}
