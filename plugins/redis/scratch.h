/*
 * scratch.h - a redis-server of the restore's own (scratch.c), not
 * installed.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef CAIRN_REDIS_SCRATCH_H
#define CAIRN_REDIS_SCRATCH_H

#include "redis_internal.h"

#define SCRATCH_NAME "scratch redis-server"

/*
 * A redis-server of our own on a unix socket in the instance's scratch
 * directory, with no TCP port, no persistence and nothing of the user's
 * configuration: for loading a stored RDB (dir/dump.rdb, when it is
 * there at start) or replaying a dump where nothing the user keeps can
 * change.  Always stopped with scratch_stop(), whatever happened.
 */
struct scratch {
	pid_t pid; /* 0: not running */
	char *dir;
	char *sock;
	char *log;
	char *rdb; /* dir/dump.rdb */
	redisContext *c;
};

/* Paths only (dir from host->scratch_dir); nothing starts yet. */
int scratch_init(struct redis *r, struct scratch *s);
/*
 * Start it with `databases` databases (at least 16), wait until the socket
 * answers and the dataset is loaded (no LOADING), with r->timeout_ms for
 * the socket to appear and for every reply.  CAIRN_E_IO/CAIRN_E_CORRUPT
 * with the error set (the server's last log line when it exits: a bad
 * RDB).  s->c is then a connection to it.
 */
int scratch_start(struct redis *r, struct scratch *s, long databases);
/* SHUTDOWN NOSAVE, then SIGTERM, then SIGKILL; always reaps the child.
 * Safe to call when not started, and twice. */
void scratch_stop(struct redis *r, struct scratch *s);
void scratch_free(struct scratch *s);

#endif /* CAIRN_REDIS_SCRATCH_H */
