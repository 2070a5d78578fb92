/*
 * common.c - the bottom floor of the redis source: the instance's messages,
 * and the connection to a server: connect and AUTH with a timeout, one
 * command and its reply checked, the raw reads and writes past hiredis
 * that let a reply of any size stream, and INFO keyspace.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "redis_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define RCONN_POLL_SLICE 500 /* ms between looks at stop() */

const struct cairn_host *redis_host;

/* ------------------------------------------------------------ messages */

void
redis_error(struct redis *r, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cairn_verror(redis_host, r->ctx, fmt, ap);
	va_end(ap);
}

void
redis_log(struct redis *r, enum cairn_log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cairn_vlog(redis_host, r->ctx, level, fmt, ap);
	va_end(ap);
}

int64_t
redis_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int
redis_db_wanted(const struct redis *r, long db)
{
	if (r->ndatabases == 0)
		return 1;
	for (size_t k = 0; k < r->ndatabases; k++)
		if (r->databases[k] == db)
			return 1;
	return 0;
}

/* ---------------------------------------------------------- connecting */

static int
redis_wait_fd(int fd, short events, int timeout_ms)
{
	struct pollfd p = {.fd = fd, .events = events};
	int n;
	do
		n = poll(&p, 1, timeout_ms);
	while (n < 0 && errno == EINTR);
	if (n == 0)
		errno = ETIMEDOUT;
	return n > 0 ? 0 : -1;
}

/* connect() on a non-blocking socket, waiting at most timeout_ms. */
static int
redis_connect_fd(int fd, const struct sockaddr *sa, socklen_t salen, int timeout_ms)
{
	int err = 0;
	socklen_t elen = sizeof(err);

	if (connect(fd, sa, salen) == 0)
		return 0;
	if (errno != EINPROGRESS && errno != EINTR)
		return -1;
	if (redis_wait_fd(fd, POLLOUT, timeout_ms) != 0)
		return -1;
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) != 0)
		return -1;
	if (err != 0) {
		errno = err;
		return -1;
	}
	return 0;
}

/* A connected, blocking, close-on-exec descriptor, or -1 with a message. */
static int
redis_open_socket(struct redis *r, const char *name, const char *path, const char *host, int port)
{
	int fd = -1, e = 0;

	if (path != NULL) {
		struct sockaddr_un sun = {.sun_family = AF_UNIX};
		if (strlen(path) >= sizeof(sun.sun_path)) {
			redis_error(
			        r,
			        "%s: unix socket path is longer than %zu bytes; use a shorter one",
			        name, sizeof(sun.sun_path) - 1);
			return -1;
		}
		memcpy(sun.sun_path, path, strlen(path) + 1);
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
		if (fd < 0 ||
		    redis_connect_fd(fd, (struct sockaddr *)&sun, sizeof(sun), r->timeout_ms) != 0)
			e = errno;
	} else {
		struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM};
		struct addrinfo *res = NULL, *ai;
		char portstr[16];
		int g;
		snprintf(portstr, sizeof(portstr), "%d", port);
		g = getaddrinfo(host, portstr, &hints, &res);
		if (g != 0) {
			redis_error(r, "%s: cannot resolve the host name: %s; check host =", name,
			            gai_strerror(g));
			return -1;
		}
		e = ENOENT;
		for (ai = res; ai != NULL; ai = ai->ai_next) {
			fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
			            ai->ai_protocol);
			if (fd < 0) {
				e = errno;
				continue;
			}
			if (redis_connect_fd(fd, ai->ai_addr, ai->ai_addrlen, r->timeout_ms) == 0) {
				e = 0;
				break;
			}
			e = errno;
			close(fd);
			fd = -1;
		}
		freeaddrinfo(res);
	}
	if (e != 0) {
		if (fd >= 0)
			close(fd);
		redis_error(r,
		            "%s: cannot connect: %s; is the server running and the address right?",
		            name, e == ETIMEDOUT ? "no answer within the timeout" : strerror(e));
		return -1;
	}
	/* hiredis does blocking I/O on it, with SO_RCVTIMEO/SO_SNDTIMEO. */
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK) != 0) {
		e = errno;
		close(fd);
		redis_error(r, "%s: cannot set up the socket: %s", name, strerror(e));
		return -1;
	}
	return fd;
}

