/*
 * local_internal.h - what the files of the "local" sink share.
 *
 * Each file calls only the ones below it:
 *
 *   local.c   the top: the key table, create/destroy, the descriptor
 *   lock.c    a job's lock, and the cleanup of what its dead runs left
 *   write.c   the writer (temporary file, publish on commit) and remove
 *   read.c    the reader
 *   walk.c    the walk of the store: list, usage, the sweep of temporaries
 *   dir.c     directories opened without following links; an object's
 *             lookup; pruning of emptied directories
 *   common.c  the bottom: the host pointer, errors, keys and their paths
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef CAIRN_LOCAL_INTERNAL_H
#define CAIRN_LOCAL_INTERNAL_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE /* renameat2, GNU strerror_r */
#endif

#include <cairn/plugin.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

/* ------------------------------------------------------------- common.c */

/* The host, set by cairn_plugin_entry. */
extern const struct cairn_host *local_host;

struct local {
	cairn_ctx *ctx;
	char *root; /* absolute, no trailing '/' (unless it is "/") */
	int fsync;
	int swept; /* local_sweep ran for this instance */
};

/* How local_dir_at (and local_planted) report trouble. */
#define LOCAL_AT_CREATE 0x1u /* make missing directories, mode 0700 */
#define LOCAL_AT_WARN 0x2u   /* a planted entry is a warning, not the error */
#define LOCAL_AT_QUIET 0x4u  /* no message at all: only the result counts */

/* A job's lock file, ROOT/JOB/.lock (lock.c; the sweep keeps out of a job
 * whose lock another run holds). */
#define LOCAL_LOCK_NAME ".lock"

int local_status(int err);
int local_fail(cairn_ctx *ctx, int err, const char *what, const char *path, const char *fix);
int local_nomem(cairn_ctx *ctx, const char *what);
const char *local_kind(mode_t mode);
int local_planted(struct local *lc, unsigned flags, const char *path, mode_t mode,
                  const char *want);
int local_key_check(cairn_ctx *ctx, const char *key);
char *local_join(const struct local *lc, const char *key);
char *local_joinn(const struct local *lc, const char *key, size_t len);
char *local_dirname(const char *path);

/* ---------------------------------------------------------------- dir.c */

int local_dir_at(struct local *lc, const char *key, size_t len, unsigned flags);
void local_prune(struct local *lc, const char *key);
int local_notfound(struct local *lc, const char *key, const char *path);
int local_object_at(struct local *lc, const char *key, const char *path, const char *what,
                    const char **name, struct stat *st);

/* --------------------------------------------------------------- walk.c */

/* A recursive walk of the store for list(), usage() and the sweeps.  It
 * goes from directory descriptor to directory descriptor with O_NOFOLLOW,
 * so it never leaves the store through a link, whatever the store holds. */
struct local_walk {
	struct local *lc;
	const char *prefix; /* only keys starting with this */
	size_t prefix_len;
	int hidden;   /* sweeps: visit hidden files, log errors and go on */
	int warn;     /* list: warn about every planted entry it skips */
	int rmdirs;   /* lock: remove every empty directory below the start */
	int joblocks; /* sweep: keep out of jobs another run holds locked */
	int anyage;   /* lock: temporaries go whatever their age */
	/* lock: a directory key ("JOB/log/") below which a live writer of
	 * another lock may be at work (cairn follow's segments): there,
	 * only stale temporaries go and no directory is removed */
	const char *spare;
	/* Called for each matching regular file; non-zero stops the walk
	 * (set stopped) or is an error code (negative). */
	int (*visit)(struct local_walk *w, int dfd, const char *name, const char *key,
	             const struct stat *st);
	cairn_list_cb cb;
	void *userdata;
	uint64_t used;
	time_t now;
	unsigned long removed; /* temporaries removed so far */
	int stopped;
};

int local_walk_dir(struct local_walk *w, int fd, const char *path, const char *keybase);
int local_sweep_visit(struct local_walk *w, int dfd, const char *name, const char *key,
                      const struct stat *st);
void local_sweep(struct local *lc);
int local_list(void *instance, const char *prefix, cairn_list_cb cb, void *userdata);
int local_usage(void *instance, struct cairn_usage *usage);

/* ------------------------------------------------- read.c, write.c, lock.c */

int local_open_read(void *instance, const char *key, cairn_sink_reader **reader);
ssize_t local_read(cairn_sink_reader *r, void *buf, size_t len);
void local_close_read(cairn_sink_reader *r);

int local_open_write(void *instance, const char *key, cairn_sink_writer **writer);
int local_write(cairn_sink_writer *w, const void *buf, size_t len);
int local_commit(cairn_sink_writer *w);
void local_abort(cairn_sink_writer *w);
int local_remove(void *instance, const char *key);

int local_lock(void *instance, const char *name, cairn_sink_lock **lock);
void local_unlock(cairn_sink_lock *lk);

#endif
