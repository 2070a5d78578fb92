/*
 * restore.c - the files source's restore op: read a pax tar back into
 * the target (verify and the reading itself are read.c's).
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

#include <sys/file.h>
#include <sys/xattr.h>

/* One restore: the target, the staging directory, the extraction. */
struct files_rs {
	struct files_inst *fi;
	unsigned flags;
	struct files_stats st;
	struct files_x x;
	char *parent, *base; /* the target's; NULL for "/" */
	char *prefix, *stage;
	struct stat tst; /* the target's, when it exists */
	int exists;
	int made;          /* parents of the target made, see files_mkparents */
	int pfd, tfd, sfd; /* parent, target, staging directory */
	int published;     /* the target has begun to change */
};

/* Where the target is: its parent and base name, whether it exists (and
 * is a directory); its missing parents are made. */
static int
files_rs_locate(struct files_rs *rs)
{
	struct files_inst *fi = rs->fi;

	if (strcmp(fi->path, "/") != 0) {
		const char *sl = strrchr(fi->path, '/');
		if (sl == NULL) {
			return cairn_error(
			        files_host, fi->ctx, CAIRN_E_CONFIG,
			        "restore target %s is not an absolute path; set path to one",
			        fi->path);
		}
		rs->parent =
		        sl == fi->path ? strdup("/") : strndup(fi->path, (size_t)(sl - fi->path));
		rs->base = strdup(sl + 1);
		if (rs->parent == NULL || rs->base == NULL)
			return CAIRN_E_NOMEM;
	}
	rs->exists = stat(fi->path, &rs->tst) == 0;
	if (!rs->exists && errno != ENOENT) {
		return cairn_error(files_host, fi->ctx, CAIRN_E_IO,
		                   "cannot stat restore target %s: %s", fi->path, strerror(errno));
	}
	if (rs->exists && !S_ISDIR(rs->tst.st_mode)) {
		return cairn_error(
		        files_host, fi->ctx, CAIRN_E_EXISTS,
		        "restore target %s exists and is not a directory; choose another with --set path=DIR",
		        fi->path);
	}
	/* "/" always exists: only a target with a parent can be missing */
	if (!rs->exists && rs->parent != NULL)
		return files_mkparents(fi, rs->parent, &rs->made);
	return 0;
}

/* Open the target's parent and the target itself (if it exists), taking
 * away the staging directories a killed run left in them; an existing
 * target must be empty unless --force. */