/* The first word of an error reply ("WRONGPASS", "NOPERM", "ERR"). */
static int
redis_reply_is(const redisReply *rep, const char *word)
{
	size_t n = strlen(word);
	return rep->type == REDIS_REPLY_ERROR && rep->str != NULL &&
	       strncmp(rep->str, word, n) == 0 && (rep->str[n] == ' ' || rep->str[n] == '\0');
}

const char *
redis_link_error(const redisContext *c, char *buf, size_t len)
{
	if (c->err == REDIS_ERR_IO && (errno == EAGAIN || errno == EWOULDBLOCK))
		snprintf(buf, len, "no answer within the timeout");
	else if (c->err == REDIS_ERR_EOF)
		snprintf(buf, len, "the server closed the connection");
	else
		snprintf(buf, len, "%s", c->errstr[0] != '\0' ? c->errstr : "link error");
	return buf;
}

redisReply *
redis_command(struct redis *r, redisContext *c, const char *name, int allow_error, int *rc,
              const char *fmt, ...)
{
	va_list ap;
	redisReply *rep;
	char why[160];
	size_t cmdlen = strcspn(fmt, " ");

	va_start(ap, fmt);
	rep = redisvCommand(c, fmt, ap);
	va_end(ap);
	if (rep == NULL) {
		*rc = c->err == REDIS_ERR_OOM ? CAIRN_E_NOMEM : CAIRN_E_IO;
		redis_error(r, "%s: %.*s failed: %s", name, (int)cmdlen, fmt,
		            redis_link_error(c, why, sizeof(why)));
		return NULL;
	}
	if (rep->type == REDIS_REPLY_ERROR && !allow_error) {
		if (redis_reply_is(rep, "NOAUTH") || redis_reply_is(rep, "NOPERM") ||
		    redis_reply_is(rep, "WRONGPASS"))
			*rc = CAIRN_E_AUTH;
		else
			*rc = CAIRN_E_IO;
		redis_error(r, "%s: %.*s failed: %s", name, (int)cmdlen, fmt, rep->str);
		freeReplyObject(rep);
		return NULL;
	}
	*rc = 0;
	return rep;
}

static int
redis_context(struct redis *r, const char *name, int fd, redisContext **out)
{
	struct timeval tv = {.tv_sec = r->timeout_ms / 1000,
	                     .tv_usec = (r->timeout_ms % 1000) * 1000};
	redisContext *c = redisConnectFd(fd);

	if (c == NULL) {
		close(fd);
		return CAIRN_E_NOMEM;
	}
	if (c->err != 0 || redisSetTimeout(c, tv) != REDIS_OK) {
		redis_error(r, "%s: cannot set up the connection: %s", name, c->errstr);
		redisFree(c);
		return CAIRN_E_IO;
	}
	*out = c;
	return 0;
}

int
redis_connect_to(struct redis *r, const char *name, const char *path, const char *host, int port,
                 redisContext **out)
{
	int fd = redis_open_socket(r, name, path, host, port);
	*out = NULL;
	if (fd < 0)
		return CAIRN_E_IO;
	return redis_context(r, name, fd, out);
}

