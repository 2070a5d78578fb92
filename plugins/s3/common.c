/*
 * common.c - the bottom floor of the "s3" sink, which every other file
 * uses and which uses none of them: the host pointer, the error and log
 * helpers (on top of <cairn/plugin.h>'s cairn_verror/cairn_vlog, which
 * carry the 1.0-host fallback), and the checks of object key names.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "s3_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct cairn_host *s3_host;

/* -------------------------------------------------------------- errors */

int
s3_error(const struct s3 *s3, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cairn_verror(s3_host, s3->ctx, fmt, ap);
	va_end(ap);
	return rc;
}

void
s3_log(const struct s3 *s3, enum cairn_log_level level, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	cairn_vlog(s3_host, s3->ctx, level, fmt, ap);
	va_end(ap);
}

int
s3_fail(struct s3_status *st, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(st->msg, sizeof(st->msg), fmt, ap);
	va_end(ap);
	st->rc = rc;
	return rc;
}

int
s3_report(struct s3 *s3, const struct s3_status *st)
{
	if (st->rc)
		s3_error(s3, st->rc, "%s", st->msg);
	return st->rc;
}

/* ----------------------------------------------------------- key names */

/* Like the local sink's: relative, no empty, "." or ".." components.
 * Names starting with '.' are allowed (S3 has no hidden names). */
const char *
s3_key_problem(const char *key)
{
	const char *c;
	size_t len;

	if (!key || !*key)
		return "it is empty";
	if (key[0] == '/')
		return "it starts with '/'";
	for (c = key; *c; c += len + (c[len] == '/')) {
		len = strcspn(c, "/");
		if (len == 0)
			return "it has an empty component";
		if ((len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
			return "it has a \".\" or \"..\" component";
		if (c[len] == '/' && c[len + 1] == '\0')
			return "it ends with '/'";
	}
	for (c = key; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return "it contains a control character";
	return NULL;
}

char *
s3_full_key(const struct s3 *s3, const char *key, struct s3_status *st)
{
	const char *why = s3_key_problem(key);
	char *full;

	if (why) {
		s3_fail(st, CAIRN_E_CONFIG,
		        "invalid object key \"%s\": %s; rename the job or source it comes from",
		        key ? key : "", why);
		return NULL;
	}
	if (asprintf(&full, "%s%s", s3->prefix, key) < 0) {
		s3_fail(st, CAIRN_E_NOMEM, "out of memory");
		return NULL;
	}
	if (strlen(full) > 1024) {
		s3_fail(st, CAIRN_E_CONFIG,
		        "object key s3://%s/%.100s... is longer than S3's 1024 bytes: shorten prefix or the job's name",
		        s3->bucket, full);
		free(full);
		return NULL;
	}
	return full;
}
