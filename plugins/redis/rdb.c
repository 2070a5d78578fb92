/*
 * rdb.c - a streaming walker of Redis's RDB format.
 *
 * The walker reads the file as Redis's loader does, but keeps nothing: it
 * decodes the lengths that say how the bytes are laid out and skips the
 * payloads (strings, listpacks, LZF blobs) through the caller's buffer, so
 * a 100 MB value costs no more memory than a 10-byte one.  It counts keys
 * per database, notes a few aux fields, and checks the CRC-64 trailer.
 * It reads only through fill(): no server, no sink, no messages of its own.
 *
 * The layout (as written by Redis 2.6 to 7.4, RDB versions 1 to 12):
 *   "REDIS" + 4 ASCII digits of version
 *   { opcode ... | type key value }
 *   0xff EOF, then (version >= 5) the CRC-64 of everything before it, LE
 * A length is 1, 2, 5 or 9 bytes (the two top bits of the first byte say
 * which); "encoded" lengths (top bits 11) mark integer or LZF strings.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "rdb.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Opcodes and value types, numbered as in Redis's rdb.h. */
#define OP_SLOT_INFO 244
#define OP_FUNCTION2 245
#define OP_FUNCTION_PRE_GA 246
#define OP_MODULE_AUX 247
#define OP_IDLE 248
#define OP_FREQ 249
#define OP_AUX 250
#define OP_RESIZEDB 251
#define OP_EXPIRETIME_MS 252
#define OP_EXPIRETIME 253
#define OP_SELECTDB 254
#define OP_EOF 255

#define T_STRING 0
#define T_LIST 1
#define T_SET 2
#define T_ZSET 3
#define T_HASH 4
#define T_ZSET_2 5
#define T_MODULE_PRE_GA 6
#define T_MODULE_2 7
#define T_HASH_ZIPMAP 9
#define T_LIST_ZIPLIST 10
#define T_SET_INTSET 11
#define T_ZSET_ZIPLIST 12
#define T_HASH_ZIPLIST 13
#define T_LIST_QUICKLIST 14
#define T_STREAM_LISTPACKS 15
#define T_HASH_LISTPACK 16
#define T_ZSET_LISTPACK 17
#define T_LIST_QUICKLIST_2 18
#define T_STREAM_LISTPACKS_2 19
#define T_SET_LISTPACK 20
#define T_STREAM_LISTPACKS_3 21
#define T_HASH_METADATA_PRE_GA 22
#define T_HASH_LISTPACK_EX_PRE_GA 23
#define T_HASH_METADATA 24
#define T_HASH_LISTPACK_EX 25

/* Module value opcodes (RDB_MODULE_OPCODE_*). */
#define MOD_EOF 0
#define MOD_SINT 1
#define MOD_UINT 2
#define MOD_FLOAT 3
#define MOD_DOUBLE 4
#define MOD_STRING 5

/* Length encodings. */
#define LEN_ENCVAL 3
#define LEN_32BIT 0x80
#define LEN_64BIT 0x81
#define ENC_INT8 0
#define ENC_INT16 1
#define ENC_INT32 2
#define ENC_LZF 3

/* Quicklist node containers (RDB_TYPE_LIST_QUICKLIST_2). */
#define QL_PLAIN 1
#define QL_PACKED 2

/* The reflected form of the Jones polynomial 0xad93d23594c935a9. */
#define CRC64_POLY_REFLECTED 0x95ac9329ac4bc9b5ULL

/* -------------------------------------------------------------- CRC-64 */

void
rdb_crc_init(struct rdb_crc *c)
{
	for (unsigned i = 0; i < 256; i++) {
		uint64_t v = i;
		for (int b = 0; b < 8; b++)
			v = (v & 1) ? (v >> 1) ^ CRC64_POLY_REFLECTED : v >> 1;
		c->t[0][i] = v;
	}
	for (unsigned i = 0; i < 256; i++)
		for (int k = 1; k < 8; k++)
			c->t[k][i] = c->t[0][c->t[k - 1][i] & 0xff] ^ (c->t[k - 1][i] >> 8);
}

