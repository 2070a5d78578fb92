/*
 * dumpwrite.c - writing the `mongodump --archive` format (dumparchive.h
 * has its layout), and the CRC-64 both directions use.
 *
 * The writer gathers small pieces into one buffer and hands them on in
 * ARC_IO_BUF blocks; a document larger than what is left goes out on its
 * own, untouched.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "dumparchive.h"
#include "mongo_internal.h"

/* ---------------------------------------------------------------- CRC */

void
arc_crc_init(struct arc_crc *c)
{
	const uint64_t poly = 0xC96C5795D7870F42ULL;
	for (unsigned i = 0; i < 256; i++) {
		uint64_t crc = i;
		for (int k = 0; k < 8; k++)
			crc = (crc & 1) ? (crc >> 1) ^ poly : crc >> 1;
		c->table[i] = crc;
	}
}

uint64_t
arc_crc_update(const struct arc_crc *c, uint64_t crc, const void *data, size_t len)
{
	const uint8_t *p = data;
	crc = ~crc;
	while (len--)
		crc = c->table[(uint8_t)crc ^ *p++] ^ (crc >> 8);
	return ~crc;
}

/* ------------------------------------------------------------- writer */

int
arc_writer_init(struct arc_writer *w, struct cairn_out *out)
{
	memset(w, 0, sizeof(*w));
	w->out = out;
	w->buf = malloc(ARC_IO_BUF);
	if (!w->buf)
		return CAIRN_E_NOMEM;
	arc_crc_init(&w->crc);
	return 0;
}

void
arc_writer_free(struct arc_writer *w)
{
	free(w->buf);
	w->buf = NULL;
}

int
arc_flush(struct arc_writer *w)
{
	int rc;
	if (w->len == 0)
		return 0;
	rc = w->out->write(w->out, w->buf, w->len);
	if (rc < 0)
		return rc;
	w->written += w->len;
	w->len = 0;
	return 0;
}

static int
arc_put(struct arc_writer *w, const void *data, size_t len)
{
	int rc;
	if (w->len + len > ARC_IO_BUF) {
		rc = arc_flush(w);
		if (rc < 0)
			return rc;
	}
	if (len >= ARC_IO_BUF) {
		/* a large document: hand it on as it is, without a copy */
		rc = w->out->write(w->out, data, len);
		if (rc < 0)
			return rc;
		w->written += len;
		return 0;
	}
	memcpy(w->buf + w->len, data, len);
	w->len += len;
	return 0;
}

static int
arc_put_bson(struct arc_writer *w, const bson_t *b)
{
	return arc_put(w, bson_get_data(b), b->len);
}

int
arc_write_terminator(struct arc_writer *w)
{
	static const uint8_t term[4] = {0xff, 0xff, 0xff, 0xff};
	return arc_put(w, term, sizeof(term));
}

int
arc_write_header(struct arc_writer *w, const char *server_version)
{
	const uint8_t magic[4] = {ARC_MAGIC & 0xff, (ARC_MAGIC >> 8) & 0xff,
	                          (ARC_MAGIC >> 16) & 0xff, ARC_MAGIC >> 24};
	bson_t h = BSON_INITIALIZER;
	int rc = arc_put(w, magic, sizeof(magic));
	if (rc < 0)
		return rc;
	/* One collection at a time: the blocks are never interleaved.
	 * mongorestore takes the larger of this and its own
	 * --numParallelCollections, so this costs its restore nothing. */
	BSON_APPEND_INT32(&h, "concurrent_collections", 1);
	BSON_APPEND_UTF8(&h, "version", ARC_FORMAT_VERSION);
	BSON_APPEND_UTF8(&h, "server_version", server_version);
	BSON_APPEND_UTF8(&h, "tool_version", MONGO_TOOL_VERSION);
	rc = arc_put_bson(w, &h);
	bson_destroy(&h);
	return rc;
}

int
arc_write_meta(struct arc_writer *w, const char *db, const char *coll, const char *metadata,
               const char *type)
{
	bson_t m = BSON_INITIALIZER;
	int rc;
	BSON_APPEND_UTF8(&m, "db", db);
	BSON_APPEND_UTF8(&m, "collection", coll);
	BSON_APPEND_UTF8(&m, "metadata", metadata);
	/* mongodump never fills `size` in (prelude.go's NewPrelude) and Go
	 * writes its int as int32: 0. */
	BSON_APPEND_INT32(&m, "size", 0);
	BSON_APPEND_UTF8(&m, "type", type);
	rc = arc_put_bson(w, &m);
	bson_destroy(&m);
	return rc;
}

static int
arc_ns_header(struct arc_writer *w, const char *db, const char *coll, int eof, uint64_t crc)
{
	bson_t h = BSON_INITIALIZER;
	int rc;
	BSON_APPEND_UTF8(&h, "db", db);
	BSON_APPEND_UTF8(&h, "collection", coll);
	BSON_APPEND_BOOL(&h, "EOF", eof);
	/* The CRC is a uint64 that Go stores bit for bit as an int64. */
	BSON_APPEND_INT64(&h, "CRC", (int64_t)crc);
	rc = arc_put_bson(w, &h);
	bson_destroy(&h);
	return rc;
}

int
arc_begin_ns(struct arc_writer *w, const char *db, const char *coll)
{
	w->ns_crc = 0;
	return arc_ns_header(w, db, coll, 0, 0);
}

int
arc_write_doc(struct arc_writer *w, const uint8_t *doc, size_t len)
{
	w->ns_crc = arc_crc_update(&w->crc, w->ns_crc, doc, len);
	return arc_put(w, doc, len);
}

int
arc_end_ns(struct arc_writer *w, const char *db, const char *coll)
{
	int rc = arc_write_terminator(w);
	if (rc == 0)
		rc = arc_ns_header(w, db, coll, 1, w->ns_crc);
	if (rc == 0)
		rc = arc_write_terminator(w);
	return rc;
}
