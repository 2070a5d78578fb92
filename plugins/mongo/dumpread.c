/*
 * dumpread.c - reading the `mongodump --archive` format (dumparchive.h
 * has its layout): the reader, the prelude, and the walk over the blocks
 * that checks every namespace's structure and CRC.
 *
 * The reader keeps one buffer that grows to the largest document it meets
 * (at most ARC_MAX_BSON, as mongorestore's parser), so memory stays flat
 * however large the archive.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "dumparchive.h"
#include "mongo_internal.h"

static uint32_t
le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

/* ------------------------------------------------------------- reader */

int
arc_reader_init(struct arc_reader *r, struct cairn_in *in, cairn_ctx *ctx)
{
	memset(r, 0, sizeof(*r));
	r->in = in;
	r->ctx = ctx;
	r->cap = ARC_IO_BUF;
	r->buf = malloc(r->cap);
	return r->buf ? 0 : CAIRN_E_NOMEM;
}

void
arc_reader_free(struct arc_reader *r)
{
	free(r->buf);
	r->buf = NULL;
}

/* Have at least n bytes from buf[start] on; 1 when there are, 0 at the end
 * of the stream before that, or a CAIRN_E_* code. */
static int
arc_fill(struct arc_reader *r, size_t n)
{
	while (r->end - r->start < n) {
		ssize_t got;
		if (r->eof)
			return 0;
		if (r->start + n > r->cap) {
			/* move what is left to the front; grow only for a
			 * document larger than the buffer */
			memmove(r->buf, r->buf + r->start, r->end - r->start);
			r->end -= r->start;
			r->start = 0;
			if (n > r->cap) {
				uint8_t *nb = realloc(r->buf, n);
				if (!nb) {
					mongo_host->set_error(
					        r->ctx, "out of memory for a %zu-byte document", n);
					return CAIRN_E_NOMEM;
				}
				r->buf = nb;
				r->cap = n;
			}
		}
		got = r->in->read(r->in, r->buf + r->end, r->cap - r->end);
		if (got < 0)
			return (int)got; /* the core has the detail */
		if (got == 0)
			r->eof = 1;
		r->end += (size_t)got;
	}
	return 1;
}

static void
arc_consume(struct arc_reader *r, size_t n)
{
	r->start += n;
	r->offset += n;
}

int
arc_read_magic(struct arc_reader *r)
{
	int rc = arc_fill(r, 4);
	if (rc < 0)
		return rc;
	if (rc == 0 || le32(r->buf + r->start) != ARC_MAGIC) {
		mongo_host->set_error(
		        r->ctx,
		        "the stored object is not a mongodump archive (no magic number 0x8199e26d at its start)");
		return CAIRN_E_CORRUPT;
	}
	arc_consume(r, 4);
	return 0;
}

int
arc_next(struct arc_reader *r, const uint8_t **doc, uint32_t *len)
{
	uint32_t size;
	int rc = arc_fill(r, 4);
	if (rc < 0)
		return rc;
	r->item = r->offset;
	if (rc == 0) {
		if (r->end > r->start) {
			mongo_host->set_error(
			        r->ctx,
			        "archive offset %llu: cut short inside a length or terminator",
			        (unsigned long long)r->offset);
			return CAIRN_E_CORRUPT;
		}
		return ARC_END;
	}
	size = le32(r->buf + r->start);
	if (size == ARC_TERMINATOR) {
		arc_consume(r, 4);
		return ARC_TERM;
	}
	if (size < ARC_MIN_BSON || size > ARC_MAX_BSON) {
		mongo_host->set_error(
		        r->ctx,
		        "archive offset %llu: %lu is neither a BSON document length nor a terminator",
		        (unsigned long long)r->offset, (unsigned long)size);
		return CAIRN_E_CORRUPT;
	}
	rc = arc_fill(r, size);
	if (rc < 0)
		return rc;
	if (rc == 0) {
		mongo_host->set_error(
		        r->ctx,
		        "archive offset %llu: a %lu-byte document is cut short by the end of the archive",
		        (unsigned long long)r->offset, (unsigned long)size);
		return CAIRN_E_CORRUPT;
	}
	if (r->buf[r->start + size - 1] != 0) {
		mongo_host->set_error(
		        r->ctx,
		        "archive offset %llu: the %lu-byte document does not end with a null byte",
		        (unsigned long long)r->offset, (unsigned long)size);
		return CAIRN_E_CORRUPT;
	}
	*doc = r->buf + r->start;
	*len = size;
	arc_consume(r, size);
	return ARC_DOC;
}

