/* test_age.c - the age module (src/age*.c, src/bech32.c): Bech32, key
 * files, known answers from Debian's age, round trips in every chunk
 * shape, and tampering at every layer of the format. */
#include "autoconf.h"

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <stdint.h>

#include "age.h"
#include "age_internal.h"
#include "bech32.h"
#include "testutil.h"

#include "age_kat.h"

static int
to_buf(void *ctx, const uint8_t *p, size_t n)
{
	buf_add(ctx, p, n);
	return 0;
}

static struct age_identities *
ids_from(const char *text)
{
	struct age_identities *ids = age_identities_new();
	char err[AGE_ERR_MAX];

	assert_int_equal(
	        age_identities_parse(ids, text, strlen(text), "test.key", err, sizeof(err)),
	        AGE_OK);
	return ids;
}

/* Feeds in into a decryptor in random pieces; returns its code, the
 * plaintext in out, the message in err. */
static int
decrypt(const struct age_identities *ids, const void *in, size_t len, struct buf *out, char *err,
        size_t errsz)
{
	struct age_dec *d = age_dec_new(ids, "nightly/1/db.zst.age", to_buf, out);
	const uint8_t *p = in;
	int rc = AGE_OK;

	while (rc == AGE_OK && len > 0) {
		size_t n = (size_t)(rand() % 70000) + 1;

		n = n < len ? n : len;
		rc = age_dec_write(d, p, n);
		p += n;
		len -= n;
	}
	if (rc == AGE_OK)
		rc = age_dec_finish(d);
	snprintf(err, errsz, "%s", age_dec_error(d));
	age_dec_free(d);
	return rc;
}

static void
encrypt(const struct age_recipients *r, const uint8_t *in, size_t len, struct buf *out)
{
	char err[AGE_ERR_MAX] = "";
	struct age_enc *e = age_enc_new(r, to_buf, out, err, sizeof(err));

	if (e == NULL)
		fail_msg("%s", err);
	while (len > 0) {
		size_t n = (size_t)(rand() % 100000) + 1;

		n = n < len ? n : len;
		assert_int_equal(age_enc_write(e, in, n), AGE_OK);
		in += n;
		len -= n;
	}
	assert_int_equal(age_enc_finish(e), AGE_OK);
	age_enc_free(e);
}

static void
bech32_round_trip_and_checksum_errors(void **state)
{
	uint8_t data[32], back[64];
	char hrp[16], *s, *u, err[AGE_ERR_MAX];
	const char *why = NULL;
	size_t n = 0, i;
	(void)state;

	for (i = 0; i < sizeof(data); i++)
		data[i] = (uint8_t)(i * 37 + 1);
	s = bech32_encode("age", data, 32, 0);
	assert_int_equal(strncmp(s, "age1", 4), 0);
	assert_int_equal(bech32_decode(s, hrp, sizeof(hrp), back, sizeof(back), &n, &why), 0);
	assert_string_equal(hrp, "age");
	assert_int_equal(n, 32);
	assert_memory_equal(back, data, 32);
	u = bech32_encode("age", data, 32, 1);
	assert_int_equal(bech32_decode(u, hrp, sizeof(hrp), back, sizeof(back), &n, &why), 0);
	/* one character changed: the checksum catches it */
	s[10] = s[10] == 'q' ? 'p' : 'q';
	assert_int_equal(bech32_decode(s, hrp, sizeof(hrp), back, sizeof(back), &n, &why), -1);
	assert_contains(why, "checksum");
	for (i = 4; !isalpha((unsigned char)u[i]); i++)
		;
	u[i] = (char)tolower((unsigned char)u[i]);
	assert_int_equal(bech32_decode(u, hrp, sizeof(hrp), back, sizeof(back), &n, &why), -1);
	assert_contains(why, "mixed");
	free(s);
	free(u);
	/* a known answer: the recipient age-keygen -y printed for each key */
	s = age_identity_to_recipient(kat_key1, err, sizeof(err));
	assert_non_null(s);
	assert_string_equal(s, kat_pub1);
	free(s);
	s = age_identity_to_recipient(kat_key3, err, sizeof(err));
	assert_string_equal(s, kat_pub3);
	free(s);
	assert_null(age_identity_to_recipient(kat_pub1, err, sizeof(err)));
}

