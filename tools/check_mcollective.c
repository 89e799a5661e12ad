/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* check_mcollective: one Nagios result naming every node that stopped
 * checking in, from the collector's state directory (file mtimes) or from
 * the collector's journal events. */

#include <dirent.h>
#include <fcntl.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <systemd/sd-journal.h>

#include "catalog-ids.h"
#include "dirscan.h"
#include "log.h"
#include "nagios.h"
#include "registry.h"
#include "util.h"

#define GRACE_SECONDS 30

static const char *arg_directory = STATEDIR "/registrations";
static uint64_t arg_interval = 300;
static unsigned arg_timeout = 10;
static bool arg_verbose = false;
static bool arg_journal = false;
static char **arg_journal_files = NULL;
static const char *arg_journal_directory = NULL;
static uint64_t arg_min_hosts = 0;
static bool arg_directory_set = false;

/* The names of the old nodes on the status line stop at this many bytes,
 * then "… and K more". */
#define FAILED_LIST_MAX 4096

typedef struct Node {
        char *identity;
        int64_t last_seen;
        bool stale;
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
               "Usage: check_mcollective [-d DIR] [-i SECS] [--min-hosts N] [-v] [-t SECS]\n"
               "       check_mcollective --journal [--journal-file FILE... | --journal-directory DIR]\n"
               "                         [-i SECS] [--min-hosts N] [-v] [-t SECS]\n\n"
               "Options:\n"
               "  -d, --directory DIR   Registration directory, one file per node\n"
               "                        (default " STATEDIR "/registrations)\n"
               "  -i, --interval SECS   Registration interval (default 300); a node is stale when\n"
               "                        its file is older than SECS + %d seconds\n"
               "  -j, --journal         Judge nodes by the collector's node-new, node-stale and\n"
               "                        node-recovered journal events instead\n"
               "      --journal-file FILE       Read this journal file (repeatable)\n"
               "      --journal-directory DIR   Read the journal files in DIR\n"
               "      --min-hosts N     CRITICAL when fewer than N nodes are known (default 0)\n"
               "  -v, --verbose         Name the stale nodes on the status line, and list each\n"
               "                        with the seconds since it was last seen after it\n"
               "  -t, --timeout SECS    Give up after SECS (default 10)\n"
               "  -h, --help            Print this help\n"
               "  -V, --version         Print the version\n\n"
               "Exit codes: 0 OK, 2 CRITICAL when any node is stale or fewer than --min-hosts\n"
               "nodes are known, 3 UNKNOWN on errors (the reason is on the status line).\n"
               "See check_mcollective(1).\n",
               PACKAGE_VERSION, GRACE_SECONDS);
}

static void on_alarm(int sig) {
        static const char msg[] = "UNKNOWN: check_mcollective timed out\n";
        (void) !write(STDOUT_FILENO, msg, sizeof msg - 1);
        _exit(NAGIOS_UNKNOWN);
}

/* Every problem with the command line is one status line with its reason:
 * Nagios shows standard output only. */