uint64_t
rdb_crc64(const struct rdb_crc *c, uint64_t crc, const void *buf, size_t len)
{
	const unsigned char *p = buf;

	while (len >= 8) {
		/* The bytes as a little-endian word, whatever the host's order. */
		uint64_t w = (uint64_t)p[0] | (uint64_t)p[1] << 8 | (uint64_t)p[2] << 16 |
		             (uint64_t)p[3] << 24 | (uint64_t)p[4] << 32 | (uint64_t)p[5] << 40 |
		             (uint64_t)p[6] << 48 | (uint64_t)p[7] << 56;
		crc ^= w;
		crc = c->t[7][crc & 0xff] ^ c->t[6][(crc >> 8) & 0xff] ^
		      c->t[5][(crc >> 16) & 0xff] ^ c->t[4][(crc >> 24) & 0xff] ^
		      c->t[3][(crc >> 32) & 0xff] ^ c->t[2][(crc >> 40) & 0xff] ^
		      c->t[1][(crc >> 48) & 0xff] ^ c->t[0][crc >> 56];
		p += 8;
		len -= 8;
	}
	while (len-- > 0)
		crc = c->t[0][(crc ^ *p++) & 0xff] ^ (crc >> 8);
	return crc;
}

/* ------------------------------------------------------------- reading */

static int rdb_fail(struct rdb_walk *w, int rc, const char *fmt, ...) CAIRN_PRINTF(3, 4);

static int
rdb_fail(struct rdb_walk *w, int rc, const char *fmt, ...)
{
	va_list ap;
	int n;
	if (w->err[0] != '\0')
		return rc; /* the first, innermost reason stays */
	n = snprintf(w->err, sizeof(w->err), "at byte %" PRIu64 ": ", rdb_walk_offset(w));
	if (n < 0 || (size_t)n >= sizeof(w->err))
		n = 0;
	va_start(ap, fmt);
	vsnprintf(w->err + n, sizeof(w->err) - (size_t)n, fmt, ap);
	va_end(ap);
	return rc;
}

/* Everything in buf is consumed: fold it into the CRC and ask for more.
 * 0 when there is more, else a negative code. */
static int
rdb_refill(struct rdb_walk *w)
{
	int rc;

	w->crc = rdb_crc64(&w->tab, w->crc, w->buf + w->crc_from, w->pos - w->crc_from);
	w->base += w->len;
	w->crc_from = 0;
	rc = w->fill(w);
	if (rc < 0)
		return rc;
	w->crc_from = 0;
	if (rc == 0 || w->len == 0 || w->pos >= w->len) {
		w->pos = w->len = 0;
		return rdb_fail(w, CAIRN_E_CORRUPT, "the file ends inside the RDB (cut short)");
	}
	return 0;
}

static int
rdb_take(struct rdb_walk *w, void *dst, size_t n)
{
	unsigned char *d = dst;
	while (n > 0) {
		size_t k;
		int rc;
		if (w->pos == w->len && (rc = rdb_refill(w)) < 0)
			return rc;
		k = w->len - w->pos;
		if (k > n)
			k = n;
		memcpy(d, w->buf + w->pos, k);
		w->pos += k;
		d += k;
		n -= k;
	}
	return 0;
}

static int
rdb_skip(struct rdb_walk *w, uint64_t n)
{
	while (n > 0) {
		size_t k;
		int rc;
		if (w->pos == w->len && (rc = rdb_refill(w)) < 0)
			return rc;
		k = w->len - w->pos;
		if (k > n)
			k = (size_t)n;
		w->pos += k;
		n -= k;
	}
	return 0;
}

