/*
 * common.c - the bottom floor of the files source: the host pointer, the
 * log and warning wrappers (cairn_vlog() from <cairn/plugin.h> with the
 * instance's ctx), the counts every op records, and the UTF-8 locale the
 * tar's names are converted under.  It calls no other file of the plugin.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "files_internal.h"

int files_block_size = FILES_BLOCK;
const struct cairn_host *files_host;
const char files_zeros[64 * 1024];

/* ------------------------------------------------------------ helpers */

void
files_log(struct files_inst *fi, enum cairn_log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cairn_vlog(files_host, fi->ctx, level, fmt, ap);
	va_end(ap);
}

void
files_warn(struct files_inst *fi, struct files_stats *st, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cairn_vlog(files_host, fi->ctx, CAIRN_LOG_WARN, fmt, ap);
	va_end(ap);
	st->warnings++;
}

void
files_emit_counts(struct files_inst *fi, const struct files_stats *st)
{
	files_host->stat(fi->ctx, "files", st->files);
	files_host->stat(fi->ctx, "directories", st->dirs);
	files_host->stat(fi->ctx, "symlinks", st->symlinks);
	files_host->stat(fi->ctx, "hardlinks", st->hardlinks);
	files_host->stat(fi->ctx, "bytes", st->bytes);
}

void
files_emit_stats(struct files_inst *fi, const struct files_stats *st)
{
	files_emit_counts(fi, st);
	files_host->stat(fi->ctx, "warnings", st->warnings);
}

void
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
void
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

void
files_locale_leave(struct files_locale *l)
{
	if (l->utf8 == (locale_t)0)
		return;
	uselocale(l->old);
	freelocale(l->utf8);
}

/* Grow *buf to hold need bytes. */
int
files_bk_grow(char **buf, size_t *cap, size_t need)
{
	size_t c = *cap ? *cap : 256;
	char *n;
	if (need <= *cap)
		return 0;
	while (c < need)
		c *= 2;
	n = realloc(*buf, c);
	if (n == NULL)
		return CAIRN_E_NOMEM;
	*buf = n;
	*cap = c;
	return 0;
}

/* An entry could not be written: fail, naming it below the target. */
int
files_x_fail(struct files_x *x, const char *name, const char *what, int err)
{
	return cairn_error(files_host, x->fi->ctx, CAIRN_E_IO, "restoring %s failed: %s%s%s",
	                   *name ? name : ".", what ? what : "", what ? ": " : "", strerror(err));
}
