/*
 * walk.c - the backup's walk of `path`: every directory listed in full,
 * sorted, and each name stored through files_store() (write.c); the
 * exclude patterns; the descriptors of the levels.
 *
 * The walk is our own, over directory descriptors: every name is opened,
 * stat'ed and read relative to the descriptor of its directory (openat,
 * fstatat, readlinkat, fgetxattr), so a path of any length works, nothing
 * ever changes the working directory (compression runs in other threads
 * meanwhile, and instances may run side by side), and a tree that changes
 * underneath is met with warnings instead of failures.  Only `path` itself
 * is opened by its name (backup.c does that).
 *
 * Order: each directory is listed in full when it is opened and its names
 * are sorted bytewise, so two backups of one tree store it in one order
 * (diffable listings, stable hard-link choice: the first name in that
 * order carries the data).  Sorting costs little next to the stat and open
 * of each name: 100,000 files in 1,000 directories took the same time
 * sorted and unsorted, within run-to-run noise.  And having the whole
 * listing means a directory's descriptor is all its level keeps open, and
 * even that can be let go (below).
 *
 * Descriptors: a level of the walk holds one descriptor, so a tree deeper
 * than RLIMIT_NOFILE would run out.  The first FILES_BK_FD_LEVELS levels keep
 * theirs; below that a directory's descriptor is closed as soon as one of
 * its subdirectories is entered (its names are in memory already) and is
 * reopened when that subdirectory is done, through the subdirectory's ".."
 * (one openat), or, if the subdirectory was moved meanwhile, name by name
 * from the nearest ancestor still open.  Either way the reopened directory
 * must be the one listed (same st_dev and st_ino); if it is not, the rest
 * of it is skipped with a warning.  So at most FILES_BK_FD_LEVELS + 3
 * descriptors are open however deep the tree.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "files_internal.h"

#include <limits.h>

/* -------------------------------------------------------------- names */

/*
 * A pattern without '/' matches the base name of any entry; one with '/'
 * (or a leading '/', which anchors it and is dropped) matches the whole
 * path below `path`, '/' matched only by '/'.  A trailing '/' limits it to
 * directories.  '*' matches a leading dot too: "*.tmp" leaves out
 * ".x.tmp", which is what someone writing it wants.
 */
int
files_excluded(const struct files_inst *fi, const char *rel, int is_dir)
{
	const char *base = strrchr(rel, '/');
	base = base ? base + 1 : rel;
	for (size_t k = 0; k < fi->nexcl; k++) {
		const struct files_pattern *p = &fi->excl[k];
		if (p->dir_only && !is_dir)
			continue;
		if (p->anchored) {
			if (fnmatch(p->glob, rel, FNM_PATHNAME) == 0)
				return 1;
		} else if (fnmatch(p->glob, base, 0) == 0)
			return 1;
	}
	return 0;
}

/* rel becomes level li's name + "/" + name (just name below the root). */
static int
files_bk_set_rel(struct files_bk *w, size_t li, const char *name)
{
	size_t base = w->lv[li].rellen, len = strlen(name);
	size_t at = base ? base + 1 : 0;
	if (files_bk_grow(&w->rel, &w->relcap, at + len + 1) < 0)
		return CAIRN_E_NOMEM;
	if (base)
		w->rel[base] = '/';
	memcpy(w->rel + at, name, len + 1);
	w->rellen = at + len;
	return 0;
}

/* rel cut back to level li's own name ("." for the root), for messages. */
static const char *
files_bk_level_rel(struct files_bk *w, size_t li)
{
	if (w->lv[li].rellen == 0)
		return ".";
	w->rel[w->lv[li].rellen] = '\0';
	w->rellen = w->lv[li].rellen;
	return w->rel;
}

static int
files_bk_name_cmp(const void *a, const void *b, void *blob)
{
	const struct files_bk_name *x = a, *y = b;
	return strcmp((const char *)blob + x->off, (const char *)blob + y->off);
}

/* Read all names of L->fd into L, sorted.  0 or an errno. */
static int
files_bk_list(struct files_bk *w, struct files_bk_level *L)
{
	L->n = L->next = 0;
	L->blob_len = 0;
	for (;;) {
		ssize_t got = getdents64(L->fd, w->dents, FILES_BK_DENTS);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			return errno;
		}
		if (got == 0)
			break;
		for (ssize_t at = 0; at < got;) {
			struct dirent64 *d = (struct dirent64 *)(void *)(w->dents + at);
			const char *nm = d->d_name;
			size_t len;
			at += d->d_reclen;
			if (nm[0] == '.' && (nm[1] == '\0' || (nm[1] == '.' && nm[2] == '\0')))
				continue;
			len = strlen(nm) + 1;
			if (files_bk_grow(&L->blob, &L->blob_cap, L->blob_len + len) < 0)
				return ENOMEM;
			if (L->n == L->cap) {
				size_t c = L->cap ? L->cap * 2 : 64;
				struct files_bk_name *n = realloc(L->ents, c * sizeof(*n));
				if (n == NULL)
					return ENOMEM;
				L->ents = n;
				L->cap = c;
			}
			memcpy(L->blob + L->blob_len, nm, len);
			L->ents[L->n].off = L->blob_len;
			L->ents[L->n].type = d->d_type;
			L->n++;
			L->blob_len += len;
		}
	}
	qsort_r(L->ents, L->n, sizeof(*L->ents), files_bk_name_cmp, L->blob);
	return 0;
}

