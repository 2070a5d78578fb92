/*
 * resp.c - reading RESP with flat memory: the dump stream of mode = dump
 * (SELECT, RESTORE, ECHO), and server replies on a raw socket.
 *
 * The stored object is untrusted input (the sink's content), so the
 * parser accepts only the exact form backup.c writes: arrays of bulk
 * strings with decimal lengths and CRLFs, the three commands, sane
 * argument counts.  It never holds an argument whose size the data
 * decides: payloads and keys stream through the reader's buffer to
 * out(), and only a key's first RESP_KEY_HEAD bytes are kept for
 * messages.  The end mark is the one exception, bounded by RESP_ECHO_MAX.
 *
 * SPDX-License-Identifier: MIT
 */
#include "resp.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* ------------------------------------------------------------ reader */

static ssize_t
cairn_in_read(void *arg, void *buf, size_t len)
{
	struct cairn_in *in = arg;
	return in->read(in, buf, len);
}

int
resp_in_init(struct resp_in *r, ssize_t (*read)(void *, void *, size_t), void *arg)
{
	memset(r, 0, sizeof(*r));
	r->read = read;
	r->arg = arg;
	r->buf = malloc(RESP_BUFSIZE);
	return r->buf ? 0 : CAIRN_E_NOMEM;
}

int
resp_in_init_cairn(struct resp_in *r, struct cairn_in *in)
{
	return resp_in_init(r, cairn_in_read, in);
}

void
resp_in_free(struct resp_in *r)
{
	free(r->buf);
	r->buf = NULL;
}

size_t
resp_in_pending(const struct resp_in *r)
{
	return r->len - r->pos;
}

static void resp_err(struct resp_in *r, uint64_t at, const char *fmt, ...) CAIRN_PRINTF(3, 4);

static void
resp_err(struct resp_in *r, uint64_t at, const char *fmt, ...)
{
	va_list ap;
	int n = snprintf(r->err, sizeof(r->err), "byte %" PRIu64 ": ", at);
	va_start(ap, fmt);
	if (n > 0 && (size_t)n < sizeof(r->err))
		vsnprintf(r->err + n, sizeof(r->err) - (size_t)n, fmt, ap);
	va_end(ap);
}

/* 1 = bytes in the buffer, 0 = the end, < 0 an error. */
static int
resp_fill(struct resp_in *r)
{
	ssize_t n;

	if (r->pos < r->len)
		return 1;
	r->pos = r->len = 0;
	n = r->read(r->arg, r->buf, RESP_BUFSIZE);
	if (n < 0)
		return (int)n;
	if (n == 0)
		return 0;
	r->len = (size_t)n;
	return 1;
}

int
resp_line(struct resp_in *r, char *line, size_t max)
{
	uint64_t start = r->offset;
	size_t n = 0;
	int cr = 0, rc;

	for (;;) {
		rc = resp_fill(r);
		if (rc < 0)
			return rc;
		if (rc == 0) {
			if (n == 0 && !cr)
				return 0;
			resp_err(r, r->offset, "the input ends inside a line");
			return CAIRN_E_CORRUPT;
		}
		while (r->pos < r->len) {
			unsigned char ch = r->buf[r->pos++];
			r->offset++;
			if (cr) {
				if (ch != '\n') {
					resp_err(r, r->offset - 1, "a CR without LF");
					return CAIRN_E_CORRUPT;
				}
				line[n] = '\0';
				return 1;
			}
			if (ch == '\r') {
				cr = 1;
				continue;
			}
			if (ch == '\n' || n + 1 >= max) {
				resp_err(r, start, "a line without CRLF within %zu bytes", max - 1);
				return CAIRN_E_CORRUPT;
			}
			if (ch == '\0') {
				/* a line is text: a NUL would cut it short for the
				 * number parsers ("$5\0junk" read as "$5") */
				resp_err(r, r->offset - 1, "a NUL byte inside a line");
				return CAIRN_E_CORRUPT;
			}
			line[n++] = (char)ch;
		}
	}
}

int
resp_take(struct resp_in *r, uint64_t n, int (*out)(void *, const void *, size_t), void *arg,
          void *keep, size_t keepmax)
{
	size_t kept = 0;
	int rc;

	while (n > 0) {
		size_t k;
		rc = resp_fill(r);
		if (rc < 0)
			return rc;
		if (rc == 0) {
			resp_err(r, r->offset, "the input ends %" PRIu64 " bytes early", n);
			return CAIRN_E_CORRUPT;
		}
		k = r->len - r->pos;
		if (k > n)
			k = (size_t)n;
		if (keep && kept < keepmax) {
			size_t c = keepmax - kept < k ? keepmax - kept : k;
			memcpy((char *)keep + kept, r->buf + r->pos, c);
			kept += c;
		}
		if (out) {
			rc = out(arg, r->buf + r->pos, k);
			if (rc < 0)
				return rc;
		}
		r->pos += k;
		r->offset += k;
		n -= k;
	}
	return 0;
}

