/*
 * redis.c - the `redis` source: Redis as RDB snapshots or key-level dumps.
 *
 * The top floor (see redis_internal.h for the others): the key table,
 * create/destroy, config check's probe, the descriptor and the op
 * dispatch: backup() runs backup_rdb.c or backup_dump.c, restore(),
 * restore_test() and verify() tell the stored object's kind by its first
 * bytes and hand it to restore.c, rdb_file.c, restore_test.c or verify.c.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "backup.h"
#include "follow.h"
#include "redis_internal.h"
#include "restore.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------- stored objects */

static int
unknown_object(struct redis *r, const struct redis_peek *p)
{
	redis_error(
	        r,
	        "the stored object is neither an RDB file nor a cairn dump stream (it starts with byte 0x%02x); it is damaged or not from the redis source",
	        p->head[0]);
	return CAIRN_E_CORRUPT;
}

static int
redis_restore(void *inst, struct cairn_in *in, unsigned flags)
{
	struct redis *r = inst;
	struct redis_peek p;
	int kind = redis_peek(r, in, &p);

	if (kind < 0)
		return kind;
	if (kind == REDIS_OBJ_DUMP) {
		if (r->rdb_path) {
			redis_error(
			        r,
			        "rdb_path is set, but the backup is a dump (mode = dump), not an RDB; unset rdb_path to replay it into the server");
			return CAIRN_E_CONFIG;
		}
		return restore_dump(r, &p.in, flags);
	}
	if (kind == REDIS_OBJ_RDB)
		return r->rdb_path ? restore_rdb_file(r, &p.in, flags)
		                   : restore_rdb_scratch(r, &p.in, flags);
	return unknown_object(r, &p);
}

static int
redis_restore_test(void *inst, struct cairn_in *in)
{
	struct redis *r = inst;
	struct redis_peek p;
	struct scratch s;
	int kind = redis_peek(r, in, &p), rc;

	if (kind < 0)
		return kind;
	if (kind != REDIS_OBJ_DUMP && kind != REDIS_OBJ_RDB)
		return unknown_object(r, &p);
	if ((rc = scratch_init(r, &s)))
		return rc;
	rc = kind == REDIS_OBJ_DUMP ? restore_test_dump(r, &p.in, &s)
	                            : restore_test_rdb(r, &p.in, &s);
	scratch_stop(r, &s);
	scratch_free(&s);
	return rc;
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
	return unknown_object(r, &p);
}

/* -------------------------------------------------------------- backup */

static int
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
		rc = backup_rdb(&b, ctx);
	else
		rc = backup_dump(&b, ctx);
	redisFree(ctx);
	if (rc == 0) {
		rb_stats(&b);
		redis_log(r, CAIRN_LOG_INFO, "%s: %" PRIu64 " keys, %" PRIu64 " bytes", r->name,
		          b.keys, b.bytes);
	}
	free(b.db_keys);
	return rc;
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
         .help = "rdb: a snapshot over the replication protocol; dump: SCAN and DUMP every key (for servers that refuse SYNC)"},
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
         .help = "redis-server binary for scratch servers (restore, restore test); a name without '/' is looked up in PATH"},
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
			redis_error(
			        r,
			        "key 'databases': '%s' is not a database number; use numbers like 0 1 15",
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
		redis_host->set_error(
		        ctx,
		        "key 'username' is set but no password; set password (or password_file / password_env)");
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
		redis_host->set_error(
		        ctx,
		        "keys 'databases' and 'match' need mode = dump: an RDB snapshot always holds every key; set mode = dump or remove them");
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

/* A log segment is the replication stream: RESP, the AOF format. */
static const char *
redis_log_extension(void *instance)
{
	(void)instance;
	return "aof";
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
        .log_extension = redis_log_extension,
        .follow = redis_follow,
        .replay = redis_replay,
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
