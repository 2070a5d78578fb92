/* compress.c - see compress.h */
#include "autoconf.h"

#include "compress.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>
#include <zstd_errors.h>

#include "cairn.h"
#include "util.h"

/* zstd goes through libzstd itself: libarchive before 3.8.2 (Debian 12
 * has 3.6.2) writes frames without a content checksum, and without it
 * `zstd -t` cannot tell a damaged object from a good one; its filter
 * cannot size zstd's jobs either (see below).  gzip and xz go through
 * libarchive's raw format and filters. */

/* The size of zstd's jobs when compressing in worker threads, or 0 for
 * libzstd's own.  libzstd makes a job four windows long (8 MiB at level 3)
 * and keeps input for the window plus three jobs, and the output of two:
 * 50 MiB at level 3 with one worker, most of cairn's peak memory.  Jobs of
 * two windows halve that (25 MiB) at the same speed, and the bench tree
 * stored 0.2 % larger (1-window jobs: 0.8 %, and slower).  That holds for
 * levels 3 to 8, whose window is 2 MiB; levels 1 and 2 have jobs this
 * short already, and from level 9 the window grows and each job takes
 * more of the one before as history, so a short job would mostly redo
 * that.  (Window sizes come from libzstd's level table, which only its
 * experimental API exposes.) */
static int
zstd_job_size(int level)
{
	return level >= 3 && level <= 8 ? 4 << 20 : 0;
}

struct compressor {
	enum compression c;
	struct archive *a;  /* gzip, xz */
	ZSTD_CCtx *zc;      /* zstd */
	ZSTD_outBuffer out; /* zstd's output, emitted when full */
	emit_fn emit;
	void *ud;
	int emit_rc; /* the emit function's failure, kept across libarchive */
	int failed;  /* a failure of the stream: every later call returns it */
	int finished;
};

static la_ssize_t
z_write_cb(struct archive *a, void *ud, const void *buf, size_t len)
{
	struct compressor *z = ud;
	(void)a;
	/* archive_write_free() still flushes after a failed write: the
	 * consumer that refused the stream gets nothing more */
	if (!z->emit_rc)
		z->failed = z->emit_rc = z->emit(z->ud, buf, len);
	return z->emit_rc ? -1 : (la_ssize_t)len;
}

static int
z_fail(struct compressor *z, char **err, const char *what)
{
	if (z->emit_rc)
		return z->failed = z->emit_rc;
	*err = xasprintf("%s compression failed while %s: %s", compression_name(z->c), what,
	                 z->a ? archive_error_string(z->a) : "?");
	return z->failed = CAIRN_E_IO;
}

static int
zstd_fail(struct compressor *z, char **err, const char *what, size_t r)
{
	if (z->emit_rc)
		return z->failed = z->emit_rc;
	*err = xasprintf("zstd compression failed while %s: %s", what, ZSTD_getErrorName(r));
	return z->failed = CAIRN_E_IO;
}

static int
zstd_set(struct compressor *z, ZSTD_cParameter p, int v, const char *what, char **err)
{
	size_t r = ZSTD_CCtx_setParameter(z->zc, p, v);
	if (!ZSTD_isError(r))
		return 0;
	*err = xasprintf("zstd: %s %d refused by libzstd %s: %s", what, v, ZSTD_versionString(),
	                 ZSTD_getErrorName(r));
	return -1;
}