int
resp_parse_u64(const char *s, uint64_t max, uint64_t *v)
{
	uint64_t x = 0;

	if (!*s || (s[0] == '0' && s[1]))
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		if (x > (max - (uint64_t)(*s - '0')) / 10)
			return -1;
		x = x * 10 + (uint64_t)(*s - '0');
	}
	*v = x;
	return 0;
}

int
resp_parse_i64(const char *s, int64_t *v)
{
	uint64_t x;

	if (*s == '-') {
		if (resp_parse_u64(s + 1, (uint64_t)INT64_MAX + 1, &x) || x == 0)
			return -1;
		*v = x == (uint64_t)INT64_MAX + 1 ? INT64_MIN : -(int64_t)x;
		return 0;
	}
	if (resp_parse_u64(s, INT64_MAX, &x))
		return -1;
	*v = (int64_t)x;
	return 0;
}

void
resp_quote(char *dst, size_t dstsize, const void *s, size_t n, uint64_t full)
{
	const unsigned char *p = s;
	size_t o = 0, i;
	char tail[48] = "";

	if (full > n)
		snprintf(tail, sizeof(tail), "... (%" PRIu64 " bytes)", full);
	if (dstsize < 8 + strlen(tail)) {
		if (dstsize)
			dst[0] = '\0';
		return;
	}
	for (i = 0; i < n; i++) {
		char piece[5];
		size_t len;
		if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '"' && p[i] != '\\') {
			piece[0] = (char)p[i];
			len = 1;
		} else {
			snprintf(piece, sizeof(piece), "\\x%02x", p[i]);
			len = 4;
		}
		if (o + len + 3 + strlen(tail) >= dstsize) {
			if (!tail[0])
				memcpy(tail, "...", 4);
			break;
		}
		memcpy(dst + o, piece, len);
		o += len;
	}
	snprintf(dst + o, dstsize - o, "%s", tail);
}

/* ----------------------------------------------------- the dump stream */

void
resp_cmd_free(struct resp_cmd *c)
{
	free(c->echo);
	c->echo = NULL;
	c->echolen = 0;
}

/* "$N" with N at most max: the length of the next bulk string. */
static int
bulk_len(struct resp_in *r, uint64_t max, uint64_t *n, char *line, size_t linesize)
{
	uint64_t at = r->offset;
	int rc = resp_line(r, line, linesize);

	if (rc == 0) {
		resp_err(r, at, "the input ends inside a command");
		return CAIRN_E_CORRUPT;
	}
	if (rc < 0)
		return rc;
	if (line[0] != '$' || resp_parse_u64(line + 1, RESP_MAX_BULK, n)) {
		resp_err(r, at, "expected a bulk string length ($N), found \"%.40s\"", line);
		return CAIRN_E_CORRUPT;
	}
	if (*n > max) {
		resp_err(r, at, "an argument of %" PRIu64 " bytes where at most %" PRIu64 " belong",
		         *n, max);
		return CAIRN_E_CORRUPT;
	}
	return 0;
}

static int
take_crlf(struct resp_in *r, const struct resp_cb *cb, int fwd)
{
	char crlf[2];
	uint64_t at = r->offset;
	int rc = resp_take(r, 2, fwd ? cb->out : NULL, cb ? cb->arg : NULL, crlf, 2);

	if (rc)
		return rc;
	if (crlf[0] != '\r' || crlf[1] != '\n') {
		resp_err(r, at, "a bulk string not followed by CRLF");
		return CAIRN_E_CORRUPT;
	}
	return 0;
}

static int
out_line(const struct resp_cb *cb, const char *line)
{
	char buf[64];
	int n = snprintf(buf, sizeof(buf), "%s\r\n", line);
	return cb->out(cb->arg, buf, (size_t)n);
}

