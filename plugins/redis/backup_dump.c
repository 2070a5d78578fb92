/*
 * backup_dump.c - mode = dump, for servers that refuse SYNC: SCAN the
 * databases and write, per key, the RESTORE command that recreates it from
 * DUMP's payload (the stream redis_internal.h describes), with the end
 * mark that proves it whole.  The PTTL and DUMP replies are read off the
 * socket here (common.c's rconn), not by hiredis, so a payload of any size
 * streams through a fixed buffer.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "backup.h"
#include "repl.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define RB_OBUF (128 * 1024) /* small writes gathered */
#define RB_SCAN_COUNT 1000   /* SCAN COUNT */
#define RB_WINDOW 128        /* keys per pipelined PTTL+DUMP round */

static void
rb_keyname(char *dst, size_t dstsize, const char *key, size_t klen)
{
	size_t o = 0;
	for (size_t i = 0; i < klen && o + 5 < dstsize; i++) {
		unsigned char ch = (unsigned char)key[i];
		if (i == 64) {
			o += (size_t)snprintf(dst + o, dstsize - o, "...");
			break;
		}
		if (ch >= 0x20 && ch < 0x7f && ch != '\\' && ch != '\'')
			dst[o++] = (char)ch;
		else
			o += (size_t)snprintf(dst + o, dstsize - o, "\\x%02x", ch);
	}
	dst[o < dstsize ? o : dstsize - 1] = '\0';
}

static int
rb_oflush(struct rbackup *b)
{
	int rc = rb_write(b, b->obuf, b->olen);
	b->olen = 0;
	return rc;
}

static int
rb_oput(struct rbackup *b, const void *p, size_t n)
{
	int rc;
	if (b->olen + n > RB_OBUF && (rc = rb_oflush(b)) < 0)
		return rc;
	if (n > RB_OBUF)
		return rb_write(b, p, n);
	memcpy(b->obuf + b->olen, p, n);
	b->olen += n;
	return 0;
}

/* A bulk string: $len\r\nbytes\r\n */
static int
rb_obulk(struct rbackup *b, const void *p, size_t n)
{
	char h[32];
	int hl = snprintf(h, sizeof(h), "$%zu\r\n", n), rc;
	if ((rc = rb_oput(b, h, (size_t)hl)) < 0 || (rc = rb_oput(b, p, n)) < 0)
		return rc;
	return rb_oput(b, "\r\n", 2);
}

static int
rb_ocommand(struct rbackup *b, int argc, const char *const *argv)
{
	char h[16];
	int hl = snprintf(h, sizeof(h), "*%d\r\n", argc), rc;
	if ((rc = rb_oput(b, h, (size_t)hl)) < 0)
		return rc;
	for (int i = 0; i < argc; i++)
		if ((rc = rb_obulk(b, argv[i], strlen(argv[i]))) < 0)
			return rc;
	return 0;
}

static int
rb_count_db(struct rbackup *b, long db)
{
	if ((size_t)db >= b->ndb) {
		uint64_t *p = realloc(b->db_keys, ((size_t)db + 1) * sizeof(*p));
		if (p == NULL)
			return CAIRN_E_NOMEM;
		memset(p + b->ndb, 0, ((size_t)db + 1 - b->ndb) * sizeof(*p));
		b->db_keys = p;
		b->ndb = (size_t)db + 1;
	}
	b->db_keys[db]++;
	b->keys++;
	return 0;
}

static int64_t
rb_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Append "*2\r\n$N\r\nCMD\r\n$len\r\nkey\r\n" to a request buffer. */
static int
rb_req(char **req, size_t *len, size_t *cap, const char *cmd, const char *key, size_t klen)
{
	size_t need = *len + klen + 64;
	if (need > *cap || *req == NULL) {
		size_t nc = need * 2;
		char *p = realloc(*req, nc);
		if (p == NULL)
			return CAIRN_E_NOMEM;
		*req = p;
		*cap = nc;
	}
	*len += (size_t)sprintf(*req + *len, "*2\r\n$%zu\r\n%s\r\n$%zu\r\n", strlen(cmd), cmd,
	                        klen);
	memcpy(*req + *len, key, klen);
	*len += klen;
	memcpy(*req + *len, "\r\n", 2);
	*len += 2;
	return 0;
}

