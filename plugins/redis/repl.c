/*
 * repl.c - the replication link of the redis source: cairn asks a server
 * for its snapshot as a replica would (PSYNC ? -1, or SYNC the way
 * `redis-cli --rdb` does), so no BGSAVE file of ours, no temporary file and no access to the
 * server's disk are needed.  Here: the handshake up to the snapshot's
 * header, the words for each refusal, and a replica's link state.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "repl.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int
repl_replconf(struct redis *r, redisContext *ctx)
{
	redisReply *rep;
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
	return 0;
}

/* SYNC and PSYNC were refused with err: say why in words the user can act
 * on, each refusal with its own cause. */
static int
repl_refused(struct redis *r, const char *err)
{
	if (strncmp(err, "NOAUTH", 6) == 0) {
		redis_error(
		        r,
		        "%s refuses to send a snapshot (PSYNC: %s): it needs a password; set password (or password_file, password_env), and username for an ACL user",
		        r->name, err);
		return CAIRN_E_AUTH;
	}
	if (strncmp(err, "NOMASTERLINK", 12) == 0 || strncmp(err, "MASTERDOWN", 10) == 0) {
		redis_error(
		        r,
		        "%s refuses to send a snapshot (PSYNC: %s): it is a replica whose link to its master is down, so it has no current data to give; back up the master, or wait until INFO replication says master_link_status:up",
		        r->name, err);
		return CAIRN_E_IO;
	}
	redis_error(
	        r,
	        "%s refuses to send a snapshot (PSYNC: %s); give the user +sync +psync +replconf, or set mode = dump",
	        r->name, err);
	return CAIRN_E_UNSUPPORTED;
}

int
repl_replica_check(struct redis *r, redisContext *ctx)
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
	if (redis_info_field(rep->str, "role", role, sizeof(role)) || strcmp(role, "slave") != 0 ||
	    redis_info_field(rep->str, "master_link_status", link, sizeof(link)) ||
	    strcmp(link, "down") != 0) {
		freeReplyObject(rep);
		return 0;
	}
	if (redis_info_field(rep->str, "master_sync_in_progress", sync, sizeof(sync)))
		snprintf(sync, sizeof(sync), "?");
	if (redis_info_field(rep->str, "master_host", host, sizeof(host)))
		snprintf(host, sizeof(host), "?");
	if (redis_info_field(rep->str, "master_port", port, sizeof(port)))
		snprintf(port, sizeof(port), "?");
	freeReplyObject(rep);
	rep = redis_command(r, ctx, r->name, 1, &rc, "INFO keyspace");
	if (!rep)
		return rc;
	for (p = rep->type == REDIS_REPLY_STRING ? rep->str : NULL; p && (p = strstr(p, "keys="));)
		keys += strtoull(p += 5, NULL, 10);
	freeReplyObject(rep);
	if (keys > 0) {
		redis_log(
		        r, CAIRN_LOG_WARN,
		        "%s is a replica whose link to its master %s:%s is down: its %llu keys may be stale",
		        r->name, host, port, keys);
		return 0;
	}
	redis_error(
	        r,
	        "%s is a replica that holds no keys and whose link to its master %s:%s is down (master_link_status:down, master_sync_in_progress:%s): it has not finished its first sync; back up the master, or wait until the replica is in sync",
	        r->name, host, port, sync);
	return CAIRN_E_IO;
}

int
repl_parse_fullresync(const char *line, char *replid, uint64_t *offset)
{
	const char *p;
	char *end;
	size_t n;

	if (strncmp(line, "+FULLRESYNC ", 12) != 0)
		return -1;
	p = line + 12;
	n = strspn(p, "0123456789abcdef");
	if (n != REPL_ID_LEN || p[n] != ' ' || p[n + 1] < '0' || p[n + 1] > '9')
		return -1;
	errno = 0;
	*offset = strtoull(p + n + 1, &end, 10);
	if (errno != 0 || *end != '\0')
		return -1;
	memcpy(replid, p, REPL_ID_LEN);
	replid[REPL_ID_LEN] = '\0';
	return 0;
}

int
repl_parse_header(struct redis *r, const char *line, struct repl_header *h)
{
	if (strncmp(line, "$EOF:", 5) == 0) {
		if (strlen(line + 5) != REPL_MARK_LEN) {
			redis_error(
			        r,
			        "%s: a diskless snapshot header with a %zu-byte mark (not 40); is this a Redis server?",
			        r->name, strlen(line + 5));
			return CAIRN_E_IO;
		}
		memcpy(h->mark, line + 5, REPL_MARK_LEN);
		h->eof_mode = 1;
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
		h->total = len;
	} else {
		redis_error(
		        r, "%s sent '%.40s' where a snapshot should begin; is this a Redis server?",
		        r->name, line);
		return CAIRN_E_IO;
	}
	return 0;
}

int
repl_sync_start(struct rconn *c, struct repl_header *h)
{
	struct redis *r = c->r;
	char line[256], first_err[160] = "";
	int rc, tried_sync = 0;
	/* PSYNC first: its +FULLRESYNC names the replication id and offset
	 * the snapshot stands at, where `cairn follow` goes on from */
	const char *cmd = "PSYNC ? -1\r\n";

	memset(h, 0, sizeof(*h));
	for (;;) {
		if ((rc = rconn_write_all(c, cmd, strlen(cmd))) < 0)
			return rc;
		if ((rc = rconn_line(c, line, sizeof(line), 1, "waiting for the snapshot")) < 0)
			return rc;
		if (line[0] == '+' && strncmp(line, "+FULLRESYNC", 11) == 0) {
			h->have_pos = repl_parse_fullresync(line, h->replid, &h->offset) == 0;
			rc = rconn_line(c, line, sizeof(line), 1, "waiting for the snapshot");
			if (rc < 0)
				return rc;
		}
		if (line[0] != '-')
			break;
		if (first_err[0] == '\0')
			snprintf(first_err, sizeof(first_err), "%.150s", line + 1);
		if (tried_sync)
			return repl_refused(r, first_err);
		/* PSYNC renamed or denied: SYNC may still be allowed */
		tried_sync = 1;
		cmd = "SYNC\r\n";
	}
	return repl_parse_header(r, line, h);
}
