/*
 * backup.c - the redis source's backups.
 *
 * mode = rdb asks the server for a snapshot as a replica would (SYNC, the
 * way `redis-cli --rdb` does) and streams the RDB it sends straight into
 * out->write(): no BGSAVE file of ours, no temporary file, no access to
 * the server's disk.  The bytes pass through rdb.c's walker on their way,
 * which finds where the RDB ends (the diskless $EOF:<mark> form has no
 * length), counts keys per database and checks the CRC-64, so a snapshot
 * cut short or garbled never becomes a backup.
 *
 * mode = dump SCANs the databases and writes, per key, the RESTORE command
 * that recreates it from DUMP's payload, for servers that refuse SYNC.
 * The replies are read off the socket here, not by hiredis, so a payload
 * of any size streams through a fixed buffer.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "redis.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define RB_BUF (256 * 1024)  /* socket reads, RDB walk */
#define RB_OBUF (128 * 1024) /* dump mode: small writes gathered */
#define RB_SCAN_COUNT 1000   /* SCAN COUNT */
#define RB_WINDOW 128        /* keys per pipelined PTTL+DUMP round */
#define RB_POLL_SLICE 500    /* ms between looks at host->cancelled */

/* The raw side of a connection: after the last hiredis command its
 * buffer is empty, and from then on we read and write the fd ourselves. */
struct rconn {
	struct redis *r;
	int fd;
	unsigned char *buf;
	size_t cap, pos, len;
	uint64_t got; /* bytes read from the socket */
};

/* What a run writes, and its manifest counts. */
struct rbackup {
	struct redis *r;
	struct cairn_out *out;
	int out_rc; /* the first out->write() failure */
	uint64_t bytes;
	unsigned char *obuf; /* dump mode */
	size_t olen;
	uint64_t keys, expires;
	uint64_t *db_keys; /* dump mode, per database, ndb entries */
	size_t ndb;
	int server_version; /* major*10000 + minor*100 + patch; 0 unknown */
	int64_t used_memory;
};

/* ---------------------------------------------------------- plumbing */

static int
rb_write(struct rbackup *b, const void *buf, size_t len)
{
	int rc;
	if (len == 0)
		return 0;
	if (b->out_rc < 0)
		return b->out_rc;
	rc = b->out->write(b->out, buf, len);
	if (rc < 0) {
		/* The core or the sink set the message (or the run was
		 * stopped); ours would only hide it. */
		b->out_rc = rc;
		return rc;
	}
	b->bytes += len;
	return 0;
}

static int
rb_cancelled(struct rbackup *b)
{
	if (redis_host->cancelled(b->r->ctx)) {
		b->out_rc = CAIRN_E_CANCELLED;
		return 1;
	}
	return 0;
}

/* Wait until fd is readable (or writable), in slices so a stop request
 * is seen soon.  0, or CAIRN_E_IO (timeout, set) / CAIRN_E_CANCELLED. */
static int
rc_wait(struct rconn *c, struct rbackup *b, short events, const char *what)
{
	int waited = 0;
	for (;;) {
		struct pollfd p = {.fd = c->fd, .events = events};
		int n = poll(&p, 1, RB_POLL_SLICE);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR) {
			redis_error(c->r, "%s: poll failed while %s: %s", c->r->name, what,
			            strerror(errno));
			return CAIRN_E_IO;
		}
		if (b != NULL && rb_cancelled(b))
			return CAIRN_E_CANCELLED;
		if (n == 0 && (waited += RB_POLL_SLICE) >= c->r->timeout_ms) {
			redis_error(c->r,
			            "%s: no data for %d s while %s; check the server, or raise "
			            "timeout =",
			            c->r->name, c->r->timeout_ms / 1000, what);
			return CAIRN_E_IO;
		}
	}
}

/* Read what is there (at most max bytes) into dst. */
static ssize_t
rc_read_some(struct rconn *c, struct rbackup *b, void *dst, size_t max, const char *what)
{
	for (;;) {
		ssize_t n;
		int rc = rc_wait(c, b, POLLIN, what);
		if (rc < 0)
			return rc;
		n = read(c->fd, dst, max);
		if (n > 0) {
			c->got += (uint64_t)n;
			return n;
		}
		if (n == 0) {
			redis_error(c->r,
			            "%s closed the connection while %s (after %" PRIu64
			            " bytes); check the server's log",
			            c->r->name, what, c->got);
			return CAIRN_E_IO;
		}
		if (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK) {
			redis_error(c->r, "%s: reading failed while %s: %s", c->r->name, what,
			            strerror(errno));
			return CAIRN_E_IO;
		}
	}
}

