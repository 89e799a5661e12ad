/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* SHA256_Init() and friends are deprecated in OpenSSL 3 in favour of EVP,
 * but they are still there, and they are what lets an HMAC state be copied
 * as a plain struct: EVP_MD_CTX_copy_ex() allocates a provider context on
 * every copy, twice per message (see sign_body()). */
#define OPENSSL_SUPPRESS_DEPRECATED 1
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/sha.h>
#include <sys/stat.h>

#include "hashmap.h"
#include "sign.h"
#include "util.h"

#define HMAC_BLOCK 64   /* SHA-256's block size */

/* RFC 2104: the hash states after (K ^ ipad) and (K ^ opad), K being the key
 * or, when longer than a block, its hash. */
static int psk_prepare(Psk *p) {
        uint8_t k[HMAC_BLOCK] = {}, pad[HMAC_BLOCK];
        SHA256_CTX *inner = NULL, *outer = NULL;
        int r = -EIO;

        if (p->size > HMAC_BLOCK) {
                if (!SHA256(p->key, p->size, k))
                        goto finish;
        } else
                memcpy(k, p->key, p->size);
        inner = malloc(sizeof *inner);
        outer = malloc(sizeof *outer);
        if (!inner || !outer) {
                r = -ENOMEM;
                goto finish;
        }
        for (size_t i = 0; i < HMAC_BLOCK; i++)
                pad[i] = k[i] ^ 0x36;
        if (!SHA256_Init(inner) || !SHA256_Update(inner, pad, HMAC_BLOCK))
                goto finish;
        for (size_t i = 0; i < HMAC_BLOCK; i++)
                pad[i] = k[i] ^ 0x5c;
        if (!SHA256_Init(outer) || !SHA256_Update(outer, pad, HMAC_BLOCK))
                goto finish;
        p->inner = TAKE_PTR(inner);
        p->outer = TAKE_PTR(outer);
        r = 0;
finish:
        explicit_bzero(k, sizeof k);
        explicit_bzero(pad, sizeof pad);
        if (inner)
                explicit_bzero(inner, sizeof *inner);
        if (outer)
                explicit_bzero(outer, sizeof *outer);
        free(inner);
        free(outer);
        return r;
}

int psk_from_memory(const void *key, size_t size, Psk **ret) {
        if (size < PSK_MIN_SIZE || size > PSK_MAX_SIZE)
                return -EINVAL;
        Psk *p = calloc(1, sizeof *p);
        if (!p)
                return -ENOMEM;
        p->key = malloc(size);
        if (!p->key) {
                free(p);
                return -ENOMEM;
        }
        memcpy(p->key, key, size);
        p->size = size;
        int r = psk_prepare(p);
        if (r < 0) {
                psk_free(p);
                return r;
        }
        *ret = p;
        return 0;
}

int psk_load(const char *path, Psk **ret, char ***warnings) {
        _cleanup_free_ char *buf = NULL;
        size_t size;
        struct stat st;
        int r;

        r = read_full_file(path, PSK_MAX_SIZE + 2, &buf, &size);
        if (r == -EFBIG)
                return -EINVAL;
        if (r < 0)
                return r;
        if (size > 0 && buf[size - 1] == '\n')
                size--;
        if (size > 0 && buf[size - 1] == '\r')
                size--;
        /* Not ", ignoring": the key is used all the same. */
        if (stat(path, &st) >= 0 && (st.st_mode & S_IROTH))
                r = strv_pushf(warnings, "Key file %s is readable by everyone; it should be mode 0640 or stricter.", path);
        if (r >= 0)
                r = psk_from_memory(buf, size, ret);
        explicit_bzero(buf, size);
        return r;
}

Psk *psk_free(Psk *p) {
        if (!p)
                return NULL;
        explicit_bzero(p->key, p->size);
        free(p->key);
        if (p->inner)
                explicit_bzero(p->inner, sizeof(SHA256_CTX));
        if (p->outer)
                explicit_bzero(p->outer, sizeof(SHA256_CTX));
        free(p->inner);
        free(p->outer);
        free(p);
        return NULL;
}

int sign_body(const Psk *psk, const void *body, size_t size, char ret[static SIGNATURE_HEX_MAX]) {
        uint8_t inner[SHA256_DIGEST_LENGTH], mac[EVP_MAX_MD_SIZE];
        unsigned mac_len = 0;
        SHA256_CTX c;
        bool ok;

        if (!psk->inner || !psk->outer) {
                /* A Psk not made by psk_from_memory(): the one-shot way. */
                if (!HMAC(EVP_sha256(), psk->key, (int) psk->size, body, size, mac, &mac_len))
                        return -EIO;
                hex_encode(mac, mac_len, ret);
                return 0;
        }
        /* The keyed states copied on the stack: no allocation, no key schedule. */
        c = *(const SHA256_CTX *) psk->inner;
        ok = SHA256_Update(&c, body, size) && SHA256_Final(inner, &c);
        c = *(const SHA256_CTX *) psk->outer;
        ok = ok && SHA256_Update(&c, inner, sizeof inner) && SHA256_Final(mac, &c);
        explicit_bzero(&c, sizeof c);
        explicit_bzero(inner, sizeof inner);
        if (!ok)
                return -EIO;
        hex_encode(mac, SHA256_DIGEST_LENGTH, ret);
        return 0;
}

