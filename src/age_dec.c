/* age_dec.c - the age decryptor: pushed bytes in any sizes; the header is
 * collected and parsed strictly, the file key unwrapped with one of the
 * identities, the header MAC verified, then each STREAM chunk goes out
 * only after its tag verified.  Truncation, trailing bytes and any
 * tampering are errors that name the object. */
#include "autoconf.h"

#include "age_internal.h"

#include <inttypes.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define IN_CHUNK (AGE_CHUNK + AGE_TAG)

enum {
	D_HEADER,
	D_NONCE,
	D_PAYLOAD,
	D_DONE,
	D_FAILED
};

struct dec_secrets {
	uint8_t file_key[AGE_FILE_KEY];
	uint8_t payload_key[32];
	uint8_t wrap_key[32];
	uint8_t shared[32];
};

struct age_dec {
	const struct age_identities *ids;
	char *object;
	age_write_fn write;
	void *ctx;
	int state, code;
	struct age_buf hdr;
	size_t line_start; /* of the header line being collected */
	uint8_t nonce[AGE_NONCE];
	size_t nonce_n;
	struct dec_secrets *sec;
	EVP_CIPHER_CTX *c;
	uint8_t *in; /* IN_CHUNK */
	uint8_t *out;
	size_t n;
	uint64_t counter;
	char err[AGE_ERR_MAX];
};

static int dec_fail(struct age_dec *d, int code, const char *fmt, ...)
        __attribute__((format(printf, 3, 4)));

static int
dec_fail(struct age_dec *d, int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(d->err, sizeof(d->err), fmt, ap);
	va_end(ap);
	d->state = D_FAILED;
	d->code = code;
	return code;
}

struct age_dec *
age_dec_new(const struct age_identities *ids, const char *object, age_write_fn write, void *ctx)
{
	struct age_dec *d = xcalloc(1, sizeof(*d));

	d->ids = ids;
	d->object = xstrdup(object ? object : "the age input");
	d->write = write;
	d->ctx = ctx;
	d->sec = age_sec_alloc(sizeof(*d->sec));
	d->in = xmalloc(IN_CHUNK);
	d->out = xmalloc(AGE_CHUNK);
	d->state = D_HEADER;
	return d;
}

/* The decimal work factor of an scrypt stanza: digits, no leading zero. */
static int
parse_log2n(const char *s)
{
	int v = 0;

	if (s[0] < '1' || s[0] > '9' || strlen(s) > 2)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
	}
	return v;
}

/* 1 when the identity opens the stanza, 0 when not, an error code (< 0
 * as -code) for a malformed stanza or a work factor above the limit. */
static int
try_x25519(struct age_dec *d, const struct age_ident *id, const struct age_stanza *st)
{
	static const uint8_t zero_nonce[12];
	struct dec_secrets *s = d->sec;
	uint8_t share[32], salt[64];
	size_t n = 0;

	if (st->nargs != 1 || strlen(st->args[0]) != 43 ||
	    age_b64_decode(st->args[0], 43, share, 32, &n) < 0 || n != 32 ||
	    st->bodylen != AGE_FILE_KEY + AGE_TAG)
		return -dec_fail(
		        d, AGE_E_HEADER,
		        "%s: a malformed X25519 stanza in its age header; the object is damaged",
		        d->object);
	if (age_x25519(id->priv, share, s->shared) < 0)
		return -dec_fail(
		        d, AGE_E_HEADER,
		        "%s: an X25519 stanza whose share gives an all-zero secret; the object was tampered with",
		        d->object);
	memcpy(salt, share, 32);
	memcpy(salt + 32, id->pub, 32);
	if (age_hkdf(s->shared, 32, salt, 64, AGE_X25519_INFO, s->wrap_key, 32) < 0)
		return -dec_fail(d, AGE_E_CRYPTO, "%s: age decryption failed in libcrypto",
		                 d->object);
	return age_open(s->wrap_key, zero_nonce, st->body, st->bodylen, s->file_key) == 0;
}

