/*
 * read.c - reading the tar back: in->read() through libarchive's tar
 * reader, every header and every data byte, to the end of the stream and
 * its end-of-archive marker.  Verify only reads; a restore and a restore
 * test hand each entry and its data to extract.c.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "files_internal.h"

/* Bytes pulled from in->read() per call: fewer, larger calls into the
 * core's decompressor. */
#define FILES_RESTORE_BUF (256 * 1024)

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

/* ---------------------------------------------- reading it all */

/* The input failed (in's code), or it is malformed (CORRUPT). */
static int
files_read_failed(struct files_inst *fi, struct files_src *s, struct archive *ar, const char *after)
{
	if (s->in_err < 0)
		return s->in_err;
	if (after != NULL)
		return cairn_error(files_host, fi->ctx, CAIRN_E_CORRUPT,
		                   "backup stream is damaged at the entry after %s: %s", after,
		                   archive_error_string(ar));
	return cairn_error(files_host, fi->ctx, CAIRN_E_CORRUPT,
	                   "backup stream is damaged at its first entry: %s",
	                   archive_error_string(ar));
}

/* One read of the tar: its source, libarchive's reader, and the name of
 * the last entry read, for messages. */
struct files_rd {
	struct files_inst *fi;
	struct files_x *x; /* NULL: verify */
	struct files_stats *st;
	struct files_src src;
	struct archive *ar;
	char *last;
	size_t lastcap;
	int have_last;
};

/* Keep name as the last entry's. */
static int
files_rd_remember(struct files_rd *rd, const char *name)
{
	size_t len = strlen(name) + 1;
	if (len > rd->lastcap) {
		char *nl = realloc(rd->last, len);
		if (nl == NULL)
			return CAIRN_E_NOMEM;
		rd->last = nl;
		rd->lastcap = len;
	}
	memcpy(rd->last, name, len);
	rd->have_last = 1;
	return 0;
}

/* The next entry's header, checked and counted, in *e: 0, or 1 at the
 * end of the archive, or an error. */
static int
files_rd_next(struct files_rd *rd, struct archive_entry **e)
{
	struct files_inst *fi = rd->fi;
	const char *name, *link;
	int r, rc;

	if (files_host->cancelled(fi->ctx))
		return CAIRN_E_CANCELLED;
	r = archive_read_next_header(rd->ar, e);
	if (r == ARCHIVE_EOF)
		return 1;
	if (r < ARCHIVE_WARN)
		return files_read_failed(fi, &rd->src, rd->ar, rd->have_last ? rd->last : NULL);
	name = archive_entry_pathname(*e);
	if (name == NULL || *name == '\0') {
		return cairn_error(files_host, fi->ctx, CAIRN_E_CORRUPT,
		                   "backup stream holds an entry without a name after %s",
		                   rd->have_last ? rd->last : "the start");
	}
	rc = files_rd_remember(rd, name);
	if (rc < 0)
		return rc;
	if (r == ARCHIVE_WARN)
		files_warn(fi, rd->st, "%s: %s", rd->last, archive_error_string(rd->ar));
	link = archive_entry_hardlink(*e);
	if (files_unsafe_name(rd->last) || files_unsafe_name(link)) {
		return cairn_error(
		        files_host, fi->ctx, CAIRN_E_CORRUPT,
		        "refusing entry '%s'%s%s: it would be written outside the restore target",
		        rd->last, link ? " linked to " : "", link ? link : "");
	}
	files_count(rd->st, *e, archive_entry_size(*e));
	return 0;
}

/* The entry's data, every byte of it, and with x the entry itself. */
static int
files_rd_entry(struct files_rd *rd, struct archive_entry *e)
{
	struct files_inst *fi = rd->fi;
	const void *buf;
	size_t len;
	la_int64_t off;
	int r, rc;

	if (rd->x != NULL) {
		rc = files_x_entry(rd->x, e);
		if (rc < 0)
			return rc;
	}
	/* Read the data even in verify: a skip would not look at it. */
	for (;;) {
		if (files_host->cancelled(fi->ctx))
			return CAIRN_E_CANCELLED;
		r = archive_read_data_block(rd->ar, &buf, &len, &off);
		if (r == ARCHIVE_EOF)
			break;
		if (r < ARCHIVE_OK) {
			if (rd->src.in_err < 0)
				return rd->src.in_err;
			return cairn_error(files_host, fi->ctx, CAIRN_E_CORRUPT,
			                   "backup stream is damaged in the data of %s: %s",
			                   rd->last, archive_error_string(rd->ar));
		}
		/* Offsets skip holes, so sparse files stay sparse. */
		if (rd->x != NULL) {
			rc = files_x_data(rd->x, buf, len, off);
			if (rc < 0)
				return rc;
		}
	}
	return rd->x != NULL ? files_x_finish(rd->x) : 0;
}

/* After the last entry: the rest of the stream, and the end marker. */
static int
files_rd_end(struct files_rd *rd)
{
	/* libarchive accepts a tar that simply stops between entries ("there
	 * are tar writers that do this"); ours never does, so a stream
	 * without the two zero blocks at its end was cut short.  Read to the
	 * end first: only read() returning 0 proves the bytes good. */
	while (!rd->src.eof) {
		if (files_host->cancelled(rd->fi->ctx))
			return CAIRN_E_CANCELLED;
		if (files_pull(&rd->src) < 0)
			return rd->src.in_err;
	}
	if (rd->src.zrun < FILES_TRAILER) {
		return cairn_error(
		        files_host, rd->fi->ctx, CAIRN_E_CORRUPT,
		        "backup stream ends after %s without the tar end-of-archive marker; it was cut short",
		        rd->have_last ? rd->last : "0 entries");
	}
	return 0;
}

/*
 * Read the whole tar from in, to the end of the stream.  With x == NULL
 * (verify), read every byte and check it; else extract every entry into
 * x's staging directory.  0 means: every entry was written, the tar's
 * end-of-archive marker was there, and in->read() returned 0.
 */
int
files_read_all(struct files_inst *fi, struct cairn_in *in, struct files_x *x,
               struct files_stats *st)
{
	struct files_rd rd = {.fi = fi, .x = x, .st = st, .src = {.in = in}};
	struct archive_entry *e;
	int rc = 0;

	rd.src.buf = malloc(FILES_RESTORE_BUF);
	rd.ar = archive_read_new();
	if (rd.src.buf == NULL || rd.ar == NULL) {
		rc = CAIRN_E_NOMEM;
		goto done;
	}
	/* Only tar: the core has taken the compression off already. */
	archive_read_support_format_tar(rd.ar);
	if (archive_read_open(rd.ar, &rd.src, NULL, files_read_cb, NULL) != ARCHIVE_OK) {
		rc = files_read_failed(fi, &rd.src, rd.ar, NULL);
		goto done;
	}
	while ((rc = files_rd_next(&rd, &e)) == 0) {
		rc = files_rd_entry(&rd, e);
		if (rc < 0)
			break;
	}
	if (rc == 1)
		rc = files_rd_end(&rd);

done:
	if (x != NULL && x->fd >= 0) {
		close(x->fd);
		x->fd = -1;
	}
	if (rc == CAIRN_E_CANCELLED)
		files_host->set_error(fi->ctx, "cancelled");
	if (rd.ar != NULL)
		archive_read_free(rd.ar);
	free(rd.src.buf);
	free(rd.last);
	return rc;
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