/* The reply to PTTL: *ttl, or CAIRN_E_* with the error set. */
static int
rb_reply_int(struct rconn *c, struct rbackup *b, long long *v, const char *key, size_t klen,
             long db)
{
	char line[256], kn[300];
	int rc = rconn_line(c, line, sizeof(line), 0, "reading PTTL replies");
	if (rc < 0)
		return rc;
	if (line[0] == ':') {
		char *end;
		errno = 0;
		*v = strtoll(line + 1, &end, 10);
		if (errno == 0 && end != line + 1 && *end == '\0')
			return 0;
	}
	rb_keyname(kn, sizeof(kn), key, klen);
	redis_error(c->r, "%s: PTTL of key '%s' in db %ld failed: %s", c->r->name, kn, db,
	            line[0] == '-' ? line + 1 : "not an integer reply");
	return line[0] == '-' && (strncmp(line, "-NOPERM", 7) == 0 ||
	                          strncmp(line, "-NOAUTH", 7) == 0)
	               ? CAIRN_E_AUTH
	               : CAIRN_E_IO;
}

/* Stream `n` payload bytes from the socket to out, then its "\r\n". */
static int
rb_pass_bulk(struct rconn *c, struct rbackup *b, uint64_t n, int keep)
{
	int rc;
	if (keep && (rc = rb_oflush(b)) < 0)
		return rc;
	while (n > 0) {
		size_t k;
		if (c->pos == c->len && (rc = rconn_fill(c, "reading DUMP replies")) < 0)
			return rc;
		k = c->len - c->pos;
		if (k > n)
			k = (size_t)n;
		if (keep && (rc = rb_write(b, c->buf + c->pos, k)) < 0)
			return rc;
		c->pos += k;
		n -= k;
	}
	for (int i = 0; i < 2; i++) {
		if (c->pos == c->len && (rc = rconn_fill(c, "reading DUMP replies")) < 0)
			return rc;
		if (c->buf[c->pos++] != (i == 0 ? '\r' : '\n')) {
			redis_error(
			        c->r,
			        "%s: a DUMP reply without its line end; is this a Redis server?",
			        c->r->name);
			return CAIRN_E_IO;
		}
	}
	return 0;
}

/* PTTL and DUMP replies for one key; writes its RESTORE unless the key
 * went away in between. */
static int
rb_dump_key(struct rconn *c, struct rbackup *b, const char *key, size_t klen, long db,
            int *selected, int abs_ttl, int64_t now)
{
	char line[256], kn[300], ttlbuf[32], h[64];
	long long pttl;
	uint64_t plen;
	int rc, keep, hl;
	char *end;

	if ((rc = rb_reply_int(c, b, &pttl, key, klen, db)) < 0)
		return rc;
	if ((rc = rconn_line(c, line, sizeof(line), 0, "reading DUMP replies")) < 0)
		return rc;
	if (line[0] == '-') {
		rb_keyname(kn, sizeof(kn), key, klen);
		redis_error(c->r, "%s: DUMP of key '%s' in db %ld failed: %s", c->r->name, kn, db,
		            line + 1);
		return strncmp(line, "-NOPERM", 7) == 0 ? CAIRN_E_AUTH : CAIRN_E_IO;
	}
	if (line[0] != '$') {
		redis_error(c->r, "%s: DUMP answered '%.40s'; is this a Redis server?", c->r->name,
		            line);
		return CAIRN_E_IO;
	}
	if (strcmp(line, "$-1") == 0)
		return 0; /* gone between SCAN and DUMP */
	errno = 0;
	plen = strtoull(line + 1, &end, 10);
	if (errno != 0 || *end != '\0' || end == line + 1 || line[1] == '-') {
		redis_error(c->r, "%s: DUMP answered '%.40s'; is this a Redis server?", c->r->name,
		            line);
		return CAIRN_E_IO;
	}
	/* -2: the key expired or went away between the two replies. */
	keep = pttl != -2;
	if (keep) {
		const char *sel[2] = {"SELECT", ttlbuf};
		if (!*selected) {
			snprintf(ttlbuf, sizeof(ttlbuf), "%ld", db);
			if ((rc = rb_ocommand(b, 2, sel)) < 0)
				return rc;
			*selected = 1;
		}
		if (pttl < 0)
			pttl = 0;
		else if (abs_ttl)
			pttl += now;
		else if (pttl == 0)
			pttl = 1; /* 0 would mean "no expiry" to RESTORE */
		hl = snprintf(h, sizeof(h), "*%d\r\n$7\r\nRESTORE\r\n",
		              abs_ttl && pttl > 0 ? 6 : 5);
		if ((rc = rb_oput(b, h, (size_t)hl)) < 0 || (rc = rb_obulk(b, key, klen)) < 0)
			return rc;
		snprintf(ttlbuf, sizeof(ttlbuf), "%lld", pttl);
		if ((rc = rb_obulk(b, ttlbuf, strlen(ttlbuf))) < 0)
			return rc;
		hl = snprintf(h, sizeof(h), "$%" PRIu64 "\r\n", plen);
		if ((rc = rb_oput(b, h, (size_t)hl)) < 0)
			return rc;
	}
	if (keep && plen <= RB_OBUF / 4) {
		/* small: gathered with the rest in obuf */
		uint64_t n = plen;
		while (n > 0) {
			size_t k;
			if (c->pos == c->len && (rc = rconn_fill(c, "reading DUMP replies")) < 0)
				return rc;
			k = c->len - c->pos;
			if (k > n)
				k = (size_t)n;
			if ((rc = rb_oput(b, c->buf + c->pos, k)) < 0)
				return rc;
			c->pos += k;
			n -= k;
		}
		if ((rc = rb_pass_bulk(c, b, 0, 0)) < 0)
			return rc;
	} else if ((rc = rb_pass_bulk(c, b, plen, keep)) < 0) {
		/* big ones go straight from the socket to out */
		return rc;
	}
	if (!keep)
		return 0;
	if ((rc = rb_oput(b, "\r\n$7\r\nREPLACE\r\n", 15)) < 0)
		return rc;
	if (abs_ttl && pttl > 0 && (rc = rb_oput(b, "$6\r\nABSTTL\r\n", 12)) < 0)
		return rc;
	if ((rc = rb_count_db(b, db)) < 0)
		return rc;
	if (pttl > 0)
		b->expires++;
	return 0;
}