static int
try_scrypt(struct age_dec *d, const struct age_ident *id, const struct age_stanza *st)
{
	static const uint8_t zero_nonce[12];
	struct dec_secrets *s = d->sec;
	uint8_t salt[16];
	size_t n = 0;
	int log2n = st->nargs == 2 ? parse_log2n(st->args[1]) : -1;

	if (log2n < 0 || strlen(st->args[0]) != 22 ||
	    age_b64_decode(st->args[0], 22, salt, 16, &n) < 0 || n != 16 ||
	    st->bodylen != AGE_FILE_KEY + AGE_TAG)
		return -dec_fail(
		        d, AGE_E_HEADER,
		        "%s: a malformed scrypt stanza in its age header; the object is damaged",
		        d->object);
	if (log2n > id->max_log2n)
		return -dec_fail(
		        d, AGE_E_HEADER,
		        "%s: its passphrase's scrypt work factor %d is above the limit %d; refused (it would take too long or too much memory)",
		        d->object, log2n, id->max_log2n);
	if (age_scrypt(id->pass, id->passlen, salt, log2n, s->wrap_key) < 0)
		return -dec_fail(d, AGE_E_CRYPTO, "%s: scrypt failed in libcrypto (out of memory?)",
		                 d->object);
	return age_open(s->wrap_key, zero_nonce, st->body, st->bodylen, s->file_key) == 0;
}

/* The message for no identity opening any stanza. */
static int
no_match(struct age_dec *d, const struct age_header *h, int scrypt_tried)
{
	size_t i, nx = 0, nother = 0, shown = 0;
	char keys[200] = "";
	const char *other = "";

	for (i = 0; i < h->n; i++) {
		if (strcmp(h->st[i].type, "X25519") == 0) {
			nx++;
		} else if (strcmp(h->st[i].type, "scrypt") != 0) {
			nother++;
			other = h->st[i].type;
		}
	}
	if (h->n == 1 && strcmp(h->st[0].type, "scrypt") == 0)
		return scrypt_tried
		               ? dec_fail(
		                         d, AGE_E_PASSPHRASE,
		                         "%s: the passphrase does not open it (a wrong passphrase?)",
		                         d->object)
		               : dec_fail(
		                         d, AGE_E_NOMATCH,
		                         "%s is encrypted with a passphrase, not to a public key; give its passphrase",
		                         d->object);
	for (i = 0; i < d->ids->n && shown < 2; i++) {
		char *pub = age_identities_public(d->ids, i);

		if (pub == NULL)
			continue;
		snprintf(keys + strlen(keys), sizeof(keys) - strlen(keys), "%s%.12s...%s",
		         shown ? ", " : "", pub, pub + strlen(pub) - 6);
		shown++;
		free(pub);
	}
	if (nother > 0)
		return dec_fail(
		        d, AGE_E_NOMATCH,
		        "none of the identities in %s opens %s; it was encrypted to %zu X25519 recipient(s) and %zu of another type (%s) that cairn cannot open; identities tried: %s",
		        d->ids->name, d->object, nx, nother, other, keys[0] ? keys : "none");
	return dec_fail(
	        d, AGE_E_NOMATCH,
	        "none of the identities in %s opens %s; it was encrypted to %zu X25519 recipient(s), none of them the public key of an identity tried (%s)",
	        d->ids->name, d->object, nx, keys[0] ? keys : "none");
}

/* The file key from one of the stanzas: AGE_OK or the failure's code. */
static int
unwrap(struct age_dec *d, const struct age_header *h)
{
	size_t i, j, nscrypt = 0;
	int scrypt_tried = 0, r;

	for (j = 0; j < h->n; j++)
		nscrypt += strcmp(h->st[j].type, "scrypt") == 0;
	if (nscrypt > 0 && h->n != 1)
		return dec_fail(
		        d, AGE_E_HEADER,
		        "%s: its age header has a passphrase (scrypt) stanza beside other stanzas, which the format forbids",
		        d->object);
	if (d->ids == NULL || d->ids->n == 0)
		return dec_fail(d, AGE_E_NOMATCH,
		                "%s is encrypted with age and no identity or passphrase was given",
		                d->object);
	for (i = 0; i < d->ids->n; i++) {
		const struct age_ident *id = &d->ids->v[i];

		for (j = 0; j < h->n; j++) {
			const struct age_stanza *st = &h->st[j];

			if (id->type == AGE_KEY_X25519 && strcmp(st->type, "X25519") == 0)
				r = try_x25519(d, id, st);
			else if (id->type == AGE_KEY_SCRYPT && strcmp(st->type, "scrypt") == 0)
				r = (scrypt_tried = 1, try_scrypt(d, id, st));
			else
				continue;
			if (r < 0)
				return -r;
			if (r == 1)
				return AGE_OK;
		}
	}
	return no_match(d, h, scrypt_tried);
}

