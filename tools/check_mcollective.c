/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* check_mcollective: one Nagios result naming every node that stopped
 * checking in, from the collector's state directory (file mtimes) or from
 * the collector's journal events. */

#include <fcntl.h>
#include <getopt.h>
#include <pthread.h>
#include <unistd.h>
#include <signal.h>
#include <sys/stat.h>
#include <time.h>

#include <systemd/sd-journal.h>

#include "catalog-ids.h"
#include "log.h"
#include "nagios.h"
#include "util.h"

#define GRACE_SECONDS 30

static const char *arg_directory = STATEDIR "/registrations";
static uint64_t arg_interval = 300;
static unsigned arg_timeout = 10;
static bool arg_verbose = false;
static bool arg_journal = false;
static char **arg_journal_files = NULL;
static const char *arg_journal_directory = NULL;

typedef struct Node {
        char *identity;
        int64_t last_seen;
        bool stale;
        bool gone;           /* vanished or not a regular file */
} Node;

typedef struct NodeList {
        Node *nodes;
        size_t n, alloc;
} NodeList;

static void node_list_done(NodeList *l) {
        for (size_t i = 0; i < l->n; i++)
                free(l->nodes[i].identity);
        free(l->nodes);
        *l = (NodeList) {};
}

static Node *node_list_add(NodeList *l, const char *identity) {
        if (GREEDY_REALLOC(l->nodes, l->alloc, l->n + 1) < 0)
                return NULL;
        Node *n = &l->nodes[l->n];
        *n = (Node) { .identity = strdup(identity) };
        if (!n->identity)
                return NULL;
        l->n++;
        return n;
}

static void help(void) {
        printf("check_mcollective %s (muster)\n"
               "Raise one alert naming every node that stopped checking in.\n\n"
               "Usage: check_mcollective [-d DIR] [-i SECS] [-v] [-t SECS]\n"
               "       check_mcollective --journal [-i SECS] [--journal-file FILE]\n\n"
               "Options:\n"
               "  -d, --directory DIR   Registration directory, one file per node\n"
               "                        (default " STATEDIR "/registrations)\n"
               "  -i, --interval SECS   Registration interval (default 300); a node is stale when\n"
               "                        its file is older than SECS + %d seconds\n"
               "  -j, --journal         Judge nodes by the collector's node-new, node-stale and\n"
               "                        node-recovered journal events instead\n"
               "      --journal-file FILE       Read this journal file (repeatable)\n"
               "      --journal-directory DIR   Read the journal files in DIR\n"
               "  -v, --verbose         List the stale nodes after the status line\n"
               "  -t, --timeout SECS    Give up after SECS (default 10)\n"
               "  -h, --help            Print this help\n"
               "  -V, --version         Print the version\n\n"
               "Exit codes: 0 OK, 2 CRITICAL when any node is stale, 3 UNKNOWN on errors.\n"
               "See check_mcollective(1).\n",
               PACKAGE_VERSION, GRACE_SECONDS);
}

static void on_alarm(int sig) {
        static const char msg[] = "UNKNOWN: check_mcollective timed out\n";
        (void) !write(STDOUT_FILENO, msg, sizeof msg - 1);
        _exit(NAGIOS_UNKNOWN);
}

