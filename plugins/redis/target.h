/*
 * target.h - a server being written to (target.c), not installed.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef CAIRN_REDIS_TARGET_H
#define CAIRN_REDIS_TARGET_H

#include "redis_internal.h"
#include "resp.h"

#define TARGET_WINDOW 512      /* commands in flight to one server */
#define TARGET_OBUF_SIZE 65536 /* bytes gathered before hiredis sends them */

enum sent_kind {
	SENT_SELECT = 1,
	SENT_FLUSHDB,
	SENT_RESTORE
};

struct sent {
	enum sent_kind kind;
	long db;
	char key[RESP_KEY_HEAD];
	size_t keykept;
	uint64_t keylen;
};

/* One server being written to, with the commands still unanswered. */
struct target {
	struct redis *r;
	redisContext *c;
	const char *name; /* "redis 127.0.0.1:6379" or the scratch's */
	char *obuf;
	size_t olen;
	struct sent *ring; /* TARGET_WINDOW entries */
	size_t head, count;
	uint64_t written; /* RESTOREs answered OK */
	int broken;       /* the link failed: nothing more can be read */
	char *fail;       /* the first refusal, a message */
	int fail_rc;
	/* databases entered so far (for flush and the lazy check) */
	unsigned char *entered;
	size_t nentered;
	int flush;
	int check_each; /* INFO refused: DBSIZE each database on entry */
	int absttl;     /* RESTORE takes ABSTTL (Redis 5+) */
	long cur_db;
	uint64_t *dbw; /* RESTOREs answered OK per database, ndbw entries */
	size_t ndbw;
	uint64_t total; /* keys the object holds (0: not known) */
	/* record what was written as it is answered: "keys" and "keys.dbN"
	 * (host->stat, the names backup() uses); only for the user's
	 * server, not for a restore test's scratch server */
	int stats;
};

/* CAIRN_E_NOMEM when the buffers cannot be had. */
int target_init(struct target *t, struct redis *r, redisContext *c, const char *name);
/* Safe on a target zeroed or initialised (even when target_init failed). */
void target_free(struct target *t);
/* Hand the gathered bytes to hiredis and send everything it holds. */
int target_send(struct target *t);
/* Bytes of commands for the target, gathered (a target_out() callback). */
int target_out(void *arg, const void *p, size_t n);
/* A small command of our own, as RESP. */
int target_cmd(struct target *t, const char *cmd, const char *arg);
/* Note a command just passed to target_out() (c: the RESTORE's key);
 * read a reply when TARGET_WINDOW are in flight.  Once a command was
 * refused nothing more is sent. */
int target_sent(struct target *t, enum sent_kind kind, const struct resp_cmd *c);
/* Every reply still due; the first failure stays the one reported. */
int target_drain(struct target *t);
/* Before anything is written: refuse a target holding keys (unless
 * force); a server refusing INFO is checked database by database. */
int target_check_empty(struct target *t, int force);
/* The first write into database db: the lazy emptiness check, flush. */
int target_enter(struct target *t, long db, int force);
/* Does the target take RESTORE ... ABSTTL (Redis 5.0 and later)? */
void target_probe_version(struct target *t);
/* The error of a restore that stopped (rc), with what it wrote. */
int target_report(struct target *t, int rc, const char *what);

#endif /* CAIRN_REDIS_TARGET_H */