/* ------------------------------------------------------------ parsing */

static int
arc_bad(struct arc_reader *r, const char *what, const char *detail)
{
	mongo_host->set_error(r->ctx, "archive offset %llu: %s: %s", (unsigned long long)r->item,
	                      what, detail);
	return CAIRN_E_CORRUPT;
}

/* The document as a bson_t, checked to be well formed. */
static int
arc_doc(struct arc_reader *r, const char *what, const uint8_t *doc, uint32_t len, bson_t *b)
{
	size_t off = 0;
	if (!bson_init_static(b, doc, len) || !bson_validate(b, BSON_VALIDATE_NONE, &off))
		return arc_bad(r, what, "not a well-formed BSON document");
	return 0;
}

static int
arc_dup_utf8(const bson_iter_t *it, char **out)
{
	uint32_t n;
	const char *s = bson_iter_utf8(it, &n);
	if (strlen(s) != n)
		return -1; /* an embedded NUL: no usable name */
	free(*out);
	*out = strdup(s);
	return *out ? 0 : CAIRN_E_NOMEM;
}

int
arc_parse_header(struct arc_reader *r, const uint8_t *doc, uint32_t len, struct arc_header *h)
{
	bson_iter_t it;
	bson_t b;
	int rc = arc_doc(r, "archive header", doc, len, &b);
	if (rc < 0)
		return rc;
	bson_iter_init(&it, &b);
	while (bson_iter_next(&it)) {
		const char *k = bson_iter_key(&it);
		char **dst = NULL;
		if (!strcmp(k, "concurrent_collections")) {
			if (!BSON_ITER_HOLDS_INT32(&it))
				return arc_bad(r, "archive header",
				               "concurrent_collections is not an int32");
			h->concurrent = bson_iter_int32(&it);
			continue;
		}
		if (!strcmp(k, "version"))
			dst = &h->version;
		else if (!strcmp(k, "server_version"))
			dst = &h->server_version;
		else if (!strcmp(k, "tool_version"))
			dst = &h->tool_version;
		else
			continue; /* as Go's decoder: unknown fields pass */
		if (!BSON_ITER_HOLDS_UTF8(&it) || (rc = arc_dup_utf8(&it, dst)) == -1)
			return arc_bad(r, "archive header", "a version field is not a string");
		if (rc < 0)
			return rc;
	}
	if (!h->version || strcmp(h->version, ARC_FORMAT_VERSION) != 0)
		return arc_bad(r, "archive header", "format version is not \"0.1\"");
	return 0;
}

/* Does server version text say 8.3 or newer (timeseries data stored under
 * the collection's own name)? */
static int
arc_viewless_timeseries(const char *v)
{
	int major = 0, minor = 0;
	if (!v || sscanf(v, "%d.%d", &major, &minor) != 2)
		return 0;
	return major > 8 || (major == 8 && minor >= 3);
}

