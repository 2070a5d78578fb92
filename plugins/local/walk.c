/*
 * walk.c - the walk of the "local" sink's store, from directory descriptor
 * to directory descriptor with O_NOFOLLOW, and what is built on it:
 * list(), usage() and the sweep of temporary files dead runs left.
 *
 * SPDX-License-Identifier: MIT
 */
#include "local_internal.h"

/* Temporary files untouched for this long belong to a run that died. */
#define LOCAL_STALE_SECS (24 * 60 * 60)

struct local_entry {
	char *name;
	int isdir;
	struct stat st;
};

/* Order entries as their keys sort: a directory compares as "name/", so
 * keys come out in plain strcmp order across directory levels too. */
static int
local_entry_cmp(const void *pa, const void *pb)
{
	const struct local_entry *a = pa, *b = pb;
	size_t i;

	for (i = 0;; i++) {
		unsigned char ca = a->name[i] ? (unsigned char)a->name[i] : (a->isdir ? '/' : 0);
		unsigned char cb = b->name[i] ? (unsigned char)b->name[i] : (b->isdir ? '/' : 0);
		if (ca != cb)
			return ca < cb ? -1 : 1;
		if (!a->name[i] || !b->name[i])
			return 0; /* equal only for the same name and type */
	}
}

static int
local_walk_fail(struct local_walk *w, int err, const char *what, const char *path)
{
	char buf[256];

	if (!w->hidden)
		return local_fail(w->lc->ctx, err, what, path, NULL);
	cairn_log(local_host, w->lc->ctx, CAIRN_LOG_WARN,
	          "looking for leftover temporary files: %s %s: %s", what, path,
	          strerror_r(err, buf, sizeof(buf)));
	return 0;
}

/* Does key (of a directory, ending in '/') lead to keys with the prefix? */
static int
local_dir_matches(const struct local_walk *w, const char *dirkey)
{
	size_t len = strlen(dirkey);

	return strncmp(dirkey, w->prefix, len < w->prefix_len ? len : w->prefix_len) == 0;
}

/* The age-based sweep keeps out of a job whose lock another run holds:
 * that run is alive and writing, and its own lock() cleans up after its
 * dead writers anyway.  Otherwise it holds the lock itself while it is in
 * there, so that no run of the job starts meanwhile (lock() waits out such
 * a short hold).  A lock file of the wrong type, or one we may not open,
 * also keeps the sweep out: lock() reports it.  Returns non-zero to keep
 * out; *lockfd is the lock to drop afterwards, or -1. */