static void
key_files_parse_and_bad_lines_name_file_and_line(void **state)
{
	struct age_recipients *r = age_recipients_new();
	struct age_identities *ids = age_identities_new();
	char text[1024], err[AGE_ERR_MAX] = "", bad[128];
	(void)state;

	snprintf(text, sizeof(text), "# the offsite copy\n\n%s\n  \n# second\n%s  \r\n", kat_pub1,
	         kat_pub2);
	assert_int_equal(age_recipients_parse(r, text, strlen(text), "r.txt", err, sizeof(err)),
	                 AGE_OK);
	assert_int_equal(age_recipients_count(r), 2);
	assert_string_equal(age_recipients_get(r, 1), kat_pub2);
	snprintf(text, sizeof(text), "%s\n# x\nage1notakey\n", kat_pub1);
	assert_int_equal(age_recipients_parse(r, text, strlen(text), "r.txt", err, sizeof(err)),
	                 AGE_E_INVALID);
	assert_contains(err, "r.txt line 3");
	assert_int_equal(age_recipients_parse(r, "# only\n", 7, "e.txt", err, sizeof(err)),
	                 AGE_E_INVALID);
	assert_contains(err, "e.txt: no recipient");
	/* identity files as age-keygen writes them, two keys */
	snprintf(text, sizeof(text), "# created: 2026-12-07\n# public key: %s\n%s\n\n%s\n",
	         kat_pub1, kat_key1, kat_key2);
	assert_int_equal(age_identities_parse(ids, text, strlen(text), "id.txt", err, sizeof(err)),
	                 AGE_OK);
	assert_int_equal(age_identities_count(ids), 2);
	/* a damaged secret: named by line, never quoted */
	snprintf(bad, sizeof(bad), "%s", kat_key2);
	bad[30] = bad[30] == 'Q' ? 'P' : 'Q';
	snprintf(text, sizeof(text), "%s\n%s\n", kat_key1, bad);
	assert_int_equal(age_identities_parse(ids, text, strlen(text), "id.txt", err, sizeof(err)),
	                 AGE_E_INVALID);
	assert_contains(err, "id.txt line 2");
	assert_null(strstr(err, bad));
	assert_null(strstr(err, "AGE-SECRET-KEY-1"));
	/* lowercase identity: refused */
	snprintf(bad, sizeof(bad), "%s", kat_key1);
	for (size_t i = 0; bad[i]; i++)
		bad[i] = (char)tolower((unsigned char)bad[i]);
	assert_int_equal(age_identities_parse(ids, bad, strlen(bad), "lc.txt", err, sizeof(err)),
	                 AGE_E_INVALID);
	assert_contains(err, "lc.txt line 1");
	assert_int_equal(age_identities_load(ids, "/nonexistent/age.key", err, sizeof(err)),
	                 AGE_E_IO);
	assert_contains(err, "/nonexistent/age.key");
	age_recipients_free(r);
	age_identities_free(ids);
}

