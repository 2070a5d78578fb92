/* test_compress.c - src/compress.c: round trips for every compression,
 * zstd frames that carry their content checksum (and that `zstd -t`
 * accepts), and damage that decompression must report instead of
 * handing on. */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zstd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>

#include "cairn.h"
#include "compress.h"
#include "testutil.h"

/* ------------------------------------------------------------ helpers */

struct mem {
	unsigned char *p;
	size_t len, cap;
	size_t pos;       /* read position */
	size_t chunk;     /* largest piece handed out per pull; 0: all asked */
	int fail_at_emit; /* emit number that fails with CAIRN_E_IO; -1: none */
	int emits;
	int fail_pull; /* pull fails with CAIRN_E_IO once this much was read */
};

static void
mem_put(struct mem *m, const void *buf, size_t len)
{
	if (m->len + len > m->cap) {
		m->cap = (m->len + len) * 2;
		m->p = realloc(m->p, m->cap);
		assert_non_null(m->p);
	}
	memcpy(m->p + m->len, buf, len);
	m->len += len;
}

static int
emit_mem(void *ud, const void *buf, size_t len)
{
	struct mem *m = ud;
	if (m->emits++ == m->fail_at_emit)
		return CAIRN_E_IO;
	mem_put(m, buf, len);
	return 0;
}

static ssize_t
pull_mem(void *ud, void *buf, size_t len)
{
	struct mem *m = ud;
	size_t n = m->len - m->pos;
	if (m->fail_pull > 0 && m->pos >= (size_t)m->fail_pull)
		return CAIRN_E_IO;
	if (n > len)
		n = len;
	if (m->chunk && n > m->chunk)
		n = m->chunk;
	memcpy(buf, m->p + m->pos, n);
	m->pos += n;
	return (ssize_t)n;
}

static struct mem
mem_new(void)
{
	return (struct mem){.fail_at_emit = -1};
}

/* Reproducible data: text-like lines, with an incompressible stretch
 * every so often (stored raw by zstd and deflate). */
static unsigned char *
make_data(size_t len, uint32_t seed)
{
	static const char *words[] = {"backup", "restore",  "cairn", "sink", "source",
	                              "object", "manifest", "frame", "zstd", "level"};
	unsigned char *p = malloc(len ? len : 1);
	uint32_t x = seed;
	size_t i = 0;
	assert_non_null(p);
	while (i < len) {
		x = x * 1103515245u + 12345u;
		if ((x >> 16) % 16 == 0) { /* a random stretch of 4 KiB */
			for (size_t k = 0; k < 4096 && i < len; k++) {
				x = x * 1103515245u + 12345u;
				p[i++] = (unsigned char)(x >> 23);
			}
			continue;
		}
		const char *w = words[(x >> 16) % 10];
		for (size_t k = 0; w[k] && i < len; k++)
			p[i++] = (unsigned char)w[k];
		if (i < len)
			p[i++] = (x >> 20) % 8 ? ' ' : '\n';
	}
	return p;
}

static unsigned char *
make_random(size_t len, uint32_t seed)
{
	unsigned char *p = malloc(len);
	uint32_t x = seed;
	assert_non_null(p);
	for (size_t i = 0; i < len; i++) {
		x = x * 1103515245u + 12345u;
		p[i] = (unsigned char)(x >> 23);
	}
	return p;
}

/* Compress data in pieces of `piece` bytes; returns the compressed bytes. */
static struct mem
compress_all(enum compression c, int level, int threads, const unsigned char *data, size_t len,
             size_t piece)
{
	struct mem m = mem_new();
	char *err = NULL;
	struct compressor *z = compressor_new(c, level, threads, emit_mem, &m, &err);
	if (!z)
		fail_msg("compressor_new: %s", err);
	for (size_t off = 0; off < len; off += piece) {
		size_t n = len - off < piece ? len - off : piece;
		int rc = compressor_write(z, data + off, n, &err);
		if (rc)
			fail_msg("compressor_write: %d %s", rc, err ? err : "");
	}
	int rc = compressor_finish(z, &err);
	if (rc)
		fail_msg("compressor_finish: %d %s", rc, err ? err : "");
	compressor_free(z);
	return m;
}

