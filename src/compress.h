/* compress.h - streaming compression, so cairn writes exactly the files the
 * standard tools read: `zstd -d`, `gzip -d`, `xz -d`.  zstd through libzstd,
 * with a content checksum in every frame (so `zstd -t` alone tells a
 * damaged object), gzip and xz through libarchive's raw format and
 * filters. */
#ifndef CAIRN_COMPRESS_H
#define CAIRN_COMPRESS_H

#include <stddef.h>
#include <sys/types.h>

#include "config.h"

/* Receives compressed bytes; returns 0 or a CAIRN_E_* code. */
typedef int (*emit_fn)(void *userdata, const void *buf, size_t len);
/* Supplies compressed bytes: count, 0 at the end, or a CAIRN_E_* code. */
typedef ssize_t (*pull_fn)(void *userdata, void *buf, size_t len);

struct compressor;
/* level -1: the compressor's default.  threads: worker threads for zstd
 * and xz (0: compress in the caller's thread).  NULL with *err on
 * failure. */
struct compressor *compressor_new(enum compression c, int level, int threads, emit_fn emit,
                                  void *userdata, char **err);
/* 0, or the emit function's code, or CAIRN_E_IO with *err set. */
int compressor_write(struct compressor *z, const void *buf, size_t len, char **err);
/* Flush the end of the stream through emit. */
int compressor_finish(struct compressor *z, char **err);
void compressor_free(struct compressor *z);

struct decompressor;
struct decompressor *decompressor_new(enum compression c, pull_fn pull, void *userdata, char **err);
/* Bytes, 0 at the end, or a code: the pull function's, or CAIRN_E_CORRUPT
 * with *err set when the data does not decompress or, for zstd and xz,
 * does not match its checksum.  Only the compression named is accepted. */
ssize_t decompressor_read(struct decompressor *z, void *buf, size_t len, char **err);
void decompressor_free(struct decompressor *z);

#endif