/* Make at least one more byte available in buf[pos..len). */
static int
rc_fill(struct rconn *c, struct rbackup *b, const char *what)
{
	ssize_t n;
	if (c->pos == c->len)
		c->pos = c->len = 0;
	else if (c->len == c->cap) {
		memmove(c->buf, c->buf + c->pos, c->len - c->pos);
		c->len -= c->pos;
		c->pos = 0;
	}
	n = rc_read_some(c, b, c->buf + c->len, c->cap - c->len, what);
	if (n < 0)
		return (int)n;
	c->len += (size_t)n;
	return 0;
}

/* One line through "\r\n" into line (NUL-terminated, without it).
 * skip_nl: first skip the bare "\n" a master sends while it prepares. */
static int
rc_line(struct rconn *c, struct rbackup *b, char *line, size_t max, int skip_nl, const char *what)
{
	size_t n = 0;
	int rc;
	for (;;) {
		unsigned char ch;
		if (c->pos == c->len && (rc = rc_fill(c, b, what)) < 0)
			return rc;
		ch = c->buf[c->pos++];
		if (skip_nl && n == 0 && ch == '\n')
			continue;
		skip_nl = 0;
		if (ch == '\n' && n > 0 && line[n - 1] == '\r') {
			line[n - 1] = '\0';
			return 0;
		}
		if (n + 1 >= max) {
			redis_error(c->r,
			            "%s: a reply line longer than %zu bytes while %s; is this a "
			            "Redis server?",
			            c->r->name, max, what);
			return CAIRN_E_IO;
		}
		line[n++] = (char)ch;
	}
}

static int
rc_write_all(struct rconn *c, struct rbackup *b, const void *buf, size_t len)
{
	const unsigned char *p = buf;
	while (len > 0) {
		ssize_t n = write(c->fd, p, len);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			int rc = rc_wait(c, b, POLLOUT, "sending commands");
			if (rc < 0)
				return rc;
			continue;
		}
		redis_error(c->r, "%s: sending failed: %s", c->r->name,
		            n < 0 ? strerror(errno) : "nothing written");
		return CAIRN_E_IO;
	}
	return 0;
}

/* A key for a message: printable, cut at 64 bytes. */
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

/* --------------------------------------------------------- INFO */

/* The value of `field:` in an INFO reply, into dst; 0 if found. */
static int
rb_info_field(const char *info, const char *field, char *dst, size_t dstsize)
{
	size_t fl = strlen(field);
	const char *p = info;
	while (p != NULL && *p != '\0') {
		if (strncmp(p, field, fl) == 0 && p[fl] == ':') {
			size_t n = strcspn(p + fl + 1, "\r\n");
			if (n >= dstsize)
				n = dstsize - 1;
			memcpy(dst, p + fl + 1, n);
			dst[n] = '\0';
			return 0;
		}
		p = strchr(p, '\n');
		if (p != NULL)
			p++;
	}
	return -1;
}

static int
rb_parse_version(const char *v)
{
	int maj = 0, min = 0, pat = 0;
	if (sscanf(v, "%d.%d.%d", &maj, &min, &pat) < 2)
		return 0;
	return maj * 10000 + min * 100 + pat;
}

/* Server version and used memory, for the manifest and for ABSTTL.  A
 * server that refuses INFO (ACL) is not an error: they stay unknown. */
static void
rb_server_info(struct rbackup *b, redisContext *ctx)
{
	struct redis *r = b->r;
	redisReply *rep;
	char val[64];
	int rc;

	rep = redis_command(r, ctx, r->name, 1, &rc, "INFO server");
	if (rep != NULL && rep->type == REDIS_REPLY_STRING &&
	    rb_info_field(rep->str, "redis_version", val, sizeof(val)) == 0)
		b->server_version = rb_parse_version(val);
	else if (rep != NULL)
		redis_log(r, CAIRN_LOG_DEBUG, "%s: INFO server gave no version", r->name);
	freeReplyObject(rep);
	rep = redis_command(r, ctx, r->name, 1, &rc, "INFO memory");
	if (rep != NULL && rep->type == REDIS_REPLY_STRING &&
	    rb_info_field(rep->str, "used_memory", val, sizeof(val)) == 0)
		b->used_memory = strtoll(val, NULL, 10);
	freeReplyObject(rep);
}

