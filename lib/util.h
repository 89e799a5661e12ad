/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "macro.h"

/* Checked number parsing: whole string, no sign surprises, range checked.
 * All return 0 or -EINVAL / -ERANGE. */
int parse_uint64(const char *s, uint64_t *ret);
int parse_uint(const char *s, unsigned *ret);
int parse_int_range(const char *s, long min, long max, long *ret);
/* "30", "30s", "5min", "1h 30min", "250ms", "2d": returns microseconds.
 * A bare number is seconds. */
int parse_duration(const char *s, uint64_t *ret_usec);
/* "1048576", "512K", "1M", "1MiB", "2G": bytes, 1024-based. */
int parse_size(const char *s, uint64_t *ret);
int parse_boolean(const char *s);
/* Format a duration for humans, e.g. "5min", "30s", "1.5s". */
char *format_duration(char *buf, size_t n, uint64_t usec);

/* strv: NULL-terminated arrays of malloc'd strings. */
size_t strv_length(char *const *l);
/* Make room for at least need elements of size bytes in *p, whose capacity
 * *alloc counts; the capacity doubles (at least 64), so n appends cost O(n). */
int greedy_realloc(void **p, size_t *alloc, size_t need, size_t size);
#define GREEDY_REALLOC(array, alloc, need) greedy_realloc((void **) &(array), &(alloc), (need), sizeof *(array))

int strv_push(char ***l, char *s);           /* takes ownership of s on success */
int strv_extend(char ***l, const char *s);   /* copies s */
/* Append a formatted string to *l; l NULL: nothing (how the library hands
 * warnings up to a caller that may not want them). */
int strv_pushf(char ***l, const char *format, ...) _printf_(2, 3);
bool strv_contains(char *const *l, const char *s);
void strv_free(char **l);
void strv_sort(char **l);

char *strstrip(char *s);
bool startswith(const char *s, const char *prefix);
bool endswith(const char *s, const char *suffix);

/* Identity rules of DESIGN.md: [A-Za-z0-9._-], 1..255 bytes, no leading dot. */
bool identity_is_valid(const char *s);
/* Names used in routing keys and config (collective, agent, action, command):
 * [A-Za-z0-9_-], 1..max bytes. */
bool name_is_valid(const char *s, size_t max);
bool utf8_is_valid(const char *s, size_t n);
/* Copy of p[0..n) with NUL bytes and invalid UTF-8 replaced by '?'. */
char *utf8_sanitize(const char *p, size_t n);

/* Lowercase hex of p[0..n) into ret, which holds 2 * n + 1 bytes; returns ret. */
char *hex_encode(const void *p, size_t n, char *ret);
int hex_decode(const char *s, uint8_t *buf, size_t n);
int random_bytes(void *p, size_t n);
int random_hex_id(char ret[static 33]);

/* Read a whole file (at most max bytes, -EFBIG beyond). */
int read_full_file(const char *path, size_t max, char **ret, size_t *ret_size);
/* Read the first line of a file, stripped; for secret files. */
int read_one_line_file(const char *path, char **ret);

/* List regular files in dir whose names end with suffix, sorted, as full
 * paths. Missing dir: empty list. */
int dir_list_sorted(const char *dir, const char *suffix, char ***ret);
