/*
 * files.c - the `files` source: a directory tree as a POSIX pax tar.
 *
 * This file is the top of the plugin: its descriptor, key table,
 * create/destroy, the probe and the op table.  The floors below it, each
 * calling only downward (files_internal.h draws them): backup.c writes
 * the tar, restore.c and restore_test.c read it back, common.c at the
 * bottom holds what they all share.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "files_internal.h"

/* -------------------------------------------------------------- config */

static const struct cairn_key files_keys[] = {
        {.name = "path",
         .type = CAIRN_KEY_PATH,
         .flags = CAIRN_KEY_REQUIRED,
         .help = "directory to back up; restore writes here too (elsewhere with --set path=DIR)"},
        {.name = "exclude",
         .type = CAIRN_KEY_LIST,
         .flags = CAIRN_KEY_NO_RESTORE,
         .help = "glob patterns to leave out: without '/' they match any entry's name, with '/' the path below `path`"},
        {.name = "one_file_system",
         .type = CAIRN_KEY_BOOL,
         .flags = CAIRN_KEY_NO_RESTORE,
         .default_value = "no",
         .help = "do not descend into directories on other file systems"},
        {.name = "ignore_unreadable",
         .type = CAIRN_KEY_BOOL,
         .flags = CAIRN_KEY_NO_RESTORE,
         .default_value = "no",
         .help = "skip files and directories that cannot be read, with a warning, instead of failing the backup"},
        {.name = "xattrs",
         .type = CAIRN_KEY_BOOL,
         .default_value = "yes",
         .help = "store and restore extended attributes"},
        {.name = "acls",
         .type = CAIRN_KEY_BOOL,
         .default_value = "yes",
         .help = "store and restore POSIX ACLs"},
        {.name = NULL}};

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
files_pattern_parse(struct files_inst *fi, const char *text, struct files_pattern *p)
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
		return cairn_error(files_host, fi->ctx, CAIRN_E_CONFIG,
		                   "exclude pattern '%s' would leave out the whole tree; remove it",
		                   text);
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
		rc = cairn_error(files_host, ctx, CAIRN_E_CONFIG,
		                 "key 'path' is not set; set it to the directory to back up");
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

/* config check --connect: the tree backup() would read is there and can
 * be read (its top directory opened and listed, as backup() starts). */
static int
files_probe(void *instance, char *summary, size_t len)
{
	struct files_inst *fi = instance;
	struct stat st;
	struct dirent *de;
	DIR *d;
	long n = 0;
	int fd = open(fi->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK), err;

	if (fd < 0) {
		err = errno;
		if (err == ENOENT) {
			return cairn_error(files_host, fi->ctx, CAIRN_E_NOTFOUND,
			                   "path %s does not exist; check the source's `path`",
			                   fi->path);
		}
		if (err == ENOTDIR) {
			return cairn_error(
			        files_host, fi->ctx, CAIRN_E_CONFIG,
			        "path %s is not a directory; set `path` to the directory to back up",
			        fi->path);
		}
		return cairn_error(files_host, fi->ctx, CAIRN_E_IO, "cannot read path %s: %s",
		                   fi->path, strerror(err));
	}
	if (fstatat(fd, ".", &st, 0) != 0 || !(d = fdopendir(fd))) {
		err = errno;
		close(fd);
		return cairn_error(files_host, fi->ctx, CAIRN_E_IO, "cannot read path %s: %s",
		                   fi->path, strerror(err));
	}
	errno = 0;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
			n++;
		errno = 0;
	}
	err = errno;
	closedir(d);
	if (err) {
		return cairn_error(files_host, fi->ctx, CAIRN_E_IO, "cannot list path %s: %s",
		                   fi->path, strerror(err));
	}
	snprintf(summary, len, "%s readable, %ld entr%s at its top", fi->path, n,
	         n == 1 ? "y" : "ies");
	return 0;
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
        /* restore_test.c: extracts into the scratch directory as a
	 * restore does, counts what is there, removes it */
        .restore_test = files_restore_test,
        /* restore.c extracts into a staging directory and touches the
	 * target only after in->read() returned 0 */
        .flags = CAIRN_SOURCE_STAGED_RESTORE,
        .probe = files_probe,
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
