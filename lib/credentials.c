/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "credentials.h"

void credentials_done(Credentials *c) {
        psk_free(c->psk);
        signer_done(&c->signer);
        keyring_free(c->keys);
        *c = (Credentials) {};
}

static int fail(Credentials *creds, int r, char *ret_error, size_t n, const char *what, const char *path,
                const char *why) {
        if (ret_error && n > 0)
                snprintf(ret_error, n, "%s %s: %s", what, path, why ?: strerror(-r));
        credentials_done(creds);
        return r;
}

int credentials_load(const MusterConfig *c, CredentialsFlags flags, Credentials *ret, char ***warnings,
                     char *ret_error, size_t n) {
        Credentials creds = {};
        char size_why[64], keys_why[CREDENTIALS_ERROR_MAX];
        int r;

        bool psk_needed = c->accept_psk != 0 || ((flags & CREDENTIALS_SIGN) && !c->private_key);
        r = psk_load(c->psk_file, &creds.psk, warnings);
        if (r == -ENOMEM)
                return fail(&creds, r, ret_error, n, "read key file", c->psk_file, NULL);
        if (r < 0 && psk_needed) {
                snprintf(size_why, sizeof size_why, "it must hold %d to %d bytes", PSK_MIN_SIZE, PSK_MAX_SIZE);
                return fail(&creds, r, ret_error, n, "read key file", c->psk_file, r == -EINVAL ? size_why : NULL);
        }

        if (flags & CREDENTIALS_SIGN) {
                creds.signer.psk = creds.psk;
                if (c->private_key) {
                        r = signer_load_key(&creds.signer, c->private_key, c->key_id ?: c->identity);
                        if (r < 0)
                                return fail(&creds, r, ret_error, n, "load the Ed25519 private key", c->private_key,
                                            r == -EBADMSG || r == -EKEYREJECTED ? "not an Ed25519 key in PEM"
                                                                                : NULL);
                }
        }

        bool accept_psk = c->accept_psk != 0;
        if (flags & CREDENTIALS_CLIENT_KEYS) {
                r = keyring_load_dir(c->client_keys_dir, &creds.keys, warnings, keys_why, sizeof keys_why);
                if (r < 0)
                        return fail(&creds, r, ret_error, n, "load client keys from", c->client_keys_dir,
                                    r == -ENOTUNIQ ? keys_why : NULL);
                accept_psk = config_accept_psk(c, keyring_size(creds.keys));
        } else if (flags & CREDENTIALS_NODE_KEYS) {
                r = keyring_load_dir(c->node_keys_dir, &creds.keys, warnings, keys_why, sizeof keys_why);
                if (r < 0)
                        return fail(&creds, r, ret_error, n, "load node keys from", c->node_keys_dir,
                                    r == -ENOTUNIQ ? keys_why : NULL);
        }
        creds.verifier = (Verifier) { .psk = creds.psk, .accept_psk = accept_psk, .keys = creds.keys };

        *ret = creds;
        return 0;
}
