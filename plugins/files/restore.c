/*
 * restore.c - the files source's restore and verify: read a pax tar back.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "files.h"

/* ----------------------------------------------------- restore, verify */

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
	n = s->in->read(s->in, s->buf, FILES_READ_BUF);
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

/* Names that would land outside the target.  libarchive refuses them too
 * (SECURE_NODOTDOT, SECURE_NOABSOLUTEPATHS); checking here as well gives
 * a clear message and the same answer in verify. */
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

/* ".", "./", "./." ...: the root of the tree. */
static int
files_root_name(const char *name)
{
	for (const char *p = name; *p; p++)
		if (*p != '.' && *p != '/')
			return 0;
	for (const char *p = name; *p; p++)
		if (p[0] == '.' && p[1] == '.')
			return 0;
	return 1;
}

/* Write one header to the disk writer; 0, or CAIRN_E_IO with the detail. */
static int
files_disk_header(struct files_inst *fi, struct files_stats *st,
                  struct archive *disk, struct archive_entry *e,
                  const char *name)
{
	int r = archive_write_header(disk, e);
	if (r == ARCHIVE_WARN)
		files_warn(fi, st, "%s: %s", name, archive_error_string(disk));
	else if (r < ARCHIVE_WARN) {
		files_host->set_error(fi->ctx, "restoring %s failed: %s", name,
		                      archive_error_string(disk));
		return CAIRN_E_IO;
	}
	return 0;
}

static int
files_disk_finish(struct files_inst *fi, struct files_stats *st,
                  struct archive *disk, const char *name)
{
	int r = archive_write_finish_entry(disk);
	if (r == ARCHIVE_WARN)
		files_warn(fi, st, "%s: %s", name, archive_error_string(disk));
	else if (r < ARCHIVE_WARN) {
		files_host->set_error(fi->ctx, "finishing %s failed: %s", name,
		                      archive_error_string(disk));
		return CAIRN_E_IO;
	}
	return 0;
}

/* The input failed (in's code), or it is malformed (CORRUPT). */
static int
files_read_failed(struct files_inst *fi, struct files_src *s,
                  struct archive *ar, const char *after)
{
	if (s->in_err < 0)
		return s->in_err;
	if (after != NULL)
		files_host->set_error(fi->ctx, "backup stream is damaged at the "
		                      "entry after %s: %s", after,
		                      archive_error_string(ar));
	else
		files_host->set_error(fi->ctx, "backup stream is damaged at its "
		                      "first entry: %s", archive_error_string(ar));
	return CAIRN_E_CORRUPT;
}

/*
 * Read the whole tar from in.  With disk == NULL (verify), read every
 * byte and check it; else extract every entry through disk.  `last`
 * holds the name of the last good entry for messages.
 */
static int
files_read_all(struct files_inst *fi, struct cairn_in *in, struct archive *disk,
               struct files_stats *st)
{
	struct files_src src = { .in = in };
	struct archive *ar = NULL;
	struct archive_entry *e, *root = NULL;
	char *last = NULL;
	const char *name;
	const void *buf;
	size_t len;
	la_int64_t off;
	int r, rc = 0;

