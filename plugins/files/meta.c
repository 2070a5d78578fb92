/*
 * meta.c - what a restored entry gets besides its data: owner (by name
 * first, as libarchive does), mode, times, extended attributes, POSIX
 * ACLs (encoded as the kernel's xattr values), and for directories all
 * of it at the very end, deepest first (files_dirs_finish()).
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "files_internal.h"

#include <grp.h>
#include <pwd.h>
#include <sys/xattr.h>

/* The umask, read without changing it (umask() would, for a moment, for
 * every thread). */
void
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

uid_t
files_uid(struct files_x *x, struct archive_entry *e)
{
	return (uid_t)files_lookup(x, 0, archive_entry_uname(e), (unsigned)archive_entry_uid(e));
}

gid_t
files_gid(struct files_x *x, struct archive_entry *e)
{
	return (gid_t)files_lookup(x, 1, archive_entry_gname(e), (unsigned)archive_entry_gid(e));
}

void
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

int
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
void
files_warn_owner(struct files_x *x, struct archive_entry *e, const char *name, uid_t uid)
{
	const char *uname = archive_entry_uname(e);
	files_warn(
	        x->fi, x->st,
	        "%s is owned by %s (uid %u) in the backup; restored as yours, since only root can give files away",
	        name, uname && *uname ? uname : "another user", (unsigned)uid);
}

int
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
void
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

/* The xattr layout is in files_internal.h (FILES_ACL_*), shared with
 * attrs.c. */

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
void
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
void
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
void
files_no_xattrs(struct files_x *x, struct archive_entry *e, const char *name)
{
	if ((x->fi->xattrs && archive_entry_xattr_count(e) > 0) ||
	    (x->fi->acls && archive_entry_acl_types(e) != 0))
		files_log(
		        x->fi, CAIRN_LOG_DEBUG,
		        "%s: extended attributes and ACLs of symlinks, FIFOs and devices are not restored",
		        name);
}

void
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
int
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