static int
rdb_byte(struct rdb_walk *w, unsigned *out)
{
	unsigned char b = 0;
	int rc = rdb_take(w, &b, 1);
	*out = b;
	return rc;
}

/* A length; *enc is -1 for a plain one, else the string encoding of an
 * "encoded" one (when enc is NULL, an encoded length is damage). */
static int
rdb_len(struct rdb_walk *w, uint64_t *out, int *enc)
{
	unsigned b, type;
	unsigned char x[8];
	int rc;

	*out = 0; /* also on failure: rdb_fail() is opaque to the analyzer */
	if (enc != NULL)
		*enc = -1;
	if ((rc = rdb_byte(w, &b)) < 0)
		return rc;
	type = b >> 6;
	if (type == 0) {
		*out = b & 0x3f;
	} else if (type == 1) {
		unsigned b2;
		if ((rc = rdb_byte(w, &b2)) < 0)
			return rc;
		*out = ((uint64_t)(b & 0x3f) << 8) | b2;
	} else if (b == LEN_32BIT) {
		if ((rc = rdb_take(w, x, 4)) < 0)
			return rc;
		*out = (uint64_t)x[0] << 24 | (uint64_t)x[1] << 16 | (uint64_t)x[2] << 8 | x[3];
	} else if (b == LEN_64BIT) {
		if ((rc = rdb_take(w, x, 8)) < 0)
			return rc;
		*out = 0;
		for (int i = 0; i < 8; i++)
			*out = (*out << 8) | x[i];
	} else if (type == LEN_ENCVAL && enc != NULL) {
		*enc = (int)(b & 0x3f);
		*out = 0;
	} else {
		return rdb_fail(w, CAIRN_E_CORRUPT, "length byte 0x%02x is not valid here", b);
	}
	return 0;
}

static int
rdb_plain_len(struct rdb_walk *w, uint64_t *out)
{
	return rdb_len(w, out, NULL);
}

/*
 * A string.  When keep is non-NULL, up to keepsize-1 bytes of it are kept
 * there NUL-terminated (integers as decimal text; LZF strings are skipped
 * and kept as ""); the rest is skipped.
 */
static int
rdb_string(struct rdb_walk *w, char *keep, size_t keepsize)
{
	uint64_t len;
	int enc, rc;

	if (keep != NULL)
		keep[0] = '\0';
	if ((rc = rdb_len(w, &len, &enc)) < 0)
		return rc;
	if (enc < 0) {
		size_t k = 0;
		if (keep != NULL) {
			k = len < keepsize - 1 ? (size_t)len : keepsize - 1;
			if ((rc = rdb_take(w, keep, k)) < 0)
				return rc;
			keep[k] = '\0';
		}
		return rdb_skip(w, len - k);
	}
	if (enc == ENC_INT8 || enc == ENC_INT16 || enc == ENC_INT32) {
		unsigned char x[4];
		size_t n = enc == ENC_INT8 ? 1 : enc == ENC_INT16 ? 2 : 4;
		if ((rc = rdb_take(w, x, n)) < 0)
			return rc;
		if (keep != NULL) {
			int64_t v;
			if (n == 1)
				v = (int8_t)x[0];
			else if (n == 2)
				v = (int16_t)(uint16_t)(x[0] | x[1] << 8);
			else
				v = (int32_t)((uint32_t)x[0] | (uint32_t)x[1] << 8 |
				              (uint32_t)x[2] << 16 | (uint32_t)x[3] << 24);
			snprintf(keep, keepsize, "%" PRId64, v);
		}
		return 0;
	}
	if (enc == ENC_LZF) {
		uint64_t clen, ulen;
		if ((rc = rdb_plain_len(w, &clen)) < 0 || (rc = rdb_plain_len(w, &ulen)) < 0)
			return rc;
		if (clen == 0 || ulen == 0)
			return rdb_fail(w, CAIRN_E_CORRUPT, "an LZF string of length 0");
		return rdb_skip(w, clen);
	}
	return rdb_fail(w, CAIRN_E_CORRUPT, "string encoding %d unknown", enc);
}

