/* util.c - see util.h */
#include "autoconf.h"

#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static void
oom(void)
{
	fputs("cairn: out of memory\n", stderr);
	abort();
}

void *
xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom();
	return p;
}

void *
xcalloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		oom();
	return p;
}

void *
xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		oom();
	return p;
}

char *
xstrdup(const char *s)
{
	char *p = strdup(s);
	if (!p)
		oom();
	return p;
}

char *
xstrndup(const char *s, size_t n)
{
	char *p = strndup(s, n);
	if (!p)
		oom();
	return p;
}

char *
xvasprintf(const char *fmt, va_list ap)
{
	char *s;
	if (vasprintf(&s, fmt, ap) < 0)
		oom();
	return s;
}

char *
xasprintf(const char *fmt, ...)
{
	va_list ap;
	char *s;
	va_start(ap, fmt);
	s = xvasprintf(fmt, ap);
	va_end(ap);
	return s;
}

void
strvec_push_own(struct strvec *sv, char *s)
{
	if (sv->n + 1 >= sv->cap) {
		sv->cap = sv->cap ? sv->cap * 2 : 8;
		sv->v = xrealloc(sv->v, sv->cap * sizeof(*sv->v));
	}
	sv->v[sv->n++] = s;
	sv->v[sv->n] = NULL;
}

void
strvec_push(struct strvec *sv, const char *s)
{
	strvec_push_own(sv, xstrdup(s));
}

int
strvec_contains(const struct strvec *sv, const char *s)
{
	for (size_t i = 0; i < sv->n; i++)
		if (strcmp(sv->v[i], s) == 0)
			return 1;
	return 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void
strvec_sort(struct strvec *sv)
{
	if (sv->n > 1)
		qsort(sv->v, sv->n, sizeof(*sv->v), cmp_str);
}

void
strvec_free(struct strvec *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		free(sv->v[i]);
	free(sv->v);
	sv->v = NULL;
	sv->n = sv->cap = 0;
}

char *
strvec_join(const struct strvec *sv, const char *sep)
{
	size_t seplen = strlen(sep), len = 0;
	char *r, *p;
	for (size_t i = 0; i < sv->n; i++)
		len += strlen(sv->v[i]) + (i ? seplen : 0);
	p = r = xmalloc(len + 1);
	for (size_t i = 0; i < sv->n; i++) {
		size_t n = strlen(sv->v[i]);
		if (i) {
			memcpy(p, sep, seplen);
			p += seplen;
		}
		memcpy(p, sv->v[i], n);
		p += n;
	}
	*p = '\0';
	return r;
}

void
split_words(const char *s, struct strvec *sv)
{
	while (*s) {
		while (*s == ' ' || *s == '\t')
			s++;
		const char *e = s;
		while (*e && *e != ' ' && *e != '\t')
			e++;
		if (e > s)
			strvec_push_own(sv, xstrndup(s, (size_t)(e - s)));
		s = e;
	}
}

int
mkdir_p(const char *dir, mode_t mode)
{
	char *p = xstrdup(dir);
	int rc = 0;
	for (char *s = p + 1;; s++) {
		if (*s == '/' || !*s) {
			char c = *s;
			*s = '\0';
			if (mkdir(p, mode) != 0 && errno != EEXIST) {
				rc = -1;
				break;
			}
			*s = c;
			if (!c)
				break;
		}
	}
	free(p);
	return rc;
}

char *
path_join(const char *dir, const char *name)
{
	size_t dl = strlen(dir);
	while (dl > 1 && dir[dl - 1] == '/')
		dl--;
	while (*name == '/')
		name++;
	if (dl == 1 && dir[0] == '/')
		return xasprintf("/%s", name);
	return xasprintf("%.*s/%s", (int)dl, dir, name);
}

char *
path_dirname(const char *path)
{
	const char *slash = strrchr(path, '/');
	if (!slash)
		return xstrdup(".");
	if (slash == path)
		return xstrdup("/");
	return xstrndup(path, (size_t)(slash - path));
}

/* Collapse "//", "." and ".." in an absolute path, as a person reads it
 * ("/etc/cairn/../x" is "/etc/x"), whatever symlinks lie on the way. */
static char *
path_normalize(char *p)
{
	char *out = p, *s = p;
	while (*s) {
		while (*s == '/')
			s++;
		char *e = s;
		while (*e && *e != '/')
			e++;
		size_t len = (size_t)(e - s);
		if (len == 0 || (len == 1 && s[0] == '.')) {
			/* nothing */
		} else if (len == 2 && s[0] == '.' && s[1] == '.') {
			while (out > p && out[-1] != '/')
				out--;
			if (out > p)
				out--;
		} else {
			*out++ = '/';
			memmove(out, s, len);
			out += len;
		}
		s = e;
	}
	if (out == p)
		*out++ = '/';
	*out = '\0';
	return p;
}

char *
path_absolute(const char *path, const char *base)
{
	char *cwd = NULL, *r;
	if (path[0] == '/')
		return path_normalize(xstrdup(path));
	if (!base) {
		cwd = getcwd(NULL, 0);
		if (!cwd)
			return xstrdup(path);
		base = cwd;
	} else if (base[0] != '/') {
		char *abs_base = path_absolute(base, NULL);
		r = path_absolute(path, abs_base);
		free(abs_base);
		return r;
	}
	r = path_normalize(path_join(base, path));
	free(cwd);
	return r;
}

/* All of len bytes of buf to fd, through EINTR: 0 or -1 with errno. */
static int
write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int
write_file_atomic(const char *path, const char *tmp_name, const void *data, size_t len, mode_t mode,
                  enum atomic_step *step, char **tmp_out)
{
	char *dir = path_dirname(path), *tmp;
	const char *base = strrchr(path, '/');
	enum atomic_step at = ATOMIC_CREATE;
	int fd, dfd, e;

	base = base ? base + 1 : path;
	tmp = xasprintf("%s/.%s.XXXXXX", dir, tmp_name ? tmp_name : base);
	fd = mkostemp(tmp, O_CLOEXEC);
	if (fd < 0)
		goto fail;
	at = ATOMIC_WRITE;
	if (fchmod(fd, mode) != 0 || write_all(fd, data, len) != 0 || fsync(fd) != 0) {
		e = errno;
		close(fd);
		errno = e;
		goto fail_tmp;
	}
	at = ATOMIC_COMMIT;
	/* rename last: a reader sees the old file or the new, never half */
	if (close(fd) != 0 || rename(tmp, path) != 0)
		goto fail_tmp;
	/* the rename itself must survive a crash too */
	dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd >= 0) {
		(void)fsync(dfd);
		close(dfd);
	}
	free(dir);
	if (tmp_out)
		*tmp_out = tmp;
	else
		free(tmp);
	return 0;
fail_tmp:
	e = errno;
	unlink(tmp);
	errno = e;
fail:
	e = errno;
	free(dir);
	if (step)
		*step = at;
	if (tmp_out)
		*tmp_out = tmp;
	else
		free(tmp);
	errno = e;
	return -1;
}

