/* abi10sink.c - a sink plugin built against the frozen ABI 1.0 header:
 * no lock(), so the core falls back to the grace period for leftovers.
 * It keeps each object as one file in `dir`, the key's '/' written '%'.
 *
 * Keys: dir (an existing directory). */
#include <cairn/plugin.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#if CAIRN_ABI_MINOR != 0
#error "abi10sink must be built against the ABI 1.0 header"
#endif

static const struct cairn_host *host;

struct sink {
	cairn_ctx *ctx;
	int dfd;
};

struct cairn_sink_writer {
	struct sink *s;
	int fd;
	char *name, *tmp;
};

struct cairn_sink_reader {
	int fd;
};

static char *
flat(const char *key, const char *suffix)
{
	size_t n = strlen(key), m = strlen(suffix);
	char *f = malloc(n + m + 1);
	if (!f)
		return NULL;
	for (size_t i = 0; i < n; i++)
		f[i] = key[i] == '/' ? '%' : key[i];
	memcpy(f + n, suffix, m + 1);
	return f;
}

static int
k_create(cairn_ctx *ctx, const struct cairn_config *cfg, void **out)
{
	const char *dir = cairn_config_get(cfg, "dir")->text;
	struct sink *s = calloc(1, sizeof(*s));
	if (!s)
		return CAIRN_E_NOMEM;
	s->ctx = ctx;
	s->dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (s->dfd < 0) {
		host->set_error(ctx, "cannot open %s: %s", dir, strerror(errno));
		free(s);
		return CAIRN_E_CONFIG;
	}
	*out = s;
	return 0;
}

static void
k_destroy(void *inst)
{
	struct sink *s = inst;
	close(s->dfd);
	free(s);
}

static int
k_open_write(void *inst, const char *key, cairn_sink_writer **out)
{
	struct sink *s = inst;
	struct cairn_sink_writer *w = calloc(1, sizeof(*w));
	if (!w)
		return CAIRN_E_NOMEM;
	w->s = s;
	w->name = flat(key, "");
	w->tmp = flat(key, ".tmp");
	w->fd = openat(s->dfd, w->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (w->fd < 0) {
		host->set_error(s->ctx, "cannot create %s: %s", w->tmp, strerror(errno));
		free(w->name);
		free(w->tmp);
		free(w);
		return CAIRN_E_IO;
	}
	*out = w;
	return 0;
}

static int
k_write(cairn_sink_writer *w, const void *buf, size_t len)
{
	if (write(w->fd, buf, len) != (ssize_t)len) {
		host->set_error(w->s->ctx, "cannot write %s: %s", w->tmp, strerror(errno));
		return CAIRN_E_IO;
	}
	return 0;
}

static void
k_release(cairn_sink_writer *w)
{
	free(w->name);
	free(w->tmp);
	free(w);
}

static void
k_abort(cairn_sink_writer *w)
{
	close(w->fd);
	unlinkat(w->s->dfd, w->tmp, 0);
	k_release(w);
}

static int
k_commit(cairn_sink_writer *w)
{
	int rc = 0;
	if (close(w->fd) != 0 || renameat(w->s->dfd, w->tmp, w->s->dfd, w->name) != 0) {
		host->set_error(w->s->ctx, "cannot commit %s: %s", w->name, strerror(errno));
		unlinkat(w->s->dfd, w->tmp, 0);
		rc = CAIRN_E_IO;
	}
	k_release(w);
	return rc;
}

static int
k_open_read(void *inst, const char *key, cairn_sink_reader **out)
{
	struct sink *s = inst;
	char *name = flat(key, "");
	int fd = name ? openat(s->dfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW) : -1;
	int e = errno;
	free(name);
	if (fd < 0)
		return e == ENOENT ? CAIRN_E_NOTFOUND : CAIRN_E_IO;
	struct cairn_sink_reader *r = malloc(sizeof(*r));
	if (!r) {
		close(fd);
		return CAIRN_E_NOMEM;
	}
	r->fd = fd;
	*out = r;
	return 0;
}

static ssize_t
k_read(cairn_sink_reader *r, void *buf, size_t len)
{
	ssize_t n;
	do
		n = read(r->fd, buf, len);
	while (n < 0 && errno == EINTR);
	return n < 0 ? CAIRN_E_IO : n;
}

static void
k_close_read(cairn_sink_reader *r)
{
	close(r->fd);
	free(r);
}

static int
k_list(void *inst, const char *prefix, cairn_list_cb cb, void *ud)
{
	struct sink *s = inst;
	int fd = openat(s->dfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd < 0 ? NULL : fdopendir(fd);
	struct dirent *de;
	char *want = flat(prefix, "");
	int stop = 0;
	if (!d) {
		if (fd >= 0)
			close(fd);
		free(want);
		return CAIRN_E_IO;
	}
	while (!stop && (de = readdir(d))) {
		size_t n = strlen(de->d_name);
		struct stat st;
		if (de->d_name[0] == '.' || (n > 4 && strcmp(de->d_name + n - 4, ".tmp") == 0) ||
		    strncmp(de->d_name, want, strlen(want)) != 0 ||
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		char *key = strdup(de->d_name);
		for (char *p = key; p && *p; p++)
			if (*p == '%')
				*p = '/';
		if (key)
			stop = cb(ud, key, (uint64_t)st.st_size, (int64_t)st.st_mtime);
		free(key);
	}
	closedir(d);
	free(want);
	return 0;
}

static int
k_remove(void *inst, const char *key)
{
	struct sink *s = inst;
	char *name = flat(key, "");
	int rc = name && unlinkat(s->dfd, name, 0) == 0 ? 0
	         : errno == ENOENT                      ? CAIRN_E_NOTFOUND
	                                                : CAIRN_E_IO;
	free(name);
	return rc;
}

static const struct cairn_key keys[] = {
        {.name = "dir",
         .type = CAIRN_KEY_PATH,
         .flags = CAIRN_KEY_REQUIRED,
         .help = "the directory that holds the objects"},
        {.name = NULL},
};

static const struct cairn_sink_ops ops = {
        .struct_size = sizeof(struct cairn_sink_ops),
        .create = k_create,
        .destroy = k_destroy,
        .open_write = k_open_write,
        .write = k_write,
        .commit = k_commit,
        .abort = k_abort,
        .open_read = k_open_read,
        .read = k_read,
        .close_read = k_close_read,
        .list = k_list,
        .remove = k_remove,
};

static const struct cairn_plugin plugin = {
        .struct_size = sizeof(struct cairn_plugin),
        .abi_major = CAIRN_ABI_MAJOR,
        .abi_minor = CAIRN_ABI_MINOR,
        .name = "abi10sink",
        .version = "1.0",
        .kind = CAIRN_KIND_SINK,
        .description = "a sink built against ABI 1.0 (test)",
        .keys = keys,
        .sink = &ops,
};

const struct cairn_plugin *
cairn_plugin_entry(const struct cairn_host *h)
{
	host = h;
	return &plugin;
}
