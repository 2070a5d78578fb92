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