/* Decompress all of m; returns the bytes or the first error code in *rc. */
static struct mem
decompress_all(enum compression c, struct mem *m, size_t outpiece, int *rc, char **err)
{
	struct mem out = mem_new();
	unsigned char *buf = malloc(outpiece);
	struct decompressor *z;
	assert_non_null(buf);
	*rc = 0;
	*err = NULL;
	m->pos = 0;
	z = decompressor_new(c, pull_mem, m, err);
	if (!z)
		fail_msg("decompressor_new: %s", *err);
	for (;;) {
		ssize_t n = decompressor_read(z, buf, outpiece, err);
		if (n < 0) {
			*rc = (int)n;
			/* a failed stream stays failed */
			char *again = NULL;
			assert_int_equal(decompressor_read(z, buf, outpiece, &again), n);
			free(again);
			break;
		}
		if (n == 0)
			break;
		mem_put(&out, buf, (size_t)n);
	}
	decompressor_free(z);
	free(buf);
	return out;
}

static void
roundtrip(enum compression c, int level, int threads, size_t len, size_t piece, size_t outpiece,
          size_t chunk)
{
	unsigned char *data = make_data(len, (uint32_t)len);
	struct mem m = compress_all(c, level, threads, data, len, piece);
	char *err;
	int rc;
	m.chunk = chunk;
	struct mem out = decompress_all(c, &m, outpiece, &rc, &err);
	if (rc)
		fail_msg("%s, %zu bytes: decompression failed: %d %s", compression_name(c), len, rc,
		         err ? err : "");
	assert_int_equal(out.len, len);
	assert_true(len == 0 || memcmp(out.p, data, len) == 0);
	if (c == COMP_NONE)
		assert_int_equal(m.len, len);
	free(out.p);
	free(m.p);
	free(data);
}

/* Write p to a scratch file and run `zstd -t -q` on it: its exit code,
 * or -1 when there is no zstd to run. */
static int
zstd_test(const unsigned char *p, size_t len)
{
	char path[] = "/tmp/cairn-test-compress-XXXXXX";
	int fd = mkstemp(path);
	int status;
	pid_t pid;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, p, len), (ssize_t)len);
	close(fd);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (null >= 0) {
			dup2(null, 1);
			dup2(null, 2);
		}
		execlp("zstd", "zstd", "-t", "-q", path, (char *)NULL);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	unlink(path);
	if (!WIFEXITED(status))
		fail_msg("zstd -t died with signal %d", WTERMSIG(status));
	return WEXITSTATUS(status) == 127 ? -1 : WEXITSTATUS(status);
}

static int
have_zstd(void)
{
	return system("zstd --version >/dev/null 2>&1") == 0;
}

/* --------------------------------------------------------- round trips */

static void
roundtrips_for_every_compression(void **state)
{
	static const enum compression all[] = {COMP_NONE, COMP_ZSTD, COMP_GZIP, COMP_XZ};
	(void)state;
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		enum compression c = all[i];
		int threads = c == COMP_ZSTD || c == COMP_XZ ? 1 : 0;
		/* nothing at all, one byte, and more than a zstd job and a
		 * pipeline buffer, read back in odd pieces */
		roundtrip(c, -1, 0, 0, 1, 4096, 0);
		roundtrip(c, -1, threads, 0, 1, 4096, 0);
		roundtrip(c, -1, 0, 1, 1, 4096, 0);
		roundtrip(c, -1, threads, 5 << 20, 65536, 65536, 0);
		roundtrip(c, 1, 0, 3 << 20, 100000, 7777, 1000);
		roundtrip(c, -1, threads, 300000, 1, 1 << 20, 3); /* byte by byte in */
	}
}

static void
zstd_roundtrips_with_more_threads_and_levels(void **state)
{
	(void)state;
	roundtrip(COMP_ZSTD, 19, 0, 1 << 20, 65536, 65536, 0);
	roundtrip(COMP_ZSTD, 1, 2, 9 << 20, 262144, 65536, 0);
	roundtrip(COMP_ZSTD, 3, 4, 6 << 20, 262144, 100, 0);
}

