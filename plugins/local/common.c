/*
 * common.c - the bottom floor of the "local" sink: the host pointer, errors
 * and their messages, keys and the paths they name.
 *
 * SPDX-License-Identifier: MIT
 */
#include "local_internal.h"

const struct cairn_host *local_host;

/* -------------------------------------------------------------- errors */

/* Map errno to a status.  ENOENT is only "not found" where the caller
 * says so: on the write side a vanished directory is an I/O failure. */
int
local_status(int err)
{
	switch (err) {
	case ENOMEM: return CAIRN_E_NOMEM;
	case EEXIST: return CAIRN_E_EXISTS;
	default: return CAIRN_E_IO;
	}
}

/* Set "WHAT PATH: REASON" and return the status for err.  The reason says
 * what to do when that is obvious; `fix` names the directory whose
 * permissions matter (NULL: path itself).  Here and in local_nomem and
 * local_notfound the status is returned as such, not through cairn_error()
 * (variadic: scan-build does not follow it), so the analyzer sees that a
 * failure is negative in the callers' checks. */
int
local_fail(cairn_ctx *ctx, int err, const char *what, const char *path, const char *fix)
{
	char buf[256];
	int rc = local_status(err);

	if (!fix)
		fix = path;
	switch (err) {
	case EACCES:
	case EPERM:
		cairn_error(
		        local_host, ctx, rc,
		        "%s %s: permission denied: run cairn as the user owning %s or fix its permissions",
		        what, path, fix);
		break;
	case ENOSPC:
	case EDQUOT:
		cairn_error(
		        local_host, ctx, rc,
		        "%s %s: disk full (or quota exceeded): free space on the file system holding it",
		        what, path);
		break;
	case EROFS:
		cairn_error(
		        local_host, ctx, rc,
		        "%s %s: read-only file system: remount it read-write or point the sink elsewhere",
		        what, path);
		break;
	case EIO:
		cairn_error(
		        local_host, ctx, rc,
		        "%s %s: input/output error: the disk may be failing, check the kernel log",
		        what, path);
		break;
	default:
		cairn_error(local_host, ctx, rc, "%s %s: %s", what, path,
		            strerror_r(err, buf, sizeof(buf)));
		break;
	}
	return rc;
}

int
local_nomem(cairn_ctx *ctx, const char *what)
{
	cairn_error(local_host, ctx, CAIRN_E_NOMEM, "out of memory while %s", what);
	return CAIRN_E_NOMEM;
}

/* What a file is, for messages. */
const char *
local_kind(mode_t mode)
{
	if (S_ISREG(mode))
		return "a regular file";
	if (S_ISDIR(mode))
		return "a directory";
	if (S_ISLNK(mode))
		return "a symbolic link";
	if (S_ISFIFO(mode))
		return "a FIFO";
	if (S_ISSOCK(mode))
		return "a socket";
	if (S_ISCHR(mode) || S_ISBLK(mode))
		return "a device";
	return "a file of unknown type";
}

/* Report an entry of the wrong type where the store should have `want`.
 * Only cairn writes below the root, and it writes directories and
 * regular files only, so somebody planted this one, maybe to make a
 * restore read what a link points at or hang in open() on a FIFO: it is
 * damage, and it is never followed or opened. */
int
local_planted(struct local *lc, unsigned flags, const char *path, mode_t mode, const char *want)
{
	if (flags & LOCAL_AT_QUIET)
		return CAIRN_E_CORRUPT;
	if (flags & LOCAL_AT_WARN) {
		cairn_log(
		        local_host, lc->ctx, CAIRN_LOG_WARN,
		        "skipping %s: it is %s, not %s (planted in the store?); cairn does not follow or open it: remove it",
		        path ? path : "an entry", local_kind(mode), want);
		return CAIRN_E_CORRUPT;
	}
	return cairn_error(
	        local_host, lc->ctx, CAIRN_E_CORRUPT,
	        "%s is %s, not %s (planted in the store?); cairn does not follow or open it: remove it",
	        path ? path : "an entry", local_kind(mode), want);
}

/* ---------------------------------------------------------------- keys */

/* Keys are relative '/'-separated paths whose components are non-empty,
 * do not start with '.' (that covers "." and "..", and keeps the hidden
 * namespace for temporary files) and fit in a file name.  A bad key comes
 * from a job or source name in the configuration, so it is a CONFIG
 * error: the user fixes it by renaming, not by looking at the disk. */
int
local_key_check(cairn_ctx *ctx, const char *key)
{
	const char *c, *why = NULL;
	size_t len;

	if (!key || !*key) {
		return cairn_error(local_host, ctx, CAIRN_E_CONFIG,
		                   "invalid object key \"\": it is empty");
	}
	if (key[0] == '/') {
		return cairn_error(
		        local_host, ctx, CAIRN_E_CONFIG,
		        "invalid object key \"%s\": it must be relative, not start with '/'", key);
	}
	for (c = key; *c; c += len + (c[len] == '/')) {
		len = strcspn(c, "/");
		if (len == 0)
			why = "it has an empty component (\"//\" or a trailing '/')";
		else if (c[0] == '.')
			why = "a component starts with '.' (\".\", \"..\" and hidden names are reserved)";
		else if (len > NAME_MAX)
			why = "a component is longer than a file name may be";
		if (why) {
			return cairn_error(
			        local_host, ctx, CAIRN_E_CONFIG,
			        "invalid object key \"%s\": %s; rename the job or source it comes from",
			        key, why);
		}
		if (c[len] == '/' && c[len + 1] == '\0') {
			return cairn_error(local_host, ctx, CAIRN_E_CONFIG,
			                   "invalid object key \"%s\": it ends with '/'", key);
		}
	}
	return 0;
}

/* ROOT/KEY, or NULL when out of memory. */
char *
local_join(const struct local *lc, const char *key)
{
	char *p;
	int slash = strcmp(lc->root, "/") != 0;

	if (asprintf(&p, "%s%s%s", lc->root, slash ? "/" : "", key) < 0)
		return NULL;
	return p;
}

/* ROOT/KEY[0..len), or NULL when out of memory. */
char *
local_joinn(const struct local *lc, const char *key, size_t len)
{
	char *p;
	int slash = strcmp(lc->root, "/") != 0;

	if (len == 0)
		return strdup(lc->root);
	if (asprintf(&p, "%s%s%.*s", lc->root, slash ? "/" : "", (int)len, key) < 0)
		return NULL;
	return p;
}

/* The directory part of path, malloc'd; "/" for "/x". */
char *
local_dirname(const char *path)
{
	const char *cut = strrchr(path, '/');

	if (!cut)
		return strdup(".");
	if (cut == path)
		return strdup("/");
	return strndup(path, (size_t)(cut - path));
}
