/* age_enc.c - the age encryptor: a fresh file key wrapped once per
 * recipient, the header and its MAC, then the payload in STREAM chunks of
 * 64 KiB, the last one flagged.  One chunk in memory at a time. */
#include "autoconf.h"

#include "age_internal.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

/* the secret part of an encryptor, in one locked page */
struct enc_secrets {
	uint8_t file_key[AGE_FILE_KEY];
	uint8_t payload_key[32];
	uint8_t wrap_key[32];
	uint8_t eph[32];
	uint8_t shared[32];
};

struct age_enc {
	age_write_fn write;
	void *ctx;
	struct enc_secrets *sec;
	EVP_CIPHER_CTX *c;
	uint8_t *buf; /* AGE_CHUNK of plaintext */
	uint8_t *out; /* AGE_CHUNK + AGE_TAG */
	size_t n;
	uint64_t counter;
	int state; /* 0 open, 1 finished, -1 failed */
	int code;  /* the failure's code */
	char err[AGE_ERR_MAX];
};

static int
x25519_stanza(struct age_enc *e, const struct age_recip *r, struct age_buf *hdr)
{
	static const uint8_t zero_nonce[12];
	struct enc_secrets *s = e->sec;
	uint8_t epub[32], salt[64], body[AGE_FILE_KEY + AGE_TAG];
	char arg[64];
	const char *args[1] = {arg};

	if (age_random(s->eph, 32) < 0 || age_x25519_public(s->eph, epub) < 0 ||
	    age_x25519(s->eph, r->pub, s->shared) < 0)
		return -1;
	memcpy(salt, epub, 32);
	memcpy(salt + 32, r->pub, 32);
	if (age_hkdf(s->shared, 32, salt, 64, AGE_X25519_INFO, s->wrap_key, 32) < 0 ||
	    age_seal(s->wrap_key, zero_nonce, s->file_key, AGE_FILE_KEY, body) < 0)
		return -1;
	age_b64_encode(epub, 32, arg);
	age_stanza_write(hdr, "X25519", args, 1, body, sizeof(body));
	return 0;
}

static int
scrypt_stanza(struct age_enc *e, const struct age_recip *r, struct age_buf *hdr)
{
	static const uint8_t zero_nonce[12];
	struct enc_secrets *s = e->sec;
	uint8_t salt[16], body[AGE_FILE_KEY + AGE_TAG];
	char arg0[32], arg1[16];
	const char *args[2] = {arg0, arg1};

	if (age_random(salt, 16) < 0 ||
	    age_scrypt(r->pass, r->passlen, salt, r->log2n, s->wrap_key) < 0 ||
	    age_seal(s->wrap_key, zero_nonce, s->file_key, AGE_FILE_KEY, body) < 0)
		return -1;
	age_b64_encode(salt, 16, arg0);
	snprintf(arg1, sizeof(arg1), "%d", r->log2n);
	age_stanza_write(hdr, "scrypt", args, 2, body, sizeof(body));
	return 0;
}

/* The header through the MAC line, and the payload nonce, into hdr. */
static int
build_header(struct age_enc *e, const struct age_recipients *r, struct age_buf *hdr)
{
	struct enc_secrets *s = e->sec;
	uint8_t mac[32], nonce[AGE_NONCE];
	char macb64[48];
	size_t i;

	if (age_random(s->file_key, AGE_FILE_KEY) < 0)
		return -1;
	age_buf_str(hdr, AGE_VERSION_LINE "\n");
	for (i = 0; i < r->n; i++) {
		int rc = r->v[i].type == AGE_KEY_SCRYPT ? scrypt_stanza(e, &r->v[i], hdr)
		                                        : x25519_stanza(e, &r->v[i], hdr);
		if (rc < 0)
			return -1;
	}
	age_buf_str(hdr, "---");
	if (age_hkdf(s->file_key, AGE_FILE_KEY, NULL, 0, "header", s->wrap_key, 32) < 0 ||
	    age_hmac(s->wrap_key, (const uint8_t *)hdr->p, hdr->n, mac) < 0)
		return -1;
	age_b64_encode(mac, 32, macb64);
	age_buf_str(hdr, " ");
	age_buf_str(hdr, macb64);
	age_buf_str(hdr, "\n");
	if (age_random(nonce, AGE_NONCE) < 0 ||
	    age_hkdf(s->file_key, AGE_FILE_KEY, nonce, AGE_NONCE, "payload", s->payload_key, 32) <
	            0)
		return -1;
	age_buf_add(hdr, nonce, AGE_NONCE);
	return 0;
}

