/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <sys/stat.h>

#include "macro.h"
#include "tests.h"
#include "util.h"

static char tmpdir[] = "/tmp/test-util-XXXXXX";
static bool tmpdir_made;

static void cleanup_tmpdir(void) {
        if (tmpdir_made)
                tests_rm_rf(tmpdir);
        tmpdir_made = false;
}

#define SEC(x) ((uint64_t) (x) * USEC_PER_SEC)

/* parse_duration() must succeed with exactly want microseconds. */
#define DURATION_OK(s, want)                                                   \
        do {                                                                   \
                uint64_t _v = UINT64_C(0xdeadbeef);                            \
                ASSERT_INT_EQ(parse_duration(s, &_v), 0);                      \
                ASSERT_UINT_EQ(_v, want);                                      \
        } while (0)

/* parse_duration() must fail with err and leave the output alone. */
#define DURATION_BAD(s, err)                                                   \
        do {                                                                   \
                uint64_t _v = UINT64_C(0xdeadbeef);                            \
                ASSERT_INT_EQ(parse_duration(s, &_v), err);                    \
                ASSERT_UINT_EQ(_v, UINT64_C(0xdeadbeef));                      \
        } while (0)

static void test_parse_duration(void) {
        TEST("parse_duration: plain numbers and single units");
        DURATION_OK("30", SEC(30));
        DURATION_OK("0", 0);
        DURATION_OK("30s", SEC(30));
        DURATION_OK("30sec", SEC(30));
        DURATION_OK("5min", SEC(300));
        DURATION_OK("1h", SEC(3600));
        DURATION_OK("2d", SEC(2 * 86400));
        DURATION_OK("250ms", 250 * USEC_PER_MSEC);
        DURATION_OK("7us", 7);
        TEST_OK();

        TEST("parse_duration: sums and fractions");
        DURATION_OK("1h 30min", SEC(5400));
        DURATION_OK("1h30min", SEC(5400));
        DURATION_OK("1min 1s 1ms", SEC(61) + USEC_PER_MSEC);
        DURATION_OK("1.5s", 1500 * USEC_PER_MSEC);
        DURATION_OK("0.5min", SEC(30));
        DURATION_OK("1.5d", SEC(129600));
        DURATION_OK("1.5", 1500 * USEC_PER_MSEC);
        TEST_OK();

        TEST("parse_duration: rejects garbage");
        DURATION_BAD("", -EINVAL);
        DURATION_BAD(" ", -EINVAL);
        DURATION_BAD("s", -EINVAL);
        DURATION_BAD("-1", -EINVAL);
        DURATION_BAD("+1", -EINVAL);
        DURATION_BAD("5 parsecs", -EINVAL);
        DURATION_BAD("5parsecs", -EINVAL);
        DURATION_BAD("1e3", -EINVAL);
        DURATION_BAD("1.", -EINVAL);
        DURATION_BAD(".5s", -EINVAL);
        DURATION_BAD("1..5s", -EINVAL);
        DURATION_BAD("1h,30min", -EINVAL);
        DURATION_BAD("0x10", -EINVAL);
        ASSERT_INT_EQ(parse_duration(NULL, &(uint64_t) { 0 }), -EINVAL);
        TEST_OK();

        TEST("parse_duration: overflow is -ERANGE, never a wrapped value");
        DURATION_BAD("99999999999999999999", -ERANGE);
        DURATION_BAD("18446744073709551615", -ERANGE);     /* seconds: * 10^6 overflows */
        DURATION_BAD("18446744073709551615us 1us", -ERANGE);
        DURATION_BAD("213503983d", -ERANGE);               /* first whole day count past 2^64 us */
        DURATION_BAD("213503982d 1d", -ERANGE);
        DURATION_OK("213503982d", UINT64_C(213503982) * SEC(86400));
        TEST_OK();

        TEST("format_duration");
        char buf[64];
        ASSERT_STR_EQ(format_duration(buf, sizeof buf, SEC(300)), "5min");
        ASSERT_STR_EQ(format_duration(buf, sizeof buf, SEC(30)), "30s");
        ASSERT_STR_EQ(format_duration(buf, sizeof buf, SEC(7200)), "2h");
        ASSERT_STR_EQ(format_duration(buf, sizeof buf, 250 * USEC_PER_MSEC), "250ms");
        ASSERT_STR_EQ(format_duration(buf, sizeof buf, 0), "0s");
        /* whatever it prints parses back to the same value */
        static const uint64_t values[] = { 0, 1, 999, USEC_PER_MSEC, 1500 * USEC_PER_MSEC, SEC(1), SEC(59),
                                           SEC(90), SEC(3600), SEC(5400), SEC(86400), SEC(2 * 86400) + 1,
                                           UINT64_C(123456789012) };
        for (size_t i = 0; i < ELEMENTSOF(values); i++) {
                uint64_t back = UINT64_MAX;
                format_duration(buf, sizeof buf, values[i]);
                if (parse_duration(buf, &back) != 0 || back != values[i])
                        test_fail(__FILE__, __LINE__, "format_duration(%" PRIu64 ") = \"%s\" parses back to %" PRIu64,
                                  values[i], buf, back);
        }
        TEST_OK();
}