static int
zstd_start(struct compressor *z, int level, int threads, char **err)
{
	z->zc = ZSTD_createCCtx();
	z->out.size = ZSTD_CStreamOutSize();
	z->out.dst = z->zc ? malloc(z->out.size) : NULL;
	if (!z->out.dst) {
		*err = xstrdup("out of memory starting zstd compression");
		return -1;
	}
	if (level < 0)
		level = ZSTD_CLEVEL_DEFAULT;
	if (level < 1 || level > ZSTD_maxCLevel()) { /* libzstd would clamp it */
		*err = xasprintf("zstd: compression level %d refused: use 1 to %d", level,
		                 ZSTD_maxCLevel());
		return -1;
	}
	if (zstd_set(z, ZSTD_c_compressionLevel, level, "compression level", err) ||
	    zstd_set(z, ZSTD_c_checksumFlag, 1, "content checksum", err))
		return -1;
	if (threads > 0) {
		/* Even one worker moves compression off the thread that reads
		 * the source, as `tar | zstd` does with two processes.  A
		 * libzstd built without threads refuses this. */
		if (ZSTD_isError(ZSTD_CCtx_setParameter(z->zc, ZSTD_c_nbWorkers, threads))) {
			*err = xasprintf(
			        "zstd: this libzstd (%s) cannot compress in %d threads; set compression_threads = 0",
			        ZSTD_versionString(), threads);
			return -1;
		}
		int job = zstd_job_size(level);
		if (job && zstd_set(z, ZSTD_c_jobSize, job, "job size", err))
			return -1;
	}
	return 0;
}

static int
zstd_emit(struct compressor *z)
{
	int rc = 0;
	if (z->out.pos) {
		rc = z->failed = z->emit_rc = z->emit(z->ud, z->out.dst, z->out.pos);
		z->out.pos = 0;
	}
	return rc;
}

struct compressor *
compressor_new(enum compression c, int level, int threads, emit_fn emit, void *ud, char **err)
{
	struct compressor *z = xcalloc(1, sizeof(*z));
	struct archive_entry *e = NULL;
	int r;
	z->c = c;
	z->emit = emit;
	z->ud = ud;
	if (c == COMP_NONE)
		return z;
	if (c == COMP_ZSTD) {
		if (zstd_start(z, level, threads, err))
			goto fail;
		return z;
	}
	z->a = archive_write_new();
	if (!z->a)
		goto nomem;
	switch (c) {
	case COMP_GZIP: r = archive_write_add_filter_gzip(z->a); break;
	case COMP_XZ: r = archive_write_add_filter_xz(z->a); break;
	default: r = ARCHIVE_FATAL; break;
	}
	if (r != ARCHIVE_OK) {
		*err = xasprintf("this libarchive cannot write %s: %s", compression_name(c),
		                 archive_error_string(z->a));
		goto fail;
	}
	if (level >= 0) {
		char lv[16];
		snprintf(lv, sizeof(lv), "%d", level);
		if (archive_write_set_filter_option(z->a, NULL, "compression-level", lv) !=
		    ARCHIVE_OK) {
			*err = xasprintf("%s: compression level %d refused: %s",
			                 compression_name(c), level, archive_error_string(z->a));
			goto fail;
		}
	}
	if (threads > 0 && c == COMP_XZ) {
		char th[16];
		snprintf(th, sizeof(th), "%d", threads);
		if (archive_write_set_filter_option(z->a, NULL, "threads", th) != ARCHIVE_OK) {
			*err = xasprintf("%s: %d compression threads refused: %s",
			                 compression_name(c), threads, archive_error_string(z->a));
			goto fail;
		}
	}
	if (c == COMP_GZIP) /* no file name or time in the header: same data, same bytes */
		archive_write_set_filter_option(z->a, "gzip", "timestamp", NULL);
	/* The raw format passes the bytes through untouched; no blocking, so
	 * no padding after the compressed stream. */
	archive_write_set_format_raw(z->a);
	archive_write_set_bytes_per_block(z->a, 0);
	archive_write_set_bytes_in_last_block(z->a, 1);
	if (archive_write_open2(z->a, z, NULL, z_write_cb, NULL, NULL) != ARCHIVE_OK) {
		*err = xasprintf("cannot start %s compression: %s", compression_name(c),
		                 archive_error_string(z->a));
		goto fail;
	}
	e = archive_entry_new();
	archive_entry_set_pathname(e, "data");
	archive_entry_set_filetype(e, AE_IFREG);
	if (archive_write_header(z->a, e) != ARCHIVE_OK) {
		*err = xasprintf("cannot start %s compression: %s", compression_name(c),
		                 archive_error_string(z->a));
		goto fail;
	}
	archive_entry_free(e);
	return z;
nomem:
	*err = xstrdup("out of memory starting compression");
fail:
	archive_entry_free(e);
	compressor_free(z);
	return NULL;
}

