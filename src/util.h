/* util.h - small helpers shared by the core: checked allocation, growing
 * strings and arrays, path joining. */
#ifndef CAIRN_UTIL_H
#define CAIRN_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Allocation that aborts with a message when memory runs out: the core has
 * no sensible way to go on, and it keeps every error path simple. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t size);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
char *xstrndup(const char *s, size_t n);
/* printf into a new string; the caller frees it. */
char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
char *xvasprintf(const char *fmt, va_list ap);

/* A growable array of owned strings. */
struct strvec {
	char **v;
	size_t n, cap;
};
void strvec_push(struct strvec *sv, const char *s); /* copies s */
void strvec_push_own(struct strvec *sv, char *s);   /* takes s */
int strvec_contains(const struct strvec *sv, const char *s);
void strvec_sort(struct strvec *sv);
void strvec_free(struct strvec *sv);
/* The strings joined with sep between them ("" for none).  Caller frees. */
char *strvec_join(const struct strvec *sv, const char *sep);

/* Split on spaces and tabs into sv (words are copied). */
void split_words(const char *s, struct strvec *sv);

/* mkdir -p: dir and every missing parent, each made with mode (the umask
 * still applies); one that exists already is fine, whatever it is, so
 * callers that need a directory check it.  Returns 0, or -1 with errno
 * set by the mkdir that failed. */
int mkdir_p(const char *dir, mode_t mode);

/* dir + "/" + name, without doubling slashes. Caller frees. */
char *path_join(const char *dir, const char *name);
/* The directory part of path ("." if none). Caller frees. */
char *path_dirname(const char *path);
/* path made absolute against base (or the working directory when base is
 * NULL), with "//", "." and ".." collapsed as written (not through
 * symlinks).  Caller frees. */
char *path_absolute(const char *path, const char *base);

/* Which step of write_file_atomic() failed. */
enum atomic_step {
	ATOMIC_CREATE = 1, /* no temporary file could be made beside path */
	ATOMIC_WRITE,      /* setting its mode, writing or syncing it */
	ATOMIC_COMMIT      /* closing it or renaming it over path */
};
/* Write len bytes of data to path so that a reader sees the old file or
 * the new one, never half of it: a temporary file DIR/.NAME.XXXXXX beside
 * path (NAME is tmp_name, or path's own name when NULL) made with mode,
 * written, fsynced and renamed over path, then DIR fsynced so that the
 * rename survives a crash too.  0, or -1 with errno set, the temporary
 * removed, *step (may be NULL) saying which step failed and *tmp (may be
 * NULL; caller frees) the temporary's name, for messages. */
int write_file_atomic(const char *path, const char *tmp_name, const void *data, size_t len,
                      mode_t mode, enum atomic_step *step, char **tmp);

/* Format a byte count as "1.5 GiB". Returns buf. */
char *format_bytes(uint64_t n, char *buf, size_t len);

/* Text from untrusted places (manifests, trees, sinks, plugins) made safe
 * for a terminal: a copy of s in which TAB, LF and CR read \t \n \r, a
 * backslash reads \\, and every other control byte (below 0x20, 0x7f)
 * and every byte that is not part of valid UTF-8 reads \xNN (two lower
 * case hex digits).  Valid UTF-8 is kept as it is, except the C1 controls
 * U+0080..U+009F, whose two bytes are escaped (terminals act on them
 * like ESC [).  So no escape sequence gets through, the output is one
 * line, and the escaping can be undone.  Caller frees. */
char *str_escape(const char *s);
/* The same for len bytes at s (which may hold NUL bytes, escaped \x00),
 * into dst of size bytes, NUL-terminated when size > 0; an escape is never
 * cut in half.  Returns the length the whole escaped text needs (without
 * the NUL), like snprintf: the output was cut when that is >= size. */
size_t str_escape_buf(char *dst, size_t size, const char *s, size_t len);

/* Is s a valid name for a section, job or source (letters, digits, - _ .,
 * not starting with '.')? These names become parts of object keys. */
int valid_name(const char *s);

#endif