/* The whole header is in d->hdr: parse, unwrap, verify the MAC. */
static int
open_header(struct age_dec *d)
{
	struct dec_secrets *s = d->sec;
	struct age_header h;
	const char *why = "";
	uint8_t mac[32];
	int rc;

	if (age_header_parse(d->hdr.p, d->hdr.n, &h, &why) < 0)
		return dec_fail(d, AGE_E_HEADER, "%s: a malformed age header: %s", d->object, why);
	rc = unwrap(d, &h);
	if (rc == AGE_OK) {
		if (age_hkdf(s->file_key, AGE_FILE_KEY, NULL, 0, "header", s->wrap_key, 32) < 0 ||
		    age_hmac(s->wrap_key, (const uint8_t *)d->hdr.p, h.mac_off, mac) < 0)
			rc = dec_fail(d, AGE_E_CRYPTO, "%s: age decryption failed in libcrypto",
			              d->object);
		else if (CRYPTO_memcmp(mac, h.mac, 32) != 0)
			rc = dec_fail(
			        d, AGE_E_MAC,
			        "%s: its age header fails its MAC: the object was damaged or tampered with",
			        d->object);
	}
	OPENSSL_cleanse(s->wrap_key, sizeof(s->wrap_key));
	age_header_free(&h);
	free(d->hdr.p);
	d->hdr.p = NULL;
	d->hdr.n = d->hdr.cap = 0;
	if (rc == AGE_OK)
		d->state = D_NONCE;
	return rc;
}

/* Header bytes from p: up to the end of the MAC line; *used says how many
 * were taken. */
static int
feed_header(struct age_dec *d, const uint8_t *p, size_t len, size_t *used)
{
	static const char magic[] = AGE_VERSION_LINE "\n";
	const uint8_t *nl = memchr(p, '\n', len);
	size_t take = nl ? (size_t)(nl - p) + 1 : len, chk;

	*used = take;
	if (d->hdr.n + take > AGE_HEADER_MAX)
		return dec_fail(d, AGE_E_HEADER, "%s: an age header longer than 256 KiB; refused",
		                d->object);
	age_buf_add(&d->hdr, p, take);
	chk = d->hdr.n < sizeof(magic) - 1 ? d->hdr.n : sizeof(magic) - 1;
	if (chk > 19 && memcmp(d->hdr.p, magic, 19) == 0 && memcmp(d->hdr.p, magic, chk) != 0)
		return dec_fail(
		        d, AGE_E_HEADER,
		        "%s is an age file of a version other than age-encryption.org/v1; a newer age may read it",
		        d->object);
	if (memcmp(d->hdr.p, magic, chk) != 0)
		return dec_fail(
		        d, AGE_E_NOTAGE,
		        "%s is not an age file (it does not start with \"age-encryption.org/v1\")",
		        d->object);
	if (nl == NULL)
		return AGE_OK;
	if (d->hdr.n - d->line_start >= 3 && memcmp(d->hdr.p + d->line_start, "---", 3) == 0)
		return open_header(d);
	d->line_start = d->hdr.n;
	return AGE_OK;
}

static int
start_payload(struct age_dec *d)
{
	struct dec_secrets *s = d->sec;

	d->c = EVP_CIPHER_CTX_new();
	if (d->c == NULL ||
	    age_hkdf(s->file_key, AGE_FILE_KEY, d->nonce, AGE_NONCE, "payload", s->payload_key,
	             32) < 0 ||
	    EVP_DecryptInit_ex(d->c, EVP_chacha20_poly1305(), NULL, s->payload_key, NULL) != 1)
		return dec_fail(d, AGE_E_CRYPTO, "%s: age decryption failed in libcrypto",
		                d->object);
	OPENSSL_cleanse(s->file_key, sizeof(s->file_key));
	d->state = D_PAYLOAD;
	return AGE_OK;
}

/* Opens the buffered chunk as final or not into d->out; 0 when it verifies. */
static int
open_chunk(struct age_dec *d, int final)
{
	uint8_t nonce[12] = {0};
	uint64_t ctr = d->counter;
	size_t n = d->n - AGE_TAG;
	int ol = 0, fl = 0, i;

	for (i = 10; i >= 3; i--, ctr >>= 8)
		nonce[i] = (uint8_t)ctr;
	nonce[11] = final ? 1 : 0;
	if (EVP_DecryptInit_ex(d->c, NULL, NULL, NULL, nonce) != 1 ||
	    EVP_CIPHER_CTX_ctrl(d->c, EVP_CTRL_AEAD_SET_TAG, AGE_TAG, d->in + n) != 1 ||
	    EVP_DecryptUpdate(d->c, d->out, &ol, d->in, (int)n) != 1 ||
	    EVP_DecryptFinal_ex(d->c, d->out + ol, &fl) != 1)
		return -1;
	return 0;
}