struct age_enc *
age_enc_new(const struct age_recipients *r, age_write_fn write, void *ctx, char *err, size_t errsz)
{
	struct age_buf hdr = {0};
	struct age_enc *e;
	int wrc;

	if (r == NULL || r->n == 0) {
		age_errf(err, errsz, AGE_E_INVALID,
		         "age encryption needs at least one recipient or a passphrase");
		return NULL;
	}
	if (r->n > 1 && r->v[0].type == AGE_KEY_SCRYPT) {
		age_errf(err, errsz, AGE_E_INVALID,
		         "a passphrase must be the only recipient of an age file");
		return NULL;
	}
	e = xcalloc(1, sizeof(*e));
	e->write = write;
	e->ctx = ctx;
	e->sec = age_sec_alloc(sizeof(*e->sec));
	e->buf = xmalloc(AGE_CHUNK);
	e->out = xmalloc(AGE_CHUNK + AGE_TAG);
	e->c = EVP_CIPHER_CTX_new();
	if (e->c == NULL || build_header(e, r, &hdr) < 0 ||
	    EVP_EncryptInit_ex(e->c, EVP_chacha20_poly1305(), NULL, e->sec->payload_key, NULL) !=
	            1) {
		age_errf(err, errsz, AGE_E_CRYPTO,
		         "age encryption failed in libcrypto (out of memory or no random numbers)");
		free(hdr.p);
		age_enc_free(e);
		return NULL;
	}
	OPENSSL_cleanse(e->sec->wrap_key, sizeof(e->sec->wrap_key));
	wrc = write(ctx, (const uint8_t *)hdr.p, hdr.n);
	free(hdr.p);
	if (wrc != 0) {
		age_errf(err, errsz, AGE_E_WRITE, "writing the age header failed");
		age_enc_free(e);
		return NULL;
	}
	return e;
}

static int
enc_fail(struct age_enc *e, int code, const char *msg)
{
	e->state = -1;
	e->code = code;
	snprintf(e->err, sizeof(e->err), "%s", msg);
	return code;
}

/* Seals the buffered chunk (final or not) and writes it out. */
static int
flush_chunk(struct age_enc *e, int final)
{
	uint8_t nonce[12] = {0};
	uint64_t ctr = e->counter;
	int ol = 0, fl = 0, i;

	for (i = 10; i >= 3; i--, ctr >>= 8)
		nonce[i] = (uint8_t)ctr;
	nonce[11] = final ? 1 : 0;
	if (EVP_EncryptInit_ex(e->c, NULL, NULL, NULL, nonce) != 1 ||
	    EVP_EncryptUpdate(e->c, e->out, &ol, e->buf, (int)e->n) != 1 ||
	    EVP_EncryptFinal_ex(e->c, e->out + ol, &fl) != 1 ||
	    EVP_CIPHER_CTX_ctrl(e->c, EVP_CTRL_AEAD_GET_TAG, AGE_TAG, e->out + e->n) != 1)
		return enc_fail(e, AGE_E_CRYPTO, "age encryption failed in libcrypto");
	if (e->write(e->ctx, e->out, e->n + AGE_TAG) != 0)
		return enc_fail(e, AGE_E_WRITE, "writing an age chunk failed");
	e->counter++;
	e->n = 0;
	return AGE_OK;
}

int
age_enc_write(struct age_enc *e, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	if (e->state != 0)
		return e->state > 0
		               ? enc_fail(e, AGE_E_INVALID, "age_enc_write after age_enc_finish")
		               : e->code;
	while (len > 0) {
		size_t take;

		/* a full chunk goes out only once more data shows it is not the last */
		if (e->n == AGE_CHUNK) {
			int rc = flush_chunk(e, 0);

			if (rc != AGE_OK)
				return rc;
		}
		take = AGE_CHUNK - e->n < len ? AGE_CHUNK - e->n : len;
		memcpy(e->buf + e->n, p, take);
		e->n += take;
		p += take;
		len -= take;
	}
	return AGE_OK;
}

int
age_enc_finish(struct age_enc *e)
{
	int rc;

	if (e->state != 0)
		return e->state > 0 ? enc_fail(e, AGE_E_INVALID, "age_enc_finish called twice")
		                    : e->code;
	rc = flush_chunk(e, 1);
	if (rc == AGE_OK)
		e->state = 1;
	return rc;
}

const char *
age_enc_error(const struct age_enc *e)
{
	return e->err;
}

void
age_enc_free(struct age_enc *e)
{
	if (e == NULL)
		return;
	EVP_CIPHER_CTX_free(e->c);
	age_sec_free(e->sec, sizeof(*e->sec));
	if (e->buf != NULL)
		OPENSSL_cleanse(e->buf, AGE_CHUNK);
	free(e->buf);
	free(e->out);
	free(e);
}