int
redis_connect(struct redis *r, redisContext **out)
{
	redisContext *c;
	redisReply *rep;
	char why[160];
	int rc;

	*out = NULL;
	rc = redis_connect_to(r, r->name, r->unix_socket, r->hostname, r->port, &c);
	if (rc < 0)
		return rc;
	if (r->password == NULL) {
		*out = c;
		return 0;
	}
	/* The password goes out as a separate argument (%s), so it is never
	 * part of a format string or of a message below. */
	if (r->username != NULL)
		rep = redisCommand(c, "AUTH %s %s", r->username, r->password);
	else
		rep = redisCommand(c, "AUTH %s", r->password);
	if (rep == NULL) {
		redis_error(r, "%s: AUTH failed: %s", r->name,
		            redis_link_error(c, why, sizeof(why)));
		redisFree(c);
		return CAIRN_E_IO;
	}
	if (rep->type == REDIS_REPLY_ERROR) {
		/* Only the reply's first word: the rest is the server's
		 * prose, and nothing of what we sent is repeated. */
		size_t w = rep->str != NULL ? strcspn(rep->str, " ") : 0;
		if (redis_reply_is(rep, "WRONGPASS") || redis_reply_is(rep, "ERR") ||
		    redis_reply_is(rep, "NOPERM"))
			redis_error(
			        r,
			        "%s: the server refused the credentials (%.*s)%s; check username and password",
			        r->name, (int)w, rep->str,
			        r->username == NULL ? " for AUTH without user name" : "");
		else
			redis_error(r, "%s: AUTH failed (%.*s); check username and password",
			            r->name, (int)w, rep->str);
		freeReplyObject(rep);
		redisFree(c);
		return CAIRN_E_AUTH;
	}
	freeReplyObject(rep);
	*out = c;
	return 0;
}

/* ------------------------------------------------------------ keyspace */

/* The value of `field:` in an INFO reply, into dst; 0 if found. */
int
redis_info_field(const char *info, const char *field, char *dst, size_t dstsize)
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

/* The keys per database from an INFO keyspace text. */
int
redis_keyspace_parse(const char *text, uint64_t **db_keys, size_t *ndb)
{
	const char *p = text;
	*db_keys = NULL;
	*ndb = 0;
	while ((p = strstr(p, "db"))) {
		long db;
		unsigned long long keys;
		int used = 0;
		if ((p == text || p[-1] == '\n') &&
		    sscanf(p, "db%ld:keys=%llu%n", &db, &keys, &used) == 2 && used > 0 && db >= 0 &&
		    db <= RDB_MAX_DB) {
			if ((size_t)db >= *ndb) {
				uint64_t *n = realloc(*db_keys, ((size_t)db + 1) * sizeof(*n));
				if (!n) {
					free(*db_keys);
					*db_keys = NULL;
					return CAIRN_E_NOMEM;
				}
				memset(n + *ndb, 0, ((size_t)db + 1 - *ndb) * sizeof(*n));
				*db_keys = n;
				*ndb = (size_t)db + 1;
			}
			(*db_keys)[db] = keys;
		}
		p += 2;
	}
	return 0;
}

int
redis_keyspace(struct redis *r, redisContext *c, const char *name, uint64_t **db_keys, size_t *ndb)
{
	int rc;
	redisReply *rep = redis_command(r, c, name, 0, &rc, "INFO keyspace");

	*db_keys = NULL;
	*ndb = 0;
	if (!rep)
		return rc;
	if (rep->type != REDIS_REPLY_STRING) {
		redis_error(r, "%s: INFO keyspace gave no text", name);
		freeReplyObject(rep);
		return CAIRN_E_IO;
	}
	rc = redis_keyspace_parse(rep->str, db_keys, ndb);
	freeReplyObject(rep);
	return rc;
}

uint64_t
redis_sum(const uint64_t *v, size_t n)
{
	uint64_t s = 0;
	for (size_t i = 0; i < n; i++)
		s += v[i];
	return s;
}

/* ------------------------------------------------------- stored objects */