/* Run last: fails with lib/util.c as of writing (frac_num * mult overflows
 * for days with 9 decimals, and whole * mult + fraction is not range checked). */
static void test_parse_duration_fraction_overflow(void) {
        TEST("parse_duration: fractions of large units do not overflow");
        DURATION_OK("0.999999999h", UINT64_C(3599999996));
        /* 0.25 days written with nine decimals is 6 hours. */
        DURATION_OK("0.250000000d", SEC(6 * 3600));
        /* 1.999999999 d = 172799.9999136 s, truncated to whole microseconds. */
        DURATION_OK("1.999999999d", UINT64_C(172799999913));
        /* The fraction pushes the total past 2^64 us: must not wrap around. */
        DURATION_BAD("213503982.5d", -ERANGE);
        TEST_OK();
}

#define SIZE_OK(s, want)                                                       \
        do {                                                                   \
                uint64_t _v = 0;                                               \
                ASSERT_INT_EQ(parse_size(s, &_v), 0);                          \
                ASSERT_UINT_EQ(_v, want);                                      \
        } while (0)

#define SIZE_BAD(s, err)                                                       \
        do {                                                                   \
                uint64_t _v = 4242;                                            \
                ASSERT_INT_EQ(parse_size(s, &_v), err);                        \
                ASSERT_UINT_EQ(_v, 4242);                                      \
        } while (0)

static void test_parse_size(void) {
        TEST("parse_size: bytes and 1024-based suffixes");
        SIZE_OK("0", 0);
        SIZE_OK("1048576", 1048576);
        SIZE_OK("512K", 512 * 1024);
        SIZE_OK("1M", 1 << 20);
        SIZE_OK("1MiB", 1 << 20);
        SIZE_OK("64KiB", 64 * 1024);
        SIZE_OK("2G", UINT64_C(2) << 30);
        SIZE_OK("3T", UINT64_C(3) << 40);
        SIZE_OK("16777215T", UINT64_C(16777215) << 40);
        TEST_OK();

        TEST("parse_size: rejects garbage and overflow");
        SIZE_BAD("", -EINVAL);
        SIZE_BAD("M", -EINVAL);
        SIZE_BAD("-1", -EINVAL);
        SIZE_BAD("+1", -EINVAL);
        SIZE_BAD(" 1", -EINVAL);
        SIZE_BAD("1.5M", -EINVAL);
        SIZE_BAD("1X", -EINVAL);
        SIZE_BAD("1Mi", -EINVAL);
        SIZE_BAD("1MiBs", -EINVAL);
        SIZE_BAD("1e6", -EINVAL);
        SIZE_BAD("16777216T", -ERANGE);
        SIZE_BAD("99999999999999999999", -ERANGE);
        TEST_OK();
}

