/*
 * restore_test.c - the `files` source's restore test (verify
 * --restore-test): extract the stored tar into the instance's scratch
 * directory with the restore's own code (read.c, extract.c), count what landed
 * on disk, remove it, and record the counts.
 *
 * The plugin never sees the manifest: it records files, directories,
 * symlinks, hardlinks and bytes with host->stat, the keys the backup
 * recorded, and the core compares them with the manifest's (a difference
 * is damage).  Here the tree on disk is compared with the tar it came
 * from, so an entry the extraction lost is caught whatever the manifest.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "files_internal.h"

#define FILES_RT_TREE "tree"

/* The counts of the tar (want) against those of the tree it left on disk
 * (got): CAIRN_E_CORRUPT naming the first that differs. */
static int
files_rt_compare(struct files_inst *fi, const struct files_stats *want,
                 const struct files_stats *got)
{
	static const char *const names[] = {"files", "directories", "symlinks", "hardlinks",
	                                    "bytes"};
	const int64_t w[] = {want->files, want->dirs, want->symlinks, want->hardlinks, want->bytes};
	const int64_t g[] = {got->files, got->dirs, got->symlinks, got->hardlinks, got->bytes};
	for (size_t k = 0; k < sizeof(w) / sizeof(w[0]); k++) {
		if (w[k] == g[k])
			continue;
		return cairn_error(
		        files_host, fi->ctx, CAIRN_E_CORRUPT,
		        "the test restore into %s left %lld %s on disk where the backup stream holds %lld",
		        fi->path, (long long)g[k], names[k], (long long)w[k]);
	}
	return 0;
}

/* The scratch directory, open, with an empty "tree" made in it. */
static int
files_rt_open(struct files_inst *fi, int *sfd, int *tfd)
{
	const char *scratch;
	if (files_host->abi_minor < 1 || !CAIRN_HOST_HAS(files_host, scratch_dir) ||
	    files_host->scratch_dir == NULL) {
		return cairn_error(
		        files_host, fi->ctx, CAIRN_E_UNSUPPORTED,
		        "a restore test needs cairn 1.1 or newer, which gives a scratch directory; this is cairn %s",
		        files_host->cairn_version ? files_host->cairn_version : "1.0");
	}
	scratch = files_host->scratch_dir(fi->ctx);
	if (scratch == NULL)
		return CAIRN_E_IO; /* the core said why */
	*sfd = open(scratch, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (*sfd < 0) {
		return cairn_error(files_host, fi->ctx, CAIRN_E_IO,
		                   "cannot open the scratch directory %s: %s", scratch,
		                   strerror(errno));
	}
	if (mkdirat(*sfd, FILES_RT_TREE, 0700) != 0 ||
	    (*tfd = openat(*sfd, FILES_RT_TREE, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) <
	            0) {
		files_host->set_error(fi->ctx, "cannot make %s/%s for a test restore: %s", scratch,
		                      FILES_RT_TREE, strerror(errno));
		close(*sfd);
		*sfd = -1;
		return CAIRN_E_IO;
	}
	return 0;
}

int
files_restore_test(void *instance, struct cairn_in *in)
{
	struct files_inst *fi = instance;
	struct files_stats want = {0}, got = {0};
	struct files_locale loc;
	int sfd = -1, tfd = -1, had_root = 0, rc;

	rc = files_rt_open(fi, &sfd, &tfd);
	if (rc < 0)
		return rc;
	files_locale_enter(&loc);
	rc = files_extract(fi, in, tfd, &want, &had_root);
	close(tfd);
	/* counted as it goes: nothing of the test is left behind, whatever
	 * the outcome (the core removes the scratch directory too) */
	if (files_rm_count(sfd, FILES_RT_TREE, &got) != 0 && rc == 0) {
		rc = cairn_error(files_host, fi->ctx, CAIRN_E_IO,
		                 "cannot remove the test restore of %s: %s", fi->path,
		                 strerror(errno));
	}
	/* the tree's root is there whether the tar has an entry for it
	 * (cairn's do, counted as a directory) or not */
	if (!had_root && got.dirs > 0)
		got.dirs--;
	if (rc == 0)
		rc = files_rt_compare(fi, &want, &got);
	if (rc == 0)
		files_emit_counts(fi, &got);
	close(sfd);
	files_locale_leave(&loc);
	return rc;
}
