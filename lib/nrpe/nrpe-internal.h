/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Shared by the parts of the NRPE module (lib/nrpe/): command config,
 * $ARGn$ expansion, plugin output and the process runner. Not a public
 * header: lib/nrpe.h is. */

#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "nrpe.h"

#define NRPE_INCLUDE_DEPTH_MAX 16U
#define NRPE_CONFIG_FILE_MAX (16U * 1024U * 1024U)
#define NRPE_COMMAND_NAME_MAX 64U
#define NRPE_ARGS_MAX 16U
/* Used when the caller passes no list: the same as muster.conf's default. */
#define NRPE_NASTY_METACHARS_DEFAULT "|`&><'\"\\[]{};$\r\n"
/* Refused in arguments whatever nasty_metachars says: they expand or escape
 * in the shell that runs the command line. */
#define NRPE_ALWAYS_REFUSED "$`\\\r\n"
#define NRPE_TRUNCATED_NOTE "(output truncated)"
#define NRPE_READ_CHUNK (64U * 1024U)

/* A small growable string, always NUL-terminated once something was added. */
typedef struct StrBuf {
        char *s;
        size_t len, alloc;
} StrBuf;

static inline int strbuf_append(StrBuf *b, const char *p, size_t n) {
        if (b->len + n + 1 > b->alloc) {
                size_t na = MAX(b->alloc * 2, b->len + n + 1);
                na = MAX(na, (size_t) 64);
                char *t = realloc(b->s, na);
                if (!t)
                        return -ENOMEM;
                b->s = t;
                b->alloc = na;
        }
        memcpy(b->s + b->len, p, n);
        b->len += n;
        b->s[b->len] = '\0';
        return 0;
}

static inline int strbuf_puts(StrBuf *b, const char *p) {
        return strbuf_append(b, p, strlen(p));
}

/* Returns the string (never NULL on success: "" when nothing was added). */
static inline char *strbuf_steal(StrBuf *b) {
        if (!b->s)
                return strdup("");
        b->alloc = b->len = 0;
        return TAKE_PTR(b->s);
}

static inline void strbuf_done(StrBuf *b) {
        free(b->s);
        *b = (StrBuf) {};
}

static inline bool is_blank(char c) {
        return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\v' || c == '\f';
}