/* One database: SCAN it, PTTL+DUMP each batch in windows. */
static int
rb_dump_db(struct rbackup *b, redisContext *ctx, struct rconn *c, long db, int abs_ttl)
{
	struct redis *r = b->r;
	redisReply *rep;
	char cursor[32] = "0";
	char *req = NULL;
	size_t reqcap = 0;
	int rc, selected = 0;

	rep = redis_command(r, ctx, r->name, 1, &rc, "SELECT %ld", db);
	if (rep == NULL)
		return rc;
	if (rep->type == REDIS_REPLY_ERROR) {
		redis_error(r, "%s: cannot select database %ld (%s); check databases =", r->name,
		            db, rep->str);
		freeReplyObject(rep);
		return CAIRN_E_IO;
	}
	freeReplyObject(rep);
	do {
		redisReply *keys;
		if (rb_cancelled(b))
			return CAIRN_E_CANCELLED;
		if (r->match != NULL)
			rep = redis_command(r, ctx, r->name, 0, &rc, "SCAN %s MATCH %s COUNT %d",
			                    cursor, r->match, RB_SCAN_COUNT);
		else
			rep = redis_command(r, ctx, r->name, 0, &rc, "SCAN %s COUNT %d", cursor,
			                    RB_SCAN_COUNT);
		if (rep == NULL)
			goto fail;
		if (rep->type != REDIS_REPLY_ARRAY || rep->elements != 2 ||
		    rep->element[0]->type != REDIS_REPLY_STRING ||
		    rep->element[1]->type != REDIS_REPLY_ARRAY ||
		    rep->element[0]->len >= sizeof(cursor)) {
			redis_error(
			        r,
			        "%s: SCAN in db %ld gave an unexpected reply; is this a Redis server?",
			        r->name, db);
			freeReplyObject(rep);
			rc = CAIRN_E_IO;
			goto fail;
		}
		memcpy(cursor, rep->element[0]->str, rep->element[0]->len + 1);
		keys = rep->element[1];
		for (size_t i = 0; i < keys->elements; i += RB_WINDOW) {
			size_t n = keys->elements - i < RB_WINDOW ? keys->elements - i : RB_WINDOW;
			size_t reqlen = 0;
			int64_t now;
			for (size_t k = i; k < i + n; k++) {
				redisReply *key = keys->element[k];
				if (key->type != REDIS_REPLY_STRING) {
					rc = CAIRN_E_IO;
					redis_error(
					        r,
					        "%s: SCAN in db %ld gave a key that is not a string",
					        r->name, db);
					break;
				}
				if ((rc = rb_req(&req, &reqlen, &reqcap, "PTTL", key->str,
				                 key->len)) < 0 ||
				    (rc = rb_req(&req, &reqlen, &reqcap, "DUMP", key->str,
				                 key->len)) < 0)
					break;
			}
			if (rc < 0 || (rc = rconn_write_all(c, req, reqlen)) < 0) {
				freeReplyObject(rep);
				goto fail;
			}
			/* PTTL is relative to when the server answered; close
			 * enough, as for redis-cli --rdb's own copies. */
			now = rb_now_ms();
			for (size_t k = i; k < i + n; k++) {
				redisReply *key = keys->element[k];
				rc = rb_dump_key(c, b, key->str, key->len, db, &selected, abs_ttl,
				                 now);
				if (rc < 0) {
					freeReplyObject(rep);
					goto fail;
				}
			}
			/* hiredis reads the next SCAN reply: nothing may be
			 * left in our buffer that would belong to it */
			if (c->pos != c->len) {
				redis_error(
				        r,
				        "%s: more replies than commands in db %ld; is this a Redis server?",
				        r->name, db);
				freeReplyObject(rep);
				rc = CAIRN_E_IO;
				goto fail;
			}
		}
		freeReplyObject(rep);
	} while (strcmp(cursor, "0") != 0);
	rc = 0;
fail:
	free(req);
	if (rc < 0 && b->out_rc < 0)
		rc = b->out_rc;
	return rc;
}