static void
known_answers_from_debian_age(void **state)
{
	struct age_identities *ids;
	struct buf out = {0};
	char err[AGE_ERR_MAX];
	(void)state;

	ids = ids_from(kat_key1);
	assert_int_equal(decrypt(ids, kat_one, sizeof(kat_one), &out, err, sizeof(err)), AGE_OK);
	assert_int_equal(out.len, strlen(kat_plain));
	assert_memory_equal(out.p, kat_plain, out.len);
	age_identities_free(ids);
	/* three recipients: the third key alone opens it */
	ids = ids_from(kat_key3);
	out.len = 0;
	assert_int_equal(decrypt(ids, kat_three, sizeof(kat_three), &out, err, sizeof(err)),
	                 AGE_OK);
	assert_memory_equal(out.p, kat_plain, strlen(kat_plain));
	/* ... but not the one-recipient file: a message a person can act on */
	out.len = 0;
	assert_int_equal(decrypt(ids, kat_one, sizeof(kat_one), &out, err, sizeof(err)),
	                 AGE_E_NOMATCH);
	assert_contains(err, "none of the identities in test.key opens nightly/1/db.zst.age");
	assert_contains(err, "1 X25519 recipient");
	assert_int_equal(out.len, 0);
	age_identities_free(ids);
	/* age -p, work factor 18 */
	ids = age_identities_new();
	assert_int_equal(
	        age_identities_add_passphrase(ids, kat_pass, strlen(kat_pass), 0, err, sizeof(err)),
	        AGE_OK);
	out.len = 0;
	assert_int_equal(decrypt(ids, kat_scrypt, sizeof(kat_scrypt), &out, err, sizeof(err)),
	                 AGE_OK);
	assert_memory_equal(out.p, kat_plain, strlen(kat_plain));
	age_identities_free(ids);
	ids = age_identities_new();
	assert_int_equal(age_identities_add_passphrase(ids, "wrong", 5, 0, err, sizeof(err)),
	                 AGE_OK);
	assert_int_equal(decrypt(ids, kat_scrypt, sizeof(kat_scrypt), &out, err, sizeof(err)),
	                 AGE_E_PASSPHRASE);
	assert_contains(err, "wrong passphrase");
	assert_null(strstr(err, "wrong\""));
	age_identities_free(ids);
	/* a work factor above the limit is refused before any work */
	ids = age_identities_new();
	assert_int_equal(age_identities_add_passphrase(ids, kat_pass, strlen(kat_pass), 17, err,
	                                               sizeof(err)),
	                 AGE_OK);
	assert_int_equal(decrypt(ids, kat_scrypt, sizeof(kat_scrypt), &out, err, sizeof(err)),
	                 AGE_E_HEADER);
	assert_contains(err, "work factor 18 is above the limit 17");
	age_identities_free(ids);
	free(out.p);
}

static uint8_t *
random_bytes(size_t n)
{
	uint8_t *p = malloc(n ? n : 1);

	assert_int_equal(age_random(p, n), 0);
	return p;
}

static void
round_trips_across_chunk_sizes(void **state)
{
	static const size_t sizes[] = {0, 1, 65535, 65536, 65537, 3 * 65536};
	struct age_recipients *r = age_recipients_new();
	struct age_identities *ids = ids_from(kat_key2);
	char err[AGE_ERR_MAX];
	size_t i;
	(void)state;

	assert_int_equal(age_recipients_add(r, kat_pub1, "t", err, sizeof(err)), AGE_OK);
	assert_int_equal(age_recipients_add(r, kat_pub2, "t", err, sizeof(err)), AGE_OK);
	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		uint8_t *pt = random_bytes(sizes[i]);
		struct buf ct = {0}, out = {0};
		size_t chunks = sizes[i] == 0 ? 1 : (sizes[i] + AGE_CHUNK - 1) / AGE_CHUNK;
		const char *hdr_end;

		encrypt(r, pt, sizes[i], &ct);
		/* the payload: nonce, then each chunk with its tag */
		hdr_end = strstr(ct.p, "\n--- ");
		assert_non_null(hdr_end);
		hdr_end = strchr(hdr_end + 1, '\n') + 1;
		assert_int_equal(ct.len - (size_t)(hdr_end - ct.p), 16 + sizes[i] + 16 * chunks);
		assert_int_equal(decrypt(ids, ct.p, ct.len, &out, err, sizeof(err)), AGE_OK);
		assert_int_equal(out.len, sizes[i]);
		if (sizes[i] > 0)
			assert_memory_equal(out.p, pt, sizes[i]);
		free(pt);
		free(ct.p);
		free(out.p);
	}
	age_recipients_free(r);
	age_identities_free(ids);
}