static int
files_rs_open(struct files_rs *rs)
{
	struct files_inst *fi = rs->fi;
	int rc;

	if (rs->parent != NULL) {
		rs->pfd = open(rs->parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (rs->pfd < 0) {
			return cairn_error(files_host, fi->ctx, CAIRN_E_IO,
			                   "cannot open %s, the restore target's parent: %s",
			                   rs->parent, strerror(errno));
		}
		rs->prefix = files_stage_prefix(rs->base);
		if (rs->prefix == NULL)
			return CAIRN_E_NOMEM;
		files_clean_stale(fi, rs->pfd, rs->prefix, rs->parent);
	}
	if (!rs->exists)
		return 0;
	rs->tfd = open(fi->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (rs->tfd < 0) {
		return cairn_error(files_host, fi->ctx, CAIRN_E_IO,
		                   "cannot open restore target %s: %s", fi->path, strerror(errno));
	}
	files_clean_stale(fi, rs->tfd, FILES_STAGE_TAG, fi->path);
	rc = files_dir_empty(fi, rs->tfd, fi->path);
	if (rc < 0)
		return rc;
	if (rc == 0 && !(rs->flags & CAIRN_RESTORE_FORCE)) {
		return cairn_error(
		        files_host, fi->ctx, CAIRN_E_EXISTS,
		        "restore target %s is not empty; choose another with --set path=DIR or use --force to restore into it",
		        fi->path);
	}
	free(rs->prefix);
	rs->prefix = strdup(FILES_STAGE_TAG);
	return rs->prefix == NULL ? CAIRN_E_NOMEM : 0;
}

/* The staging directory, on the target's file system: inside the target
 * if it exists, else beside it. */
static int
files_rs_stage(struct files_rs *rs)
{
	struct files_inst *fi = rs->fi;
	int at = rs->exists ? rs->tfd : rs->pfd;
	const char *where = rs->exists ? fi->path : rs->parent;
	char *stage = NULL;

	/* through a local: a pointer into rs handed away would let the
	 * analyzer lose track of the rest of rs */
	if (files_mkstage(at, rs->prefix, &stage) != 0) {
		return cairn_error(files_host, fi->ctx, CAIRN_E_IO,
		                   "cannot create a staging directory in %s: %s", where,
		                   strerror(errno));
	}
	rs->stage = stage;
	rs->sfd = openat(at, rs->stage, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (rs->sfd < 0) {
		return cairn_error(files_host, fi->ctx, CAIRN_E_IO,
		                   "cannot open the staging directory %s/%s: %s", where, rs->stage,
		                   strerror(errno));
	}
	/* held while we live: files_clean_stale() leaves it alone */
	(void)flock(rs->sfd, LOCK_EX | LOCK_NB);
	/* what it inherited (a setgid bit, a default ACL, a mode cut
	 * by the umask) would reach every entry made inside */
	if (fchmod(rs->sfd, 0700) != 0) {
		return cairn_error(files_host, fi->ctx, CAIRN_E_IO,
		                   "cannot set up the staging directory %s: %s", rs->stage,
		                   strerror(errno));
	}
	(void)fremovexattr(rs->sfd, "system.posix_acl_default");
	(void)fremovexattr(rs->sfd, "system.posix_acl_access");
	return 0;
}

/* The whole tar into the staging directory, and onto the disk. */
static int
files_rs_extract(struct files_rs *rs, struct cairn_in *in)
{
	int rc;

	files_x_begin(&rs->x, rs->fi, &rs->st, rs->sfd);
	rc = files_read_all(rs->fi, in, &rs->x, &rs->st);
	files_walk_free(&rs->x.w);
	files_walk_free(&rs->x.lw);
	if (rc < 0)
		return rc;
	/* errors the file system reports only at writeback count too */
	if (syncfs(rs->sfd) != 0) {
		return cairn_error(files_host, rs->fi->ctx, CAIRN_E_IO,
		                   "restoring into %s failed: writing to disk failed: %s",
		                   rs->fi->path, strerror(errno));
	}
	return 0;
}

/* Proven good and on disk: publish, the staging directory renamed to a
 * missing target or its entries moved into an existing one.  No cancel
 * from here on, the target would be left half changed; this part is
 * quick.  Then every directory's attributes, in place. */
static int
files_rs_commit(struct files_rs *rs)
{
	struct files_inst *fi = rs->fi;
	int rc;

	if (!rs->exists) {
		if (files_rename_noreplace(rs->pfd, rs->stage, rs->pfd, rs->base) != 0) {
			int err = errno;
			if (err == EEXIST || err == ENOTEMPTY) {
				return cairn_error(
				        files_host, fi->ctx, CAIRN_E_EXISTS,
				        "restore target %s appeared while restoring; it was left alone, run the restore again",
				        fi->path);
			}
			return cairn_error(files_host, fi->ctx, CAIRN_E_IO,
			                   "cannot move the restored tree to %s: %s", fi->path,
			                   strerror(err));
		}
		rs->published = 1;
		rs->tfd = rs->sfd;
		rs->sfd = -1;
	} else {
		rs->published = 1;
		rc = files_merge(&rs->x, rs->sfd, rs->tfd, "", 0);
		if (rc < 0)
			return rc;
		close(rs->sfd);
		rs->sfd = -1;
		if (unlinkat(rs->tfd, rs->stage, AT_REMOVEDIR) != 0) {
			return cairn_error(files_host, fi->ctx, CAIRN_E_IO,
			                   "cannot remove the staging directory %s/%s: %s",
			                   fi->path, rs->stage, strerror(errno));
		}
	}
	return files_dirs_finish(&rs->x, rs->tfd);
}

/* The end, whatever happened: a failed, damaged or cancelled restore
 * takes its staging tree away (and the parents it made), leaving the
 * target as it was; the counts are recorded and everything freed. */
static void
files_rs_end(struct files_rs *rs, int rc)
{
	struct files_inst *fi = rs->fi;

	if (rs->sfd >= 0) {
		int at = rs->exists ? rs->tfd : rs->pfd;
		close(rs->sfd);
		if (rs->stage != NULL && at >= 0 && files_rm_tree(at, rs->stage) != 0)
			files_log(
			        fi, CAIRN_LOG_WARN,
			        "cannot remove the staging directory %s/%s: %s; remove it by hand",
			        rs->exists ? fi->path : rs->parent, rs->stage, strerror(errno));
		else if (rs->exists && !rs->published && rs->tfd >= 0) {
			/* making and removing the staging directory changed the
			 * target's times; nothing else of it was touched */
			struct timespec ts[2] = {rs->tst.st_atim, rs->tst.st_mtim};
			(void)futimens(rs->tfd, ts);
		}
	}
	if (rc < 0 && !rs->exists && !rs->published && rs->parent != NULL)
		files_rmparents(rs->parent, rs->made);
	if (rs->published && rc < 0)
		files_log(fi, CAIRN_LOG_WARN,
		          "the restore into %s failed after it had begun to change the target",
		          fi->path);
	if (rs->tfd >= 0)
		close(rs->tfd);
	if (rs->pfd >= 0)
		close(rs->pfd);
	files_emit_stats(fi, &rs->st);
	files_host->stat(fi->ctx, "skipped", rs->x.skipped);
	files_x_free(&rs->x);
	free(rs->parent);
	free(rs->base);
	free(rs->prefix);
	free(rs->stage);
}

/*
 * Restore: find the target, pick the staging place, extract there, prove,
 * publish.
 */
int
files_restore(void *instance, struct cairn_in *in, unsigned flags)
{
	struct files_inst *fi = instance;
	struct files_locale loc;
	struct files_rs rs;
	int rc;

	memset(&rs, 0, sizeof(rs));
	rs.fi = fi;
	rs.flags = flags;
	rs.x.fd = -1;
	rs.pfd = rs.tfd = rs.sfd = -1;
	if (files_host->abi_minor < 1) {
		return cairn_error(
		        files_host, fi->ctx, CAIRN_E_UNSUPPORTED,
		        "restoring needs cairn 1.1 or newer, which proves an object good before its end; this is cairn %s",
		        files_host->cairn_version ? files_host->cairn_version : "1.0");
	}
	files_locale_enter(&loc);
	rc = files_rs_locate(&rs);
	if (rc == 0)
		rc = files_rs_open(&rs);
	if (rc == 0)
		rc = files_rs_stage(&rs);
	if (rc == 0)
		rc = files_rs_extract(&rs, in);
	if (rc == 0)
		rc = files_rs_commit(&rs);
	files_rs_end(&rs, rc);
	files_locale_leave(&loc);
	return rc;
}