char *
format_bytes(uint64_t n, char *buf, size_t len)
{
	static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
	double v = (double)n;
	int u = 0;
	while (v >= 1024 && u < 5) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)n);
	else
		snprintf(buf, len, "%.1f %s", v, units[u]);
	return buf;
}

int
valid_name(const char *s)
{
	if (!*s || *s == '.' || *s == '-')
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && *s != '-' && *s != '_' && *s != '.')
			return 0;
	return 1;
}

/* Length of the valid UTF-8 sequence at s (at most len bytes), or 0 when
 * s[0] does not start one: overlong forms, surrogates and code points over
 * U+10FFFF are not valid, so each of their bytes gets escaped. */
static size_t
utf8_len(const unsigned char *s, size_t len)
{
	size_t n;
	unsigned char lo = 0x80, hi = 0xbf;
	if (s[0] >= 0xc2 && s[0] <= 0xdf)
		n = 2;
	else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		n = 3;
		if (s[0] == 0xe0)
			lo = 0xa0; /* overlong */
		else if (s[0] == 0xed)
			hi = 0x9f; /* surrogates */
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		n = 4;
		if (s[0] == 0xf0)
			lo = 0x90; /* overlong */
		else if (s[0] == 0xf4)
			hi = 0x8f; /* over U+10FFFF */
	} else
		return 0;
	if (len < n || s[1] < lo || s[1] > hi)
		return 0;
	for (size_t i = 2; i < n; i++)
		if (s[i] < 0x80 || s[i] > 0xbf)
			return 0;
	return n;
}

size_t
str_escape_buf(char *dst, size_t size, const char *src, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *s = (const unsigned char *)src;
	size_t out = 0; /* the length needed so far */
	int full = size == 0;

	for (size_t i = 0; i < len;) {
		char piece[8];
		size_t plen = 0, take = 1, u;
		unsigned char c = s[i];
		if (c == '\t' || c == '\n' || c == '\r' || c == '\\') {
			piece[0] = '\\';
			piece[1] = c == '\t' ? 't' : c == '\n' ? 'n' : c == '\r' ? 'r' : '\\';
			plen = 2;
		} else if (c >= 0x20 && c < 0x7f) {
			piece[0] = (char)c;
			plen = 1;
		} else if (c >= 0x80 && (u = utf8_len(s + i, len - i)) &&
		           !(c == 0xc2 && s[i + 1] <= 0x9f)) {
			memcpy(piece, s + i, u);
			plen = take = u;
		} else {
			piece[0] = '\\';
			piece[1] = 'x';
			piece[2] = hex[c >> 4];
			piece[3] = hex[c & 15];
			plen = 4;
		}
		if (!full && out + plen < size)
			memcpy(dst + out, piece, plen);
		else if (!full) {
			dst[out] = '\0';
			full = 1;
		}
		out += plen;
		i += take;
	}
	if (!full)
		dst[out] = '\0';
	return out;
}

char *
str_escape(const char *s)
{
	size_t len = strlen(s), need = str_escape_buf(NULL, 0, s, len);
	char *r = xmalloc(need + 1);
	str_escape_buf(r, need + 1, s, len);
	return r;
}
