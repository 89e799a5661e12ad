/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Message authenticity. The signature covers the exact body bytes and
 * travels in the AMQP headers table:
 *   x-muster-signature-scheme = "hmac-sha256"
 *   x-muster-signature        = 64 lowercase hex digits
 * or, with per-sender keys:
 *   x-muster-signature-scheme = "ed25519"
 *   x-muster-key-id           = the signer's key id
 *   x-muster-signature        = 128 lowercase hex digits */

#define SIGNATURE_HEADER_SCHEME "x-muster-signature-scheme"
#define SIGNATURE_HEADER_VALUE  "x-muster-signature"
#define SIGNATURE_HEADER_KEY_ID "x-muster-key-id"
#define SIGNATURE_SCHEME_HMAC   "hmac-sha256"
#define SIGNATURE_SCHEME_ED25519 "ed25519"
#define KEY_ID_MAX 256
#define SIGNATURE_HEX_MAX 129

#define PSK_MIN_SIZE 16
#define PSK_MAX_SIZE 4096

typedef struct Psk {
        uint8_t *key;
        size_t size;
        /* HMAC-SHA256's inner and outer hash states after the padded key
         * (SHA256_CTX *): each message then costs two struct copies on the
         * stack, no allocation, key schedule or algorithm lookup. */
        void *inner, *outer;
} Psk;

/* Loaders that go on past a problem hand it up: they append a whole log
 * sentence to *warnings (a strv the caller owns, logs at LOG_WARNING and
 * frees; NULL drops them), whether they succeed or fail. */

/* Read a pre-shared key file: its bytes, less one trailing newline. Keys
 * shorter than PSK_MIN_SIZE are refused with -EINVAL. A file readable by
 * others is used, with a warning. */
int psk_load(const char *path, Psk **ret, char ***warnings);
int psk_from_memory(const void *key, size_t size, Psk **ret);
Psk *psk_free(Psk *p);
static inline void psk_freep(Psk **p) { psk_free(*p); }
#define _cleanup_psk_ __attribute__((cleanup(psk_freep)))

/* ret: NUL-terminated lowercase hex. */
int sign_body(const Psk *psk, const void *body, size_t size, char ret[static SIGNATURE_HEX_MAX]);

/* 0 when valid; -EBADMSG when the signature does not match; -EPROTONOSUPPORT
 * for an unknown scheme; -ENOKEY when there is no signature at all. */
int verify_body(const Psk *psk, const void *body, size_t size, const char *scheme, const char *signature);

/* Ed25519 keys. A KeyRing maps key ids to public keys, loaded from a
 * directory of "<keyid>.pem" files (PEM, SubjectPublicKeyInfo). */
typedef struct KeyRing KeyRing;

/* Missing dir: empty ring. Invalid and reserved ids, unreadable files and
 * files that are not an Ed25519 public key in PEM are skipped with a warning
 * ("..., ignoring."). One public key under two ids fails the load with
 * -ENOTUNIQ; then ret_error (of size n, may be NULL) names both files:
 *   /etc/muster/clients.d/alice.pem and /etc/muster/clients.d/ops.pem hold
 *   the same public key: one key may have only one id
 * Other errors leave the reason to the errno. */
int keyring_load_dir(const char *dir, KeyRing **ret, char ***warnings, char *ret_error, size_t n);
/* "psk" and "local", the policy's names for the pre-shared key and the
 * control socket, are never key ids. */
bool key_id_is_reserved(const char *s);
KeyRing *keyring_free(KeyRing *k);
size_t keyring_size(const KeyRing *k);
bool key_id_is_valid(const char *s);

/* What a receiver accepts. psk may be NULL; keys may be NULL. */
typedef struct Verifier {
        const Psk *psk;
        bool accept_psk;
        const KeyRing *keys;
} Verifier;

/* 0 when valid, with *ret_signer set to "psk" or the key id (pointing into
 * key_id). Errors: -ENOKEY no signature; -EPROTONOSUPPORT unknown scheme;
 * -EPERM a pre-shared-key signature where those are not accepted; -ENXIO an
 * unknown or missing key id; -EBADMSG a signature that does not verify. */
int verify_message(const Verifier *v, const void *body, size_t size, const char *scheme, const char *key_id,
                   const char *signature, const char **ret_signer);

/* What a sender signs with: its Ed25519 private key (then key_id goes along)
 * or, without one, the pre-shared key. */
typedef struct Signer {
        const Psk *psk;
        void *key;             /* EVP_PKEY *, owned */
        char *key_id;
} Signer;

/* Load the private key file (PEM, PKCS#8) into s. */
int signer_load_key(Signer *s, const char *path, const char *key_id);
void signer_done(Signer *s);
/* ret_scheme and ret_key_id (NULL for the PSK) are static or point into s. */
int signer_sign(const Signer *s, const void *body, size_t size, char ret[static SIGNATURE_HEX_MAX],
                const char **ret_scheme, const char **ret_key_id);
