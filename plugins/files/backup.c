/*
 * backup.c - the files source's backup: walk `path`, write a pax tar.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "files.h"

/* -------------------------------------------------------------- backup */

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

/* The disk reader names entries path + "/" + rel; "" is the root. */
static const char *
files_rel(const struct files_run *run, const char *full)
{
	const char *rel;
	if (full == NULL || strlen(full) < run->rootlen)
		return "";
	rel = full + run->rootlen;
	while (*rel == '/')
		rel++;
	return rel;
}

/* Called by the disk reader before it reads xattrs, ACLs and the sparse
 * map, so an excluded entry costs nothing more; a directory left out here
 * is never descended into. */
static int
files_filter(struct archive *disk, void *data, struct archive_entry *e)
{
	struct files_run *run = data;
	const char *rel = files_rel(run, archive_entry_pathname(e));
	(void)disk;
	if (*rel == '\0')
		return 1;
	if (files_excluded(run->fi, rel, archive_entry_filetype(e) == AE_IFDIR)) {
		files_log(run->fi, CAIRN_LOG_DEBUG, "excluded %s", rel);
		return 0;
	}
	return 1;
}

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
files_tar_failed(struct files_run *run, struct archive *tar, const char *what)
{
	run->closed = 1;
	if (run->out_err < 0)
		return run->out_err;
	files_host->set_error(run->fi->ctx, "writing the tar entry for %s "
	                      "failed: %s", what, archive_error_string(tar));
	return CAIRN_E_IO;
}

/*
 * A file or directory that could not be read.  One that vanished since it
 * was listed is always just a warning: a live tree changes while it is
 * backed up.  Anything else is a warning with ignore_unreadable, else it
 * ends the backup.  `msg` is libarchive's message or NULL for strerror.
 */
static int
files_unreadable(struct files_run *run, const char *what, int err,
                 const char *msg, const char *consequence)
{
	struct files_inst *fi = run->fi;
	char detail[1024];
	const char *why = msg ? msg : (err > 0 ? strerror(err) : "unknown error");

	/* libarchive's messages after a failed header name the path. */
	if (what != NULL)
		snprintf(detail, sizeof(detail), "%s: %s", what, why);
	else
		snprintf(detail, sizeof(detail), "%s", why);
	if (err == ENOENT || err == ENOTDIR) {
		files_warn(fi, &run->st, "vanished before it could be read: "
		           "%s; %s", detail, consequence);
		return 0;
	}
	if (fi->ignore_unreadable) {
		files_warn(fi, &run->st, "cannot read %s; %s", detail,
		           consequence);
		return 0;
	}
	files_host->set_error(fi->ctx, "cannot read %s; fix its permissions, "
	                      "exclude it, or set ignore_unreadable = yes",
	                      detail);
	return CAIRN_E_IO;
}

/* Hand len bytes of the current entry to the writer.  It takes fewer only
 * when the entry is full (the file grew): the rest is dropped. */
