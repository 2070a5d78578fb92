/*
 * write.c - the backup's tar writing: libarchive's pax writer fed through
 * files_write_cb() into out->write(), one entry at a time (files_store():
 * header, owner names, symlink target, flags, xattrs and ACLs, sparse
 * map, then the data, read in ranges so holes stay holes), and what an
 * unreadable entry costs (a warning or the end of the backup).
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "files_internal.h"

#include <linux/fs.h>
#include <stdint.h>
#include <sys/ioctl.h>

/* ------------------------------------------------------------- writer */

la_ssize_t
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
int
files_tar_failed(struct files_bk *w, const char *what)
{
	w->run.closed = 1;
	if (w->run.out_err < 0)
		return w->run.out_err;
	return cairn_error(files_host, w->run.fi->ctx, CAIRN_E_IO,
	                   "writing the tar entry for %s failed: %s", what,
	                   archive_error_string(w->tar));
}

/*
 * The current entry (rel) could not be read.  One that vanished since it
 * was listed is always just a warning: a live tree changes while it is
 * backed up.  Anything else is a warning with ignore_unreadable, else it
 * ends the backup.
 */
int
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
	return cairn_error(
	        files_host, fi->ctx, CAIRN_E_IO,
	        "cannot read %s (below %s): %s; fix its permissions, exclude it, or set ignore_unreadable = yes",
	        rel, fi->path, why);
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
			return cairn_error(files_host, w->run.fi->ctx, CAIRN_E_IO,
			                   "reading %s (below %s) failed: %s", w->rel,
			                   w->run.fi->path, strerror(errno));
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

/* A regular file's data, size bytes as its stat said when its header was
 * written, and a warning if it changed meanwhile. */
static int
files_store_data(struct files_bk *w, int fd, const struct stat *st, const char *shown)
{
	struct files_inst *fi = w->run.fi;
	int64_t size = st->st_size;
	struct stat after;
	int rc = files_copy_data(w, fd, size);
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
	else if (after.st_size != st->st_size || after.st_mtim.tv_sec != st->st_mtim.tv_sec ||
	         after.st_mtim.tv_nsec != st->st_mtim.tv_nsec)
		files_warn(
		        fi, &w->run.st,
		        "%s (below %s) changed while it was read (size %lld, now %lld); the stored copy may be inconsistent",
		        shown, fi->path, (long long)size, (long long)after.st_size);
	return 0;
}

/*
 * Store the current entry (rel; "." for the root).  fd is its own
 * descriptor for a regular file or a directory, else -1 and it is reached
 * as name in dfd.  1: it was not stored (a warning said why).
 */
int
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
	if (S_ISREG(st->st_mode) && archive_entry_size(e) > 0)
		return files_store_data(w, fd, st, shown);
	if (archive_write_finish_entry(w->tar) < ARCHIVE_WARN)
		return files_tar_failed(w, shown);
	return 0;
}
