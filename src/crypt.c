/* crypt.c - the age stages of the pipeline (see crypt.h): the writer
 * wraps age_enc behind the compressor's emit_fn; the reader turns the
 * push-style age_dec into a pull_fn-style reader for the decompressor,
 * with one chunk of plaintext in memory at a time. */
#include "autoconf.h"

#include "crypt.h"

#include <openssl/crypto.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn.h"
#include "util.h"

/* --------------------------------------------------------------- writer */

struct crypt_writer {
	struct age_enc *e;
	emit_fn emit;
	void *userdata;
	int emit_rc; /* the emit function's own failure */
};

static int
writer_out(void *ctx, const uint8_t *buf, size_t len)
{
	struct crypt_writer *w = ctx;
	w->emit_rc = w->emit(w->userdata, buf, len);
	return w->emit_rc ? -1 : 0;
}

struct crypt_writer *
crypt_writer_new(const struct age_recipients *r, emit_fn emit, void *userdata, char **err)
{
	struct crypt_writer *w = xcalloc(1, sizeof(*w));
	char msg[AGE_ERR_MAX] = "";
	w->emit = emit;
	w->userdata = userdata;
	w->e = age_enc_new(r, writer_out, w, msg, sizeof(msg));
	if (!w->e) {
		*err = xasprintf("age encryption: %s", msg);
		free(w);
		return NULL;
	}
	return w;
}

/* age_enc's failure as the stage's: the emit function's code as it gave
 * it (its own error stands), or CAIRN_E_IO with *err. */
static int
writer_fail(struct crypt_writer *w, char **err)
{
	if (w->emit_rc)
		return w->emit_rc;
	*err = xasprintf("age encryption: %s", age_enc_error(w->e));
	return CAIRN_E_IO;
}

int
crypt_writer_write(struct crypt_writer *w, const void *buf, size_t len, char **err)
{
	if (age_enc_write(w->e, buf, len) != AGE_OK)
		return writer_fail(w, err);
	return 0;
}

int
crypt_writer_finish(struct crypt_writer *w, char **err)
{
	if (age_enc_finish(w->e) != AGE_OK)
		return writer_fail(w, err);
	return 0;
}

void
crypt_writer_free(struct crypt_writer *w)
{
	if (!w)
		return;
	age_enc_free(w->e);
	free(w);
}

/* --------------------------------------------------------------- reader */

/* Stored bytes pulled at a time: one sealed chunk (64 KiB and its tag),
 * so one age_dec_write releases at most one chunk of plaintext, which
 * always fits the reader's buffer. */
#define CRYPT_PULL (AGE_CHUNK + 16)

enum {
	R_READING,
	R_DONE,  /* the final chunk authenticated, nothing after it */
	R_FAILED /* stays failed */
};

struct crypt_reader {
	const struct age_identities *ids;
	char *object;
	pull_fn pull;
	void *userdata;
	struct age_dec *d;
	uint8_t *in;  /* CRYPT_PULL stored bytes */
	uint8_t *out; /* AGE_CHUNK plaintext, authenticated */
	size_t out_n, out_off;
	int state;
	int code;                    /* R_FAILED: the CAIRN_E_* code, 0 when the pull failed */
	char *err;                   /* R_FAILED: the message, NULL when the pull failed */
	const struct strvec *expect; /* the manifest's recipients, or NULL */
};

static int
reader_out(void *ctx, const uint8_t *buf, size_t len)
{
	struct crypt_reader *r = ctx;
	if (len > AGE_CHUNK - r->out_n)
		return -1; /* cannot happen with CRYPT_PULL; refused, not overrun */
	memcpy(r->out + r->out_n, buf, len);
	r->out_n += len;
	return 0;
}

struct crypt_reader *
crypt_reader_new(const struct age_identities *ids, const char *object, pull_fn pull, void *userdata)
{
	struct crypt_reader *r = xcalloc(1, sizeof(*r));
	r->ids = ids;
	r->object = xstrdup(object ? object : "the object");
	r->pull = pull;
	r->userdata = userdata;
	r->d = age_dec_new(ids, r->object, reader_out, r);
	r->in = xmalloc(CRYPT_PULL);
	r->out = xmalloc(AGE_CHUNK);
	r->state = R_READING;
	return r;
}

void
crypt_reader_expect(struct crypt_reader *r, const struct strvec *recipients)
{
	r->expect = recipients;
}

/* Is the public key of one of the identities among the recipients the
 * manifest names? */
static int
expected_identity(const struct crypt_reader *r)
{
	int found = 0;
	for (size_t i = 0; r->expect && r->ids && i < age_identities_count(r->ids) && !found; i++) {
		char *pub = age_identities_public(r->ids, i);
		for (size_t k = 0; pub && k < r->expect->n && !found; k++)
			found = strcmp(pub, r->expect->v[k]) == 0;
		free(pub);
	}
	return found;
}

