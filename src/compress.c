/* compress.c - see compress.h */
#include "autoconf.h"

#include "compress.h"

#include <archive.h>
#include <archive_entry.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn.h"
#include "util.h"

struct compressor {
	enum compression c;
	struct archive *a;
	emit_fn emit;
	void *ud;
	int emit_rc; /* the emit function's failure, kept across libarchive */
	int finished;
};

static la_ssize_t
z_write_cb(struct archive *a, void *ud, const void *buf, size_t len)
{
	struct compressor *z = ud;
	(void)a;
	z->emit_rc = z->emit(z->ud, buf, len);
	return z->emit_rc ? -1 : (la_ssize_t)len;
}

static int
z_fail(struct compressor *z, char **err, const char *what)
{
	if (z->emit_rc)
		return z->emit_rc;
	*err = xasprintf("%s compression failed while %s: %s", compression_name(z->c), what,
	                 z->a ? archive_error_string(z->a) : "?");
	return CAIRN_E_IO;
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
	z->a = archive_write_new();
	if (!z->a)
		goto nomem;
	switch (c) {
	case COMP_ZSTD: r = archive_write_add_filter_zstd(z->a); break;
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
		if (archive_write_set_filter_option(z->a, NULL, "compression-level", lv) != ARCHIVE_OK) {
			*err = xasprintf("%s: compression level %d refused: %s", compression_name(c),
			                 level, archive_error_string(z->a));
			goto fail;
		}
	}
	if (threads > 0 && (c == COMP_ZSTD || c == COMP_XZ)) {
		/* Even one worker moves compression off the thread that reads
		 * the source, as `tar | zstd` does with two processes. */
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
	if (z->c == COMP_NONE || z->finished)
		return 0;
	z->finished = 1;
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
	free(z);
}

/* ------------------------------------------------------ decompression */

struct decompressor {
	enum compression c;
	struct archive *a;
	pull_fn pull;
	void *ud;
	int pull_rc;
	int started, eof;
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
	z->a = archive_read_new();
	/* Only the filter the manifest names: a damaged or hostile object must
	 * not pick another decoder, let alone an external program. */
	switch (c) {
	case COMP_ZSTD: r = archive_read_support_filter_zstd(z->a); break;
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

ssize_t
decompressor_read(struct decompressor *z, void *buf, size_t len, char **err)
{
	la_ssize_t n;
	if (z->c == COMP_NONE)
		return z->pull(z->ud, buf, len);
	if (z->eof)
		return 0;
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
	free(z);
}