	src.buf = malloc(FILES_READ_BUF);
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
			rc = files_read_failed(fi, &src, ar, last);
			goto done;
		}
		name = archive_entry_pathname(e);
		if (name == NULL || *name == '\0') {
			files_host->set_error(fi->ctx, "backup stream holds an "
			                      "entry without a name after %s",
			                      last ? last : "the start");
			rc = CAIRN_E_CORRUPT;
			goto done;
		}
		free(last);
		last = strdup(name);
		if (last == NULL) {
			rc = CAIRN_E_NOMEM;
			goto done;
		}
		if (r == ARCHIVE_WARN)
			files_warn(fi, st, "%s: %s", last, archive_error_string(ar));
		if (files_unsafe_name(last) ||
		    files_unsafe_name(archive_entry_hardlink(e))) {
			files_host->set_error(fi->ctx, "refusing entry '%s'%s%s: "
			                      "it would be written outside the "
			                      "restore target", last,
			                      archive_entry_hardlink(e) ? " linked to " : "",
			                      archive_entry_hardlink(e) ?
			                      archive_entry_hardlink(e) : "");
			rc = CAIRN_E_CORRUPT;
			goto done;
		}
		files_count(st, e, archive_entry_size(e));
		if (disk != NULL && files_root_name(last) &&
		    archive_entry_filetype(e) == AE_IFDIR) {
			/* The target exists by now, and libarchive sets an
			 * existing directory's times at once: creating the
			 * tree inside would then change them again.  Keep
			 * the root's entry for the very end. */
			archive_entry_free(root);
			root = archive_entry_clone(e);
			if (root == NULL) {
				rc = CAIRN_E_NOMEM;
				goto done;
			}
			continue;
		}
		if (disk != NULL) {
			rc = files_disk_header(fi, st, disk, e, last);
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
				files_host->set_error(fi->ctx, "backup stream is "
				                      "damaged in the data of %s: %s",
				                      last, archive_error_string(ar));
				rc = CAIRN_E_CORRUPT;
				goto done;
			}
			if (disk == NULL)
				continue;
			/* Offsets skip holes; the disk writer seeks over
			 * them, so sparse files stay sparse. */
			la_ssize_t w = archive_write_data_block(disk, buf, len, off);
			if (w == ARCHIVE_WARN)
				files_warn(fi, st, "%s: %s", last,
				           archive_error_string(disk));
			else if (w < ARCHIVE_WARN) {
				files_host->set_error(fi->ctx, "writing %s "
				                      "failed: %s", last,
				                      archive_error_string(disk));
				rc = CAIRN_E_IO;
				goto done;
			}
		}
		if (disk != NULL) {
			rc = files_disk_finish(fi, st, disk, last);
			if (rc < 0)
				goto done;
		}
	}
	/* libarchive accepts a tar that simply stops between entries ("there
	 * are tar writers that do this"); ours never does, so a stream
	 * without the two zero blocks at its end was cut short.  Read to the
	 * end first, so the core sees (and hashes) every byte. */
	while (!src.eof) {
		if (files_pull(&src) < 0) {
			rc = src.in_err;
			goto done;
		}
	}
	if (src.zrun < FILES_TRAILER) {
		files_host->set_error(fi->ctx, "backup stream ends after %s "
		                      "without the tar end-of-archive marker; it "
		                      "was cut short", last ? last : "0 entries");
		rc = CAIRN_E_CORRUPT;
		goto done;
	}
	if (root != NULL) {
		rc = files_disk_header(fi, st, disk, root, ".");
		if (rc == 0)
			rc = files_disk_finish(fi, st, disk, ".");
	}

done:
	if (rc == CAIRN_E_CANCELLED)
		files_host->set_error(fi->ctx, "cancelled");
	archive_entry_free(root);
	if (ar != NULL)
		archive_read_free(ar);
	free(src.buf);
	free(last);
	return rc;
}

