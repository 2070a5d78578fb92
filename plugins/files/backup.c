/*
 * backup.c - the files source's backup op: open `path`, set up the pax
 * writer (write.c), walk the tree into it (walk.c), close it, and record
 * the counts.  libarchive is used for writing only: each archive_entry is
 * filled by write.c and handed to its pax writer.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "files_internal.h"

#include <sys/resource.h>

/* Open `path`, the one name opened as a whole, and check it. */
static int
files_bk_open_root(struct files_inst *fi, struct stat *st)
{
	/* "hybrid", as tar -h for the top only: `path` may be a symlink to
	 * the tree (/srv/uploads -> /data/uploads); every link inside is
	 * stored as a link. */
	int fd = open(fi->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	int err = errno;
	if (fd < 0 && err == ENOENT) {
		return cairn_error(files_host, fi->ctx, CAIRN_E_NOTFOUND,
		                   "path %s does not exist; check the source's `path`", fi->path);
	}
	if (fd < 0 && err == ENOTDIR && stat(fi->path, st) == 0 && !S_ISDIR(st->st_mode)) {
		return cairn_error(
		        files_host, fi->ctx, CAIRN_E_CONFIG,
		        "path %s is not a directory; set `path` to the directory to back up",
		        fi->path);
	}
	/* An unreadable root is never "skipped": that would be an empty
	 * backup that looks fine.  "." needs search permission. */
	if (fd >= 0 && fstatat(fd, ".", st, 0) != 0) {
		err = errno;
		close(fd);
		fd = -1;
	}
	if (fd < 0) {
		return cairn_error(files_host, fi->ctx, CAIRN_E_IO, "cannot read path %s: %s",
		                   fi->path, strerror(err));
	}
	return fd;
}

int
files_backup(void *instance, struct cairn_out *out)
{
	struct files_inst *fi = instance;
	struct files_bk w;
	struct files_locale loc;
	struct rlimit rl;
	struct stat st;
	int rc = 0, rootfd;

	/* st zeroed too: the analyzer does not follow the variadic
	 * cairn_error() to see that files_bk_open_root() then fails */
	memset(&st, 0, sizeof(st));
	memset(&w, 0, sizeof(w));
	w.run.fi = fi;
	w.run.out = out;
	w.noatime = O_NOATIME;
	/* Room for the core's and the compressor's descriptors besides. */
	w.fd_levels = FILES_BK_FD_LEVELS;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY &&
	    rl.rlim_cur / 4 < w.fd_levels)
		w.fd_levels = rl.rlim_cur / 4 > 1 ? (size_t)(rl.rlim_cur / 4) : 1;

	files_locale_enter(&loc);
	rootfd = files_bk_open_root(fi, &st);
	if (rootfd < 0) {
		rc = rootfd;
		goto done;
	}
	w.root_dev = st.st_dev;
	files_announce_total(fi, rootfd, &st);

	w.tar = archive_write_new();
	w.e = archive_entry_new();
	w.links = archive_entry_linkresolver_new();
	w.data = malloc(FILES_BK_DATA_BUF);
	w.dents = malloc(FILES_BK_DENTS);
	if (w.tar == NULL || w.e == NULL || w.links == NULL || w.data == NULL || w.dents == NULL) {
		close(rootfd);
		rc = CAIRN_E_NOMEM;
		goto done;
	}
	/* Full pax, not "restricted": every entry gets an extended header,
	 * so sub-second mtimes are kept even where nothing else needs one.
	 * Only SCHILY.xattr headers, which both GNU tar and libarchive read
	 * (GNU tar warns about LIBARCHIVE.xattr ones). */
	if (archive_write_set_format_pax(w.tar) != ARCHIVE_OK ||
	    archive_write_set_format_option(w.tar, "pax", "xattrheader", "SCHILY") < ARCHIVE_WARN ||
	    archive_write_set_bytes_per_block(w.tar, files_block_size) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(w.tar, FILES_RECORD) != ARCHIVE_OK) {
		files_host->set_error(fi->ctx, "setting up the tar writer failed: %s",
		                      archive_error_string(w.tar));
		close(rootfd);
		rc = CAIRN_E_IO;
		goto done;
	}
	archive_entry_linkresolver_set_strategy(w.links, archive_format(w.tar));
	if (archive_write_open2(w.tar, &w.run, NULL, files_write_cb, NULL, NULL) != ARCHIVE_OK) {
		close(rootfd);
		rc = files_tar_failed(&w, "the archive start");
		goto done;
	}

	rc = files_bk_walk_tree(&w, rootfd, &st);
	if (rc < 0)
		goto done;
	/* With the tar strategy the resolver holds nothing back (the first
	 * name of a file carries its data), so there is nothing to flush. */
	if (archive_write_close(w.tar) != ARCHIVE_OK) {
		rc = files_tar_failed(&w, "the end of the archive");
		goto done;
	}

done:
	if (rc == CAIRN_E_CANCELLED)
		files_host->set_error(fi->ctx, "backup of %s cancelled", fi->path);
	if (rc < 0)
		w.run.closed = 1;
	if (w.tar != NULL)
		archive_write_free(w.tar);
	if (w.links != NULL)
		archive_entry_linkresolver_free(w.links);
	archive_entry_free(w.e);
	for (size_t i = 0; i < w.lv_cap; i++) {
		if (w.lv[i].fd >= 0)
			close(w.lv[i].fd);
		free(w.lv[i].blob);
		free(w.lv[i].ents);
	}
	free(w.lv);
	for (size_t i = 0; i < FILES_BK_IDCACHE; i++) {
		free(w.users[i].name);
		free(w.groups[i].name);
	}
	free(w.rel);
	free(w.data);
	free(w.dents);
	free(w.xlist);
	free(w.xval);
	free(w.link);
	free(w.pw);
	files_emit_stats(fi, &w.run.st);
	files_locale_leave(&loc);
	return rc;
}
