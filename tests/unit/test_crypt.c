/* test_crypt.c - the age stages of the pipeline (src/crypt.c): the writer
 * behind the compressor, the reader in front of the decompressor.  Round
 * trips around the 64 KiB chunk boundaries, every kind of damage as
 * CAIRN_E_CORRUPT naming the object (and no byte of a bad chunk handed
 * on), the key errors a person must act on, and flat memory. */
#include "autoconf.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <malloc.h>
#include <stdint.h>
#include <sys/resource.h>

#include "cairn.h"
#include "crypt.h"
#include "testutil.h"

#include "age_kat.h"

#define OBJECT "nightly/20261207T020000Z/db.archive.zst.age"

static unsigned char
pattern(uint64_t i)
{
	return (unsigned char)(i * 131 + (i >> 9) * 7 + (i >> 17));
}

static int
to_buf(void *ud, const void *p, size_t n)
{
	buf_add(ud, p, n);
	return 0;
}

/* len bytes of pattern() through a writer to r, in random pieces. */
static struct buf
encrypt(const struct age_recipients *r, size_t len)
{
	struct buf out = {0};
	char *err = NULL;
	unsigned char *pt = malloc(len ? len : 1);
	for (size_t i = 0; i < len; i++)
		pt[i] = pattern(i);
	struct crypt_writer *w = crypt_writer_new(r, to_buf, &out, &err);
	if (!w)
		fail_msg("%s", err);
	for (size_t off = 0; off < len;) {
		size_t n = (size_t)(rand() % 100000) + 1;
		n = n < len - off ? n : len - off;
		assert_int_equal(crypt_writer_write(w, pt + off, n, &err), 0);
		off += n;
	}
	assert_int_equal(crypt_writer_finish(w, &err), 0);
	assert_null(err);
	crypt_writer_free(w);
	free(pt);
	return out;
}

/* The stored bytes as the reader pulls them: random sizes, and a failure
 * of its own at fail_at (-1: never). */
struct stored {
	const unsigned char *p;
	size_t len, off;
	int64_t fail_at;
	int pulls_after_end;
};

static ssize_t
pull_stored(void *ud, void *buf, size_t len)
{
	struct stored *s = ud;
	/* all it asks for (a whole sealed chunk) or a random part */
	size_t n = rand() % 3 ? (size_t)(rand() % 20000) + 1 : len;
	if (s->fail_at >= 0 && s->off >= (size_t)s->fail_at)
		return CAIRN_E_IO;
	if (s->off == s->len)
		s->pulls_after_end++;
	n = n < len ? n : len;
	n = n < s->len - s->off ? n : s->len - s->off;
	memcpy(buf, s->p + s->off, n);
	s->off += n;
	return (ssize_t)n;
}

/* What the manifest says the object was written to (NULL: nothing). */
static const struct strvec *expect;

/* Read all of ct through a reader with ids: 0 at the proven end, or the
 * read's -1 with *code and *err; the plaintext handed on in *pt. */
static int
decrypt(const struct age_identities *ids, const void *ct, size_t len, struct buf *pt, int *code,
        char **err)
{
	struct stored s = {.p = ct, .len = len, .fail_at = -1};
	struct crypt_reader *r = crypt_reader_new(ids, OBJECT, pull_stored, &s);
	char buf[70000];
	if (expect)
		crypt_reader_expect(r, expect);
	ssize_t n;
	*code = 0;
	*err = NULL;
	do {
		size_t want = (size_t)(rand() % (int)sizeof(buf)) + 1;
		n = crypt_reader_read(r, buf, want, code, err);
		if (n > 0)
			buf_add(pt, buf, (size_t)n);
	} while (n > 0);
	if (n == 0) /* the end stays the end */
		assert_int_equal(crypt_reader_read(r, buf, sizeof(buf), code, err), 0);
	crypt_reader_free(r);
	return n == 0 ? 0 : -1;
}