static ssize_t
redis_peek_read(struct cairn_in *self, void *buf, size_t len)
{
	struct redis_peek *p = (struct redis_peek *)self;
	if (p->hpos < p->hlen) {
		size_t n = p->hlen - p->hpos;
		if (n > len)
			n = len;
		memcpy(buf, p->head + p->hpos, n);
		p->hpos += n;
		return (ssize_t)n;
	}
	return p->inner->read(p->inner, buf, len);
}

int
redis_peek(struct redis *r, struct cairn_in *inner, struct redis_peek *p)
{
	memset(p, 0, sizeof(*p));
	p->in.struct_size = sizeof(p->in);
	p->in.read = redis_peek_read;
	p->inner = inner;
	while (p->hlen < 5) {
		ssize_t n = inner->read(inner, p->head + p->hlen, 5 - p->hlen);
		if (n < 0)
			return (int)n;
		if (n == 0)
			break;
		p->hlen += (size_t)n;
	}
	if (p->hlen == 0) {
		redis_error(r, "%s: the stored object is empty; take a new backup", r->name);
		return CAIRN_E_CORRUPT;
	}
	if (p->hlen == 5 && memcmp(p->head, "REDIS", 5) == 0)
		return REDIS_OBJ_RDB;
	if (p->head[0] == '*')
		return REDIS_OBJ_DUMP;
	return REDIS_OBJ_UNKNOWN;
}

/* ------------------------------------------------- raw side of a link */

/* Wait until fd is readable (or writable), in slices so a stop request
 * is seen soon.  0, or CAIRN_E_IO (timeout, set) / CAIRN_E_CANCELLED. */
int
rconn_wait(struct rconn *c, short events, const char *what)
{
	int waited = 0;
	for (;;) {
		struct pollfd p = {.fd = c->fd, .events = events};
		int n = poll(&p, 1, RCONN_POLL_SLICE);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR) {
			redis_error(c->r, "%s: poll failed while %s: %s", c->r->name, what,
			            strerror(errno));
			return CAIRN_E_IO;
		}
		if (c->stop != NULL && c->stop(c->stop_arg))
			return CAIRN_E_CANCELLED;
		if (n == 0 && (waited += RCONN_POLL_SLICE) >= c->r->timeout_ms) {
			redis_error(
			        c->r,
			        "%s: no data for %d s while %s; check the server, or raise timeout =",
			        c->r->name, c->r->timeout_ms / 1000, what);
			return CAIRN_E_IO;
		}
	}
}

/* Read what is there (at most max bytes) into dst. */
ssize_t
rconn_read_some(struct rconn *c, void *dst, size_t max, const char *what)
{
	for (;;) {
		ssize_t n;
		int rc = rconn_wait(c, POLLIN, what);
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
int
rconn_fill(struct rconn *c, const char *what)
{
	ssize_t n;
	if (c->pos == c->len)
		c->pos = c->len = 0;
	else if (c->len == c->cap) {
		memmove(c->buf, c->buf + c->pos, c->len - c->pos);
		c->len -= c->pos;
		c->pos = 0;
	}
	n = rconn_read_some(c, c->buf + c->len, c->cap - c->len, what);
	if (n < 0)
		return (int)n;
	c->len += (size_t)n;
	return 0;
}

/* One line through "\r\n" into line (NUL-terminated, without it).
 * skip_nl: first skip the bare "\n" a master sends while it prepares. */
int
rconn_line(struct rconn *c, char *line, size_t max, int skip_nl, const char *what)
{
	size_t n = 0;
	int rc;
	for (;;) {
		unsigned char ch;
		if (c->pos == c->len && (rc = rconn_fill(c, what)) < 0)
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
			redis_error(
			        c->r,
			        "%s: a reply line longer than %zu bytes while %s; is this a Redis server?",
			        c->r->name, max, what);
			return CAIRN_E_IO;
		}
		line[n++] = (char)ch;
	}
}

int
rconn_write_all(struct rconn *c, const void *buf, size_t len)
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
			int rc = rconn_wait(c, POLLOUT, "sending commands");
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