/* Same data, same bytes: objects are compared across runs and sinks. */
static void
zstd_output_is_reproducible(void **state)
{
	unsigned char *data = make_data(4 << 20, 7);
	(void)state;
	for (int threads = 0; threads <= 2; threads++) {
		struct mem a = compress_all(COMP_ZSTD, 3, threads, data, 4 << 20, 65536);
		struct mem b = compress_all(COMP_ZSTD, 3, threads, data, 4 << 20, 12345);
		assert_int_equal(a.len, b.len);
		assert_memory_equal(a.p, b.p, a.len);
		free(a.p);
		free(b.p);
	}
	free(data);
}

/* -------------------------------------------------- zstd's checksum */

static void
zstd_frames_carry_a_content_checksum(void **state)
{
	unsigned char *data = make_data(3 << 20, 3);
	(void)state;
	for (int threads = 0; threads <= 1; threads++) {
		struct mem m = compress_all(COMP_ZSTD, -1, threads, data, 3 << 20, 65536);
		assert_true(m.len > 8);
		/* magic number 0xFD2FB528, little endian */
		assert_int_equal(m.p[0], 0x28);
		assert_int_equal(m.p[1], 0xb5);
		assert_int_equal(m.p[2], 0x2f);
		assert_int_equal(m.p[3], 0xfd);
		/* Frame_Header_Descriptor bit 2: Content_Checksum_flag */
		assert_true(m.p[4] & 0x04);
		if (have_zstd())
			assert_int_equal(zstd_test(m.p, m.len), 0);
		free(m.p);
	}
	free(data);
	if (!have_zstd())
		skip(); /* the header was checked; there is no zstd(1) for `zstd -t` */
}

/* Incompressible data goes into raw blocks, where a flipped byte decodes
 * without any error: only the content checksum can catch it. */
static void
zstd_flipped_byte_in_raw_block_fails(void **state)
{
	size_t len = 1 << 20;
	unsigned char *data = make_random(len, 11);
	(void)state;
	for (int threads = 0; threads <= 1; threads++) {
		struct mem m = compress_all(COMP_ZSTD, -1, threads, data, len, 65536);
		char *err;
		int rc;
		assert_true(m.len > len); /* raw blocks: stored as they are */
		m.p[m.len / 2] ^= 0x01;
		struct mem out = decompress_all(COMP_ZSTD, &m, 65536, &rc, &err);
		assert_int_equal(rc, CAIRN_E_CORRUPT);
		assert_contains(err, "checksum");
		/* nothing past the damage was handed on as good data */
		assert_true(out.len <= len);
		if (have_zstd())
			assert_int_not_equal(zstd_test(m.p, m.len), 0);
		free(err);
		free(out.p);
		free(m.p);
	}
	free(data);
}

static void
zstd_damage_anywhere_fails(void **state)
{
	size_t len = 2 << 20;
	unsigned char *data = make_data(len, 5);
	struct mem m = compress_all(COMP_ZSTD, -1, 1, data, len, 65536);
	(void)state;
	/* header, compressed blocks, the checksum itself */
	size_t where[] = {4, 9, m.len / 3, m.len / 2, m.len - 5, m.len - 1};
	for (size_t i = 0; i < sizeof(where) / sizeof(where[0]); i++) {
		char *err;
		int rc;
		m.p[where[i]] ^= 0x20;
		struct mem out = decompress_all(COMP_ZSTD, &m, 65536, &rc, &err);
		if (rc != CAIRN_E_CORRUPT)
			fail_msg("a flipped byte at %zu of %zu: rc %d, %zu bytes out", where[i],
			         m.len, rc, out.len);
		assert_non_null(err);
		free(err);
		free(out.p);
		m.p[where[i]] ^= 0x20;
	}
	/* cut short: at the checksum, in a block, in the header */
	size_t full = m.len;
	size_t cuts[] = {full - 1, full - 4, full / 2, 3};
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		char *err;
		int rc;
		m.len = cuts[i];
		struct mem out = decompress_all(COMP_ZSTD, &m, 65536, &rc, &err);
		if (rc != CAIRN_E_CORRUPT)
			fail_msg("cut to %zu of %zu bytes: rc %d", cuts[i], full, rc);
		free(err);
		free(out.p);
	}
	free(m.p);
	free(data);
}

