/*
 * extract.c - one tar entry into the staging tree: directories (their
 * attributes kept for the end), symlinks, FIFOs and devices, hard links
 * (resolved inside the staging tree with a walker of their own), regular
 * files and their data.  A later entry of a name replaces an earlier one,
 * as with tar -x; a directory only ever by a directory.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "files_internal.h"

#include <sys/sysmacros.h>

/* Put "name" into x->norm without "." and empty components or a trailing
 * '/'; "" is the root. */
static int
files_normalise(struct files_x *x, const char *name)
{
	size_t n = strlen(name), o = 0;
	const char *p = name;
	if (n + 1 > x->normcap) {
		char *nb = realloc(x->norm, n + 1);
		if (nb == NULL)
			return CAIRN_E_NOMEM;
		x->norm = nb;
		x->normcap = n + 1;
	}
	while (*p) {
		const char *end = strchr(p, '/');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len > 0 && !(len == 1 && p[0] == '.')) {
			if (o > 0)
				x->norm[o++] = '/';
			memcpy(x->norm + o, p, len);
			o += len;
		}
		p += len;
		while (*p == '/')
			p++;
	}
	x->norm[o] = '\0';
	return 0;
}

/* Make room for an entry of the name: a later entry of a tar replaces an
 * earlier one, as with tar -x.  A directory is only ever replaced by a
 * directory. */
static int
files_make_room(struct files_x *x, int pfd, const char *base, const char *name)
{
	struct stat s;
	if (fstatat(pfd, base, &s, AT_SYMLINK_NOFOLLOW) != 0)
		return files_x_fail(x, name, NULL, errno);
	if (S_ISDIR(s.st_mode)) {
		return cairn_error(
		        files_host, x->fi->ctx, CAIRN_E_CORRUPT,
		        "backup stream holds %s twice, as a directory and as another kind of entry; it is damaged",
		        name);
	}
	if (unlinkat(pfd, base, 0) != 0)
		return files_x_fail(x, name, "cannot replace an earlier entry of that name", errno);
	return 0;
}

/* --------------------------------------------------------- entries */

static int
files_x_dir(struct files_x *x, struct archive_entry *e, const char *name)
{
	struct files_dir *d;
	const char *base;
	int pfd, rc;

	if (*name == '\0') {
		/* the root: its attributes go to the target at the end */
		archive_entry_free(x->root_entry);
		x->root_entry = archive_entry_clone(e);
		return x->root_entry ? 0 : CAIRN_E_NOMEM;
	}
	rc = files_walk_parent(x, &x->w, name, 1, &pfd, &base);
	if (rc < 0)
		return rc;
	if (mkdirat(pfd, base, 0700) != 0) {
		struct stat s;
		if (errno != EEXIST)
			return files_x_fail(x, name, NULL, errno);
		if (fstatat(pfd, base, &s, AT_SYMLINK_NOFOLLOW) != 0)
			return files_x_fail(x, name, NULL, errno);
		if (!S_ISDIR(s.st_mode)) {
			if (unlinkat(pfd, base, 0) != 0 || mkdirat(pfd, base, 0700) != 0)
				return files_x_fail(x, name,
				                    "cannot replace an earlier entry of that name",
				                    errno);
		}
	} else if (x->umask_known && (x->umask & 0700) != 0) {
		if (fchmodat(pfd, base, 0700, 0) != 0)
			return files_x_fail(x, name, NULL, errno);
	}
	if (x->ndirs == x->dircap) {
		size_t nc = x->dircap ? 2 * x->dircap : 64;
		struct files_dir *nd = realloc(x->dirs, nc * sizeof(*nd));
		if (nd == NULL)
			return CAIRN_E_NOMEM;
		x->dirs = nd;
		x->dircap = nc;
	}
	d = &x->dirs[x->ndirs];
	memset(d, 0, sizeof(*d));
	d->name = strdup(name);
	if (d->name == NULL)
		return CAIRN_E_NOMEM;
	d->depth = 1;
	for (const char *p = name; *p; p++)
		d->depth += *p == '/';
	d->seq = x->seq++;
	d->mode = archive_entry_mode(e) & 07777;
	d->uid = files_uid(x, e);
	d->gid = files_gid(x, e);
	files_times(e, d->ts);
	if ((x->fi->xattrs && archive_entry_xattr_count(e) > 0) ||
	    (x->fi->acls && archive_entry_acl_types(e) != 0)) {
		d->extra = archive_entry_clone(e);
		if (d->extra == NULL) {
			free(d->name);
			return CAIRN_E_NOMEM;
		}
	}
	if (!x->is_root && d->uid != x->euid)
		files_warn_owner(x, e, name, d->uid);
	files_fflags(x, e, name);
	x->ndirs++;
	return 0;
}

