/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The registry's index (registry.h): registry discovery gives the same
 * nodes with the index current, missing, stale or corrupt, only the way it
 * gets them differs. */
#include <sys/stat.h>

#include "client.h"
#include "filter.h"
#include "macro.h"
#include "message.h"
#include "registry.h"
#include "tests.h"
#include "util.h"

static char tmpdir[] = "/tmp/test-registry-index-XXXXXX";
static bool tmpdir_made;
static char state[256], index_path[512];

static void cleanup_tmpdir(void) {
        if (tmpdir_made)
                tests_rm_rf(tmpdir);
        tmpdir_made = false;
}

static void store(const char *identity, const char *collective, const char *role, const char *agent) {
        char *classes[] = { (char *) "base", (char *) role, NULL };
        char *agents[] = { (char *) "discovery", (char *) agent, NULL };
        char err[MESSAGE_ERROR_MAX] = "";
        _cleanup_close_ int dfd = open(state, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        Registration *r = NULL;
        int64_t now = (int64_t) time(NULL);

        ASSERT_TRUE(dfd >= 0);
        json_t *facts = json_pack("{s:s, s:s}", "role", role, "os", "debian");
        json_t *j = registration_build(identity, collective, now, 300, facts, classes, agents,
                                       "0123456789abcdef0123456789abcdef", 100, "0.1.0");
        json_decref(facts);
        ASSERT_NOT_NULL(j);
        if (registration_from_json(j, &r, err) < 0)
                test_fail(__FILE__, __LINE__, "registration_from_json: %s", err);
        ASSERT_TRUE(registry_store(dfd, r, now, now, NULL) >= 0);
        registration_free(r);
        json_decref(j);
}

/* Nothing happened to the directory for a while: the index can be stamped. */
static void age_dir(void) {
        struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_sec = time(NULL) - 100 } };
        ASSERT_OK(utimensat(AT_FDCWD, state, ts, 0));
}

static void write_file(const char *path, const char *text) {
        FILE *f = fopen(path, "we");
        ASSERT_NOT_NULL(f);
        fputs(text, f);
        ASSERT_INT_EQ(fclose(f), 0);
}

/* Discovery's answer as one string ("a b c"), and how it was reached. */
static char *discover(const char *collective, const char *filter_arg, RegistryScanFlags flags,
                      RegistryScanStats *st, char **ret_agents) {
        _cleanup_filter_ Filter *f = NULL;
        _cleanup_strv_free_ char **ids = NULL, **agents = NULL;
        const char *error = NULL;
        char *buf = NULL;
        size_t n = 0;

        if (filter_arg) {
                f = filter_new();
                ASSERT_NOT_NULL(f);
                if (filter_arg[0] == '@')
                        ASSERT_INT_EQ(filter_add_class(f, filter_arg + 1, &error), 0);
                else
                        ASSERT_INT_EQ(filter_add_fact_arg(f, filter_arg, &error), 0);
        }
        ASSERT_INT_EQ(client_registry_discover_full(state, collective, f, flags, &ids, ret_agents ? &agents : NULL,
                                                    st),
                      0);
        FILE *m = open_memstream(&buf, &n);
        ASSERT_NOT_NULL(m);
        for (char **i = ids; i && *i; i++)
                fprintf(m, "%s%s", i == ids ? "" : " ", *i);
        fclose(m);
        if (ret_agents) {
                strv_sort(agents);
                char *abuf = NULL;
                size_t an = 0;
                m = open_memstream(&abuf, &an);
                ASSERT_NOT_NULL(m);
                for (char **i = agents; i && *i; i++)
                        fprintf(m, "%s%s", i == agents ? "" : " ", *i);
                fclose(m);
                *ret_agents = abuf;
        }
        return buf;
}

/* The same answer through the index as from every file. */
static void check_same(const char *collective, const char *filter_arg, const char *want) {
        RegistryScanStats st;
        _cleanup_free_ char *files = discover(collective, filter_arg, REGISTRY_SCAN_NO_INDEX, &st, NULL);
        _cleanup_free_ char *indexed = discover(collective, filter_arg, 0, &st, NULL);
        ASSERT_STR_EQ(files, want);
        ASSERT_STR_EQ(indexed, want);
}