static void
zstd_rejects_empty_trailing_and_foreign_data(void **state)
{
	unsigned char *data = make_data(100000, 9);
	struct mem z = compress_all(COMP_ZSTD, -1, 0, data, 100000, 65536);
	struct mem g = compress_all(COMP_GZIP, -1, 0, data, 100000, 65536);
	struct mem empty = mem_new();
	char *err;
	int rc;
	struct mem out;
	(void)state;

	/* no bytes at all: not even the frame our compressor always writes */
	out = decompress_all(COMP_ZSTD, &empty, 4096, &rc, &err);
	assert_int_equal(rc, CAIRN_E_CORRUPT);
	assert_contains(err, "no zstd frame");
	free(err);
	free(out.p);

	/* gzip data where the manifest says zstd: never guessed */
	out = decompress_all(COMP_ZSTD, &g, 4096, &rc, &err);
	assert_int_equal(rc, CAIRN_E_CORRUPT);
	assert_int_equal(out.len, 0);
	free(err);
	free(out.p);

	/* zstd data where the manifest says gzip */
	out = decompress_all(COMP_GZIP, &z, 4096, &rc, &err);
	assert_int_equal(rc, CAIRN_E_CORRUPT);
	assert_int_equal(out.len, 0);
	free(err);
	free(out.p);

	/* bytes after the frame */
	mem_put(&z, "junk", 4);
	out = decompress_all(COMP_ZSTD, &z, 4096, &rc, &err);
	assert_int_equal(rc, CAIRN_E_CORRUPT);
	free(err);
	free(out.p);

	free(z.p);
	free(g.p);
	free(data);
}

/* Objects written before the checksum (by libarchive) and concatenated
 * frames, which `zstd -d` reads too, still decompress. */
static void
zstd_reads_frames_without_checksum_and_several_frames(void **state)
{
	size_t len = 500000;
	unsigned char *data = make_data(len, 13);
	size_t cap = ZSTD_compressBound(len);
	struct mem m = mem_new();
	char *err;
	int rc;
	(void)state;
	m.p = malloc(2 * cap);
	m.cap = 2 * cap;
	size_t n = ZSTD_compress(m.p, cap, data, len, 3);
	assert_false(ZSTD_isError(n));
	assert_false(m.p[4] & 0x04); /* no checksum in the plain API's frame */
	m.len = n;
	size_t n2 = ZSTD_compress(m.p + n, cap, data, len / 2, 3);
	assert_false(ZSTD_isError(n2));
	m.len += n2;
	struct mem out = decompress_all(COMP_ZSTD, &m, 65536, &rc, &err);
	assert_int_equal(rc, 0);
	assert_int_equal(out.len, len + len / 2);
	assert_memory_equal(out.p, data, len);
	assert_memory_equal(out.p + len, data, len / 2);
	free(out.p);
	free(m.p);
	free(data);
}

/* --------------------------------------------------- gzip and xz damage */

/* libarchive 3.6 does not compare gzip's CRC-32 and length with the data
 * (its reader says "TODO"); deflate's own structure is what it catches,
 * and the pipeline's SHA-256 catches the rest. */
static void
gzip_damage_libarchive_sees_fails(void **state)
{
	size_t len = 1 << 20;
	unsigned char *data = make_data(len, 17);
	struct mem m = compress_all(COMP_GZIP, -1, 0, data, len, 65536);
	char *err;
	int rc;
	struct mem out;
	(void)state;
	assert_int_equal(m.p[0], 0x1f);
	assert_int_equal(m.p[1], 0x8b);
	assert_int_equal(m.p[3], 0); /* no optional fields: deflate starts at 10 */

	/* the first block's type turned into the reserved 11 */
	unsigned char keep = m.p[10];
	m.p[10] |= 0x06;
	out = decompress_all(COMP_GZIP, &m, 65536, &rc, &err);
	assert_int_equal(rc, CAIRN_E_CORRUPT);
	assert_contains(err, "gzip");
	free(err);
	free(out.p);
	m.p[10] = keep;

	/* cut inside the deflate data */
	size_t full = m.len;
	m.len = full / 2;
	out = decompress_all(COMP_GZIP, &m, 65536, &rc, &err);
	assert_int_equal(rc, CAIRN_E_CORRUPT);
	free(err);
	free(out.p);
	m.len = full;

	out = decompress_all(COMP_GZIP, &m, 65536, &rc, &err);
	assert_int_equal(rc, 0);
	assert_int_equal(out.len, len);
	free(out.p);
	free(m.p);
	free(data);
}

