/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdint.h>
#include <sys/random.h>

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
        HashmapFlags flags;
        uint8_t sip_key[16];
};

/* SipHash-2-4 (Aumasson and Bernstein), little-endian words. */
#define ROTL(x, b) (uint64_t) (((x) << (b)) | ((x) >> (64 - (b))))
#define SIPROUND                                                               \
        do {                                                                   \
                v0 += v1; v1 = ROTL(v1, 13); v1 ^= v0; v0 = ROTL(v0, 32);      \
                v2 += v3; v3 = ROTL(v3, 16); v3 ^= v2;                         \
                v0 += v3; v3 = ROTL(v3, 21); v3 ^= v0;                         \
                v2 += v1; v1 = ROTL(v1, 17); v1 ^= v2; v2 = ROTL(v2, 32);      \
        } while (0)

static uint64_t le64(const uint8_t *p) {
        uint64_t v = 0;
        for (int i = 7; i >= 0; i--)
                v = (v << 8) | p[i];
        return v;
}

uint64_t siphash24(const void *data, size_t size, const uint8_t key[static 16]) {
        const uint8_t *in = data;
        uint64_t k0 = le64(key), k1 = le64(key + 8);
        uint64_t v0 = UINT64_C(0x736f6d6570736575) ^ k0;
        uint64_t v1 = UINT64_C(0x646f72616e646f6d) ^ k1;
        uint64_t v2 = UINT64_C(0x6c7967656e657261) ^ k0;
        uint64_t v3 = UINT64_C(0x7465646279746573) ^ k1;
        uint64_t b = (uint64_t) size << 56;
        size_t i;

        for (i = 0; i + 8 <= size; i += 8) {
                uint64_t m = le64(in + i);
                v3 ^= m;
                SIPROUND;
                SIPROUND;
                v0 ^= m;
        }
        for (size_t j = 0; i + j < size; j++)
                b |= (uint64_t) in[i + j] << (8 * j);
        v3 ^= b;
        SIPROUND;
        SIPROUND;
        v0 ^= b;
        v2 ^= 0xff;
        SIPROUND;
        SIPROUND;
        SIPROUND;
        SIPROUND;
        return v0 ^ v1 ^ v2 ^ v3;
}

static uint64_t fnv1a(const char *s) {
        uint64_t h = UINT64_C(1469598103934665603);
        for (; *s; s++)
                h = (h ^ (uint8_t) *s) * UINT64_C(1099511628211);
        return h ^ (h >> 29);
}

static size_t home(const Hashmap *h, const char *key) {
        uint64_t v = h->flags & HASHMAP_KEYED ? siphash24(key, strlen(key), h->sip_key) : fnv1a(key);
        return (size_t) v & (h->n_slots - 1);
}

static int random_key(uint8_t key[static 16]) {
        size_t n = 0;
        while (n < 16) {
                ssize_t k = getrandom(key + n, 16 - n, 0);
                if (k < 0) {
                        if (errno == EINTR)
                                continue;
                        return -errno;
                }
                n += (size_t) k;
        }
        return 0;
}

Hashmap *hashmap_new_full(HashmapFlags flags) {
        Hashmap *h = calloc(1, sizeof *h);
        if (!h)
                return NULL;
        h->flags = flags;
        if (flags & HASHMAP_KEYED) {
                int r = random_key(h->sip_key);
                if (r < 0) {
                        free(h);
                        errno = -r;
                        return NULL;
                }
        }
        h->n_slots = 64;
        h->slots = calloc(h->n_slots, sizeof(Slot));
        if (!h->slots) {
                free(h);
                return NULL;
        }
        return h;
}

Hashmap *hashmap_new(void) {
        return hashmap_new_full(0);
}

static void free_key(const Hashmap *h, char *key) {
        if (!(h->flags & HASHMAP_BORROW_KEYS))
                free(key);
}

Hashmap *hashmap_free(Hashmap *h, void (*free_value)(void *)) {
        if (!h)
                return NULL;
        for (size_t i = 0; i < h->n_slots; i++)
                if (h->slots[i].key) {
                        free_key(h, h->slots[i].key);
                        if (free_value)
                                free_value(h->slots[i].value);
                }
        free(h->slots);
        explicit_bzero(h->sip_key, sizeof h->sip_key);
        free(h);
        return NULL;
}

static Slot *find(const Hashmap *h, const char *key) {
        size_t i = home(h, key);
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
        s->key = h->flags & HASHMAP_BORROW_KEYS ? (char *) key : strdup(key);
        if (!s->key)
                return -ENOMEM;
        s->value = value;
        h->n++;
        return 1;
}

int hashmap_reserve(Hashmap *h, size_t n) {
        while (n * 4 > h->n_slots * 3)
                if (grow(h) < 0)
                        return -ENOMEM;
        return 0;
}

void *hashmap_get(const Hashmap *h, const char *key) {
        Slot *s = find(h, key);
        return s->key ? s->value : NULL;
}

/* Empty slot i (its key already freed) by backward-shift deletion: move
 * later entries of the same probe run into the hole, so that no lookup
 * stops early and no tombstone is needed. */
static void remove_at(Hashmap *h, size_t i) {
        size_t mask = h->n_slots - 1, j = i;

        h->n--;
        for (;;) {
                h->slots[i] = (Slot) {};
                for (;;) {
                        j = (j + 1) & mask;
                        if (!h->slots[j].key)
                                return;
                        size_t k = home(h, h->slots[j].key);
                        /* The entry at j may stay when its home lies cyclically in (i, j]. */
                        bool stays = i <= j ? (i < k && k <= j) : (i < k || k <= j);
                        if (!stays)
                                break;
                }
                h->slots[i] = h->slots[j];
                i = j;
        }
}

void *hashmap_remove(Hashmap *h, const char *key) {
        Slot *s = find(h, key);
        void *v;

        if (!s->key)
                return NULL;
        v = s->value;
        free_key(h, s->key);
        remove_at(h, (size_t) (s - h->slots));
        return v;
}

size_t hashmap_remove_if(Hashmap *h, bool (*remove)(const char *key, void *value, void *userdata), void *userdata) {
        size_t n = 0;

        /* Removing at i moves a later entry into i, so i is looked at again.
         * An entry moved from the start of the table past its end is seen
         * twice; none is skipped. */
        for (size_t i = 0; i < h->n_slots; i++)
                while (h->slots[i].key) {
                        char *key = h->slots[i].key;
                        if (!remove(key, h->slots[i].value, userdata))
                                break;
                        free_key(h, key);
                        remove_at(h, i);
                        n++;
                }
        return n;
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
