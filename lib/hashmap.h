/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* String-keyed map, open addressing with linear probing and backward-shift
 * deletion: muster's one hash table. Keys are copied (unless the map
 * borrows them); values are borrowed pointers the caller owns. */
typedef struct Hashmap Hashmap;

typedef enum HashmapFlags {
        /* Keys a peer chooses (request ids, signers): hashed with SipHash-2-4
         * under a random key drawn at creation, so that no one can choose keys
         * that collide into one long probe run. Without it, FNV-1a. */
        HASHMAP_KEYED = 1 << 0,
        /* The map keeps the caller's key pointer instead of a copy; the key
         * must stay unchanged while in the map (it usually lives in the value). */
        HASHMAP_BORROW_KEYS = 1 << 1,
} HashmapFlags;

Hashmap *hashmap_new(void);
/* NULL on failure (out of memory, or no randomness for HASHMAP_KEYED), with
 * errno set. */
Hashmap *hashmap_new_full(HashmapFlags flags);
/* free_value (may be NULL) is called on every value. */
Hashmap *hashmap_free(Hashmap *h, void (*free_value)(void *));
int hashmap_put(Hashmap *h, const char *key, void *value);   /* replaces */
/* Make room for n entries at once (no growing on the way). */
int hashmap_reserve(Hashmap *h, size_t n);
void *hashmap_get(const Hashmap *h, const char *key);
/* Remove key; returns its value (NULL when absent). Entries may move: do not
 * remove while iterating. */
void *hashmap_remove(Hashmap *h, const char *key);
/* Remove every entry for which remove(key, value, userdata) returns true;
 * remove() may free the value (and with it a borrowed key) before it
 * returns true. It may be called twice for the same entry when entries move,
 * so it must answer the same for it. Returns how many were removed. */
size_t hashmap_remove_if(Hashmap *h, bool (*remove)(const char *key, void *value, void *userdata), void *userdata);
size_t hashmap_size(const Hashmap *h);
/* Iterate: *i starts at 0; returns false at the end. */
bool hashmap_iterate(const Hashmap *h, size_t *i, const char **ret_key, void **ret_value);

/* SipHash-2-4 of data under a 16-byte key (exposed for its test vectors). */
uint64_t siphash24(const void *data, size_t size, const uint8_t key[static 16]);