static void
round_trip_around_chunk_boundaries(void **state)
{
	static const size_t sizes[] = {0,
	                               1,
	                               AGE_CHUNK - 1,
	                               AGE_CHUNK,
	                               AGE_CHUNK + 1,
	                               2 * AGE_CHUNK,
	                               2 * AGE_CHUNK + 1,
	                               5 * AGE_CHUNK + 12345};
	struct age_recipients *r = kat_recipients(kat_pub1);
	struct age_identities *ids = kat_identities(kat_key1);
	(void)state;
	for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
		struct buf ct = encrypt(r, sizes[k]), pt = {0};
		char *err;
		int code;
		/* an age file, as `age -d` reads it */
		assert_true(ct.len > 22 && memcmp(ct.p, "age-encryption.org/v1\n", 22) == 0);
		assert_int_equal(decrypt(ids, ct.p, ct.len, &pt, &code, &err), 0);
		assert_int_equal(code, 0);
		assert_null(err);
		assert_int_equal(pt.len, sizes[k]);
		for (size_t i = 0; i < pt.len; i++)
			if ((unsigned char)pt.p[i] != pattern(i))
				fail_msg("size %zu: byte %zu differs", sizes[k], i);
		free(ct.p);
		free(pt.p);
	}
	age_identities_free(ids);
	age_recipients_free(r);
}

/* What Debian's age wrote (age_kat.h), read through the stage. */
static void
reads_what_debians_age_wrote(void **state)
{
	struct age_identities *ids = kat_identities(kat_key3);
	struct buf pt = {0};
	char *err;
	int code;
	(void)state;
	assert_int_equal(decrypt(ids, kat_three, sizeof(kat_three), &pt, &code, &err), 0);
	assert_int_equal(pt.len, strlen(kat_plain));
	assert_memory_equal(pt.p, kat_plain, pt.len);
	free(pt.p);
	age_identities_free(ids);
}

/* Reads ct changed by f: must fail with CAIRN_E_CORRUPT naming the
 * object, having handed on no more than `good` bytes, all of them
 * right. */
static void
corrupt(const struct age_identities *ids, const struct buf *ct, size_t flip_at, size_t cut,
        const char *extra, size_t good, const char *why)
{
	struct buf t = {0}, pt = {0};
	char *err;
	int code;
	buf_add(&t, ct->p, cut < ct->len ? cut : ct->len);
	if (flip_at < t.len)
		t.p[flip_at] ^= 0x20;
	if (extra)
		buf_add(&t, extra, strlen(extra));
	if (decrypt(ids, t.p, t.len, &pt, &code, &err) == 0)
		fail_msg("%s: read as good", why);
	if (code != CAIRN_E_CORRUPT)
		fail_msg("%s: code %d, not CAIRN_E_CORRUPT (%s)", why, code, err ? err : "");
	assert_contains(err, OBJECT);
	if (pt.len > good)
		fail_msg("%s: %zu bytes handed on, at most %zu were good", why, pt.len, good);
	for (size_t i = 0; i < pt.len; i++)
		assert_int_equal((unsigned char)pt.p[i], pattern(i));
	free(err);
	free(t.p);
	free(pt.p);
}

