/*
 * attrs.c - what the backup stores besides a file's data and stat: the
 * names of its owner and group (cached), its extended attributes and,
 * from their system.posix_acl_* values, its POSIX ACLs, added to the
 * entry being written (files_store() in write.c calls them).  A name without a descriptor of its own is reached through
 * /proc/self/fd/DIRFD/NAME.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "files_internal.h"

#include <endian.h>
#include <grp.h>
#include <pwd.h>
#include <stdint.h>
#include <sys/xattr.h>

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

const char *
files_bk_uname(struct files_bk *w, uid_t uid)
{
	return files_bk_idcache(w, &w->users[uid % FILES_BK_IDCACHE], uid, 0);
}

const char *
files_bk_gname(struct files_bk *w, gid_t gid)
{
	return files_bk_idcache(w, &w->groups[gid % FILES_BK_IDCACHE], gid, 1);
}

/* ----------------------------------------------------------- metadata */

/* Where a name without a descriptor of its own (symlink, FIFO, device)
 * can be reached for its xattrs: through its directory's descriptor, so
 * the path is short however deep the tree.  Opening a FIFO or a device to
 * get a descriptor could block or have side effects (a tape rewinds). */
void
files_bk_proc_path(char *p, size_t cap, int dfd, const char *name)
{
	snprintf(p, cap, "/proc/self/fd/%d/%s", dfd, name);
}

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

void
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
int
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
