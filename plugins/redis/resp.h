/*
 * resp.h - the RESP reader and dump-stream parser of the redis source
 * (resp.c), not installed.
 *
 * Memory.  Nothing here holds a value: a RESTORE payload (which can be
 * hundreds of megabytes) and a long key pass through a fixed buffer on
 * their way to the server.  What is kept of a command is its name, the
 * first RESP_KEY_HEAD bytes of its key (for messages), its small numeric
 * arguments and the dump's end mark (at most RESP_ECHO_MAX bytes).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef CAIRN_REDIS_RESP_H
#define CAIRN_REDIS_RESP_H

#include "redis_internal.h"

#define RESP_BUFSIZE 65536         /* the reader's buffer */
#define RESP_KEY_HEAD 256          /* bytes of a key kept for messages */
#define RESP_ECHO_MAX (1 << 20)    /* the end mark's text */
#define RESP_MAX_ARGS 16           /* RESTORE has at most 10 */
#define RESP_MAX_DB RDB_MAX_DB     /* a SELECT above this is damage */
#define RESP_MAX_BULK (1ull << 40) /* a bulk length above this is damage */

/*
 * A buffered pull reader over any byte source: a cairn_in (the stored
 * object) or a socket (a server's replies).  read() returns bytes read,
 * 0 at the end, or a negative CAIRN_E_* code; it is called only when the
 * buffer is empty.  `offset` counts the bytes consumed, for messages.
 * On CAIRN_E_CORRUPT, err says what and where ("byte 4711: ...").
 */
struct resp_in {
	ssize_t (*read)(void *arg, void *buf, size_t len);
	void *arg;
	unsigned char *buf;
	size_t pos, len;
	uint64_t offset;
	char err[512];
};

/* buf is malloc'd here (RESP_BUFSIZE); CAIRN_E_NOMEM if that fails. */
int resp_in_init(struct resp_in *r, ssize_t (*read)(void *, void *, size_t), void *arg);
void resp_in_free(struct resp_in *r);
/* The same over a cairn_in. */
int resp_in_init_cairn(struct resp_in *r, struct cairn_in *in);
/* Bytes buffered but not consumed (a protocol must leave none). */
size_t resp_in_pending(const struct resp_in *r);

/*
 * One line ending in CRLF, without it, into line[max] (NUL-terminated).
 * 1 = a line, 0 = the input ended before its first byte, < 0 an error
 * (CAIRN_E_CORRUPT when the line is longer than max - 1 or cut short).
 */
int resp_line(struct resp_in *r, char *line, size_t max);
/*
 * Consume n bytes: pass them to out (when not NULL) in pieces of at most
 * RESP_BUFSIZE, and copy the first keepmax of them to keep (when not
 * NULL).  The input ending first is CAIRN_E_CORRUPT; out()'s negative
 * return is returned as it is.
 */
int resp_take(struct resp_in *r, uint64_t n, int (*out)(void *, const void *, size_t), void *arg,
              void *keep, size_t keepmax);
/* A decimal without sign or leading zeros (but "0"), at most max. */
int resp_parse_u64(const char *s, uint64_t max, uint64_t *v);
/* A decimal with an optional '-'. */
int resp_parse_i64(const char *s, int64_t *v);

/*
 * Write `s` of length n into dst (dstsize bytes, NUL-terminated) for a
 * message: printable ASCII as is, '"' and '\\' and everything else as
 * \xNN, cut with "..." when it does not fit (or when n > RESP_KEY_HEAD:
 * `full` is then the key's real length and "... (N bytes)" follows).
 */
void resp_quote(char *dst, size_t dstsize, const void *s, size_t n, uint64_t full);

/* ------------------------------------------------ the dump stream */

enum resp_kind {
	RESP_SELECT = 1,
	RESP_RESTORE,
	RESP_ECHO
};

struct resp_cmd {
	enum resp_kind kind;
	unsigned argc;
	uint64_t offset; /* of the command's '*' in the stream */
	/* SELECT */
	long db;
	/* RESTORE */
	char key[RESP_KEY_HEAD];
	size_t keykept; /* bytes of key[] filled */
	uint64_t keylen;
	int64_t ttl; /* ms; 0 = none */
	int absttl, replace;
	uint64_t payload_len;
	/* ECHO: malloc'd, NUL-terminated, echolen bytes */
	char *echo;
	size_t echolen;
};

/*
 * How a parsed command reaches a server.  begin() is called once the
 * command's name is known (c->kind, c->argc, c->offset set; nothing else
 * yet): return 1 to have its bytes passed to out(), 0 to drop it, or a
 * negative CAIRN_E_* code to stop.  out() then gets the command's exact
 * bytes, the payload in pieces as it is read.  Either may be NULL.
 */
struct resp_cb {
	int (*begin)(void *arg, const struct resp_cmd *c);
	int (*out)(void *arg, const void *p, size_t n);
	void *arg;
};

/*
 * Parse the next command of a dump stream (see redis_internal.h: SELECT, RESTORE,
 * ECHO, as arrays of bulk strings, nothing else).  1 = a command in *c, 0 =
 * the stream ended cleanly between commands, < 0 an error: CAIRN_E_CORRUPT
 * with r->err set, or the code of the input or of a callback.  c->echo is
 * kept between calls (reallocated); free it with resp_cmd_free().
 */
int resp_next(struct resp_in *r, struct resp_cmd *c, const struct resp_cb *cb);
void resp_cmd_free(struct resp_cmd *c);

/*
 * The whole-stream checks on top of resp_next(): RESTOREs counted per
 * database, exactly one end mark, last, whose counts equal them.  Feed
 * every command to dump_count_add(); call dump_count_end() at the end
 * of the stream.  Both return 0 or CAIRN_E_CORRUPT (err set) or
 * CAIRN_E_NOMEM.
 */
struct dump_count {
	uint64_t *db_keys; /* RESTOREs per database, ndb entries */
	size_t ndb;
	uint64_t keys;
	long cur_db;
	int ended; /* the end mark was seen */
	char err[512];
};
void dump_count_init(struct dump_count *d);
int dump_count_add(struct dump_count *d, const struct resp_cmd *c);
int dump_count_end(struct dump_count *d, const struct resp_in *r);
void dump_count_free(struct dump_count *d);

#endif /* CAIRN_REDIS_RESP_H */