/* Owner and times of an entry without a descriptor (symlinks, FIFOs,
 * devices), by name in its parent, never following a symlink. */
static int
files_x_attrs_at(struct files_x *x, struct archive_entry *e, int pfd, const char *base,
                 const char *name, int chmod_it)
{
	struct timespec ts[2];
	uid_t uid;
	gid_t gid;

	if (files_owner(x, e, name, 1, &uid, &gid) &&
	    fchownat(pfd, base, uid, gid, AT_SYMLINK_NOFOLLOW) != 0)
		files_owner_failed(x, name, uid, gid, errno);
	if (chmod_it) {
		mode_t m = archive_entry_mode(e) & 07777;
		if ((!x->umask_known || (m & 07000) || (m & x->umask)) &&
		    fchmodat(pfd, base, m, 0) != 0)
			return files_x_fail(x, name, "cannot set its mode", errno);
	}
	files_times(e, ts);
	if (files_times_set(ts) && utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW) != 0)
		return files_x_fail(x, name, "cannot set its times", errno);
	files_no_xattrs(x, e, name);
	files_fflags(x, e, name);
	return 0;
}

static int
files_x_symlink(struct files_x *x, struct archive_entry *e, const char *name)
{
	const char *to = archive_entry_symlink(e), *base;
	int pfd, rc;

	if (to == NULL || *name == '\0') {
		return cairn_error(
		        files_host, x->fi->ctx, CAIRN_E_CORRUPT,
		        "backup stream holds a symbolic link %s without a target; it is damaged",
		        *name ? name : ".");
	}
	rc = files_walk_parent(x, &x->w, name, 1, &pfd, &base);
	if (rc < 0)
		return rc;
	if (symlinkat(to, pfd, base) != 0) {
		if (errno != EEXIST)
			return files_x_fail(x, name, NULL, errno);
		rc = files_make_room(x, pfd, base, name);
		if (rc < 0)
			return rc;
		if (symlinkat(to, pfd, base) != 0)
			return files_x_fail(x, name, NULL, errno);
	}
	return files_x_attrs_at(x, e, pfd, base, name, 0);
}

static int
files_x_node(struct files_x *x, struct archive_entry *e, const char *name, mode_t type)
{
	const char *base;
	int pfd, rc;
	dev_t dev = type == S_IFIFO
	                    ? 0
	                    : makedev(archive_entry_rdevmajor(e), archive_entry_rdevminor(e));
	mode_t m = type | (archive_entry_mode(e) & 0777);

	rc = files_walk_parent(x, &x->w, name, 1, &pfd, &base);
	if (rc < 0)
		return rc;
	if (mknodat(pfd, base, m, dev) != 0) {
		if (errno == EEXIST) {
			rc = files_make_room(x, pfd, base, name);
			if (rc < 0)
				return rc;
			if (mknodat(pfd, base, m, dev) == 0)
				return files_x_attrs_at(x, e, pfd, base, name, 1);
		}
		if (type != S_IFIFO && (errno == EPERM || errno == EACCES)) {
			/* a non-root restore: everything else still comes */
			files_warn(x->fi, x->st,
			           "skipped device node %s: %s; restore as root to create it", name,
			           strerror(errno));
			x->skipped++;
			return 0;
		}
		return files_x_fail(x, name, NULL, errno);
	}
	return files_x_attrs_at(x, e, pfd, base, name, 1);
}