static int
rdb_skip_string(struct rdb_walk *w)
{
	return rdb_string(w, NULL, 0);
}

/* n strings in a row; n comes from the file, so nothing is allocated by it. */
static int
rdb_skip_strings(struct rdb_walk *w, uint64_t n)
{
	int rc;
	for (uint64_t i = 0; i < n; i++)
		if ((rc = rdb_skip_string(w)) < 0)
			return rc;
	return 0;
}

/* A double in the old ZSET format: a length byte, 253-255 for nan/inf. */
static int
rdb_skip_ascii_double(struct rdb_walk *w)
{
	unsigned b;
	int rc = rdb_byte(w, &b);
	if (rc < 0)
		return rc;
	if (b >= 253)
		return 0;
	return rdb_skip(w, b);
}

/* A module value: opcodes up to MOD_EOF (modules built for RDB 8+). */
static int
rdb_skip_module_ops(struct rdb_walk *w)
{
	for (;;) {
		uint64_t op, v;
		int rc = rdb_plain_len(w, &op);
		if (rc < 0)
			return rc;
		switch (op) {
		case MOD_EOF: return 0;
		case MOD_SINT:
		case MOD_UINT: rc = rdb_plain_len(w, &v); break;
		case MOD_FLOAT: rc = rdb_skip(w, 4); break;
		case MOD_DOUBLE: rc = rdb_skip(w, 8); break;
		case MOD_STRING: rc = rdb_skip_string(w); break;
		default:
			return rdb_fail(w, CAIRN_E_CORRUPT,
			                "module value opcode %" PRIu64 " unknown", op);
		}
		if (rc < 0)
			return rc;
	}
}

static int
rdb_skip_stream(struct rdb_walk *w, unsigned type)
{
	uint64_t n, v, groups;
	int rc;

	/* The listpacks: a 16-byte master ID (as a string) and the pack. */
	if ((rc = rdb_plain_len(w, &n)) < 0)
		return rc;
	for (uint64_t i = 0; i < n; i++)
		if ((rc = rdb_skip_string(w)) < 0 || (rc = rdb_skip_string(w)) < 0)
			return rc;
	/* length, last ID; v2+: first ID, max deleted ID, entries added */
	for (int i = 0; i < (type >= T_STREAM_LISTPACKS_2 ? 8 : 3); i++)
		if ((rc = rdb_plain_len(w, &v)) < 0)
			return rc;
	if ((rc = rdb_plain_len(w, &groups)) < 0)
		return rc;
	for (uint64_t g = 0; g < groups; g++) {
		uint64_t pel, consumers;
		/* name, last delivered ID; v2+: entries read */
		if ((rc = rdb_skip_string(w)) < 0)
			return rc;
		for (int i = 0; i < (type >= T_STREAM_LISTPACKS_2 ? 3 : 2); i++)
			if ((rc = rdb_plain_len(w, &v)) < 0)
				return rc;
		/* the group's pending entries: raw 16-byte ID, delivery time
		 * (8 bytes), delivery count */
		if ((rc = rdb_plain_len(w, &pel)) < 0)
			return rc;
		for (uint64_t i = 0; i < pel; i++)
			if ((rc = rdb_skip(w, 16 + 8)) < 0 || (rc = rdb_plain_len(w, &v)) < 0)
				return rc;
		if ((rc = rdb_plain_len(w, &consumers)) < 0)
			return rc;
		for (uint64_t c = 0; c < consumers; c++) {
			/* name, seen time; v3: active time; its pending IDs */
			if ((rc = rdb_skip_string(w)) < 0 ||
			    (rc = rdb_skip(w, type >= T_STREAM_LISTPACKS_3 ? 16 : 8)) < 0 ||
			    (rc = rdb_plain_len(w, &pel)) < 0)
				return rc;
			if (pel > UINT64_MAX / 16)
				return rdb_fail(w, CAIRN_E_CORRUPT,
				                "a consumer with %" PRIu64 " pending entries", pel);
			if ((rc = rdb_skip(w, pel * 16)) < 0)
				return rc;
		}
	}
	return 0;
}

