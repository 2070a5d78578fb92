/*
 * dumparchive.h - the `mongodump --archive` format, written and read as a
 * stream (mongo-tools' common/archive/spec.md and its Go sources):
 *
 *   magic      uint32 0x8199e26d, little-endian
 *   header     {concurrent_collections: int32, version: "0.1",
 *               server_version, tool_version}
 *   prelude    per collection or view {db, collection, metadata, size: int32,
 *               type}, where metadata is the canonical Extended JSON of
 *               {options?, indexes, uuid?, collectionName, type?}
 *   0xffffffff
 *   blocks     {db, collection, EOF: false, CRC: int64 0}, raw documents,
 *               0xffffffff; a collection's documents may span several
 *               blocks, interleaved with other collections' blocks
 *   EOF blocks {db, collection, EOF: true, CRC: int64}, 0xffffffff once
 *               per namespace, CRC the CRC-64 (ECMA-182 as Go's
 *               hash/crc64.ECMA) of all its document bytes
 *
 * mongodump opens every namespace, views and empty collections too, with a
 * header and a terminator before its EOF block; the writer here does the
 * same, one namespace after the other.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef CAIRN_MONGO_DUMPARCHIVE_H
#define CAIRN_MONGO_DUMPARCHIVE_H

#include <cairn/plugin.h>

#include <bson/bson.h>
#include <stdint.h>

#define ARC_MAGIC 0x8199e26dU
#define ARC_TERMINATOR 0xffffffffU
#define ARC_FORMAT_VERSION "0.1"
/* mongorestore's limit for any document in an archive (db.MaxBSONSize) */
#define ARC_MAX_BSON (16 * 1024 * 1024)
#define ARC_MIN_BSON 5
/* Bytes gathered before out->write() and pulled per in->read(). */
#define ARC_IO_BUF (256 * 1024)

/* CRC-64 as Go's hash/crc64 with the ECMA table: reflected polynomial
 * 0xC96C5795D7870F42, initial value and final xor all ones. */
struct arc_crc {
	uint64_t table[256];
};
void arc_crc_init(struct arc_crc *c);
uint64_t arc_crc_update(const struct arc_crc *c, uint64_t crc, const void *data, size_t len);

/* ------------------------------------------------------------- writer */

struct arc_writer {
	struct cairn_out *out;
	uint8_t *buf;
	size_t len;
	struct arc_crc crc;
	uint64_t ns_crc;  /* of the namespace being written */
	uint64_t written; /* bytes handed on */
};

int arc_writer_init(struct arc_writer *w, struct cairn_out *out);
void arc_writer_free(struct arc_writer *w);
/* magic and header */
int arc_write_header(struct arc_writer *w, const char *server_version);
/* one prelude entry; metadata is the Extended JSON text */
int arc_write_meta(struct arc_writer *w, const char *db, const char *coll, const char *metadata,
                   const char *type);
int arc_write_terminator(struct arc_writer *w);
/* a namespace's first (only) block header */
int arc_begin_ns(struct arc_writer *w, const char *db, const char *coll);
/* one document, as the bytes the server sent */
int arc_write_doc(struct arc_writer *w, const uint8_t *doc, size_t len);
/* terminator, EOF block with the CRC, terminator */
int arc_end_ns(struct arc_writer *w, const char *db, const char *coll);
int arc_flush(struct arc_writer *w);

/* ------------------------------------------------------------- reader */

/* What arc_next() found. */
enum {
	ARC_END = 0,
	ARC_DOC = 1,
	ARC_TERM = 2
};

struct arc_reader {
	struct cairn_in *in;
	cairn_ctx *ctx; /* for set_error */
	uint8_t *buf;
	size_t cap, start, end;
	int eof;
	uint64_t offset; /* archive offset of buf[start] */
	uint64_t item;   /* archive offset of the last item returned */
};

int arc_reader_init(struct arc_reader *r, struct cairn_in *in, cairn_ctx *ctx);
void arc_reader_free(struct arc_reader *r);
/* Read the magic number: 0 or CAIRN_E_CORRUPT. */
int arc_read_magic(struct arc_reader *r);
/* The next document (ARC_DOC, *doc valid until the next call), a
 * terminator (ARC_TERM), the clean end of the stream between two items
 * (ARC_END), or a negative CAIRN_E_* code with the error set. */
int arc_next(struct arc_reader *r, const uint8_t **doc, uint32_t *len);

/* -------------------------------------------------- the parsed structure */

struct arc_header {
	int32_t concurrent;
	char *version;
	char *server_version;
	char *tool_version;
};

/* One prelude entry, and what reading the namespace's blocks found. */
struct arc_ns {
	char *db;
	char *coll;
	char *metadata;  /* Extended JSON text, maybe "" */
	char *type;      /* "collection", "view", "timeseries", "" */
	char *data_coll; /* where its documents are: coll, or system.buckets.coll */
	int state;       /* ARC_NS_* */
	uint64_t crc;
	int64_t docs;
	int64_t bytes;
	void *user;  /* the restore's own state */
	uint64_t at; /* archive offset of its prelude entry */
};
enum {
	ARC_NS_UNOPENED = 0,
	ARC_NS_OPEN,
	ARC_NS_CLOSED
};

struct arc_prelude {
	struct arc_header header;
	struct arc_ns *ns;
	size_t nns;
	size_t cap;            /* of ns */
	struct arc_ns **index; /* ns by (db, data_coll), for arc_walk's look-ups */
};

/* Parse a header document's fields; the text names what is wrong. */
int arc_parse_header(struct arc_reader *r, const uint8_t *doc, uint32_t len, struct arc_header *h);
/* magic, header and prelude up to and with its terminator */
int arc_read_prelude(struct arc_reader *r, struct arc_prelude *p);
void arc_prelude_free(struct arc_prelude *p);

/* What walking the blocks calls; any may be NULL.  A negative return stops
 * the walk with that code (the callback sets the error). */
struct arc_walk {
	int (*block)(void *u, struct arc_ns *ns);
	int (*doc)(void *u, struct arc_ns *ns, const uint8_t *doc, uint32_t len);
	int (*block_end)(void *u, struct arc_ns *ns);
	int (*eof)(void *u, struct arc_ns *ns);
	void *u;
	cairn_ctx *ctx; /* for host->cancelled */
};

/* Read every block after the prelude to the end of the stream, checking
 * the structure, each namespace's CRC, and that every prelude entry was
 * opened and closed exactly once.  validate: bson_validate every
 * document. */
int arc_walk(struct arc_reader *r, struct arc_prelude *p, const struct arc_walk *cb, int validate);

#endif
