/*
 * aof.c - one RESP command parsed in place: the unit of the redis
 * source's change log (aof.h).  Pure: no I/O, no allocation, so the
 * follower, the replay and the unit tests share it.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "aof.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define AOF_NUM_MAX 20 /* digits of a length */

/* A "<ch>N\r\n" line at p[*at..len): 1 with *v, 0 cut short (*need), -1
 * damage (err). */
static int
aof_len_line(const unsigned char *p, size_t len, uint64_t *at, char ch, uint64_t max, uint64_t *v,
             struct aof_cmd *c, const char *what)
{
	uint64_t i = *at, n = 0;
	size_t digits = 0;

	if (i >= len) {
		c->need = i + 1;
		return 0;
	}
	if (p[i] != ch) {
		snprintf(c->err, sizeof(c->err), "byte %" PRIu64 ": %s, not '%c' but 0x%02x", i,
		         what, ch, p[i]);
		return -1;
	}
	for (i++; i < len && p[i] >= '0' && p[i] <= '9'; i++) {
		if (++digits > AOF_NUM_MAX || n > (UINT64_MAX - 9) / 10) {
			snprintf(c->err, sizeof(c->err), "byte %" PRIu64 ": %s is too long", *at,
			         what);
			return -1;
		}
		n = n * 10 + (uint64_t)(p[i] - '0');
	}
	if (i + 1 >= len) {
		c->need = i + 2;
		return 0;
	}
	if (digits == 0 || p[i] != '\r' || p[i + 1] != '\n' || (digits > 1 && p[*at + 1] == '0')) {
		snprintf(c->err, sizeof(c->err), "byte %" PRIu64 ": %s is not a length", *at, what);
		return -1;
	}
	if (n > max) {
		snprintf(c->err, sizeof(c->err),
		         "byte %" PRIu64 ": %s %" PRIu64 " is over the limit of %" PRIu64, *at,
		         what, n, max);
		return -1;
	}
	*v = n;
	*at = i + 2;
	return 1;
}

/* Keep what messages and the cutter need of argument k (0 = the name). */
static void
aof_keep(struct aof_cmd *c, uint64_t k, const unsigned char *s, uint64_t n)
{
	if (k == 0) {
		c->name[0] = '\0';
		if (n >= AOF_NAME_MAX)
			return;
		for (uint64_t i = 0; i < n; i++) {
			unsigned char ch = s[i];
			if (ch < 0x21 || ch > 0x7e) {
				c->name[0] = '\0';
				return;
			}
			c->name[i] = (char)(ch >= 'a' && ch <= 'z' ? ch - 32 : ch);
		}
		c->name[n] = '\0';
		return;
	}
	if (k > 2)
		return;
	c->arglen[k - 1] = n;
	c->argkept[k - 1] = n < AOF_HEAD_MAX ? (size_t)n : AOF_HEAD_MAX;
	memcpy(c->arg[k - 1], s, c->argkept[k - 1]);
}

/* *-N\r\n at p[*at..len): 1 with *v, 0 cut short, -1 damage. */
static int
aof_neg_line(const unsigned char *p, size_t len, uint64_t *at, uint64_t *v, struct aof_cmd *c)
{
	uint64_t i = *at + 1;
	if (i >= len) {
		c->need = i + 1;
		return 0;
	}
	if (p[*at] != '*' || p[i] != '-') {
		snprintf(c->err, sizeof(c->err), "byte %" PRIu64 ": a time mark without its time",
		         *at);
		return -1;
	}
	*at = i; /* "-N" read as "$N": digits and CR LF */
	return aof_len_line(p, len, at, '-', INT64_MAX, v, c, "a mark");
}

/* The marks: *-OFFSET, or *0 followed by *-TIME. */
static int
aof_parse_mark(const unsigned char *p, size_t len, struct aof_cmd *c)
{
	uint64_t at = 0;
	int rc;

	if (p[1] == '-') {
		c->kind = AOF_MARK_LSN;
	} else {
		c->kind = AOF_MARK_TIME;
		at = 4; /* "*0\r\n" */
	}
	rc = aof_neg_line(p, len, &at, &c->mark, c);
	if (rc <= 0)
		return rc < 0 ? CAIRN_E_CORRUPT : 0;
	c->len = at;
	return 1;
}