int
compressor_write(struct compressor *z, const void *buf, size_t len, char **err)
{
	const char *p = buf;
	if (z->c == COMP_NONE)
		return len ? z->emit(z->ud, buf, len) : 0;
	if (z->failed)
		return z->failed; /* the stream is cut; nothing more goes out */
	if (z->zc) {
		ZSTD_inBuffer in = {buf, len, 0};
		while (in.pos < in.size) {
			size_t r = ZSTD_compressStream2(z->zc, &z->out, &in, ZSTD_e_continue);
			if (ZSTD_isError(r))
				return zstd_fail(z, err, "writing", r);
			if (z->out.pos == z->out.size && zstd_emit(z))
				return z->emit_rc;
		}
		return 0;
	}
	while (len) {
		la_ssize_t n = archive_write_data(z->a, p, len);
		if (n <= 0)
			return z_fail(z, err, "writing");
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
compressor_finish(struct compressor *z, char **err)
{
	if (z->c == COMP_NONE)
		return 0;
	if (z->failed)
		return z->failed;
	if (z->finished)
		return 0;
	z->finished = 1;
	if (z->zc) {
		ZSTD_inBuffer in = {NULL, 0, 0};
		size_t left;
		do {
			left = ZSTD_compressStream2(z->zc, &z->out, &in, ZSTD_e_end);
			if (ZSTD_isError(left))
				return zstd_fail(z, err, "finishing", left);
			if ((left == 0 || z->out.pos == z->out.size) && zstd_emit(z))
				return z->emit_rc;
		} while (left);
		return 0;
	}
	if (archive_write_close(z->a) != ARCHIVE_OK)
		return z_fail(z, err, "finishing");
	return 0;
}

void
compressor_free(struct compressor *z)
{
	if (!z)
		return;
	if (z->a)
		archive_write_free(z->a); /* after a failure this must not emit again */
	ZSTD_freeCCtx(z->zc);             /* emits nothing */
	free(z->out.dst);
	free(z);
}

/* ------------------------------------------------------ decompression */

struct decompressor {
	enum compression c;
	struct archive *a; /* gzip, xz */
	ZSTD_DCtx *zd;     /* zstd */
	ZSTD_inBuffer in;  /* zstd's input, pulled into buf */
	size_t hint;       /* ZSTD_decompressStream's last answer: 0 between frames */
	int frames;        /* zstd data was seen */
	pull_fn pull;
	void *ud;
	int pull_rc;
	int started, eof, in_eof;
	ssize_t failed; /* a damaged stream stays failed */
	char buf[CAIRN_BUFSIZE];
};

static la_ssize_t
z_read_cb(struct archive *a, void *ud, const void **out)
{
	struct decompressor *z = ud;
	ssize_t n = z->pull(z->ud, z->buf, sizeof(z->buf));
	(void)a;
	if (n < 0) {
		z->pull_rc = (int)n;
		return -1;
	}
	*out = z->buf;
	return n;
}

struct decompressor *
decompressor_new(enum compression c, pull_fn pull, void *ud, char **err)
{
	struct decompressor *z = xcalloc(1, sizeof(*z));
	int r;
	z->c = c;
	z->pull = pull;
	z->ud = ud;
	if (c == COMP_NONE)
		return z;
	if (c == COMP_ZSTD) {
		/* The frame's content checksum is verified by default; the
		 * window stays at zstd's default limit (128 MiB), as for
		 * `zstd -d`. */
		z->zd = ZSTD_createDCtx();
		if (!z->zd) {
			*err = xstrdup("out of memory starting zstd decompression");
			decompressor_free(z);
			return NULL;
		}
		return z;
	}
	z->a = archive_read_new();
	/* Only the filter the manifest names: a damaged or hostile object must
	 * not pick another decoder, let alone an external program. */
	switch (c) {
	case COMP_GZIP: r = archive_read_support_filter_gzip(z->a); break;
	case COMP_XZ: r = archive_read_support_filter_xz(z->a); break;
	default: r = ARCHIVE_FATAL; break;
	}
	if (r != ARCHIVE_OK) {
		*err = xasprintf("this libarchive cannot read %s: %s", compression_name(c),
		                 archive_error_string(z->a));
		decompressor_free(z);
		return NULL;
	}
	archive_read_support_format_raw(z->a);
	archive_read_support_format_empty(z->a);
	return z;
}

static ssize_t
dz_fail(struct decompressor *z, char **err)
{
	if (z->pull_rc)
		return z->pull_rc;
	*err = xasprintf("cannot decompress %s data: %s", compression_name(z->c),
	                 archive_error_string(z->a) ? archive_error_string(z->a)
	                                            : "unexpected data");
	return CAIRN_E_CORRUPT;
}

static ssize_t
zstd_corrupt(struct decompressor *z, char **err, const char *why)
{
	*err = xasprintf("cannot decompress zstd data: %s", why);
	return z->failed = CAIRN_E_CORRUPT;
}

/* One read of decompressed zstd data straight into the caller's buffer.
 * Only the zstd format is accepted: ZSTD_DCtx knows no other. */
static ssize_t
zstd_read(struct decompressor *z, void *buf, size_t len, char **err)
{
	ZSTD_outBuffer out = {buf, len, 0};
	if (z->failed)
		return z->failed;
	if (len == 0)
		return 0; /* nothing could ever come out: no loop */
	while (out.pos == 0) {
		if (z->in.pos == z->in.size && !z->in_eof) {
			ssize_t n = z->pull(z->ud, z->buf, sizeof(z->buf));
			if (n < 0)
				return z->failed = n;
			if (n == 0)
				z->in_eof = 1;
			z->in = (ZSTD_inBuffer){z->buf, (size_t)n, 0};
		}
		if (z->in.pos == z->in.size && z->in_eof && z->hint == 0) {
			if (!z->frames)
				return zstd_corrupt(z, err, "the object holds no zstd frame");
			z->eof = 1;
			return 0;
		}
		size_t r = ZSTD_decompressStream(z->zd, &out, &z->in);
		if (ZSTD_isError(r)) {
			if (ZSTD_getErrorCode(r) == ZSTD_error_checksum_wrong)
				return zstd_corrupt(
				        z, err,
				        "the content checksum does not match, so the data is damaged");
			return zstd_corrupt(z, err, ZSTD_getErrorName(r));
		}
		z->frames = 1;
		z->hint = r;
		/* all input used, nothing more came out, the frame unfinished */
		if (z->in_eof && z->in.pos == z->in.size && out.pos == 0 && r != 0)
			return zstd_corrupt(z, err, "the data ends in the middle of a frame");
	}
	return (ssize_t)out.pos;
}

ssize_t
decompressor_read(struct decompressor *z, void *buf, size_t len, char **err)
{
	la_ssize_t n;
	if (z->c == COMP_NONE)
		return z->pull(z->ud, buf, len);
	if (z->eof)
		return 0;
	if (z->zd)
		return zstd_read(z, buf, len, err);
	if (!z->started) {
		struct archive_entry *e;
		z->started = 1;
		if (archive_read_open2(z->a, z, NULL, z_read_cb, NULL, NULL) != ARCHIVE_OK)
			return dz_fail(z, err);
		/* the compressed data must be what the manifest says */
		if (archive_filter_count(z->a) < 2)
			return dz_fail(z, err);
		int r = archive_read_next_header(z->a, &e);
		if (r == ARCHIVE_EOF) {
			z->eof = 1;
			return 0;
		}
		if (r != ARCHIVE_OK)
			return dz_fail(z, err);
	}
	n = archive_read_data(z->a, buf, len);
	if (n < 0)
		return dz_fail(z, err);
	if (n == 0)
		z->eof = 1;
	return n;
}

void
decompressor_free(struct decompressor *z)
{
	if (!z)
		return;
	if (z->a)
		archive_read_free(z->a);
	ZSTD_freeDCtx(z->zd);
	free(z);
}