static int
files_put(struct files_run *run, struct archive *tar, const void *buf,
          size_t len, const char *what)
{
	const char *p = buf;
	while (len > 0) {
		la_ssize_t n = archive_write_data(tar, p, len);
		if (n < 0)
			return files_tar_failed(run, tar, what);
		if (n == 0)
			break;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static int
files_put_zeros(struct files_run *run, struct archive *tar, int64_t len,
                const char *what)
{
	while (len > 0) {
		size_t n = len > (int64_t)sizeof(files_zeros) ?
		           sizeof(files_zeros) : (size_t)len;
		la_ssize_t w = archive_write_data(tar, files_zeros, n);
		if (w < 0)
			return files_tar_failed(run, tar, what);
		if (w == 0)
			break;
		len -= w;
	}
	return 0;
}

/* Copy one regular file's data.  The header is out already, so whatever
 * happens the entry must end at its declared size: the writer pads a short
 * entry with zeros in finish_entry.  1: the file could not be read and a
 * warning said so already. */
static int
files_copy_data(struct files_run *run, struct archive *disk,
                struct archive *tar, const char *what)
{
	const void *buf;
	size_t len;
	la_int64_t off;
	int64_t done = 0;
	int r, rc;

	/* The pax writer emits a sparse file's map with the first data call;
	 * make that call even if no data follows, or the entry is short. */
	if (archive_write_data(tar, files_zeros, 0) < 0)
		return files_tar_failed(run, tar, what);
	for (;;) {
		if (files_host->cancelled(run->fi->ctx))
			return CAIRN_E_CANCELLED;
		r = archive_read_data_block(disk, &buf, &len, &off);
		if (r == ARCHIVE_EOF)
			return 0;
		if (r == ARCHIVE_FATAL) {
			/* A read error; the disk reader cannot go on. */
			files_host->set_error(run->fi->ctx, "reading %s failed: "
			                      "%s", what, archive_error_string(disk));
			return CAIRN_E_IO;
		}
		if (r != ARCHIVE_OK) {
			rc = files_unreadable(run, NULL, archive_errno(disk),
			                      archive_error_string(disk),
			                      "stored as zeros");
			return rc < 0 ? rc : 1;
		}
		if (off > done) {
			rc = files_put_zeros(run, tar, off - done, what);
			if (rc < 0)
				return rc;
		}
		rc = files_put(run, tar, buf, len, what);
		if (rc < 0)
			return rc;
		done = off + (int64_t)len;
	}
}

static int
files_set_name(struct files_run *run, struct archive_entry *e, const char *rel)
{
	size_t need = strlen(rel) + 1;
	if (*rel == '\0') {
		rel = ".";
		need = 2;
	}
	if (need > run->name_cap) {
		char *n = realloc(run->name, need);
		if (n == NULL)
			return CAIRN_E_NOMEM;
		run->name = n;
		run->name_cap = need;
	}
	/* rel points into e's own pathname: copy it out first. */
	memcpy(run->name, rel, need);
	archive_entry_copy_pathname(e, run->name);
	return 0;
}

/* Store one entry the disk reader returned. */
static int
files_store(struct files_run *run, struct archive *disk, struct archive *tar,
            struct archive_entry_linkresolver *links, struct archive_entry *e)
{
	struct files_inst *fi = run->fi;
	struct archive_entry *spare = NULL;
	char *full = NULL;
	const char *rel, *src;
	int is_root, rc = 0, r;
	int64_t size;
	time_t mtime;
	long mtime_ns;
	struct stat after;

	src = archive_entry_sourcepath(e);
	full = strdup(src ? src : archive_entry_pathname(e));
	if (full == NULL)
		return CAIRN_E_NOMEM;
	rel = files_rel(run, full);
	is_root = (*rel == '\0');

	if (archive_entry_filetype(e) == AE_IFSOCK) {
		/* tar cannot hold sockets; they are recreated by their
		 * server anyway.  GNU tar says the same and goes on. */
		files_log(fi, CAIRN_LOG_INFO, "%s: socket ignored", full);
		goto out;
	}
	/* A directory we may not list would fail only after its entry is
	 * written; find out first, so "skipped" means not stored at all. */
	if (archive_entry_filetype(e) == AE_IFDIR && !is_root &&
	    faccessat(AT_FDCWD, full, R_OK | X_OK, AT_EACCESS) != 0) {
		rc = files_unreadable(run, full, errno, NULL, "skipped");
		goto out;
	}

	rc = files_set_name(run, e, rel);
	if (rc < 0)
		goto out;
	/* ctime cannot be restored and birth time is not ours to keep; full
	 * pax would store both in every entry. */
	archive_entry_unset_ctime(e);
	archive_entry_unset_birthtime(e);
	size = archive_entry_size(e);
	mtime = archive_entry_mtime(e);
	mtime_ns = archive_entry_mtime_nsec(e);

	/* The second and later names of a file become hard-link entries
	 * pointing at the first; e is changed in place (tar strategy). */
	archive_entry_linkify(links, &e, &spare);
	if (e == NULL) /* not with the tar strategy, but be safe */
		goto out;

	r = archive_write_header(tar, e);
	if (r == ARCHIVE_FATAL) {
		rc = files_tar_failed(run, tar, full);
		goto out;
	}
	if (r == ARCHIVE_FAILED) {
		/* The entry was not written, the tar is intact. */
		files_warn(fi, &run->st, "%s not stored: %s", full,
		           archive_error_string(tar));
		goto out;
	}
	if (r == ARCHIVE_WARN)
		files_warn(fi, &run->st, "%s: %s", full, archive_error_string(tar));
	files_count(&run->st, e, size);

	if (archive_entry_filetype(e) == AE_IFDIR) {
		if (archive_read_disk_can_descend(disk) &&
		    archive_read_disk_descend(disk) != ARCHIVE_OK)
			rc = files_unreadable(run, full, archive_errno(disk),
			                      archive_error_string(disk),
			                      "its contents skipped");
		goto out;
	}
	/* The writer set the size it wants: 0 for a hard-link entry. */
	if (archive_entry_filetype(e) != AE_IFREG || archive_entry_size(e) <= 0)
		goto finish;
	rc = files_copy_data(run, disk, tar, full);
	if (rc < 0)
		goto out;
	r = archive_write_finish_entry(tar);
	if (r < ARCHIVE_WARN) {
		rc = files_tar_failed(run, tar, full);
		goto out;
	}
	if (rc > 0) {
		rc = 0;
		goto out;
	}
	/* Compare with the stat taken when the file was listed.  The tar
	 * holds `size` bytes whatever happened; say so when they may be a
	 * mix of old and new. */
	if (lstat(full, &after) != 0) {
		if (errno == ENOENT)
			files_warn(fi, &run->st, "%s vanished while it was "
			           "read; the stored copy may be incomplete", full);
	} else if (after.st_size != size || after.st_mtim.tv_sec != mtime ||
	           after.st_mtim.tv_nsec != mtime_ns) {
		files_warn(fi, &run->st, "%s changed while it was read "
		           "(size %lld, now %lld); the stored copy may be "
		           "inconsistent", full, (long long)size,
		           (long long)after.st_size);
	}
	goto out;

finish:
	if (archive_write_finish_entry(tar) < ARCHIVE_WARN)
		rc = files_tar_failed(run, tar, full);
out:
	free(full);
	return rc;
}

int
files_backup(void *instance, struct cairn_out *out)
{
	struct files_inst *fi = instance;
	struct files_run run = { .fi = fi, .out = out };
	struct archive *disk = NULL, *tar = NULL;
	struct archive_entry *e = NULL;
	struct archive_entry_linkresolver *links = NULL;
	struct files_locale loc;
	struct stat st;
	int flags = 0, r, rc = 0;

	files_locale_enter(&loc);
	if (stat(fi->path, &st) != 0) {
		if (errno == ENOENT) {
			files_host->set_error(fi->ctx, "path %s does not exist; "
			                      "check the source's `path`", fi->path);
			rc = CAIRN_E_NOTFOUND;
		} else {
			files_host->set_error(fi->ctx, "cannot stat path %s: %s",
			                      fi->path, strerror(errno));
			rc = CAIRN_E_IO;
		}
		goto done;
	}
	if (!S_ISDIR(st.st_mode)) {
		files_host->set_error(fi->ctx, "path %s is not a directory; "
		                      "set `path` to the directory to back up",
		                      fi->path);
		rc = CAIRN_E_CONFIG;
		goto done;
	}
	/* An unreadable root is never "skipped": that would be an empty
	 * backup that looks fine. */
	if (faccessat(AT_FDCWD, fi->path, R_OK | X_OK, AT_EACCESS) != 0) {
		files_host->set_error(fi->ctx, "cannot read path %s: %s",
		                      fi->path, strerror(errno));
		rc = CAIRN_E_IO;
		goto done;
	}
	run.rootlen = strlen(fi->path);

	disk = archive_read_disk_new();
	tar = archive_write_new();
	e = archive_entry_new();
	links = archive_entry_linkresolver_new();
	if (disk == NULL || tar == NULL || e == NULL || links == NULL) {
		rc = CAIRN_E_NOMEM;
		goto done;
	}
	if (fi->one_fs)
		flags |= ARCHIVE_READDISK_NO_TRAVERSE_MOUNTS;
	if (!fi->xattrs)
		flags |= ARCHIVE_READDISK_NO_XATTR;
	if (!fi->acls)
		flags |= ARCHIVE_READDISK_NO_ACL;
	/* "hybrid": follow `path` itself if it is a symlink to the tree
	 * (/srv/uploads -> /data/uploads), store every link inside as a link. */
	if (archive_read_disk_set_symlink_hybrid(disk) != ARCHIVE_OK ||
	    archive_read_disk_set_standard_lookup(disk) != ARCHIVE_OK ||
	    archive_read_disk_set_behavior(disk, flags) != ARCHIVE_OK ||
	    archive_read_disk_set_metadata_filter_callback(disk, files_filter,
	                                                   &run) != ARCHIVE_OK) {
		files_host->set_error(fi->ctx, "setting up the disk reader "
		                      "failed: %s", archive_error_string(disk));
		rc = CAIRN_E_IO;
		goto done;
	}

	/* Full pax, not "restricted": every entry gets an extended header,
	 * so sub-second mtimes are kept even where nothing else needs one.
	 * Only SCHILY.xattr headers, which both GNU tar and libarchive read
	 * (GNU tar warns about LIBARCHIVE.xattr ones). */
	if (archive_write_set_format_pax(tar) != ARCHIVE_OK ||
	    archive_write_set_format_option(tar, "pax", "xattrheader",
	                                    "SCHILY") < ARCHIVE_WARN ||
	    archive_write_set_bytes_per_block(tar, files_block_size) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(tar, FILES_RECORD) != ARCHIVE_OK) {
		files_host->set_error(fi->ctx, "setting up the tar writer "
		                      "failed: %s", archive_error_string(tar));
		rc = CAIRN_E_IO;
		goto done;
	}
	archive_entry_linkresolver_set_strategy(links, archive_format(tar));
	if (archive_write_open2(tar, &run, NULL, files_write_cb, NULL,
	                        NULL) != ARCHIVE_OK) {
		rc = files_tar_failed(&run, tar, "the archive start");
		goto done;
	}
	if (archive_read_disk_open(disk, fi->path) != ARCHIVE_OK) {
		files_host->set_error(fi->ctx, "cannot open %s: %s", fi->path,
		                      archive_error_string(disk));
		rc = CAIRN_E_IO;
		goto done;
	}

	for (;;) {
		if (files_host->cancelled(fi->ctx)) {
			rc = CAIRN_E_CANCELLED;
			goto done;
		}
		r = archive_read_next_header2(disk, e);
		if (r == ARCHIVE_EOF)
			break;
		if (r == ARCHIVE_FATAL) {
			files_host->set_error(fi->ctx, "walking %s failed: %s",
			                      fi->path, archive_error_string(disk));
			rc = CAIRN_E_IO;
			goto done;
		}
		if (r == ARCHIVE_FAILED || r == ARCHIVE_RETRY) {
			/* Nothing usable in e: a file that vanished, could
			 * not be opened, or a directory we could not list. */
			rc = files_unreadable(&run, NULL,
			                      archive_errno(disk),
			                      archive_error_string(disk), "skipped");
			if (rc < 0)
				goto done;
			continue;
		}
		if (r == ARCHIVE_WARN)
			files_warn(fi, &run.st, "%s", archive_error_string(disk));
		rc = files_store(&run, disk, tar, links, e);
		if (rc < 0)
			goto done;
	}
	/* With the tar strategy the resolver holds nothing back (the first
	 * name of a file carries its data), so there is nothing to flush. */
	if (archive_write_close(tar) != ARCHIVE_OK) {
		rc = files_tar_failed(&run, tar, "the end of the archive");
		goto done;
	}

done:
	if (rc == CAIRN_E_CANCELLED)
		files_host->set_error(fi->ctx, "backup of %s cancelled", fi->path);
	if (rc < 0)
		run.closed = 1;
	if (tar != NULL)
		archive_write_free(tar);
	if (disk != NULL)
		archive_read_free(disk);
	if (links != NULL)
		archive_entry_linkresolver_free(links);
	archive_entry_free(e);
	free(run.name);
	files_emit_stats(fi, &run.st);
	files_locale_leave(&loc);
	return rc;
}