int
aof_parse(const unsigned char *p, size_t len, struct aof_cmd *c)
{
	uint64_t at = 0, argc, n;
	int rc;

	c->kind = AOF_CMD;
	c->mark = 0;
	c->len = c->argc = c->need = 0;
	c->name[0] = '\0';
	c->argkept[0] = c->argkept[1] = 0;
	c->arglen[0] = c->arglen[1] = 0;
	c->err[0] = '\0';
	if (len < 4) {
		c->need = 4;
		return 0;
	}
	if (p[0] == '*' && (p[1] == '-' || memcmp(p, "*0\r\n", 4) == 0))
		return aof_parse_mark(p, len, c);
	rc = aof_len_line(p, len, &at, '*', 1u << 30, &argc, c, "the command's argument count");
	if (rc <= 0)
		return rc < 0 ? CAIRN_E_CORRUPT : 0;
	if (argc == 0) {
		snprintf(c->err, sizeof(c->err), "byte 0: a command without arguments");
		return CAIRN_E_CORRUPT;
	}
	for (uint64_t k = 0; k < argc; k++) {
		uint64_t start = at;
		rc = aof_len_line(p, len, &at, '$', AOF_RECORD_MAX, &n, c, "an argument's length");
		if (rc <= 0)
			return rc < 0 ? CAIRN_E_CORRUPT : 0;
		if (at + n + 2 > AOF_RECORD_MAX) {
			snprintf(c->err, sizeof(c->err),
			         "byte %" PRIu64 ": the command is longer than %llu MiB", start,
			         AOF_RECORD_MAX >> 20);
			return CAIRN_E_CORRUPT;
		}
		if (at + n + 2 > len) {
			c->need = at + n + 2;
			return 0;
		}
		if (p[at + n] != '\r' || p[at + n + 1] != '\n') {
			snprintf(c->err, sizeof(c->err),
			         "byte %" PRIu64 ": argument %" PRIu64
			         " does not end with CR LF after its %" PRIu64 " bytes",
			         start, k + 1, n);
			return CAIRN_E_CORRUPT;
		}
		aof_keep(c, k, p + at, n);
		at += n + 2;
	}
	c->argc = argc;
	c->len = at;
	return 1;
}

size_t
aof_marks(unsigned char *buf, int with_time, int64_t time_ms, uint64_t lsn)
{
	int n = 0;
	if (with_time)
		n = snprintf((char *)buf, AOF_MARKS_MAX, "*0\r\n*-%" PRId64 "\r\n", time_ms);
	n += snprintf((char *)buf + n, AOF_MARKS_MAX - (size_t)n, "*-%" PRIu64 "\r\n", lsn);
	return (size_t)n;
}

int
aof_is(const struct aof_cmd *c, const char *name, uint64_t argc)
{
	return strcmp(c->name, name) == 0 && (argc == 0 || c->argc == argc);
}

int
aof_select_db(const struct aof_cmd *c, long *db)
{
	long v = 0;

	if (!aof_is(c, "SELECT", 2) || c->arglen[0] == 0 || c->arglen[0] > 5)
		return -1;
	for (size_t i = 0; i < c->argkept[0]; i++) {
		if (c->arg[0][i] < '0' || c->arg[0][i] > '9')
			return -1;
		v = v * 10 + (c->arg[0][i] - '0');
	}
	if (v >= RDB_MAX_DB)
		return -1;
	*db = v;
	return 0;
}

size_t
aof_select(long db, unsigned char *buf)
{
	char num[16];
	int n = snprintf(num, sizeof(num), "%ld", db);
	return (size_t)snprintf((char *)buf, AOF_SELECT_MAX, "*2\r\n$6\r\nSELECT\r\n$%d\r\n%s\r\n",
	                        n, num);
}

void
aof_arg_text(const struct aof_cmd *c, int i, char *dst, size_t size)
{
	size_t o = 0;

	for (size_t k = 0; k < c->argkept[i] && o + 8 < size; k++) {
		unsigned char ch = c->arg[i][k];
		if (ch >= 0x20 && ch < 0x7f && ch != '"' && ch != '\\')
			dst[o++] = (char)ch;
		else
			o += (size_t)snprintf(dst + o, size - o, "\\x%02x", ch);
	}
	dst[o] = '\0';
	if (c->arglen[i] > c->argkept[i] || o + 8 >= size)
		snprintf(dst + o, size - o, "... (%" PRIu64 " bytes)", c->arglen[i]);
}

int
aof_pos_parse(const char *text, char *replid, uint64_t *offset, long *db)
{
	size_t n = strspn(text, "0123456789abcdef");
	const char *p;
	char *end;

	if (n != 40 || text[n] != ':' || text[n + 1] < '0' || text[n + 1] > '9')
		return -1;
	errno = 0;
	*offset = strtoull(text + n + 1, &end, 10);
	if (errno != 0)
		return -1;
	*db = -1;
	p = end;
	if (*p == ':') {
		long v;
		if (p[1] < '0' || p[1] > '9')
			return -1;
		errno = 0;
		v = strtol(p + 1, &end, 10);
		if (errno != 0 || v >= RDB_MAX_DB)
			return -1;
		*db = v;
		p = end;
	}
	if (*p != '\0')
		return -1;
	memcpy(replid, text, 40);
	replid[40] = '\0';
	return 0;
}
