/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdarg.h>
#include <stdio.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <time.h>

#define SD_JOURNAL_SUPPRESS_LOCATION 1
#include <systemd/sd-event.h>
#include <systemd/sd-journal.h>

#include "log.h"

static const char *log_ident = "muster";
static bool log_daemon = false;
static LogTarget log_target = LOG_TARGET_AUTO;
static int log_max_level = LOG_INFO;
static int journal_connected = -1; /* cached "stderr is the journal" */
static bool syslog_opened = false;

static const char *const target_table[_LOG_TARGET_MAX] = {
        [LOG_TARGET_AUTO] = "auto",
        [LOG_TARGET_JOURNAL] = "journal",
        [LOG_TARGET_CONSOLE] = "console",
        [LOG_TARGET_SYSLOG] = "syslog",
};

static const char *const level_table[] = {
        [LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit",
        [LOG_ERR] = "err", [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
        [LOG_INFO] = "info", [LOG_DEBUG] = "debug",
};

LogTarget log_target_from_string(const char *s) {
        for (int i = 0; i < _LOG_TARGET_MAX; i++)
                if (streq(s, target_table[i]))
                        return i;
        return _LOG_TARGET_INVALID;
}

const char *log_target_to_string(LogTarget t) {
        return t >= 0 && t < _LOG_TARGET_MAX ? target_table[t] : NULL;
}

int log_level_from_string(const char *s) {
        for (size_t i = 0; i < ELEMENTSOF(level_table); i++)
                if (streq(s, level_table[i]))
                        return (int) i;
        if (streq(s, "error"))
                return LOG_ERR;
        return -EINVAL;
}

void log_setup(const char *ident, bool daemon) {
        log_ident = ident;
        log_daemon = daemon;
        const char *e = getenv("MUSTER_LOG_LEVEL");
        if (e) {
                int l = log_level_from_string(e);
                if (l >= 0)
                        log_max_level = l;
        }
        e = getenv("MUSTER_LOG_TARGET");
        if (e) {
                LogTarget t = log_target_from_string(e);
                if (t >= 0)
                        log_target = t;
        }
}

void log_set_target(LogTarget target) {
        log_target = target;
}

void log_set_max_level(int level) {
        log_max_level = level;
}

int log_get_max_level(void) {
        return log_max_level;
}

/* Like systemd: stderr goes to the journal when $JOURNAL_STREAM names the
 * device and inode of our stderr. */
static bool stderr_is_journal(void) {
        if (journal_connected >= 0)
                return journal_connected;

        journal_connected = false;
        const char *e = getenv("JOURNAL_STREAM");
        if (!e)
                return false;
        unsigned long long dev, ino;
        if (sscanf(e, "%llu:%llu", &dev, &ino) != 2)
                return false;
        struct stat st;
        if (fstat(STDERR_FILENO, &st) < 0)
                return false;
        journal_connected = st.st_dev == dev && st.st_ino == ino;
        return journal_connected;
}

LogTarget log_get_effective_target(void) {
        if (log_target == LOG_TARGET_AUTO)
                return stderr_is_journal() ? LOG_TARGET_JOURNAL : LOG_TARGET_CONSOLE;
        return log_target;
}

static void write_console(int level, const char *msg) {
        char buf[LINE_MAX + 64];
        int n;

        if (log_daemon)
                n = snprintf(buf, sizeof buf, "<%d>%s\n", level, msg);
        else
                n = snprintf(buf, sizeof buf, "%s: %s\n", log_ident, msg);
        if (n < 0)
                return;
        if ((size_t) n >= sizeof buf) {
                n = sizeof buf - 1;
                buf[n - 1] = '\n';
        }
        /* One write() per line so that concurrent writers do not interleave. */
        (void) !write(STDERR_FILENO, buf, n);
}

static int log_dispatch(int level, int error, const char *file, int line, const char *func,
                        const char *message_id, const char *const *kv, const char *msg) {
        LogTarget t = log_get_effective_target();

        if (t == LOG_TARGET_JOURNAL) {
                struct iovec iov[64];
                char *allocated[64];
                size_t n = 0, na = 0;
                int r;

#define ADDF(...)                                                              \
                do {                                                           \
                        char *_s;                                              \
                        if (n < ELEMENTSOF(iov) && asprintf(&_s, __VA_ARGS__) >= 0) { \
                                allocated[na++] = _s;                          \
                                iov[n++] = (struct iovec) { _s, strlen(_s) };  \
                        }                                                      \
                } while (0)

                ADDF("MESSAGE=%s", msg);
                ADDF("PRIORITY=%d", level);
                ADDF("SYSLOG_IDENTIFIER=%s", log_ident);
                ADDF("CODE_FILE=%s", file);
                ADDF("CODE_LINE=%d", line);
                ADDF("CODE_FUNC=%s", func);
                if (error != 0)
                        ADDF("ERRNO=%d", abs(error));
                if (message_id)
                        ADDF("MESSAGE_ID=%s", message_id);
                if (kv)
                        for (size_t i = 0; kv[i] && n < ELEMENTSOF(iov) - 1; i += 2)
                                if (kv[i + 1])
                                        ADDF("%s=%s", kv[i], kv[i + 1]);
#undef ADDF
                r = sd_journal_sendv(iov, n);
                for (size_t i = 0; i < na; i++)
                        free(allocated[i]);
                if (r >= 0)
                        return 0;
                /* Journal gone: fall back to stderr. */
        } else if (t == LOG_TARGET_SYSLOG) {
                if (!syslog_opened) {
                        openlog(log_ident, LOG_PID | LOG_NDELAY, LOG_DAEMON);
                        syslog_opened = true;
                }
                syslog(level, "%s", msg);
                return 0;
        }

        write_console(level, msg);
        return 0;
}

_printf_(8, 0)
static int log_vformat(int level, int error, const char *file, int line, const char *func,
                       const char *message_id, const char *const *kv, const char *format, va_list ap) {
        char msg[LINE_MAX];
        int saved_errno = errno;

        /* %m prints the error we were given, not whatever errno happens to be. */
        if (error != 0)
                errno = abs(error);
        vsnprintf(msg, sizeof msg, format, ap);

        /* Never let a peer's bytes forge extra lines. */
        for (char *p = msg; *p; p++)
                if ((unsigned char) *p < ' ' && *p != '\t')
                        *p = ' ';

        log_dispatch(level, error, file, line, func, message_id, kv, msg);
        errno = saved_errno;
        return -abs(error);
}

int log_internal(int level, int error, const char *file, int line, const char *func,
                 const char *format, ...) {
        va_list ap;
        int r;

        if (level > log_max_level)
                return -abs(error);
        va_start(ap, format);
        r = log_vformat(level, error, file, line, func, NULL, NULL, format, ap);
        va_end(ap);
        return r;
}

int log_struct_internal(int level, int error, const char *file, int line, const char *func,
                        const char *message_id, const char *const *kv, const char *format, ...) {
        va_list ap;
        int r;

        if (level > log_max_level)
                return -abs(error);
        va_start(ap, format);
        r = log_vformat(level, error, file, line, func, message_id, kv, format, ap);
        va_end(ap);
        return r;
}

uint64_t now_usec(int clock) {
        struct timespec ts;
        clock_gettime(clock, &ts);
        return (uint64_t) ts.tv_sec * USEC_PER_SEC + (uint64_t) ts.tv_nsec / NSEC_PER_USEC;
}

bool ratelimit_below(RateLimit *rl, unsigned *ret_suppressed) {
        uint64_t ts = now_usec(CLOCK_MONOTONIC);

        if (ret_suppressed)
                *ret_suppressed = 0;
        if (rl->begin == 0 || ts - rl->begin > rl->interval_usec) {
                if (ret_suppressed)
                        *ret_suppressed = rl->suppressed;
                rl->begin = ts;
                rl->num = 1;
                rl->suppressed = 0;
                return true;
        }
        if (rl->num < rl->burst) {
                rl->num++;
                return true;
        }
        rl->suppressed++;
        return false;
}

int event_source_rearm(sd_event_source *s, uint64_t usec) {
        int r = sd_event_source_set_time_relative(s, usec);
        if (r < 0)
                return r;
        return sd_event_source_set_enabled(s, SD_EVENT_ONESHOT);
}