int verify_body(const Psk *psk, const void *body, size_t size, const char *scheme, const char *signature) {
        char expected[SIGNATURE_HEX_MAX];
        int r;

        if (isempty(signature))
                return -ENOKEY;
        if (!streq_ptr(scheme, SIGNATURE_SCHEME_HMAC))
                return -EPROTONOSUPPORT;
        r = sign_body(psk, body, size, expected);
        if (r < 0)
                return r;
        if (strlen(signature) != strlen(expected))
                return -EBADMSG;
        if (CRYPTO_memcmp(expected, signature, strlen(expected)) != 0)
                return -EBADMSG;
        return 0;
}

struct KeyRing {
        Hashmap *keys;   /* key id -> EVP_PKEY * */
};

bool key_id_is_valid(const char *s) {
        /* Key ids name files and travel in headers: the identity rules. */
        return identity_is_valid(s);
}

static void pkey_free(void *p) {
        EVP_PKEY_free(p);
}

KeyRing *keyring_free(KeyRing *k) {
        if (!k)
                return NULL;
        hashmap_free(k->keys, pkey_free);
        free(k);
        return NULL;
}

size_t keyring_size(const KeyRing *k) {
        return k ? hashmap_size(k->keys) : 0;
}

bool key_id_is_reserved(const char *s) {
        /* "psk" and "local" are the policy's callers for pre-shared-key
         * requests and the control socket: no key may take their rights. */
        return streq_ptr(s, "psk") || streq_ptr(s, "local");
}

typedef struct LoadedKey {
        const char *path;
        uint8_t raw[32];
} LoadedKey;

/* The Ed25519 public key in path, and its raw bytes. 0 when read; 1 when
 * skipped, with a warning; a negative errno on failure. */
static int keyring_read_key(const char *path, const char *id, EVP_PKEY **ret, uint8_t raw[static 32],
                            char ***warnings) {
        _cleanup_fclose_ FILE *fp = NULL;
        EVP_PKEY *pk;
        size_t raw_len = 32;
        int r;

        if (!key_id_is_valid(id))
                r = strv_pushf(warnings, "%s: \"%s\" is not a valid key id, ignoring.", path, id);
        else if (key_id_is_reserved(id))
                r = strv_pushf(warnings, "%s: key id \"%s\" is reserved, ignoring.", path, id);
        else if (!(fp = fopen(path, "re")))
                r = strv_pushf(warnings, "Failed to open %s: %s, ignoring.", path, strerror(errno));
        else {
                pk = PEM_read_PUBKEY(fp, NULL, NULL, NULL);
                if (pk && EVP_PKEY_get_id(pk) == EVP_PKEY_ED25519 &&
                    EVP_PKEY_get_raw_public_key(pk, raw, &raw_len) == 1 && raw_len == 32) {
                        *ret = pk;
                        return 0;
                }
                EVP_PKEY_free(pk);
                r = strv_pushf(warnings, "%s is not an Ed25519 public key in PEM, ignoring.", path);
        }
        return r < 0 ? r : 1;
}

int keyring_load_dir(const char *dir, KeyRing **ret, char ***warnings, char *ret_error, size_t n) {
        _cleanup_strv_free_ char **files = NULL;
        _cleanup_free_ LoadedKey *loaded = NULL;
        size_t n_loaded = 0;
        KeyRing *k;
        int r;

        k = calloc(1, sizeof *k);
        if (!k || !(k->keys = hashmap_new())) {
                free(k);
                return -ENOMEM;
        }
        r = dir_list_sorted(dir, ".pem", &files);
        if (r < 0) {
                keyring_free(k);
                return r;
        }
        for (char **f = files; f && *f; f++) {
                const char *base = strrchr(*f, '/') ? strrchr(*f, '/') + 1 : *f;
                _cleanup_free_ char *id = strndup(base, strlen(base) - 4);
                LoadedKey this = { .path = *f };
                EVP_PKEY *pk = NULL;

                if (!id) {
                        keyring_free(k);
                        return -ENOMEM;
                }
                r = keyring_read_key(*f, id, &pk, this.raw, warnings);
                if (r < 0) {
                        keyring_free(k);
                        return r;
                }
                if (r > 0)
                        continue;
                /* One key, one id: a key under two ids would let its holder
                 * pick whichever the policy treats better. */
                for (size_t i = 0; i < n_loaded; i++)
                        if (memcmp(loaded[i].raw, this.raw, sizeof this.raw) == 0) {
                                if (ret_error && n > 0)
                                        snprintf(ret_error, n,
                                                 "%s and %s hold the same public key: one key may have only one id",
                                                 loaded[i].path, *f);
                                EVP_PKEY_free(pk);
                                keyring_free(k);
                                return -ENOTUNIQ;
                        }
                LoadedKey *t = realloc(loaded, (n_loaded + 1) * sizeof *t);
                if (!t) {
                        EVP_PKEY_free(pk);
                        keyring_free(k);
                        return -ENOMEM;
                }
                loaded = t;
                loaded[n_loaded++] = this;
                r = hashmap_put(k->keys, id, pk);
                if (r < 0) {
                        EVP_PKEY_free(pk);
                        keyring_free(k);
                        return r;
                }
        }
        *ret = k;
        return 0;
}