static void
every_kind_of_damage_is_corrupt(void **state)
{
	struct age_recipients *r = kat_recipients(kat_pub1);
	struct age_identities *ids = kat_identities(kat_key1);
	size_t len = 3 * AGE_CHUNK + 1000, all = SIZE_MAX;
	struct buf ct = encrypt(r, len);
	const char *mac = strstr(ct.p, "\n---") + 1;
	size_t p0 = (size_t)(strchr(mac, '\n') - ct.p) + 1; /* the nonce */
	size_t c0 = p0 + 16, sealed = AGE_CHUNK + 16;
	struct strvec rcpts = {0};
	(void)state;
	/* a stanza that does not open with the key the manifest names is
	 * damage; without the manifest's word it would read as a wrong key */
	strvec_push(&rcpts, kat_pub1);
	expect = &rcpts;
	corrupt(ids, &ct, 0, all, NULL, 0, "not age at all");
	corrupt(ids, &ct, 18, all, NULL, 0, "the version line");
	corrupt(ids, &ct, 40, all, NULL, 0, "the stanza's share");
	corrupt(ids, &ct, (size_t)(mac - ct.p) - 5, all, NULL, 0, "the stanza's body");
	corrupt(ids, &ct, (size_t)(mac - ct.p) + 10, all, NULL, 0, "the header MAC");
	corrupt(ids, &ct, p0 + 3, all, NULL, 0, "the nonce");
	for (size_t k = 0; k < 4; k++)
		corrupt(ids, &ct, c0 + k * sealed + 77, all, NULL, k * AGE_CHUNK, "a chunk");
	corrupt(ids, &ct, c0 + 3 * sealed + 1000 + 3, all, NULL, 3 * AGE_CHUNK, "the last tag");
	corrupt(ids, &ct, all, c0 + 3 * sealed, NULL, 3 * AGE_CHUNK,
	        "truncated on a chunk boundary");
	corrupt(ids, &ct, all, c0 + 2 * sealed + 500, NULL, 2 * AGE_CHUNK,
	        "truncated inside a chunk");
	corrupt(ids, &ct, all, p0 + 5, NULL, 0, "truncated in the nonce");
	corrupt(ids, &ct, all, p0 - 20, NULL, 0, "truncated in the header");
	corrupt(ids, &ct, all, all, "x", len, "trailing bytes");
	corrupt(ids, &ct, all, 0, NULL, 0, "empty");
	free(ct.p);

	/* the final-chunk flag: a last chunk that is full, then one more byte
	 * (the stream seen as not ending there) */
	ct = encrypt(r, 2 * AGE_CHUNK);
	corrupt(ids, &ct, all, all, "y", 2 * AGE_CHUNK, "bytes after a full final chunk");
	free(ct.p);
	expect = NULL;
	strvec_free(&rcpts);
	age_identities_free(ids);
	age_recipients_free(r);
}

static void
key_errors_say_what_to_do(void **state)
{
	struct age_recipients *r = kat_recipients(kat_pub1);
	struct age_identities *wrong = kat_identities(kat_key2), *none = age_identities_new();
	struct buf ct = encrypt(r, 1000), pt = {0};
	char *err;
	int code;
	(void)state;
	assert_int_equal(decrypt(wrong, ct.p, ct.len, &pt, &code, &err), -1);
	assert_int_equal(code, CAIRN_E_AUTH);
	assert_contains(err, "none of the identities in /etc/cairn/age.key opens " OBJECT);
	assert_int_equal(pt.len, 0);
	free(err);
	/* with the manifest's recipients, the message names them */
	struct strvec rcpts = {0};
	strvec_push(&rcpts, kat_pub1);
	expect = &rcpts;
	assert_int_equal(decrypt(wrong, ct.p, ct.len, &pt, &code, &err), -1);
	assert_int_equal(code, CAIRN_E_AUTH);
	assert_contains(err, "none of the identities in /etc/cairn/age.key opens " OBJECT);
	assert_contains(
	        err,
	        "it was encrypted to age1xfgzzk36...aakjy8, none of them the public key of an identity tried (age1ny7d4s9t...le3llf)");
	free(err);
	expect = NULL;
	strvec_free(&rcpts);
	assert_int_equal(decrypt(none, ct.p, ct.len, &pt, &code, &err), -1);
	assert_int_equal(code, CAIRN_E_CONFIG);
	assert_contains(err, OBJECT);
	assert_contains(err, "age_identity_file");
	assert_contains(err, "--identity");
	free(err);
	assert_int_equal(decrypt(NULL, ct.p, ct.len, &pt, &code, &err), -1);
	assert_int_equal(code, CAIRN_E_CONFIG);
	free(err);
	/* damage outweighs a missing key: a non-age object is damage */
	assert_int_equal(decrypt(NULL, "hello", 5, &pt, &code, &err), -1);
	assert_int_equal(code, CAIRN_E_CORRUPT);
	free(err);
	assert_int_equal(pt.len, 0);
	free(ct.p);
	age_identities_free(wrong);
	age_identities_free(none);
	age_recipients_free(r);
}

