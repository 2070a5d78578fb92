/* fuzz_rdb.c - libFuzzer target: the RDB walker (plugins/redis/rdb.c) that
 * verify --deep and restore run over a stored RDB, fed in the chunk sizes
 * the input's first bytes choose (chunks.h). */
#include "autoconf.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "../../plugins/redis/rdb.h"
#include "chunks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
fill(struct rdb_walk *w)
{
	size_t n = chunks_read(w->arg, w->buf, w->bufsize);
	w->pos = 0;
	w->len = n;
	return n > 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static unsigned char buf[64 * 1024];
	struct rdb_walk w = {0};
	struct chunks c;
	uint64_t sum = 0;
	int rc;

	chunks_init(&c, data, size);
	w.buf = buf;
	w.bufsize = sizeof(buf);
	w.fill = fill;
	w.arg = &c;
	rdb_walk_init(&w);
	rc = rdb_walk(&w);
	if (rc == 0) {
		/* a walk that passes accounts for every key it counted */
		for (size_t k = 0; k < w.ndb; k++)
			sum += w.db_keys[k];
		if (sum != w.keys || w.expires > w.keys || rdb_walk_offset(&w) > c.len)
			abort();
	} else if ((rc == CAIRN_E_CORRUPT || rc == CAIRN_E_UNSUPPORTED) && !w.err[0])
		abort();         /* damage always says where */
	if (getenv("FUZZ_SHOW")) /* replaying seeds: say what each gave */
		fprintf(stderr, "rdb: %d keys=%llu %s\n", rc, (unsigned long long)w.keys, w.err);
	rdb_walk_free(&w);
	return 0;
}
