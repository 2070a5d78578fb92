/*
 * restore_oplog.c - the oplog of an archive made with oplog = yes (or
 * `mongodump --oplog`), applied after its collections as `mongorestore
 * --oplogReplay` does, so the restored dump is consistent at its end.
 *
 * The archive's oplog namespace (db "", collection "oplog") comes after
 * every collection's documents, while those go into temporary
 * collections that only stage_commit() puts in place.  So its entries are
 * written, as they are read, to a file of the restore's own in the
 * scratch directory (unlinked at once: nothing stays behind), and applied
 * from there, one entry in memory at a time, once the collections are in
 * place, through the applier the log's replay uses (applyops.c: batches
 * of applyOps, renames and include/exclude honoured).
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "oplog.h"
#include "restore.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

int
rs_is_oplog(const struct arc_ns *ns)
{
	return !ns->db[0] && !strcmp(ns->coll, "oplog");
}

/* The spool file, made on the first entry. */
static int
rs_oplog_open(struct rs *rs)
{
	const char *dir = NULL;
	char *path;
	int fd;

	if (CAIRN_HOST_HAS(mongo_host, scratch_dir) && mongo_host->scratch_dir)
		dir = mongo_host->scratch_dir(rs->mi->ctx);
	if (!dir) {
		mongo_err(
		        rs->mi,
		        "the archive's oplog cannot be held for its replay: no scratch directory");
		return CAIRN_E_IO;
	}
	if (asprintf(&path, "%s/oplog.bson", dir) < 0)
		return rs_nomem(rs);
	do
		fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	while (fd < 0 && errno == EINTR);
	if (fd >= 0)
		unlink(path);
	if (fd < 0 || !(rs->oplog_spool = fdopen(fd, "w+b"))) {
		mongo_err(rs->mi, "%s: cannot hold the archive's oplog there: %s", path,
		          strerror(errno));
		if (fd >= 0)
			close(fd);
		free(path);
		return CAIRN_E_IO;
	}
	free(path);
	return 0;
}

int
rs_oplog_spool(struct rs *rs, const uint8_t *doc, uint32_t len)
{
	int rc;
	if (!rs->oplog_spool && (rc = rs_oplog_open(rs)) < 0)
		return rc;
	if (fwrite(doc, 1, len, rs->oplog_spool) != len) {
		mongo_err(rs->mi, "writing the archive's oplog to the scratch directory failed: %s",
		          strerror(errno));
		return CAIRN_E_IO;
	}
	rs->oplog_entries++;
	return 0;
}

/* The next entry of the spool into *buf (grown as needed, up to
 * OPLOG_ENTRY_MAX): 1, 0 at the end, or an error. */
static int
rs_oplog_next(struct rs *rs, uint8_t **buf, size_t *cap, uint32_t *len)
{
	uint8_t head[4];
	size_t got = fread(head, 1, 4, rs->oplog_spool);

	if (got == 0 && feof(rs->oplog_spool))
		return 0;
	if (got == 4) {
		*len = (uint32_t)head[0] | (uint32_t)head[1] << 8 | (uint32_t)head[2] << 16 |
		       (uint32_t)head[3] << 24;
		if (*len >= 5 && *len <= OPLOG_ENTRY_MAX) {
			if (*len > *cap) {
				uint8_t *grown = realloc(*buf, *len);
				if (!grown)
					return rs_nomem(rs);
				*buf = grown;
				*cap = *len;
			}
			memcpy(*buf, head, 4);
			if (fread(*buf + 4, 1, *len - 4, rs->oplog_spool) == *len - 4)
				return 1;
		}
	}
	mongo_err(rs->mi, "reading back the archive's oplog from the scratch directory failed");
	return CAIRN_E_IO;
}

int
rs_oplog_apply(struct rs *rs)
{
	struct mongo_apply *ap;
	uint8_t *buf = NULL;
	size_t cap = 0;
	uint32_t len;
	int rc;

	if (!rs->oplog_spool)
		return 0;
	if (fflush(rs->oplog_spool) != 0 || fseek(rs->oplog_spool, 0, SEEK_SET) != 0) {
		mongo_err(rs->mi, "the archive's oplog in the scratch directory: %s",
		          strerror(errno));
		return CAIRN_E_IO;
	}
	if (!(ap = mongo_oplog_apply_new(rs->mi, rs->client)))
		return CAIRN_E_NOMEM;
	while ((rc = rs_oplog_next(rs, &buf, &cap, &len)) == 1) {
		if ((rc = mongo_oplog_apply(ap, buf, len)) < 0)
			break;
	}
	if (rc == 0)
		rc = mongo_oplog_apply_end(ap);
	if (rc == 0)
		mongo_log(rs->mi, CAIRN_LOG_INFO,
		          "applied the archive's oplog: %lld entries read, %lld applied",
		          (long long)rs->oplog_entries, (long long)mongo_oplog_applied(ap));
	else
		mongo_log(
		        rs->mi, CAIRN_LOG_ERROR,
		        "server %s: the collections are restored, but the archive's oplog was not applied to its end: they hold the dump as it was read, not consistent at one time",
		        rs->mi->server);
	mongo_host->stat(rs->mi->ctx, "oplog_applied", mongo_oplog_applied(ap));
	mongo_oplog_apply_free(ap);
	free(buf);
	return rc;
}
