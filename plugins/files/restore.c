/*
 * restore.c - the files source's restore and verify: read a pax tar back.
 *
 * libarchive only parses the tar here; the extraction is our own, relative
 * to directory descriptors, so that:
 *
 *  - nothing is written outside the target: every entry's path is walked
 *    one component at a time from the staging root with
 *    openat(O_NOFOLLOW | O_DIRECTORY), and a symlink on the way is refused;
 *  - the target changes only after the whole object was read and proven
 *    good (ABI 1.1: in->read() returns 0 only then).  Until then entries go
 *    into a staging directory on the target's file system: beside a target
 *    that does not exist yet (".NAME.cairn-restore.XXXXXX", renamed to the
 *    target at the end), or inside one that exists (".cairn-restore.XXXXXX",
 *    whose entries are then moved into place, replacing their namesakes).
 *    Any failure, damage or cancel removes the staging tree and leaves the
 *    target as it was;
 *  - every failed write, truncate, close or the final syncfs() fails the
 *    restore, naming the entry below the target and the cause;
 *  - a file costs about what it costs GNU tar: one openat, the writes,
 *    fchown (root only, and only when the owner differs), fchmod (only when
 *    the umask changed the mode), futimens and close.  Consecutive entries
 *    in one directory reuse its descriptor.
 *
 * Directories are created 0700 and get their mode, owner, times, xattrs
 * and ACLs at the very end, deepest first (GNU tar's delayed set-stat), so
 * that filling them never changes their times and a read-only directory
 * can still be filled.  That happens after they are in place, since moving
 * entries into a directory changes its times too.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "files_internal.h"

#include <grp.h>
#include <pwd.h>
#include <stdint.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <time.h>

/* Bytes pulled from in->read() per call: fewer, larger calls into the
 * core's decompressor. */
#define FILES_RESTORE_BUF (256 * 1024)
/* Directory descriptors kept open along the current path; deeper levels
 * keep only the deepest, so a path of any depth needs few descriptors. */
#define FILES_WALK_KEEP 64
/* Names of staging directories. */
#define FILES_STAGE_TAG ".cairn-restore."
#define FILES_STAGE_RAND 6

/* ----------------------------------------------------- reading the tar */

static void
files_track_zeros(struct files_src *s, const char *p, size_t n)
{
	size_t k = n;
	while (k > 0 && p[k - 1] == 0)
		k--;
	if (k == 0)
		s->zrun += n;
	else
		s->zrun = n - k;
	s->total += n;
}

static ssize_t
files_pull(struct files_src *s)
{
	ssize_t n;
	if (s->eof)
		return 0;
	n = s->in->read(s->in, s->buf, FILES_RESTORE_BUF);
	if (n < 0) {
		s->in_err = (int)n;
		return n;
	}
	if (n == 0) {
		s->eof = 1;
		return 0;
	}
	files_track_zeros(s, s->buf, (size_t)n);
	return n;
}

static la_ssize_t
files_read_cb(struct archive *ar, void *data, const void **buf)
{
	struct files_src *s = data;
	ssize_t n = files_pull(s);
	if (n < 0) {
		archive_set_error(ar, EIO, "reading the backup stream failed");
		return -1;
	}
	*buf = s->buf;
	return n;
}

/* Names that would land outside the target.  The walk below refuses them
 * as well (it never follows a symlink or ".."); checking here gives a clear
 * message and the same answer in verify. */
static int
files_unsafe_name(const char *name)
{
	const char *p = name;
	if (name == NULL)
		return 0;
	if (*name == '/')
		return 1;
	while (*p) {
		const char *end = strchr(p, '/');
		size_t len = end ? (size_t)(end - p) : strlen(p);
		if (len == 2 && p[0] == '.' && p[1] == '.')
			return 1;
		p += len;
		while (*p == '/')
			p++;
	}
	return 0;
}

/* --------------------------------------------------- the path walker */

/*
 * The chain of directories leading to the current entry's parent, each
 * open as an O_PATH descriptor.  Entries of a tar come grouped by
 * directory, so nearly every lookup is a hit on the whole chain and costs
 * no system call; a move to a sibling directory costs one openat.
 */
struct files_walk {
	int root;   /* the tree's root; not owned */
	char *path; /* the chain's components, '/'-joined */
	size_t len, cap;
	struct files_level {
		size_t end; /* the component ends at path[end] */
		int fd;     /* -1: closed to save descriptors */
	} * lv;
	size_t depth, lvcap;
};

struct files_x;
static int files_walk_parent(struct files_x *x, struct files_walk *w, const char *name, int create,
                             int *pfd, const char **base);

static void
files_walk_init(struct files_walk *w, int root)
{
	memset(w, 0, sizeof(*w));
	w->root = root;
}

static void
files_walk_pop(struct files_walk *w, size_t depth)
{
	while (w->depth > depth) {
		w->depth--;
		if (w->lv[w->depth].fd >= 0)
			close(w->lv[w->depth].fd);
	}
	w->len = depth > 0 ? w->lv[depth - 1].end : 0;
}

static void
files_walk_free(struct files_walk *w)
{
	files_walk_pop(w, 0);
	free(w->path);
	free(w->lv);
	w->path = NULL;
	w->lv = NULL;
	w->cap = w->lvcap = 0;
}

/* -------------------------------------------------- restore state */

/* A directory whose mode, owner, times, xattrs and ACLs are set last. */
struct files_dir {
	char *name;   /* normalised, below the root */
	size_t depth; /* components */
	size_t seq;   /* order in the tar: a later entry wins */
	mode_t mode;
	uid_t uid;
	gid_t gid;
	struct timespec ts[2];
	struct archive_entry *extra; /* for xattrs and ACLs, or NULL */
};

struct files_id {
	char *name;
	unsigned id;
	int found;
};

#define FILES_IDS 16

/* One restore's extraction. */
struct files_x {
	struct files_inst *fi;
	struct files_stats *st;
	int root;             /* the staging directory (O_RDONLY) */
	struct files_walk w;  /* for the entries */
	struct files_walk lw; /* for hard links' targets */
	int is_root;
	uid_t euid;
	gid_t egid;
	mode_t umask;
	int umask_known;
	/* the regular file being written */
	int fd;
	int64_t size, end;
	struct archive_entry *cur;
	const char *name; /* its normalised name */
	/* directories set last, and the root's own entry */
	struct files_dir *dirs;
	size_t ndirs, dircap, seq;
	struct archive_entry *root_entry;
	/* name -> id lookups, users [0] and groups [1] */
	struct files_id ids[2][FILES_IDS];
	size_t idnext[2];
	char *pwbuf;
	size_t pwcap;
	int64_t skipped;
	int fflags_logged;
	int nfs4_logged;
	char *norm; /* the current entry's normalised name */
	size_t normcap;
};

/* An entry could not be written: fail, naming it below the target. */
static int
files_x_fail(struct files_x *x, const char *name, const char *what, int err)
{
	files_host->set_error(x->fi->ctx, "restoring %s failed: %s%s%s", *name ? name : ".",
	                      what ? what : "", what ? ": " : "", strerror(err));
	return CAIRN_E_IO;
}