static void
rb_stats(struct rbackup *b)
{
	cairn_ctx *ctx = b->r->ctx;
	char key[48];
	redis_host->stat(ctx, "keys", (int64_t)b->keys);
	for (size_t d = 0; d < b->ndb; d++) {
		if (b->db_keys[d] == 0)
			continue;
		snprintf(key, sizeof(key), "keys.db%zu", d);
		redis_host->stat(ctx, key, (int64_t)b->db_keys[d]);
	}
	redis_host->stat(ctx, "expires", (int64_t)b->expires);
	if (b->server_version > 0)
		redis_host->stat(ctx, "redis_version", b->server_version);
	if (b->used_memory >= 0)
		redis_host->stat(ctx, "used_memory", b->used_memory);
	redis_host->stat(ctx, "bytes", (int64_t)b->bytes);
}

/* ------------------------------------------------------------ mode = rdb */

struct rb_sync {
	struct rbackup *b;
	struct rconn *c;
	int eof_mode;       /* $EOF:<mark> rather than $<length> */
	uint64_t remaining; /* $<length>: bytes still to come */
	uint64_t total;     /* $<length> */
	size_t left_off;    /* bytes already read past the header line */
	size_t left_len;
	int rc; /* fill()'s own failure (message set) */
};

/* The walker has consumed buf[0..len): pass it on, then read more. */
static int
rb_sync_fill(struct rdb_walk *w)
{
	struct rb_sync *s = w->arg;
	struct rbackup *b = s->b;
	ssize_t n;
	size_t max = w->bufsize;
	int rc;

	if ((rc = rb_write(b, w->buf, w->len)) < 0)
		return s->rc = rc;
	w->pos = w->len = 0;
	if (rb_cancelled(b))
		return s->rc = CAIRN_E_CANCELLED;
	if (s->left_len > 0) {
		size_t k = s->left_len;
		if (!s->eof_mode && k > s->remaining)
			k = (size_t)s->remaining; /* the rest is not the RDB's */
		memmove(w->buf, w->buf + s->left_off, k);
		s->left_off = s->left_len = 0;
		if (!s->eof_mode)
			s->remaining -= k;
		w->len = k;
		if (k > 0)
			return 1;
	}
	if (!s->eof_mode) {
		if (s->remaining == 0)
			return 0;
		if (max > s->remaining)
			max = (size_t)s->remaining;
	}
	n = rc_read_some(s->c, b, w->buf, max, "receiving the snapshot");
	if (n < 0)
		return s->rc = (int)n;
	if (!s->eof_mode)
		s->remaining -= (uint64_t)n;
	w->len = (size_t)n;
	return 1;
}

/* SYNC and PSYNC were refused with err: say why in words the user can act
 * on, each refusal with its own cause. */
static int
rb_sync_refused(struct redis *r, const char *err)
{
	if (strncmp(err, "NOAUTH", 6) == 0) {
		redis_error(r,
		            "%s refuses to send a snapshot (SYNC: %s): it needs a password; set "
		            "password (or password_file, password_env), and username for an ACL "
		            "user",
		            r->name, err);
		return CAIRN_E_AUTH;
	}
	if (strncmp(err, "NOMASTERLINK", 12) == 0 || strncmp(err, "MASTERDOWN", 10) == 0) {
		redis_error(r,
		            "%s refuses to send a snapshot (SYNC: %s): it is a replica whose link "
		            "to its master is down, so it has no current data to give; back up "
		            "the master, or wait until INFO replication says master_link_status:up",
		            r->name, err);
		return CAIRN_E_IO;
	}
	redis_error(r,
	            "%s refuses to send a snapshot (SYNC: %s); give the user +sync +psync "
	            "+replconf, or set mode = dump",
	            r->name, err);
	return CAIRN_E_UNSUPPORTED;
}