int main(void) {
        RegistryScanStats st = {};
        struct stat sb;

        atexit(cleanup_tmpdir);
        ASSERT_NOT_NULL(mkdtemp(tmpdir));
        tmpdir_made = true;
        snprintf(state, sizeof state, "%s/state", tmpdir);
        snprintf(index_path, sizeof index_path, "%s/%s/registry", state, REGISTRY_INDEX_NAME);
        ASSERT_OK(mkdir(state, 0755));
        store("web1", "muster", "web", "nrpe");
        store("web2", "muster", "web", "nrpe");
        store("db1", "muster", "db", "puppet");
        store("other1", "other", "web", "nrpe");
        {
                char p[PATH_MAX + 16];
                snprintf(p, sizeof p, "%s/broken", state);
                write_file(p, "{ this is not json");
        }

        TEST("without an index, discovery reads every file and says the index is missing");
        {
                _cleanup_free_ char *agents = NULL;
                _cleanup_free_ char *s = discover("muster", NULL, 0, &st, &agents);
                /* An unreadable file is a node whose last word is unknown: kept without a filter. */
                ASSERT_STR_EQ(s, "broken db1 web1 web2");
                ASSERT_STR_EQ(agents, "discovery nrpe puppet");
                ASSERT_INT_EQ(st.index, REGISTRY_INDEX_MISSING);
                ASSERT_UINT_EQ(st.n_read, 5);
                ASSERT_UINT_EQ(st.n_indexed, 0);
        }
        TEST_OK();

        TEST("the collector's index is written in .index/, beside the files and skipped like them");
        ASSERT_INT_EQ(registry_index_write(state, &st), 0);
        ASSERT_UINT_EQ(st.n_nodes, 5);
        ASSERT_UINT_EQ(st.n_read, 5);
        ASSERT_FALSE(st.stamped);    /* creating .index/ changed the directory just now */
        age_dir();
        ASSERT_OK(stat(state, &sb));
        struct timespec dir_mtime = sb.st_mtim;
        ASSERT_INT_EQ(registry_index_write(state, &st), 0);
        ASSERT_UINT_EQ(st.n_nodes, 5);
        ASSERT_UINT_EQ(st.n_read, 0);
        ASSERT_UINT_EQ(st.n_indexed, 5);
        ASSERT_TRUE(st.stamped);
        ASSERT_OK(stat(index_path, &sb));
        ASSERT_OK(stat(state, &sb));
        /* Writing the index left the state directory's mtime alone. */
        ASSERT_TRUE(sb.st_mtim.tv_sec == dir_mtime.tv_sec && sb.st_mtim.tv_nsec == dir_mtime.tv_nsec);
        {
                RegistryList l = {};
                ASSERT_INT_EQ(registry_list(state, false, &l), 0);
                ASSERT_UINT_EQ(l.n, 5);   /* no ".index" among the nodes */
                registry_list_done(&l);
        }
        TEST_OK();

        TEST("with the index current, discovery reads no file and answers the same");
        {
                _cleanup_free_ char *agents = NULL;
                _cleanup_free_ char *s = discover("muster", NULL, 0, &st, &agents);
                ASSERT_STR_EQ(s, "broken db1 web1 web2");
                ASSERT_STR_EQ(agents, "discovery nrpe puppet");
                ASSERT_INT_EQ(st.index, REGISTRY_INDEX_USED);
                ASSERT_TRUE(st.stamped);
                ASSERT_UINT_EQ(st.n_read, 0);
                ASSERT_UINT_EQ(st.n_indexed, 5);
        }
        check_same("muster", "role=db", "db1");
        check_same("muster", "role=web", "web1 web2");
        check_same("muster", "@db", "db1");
        check_same("muster", "os=debian", "db1 web1 web2");
        TEST_OK();

        TEST("the collective filter (-T other): only that collective's nodes, through the index too");
        check_same("other", NULL, "broken other1");
        check_same("other", "role=web", "other1");
        check_same("nosuch", "role=web", "");
        {
                _cleanup_free_ char *s = discover("other", NULL, 0, &st, NULL);
                ASSERT_STR_EQ(s, "broken other1");
                ASSERT_TRUE(st.stamped);
                ASSERT_UINT_EQ(st.n_read, 0);
        }
        TEST_OK();

        TEST("a repeat registration (only the file's mtime moves) keeps the index current");
        {
                struct timespec ts[2] = { { .tv_nsec = UTIME_OMIT }, { .tv_sec = time(NULL) } };
                char p[PATH_MAX + 16];
                snprintf(p, sizeof p, "%s/web1", state);
                ASSERT_OK(utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW));
                _cleanup_free_ char *s = discover("muster", "role=web", 0, &st, NULL);
                ASSERT_STR_EQ(s, "web1 web2");
                ASSERT_TRUE(st.stamped);
        }
        TEST_OK();

        TEST("a stale index: nodes added, removed and changed after it was written are seen as they are");
        {
                char p[PATH_MAX + 16];
                snprintf(p, sizeof p, "%s/web2", state);
                ASSERT_OK(unlink(p));                       /* removed: must not be listed */
                store("web3", "muster", "web", "nrpe");     /* added */
                store("db1", "muster", "cache", "nrpe");    /* changed: a new file under the same name */
                _cleanup_free_ char *s = discover("muster", NULL, 0, &st, NULL);
                ASSERT_STR_EQ(s, "broken db1 web1 web3");
                ASSERT_INT_EQ(st.index, REGISTRY_INDEX_USED);
                ASSERT_FALSE(st.stamped);
                ASSERT_UINT_EQ(st.n_indexed, 3);   /* broken, web1, other1 */
                ASSERT_UINT_EQ(st.n_read, 2);      /* web3, db1 */
        }
        check_same("muster", "role=db", "");
        check_same("muster", "role=cache", "db1");
        check_same("muster", "role=web", "web1 web3");
        check_same("muster", "@cache", "db1");
        TEST_OK();

        TEST("an index written right after a change carries no stamp; the next one does");
        ASSERT_INT_EQ(registry_index_write(state, &st), 0);
        ASSERT_FALSE(st.stamped);       /* the directory changed a moment ago */
        ASSERT_UINT_EQ(st.n_indexed, 3);
        ASSERT_UINT_EQ(st.n_read, 2);
        {
                _cleanup_free_ char *s = discover("muster", NULL, 0, &st, NULL);
                ASSERT_STR_EQ(s, "broken db1 web1 web3");
                ASSERT_FALSE(st.stamped);
                ASSERT_UINT_EQ(st.n_indexed, 5);
                ASSERT_UINT_EQ(st.n_read, 0);
        }
        age_dir();
        ASSERT_INT_EQ(registry_index_write(state, &st), 0);
        ASSERT_TRUE(st.stamped);
        ASSERT_UINT_EQ(st.n_read, 0);
        check_same("muster", "role=cache", "db1");
        TEST_OK();

        TEST("a corrupt index is not used: discovery reads the files and is never wrong");
        {
                _cleanup_free_ char *text = NULL;
                size_t len = 0;
                FILE *f = fopen(index_path, "re");
                ASSERT_NOT_NULL(f);
                ASSERT_TRUE(getdelim(&text, &len, '\0', f) > 0);
                fclose(f);
                /* One fact changed in place: the checksum no longer matches. */
                char *v = strstr(text, "\"role\":\"cache\"");
                ASSERT_NOT_NULL(v);
                memcpy(v + 8, "web  ", 5);
                write_file(index_path, text);
                age_dir();
                _cleanup_free_ char *s = discover("muster", "role=web", 0, &st, NULL);
                ASSERT_STR_EQ(s, "web1 web3");
                ASSERT_INT_EQ(st.index, REGISTRY_INDEX_INVALID);
                ASSERT_UINT_EQ(st.n_read, 5);

                /* Cut short. */
                text[strlen(text) / 2] = '\0';
                write_file(index_path, text);
                age_dir();
                free(s);
                s = discover("muster", "role=cache", 0, &st, NULL);
                ASSERT_STR_EQ(s, "db1");
                ASSERT_INT_EQ(st.index, REGISTRY_INDEX_INVALID);

                /* Empty, and garbage. */
                write_file(index_path, "");
                free(s);
                s = discover("muster", NULL, 0, &st, NULL);
                ASSERT_STR_EQ(s, "broken db1 web1 web3");
                ASSERT_INT_EQ(st.index, REGISTRY_INDEX_INVALID);
                write_file(index_path, "muster-registry-index 1\ndir -\nweb9\tb1.0:1:1\t1\tmuster\n");
                free(s);
                s = discover("muster", NULL, 0, &st, NULL);
                ASSERT_STR_EQ(s, "broken db1 web1 web3");
                ASSERT_INT_EQ(st.index, REGISTRY_INDEX_INVALID);

                /* The next write replaces it. */
                ASSERT_INT_EQ(registry_index_write(state, &st), 0);
                ASSERT_INT_EQ(st.index, REGISTRY_INDEX_INVALID);
                ASSERT_UINT_EQ(st.n_read, 5);
                free(s);
                s = discover("muster", "role=cache", 0, &st, NULL);
                ASSERT_STR_EQ(s, "db1");
                ASSERT_INT_EQ(st.index, REGISTRY_INDEX_USED);
        }
        TEST_OK();

        TEST("the index removed: discovery falls back to the files");
        ASSERT_OK(unlink(index_path));
        check_same("muster", "role=web", "web1 web3");
        {
                _cleanup_free_ char *s = discover("muster", NULL, 0, &st, NULL);
                ASSERT_STR_EQ(s, "broken db1 web1 web3");
                ASSERT_INT_EQ(st.index, REGISTRY_INDEX_MISSING);
        }
        TEST_OK();

        TEST("every node of an empty directory: none, with or without an index");
        {
                char p[PATH_MAX + 16];
                const char *names[] = { "broken", "db1", "web1", "web3", "other1" };
                for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                        snprintf(p, sizeof p, "%s/%s", state, names[i]);
                        ASSERT_OK(unlink(p));
                }
                age_dir();
                ASSERT_INT_EQ(registry_index_write(state, &st), 0);
                ASSERT_UINT_EQ(st.n_nodes, 0);
                _cleanup_free_ char *s = discover("muster", NULL, 0, &st, NULL);
                ASSERT_STR_EQ(s, "");
                ASSERT_INT_EQ(st.index, REGISTRY_INDEX_USED);
        }
        TEST_OK();
        return 0;
}