static int
rdb_skip_value(struct rdb_walk *w, unsigned type)
{
	uint64_t n, v;
	int rc;

	switch (type) {
	case T_STRING:
	case T_HASH_ZIPMAP:
	case T_LIST_ZIPLIST:
	case T_SET_INTSET:
	case T_ZSET_ZIPLIST:
	case T_HASH_ZIPLIST:
	case T_HASH_LISTPACK:
	case T_ZSET_LISTPACK:
	case T_SET_LISTPACK:
	case T_HASH_LISTPACK_EX_PRE_GA: return rdb_skip_string(w);
	case T_HASH_LISTPACK_EX:
		/* the smallest field expiry (8 bytes), then the listpack */
		if ((rc = rdb_skip(w, 8)) < 0)
			return rc;
		return rdb_skip_string(w);
	case T_LIST:
	case T_SET:
	case T_LIST_QUICKLIST:
		if ((rc = rdb_plain_len(w, &n)) < 0)
			return rc;
		return rdb_skip_strings(w, n);
	case T_ZSET:
	case T_ZSET_2:
		if ((rc = rdb_plain_len(w, &n)) < 0)
			return rc;
		for (uint64_t i = 0; i < n; i++) {
			if ((rc = rdb_skip_string(w)) < 0)
				return rc;
			rc = type == T_ZSET ? rdb_skip_ascii_double(w) : rdb_skip(w, 8);
			if (rc < 0)
				return rc;
		}
		return 0;
	case T_HASH:
		if ((rc = rdb_plain_len(w, &n)) < 0)
			return rc;
		for (uint64_t i = 0; i < n; i++)
			if ((rc = rdb_skip_string(w)) < 0 || (rc = rdb_skip_string(w)) < 0)
				return rc;
		return 0;
	case T_HASH_METADATA:
	case T_HASH_METADATA_PRE_GA:
		/* GA: the smallest field expiry first; then per field its
		 * expiry (a length), name and value */
		if (type == T_HASH_METADATA && (rc = rdb_skip(w, 8)) < 0)
			return rc;
		if ((rc = rdb_plain_len(w, &n)) < 0)
			return rc;
		for (uint64_t i = 0; i < n; i++)
			if ((rc = rdb_plain_len(w, &v)) < 0 || (rc = rdb_skip_string(w)) < 0 ||
			    (rc = rdb_skip_string(w)) < 0)
				return rc;
		return 0;
	case T_LIST_QUICKLIST_2:
		if ((rc = rdb_plain_len(w, &n)) < 0)
			return rc;
		for (uint64_t i = 0; i < n; i++) {
			if ((rc = rdb_plain_len(w, &v)) < 0)
				return rc;
			if (v != QL_PLAIN && v != QL_PACKED)
				return rdb_fail(w, CAIRN_E_CORRUPT,
				                "quicklist container %" PRIu64 " unknown", v);
			if ((rc = rdb_skip_string(w)) < 0)
				return rc;
		}
		return 0;
	case T_STREAM_LISTPACKS:
	case T_STREAM_LISTPACKS_2:
	case T_STREAM_LISTPACKS_3: return rdb_skip_stream(w, type);
	case T_MODULE_2:
		if ((rc = rdb_plain_len(w, &v)) < 0) /* module type id */
			return rc;
		return rdb_skip_module_ops(w);
	default:
		w->unknown_type = (int)type;
		return rdb_fail(
		        w, CAIRN_E_UNSUPPORTED,
		        "value type %u unknown to this cairn (a Redis newer than 7.4?); use mode = dump or a newer cairn",
		        type);
	}
}