/* A replica whose link to its master is down and that holds no key has
 * not finished its first sync (or lost its data): a backup of it would be
 * an empty set that looks fine.  Refuse it, with the replica's state.  A
 * server that refuses INFO is not checked. */
static int
rb_replica_check(struct redis *r, redisContext *ctx)
{
	char role[16], link[16], sync[8], host[64], port[8];
	unsigned long long keys = 0;
	redisReply *rep;
	const char *p;
	int rc;

	rep = redis_command(r, ctx, r->name, 1, &rc, "INFO replication");
	if (!rep)
		return rc;
	if (rep->type != REDIS_REPLY_STRING) {
		freeReplyObject(rep);
		return 0;
	}
	if (rb_info_field(rep->str, "role", role, sizeof(role)) || strcmp(role, "slave") != 0 ||
	    rb_info_field(rep->str, "master_link_status", link, sizeof(link)) ||
	    strcmp(link, "down") != 0) {
		freeReplyObject(rep);
		return 0;
	}
	if (rb_info_field(rep->str, "master_sync_in_progress", sync, sizeof(sync)))
		snprintf(sync, sizeof(sync), "?");
	if (rb_info_field(rep->str, "master_host", host, sizeof(host)))
		snprintf(host, sizeof(host), "?");
	if (rb_info_field(rep->str, "master_port", port, sizeof(port)))
		snprintf(port, sizeof(port), "?");
	freeReplyObject(rep);
	rep = redis_command(r, ctx, r->name, 1, &rc, "INFO keyspace");
	if (!rep)
		return rc;
	for (p = rep->type == REDIS_REPLY_STRING ? rep->str : NULL; p && (p = strstr(p, "keys="));)
		keys += strtoull(p += 5, NULL, 10);
	freeReplyObject(rep);
	if (keys > 0) {
		redis_log(r, CAIRN_LOG_WARN,
		          "%s is a replica whose link to its master %s:%s is down: its %llu keys "
		          "may be stale",
		          r->name, host, port, keys);
		return 0;
	}
	redis_error(r,
	            "%s is a replica that holds no keys and whose link to its master %s:%s is "
	            "down (master_link_status:down, master_sync_in_progress:%s): it has not "
	            "finished its first sync; back up the master, or wait until the replica is "
	            "in sync",
	            r->name, host, port, sync);
	return CAIRN_E_IO;
}

/* Send SYNC (or PSYNC ? -1) and read up to the snapshot's bulk header. */
static int
rb_sync_start(struct rconn *c, struct rbackup *b, struct rb_sync *s, char *mark)
{
	struct redis *r = b->r;
	char line[256], first_err[160] = "";
	int rc, tried_psync = 0;
	const char *cmd = "SYNC\r\n";

	for (;;) {
		if ((rc = rc_write_all(c, b, cmd, strlen(cmd))) < 0)
			return rc;
		if ((rc = rc_line(c, b, line, sizeof(line), 1, "waiting for the snapshot")) < 0)
			return rc;
		if (line[0] == '+' && strncmp(line, "+FULLRESYNC", 11) == 0) {
			rc = rc_line(c, b, line, sizeof(line), 1, "waiting for the snapshot");
			if (rc < 0)
				return rc;
		}
		if (line[0] != '-')
			break;
		if (first_err[0] == '\0')
			snprintf(first_err, sizeof(first_err), "%.150s", line + 1);
		if (tried_psync)
			return rb_sync_refused(r, first_err);
		/* SYNC renamed or denied: PSYNC may still be allowed */
		tried_psync = 1;
		cmd = "PSYNC ? -1\r\n";
	}
	if (strncmp(line, "$EOF:", 5) == 0) {
		if (strlen(line + 5) != 40) {
			redis_error(r,
			            "%s: a diskless snapshot header with a %zu-byte mark (not 40); "
			            "is this a Redis server?",
			            r->name, strlen(line + 5));
			return CAIRN_E_IO;
		}
		memcpy(mark, line + 5, 40);
		s->eof_mode = 1;
	} else if (line[0] == '$') {
		char *end;
		unsigned long long len;
		errno = 0;
		len = strtoull(line + 1, &end, 10);
		if (errno != 0 || end == line + 1 || *end != '\0' || line[1] == '-') {
			redis_error(r,
			            "%s: '%.40s' is not a snapshot header; is this a Redis server?",
			            r->name, line);
			return CAIRN_E_IO;
		}
		s->remaining = s->total = len;
	} else {
		redis_error(
		        r, "%s answered SYNC with '%.40s', not a snapshot; is this a Redis server?",
		        r->name, line);
		return CAIRN_E_IO;
	}
	s->left_off = c->pos;
	s->left_len = c->len - c->pos;
	return 0;
}