static int parse_argv(int argc, char *argv[]) {
        enum { ARG_JOURNAL_FILE = 0x100, ARG_JOURNAL_DIRECTORY };
        static const struct option options[] = {
                { "directory", required_argument, NULL, 'd' },
                { "interval", required_argument, NULL, 'i' },
                { "journal", no_argument, NULL, 'j' },
                { "journal-file", required_argument, NULL, ARG_JOURNAL_FILE },
                { "journal-directory", required_argument, NULL, ARG_JOURNAL_DIRECTORY },
                { "verbose", no_argument, NULL, 'v' },
                { "timeout", required_argument, NULL, 't' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {}
        };
        uint64_t u;
        int c;

        while ((c = getopt_long(argc, argv, "d:i:jvt:hV", options, NULL)) >= 0)
                switch (c) {
                case 'd':
                        arg_directory = optarg;
                        break;
                case 'i':
                        if (parse_duration(optarg, &u) < 0 || u < USEC_PER_SEC || u / USEC_PER_SEC > INT32_MAX) {
                                printf("UNKNOWN: invalid interval \"%s\", expected seconds\n", optarg);
                                return -EINVAL;
                        }
                        arg_interval = u / USEC_PER_SEC;
                        break;
                case 'j':
                        arg_journal = true;
                        break;
                case ARG_JOURNAL_FILE:
                        arg_journal = true;
                        if (strv_extend(&arg_journal_files, optarg) < 0)
                                return -ENOMEM;
                        break;
                case ARG_JOURNAL_DIRECTORY:
                        arg_journal = true;
                        arg_journal_directory = optarg;
                        break;
                case 'v':
                        arg_verbose = true;
                        break;
                case 't':
                        if (parse_duration(optarg, &u) < 0 || u < USEC_PER_SEC || u / USEC_PER_SEC > 3600) {
                                printf("UNKNOWN: invalid timeout \"%s\", expected 1 to 3600 seconds\n", optarg);
                                return -EINVAL;
                        }
                        arg_timeout = (unsigned) (u / USEC_PER_SEC);
                        break;
                case 'h':
                        help();
                        return 0;
                case 'V':
                        printf("check_mcollective %s (muster)\n", PACKAGE_VERSION);
                        return 0;
                default:
                        printf("UNKNOWN: invalid command line, see check_mcollective --help\n");
                        return -EINVAL;
                }
        if (optind < argc) {
                printf("UNKNOWN: unexpected argument \"%s\", see check_mcollective --help\n", argv[optind]);
                return -EINVAL;
        }
        return 1;
}

typedef struct StatSlice {
        pthread_t thread;
        int dfd;
        Node *nodes;
        size_t n;
        int error;
} StatSlice;

static void *stat_slice(void *userdata) {
        StatSlice *sl = userdata;
        /* Its own open file: a shared one has its reference count bumped
         * by every thread on every lookup, a cache line bouncing between CPUs. */
        _cleanup_close_ int dfd = openat(sl->dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd < 0) {
                sl->error = errno;
                return NULL;
        }
        for (size_t i = 0; i < sl->n; i++) {
                Node *n = &sl->nodes[i];
                struct stat st;
                if (fstatat(dfd, n->identity, &st, AT_SYMLINK_NOFOLLOW) < 0) {
                        if (errno == ENOENT) {
                                n->gone = true; /* went away while we looked */
                                continue;
                        }
                        sl->error = errno;
                        return NULL;
                }
                n->gone = !S_ISREG(st.st_mode);
                n->last_seen = st.st_mtim.tv_sec;
        }
        return NULL;
}

/* Every file not starting with '.' is a node; its mtime is when it was last
 * heard from. The names are read first, then stat()ed by one thread per CPU:
 * on a large fleet the time goes to path lookups in the kernel, one per
 * file, and they run in parallel. */
static int scan_directory(NodeList *l, int64_t now) {
        _cleanup_closedir_ DIR *d = NULL;
        StatSlice slices[8] = {};
        size_t n_slices, start = 0, kept = 0;
        struct dirent *de;
        int r = 0;

        d = opendir(arg_directory);
        if (!d)
                return -errno;
        while ((errno = 0, de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
                        continue;
                if (!node_list_add(l, de->d_name))
                        return -ENOMEM;
        }
        if (errno > 0)
                return -errno;

        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        n_slices = MIN((size_t) MAX(cpus, 1L), ELEMENTSOF(slices));
        n_slices = MAX(MIN(n_slices, l->n / 4096), (size_t) 1); /* threads only pay off on large fleets */
        for (size_t i = 0; i < n_slices; i++) {
                size_t len = l->n / n_slices + (i < l->n % n_slices);
                slices[i] = (StatSlice) { .dfd = dirfd(d), .nodes = l->nodes + start, .n = len };
                start += len;
        }
        for (size_t i = 1; i < n_slices; i++)
                if (pthread_create(&slices[i].thread, NULL, stat_slice, &slices[i]) != 0) {
                        /* No thread: do its share here. */
                        slices[i].thread = 0;
                        stat_slice(&slices[i]);
                }
        stat_slice(&slices[0]);
        for (size_t i = 0; i < n_slices; i++) {
                if (i > 0 && slices[i].thread)
                        (void) pthread_join(slices[i].thread, NULL);
                if (slices[i].error && r == 0)
                        r = -slices[i].error;
        }
        if (r < 0)
                return r;

        for (size_t i = 0; i < l->n; i++) {
                Node *n = &l->nodes[i];
                if (n->gone) {
                        free(n->identity);
                        continue;
                }
                n->stale = now - n->last_seen > (int64_t) arg_interval + GRACE_SECONDS;
                l->nodes[kept++] = *n;
        }
        l->n = kept;
        return 0;
}

static int journal_field(sd_journal *j, const char *field, char *buf, size_t n) {
        const void *data;
        size_t len, flen = strlen(field) + 1;
        int r = sd_journal_get_data(j, field, &data, &len);
        if (r < 0)
                return r;
        if (len < flen || len - flen >= n)
                return -EINVAL;
        memcpy(buf, (const char *) data + flen, len - flen);
        buf[len - flen] = '\0';
        return 0;
}

/* The collector's judgement, from its journal: the last of node-new,
 * node-stale, node-recovered per identity wins. */
static int scan_journal(NodeList *l) {
        sd_journal *j = NULL;
        int r;

        if (arg_journal_files) {
                r = sd_journal_open_files(&j, (const char **) arg_journal_files, 0);
        } else if (arg_journal_directory)
                r = sd_journal_open_directory(&j, arg_journal_directory, 0);
        else
                r = sd_journal_open(&j, SD_JOURNAL_LOCAL_ONLY | SD_JOURNAL_SYSTEM);
        if (r < 0)
                return r;

        static const char *const events[] = { EVENT_NODE_NEW, EVENT_NODE_STALE, EVENT_NODE_RECOVERED };
        for (size_t i = 0; i < ELEMENTSOF(events); i++) {
                char m[64];
                snprintf(m, sizeof m, "MUSTER_EVENT=%s", events[i]);
                r = sd_journal_add_match(j, m, 0);
                if (r < 0)
                        goto finish;
        }

        SD_JOURNAL_FOREACH(j) {
                char identity[256], event[64];
                uint64_t usec;

                if (journal_field(j, "MUSTER_IDENTITY", identity, sizeof identity) < 0 ||
                    journal_field(j, "MUSTER_EVENT", event, sizeof event) < 0 || !identity_is_valid(identity))
                        continue;
                if (sd_journal_get_realtime_usec(j, &usec) < 0)
                        usec = 0;

                Node *n = NULL;
                for (size_t i = 0; i < l->n; i++)
                        if (streq(l->nodes[i].identity, identity)) {
                                n = &l->nodes[i];
                                break;
                        }
                if (!n && !(n = node_list_add(l, identity))) {
                        r = -ENOMEM;
                        goto finish;
                }
                n->stale = streq(event, EVENT_NODE_STALE);
                n->last_seen = (int64_t) (usec / USEC_PER_SEC);
        }
        r = 0;
finish:
        sd_journal_close(j);
        return r;
}

static int cmp_node(const void *a, const void *b) {
        return strcmp(((const Node *) a)->identity, ((const Node *) b)->identity);
}

static int run(int argc, char *argv[]) {
        NodeList l = {};
        size_t old = 0;
        int64_t now = (int64_t) time(NULL);
        int r;

        log_setup("check_mcollective", false);
        r = parse_argv(argc, argv);
        if (r <= 0)
                return r == 0 ? NAGIOS_OK : NAGIOS_UNKNOWN;

        signal(SIGALRM, on_alarm);
        alarm(arg_timeout);

        r = arg_journal ? scan_journal(&l) : scan_directory(&l, now);
        if (r < 0) {
                if (arg_journal)
                        printf("UNKNOWN: cannot read the journal: %s\n", strerror(-r));
                else
                        printf("UNKNOWN: cannot read directory %s: %s\n", arg_directory, strerror(-r));
                node_list_done(&l);
                return NAGIOS_UNKNOWN;
        }

        if (arg_journal && l.n == 0) {
                /* Nothing at all: an unreadable journal looks the same. */
                printf("UNKNOWN: no node events of muster-collector in the journal (is it readable by this user?)\n");
                node_list_done(&l);
                return NAGIOS_UNKNOWN;
        }
        for (size_t i = 0; i < l.n; i++)
                old += l.nodes[i].stale;

        if (old > 0)
                printf("CRITICAL: %zu / %zu hosts not checked in within %" PRIu64 " seconds| totalhosts=%zu "
                       "oldhosts=%zu currenthosts=%zu\n", old, l.n, arg_interval, l.n, old, l.n - old);
        else
                printf("OK: %zu / %zu hosts checked in within %" PRIu64 " seconds| totalhosts=%zu oldhosts=%zu "
                       "currenthosts=%zu\n", l.n, l.n, arg_interval, l.n, old, l.n - old);

        if (arg_verbose && old > 0) {
                if (l.n > 1)
                        qsort(l.nodes, l.n, sizeof *l.nodes, cmp_node);
                for (size_t i = 0; i < l.n; i++)
                        if (l.nodes[i].stale)
                                printf("%s: last seen %" PRId64 " s ago\n", l.nodes[i].identity,
                                       now - l.nodes[i].last_seen);
        }
        node_list_done(&l);
        strv_free(arg_journal_files);
        return old > 0 ? NAGIOS_CRITICAL : NAGIOS_OK;
}

int main(int argc, char *argv[]) {
        return run(argc, argv);
}