static int
rdb_count_key(struct rdb_walk *w)
{
	long db = w->cur_db < 0 ? 0 : w->cur_db;
	if ((uint64_t)db >= w->db_alloc) {
		uint64_t na = (uint64_t)db + 16;
		uint64_t *p = realloc(w->db_keys, na * sizeof(*p));
		if (p == NULL)
			return CAIRN_E_NOMEM;
		memset(p + w->db_alloc, 0, (na - w->db_alloc) * sizeof(*p));
		w->db_keys = p;
		w->db_alloc = na;
	}
	w->db_keys[db]++;
	if ((size_t)db + 1 > w->ndb)
		w->ndb = (size_t)db + 1;
	w->keys++;
	return 0;
}

static int
rdb_aux(struct rdb_walk *w)
{
	char name[32], value[32];
	int rc;

	if ((rc = rdb_string(w, name, sizeof(name))) < 0 ||
	    (rc = rdb_string(w, value, sizeof(value))) < 0)
		return rc;
	if (strcmp(name, "redis-ver") == 0)
		memcpy(w->redis_ver, value, sizeof(w->redis_ver));
	else if (strcmp(name, "used-mem") == 0) {
		char *end;
		long long m;
		errno = 0;
		m = strtoll(value, &end, 10);
		if (errno == 0 && end != value && *end == '\0' && m >= 0)
			w->used_mem = m;
	}
	return 0;
}

void
rdb_walk_init(struct rdb_walk *w)
{
	w->pos = w->len = 0;
	w->version = 0;
	w->keys = w->expires = 0;
	w->db_keys = NULL;
	w->ndb = 0;
	w->db_alloc = 0;
	w->redis_ver[0] = '\0';
	w->used_mem = -1;
	w->crc_checked = 0;
	w->err[0] = '\0';
	w->unknown_type = -1;
	w->base = 0;
	w->crc_from = 0;
	w->crc = 0;
	w->cur_db = -1;
	rdb_crc_init(&w->tab);
}

void
rdb_walk_free(struct rdb_walk *w)
{
	free(w->db_keys);
	w->db_keys = NULL;
	w->ndb = w->db_alloc = 0;
}

/* "REDIS" and the 4-digit version. */
static int
rdb_header(struct rdb_walk *w)
{
	unsigned char head[9];
	int rc;

	if ((rc = rdb_take(w, head, 9)) < 0) {
		if (rc == CAIRN_E_CORRUPT) {
			w->err[0] = '\0';
			return rdb_fail(w, rc, "shorter than an RDB header; not an RDB file");
		}
		return rc;
	}
	if (memcmp(head, "REDIS", 5) != 0)
		return rdb_fail(w, CAIRN_E_CORRUPT, "no REDIS magic; not an RDB file");
	for (int i = 5; i < 9; i++) {
		if (head[i] < '0' || head[i] > '9')
			return rdb_fail(w, CAIRN_E_CORRUPT, "the version is not 4 digits");
		w->version = w->version * 10 + (head[i] - '0');
	}
	if (w->version < 1)
		return rdb_fail(w, CAIRN_E_CORRUPT, "RDB version 0 does not exist");
	return 0;
}

/* One opcode that is not a key: 1 when op was one (and is read), 0 when
 * op is a value type (a key follows), or < 0.  *expiry: the next key has
 * an expiry. */
