/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdint.h>

#include "hashmap.h"
#include "macro.h"
#include "tests.h"

static void test_put_get_remove(void) {
        Hashmap *h = hashmap_new();
        char key[32];
        const size_t n = 5000;

        TEST("hashmap: put, get and remove 5,000 keys, every other one removed");
        ASSERT_NOT_NULL(h);
        for (size_t i = 0; i < n; i++) {
                snprintf(key, sizeof key, "node%zu.example.com", i);
                ASSERT_INT_EQ(hashmap_put(h, key, (void *) (uintptr_t) (i + 1)), 1);
        }
        ASSERT_INT_EQ(hashmap_size(h), n);
        ASSERT_INT_EQ(hashmap_put(h, "node7.example.com", (void *) (uintptr_t) 8), 0);
        for (size_t i = 0; i < n; i += 2) {
                snprintf(key, sizeof key, "node%zu.example.com", i);
                ASSERT_INT_EQ((uintptr_t) hashmap_remove(h, key), i + 1);
                ASSERT_NULL(hashmap_remove(h, key));
        }
        ASSERT_INT_EQ(hashmap_size(h), n / 2);
        /* Every remaining key is still found after the shifts, and only those. */
        for (size_t i = 0; i < n; i++) {
                snprintf(key, sizeof key, "node%zu.example.com", i);
                void *v = hashmap_get(h, key);
                if (i % 2)
                        ASSERT_INT_EQ((uintptr_t) v, i + 1);
                else
                        ASSERT_NULL(v);
        }
        size_t it = 0, seen = 0;
        while (hashmap_iterate(h, &it, NULL, NULL))
                seen++;
        ASSERT_INT_EQ(seen, n / 2);
        /* Removed keys can be put again. */
        ASSERT_INT_EQ(hashmap_put(h, "node0.example.com", (void *) (uintptr_t) 1), 1);
        ASSERT_INT_EQ((uintptr_t) hashmap_get(h, "node0.example.com"), 1);
        ASSERT_NULL(hashmap_remove(h, "never-there"));
        hashmap_free(h, NULL);
        TEST_OK();
}

typedef struct Item {
        int n;
        char key[40];
} Item;

static bool item_is_odd(const char *key, void *value, void *userdata) {
        Item *it = value;
        size_t *freed = userdata;

        if (it->n % 2 == 0)
                return false;
        free(it);   /* the map borrowed its key from here */
        (*freed)++;
        return true;
}

static void test_keyed_borrowed_remove_if(void) {
        Hashmap *h = hashmap_new_full(HASHMAP_KEYED | HASHMAP_BORROW_KEYS);
        const int n = 20000;
        size_t freed = 0;

        TEST("hashmap: a keyed map borrowing its keys; remove_if drops exactly the odd 10,000 of 20,000");
        ASSERT_NOT_NULL(h);
        for (int i = 0; i < n; i++) {
                Item *it = calloc(1, sizeof *it);
                ASSERT_NOT_NULL(it);
                it->n = i;
                snprintf(it->key, sizeof it->key, "%08x%024x", (unsigned) i * 2654435761u, (unsigned) i);
                ASSERT_INT_EQ(hashmap_put(h, it->key, it), 1);
        }
        ASSERT_INT_EQ(hashmap_remove_if(h, item_is_odd, &freed), n / 2);
        ASSERT_INT_EQ(freed, n / 2);
        ASSERT_INT_EQ(hashmap_size(h), n / 2);
        for (int i = 0; i < n; i++) {
                char key[40];
                snprintf(key, sizeof key, "%08x%024x", (unsigned) i * 2654435761u, (unsigned) i);
                Item *it = hashmap_get(h, key);
                if (i % 2)
                        ASSERT_NULL(it);
                else {
                        ASSERT_NOT_NULL(it);
                        ASSERT_INT_EQ(it->n, i);
                }
        }
        ASSERT_INT_EQ(hashmap_remove_if(h, item_is_odd, &freed), 0);
        hashmap_free(h, free);
        TEST_OK();
}

int main(void) {
        test_put_get_remove();
        test_keyed_borrowed_remove_if();
        return 0;
}