/* A full chunk followed by more bytes: it must verify as not final. */
static int
middle_chunk(struct age_dec *d)
{
	if (open_chunk(d, 0) < 0) {
		if (open_chunk(d, 1) == 0)
			return dec_fail(
			        d, AGE_E_TRAILING,
			        "%s: bytes after its final age chunk; the object was damaged or tampered with",
			        d->object);
		return dec_fail(d, AGE_E_AUTH,
		                "%s: age chunk %" PRIu64
		                " fails authentication: the object was damaged or tampered with",
		                d->object, d->counter);
	}
	if (d->write(d->ctx, d->out, AGE_CHUNK) != 0)
		return dec_fail(d, AGE_E_WRITE, "%s: writing the decrypted data failed", d->object);
	d->counter++;
	d->n = 0;
	return AGE_OK;
}

int
age_dec_write(struct age_dec *d, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t used;
	int rc;

	if (d->state == D_FAILED || d->state == D_DONE)
		return d->state == D_FAILED
		               ? d->code
		               : dec_fail(d, AGE_E_INVALID,
		                          "%s: age_dec_write after age_dec_finish", d->object);
	while (len > 0) {
		if (d->state == D_HEADER) {
			if ((rc = feed_header(d, p, len, &used)) != AGE_OK)
				return rc;
		} else if (d->state == D_NONCE) {
			used = AGE_NONCE - d->nonce_n < len ? AGE_NONCE - d->nonce_n : len;
			memcpy(d->nonce + d->nonce_n, p, used);
			d->nonce_n += used;
			if (d->nonce_n == AGE_NONCE && (rc = start_payload(d)) != AGE_OK)
				return rc;
		} else {
			if (d->n == IN_CHUNK && (rc = middle_chunk(d)) != AGE_OK)
				return rc;
			used = IN_CHUNK - d->n < len ? IN_CHUNK - d->n : len;
			memcpy(d->in + d->n, p, used);
			d->n += used;
		}
		p += used;
		len -= used;
	}
	return AGE_OK;
}

/* The end of the input: what is buffered must be the final chunk. */
static int
last_chunk(struct age_dec *d)
{
	if (d->n < AGE_TAG) {
		if (d->n == 0 && d->counter > 0)
			return dec_fail(
			        d, AGE_E_TRUNCATED,
			        "%s is truncated: it ends on an age chunk boundary without its final chunk",
			        d->object);
		return dec_fail(d, AGE_E_TRUNCATED, "%s is truncated: it ends inside an age chunk",
		                d->object);
	}
	if (open_chunk(d, 1) < 0) {
		if (d->n == IN_CHUNK && open_chunk(d, 0) == 0)
			return dec_fail(
			        d, AGE_E_TRUNCATED,
			        "%s is truncated: it ends on an age chunk boundary without its final chunk",
			        d->object);
		return dec_fail(
		        d, AGE_E_AUTH,
		        "%s: its last age chunk fails authentication: the object is truncated, damaged or tampered with",
		        d->object);
	}
	if (d->n == AGE_TAG && d->counter > 0)
		return dec_fail(
		        d, AGE_E_AUTH,
		        "%s: an empty final age chunk after data, which the format forbids; the object was tampered with",
		        d->object);
	if (d->n > AGE_TAG && d->write(d->ctx, d->out, d->n - AGE_TAG) != 0)
		return dec_fail(d, AGE_E_WRITE, "%s: writing the decrypted data failed", d->object);
	d->counter++;
	d->n = 0;
	d->state = D_DONE;
	return AGE_OK;
}

int
age_dec_finish(struct age_dec *d)
{
	switch (d->state) {
	case D_FAILED: return d->code;
	case D_DONE:
		return dec_fail(d, AGE_E_INVALID, "%s: age_dec_finish called twice", d->object);
	case D_HEADER:
		if (d->hdr.n == 0)
			return dec_fail(d, AGE_E_NOTAGE, "%s is empty, not an age file", d->object);
		return dec_fail(d, AGE_E_TRUNCATED,
		                "%s is truncated: it ends inside its age header", d->object);
	case D_NONCE:
		return dec_fail(d, AGE_E_TRUNCATED,
		                "%s is truncated: it ends before its age payload", d->object);
	default: return last_chunk(d);
	}
}

const char *
age_dec_error(const struct age_dec *d)
{
	return d->err;
}

void
age_dec_free(struct age_dec *d)
{
	if (d == NULL)
		return;
	EVP_CIPHER_CTX_free(d->c);
	age_sec_free(d->sec, sizeof(*d->sec));
	if (d->out != NULL)
		OPENSSL_cleanse(d->out, AGE_CHUNK);
	free(d->in);
	free(d->out);
	free(d->hdr.p);
	free(d->object);
	free(d);
}
