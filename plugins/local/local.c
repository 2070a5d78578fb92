/*
 * local.c - the "local" sink: backup objects as files under one directory.
 *
 * An object with key "JOB/ID/NAME" lives at ROOT/JOB/ID/NAME.  Writes go to
 * a hidden temporary file beside the final name (".NAME.XXXXXX.part") and
 * commit publishes it with a rename that never replaces an existing file,
 * so a reader or a listing sees either the whole object or nothing, and a
 * backup is never overwritten.
 *
 * Names starting with '.' are reserved: keys may not contain such
 * components, and list() and usage() skip them.  Besides the temporary
 * files there is one: ROOT/JOB/.lock, the job's lock (see local_lock).
 * Holding it, a run removes every temporary file and empty set directory
 * a dead run of the job left.  The first open_write of each instance also
 * sweeps the store for other jobs' temporaries untouched for a day (see
 * local_sweep), so a job that never runs again does not hold disk space
 * forever.
 *
 * The store is untrusted input: anybody who can write to it may plant a
 * symlink, FIFO or device where an object or directory belongs.  Below
 * the root every path is resolved one component at a time from directory
 * descriptors with O_NOFOLLOW (local_dir_at, local_walk_dir), and only
 * regular files are opened, so nothing leads out of the store or hangs.
 *
 * This file is the top floor (keys, create/destroy, the descriptor); the
 * others, each calling only those below it, are listed in local_internal.h.
 *
 * SPDX-License-Identifier: MIT
 */
#include "local_internal.h"

/* ------------------------------------------------------ create, destroy */

static const struct cairn_key local_keys[] = {
        {.name = "path",
         .type = CAIRN_KEY_PATH,
         .flags = CAIRN_KEY_REQUIRED,
         .help = "directory that holds the backups (created with mode 0700 if missing)"},
        {.name = "fsync",
         .type = CAIRN_KEY_BOOL,
         .default_value = "yes",
         .help = "fsync files and directories on commit; \"no\" is faster but a power failure may lose the newest backup"},
        {.name = NULL}};

static void
local_destroy(void *instance)
{
	struct local *lc = instance;

	if (!lc)
		return;
	free(lc->root);
	free(lc);
}

static int
local_create(cairn_ctx *ctx, const struct cairn_config *cfg, void **instance)
{
	const struct cairn_value *path = cairn_config_get(cfg, "path");
	const struct cairn_value *fs = cairn_config_get(cfg, "fsync");
	struct local *lc;
	size_t len;

	*instance = NULL;
	if (!path || !path->set || !path->text || !*path->text) {
		return cairn_error(
		        local_host, ctx, CAIRN_E_CONFIG,
		        "sink %s: \"path\" is not set; give the directory that should hold the backups",
		        cfg->instance ? cfg->instance : "local");
	}
	lc = calloc(1, sizeof(*lc));
	if (!lc || !(lc->root = strdup(path->text))) {
		free(lc);
		return local_nomem(ctx, "creating the local sink");
	}
	/* "/a/b/" and "/a/b" are the same store; keep one spelling so joined
	 * paths in messages have no "//". */
	len = strlen(lc->root);
	while (len > 1 && lc->root[len - 1] == '/')
		lc->root[--len] = '\0';
	lc->ctx = ctx;
	lc->fsync = fs && fs->set ? fs->i != 0 : 1;
	*instance = lc;
	return 0;
}

/* ----------------------------------------------------------- descriptor */

static const struct cairn_sink_ops local_ops = {
        .struct_size = sizeof(struct cairn_sink_ops),
        .create = local_create,
        .destroy = local_destroy,
        .open_write = local_open_write,
        .write = local_write,
        .commit = local_commit,
        .abort = local_abort,
        .open_read = local_open_read,
        .read = local_read,
        .close_read = local_close_read,
        .list = local_list,
        .remove = local_remove,
        .usage = local_usage,
        .lock = local_lock,
        .unlock = local_unlock,
};

static const struct cairn_plugin local_plugin = {
        .struct_size = sizeof(struct cairn_plugin),
        .abi_major = CAIRN_ABI_MAJOR,
        .abi_minor = CAIRN_ABI_MINOR,
        .name = "local",
        .version = "0.1.0",
        .kind = CAIRN_KIND_SINK,
        .description = "a local directory as backup store, written atomically",
        .keys = local_keys,
        .sink = &local_ops,
};

CAIRN_EXPORT const struct cairn_plugin *
cairn_plugin_entry(const struct cairn_host *host)
{
	local_host = host;
	return &local_plugin;
}