/* A level's memory is kept for the next directory at its depth; only a
 * huge listing is given back, so one big directory does not pin it. */
static void
files_bk_level_done(struct files_bk_level *L)
{
	if (L->fd >= 0)
		close(L->fd);
	L->fd = -1;
	if (L->blob_cap > (4u << 20)) {
		free(L->blob);
		free(L->ents);
		L->blob = NULL;
		L->ents = NULL;
		L->blob_cap = L->cap = 0;
	}
	L->n = L->next = 0;
}

/* The name of level k in its parent: the parent's current name. */
static const char *
files_bk_level_name(struct files_bk *w, size_t k)
{
	struct files_bk_level *P = &w->lv[k - 1];
	return P->blob + P->ents[P->next - 1].off;
}

/* Reopen level k, whose descriptor was closed on the way down, from its
 * subdirectory's descriptor cfd (or -1); see the top of this file. */
static int
files_bk_reopen(struct files_bk *w, size_t k, int cfd)
{
	struct files_bk_level *L = &w->lv[k];
	const int dflags = O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK;
	struct stat st;
	int fd = -1;
	size_t j;

	if (cfd >= 0) {
		fd = openat(cfd, "..", dflags);
		if (fd >= 0 &&
		    (fstat(fd, &st) != 0 || st.st_dev != L->dev || st.st_ino != L->ino)) {
			close(fd);
			fd = -1;
		}
	}
	if (fd < 0) {
		/* The subdirectory moved: come down by name instead. */
		for (j = k; w->lv[j].fd < 0; j--)
			;
		fd = w->lv[j].fd;
		for (size_t i = j + 1; i <= k && fd >= 0; i++) {
			int next = openat(fd, files_bk_level_name(w, i), dflags);
			if (fd != w->lv[j].fd)
				close(fd);
			fd = next;
		}
		if (fd >= 0 &&
		    (fstat(fd, &st) != 0 || st.st_dev != L->dev || st.st_ino != L->ino)) {
			close(fd);
			fd = -1;
		}
	}
	if (fd < 0) {
		files_warn(
		        w->run.fi, &w->run.st,
		        "%s (below %s) was moved or removed during the backup; the rest of it skipped",
		        files_bk_level_rel(w, k), w->run.fi->path);
		L->next = L->n;
		return 0;
	}
	L->fd = fd;
	return 0;
}

/* Make room for one more level. */
static int
files_bk_level_room(struct files_bk *w)
{
	if (w->depth == w->lv_cap) {
		size_t c = w->lv_cap ? w->lv_cap * 2 : 16;
		struct files_bk_level *n = realloc(w->lv, c * sizeof(*n));
		if (n == NULL)
			return CAIRN_E_NOMEM;
		memset(n + w->lv_cap, 0, (c - w->lv_cap) * sizeof(*n));
		for (size_t i = w->lv_cap; i < c; i++)
			n[i].fd = -1;
		w->lv = n;
		w->lv_cap = c;
	}
	return 0;
}

/*
 * A directory below the root, opened as dfd (its rel set): list it,
 * store it, and enter it.  The listing comes first so that "skipped"
 * means not stored at all.
 */
static int
files_bk_dir(struct files_bk *w, int fd, const char *name)
{
	struct files_bk_level *C;
	struct stat st;
	int rc, err, pi = (int)w->depth - 1;

	/* Looking up "." needs search permission, as every name inside it
	 * will: an unsearchable directory is unreadable, as for tar. */
	if (fstatat(fd, ".", &st, 0) != 0) {
		err = errno;
		close(fd);
		return files_unreadable(w, w->rel, err, "skipped");
	}
	if (w->run.fi->one_fs && st.st_dev != w->root_dev) {
		/* A mount point: stored, its contents are not ours. */
		rc = files_store(w, fd, w->lv[pi].fd, name, &st);
		close(fd);
		return rc < 0 ? rc : 0;
	}
	rc = files_bk_level_room(w);
	if (rc < 0) {
		close(fd);
		return rc;
	}
	C = &w->lv[w->depth];
	C->fd = fd;
	err = files_bk_list(w, C);
	if (err == ENOMEM) {
		files_bk_level_done(C);
		return CAIRN_E_NOMEM;
	}
	if (err != 0) {
		files_bk_level_done(C);
		return files_unreadable(w, w->rel, err, "skipped");
	}
	rc = files_store(w, fd, w->lv[pi].fd, name, &st);
	if (rc != 0) {
		files_bk_level_done(C);
		return rc < 0 ? rc : 0;
	}
	C->dev = st.st_dev;
	C->ino = st.st_ino;
	C->rellen = w->rellen;
	w->depth++;
	/* Deep down, the parent's names are all in memory: let its
	 * descriptor go, see the top of this file. */
	if ((size_t)pi >= w->fd_levels) {
		close(w->lv[pi].fd);
		w->lv[pi].fd = -1;
	}
	return 0;
}