static void test_parse_boolean(void) {
        TEST("parse_boolean");
        static const char *const yes[] = { "1", "yes", "y", "true", "t", "on", "YES", "True", "ON" };
        static const char *const no[] = { "0", "no", "n", "false", "f", "off", "NO", "False", "Off" };
        static const char *const bad[] = { "", "maybe", "2", "yes ", " no", "ja", "01" };
        for (size_t i = 0; i < ELEMENTSOF(yes); i++)
                ASSERT_INT_EQ(parse_boolean(yes[i]), 1);
        for (size_t i = 0; i < ELEMENTSOF(no); i++)
                ASSERT_INT_EQ(parse_boolean(no[i]), 0);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                ASSERT_INT_EQ(parse_boolean(bad[i]), -EINVAL);
        TEST_OK();
}

#define U64_OK(s, want)                                                        \
        do {                                                                   \
                uint64_t _v = 0;                                               \
                ASSERT_INT_EQ(parse_uint64(s, &_v), 0);                        \
                ASSERT_UINT_EQ(_v, want);                                      \
        } while (0)

#define U64_BAD(s, err)                                                        \
        do {                                                                   \
                uint64_t _v = 4242;                                            \
                ASSERT_INT_EQ(parse_uint64(s, &_v), err);                      \
                ASSERT_UINT_EQ(_v, 4242);                                      \
        } while (0)

static void test_parse_numbers(void) {
        TEST("parse_uint64: whole string, no sign, range checked");
        U64_OK("0", 0);
        U64_OK("42", 42);
        U64_OK("007", 7);
        U64_OK("18446744073709551615", UINT64_MAX);
        U64_BAD("18446744073709551616", -ERANGE);
        U64_BAD("99999999999999999999999", -ERANGE);
        U64_BAD("", -EINVAL);
        U64_BAD("+1", -EINVAL);
        U64_BAD("-1", -EINVAL);
        U64_BAD("-0", -EINVAL);
        U64_BAD(" 1", -EINVAL);
        U64_BAD("1 ", -EINVAL);
        U64_BAD("\t1", -EINVAL);
        U64_BAD("1x", -EINVAL);
        U64_BAD("0x10", -EINVAL);
        U64_BAD("1.0", -EINVAL);
        ASSERT_INT_EQ(parse_uint64(NULL, &(uint64_t) { 0 }), -EINVAL);
        TEST_OK();

        TEST("parse_uint and parse_int_range");
        unsigned u = 7;
        ASSERT_INT_EQ(parse_uint("4294967295", &u), 0);
        ASSERT_UINT_EQ(u, UINT_MAX);
        u = 7;
        ASSERT_INT_EQ(parse_uint("4294967296", &u), -ERANGE);
        ASSERT_UINT_EQ(u, 7);
        ASSERT_INT_EQ(parse_uint("-1", &u), -EINVAL);
        ASSERT_UINT_EQ(u, 7);

        long l = 99;
        ASSERT_INT_EQ(parse_int_range("-5", -10, 10, &l), 0);
        ASSERT_INT_EQ(l, -5);
        l = 99;
        ASSERT_INT_EQ(parse_int_range("11", -10, 10, &l), -ERANGE);
        ASSERT_INT_EQ(parse_int_range("-11", -10, 10, &l), -ERANGE);
        ASSERT_INT_EQ(parse_int_range(" 1", -10, 10, &l), -EINVAL);
        ASSERT_INT_EQ(parse_int_range("1 ", -10, 10, &l), -EINVAL);
        ASSERT_INT_EQ(parse_int_range("", -10, 10, &l), -EINVAL);
        ASSERT_INT_EQ(parse_int_range("99999999999999999999", LONG_MIN, LONG_MAX, &l), -ERANGE);
        ASSERT_INT_EQ(l, 99);
        TEST_OK();
}

