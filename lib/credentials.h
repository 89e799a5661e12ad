/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>

#include "config.h"
#include "sign.h"

/* The keys the configuration names, loaded in one place for every binary:
 * the pre-shared key ([security] psk_file), the Ed25519 private key
 * (private_key) and the client or node key ring (client_keys_dir,
 * node_keys_dir). */

typedef enum CredentialsFlags {
        CREDENTIALS_SIGN        = 1 << 0, /* sends signed messages: the private key, or else the PSK */
        CREDENTIALS_CLIENT_KEYS = 1 << 1, /* verifies requests: the client keys */
        CREDENTIALS_NODE_KEYS   = 1 << 2, /* verifies what nodes send: the node keys */
} CredentialsFlags;

typedef struct Credentials {
        Psk *psk;              /* NULL when it is not needed and could not be read */
        Signer signer;         /* with CREDENTIALS_SIGN */
        KeyRing *keys;         /* the client or node keys; NULL without either flag */
        Verifier verifier;     /* the PSK when it is accepted, and keys */
} Credentials;

/* Room for every reason credentials_load() gives. */
#define CREDENTIALS_ERROR_MAX 4352

/* Load what c asks for. The PSK is needed when PSK signatures are accepted
 * (accept_psk yes or unset) or when this binary signs and has no private
 * key; otherwise an unreadable PSK file is fine. The verifier accepts the
 * PSK as config_accept_psk() says for client keys, and unless accept_psk=no
 * for node keys.
 *
 * On failure ret_error (of size n) says what failed in one wording for all
 * binaries, naming the file and the reason, as a phrase to put after
 * "Failed to " in a log line or after "cannot " on a status line:
 *   read key file /etc/muster/psk: Permission denied
 *   read key file /etc/muster/psk: it must hold 16 to 4096 bytes
 *   load the Ed25519 private key /etc/muster/node.pem: not an Ed25519 key in PEM
 *   load client keys from /etc/muster/clients.d: /etc/muster/clients.d/alice.pem and
 *     /etc/muster/clients.d/ops.pem hold the same public key: one key may have only one id
 * Whatever goes on past a problem (a PSK readable by everyone, key files
 * skipped) is appended to *warnings (may be NULL), on success and on failure,
 * one whole sentence each for the caller to log at LOG_WARNING before the
 * error (log_warnings()), and free:
 *   Key file /etc/muster/psk is readable by everyone; it should be mode 0640 or stricter.
 *   /etc/muster/clients.d/local.pem: key id "local" is reserved, ignoring.
 * Credentials may be moved by value: nothing in them points into them. */
int credentials_load(const MusterConfig *c, CredentialsFlags flags, Credentials *ret, char ***warnings,
                     char *ret_error, size_t n);
void credentials_done(Credentials *c);