/* One name of the directory on top of the walk. */
static int
files_bk_visit(struct files_bk *w, const char *name, unsigned char type)
{
	struct files_inst *fi = w->run.fi;
	int dfd = w->lv[w->depth - 1].fd;
	int fd, rc, tries = 0, have_st = 0;
	struct stat st;

	rc = files_bk_set_rel(w, w->depth - 1, name);
	if (rc < 0)
		return rc;
	if (type == DT_UNKNOWN)
		goto restat;
	if (files_excluded(fi, w->rel, type == DT_DIR)) {
		files_log(fi, CAIRN_LOG_DEBUG, "excluded %s", w->rel);
		return 0;
	}
again:
	switch (type) {
	case DT_REG:
		fd = openat(dfd, name,
		            O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK | w->noatime);
		if (fd < 0 && errno == EPERM && w->noatime) {
			/* O_NOATIME is for the owner (or CAP_FOWNER) */
			w->noatime = 0;
			fd = openat(dfd, name,
			            O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
		}
		if (fd < 0) {
			/* Replaced by a symlink or a socket since it was
			 * listed: look again. */
			if ((errno == ELOOP || errno == ENXIO) && tries == 0)
				goto restat;
			return files_unreadable(w, w->rel, errno, "skipped");
		}
		if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
			close(fd);
			if (tries == 0)
				goto restat;
			return files_unreadable(w, w->rel, ENOENT, "skipped");
		}
		rc = files_store(w, fd, dfd, name, &st);
		close(fd);
		return rc < 0 ? rc : 0;
	case DT_DIR:
		fd = openat(dfd, name,
		            O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
		if (fd < 0) {
			if ((errno == ENOTDIR || errno == ELOOP) && tries == 0)
				goto restat;
			return files_unreadable(w, w->rel, errno, "skipped");
		}
		return files_bk_dir(w, fd, name);
	case DT_SOCK:
		/* tar cannot hold sockets; they are recreated by their
		 * server anyway.  GNU tar says the same and goes on. */
		files_log(fi, CAIRN_LOG_INFO, "%s (below %s): socket ignored", w->rel, fi->path);
		return 0;
	default:
		if (!have_st && fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
			return files_unreadable(w, w->rel, errno, "skipped");
		rc = files_store(w, -1, dfd, name, &st);
		return rc < 0 ? rc : 0;
	}

restat:
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return files_unreadable(w, w->rel, errno, "skipped");
	have_st = 1;
	if (type == DT_UNKNOWN && files_excluded(fi, w->rel, S_ISDIR(st.st_mode))) {
		files_log(fi, CAIRN_LOG_DEBUG, "excluded %s", w->rel);
		return 0;
	}
	type = IFTODT(st.st_mode);
	tries++;
	goto again;
}

int
files_bk_walk_tree(struct files_bk *w, int rootfd, const struct stat *st)
{
	struct files_inst *fi = w->run.fi;
	struct files_bk_level *L;
	int rc, err;

	rc = files_bk_level_room(w);
	if (rc < 0) {
		close(rootfd);
		return rc;
	}
	L = &w->lv[0];
	L->fd = rootfd;
	L->dev = st->st_dev;
	L->ino = st->st_ino;
	L->rellen = 0;
	w->depth = 1;
	w->rellen = 0;
	err = files_bk_list(w, L);
	if (err != 0) {
		if (err == ENOMEM)
			return CAIRN_E_NOMEM;
		return cairn_error(files_host, fi->ctx, CAIRN_E_IO, "cannot read path %s: %s",
		                   fi->path, strerror(err));
	}
	if (files_host->cancelled(fi->ctx))
		return CAIRN_E_CANCELLED;
	if (files_bk_grow(&w->rel, &w->relcap, 2) < 0)
		return CAIRN_E_NOMEM;
	w->rel[0] = '\0';
	rc = files_store(w, rootfd, rootfd, ".", st);
	if (rc < 0)
		return rc;

	while (w->depth > 0) {
		L = &w->lv[w->depth - 1];
		if (L->next == L->n) {
			/* done with it: back to its parent */
			if (w->depth >= 2 && w->lv[w->depth - 2].fd < 0) {
				rc = files_bk_reopen(w, w->depth - 2, L->fd);
				if (rc < 0)
					return rc;
				L = &w->lv[w->depth - 1];
			}
			files_bk_level_done(L);
			w->depth--;
			continue;
		}
		if (files_host->cancelled(fi->ctx))
			return CAIRN_E_CANCELLED;
		L->next++;
		if (L->fd < 0)
			continue; /* it moved away, see files_bk_reopen */
		rc = files_bk_visit(w, L->blob + L->ents[L->next - 1].off,
		                    L->ents[L->next - 1].type);
		if (rc < 0)
			return rc;
	}
	return 0;
}
