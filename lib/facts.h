/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <jansson.h>

/* Load every fact file of dir, in lexical order, later files winning, into
 * one JSON object whose values are all strings.
 *  - "*.json": a JSON object; string values are kept, numbers and booleans
 *    become their JSON text ("4", "true"), null and nested values are
 *    skipped (logged at debug level).
 *  - any other regular file not starting with '.': "key=value" lines;
 *    blank lines and lines starting with '#' are skipped; key and value are
 *    stripped of surrounding white space; a line without '=' or with an
 *    empty key is skipped with a warning naming file:line.
 *  Keys must be 1..128 chars from [A-Za-z0-9_.:-]; values valid UTF-8 up to
 *  4096 bytes; others skipped with a warning naming file:line.
 * A missing dir is -ENOENT (a typo must not leave a node without facts,
 * silently outside every filter); an empty one yields an empty object. */
int facts_load_dir(const char *dir, json_t **ret);

/* Parse one key=value buffer into obj (exposed for tests and the fuzzer).
 * name is used in warnings. */
int facts_parse_kv(json_t *obj, const char *name, const char *buf, size_t n);

/* Load a classes file (Puppet's classes.txt: one class per line, blank lines
 * skipped). A missing file yields an empty list (NULL-terminated, may be NULL). */
int classes_load(const char *path, char ***ret);