/* The small arguments: a number or an option word, whole. */
static int
small_arg(struct resp_in *r, const struct resp_cb *cb, int fwd, char *dst, size_t dstsize)
{
	char line[32];
	uint64_t n, at = r->offset;
	int rc = bulk_len(r, dstsize - 1, &n, line, sizeof(line));

	if (rc)
		return rc;
	if (fwd && (rc = out_line(cb, line)) < 0)
		return rc;
	rc = resp_take(r, n, fwd ? cb->out : NULL, cb ? cb->arg : NULL, dst, n);
	if (rc)
		return rc;
	dst[n] = '\0';
	if (memchr(dst, '\0', n)) {
		resp_err(r, at, "a NUL byte in a numeric or option argument");
		return CAIRN_E_CORRUPT;
	}
	return take_crlf(r, cb, fwd);
}

/* The command's head: "*N", then its name, whole, before anything is
 * passed on; c->kind, c->argc, c->offset set.  1, 0 at a clean end of
 * the stream, or < 0. */
static int
resp_head(struct resp_in *r, struct resp_cmd *c, char *name, size_t namesize)
{
	char line[32];
	uint64_t argc, n, at = r->offset;
	int rc;

	c->offset = at;
	c->keykept = 0;
	c->keylen = 0;
	c->ttl = 0;
	c->absttl = c->replace = 0;
	c->payload_len = 0;
	c->db = -1;
	c->echolen = 0;

	rc = resp_fill(r);
	if (rc <= 0)
		return rc;
	if (r->buf[r->pos] != '*') {
		resp_err(r, at, "expected a command (a RESP array, '*'), found the byte 0x%02x",
		         r->buf[r->pos]);
		return CAIRN_E_CORRUPT;
	}
	rc = resp_line(r, line, sizeof(line));
	if (rc < 0)
		return rc;
	if (resp_parse_u64(line + 1, RESP_MAX_ARGS, &argc) || argc < 1) {
		resp_err(r, at, "a command of \"%.20s\" arguments (1 to %d belong)", line + 1,
		         RESP_MAX_ARGS);
		return CAIRN_E_CORRUPT;
	}
	c->argc = (unsigned)argc;

	rc = bulk_len(r, namesize - 1, &n, line, sizeof(line));
	if (rc)
		return rc;
	rc = resp_take(r, n, NULL, NULL, name, n);
	if (rc)
		return rc;
	name[n] = '\0';
	if ((rc = take_crlf(r, NULL, 0)))
		return rc;
	if (strlen(name) == n && !strcasecmp(name, "SELECT") && argc == 2)
		c->kind = RESP_SELECT;
	else if (strlen(name) == n && !strcasecmp(name, "RESTORE") && argc >= 4 && argc <= 10)
		c->kind = RESP_RESTORE;
	else if (strlen(name) == n && !strcasecmp(name, "ECHO") && argc == 2)
		c->kind = RESP_ECHO;
	else {
		char q[64];
		resp_quote(q, sizeof(q), name, n, n);
		resp_err(
		        r, at,
		        "command \"%s\" with %" PRIu64
		        " arguments: a cairn dump holds only SELECT, RESTORE and its ECHO end mark",
		        q, argc - 1);
		return CAIRN_E_CORRUPT;
	}
	return 1;
}

/* SELECT <db> */
static int
resp_select(struct resp_in *r, struct resp_cmd *c, const struct resp_cb *cb, int fwd)
{
	char db[24];
	uint64_t v, at = r->offset;
	int rc;

	if ((rc = small_arg(r, cb, fwd, db, sizeof(db))))
		return rc;
	if (resp_parse_u64(db, RESP_MAX_DB, &v)) {
		resp_err(r, at, "SELECT of database \"%s\" (0 to %d belong)", db, RESP_MAX_DB);
		return CAIRN_E_CORRUPT;
	}
	c->db = (long)v;
	return 1;
}

/* ECHO <end mark>, kept in c->echo. */
static int
resp_echo(struct resp_in *r, struct resp_cmd *c, const struct resp_cb *cb, int fwd)
{
	char line[32];
	uint64_t n;
	int rc;

	if ((rc = bulk_len(r, RESP_ECHO_MAX, &n, line, sizeof(line))))
		return rc;
	if (fwd && (rc = out_line(cb, line)) < 0)
		return rc;
	char *e = realloc(c->echo, (size_t)n + 1);
	if (!e)
		return CAIRN_E_NOMEM;
	c->echo = e;
	rc = resp_take(r, n, fwd ? cb->out : NULL, cb ? cb->arg : NULL, e, n);
	if (rc)
		return rc;
	e[n] = '\0';
	c->echolen = (size_t)n;
	if ((rc = take_crlf(r, cb, fwd)))
		return rc;
	return 1;
}