/* The umask, read without changing it (umask() would, for a moment, for
 * every thread). */
static void
files_read_umask(struct files_x *x)
{
	char line[256];
	FILE *f = fopen("/proc/self/status", "re");
	x->umask_known = 0;
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "Umask:", 6) == 0) {
			x->umask = (mode_t)strtoul(line + 6, NULL, 8) & 0777;
			x->umask_known = 1;
			break;
		}
	}
	fclose(f);
}

/* uname/gname to an id, as libarchive's standard lookup does: the name
 * where this system knows it, else the stored number.  Cached: a tree
 * has few owners. */
static unsigned
files_lookup(struct files_x *x, int group, const char *name, unsigned dflt)
{
	struct files_id *ids = x->ids[group];
	size_t k;
	int r;

	if (name == NULL || *name == '\0')
		return dflt;
	for (k = 0; k < FILES_IDS; k++)
		if (ids[k].name != NULL && strcmp(ids[k].name, name) == 0)
			return ids[k].found ? ids[k].id : dflt;
	if (x->pwbuf == NULL) {
		x->pwcap = 16384;
		x->pwbuf = malloc(x->pwcap);
		if (x->pwbuf == NULL)
			return dflt;
	}
	k = x->idnext[group]++ % FILES_IDS;
	free(ids[k].name);
	ids[k].name = strdup(name);
	ids[k].found = 0;
	if (ids[k].name == NULL)
		return dflt;
	for (;;) {
		if (group) {
			struct group g, *gp = NULL;
			r = getgrnam_r(name, &g, x->pwbuf, x->pwcap, &gp);
			if (r == 0 && gp != NULL) {
				ids[k].id = (unsigned)gp->gr_gid;
				ids[k].found = 1;
			}
		} else {
			struct passwd p, *pp = NULL;
			r = getpwnam_r(name, &p, x->pwbuf, x->pwcap, &pp);
			if (r == 0 && pp != NULL) {
				ids[k].id = (unsigned)pp->pw_uid;
				ids[k].found = 1;
			}
		}
		if (r != ERANGE || x->pwcap > (1u << 22))
			break;
		char *nb = realloc(x->pwbuf, x->pwcap * 4);
		if (nb == NULL)
			break;
		x->pwbuf = nb;
		x->pwcap *= 4;
	}
	return ids[k].found ? ids[k].id : dflt;
}

static uid_t
files_uid(struct files_x *x, struct archive_entry *e)
{
	return (uid_t)files_lookup(x, 0, archive_entry_uname(e), (unsigned)archive_entry_uid(e));
}

static gid_t
files_gid(struct files_x *x, struct archive_entry *e)
{
	return (gid_t)files_lookup(x, 1, archive_entry_gname(e), (unsigned)archive_entry_gid(e));
}

static void
files_times(struct archive_entry *e, struct timespec ts[2])
{
	ts[0].tv_nsec = UTIME_OMIT;
	ts[1].tv_nsec = UTIME_OMIT;
	if (archive_entry_atime_is_set(e)) {
		ts[0].tv_sec = archive_entry_atime(e);
		ts[0].tv_nsec = archive_entry_atime_nsec(e);
	}
	if (archive_entry_mtime_is_set(e)) {
		ts[1].tv_sec = archive_entry_mtime(e);
		ts[1].tv_nsec = archive_entry_mtime_nsec(e);
	}
}

static int
files_times_set(const struct timespec ts[2])
{
	return ts[0].tv_nsec != UTIME_OMIT || ts[1].tv_nsec != UTIME_OMIT;
}

/*
 * Whose the entry will be, as far as this process may decide: root gives
 * it the stored owner; anyone else keeps it, with one warning per entry
 * whose stored owner is someone else.  uid and gid get what to pass to
 * fchown (-1: leave).  Returns 1 if fchown is needed.
 */
/* A non-root restore keeps name as the restoring user's: say whose it was. */
static void
files_warn_owner(struct files_x *x, struct archive_entry *e, const char *name, uid_t uid)
{
	const char *uname = archive_entry_uname(e);
	files_warn(
	        x->fi, x->st,
	        "%s is owned by %s (uid %u) in the backup; restored as yours, since only root can give files away",
	        name, uname && *uname ? uname : "another user", (unsigned)uid);
}

static int
files_owner(struct files_x *x, struct archive_entry *e, const char *name, int fresh, uid_t *uid,
            gid_t *gid)
{
	uid_t u = files_uid(x, e);
	gid_t g = files_gid(x, e);
	if (x->is_root) {
		*uid = u;
		*gid = g;
		/* a fresh entry in our 0700, non-setgid staging directory is
		 * ours already */
		return !fresh || u != x->euid || g != x->egid;
	}
	*uid = (uid_t)-1;
	*gid = (gid_t)-1;
	if (u != x->euid) {
		files_warn_owner(x, e, name, u);
		return 0;
	}
	if (g != x->egid) {
		*gid = g; /* allowed if we are in that group */
		return 1;
	}
	return 0;
}

/* A failed fchown: root in a user namespace without that id, or a
 * non-root restore asking for a group it is not in. */
static void
files_owner_failed(struct files_x *x, const char *name, uid_t uid, gid_t gid, int err)
{
	if (uid == (uid_t)-1)
		files_warn(x->fi, x->st,
		           "cannot give %s to group %u: %s; it keeps the restoring user's group",
		           name, (unsigned)gid, strerror(err));
	else
		files_warn(
		        x->fi, x->st,
		        "cannot give %s to uid %u, gid %u: %s; it keeps the restoring user's owner",
		        name, (unsigned)uid, (unsigned)gid, strerror(err));
}

/* ------------------------------------------------------------ ACLs */

/* The xattr layout is in files.h (FILES_ACL_*), shared with backup.c. */

struct files_acl_ent {
	unsigned tag, perm, id;
};

static int
files_acl_cmp(const void *a, const void *b)
{
	const struct files_acl_ent *p = a, *q = b;
	if (p->tag != q->tag)
		return p->tag < q->tag ? -1 : 1;
	return p->id < q->id ? -1 : (p->id > q->id);
}

static void
files_le16(unsigned char *p, unsigned v)
{
	p[0] = (unsigned char)(v & 0xff);
	p[1] = (unsigned char)((v >> 8) & 0xff);
}

static void
files_le32(unsigned char *p, unsigned v)
{
	files_le16(p, v & 0xffff);
	files_le16(p + 2, v >> 16);
}

/* Encode the entry's ACL of one type (access or default) as the kernel's
 * xattr value; 0 bytes if it has none.  *out is malloc'ed. */