static int ed25519_verify(EVP_PKEY *pk, const void *body, size_t size, const char *hex) {
        uint8_t sig[64];
        EVP_MD_CTX *ctx;
        int ok;

        if (hex_decode(hex, sig, sizeof sig) < 0)
                return -EBADMSG;
        ctx = EVP_MD_CTX_new();
        if (!ctx)
                return -ENOMEM;
        ok = EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pk) == 1 &&
             EVP_DigestVerify(ctx, sig, sizeof sig, body, size) == 1;
        EVP_MD_CTX_free(ctx);
        return ok ? 0 : -EBADMSG;
}

int verify_message(const Verifier *v, const void *body, size_t size, const char *scheme, const char *key_id,
                   const char *signature, const char **ret_signer) {
        int r;

        if (isempty(signature))
                return -ENOKEY;
        if (streq_ptr(scheme, SIGNATURE_SCHEME_HMAC)) {
                if (!v->psk || !v->accept_psk)
                        return -EPERM;
                r = verify_body(v->psk, body, size, scheme, signature);
                if (r < 0)
                        return r;
                if (ret_signer)
                        *ret_signer = "psk";
                return 0;
        }
        if (streq_ptr(scheme, SIGNATURE_SCHEME_ED25519)) {
                if (isempty(key_id) || !v->keys)
                        return -ENXIO;
                EVP_PKEY *pk = hashmap_get(v->keys->keys, key_id);
                if (!pk)
                        return -ENXIO;
                r = ed25519_verify(pk, body, size, signature);
                if (r < 0)
                        return r;
                if (ret_signer)
                        *ret_signer = key_id;
                return 0;
        }
        return -EPROTONOSUPPORT;
}

int signer_load_key(Signer *s, const char *path, const char *key_id) {
        _cleanup_fclose_ FILE *fp = NULL;
        EVP_PKEY *pk;

        if (!key_id_is_valid(key_id))
                return -EINVAL;
        fp = fopen(path, "re");
        if (!fp)
                return -errno;
        pk = PEM_read_PrivateKey(fp, NULL, NULL, NULL);
        if (!pk)
                return -EBADMSG;
        if (EVP_PKEY_get_id(pk) != EVP_PKEY_ED25519) {
                EVP_PKEY_free(pk);
                return -EKEYREJECTED;
        }
        char *id = strdup(key_id);
        if (!id) {
                EVP_PKEY_free(pk);
                return -ENOMEM;
        }
        EVP_PKEY_free(s->key);
        free(s->key_id);
        s->key = pk;
        s->key_id = id;
        return 0;
}

void signer_done(Signer *s) {
        EVP_PKEY_free(s->key);
        free(s->key_id);
        s->key = NULL;
        s->key_id = NULL;
}

int signer_sign(const Signer *s, const void *body, size_t size, char ret[static SIGNATURE_HEX_MAX],
                const char **ret_scheme, const char **ret_key_id) {

        if (!s->key) {
                if (!s->psk)
                        return -ENOKEY;
                if (ret_scheme)
                        *ret_scheme = SIGNATURE_SCHEME_HMAC;
                if (ret_key_id)
                        *ret_key_id = NULL;
                return sign_body(s->psk, body, size, ret);
        }

        uint8_t sig[64];
        size_t len = sizeof sig;
        EVP_MD_CTX *ctx = EVP_MD_CTX_new();
        if (!ctx)
                return -ENOMEM;
        int ok = EVP_DigestSignInit(ctx, NULL, NULL, NULL, s->key) == 1 &&
                 EVP_DigestSign(ctx, sig, &len, body, size) == 1 && len == sizeof sig;
        EVP_MD_CTX_free(ctx);
        if (!ok)
                return -EIO;
        hex_encode(sig, len, ret);
        if (ret_scheme)
                *ret_scheme = SIGNATURE_SCHEME_ED25519;
        if (ret_key_id)
                *ret_key_id = s->key_id;
        return 0;
}
