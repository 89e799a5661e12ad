/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The check runner's protocol: the request a daemon sends to muster-check-runner and the answer it gets. */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <sys/wait.h>

#include "nrpe-internal.h"
#include "util.h"

#define REQUEST_MAGIC "muster-check 1\n"

void nrpe_runner_request_done(NrpeRunnerRequest *r) {
        if (!r)
                return;
        free(r->user);
        free(r->command_line);
        *r = (NrpeRunnerRequest) {};
}

static int request_fail(const char **ret_error, const char *e) {
        if (ret_error)
                *ret_error = e;
        return -EBADMSG;
}

/* "KEY=VALUE\n" at *p; advances *p past the newline. */
static int take_line(const char **p, const char *end, const char *key, const char **ret_value, size_t *ret_len) {
        size_t kl = strlen(key);
        const char *nl = memchr(*p, '\n', (size_t) (end - *p));

        if (!nl || (size_t) (nl - *p) < kl + 1 || memcmp(*p, key, kl) != 0 || (*p)[kl] != '=')
                return -EBADMSG;
        *ret_value = *p + kl + 1;
        *ret_len = (size_t) (nl - *ret_value);
        *p = nl + 1;
        return 0;
}

int nrpe_runner_request_parse(const char *buf, size_t n, NrpeRunnerRequest *ret, const char **ret_error) {
        const char *p = buf, *end = buf + n, *v;
        NrpeRunnerRequest r = {};
        char num[32];
        size_t len;

        if (ret_error)
                *ret_error = NULL;
        if (!buf || !ret)
                return -EINVAL;
        if (n > NRPE_RUNNER_REQUEST_MAX)
                return request_fail(ret_error, "request too long");
        if (memchr(buf, '\0', n))
                return request_fail(ret_error, "NUL byte in request");
        if (n < strlen(REQUEST_MAGIC) || memcmp(buf, REQUEST_MAGIC, strlen(REQUEST_MAGIC)) != 0)
                return request_fail(ret_error, "not a muster-check request (or another version)");
        p += strlen(REQUEST_MAGIC);

        if (take_line(&p, end, "user", &v, &len) < 0 || len == 0 || len > 256)
                return request_fail(ret_error, "missing or invalid user= line");
        if (take_line(&p, end, "timeout", &v, &len) < 0 || len == 0 || len >= sizeof num)
                return request_fail(ret_error, "missing or invalid timeout= line");
        memcpy(num, v, len);
        num[len] = '\0';
        uint64_t t;
        if (parse_uint64(num, &t) < 0)
                return request_fail(ret_error, "invalid timeout= value");
        if (p >= end || *p != '\n')
                return request_fail(ret_error, "no empty line before the command line");
        p++;
        if (p >= end)
                return request_fail(ret_error, "empty command line");

        /* The user line again, now that the request is known to be whole. */
        const char *u = buf + strlen(REQUEST_MAGIC) + strlen("user=");
        const char *unl = memchr(u, '\n', (size_t) (end - u));
        r.user = strndup(u, (size_t) (unl - u));
        r.command_line = strndup(p, (size_t) (end - p));
        if (!r.user || !r.command_line) {
                nrpe_runner_request_done(&r);
                return -ENOMEM;
        }
        r.timeout_usec = t;
        *ret = r;
        return 0;
}

int nrpe_runner_format_result(char *buf, size_t n, int code, int status) {
        const char *what = code == CLD_EXITED ? "exited" : code == CLD_DUMPED ? "dumped" : "killed";
        int k = snprintf(buf, n, "%s %d", what, status);

        return k < 0 || (size_t) k >= n ? -ENOBUFS : k;
}

int nrpe_runner_parse_result(const char *buf, size_t n, int *ret_code, int *ret_status) {
        char s[32], what[8];
        int status, used = 0;

        if (n == 0 || n >= sizeof s)
                return -EBADMSG;
        memcpy(s, buf, n);
        s[n] = '\0';
        if (sscanf(s, "%7s %d%n", what, &status, &used) != 2 || (size_t) used != n || status < 0 || status > 255)
                return -EBADMSG;
        if (streq(what, "exited"))
                *ret_code = CLD_EXITED;
        else if (streq(what, "killed"))
                *ret_code = CLD_KILLED;
        else if (streq(what, "dumped"))
                *ret_code = CLD_DUMPED;
        else
                return -EBADMSG;
        *ret_status = status;
        return 0;
}