static int
rb_rdb(struct rbackup *b, redisContext *ctx)
{
	struct redis *r = b->r;
	struct rconn c = {.r = r, .fd = ctx->fd};
	struct rb_sync s = {.b = b, .c = &c};
	struct rdb_walk *w;
	redisReply *rep;
	char mark[40];
	int rc;

	/* capa eof: we read the diskless form, so the server need not write
	 * a file for us; rdb-only (Redis 7+): no replication stream after. */
	rep = redis_command(r, ctx, r->name, 1, &rc, "REPLCONF capa eof");
	if (rep == NULL)
		return rc;
	freeReplyObject(rep);
	rep = redis_command(r, ctx, r->name, 1, &rc, "REPLCONF rdb-only 1");
	if (rep == NULL)
		return rc;
	if (rep->type == REDIS_REPLY_ERROR)
		redis_log(r, CAIRN_LOG_DEBUG,
		          "%s: no REPLCONF rdb-only (%s); reading the snapshot only", r->name,
		          rep->str);
	freeReplyObject(rep);

	w = calloc(1, sizeof(*w));
	c.buf = malloc(RB_BUF);
	if (w == NULL || c.buf == NULL) {
		free(w);
		free(c.buf);
		return CAIRN_E_NOMEM;
	}
	c.cap = RB_BUF;
	rc = rb_sync_start(&c, b, &s, mark);
	if (rc < 0)
		goto out;
	if (!s.eof_mode && CAIRN_HOST_HAS(redis_host, progress_total))
		redis_host->progress_total(r->ctx, s.total);
	redis_log(r, CAIRN_LOG_DEBUG, "%s: snapshot of %s", r->name,
	          s.eof_mode ? "unknown size (diskless)" : "known size");

	w->buf = c.buf;
	w->bufsize = c.cap;
	w->fill = rb_sync_fill;
	w->arg = &s;
	rdb_walk_init(w);
	rc = rdb_walk(w);
	if (rc == CAIRN_E_UNSUPPORTED && !s.eof_mode && s.rc == 0) {
		/* A newer Redis: the length still says where it ends, so the
		 * snapshot is kept whole, only its keys go uncounted. */
		redis_log(r, CAIRN_LOG_WARN,
		          "%s: the snapshot %s; it is stored whole, its keys not counted", r->name,
		          w->err);
		w->keys = w->expires = 0;
		w->ndb = 0;
		w->pos = w->len;
		while ((rc = rb_sync_fill(w)) == 1)
			w->pos = w->len;
		goto done;
	}
	if (rc < 0) {
		if (s.rc != 0 || b->out_rc != 0 || rc == CAIRN_E_NOMEM)
			; /* the message is set already */
		else if (rc == CAIRN_E_UNSUPPORTED)
			redis_error(r, "%s sent a diskless snapshot this cairn cannot read (%s)",
			            r->name, w->err);
		else
			redis_error(r, "%s sent a damaged or cut snapshot: %s", r->name, w->err);
		goto out;
	}
	/* The RDB ended: what follows must be the mark, or nothing. */
	if (s.eof_mode) {
		unsigned char tail[40];
		size_t have = w->len - w->pos;
		if (have > 40)
			have = 40;
		memcpy(tail, w->buf + w->pos, have);
		/* buf[0..pos) is the last of the RDB; keep it before reading */
		if ((rc = rb_write(b, w->buf, w->pos)) < 0)
			goto out;
		w->pos = w->len = 0;
		while (have < 40) {
			ssize_t n = rc_read_some(&c, b, tail + have, 40 - have,
			                         "receiving the snapshot's end");
			if (n < 0) {
				rc = (int)n;
				goto out;
			}
			have += (size_t)n;
		}
		if (memcmp(tail, mark, 40) != 0) {
			redis_error(r,
			            "%s: the diskless snapshot does not end with its mark; the RDB "
			            "inside is damaged or longer than it says",
			            r->name);
			rc = CAIRN_E_IO;
			goto out;
		}
	} else {
		if (w->pos != w->len || s.remaining != 0 || s.left_len != 0) {
			redis_error(r,
			            "%s: the snapshot's RDB ends after %" PRIu64 " of %" PRIu64
			            " bytes; the server sent something else",
			            r->name, rdb_walk_offset(w), s.total);
			rc = CAIRN_E_IO;
			goto out;
		}
		if ((rc = rb_write(b, w->buf, w->pos)) < 0)
			goto out;
	}
done:
	if (rc == 0) {
		redis_host->stat(r->ctx, "rdb_version", w->version);
		if (b->server_version == 0 && w->redis_ver[0] != '\0')
			b->server_version = rb_parse_version(w->redis_ver);
		if (b->used_memory < 0)
			b->used_memory = w->used_mem;
		b->keys = w->keys;
		b->expires = w->expires;
		b->db_keys = w->db_keys;
		b->ndb = w->ndb;
		w->db_keys = NULL;
		if (!w->crc_checked && w->version >= 5)
			redis_log(r, CAIRN_LOG_INFO,
			          "%s: the snapshot has no CRC-64 (rdbchecksum no)", r->name);
	}
out:
	rdb_walk_free(w);
	free(w);
	free(c.buf);
	if (rc < 0 && b->out_rc < 0)
		rc = b->out_rc;
	return rc;
}

