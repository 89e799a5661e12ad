/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdint.h>

#include "hashmap.h"
#include "macro.h"

typedef struct Slot {
        char *key;
        void *value;
} Slot;

struct Hashmap {
        Slot *slots;
        size_t n_slots;   /* power of two */
        size_t n;
};

static uint64_t hash(const char *s) {
        uint64_t h = UINT64_C(1469598103934665603);
        for (; *s; s++)
                h = (h ^ (uint8_t) *s) * UINT64_C(1099511628211);
        return h ^ (h >> 29);
}

Hashmap *hashmap_new(void) {
        Hashmap *h = calloc(1, sizeof *h);
        if (!h)
                return NULL;
        h->n_slots = 64;
        h->slots = calloc(h->n_slots, sizeof(Slot));
        if (!h->slots) {
                free(h);
                return NULL;
        }
        return h;
}

Hashmap *hashmap_free(Hashmap *h, void (*free_value)(void *)) {
        if (!h)
                return NULL;
        for (size_t i = 0; i < h->n_slots; i++)
                if (h->slots[i].key) {
                        free(h->slots[i].key);
                        if (free_value)
                                free_value(h->slots[i].value);
                }
        free(h->slots);
        free(h);
        return NULL;
}

static Slot *find(const Hashmap *h, const char *key) {
        size_t i = hash(key) & (h->n_slots - 1);
        while (h->slots[i].key && !streq(h->slots[i].key, key))
                i = (i + 1) & (h->n_slots - 1);
        return &h->slots[i];
}

static int grow(Hashmap *h) {
        size_t old_n = h->n_slots;
        Slot *old = h->slots;

        h->slots = calloc(old_n * 2, sizeof(Slot));
        if (!h->slots) {
                h->slots = old;
                return -ENOMEM;
        }
        h->n_slots = old_n * 2;
        for (size_t i = 0; i < old_n; i++)
                if (old[i].key)
                        *find(h, old[i].key) = old[i];
        free(old);
        return 0;
}

int hashmap_put(Hashmap *h, const char *key, void *value) {
        Slot *s = find(h, key);
        if (s->key) {
                s->value = value;
                return 0;
        }
        if ((h->n + 1) * 4 > h->n_slots * 3) {
                if (grow(h) < 0)
                        return -ENOMEM;
                s = find(h, key);
        }
        s->key = strdup(key);
        if (!s->key)
                return -ENOMEM;
        s->value = value;
        h->n++;
        return 1;
}

void *hashmap_get(const Hashmap *h, const char *key) {
        Slot *s = find(h, key);
        return s->key ? s->value : NULL;
}

void *hashmap_remove(Hashmap *h, const char *key) {
        size_t mask = h->n_slots - 1, i, j;
        Slot *s = find(h, key);
        void *v;

        if (!s->key)
                return NULL;
        v = s->value;
        free(s->key);
        h->n--;
        /* Backward-shift deletion: move later entries of the same probe run
         * into the hole, so that no lookup stops early and no tombstone
         * is needed. */
        i = j = (size_t) (s - h->slots);
        for (;;) {
                h->slots[i] = (Slot) {};
                for (;;) {
                        j = (j + 1) & mask;
                        if (!h->slots[j].key)
                                return v;
                        size_t home = hash(h->slots[j].key) & mask;
                        /* The entry at j may stay when its home lies cyclically in (i, j]. */
                        bool stays = i <= j ? (i < home && home <= j) : (i < home || home <= j);
                        if (!stays)
                                break;
                }
                h->slots[i] = h->slots[j];
                i = j;
        }
}

size_t hashmap_size(const Hashmap *h) {
        return h->n;
}

bool hashmap_iterate(const Hashmap *h, size_t *i, const char **ret_key, void **ret_value) {
        for (; *i < h->n_slots; (*i)++)
                if (h->slots[*i].key) {
                        if (ret_key)
                                *ret_key = h->slots[*i].key;
                        if (ret_value)
                                *ret_value = h->slots[*i].value;
                        (*i)++;
                        return true;
                }
        return false;
}
