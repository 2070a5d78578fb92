/* age_crypto.c - the age module's secret buffers, primitives over OpenSSL 3's
 * libcrypto (HKDF-SHA-256, HMAC-SHA-256, ChaCha20-Poly1305, X25519, scrypt)
 * and the spec's unpadded base64. */
#include "autoconf.h"

#include "age_internal.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/kdf.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "util.h"

static size_t
page_round(size_t n)
{
	long pg = sysconf(_SC_PAGESIZE);
	size_t p = pg > 0 ? (size_t)pg : 4096;

	return ((n ? n : 1) + p - 1) / p * p;
}

void *
age_sec_alloc(size_t n)
{
	size_t len = page_round(n);
	void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED) {
		fprintf(stderr, "cairn: out of memory for a key buffer\n");
		abort();
	}
	/* Best effort: without the privilege or the rlimit the page stays
	 * swappable, and still wiped and out of core dumps. */
	(void)mlock(p, len);
#ifdef MADV_DONTDUMP
	(void)madvise(p, len, MADV_DONTDUMP);
#endif
	return p;
}

void
age_sec_free(void *p, size_t n)
{
	size_t len = page_round(n);

	if (p == NULL)
		return;
	OPENSSL_cleanse(p, len);
	(void)munlock(p, len);
	munmap(p, len);
}

int
age_errf(char *err, size_t errsz, int code, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && errsz > 0) {
		va_start(ap, fmt);
		vsnprintf(err, errsz, fmt, ap);
		va_end(ap);
	}
	return code;
}

int
age_random(uint8_t *buf, size_t n)
{
	return RAND_bytes(buf, (int)n) == 1 ? 0 : -1;
}

int
age_hkdf(const uint8_t *ikm, size_t ikmlen, const uint8_t *salt, size_t saltlen, const char *info,
         uint8_t *out, size_t outlen)
{
	EVP_KDF *kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	EVP_KDF_CTX *kctx = kdf ? EVP_KDF_CTX_new(kdf) : NULL;
	OSSL_PARAM params[5], *p = params;
	int rc = -1;

	EVP_KDF_free(kdf);
	if (kctx == NULL)
		return -1;
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, (char *)"SHA256", 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, (void *)ikm, ikmlen);
	/* no salt is the same as an empty one (HMAC pads the key with zeros) */
	if (saltlen > 0)
		*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, (void *)salt,
		                                         saltlen);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, (void *)info, strlen(info));
	*p = OSSL_PARAM_construct_end();
	if (EVP_KDF_derive(kctx, out, outlen, params) == 1)
		rc = 0;
	EVP_KDF_CTX_free(kctx);
	return rc;
}

int
age_hmac(const uint8_t key[32], const uint8_t *msg, size_t len, uint8_t out[32])
{
	unsigned int olen = 0;

	if (HMAC(EVP_sha256(), key, 32, msg, len, out, &olen) == NULL || olen != 32)
		return -1;
	return 0;
}

static int
aead(int enc, const uint8_t key[32], const uint8_t nonce[12], const uint8_t *in, size_t len,
     uint8_t *out)
{
	EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
	size_t n = enc ? len : len - AGE_TAG;
	int ol = 0, fl = 0, ok;

	if (c == NULL || (!enc && len < AGE_TAG))
		return EVP_CIPHER_CTX_free(c), -1;
	ok = EVP_CipherInit_ex(c, EVP_chacha20_poly1305(), NULL, key, nonce, enc) == 1;
	if (ok && !enc)
		ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_SET_TAG, AGE_TAG, (void *)(in + n)) == 1;
	ok = ok && EVP_CipherUpdate(c, out, &ol, in, (int)n) == 1;
	ok = ok && EVP_CipherFinal_ex(c, out + ol, &fl) == 1;
	if (ok && enc)
		ok = EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_AEAD_GET_TAG, AGE_TAG, out + n) == 1;
	EVP_CIPHER_CTX_free(c);
	if (!ok && !enc)
		OPENSSL_cleanse(out, n);
	return ok ? 0 : -1;
}