static int
local_job_busy(int jobfd, int *lockfd)
{
	struct stat st;
	int fd;

	*lockfd = -1;
	if (fstatat(jobfd, LOCAL_LOCK_NAME, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno != ENOENT; /* none: a job that never locked */
	if (!S_ISREG(st.st_mode))
		return 1;
	fd = openat(jobfd, LOCAL_LOCK_NAME,
	            O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return 1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || flock(fd, LOCK_EX | LOCK_NB) < 0) {
		close(fd);
		return 1;
	}
	*lockfd = fd;
	return 0;
}

/* Remove directory name in dfd if it is empty (rmdir refuses otherwise). */
static void
local_walk_rmdir(struct local_walk *w, int dfd, const char *name, const char *path)
{
	char buf[256];

	if (unlinkat(dfd, name, AT_REMOVEDIR) == 0) {
		if (w->rmdirs)
			cairn_log(
			        local_host, w->lc->ctx, CAIRN_LOG_INFO,
			        "removed %s, an empty directory left by a failed or interrupted backup",
			        path);
	} else if (errno != ENOTEMPTY && errno != EEXIST && errno != ENOENT && errno != EBUSY &&
	           errno != ENOTDIR) {
		cairn_log(local_host, w->lc->ctx, CAIRN_LOG_WARN,
		          "could not remove empty directory %s: %s", path,
		          strerror_r(errno, buf, sizeof(buf)));
	}
}

/* The entries of one directory that a walk visits, in key order. */
struct local_entries {
	struct local_entry *v;
	size_t n, cap;
};

static int
local_entries_add(struct local_walk *w, struct local_entries *l, const char *name,
                  const struct stat *st)
{
	struct local_entry *e;

	if (l->n == l->cap) {
		size_t ncap = l->cap ? 2 * l->cap : 32;
		e = realloc(l->v, ncap * sizeof(*l->v));
		if (!e)
			return local_nomem(w->lc->ctx, "listing the store");
		l->v = e;
		l->cap = ncap;
	}
	e = &l->v[l->n];
	e->name = strdup(name);
	if (!e->name)
		return local_nomem(w->lc->ctx, "listing the store");
	e->isdir = S_ISDIR(st->st_mode);
	e->st = *st;
	l->n++;
	return 0;
}

static void
local_entries_free(struct local_entries *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		free(l->v[i].name);
	free(l->v);
}

/* Does the walk visit entry name (st: its lstat) of the directory whose
 * key is keybase?  1 yes, 0 no, or a negative status. */
static int
local_walk_wants(struct local_walk *w, const char *name, const char *keybase, const struct stat *st)
{
	int isdir = S_ISDIR(st->st_mode), ok;
	char *key;

	if (isdir ? name[0] == '.' : S_ISREG(st->st_mode) && (name[0] == '.') != w->hidden)
		return 0;
	if (asprintf(&key, "%s%s%s", keybase, name, isdir ? "/" : "") < 0)
		return local_nomem(w->lc->ctx, "listing the store");
	ok = isdir ? local_dir_matches(w, key) : strncmp(key, w->prefix, w->prefix_len) == 0;
	if (ok && !isdir && !S_ISREG(st->st_mode)) {
		/* Objects are regular files; a symlink could lead out
		 * of the store, a FIFO or device hang a reader. */
		if (w->warn && name[0] != '.') {
			char *p = local_join(w->lc, key);
			local_planted(w->lc, LOCAL_AT_WARN, p ? p : key, st->st_mode,
			              "a backup object or set directory");
			free(p);
		}
		ok = 0;
	}
	free(key);
	return ok;
}

/* Read the whole directory d into l before any entry is reported: the
 * entries are sorted first, and the sweep may unlink while we iterate. */
static int
local_walk_read(struct local_walk *w, DIR *d, const char *path, const char *keybase,
                struct local_entries *l)
{
	struct dirent *de;
	struct stat st;
	int rc;

	for (errno = 0; (de = readdir(d)); errno = 0) {
		const char *name = de->d_name;

		if (!strcmp(name, ".") || !strcmp(name, ".."))
			continue;
		if (name[0] == '.' && !w->hidden)
			continue;
		if (fstatat(dirfd(d), name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue;
			rc = local_walk_fail(w, errno, "cannot stat a file in", path);
			if (rc)
				return rc;
			continue;
		}
		rc = local_walk_wants(w, name, keybase, &st);
		if (rc > 0)
			rc = local_entries_add(w, l, name, &st);
		if (rc)
			return rc;
	}
	if (errno)
		return local_walk_fail(w, errno, "cannot list directory", path);
	return 0;
}

/* Walk the subdirectory name of d, whose path and key are sub and key;
 * keybase is d's key. */
static int
local_walk_sub(struct local_walk *w, DIR *d, const char *name, const char *sub, const char *key,
               const char *keybase)
{
	int subfd, lockfd = -1, rc = 0;
	unsigned long before;

	subfd = openat(dirfd(d), name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (subfd < 0) {
		/* Gone under a concurrent remove(), or swapped for a
		 * link since the fstatat: either way not a directory
		 * of the store any more. */
		if (errno == ELOOP || errno == ENOTDIR) {
			if (w->warn)
				local_planted(w->lc, LOCAL_AT_WARN, sub, S_IFLNK,
				              "a set directory");
		} else if (errno != ENOENT) {
			rc = local_walk_fail(w, errno, "cannot list directory", sub);
		}
		return rc;
	}
	if (w->joblocks && !*keybase && local_job_busy(subfd, &lockfd)) {
		close(subfd);
		return 0;
	}
	before = w->removed;
	if (w->spare && strcmp(key, w->spare) == 0) {
		struct local_walk spare = *w;
		spare.spare = NULL;
		spare.anyage = 0;
		spare.rmdirs = 0;
		rc = local_walk_dir(&spare, subfd, sub, key);
		w->removed = spare.removed;
		w->stopped = spare.stopped;
		if (lockfd >= 0)
			close(lockfd);
		return rc;
	}
	rc = local_walk_dir(w, subfd, sub, key);
	/* Set directories a dead writer left, or that are
	 * empty now; never a job's own directory. */
	if (*keybase && (w->rmdirs || w->removed > before))
		local_walk_rmdir(w, dirfd(d), name, sub);
	if (lockfd >= 0)
		close(lockfd); /* releases the flock */
	return rc;
}

/* Visit the entry e of d: a file is handed to the visitor, a directory
 * walked.  path and keybase are d's. */
static int
local_walk_entry(struct local_walk *w, DIR *d, const struct local_entry *e, const char *path,
                 const char *keybase)
{
	char *sub = NULL, *key = NULL;
	int rc;

	if (asprintf(&key, "%s%s%s", keybase, e->name, e->isdir ? "/" : "") < 0)
		key = NULL;
	if (!key || (e->isdir &&
	             asprintf(&sub, "%s%s%s", path, strcmp(path, "/") ? "/" : "", e->name) < 0)) {
		free(key);
		return local_nomem(w->lc->ctx, "listing the store");
	}
	if (e->isdir)
		rc = local_walk_sub(w, d, e->name, sub, key, keybase);
	else
		rc = w->visit(w, dirfd(d), e->name, key, &e->st);
	free(sub);
	free(key);
	return rc;
}

/* Walk the directory open as fd (taken over: closed here); path names it
 * in messages, keybase is its key with a trailing '/' ("" for the root). */
int
local_walk_dir(struct local_walk *w, int fd, const char *path, const char *keybase)
{
	struct local_entries l = {0};
	size_t i;
	DIR *d;
	int rc;

	d = fdopendir(fd);
	if (!d) {
		rc = local_walk_fail(w, errno, "cannot list directory", path);
		close(fd);
		return rc;
	}
	rc = local_walk_read(w, d, path, keybase, &l);
	if (!rc && l.n > 1)
		qsort(l.v, l.n, sizeof(*l.v), local_entry_cmp);
	for (i = 0; i < l.n && !rc && !w->stopped; i++)
		rc = local_walk_entry(w, d, &l.v[i], path, keybase);
	local_entries_free(&l);
	closedir(d);
	return rc;
}

/* Walk the part of the store that can hold keys starting with prefix. */
static int
local_walk(struct local_walk *w, const char *prefix)
{
	const char *slash = strrchr(prefix, '/');
	char *dirkey = NULL, *start = NULL, *keybase = NULL;
	int rc, fd;

	w->prefix = prefix;
	w->prefix_len = strlen(prefix);
	/* Start in the prefix's directory; it must be a valid key itself,
	 * which also keeps the walk inside the root. */
	dirkey = strndup(prefix, slash ? (size_t)(slash - prefix) : 0);
	keybase = strndup(prefix, slash ? (size_t)(slash - prefix) + 1 : 0);
	if (!dirkey || !keybase) {
		rc = local_nomem(w->lc->ctx, "listing the store");
		goto out;
	}
	if (*dirkey) {
		rc = local_key_check(w->lc->ctx, dirkey);
		if (rc)
			goto out;
	}
	start = local_joinn(w->lc, dirkey, strlen(dirkey));
	if (!start) {
		rc = local_nomem(w->lc->ctx, "listing the store");
		goto out;
	}
	fd = local_dir_at(w->lc, dirkey, strlen(dirkey),
	                  w->hidden ? LOCAL_AT_QUIET : LOCAL_AT_WARN);
	if (fd < 0) {
		/* A missing root or prefix directory is an empty store; a
		 * planted one was warned about and holds nothing of ours. */
		rc = fd == CAIRN_E_NOTFOUND || fd == CAIRN_E_CORRUPT ? 0 : fd;
		if (rc && w->hidden) {
			cairn_log(local_host, w->lc->ctx, CAIRN_LOG_WARN,
			          "looking for leftover temporary files: cannot open directory %s",
			          start);
			rc = 0;
		}
		goto out;
	}
	rc = local_walk_dir(w, fd, start, keybase);
out:
	free(start);
	free(keybase);
	free(dirkey);
	return rc;
}

/* --------------------------------------------------------------- sweep */

/* Is name one of our temporary names, ".NAME.XXXXXX.part"? */
static int
local_is_tmpname(const char *name)
{
	size_t len = strlen(name), i;

	if (len < 14 || name[0] != '.' || strcmp(name + len - 5, ".part") || name[len - 12] != '.')
		return 0;
	for (i = len - 11; i < len - 5; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= 'A' && name[i] <= 'Z') ||
		      (name[i] >= '0' && name[i] <= '9')))
			return 0;
	return 1;
}

int
local_sweep_visit(struct local_walk *w, int dfd, const char *name, const char *key,
                  const struct stat *st)
{
	char buf[256], *path;

	/* A live writer touches its file with every write; a day of
	 * silence means the run that made it is gone.  Holding the job's
	 * lock (anyage) we know that without waiting. */
	if (!local_is_tmpname(name) || (!w->anyage && st->st_mtime > w->now - LOCAL_STALE_SECS))
		return 0;
	path = local_join(w->lc, key);
	if (unlinkat(dfd, name, 0) < 0) {
		if (errno != ENOENT)
			cairn_log(
			        local_host, w->lc->ctx, CAIRN_LOG_WARN,
			        "could not remove %s, a temporary file left by an interrupted backup: %s; delete it by hand",
			        path ? path : key, strerror_r(errno, buf, sizeof(buf)));
	} else {
		cairn_log(local_host, w->lc->ctx, CAIRN_LOG_INFO,
		          "removed %s, a temporary file left by an interrupted backup (%lld bytes)",
		          path ? path : key, (long long)st->st_size);
		w->removed++;
	}
	free(path);
	return 0;
}

/* Remove temporary files that interrupted runs left anywhere in the store,
 * once they are a day old, except in jobs another run holds locked (see
 * local_job_busy).  They are invisible to list(), so nothing else would
 * reclaim their space when their job never runs again.  Runs once per
 * instance, on the first open_write: one walk of the store per backup
 * run.  Never fails: problems are logged. */
void
local_sweep(struct local *lc)
{
	struct local_walk w = {
	        .lc = lc,
	        .hidden = 1,
	        .joblocks = 1,
	        .visit = local_sweep_visit,
	        .now = time(NULL),
	};

	local_walk(&w, "");
}

/* --------------------------------------------------------- list, usage */

static int
local_list_visit(struct local_walk *w, int dfd, const char *name, const char *key,
                 const struct stat *st)
{
	(void)dfd;
	(void)name;
	if (w->cb(w->userdata, key, (uint64_t)st->st_size, (int64_t)st->st_mtime) != 0)
		w->stopped = 1;
	return 0;
}

int
local_list(void *instance, const char *prefix, cairn_list_cb cb, void *userdata)
{
	struct local_walk w = {
	        .lc = instance,
	        .warn = 1,
	        .visit = local_list_visit,
	        .cb = cb,
	        .userdata = userdata,
	};

	return local_walk(&w, prefix ? prefix : "");
}

static int
local_usage_visit(struct local_walk *w, int dfd, const char *name, const char *key,
                  const struct stat *st)
{
	(void)dfd;
	(void)name;
	(void)key;
	w->used += (uint64_t)st->st_size;
	return 0;
}

int
local_usage(void *instance, struct cairn_usage *usage)
{
	struct local *lc = instance;
	struct local_walk w = {
	        .lc = lc,
	        .visit = local_usage_visit,
	};
	struct statvfs vfs;
	char *p, *up;
	int rc;

	rc = local_walk(&w, "");
	if (rc)
		return rc;
	/* Before the first backup the root may not exist yet; the space that
	 * matters is that of the file system it will be created on. */
	p = strdup(lc->root);
	if (!p)
		return local_nomem(lc->ctx, "measuring the store");
	while (statvfs(p, &vfs) < 0) {
		if ((errno != ENOENT && errno != ENOTDIR) || !strcmp(p, "/") || !strcmp(p, ".")) {
			rc = local_fail(lc->ctx, errno, "cannot measure the file system holding", p,
			                NULL);
			free(p);
			return rc;
		}
		up = local_dirname(p);
		free(p);
		if (!up)
			return local_nomem(lc->ctx, "measuring the store");
		p = up;
	}
	free(p);
	usage->used = w.used;
	usage->avail = (uint64_t)vfs.f_bavail * vfs.f_frsize;
	usage->total = (uint64_t)vfs.f_blocks * vfs.f_frsize;
	return 0;
}
