/*
 * backup.c - the files source's backup: walk `path`, write a pax tar.
 *
 * The walk is our own, over directory descriptors: every name is opened,
 * stat'ed and read relative to the descriptor of its directory (openat,
 * fstatat, readlinkat, fgetxattr), so a path of any length works, nothing
 * ever changes the working directory (compression runs in other threads
 * meanwhile, and instances may run side by side), and a tree that changes
 * underneath is met with warnings instead of failures.  Only `path` itself
 * is opened by its name.  libarchive is used for writing only: each
 * archive_entry is filled here and handed to its pax writer.
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

#include <endian.h>
#include <grp.h>
#include <limits.h>
#include <linux/fs.h>
#include <pwd.h>
#include <stdint.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/xattr.h>

/* Levels that keep their descriptor open; see the top of this file. */
#define FILES_BK_FD_LEVELS 64
/* Bytes read from a file per call. */
#define FILES_BK_DATA_BUF (128 * 1024)
/* getdents64() buffer. */
#define FILES_BK_DENTS (32 * 1024)
/* Cached uid and gid names, each; a slot is uid % FILES_BK_IDCACHE. */
#define FILES_BK_IDCACHE 64

/* One name of a directory: an offset into its level's blob. */
struct files_bk_name {
	size_t off;
	unsigned char type; /* d_type: DT_UNKNOWN when the fs does not say */
};

/* One directory of the walk, listed in full when it was opened. */
struct files_bk_level {
	int fd; /* -1 while closed, see the top of this file */
	dev_t dev;
	ino_t ino;
	size_t rellen; /* its name below `path` is rel[0, rellen) */
	char *blob;    /* the names, each NUL-ended */
	size_t blob_len, blob_cap;
	struct files_bk_name *ents;
	size_t n, next, cap;
};

struct files_bk_id {
	unsigned long id;
	int set;
	char *name; /* NULL: no such user or group */
};

/* One backup run. */
struct files_bk {
	struct files_run run;
	struct archive *tar;
	struct archive_entry *e;
	struct archive_entry_linkresolver *links;
	struct files_bk_level *lv;
	size_t depth, lv_cap;
	size_t fd_levels;
	char *rel; /* the current entry's name below `path` */
	size_t rellen, relcap;
	dev_t root_dev;
	int noatime; /* O_NOATIME until it was refused once */
	char *data;  /* FILES_BK_DATA_BUF bytes */
	char *dents; /* FILES_BK_DENTS bytes */
	char *xlist, *xval, *link, *pw;
	size_t xlist_cap, xval_cap, link_cap, pw_cap;
	struct files_bk_id users[FILES_BK_IDCACHE], groups[FILES_BK_IDCACHE];
};

/* -------------------------------------------------------------- names */

/*
 * A pattern without '/' matches the base name of any entry; one with '/'
 * (or a leading '/', which anchors it and is dropped) matches the whole
 * path below `path`, '/' matched only by '/'.  A trailing '/' limits it to
 * directories.  '*' matches a leading dot too: "*.tmp" leaves out
 * ".x.tmp", which is what someone writing it wants.
 */
static int
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

