/*
 * files_internal.h - what the files source's files share (not installed).
 *
 * Backup walks `path` relative to directory descriptors (backup.c says how)
 * and streams a pax tar, written by libarchive, into out->write(); restore
 * pulls a tar from in->read() and extracts it with libarchive's disk writer;
 * verify reads every header and every data byte.  The tar is an ordinary
 * one: `zstd -dc x.tar.zst | tar -xf -` restores it without cairn.
 *
 * Entry names are relative to `path`.  The root directory itself is stored
 * as "." (written "./"): that is the only place its mode, owner, times,
 * xattrs and ACLs can live, and a restore gives them back to the target, as
 * `tar -C dir -cf - .` does.  Nothing else starts with "./" or "/".
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef CAIRN_FILES_INTERNAL_H
#define CAIRN_FILES_INTERNAL_H

#include <cairn/plugin.h>

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <langinfo.h>
#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define FILES_VERSION "0.1.0"

/* tar's record size.  The stream is padded to a whole record at the end,
 * as GNU tar and bsdtar do, and handed on in blocks of several records so
 * the core's compressor sees few, large writes. */
#define FILES_RECORD 10240
#define FILES_BLOCK (16 * FILES_RECORD)
/* The writer's block size; a variable only so that the unit test can
 * make libarchive flush inside one entry's header. */
extern int files_block_size;
/* Bytes pulled from in->read() per call on restore and verify. */
#define FILES_READ_BUF (64 * 1024)
/* A tar ends with two zero blocks. */
#define FILES_TRAILER 1024

extern const struct cairn_host *files_host;

/* Holes of sparse files are handed to the pax writer as runs of zeros, as
 * bsdtar does; the writer knows the sparse map and skips them without
 * copying, so this buffer is never really read for a hole.  Never written. */
extern const char files_zeros[64 * 1024];

struct files_pattern {
	char *glob;
	int anchored; /* matches the path below `path`, not the base name */
	int dir_only; /* written with a trailing '/' */
};

struct files_inst {
	cairn_ctx *ctx;
	char *path; /* absolute, without trailing '/' (except "/") */
	struct files_pattern *excl;
	size_t nexcl;
	int one_fs;
	int ignore_unreadable;
	int xattrs;
	int acls;
};

struct files_stats {
	int64_t files; /* regular files stored with their data */
	int64_t dirs;  /* directories, the root "." included */
	int64_t symlinks;
	int64_t hardlinks; /* entries stored as a link to an earlier one */
	int64_t bytes;     /* sum of the regular files' sizes */
	int64_t warnings;
};

/* One backup run. */
struct files_run {
	struct files_inst *fi;
	struct cairn_out *out;
	int out_err; /* the first out->write() failure */
	int closed;  /* forward nothing more to out (error or cancel) */
	struct files_stats st;
};

/* The reading side of a restore or verify. */
struct files_src {
	struct cairn_in *in;
	int in_err; /* the first in->read() failure */
	int eof;
	uint64_t zrun; /* zero bytes at the end of everything read so far */
	uint64_t total;
	char *buf;
};

/* A binary POSIX ACL as the kernel keeps it in system.posix_acl_access and
 * system.posix_acl_default (linux/posix_acl_xattr.h): a version word, then
 * (tag, perm, id) entries, little-endian.  backup.c decodes it, restore.c
 * encodes it. */
#define FILES_ACL_VERSION 2u
#define FILES_ACL_USER_OBJ 0x01u
#define FILES_ACL_USER 0x02u
#define FILES_ACL_GROUP_OBJ 0x04u
#define FILES_ACL_GROUP 0x08u
#define FILES_ACL_MASK 0x10u
#define FILES_ACL_OTHER 0x20u
#define FILES_ACL_NOID 0xffffffffu

struct files_locale {
	locale_t utf8;
	locale_t old;
};

void files_log(struct files_inst *fi, enum cairn_log_level level, const char *fmt, ...)
        CAIRN_PRINTF(3, 4);
void files_warn(struct files_inst *fi, struct files_stats *st, const char *fmt, ...)
        CAIRN_PRINTF(3, 4);
/* files, directories, symlinks, hardlinks, bytes: what a verify and a
 * restore test record, for the core to compare with the backup's */
void files_emit_counts(struct files_inst *fi, const struct files_stats *st);
/* those and warnings: what backup and restore record */
void files_emit_stats(struct files_inst *fi, const struct files_stats *st);
void files_count(struct files_stats *st, struct archive_entry *e, int64_t size);
void files_locale_enter(struct files_locale *l);
void files_locale_leave(struct files_locale *l);

/* backup.c */
int files_backup(void *instance, struct cairn_out *out);
/* restore.c */
int files_restore(void *instance, struct cairn_in *in, unsigned flags);
int files_verify(void *instance, struct cairn_in *in);
/* Extract the whole tar from in into the empty directory root with the
 * restore's own code, counting entries in st; *had_root says whether the
 * tar had an entry for the root itself.  The directories keep the modes
 * they were made with (a restore sets theirs last).  0 means every entry
 * was written and in->read() returned 0. */
int files_extract(struct files_inst *fi, struct cairn_in *in, int root, struct files_stats *st,
                  int *had_root);
/* Remove name in at and everything below it without following symlinks;
 * with st, count what was removed as a backup counts (the root directory
 * included).  0, or -1 with errno. */
int files_rm_count(int at, const char *name, struct files_stats *st);
/* restore_test.c */
int files_restore_test(void *instance, struct cairn_in *in);

#endif