static void
passphrase_round_trip_and_rules(void **state)
{
	struct age_recipients *r = age_recipients_new();
	struct age_identities *ids = age_identities_new(), *bad = age_identities_new();
	struct buf ct = {0}, out = {0};
	char err[AGE_ERR_MAX];
	uint8_t *pt = random_bytes(100000);
	(void)state;

	assert_int_equal(age_recipients_add_passphrase(r, "s3cret pass", 11, 10, err, sizeof(err)),
	                 AGE_OK);
	/* a passphrase must be the only recipient, both ways round */
	assert_int_equal(age_recipients_add(r, kat_pub1, "age_recipients", err, sizeof(err)),
	                 AGE_E_INVALID);
	assert_contains(err, "only recipient");
	encrypt(r, pt, 100000, &ct);
	assert_non_null(strstr(ct.p, "-> scrypt "));
	assert_non_null(strstr(ct.p, " 10\n"));
	assert_int_equal(age_identities_add_passphrase(ids, "s3cret pass", 11, 0, err, sizeof(err)),
	                 AGE_OK);
	assert_int_equal(decrypt(ids, ct.p, ct.len, &out, err, sizeof(err)), AGE_OK);
	assert_int_equal(out.len, 100000);
	assert_memory_equal(out.p, pt, 100000);
	assert_int_equal(age_identities_add_passphrase(bad, "s3cret pasS", 11, 0, err, sizeof(err)),
	                 AGE_OK);
	out.len = 0;
	assert_int_equal(decrypt(bad, ct.p, ct.len, &out, err, sizeof(err)), AGE_E_PASSPHRASE);
	assert_null(strstr(err, "s3cret"));
	assert_int_equal(out.len, 0);
	age_recipients_free(r);
	r = age_recipients_new();
	assert_int_equal(age_recipients_add(r, kat_pub1, "age_recipients", err, sizeof(err)),
	                 AGE_OK);
	assert_int_equal(age_recipients_add_passphrase(r, "x", 1, 10, err, sizeof(err)),
	                 AGE_E_INVALID);
	/* X25519 identities only, on a passphrase file: say so */
	age_identities_free(bad);
	bad = ids_from(kat_key1);
	assert_int_equal(decrypt(bad, ct.p, ct.len, &out, err, sizeof(err)), AGE_E_NOMATCH);
	assert_contains(err, "encrypted with a passphrase");
	age_recipients_free(r);
	age_identities_free(ids);
	age_identities_free(bad);
	free(pt);
	free(ct.p);
	free(out.p);
}

/* ---------------------------------------------- files built by hand */
struct forge {
	struct age_buf b;
	uint8_t file_key[16];
	uint8_t payload_key[32];
	uint64_t counter;
};

static void
forge_x25519(struct forge *f, const uint8_t *share_override)
{
	static const uint8_t zero[12];
	uint8_t eph[32], epub[32], pub[32], shared[32], salt[64], wrap[32], body[32];
	char arg[64], err[AGE_ERR_MAX];
	const char *args[1] = {arg};
	char *rcp = age_identity_to_recipient(kat_key1, err, sizeof(err));
	size_t n;
	char hrp[8];
	const char *why;

	assert_int_equal(bech32_decode(rcp, hrp, sizeof(hrp), pub, 32, &n, &why), 0);
	free(rcp);
	assert_int_equal(age_random(eph, 32), 0);
	assert_int_equal(age_x25519_public(eph, epub), 0);
	assert_int_equal(age_x25519(eph, pub, shared), 0);
	memcpy(salt, epub, 32);
	memcpy(salt + 32, pub, 32);
	assert_int_equal(age_hkdf(shared, 32, salt, 64, AGE_X25519_INFO, wrap, 32), 0);
	assert_int_equal(age_seal(wrap, zero, f->file_key, 16, body), 0);
	age_b64_encode(share_override ? share_override : epub, 32, arg);
	age_stanza_write(&f->b, "X25519", args, 1, body, 32);
}

static void
forge_scrypt(struct forge *f)
{
	static const uint8_t zero[12];
	uint8_t salt[16] = {1, 2, 3}, wrap[32], body[32];
	char arg[32];
	const char *args[2] = {arg, "10"};

	assert_int_equal(age_scrypt((const uint8_t *)"pw", 2, salt, 10, wrap), 0);
	assert_int_equal(age_seal(wrap, zero, f->file_key, 16, body), 0);
	age_b64_encode(salt, 16, arg);
	age_stanza_write(&f->b, "scrypt", args, 2, body, 32);
}