/* Grow *buf to hold need bytes. */
static int
files_bk_grow(char **buf, size_t *cap, size_t need)
{
	size_t c = *cap ? *cap : 256;
	char *n;
	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	n = realloc(*buf, c);
	if (n == NULL)
		return CAIRN_E_NOMEM;
	*buf = n;
	*cap = c;
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

static const char *
files_bk_idcache(struct files_bk *w, struct files_bk_id *slot, unsigned long id, int group)
{
	int r;
	if (slot->set && slot->id == id)
		return slot->name;
	free(slot->name);
	slot->name = NULL;
	slot->set = 0;
	if (w->pw_cap == 0 && files_bk_grow(&w->pw, &w->pw_cap, 1024) < 0)
		return NULL;
	for (;;) {
		const char *found = NULL;
		if (group) {
			struct group gr, *res = NULL;
			r = getgrgid_r((gid_t)id, &gr, w->pw, w->pw_cap, &res);
			if (r == 0 && res != NULL)
				found = res->gr_name;
		} else {
			struct passwd pw, *res = NULL;
			r = getpwuid_r((uid_t)id, &pw, w->pw, w->pw_cap, &res);
			if (r == 0 && res != NULL)
				found = res->pw_name;
		}
		if (r == ERANGE && w->pw_cap < (1u << 20)) {
			if (files_bk_grow(&w->pw, &w->pw_cap, w->pw_cap * 2) < 0)
				return NULL;
			continue;
		}
		if (r == EINTR)
			continue;
		/* Not found or a lookup error: the tar keeps the number. */
		if (found != NULL && (slot->name = strdup(found)) == NULL)
			return NULL;
		break;
	}
	slot->id = id;
	slot->set = 1;
	return slot->name;
}

static const char *
files_bk_uname(struct files_bk *w, uid_t uid)
{
	return files_bk_idcache(w, &w->users[uid % FILES_BK_IDCACHE], uid, 0);
}

static const char *
files_bk_gname(struct files_bk *w, gid_t gid)
{
	return files_bk_idcache(w, &w->groups[gid % FILES_BK_IDCACHE], gid, 1);
}

/* ------------------------------------------------------------- writer */

static la_ssize_t
files_write_cb(struct archive *tar, void *data, const void *buf, size_t len)
{
	struct files_run *run = data;
	int rc;

	/* After a failure or a cancel, libarchive still flushes on free;
	 * nothing more may reach out. */
	if (run->closed) {
		archive_set_error(tar, ECANCELED, "backup stream closed");
		return -1;
	}
	rc = run->out->write(run->out, buf, len);
	if (rc < 0) {
		run->out_err = rc;
		run->closed = 1;
		archive_set_error(tar, EIO, "writing the backup stream failed");
		return -1;
	}
	return (la_ssize_t)len;
}

/* The writer failed: out's own code if out failed, else an I/O error. */
static int
files_tar_failed(struct files_bk *w, const char *what)
{
	w->run.closed = 1;
	if (w->run.out_err < 0)
		return w->run.out_err;
	files_host->set_error(w->run.fi->ctx, "writing the tar entry for %s failed: %s", what,
	                      archive_error_string(w->tar));
	return CAIRN_E_IO;
}

/*
 * The current entry (rel) could not be read.  One that vanished since it
 * was listed is always just a warning: a live tree changes while it is
 * backed up.  Anything else is a warning with ignore_unreadable, else it
 * ends the backup.
 */
static int
files_unreadable(struct files_bk *w, const char *rel, int err, const char *consequence)
{
	struct files_inst *fi = w->run.fi;
	const char *why = err > 0 ? strerror(err) : "unknown error";

	if (err == ENOENT || err == ENOTDIR) {
		files_warn(fi, &w->run.st, "vanished before it could be read: %s (below %s); %s",
		           rel, fi->path, consequence);
		return 0;
	}
	if (fi->ignore_unreadable) {
		files_warn(fi, &w->run.st, "cannot read %s (below %s): %s; %s", rel, fi->path, why,
		           consequence);
		return 0;
	}
	files_host->set_error(
	        fi->ctx,
	        "cannot read %s (below %s): %s; fix its permissions, exclude it, or set ignore_unreadable = yes",
	        rel, fi->path, why);
	return CAIRN_E_IO;
}

/* Hand len bytes of the current entry to the writer.  It takes fewer only
 * when the entry is full (the file grew): the rest is dropped. */
static int
files_put(struct files_bk *w, const void *buf, size_t len)
{
	const char *p = buf;
	while (len > 0) {
		la_ssize_t n = archive_write_data(w->tar, p, len);
		if (n < 0)
			return files_tar_failed(w, w->rel);
		if (n == 0)
			break;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Holes of sparse files are handed to the pax writer as runs of zeros, as
 * bsdtar does; it knows the sparse map and skips them without copying. */
static int
files_put_zeros(struct files_bk *w, int64_t len)
{
	while (len > 0) {
		size_t n = len > (int64_t)sizeof(files_zeros) ? sizeof(files_zeros) : (size_t)len;
		la_ssize_t r = archive_write_data(w->tar, files_zeros, n);
		if (r < 0)
			return files_tar_failed(w, w->rel);
		if (r == 0)
			break;
		len -= r;
	}
	return 0;
}

/* ----------------------------------------------------------- metadata */

/* Where a name without a descriptor of its own (symlink, FIFO, device)
 * can be reached for its xattrs: through its directory's descriptor, so
 * the path is short however deep the tree.  Opening a FIFO or a device to
 * get a descriptor could block or have side effects (a tape rewinds). */
static void
files_bk_proc_path(char *p, size_t cap, int dfd, const char *name)
{
	snprintf(p, cap, "/proc/self/fd/%d/%s", dfd, name);
}
#define FILES_BK_PROC_PATH (sizeof("/proc/self/fd//") + 3 * sizeof(int) + NAME_MAX + 1)

static ssize_t
files_bk_getx(struct files_bk *w, int fd, const char *proc, const char *attr)
{
	/* a buffer of size 0 would ask for the size only */
	if (w->xval_cap == 0 && files_bk_grow(&w->xval, &w->xval_cap, 4096) < 0) {
		errno = ENOMEM;
		return -1;
	}
	for (;;) {
		ssize_t n = fd >= 0 ? fgetxattr(fd, attr, w->xval, w->xval_cap)
		                    : lgetxattr(proc, attr, w->xval, w->xval_cap);
		if (n >= 0 || errno != ERANGE)
			return n;
		n = fd >= 0 ? fgetxattr(fd, attr, NULL, 0) : lgetxattr(proc, attr, NULL, 0);
		if (n < 0)
			return n;
		if (files_bk_grow(&w->xval, &w->xval_cap, (size_t)n + 1) < 0) {
			errno = ENOMEM;
			return -1;
		}
	}
}

static int
files_bk_acl_decode(struct files_bk *w, const unsigned char *p, size_t len, int type)
{
	uint32_t v;
	if (len < 4 || (len - 4) % 8 != 0)
		return -1;
	memcpy(&v, p, 4);
	if (le32toh(v) != FILES_ACL_VERSION)
		return -1;
	for (size_t at = 4; at < len; at += 8) {
		uint16_t tag, perm;
		uint32_t id;
		int ae_tag, ae_id = -1;
		const char *name = NULL;
		memcpy(&tag, p + at, 2);
		memcpy(&perm, p + at + 2, 2);
		memcpy(&id, p + at + 4, 4);
		switch (le16toh(tag)) {
		case FILES_ACL_USER_OBJ: ae_tag = ARCHIVE_ENTRY_ACL_USER_OBJ; break;
		case FILES_ACL_GROUP_OBJ: ae_tag = ARCHIVE_ENTRY_ACL_GROUP_OBJ; break;
		case FILES_ACL_MASK: ae_tag = ARCHIVE_ENTRY_ACL_MASK; break;
		case FILES_ACL_OTHER: ae_tag = ARCHIVE_ENTRY_ACL_OTHER; break;
		case FILES_ACL_USER:
			ae_tag = ARCHIVE_ENTRY_ACL_USER;
			ae_id = (int)le32toh(id);
			name = files_bk_uname(w, (uid_t)le32toh(id));
			break;
		case FILES_ACL_GROUP:
			ae_tag = ARCHIVE_ENTRY_ACL_GROUP;
			ae_id = (int)le32toh(id);
			name = files_bk_gname(w, (gid_t)le32toh(id));
			break;
		default: continue; /* as libarchive: tags tar cannot hold */
		}
		/* r, w, x are 4, 2, 1 in both encodings.  The three base
		 * entries of an access ACL only restate the mode; libarchive
		 * folds them into it, as when it read ACLs itself. */
		archive_entry_acl_add_entry(w->e, type, le16toh(perm) & 7, ae_tag, ae_id, name);
	}
	return 0;
}

/* Which ACLs an entry has, as its list of xattr names says. */
#define FILES_BK_HAS_ACCESS 1
#define FILES_BK_HAS_DEFAULT 2

static void
files_bk_acls(struct files_bk *w, int fd, const char *proc, int has)
{
	static const struct {
		const char *attr;
		int type, bit;
	} kinds[] = {
	        {"system.posix_acl_access", ARCHIVE_ENTRY_ACL_TYPE_ACCESS, FILES_BK_HAS_ACCESS},
	        {"system.posix_acl_default", ARCHIVE_ENTRY_ACL_TYPE_DEFAULT, FILES_BK_HAS_DEFAULT},
	};
	for (size_t k = 0; k < 2; k++) {
		ssize_t n;
		if (!(has & kinds[k].bit))
			continue;
		n = files_bk_getx(w, fd, proc, kinds[k].attr);
		if (n < 0) {
			if (errno != ENODATA && errno != ENOTSUP && errno != ENOENT)
				files_warn(
				        w->run.fi, &w->run.st,
				        "%s (below %s): cannot read its ACL: %s; stored without it",
				        w->rel, w->run.fi->path, strerror(errno));
			continue;
		}
		if (files_bk_acl_decode(w, (unsigned char *)w->xval, (size_t)n, kinds[k].type) < 0)
			files_warn(
			        w->run.fi, &w->run.st,
			        "%s (below %s): its ACL is in an unknown format; stored without it",
			        w->rel, w->run.fi->path);
	}
}

/* Attributes that are not plain xattrs on Linux, as libarchive skips
 * them: obsolete ACL and xfsroot namespaces. */
static int
files_bk_xattr_skipped(const char *name)
{
	return strcmp(name, "trusted.SGI_ACL_DEFAULT") == 0 ||
	       strcmp(name, "trusted.SGI_ACL_FILE") == 0 || strncmp(name, "xfsroot.", 8) == 0;
}

/*
 * Store the xattrs (with `xattrs`) and say which ACLs there are: the
 * kernel lists system.posix_acl_* among the names wherever a file has
 * one, so a file without xattrs or ACLs, nearly every file, costs one
 * call.  The ACLs are stored as SCHILY.acl.*, not as xattrs.
 */
static int
files_bk_xattrs(struct files_bk *w, int fd, const char *proc)
{
	ssize_t len;
	int has = 0;
	if (w->xlist_cap == 0 && files_bk_grow(&w->xlist, &w->xlist_cap, 4096) < 0)
		return 0;
	for (;;) {
		len = fd >= 0 ? flistxattr(fd, w->xlist, w->xlist_cap)
		              : llistxattr(proc, w->xlist, w->xlist_cap);
		if (len >= 0 || errno != ERANGE)
			break;
		len = fd >= 0 ? flistxattr(fd, NULL, 0) : llistxattr(proc, NULL, 0);
		if (len < 0 || files_bk_grow(&w->xlist, &w->xlist_cap, (size_t)len + 1) < 0)
			break;
	}
	if (len < 0) {
		if (errno != ENOTSUP && errno != ENOENT)
			files_warn(
			        w->run.fi, &w->run.st,
			        "%s (below %s): cannot read its extended attributes: %s; stored without them",
			        w->rel, w->run.fi->path, strerror(errno));
		return 0;
	}
	for (ssize_t at = 0; at < len; at += (ssize_t)strlen(w->xlist + at) + 1) {
		const char *name = w->xlist + at;
		ssize_t n;
		if (strcmp(name, "system.posix_acl_access") == 0) {
			has |= FILES_BK_HAS_ACCESS;
			continue;
		}
		if (strcmp(name, "system.posix_acl_default") == 0) {
			has |= FILES_BK_HAS_DEFAULT;
			continue;
		}
		if (!w->run.fi->xattrs || files_bk_xattr_skipped(name))
			continue;
		n = files_bk_getx(w, fd, proc, name);
		if (n < 0) /* removed since it was listed */
			continue;
		archive_entry_xattr_add_entry(w->e, name, w->xval, (size_t)n);
	}
	return has;
}

/* The data map of a file with holes, as libarchive's disk reader makes it:
 * no map for a file without holes, one empty run for one that is all
 * hole.  Only asked where the blocks are fewer than the size says. */
static void
files_bk_sparse(struct files_bk *w, int fd, const struct stat *st)
{
	off_t size = st->st_size, s = 0, h;
	if (size <= 0 || (off_t)st->st_blocks * 512 >= size)
		return;
	while (s < size) {
		s = lseek(fd, s, SEEK_DATA);
		if (s < 0) {
			if (errno == ENXIO && archive_entry_sparse_count(w->e) == 0)
				archive_entry_sparse_add_entry(w->e, 0, 0);
			/* EINVAL: the fs cannot tell; read it all */
			return;
		}
		h = lseek(fd, s, SEEK_HOLE);
		if (h < 0)
			return;
		if (s == 0 && h >= size)
			return; /* no hole after all */
		if (h > size)
			h = size;
		archive_entry_sparse_add_entry(w->e, s, h - s);
		s = h;
	}
}

/* ---------------------------------------------------------------- data */

/* Copy len bytes from off.  1: the file ended early (the writer pads). */
static int
files_bk_copy_range(struct files_bk *w, int fd, int64_t off, int64_t len)
{
	while (len > 0) {
		size_t want = len > FILES_BK_DATA_BUF ? FILES_BK_DATA_BUF : (size_t)len;
		ssize_t n;
		int rc;
		if (files_host->cancelled(w->run.fi->ctx))
			return CAIRN_E_CANCELLED;
		n = pread(fd, w->data, want, off);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			files_host->set_error(w->run.fi->ctx, "reading %s (below %s) failed: %s",
			                      w->rel, w->run.fi->path, strerror(errno));
			return CAIRN_E_IO;
		}
		if (n == 0)
			return 1;
		rc = files_put(w, w->data, (size_t)n);
		if (rc < 0)
			return rc;
		off += n;
		len -= n;
	}
	return 0;
}

/* Copy one regular file's data.  The header is out already, so whatever
 * happens the entry must end at its declared size: the writer pads a short
 * entry with zeros in finish_entry. */
static int
files_copy_data(struct files_bk *w, int fd, int64_t size)
{
	la_int64_t off, len;
	int64_t done = 0;
	int rc;

	/* The pax writer emits a sparse file's map with the first data call;
	 * make that call even if no data follows, or the entry is short. */
	if (archive_write_data(w->tar, files_zeros, 0) < 0)
		return files_tar_failed(w, w->rel);
	if (archive_entry_sparse_reset(w->e) == 0)
		return files_bk_copy_range(w, fd, 0, size);
	while (archive_entry_sparse_next(w->e, &off, &len) == ARCHIVE_OK) {
		if (len <= 0)
			continue;
		if (off > done) {
			rc = files_put_zeros(w, off - done);
			if (rc < 0)
				return rc;
		}
		rc = files_bk_copy_range(w, fd, off, len);
		if (rc != 0)
			return rc;
		done = off + len;
	}
	return 0;
}

/* ------------------------------------------------------------- entries */

/*
 * Store the current entry (rel; "." for the root).  fd is its own
 * descriptor for a regular file or a directory, else -1 and it is reached
 * as name in dfd.  1: it was not stored (a warning said why).
 */
static int
files_store(struct files_bk *w, int fd, int dfd, const char *name, const struct stat *st)
{
	struct files_inst *fi = w->run.fi;
	struct archive_entry *e = w->e, *spare = NULL;
	char proc[FILES_BK_PROC_PATH];
	const char *s, *shown = w->rellen ? w->rel : ".";
	int r, rc;
	int64_t size = st->st_size;

	archive_entry_clear(e);
	archive_entry_copy_pathname(e, shown);
	archive_entry_copy_stat(e, st);
	/* ctime cannot be restored and birth time is not ours to keep; full
	 * pax would store both in every entry. */
	archive_entry_unset_ctime(e);
	archive_entry_unset_birthtime(e);
	if ((s = files_bk_uname(w, st->st_uid)) != NULL)
		archive_entry_copy_uname(e, s);
	if ((s = files_bk_gname(w, st->st_gid)) != NULL)
		archive_entry_copy_gname(e, s);
	proc[0] = '\0';
	if (fd < 0)
		files_bk_proc_path(proc, sizeof(proc), dfd, name);

	if (S_ISLNK(st->st_mode)) {
		ssize_t n;
		if (files_bk_grow(&w->link, &w->link_cap, (size_t)st->st_size + 2) < 0)
			return CAIRN_E_NOMEM;
		for (;;) {
			n = readlinkat(dfd, name, w->link, w->link_cap);
			if (n < 0 || (size_t)n < w->link_cap)
				break;
			if (files_bk_grow(&w->link, &w->link_cap, w->link_cap * 2) < 0)
				return CAIRN_E_NOMEM;
		}
		if (n < 0) {
			rc = files_unreadable(w, shown, errno, "skipped");
			return rc < 0 ? rc : 1;
		}
		w->link[n] = '\0';
		archive_entry_copy_symlink(e, w->link);
	}
	if (fd >= 0) {
		/* ext2-style flags (immutable, append-only, nodump...), as
		 * libarchive's disk reader stores them: one ioctl */
		int flags = 0;
		if (ioctl(fd, FS_IOC_GETFLAGS, &flags) == 0 && flags != 0)
			archive_entry_set_fflags(e, (unsigned long)flags, 0);
	}
	if (fi->xattrs || fi->acls) {
		int has = files_bk_xattrs(w, fd, proc);
		/* A symlink has no ACL of its own, only a directory a
		 * default one. */
		if (!S_ISDIR(st->st_mode))
			has &= ~FILES_BK_HAS_DEFAULT;
		if (fi->acls && !S_ISLNK(st->st_mode))
			files_bk_acls(w, fd, proc, has);
	}
	if (fd >= 0 && S_ISREG(st->st_mode))
		files_bk_sparse(w, fd, st);

	/* The second and later names of a file become hard-link entries
	 * pointing at the first; e is changed in place (tar strategy). */
	archive_entry_linkify(w->links, &e, &spare);
	if (e == NULL) /* not with the tar strategy, but be safe */
		return 1;

	r = archive_write_header(w->tar, e);
	if (r == ARCHIVE_FATAL)
		return files_tar_failed(w, shown);
	if (r == ARCHIVE_FAILED) {
		/* The entry was not written, the tar is intact. */
		files_warn(fi, &w->run.st, "%s (below %s) not stored: %s", shown, fi->path,
		           archive_error_string(w->tar));
		return 1;
	}
	if (r == ARCHIVE_WARN)
		files_warn(fi, &w->run.st, "%s (below %s): %s", shown, fi->path,
		           archive_error_string(w->tar));
	files_count(&w->run.st, e, size);

	/* The writer set the size it wants: 0 for a hard-link entry. */
	if (S_ISREG(st->st_mode) && archive_entry_size(e) > 0) {
		struct stat after;
		rc = files_copy_data(w, fd, size);
		if (rc < 0)
			return rc;
		if (archive_write_finish_entry(w->tar) < ARCHIVE_WARN)
			return files_tar_failed(w, shown);
		/* The tar holds `size` bytes whatever happened; say so when
		 * they may be a mix of old and new.  Asked of the open file,
		 * not of its name, which may be another file by now. */
		if (fstat(fd, &after) != 0)
			return 0;
		if (after.st_nlink == 0)
			files_warn(
			        fi, &w->run.st,
			        "%s (below %s) vanished while it was read; the stored copy may be incomplete",
			        shown, fi->path);
		else if (after.st_size != st->st_size ||
		         after.st_mtim.tv_sec != st->st_mtim.tv_sec ||
		         after.st_mtim.tv_nsec != st->st_mtim.tv_nsec)
			files_warn(
			        fi, &w->run.st,
			        "%s (below %s) changed while it was read (size %lld, now %lld); the stored copy may be inconsistent",
			        shown, fi->path, (long long)size, (long long)after.st_size);
		return 0;
	}
	if (archive_write_finish_entry(w->tar) < ARCHIVE_WARN)
		return files_tar_failed(w, shown);
	return 0;
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

/* Open `path`, the one name opened as a whole, and check it. */
static int
files_bk_open_root(struct files_inst *fi, struct stat *st)
{
	/* "hybrid", as tar -h for the top only: `path` may be a symlink to
	 * the tree (/srv/uploads -> /data/uploads); every link inside is
	 * stored as a link. */
	int fd = open(fi->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	int err = errno;
	if (fd < 0 && err == ENOENT) {
		files_host->set_error(fi->ctx, "path %s does not exist; check the source's `path`",
		                      fi->path);
		return CAIRN_E_NOTFOUND;
	}
	if (fd < 0 && err == ENOTDIR && stat(fi->path, st) == 0 && !S_ISDIR(st->st_mode)) {
		files_host->set_error(
		        fi->ctx,
		        "path %s is not a directory; set `path` to the directory to back up",
		        fi->path);
		return CAIRN_E_CONFIG;
	}
	/* An unreadable root is never "skipped": that would be an empty
	 * backup that looks fine.  "." needs search permission. */
	if (fd >= 0 && fstatat(fd, ".", st, 0) != 0) {
		err = errno;
		close(fd);
		fd = -1;
	}
	if (fd < 0) {
		files_host->set_error(fi->ctx, "cannot read path %s: %s", fi->path, strerror(err));
		return CAIRN_E_IO;
	}
	return fd;
}

static int
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
		files_host->set_error(fi->ctx, "cannot read path %s: %s", fi->path, strerror(err));
		return CAIRN_E_IO;
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

/* ------------------------------------------------------ the estimate */

/* Bytes of tar one entry of size bytes takes: a pax extended header and
 * a ustar header (512 bytes each, the pax records mostly fit in one more
 * block) and the data in whole blocks.  An estimate: long names, xattrs
 * and hard links make it differ a little, and the core shows percent and
 * time left only while the count stays below it. */
#define FILES_EST_BLOCK 512 /* a tar block */
#define FILES_EST_HEADER (3 * FILES_EST_BLOCK)
#define FILES_EST_DEPTH 64 /* deeper trees are counted to here only */

struct files_est {
	const struct files_inst *fi;
	dev_t root_dev;
	uint64_t bytes;
	unsigned long seen;
	char rel[PATH_MAX];
	int stop; /* cancelled */
};

/* Sum the sizes below the open directory dfd (rel holds its name below
 * `path`, len bytes), as the walk will see them: excludes and
 * one_file_system applied, symlinks not followed.  Unreadable parts are
 * skipped: the walk reports them. */
static void
files_est_dir(struct files_est *e, int dfd, size_t len, int depth)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	if (d == NULL) {
		close(dfd);
		return;
	}
	while (!e->stop && (de = readdir(d)) != NULL) {
		struct stat st;
		size_t n = strlen(de->d_name);
		int is_dir;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (++e->seen % 4096 == 0 && files_host->cancelled(e->fi->ctx))
			e->stop = 1;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    len + n + 2 > sizeof(e->rel))
			continue;
		is_dir = S_ISDIR(st.st_mode);
		snprintf(e->rel + len, sizeof(e->rel) - len, "%s%s", len ? "/" : "", de->d_name);
		if (files_excluded(e->fi, e->rel, is_dir))
			continue;
		e->bytes += FILES_EST_HEADER;
		if (S_ISREG(st.st_mode))
			e->bytes += ((uint64_t)st.st_size + FILES_EST_BLOCK - 1) / FILES_EST_BLOCK *
			            FILES_EST_BLOCK;
		if (is_dir && depth < FILES_EST_DEPTH &&
		    (!e->fi->one_fs || st.st_dev == e->root_dev)) {
			int sub = openat(dirfd(d), de->d_name,
			                 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0)
				files_est_dir(e, sub, len + (len ? 1 : 0) + n, depth + 1);
		}
		e->rel[len] = '\0';
	}
	closedir(d);
}

/* Announce the tree's expected tar size for the progress line.  A first
 * walk of the metadata costs a stat per entry (on a warm cache a few per
 * cent of the backup), so it is done only where the number is shown:
 * when stderr is a terminal, as the core's progress line is. */
static void
files_announce_total(struct files_inst *fi, int rootfd, const struct stat *root)
{
	struct files_est e = {.fi = fi, .root_dev = root->st_dev};
	int fd;
	if (!CAIRN_HOST_HAS(files_host, progress_total) || !isatty(STDERR_FILENO))
		return;
	fd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	e.bytes = FILES_EST_HEADER + FILES_RECORD; /* the root, the end of the archive */
	files_est_dir(&e, fd, 0, 0);
	if (!e.stop)
		files_host->progress_total(fi->ctx, e.bytes);
}

int
files_backup(void *instance, struct cairn_out *out)
{
	struct files_inst *fi = instance;
	struct files_bk w;
	struct files_locale loc;
	struct rlimit rl;
	struct stat st;
	int rc = 0, rootfd;

	memset(&w, 0, sizeof(w));
	w.run.fi = fi;
	w.run.out = out;
	w.noatime = O_NOATIME;
	/* Room for the core's and the compressor's descriptors besides. */
	w.fd_levels = FILES_BK_FD_LEVELS;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur / 4 < w.fd_levels)
		w.fd_levels = rl.rlim_cur / 4 > 1 ? (size_t)(rl.rlim_cur / 4) : 1;

	files_locale_enter(&loc);
	rootfd = files_bk_open_root(fi, &st);
	if (rootfd < 0) {
		rc = rootfd;
		goto done;
	}
	w.root_dev = st.st_dev;
	files_announce_total(fi, rootfd, &st);

	w.tar = archive_write_new();
	w.e = archive_entry_new();
	w.links = archive_entry_linkresolver_new();
	w.data = malloc(FILES_BK_DATA_BUF);
	w.dents = malloc(FILES_BK_DENTS);
	if (w.tar == NULL || w.e == NULL || w.links == NULL || w.data == NULL || w.dents == NULL) {
		close(rootfd);
		rc = CAIRN_E_NOMEM;
		goto done;
	}
	/* Full pax, not "restricted": every entry gets an extended header,
	 * so sub-second mtimes are kept even where nothing else needs one.
	 * Only SCHILY.xattr headers, which both GNU tar and libarchive read
	 * (GNU tar warns about LIBARCHIVE.xattr ones). */
	if (archive_write_set_format_pax(w.tar) != ARCHIVE_OK ||
	    archive_write_set_format_option(w.tar, "pax", "xattrheader", "SCHILY") < ARCHIVE_WARN ||
	    archive_write_set_bytes_per_block(w.tar, files_block_size) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(w.tar, FILES_RECORD) != ARCHIVE_OK) {
		files_host->set_error(fi->ctx, "setting up the tar writer failed: %s",
		                      archive_error_string(w.tar));
		close(rootfd);
		rc = CAIRN_E_IO;
		goto done;
	}
	archive_entry_linkresolver_set_strategy(w.links, archive_format(w.tar));
	if (archive_write_open2(w.tar, &w.run, NULL, files_write_cb, NULL, NULL) != ARCHIVE_OK) {
		close(rootfd);
		rc = files_tar_failed(&w, "the archive start");
		goto done;
	}

	rc = files_bk_walk_tree(&w, rootfd, &st);
	if (rc < 0)
		goto done;
	/* With the tar strategy the resolver holds nothing back (the first
	 * name of a file carries its data), so there is nothing to flush. */
	if (archive_write_close(w.tar) != ARCHIVE_OK) {
		rc = files_tar_failed(&w, "the end of the archive");
		goto done;
	}

done:
	if (rc == CAIRN_E_CANCELLED)
		files_host->set_error(fi->ctx, "backup of %s cancelled", fi->path);
	if (rc < 0)
		w.run.closed = 1;
	if (w.tar != NULL)
		archive_write_free(w.tar);
	if (w.links != NULL)
		archive_entry_linkresolver_free(w.links);
	archive_entry_free(w.e);
	for (size_t i = 0; i < w.lv_cap; i++) {
		if (w.lv[i].fd >= 0)
			close(w.lv[i].fd);
		free(w.lv[i].blob);
		free(w.lv[i].ents);
	}
	free(w.lv);
	for (size_t i = 0; i < FILES_BK_IDCACHE; i++) {
		free(w.users[i].name);
		free(w.groups[i].name);
	}
	free(w.rel);
	free(w.data);
	free(w.dents);
	free(w.xlist);
	free(w.xval);
	free(w.link);
	free(w.pw);
	files_emit_stats(fi, &w.run.st);
	files_locale_leave(&loc);
	return rc;
}
