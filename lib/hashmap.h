/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>

/* String-keyed map, open addressing with linear probing. Keys are copied;
 * values are borrowed pointers the caller owns. */
typedef struct Hashmap Hashmap;

Hashmap *hashmap_new(void);
/* free_value (may be NULL) is called on every value. */
Hashmap *hashmap_free(Hashmap *h, void (*free_value)(void *));
int hashmap_put(Hashmap *h, const char *key, void *value);   /* replaces */
void *hashmap_get(const Hashmap *h, const char *key);
/* Remove key; returns its value (NULL when absent). Entries may move: do not
 * remove while iterating. */
void *hashmap_remove(Hashmap *h, const char *key);
size_t hashmap_size(const Hashmap *h);
/* Iterate: *i starts at 0; returns false at the end. */
bool hashmap_iterate(const Hashmap *h, size_t *i, const char **ret_key, void **ret_value);