static int
arc_parse_meta(struct arc_reader *r, struct arc_prelude *p, const uint8_t *doc, uint32_t len)
{
	struct arc_ns *ns, *grown;
	bson_iter_t it;
	bson_t b;
	int rc = arc_doc(r, "prelude entry", doc, len, &b);
	if (rc < 0)
		return rc;
	if (p->nns == p->cap) {
		size_t cap = p->cap ? p->cap * 2 : 16;
		grown = realloc(p->ns, cap * sizeof(*p->ns));
		if (!grown)
			return CAIRN_E_NOMEM;
		p->ns = grown;
		p->cap = cap;
	}
	ns = &p->ns[p->nns++];
	memset(ns, 0, sizeof(*ns));
	ns->at = r->item;
	bson_iter_init(&it, &b);
	while (bson_iter_next(&it)) {
		const char *k = bson_iter_key(&it);
		char **dst = NULL;
		if (!strcmp(k, "db"))
			dst = &ns->db;
		else if (!strcmp(k, "collection"))
			dst = &ns->coll;
		else if (!strcmp(k, "metadata"))
			dst = &ns->metadata;
		else if (!strcmp(k, "type"))
			dst = &ns->type;
		else if (!strcmp(k, "size")) {
			if (!BSON_ITER_HOLDS_INT32(&it) && !BSON_ITER_HOLDS_INT64(&it))
				return arc_bad(r, "prelude entry", "size is not an integer");
			continue;
		} else
			continue;
		if (!BSON_ITER_HOLDS_UTF8(&it) || (rc = arc_dup_utf8(&it, dst)) == -1)
			return arc_bad(r, "prelude entry",
			               "db, collection, metadata and type must be strings");
		if (rc < 0)
			return rc;
	}
	if (!ns->db || !ns->coll || !*ns->coll)
		return arc_bad(r, "prelude entry", "db or collection is missing");
	if (!ns->metadata && !(ns->metadata = strdup("")))
		return CAIRN_E_NOMEM;
	if (!ns->type && !(ns->type = strdup("")))
		return CAIRN_E_NOMEM;
	if (!strcmp(ns->type, "timeseries") && !arc_viewless_timeseries(p->header.server_version)) {
		if (asprintf(&ns->data_coll, "system.buckets.%s", ns->coll) < 0)
			ns->data_coll = NULL;
	} else
		ns->data_coll = strdup(ns->coll);
	if (!ns->data_coll)
		return CAIRN_E_NOMEM;
	return 0;
}

/* Namespaces in the order of (db, data_coll). */
static int
arc_ns_cmp(const void *a, const void *b)
{
	const struct arc_ns *x = *(const struct arc_ns *const *)a;
	const struct arc_ns *y = *(const struct arc_ns *const *)b;
	int c = strcmp(x->db, y->db);
	return c ? c : strcmp(x->data_coll, y->data_coll);
}

/* Two prelude entries name one namespace: say so at the later one. */
static int
arc_twice(struct arc_reader *r, const struct arc_ns *a, const struct arc_ns *b)
{
	unsigned long long at = a->at > b->at ? a->at : b->at;
	mongo_host->set_error(r->ctx,
	                      "archive offset %llu: namespace %s.%s is in the prelude twice", at,
	                      b->db, b->data_coll);
	return CAIRN_E_CORRUPT;
}

/* Sort the prelude's entries into p->index and refuse a namespace named
 * twice: n log n, where comparing each entry with the earlier ones was
 * quadratic in a hostile archive's thousands of namespaces. */
static int
arc_index(struct arc_reader *r, struct arc_prelude *p)
{
	free(p->index);
	p->index = malloc((p->nns ? p->nns : 1) * sizeof(*p->index));
	if (!p->index)
		return CAIRN_E_NOMEM;
	for (size_t k = 0; k < p->nns; k++)
		p->index[k] = &p->ns[k];
	qsort(p->index, p->nns, sizeof(*p->index), arc_ns_cmp);
	for (size_t k = 1; k < p->nns; k++)
		if (arc_ns_cmp(&p->index[k - 1], &p->index[k]) == 0)
			return arc_twice(r, p->index[k - 1], p->index[k]);
	return 0;
}

int
arc_read_prelude(struct arc_reader *r, struct arc_prelude *p)
{
	const uint8_t *doc;
	uint32_t len;
	int rc = arc_read_magic(r);
	if (rc < 0)
		return rc;
	rc = arc_next(r, &doc, &len);
	if (rc < 0)
		return rc;
	if (rc != ARC_DOC)
		return arc_bad(r, "archive header", "missing");
	rc = arc_parse_header(r, doc, len, &p->header);
	if (rc < 0)
		return rc;
	for (;;) {
		rc = arc_next(r, &doc, &len);
		if (rc < 0)
			return rc;
		if (rc == ARC_TERM)
			return arc_index(r, p);
		if (rc == ARC_END)
			return arc_bad(r, "prelude", "the archive ends before its terminator");
		rc = arc_parse_meta(r, p, doc, len);
		if (rc < 0)
			return rc;
	}
}

void
arc_prelude_free(struct arc_prelude *p)
{
	for (size_t k = 0; k < p->nns; k++) {
		free(p->ns[k].db);
		free(p->ns[k].coll);
		free(p->ns[k].metadata);
		free(p->ns[k].type);
		free(p->ns[k].data_coll);
	}
	free(p->ns);
	free(p->index);
	free(p->header.version);
	free(p->header.server_version);
	free(p->header.tool_version);
	memset(p, 0, sizeof(*p));
}