/* The databases to dump: `databases =`, or those INFO keyspace lists. */
static int
rb_dump_databases(struct rbackup *b, redisContext *ctx, int **dbs, size_t *ndbs)
{
	struct redis *r = b->r;
	redisReply *rep;
	const char *p;
	int rc;
	size_t n = 0, cap = 16;
	int *v;

	*dbs = NULL;
	*ndbs = 0;
	if (r->ndatabases > 0) {
		v = malloc(r->ndatabases * sizeof(*v));
		if (v == NULL)
			return CAIRN_E_NOMEM;
		memcpy(v, r->databases, r->ndatabases * sizeof(*v));
		*dbs = v;
		*ndbs = r->ndatabases;
		return 0;
	}
	rep = redis_command(r, ctx, r->name, 0, &rc, "INFO keyspace");
	if (rep == NULL) {
		redis_error(
		        r,
		        "%s: INFO keyspace failed, so the databases are unknown; allow the user +info, or list them in databases =",
		        r->name);
		return rc;
	}
	v = malloc(cap * sizeof(*v));
	if (v == NULL) {
		freeReplyObject(rep);
		return CAIRN_E_NOMEM;
	}
	for (p = rep->type == REDIS_REPLY_STRING ? rep->str : ""; p != NULL && *p != '\0';) {
		char *end;
		long d;
		if (strncmp(p, "db", 2) == 0) {
			d = strtol(p + 2, &end, 10);
			if (end != p + 2 && *end == ':' && d >= 0 && d < RDB_MAX_DB) {
				if (n == cap) {
					int *nv = realloc(v, 2 * cap * sizeof(*v));
					if (nv == NULL) {
						free(v);
						freeReplyObject(rep);
						return CAIRN_E_NOMEM;
					}
					v = nv;
					cap *= 2;
				}
				v[n++] = (int)d;
			}
		}
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	freeReplyObject(rep);
	*dbs = v;
	*ndbs = n;
	return 0;
}

int
backup_dump(struct rbackup *b, redisContext *ctx)
{
	struct redis *r = b->r;
	struct rconn c = {.r = r, .fd = ctx->fd, .stop = rb_stop, .stop_arg = b};
	int *dbs = NULL, rc, abs_ttl;
	size_t ndbs = 0;
	char *trailer = NULL, *t;
	size_t tcap;

	if ((rc = repl_replica_check(r, ctx)) < 0)
		return rc;
	/* ABSTTL came with Redis 5.0; without a version, stay relative. */
	abs_ttl = b->server_version >= 50000;
	c.buf = malloc(RB_BUF);
	b->obuf = malloc(RB_OBUF);
	if (c.buf == NULL || b->obuf == NULL) {
		rc = CAIRN_E_NOMEM;
		goto out;
	}
	c.cap = RB_BUF;
	if ((rc = rb_dump_databases(b, ctx, &dbs, &ndbs)) < 0)
		goto out;
	for (size_t i = 0; i < ndbs; i++) {
		if ((rc = rb_dump_db(b, ctx, &c, dbs[i], abs_ttl)) < 0)
			goto out;
	}
	/* The trailer: proof of a complete stream, with its counts. */
	tcap = 64 + b->ndb * 32;
	trailer = malloc(tcap);
	if (trailer == NULL) {
		rc = CAIRN_E_NOMEM;
		goto out;
	}
	t = trailer + sprintf(trailer, "%s keys=%" PRIu64, REDIS_DUMP_END, b->keys);
	for (size_t d = 0; d < b->ndb; d++)
		if (b->db_keys[d] > 0)
			t += sprintf(t, " db%zu=%" PRIu64, d, b->db_keys[d]);
	{
		const char *argv[2] = {"ECHO", trailer};
		if ((rc = rb_ocommand(b, 2, argv)) < 0 || (rc = rb_oflush(b)) < 0)
			goto out;
	}
out:
	free(trailer);
	free(dbs);
	free(c.buf);
	free(b->obuf);
	b->obuf = NULL;
	if (rc < 0 && b->out_rc < 0)
		rc = b->out_rc;
	return rc;
}