static void test_identity(void) {
        char buf[300];

        TEST("identity_is_valid: accepted forms");
        ASSERT_TRUE(identity_is_valid("node1"));
        ASSERT_TRUE(identity_is_valid("www21.example.com"));
        ASSERT_TRUE(identity_is_valid("db-01_a.b"));
        ASSERT_TRUE(identity_is_valid("a"));
        ASSERT_TRUE(identity_is_valid("a..b"));
        ASSERT_TRUE(identity_is_valid("-node"));
        ASSERT_TRUE(identity_is_valid("node."));
        TEST_OK();

        TEST("identity_is_valid: empty and length 255/256");
        ASSERT_FALSE(identity_is_valid(""));
        ASSERT_FALSE(identity_is_valid(NULL));
        memset(buf, 'a', 255);
        buf[255] = '\0';
        ASSERT_TRUE(identity_is_valid(buf));
        buf[255] = 'a';
        buf[256] = '\0';
        ASSERT_FALSE(identity_is_valid(buf));
        memset(buf, 'b', 299);
        buf[299] = '\0';
        ASSERT_FALSE(identity_is_valid(buf));
        TEST_OK();

        TEST("identity_is_valid: leading dot, slash, path tricks");
        ASSERT_FALSE(identity_is_valid("."));
        ASSERT_FALSE(identity_is_valid(".."));
        ASSERT_FALSE(identity_is_valid(".hidden"));
        ASSERT_FALSE(identity_is_valid(".#node1.0123456789abcdef"));
        ASSERT_FALSE(identity_is_valid("../etc/passwd"));
        ASSERT_FALSE(identity_is_valid("a/b"));
        ASSERT_FALSE(identity_is_valid("/etc"));
        ASSERT_FALSE(identity_is_valid("node/"));
        ASSERT_FALSE(identity_is_valid("a\\b"));
        TEST_OK();

        TEST("identity_is_valid: control chars, spaces, punctuation, non-ASCII");
        /* A NUL cannot sit inside a C string: "ab\0cd" is just "ab". The JSON
         * side (\u0000) is covered by test-message. */
        ASSERT_TRUE(identity_is_valid("ab\0cd"));
        static const char *const bad[] = {
                "a\tb", "a\nb", "a\rb", "\x01node", "node\x1f", "node\x7f", "a b", " node", "node ",
                "a:b", "a@b", "a*b", "a?b", "a$b", "a;b", "a|b", "a'b", "a\"b", "a,b", "a=b", "a%b",
                "h\xc3\xa9llo",           /* é */
                "n\xe2\x80\x8bode",       /* zero width space */
                "\xef\xbc\x8e\xef\xbc\x8e", /* fullwidth dots */
                "\xff",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                if (identity_is_valid(bad[i]))
                        test_fail(__FILE__, __LINE__, "identity_is_valid(bad[%zu]) is false", i);
        TEST_OK();
}

static void test_name(void) {
        char buf[100];

        TEST("name_is_valid");
        ASSERT_TRUE(name_is_valid("nrpe", 64));
        ASSERT_TRUE(name_is_valid("check_load", 64));
        ASSERT_TRUE(name_is_valid("my-collective", 64));
        ASSERT_TRUE(name_is_valid("A9_-", 64));
        ASSERT_FALSE(name_is_valid("", 64));
        ASSERT_FALSE(name_is_valid(NULL, 64));
        ASSERT_FALSE(name_is_valid("a.b", 64));
        ASSERT_FALSE(name_is_valid("a b", 64));
        ASSERT_FALSE(name_is_valid("a/b", 64));
        ASSERT_FALSE(name_is_valid("a#b", 64));
        ASSERT_FALSE(name_is_valid("a*", 64));
        ASSERT_FALSE(name_is_valid("h\xc3\xa9", 64));
        ASSERT_FALSE(name_is_valid("a\n", 64));
        memset(buf, 'x', 64);
        buf[64] = '\0';
        ASSERT_TRUE(name_is_valid(buf, 64));
        buf[64] = 'x';
        buf[65] = '\0';
        ASSERT_FALSE(name_is_valid(buf, 64));
        ASSERT_TRUE(name_is_valid("abc", 3));
        ASSERT_FALSE(name_is_valid("abcd", 3));
        TEST_OK();
}

#define UTF8(s) utf8_is_valid(s, sizeof(s) - 1)

static void test_utf8(void) {
        TEST("utf8_is_valid: valid sequences");
        ASSERT_TRUE(utf8_is_valid("", 0));
        ASSERT_TRUE(UTF8("plain ascii ~"));
        ASSERT_TRUE(UTF8("\xc3\xa9"));                 /* é U+00E9 */
        ASSERT_TRUE(UTF8("\xc2\x80"));                 /* U+0080, smallest 2-byte */
        ASSERT_TRUE(UTF8("\xdf\xbf"));                 /* U+07FF */
        ASSERT_TRUE(UTF8("\xe0\xa0\x80"));             /* U+0800, smallest 3-byte */
        ASSERT_TRUE(UTF8("\xe2\x82\xac"));             /* € */
        ASSERT_TRUE(UTF8("\xed\x9f\xbf"));             /* U+D7FF, just below surrogates */
        ASSERT_TRUE(UTF8("\xee\x80\x80"));             /* U+E000, just above */
        ASSERT_TRUE(UTF8("\xef\xbf\xbf"));             /* U+FFFF */
        ASSERT_TRUE(UTF8("\xf0\x90\x80\x80"));         /* U+10000, smallest 4-byte */
        ASSERT_TRUE(UTF8("\xf0\x9f\x98\x80"));         /* 😀 */
        ASSERT_TRUE(UTF8("\xf4\x8f\xbf\xbf"));         /* U+10FFFF, the last one */
        ASSERT_TRUE(UTF8("a\xc3\xa9z\xf0\x9f\x98\x80!"));
        TEST_OK();

        TEST("utf8_is_valid: overlong forms");
        ASSERT_FALSE(UTF8("\xc0\x80"));                /* overlong NUL */
        ASSERT_FALSE(UTF8("\xc0\xaf"));                /* overlong '/' */
        ASSERT_FALSE(UTF8("\xc1\xbf"));
        ASSERT_FALSE(UTF8("\xe0\x80\xaf"));
        ASSERT_FALSE(UTF8("\xe0\x9f\xbf"));            /* overlong U+07FF */
        ASSERT_FALSE(UTF8("\xf0\x80\x80\xaf"));
        ASSERT_FALSE(UTF8("\xf0\x8f\xbf\xbf"));        /* overlong U+FFFF */
        TEST_OK();

        TEST("utf8_is_valid: surrogates, beyond U+10FFFF, bad lead bytes");
        ASSERT_FALSE(UTF8("\xed\xa0\x80"));            /* U+D800 */
        ASSERT_FALSE(UTF8("\xed\xbf\xbf"));            /* U+DFFF */
        ASSERT_FALSE(UTF8("\xed\xa0\xbd\xed\xb8\x80")); /* CESU-8 pair */
        ASSERT_FALSE(UTF8("\xf4\x90\x80\x80"));        /* U+110000 */
        ASSERT_FALSE(UTF8("\xf5\x80\x80\x80"));
        ASSERT_FALSE(UTF8("\xf7\xbf\xbf\xbf"));
        ASSERT_FALSE(UTF8("\xf8\x88\x80\x80\x80"));    /* 5-byte form */
        ASSERT_FALSE(UTF8("\xfc\x84\x80\x80\x80\x80"));
        ASSERT_FALSE(UTF8("\xfe"));
        ASSERT_FALSE(UTF8("\xff"));
        ASSERT_FALSE(UTF8("\x80"));                    /* lone continuation */
        ASSERT_FALSE(UTF8("a\xbf" "b"));
        TEST_OK();

        TEST("utf8_is_valid: truncated sequences");
        ASSERT_FALSE(UTF8("\xc3"));
        ASSERT_FALSE(UTF8("\xe2\x82"));
        ASSERT_FALSE(UTF8("\xf0\x9f\x98"));
        ASSERT_FALSE(UTF8("abc\xf0"));
        ASSERT_FALSE(UTF8("\xc3" "a"));                /* continuation replaced by ASCII */
        ASSERT_FALSE(UTF8("\xe2\x82" "a"));
        /* n is honoured: a valid sequence cut by n is truncated */
        ASSERT_FALSE(utf8_is_valid("\xe2\x82\xac", 2));
        ASSERT_TRUE(utf8_is_valid("ab\xff", 2));
        TEST_OK();

        /* ASCII is read eight bytes at a time: a sequence is judged the same
         * wherever it falls in the word, and n still ends the text. */
        TEST("utf8_is_valid: a sequence at every offset in ASCII");
        static const struct { const char *s; bool valid; } seqs[] = {
                { "\xc3\xa9", true }, { "\xe2\x82\xac", true }, { "\xf0\x9f\x98\x80", true },
                { "\xc0\x80", false }, { "\xed\xa0\x80", false }, { "\xff", false }, { "\x80", false },
                { "\xe2\x82", false }, { "\xc3" "a", false },
        };
        for (size_t k = 0; k < ELEMENTSOF(seqs); k++)
                for (size_t off = 0; off <= 17; off++) {
                        char buf[40];
                        size_t len = strlen(seqs[k].s);
                        memset(buf, 'x', sizeof buf);
                        memcpy(buf + off, seqs[k].s, len);
                        if (utf8_is_valid(buf, off + len + 9) != seqs[k].valid)
                                test_fail(__FILE__, __LINE__, "sequence %zu at offset %zu", k, off);
                        /* cut just before it: what is left is ASCII */
                        ASSERT_TRUE(utf8_is_valid(buf, off));
                        /* cut inside a multibyte sequence: truncated */
                        if (len > 1 && seqs[k].valid)
                                ASSERT_FALSE(utf8_is_valid(buf, off + len - 1));
                }
        TEST_OK();

        TEST("utf8_sanitize");
        char *s = utf8_sanitize("a\xff" "b\0c\xc3\xa9", 7);
        ASSERT_NOT_NULL(s);
        ASSERT_STR_EQ(s, "a?b?c\xc3\xa9");
        free(s);
        TEST_OK();
}

static void test_hex(void) {
        static const uint8_t bytes[] = { 0x00, 0xff, 0x12, 0xab, 0x7f, 0x80 };
        uint8_t out[6] = {};
        char s[sizeof bytes * 2 + 1];

        TEST("hex_encode / hex_decode");
        ASSERT_TRUE(hex_encode(bytes, sizeof bytes, s) == s);
        ASSERT_STR_EQ(s, "00ff12ab7f80");
        ASSERT_INT_EQ(hex_decode(s, out, sizeof out), 0);
        ASSERT_INT_EQ(memcmp(out, bytes, sizeof out), 0);

        ASSERT_STR_EQ(hex_encode(bytes, 0, s), "");

        ASSERT_INT_EQ(hex_decode("", out, 0), 0);
        ASSERT_INT_EQ(hex_decode("00ff12ab7f8", out, sizeof out), -EINVAL);   /* odd */
        ASSERT_INT_EQ(hex_decode("00ff12ab7f", out, sizeof out), -EINVAL);    /* short */
        ASSERT_INT_EQ(hex_decode("00ff12ab7f8000", out, sizeof out), -EINVAL);/* long */
        ASSERT_INT_EQ(hex_decode("00ff12ab7fzz", out, sizeof out), -EINVAL);
        ASSERT_INT_EQ(hex_decode("00ff12ab7f 8", out, sizeof out), -EINVAL);
        ASSERT_INT_EQ(hex_decode("0xff12ab7f80", out, sizeof out), -EINVAL);
        TEST_OK();

        TEST("random_hex_id: 32 lowercase hex digits, different each time");
        char a[33], b[33];
        ASSERT_INT_EQ(random_hex_id(a), 0);
        ASSERT_INT_EQ(random_hex_id(b), 0);
        ASSERT_INT_EQ(strlen(a), 32);
        ASSERT_INT_EQ(strspn(a, "0123456789abcdef"), 32);
        ASSERT_TRUE(strcmp(a, b) != 0);
        TEST_OK();
}

static void test_strv(void) {
        char **l = NULL;

        TEST("strv helpers, strstrip, startswith, endswith");
        ASSERT_INT_EQ(strv_length(l), 0);
        ASSERT_INT_EQ(strv_extend(&l, "b"), 0);
        ASSERT_INT_EQ(strv_extend(&l, "a"), 0);
        ASSERT_INT_EQ(strv_extend(&l, "c"), 0);
        ASSERT_INT_EQ(strv_length(l), 3);
        strv_sort(l);
        ASSERT_STR_EQ(l[0], "a");
        ASSERT_STR_EQ(l[1], "b");
        ASSERT_STR_EQ(l[2], "c");
        ASSERT_NULL(l[3]);
        ASSERT_TRUE(strv_contains(l, "b"));
        ASSERT_FALSE(strv_contains(l, "d"));
        ASSERT_FALSE(strv_contains(NULL, "d"));
        strv_free(l);

        char s[] = "  \t x y \n";
        ASSERT_STR_EQ(strstrip(s), "x y");
        ASSERT_TRUE(startswith("amqps://h", "amqp"));
        ASSERT_FALSE(startswith("amq", "amqp"));
        ASSERT_TRUE(endswith("a.conf", ".conf"));
        ASSERT_FALSE(endswith("conf", ".conf"));
        ASSERT_FALSE(endswith("a.conf~", ".conf"));
        TEST_OK();
}

static void test_files(void) {
        char **l = NULL;
        char *p, *s = NULL;
        size_t n = 0;

        TEST("dir_list_sorted: lexical order, suffix, dot files and dirs skipped");
        static const char *const files[] = { "b.conf", "a.conf", "20-b.conf", "10-a.conf", "2.conf",
                                             "c.txt", ".hidden.conf", "x.conf~", "x.conf.bak" };
        for (size_t i = 0; i < ELEMENTSOF(files); i++) {
                p = tests_path(tmpdir, files[i]);
                tests_write_file(p, "x\n");
                free(p);
        }
        p = tests_path(tmpdir, "sub.conf");
        ASSERT_INT_EQ(mkdir(p, 0755), 0);
        free(p);

        ASSERT_INT_EQ(dir_list_sorted(tmpdir, ".conf", &l), 0);
        ASSERT_INT_EQ(strv_length(l), 5);
        static const char *const want[] = { "10-a.conf", "2.conf", "20-b.conf", "a.conf", "b.conf" };
        for (size_t i = 0; i < ELEMENTSOF(want); i++) {
                p = tests_path(tmpdir, want[i]);
                ASSERT_STR_EQ(l[i], p);
                free(p);
        }
        ASSERT_NULL(l[5]);
        strv_free(l);
        l = NULL;

        ASSERT_INT_EQ(dir_list_sorted(tmpdir, NULL, &l), 0);
        ASSERT_INT_EQ(strv_length(l), 8); /* every regular non-dot file */
        for (size_t i = 1; i < strv_length(l); i++)
                ASSERT_TRUE(strcmp(l[i - 1], l[i]) < 0);
        strv_free(l);
        l = NULL;
        TEST_OK();

        TEST("dir_list_sorted: missing dir is an empty list");
        l = (char **) 0x1;
        p = tests_path(tmpdir, "does-not-exist");
        ASSERT_INT_EQ(dir_list_sorted(p, ".conf", &l), 0);
        ASSERT_NULL(l);
        free(p);
        TEST_OK();

        TEST("read_full_file / read_one_line_file");
        p = tests_path(tmpdir, "secret");
        tests_write_file(p, "  s3cret  \nsecond line\n");
        ASSERT_INT_EQ(read_one_line_file(p, &s), 0);
        ASSERT_STR_EQ(s, "s3cret");
        free(s);
        ASSERT_INT_EQ(read_full_file(p, 1024, &s, &n), 0);
        ASSERT_INT_EQ(n, 23);
        ASSERT_STR_EQ(s, "  s3cret  \nsecond line\n");
        free(s);
        s = NULL;
        ASSERT_INT_EQ(read_full_file(p, 10, &s, &n), -EFBIG);
        ASSERT_NULL(s);
        free(p);
        p = tests_path(tmpdir, "nope");
        ASSERT_INT_EQ(read_full_file(p, 10, &s, &n), -ENOENT);
        free(p);
        TEST_OK();
}

int main(void) {
        ASSERT_NOT_NULL(mkdtemp(tmpdir));
        tmpdir_made = true;
        atexit(cleanup_tmpdir);

        test_parse_duration();
        test_parse_size();
        test_parse_boolean();
        test_parse_numbers();
        test_identity();
        test_name();
        test_utf8();
        test_hex();
        test_strv();
        test_files();
        test_parse_duration_fraction_overflow();
        return EXIT_SUCCESS;
}
