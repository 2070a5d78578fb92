/*
 * files.c - the `files` source: a directory tree as a POSIX pax tar.
 *
 * Backup walks `path` with libarchive's disk reader and streams a pax tar
 * into out->write(); restore pulls a tar from in->read() and extracts it with
 * libarchive's disk writer; verify reads every header and every data byte.
 * The tar is an ordinary one: `zstd -dc x.tar.zst | tar -xf -` restores it
 * without cairn.
 *
 * Entry names are relative to `path`.  The root directory itself is stored
 * as "." (written "./"): that is the only place its mode, owner, times,
 * xattrs and ACLs can live, and a restore gives them back to the target, as
 * `tar -C dir -cf - .` does.  Nothing else starts with "./" or "/".
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include <cairn/plugin.h>

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <langinfo.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILES_VERSION "0.1.0"

/* tar's record size.  The stream is padded to a whole record at the end,
 * as GNU tar and bsdtar do, and handed on in blocks of several records so
 * the core's compressor sees few, large writes. */
#define FILES_RECORD 10240
#define FILES_BLOCK (16 * FILES_RECORD)
/* The writer's block size; a variable only so that the unit test can
 * make libarchive flush inside one entry's header. */
static int files_block_size = FILES_BLOCK;
/* Bytes pulled from in->read() per call on restore and verify. */
#define FILES_READ_BUF (64 * 1024)
/* A tar ends with two zero blocks. */
#define FILES_TRAILER 1024

static const struct cairn_host *files_host;

/* Holes of sparse files are handed to the pax writer as runs of zeros, as
 * bsdtar does; the writer knows the sparse map and skips them without
 * copying, so this buffer is never really read for a hole.  Never written. */
static char files_zeros[64 * 1024];

struct files_pattern {
	char *glob;
	int anchored; /* matches the path below `path`, not the base name */
	int dir_only; /* written with a trailing '/' */
};

struct files_inst {
	cairn_ctx *ctx;
	char *path; /* absolute, without trailing '/' (except "/") */
	struct files_pattern *excl;
	size_t nexcl;
	int one_fs;
	int ignore_unreadable;
	int xattrs;
	int acls;
};

struct files_stats {
	int64_t files;     /* regular files stored with their data */
	int64_t dirs;      /* directories, the root "." included */
	int64_t symlinks;
	int64_t hardlinks; /* entries stored as a link to an earlier one */
	int64_t bytes;     /* sum of the regular files' sizes */
	int64_t warnings;
};

/* One backup run. */
struct files_run {
	struct files_inst *fi;
	struct cairn_out *out;
	int out_err;  /* the first out->write() failure */
	int closed;   /* forward nothing more to out (error or cancel) */
	size_t rootlen;
	char *name;   /* the current entry's relative name */
	size_t name_cap;
	struct files_stats st;
};

/* The reading side of a restore or verify. */
struct files_src {
	struct cairn_in *in;
	int in_err;     /* the first in->read() failure */
	int eof;
	uint64_t zrun;  /* zero bytes at the end of everything read so far */
	uint64_t total;
	char *buf;
};

/* ------------------------------------------------------------ helpers */

static void files_vlog(struct files_inst *fi, enum cairn_log_level level,
                       const char *fmt, va_list ap) CAIRN_PRINTF(3, 0);
static void files_warn(struct files_inst *fi, struct files_stats *st,
                       const char *fmt, ...) CAIRN_PRINTF(3, 4);
static void files_log(struct files_inst *fi, enum cairn_log_level level,
                      const char *fmt, ...) CAIRN_PRINTF(3, 4);

static void
files_vlog(struct files_inst *fi, enum cairn_log_level level, const char *fmt,
           va_list ap)
{
	char line[1024];
	vsnprintf(line, sizeof(line), fmt, ap);
	files_host->log(fi->ctx, level, "%s", line);
}

static void
files_log(struct files_inst *fi, enum cairn_log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	files_vlog(fi, level, fmt, ap);
	va_end(ap);
}

static void
files_warn(struct files_inst *fi, struct files_stats *st, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	files_vlog(fi, CAIRN_LOG_WARN, fmt, ap);
	va_end(ap);
	st->warnings++;
}

