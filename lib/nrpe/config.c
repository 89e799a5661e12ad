/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* NRPE command definitions: the command table and nrpe.cfg files (include=, include_dir=). */
#include <ctype.h>
#include <fcntl.h>
#include <sys/stat.h>

#include "log.h"
#include "nrpe-internal.h"
#include "util.h"

/* ------------------------------------------------------------------------ */
/* Command table */

bool nrpe_command_name_is_valid(const char *name) {
        size_t n;

        if (isempty(name))
                return false;
        for (n = 0; name[n]; n++) {
                unsigned char c = name[n];

                if (n >= NRPE_COMMAND_NAME_MAX)
                        return false;
                if (!(isascii(c) && (isalnum(c) || c == '_' || c == '.' || c == '-')))
                        return false;
        }
        return true;
}

NrpeConfig *nrpe_config_new(void) {
        return calloc(1, sizeof(NrpeConfig));
}

NrpeConfig *nrpe_config_free(NrpeConfig *c) {
        if (!c)
                return NULL;
        for (size_t i = 0; i < c->n_commands; i++) {
                free(c->commands[i].name);
                free(c->commands[i].command_line);
        }
        free(c->commands);
        free(c);
        return NULL;
}

static void nrpe_config_freep(NrpeConfig **c) {
        nrpe_config_free(*c);
}

/* Binary search in the name-sorted table. Returns the entry, or NULL and the
 * position where it would be inserted. */
static NrpeCommand *config_lookup(const NrpeConfig *c, const char *name, size_t *pos) {
        size_t lo = 0, hi = c->n_commands;

        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                int k = strcmp(name, c->commands[mid].name);

                if (k == 0) {
                        *pos = mid;
                        return &c->commands[mid];
                }
                if (k < 0)
                        hi = mid;
                else
                        lo = mid + 1;
        }
        *pos = lo;
        return NULL;
}

const char *nrpe_config_find(const NrpeConfig *c, const char *name) {
        NrpeCommand *cmd;
        size_t pos;

        if (!c || !name)
                return NULL;
        cmd = config_lookup(c, name, &pos);
        return cmd ? cmd->command_line : NULL;
}

/* Define or redefine a command; a later definition replaces an earlier one. */
static int config_put(NrpeConfig *c, const char *name, const char *line) {
        _cleanup_free_ char *n = NULL, *l = NULL;
        NrpeCommand *cmd, *t;
        size_t pos;

        l = strdup(line);
        if (!l)
                return -ENOMEM;

        cmd = config_lookup(c, name, &pos);
        if (cmd) {
                free(cmd->command_line);
                cmd->command_line = TAKE_PTR(l);
                return 0;
        }

        n = strdup(name);
        if (!n)
                return -ENOMEM;
        t = realloc(c->commands, sizeof(NrpeCommand) * (c->n_commands + 1));
        if (!t)
                return -ENOMEM;
        c->commands = t;
        memmove(c->commands + pos + 1, c->commands + pos, sizeof(NrpeCommand) * (c->n_commands - pos));
        c->commands[pos] = (NrpeCommand) {
                .name = TAKE_PTR(n),
                .command_line = TAKE_PTR(l),
        };
        c->n_commands++;
        return 0;
}

/* ------------------------------------------------------------------------ */
/* Config files */

typedef struct FileId {
        dev_t dev;
        ino_t ino;
} FileId;

typedef struct LoadContext {
        FileId *seen;
        size_t n_seen;
} LoadContext;

static void load_context_done(LoadContext *ctx) {
        free(ctx->seen);
        *ctx = (LoadContext) {};
}

/* Returns 1 when newly recorded, 0 when already seen. */
static int load_context_mark(LoadContext *ctx, const struct stat *st) {
        FileId *t;

        for (size_t i = 0; i < ctx->n_seen; i++)
                if (ctx->seen[i].dev == st->st_dev && ctx->seen[i].ino == st->st_ino)
                        return 0;
        t = realloc(ctx->seen, sizeof(FileId) * (ctx->n_seen + 1));
        if (!t)
                return -ENOMEM;
        ctx->seen = t;
        ctx->seen[ctx->n_seen++] = (FileId) { .dev = st->st_dev, .ino = st->st_ino };
        return 1;
}