static void
forge_begin(struct forge *f)
{
	memset(f, 0, sizeof(*f));
	assert_int_equal(age_random(f->file_key, 16), 0);
	age_buf_str(&f->b, AGE_VERSION_LINE "\n");
}

static void
forge_mac(struct forge *f)
{
	uint8_t key[32], mac[32], nonce[16];
	char b64[48];

	age_buf_str(&f->b, "---");
	assert_int_equal(age_hkdf(f->file_key, 16, NULL, 0, "header", key, 32), 0);
	assert_int_equal(age_hmac(key, (uint8_t *)f->b.p, f->b.n, mac), 0);
	age_b64_encode(mac, 32, b64);
	age_buf_str(&f->b, " ");
	age_buf_str(&f->b, b64);
	age_buf_str(&f->b, "\n");
	assert_int_equal(age_random(nonce, 16), 0);
	age_buf_add(&f->b, nonce, 16);
	assert_int_equal(age_hkdf(f->file_key, 16, nonce, 16, "payload", f->payload_key, 32), 0);
}

static void
forge_chunk(struct forge *f, size_t len, int final)
{
	uint8_t nonce[12] = {0}, *pt = calloc(1, len + 1), *ct = malloc(len + 16);
	uint64_t c = f->counter++;

	for (int i = 10; i >= 3; i--, c >>= 8)
		nonce[i] = (uint8_t)c;
	nonce[11] = (uint8_t) final;
	assert_int_equal(age_seal(f->payload_key, nonce, pt, len, ct), 0);
	age_buf_add(&f->b, ct, len + 16);
	free(pt);
	free(ct);
}

/* Decrypting the forged file with kat_key1 gives want. */
static void
forge_expect(struct forge *f, int want, const char *text)
{
	struct age_identities *ids = ids_from(kat_key1);
	struct buf out = {0};
	char err[AGE_ERR_MAX];

	assert_int_equal(decrypt(ids, f->b.p, f->b.n, &out, err, sizeof(err)), want);
	if (text != NULL)
		assert_contains(err, text);
	age_identities_free(ids);
	free(out.p);
	free(f->b.p);
}

static void
stream_rules_on_forged_files(void **state)
{
	struct forge f;
	static const uint8_t zero_share[32];
	(void)state;

	/* a well-formed forgery decrypts: the forge is right */
	forge_begin(&f), forge_x25519(&f, NULL), forge_mac(&f);
	forge_chunk(&f, AGE_CHUNK, 0), forge_chunk(&f, 10, 1);
	forge_expect(&f, AGE_OK, NULL);
	/* the last chunk not flagged final: truncated */
	forge_begin(&f), forge_x25519(&f, NULL), forge_mac(&f);
	forge_chunk(&f, AGE_CHUNK, 0), forge_chunk(&f, AGE_CHUNK, 0);
	forge_expect(&f, AGE_E_TRUNCATED, "truncated");
	/* a short last chunk not flagged */
	forge_begin(&f), forge_x25519(&f, NULL), forge_mac(&f);
	forge_chunk(&f, AGE_CHUNK, 0), forge_chunk(&f, 10, 0);
	forge_expect(&f, AGE_E_AUTH, NULL);
	/* a final chunk, then another */
	forge_begin(&f), forge_x25519(&f, NULL), forge_mac(&f);
	forge_chunk(&f, AGE_CHUNK, 1), forge_chunk(&f, 10, 1);
	forge_expect(&f, AGE_E_TRAILING, "after its final");
	/* an empty final chunk after data */
	forge_begin(&f), forge_x25519(&f, NULL), forge_mac(&f);
	forge_chunk(&f, AGE_CHUNK, 0), forge_chunk(&f, 0, 1);
	forge_expect(&f, AGE_E_AUTH, "empty final");
	/* a short chunk flagged not final in the middle */
	forge_begin(&f), forge_x25519(&f, NULL), forge_mac(&f);
	forge_chunk(&f, 100, 0), forge_chunk(&f, 10, 1);
	forge_expect(&f, AGE_E_AUTH, NULL);
	/* no chunk at all */
	forge_begin(&f), forge_x25519(&f, NULL), forge_mac(&f);
	forge_expect(&f, AGE_E_TRUNCATED, NULL);
	/* a scrypt stanza beside an X25519 one */
	forge_begin(&f), forge_x25519(&f, NULL), forge_scrypt(&f), forge_mac(&f);
	forge_chunk(&f, 10, 1);
	forge_expect(&f, AGE_E_HEADER, "beside other stanzas");
	/* an all-zero share (a low-order point) */
	forge_begin(&f), forge_x25519(&f, zero_share), forge_mac(&f);
	forge_chunk(&f, 10, 1);
	forge_expect(&f, AGE_E_HEADER, "all-zero");
	/* an unknown stanza type is skipped; the X25519 one still opens */
	forge_begin(&f);
	age_buf_str(&f.b, "-> grease-x y\n\n");
	forge_x25519(&f, NULL), forge_mac(&f), forge_chunk(&f, 3, 1);
	forge_expect(&f, AGE_OK, NULL);
}