/* ----------------------------------------------------------- mode = dump */

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
	if (need > *cap) {
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
	int rc = rc_line(c, b, line, sizeof(line), 0, "reading PTTL replies");
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
		if (c->pos == c->len && (rc = rc_fill(c, b, "reading DUMP replies")) < 0)
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
		if (c->pos == c->len && (rc = rc_fill(c, b, "reading DUMP replies")) < 0)
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
	if ((rc = rc_line(c, b, line, sizeof(line), 0, "reading DUMP replies")) < 0)
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
			if (c->pos == c->len && (rc = rc_fill(c, b, "reading DUMP replies")) < 0)
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
			redis_error(r,
			            "%s: SCAN in db %ld gave an unexpected reply; is this a Redis "
			            "server?",
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
					redis_error(r,
					            "%s: SCAN in db %ld gave a key that is not a "
					            "string",
					            r->name, db);
					break;
				}
				if ((rc = rb_req(&req, &reqlen, &reqcap, "PTTL", key->str,
				                 key->len)) < 0 ||
				    (rc = rb_req(&req, &reqlen, &reqcap, "DUMP", key->str,
				                 key->len)) < 0)
					break;
			}
			if (rc < 0 || (rc = rc_write_all(c, b, req, reqlen)) < 0) {
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
				        "%s: more replies than commands in db %ld; is this a Redis "
				        "server?",
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
		redis_error(r,
		            "%s: INFO keyspace failed, so the databases are unknown; allow the "
		            "user +info, or list them in databases =",
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

static int
rb_dump(struct rbackup *b, redisContext *ctx)
{
	struct redis *r = b->r;
	struct rconn c = {.r = r, .fd = ctx->fd};
	int *dbs = NULL, rc, abs_ttl;
	size_t ndbs = 0;
	char *trailer = NULL, *t;
	size_t tcap;

	if ((rc = rb_replica_check(r, ctx)) < 0)
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

/* ---------------------------------------------------------------- entry */

int
redis_backup(void *inst, struct cairn_out *out)
{
	struct redis *r = inst;
	struct rbackup b = {.r = r, .out = out, .used_memory = -1};
	redisContext *ctx = NULL;
	int rc;

	rc = redis_connect(r, &ctx);
	if (rc < 0)
		return rc;
	rb_server_info(&b, ctx);
	if (r->mode == REDIS_MODE_RDB)
		rc = rb_rdb(&b, ctx);
	else
		rc = rb_dump(&b, ctx);
	redisFree(ctx);
	if (rc == 0) {
		rb_stats(&b);
		redis_log(r, CAIRN_LOG_INFO, "%s: %" PRIu64 " keys, %" PRIu64 " bytes", r->name,
		          b.keys, b.bytes);
	}
	free(b.db_keys);
	return rc;
}
