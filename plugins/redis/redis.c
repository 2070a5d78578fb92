/*
 * redis.c - the `redis` source: Redis as RDB snapshots or key-level dumps.
 *
 * This file holds the configuration, the connection helper, the verify
 * dispatch and the descriptor; backup.c takes backups, rdb.c walks RDB
 * files, restore.c brings them back (see redis.h for who owns what).
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "redis.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

const struct cairn_host *redis_host;

/* ------------------------------------------------------------ messages */

void
redis_error(struct redis *r, const char *fmt, ...)
{
	va_list ap;
	char *line = NULL;
	va_start(ap, fmt);
	if (vasprintf(&line, fmt, ap) < 0)
		line = NULL;
	va_end(ap);
	redis_host->set_error(r->ctx, "%s", line != NULL ? line : fmt);
	free(line);
}

void
redis_log(struct redis *r, enum cairn_log_level level, const char *fmt, ...)
{
	va_list ap;
	char *line = NULL;
	va_start(ap, fmt);
	if (vasprintf(&line, fmt, ap) < 0)
		line = NULL;
	va_end(ap);
	redis_host->log(r->ctx, level, "%s", line != NULL ? line : fmt);
	free(line);
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

static const char *
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
			        "%s: the server refused the credentials (%.*s)%s; check username "
			        "and password",
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

static int
redis_verify(void *inst, struct cairn_in *in)
{
	struct redis *r = inst;
	struct redis_peek p;
	int kind = redis_peek(r, in, &p);

	if (kind < 0)
		return kind;
	if (kind == REDIS_OBJ_RDB)
		return redis_verify_rdb(r, &p.in);
	if (kind == REDIS_OBJ_DUMP)
		return redis_verify_dump(r, &p.in);
	redis_error(r,
	            "the stored object is neither an RDB file nor a cairn dump stream (it starts "
	            "with byte 0x%02x); it is damaged or not from the redis source",
	            p.head[0]);
	return CAIRN_E_CORRUPT;
}

/* -------------------------------------------------------------- config */

static const struct cairn_key redis_keys[] = {
        {.name = "host",
         .type = CAIRN_KEY_STRING,
         .default_value = "127.0.0.1",
         .help = "server host name or address (restore: the target)"},
        {.name = "port", .type = CAIRN_KEY_INT, .default_value = "6379", .help = "server TCP port"},
        {.name = "unix_socket",
         .type = CAIRN_KEY_PATH,
         .help = "server unix socket; used instead of host and port when set"},
        {.name = "username",
         .type = CAIRN_KEY_STRING,
         .help = "ACL user name (Redis 6+); unset: legacy AUTH with the password only"},
        {.name = "password",
         .type = CAIRN_KEY_STRING,
         .flags = CAIRN_KEY_SECRET,
         .help = "password for AUTH (also password_file = or password_env =)"},
        {.name = "timeout",
         .type = CAIRN_KEY_DURATION,
         .default_value = "30s",
         .help = "give up when the server does not answer for this long"},
        {.name = "databases",
         .type = CAIRN_KEY_LIST,
         .flags = CAIRN_KEY_NO_RESTORE,
         .help = "mode = dump: the database numbers to back up; unset: every one with keys"},
        {.name = "match",
         .type = CAIRN_KEY_STRING,
         .flags = CAIRN_KEY_NO_RESTORE,
         .help = "mode = dump: back up only keys matching this glob (SCAN MATCH)"},
        {.name = "mode",
         .type = CAIRN_KEY_STRING,
         .flags = CAIRN_KEY_NO_RESTORE,
         .default_value = "rdb",
         .help = "rdb: a snapshot over the replication protocol; dump: SCAN and DUMP "
                 "every key (for servers that refuse SYNC)"},
        {.name = "flush",
         .type = CAIRN_KEY_BOOL,
         .flags = CAIRN_KEY_NO_BACKUP,
         .default_value = "no",
         .help = "restore: empty each target database before writing into it"},
        {.name = "rdb_path",
         .type = CAIRN_KEY_PATH,
         .flags = CAIRN_KEY_NO_BACKUP,
         .help = "restore of an RDB: write the file here instead of into the server"},
        {.name = "redis_server",
         .type = CAIRN_KEY_STRING,
         .flags = CAIRN_KEY_NO_BACKUP,
         .default_value = "redis-server",
         .help = "redis-server binary for scratch servers (restore, restore test); "
                 "a name without '/' is looked up in PATH"},
        {.name = NULL}};

static void
redis_destroy(void *instance)
{
	struct redis *r = instance;
	if (r == NULL)
		return;
	free(r->hostname);
	free(r->unix_socket);
	free(r->username);
	if (r->password != NULL) {
		explicit_bzero(r->password, strlen(r->password));
		free(r->password);
	}
	free(r->databases);
	free(r->match);
	free(r->rdb_path);
	free(r->redis_server);
	free(r->name);
	free(r);
}

static const struct cairn_value *
redis_value(const struct cairn_config *cfg, const char *name)
{
	const struct cairn_value *v = cairn_config_get(cfg, name);
	return (v != NULL && v->set) ? v : NULL;
}

/* Copy a set, non-empty text value; 0 with *dst NULL when unset. */
static int
redis_text(const struct cairn_config *cfg, const char *name, char **dst)
{
	const struct cairn_value *v = redis_value(cfg, name);
	*dst = NULL;
	if (v == NULL || v->text == NULL || v->text[0] == '\0')
		return 0;
	*dst = strdup(v->text);
	return *dst == NULL ? CAIRN_E_NOMEM : 0;
}

static int
redis_cmp_int(const void *a, const void *b)
{
	int x = *(const int *)a, y = *(const int *)b;
	return (x > y) - (x < y);
}

static int
redis_parse_databases(struct redis *r, const struct cairn_value *v)
{
	size_t n = 0;
	if (v == NULL || v->list_len == 0)
		return 0;
	r->databases = calloc(v->list_len, sizeof(*r->databases));
	if (r->databases == NULL)
		return CAIRN_E_NOMEM;
	for (size_t k = 0; k < v->list_len; k++) {
		char *end;
		long d;
		errno = 0;
		d = strtol(v->list[k], &end, 10);
		if (errno != 0 || end == v->list[k] || *end != '\0' || d < 0 || d >= RDB_MAX_DB) {
			redis_error(r,
			            "key 'databases': '%s' is not a database number; use numbers "
			            "like 0 1 15",
			            v->list[k]);
			return CAIRN_E_CONFIG;
		}
		r->databases[n++] = (int)d;
	}
	qsort(r->databases, n, sizeof(*r->databases), redis_cmp_int);
	r->ndatabases = 0;
	for (size_t k = 0; k < n; k++)
		if (r->ndatabases == 0 || r->databases[r->ndatabases - 1] != r->databases[k])
			r->databases[r->ndatabases++] = r->databases[k];
	return 0;
}

static int
redis_create(cairn_ctx *ctx, const struct cairn_config *cfg, void **instance)
{
	const struct cairn_value *v;
	struct redis *r;
	int rc;

	r = calloc(1, sizeof(*r));
	if (r == NULL)
		return CAIRN_E_NOMEM;
	r->ctx = ctx;
	r->host = redis_host;
	r->port = 6379;
	r->timeout_ms = 30000;

	if ((rc = redis_text(cfg, "host", &r->hostname)) < 0 ||
	    (rc = redis_text(cfg, "unix_socket", &r->unix_socket)) < 0 ||
	    (rc = redis_text(cfg, "username", &r->username)) < 0 ||
	    (rc = redis_text(cfg, "password", &r->password)) < 0 ||
	    (rc = redis_text(cfg, "match", &r->match)) < 0 ||
	    (rc = redis_text(cfg, "rdb_path", &r->rdb_path)) < 0 ||
	    (rc = redis_text(cfg, "redis_server", &r->redis_server)) < 0)
		goto fail;
	if (r->hostname == NULL && (r->hostname = strdup("127.0.0.1")) == NULL) {
		rc = CAIRN_E_NOMEM;
		goto fail;
	}
	if (r->redis_server == NULL && (r->redis_server = strdup("redis-server")) == NULL) {
		rc = CAIRN_E_NOMEM;
		goto fail;
	}
	if ((v = redis_value(cfg, "port")) != NULL) {
		if (v->i < 1 || v->i > 65535) {
			redis_host->set_error(ctx,
			                      "key 'port': %lld is not a TCP port; use 1 to 65535",
			                      (long long)v->i);
			rc = CAIRN_E_CONFIG;
			goto fail;
		}
		r->port = (int)v->i;
	}
	if ((v = redis_value(cfg, "timeout")) != NULL) {
		if (v->i < 1 || v->i > 86400) {
			redis_host->set_error(ctx, "key 'timeout': use 1s to 1d");
			rc = CAIRN_E_CONFIG;
			goto fail;
		}
		r->timeout_ms = (int)v->i * 1000;
	}
	if (r->username != NULL && r->password == NULL) {
		redis_host->set_error(ctx, "key 'username' is set but no password; set password "
		                           "(or password_file / password_env)");
		rc = CAIRN_E_CONFIG;
		goto fail;
	}
	v = redis_value(cfg, "mode");
	if (v == NULL || v->text == NULL || strcmp(v->text, "rdb") == 0)
		r->mode = REDIS_MODE_RDB;
	else if (strcmp(v->text, "dump") == 0)
		r->mode = REDIS_MODE_DUMP;
	else {
		redis_host->set_error(ctx, "key 'mode': '%s' is not a mode; use rdb or dump",
		                      v->text);
		rc = CAIRN_E_CONFIG;
		goto fail;
	}
	if ((v = redis_value(cfg, "flush")) != NULL)
		r->flush = v->i != 0;
	rc = redis_parse_databases(r, redis_value(cfg, "databases"));
	if (rc < 0)
		goto fail;
	if (r->mode == REDIS_MODE_RDB && (r->ndatabases > 0 || r->match != NULL)) {
		redis_host->set_error(ctx, "keys 'databases' and 'match' need mode = dump: an RDB "
		                           "snapshot always holds every key; set mode = dump or "
		                           "remove them");
		rc = CAIRN_E_CONFIG;
		goto fail;
	}
	if (r->unix_socket != NULL)
		rc = asprintf(&r->name, "redis %s", r->unix_socket);
	else if (strchr(r->hostname, ':') != NULL)
		rc = asprintf(&r->name, "redis [%s]:%d", r->hostname, r->port);
	else
		rc = asprintf(&r->name, "redis %s:%d", r->hostname, r->port);
	if (rc < 0) {
		r->name = NULL;
		rc = CAIRN_E_NOMEM;
		goto fail;
	}
	/* Nothing is contacted here: `config check` calls create(). */
	*instance = r;
	return 0;

fail:
	redis_destroy(r);
	return rc;
}

static const char *
redis_file_extension(void *instance)
{
	struct redis *r = instance;
	/* An RDB object is a dump.rdb; a dump is RESP for redis-cli --pipe. */
	return r->mode == REDIS_MODE_DUMP ? "resp" : "rdb";
}

/* config check --connect: connect and AUTH as backup() does, PING, and
 * list what it would read: the server's role and the keys of the
 * databases the configuration asks for (INFO replication, INFO keyspace). */
static int
redis_probe(void *inst, char *summary, size_t len)
{
	struct redis *r = inst;
	redisContext *c;
	redisReply *rep;
	char role[32] = "unknown";
	long long keys = 0;
	long dbs = 0;
	int rc = redis_connect(r, &c);

	if (rc < 0)
		return rc;
	if ((rep = redis_command(r, c, r->name, 0, &rc, "PING")) != NULL) {
		freeReplyObject(rep);
		rep = redis_command(r, c, r->name, 0, &rc, "INFO replication");
	}
	if (rep != NULL) {
		const char *p = rep->type == REDIS_REPLY_STRING ? strstr(rep->str, "role:") : NULL;
		if (p != NULL)
			snprintf(role, sizeof(role), "%.*s", (int)strcspn(p + 5, "\r\n"), p + 5);
		freeReplyObject(rep);
		rep = redis_command(r, c, r->name, 0, &rc, "INFO keyspace");
	}
	if (rep != NULL && (rep->type == REDIS_REPLY_STRING)) {
		/* lines "db0:keys=3,expires=0,avg_ttl=0" */
		for (const char *p = strstr(rep->str, "\ndb"); p != NULL;
		     p = strstr(p + 1, "\ndb")) {
			long db;
			long long n;
			if (sscanf(p + 1, "db%ld:keys=%lld", &db, &n) == 2 &&
			    redis_db_wanted(r, db)) {
				keys += n;
				dbs++;
			}
		}
	}
	if (rep != NULL)
		freeReplyObject(rep);
	redisFree(c);
	if (rc < 0)
		return rc;
	snprintf(summary, len, "%s reached (role %s), %lld key%s in %ld database%s", r->name, role,
	         keys, keys == 1 ? "" : "s", dbs, dbs == 1 ? "" : "s");
	return 0;
}

/* ---------------------------------------------------------- descriptor */

static const struct cairn_source_ops redis_ops = {
        .struct_size = sizeof(struct cairn_source_ops),
        .create = redis_create,
        .destroy = redis_destroy,
        .file_extension = redis_file_extension,
        .backup = redis_backup,
        .restore = redis_restore,
        .verify = redis_verify,
        .restore_test = redis_restore_test,
        /* No CAIRN_SOURCE_STAGED_RESTORE: a dump replays straight into
	 * the target, so the core checks the object in full first. */
        .flags = 0,
        .probe = redis_probe,
};

static const struct cairn_plugin redis_plugin = {
        .struct_size = sizeof(struct cairn_plugin),
        .abi_major = CAIRN_ABI_MAJOR,
        .abi_minor = CAIRN_ABI_MINOR,
        .name = "redis",
        .version = REDIS_PLUGIN_VERSION,
        .kind = CAIRN_KIND_SOURCE,
        .description = "Redis: RDB snapshots over replication or key-level dumps (hiredis)",
        .keys = redis_keys,
        .source = &redis_ops,
        .sink = NULL,
};

CAIRN_EXPORT const struct cairn_plugin *
cairn_plugin_entry(const struct cairn_host *host)
{
	redis_host = host;
	return &redis_plugin;
}