/* RESTORE's options: [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f] */
static int
resp_restore_options(struct resp_in *r, struct resp_cmd *c, const struct resp_cb *cb, int fwd)
{
	char word[24];
	uint64_t at;
	int rc;

	for (unsigned i = 4; i < c->argc; i++) {
		at = r->offset;
		if ((rc = small_arg(r, cb, fwd, word, sizeof(word))))
			return rc;
		if (!strcasecmp(word, "REPLACE") && !c->replace) {
			c->replace = 1;
		} else if (!strcasecmp(word, "ABSTTL") && !c->absttl) {
			c->absttl = 1;
		} else if ((!strcasecmp(word, "IDLETIME") || !strcasecmp(word, "FREQ")) &&
		           i + 1 < c->argc) {
			int64_t v;
			i++;
			at = r->offset;
			if ((rc = small_arg(r, cb, fwd, word, sizeof(word))))
				return rc;
			if (resp_parse_i64(word, &v) || v < 0) {
				resp_err(r, at, "RESTORE option with the value \"%s\"", word);
				return CAIRN_E_CORRUPT;
			}
		} else {
			resp_err(r, at, "RESTORE with the option \"%s\"", word);
			return CAIRN_E_CORRUPT;
		}
	}
	return 1;
}

/* RESTORE key ttl payload [options]: the key's head kept, the payload
 * streamed. */
static int
resp_restore(struct resp_in *r, struct resp_cmd *c, const struct resp_cb *cb, int fwd)
{
	char line[32], word[24];
	uint64_t at;
	int rc;

	if ((rc = bulk_len(r, RESP_MAX_BULK, &c->keylen, line, sizeof(line))))
		return rc;
	if (fwd && (rc = out_line(cb, line)) < 0)
		return rc;
	rc = resp_take(r, c->keylen, fwd ? cb->out : NULL, cb ? cb->arg : NULL, c->key,
	               sizeof(c->key));
	if (rc)
		return rc;
	c->keykept = c->keylen < sizeof(c->key) ? (size_t)c->keylen : sizeof(c->key);
	if ((rc = take_crlf(r, cb, fwd)))
		return rc;

	at = r->offset;
	if ((rc = small_arg(r, cb, fwd, word, sizeof(word))))
		return rc;
	if (resp_parse_i64(word, &c->ttl) || c->ttl < 0) {
		resp_err(r, at, "RESTORE with a TTL of \"%s\" (a number of ms, 0 or more)", word);
		return CAIRN_E_CORRUPT;
	}

	/* A DUMP payload ends in a 2-byte version and a CRC-64, so it has at
	 * least 10 bytes; the server checks the rest. */
	at = r->offset;
	if ((rc = bulk_len(r, RESP_MAX_BULK, &c->payload_len, line, sizeof(line))))
		return rc;
	if (c->payload_len < 10) {
		resp_err(r, at, "a RESTORE payload of %" PRIu64 " bytes (a DUMP has at least 10)",
		         c->payload_len);
		return CAIRN_E_CORRUPT;
	}
	if (fwd && (rc = out_line(cb, line)) < 0)
		return rc;
	rc = resp_take(r, c->payload_len, fwd ? cb->out : NULL, cb ? cb->arg : NULL, NULL, 0);
	if (rc)
		return rc;
	if ((rc = take_crlf(r, cb, fwd)))
		return rc;
	return resp_restore_options(r, c, cb, fwd);
}

int
resp_next(struct resp_in *r, struct resp_cmd *c, const struct resp_cb *cb)
{
	char name[16];
	int fwd = 0, rc;

	if ((rc = resp_head(r, c, name, sizeof(name))) <= 0)
		return rc;
	if (cb && cb->begin) {
		rc = cb->begin(cb->arg, c);
		if (rc < 0)
			return rc;
		fwd = rc > 0 && cb->out;
	}
	if (fwd) {
		char head[64];
		int len = snprintf(head, sizeof(head), "*%u\r\n$%zu\r\n%s\r\n", c->argc,
		                   strlen(name), name);
		if ((rc = cb->out(cb->arg, head, (size_t)len)) < 0)
			return rc;
	}
	switch (c->kind) {
	case RESP_SELECT: return resp_select(r, c, cb, fwd);
	case RESP_ECHO: return resp_echo(r, c, cb, fwd);
	case RESP_RESTORE: break;
	}
	return resp_restore(r, c, cb, fwd);
}

/* ------------------------------------------------------ whole stream */

void
dump_count_init(struct dump_count *d)
{
	memset(d, 0, sizeof(*d));
}