int
age_seal(const uint8_t key[32], const uint8_t nonce[12], const uint8_t *in, size_t len,
         uint8_t *out)
{
	return aead(1, key, nonce, in, len, out);
}

int
age_open(const uint8_t key[32], const uint8_t nonce[12], const uint8_t *in, size_t len,
         uint8_t *out)
{
	return aead(0, key, nonce, in, len, out);
}

int
age_x25519_public(const uint8_t priv[32], uint8_t pub[32])
{
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, 32);
	size_t n = 32;
	int rc = -1;

	if (k != NULL && EVP_PKEY_get_raw_public_key(k, pub, &n) == 1 && n == 32)
		rc = 0;
	EVP_PKEY_free(k);
	return rc;
}

int
age_x25519(const uint8_t priv[32], const uint8_t pub[32], uint8_t shared[32])
{
	static const uint8_t zero[32];
	EVP_PKEY *k = EVP_PKEY_new_raw_private_key(EVP_PKEY_X25519, NULL, priv, 32);
	EVP_PKEY *peer = EVP_PKEY_new_raw_public_key(EVP_PKEY_X25519, NULL, pub, 32);
	EVP_PKEY_CTX *c = k ? EVP_PKEY_CTX_new(k, NULL) : NULL;
	size_t n = 32;
	int rc = -1;

	/* OpenSSL refuses an all-zero shared secret itself; checked again */
	if (c != NULL && peer != NULL && EVP_PKEY_derive_init(c) == 1 &&
	    EVP_PKEY_derive_set_peer(c, peer) == 1 && EVP_PKEY_derive(c, shared, &n) == 1 &&
	    n == 32 && CRYPTO_memcmp(shared, zero, 32) != 0)
		rc = 0;
	EVP_PKEY_CTX_free(c);
	EVP_PKEY_free(peer);
	EVP_PKEY_free(k);
	return rc;
}

int
age_scrypt(const uint8_t *pass, size_t passlen, const uint8_t salt[16], int log2n, uint8_t out[32])
{
	uint8_t s[sizeof(AGE_SCRYPT_SALT) - 1 + 16];
	uint64_t n = (uint64_t)1 << log2n;
	uint64_t maxmem = 128 * 8 * n + (1u << 20);

	memcpy(s, AGE_SCRYPT_SALT, sizeof(AGE_SCRYPT_SALT) - 1);
	memcpy(s + sizeof(AGE_SCRYPT_SALT) - 1, salt, 16);
	if (EVP_PBE_scrypt((const char *)pass, passlen, s, sizeof(s), n, 8, 1, maxmem, out, 32) !=
	    1)
		return -1;
	return 0;
}

static const char b64chars[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

size_t
age_b64_len(size_t n)
{
	return (n * 8 + 5) / 6;
}

void
age_b64_encode(const uint8_t *in, size_t n, char *out)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		acc = (acc << 8) | in[i];
		bits += 8;
		while (bits >= 6) {
			out[o++] = b64chars[(acc >> (bits - 6)) & 63];
			bits -= 6;
		}
	}
	if (bits > 0)
		out[o++] = b64chars[(acc << (6 - bits)) & 63];
	out[o] = '\0';
}

int
age_b64_decode(const char *in, size_t n, uint8_t *out, size_t outmax, size_t *outlen)
{
	uint32_t acc = 0;
	int bits = 0;
	size_t i, o = 0;

	if (n % 4 == 1)
		return -1;
	for (i = 0; i < n; i++) {
		const char *p = in[i] ? strchr(b64chars, in[i]) : NULL;

		if (p == NULL)
			return -1;
		acc = (acc << 6) | (uint32_t)(p - b64chars);
		bits += 6;
		if (bits >= 8) {
			if (o == outmax)
				return -1;
			out[o++] = (uint8_t)(acc >> (bits - 8));
			bits -= 8;
		}
	}
	/* canonical: the bits left over are zero */
	if ((acc & ((1u << bits) - 1)) != 0)
		return -1;
	*outlen = o;
	return 0;
}
