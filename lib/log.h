/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <syslog.h>

#include "macro.h"

typedef enum LogTarget {
        LOG_TARGET_AUTO,     /* journal when stderr is connected to it, console otherwise */
        LOG_TARGET_JOURNAL,
        LOG_TARGET_CONSOLE,  /* stderr, "<N>" priority prefix */
        LOG_TARGET_SYSLOG,
        _LOG_TARGET_MAX,
        _LOG_TARGET_INVALID = -EINVAL,
} LogTarget;

/* ident: SYSLOG_IDENTIFIER. daemon: whether console lines start with the
 * "<N>" priority (daemons) or with "ident: " (interactive tools). */
void log_setup(const char *ident, bool daemon);
void log_set_target(LogTarget target);
LogTarget log_get_effective_target(void);
void log_set_max_level(int level);
int log_get_max_level(void);
LogTarget log_target_from_string(const char *s);
const char *log_target_to_string(LogTarget t);
int log_level_from_string(const char *s);

int log_internal(int level, int error, const char *file, int line, const char *func,
                 const char *format, ...) _printf_(6, 7);

/* kv: NULL-terminated list of alternating "FIELD", "value" pairs; a NULL value
 * skips its field. */
int log_struct_internal(int level, int error, const char *file, int line, const char *func,
                        const char *message_id, const char *const *kv,
                        const char *format, ...) _printf_(8, 9);

#define KV(...) ((const char *const[]) { __VA_ARGS__, NULL })

#define log_full_errno(level, error, ...)                                      \
        ({                                                                     \
                int _l = (level), _e = (error);                                \
                (log_get_max_level() >= _l)                                    \
                        ? log_internal(_l, _e, __FILE__, __LINE__, __func__, __VA_ARGS__) \
                        : -abs(_e);                                            \
        })
#define log_full(level, ...) (void) log_full_errno(level, 0, __VA_ARGS__)

#define log_debug(...)   log_full(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)    log_full(LOG_INFO, __VA_ARGS__)
#define log_notice(...)  log_full(LOG_NOTICE, __VA_ARGS__)
#define log_warning(...) log_full(LOG_WARNING, __VA_ARGS__)
#define log_error(...)   log_full(LOG_ERR, __VA_ARGS__)

#define log_debug_errno(e, ...)   log_full_errno(LOG_DEBUG, e, __VA_ARGS__)
#define log_info_errno(e, ...)    log_full_errno(LOG_INFO, e, __VA_ARGS__)
#define log_notice_errno(e, ...)  log_full_errno(LOG_NOTICE, e, __VA_ARGS__)
#define log_warning_errno(e, ...) log_full_errno(LOG_WARNING, e, __VA_ARGS__)
#define log_error_errno(e, ...)   log_full_errno(LOG_ERR, e, __VA_ARGS__)

#define log_oom() log_error_errno(-ENOMEM, "Out of memory.")

/* Log each sentence of the strv l, which a loader handed up, as a warning. */
#define log_warnings(l)                                                        \
        do {                                                                   \
                for (char *const *_w = (l); _w && *_w; _w++)                   \
                        log_warning("%s", *_w);                                \
        } while (0)

#define log_struct(level, error, message_id, kv, ...)                          \
        log_struct_internal(level, error, __FILE__, __LINE__, __func__, message_id, kv, __VA_ARGS__)

/* Rate limiting for anything a peer or an outage can trigger. */
typedef struct RateLimit {
        uint64_t interval_usec;
        unsigned burst;
        uint64_t begin;
        unsigned num;
        unsigned suppressed;
} RateLimit;

#define RATELIMIT_INIT(interval, b) { .interval_usec = (interval), .burst = (b) }

/* Returns true when the event may be logged. *ret_suppressed (optional) is
 * set to the number of events suppressed in the window that just ended. */
bool ratelimit_below(RateLimit *rl, unsigned *ret_suppressed);

uint64_t now_usec(int clock);

/* Re-arm a timer event source from its own callback: timer sources are
 * one-shot, so set the time and enable it again. */
typedef struct sd_event_source sd_event_source;
int event_source_rearm(sd_event_source *s, uint64_t usec);
