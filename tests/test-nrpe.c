/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>

#include "log.h"
#include "nrpe.h"
#include "tests.h"
#include "util.h"

static char tmpdir[] = "/tmp/test-nrpe-XXXXXX";
static bool tmpdir_made = false;

/* Here a group of checks is named when it has passed: ok() prints it and
 * begins the next, which a failure names by the last that passed. */
static void ok(const char *description) {
        static char next[256];

        tests_name = description;
        test_ok();
        snprintf(next, sizeof next, "the checks after \"%s\"", description);
        test_begin(next);
}

/* ------------------------------------------------------------------------ */
/* Helpers */

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw) {
        if (type == FTW_DP)
                (void) rmdir(path);
        else
                (void) unlink(path);
        return 0;
}

static void cleanup_tmpdir(void) {
        if (tmpdir_made)
                (void) nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

static char *tmp_path(const char *rel) {
        char *p;
        ASSERT(asprintf(&p, "%s/%s", tmpdir, rel) >= 0);
        return p;
}

/* Write tmpdir/rel, creating the directories on the way. */
static void write_file(const char *rel, const char *content) {
        _cleanup_free_ char *p = tmp_path(rel);
        _cleanup_fclose_ FILE *f = NULL;

        for (char *s = p + strlen(tmpdir) + 1; (s = strchr(s, '/')); s++) {
                *s = '\0';
                ASSERT(mkdir(p, 0755) >= 0 || errno == EEXIST);
                *s = '/';
        }
        f = fopen(p, "we");
        ASSERT(f);
        ASSERT(fputs(content, f) >= 0);
}

static void make_dir(const char *rel) {
        _cleanup_free_ char *p = tmp_path(rel);
        ASSERT(mkdir(p, 0755) >= 0 || errno == EEXIST);
}

/* Capture what the library logs (log.c writes straight to fd 2). */
static TestsCapture capture;

static void capture_start(void) {
        tests_capture_begin(&capture);
}

static char *capture_end(void) {
        return tests_capture_end(&capture);
}

static NrpeConfig *parse(const char *text, char **ret_log) {
        NrpeConfig *c = nrpe_config_new();
        ASSERT(c);
        capture_start();
        ASSERT(nrpe_config_parse_buffer(c, "test.cfg", NULL, text, strlen(text)) == 0);
        char *log = capture_end();
        if (ret_log)
                *ret_log = log;
        else
                free(log);
        return c;
}

static NrpeConfig *load(const char *rel, char **ret_log) {
        _cleanup_free_ char *p = tmp_path(rel);
        NrpeConfig *c = NULL;

        capture_start();
        ASSERT(nrpe_config_load(p, &c) == 0);
        char *log = capture_end();
        ASSERT(c);
        if (ret_log)
                *ret_log = log;
        else
                free(log);
        return c;
}

static unsigned count_fds(void) {
        _cleanup_closedir_ DIR *d = opendir("/proc/self/fd");
        struct dirent *de;
        unsigned n = 0;

        ASSERT(d);
        while ((de = readdir(d)))
                if (de->d_name[0] != '.')
                        n++;
        return n - 1; /* the directory's own fd */
}

/* Gone, or a zombie waiting for whoever reaps orphans here. */
static bool pid_is_gone(pid_t pid) {
        for (unsigned i = 0; i < 300; i++) {
                char path[64];
                _cleanup_free_ char *stat = NULL;

                if (kill(pid, 0) < 0 && errno == ESRCH)
                        return true;
                snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
                if (read_full_file(path, 4096, &stat, NULL) < 0)
                        return true;
                char *p = strrchr(stat, ')');
                if (p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X'))
                        return true;
                usleep(10 * 1000);
        }
        return false;
}

static size_t read_pids(const char *path, pid_t *pids, size_t max) {
        _cleanup_free_ char *buf = NULL;
        size_t n = 0;
        char *p, *save = NULL;

        ASSERT(read_full_file(path, 4096, &buf, NULL) >= 0);
        for (p = strtok_r(buf, "\n", &save); p && n < max; p = strtok_r(NULL, "\n", &save)) {
                long v;
                ASSERT(parse_int_range(p, 1, INT32_MAX, &v) >= 0);
                pids[n++] = (pid_t) v;
        }
        return n;
}

static bool child_is_reaped(pid_t pid) {
        siginfo_t si = {};
        return waitid(P_PID, (id_t) pid, &si, WEXITED | WNOHANG) < 0 && errno == ECHILD;
}

/* ------------------------------------------------------------------------ */
/* Config parsing */

static void test_name_is_valid(void) {
        char longname[66];

        ASSERT(nrpe_command_name_is_valid("check_load"));
        ASSERT(nrpe_command_name_is_valid("check-disk.root_2"));
        ASSERT(nrpe_command_name_is_valid("a"));
        memset(longname, 'a', 64);
        longname[64] = '\0';
        ASSERT(nrpe_command_name_is_valid(longname));
        longname[64] = 'a';
        longname[65] = '\0';
        ASSERT(!nrpe_command_name_is_valid(longname));
        ASSERT(!nrpe_command_name_is_valid(""));
        ASSERT(!nrpe_command_name_is_valid(NULL));
        ASSERT(!nrpe_command_name_is_valid("a b"));
        ASSERT(!nrpe_command_name_is_valid("a/b"));
        ASSERT(!nrpe_command_name_is_valid("a$b"));
        ASSERT(!nrpe_command_name_is_valid("a]"));
        ASSERT(!nrpe_command_name_is_valid("\xc3\xa9t\xc3\xa9"));
        ok("command names: [A-Za-z0-9_.-], 1..64 bytes");
}

static void test_parse_basic(void) {
        _cleanup_free_ char *log = NULL;
        NrpeConfig *c = parse("command[check_load]=/usr/lib/nagios/plugins/check_load -w 15,10,5 -c 30,25,20\n"
                              "command[check_users]=/usr/lib/nagios/plugins/check_users -w 5 -c 10",
                              &log);
        ASSERT(c->n_commands == 2);
        ASSERT_STREQ_PTR(nrpe_config_find(c, "check_load"),
                     "/usr/lib/nagios/plugins/check_load -w 15,10,5 -c 30,25,20");
        ASSERT_STREQ_PTR(nrpe_config_find(c, "check_users"), "/usr/lib/nagios/plugins/check_users -w 5 -c 10");
        ASSERT(!nrpe_config_find(c, "check_disk"));
        ASSERT(!nrpe_config_find(c, "check_loa"));
        ASSERT(!nrpe_config_find(NULL, "check_load"));
        ASSERT_STREQ_PTR(log, "");
        nrpe_config_free(c);
        ok("parse: simple definitions, last line without newline");
}

static void test_parse_spaces_crlf_comments(void) {
        _cleanup_free_ char *log = NULL;
        NrpeConfig *c = parse("   command[a] =   /bin/true  \t \n"
                              "command[b]=echo 'two  spaces'\r\n"
                              "\r\n"
                              "# command[commented]=/bin/false\n"
                              "    # indented comment\n"
                              "\t\n"
                              "command[c]=echo c\r\n"
                              "command[d]=echo x=y\n",
                              &log);
        ASSERT(c->n_commands == 4);
        ASSERT_STREQ_PTR(nrpe_config_find(c, "a"), "/bin/true");
        ASSERT_STREQ_PTR(nrpe_config_find(c, "b"), "echo 'two  spaces'");
        ASSERT_STREQ_PTR(nrpe_config_find(c, "c"), "echo c");
        ASSERT_STREQ_PTR(nrpe_config_find(c, "d"), "echo x=y");
        ASSERT(!nrpe_config_find(c, "commented"));
        ASSERT_STREQ_PTR(log, "");
        nrpe_config_free(c);
        ok("parse: whitespace, \\r\\n line ends, comments, '=' in the command line");
}

static void test_parse_override(void) {
        NrpeConfig *c = parse("command[x]=one\ncommand[y]=why\ncommand[x]=two\n", NULL);
        ASSERT(c->n_commands == 2);
        ASSERT_STREQ_PTR(nrpe_config_find(c, "x"), "two");
        ASSERT_STREQ_PTR(nrpe_config_find(c, "y"), "why");

        /* And across two buffers. */
        ASSERT(nrpe_config_parse_buffer(c, "second.cfg", NULL, "command[y]=three", 16) == 0);
        ASSERT(c->n_commands == 2);
        ASSERT_STREQ_PTR(nrpe_config_find(c, "y"), "three");
        nrpe_config_free(c);
        ok("parse: a later definition overrides an earlier one");
}

static void test_parse_invalid(void) {
        _cleanup_free_ char *log = NULL;
        NrpeConfig *c = parse("command[a b]=/bin/true\n"                                          /* 1 */
                              "command[]=/bin/true\n"                                             /* 2 */
                              "command[x]=\n"                                                     /* 3 */
                              "command[y]=   \t\r\n"                                              /* 4 */
                              "command[z=/bin/true\n"                                             /* 5 */
                              "command[w]x=/bin/true\n"                                           /* 6 */
                              "just some garbage\n"                                               /* 7 */
                              "=value\n"                                                          /* 8 */
                              "command[a/b]=/bin/true\n"                                          /* 9 */
                              "command[aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa]=x\n" /* 10 */
                              "command[good]=/bin/true\n",                                        /* 11 */
                              &log);
        ASSERT(c->n_commands == 1);
        ASSERT_STREQ_PTR(nrpe_config_find(c, "good"), "/bin/true");
        ASSERT(!nrpe_config_find(c, "x"));
        ASSERT(!nrpe_config_find(c, "y"));
        ASSERT(!nrpe_config_find(c, "z"));
        ASSERT(!nrpe_config_find(c, "w"));
        for (unsigned i = 1; i <= 10; i++) {
                char needle[32];
                snprintf(needle, sizeof needle, "test.cfg:%u: ", i);
                if (!strstr(log, needle))
                        fprintf(stderr, "missing warning for line %u in:\n%s", i, log);
                ASSERT(strstr(log, needle));
        }
        ASSERT(!strstr(log, "test.cfg:11:"));
        ASSERT(strstr(log, ", ignoring"));
        nrpe_config_free(c);
        ok("parse: bad names, empty command lines, missing ']', lines without '=' are warnings");
}

static void test_parse_nul_byte(void) {
        static const char buf[] = "command[a]=echo \0bad\ncommand[b]=echo b\n";
        NrpeConfig *c = nrpe_config_new();

        ASSERT(c);
        capture_start();
        ASSERT(nrpe_config_parse_buffer(c, "nul.cfg", NULL, buf, sizeof buf - 1) == 0);
        _cleanup_free_ char *log = capture_end();
        ASSERT(!nrpe_config_find(c, "a"));
        ASSERT_STREQ_PTR(nrpe_config_find(c, "b"), "echo b");
        ASSERT(strstr(log, "nul.cfg:1: "));
        nrpe_config_free(c);

        c = nrpe_config_new();
        ASSERT(c);
        ASSERT(nrpe_config_parse_buffer(c, NULL, NULL, "", 0) == 0);
        ASSERT(nrpe_config_parse_buffer(c, NULL, NULL, NULL, 0) == 0);
        ASSERT(c->n_commands == 0);
        nrpe_config_free(c);
        ok("parse: a line with a NUL byte is skipped, empty buffers are fine");
}

static void test_parse_unrelated_keys(void) {
        _cleanup_free_ char *log = NULL;
        NrpeConfig *c = parse("log_facility=daemon\n"
                              "debug=0\n"
                              "pid_file=/run/nagios/nrpe.pid\n"
                              "server_port=5666\n"
                              "server_address=127.0.0.1\n"
                              "nrpe_user=nagios\n"
                              "nrpe_group=nagios\n"
                              "allowed_hosts=127.0.0.1,::1\n"
                              "dont_blame_nrpe=0\n"
                              "allow_bash_command_substitution=0\n"
                              "command_prefix=/usr/bin/sudo\n"
                              "command_timeout=60\n"
                              "connection_timeout=300\n"
                              "nasty_metachars=\"|`&><'\\\\[]{};\\r\\n\"\n"
                              "ssl_version=TLSv1.2+\n"
                              "empty_value=\n",
                              &log);
        ASSERT(c->n_commands == 0);
        ASSERT_STREQ_PTR(log, "");
        nrpe_config_free(c);
        ok("parse: other nrpe.cfg keys are ignored silently");
}

static void test_parse_real_nrpe_cfg(void) {
        _cleanup_free_ char *log = NULL;
        NrpeConfig *c = parse(
                "#############################################################################\n"
                "# Sample NRPE Config File\n"
                "#\n"
                "# Last Modified: 2016-05-31\n"
                "#############################################################################\n"
                "\n"
                "# LOG FACILITY\n"
                "log_facility=daemon\n"
                "\n"
                "# PID FILE\n"
                "pid_file=/run/nagios/nrpe.pid\n"
                "\n"
                "server_port=5666\n"
                "#server_address=127.0.0.1\n"
                "#listen_queue_size=5\n"
                "nrpe_user=nagios\n"
                "nrpe_group=nagios\n"
                "allowed_hosts=127.0.0.1,::1\n"
                "dont_blame_nrpe=0\n"
                "allow_bash_command_substitution=0\n"
                "# command_prefix=/usr/bin/sudo\n"
                "debug=0\n"
                "command_timeout=60\n"
                "connection_timeout=300\n"
                "#disable_syslog=0\n"
                "\n"
                "# COMMAND DEFINITIONS\n"
                "# The following examples use hardcoded command arguments...\n"
                "# This is by far the most secure method of using NRPE\n"
                "\n"
                "command[check_users]=/usr/lib/nagios/plugins/check_users -w 5 -c 10\n"
                "command[check_load]=/usr/lib/nagios/plugins/check_load -r -w .15,.10,.05 -c .30,.25,.20\n"
                "command[check_hda1]=/usr/lib/nagios/plugins/check_disk -w 20% -c 10% -p /dev/hda1\n"
                "command[check_zombie_procs]=/usr/lib/nagios/plugins/check_procs -w 5 -c 10 -s Z\n"
                "command[check_total_procs]=/usr/lib/nagios/plugins/check_procs -w 150 -c 200\n"
                "\n"
                "# The following examples allow user-supplied arguments and can\n"
                "# only be used if the NRPE daemon was compiled with support for\n"
                "# command arguments *AND* the dont_blame_nrpe directive in this\n"
                "# config file is set to '1'.  This poses a potential security risk, so\n"
                "# make sure you read the SECURITY file before doing this.\n"
                "\n"
                "#command[check_users]=/usr/lib/nagios/plugins/check_users -w $ARG1$ -c $ARG2$\n"
                "#command[check_load]=/usr/lib/nagios/plugins/check_load -w $ARG1$ -c $ARG2$\n"
                "#command[check_disk]=/usr/lib/nagios/plugins/check_disk -w $ARG1$ -c $ARG2$ -p $ARG3$\n"
                "#command[check_procs]=/usr/lib/nagios/plugins/check_procs -w $ARG1$ -c $ARG2$ -s $ARG3$\n"
                "command[check_mem]=/usr/lib/nagios/plugins/check_mem.sh -w $ARG1$ -c $ARG2$\n"
                "\n"
                "# INCLUDE CONFIG FILE\n"
                "#include=<somefile.cfg>\n"
                "\n"
                "# INCLUDE CONFIG DIRECTORY\n"
                "include=/etc/nagios/nrpe_local.cfg\n"
                "include_dir=/etc/nagios/nrpe.d/\n"
                "\n"
                "# KEEP ENVIRONMENT VARIABLES\n"
                "#keep_env_vars=NRPE_MULTILINESUPPORT,NRPE_PROGRAMVERSION\n",
                &log);
        ASSERT(c->n_commands == 6);
        ASSERT_STREQ_PTR(nrpe_config_find(c, "check_load"),
                     "/usr/lib/nagios/plugins/check_load -r -w .15,.10,.05 -c .30,.25,.20");
        ASSERT_STREQ_PTR(nrpe_config_find(c, "check_users"), "/usr/lib/nagios/plugins/check_users -w 5 -c 10");
        ASSERT_STREQ_PTR(nrpe_config_find(c, "check_zombie_procs"),
                     "/usr/lib/nagios/plugins/check_procs -w 5 -c 10 -s Z");
        ASSERT_STREQ_PTR(nrpe_config_find(c, "check_mem"), "/usr/lib/nagios/plugins/check_mem.sh -w $ARG1$ -c $ARG2$");
        ASSERT(!nrpe_config_find(c, "check_disk"));
        /* dir == NULL: includes are not followed, and nothing to warn about. */
        ASSERT_STREQ_PTR(log, "");
        nrpe_config_free(c);
        ok("parse: a real-looking /etc/nagios/nrpe.cfg");
}

/* ------------------------------------------------------------------------ */
/* Loading files and includes */

static void test_load_missing(void) {
        _cleanup_free_ char *log = NULL;
        NrpeConfig *c = load("does-not-exist", &log);
        ASSERT(c->n_commands == 0);
        ASSERT_STREQ_PTR(log, "");
        nrpe_config_free(c);

        c = load("does-not-exist/nrpe.d", NULL);
        ASSERT(c->n_commands == 0);
        nrpe_config_free(c);
        ok("load: a missing path is an empty config");
}

static void test_load_single_file_and_includes(void) {
        _cleanup_free_ char *log = NULL;

        write_file("inc/main.cfg", "command[main]=echo main\n"
                                   "include=sub/other.cfg\n"
                                   "include=missing.cfg\n"
                                   "command[after_missing]=echo still here\n"
                                   "include=\n");
        write_file("inc/sub/other.cfg", "command[other]=echo other\n"
                                        "command[main]=echo overridden by other\n"
                                        "include=third.cfg\n"); /* relative to sub/ */
        write_file("inc/sub/third.cfg", "command[third]=echo third\n");

        NrpeConfig *c = load("inc/main.cfg", &log);
        ASSERT(c->n_commands == 4);
        ASSERT_STREQ_PTR(nrpe_config_find(c, "main"), "echo overridden by other");
        ASSERT_STREQ_PTR(nrpe_config_find(c, "other"), "echo other");
        ASSERT_STREQ_PTR(nrpe_config_find(c, "third"), "echo third");
        ASSERT_STREQ_PTR(nrpe_config_find(c, "after_missing"), "echo still here");
        ASSERT(strstr(log, "main.cfg:3: "));
        ASSERT(strstr(log, "missing.cfg"));
        ASSERT(strstr(log, "main.cfg:5: "));
        nrpe_config_free(c);
        ok("load: include= relative to the including file, a missing include is a warning");
}

static void test_load_include_loop(void) {
        _cleanup_free_ char *log = NULL, *abs_b = tmp_path("loop/b.cfg");
        char text[PATH_MAX + 64];

        write_file("loop/a.cfg", "command[a]=echo a\ninclude=b.cfg\ninclude=a.cfg\ncommand[a2]=echo a2\n");
        snprintf(text, sizeof text, "command[b]=echo b\ninclude=a.cfg\ninclude=%s\n", abs_b);
        write_file("loop/b.cfg", text);

        NrpeConfig *c = load("loop/a.cfg", &log);
        ASSERT(c->n_commands == 3);
        ASSERT_STREQ_PTR(nrpe_config_find(c, "a"), "echo a");
        ASSERT_STREQ_PTR(nrpe_config_find(c, "a2"), "echo a2");
        ASSERT_STREQ_PTR(nrpe_config_find(c, "b"), "echo b");
        ASSERT(strstr(log, "a.cfg:3: "));
        ASSERT(strstr(log, "b.cfg:2: "));
        ASSERT(strstr(log, "b.cfg:3: "));
        nrpe_config_free(c);

        /* A directory that includes itself. */
        free(log);
        write_file("dirloop/x.cfg", "command[x]=echo x\ninclude_dir=.\ninclude_dir=../dirloop\n");
        c = load("dirloop", &log);
        ASSERT(c->n_commands == 1);
        ASSERT(strstr(log, "x.cfg:2: "));
        ASSERT(strstr(log, "x.cfg:3: "));
        nrpe_config_free(c);

        /* A symlink loop below include_dir. */
        free(log);
        write_file("symloop/d/y.cfg", "command[y]=echo y\n");
        _cleanup_free_ char *link = tmp_path("symloop/d/back");
        _cleanup_free_ char *target = tmp_path("symloop");
        ASSERT(symlink(target, link) >= 0);
        c = load("symloop", &log);
        ASSERT(c->n_commands == 1);
        ASSERT_STREQ_PTR(nrpe_config_find(c, "y"), "echo y");
        ASSERT(strstr(log, "already read"));
        nrpe_config_free(c);
        ok("load: include loops (files, directories, symlinks) are cut with a warning");
}

static void test_load_depth_limit(void) {
        _cleanup_free_ char *log = NULL;

        for (unsigned i = 0; i < 20; i++) {
                char rel[64], text[128];
                snprintf(rel, sizeof rel, "deep/f%02u.cfg", i);
                snprintf(text, sizeof text, "command[c%02u]=echo %u\ninclude=f%02u.cfg\n", i, i, i + 1);
                write_file(rel, text);
        }
        NrpeConfig *c = load("deep/f00.cfg", &log);
        /* f00 is level 0, f16 the 16th nested include; f17 is refused. */
        ASSERT(c->n_commands == 17);
        ASSERT(nrpe_config_find(c, "c16"));
        ASSERT(!nrpe_config_find(c, "c17"));
        ASSERT(strstr(log, "f16.cfg:2: "));
        ASSERT(strstr(log, "deep"));
        nrpe_config_free(c);
        ok("load: includes nest at most 16 levels");
}

static void test_load_include_dir(void) {
        _cleanup_free_ char *log = NULL;

        write_file("nrpe/nrpe.cfg", "server_port=5666\n"
                                    "command[x]=echo from nrpe.cfg\n"
                                    "include_dir=nrpe.d\n"
                                    "command[late]=echo nrpe.cfg wins\n");
        write_file("nrpe/nrpe.d/10-first.cfg", "command[x]=echo first\ncommand[late]=echo first\n");
        write_file("nrpe/nrpe.d/20-second.cfg", "command[x]=echo second\n");
        write_file("nrpe/nrpe.d/aa/one.cfg", "command[order]=echo aa\ncommand[sub]=echo sub\n");
        write_file("nrpe/nrpe.d/aa/deeper/two.cfg", "command[deep]=echo deep\n");
        write_file("nrpe/nrpe.d/bb.cfg", "command[order]=echo bb\ncommand[order2]=echo bb\n");
        write_file("nrpe/nrpe.d/cc/three.cfg", "command[order2]=echo cc\n");
        write_file("nrpe/nrpe.d/not-a-cfg.txt", "command[txt]=echo txt\n");
        write_file("nrpe/nrpe.d/backup.cfg.bak", "command[bak]=echo bak\n");
        write_file("nrpe/nrpe.d/.hidden.cfg", "command[hidden]=echo hidden\n");
        write_file("nrpe/nrpe.d/.hiddendir/h.cfg", "command[hidden2]=echo hidden\n");
        make_dir("nrpe/nrpe.d/empty");

        NrpeConfig *c = load("nrpe/nrpe.cfg", &log);
        ASSERT_STREQ_PTR(nrpe_config_find(c, "x"), "echo second");
        ASSERT_STREQ_PTR(nrpe_config_find(c, "late"), "echo nrpe.cfg wins");
        ASSERT_STREQ_PTR(nrpe_config_find(c, "sub"), "echo sub");
        ASSERT_STREQ_PTR(nrpe_config_find(c, "deep"), "echo deep");
        ASSERT_STREQ_PTR(nrpe_config_find(c, "order"), "echo bb");   /* aa/ before bb.cfg */
        ASSERT_STREQ_PTR(nrpe_config_find(c, "order2"), "echo cc");  /* bb.cfg before cc/ */
        ASSERT(!nrpe_config_find(c, "txt"));
        ASSERT(!nrpe_config_find(c, "bak"));
        ASSERT(!nrpe_config_find(c, "hidden"));
        ASSERT(!nrpe_config_find(c, "hidden2"));
        ASSERT(c->n_commands == 6);
        ASSERT_STREQ_PTR(log, "");
        nrpe_config_free(c);

        /* The directory itself as the path: same result minus nrpe.cfg. */
        free(log);
        c = load("nrpe/nrpe.d", &log);
        ASSERT_STREQ_PTR(nrpe_config_find(c, "x"), "echo second");
        ASSERT_STREQ_PTR(nrpe_config_find(c, "late"), "echo first");
        ASSERT_STREQ_PTR(nrpe_config_find(c, "deep"), "echo deep");
        ASSERT(c->n_commands == 6);
        ASSERT_STREQ_PTR(log, "");
        nrpe_config_free(c);

        /* Commands come out sorted by name, whatever the file order. */
        c = load("nrpe/nrpe.cfg", NULL);
        for (size_t i = 1; i < c->n_commands; i++)
                ASSERT(strcmp(c->commands[i - 1].name, c->commands[i].name) < 0);
        nrpe_config_free(c);
        ok("load: include_dir recurses, lexical order, only *.cfg, later wins");
}

static void test_load_unreadable(void) {
        _cleanup_free_ char *log = NULL;

        /* A FIFO is never opened (it would block). */
        write_file("unreadable/main.cfg", "include=fifo.cfg\ninclude=secret.cfg\ncommand[m]=echo m\n");
        _cleanup_free_ char *fifo = tmp_path("unreadable/fifo.cfg");
        ASSERT(mkfifo(fifo, 0600) >= 0);

        /* Permissions do not stop root; test them only when they can. */
        write_file("unreadable/secret.cfg", "command[s]=echo s\n");
        _cleanup_free_ char *p = tmp_path("unreadable/secret.cfg");
        if (geteuid() != 0)
                ASSERT(chmod(p, 0) >= 0);

        NrpeConfig *c = load("unreadable/main.cfg", &log);
        ASSERT_STREQ_PTR(nrpe_config_find(c, "m"), "echo m");
        ASSERT(strstr(log, "main.cfg:1: "));
        if (geteuid() != 0) {
                ASSERT(c->n_commands == 1);
                ASSERT(strstr(log, "main.cfg:2: "));
        }
        nrpe_config_free(c);

        /* Dangling symlinks in a directory: a warning for a *.cfg one only. */
        free(log);
        write_file("dangling/ok.cfg", "command[fine]=echo fine\n");
        _cleanup_free_ char *l1 = tmp_path("dangling/gone.cfg"), *l2 = tmp_path("dangling/README");
        ASSERT(symlink("/nonexistent/gone.cfg", l1) >= 0);
        ASSERT(symlink("/nonexistent/README", l2) >= 0);
        c = load("dangling", &log);
        ASSERT(c->n_commands == 1);
        ASSERT(strstr(log, "gone.cfg"));
        ASSERT(strstr(log, ", ignoring"));
        ASSERT(!strstr(log, "README"));
        nrpe_config_free(c);
        ok("load: an unreadable include (FIFO, no permission, dangling symlink) is a warning");
}

static void test_parse_buffer_includes(void) {
        _cleanup_free_ char *dir = tmp_path("bufinc");
        NrpeConfig *c;

        write_file("bufinc/extra.cfg", "command[extra]=echo extra\n");

        c = nrpe_config_new();
        ASSERT(c);
        ASSERT(nrpe_config_parse_buffer(c, "buf", dir, "include=extra.cfg\n", 18) == 0);
        ASSERT_STREQ_PTR(nrpe_config_find(c, "extra"), "echo extra");
        nrpe_config_free(c);

        c = nrpe_config_new();
        ASSERT(c);
        ASSERT(nrpe_config_parse_buffer(c, "buf", NULL, "include=extra.cfg\n", 18) == 0);
        ASSERT(c->n_commands == 0);
        nrpe_config_free(c);
        ok("parse_buffer: includes relative to dir, ignored without one");
}

/* ------------------------------------------------------------------------ */
/* $ARGn$ */

static void expand_ok(const char *line, char *const *args, size_t n, const char *expected) {
        _cleanup_free_ char *out = NULL;
        const char *error = NULL;

        ASSERT(nrpe_expand_arguments(line, args, n, true, NULL, &out, &error) == 0);
        ASSERT_STREQ_PTR(out, expected);
        ASSERT(!error);
}

static void test_expand(void) {
        char *two[] = { (char *) "10", (char *) "20", NULL };
        char *one[] = { (char *) "x", NULL };
        char *tricky[] = { (char *) "$ARG2$", (char *) "b", NULL };
        char *empty[] = { (char *) "", NULL };
        char *sixteen[17], *seventeen[18];
        char bufs[17][8];

        expand_ok("check -w $ARG1$ -c $ARG2$", two, 2, "check -w '10' -c '20'");
        expand_ok("check -w $ARG1$ -c $ARG2$ -p $ARG3$", two, 2, "check -w '10' -c '20' -p ");
        expand_ok("check $ARG2$$ARG1$", two, 2, "check '20''10'");
        /* Inside quotes the argument is already one word. */
        expand_ok("check -w \"$ARG1$\" -c '$ARG2$%'", two, 2, "check -w \"10\" -c '20%'");
        expand_ok("say \"it's\" $ARG1$ 'a\\' $ARG2$", two, 2, "say \"it's\" '10' 'a\\' '20'");
        expand_ok("price $$5", NULL, 0, "price $5");
        expand_ok("echo $USER1$/check", NULL, 0, "echo $USER1$/check");
        expand_ok("awk '{print $1}'", NULL, 0, "awk '{print $1}'");
        expand_ok("echo $ARG17$|$ARG0$|$ARG$|$ARG1x$", one, 1, "echo ||$ARG$|$ARG1x$");
        expand_ok("echo $ARG01$", one, 1, "echo 'x'");
        expand_ok("trailing $", NULL, 0, "trailing $");
        expand_ok("", NULL, 0, "");
        {
                /* '$' in an argument is always refused: no macro can come
                 * in through an argument (tests/test-policy.c has more). */
                _cleanup_free_ char *o2 = NULL;
                const char *e2 = NULL;
                ASSERT(nrpe_expand_arguments("$ARG1$ $ARG2$", tricky, 2, true, NULL, &o2, &e2) == -EINVAL);
                ASSERT(!o2);
        }
        expand_ok("[$ARG1$]", empty, 1, "['']");

        for (unsigned i = 0; i < 17; i++) {
                snprintf(bufs[i], sizeof bufs[i], "a%u", i + 1);
                seventeen[i] = bufs[i];
                if (i < 16)
                        sixteen[i] = bufs[i];
        }
        sixteen[16] = NULL;
        seventeen[17] = NULL;
        expand_ok("$ARG1$ $ARG16$", sixteen, 16, "'a1' 'a16'");

        _cleanup_free_ char *out = NULL;
        const char *error = NULL;
        char *sentinel = (char *) "untouched";
        out = sentinel;
        ASSERT(nrpe_expand_arguments("x", seventeen, 17, true, NULL, &out, &error) == -E2BIG);
        ASSERT(out == sentinel);
        ASSERT(error);
        out = NULL;

        /* Without arguments nothing is denied, even when arguments are off. */
        ASSERT(nrpe_expand_arguments("check -w $ARG1$", NULL, 0, false, NULL, &out, &error) == 0);
        ASSERT_STREQ_PTR(out, "check -w ");
        ok("expand: $ARGn$ like NRPE, missing ones empty, $$, other macros kept, at most 16");
}

static void test_expand_denied(void) {
        char *one[] = { (char *) "5", NULL };
        char *out = NULL;
        const char *error = NULL;

        ASSERT(nrpe_expand_arguments("check -w $ARG1$", one, 1, false, NULL, &out, &error) == -EPERM);
        ASSERT(!out);
        ASSERT_STREQ_PTR(error, "Command arguments are disabled");
        ok("expand: arguments when they are disabled: -EPERM");
}

static void test_expand_nasty(void) {
        static const char nasty[] = "|`&><'\"\\[]{};\r\n";
        char arg[16];
        char *args[] = { arg, NULL };

        for (const char *p = nasty; *p; p++)
                for (unsigned variant = 0; variant < 2; variant++) {
                        char *out = NULL;
                        const char *error = NULL;

                        snprintf(arg, sizeof arg, "ok%cok", *p);
                        ASSERT(nrpe_expand_arguments("check $ARG1$", args, 1, true, variant ? nasty : NULL, &out,
                                                     &error) == -EINVAL);
                        ASSERT(!out);
                        ASSERT_STREQ_PTR(error, "Request contained illegal metachars!");
                }

        /* Only the given list counts, and only in arguments. */
        _cleanup_free_ char *out = NULL;
        const char *error = NULL;
        strcpy(arg, "a;b");
        ASSERT(nrpe_expand_arguments("x;y $ARG1$", args, 1, true, "#", &out, &error) == 0);
        ASSERT_STREQ_PTR(out, "x;y 'a;b'");
        free(out);
        out = NULL;
        strcpy(arg, "a#b");
        ASSERT(nrpe_expand_arguments("$ARG1$", args, 1, true, "#", &out, &error) == -EINVAL);
        ASSERT(!out);

        /* A second, harmless argument does not hide a nasty first one. */
        char *two[] = { (char *) "$(reboot)`", (char *) "fine", NULL };
        ASSERT(nrpe_expand_arguments("$ARG2$", two, 2, true, nasty, &out, &error) == -EINVAL);
        ok("expand: each nasty metachar in an argument is rejected");
}

/* What the shell makes of an expanded line: each argument stays one word,
 * even with a nasty_metachars list that lets quotes, spaces, globs and
 * separators through. */
static void shell_words(const char *line, char *const *args, size_t n, const char *expected) {
        _cleanup_free_ char *out = NULL;
        const char *error = NULL;
        char buf[512] = {};

        ASSERT_INT_EQ(nrpe_expand_arguments(line, args, n, true, "#", &out, &error), 0);
        FILE *f = popen(out, "r");
        ASSERT(f);
        size_t k = fread(buf, 1, sizeof buf - 1, f);
        buf[k] = '\0';
        ASSERT(pclose(f) != -1);
        ASSERT_STR_EQ(buf, expected);
}

static void test_expand_whole_words(void) {
        char *args[] = { (char *) "a b", (char *) "it's", (char *) "x\"y", (char *) "*", (char *) "a;echo injected",
                         (char *) "", (char *) "~root", (char *) "a|b>c", NULL };

        shell_words("printf '[%s]' $ARG1$ $ARG2$ $ARG3$ $ARG4$ $ARG5$ $ARG6$ $ARG7$ $ARG8$", args, 8,
                    "[a b][it's][x\"y][*][a;echo injected][][~root][a|b>c]");
        shell_words("printf '[%s]' \"$ARG1$/$ARG2$/$ARG3$\" '$ARG2$'", args, 3, "[a b/it's/x\"y][it's]");
        shell_words("printf '[%s]' pre$ARG4$post", args, 4, "[pre*post]");

        _cleanup_free_ char *out = NULL;
        const char *error = NULL;
        ASSERT_INT_EQ(nrpe_expand_arguments("printf %s \\$ARG1$", args, 1, true, "#", &out, &error), -EINVAL);
        ASSERT_STR_CONTAINS(error, "backslash before an argument macro");
        ok("expand: each argument is one word for the shell, whatever it holds");
}

/* ------------------------------------------------------------------------ */
/* Plugin output */

static void output_check(const char *in, size_t n, const char *output, const char *perfdata, const char *long_output) {
        NrpeOutput o = {};

        ASSERT(nrpe_parse_output(in, n, &o) == 0);
        ASSERT_STREQ_PTR(o.output, output);
        ASSERT_STREQ_PTR(o.perfdata, perfdata);
        ASSERT_STREQ_PTR(o.long_output, long_output);
        nrpe_output_done(&o);
        ASSERT(!o.output && !o.perfdata && !o.long_output);
}

#define OUTPUT_CHECK(in, output, perfdata, long_output) \
        output_check(in, strlen(in), output, perfdata, long_output)

static void test_output(void) {
        OUTPUT_CHECK("OK - load average: 0.01, 0.02, 0.00\n", "OK - load average: 0.01, 0.02, 0.00", NULL, NULL);
        OUTPUT_CHECK("OK - no newline", "OK - no newline", NULL, NULL);
        OUTPUT_CHECK("OK - load average: 0.01 | load1=0.010;15.000;30.000;0; load5=0.020;10.000;25.000;0;\n",
                     "OK - load average: 0.01", "load1=0.010;15.000;30.000;0; load5=0.020;10.000;25.000;0;", NULL);
        OUTPUT_CHECK("OK|a=1", "OK", "a=1", NULL);
        OUTPUT_CHECK("OK |   \n", "OK", NULL, NULL);
        OUTPUT_CHECK("  padded  \n", "padded", NULL, NULL);
        OUTPUT_CHECK("", "", NULL, NULL);
        OUTPUT_CHECK("\n\n", "", NULL, NULL);
        OUTPUT_CHECK("OK\n\n\n", "OK", NULL, NULL);
        OUTPUT_CHECK("OK\r\n", "OK", NULL, NULL);
        OUTPUT_CHECK("WARNING - 2 problems\nfirst problem\nsecond problem\n\n",
                     "WARNING - 2 problems", NULL, "first problem\nsecond problem");
        OUTPUT_CHECK("WARNING\r\n  indented\r\nline\r\n", "WARNING", NULL, "  indented\nline");
        OUTPUT_CHECK("OK | a=1\nlong\n| b=2\n", "OK", "a=1 b=2", "long");
        OUTPUT_CHECK("OK\n| b=2\n", "OK", "b=2", NULL);
        /* The example from the Nagios plugin API documentation. */
        OUTPUT_CHECK("DISK OK - free space: / 3326 MB (56%); | /=2643MB;5948;5958;0;5968\n"
                     "/ 15272 MB (77%);\n"
                     "/boot 68 MB (69%);\n"
                     "/home 69357 MB (27%);\n"
                     "/var/log 819 MB (84%); | /boot=68MB;88;93;0;98\n"
                     "/home=69357MB;253404;253409;0;253414 \n"
                     "/var/log=818MB;970;975;0;980\n",
                     "DISK OK - free space: / 3326 MB (56%);",
                     "/=2643MB;5948;5958;0;5968 /boot=68MB;88;93;0;98 /home=69357MB;253404;253409;0;253414 "
                     "/var/log=818MB;970;975;0;980",
                     "/ 15272 MB (77%);\n/boot 68 MB (69%);\n/home 69357 MB (27%);\n/var/log 819 MB (84%);");

        /* n bounds the input; a NUL ends it. */
        output_check("OK|a=1 and more", 2, "OK", NULL, NULL);
        output_check("OK\0|hidden", 11, "OK", NULL, NULL);
        output_check(NULL, 0, "", NULL, NULL);

        NrpeOutput o = { .output = (char *) "sentinel" };
        ASSERT(nrpe_parse_output(NULL, 5, &o) == -EINVAL);
        ASSERT_STREQ_PTR(o.output, "sentinel");
        ok("output: first line, perfdata, long output, more perfdata, empty, trailing newlines");
}

/* ------------------------------------------------------------------------ */
/* Running */

typedef struct RunResult {
        bool done;
        int exitcode;
        char *output;
        size_t size;
        uint64_t duration_usec;
        pid_t pid;
        sd_event *event;
        unsigned *pending;
} RunResult;

static void run_result_done(RunResult *r) {
        free(r->output);
        r->output = NULL;
}

static void on_run_done(NrpeRun *run, int exitcode, const char *output, size_t size, uint64_t duration_usec,
                        void *userdata) {
        RunResult *r = userdata;

        ASSERT(!r->done);
        ASSERT(output);
        ASSERT(output[size] == '\0');
        r->done = true;
        r->exitcode = exitcode;
        r->output = strndup(output, size);
        ASSERT(r->output);
        r->size = size;
        r->duration_usec = duration_usec;
        r->pid = nrpe_run_pid(run);
        ASSERT(r->pid > 0);
        if (r->pending && --*r->pending == 0)
                ASSERT(sd_event_exit(r->event, 0) >= 0);
}

static void run_one(const char *command, uint64_t timeout_usec, size_t output_max, RunResult *r) {
        sd_event *e = NULL;
        NrpeRun *run = NULL;
        unsigned pending = 1;

        *r = (RunResult) { .pending = &pending };
        ASSERT(sd_event_new(&e) >= 0);
        r->event = e;
        ASSERT(nrpe_run_start(e, command, timeout_usec, output_max, on_run_done, r, &run) == 0);
        ASSERT(run);
        ASSERT(nrpe_run_pid(run) > 0);
        ASSERT(sd_event_loop(e) >= 0);
        ASSERT(r->done);
        r->pending = NULL;
        r->event = NULL;
        sd_event_unref(e);
}

static void test_run_exit_codes(void) {
        RunResult r;

        for (int code = 0; code <= 3; code++) {
                char cmd[128], expected[64];

                snprintf(cmd, sizeof cmd, "echo 'STATE %d | v=%d'; exit %d", code, code, code);
                snprintf(expected, sizeof expected, "STATE %d | v=%d\n", code, code);
                run_one(cmd, 10 * USEC_PER_SEC, 4096, &r);
                ASSERT(r.exitcode == code);
                ASSERT_STREQ_PTR(r.output, expected);
                ASSERT(r.size == strlen(expected));
                ASSERT(child_is_reaped(r.pid));
                run_result_done(&r);
        }

        run_one("printf 'no newline'", 10 * USEC_PER_SEC, 4096, &r);
        ASSERT(r.exitcode == 0);
        ASSERT_STREQ_PTR(r.output, "no newline");
        run_result_done(&r);

        run_one("true", 10 * USEC_PER_SEC, 4096, &r);
        ASSERT(r.exitcode == 0);
        ASSERT_STREQ_PTR(r.output, "");
        ASSERT(r.size == 0);
        run_result_done(&r);
        ok("run: exit codes 0..3 and output are passed through");
}

static void test_run_bad_exit(void) {
        RunResult r;

        run_one("exit 7", 10 * USEC_PER_SEC, 4096, &r);
        ASSERT(r.exitcode == 3);
        ASSERT(strstr(r.output, "UNKNOWN"));
        ASSERT(strstr(r.output, "7"));
        run_result_done(&r);

        run_one("echo 'own words'; exit 7", 10 * USEC_PER_SEC, 4096, &r);
        ASSERT(r.exitcode == 3);
        ASSERT_STREQ_PTR(r.output, "own words\n");
        run_result_done(&r);

        capture_start(); /* sh complains on our stderr */
        run_one("/nonexistent/plugin", 10 * USEC_PER_SEC, 4096, &r);
        free(capture_end());
        ASSERT(r.exitcode == 3);
        ASSERT(strstr(r.output, "127"));
        run_result_done(&r);

        run_one("kill -9 $$", 10 * USEC_PER_SEC, 4096, &r);
        ASSERT(r.exitcode == 3);
        ASSERT(strstr(r.output, "signal 9"));
        ASSERT(strstr(r.output, "KILL"));
        run_result_done(&r);

        run_one("echo partial; kill -TERM $$", 10 * USEC_PER_SEC, 4096, &r);
        ASSERT(r.exitcode == 3);
        ASSERT_STREQ_PTR(r.output, "partial\n");
        run_result_done(&r);
        ok("run: exit code outside 0..3 or death by signal gives 3");
}

static void test_run_timeout_kills_group(void) {
        _cleanup_free_ char *pidfile = tmp_path("timeout.pids");
        char cmd[PATH_MAX * 3];
        pid_t pids[4];
        RunResult r;

        snprintf(cmd, sizeof cmd,
                 "sleep 300 & echo $! > %s; (trap '' TERM HUP; sleep 301) & echo $! >> %s; "
                 "echo 'partial output'; sleep 302; echo never",
                 pidfile, pidfile);
        run_one(cmd, 500 * USEC_PER_MSEC, 4096, &r);
        ASSERT(r.exitcode == 3);
        ASSERT_STREQ_PTR(r.output, "UNKNOWN: command timed out after 0.5 s");
        ASSERT(r.duration_usec >= 500 * USEC_PER_MSEC);
        ASSERT(r.duration_usec < 5 * USEC_PER_SEC);
        ASSERT(child_is_reaped(r.pid));
        ASSERT(pid_is_gone(r.pid));

        size_t n = read_pids(pidfile, pids, ELEMENTSOF(pids));
        ASSERT(n == 2);
        for (size_t i = 0; i < n; i++)
                ASSERT(pid_is_gone(pids[i]));
        run_result_done(&r);

        run_one("sleep 300", 1 * USEC_PER_SEC, 4096, &r);
        ASSERT(r.exitcode == 3);
        ASSERT_STREQ_PTR(r.output, "UNKNOWN: command timed out after 1 s");
        run_result_done(&r);
        ok("run: timeout SIGKILLs the whole process group and reaps it");
}

static void test_run_background_grandchild(void) {
        _cleanup_free_ char *pidfile = tmp_path("bg.pids");
        char cmd[PATH_MAX * 2];
        pid_t pids[4];
        RunResult r;

        snprintf(cmd, sizeof cmd, "sleep 300 & echo $! > %s; (sleep 301; echo late) & echo $! >> %s; echo done",
                 pidfile, pidfile);
        run_one(cmd, 30 * USEC_PER_SEC, 4096, &r);
        ASSERT(r.exitcode == 0);
        ASSERT_STREQ_PTR(r.output, "done\n");
        ASSERT(r.duration_usec < 5 * USEC_PER_SEC);
        size_t n = read_pids(pidfile, pids, ELEMENTSOF(pids));
        ASSERT(n == 2);
        for (size_t i = 0; i < n; i++)
                ASSERT(pid_is_gone(pids[i]));
        run_result_done(&r);
        ok("run: a backgrounded grandchild holding stdout does not delay completion");
}

static void test_run_output_cap(void) {
        RunResult r;
        char expected[5000];

        run_one("head -c 1048576 /dev/zero | tr '\\0' x; echo; exit 1", 30 * USEC_PER_SEC, 4096, &r);
        ASSERT(r.exitcode == 1);
        memset(expected, 'x', 4096);
        strcpy(expected + 4096, "\n(output truncated)");
        ASSERT(r.size == strlen(expected));
        ASSERT_STREQ_PTR(r.output, expected);
        run_result_done(&r);

        /* Exactly output_max bytes is no truncation. */
        run_one("printf abc", 10 * USEC_PER_SEC, 3, &r);
        ASSERT_STREQ_PTR(r.output, "abc");
        run_result_done(&r);

        run_one("printf 'abc\\n'", 10 * USEC_PER_SEC, 4, &r);
        ASSERT_STREQ_PTR(r.output, "abc\n");
        run_result_done(&r);

        run_one("printf 'abcd\\n'", 10 * USEC_PER_SEC, 4, &r);
        ASSERT_STREQ_PTR(r.output, "abcd\n(output truncated)");
        run_result_done(&r);

        /* A multi-byte character is not cut in half. */
        run_one("printf 'a\\303\\251b'", 10 * USEC_PER_SEC, 2, &r);
        ASSERT_STREQ_PTR(r.output, "a\n(output truncated)");
        run_result_done(&r);

        run_one("echo something", 10 * USEC_PER_SEC, 0, &r);
        ASSERT_STREQ_PTR(r.output, "(output truncated)");
        run_result_done(&r);
        ok("run: output beyond output_max is read and dropped, with a note");
}

static void test_run_environment(void) {
        RunResult r;

        /* stdin is /dev/null: cat must not wait for anything, even when our
         * own stdin is a pipe that never ends. */
        int inpipe[2], saved_stdin = fcntl(STDIN_FILENO, F_DUPFD_CLOEXEC, 3);
        ASSERT(pipe2(inpipe, O_CLOEXEC) >= 0);
        ASSERT(dup2(inpipe[0], STDIN_FILENO) == STDIN_FILENO);
        run_one("cat; echo done", 5 * USEC_PER_SEC, 4096, &r);
        if (saved_stdin >= 0) {
                ASSERT(dup2(saved_stdin, STDIN_FILENO) == STDIN_FILENO);
                close(saved_stdin);
        } else
                close(STDIN_FILENO);
        close(inpipe[0]);
        close(inpipe[1]);
        ASSERT(r.exitcode == 0);
        ASSERT_STREQ_PTR(r.output, "done\n");
        run_result_done(&r);

        /* Own process group. */
        run_one("sed 's/^.*) [A-Za-z] [0-9]* //; s/ .*//' /proc/$$/stat",
                10 * USEC_PER_SEC, 4096, &r);
        long pgid;
        ASSERT(parse_int_range(strstrip(r.output), 1, INT32_MAX, &pgid) >= 0);
        ASSERT((pid_t) pgid == r.pid);
        ASSERT((pid_t) pgid != getpgrp());
        run_result_done(&r);

        /* Signal mask cleared, ignored signals reset (we block SIGCHLD and
         * ignore SIGUSR1 here). */
        ASSERT(signal(SIGUSR1, SIG_IGN) != SIG_ERR);
        run_one("grep -E '^Sig(Blk|Ign):' /proc/self/status", 10 * USEC_PER_SEC, 4096, &r);
        ASSERT(signal(SIGUSR1, SIG_DFL) != SIG_ERR);
        {
                unsigned long long blk = ~0ULL, ign = ~0ULL;
                char *b = strstr(r.output, "SigBlk:"), *i = strstr(r.output, "SigIgn:");
                ASSERT(b && i);
                ASSERT(sscanf(b, "SigBlk: %llx", &blk) == 1);
                ASSERT(sscanf(i, "SigIgn: %llx", &ign) == 1);
                ASSERT(blk == 0);
                ASSERT(!(ign & (1ULL << (SIGUSR1 - 1))));
        }
        run_result_done(&r);

        /* No fds but 0, 1, 2 reach the command, even ones without O_CLOEXEC. */
        int leak = open("/dev/null", O_RDONLY);
        ASSERT(leak >= 0);
        run_one("ls /proc/self/fd", 10 * USEC_PER_SEC, 4096, &r);
        close(leak);
        /* ls itself has its directory open as the 4th. */
        unsigned n_lines = 0;
        for (char *p = r.output; *p; p++)
                n_lines += *p == '\n';
        if (n_lines > 4)
                fprintf(stderr, "fds seen by the command:\n%s", r.output);
        ASSERT(n_lines <= 4);
        run_result_done(&r);

        /* stderr is not captured. */
        capture_start();
        run_one("echo out; echo err-line >&2", 10 * USEC_PER_SEC, 4096, &r);
        _cleanup_free_ char *err = capture_end();
        ASSERT_STREQ_PTR(r.output, "out\n");
        ASSERT(strstr(err, "err-line"));
        run_result_done(&r);

        /* Duration is real. */
        run_one("sleep 0.2", 10 * USEC_PER_SEC, 4096, &r);
        ASSERT(r.duration_usec >= 200 * USEC_PER_MSEC);
        ASSERT(r.duration_usec < 5 * USEC_PER_SEC);
        run_result_done(&r);
        ok("run: stdin /dev/null, own process group, clean signal state and fds, stderr inherited");
}

static void test_run_until_eof(void) {
        _cleanup_free_ char *pidfile = tmp_path("escaped.pids");
        char cmd[PATH_MAX * 2 + 128];
        pid_t pids[2];
        RunResult r;

        /* All of a large output arrives, also what is still in the pipe
         * when the shell exits. */
        run_one("head -c 300000 /dev/zero | tr '\\0' y", 10 * USEC_PER_SEC, 1024 * 1024, &r);
        ASSERT(r.exitcode == 0);
        ASSERT(r.size == 300000);
        ASSERT(strspn(r.output, "y") == 300000);
        run_result_done(&r);

        /* Something that left the process group is not killed, and what it
         * writes until it closes stdout is still part of the output. */
        _cleanup_free_ char *flag = tmp_path("escaped.flag");
        snprintf(cmd, sizeof cmd,
                 "setsid sh -c 'touch %s; sleep 0.3; echo late' & "
                 "while [ ! -e %s ]; do sleep 0.01; done; echo early", flag, flag);
        run_one(cmd, 10 * USEC_PER_SEC, 4096, &r);
        ASSERT(r.exitcode == 0);
        ASSERT_STREQ_PTR(r.output, "early\nlate\n");
        ASSERT(r.duration_usec >= 300 * USEC_PER_MSEC);
        run_result_done(&r);

        /* ... but it cannot keep the run alive beyond the timeout. */
        snprintf(cmd, sizeof cmd,
                 "setsid sh -c 'echo $$ > %s; exec sleep 300' & "
                 "while [ ! -s %s ]; do sleep 0.01; done; echo early", pidfile, pidfile);
        run_one(cmd, 500 * USEC_PER_MSEC, 4096, &r);
        ASSERT(r.exitcode == 3);
        ASSERT_STREQ_PTR(r.output, "UNKNOWN: command timed out after 0.5 s");
        ASSERT(r.duration_usec < 5 * USEC_PER_SEC);
        ASSERT(read_pids(pidfile, pids, ELEMENTSOF(pids)) == 1);
        ASSERT(kill(pids[0], SIGKILL) >= 0);
        run_result_done(&r);
        ok("run: output is read until EOF, a process outside the group is bounded by the timeout");
}

static void test_run_concurrent(void) {
        enum { N = 8 };
        RunResult r[N] = {};
        sd_event *e = NULL;
        unsigned pending = N;
        uint64_t start;

        ASSERT(sd_event_new(&e) >= 0);
        start = now_usec(CLOCK_MONOTONIC);
        for (int i = 0; i < N; i++) {
                char cmd[128];
                NrpeRun *run = NULL;

                r[i] = (RunResult) { .event = e, .pending = &pending };
                snprintf(cmd, sizeof cmd, "sleep 0.%d; echo 'run %d'; seq 1 2000 > /dev/null; exit %d", 3 + i % 3, i,
                         i % 4);
                ASSERT(nrpe_run_start(e, cmd, 10 * USEC_PER_SEC, 4096, on_run_done, &r[i], &run) == 0);
        }
        ASSERT(sd_event_loop(e) >= 0);
        ASSERT(now_usec(CLOCK_MONOTONIC) - start < 3 * USEC_PER_SEC);
        for (int i = 0; i < N; i++) {
                char expected[32];
                snprintf(expected, sizeof expected, "run %d\n", i);
                ASSERT(r[i].done);
                ASSERT(r[i].exitcode == i % 4);
                ASSERT_STREQ_PTR(r[i].output, expected);
                ASSERT(child_is_reaped(r[i].pid));
                run_result_done(&r[i]);
        }
        sd_event_unref(e);
        ok("run: several commands at once on one event loop");
}

static void test_run_abort(void) {
        _cleanup_free_ char *pidfile = tmp_path("abort.pids");
        char cmd[PATH_MAX + 128];
        RunResult r = {};
        sd_event *e = NULL;
        NrpeRun *run = NULL;
        pid_t pids[2], pid;

        ASSERT(sd_event_new(&e) >= 0);
        snprintf(cmd, sizeof cmd, "sleep 300 & echo $! > %s; sleep 300", pidfile);
        ASSERT(nrpe_run_start(e, cmd, 60 * USEC_PER_SEC, 4096, on_run_done, &r, &run) == 0);
        pid = nrpe_run_pid(run);
        for (unsigned i = 0; i < 200; i++) {
                struct stat st;
                ASSERT(sd_event_run(e, 10 * USEC_PER_MSEC) >= 0);
                if (stat(pidfile, &st) >= 0 && st.st_size > 0)
                        break;
        }
        nrpe_run_abort(run);
        ASSERT(!r.done);
        ASSERT(child_is_reaped(pid));
        ASSERT(read_pids(pidfile, pids, ELEMENTSOF(pids)) == 1);
        ASSERT(pid_is_gone(pids[0]));
        /* Nothing left on the loop. */
        ASSERT(sd_event_run(e, 50 * USEC_PER_MSEC) == 0);
        ASSERT(!r.done);
        nrpe_run_abort(NULL);
        sd_event_unref(e);
        ok("run: abort kills the group, reaps, and never calls the handler");
}

static void test_run_errors(void) {
        sd_event *e = NULL;
        NrpeRun *run = NULL;
        RunResult r = {};
        sigset_t ss;

        ASSERT(sd_event_new(&e) >= 0);
        ASSERT(nrpe_run_start(e, "", 1, 1, on_run_done, &r, &run) == -EINVAL);
        ASSERT(nrpe_run_start(e, NULL, 1, 1, on_run_done, &r, &run) == -EINVAL);
        ASSERT(nrpe_run_start(e, "true", 1, 1, NULL, &r, &run) == -EINVAL);
        ASSERT(nrpe_run_start(NULL, "true", 1, 1, on_run_done, &r, &run) == -EINVAL);

        sigemptyset(&ss);
        sigaddset(&ss, SIGCHLD);
        ASSERT(sigprocmask(SIG_UNBLOCK, &ss, NULL) >= 0);
        ASSERT(nrpe_run_start(e, "true", USEC_PER_SEC, 1, on_run_done, &r, &run) == -EBUSY);
        ASSERT(sigprocmask(SIG_BLOCK, &ss, NULL) >= 0);
        ASSERT(!run);
        ASSERT(nrpe_run_pid(NULL) == 0);
        sd_event_unref(e);
        ok("run: bad arguments and unblocked SIGCHLD are refused");
}

static void test_runner_protocol(void) {
        NrpeRunnerRequest r = {};
        const char *why = NULL;
        char buf[32];
        int code, status;

#define REQ(s) (s), sizeof(s) - 1
        ASSERT_INT_EQ(nrpe_runner_request_parse(REQ("muster-check 1\nuser=muster-check\ntimeout=5000000\n\n"
                                                    "check_disk -w 10% -c 5%\nsecond line"), &r, &why), 0);
        ASSERT_STR_EQ(r.user, "muster-check");
        ASSERT_UINT_EQ(r.timeout_usec, 5000000);
        ASSERT_STR_EQ(r.command_line, "check_disk -w 10% -c 5%\nsecond line");
        nrpe_runner_request_done(&r);
        ASSERT_NULL(r.user);

        static const struct {
                const char *req;
                size_t n;
                const char *why;
        } bad[] = {
                { REQ("muster-check 2\nuser=x\ntimeout=1\n\ntrue"), "not a muster-check request" },
                { REQ(""), "not a muster-check request" },
                { REQ("muster-check 1\ntimeout=1\nuser=x\n\ntrue"), "missing or invalid user= line" },
                { REQ("muster-check 1\nuser=\ntimeout=1\n\ntrue"), "missing or invalid user= line" },
                { REQ("muster-check 1\nuser=x\n\ntrue"), "missing or invalid timeout= line" },
                { REQ("muster-check 1\nuser=x\ntimeout=-1\n\ntrue"), "invalid timeout= value" },
                { REQ("muster-check 1\nuser=x\ntimeout=1x\n\ntrue"), "invalid timeout= value" },
                { REQ("muster-check 1\nuser=x\ntimeout=1\ntrue"), "no empty line" },
                { REQ("muster-check 1\nuser=x\ntimeout=1\n\n"), "empty command line" },
                { REQ("muster-check 1\nuser=x\ntimeout=1\n\ntr\0ue"), "NUL byte" },
                { REQ("muster-check 1\nuser=x"), "missing or invalid user= line" },
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                why = NULL;
                ASSERT_INT_EQ(nrpe_runner_request_parse(bad[i].req, bad[i].n, &r, &why), -EBADMSG);
                ASSERT_STR_CONTAINS(why, bad[i].why);
                ASSERT_NULL(r.user);
        }
        _cleanup_free_ char *huge = malloc(NRPE_RUNNER_REQUEST_MAX + 1);
        ASSERT(huge);
        memset(huge, 'a', NRPE_RUNNER_REQUEST_MAX + 1);
        ASSERT_INT_EQ(nrpe_runner_request_parse(huge, NRPE_RUNNER_REQUEST_MAX + 1, &r, &why), -EBADMSG);
        ASSERT_STR_CONTAINS(why, "too long");
#undef REQ

        ASSERT_INT_EQ(nrpe_runner_format_result(buf, sizeof buf, CLD_EXITED, 2), 8);
        ASSERT_STR_EQ(buf, "exited 2");
        ASSERT_INT_EQ(nrpe_runner_parse_result(buf, strlen(buf), &code, &status), 0);
        ASSERT(code == CLD_EXITED && status == 2);
        ASSERT_INT_EQ(nrpe_runner_format_result(buf, sizeof buf, CLD_KILLED, 9), 8);
        ASSERT_INT_EQ(nrpe_runner_parse_result(buf, strlen(buf), &code, &status), 0);
        ASSERT(code == CLD_KILLED && status == 9);
        ASSERT_INT_EQ(nrpe_runner_parse_result("dumped 11", 9, &code, &status), 0);
        ASSERT(code == CLD_DUMPED && status == 11);
        ASSERT_INT_EQ(nrpe_runner_parse_result("exited 2 ", 9, &code, &status), -EBADMSG);
        ASSERT_INT_EQ(nrpe_runner_parse_result("exited 300", 10, &code, &status), -EBADMSG);
        ASSERT_INT_EQ(nrpe_runner_parse_result("stopped 1", 9, &code, &status), -EBADMSG);
        ASSERT_INT_EQ(nrpe_runner_parse_result("", 0, &code, &status), -EBADMSG);
        ok("check runner protocol: requests and results parsed, malformed ones refused with the reason");
}

static void test_user_resolve_runner(void) {
        _cleanup_free_ char *sock = NULL;
        NrpeUser *u = NULL;
        const char *why = NULL;

        /* A path that is not a socket is refused when named... */
        ASSERT_INT_EQ(nrpe_user_resolve("root", "/nonexistent/check.socket", &u, &why), -ENOENT);
        ASSERT_STR_CONTAINS(why, "does not exist or is not a socket");
        ASSERT_INT_EQ(nrpe_user_resolve("root", "relative.socket", &u, &why), -EINVAL);
        /* ...and a socket is used, whatever this process could do itself. */
        ASSERT(asprintf(&sock, "%s/check.socket", tmpdir) > 0);
        int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        strcpy(sa.sun_path, sock);
        ASSERT(fd >= 0 && bind(fd, (struct sockaddr *) &sa, sizeof sa) == 0);
        ASSERT_INT_EQ(nrpe_user_resolve("root", sock, &u, &why), 0);
        ASSERT_STR_EQ(u->runner, sock);
        ASSERT_STR_EQ(u->name, "root");
        u = nrpe_user_free(u);
        /* "no": never the runner. */
        ASSERT_INT_EQ(nrpe_user_resolve("root", "no", &u, &why), 0);
        ASSERT_NULL(u->runner);
        u = nrpe_user_free(u);
        close(fd);
        unlink(sock);
        ok("nrpe_user_resolve: [nrpe] runner auto, no and a path");
}

int main(int argc, char *argv[]) {
        sigset_t ss;
        unsigned fds_before;

        log_set_target(LOG_TARGET_CONSOLE);
        log_set_max_level(LOG_INFO);

        /* Like the daemon: SIGCHLD (and more) blocked. */
        sigemptyset(&ss);
        sigaddset(&ss, SIGCHLD);
        sigaddset(&ss, SIGTERM);
        sigaddset(&ss, SIGHUP);
        ASSERT(sigprocmask(SIG_BLOCK, &ss, NULL) >= 0);
        alarm(300); /* never hang forever */
        test_begin("the first checks");

        ASSERT(mkdtemp(tmpdir));
        tmpdir_made = true;
        ASSERT(atexit(cleanup_tmpdir) == 0);

        fds_before = count_fds();

        test_name_is_valid();
        test_parse_basic();
        test_parse_spaces_crlf_comments();
        test_parse_override();
        test_parse_invalid();
        test_parse_nul_byte();
        test_parse_unrelated_keys();
        test_parse_real_nrpe_cfg();

        test_load_missing();
        test_load_single_file_and_includes();
        test_load_include_loop();
        test_load_depth_limit();
        test_load_include_dir();
        test_load_unreadable();
        test_parse_buffer_includes();

        test_expand();
        test_expand_denied();
        test_expand_nasty();
        test_expand_whole_words();

        test_output();

        test_run_exit_codes();
        test_run_bad_exit();
        test_run_timeout_kills_group();
        test_run_background_grandchild();
        test_run_output_cap();
        test_run_environment();
        test_run_until_eof();
        test_run_concurrent();
        test_run_abort();
        test_run_errors();
        test_runner_protocol();
        test_user_resolve_runner();

        ASSERT(count_fds() == fds_before);
        ok("no file descriptors leaked");

        printf("1..%u\n", tests_number - 1);
        return EXIT_SUCCESS;
}