static int load_path(LoadContext *ctx, NrpeConfig *c, const char *path, unsigned depth);
static int parse_buffer_full(LoadContext *ctx, NrpeConfig *c, const char *name, const char *dir, const char *buf,
                             size_t n, unsigned depth);

static int path_dirname(const char *path, char **ret) {
        const char *slash = strrchr(path, '/');
        char *d;

        if (!slash)
                d = strdup(".");
        else if (slash == path)
                d = strdup("/");
        else
                d = strndup(path, (size_t) (slash - path));
        if (!d)
                return -ENOMEM;
        *ret = d;
        return 0;
}

static int load_file(LoadContext *ctx, NrpeConfig *c, const char *path, unsigned depth) {
        _cleanup_free_ char *buf = NULL, *dir = NULL;
        size_t size;
        int r;

        r = read_full_file(path, NRPE_CONFIG_FILE_MAX, &buf, &size);
        if (r < 0)
                return r;
        r = path_dirname(path, &dir);
        if (r < 0)
                return r;
        return parse_buffer_full(ctx, c, path, dir, buf, size, depth);
}

static int cmp_strp(const void *a, const void *b) {
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* Like NRPE's include_dir: every "*.cfg" file, recursing into
 * subdirectories; here in lexical order of the entry names, and hidden
 * entries are skipped. */
static int load_dir(LoadContext *ctx, NrpeConfig *c, const char *path, unsigned depth) {
        _cleanup_closedir_ DIR *d = NULL;
        _cleanup_strv_free_ char **names = NULL;
        struct dirent *de;
        int r;

        d = opendir(path);
        if (!d)
                return -errno;

        while ((errno = 0, de = readdir(d))) {
                if (de->d_name[0] == '.')
                        continue;
                r = strv_extend(&names, de->d_name);
                if (r < 0)
                        return r;
        }
        if (errno != 0)
                return -errno;

        size_t n = strv_length(names);
        if (n > 1)
                qsort(names, n, sizeof(char *), cmp_strp);

        for (size_t i = 0; i < n; i++) {
                _cleanup_free_ char *p = NULL;
                struct stat st;

                if (asprintf(&p, "%s/%s", path, names[i]) < 0)
                        return -ENOMEM;
                if (stat(p, &st) < 0) {
                        /* e.g. a dangling symlink: only ours to complain about if it looks like config */
                        if (endswith(names[i], ".cfg"))
                                (void) log_warning_errno(errno, "Failed to stat %s: %m, ignoring.", p);
                        continue;
                }
                if (S_ISDIR(st.st_mode)) {
                        if (depth >= NRPE_INCLUDE_DEPTH_MAX) {
                                log_warning("%s: directories nested too deeply, ignoring.", p);
                                continue;
                        }
                        r = load_path(ctx, c, p, depth + 1);
                } else if (S_ISREG(st.st_mode) && strlen(names[i]) > 4 && endswith(names[i], ".cfg"))
                        r = load_path(ctx, c, p, depth);
                else
                        continue;
                if (r == -ENOMEM)
                        return r;
                if (r == -ELOOP)
                        log_warning("%s: already read (include loop?), ignoring.", p);
                else if (r < 0)
                        (void) log_warning_errno(r, "Failed to read %s: %m, ignoring.", p);
        }
        return 0;
}

/* Returns -ELOOP when path was already read. Problems below path are logged
 * there; only problems with path itself and -ENOMEM are returned. */
static int load_path(LoadContext *ctx, NrpeConfig *c, const char *path, unsigned depth) {
        struct stat st;
        int r;

        if (stat(path, &st) < 0)
                return -errno;
        if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode))
                return -EBADFD;

        r = load_context_mark(ctx, &st);
        if (r < 0)
                return r;
        if (r == 0)
                return -ELOOP;

        if (S_ISDIR(st.st_mode))
                return load_dir(ctx, c, path, depth);
        return load_file(ctx, c, path, depth);
}