/* The file to tamper with: 3 full chunks and a short one, to kat_pub1. */
static struct buf
tamper_base(uint8_t **pt, size_t len)
{
	struct age_recipients *r = age_recipients_new();
	struct buf ct = {0};
	char err[AGE_ERR_MAX];

	assert_int_equal(age_recipients_add(r, kat_pub1, "t", err, sizeof(err)), AGE_OK);
	*pt = random_bytes(len);
	encrypt(r, *pt, len, &ct);
	age_recipients_free(r);
	return ct;
}

static size_t
payload_start(const struct buf *ct)
{
	const char *m = strstr(ct->p, "\n--- ");

	return (size_t)(strchr(m + 1, '\n') + 1 - ct->p);
}

/* Decrypts ct with byte off xored with x (or cut at cut, or extended by
 * extra bytes): the code, and at most max plaintext bytes released. */
static int
tampered(const struct buf *ct, size_t off, uint8_t x, size_t cut, size_t extra, size_t max)
{
	struct age_identities *ids = ids_from(kat_key1);
	struct buf t = {0}, out = {0};
	char err[AGE_ERR_MAX];
	int rc;

	buf_add(&t, ct->p, cut < ct->len ? cut : ct->len);
	if (off < t.len)
		t.p[off] ^= x;
	for (size_t i = 0; i < extra; i++)
		buf_add(&t, "\x5a", 1);
	rc = decrypt(ids, t.p, t.len, &out, err, sizeof(err));
	assert_true(out.len <= max);
	assert_true(rc == AGE_OK || strlen(err) > 0);
	age_identities_free(ids);
	free(t.p);
	free(out.p);
	return rc;
}

