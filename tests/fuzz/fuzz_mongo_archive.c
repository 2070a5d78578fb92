/* fuzz_mongo_archive.c - libFuzzer target: the mongodump archive walker
 * (plugins/mongo/dumpread.c) that verify --deep and restore run over a
 * stored archive: prelude, then every block with its CRC and BSON check,
 * fed in the chunk sizes the input's first bytes choose (chunks.h). */
#include "autoconf.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "../../plugins/mongo/dumparchive.h"
#include "../unit/fakehost.h"
#include "chunks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct chunk_in {
	struct cairn_in in; /* first */
	struct chunks c;
};

static ssize_t
rd(struct cairn_in *self, void *buf, size_t len)
{
	return (ssize_t)chunks_read(&((struct chunk_in *)self)->c, buf, len);
}

static int
on_doc(void *u, struct arc_ns *ns, const uint8_t *doc, uint32_t len)
{
	(void)u;
	(void)doc;
	if (ns->state != ARC_NS_OPEN || len < ARC_MIN_BSON)
		abort();
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static cairn_ctx *ctx;
	struct chunk_in in = {0};
	struct arc_reader r;
	struct arc_prelude p = {0};
	struct arc_walk cb = {.doc = on_doc};
	int rc;

	if (!ctx) {
		cairn_plugin_entry(&fake_host);
		ctx = fake_ctx_new();
	}
	cb.ctx = ctx;
	chunks_init(&in.c, data, size);
	in.in.struct_size = sizeof(in.in);
	in.in.read = rd;
	if (arc_reader_init(&r, &in.in, ctx) != 0)
		abort();
	rc = arc_read_prelude(&r, &p);
	if (rc == 0)
		rc = arc_walk(&r, &p, &cb, 1);
	if (rc == 0) {
		/* a walk that passes closed every namespace of the prelude */
		for (size_t k = 0; k < p.nns; k++)
			if (p.ns[k].state != ARC_NS_CLOSED)
				abort();
	} else if (rc == CAIRN_E_CORRUPT && !ctx->error[0])
		abort();         /* damage always says where */
	if (getenv("FUZZ_SHOW")) /* replaying seeds: say what each gave */
		fprintf(stderr, "archive: %d namespaces=%zu %s\n", rc, p.nns, ctx->error);
	ctx->error[0] = '\0';
	arc_prelude_free(&p);
	arc_reader_free(&r);
	return 0;
}
