/* restore_file.h - restore --from FILE: a file that a standard tool wrote
 * (`mongodump --archive`, a `dump.rdb`, a RESP stream for `redis-cli
 * --pipe`, a tar), restored through the same checks as a stored object.
 *
 * There is no manifest, so nothing says what the file should hold: its
 * kind and compression come from its first bytes (or --format), and the
 * proof that it is whole is the source's own parser.  A source that
 * writes into its target as it reads gets the whole file read through
 * its deep verify first, and only then restore, which reads it again and
 * is checked to see the same bytes (size and SHA-256 of the first pass);
 * a source that stages its restore (files) reads it once, and its staging
 * is the check.  The file is opened read-only and read in fixed-size
 * blocks, so memory stays flat whatever its size. */
#ifndef CAIRN_RESTORE_FILE_H
#define CAIRN_RESTORE_FILE_H

#include <stddef.h>
#include <stdint.h>

#include "plugin.h"
#include "values.h"

/* What a file holds, once decompressed. */
enum file_kind {
	FILE_KIND_UNKNOWN = 0,
	FILE_KIND_TAR,     /* ustar, pax or GNU tar: files */
	FILE_KIND_RDB,     /* a dump.rdb ("REDIS"): redis */
	FILE_KIND_RESP,    /* a RESP stream ('*'): redis */
	FILE_KIND_ARCHIVE, /* mongodump --archive (magic 0x8199e26d): mongo */
};

struct file_format {
	enum file_kind kind;
	enum compression comp;
};

/* --format TEXT: KIND or KIND.COMP, KIND one of tar, rdb, resp, archive
 * (the extensions of cairn's own objects), COMP one of gz, zst, xz.
 * 0, or -1 when TEXT is none of them. */
int file_format_parse(const char *text, struct file_format *f);
/* The words for the kind in messages: "a tar", "a dump.rdb (RDB)", ... */
const char *file_kind_what(enum file_kind k);

/* The input file, open read-only. */
struct restore_file {
	const char *path; /* as given; not owned */
	int fd;
	uint64_t size;
	struct file_format fmt; /* kind FILE_KIND_UNKNOWN: not recognised */
	unsigned char head[4];  /* its first bytes (decompressed), for messages */
	size_t nhead;
};

/* Open path (a regular file) and recognise what it is from its first
 * bytes, decompressed when they are gzip, zstd or xz; forced (--format,
 * may be NULL) is taken instead of the recognition.  0 (the kind may be
 * FILE_KIND_UNKNOWN), or with *err one line naming the file:
 * CAIRN_E_NOTFOUND (it cannot be opened or is no regular file),
 * CAIRN_E_UNSUPPORTED (it is empty), CAIRN_E_CORRUPT (its compression is
 * damaged at the start) or CAIRN_E_IO. */
int restore_file_open(const char *path, const struct file_format *forced, struct restore_file *f,
                      char **err);
void restore_file_close(struct restore_file *f);
/* "FILE holds data of a kind cairn does not recognise (...); name it with
 * --format ...", for a file of FILE_KIND_UNKNOWN.  Caller frees. */
char *restore_file_unknown(const struct restore_file *f);

/* Does a source of plugin `plugin` (its objects named *.EXT) restore
 * files of kind k?  When not, *expects says what it takes ("a tar"). */
int restore_file_fits(const char *plugin, const char *ext, enum file_kind k, const char **expects);

/* Restore f into source: checked whole before the target changes (see
 * above).  0, or a CAIRN_E_* code with *err set (CAIRN_E_CORRUPT: the
 * file is damaged, cut short or changed while it was read). */
int pipeline_restore_file(struct restore_file *f, struct instance *source, unsigned flags,
                          char **err);

#endif