/* xz streams carry a CRC-64 that liblzma checks. */
static void
xz_flipped_byte_fails(void **state)
{
	size_t len = 1 << 20;
	unsigned char *data = make_random(len, 19);
	struct mem m = compress_all(COMP_XZ, -1, 0, data, len, 65536);
	char *err;
	int rc;
	(void)state;
	m.p[m.len / 2] ^= 0x01;
	struct mem out = decompress_all(COMP_XZ, &m, 65536, &rc, &err);
	assert_int_equal(rc, CAIRN_E_CORRUPT);
	assert_contains(err, "xz");
	free(err);
	free(out.p);
	free(m.p);
	free(data);
}

/* ---------------------------------------------------- failing callbacks */

static void
emit_failure_is_returned_and_nothing_more_goes_out(void **state)
{
	size_t len = 4 << 20;
	unsigned char *data = make_random(len, 23);
	static const enum compression all[] = {COMP_NONE, COMP_ZSTD, COMP_GZIP, COMP_XZ};
	(void)state;
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		for (int threads = 0; threads <= 1; threads++) {
			struct mem m = mem_new();
			char *err = NULL;
			int rc = 0;
			m.fail_at_emit = 1;
			struct compressor *z =
			        compressor_new(all[i], -1, threads, emit_mem, &m, &err);
			assert_non_null(z);
			for (size_t off = 0; off < len && !rc; off += 65536)
				rc = compressor_write(z, data + off, 65536, &err);
			if (!rc)
				rc = compressor_finish(z, &err);
			if (rc != CAIRN_E_IO)
				fail_msg("%s: rc %d after a failed emit", compression_name(all[i]),
				         rc);
			int emits = m.emits;
			if (all[i] != COMP_NONE) {
				/* further calls answer the same and emit nothing */
				assert_int_equal(compressor_write(z, data, 65536, &err),
				                 CAIRN_E_IO);
				assert_int_equal(compressor_finish(z, &err), CAIRN_E_IO);
			}
			compressor_free(z);
			if (m.emits != emits)
				fail_msg("%s, %d threads: %d emits after the failed one",
				         compression_name(all[i]), threads, m.emits - emits);
			free(err);
			free(m.p);
		}
	}
	free(data);
}

static void
pull_failure_is_returned(void **state)
{
	size_t len = 2 << 20;
	unsigned char *data = make_random(len, 29);
	static const enum compression all[] = {COMP_NONE, COMP_ZSTD, COMP_GZIP, COMP_XZ};
	(void)state;
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		struct mem m = compress_all(all[i], -1, 0, data, len, 65536);
		char *err;
		int rc;
		m.fail_pull = (int)(m.len / 2);
		struct mem out = decompress_all(all[i], &m, 65536, &rc, &err);
		if (rc != CAIRN_E_IO)
			fail_msg("%s: rc %d after a failed pull", compression_name(all[i]), rc);
		free(err);
		free(out.p);
		free(m.p);
	}
	free(data);
}

static void
bad_level_is_refused_with_a_message(void **state)
{
	struct mem m = mem_new();
	char *err = NULL;
	(void)state;
	assert_null(compressor_new(COMP_ZSTD, 1000, 0, emit_mem, &m, &err));
	assert_contains(err, "zstd");
	assert_contains(err, "1000");
	free(err);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(roundtrips_for_every_compression),
	        cmocka_unit_test(zstd_roundtrips_with_more_threads_and_levels),
	        cmocka_unit_test(zstd_output_is_reproducible),
	        cmocka_unit_test(zstd_frames_carry_a_content_checksum),
	        cmocka_unit_test(zstd_flipped_byte_in_raw_block_fails),
	        cmocka_unit_test(zstd_damage_anywhere_fails),
	        cmocka_unit_test(zstd_rejects_empty_trailing_and_foreign_data),
	        cmocka_unit_test(zstd_reads_frames_without_checksum_and_several_frames),
	        cmocka_unit_test(gzip_damage_libarchive_sees_fails),
	        cmocka_unit_test(xz_flipped_byte_fails),
	        cmocka_unit_test(emit_failure_is_returned_and_nothing_more_goes_out),
	        cmocka_unit_test(pull_failure_is_returned),
	        cmocka_unit_test(bad_level_is_refused_with_a_message),
	};
	alarm(300); /* a hang fails instead of stalling the run */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