static int
files_x_hardlink(struct files_x *x, struct archive_entry *e, const char *name, const char *link)
{
	const char *base, *lbase;
	int pfd, lfd, rc;
	char *lname;

	/* the link's target is a name of this tar: resolve it inside the
	 * staging directory with a walker of its own */
	rc = files_normalise(x, link);
	if (rc < 0)
		return rc;
	if (*x->norm == '\0') {
		return cairn_error(
		        files_host, x->fi->ctx, CAIRN_E_CORRUPT,
		        "refusing entry '%s' linked to the root of the backup; it is damaged",
		        name);
	}
	lname = strdup(x->norm);
	if (lname == NULL)
		return CAIRN_E_NOMEM;
	rc = files_walk_parent(x, &x->lw, lname, 0, &lfd, &lbase);
	if (rc == CAIRN_E_CORRUPT)
		files_host->set_error(
		        x->fi->ctx,
		        "refusing entry '%s' linked to %s: a symbolic link or a file is on the way there in the backup, and following it could leave the restore target",
		        name, lname);
	if (rc == CAIRN_E_IO) {
		rc = cairn_error(
		        files_host, x->fi->ctx, CAIRN_E_CORRUPT,
		        "restoring %s failed: it is a hard link to %s, which is not earlier in the backup",
		        name, lname);
	}
	if (rc < 0)
		goto done;
	rc = files_walk_parent(x, &x->w, name, 1, &pfd, &base);
	if (rc < 0)
		goto done;
	if (linkat(lfd, lbase, pfd, base, 0) != 0) {
		if (errno == EEXIST) {
			rc = files_make_room(x, pfd, base, name);
			if (rc < 0)
				goto done;
			if (linkat(lfd, lbase, pfd, base, 0) == 0)
				goto linked;
		}
		if (errno == ENOENT)
			files_host->set_error(
			        x->fi->ctx,
			        "restoring %s failed: it is a hard link to %s, which is not earlier in the backup",
			        name, lname);
		rc = errno == ENOENT ? CAIRN_E_CORRUPT
		                     : files_x_fail(x, name, "cannot link it", errno);
		goto done;
	}
linked:
	/* pax allows data on a hard link: it replaces the file's */
	if (archive_entry_size(e) > 0) {
		x->fd = openat(pfd, base, O_WRONLY | O_TRUNC | O_NOFOLLOW | O_CLOEXEC);
		if (x->fd < 0) {
			rc = files_x_fail(x, name, NULL, errno);
			goto done;
		}
		x->size = archive_entry_size(e);
		x->end = 0;
		x->cur = e;
		x->name = name;
	}
	rc = 0;
done:
	free(lname);
	return rc;
}

static int
files_x_file(struct files_x *x, struct archive_entry *e, const char *name)
{
	const char *base;
	int pfd, rc;
	mode_t m = archive_entry_mode(e) & 0777;
	const int fl = O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC;

	if (*name == '\0') {
		return cairn_error(files_host, x->fi->ctx, CAIRN_E_CORRUPT,
		                   "backup stream holds its root \".\" as a file; it is damaged");
	}
	rc = files_walk_parent(x, &x->w, name, 1, &pfd, &base);
	if (rc < 0)
		return rc;
	x->fd = openat(pfd, base, fl, m);
	if (x->fd < 0 && errno == EEXIST) {
		rc = files_make_room(x, pfd, base, name);
		if (rc < 0)
			return rc;
		x->fd = openat(pfd, base, fl, m);
	}
	if (x->fd < 0)
		return files_x_fail(x, name, NULL, errno);
	x->size = archive_entry_size(e);
	x->end = 0;
	x->cur = e;
	x->name = name;
	return 0;
}

int
files_x_data(struct files_x *x, const void *buf, size_t len, la_int64_t off)
{
	const char *p = buf;
	if (x->fd < 0 || len == 0)
		return 0;
	while (len > 0) {
		ssize_t n = pwrite(x->fd, p, len, (off_t)off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return files_x_fail(x, x->name, NULL, errno);
		}
		if (n == 0)
			return files_x_fail(x, x->name, NULL, ENOSPC);
		p += n;
		len -= (size_t)n;
		off += n;
	}
	if (off > x->end)
		x->end = off;
	return 0;
}