static int
rdb_opcode(struct rdb_walk *w, unsigned op, int *expiry)
{
	uint64_t a, b;
	int rc;

	switch (op) {
	case OP_SELECTDB:
		if ((rc = rdb_plain_len(w, &a)) < 0)
			return rc;
		if (a >= RDB_MAX_DB)
			return rdb_fail(w, CAIRN_E_CORRUPT, "database number %" PRIu64 " too large",
			                a);
		w->cur_db = (long)a;
		return 1;
	case OP_RESIZEDB:
		if ((rc = rdb_plain_len(w, &a)) < 0 || (rc = rdb_plain_len(w, &b)) < 0)
			return rc;
		return 1;
	case OP_SLOT_INFO: /* slot, its size, its expires' size */
		for (int i = 0; i < 3; i++)
			if ((rc = rdb_plain_len(w, &a)) < 0)
				return rc;
		return 1;
	case OP_AUX: return (rc = rdb_aux(w)) < 0 ? rc : 1;
	case OP_FUNCTION2: /* a function library's source */
		return (rc = rdb_skip_string(w)) < 0 ? rc : 1;
	case OP_MODULE_AUX:
		/* module id, when (UINT opcode + value), then opcodes */
		if ((rc = rdb_plain_len(w, &a)) < 0 || (rc = rdb_plain_len(w, &a)) < 0)
			return rc;
		if (a != MOD_UINT)
			return rdb_fail(w, CAIRN_E_CORRUPT, "module aux data without its 'when'");
		if ((rc = rdb_plain_len(w, &a)) < 0 || (rc = rdb_skip_module_ops(w)) < 0)
			return rc;
		return 1;
	case OP_IDLE: return (rc = rdb_plain_len(w, &a)) < 0 ? rc : 1;
	case OP_FREQ: return (rc = rdb_skip(w, 1)) < 0 ? rc : 1;
	case OP_EXPIRETIME:
	case OP_EXPIRETIME_MS:
		if ((rc = rdb_skip(w, op == OP_EXPIRETIME ? 4 : 8)) < 0)
			return rc;
		*expiry = 1;
		return 1;
	case OP_FUNCTION_PRE_GA:
	case T_MODULE_PRE_GA:
		w->unknown_type = (int)op;
		return rdb_fail(
		        w, CAIRN_E_UNSUPPORTED,
		        "%s from a Redis 4.0 or 7.0 release candidate cannot be read; use mode = dump",
		        op == T_MODULE_PRE_GA ? "a module value" : "function data");
	default: return 0;
	}
}

/* After the EOF opcode: the CRC-64 trailer (RDB version >= 5). */
static int
rdb_trailer(struct rdb_walk *w)
{
	int rc;

	/* Fold in everything up to and including the EOF byte. */
	w->crc = rdb_crc64(&w->tab, w->crc, w->buf + w->crc_from, w->pos - w->crc_from);
	w->crc_from = w->pos;
	if (w->version >= 5) {
		unsigned char x[8];
		uint64_t want = w->crc, got = 0;
		if ((rc = rdb_take(w, x, 8)) < 0)
			return rc;
		w->crc_from = w->pos; /* the trailer is not part of the sum */
		for (int i = 7; i >= 0; i--)
			got = (got << 8) | x[i];
		/* rdbchecksum no writes a zero trailer */
		if (got != 0) {
			if (got != want)
				return rdb_fail(w, CAIRN_E_CORRUPT,
				                "the CRC-64 trailer is %016" PRIx64
				                " but the data sums to %016" PRIx64
				                "; the file is damaged",
				                got, want);
			w->crc_checked = 1;
		}
	}
	return 0;
}

int
rdb_walk(struct rdb_walk *w)
{
	int rc, expiry = 0;

	if ((rc = rdb_header(w)) < 0)
		return rc;
	for (;;) {
		unsigned op;

		if ((rc = rdb_byte(w, &op)) < 0)
			return rc;
		if (op == OP_EOF)
			return rdb_trailer(w);
		if ((rc = rdb_opcode(w, op, &expiry)) != 0) {
			if (rc < 0)
				return rc;
			continue;
		}
		/* A key: its type (op), its name, its value. */
		if ((rc = rdb_skip_string(w)) < 0 || (rc = rdb_skip_value(w, op)) < 0)
			return rc;
		if ((rc = rdb_count_key(w)) < 0)
			return rc;
		if (expiry)
			w->expires++;
		expiry = 0;
	}
}