static int parse_argv(int argc, char *argv[]) {
        enum { ARG_JOURNAL_FILE = 0x100, ARG_JOURNAL_DIRECTORY, ARG_MIN_HOSTS };
        static const struct option options[] = {
                { "directory", required_argument, NULL, 'd' },
                { "interval", required_argument, NULL, 'i' },
                { "journal", no_argument, NULL, 'j' },
                { "journal-file", required_argument, NULL, ARG_JOURNAL_FILE },
                { "journal-directory", required_argument, NULL, ARG_JOURNAL_DIRECTORY },
                { "min-hosts", required_argument, NULL, ARG_MIN_HOSTS },
                { "verbose", no_argument, NULL, 'v' },
                { "timeout", required_argument, NULL, 't' },
                { "help", no_argument, NULL, 'h' },
                { "version", no_argument, NULL, 'V' },
                {}
        };
        uint64_t u;
        int c, cur;

        /* getopt's own messages would go to stderr, which Nagios drops. No
         * permutation ('+'): argv[cur] is then the element each call read. */
        opterr = 0;
        while ((cur = optind, c = getopt_long(argc, argv, "+:d:i:jvt:hV", options, NULL)) >= 0)
                switch (c) {
                case 'd':
                        if (isempty(optarg)) {
                                printf("UNKNOWN: invalid directory \"\", expected a path\n");
                                return -EINVAL;
                        }
                        arg_directory = optarg;
                        arg_directory_set = true;
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
                        if (isempty(optarg)) {
                                printf("UNKNOWN: invalid journal file \"\", expected a path\n");
                                return -EINVAL;
                        }
                        arg_journal = true;
                        if (strv_extend(&arg_journal_files, optarg) < 0) {
                                printf("UNKNOWN: out of memory\n");
                                return -ENOMEM;
                        }
                        break;
                case ARG_JOURNAL_DIRECTORY:
                        if (isempty(optarg)) {
                                printf("UNKNOWN: invalid journal directory \"\", expected a path\n");
                                return -EINVAL;
                        }
                        arg_journal = true;
                        arg_journal_directory = optarg;
                        break;
                case ARG_MIN_HOSTS:
                        if (parse_uint64(optarg, &u) < 0 || u > 100000000) {
                                printf("UNKNOWN: invalid minimum number of hosts \"%s\", expected 0 to 100000000\n",
                                       optarg);
                                return -EINVAL;
                        }
                        arg_min_hosts = u;
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
                case ':':
                        if (startswith(argv[cur], "--"))
                                printf("UNKNOWN: option %s needs a value, see check_mcollective --help\n", argv[cur]);
                        else
                                printf("UNKNOWN: option -%c needs a value, see check_mcollective --help\n", optopt);
                        return -EINVAL;
                default:
                        /* '?': an unknown or ambiguous option, or a value given to a flag. */
                        if (!startswith(argv[cur], "--"))
                                printf("UNKNOWN: unknown option -%c, see check_mcollective --help\n", optopt);
                        else if (optopt != 0)
                                printf("UNKNOWN: option %.*s takes no value, see check_mcollective --help\n",
                                       (int) strcspn(argv[cur], "="), argv[cur]);
                        else
                                printf("UNKNOWN: unknown or ambiguous option %s, see check_mcollective --help\n",
                                       argv[cur]);
                        return -EINVAL;
                }
        if (optind < argc) {
                printf("UNKNOWN: unexpected argument \"%s\", see check_mcollective --help\n", argv[optind]);
                return -EINVAL;
        }
        /* A typo must not quietly read the wrong source. */
        if (arg_journal && arg_directory_set) {
                printf("UNKNOWN: --directory and --journal exclude each other\n");
                return -EINVAL;
        }
        if (arg_journal_files && arg_journal_directory) {
                printf("UNKNOWN: --journal-file and --journal-directory exclude each other\n");
                return -EINVAL;
        }
        return 1;
}

/* What a directory scan keeps: the number of nodes, and the stale ones with
 * their names (a fleet's worth of names is never copied). */
typedef struct Scan {
        NodeList *stale;
        size_t total;
        int64_t now;
} Scan;

/* One node's file, stat()ed: counted when it is a regular file. */
static int scan_seen(Scan *s, const char *name, mode_t mode, int64_t mtime) {
        if (!S_ISREG(mode))
                return 0; /* a symbolic link, a directory, ...: not a node */
        s->total++;
        if (!registry_is_stale(s->now, mtime, (int64_t) arg_interval, GRACE_SECONDS))
                return 0;
        Node *n = node_list_add(s->stale, name);
        if (!n)
                return -ENOMEM;
        n->stale = true;
        n->last_seen = mtime;
        return 0;
}

/* Every file not starting with '.' is a node; its mtime is when it was last
 * heard from. One stat per file is the least this needs (lib/dirscan.c). */
static int scan_seen_statx(const char *name, const struct statx *sx, void *userdata) {
        return scan_seen(userdata, name, sx->stx_mode, sx->stx_mtime.tv_sec);
}