/* A namespace header: {db, collection, EOF, CRC}, nothing else (Go's
 * NamespaceHeader.UnmarshalBSON refuses unknown fields too). */
static int
arc_parse_ns_header(struct arc_reader *r, const uint8_t *doc, uint32_t len, const char **db,
                    const char **coll, int *eof, uint64_t *crc)
{
	bson_iter_t it;
	bson_t b;
	int rc = arc_doc(r, "namespace header", doc, len, &b);
	if (rc < 0)
		return rc;
	*db = *coll = NULL;
	*eof = 0;
	*crc = 0;
	bson_iter_init(&it, &b);
	while (bson_iter_next(&it)) {
		const char *k = bson_iter_key(&it);
		uint32_t n;
		if (!strcmp(k, "db") || !strcmp(k, "collection")) {
			const char *s;
			if (!BSON_ITER_HOLDS_UTF8(&it))
				return arc_bad(r, "namespace header",
				               "db or collection is not a string");
			s = bson_iter_utf8(&it, &n);
			if (strlen(s) != n)
				return arc_bad(r, "namespace header", "a name holds a NUL");
			if (k[0] == 'd')
				*db = s;
			else
				*coll = s;
		} else if (!strcmp(k, "EOF")) {
			if (!BSON_ITER_HOLDS_BOOL(&it))
				return arc_bad(r, "namespace header", "EOF is not a boolean");
			*eof = bson_iter_bool(&it);
		} else if (!strcmp(k, "CRC")) {
			if (!BSON_ITER_HOLDS_INT64(&it))
				return arc_bad(r, "namespace header", "CRC is not an int64");
			*crc = (uint64_t)bson_iter_int64(&it);
		} else
			return arc_bad(r, "namespace header", "it has an unknown field");
	}
	if (!*coll || !**coll)
		return arc_bad(r, "namespace header", "the collection is missing");
	if (!*db)
		*db = "";
	return 0;
}

/* The prelude's entry for a block, by binary search in arc_index's order. */
static struct arc_ns *
arc_find(struct arc_prelude *p, const char *db, const char *coll)
{
	struct arc_ns key = {.db = (char *)db, .data_coll = (char *)coll};
	const struct arc_ns *kp = &key;
	struct arc_ns **hit;
	if (!p->index)
		return NULL; /* arc_read_prelude did not finish */
	hit = bsearch(&kp, p->index, p->nns, sizeof(*p->index), arc_ns_cmp);
	return hit ? *hit : NULL;
}

/* A block's namespace header: its prelude entry, opened, and whether it
 * is the EOF block (*eof, with the stored CRC in *want). */
static int
arc_walk_header(struct arc_reader *r, struct arc_prelude *p, const uint8_t *doc, uint32_t len,
                struct arc_ns **nsp, int *eof, uint64_t *want)
{
	const char *db, *coll;
	struct arc_ns *ns;
	int rc = arc_parse_ns_header(r, doc, len, &db, &coll, eof, want);

	if (rc < 0)
		return rc;
	ns = arc_find(p, db, coll);
	if (!ns) {
		mongo_host->set_error(
		        r->ctx,
		        "archive offset %llu: namespace %s.%s has no entry in the archive's prelude",
		        (unsigned long long)r->item, db, coll);
		return CAIRN_E_CORRUPT;
	}
	if (ns->state == ARC_NS_CLOSED) {
		mongo_host->set_error(
		        r->ctx,
		        "archive offset %llu: namespace %s.%s appears again after its EOF block",
		        (unsigned long long)r->item, db, coll);
		return CAIRN_E_CORRUPT;
	}
	ns->state = ARC_NS_OPEN;
	*nsp = ns;
	return 0;
}

/* An EOF block: the CRC of every document read for ns must be the stored
 * one, and a terminator must follow its header. */
