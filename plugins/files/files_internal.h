/*
 * files_internal.h - what the files source's files share (not installed).
 *
 * Backup walks `path` relative to directory descriptors (walk.c says how)
 * and streams a pax tar, written by libarchive, into out->write(); restore
 * pulls a tar from in->read(), parsed by libarchive, and extracts it with
 * its own code (extract.c); verify reads every header and every data byte.  The tar is an ordinary
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
#include <limits.h>
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
 * (tag, perm, id) entries, little-endian.  attrs.c decodes it, meta.c
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

/* ---------------------------------------------- common.c (the bottom) */

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
/* Grow *buf to hold need bytes: 0 or CAIRN_E_NOMEM. */
int files_bk_grow(char **buf, size_t *cap, size_t need);

/* ------------------------------------------------- the backup's floors
 *
 *   backup.c    the op: open `path`, set up the writer, walk, close
 *   estimate.c  the expected tar size, for the progress line
 *   walk.c      the directory walk, the exclude patterns
 *   write.c     the pax writer, one entry's header and data
 *   attrs.c     an entry's owner names, xattrs and POSIX ACLs
 *
 * each calling only the ones below it and common.c.
 */

/* Levels that keep their descriptor open; see the top of walk.c. */
#define FILES_BK_FD_LEVELS 64
/* Bytes read from a file per call. */
#define FILES_BK_DATA_BUF (128 * 1024)
/* getdents64() buffer. */
#define FILES_BK_DENTS (32 * 1024)
/* Cached uid and gid names, each; a slot is uid % FILES_BK_IDCACHE. */
#define FILES_BK_IDCACHE 64

/* One name of a directory: an offset into its level's blob. */
struct files_bk_name {
	size_t off;
	unsigned char type; /* d_type: DT_UNKNOWN when the fs does not say */
};

/* One directory of the walk, listed in full when it was opened. */
struct files_bk_level {
	int fd; /* -1 while closed, see the top of walk.c */
	dev_t dev;
	ino_t ino;
	size_t rellen; /* its name below `path` is rel[0, rellen) */
	char *blob;    /* the names, each NUL-ended */
	size_t blob_len, blob_cap;
	struct files_bk_name *ents;
	size_t n, next, cap;
};

struct files_bk_id {
	unsigned long id;
	int set;
	char *name; /* NULL: no such user or group */
};

/* One backup run. */
struct files_bk {
	struct files_run run;
	struct archive *tar;
	struct archive_entry *e;
	struct archive_entry_linkresolver *links;
	struct files_bk_level *lv;
	size_t depth, lv_cap;
	size_t fd_levels;
	char *rel; /* the current entry's name below `path` */
	size_t rellen, relcap;
	dev_t root_dev;
	int noatime; /* O_NOATIME until it was refused once */
	char *data;  /* FILES_BK_DATA_BUF bytes */
	char *dents; /* FILES_BK_DENTS bytes */
	char *xlist, *xval, *link, *pw;
	size_t xlist_cap, xval_cap, link_cap, pw_cap;
	struct files_bk_id users[FILES_BK_IDCACHE], groups[FILES_BK_IDCACHE];
};

/* /proc/self/fd/DIRFD/NAME: see files_bk_proc_path() */
#define FILES_BK_PROC_PATH (sizeof("/proc/self/fd//") + 3 * sizeof(int) + NAME_MAX + 1)

/* Which ACLs an entry has, as its list of xattr names says. */
#define FILES_BK_HAS_ACCESS 1
#define FILES_BK_HAS_DEFAULT 2

/* attrs.c: the names of a uid and a gid (NULL: none); where a name
 * without a descriptor of its own is reached; the entry's xattrs
 * (returning FILES_BK_HAS_* for its ACLs) and its ACLs */
const char *files_bk_uname(struct files_bk *w, uid_t uid);
const char *files_bk_gname(struct files_bk *w, gid_t gid);
void files_bk_proc_path(char *p, size_t cap, int dfd, const char *name);
int files_bk_xattrs(struct files_bk *w, int fd, const char *proc);
void files_bk_acls(struct files_bk *w, int fd, const char *proc, int has);

