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

int main(void) {
        test_put_get_remove();
        return 0;
}