static int
arc_walk_eof(struct arc_reader *r, struct arc_ns *ns, uint64_t want)
{
	const uint8_t *doc;
	uint32_t len;
	int rc;

	if (want != ns->crc) {
		mongo_host->set_error(
		        r->ctx,
		        "archive offset %llu: namespace %s.%s: CRC mismatch (computed %llu, stored %llu): the documents are damaged",
		        (unsigned long long)r->item, ns->db, ns->data_coll,
		        (unsigned long long)ns->crc, (unsigned long long)want);
		return CAIRN_E_CORRUPT;
	}
	ns->state = ARC_NS_CLOSED;
	/* an EOF block holds no documents */
	rc = arc_next(r, &doc, &len);
	if (rc < 0)
		return rc;
	if (rc != ARC_TERM) {
		mongo_host->set_error(
		        r->ctx, "archive offset %llu: namespace %s.%s: %s after its EOF header",
		        (unsigned long long)r->item, ns->db, ns->coll,
		        rc == ARC_END ? "the archive ends" : "a document");
		return CAIRN_E_CORRUPT;
	}
	return 0;
}

/* The documents of one block of ns, up to its terminator: each into the
 * namespace's CRC and counts, and to cb->doc.  *n counts the documents of
 * the whole walk, for the look at host->cancelled every 4,096. */
static int
arc_walk_docs(struct arc_reader *r, struct arc_ns *ns, const struct arc_walk *cb,
              const struct arc_crc *crc, int validate, uint64_t *n)
{
	const uint8_t *doc;
	uint32_t len;
	int rc;

	for (;;) {
		rc = arc_next(r, &doc, &len);
		if (rc < 0)
			return rc;
		if (rc == ARC_TERM)
			return 0;
		if (rc == ARC_END) {
			mongo_host->set_error(
			        r->ctx,
			        "namespace %s.%s: the archive ends inside one of its blocks",
			        ns->db, ns->coll);
			return CAIRN_E_CORRUPT;
		}
		if (validate) {
			bson_t b;
			size_t off = 0;
			if (!bson_init_static(&b, doc, len) ||
			    !bson_validate(&b, BSON_VALIDATE_NONE, &off)) {
				mongo_host->set_error(
				        r->ctx,
				        "archive offset %llu: namespace %s.%s: document %lld is not well-formed BSON (at byte %zu of it)",
				        (unsigned long long)r->item, ns->db, ns->coll,
				        (long long)ns->docs + 1, off);
				return CAIRN_E_CORRUPT;
			}
		}
		ns->crc = arc_crc_update(crc, ns->crc, doc, len);
		ns->docs++;
		ns->bytes += len;
		if (cb->doc && (rc = cb->doc(cb->u, ns, doc, len)) < 0)
			return rc;
		if (++*n % 4096 == 0 && cb->ctx && mongo_host->cancelled(cb->ctx))
			return CAIRN_E_CANCELLED;
	}
}

int
arc_walk(struct arc_reader *r, struct arc_prelude *p, const struct arc_walk *cb, int validate)
{
	struct arc_crc crc;
	const uint8_t *doc;
	uint32_t len;
	uint64_t n = 0;
	int rc;

	arc_crc_init(&crc);
	for (;;) {
		struct arc_ns *ns = NULL;
		uint64_t want;
		int eof;

		rc = arc_next(r, &doc, &len);
		if (rc < 0)
			return rc;
		if (rc == ARC_END)
			break;
		if (rc == ARC_TERM)
			return arc_bad(
			        r, "block",
			        "two terminators in a row (a block without a namespace header)");
		if ((rc = arc_walk_header(r, p, doc, len, &ns, &eof, &want)) < 0)
			return rc;
		if (eof) {
			if ((rc = arc_walk_eof(r, ns, want)) < 0 ||
			    (cb->eof && (rc = cb->eof(cb->u, ns)) < 0))
				return rc;
			continue;
		}
		if ((cb->block && (rc = cb->block(cb->u, ns)) < 0) ||
		    (rc = arc_walk_docs(r, ns, cb, &crc, validate, &n)) < 0 ||
		    (cb->block_end && (rc = cb->block_end(cb->u, ns)) < 0))
			return rc;
	}
	for (size_t k = 0; k < p->nns; k++)
		if (p->ns[k].state != ARC_NS_CLOSED) {
			mongo_host->set_error(
			        r->ctx,
			        "namespace %s.%s: the archive ends before its EOF block (cut short?)",
			        p->ns[k].db, p->ns[k].coll);
			return CAIRN_E_CORRUPT;
		}
	return 0;
}