void
dump_count_free(struct dump_count *d)
{
	free(d->db_keys);
	d->db_keys = NULL;
	d->ndb = 0;
}

static int
count_db(struct dump_count *d, long db)
{
	if ((size_t)db >= d->ndb) {
		size_t n = (size_t)db + 1;
		uint64_t *p = realloc(d->db_keys, n * sizeof(*p));
		if (!p)
			return CAIRN_E_NOMEM;
		memset(p + d->ndb, 0, (n - d->ndb) * sizeof(*p));
		d->db_keys = p;
		d->ndb = n;
	}
	d->db_keys[db]++;
	d->keys++;
	return 0;
}

int
dump_count_add(struct dump_count *d, const struct resp_cmd *c)
{
	if (d->ended) {
		snprintf(d->err, sizeof(d->err), "byte %" PRIu64 ": a command after the end mark",
		         c->offset);
		return CAIRN_E_CORRUPT;
	}
	switch (c->kind) {
	case RESP_SELECT: d->cur_db = c->db; return 0;
	case RESP_RESTORE: return count_db(d, d->cur_db);
	case RESP_ECHO: break;
	}

	/* "cairn-dump-end keys=N dbD=n ...": every database with keys, once. */
	const char *p = c->echo;
	size_t plen = strlen(REDIS_DUMP_END);
	uint64_t total = 0, seen_keys = UINT64_MAX, listed = 0, last_db = UINT64_MAX;
	if (c->echolen != strlen(c->echo) || strncmp(p, REDIS_DUMP_END, plen) ||
	    (p[plen] != ' ' && p[plen] != '\0')) {
		snprintf(d->err, sizeof(d->err),
		         "byte %" PRIu64 ": an ECHO that is not the dump's end mark (%s ...)",
		         c->offset, REDIS_DUMP_END);
		return CAIRN_E_CORRUPT;
	}
	p += plen;
	while (*p == ' ') {
		char word[64];
		size_t wl = strcspn(++p, " ");
		uint64_t v, db;
		const char *eq;
		if (wl == 0 || wl >= sizeof(word))
			goto bad;
		memcpy(word, p, wl);
		word[wl] = '\0';
		p += wl;
		eq = strchr(word, '=');
		if (!eq || resp_parse_u64(eq + 1, INT64_MAX, &v))
			goto bad;
		word[eq - word] = '\0';
		if (!strcmp(word, "keys") && seen_keys == UINT64_MAX) {
			seen_keys = v;
			continue;
		}
		/* the writer lists databases in ascending order: one named
		 * twice ("db0=1 db0=1") would stand in for another unchecked */
		if (strncmp(word, "db", 2) || resp_parse_u64(word + 2, RESP_MAX_DB, &db) ||
		    v == 0 || (last_db != UINT64_MAX && db <= last_db))
			goto bad;
		last_db = db;
		if (db >= d->ndb || d->db_keys[db] != v) {
			snprintf(d->err, sizeof(d->err),
			         "the end mark says db%" PRIu64 " holds %" PRIu64
			         " keys, but the stream restores %" PRIu64 " there",
			         db, v, db < d->ndb ? d->db_keys[db] : 0);
			return CAIRN_E_CORRUPT;
		}
		listed++;
		total += v;
	}
	if (*p || seen_keys == UINT64_MAX)
		goto bad;
	size_t nonempty = 0;
	for (size_t i = 0; i < d->ndb; i++)
		nonempty += d->db_keys[i] != 0;
	if (seen_keys != d->keys || total != d->keys || listed != nonempty) {
		snprintf(d->err, sizeof(d->err),
		         "the end mark says %" PRIu64 " keys in %" PRIu64
		         " databases, but the stream restores %" PRIu64 " in %zu",
		         seen_keys, listed, d->keys, nonempty);
		return CAIRN_E_CORRUPT;
	}
	d->ended = 1;
	return 0;
bad:
	snprintf(d->err, sizeof(d->err), "byte %" PRIu64 ": a malformed end mark \"%.80s\"",
	         c->offset, c->echo);
	return CAIRN_E_CORRUPT;
}

int
dump_count_end(struct dump_count *d, const struct resp_in *r)
{
	if (!d->ended) {
		snprintf(d->err, sizeof(d->err),
		         "the dump ends at byte %" PRIu64 " after %" PRIu64
		         " keys without its end mark: it was cut short",
		         r->offset, d->keys);
		return CAIRN_E_CORRUPT;
	}
	return 0;
}