static void
files_emit_stats(struct files_inst *fi, const struct files_stats *st)
{
	files_host->stat(fi->ctx, "files", st->files);
	files_host->stat(fi->ctx, "directories", st->dirs);
	files_host->stat(fi->ctx, "symlinks", st->symlinks);
	files_host->stat(fi->ctx, "hardlinks", st->hardlinks);
	files_host->stat(fi->ctx, "bytes", st->bytes);
	files_host->stat(fi->ctx, "warnings", st->warnings);
}

static void
files_count(struct files_stats *st, struct archive_entry *e, int64_t size)
{
	if (archive_entry_hardlink(e) != NULL)
		st->hardlinks++;
	else if (archive_entry_filetype(e) == AE_IFREG) {
		st->files++;
		st->bytes += size;
	} else if (archive_entry_filetype(e) == AE_IFDIR)
		st->dirs++;
	else if (archive_entry_filetype(e) == AE_IFLNK)
		st->symlinks++;
}

/*
 * libarchive converts names between the locale's charset and the UTF-8 of
 * pax headers.  cairn often runs from cron in the "C" locale, where every
 * non-ASCII name would draw a "Can't translate pathname" warning and be
 * stored as raw bytes.  Names on Linux are bytes that are nearly always
 * UTF-8, so the conversions run under a UTF-8 LC_CTYPE for this thread
 * (uselocale() changes nothing for the rest of the process).  Names that
 * are not valid UTF-8 still survive: libarchive stores them raw.
 */
struct files_locale {
	locale_t utf8;
	locale_t old;
};

static void
files_locale_enter(struct files_locale *l)
{
	const char *cs = nl_langinfo(CODESET);
	l->utf8 = (locale_t)0;
	l->old = (locale_t)0;
	if (cs != NULL && strcmp(cs, "UTF-8") == 0)
		return;
	l->utf8 = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
	if (l->utf8 != (locale_t)0)
		l->old = uselocale(l->utf8);
}

static void
files_locale_leave(struct files_locale *l)
{
	if (l->utf8 == (locale_t)0)
		return;
	uselocale(l->old);
	freelocale(l->utf8);
}

/* -------------------------------------------------------------- config */

static const struct cairn_key files_keys[] = {
	{ .name = "path", .type = CAIRN_KEY_PATH, .flags = CAIRN_KEY_REQUIRED,
	  .help = "directory to back up; restore writes here too "
	          "(elsewhere with --set path=DIR)" },
	{ .name = "exclude", .type = CAIRN_KEY_LIST,
	  .help = "glob patterns to leave out: without '/' they match any "
	          "entry's name, with '/' the path below `path`" },
	{ .name = "one_file_system", .type = CAIRN_KEY_BOOL,
	  .default_value = "no",
	  .help = "do not descend into directories on other file systems" },
	{ .name = "ignore_unreadable", .type = CAIRN_KEY_BOOL,
	  .default_value = "no",
	  .help = "skip files and directories that cannot be read, with a "
	          "warning, instead of failing the backup" },
	{ .name = "xattrs", .type = CAIRN_KEY_BOOL, .default_value = "yes",
	  .help = "store and restore extended attributes" },
	{ .name = "acls", .type = CAIRN_KEY_BOOL, .default_value = "yes",
	  .help = "store and restore POSIX ACLs" },
	{ .name = NULL }
};

static int
files_bool(const struct cairn_config *cfg, const char *name, int dflt)
{
	const struct cairn_value *v = cairn_config_get(cfg, name);
	return (v != NULL && v->set) ? (int)(v->i != 0) : dflt;
}

static void
files_destroy(void *instance)
{
	struct files_inst *fi = instance;
	if (fi == NULL)
		return;
	for (size_t k = 0; k < fi->nexcl; k++)
		free(fi->excl[k].glob);
	free(fi->excl);
	free(fi->path);
	free(fi);
}

/* Parse one exclude pattern; see the key's help and files_excluded(). */
static int
files_pattern_parse(struct files_inst *fi, const char *text,
                    struct files_pattern *p)
{
	size_t len;
	const char *s = text;