static void
passphrases(void **state)
{
	struct age_recipients *r = age_recipients_new();
	struct age_identities *good = age_identities_new(), *bad = age_identities_new();
	char e[AGE_ERR_MAX], *err;
	struct buf ct, pt = {0};
	int code;
	(void)state;
	/* a small work factor: the test is about the stage, not scrypt */
	assert_int_equal(
	        age_recipients_add_passphrase(r, kat_pass, strlen(kat_pass), 10, e, sizeof(e)),
	        AGE_OK);
	assert_int_equal(
	        age_identities_add_passphrase(good, kat_pass, strlen(kat_pass), 0, e, sizeof(e)),
	        AGE_OK);
	assert_int_equal(age_identities_add_passphrase(bad, "wrong", 5, 0, e, sizeof(e)), AGE_OK);
	ct = encrypt(r, AGE_CHUNK + 10);
	assert_int_equal(decrypt(good, ct.p, ct.len, &pt, &code, &err), 0);
	assert_int_equal(pt.len, AGE_CHUNK + 10);
	free(pt.p);
	pt = (struct buf){0};
	assert_int_equal(decrypt(bad, ct.p, ct.len, &pt, &code, &err), -1);
	assert_int_equal(code, CAIRN_E_AUTH);
	assert_contains(err, "passphrase");
	assert_null(strstr(err, kat_pass));
	assert_int_equal(pt.len, 0);
	free(err);
	/* a key file for an object sealed with a passphrase: says so */
	struct age_identities *key = kat_identities(kat_key1);
	struct strvec rcpts = {0};
	strvec_push(&rcpts, "scrypt");
	expect = &rcpts;
	assert_int_equal(decrypt(key, ct.p, ct.len, &pt, &code, &err), -1);
	assert_int_equal(code, CAIRN_E_AUTH);
	assert_contains(err, "encrypted with a passphrase, not to a public key");
	free(err);
	expect = NULL;
	strvec_free(&rcpts);
	age_identities_free(key);
	free(ct.p);
	age_identities_free(good);
	age_identities_free(bad);
	age_recipients_free(r);
}

/* The puller's own failure stands: -1 with code 0 and no message. */
static void
a_failed_pull_is_the_pullers(void **state)
{
	struct age_recipients *r = kat_recipients(kat_pub1);
	struct age_identities *ids = kat_identities(kat_key1);
	struct buf ct = encrypt(r, 3 * AGE_CHUNK);
	struct stored s = {.p = (unsigned char *)ct.p, .len = ct.len, .fail_at = AGE_CHUNK + 500};
	struct crypt_reader *rd = crypt_reader_new(ids, OBJECT, pull_stored, &s);
	char buf[4096], *err = NULL;
	int code = 1;
	ssize_t n;
	size_t got = 0;
	(void)state;
	while ((n = crypt_reader_read(rd, buf, sizeof(buf), &code, &err)) > 0)
		got += (size_t)n;
	assert_int_equal(n, -1);
	assert_int_equal(code, 0);
	assert_null(err);
	assert_int_equal(got, AGE_CHUNK); /* the first chunk, authenticated */
	/* and it stays failed */
	assert_int_equal(crypt_reader_read(rd, buf, sizeof(buf), &code, &err), -1);
	crypt_reader_free(rd);
	free(ct.p);
	age_identities_free(ids);
	age_recipients_free(r);
}

/* The emit function's failure comes back as its own code. */
static int
emit_fails(void *ud, const void *p, size_t n)
{
	int *calls = ud;
	(void)p;
	(void)n;
	return ++*calls >= 2 ? CAIRN_E_RETRYABLE : 0;
}

static void
a_failed_emit_is_the_emitters(void **state)
{
	struct age_recipients *r = kat_recipients(kat_pub1), *empty = age_recipients_new();
	int calls = 0;
	char *err = NULL, *buf = calloc(1, 3 * AGE_CHUNK);
	struct crypt_writer *w = crypt_writer_new(r, emit_fails, &calls, &err);
	(void)state;
	assert_non_null(w); /* the header went out */
	assert_int_equal(crypt_writer_write(w, buf, 3 * AGE_CHUNK, &err), CAIRN_E_RETRYABLE);
	assert_null(err);
	crypt_writer_free(w);
	calls = 1; /* the header fails */
	assert_null(crypt_writer_new(r, emit_fails, &calls, &err));
	assert_non_null(err);
	free(err);
	err = NULL;
	assert_null(crypt_writer_new(empty, emit_fails, &calls, &err));
	assert_contains(err, "recipient");
	free(err);
	free(buf);
	age_recipients_free(r);
	age_recipients_free(empty);
}

