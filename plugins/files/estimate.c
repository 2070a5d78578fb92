/*
 * estimate.c - the tar size a backup expects to write, for the progress
 * line: a walk of the metadata only, with the walk's excludes.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "files_internal.h"

#include <limits.h>
#include <stdint.h>

/* ------------------------------------------------------ the estimate */

/* Bytes of tar one entry of size bytes takes: a pax extended header and
 * a ustar header (512 bytes each, the pax records mostly fit in one more
 * block) and the data in whole blocks.  An estimate: long names, xattrs
 * and hard links make it differ a little, and the core shows percent and
 * time left only while the count stays below it. */
#define FILES_EST_BLOCK 512 /* a tar block */
#define FILES_EST_HEADER (3 * FILES_EST_BLOCK)
#define FILES_EST_DEPTH 64 /* deeper trees are counted to here only */

struct files_est {
	const struct files_inst *fi;
	dev_t root_dev;
	uint64_t bytes;
	unsigned long seen;
	char rel[PATH_MAX];
	int stop; /* cancelled */
};

/* Sum the sizes below the open directory dfd (rel holds its name below
 * `path`, len bytes), as the walk will see them: excludes and
 * one_file_system applied, symlinks not followed.  Unreadable parts are
 * skipped: the walk reports them. */
static void
files_est_dir(struct files_est *e, int dfd, size_t len, int depth)
{
	DIR *d = fdopendir(dfd);
	struct dirent *de;
	if (d == NULL) {
		close(dfd);
		return;
	}
	while (!e->stop && (de = readdir(d)) != NULL) {
		struct stat st;
		size_t n = strlen(de->d_name);
		int is_dir;
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		if (++e->seen % 4096 == 0 && files_host->cancelled(e->fi->ctx))
			e->stop = 1;
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    len + n + 2 > sizeof(e->rel))
			continue;
		is_dir = S_ISDIR(st.st_mode);
		snprintf(e->rel + len, sizeof(e->rel) - len, "%s%s", len ? "/" : "", de->d_name);
		if (files_excluded(e->fi, e->rel, is_dir))
			continue;
		e->bytes += FILES_EST_HEADER;
		if (S_ISREG(st.st_mode))
			e->bytes += ((uint64_t)st.st_size + FILES_EST_BLOCK - 1) / FILES_EST_BLOCK *
			            FILES_EST_BLOCK;
		if (is_dir && depth < FILES_EST_DEPTH &&
		    (!e->fi->one_fs || st.st_dev == e->root_dev)) {
			int sub = openat(dirfd(d), de->d_name,
			                 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0)
				files_est_dir(e, sub, len + (len ? 1 : 0) + n, depth + 1);
		}
		e->rel[len] = '\0';
	}
	closedir(d);
}

/* Announce the tree's expected tar size for the progress line.  A first
 * walk of the metadata costs a stat per entry (on a warm cache a few per
 * cent of the backup), so it is done only where the number is shown:
 * when stderr is a terminal, as the core's progress line is. */
void
files_announce_total(struct files_inst *fi, int rootfd, const struct stat *root)
{
	struct files_est e = {.fi = fi, .root_dev = root->st_dev};
	int fd;
	if (!CAIRN_HOST_HAS(files_host, progress_total) || !isatty(STDERR_FILENO))
		return;
	fd = openat(rootfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return;
	e.bytes = FILES_EST_HEADER + FILES_RECORD; /* the root, the end of the archive */
	files_est_dir(&e, fd, 0, 0);
	if (!e.stop)
		files_host->progress_total(fi->ctx, e.bytes);
}
