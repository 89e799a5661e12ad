/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The rate limiter that keeps what a peer or an outage can trigger (drops,
 * refused registrations, broker errors) from flooding the journal. */
#include <time.h>

#include "log.h"
#include "tests.h"

#define WINDOW_USEC (500 * 1000)

static void sleep_usec(uint64_t usec) {
        struct timespec ts = { .tv_sec = (time_t) (usec / 1000000), .tv_nsec = (long) (usec % 1000000) * 1000 };
        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static void test_burst_then_suppressed(void) {
        RateLimit rl = RATELIMIT_INIT(WINDOW_USEC, 3);
        unsigned suppressed = 99;

        TEST("ratelimit: the first 3 events of a window are logged, the next 5 suppressed and counted");
        ASSERT_TRUE(ratelimit_below(&rl, &suppressed));
        ASSERT_UINT_EQ(suppressed, 0);   /* no window ended before */
        ASSERT_TRUE(ratelimit_below(&rl, &suppressed));
        ASSERT_TRUE(ratelimit_below(&rl, NULL));
        for (int i = 0; i < 5; i++) {
                ASSERT_FALSE(ratelimit_below(&rl, &suppressed));
                ASSERT_UINT_EQ(suppressed, 0);
        }
        ASSERT_UINT_EQ(rl.suppressed, 5);
        TEST_OK();

        TEST("ratelimit: once the window has passed, the next event is logged and says how many were suppressed");
        sleep_usec(WINDOW_USEC + 50 * 1000);
        ASSERT_TRUE(ratelimit_below(&rl, &suppressed));
        ASSERT_UINT_EQ(suppressed, 5);
        /* A new window: its own burst, and the count starts again. */
        ASSERT_TRUE(ratelimit_below(&rl, &suppressed));
        ASSERT_UINT_EQ(suppressed, 0);
        ASSERT_TRUE(ratelimit_below(&rl, &suppressed));
        ASSERT_FALSE(ratelimit_below(&rl, &suppressed));
        ASSERT_UINT_EQ(rl.suppressed, 1);
        TEST_OK();

        TEST("ratelimit: a quiet window reports no suppressed events");
        sleep_usec(WINDOW_USEC + 50 * 1000);
        ASSERT_TRUE(ratelimit_below(&rl, &suppressed));
        ASSERT_UINT_EQ(suppressed, 1);
        sleep_usec(WINDOW_USEC + 50 * 1000);
        ASSERT_TRUE(ratelimit_below(&rl, &suppressed));
        ASSERT_UINT_EQ(suppressed, 0);
        TEST_OK();
}

static void test_within_window(void) {
        RateLimit rl = RATELIMIT_INIT(60 * 1000000ULL, 10);
        unsigned logged = 0;

        TEST("ratelimit: 10,000 events within one minute-long window: exactly the burst of 10 is logged");
        for (int i = 0; i < 10000; i++)
                logged += ratelimit_below(&rl, NULL);
        ASSERT_UINT_EQ(logged, 10);
        ASSERT_UINT_EQ(rl.suppressed, 10000 - 10);
        TEST_OK();
}

static void test_burst_one(void) {
        RateLimit rl = RATELIMIT_INIT(WINDOW_USEC, 1);

        TEST("ratelimit: burst 1 logs one event per window");
        ASSERT_TRUE(ratelimit_below(&rl, NULL));
        ASSERT_FALSE(ratelimit_below(&rl, NULL));
        sleep_usec(WINDOW_USEC + 50 * 1000);
        ASSERT_TRUE(ratelimit_below(&rl, NULL));
        ASSERT_FALSE(ratelimit_below(&rl, NULL));
        TEST_OK();
}

int main(void) {
        test_burst_then_suppressed();
        test_within_window();
        test_burst_one();
        return EXIT_SUCCESS;
}
