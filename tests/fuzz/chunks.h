/* chunks.h - the byte source of the streaming targets: the input's first
 * byte says how many size bytes follow (1 to 8); the rest is the object,
 * handed out in reads of those sizes (each size byte + 1, in turn), so
 * every field of the format falls across a read boundary somewhere. */
#ifndef CAIRN_FUZZ_CHUNKS_H
#define CAIRN_FUZZ_CHUNKS_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/types.h>

struct chunks {
	const uint8_t *sizes;
	size_t nsizes, turn;
	const uint8_t *data;
	size_t len, pos;
};

static inline void
chunks_init(struct chunks *c, const uint8_t *in, size_t n)
{
	size_t k = n ? in[0] % 8 + 1 : 0;
	if (k + 1 > n)
		k = n ? n - 1 : 0;
	c->sizes = in + (n ? 1 : 0);
	c->nsizes = k;
	c->turn = 0;
	c->data = in + (n ? 1 + k : 0);
	c->len = n ? n - 1 - k : 0;
	c->pos = 0;
}

/* The next read: at most len bytes, 0 at the end. */
static inline size_t
chunks_read(struct chunks *c, void *buf, size_t len)
{
	size_t n = c->len - c->pos;
	size_t piece = c->nsizes ? (size_t)c->sizes[c->turn++ % c->nsizes] + 1 : 4096;
	if (n > piece)
		n = piece;
	if (n > len)
		n = len;
	memcpy(buf, c->data + c->pos, n);
	c->pos += n;
	return n;
}

/* A seed file: the object with one size byte in front. */

#endif