/* The regular file's data is written: size, owner, mode, xattrs, ACLs,
 * times, in that order (fchown clears set-id bits and capabilities, an
 * access ACL sets the mode's group bits, times come last). */
int
files_x_finish(struct files_x *x)
{
	struct archive_entry *e = x->cur;
	const char *name = x->name;
	int fd = x->fd, rc = 0;
	struct timespec ts[2];
	mode_t m;
	uid_t uid;
	gid_t gid;

	if (fd < 0)
		return 0;
	x->fd = -1;
	if (x->end < x->size && ftruncate(fd, (off_t)x->size) != 0) {
		rc = files_x_fail(x, name, NULL, errno);
		goto done;
	}
	if (files_owner(x, e, name, 1, &uid, &gid) && fchown(fd, uid, gid) != 0)
		files_owner_failed(x, name, uid, gid, errno);
	m = archive_entry_mode(e) & 07777;
	if ((!x->umask_known || (m & 07000) || (m & x->umask)) && fchmod(fd, m) != 0) {
		rc = files_x_fail(x, name, "cannot set its mode", errno);
		goto done;
	}
	files_xattrs(x, e, fd, name);
	files_acls(x, e, fd, name, 0);
	files_fflags(x, e, name);
	files_times(e, ts);
	if (files_times_set(ts) && futimens(fd, ts) != 0) {
		rc = files_x_fail(x, name, "cannot set its times", errno);
		goto done;
	}
done:
	/* close() reports write errors some file systems (NFS) keep until
	 * then */
	if (close(fd) != 0 && rc == 0 && errno != EINTR)
		rc = files_x_fail(x, name, NULL, errno);
	return rc;
}

/* One entry, its data still to come. */
int
files_x_entry(struct files_x *x, struct archive_entry *e)
{
	const char *link = archive_entry_hardlink(e);
	int rc = files_normalise(x, archive_entry_pathname(e));
	if (rc < 0)
		return rc;
	if (link != NULL && *x->norm != '\0') {
		char *name = strdup(x->norm);
		if (name == NULL)
			return CAIRN_E_NOMEM;
		rc = files_x_hardlink(x, e, name, link);
		/* x->name must live while the data comes */
		if (rc == 0 && x->fd >= 0) {
			rc = files_normalise(x, name);
			x->name = x->norm;
		}
		free(name);
		return rc;
	}
	switch (archive_entry_filetype(e)) {
	case AE_IFDIR: return files_x_dir(x, e, x->norm);
	case AE_IFLNK: return files_x_symlink(x, e, x->norm);
	case AE_IFIFO: return files_x_node(x, e, x->norm, S_IFIFO);
	case AE_IFCHR: return files_x_node(x, e, x->norm, S_IFCHR);
	case AE_IFBLK: return files_x_node(x, e, x->norm, S_IFBLK);
	case AE_IFSOCK:
		files_warn(x->fi, x->st,
		           "skipped socket %s: a socket belongs to the program that made it",
		           x->norm);
		x->skipped++;
		return 0;
	default:
		/* tar -x makes a regular file of an unknown type, too */
		return files_x_file(x, e, x->norm);
	}
}

void
files_x_free(struct files_x *x)
{
	files_walk_free(&x->w);
	files_walk_free(&x->lw);
	for (size_t k = 0; k < x->ndirs; k++) {
		free(x->dirs[k].name);
		archive_entry_free(x->dirs[k].extra);
	}
	free(x->dirs);
	archive_entry_free(x->root_entry);
	for (int g = 0; g < 2; g++)
		for (size_t k = 0; k < FILES_IDS; k++)
			free(x->ids[g][k].name);
	free(x->pwbuf);
	free(x->norm);
}

/* Set up x to extract into the empty directory root. */
void
files_x_begin(struct files_x *x, struct files_inst *fi, struct files_stats *st, int root)
{
	x->fi = fi;
	x->st = st;
	x->root = root;
	x->is_root = geteuid() == 0;
	x->euid = geteuid();
	x->egid = getegid();
	files_read_umask(x);
	files_walk_init(&x->w, root);
	files_walk_init(&x->lw, root);
}
