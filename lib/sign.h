/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>

/* Message authenticity. The signature covers the exact body bytes and
 * travels in the AMQP headers table:
 *   x-muster-signature-scheme = "hmac-sha256"
 *   x-muster-signature        = 64 lowercase hex digits */

#define SIGNATURE_HEADER_SCHEME "x-muster-signature-scheme"
#define SIGNATURE_HEADER_VALUE  "x-muster-signature"
#define SIGNATURE_SCHEME_HMAC   "hmac-sha256"
#define SIGNATURE_HEX_MAX 129

#define PSK_MIN_SIZE 16
#define PSK_MAX_SIZE 4096

typedef struct Psk {
        uint8_t *key;
        size_t size;
} Psk;

/* Read a pre-shared key file: its bytes, less one trailing newline. Keys
 * shorter than PSK_MIN_SIZE are refused with -EINVAL. Warns when the file is
 * readable by others. */
int psk_load(const char *path, Psk **ret);
int psk_from_memory(const void *key, size_t size, Psk **ret);
Psk *psk_free(Psk *p);
static inline void psk_freep(Psk **p) { psk_free(*p); }
#define _cleanup_psk_ __attribute__((cleanup(psk_freep)))

/* ret: NUL-terminated lowercase hex. */
int sign_body(const Psk *psk, const void *body, size_t size, char ret[static SIGNATURE_HEX_MAX]);

/* 0 when valid; -EBADMSG when the signature does not match; -EPROTONOSUPPORT
 * for an unknown scheme; -ENOKEY when there is no signature at all. */
int verify_body(const Psk *psk, const void *body, size_t size, const char *scheme, const char *signature);