/* ---------------------------------------------------------- flat memory */

/* A writer feeding a reader through a small queue: the plaintext is made
 * as the reader asks for it, so the whole stream is never anywhere. */
struct chain {
	struct crypt_writer *w;
	struct buf q;
	size_t qoff;
	uint64_t made, total;
	int finished;
	size_t peak_q;
	size_t heap0, heap_peak;
};

static size_t
heap_now(void)
{
	return mallinfo2().uordblks;
}

static ssize_t
pull_chain(void *ud, void *buf, size_t len)
{
	struct chain *c = ud;
	unsigned char pt[AGE_CHUNK];
	char *err = NULL;
	if (c->qoff == c->q.len) {
		c->q.len = c->qoff = 0;
		while (c->q.len == 0 && !c->finished) {
			size_t n =
			        c->total - c->made < sizeof(pt) ? c->total - c->made : sizeof(pt);
			for (size_t i = 0; i < n; i++)
				pt[i] = pattern(c->made + i);
			c->made += n;
			if (n)
				assert_int_equal(crypt_writer_write(c->w, pt, n, &err), 0);
			else if (crypt_writer_finish(c->w, &err) == 0)
				c->finished = 1;
		}
		if (c->q.len > c->peak_q)
			c->peak_q = c->q.len;
		if (heap_now() > c->heap_peak)
			c->heap_peak = heap_now();
	}
	size_t n = c->q.len - c->qoff < len ? c->q.len - c->qoff : len;
	memcpy(buf, c->q.p + c->qoff, n);
	c->qoff += n;
	return (ssize_t)n;
}

static void
memory_stays_flat(void **state)
{
	struct age_recipients *r;
	struct age_identities *ids;
	struct chain c = {.total = (uint64_t)256 << 20};
	struct rusage before, after;
	static char buf[100000];
	uint64_t got = 0;
	char *err = NULL;
	int code;
	ssize_t n;
	(void)state;
	if (getenv("CAIRN_UNDER_VALGRIND"))
		skip(); /* valgrind's own memory hides ours, and it is slow */
	r = kat_recipients(kat_pub1);
	ids = kat_identities(kat_key1);
	getrusage(RUSAGE_SELF, &before);
	c.heap0 = c.heap_peak = heap_now();
	c.w = crypt_writer_new(r, to_buf, &c.q, &err);
	struct crypt_reader *rd = crypt_reader_new(ids, OBJECT, pull_chain, &c);
	while ((n = crypt_reader_read(rd, buf, sizeof(buf), &code, &err)) > 0) {
		for (ssize_t i = 0; i < n; i += 4099)
			assert_int_equal((unsigned char)buf[i], pattern(got + (uint64_t)i));
		got += (uint64_t)n;
	}
	assert_int_equal(n, 0);
	assert_int_equal(got, c.total);
	getrusage(RUSAGE_SELF, &after);
	/* 256 MiB went through: the queue held about one chunk, the heap
	 * (both stages) a few, the process grew by far less than the data */
	assert_true(c.peak_q <= 2 * (AGE_CHUNK + 16) + 512);
	assert_true(c.heap_peak - c.heap0 < (1u << 20));
	assert_true(after.ru_maxrss - before.ru_maxrss < 16 * 1024);
	crypt_reader_free(rd);
	crypt_writer_free(c.w);
	free(c.q.p);
	age_identities_free(ids);
	age_recipients_free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(round_trip_around_chunk_boundaries),
	        cmocka_unit_test(reads_what_debians_age_wrote),
	        cmocka_unit_test(every_kind_of_damage_is_corrupt),
	        cmocka_unit_test(key_errors_say_what_to_do),
	        cmocka_unit_test(passphrases),
	        cmocka_unit_test(a_failed_pull_is_the_pullers),
	        cmocka_unit_test(a_failed_emit_is_the_emitters),
	        cmocka_unit_test(memory_stays_flat),
	};
	srand(20);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