static int scan_directory(NodeList *stale, size_t *ret_total, int64_t now) {
        _cleanup_close_ int dfd = -1;
        Scan s = { .stale = stale, .now = now };
        int r;

        dfd = open(arg_directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NONBLOCK);
        if (dfd < 0)
                return -errno;
        r = dirscan(dfd, STATX_TYPE | STATX_MTIME, NULL, scan_seen_statx, &s);
        if (r < 0)
                return r;
        *ret_total = s.total;
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

/* Can this user read the journal files that would be read? sd-journal
 * skips a file it cannot open without a word, and a journal without entries
 * must not look like a fleet without nodes: find the first such file, so
 * that the status line can name it. A file is opened read-only and closed. */
static int check_readable(int dfd, const char *name) {
        _cleanup_close_ int fd = openat(dfd, name, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        return fd < 0 ? -errno : 0;
}

static bool dirent_may_be_dir(const struct dirent *de) {
        return de->d_type == DT_DIR || de->d_type == DT_UNKNOWN;
}

static int journal_dir_check_access(const char *path, bool system_only, bool missing_ok, char **ret_path) {
        _cleanup_closedir_ DIR *d = opendir(path);
        struct dirent *de;
        int r;

        if (!d) {
                r = -errno;
                if ((r == -ENOENT || r == -ENOTDIR) && missing_ok)
                        return 0;
                *ret_path = strdup(path);
                return r;
        }
        while ((errno = 0, de = readdir(d))) {
                sd_id128_t id;
                /* sd-journal also reads the machine directories (named by a
                 * machine ID) inside a directory it is given. */
                if (!system_only && dirent_may_be_dir(de) && sd_id128_from_string(de->d_name, &id) >= 0) {
                        _cleanup_free_ char *sub = NULL;
                        if (asprintf(&sub, "%s/%s", path, de->d_name) < 0)
                                return -ENOMEM;
                        r = journal_dir_check_access(sub, false, true, ret_path);
                        if (r < 0)
                                return r;
                        continue;
                }
                if (!endswith(de->d_name, ".journal") && !endswith(de->d_name, ".journal~"))
                        continue;
                if (system_only && !startswith(de->d_name, "system"))
                        continue;
                r = check_readable(dirfd(d), de->d_name);
                if (r < 0) {
                        if (asprintf(ret_path, "%s/%s", path, de->d_name) < 0)
                                *ret_path = NULL;
                        return r;
                }
        }
        if (errno > 0) {
                r = -errno;
                *ret_path = strdup(path);
                return r;
        }
        return 0;
}

/* Returns 0, or a negative errno with *ret_path naming what cannot be read
 * (NULL when out of memory). */
static int journal_check_access(char **ret_path) {
        int r;

        *ret_path = NULL;
        if (arg_journal_files) {
                for (char **f = arg_journal_files; *f; f++) {
                        r = check_readable(AT_FDCWD, *f);
                        if (r < 0) {
                                *ret_path = strdup(*f);
                                return r;
                        }
                }
                return 0;
        }
        if (arg_journal_directory)
                return journal_dir_check_access(arg_journal_directory, false, false, ret_path);

        /* The local system journal: what sd_journal_open() with
         * SD_JOURNAL_LOCAL_ONLY | SD_JOURNAL_SYSTEM reads. */
        sd_id128_t machine;
        char id[SD_ID128_STRING_MAX];
        r = sd_id128_get_machine(&machine);
        if (r < 0)
                return 0; /* no machine ID: sd-journal will say what it says */
        sd_id128_to_string(machine, id);
        static const char *const roots[] = { "/var/log/journal", "/run/log/journal" };
        for (size_t i = 0; i < ELEMENTSOF(roots); i++) {
                _cleanup_free_ char *dir = NULL;
                if (asprintf(&dir, "%s/%s", roots[i], id) < 0)
                        return -ENOMEM;
                r = journal_dir_check_access(dir, true, true, ret_path);
                if (r < 0)
                        return r;
        }
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

static size_t decimal_digits(size_t n) {
        size_t d = 1;
        while (n >= 10) {
                n /= 10;
                d++;
        }
        return d;
}

/* " - failed: db1, web2" as the original's -v, names sorted (l is sorted).
 * When all names would pass FAILED_LIST_MAX bytes, as many as fit with the
 * tail ", … and K more" within that size. */
static int format_failed(const NodeList *l, size_t old, char **ret) {
        static const char sep[] = ", ", more_start[] = "… and ", more_end[] = " more";
        _cleanup_free_ char *buf = NULL;
        size_t full = 0, k = 0, shown = 0, len = 0;

        for (size_t i = 0; i < l->n; i++)
                if (l->nodes[i].stale)
                        full += (k++ > 0 ? strlen(sep) : 0) + strlen(l->nodes[i].identity);

        buf = malloc(MIN(full, (size_t) FAILED_LIST_MAX) + 1);
        if (!buf)
                return -ENOMEM;
        buf[0] = '\0';
        for (size_t i = 0; i < l->n; i++) {
                if (!l->nodes[i].stale)
                        continue;
                const char *name = l->nodes[i].identity;
                size_t add = (shown > 0 ? strlen(sep) : 0) + strlen(name);
                if (full > FAILED_LIST_MAX) {
                        /* Room for this name and the tail for those left after it? */
                        size_t left = old - shown - 1;
                        size_t tail = left > 0 ? strlen(sep) + strlen(more_start) + decimal_digits(left) +
                                                 strlen(more_end) : 0;
                        if (len + add + tail > FAILED_LIST_MAX)
                                break;
                }
                if (shown > 0) {
                        memcpy(buf + len, sep, strlen(sep));
                        len += strlen(sep);
                }
                memcpy(buf + len, name, strlen(name));
                len += strlen(name);
                buf[len] = '\0';
                shown++;
        }

        char *out;
        if (shown < old) {
                if (asprintf(&out, " - failed: %s%s%s%zu%s", buf, shown > 0 ? sep : "", more_start, old - shown,
                             more_end) < 0)
                        return -ENOMEM;
        } else if (asprintf(&out, " - failed: %s", buf) < 0)
                return -ENOMEM;
        *ret = out;
        return 0;
}

static const char *journal_strerror(int r) {
        /* What sd-journal answers for a file too short or without a journal header. */
        return r == -EBADMSG || r == -ENODATA ? "not a journal file" : strerror(-r);
}

static const char *plural_hosts(size_t n) {
        return n == 1 ? "host" : "hosts";
}

static int run(int argc, char *argv[]) {
        /* From the journal every node; from a directory only the stale ones. */
        _cleanup_(node_list_done) NodeList l = {};
        _cleanup_free_ char *failed = NULL, *unreadable = NULL;
        size_t old = 0, total = 0;
        int64_t now = (int64_t) time(NULL);
        int r;

        log_setup("check_mcollective", false);
        r = parse_argv(argc, argv);
        if (r <= 0)
                return r == 0 ? NAGIOS_OK : NAGIOS_UNKNOWN;

        signal(SIGALRM, on_alarm);
        alarm(arg_timeout);

        if (arg_journal) {
                r = journal_check_access(&unreadable);
                if (r == -EACCES && !arg_journal_files && !arg_journal_directory) {
                        printf("UNKNOWN: cannot read the system journal %s: %s (the user needs the group "
                               "systemd-journal or adm)\n", strna(unreadable), strerror(-r));
                        return NAGIOS_UNKNOWN;
                }
                if (r < 0) {
                        printf("UNKNOWN: cannot read the journal %s: %s\n", strna(unreadable), strerror(-r));
                        return NAGIOS_UNKNOWN;
                }
                r = scan_journal(&l);
                if (r < 0) {
                        if (arg_journal_files && !arg_journal_files[1])
                                printf("UNKNOWN: cannot read the journal %s: %s\n", arg_journal_files[0],
                                       journal_strerror(r));
                        else if (arg_journal_directory)
                                printf("UNKNOWN: cannot read the journal %s: %s\n", arg_journal_directory,
                                       journal_strerror(r));
                        else
                                printf("UNKNOWN: cannot read the journal: %s\n", journal_strerror(r));
                        return NAGIOS_UNKNOWN;
                }
                if (l.n == 0) {
                        /* Readable, and nothing: the collector logs elsewhere, or never ran here. */
                        printf("UNKNOWN: no node events of muster-collector in the journal (node-new, "
                               "node-stale, node-recovered)\n");
                        return NAGIOS_UNKNOWN;
                }
                total = l.n;
        } else {
                r = scan_directory(&l, &total, now);
                if (r < 0) {
                        printf("UNKNOWN: cannot read directory %s: %s\n", arg_directory, strerror(-r));
                        return NAGIOS_UNKNOWN;
                }
        }

        for (size_t i = 0; i < l.n; i++)
                old += l.nodes[i].stale;
        if (arg_verbose && old > 0) {
                qsort(l.nodes, l.n, sizeof *l.nodes, cmp_node);
                r = format_failed(&l, old, &failed);
                if (r < 0) {
                        printf("UNKNOWN: out of memory\n");
                        return NAGIOS_UNKNOWN;
                }
        }

        /* Fewer nodes than expected: a lost state directory, a collector
         * that lost its queue, a journal cut short. */
        bool too_few = (uint64_t) total < arg_min_hosts;
        _cleanup_free_ char *min_text = NULL, *min_perf = NULL;
        if (too_few && asprintf(&min_text, "%zu %s known, expected at least %" PRIu64 "; ", total,
                                plural_hosts(total), arg_min_hosts) < 0) {
                printf("UNKNOWN: out of memory\n");
                return NAGIOS_UNKNOWN;
        }
        /* Nagios's range "N:" is critical below N. */
        if (arg_min_hosts > 0 && asprintf(&min_perf, ";;%" PRIu64 ":", arg_min_hosts) < 0) {
                printf("UNKNOWN: out of memory\n");
                return NAGIOS_UNKNOWN;
        }

        if (old > 0)
                printf("CRITICAL: %s%zu / %zu hosts not checked in within %" PRIu64 " seconds%s| totalhosts=%zu%s "
                       "oldhosts=%zu currenthosts=%zu\n", strempty(min_text), old, total, arg_interval,
                       strempty(failed), total, strempty(min_perf), old, total - old);
        else
                printf("%s: %s%zu / %zu hosts checked in within %" PRIu64 " seconds| totalhosts=%zu%s oldhosts=%zu "
                       "currenthosts=%zu\n", too_few ? "CRITICAL" : "OK", strempty(min_text), total, total,
                       arg_interval, total, strempty(min_perf), old, total - old);

        if (arg_verbose)
                for (size_t i = 0; i < l.n; i++)
                        if (l.nodes[i].stale)
                                printf("%s: last seen %" PRId64 " s ago\n", l.nodes[i].identity,
                                       now - l.nodes[i].last_seen);
        strv_free(arg_journal_files);
        return old > 0 || too_few ? NAGIOS_CRITICAL : NAGIOS_OK;
}

int main(int argc, char *argv[]) {
        return run(argc, argv);
}