/* 1 if dir has no entries, 0 if it has, negative on error. */
static int
files_dir_empty(struct files_inst *fi, const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int empty = 1;
	if (d == NULL) {
		files_host->set_error(fi->ctx, "cannot read restore target %s: "
		                      "%s", dir, strerror(errno));
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

static int
files_mkdir_p(struct files_inst *fi, const char *path)
{
	char *p = strdup(path);
	int rc = 0;
	if (p == NULL)
		return CAIRN_E_NOMEM;
	for (char *s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;
		*s = '\0';
		/* 0700: nobody else sees the tree while it is written; the
		 * root entry "." gives the target its own mode at the end. */
		if (mkdir(p, 0700) != 0 && errno != EEXIST) {
			files_host->set_error(fi->ctx, "cannot create restore "
			                      "target %s: %s", p, strerror(errno));
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

static int
files_prepare_target(struct files_inst *fi, unsigned flags)
{
	struct stat st;
	int r;
	if (stat(fi->path, &st) != 0) {
		if (errno != ENOENT) {
			files_host->set_error(fi->ctx, "cannot stat restore target "
			                      "%s: %s", fi->path, strerror(errno));
			return CAIRN_E_IO;
		}
		return files_mkdir_p(fi, fi->path);
	}
	if (!S_ISDIR(st.st_mode)) {
		files_host->set_error(fi->ctx, "restore target %s exists and is "
		                      "not a directory; choose another with --set "
		                      "path=DIR", fi->path);
		return CAIRN_E_EXISTS;
	}
	r = files_dir_empty(fi, fi->path);
	if (r < 0)
		return r;
	if (r == 0 && !(flags & CAIRN_RESTORE_FORCE)) {
		files_host->set_error(fi->ctx, "restore target %s is not empty; "
		                      "choose another with --set path=DIR or use "
		                      "--force to restore into it", fi->path);
		return CAIRN_E_EXISTS;
	}
	return 0;
}

/*
 * Restore extracts relative to the working directory: SECURE_NOABSOLUTEPATHS
 * forbids prefixing names with the target, and libarchive 3.6 has no
 * "extract below this directory fd" call.  So chdir into the target and
 * fchdir back on every way out, after the disk writer is freed (it sets
 * directory modes and times at close, by relative name).  The alternative,
 * prefixing names ourselves and dropping NOABSOLUTEPATHS, would leave the
 * escape checks to our own code alone.  The disk reader of the backup
 * changes directories the same way; cairn runs one plugin op at a time.
 */
int
files_restore(void *instance, struct cairn_in *in, unsigned flags)
{
	struct files_inst *fi = instance;
	struct files_stats st = { 0 };
	struct files_locale loc;
	struct archive *disk = NULL;
	int saved = -1, opts, rc;

	files_locale_enter(&loc);
	rc = files_prepare_target(fi, flags);
	if (rc < 0)
		goto done;
#ifdef O_PATH
	saved = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
#else
	saved = open(".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
#endif
	if (saved < 0) {
		files_host->set_error(fi->ctx, "cannot open the working "
		                      "directory: %s", strerror(errno));
		rc = CAIRN_E_IO;
		goto done;
	}
	if (chdir(fi->path) != 0) {
		files_host->set_error(fi->ctx, "cannot enter restore target %s: "
		                      "%s", fi->path, strerror(errno));
		rc = CAIRN_E_IO;
		close(saved);
		saved = -1;
		goto done;
	}

	opts = ARCHIVE_EXTRACT_SECURE_NODOTDOT | ARCHIVE_EXTRACT_SECURE_SYMLINKS |
	       ARCHIVE_EXTRACT_SECURE_NOABSOLUTEPATHS | ARCHIVE_EXTRACT_TIME |
	       ARCHIVE_EXTRACT_PERM | ARCHIVE_EXTRACT_FFLAGS |
	       ARCHIVE_EXTRACT_SPARSE;
	if (fi->acls)
		opts |= ARCHIVE_EXTRACT_ACL;
	if (fi->xattrs)
		opts |= ARCHIVE_EXTRACT_XATTR;
	/* Only root can give files away; for anyone else it would turn every
	 * entry into a warning. */
	if (geteuid() == 0)
		opts |= ARCHIVE_EXTRACT_OWNER;
	disk = archive_write_disk_new();
	if (disk == NULL) {
		rc = CAIRN_E_NOMEM;
		goto done;
	}
	if (archive_write_disk_set_options(disk, opts) != ARCHIVE_OK ||
	    archive_write_disk_set_standard_lookup(disk) != ARCHIVE_OK) {
		files_host->set_error(fi->ctx, "setting up the disk writer "
		                      "failed: %s", archive_error_string(disk));
		rc = CAIRN_E_IO;
		goto done;
	}
	rc = files_read_all(fi, in, disk, &st);
	if (rc < 0)
		goto done;
	/* Directory modes and times are set here, last. */
	if (archive_write_close(disk) < ARCHIVE_WARN) {
		files_host->set_error(fi->ctx, "finishing the restore into %s "
		                      "failed: %s", fi->path,
		                      archive_error_string(disk));
		rc = CAIRN_E_IO;
	}

done:
	if (disk != NULL)
		archive_write_free(disk);
	if (saved >= 0) {
		if (fchdir(saved) != 0 && rc == 0) {
			files_host->set_error(fi->ctx, "cannot return to the "
			                      "working directory: %s",
			                      strerror(errno));
			rc = CAIRN_E_IO;
		}
		close(saved);
	}
	files_emit_stats(fi, &st);
	files_locale_leave(&loc);
	return rc;
}

int
files_verify(void *instance, struct cairn_in *in)
{
	struct files_inst *fi = instance;
	struct files_stats st = { 0 };
	struct files_locale loc;
	int rc;

	files_locale_enter(&loc);
	rc = files_read_all(fi, in, NULL, &st);
	files_emit_stats(fi, &st);
	files_locale_leave(&loc);
	return rc;
}
