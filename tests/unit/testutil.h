/* testutil.h - what several unit tests share: a substring assertion, a
 * growable byte buffer, the time zone of local-time tests, and removing a scratch tree, also one a test made
 * read-only.  Include it after <cmocka.h>. */
#ifndef CAIRN_TESTUTIL_H
#define CAIRN_TESTUTIL_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* Fail unless needle occurs in hay (a NULL hay fails too). */
#define assert_contains(hay, needle)                                                 \
	do {                                                                         \
		const char *h_ = (hay);                                              \
		if (!h_ || !strstr(h_, (needle)))                                    \
			fail_msg("\"%s\" not in: %s", (needle), h_ ? h_ : "(null)"); \
	} while (0)

/* A growable buffer of bytes (streams a test writes or reads back). */
struct buf {
	char *p;
	size_t len, cap;
};

static inline void
buf_add(struct buf *b, const void *p, size_t n)
{
	if (b->len + n > b->cap) {
		size_t cap = b->cap ? b->cap : 65536;
		while (cap < b->len + n)
			cap *= 2;
		b->p = realloc(b->p, cap);
		assert_non_null(b->p);
		b->cap = cap;
	}
	memcpy(b->p + b->len, p, n);
	b->len += n;
}

/* Tests of local time: switch the process's zone (tests only: cairn
 * itself never changes its environment). */
static inline void
use_tz(const char *tz)
{
	setenv("TZ", tz, 1);
	tzset();
}

/* Run the local-time cases only where the zone is really known: without
 * the file glibc silently falls back to UTC and the test would lie. */
static inline int
have_zone(const char *name)
{
	char path[256];
	snprintf(path, sizeof(path), "/usr/share/zoneinfo/%s", name);
	return access(path, R_OK) == 0;
}

static inline int
testutil_unlock_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)ftw;
	if (flag == FTW_D || flag == FTW_DNR || (st && S_ISDIR(st->st_mode)))
		chmod(path, 0700);
	return 0;
}

static inline int
testutil_rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Remove dir and everything below it, making read-only dirs writable. */
static inline void
rm_tree(const char *dir)
{
	/* an unreadable directory is opened up only after nftw skipped it:
	 * one pass per level of such directories */
	for (int pass = 0; pass < 4; pass++)
		nftw(dir, testutil_unlock_one, 16, FTW_PHYS);
	nftw(dir, testutil_rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* Was plugin name built?  make check names the plugins it built in
 * $CAIRN_BUILT_PLUGINS (a packager's subset leaves some out); run by hand,
 * without it, every plugin counts as built. */
static inline int
plugin_built(const char *name)
{
	const char *b = getenv("CAIRN_BUILT_PLUGINS");
	size_t n = strlen(name);
	for (const char *p = b; p && *p; p += strcspn(p, " "), p += strspn(p, " "))
		if (strncmp(p, name, n) == 0 && (p[n] == ' ' || p[n] == '\0'))
			return 1;
	return !b;
}

#endif