static size_t
files_acl_encode(struct files_x *x, struct archive_entry *e, int type, unsigned char **out)
{
	int count, atype, perm, tag, qual;
	const char *aname;
	struct files_acl_ent *v;
	size_t n = 0, len;
	unsigned groupclass = 0;
	int named = 0, mask = 0;

	*out = NULL;
	count = archive_entry_acl_reset(e, type);
	if (count <= 0)
		return 0;
	v = calloc((size_t)count + 1, sizeof(*v));
	if (v == NULL)
		return 0;
	while (n < (size_t)count &&
	       archive_entry_acl_next(e, type, &atype, &perm, &tag, &qual, &aname) == ARCHIVE_OK) {
		struct files_acl_ent *a = &v[n];
		a->perm = (unsigned)perm & 7u;
		a->id = FILES_ACL_NOID;
		switch (tag) {
		case ARCHIVE_ENTRY_ACL_USER_OBJ: a->tag = FILES_ACL_USER_OBJ; break;
		case ARCHIVE_ENTRY_ACL_USER:
			a->tag = FILES_ACL_USER;
			a->id = files_lookup(x, 0, aname, (unsigned)qual);
			named = 1;
			groupclass |= a->perm;
			break;
		case ARCHIVE_ENTRY_ACL_GROUP_OBJ:
			a->tag = FILES_ACL_GROUP_OBJ;
			groupclass |= a->perm;
			break;
		case ARCHIVE_ENTRY_ACL_GROUP:
			a->tag = FILES_ACL_GROUP;
			a->id = files_lookup(x, 1, aname, (unsigned)qual);
			named = 1;
			groupclass |= a->perm;
			break;
		case ARCHIVE_ENTRY_ACL_MASK:
			a->tag = FILES_ACL_MASK;
			mask = 1;
			break;
		case ARCHIVE_ENTRY_ACL_OTHER: a->tag = FILES_ACL_OTHER; break;
		default: continue; /* NFSv4 tags: not for POSIX ACLs */
		}
		n++;
	}
	/* the kernel wants a mask once there are named entries; setfacl
	 * makes it the union of the group class, so do we */
	if (named && !mask) {
		v[n].tag = FILES_ACL_MASK;
		v[n].perm = groupclass;
		v[n].id = FILES_ACL_NOID;
		n++;
	}
	qsort(v, n, sizeof(*v), files_acl_cmp);
	len = 4 + 8 * n;
	*out = malloc(len);
	if (*out == NULL) {
		free(v);
		return 0;
	}
	files_le32(*out, FILES_ACL_VERSION);
	for (size_t k = 0; k < n; k++) {
		files_le16(*out + 4 + 8 * k, v[k].tag);
		files_le16(*out + 6 + 8 * k, v[k].perm);
		files_le32(*out + 8 + 8 * k, v[k].id);
	}
	free(v);
	return len;
}

/* Set the entry's POSIX ACLs on fd.  After fchmod: an access ACL sets
 * the group bits of the mode to its mask. */
static void
files_acls(struct files_x *x, struct archive_entry *e, int fd, const char *name, int is_dir)
{
	static const struct {
		int type;
		const char *xattr;
	} kinds[2] = {
	        {ARCHIVE_ENTRY_ACL_TYPE_ACCESS, "system.posix_acl_access"},
	        {ARCHIVE_ENTRY_ACL_TYPE_DEFAULT, "system.posix_acl_default"},
	};
	int types;

	if (!x->fi->acls)
		return;
	types = archive_entry_acl_types(e);
	if (types == 0)
		return;
	if ((types & ARCHIVE_ENTRY_ACL_TYPE_NFS4) && !x->nfs4_logged) {
		files_log(x->fi, CAIRN_LOG_INFO,
		          "%s has an NFSv4 ACL; those are not restored on Linux", name);
		x->nfs4_logged = 1;
	}
	for (int k = 0; k < 2; k++) {
		unsigned char *v;
		size_t len;
		if (!(types & kinds[k].type) || (k == 1 && !is_dir))
			continue;
		len = files_acl_encode(x, e, kinds[k].type, &v);
		if (len == 0)
			continue;
		if (fsetxattr(fd, kinds[k].xattr, v, len, 0) != 0)
			files_warn(x->fi, x->st, "cannot restore the %s ACL of %s: %s",
			           k ? "default" : "access", name, strerror(errno));
		free(v);
	}
}

/* Extended attributes on fd.  The ACLs' own xattrs come from the ACL
 * entries (files_acls), never twice. */
static void
files_xattrs(struct files_x *x, struct archive_entry *e, int fd, const char *name)
{
	const char *xn;
	const void *v;
	size_t sz;

	if (!x->fi->xattrs || archive_entry_xattr_reset(e) == 0)
		return;
	while (archive_entry_xattr_next(e, &xn, &v, &sz) == ARCHIVE_OK) {
		if (xn == NULL || strncmp(xn, "system.posix_acl_", 17) == 0)
			continue;
		if (fsetxattr(fd, xn, v, sz, 0) != 0)
			files_warn(x->fi, x->st, "cannot restore extended attribute %s of %s: %s",
			           xn, name, strerror(errno));
	}
}

/* Entries without a descriptor of their own (symlinks, FIFOs, device
 * nodes) cannot take xattrs here. */
static void
files_no_xattrs(struct files_x *x, struct archive_entry *e, const char *name)
{
	if ((x->fi->xattrs && archive_entry_xattr_count(e) > 0) ||
	    (x->fi->acls && archive_entry_acl_types(e) != 0))
		files_log(
		        x->fi, CAIRN_LOG_DEBUG,
		        "%s: extended attributes and ACLs of symlinks, FIFOs and devices are not restored",
		        name);
}

static void
files_fflags(struct files_x *x, struct archive_entry *e, const char *name)
{
	unsigned long set = 0, clear = 0;
	archive_entry_fflags(e, &set, &clear);
	if (set != 0 && !x->fflags_logged) {
		files_log(
		        x->fi, CAIRN_LOG_INFO,
		        "file flags (chattr) such as those of %s are not restored; set them again with chattr where they matter",
		        name);
		x->fflags_logged = 1;
	}
}

/* ---------------------------------------------------- the walk itself */

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

/* Why the directory name[0 .. upto) could not be opened. */
static int
files_walk_refuse(struct files_x *x, int pfd, const char *comp, const char *name, size_t upto,
                  int err)
{
	struct stat s;
	if ((err == ELOOP || err == ENOTDIR) && fstatat(pfd, comp, &s, AT_SYMLINK_NOFOLLOW) == 0 &&
	    !S_ISDIR(s.st_mode)) {
		int link = S_ISLNK(s.st_mode);
		files_host->set_error(x->fi->ctx,
		                      "refusing entry '%s': %.*s is %s in the backup, %s", name,
		                      (int)upto, name, link ? "a symbolic link" : "not a directory",
		                      link ? "and writing through it could leave the restore target"
		                           : "so nothing can be below it");
		return CAIRN_E_CORRUPT;
	}
	return files_x_fail(x, name, "cannot open its directory", err);
}

/*
 * The parent directory of name (normalised, not the root) as a
 * descriptor in *pfd, and name's last component in *base.  Missing
 * directories are made (0700, then the umask's default mode, as mkdir -p
 * would) when create is set.  The descriptor belongs to the walker.
 */