static int parse_include(LoadContext *ctx, NrpeConfig *c, const char *name, unsigned line, const char *dir,
                         const char *key, const char *value, unsigned depth) {
        _cleanup_free_ char *p = NULL;
        int r;

        if (!ctx || !dir)
                return 0; /* includes not wanted */

        if (isempty(value)) {
                log_warning("%s:%u: %s= without a path, ignoring.", name, line, key);
                return 0;
        }
        if (depth >= NRPE_INCLUDE_DEPTH_MAX) {
                log_warning("%s:%u: %s=%s nested too deeply, ignoring.", name, line, key, value);
                return 0;
        }

        if (value[0] == '/')
                p = strdup(value);
        else if (asprintf(&p, "%s/%s", dir, value) < 0)
                p = NULL;
        if (!p)
                return -ENOMEM;

        r = load_path(ctx, c, p, depth + 1);
        if (r == -ENOMEM)
                return r;
        if (r == -ELOOP)
                log_warning("%s:%u: %s was already read (include loop?), ignoring.", name, line, p);
        else if (r < 0)
                (void) log_warning_errno(r, "%s:%u: Failed to read %s: %m, ignoring.", name, line, p);
        return 0;
}

static int parse_line(LoadContext *ctx, NrpeConfig *c, const char *name, unsigned line, const char *dir, char *l,
                      unsigned depth) {
        char *eq, *key, *value;

        l = strstrip(l);
        if (l[0] == '\0' || l[0] == '#')
                return 0;

        eq = strchr(l, '=');
        if (!eq) {
                log_warning("%s:%u: Line without '=', ignoring.", name, line);
                return 0;
        }
        *eq = '\0';
        key = strstrip(l);
        value = strstrip(eq + 1);

        if (key[0] == '\0') {
                log_warning("%s:%u: Missing key before '=', ignoring.", name, line);
                return 0;
        }

        if (startswith(key, "command[")) {
                char *cname = key + strlen("command["), *close = strchr(cname, ']');

                if (!close) {
                        log_warning("%s:%u: Missing ']' in command definition, ignoring.", name, line);
                        return 0;
                }
                if (close[1] != '\0') {
                        log_warning("%s:%u: Unexpected text after ']' in command definition, ignoring.", name, line);
                        return 0;
                }
                *close = '\0';
                if (!nrpe_command_name_is_valid(cname)) {
                        log_warning("%s:%u: Invalid command name \"%s\", ignoring.", name, line, cname);
                        return 0;
                }
                if (value[0] == '\0') {
                        log_warning("%s:%u: Empty command line for command %s, ignoring.", name, line, cname);
                        return 0;
                }
                return config_put(c, cname, value);
        }

        if (streq(key, "include") || streq(key, "include_dir"))
                return parse_include(ctx, c, name, line, dir, key, value, depth);

        /* Any other nrpe.cfg setting (server_port=, allowed_hosts=, ...). */
        return 0;
}

static int parse_buffer_full(LoadContext *ctx, NrpeConfig *c, const char *name, const char *dir, const char *buf,
                             size_t n, unsigned depth) {
        const char *p = buf, *end = buf + n;
        unsigned line = 0;
        int r;

        name = name ?: "(buffer)";

        while (p < end) {
                _cleanup_free_ char *l = NULL;
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                size_t len = nl ? (size_t) (nl - p) : (size_t) (end - p);

                line++;
                if (memchr(p, '\0', len))
                        log_warning("%s:%u: Line contains a NUL byte, ignoring.", name, line);
                else {
                        l = strndup(p, len);
                        if (!l)
                                return -ENOMEM;
                        r = parse_line(ctx, c, name, line, dir, l, depth);
                        if (r < 0)
                                return r;
                }
                p += len + (nl ? 1 : 0);
        }
        return 0;
}

int nrpe_config_parse_buffer(NrpeConfig *c, const char *name, const char *dir, const char *buf, size_t n) {
        LoadContext ctx = {};
        int r;

        if (!c || (!buf && n > 0))
                return -EINVAL;
        r = parse_buffer_full(&ctx, c, name, dir, buf, n, 0);
        load_context_done(&ctx);
        return r;
}

int nrpe_config_load(const char *path, NrpeConfig **ret) {
        _cleanup_(nrpe_config_freep) NrpeConfig *c = NULL;
        LoadContext ctx = {};
        int r;

        if (!path || !ret)
                return -EINVAL;

        c = nrpe_config_new();
        if (!c)
                return -ENOMEM;

        r = load_path(&ctx, c, path, 0);
        load_context_done(&ctx);
        if (r < 0 && r != -ENOENT)
                return r;

        *ret = TAKE_PTR(c);
        return 0;
}