static void
tampering_every_layer_fails(void **state)
{
	size_t len = 3 * AGE_CHUNK + 100, p0, k, all = (size_t)-1;
	uint8_t *pt;
	struct buf ct = tamper_base(&pt, len);
	char *line2, *mac;
	(void)state;

	p0 = payload_start(&ct);
	line2 = strchr(ct.p, '\n') + 1;
	mac = strstr(ct.p, "\n--- ") + 5;
	assert_int_equal(tampered(&ct, all, 0, all, 0, len), AGE_OK);
	/* the version line */
	assert_int_equal(tampered(&ct, 20, 'v' ^ 'w', all, 0, 0), AGE_E_HEADER);
	assert_int_equal(tampered(&ct, 0, 'a' ^ 'A', all, 0, 0), AGE_E_NOTAGE);
	/* the stanza's share (argument) and its body */
	assert_int_not_equal(tampered(&ct, (size_t)(line2 - ct.p) + 12, 1, all, 0, 0), AGE_OK);
	k = (size_t)(strchr(line2, '\n') + 5 - ct.p);
	assert_int_equal(
	        tampered(&ct, k, (uint8_t)(ct.p[k] ^ (ct.p[k] == 'A' ? 'B' : 'A')), all, 0, 0),
	        AGE_E_NOMATCH);
	/* the MAC */
	assert_int_equal(tampered(&ct, (size_t)(mac - ct.p),
	                          mac[0] == 'A' ? 'A' ^ 'B' : mac[0] ^ 'A', all, 0, 0),
	                 AGE_E_MAC);
	/* the payload nonce */
	assert_int_equal(tampered(&ct, p0 + 3, 1, all, 0, 0), AGE_E_AUTH);
	/* each chunk: nothing of it or after it comes out */
	for (k = 0; k < 4; k++)
		assert_int_equal(tampered(&ct, p0 + 16 + k * (AGE_CHUNK + 16) + 7, 0x80, all, 0,
		                          k * AGE_CHUNK),
		                 AGE_E_AUTH);
	/* each chunk's tag */
	assert_int_equal(tampered(&ct, p0 + 16 + AGE_CHUNK + 3, 1, all, 0, 0), AGE_E_AUTH);
	/* truncation on a chunk boundary and off it, and inside the header */
	assert_int_equal(tampered(&ct, all, 0, p0 + 16 + 2 * (AGE_CHUNK + 16), 0, 2 * AGE_CHUNK),
	                 AGE_E_TRUNCATED);
	assert_int_not_equal(
	        tampered(&ct, all, 0, p0 + 16 + 2 * (AGE_CHUNK + 16) + 500, 0, 2 * AGE_CHUNK),
	        AGE_OK);
	assert_int_not_equal(tampered(&ct, all, 0, ct.len - 1, 0, 3 * AGE_CHUNK), AGE_OK);
	assert_int_equal(tampered(&ct, all, 0, p0 + 10, 0, 0), AGE_E_TRUNCATED);
	assert_int_equal(tampered(&ct, all, 0, p0 - 10, 0, 0), AGE_E_TRUNCATED);
	/* trailing bytes, short and long */
	assert_int_not_equal(tampered(&ct, all, 0, all, 1, 3 * AGE_CHUNK), AGE_OK);
	assert_int_not_equal(tampered(&ct, all, 0, all, 70000, 3 * AGE_CHUNK), AGE_OK);
	free(ct.p);
	free(pt);
	/* trailing bytes after a full final chunk: named as such */
	ct = tamper_base(&pt, AGE_CHUNK);
	assert_int_equal(tampered(&ct, all, 0, all, 5, 0), AGE_E_TRAILING);
	free(ct.p);
	free(pt);
}

static int
fail_write(void *ctx, const uint8_t *p, size_t n)
{
	(void)ctx, (void)p, (void)n;
	return -1;
}

static void
not_age_and_write_failures(void **state)
{
	struct age_identities *ids = ids_from(kat_key1);
	struct buf out = {0};
	char err[AGE_ERR_MAX];
	struct age_dec *d;
	(void)state;

	assert_int_equal(decrypt(ids, "hello, world\n", 13, &out, err, sizeof(err)), AGE_E_NOTAGE);
	assert_contains(err, "nightly/1/db.zst.age is not an age file");
	assert_int_equal(decrypt(ids, "", 0, &out, err, sizeof(err)), AGE_E_NOTAGE);
	assert_contains(err, "empty");
	d = age_dec_new(ids, "obj", fail_write, NULL);
	assert_int_equal(age_dec_write(d, kat_one, sizeof(kat_one)), AGE_OK);
	assert_int_equal(age_dec_finish(d), AGE_E_WRITE);
	age_dec_free(d);
	age_identities_free(ids);
	free(out.p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(bech32_round_trip_and_checksum_errors),
	        cmocka_unit_test(key_files_parse_and_bad_lines_name_file_and_line),
	        cmocka_unit_test(known_answers_from_debian_age),
	        cmocka_unit_test(round_trips_across_chunk_sizes),
	        cmocka_unit_test(passphrase_round_trip_and_rules),
	        cmocka_unit_test(stream_rules_on_forged_files),
	        cmocka_unit_test(tampering_every_layer_fails),
	        cmocka_unit_test(not_age_and_write_failures),
	};
	srand(20);
	alarm(300); /* a hang fails instead of stalling the run */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