/* Public keys shortened as age's messages show them: "age1abcdefgh...uvwxyz". */
static void
key_list_add(char *list, size_t size, const char *key)
{
	size_t n = strlen(key), at = strlen(list);
	if (n > 24)
		snprintf(list + at, size - at, "%s%.12s...%s", at ? ", " : "", key, key + n - 6);
	else
		snprintf(list + at, size - at, "%s%s", at ? ", " : "", key);
}

/* "none of the identities in NAME opens OBJECT; it was encrypted to
 * RECIPIENTS (the manifest's), none of them the public key of an
 * identity tried (TRIED)", from age_dec's message for X25519 stanzas,
 * whose start names the identities' source. */
static char *
no_match_message(const struct crypt_reader *r)
{
	const char *msg = age_dec_error(r->d), *cut = strstr(msg, "; it was encrypted to");
	char to[256] = "", tried[128] = "";
	for (size_t k = 0; k < r->expect->n && k < 4; k++)
		key_list_add(to, sizeof(to), r->expect->v[k]);
	for (size_t i = 0; i < age_identities_count(r->ids) && i < 2; i++) {
		char *pub = age_identities_public(r->ids, i);
		if (pub)
			key_list_add(tried, sizeof(tried), pub);
		free(pub);
	}
	return xasprintf(
	        "%.*s; it was encrypted to %s%s, none of them the public key of an identity tried (%s)",
	        (int)(cut - msg), msg, to, r->expect->n > 4 ? " and others" : "",
	        tried[0] ? tried : "none");
}

/* The CAIRN_E_* code of an age_dec failure. */
static int
map_code(const struct crypt_reader *r, int age_rc)
{
	switch (age_rc) {
	case AGE_E_NOTAGE:
	case AGE_E_HEADER:
	case AGE_E_MAC:
	case AGE_E_AUTH:
	case AGE_E_TRUNCATED:
	case AGE_E_TRAILING: return CAIRN_E_CORRUPT;
	case AGE_E_NOMATCH:
		return r->ids && age_identities_count(r->ids) ? CAIRN_E_AUTH : CAIRN_E_CONFIG;
	case AGE_E_PASSPHRASE: return CAIRN_E_AUTH;
	case AGE_E_CRYPTO: return CAIRN_E_NOMEM;
	default: return CAIRN_E_IO;
	}
}

static void
reader_fail(struct crypt_reader *r, int age_rc)
{
	r->state = R_FAILED;
	r->code = map_code(r, age_rc);
	if (r->code == CAIRN_E_CONFIG) {
		r->err = xasprintf(
		        "%s is encrypted with age and no identity was given: set age_identity_file (or age_passphrase_file / age_passphrase_env) in the job's section, or give --identity PATH",
		        r->object);
	} else if (age_rc == AGE_E_NOMATCH && expected_identity(r)) {
		/* a key the object was written to does not open it */
		r->code = CAIRN_E_CORRUPT;
		r->err = xasprintf(
		        "%s: its age header does not open with an identity its manifest names as a recipient: the object was damaged or tampered with",
		        r->object);
	} else if (age_rc == AGE_E_NOMATCH && r->expect && r->expect->n &&
	           strstr(age_dec_error(r->d), "; it was encrypted to")) {
		r->err = no_match_message(r);
	} else {
		r->err = xstrdup(age_dec_error(r->d));
	}
}

/* Pull stored bytes and feed them to the decryptor until it released
 * plaintext, the stream ended (proven complete) or something failed. */
static void
reader_fill(struct crypt_reader *r)
{
	r->out_n = r->out_off = 0;
	while (r->state == R_READING && r->out_n == 0) {
		ssize_t n = r->pull(r->userdata, r->in, CRYPT_PULL);
		int rc;
		if (n < 0) {
			r->state = R_FAILED; /* the puller's own error stands */
			r->code = 0;
			return;
		}
		rc = n ? age_dec_write(r->d, r->in, (size_t)n) : age_dec_finish(r->d);
		if (rc != AGE_OK)
			reader_fail(r, rc);
		else if (n == 0)
			r->state = R_DONE;
	}
}

ssize_t
crypt_reader_read(struct crypt_reader *r, void *buf, size_t len, int *code, char **err)
{
	size_t n;
	*code = 0;
	if (r->out_off == r->out_n)
		reader_fill(r);
	if (r->out_off == r->out_n) {
		if (r->state == R_DONE)
			return 0;
		*code = r->code;
		*err = r->err ? xstrdup(r->err) : NULL;
		return -1;
	}
	n = r->out_n - r->out_off < len ? r->out_n - r->out_off : len;
	memcpy(buf, r->out + r->out_off, n);
	r->out_off += n;
	return (ssize_t)n;
}

void
crypt_reader_free(struct crypt_reader *r)
{
	if (!r)
		return;
	age_dec_free(r->d);
	OPENSSL_cleanse(r->out, AGE_CHUNK);
	free(r->out);
	free(r->in);
	free(r->object);
	free(r->err);
	free(r);
}