/* write.c: libarchive's write callback (data is the struct files_run);
 * the writer failed (out's code, or CAIRN_E_IO naming what); an entry
 * could not be read (0: a warning said so, or CAIRN_E_IO); store the
 * current entry w->rel (1: not stored, a warning said why) */
la_ssize_t files_write_cb(struct archive *tar, void *data, const void *buf, size_t len);
int files_tar_failed(struct files_bk *w, const char *what);
int files_unreadable(struct files_bk *w, const char *rel, int err, const char *consequence);
int files_store(struct files_bk *w, int fd, int dfd, const char *name, const struct stat *st);

/* walk.c: whether an exclude pattern leaves rel out; walk the tree below
 * the open root (rootfd is the walk's from then on) into w's writer */
int files_excluded(const struct files_inst *fi, const char *rel, int is_dir);
int files_bk_walk_tree(struct files_bk *w, int rootfd, const struct stat *st);

/* estimate.c: tell the core the tar size to expect, where it is shown */
void files_announce_total(struct files_inst *fi, int rootfd, const struct stat *root);

/* backup.c: the op */
int files_backup(void *instance, struct cairn_out *out);

/* ------------------------------------------------ the restore's floors
 *
 *   restore.c       the op: prepare the target, stage, extract, commit
 *   restore_test.c  the restore test's op: extract into scratch, count
 *   read.c          the tar read back; the verify op
 *   extract.c       one entry into the staging tree
 *   stage.c         the staging directory, the target, the commit
 *   meta.c          owner, mode, times, xattrs, ACLs; directories last
 *   pathwalk.c      the safe openat-based walker
 *   rmtree.c        removing a tree without following symlinks
 *
 * each calling only the ones below it and common.c.
 */

/* Names of staging directories: see stage.c. */
#define FILES_STAGE_TAG ".cairn-restore."
#define FILES_STAGE_RAND 6

/* --------------------------------------------------- the path walker */

/*
 * The chain of directories leading to the current entry's parent, each
 * open as an O_PATH descriptor.  Entries of a tar come grouped by
 * directory, so nearly every lookup is a hit on the whole chain and costs
 * no system call; a move to a sibling directory costs one openat.
 */
struct files_walk {
	int root;   /* the tree's root; not owned */
	char *path; /* the chain's components, '/'-joined */
	size_t len, cap;
	struct files_level {
		size_t end; /* the component ends at path[end] */
		int fd;     /* -1: closed to save descriptors */
	} * lv;
	size_t depth, lvcap;
};

/* -------------------------------------------------- restore state */

/* A directory whose mode, owner, times, xattrs and ACLs are set last. */
struct files_dir {
	char *name;   /* normalised, below the root */
	size_t depth; /* components */
	size_t seq;   /* order in the tar: a later entry wins */
	mode_t mode;
	uid_t uid;
	gid_t gid;
	struct timespec ts[2];
	struct archive_entry *extra; /* for xattrs and ACLs, or NULL */
};

struct files_id {
	char *name;
	unsigned id;
	int found;
};

#define FILES_IDS 16

/* One restore's extraction. */
struct files_x {
	struct files_inst *fi;
	struct files_stats *st;
	int root;             /* the staging directory (O_RDONLY) */
	struct files_walk w;  /* for the entries */
	struct files_walk lw; /* for hard links' targets */
	int is_root;
	uid_t euid;
	gid_t egid;
	mode_t umask;
	int umask_known;
	/* the regular file being written */
	int fd;
	int64_t size, end;
	struct archive_entry *cur;
	const char *name; /* its normalised name */
	/* directories set last, and the root's own entry */
	struct files_dir *dirs;
	size_t ndirs, dircap, seq;
	struct archive_entry *root_entry;
	/* name -> id lookups, users [0] and groups [1] */
	struct files_id ids[2][FILES_IDS];
	size_t idnext[2];
	char *pwbuf;
	size_t pwcap;
	int64_t skipped;
	int fflags_logged;
	int nfs4_logged;
	char *norm; /* the current entry's normalised name */
	size_t normcap;
};

/* common.c: an entry could not be written: CAIRN_E_IO, naming it below
 * the target, what failed and the cause */
int files_x_fail(struct files_x *x, const char *name, const char *what, int err);

