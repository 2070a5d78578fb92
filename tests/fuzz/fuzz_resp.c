/* fuzz_resp.c - libFuzzer target: the RESP reader of dump restores
 * (plugins/redis/resp.c): every command of a stored dump stream through
 * resp_next() and the whole-stream checks of dump_count, fed in the chunk
 * sizes the input's first bytes choose (chunks.h).  What it passes on to
 * the server must be the stream's own bytes. */
#include "autoconf.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../plugins/redis/resp.h"
#include "chunks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct passed {
	const uint8_t *stream; /* the object */
	size_t len, at;        /* bytes passed on so far */
	uint64_t cmd_at;       /* offset of the command being passed on */
};

static ssize_t
rd(void *arg, void *buf, size_t len)
{
	return (ssize_t)chunks_read(arg, buf, len);
}

static int
begin(void *arg, const struct resp_cmd *c)
{
	struct passed *p = arg;
	p->at = (size_t)c->offset;
	return 1;
}

static int
out(void *arg, const void *b, size_t n)
{
	struct passed *p = arg;
	/* the exact stored bytes, in order, from the command's '*' on */
	if (p->at + n > p->len || memcmp(p->stream + p->at, b, n) != 0)
		abort();
	p->at += n;
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct chunks c;
	struct resp_in r;
	struct resp_cmd cmd = {0};
	struct dump_count d;
	struct passed p = {0};
	struct resp_cb cb = {begin, out, &p};
	int rc;

	chunks_init(&c, data, size);
	p.stream = c.data;
	p.len = c.len;
	if (resp_in_init(&r, rd, &c) != 0)
		abort();
	dump_count_init(&d);
	while ((rc = resp_next(&r, &cmd, &cb)) > 0)
		if ((rc = dump_count_add(&d, &cmd)) != 0)
			break;
	if (rc == 0)
		rc = dump_count_end(&d, &r);
	if (rc == 0 && (d.keys == 0 && d.ndb != 0))
		abort();
	if (getenv("FUZZ_SHOW")) /* replaying seeds: say what each gave */
		fprintf(stderr, "resp: %d keys=%llu %s%s\n", rc, (unsigned long long)d.keys, r.err,
		        d.err);
	resp_cmd_free(&cmd);
	resp_in_free(&r);
	dump_count_free(&d);
	return 0;
}
