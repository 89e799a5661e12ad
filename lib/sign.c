/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/stat.h>

#include "log.h"
#include "sign.h"
#include "util.h"

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
        *ret = p;
        return 0;
}

int psk_load(const char *path, Psk **ret) {
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
        if (stat(path, &st) >= 0 && (st.st_mode & S_IROTH))
                log_warning("Key file %s is readable by everyone; it should be mode 0640 or stricter.", path);
        r = psk_from_memory(buf, size, ret);
        explicit_bzero(buf, size);
        return r;
}

Psk *psk_free(Psk *p) {
        if (!p)
                return NULL;
        explicit_bzero(p->key, p->size);
        free(p->key);
        free(p);
        return NULL;
}

int sign_body(const Psk *psk, const void *body, size_t size, char ret[static SIGNATURE_HEX_MAX]) {
        static const char digits[] = "0123456789abcdef";
        uint8_t mac[EVP_MAX_MD_SIZE];
        unsigned mac_len = 0;

        if (!HMAC(EVP_sha256(), psk->key, (int) psk->size, body, size, mac, &mac_len))
                return -EIO;
        for (unsigned i = 0; i < mac_len; i++) {
                ret[i * 2] = digits[mac[i] >> 4];
                ret[i * 2 + 1] = digits[mac[i] & 15];
        }
        ret[mac_len * 2] = '\0';
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