/* pathwalk.c: a walker from root (not owned); the parent of name
 * (normalised, not the root) as a descriptor of w's in *pfd and name's
 * last component in *base, missing directories made when create is set */
void files_walk_init(struct files_walk *w, int root);
void files_walk_free(struct files_walk *w);
int files_walk_parent(struct files_x *x, struct files_walk *w, const char *name, int create,
                      int *pfd, const char **base);

/* meta.c: the umask, read without changing it; the entry's owner by name
 * first; its times (UTIME_OMIT where unset) and whether any is set; whose
 * it will be (1: fchown needed, to *uid and *gid) and the warnings when
 * it cannot be; its xattrs, ACLs, file flags; every directory's
 * attributes, deepest first, then the root's (root: the tree's top) */
void files_read_umask(struct files_x *x);
uid_t files_uid(struct files_x *x, struct archive_entry *e);
gid_t files_gid(struct files_x *x, struct archive_entry *e);
void files_times(struct archive_entry *e, struct timespec ts[2]);
int files_times_set(const struct timespec ts[2]);
void files_warn_owner(struct files_x *x, struct archive_entry *e, const char *name, uid_t uid);
int files_owner(struct files_x *x, struct archive_entry *e, const char *name, int fresh, uid_t *uid,
                gid_t *gid);
void files_owner_failed(struct files_x *x, const char *name, uid_t uid, gid_t gid, int err);
void files_xattrs(struct files_x *x, struct archive_entry *e, int fd, const char *name);
void files_acls(struct files_x *x, struct archive_entry *e, int fd, const char *name, int is_dir);
void files_no_xattrs(struct files_x *x, struct archive_entry *e, const char *name);
void files_fflags(struct files_x *x, struct archive_entry *e, const char *name);
int files_dirs_finish(struct files_x *x, int root);

/* extract.c: set up x to extract into the empty directory root, and free
 * it; one entry (its data still to come), its data, its end */
void files_x_begin(struct files_x *x, struct files_inst *fi, struct files_stats *st, int root);
void files_x_free(struct files_x *x);
int files_x_entry(struct files_x *x, struct archive_entry *e);
int files_x_data(struct files_x *x, const void *buf, size_t len, la_int64_t off);
int files_x_finish(struct files_x *x);

/* rmtree.c: remove name in at and everything below it without following
 * symlinks; with st, count what was removed as a backup counts (the root
 * directory included).  0, or -1 with errno. */
int files_rm_count(int at, const char *name, struct files_stats *st);
int files_rm_tree(int at, const char *name);

/* stage.c: rename without replacing; the staging directory's name prefix
 * (beside the target base, or inside it with base NULL), making one, and
 * removing those a killed run left; whether the target is empty (1, 0 or
 * CAIRN_E_IO); the target's missing parents, made and taken away again;
 * every staged entry of from moved into to (rel names it for messages) */
int files_rename_noreplace(int from, const char *a, int to, const char *b);
char *files_stage_prefix(const char *base);
int files_mkstage(int dirfd, const char *prefix, char **name);
void files_clean_stale(struct files_inst *fi, int dirfd, const char *prefix, const char *where);
int files_dir_empty(struct files_inst *fi, int fd, const char *path);
int files_mkparents(struct files_inst *fi, const char *parent, int *made);
void files_rmparents(const char *parent, int made);
int files_merge(struct files_x *x, int from, int to, const char *rel, int depth);

/* read.c: read the whole tar from in, with x extracting every entry (or
 * NULL: verify); the verify op.  files_extract() extracts the whole tar
 * from in into the empty directory root with the restore's own code,
 * counting entries in st; *had_root says whether the tar had an entry for
 * the root itself.  The directories keep the modes they were made with (a
 * restore sets theirs last).  0 means every entry was written and
 * in->read() returned 0. */
int files_read_all(struct files_inst *fi, struct cairn_in *in, struct files_x *x,
                   struct files_stats *st);
int files_verify(void *instance, struct cairn_in *in);
int files_extract(struct files_inst *fi, struct cairn_in *in, int root, struct files_stats *st,
                  int *had_root);

/* restore.c: the op */
int files_restore(void *instance, struct cairn_in *in, unsigned flags);

/* restore_test.c: the op */
int files_restore_test(void *instance, struct cairn_in *in);

#endif