static int
files_walk_parent(struct files_x *x, struct files_walk *w, const char *name, int create, int *pfd,
                  const char **base)
{
	const char *slash = strrchr(name, '/');
	const char *p = name, *dend = slash ? slash : name;
	size_t k = 0;

	*base = slash ? slash + 1 : name;
	/* how much of the open chain leads there already */
	while (p < dend && k < w->depth) {
		size_t start = k == 0 ? 0 : w->lv[k - 1].end + 1;
		size_t clen = w->lv[k].end - start;
		if ((size_t)(dend - p) < clen || memcmp(p, w->path + start, clen) != 0 ||
		    (p + clen != dend && p[clen] != '/'))
			break;
		p += clen;
		if (p < dend)
			p++;
		k++;
	}
	if (p < dend || k < w->depth)
		files_walk_pop(w, k);
	while (w->depth > 0 && w->lv[w->depth - 1].fd < 0) {
		/* closed to save descriptors: reopen from a kept one */
		size_t start = w->depth == 1 ? 0 : w->lv[w->depth - 2].end + 1;
		p = name + start;
		files_walk_pop(w, w->depth - 1);
	}
	while (p < dend) {
		const char *e = memchr(p, '/', (size_t)(dend - p));
		size_t clen = e ? (size_t)(e - p) : (size_t)(dend - p);
		int parent = w->depth > 0 ? w->lv[w->depth - 1].fd : w->root;
		char comp[NAME_MAX + 1];
		int fd;

		if (clen > NAME_MAX)
			return files_x_fail(x, name, "a directory name on its way is too long",
			                    ENAMETOOLONG);
		memcpy(comp, p, clen);
		comp[clen] = '\0';
		fd = openat(parent, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0 && errno == ENOENT && create) {
			/* no entry of its own (yet): as mkdir -p makes it */
			if (mkdirat(parent, comp, 0700) != 0 && errno != EEXIST)
				return files_x_fail(x, name, "cannot create its directory", errno);
			if (fchmodat(parent, comp, x->umask_known ? 0777 & ~x->umask : 0755, 0) !=
			    0)
				return files_x_fail(x, name, "cannot create its directory", errno);
			fd = openat(parent, comp, O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		}
		if (fd < 0)
			return files_walk_refuse(x, parent, comp, name, (size_t)(p - name) + clen,
			                         errno);
		if (w->depth == w->lvcap) {
			size_t nc = w->lvcap ? 2 * w->lvcap : 16;
			struct files_level *nl = realloc(w->lv, nc * sizeof(*nl));
			if (nl == NULL) {
				close(fd);
				return CAIRN_E_NOMEM;
			}
			w->lv = nl;
			w->lvcap = nc;
		}
		if (w->len + clen + 2 > w->cap) {
			size_t nc = w->cap ? 2 * w->cap : 256;
			while (nc < w->len + clen + 2)
				nc *= 2;
			char *np = realloc(w->path, nc);
			if (np == NULL) {
				close(fd);
				return CAIRN_E_NOMEM;
			}
			w->path = np;
			w->cap = nc;
		}
		if (w->depth > 0)
			w->path[w->len++] = '/';
		memcpy(w->path + w->len, p, clen);
		w->len += clen;
		w->path[w->len] = '\0';
		if (w->depth > FILES_WALK_KEEP && w->lv[w->depth - 1].fd >= 0) {
			close(w->lv[w->depth - 1].fd);
			w->lv[w->depth - 1].fd = -1;
		}
		w->lv[w->depth].end = w->len;
		w->lv[w->depth].fd = fd;
		w->depth++;
		p += clen;
		if (p < dend)
			p++;
	}
	*pfd = w->depth > 0 ? w->lv[w->depth - 1].fd : w->root;
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
		files_host->set_error(
		        x->fi->ctx,
		        "backup stream holds %s twice, as a directory and as another kind of entry; it is damaged",
		        name);
		return CAIRN_E_CORRUPT;
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
		files_host->set_error(
		        x->fi->ctx,
		        "backup stream holds a symbolic link %s without a target; it is damaged",
		        *name ? name : ".");
		return CAIRN_E_CORRUPT;
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
		files_host->set_error(
		        x->fi->ctx,
		        "refusing entry '%s' linked to the root of the backup; it is damaged",
		        name);
		return CAIRN_E_CORRUPT;
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
		files_host->set_error(
		        x->fi->ctx,
		        "restoring %s failed: it is a hard link to %s, which is not earlier in the backup",
		        name, lname);
		rc = CAIRN_E_CORRUPT;
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
		files_host->set_error(
		        x->fi->ctx, "backup stream holds its root \".\" as a file; it is damaged");
		return CAIRN_E_CORRUPT;
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

static int
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
static int
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
static int
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

/* ---------------------------------------------- reading it all */

/* The input failed (in's code), or it is malformed (CORRUPT). */
static int
files_read_failed(struct files_inst *fi, struct files_src *s, struct archive *ar, const char *after)
{
	if (s->in_err < 0)
		return s->in_err;
	if (after != NULL)
		files_host->set_error(fi->ctx, "backup stream is damaged at the entry after %s: %s",
		                      after, archive_error_string(ar));
	else
		files_host->set_error(fi->ctx, "backup stream is damaged at its first entry: %s",
		                      archive_error_string(ar));
	return CAIRN_E_CORRUPT;
}

/*
 * Read the whole tar from in, to the end of the stream.  With x == NULL
 * (verify), read every byte and check it; else extract every entry into
 * x's staging directory.  0 means: every entry was written, the tar's
 * end-of-archive marker was there, and in->read() returned 0.
 */
static int
files_read_all(struct files_inst *fi, struct cairn_in *in, struct files_x *x,
               struct files_stats *st)
{
	struct files_src src = {.in = in};
	struct archive *ar = NULL;
	struct archive_entry *e;
	char *last = NULL;
	size_t lastcap = 0;
	int have_last = 0;
	const char *name;
	const void *buf;
	size_t len;
	la_int64_t off;
	int r, rc = 0;

	src.buf = malloc(FILES_RESTORE_BUF);
	ar = archive_read_new();
	if (src.buf == NULL || ar == NULL) {
		rc = CAIRN_E_NOMEM;
		goto done;
	}
	/* Only tar: the core has taken the compression off already. */
	archive_read_support_format_tar(ar);
	if (archive_read_open(ar, &src, NULL, files_read_cb, NULL) != ARCHIVE_OK) {
		rc = files_read_failed(fi, &src, ar, NULL);
		goto done;
	}
	for (;;) {
		if (files_host->cancelled(fi->ctx)) {
			rc = CAIRN_E_CANCELLED;
			goto done;
		}
		r = archive_read_next_header(ar, &e);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_WARN) {
			rc = files_read_failed(fi, &src, ar, have_last ? last : NULL);
			goto done;
		}
		name = archive_entry_pathname(e);
		if (name == NULL || *name == '\0') {
			files_host->set_error(
			        fi->ctx, "backup stream holds an entry without a name after %s",
			        have_last ? last : "the start");
			rc = CAIRN_E_CORRUPT;
			goto done;
		}
		len = strlen(name) + 1;
		if (len > lastcap) {
			char *nl = realloc(last, len);
			if (nl == NULL) {
				rc = CAIRN_E_NOMEM;
				goto done;
			}
			last = nl;
			lastcap = len;
		}
		memcpy(last, name, len);
		have_last = 1;
		if (r == ARCHIVE_WARN)
			files_warn(fi, st, "%s: %s", last, archive_error_string(ar));
		if (files_unsafe_name(last) || files_unsafe_name(archive_entry_hardlink(e))) {
			files_host->set_error(
			        fi->ctx,
			        "refusing entry '%s'%s%s: it would be written outside the restore target",
			        last, archive_entry_hardlink(e) ? " linked to " : "",
			        archive_entry_hardlink(e) ? archive_entry_hardlink(e) : "");
			rc = CAIRN_E_CORRUPT;
			goto done;
		}
		files_count(st, e, archive_entry_size(e));
		if (x != NULL) {
			rc = files_x_entry(x, e);
			if (rc < 0)
				goto done;
		}
		/* Read the data even in verify: a skip would not look at it. */
		for (;;) {
			if (files_host->cancelled(fi->ctx)) {
				rc = CAIRN_E_CANCELLED;
				goto done;
			}
			r = archive_read_data_block(ar, &buf, &len, &off);
			if (r == ARCHIVE_EOF)
				break;
			if (r < ARCHIVE_OK) {
				if (src.in_err < 0) {
					rc = src.in_err;
					goto done;
				}
				files_host->set_error(
				        fi->ctx, "backup stream is damaged in the data of %s: %s",
				        last, archive_error_string(ar));
				rc = CAIRN_E_CORRUPT;
				goto done;
			}
			/* Offsets skip holes, so sparse files stay sparse. */
			if (x != NULL) {
				rc = files_x_data(x, buf, len, off);
				if (rc < 0)
					goto done;
			}
		}
		if (x != NULL) {
			rc = files_x_finish(x);
			if (rc < 0)
				goto done;
		}
	}
	/* libarchive accepts a tar that simply stops between entries ("there
	 * are tar writers that do this"); ours never does, so a stream
	 * without the two zero blocks at its end was cut short.  Read to the
	 * end first: only read() returning 0 proves the bytes good. */
	while (!src.eof) {
		if (files_host->cancelled(fi->ctx)) {
			rc = CAIRN_E_CANCELLED;
			goto done;
		}
		if (files_pull(&src) < 0) {
			rc = src.in_err;
			goto done;
		}
	}
	if (src.zrun < FILES_TRAILER) {
		files_host->set_error(
		        fi->ctx,
		        "backup stream ends after %s without the tar end-of-archive marker; it was cut short",
		        have_last ? last : "0 entries");
		rc = CAIRN_E_CORRUPT;
		goto done;
	}

done:
	if (x != NULL && x->fd >= 0) {
		close(x->fd);
		x->fd = -1;
	}
	if (rc == CAIRN_E_CANCELLED)
		files_host->set_error(fi->ctx, "cancelled");
	if (ar != NULL)
		archive_read_free(ar);
	free(src.buf);
	free(last);
	return rc;
}

/* ------------------------------------------- trees: remove, merge */

/* unlinkat(at, name, 0), and with st (the restore test) count what goes:
 * a regular file with other links still there is a hard link, the last
 * link of one is the file with its bytes, as the backup counted them. */
static int
files_unlink_counted(int at, const char *name, struct files_stats *st)
{
	struct stat s;
	if (st == NULL)
		return unlinkat(at, name, 0);
	if (fstatat(at, name, &s, AT_SYMLINK_NOFOLLOW) != 0)
		return -1;
	if (S_ISDIR(s.st_mode)) {
		errno = EISDIR;
		return -1;
	}
	if (unlinkat(at, name, 0) != 0)
		return -1;
	if (S_ISREG(s.st_mode) && s.st_nlink > 1)
		st->hardlinks++;
	else if (S_ISREG(s.st_mode)) {
		st->files++;
		st->bytes += s.st_size;
	} else if (S_ISLNK(s.st_mode))
		st->symlinks++;
	return 0;
}

/*
 * Remove name in dirfd and everything below it, never following a
 * symlink.  One directory is open at a time (the way back up is ".."
 * of a directory reached without symlinks), so any depth works.  With
 * st, count the entries removed (files_unlink_counted).
 * 0, or -1 with errno.
 */
int
files_rm_count(int at, const char *name, struct files_stats *st)
{
	char **stack = NULL;
	size_t n = 0, cap = 0;
	int cur = -1, rc = -1, err = 0;

	if (files_unlink_counted(at, name, st) == 0 || errno == ENOENT)
		return 0;
	if (errno != EISDIR && errno != EPERM)
		return -1;
	cur = openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (cur < 0)
		return -1;
	stack = malloc(sizeof(*stack) * (cap = 16));
	if (stack == NULL || (stack[0] = strdup(name)) == NULL) {
		err = ENOMEM;
		goto out;
	}
	n = 1;
	while (n > 0) {
		DIR *d = fdopendir(cur);
		struct dirent *de;
		char *sub = NULL;
		if (d == NULL) {
			err = errno;
			goto out;
		}
		cur = -1;
		while ((de = readdir(d)) != NULL) {
			if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
				continue;
			if (de->d_type != DT_DIR &&
			    files_unlink_counted(dirfd(d), de->d_name, st) == 0)
				continue;
			if (de->d_type != DT_DIR && errno != EISDIR && errno != EPERM &&
			    errno != ENOENT) {
				err = errno;
				free(sub);
				closedir(d);
				goto out;
			}
			if (de->d_type != DT_DIR && errno == ENOENT)
				continue;
			if (sub == NULL && (sub = strdup(de->d_name)) == NULL) {
				err = ENOMEM;
				closedir(d);
				goto out;
			}
		}
		if (sub != NULL) {
			cur = openat(dirfd(d), sub,
			             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			err = errno;
			closedir(d);
			if (cur < 0) {
				free(sub);
				goto out;
			}
			if (n == cap) {
				char **ns = realloc(stack, sizeof(*ns) * cap * 2);
				if (ns == NULL) {
					free(sub);
					err = ENOMEM;
					goto out;
				}
				stack = ns;
				cap *= 2;
			}
			stack[n++] = sub;
			continue;
		}
		/* empty now: remove it from its parent */
		int parent =
		        n == 1 ? at : openat(dirfd(d), "..", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		err = errno;
		closedir(d);
		if (n > 1 && parent < 0)
			goto out;
		if (unlinkat(parent, stack[n - 1], AT_REMOVEDIR) != 0) {
			err = errno;
			if (err != ENOTEMPTY) {
				if (n > 1)
					close(parent);
				goto out;
			}
			/* readdir missed an entry: go over it again */
			cur = openat(parent, stack[n - 1],
			             O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			err = errno;
			if (n > 1)
				close(parent);
			if (cur < 0)
				goto out;
			continue;
		}
		if (st != NULL)
			st->dirs++;
		free(stack[--n]);
		if (n > 0)
			cur = parent;
	}
	rc = 0;
out:
	if (cur >= 0)
		close(cur);
	while (n > 0)
		free(stack[--n]);
	free(stack);
	if (rc != 0)
		errno = err ? err : EIO;
	return rc;
}

static int
files_rm_tree(int at, const char *name)
{
	return files_rm_count(at, name, NULL);
}

static int
files_rename_noreplace(int from, const char *a, int to, const char *b)
{
	if (renameat2(from, a, to, b, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	/* a file system without RENAME_NOREPLACE: check, then rename */
	struct stat s;
	if (fstatat(to, b, &s, AT_SYMLINK_NOFOLLOW) == 0) {
		errno = EEXIST;
		return -1;
	}
	return renameat(from, a, to, b);
}

/* Join a relative name for messages; malloc'ed. */
static char *
files_join(const char *a, const char *b)
{
	char *s = NULL;
	if (*a == '\0')
		return strdup(b);
	if (asprintf(&s, "%s/%s", a, b) < 0)
		return NULL;
	return s;
}

/*
 * Move every entry of the staged directory `from` into `to`: an entry
 * replaces its namesake, a directory meeting a directory is merged.
 * `rel` names the directory below the target, for messages.
 */
static int
files_merge(struct files_x *x, int from, int to, const char *rel, int depth)
{
	int moved;

	if (depth > 4096) {
		files_host->set_error(x->fi->ctx,
		                      "restoring %s failed: directories nested too deeply to merge",
		                      rel);
		return CAIRN_E_IO;
	}
	do {
		int dfd = openat(from, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
		struct dirent *de;

		moved = 0;
		if (d == NULL) {
			if (dfd >= 0)
				close(dfd);
			return files_x_fail(x, rel, "cannot read the staged directory", errno);
		}
		while ((de = readdir(d)) != NULL) {
			const char *nm = de->d_name;
			struct stat s, t;
			char *path;
			int rc = 0;

			if (strcmp(nm, ".") == 0 || strcmp(nm, "..") == 0)
				continue;
			path = files_join(rel, nm);
			if (path == NULL) {
				closedir(d);
				return CAIRN_E_NOMEM;
			}
			if (fstatat(from, nm, &s, AT_SYMLINK_NOFOLLOW) != 0) {
				rc = files_x_fail(x, path, NULL, errno);
			} else if (fstatat(to, nm, &t, AT_SYMLINK_NOFOLLOW) != 0) {
				if (errno != ENOENT ||
				    files_rename_noreplace(from, nm, to, nm) != 0)
					rc = files_x_fail(x, path, "cannot move it into place",
					                  errno);
			} else if (S_ISDIR(s.st_mode) && S_ISDIR(t.st_mode)) {
				int f2 = openat(from, nm,
				                O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
				int t2 = openat(to, nm,
				                O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
				if (f2 < 0 || t2 < 0)
					rc = files_x_fail(x, path, "cannot merge it", errno);
				else
					rc = files_merge(x, f2, t2, path, depth + 1);
				if (f2 >= 0)
					close(f2);
				if (t2 >= 0)
					close(t2);
				if (rc == 0 && unlinkat(from, nm, AT_REMOVEDIR) != 0)
					rc = files_x_fail(x, path,
					                  "cannot remove the staged directory",
					                  errno);
			} else {
				/* --force: the backup's entry wins */
				if (S_ISDIR(t.st_mode) && files_rm_tree(to, nm) != 0)
					rc = files_x_fail(x, path,
					                  "cannot remove the directory it replaces",
					                  errno);
				else if (S_ISDIR(s.st_mode) && !S_ISDIR(t.st_mode) &&
				         unlinkat(to, nm, 0) != 0)
					rc = files_x_fail(x, path,
					                  "cannot remove the file it replaces",
					                  errno);
				else if (renameat(from, nm, to, nm) != 0)
					rc = files_x_fail(x, path, "cannot move it into place",
					                  errno);
			}
			free(path);
			if (rc < 0) {
				closedir(d);
				return rc;
			}
			moved++;
		}
		closedir(d);
	} while (moved > 0);
	return 0;
}

/* ------------------------------------------- directories, at the end */

static int
files_dir_cmp(const void *a, const void *b)
{
	const struct files_dir *p = a, *q = b;
	if (p->depth != q->depth)
		return p->depth > q->depth ? -1 : 1;
	return p->seq < q->seq ? -1 : (p->seq > q->seq);
}

/* A directory's stored attributes, on fd.  Failures for lack of
 * permission are warnings (a non-root --force restore meeting someone
 * else's directory); anything else fails. */
static int
files_dir_attrs(struct files_x *x, int fd, const char *name, mode_t mode, uid_t uid, gid_t gid,
                const struct timespec ts[2], struct archive_entry *extra)
{
	if (x->is_root) {
		if (fchown(fd, uid, gid) != 0)
			files_owner_failed(x, name, uid, gid, errno);
	} else if (gid != x->egid && fchown(fd, (uid_t)-1, gid) != 0) {
		files_owner_failed(x, name, (uid_t)-1, gid, errno);
	}
	if (fchmod(fd, mode) != 0) {
		if (errno != EPERM && errno != EACCES)
			return files_x_fail(x, name, "cannot set its mode", errno);
		files_warn(x->fi, x->st, "cannot set the mode of %s: %s", name, strerror(errno));
	}
	if (extra != NULL) {
		files_xattrs(x, extra, fd, name);
		files_acls(x, extra, fd, name, 1);
	}
	if (files_times_set(ts) && futimens(fd, ts) != 0) {
		if (errno != EPERM && errno != EACCES)
			return files_x_fail(x, name, "cannot set its times", errno);
		files_warn(x->fi, x->st, "cannot set the times of %s: %s", name, strerror(errno));
	}
	return 0;
}

/* Every directory's attributes, deepest first, relative to the root
 * (the target, once everything is in place), then the root's own. */
static int
files_dirs_finish(struct files_x *x, int root)
{
	struct files_walk w;
	int rc = 0;

	qsort(x->dirs, x->ndirs, sizeof(*x->dirs), files_dir_cmp);
	files_walk_init(&w, root);
	for (size_t k = 0; k < x->ndirs && rc == 0; k++) {
		struct files_dir *d = &x->dirs[k];
		const char *base;
		int pfd, fd;
		rc = files_walk_parent(x, &w, d->name, 0, &pfd, &base);
		if (rc < 0)
			break;
		fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			rc = files_x_fail(x, d->name, "cannot open it to set its mode and times",
			                  errno);
			break;
		}
		rc = files_dir_attrs(x, fd, d->name, d->mode, d->uid, d->gid, d->ts, d->extra);
		close(fd);
	}
	files_walk_free(&w);
	if (rc == 0 && x->root_entry != NULL) {
		struct archive_entry *e = x->root_entry;
		struct timespec ts[2];
		files_times(e, ts);
		rc = files_dir_attrs(x, root, "", archive_entry_mode(e) & 07777, files_uid(x, e),
		                     files_gid(x, e), ts, e);
	}
	return rc;
}

static void
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

/* ------------------------------------------------------- the target */

/* The staging directory's name: prefix + 6 random characters.  The
 * prefix is cut so the name fits NAME_MAX. */
static char *
files_stage_prefix(const char *base)
{
	char *s = NULL;
	if (base == NULL)
		return strdup(FILES_STAGE_TAG);
	if (asprintf(&s, ".%.*s" FILES_STAGE_TAG,
	             NAME_MAX - 2 - (int)strlen(FILES_STAGE_TAG) - FILES_STAGE_RAND, base) < 0)
		return NULL;
	return s;
}

/* mkdtemp relative to a directory descriptor. */
static int
files_mkstage(int dirfd, const char *prefix, char **name)
{
	static const char set[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
	size_t plen = strlen(prefix);
	char *s = malloc(plen + FILES_STAGE_RAND + 1);
	if (s == NULL) {
		errno = ENOMEM;
		return -1;
	}
	memcpy(s, prefix, plen);
	for (int tries = 0; tries < 100; tries++) {
		unsigned char r[FILES_STAGE_RAND];
		if (getrandom(r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r)) {
			uint64_t v = (uint64_t)getpid() * 2654435761u ^ (uint64_t)time(NULL) ^
			             (uint64_t)tries << 40;
			for (int k = 0; k < FILES_STAGE_RAND; k++, v >>= 7)
				r[k] = (unsigned char)v;
		}
		for (int k = 0; k < FILES_STAGE_RAND; k++)
			s[plen + k] = set[r[k] % (sizeof(set) - 1)];
		s[plen + FILES_STAGE_RAND] = '\0';
		if (mkdirat(dirfd, s, 0700) == 0) {
			*name = s;
			return 0;
		}
		if (errno != EEXIST)
			break;
	}
	free(s);
	return -1;
}

/* Remove staging directories of ours that a killed run left in dirfd:
 * prefix + 6 characters, a directory, owned by us, and nobody holding
 * its lock (a live restore holds one on its own). */
static void
files_clean_stale(struct files_inst *fi, int dirfd, const char *prefix, const char *where)
{
	size_t plen = strlen(prefix);
	int dfd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *de;
	uid_t me = geteuid();

	if (d == NULL) {
		if (dfd >= 0)
			close(dfd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		struct stat s;
		int fd;
		if (strncmp(de->d_name, prefix, plen) != 0 ||
		    strlen(de->d_name) != plen + FILES_STAGE_RAND)
			continue;
		if (fstatat(dirfd, de->d_name, &s, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISDIR(s.st_mode) || s.st_uid != me)
			continue;
		fd = openat(dirfd, de->d_name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			continue;
		if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
			close(fd);
			continue;
		}
		if (files_rm_tree(dirfd, de->d_name) == 0)
			files_log(fi, CAIRN_LOG_INFO,
			          "removed %s/%s, left by an interrupted restore", where,
			          de->d_name);
		else
			files_log(fi, CAIRN_LOG_WARN,
			          "cannot remove %s/%s, left by an interrupted restore: %s", where,
			          de->d_name, strerror(errno));
		close(fd);
	}
	closedir(d);
}

/* 1 if the directory has no entries, 0 if it has, negative on error. */
static int
files_dir_empty(struct files_inst *fi, int fd, const char *path)
{
	int dfd = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *de;
	int empty = 1;
	if (d == NULL) {
		files_host->set_error(fi->ctx, "cannot read restore target %s: %s", path,
		                      strerror(errno));
		if (dfd >= 0)
			close(dfd);
		return CAIRN_E_IO;
	}
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0) {
			empty = 0;
			break;
		}
	}
	closedir(d);
	return empty;
}

/* Make the missing parents of the target (0700, as before: nobody else
 * sees into a tree being restored).  *made counts the ones made, so a
 * failed restore can take them away again. */
static int
files_mkparents(struct files_inst *fi, const char *parent, int *made)
{
	char *p = strdup(parent);
	int rc = 0;
	*made = 0;
	if (p == NULL)
		return CAIRN_E_NOMEM;
	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		if (mkdir(p, 0700) == 0)
			(*made)++;
		else if (errno != EEXIST) {
			files_host->set_error(fi->ctx, "cannot create restore target %s: %s", p,
			                      strerror(errno));
			rc = CAIRN_E_IO;
			break;
		}
		*s = c;
		if (c == '\0')
			break;
	}
	free(p);
	return rc;
}

static void
files_rmparents(const char *parent, int made)
{
	char *p = strdup(parent);
	if (p == NULL)
		return;
	while (made-- > 0) {
		if (rmdir(p) != 0)
			break;
		char *s = strrchr(p, '/');
		if (s == NULL || s == p)
			break;
		*s = '\0';
	}
	free(p);
}

/* Set up x to extract into the empty directory root. */
static void
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

int
files_extract(struct files_inst *fi, struct cairn_in *in, int root, struct files_stats *st,
              int *had_root)
{
	struct files_x x;
	int rc;
	memset(&x, 0, sizeof(x));
	x.fd = -1;
	files_x_begin(&x, fi, st, root);
	rc = files_read_all(fi, in, &x, st);
	*had_root = x.root_entry != NULL;
	files_x_free(&x);
	return rc;
}

/*
 * Restore: pick the staging place, extract there, prove, publish.
 */
int
files_restore(void *instance, struct cairn_in *in, unsigned flags)
{
	struct files_inst *fi = instance;
	struct files_stats st = {0};
	struct files_locale loc;
	struct files_x x;
	char *parent = NULL, *base = NULL, *prefix = NULL, *stage = NULL;
	int pfd = -1, tfd = -1, sfd = -1, made = 0, exists = 0, published = 0;
	int rc = 0;
	struct stat tst;

	memset(&x, 0, sizeof(x));
	x.fd = -1;
	if (files_host->abi_minor < 1) {
		files_host->set_error(
		        fi->ctx,
		        "restoring needs cairn 1.1 or newer, which proves an object good before its end; this is cairn %s",
		        files_host->cairn_version ? files_host->cairn_version : "1.0");
		return CAIRN_E_UNSUPPORTED;
	}
	files_locale_enter(&loc);

	/* parent and base name of the target */
	if (strcmp(fi->path, "/") != 0) {
		const char *sl = strrchr(fi->path, '/');
		if (sl == NULL) {
			files_host->set_error(
			        fi->ctx,
			        "restore target %s is not an absolute path; set path to one",
			        fi->path);
			rc = CAIRN_E_CONFIG;
			goto done;
		}
		parent = sl == fi->path ? strdup("/") : strndup(fi->path, (size_t)(sl - fi->path));
		base = strdup(sl + 1);
		if (parent == NULL || base == NULL) {
			rc = CAIRN_E_NOMEM;
			goto done;
		}
	}
	exists = stat(fi->path, &tst) == 0;
	if (!exists && errno != ENOENT) {
		files_host->set_error(fi->ctx, "cannot stat restore target %s: %s", fi->path,
		                      strerror(errno));
		rc = CAIRN_E_IO;
		goto done;
	}
	if (exists && !S_ISDIR(tst.st_mode)) {
		files_host->set_error(
		        fi->ctx,
		        "restore target %s exists and is not a directory; choose another with --set path=DIR",
		        fi->path);
		rc = CAIRN_E_EXISTS;
		goto done;
	}
	if (!exists) {
		rc = files_mkparents(fi, parent, &made);
		if (rc < 0)
			goto done;
	}
	if (parent != NULL) {
		pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (pfd < 0) {
			files_host->set_error(fi->ctx,
			                      "cannot open %s, the restore target's parent: %s",
			                      parent, strerror(errno));
			rc = CAIRN_E_IO;
			goto done;
		}
		prefix = files_stage_prefix(base);
		if (prefix == NULL) {
			rc = CAIRN_E_NOMEM;
			goto done;
		}
		files_clean_stale(fi, pfd, prefix, parent);
	}
	if (exists) {
		tfd = open(fi->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (tfd < 0) {
			files_host->set_error(fi->ctx, "cannot open restore target %s: %s",
			                      fi->path, strerror(errno));
			rc = CAIRN_E_IO;
			goto done;
		}
		files_clean_stale(fi, tfd, FILES_STAGE_TAG, fi->path);
		rc = files_dir_empty(fi, tfd, fi->path);
		if (rc < 0)
			goto done;
		if (rc == 0 && !(flags & CAIRN_RESTORE_FORCE)) {
			files_host->set_error(
			        fi->ctx,
			        "restore target %s is not empty; choose another with --set path=DIR or use --force to restore into it",
			        fi->path);
			rc = CAIRN_E_EXISTS;
			goto done;
		}
		rc = 0;
		free(prefix);
		prefix = strdup(FILES_STAGE_TAG);
		if (prefix == NULL) {
			rc = CAIRN_E_NOMEM;
			goto done;
		}
	}
	/* the staging directory, on the target's file system */
	{
		int at = exists ? tfd : pfd;
		if (files_mkstage(at, prefix, &stage) != 0) {
			files_host->set_error(fi->ctx,
			                      "cannot create a staging directory in %s: %s",
			                      exists ? fi->path : parent, strerror(errno));
			rc = CAIRN_E_IO;
			goto done;
		}
		sfd = openat(at, stage, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (sfd < 0) {
			files_host->set_error(fi->ctx,
			                      "cannot open the staging directory %s/%s: %s",
			                      exists ? fi->path : parent, stage, strerror(errno));
			rc = CAIRN_E_IO;
			goto done;
		}
		/* held while we live: files_clean_stale() leaves it alone */
		(void)flock(sfd, LOCK_EX | LOCK_NB);
		/* what it inherited (a setgid bit, a default ACL, a mode cut
		 * by the umask) would reach every entry made inside */
		if (fchmod(sfd, 0700) != 0) {
			files_host->set_error(fi->ctx, "cannot set up the staging directory %s: %s",
			                      stage, strerror(errno));
			rc = CAIRN_E_IO;
			goto done;
		}
		(void)fremovexattr(sfd, "system.posix_acl_default");
		(void)fremovexattr(sfd, "system.posix_acl_access");
	}

	files_x_begin(&x, fi, &st, sfd);
	rc = files_read_all(fi, in, &x, &st);
	files_walk_free(&x.w);
	files_walk_free(&x.lw);
	if (rc < 0)
		goto done;
	/* errors the file system reports only at writeback count too */
	if (syncfs(sfd) != 0) {
		files_host->set_error(fi->ctx,
		                      "restoring into %s failed: writing to disk failed: %s",
		                      fi->path, strerror(errno));
		rc = CAIRN_E_IO;
		goto done;
	}

	/* Proven good and on disk: publish.  No cancel from here on, the
	 * target would be left half changed; this part is quick. */
	if (!exists) {
		if (files_rename_noreplace(pfd, stage, pfd, base) != 0) {
			int err = errno;
			if (err == EEXIST || err == ENOTEMPTY) {
				files_host->set_error(
				        fi->ctx,
				        "restore target %s appeared while restoring; it was left alone, run the restore again",
				        fi->path);
				rc = CAIRN_E_EXISTS;
			} else {
				files_host->set_error(fi->ctx,
				                      "cannot move the restored tree to %s: %s",
				                      fi->path, strerror(err));
				rc = CAIRN_E_IO;
			}
			goto done;
		}
		published = 1;
		tfd = sfd;
		sfd = -1;
	} else {
		published = 1;
		rc = files_merge(&x, sfd, tfd, "", 0);
		if (rc < 0)
			goto done;
		close(sfd);
		sfd = -1;
		if (unlinkat(tfd, stage, AT_REMOVEDIR) != 0) {
			files_host->set_error(fi->ctx,
			                      "cannot remove the staging directory %s/%s: %s",
			                      fi->path, stage, strerror(errno));
			rc = CAIRN_E_IO;
			goto done;
		}
	}
	rc = files_dirs_finish(&x, tfd);

done:
	if (sfd >= 0) {
		/* failed, damaged or cancelled: take the staging tree away */
		int at = exists ? tfd : pfd;
		close(sfd);
		if (stage != NULL && at >= 0 && files_rm_tree(at, stage) != 0)
			files_log(
			        fi, CAIRN_LOG_WARN,
			        "cannot remove the staging directory %s/%s: %s; remove it by hand",
			        exists ? fi->path : parent, stage, strerror(errno));
		else if (exists && !published && tfd >= 0) {
			/* making and removing the staging directory changed the
			 * target's times; nothing else of it was touched */
			struct timespec ts[2] = {tst.st_atim, tst.st_mtim};
			(void)futimens(tfd, ts);
		}
	}
	if (rc < 0 && !exists && !published && parent != NULL)
		files_rmparents(parent, made);
	if (published && rc < 0)
		files_log(fi, CAIRN_LOG_WARN,
		          "the restore into %s failed after it had begun to change the target",
		          fi->path);
	if (tfd >= 0)
		close(tfd);
	if (pfd >= 0)
		close(pfd);
	files_emit_stats(fi, &st);
	files_host->stat(fi->ctx, "skipped", x.skipped);
	files_x_free(&x);
	free(parent);
	free(base);
	free(prefix);
	free(stage);
	files_locale_leave(&loc);
	return rc;
}

int
files_verify(void *instance, struct cairn_in *in)
{
	struct files_inst *fi = instance;
	struct files_stats st = {0};
	struct files_locale loc;
	int rc;

	files_locale_enter(&loc);
	rc = files_read_all(fi, in, NULL, &st);
	/* no "warnings": the core compares these with the backup's */
	files_emit_counts(fi, &st);
	files_locale_leave(&loc);
	return rc;
}