	p->anchored = 0;
	p->dir_only = 0;
	if (*s == '/') {
		p->anchored = 1;
		while (*s == '/')
			s++;
	}
	len = strlen(s);
	while (len > 0 && s[len - 1] == '/') {
		p->dir_only = 1;
		len--;
	}
	if (len == 0) {
		files_host->set_error(fi->ctx,
		                      "exclude pattern '%s' would leave out the "
		                      "whole tree; remove it", text);
		return CAIRN_E_CONFIG;
	}
	p->glob = strndup(s, len);
	if (p->glob == NULL)
		return CAIRN_E_NOMEM;
	if (strchr(p->glob, '/') != NULL)
		p->anchored = 1;
	return 0;
}

static int
files_create(cairn_ctx *ctx, const struct cairn_config *cfg, void **instance)
{
	const struct cairn_value *v;
	struct files_inst *fi;
	size_t len;
	int rc;

	fi = calloc(1, sizeof(*fi));
	if (fi == NULL)
		return CAIRN_E_NOMEM;
	fi->ctx = ctx;

	/* The core checks REQUIRED keys; this guards a core that did not. */
	v = cairn_config_get(cfg, "path");
	if (v == NULL || !v->set || v->text == NULL || v->text[0] == '\0') {
		files_host->set_error(ctx, "key 'path' is not set; set it to "
		                           "the directory to back up");
		rc = CAIRN_E_CONFIG;
		goto fail;
	}
	fi->path = strdup(v->text);
	if (fi->path == NULL) {
		rc = CAIRN_E_NOMEM;
		goto fail;
	}
	/* "/srv/up/" and "/srv/up" are one tree; entry names are cut at
	 * strlen(path), so keep one spelling. */
	len = strlen(fi->path);
	while (len > 1 && fi->path[len - 1] == '/')
		fi->path[--len] = '\0';

	v = cairn_config_get(cfg, "exclude");
	if (v != NULL && v->set && v->list_len > 0) {
		fi->excl = calloc(v->list_len, sizeof(*fi->excl));
		if (fi->excl == NULL) {
			rc = CAIRN_E_NOMEM;
			goto fail;
		}
		for (size_t k = 0; k < v->list_len; k++) {
			rc = files_pattern_parse(fi, v->list[k], &fi->excl[k]);
			if (rc < 0)
				goto fail;
			fi->nexcl++;
		}
	}
	fi->one_fs = files_bool(cfg, "one_file_system", 0);
	fi->ignore_unreadable = files_bool(cfg, "ignore_unreadable", 0);
	fi->xattrs = files_bool(cfg, "xattrs", 1);
	fi->acls = files_bool(cfg, "acls", 1);
	/* Nothing on disk is looked at here: `config check` calls create(),
	 * and a restore target may not exist yet. */
	*instance = fi;
	return 0;

fail:
	files_destroy(fi);
	return rc;
}

static const char *
files_file_extension(void *instance)
{
	(void)instance;
	return "tar";
}

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

static int
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
static int
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

static int
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

/* ---------------------------------------------------------- descriptor */

static const struct cairn_source_ops files_ops = {
	.struct_size = sizeof(struct cairn_source_ops),
	.create = files_create,
	.destroy = files_destroy,
	.file_extension = files_file_extension,
	.backup = files_backup,
	.restore = files_restore,
	.verify = files_verify,
	/* restore_test: a deep verify reads every byte already; a trial
	 * restore would need a scratch directory as large as the tree. */
	.restore_test = NULL,
};

static const struct cairn_plugin files_plugin = {
	.struct_size = sizeof(struct cairn_plugin),
	.abi_major = CAIRN_ABI_MAJOR,
	.abi_minor = CAIRN_ABI_MINOR,
	.name = "files",
	.version = FILES_VERSION,
	.kind = CAIRN_KIND_SOURCE,
	.description = "directory trees as POSIX pax tar (libarchive)",
	.keys = files_keys,
	.source = &files_ops,
	.sink = NULL,
};

CAIRN_EXPORT const struct cairn_plugin *
cairn_plugin_entry(const struct cairn_host *host)
{
	files_host = host;
	return &files_plugin;
}
