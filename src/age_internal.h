/* age_internal.h - what the age module's files share: secret buffers, the
 * primitives over libcrypto, base64, the header, the key lists. */
#ifndef CAIRN_AGE_INTERNAL_H
#define CAIRN_AGE_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "age.h"

#define AGE_VERSION_LINE "age-encryption.org/v1"
#define AGE_X25519_INFO "age-encryption.org/v1/X25519"
#define AGE_SCRYPT_SALT "age-encryption.org/v1/scrypt"
#define AGE_FILE_KEY 16
#define AGE_TAG 16
#define AGE_NONCE 16
#define AGE_HEADER_MAX (256 * 1024) /* a header longer than this is refused */

/* --- secret buffers: page-aligned, locked if the system lets us, left out
 * of core dumps, wiped when freed. */
void *age_sec_alloc(size_t n);
void age_sec_free(void *p, size_t n);

/* --- messages */
int age_errf(char *err, size_t errsz, int code, const char *fmt, ...)
        __attribute__((format(printf, 4, 5)));

/* --- primitives (0 on success, -1 on failure) */
int age_random(uint8_t *buf, size_t n);
int age_hkdf(const uint8_t *ikm, size_t ikmlen, const uint8_t *salt, size_t saltlen,
             const char *info, uint8_t *out, size_t outlen);
int age_hmac(const uint8_t key[32], const uint8_t *msg, size_t len, uint8_t out[32]);
/* ChaCha20-Poly1305 with a 12-byte nonce; seal writes len + 16 bytes, open
 * reads len bytes (tag included) and writes len - 16. */
int age_seal(const uint8_t key[32], const uint8_t nonce[12], const uint8_t *in, size_t len,
             uint8_t *out);
int age_open(const uint8_t key[32], const uint8_t nonce[12], const uint8_t *in, size_t len,
             uint8_t *out);
int age_x25519_public(const uint8_t priv[32], uint8_t pub[32]);
/* shared = X25519(priv, pub); -1 also for an all-zero result */
int age_x25519(const uint8_t priv[32], const uint8_t pub[32], uint8_t shared[32]);
int age_scrypt(const uint8_t *pass, size_t passlen, const uint8_t salt[16], int log2n,
               uint8_t out[32]);

/* --- base64, standard alphabet, no padding (the spec's encoding) */
size_t age_b64_len(size_t n);
void age_b64_encode(const uint8_t *in, size_t n, char *out); /* NUL-terminates */
/* Strict: canonical, unpadded; -1 for anything else or more than outmax. */
int age_b64_decode(const char *in, size_t n, uint8_t *out, size_t outmax, size_t *outlen);

/* --- the key lists */
enum {
	AGE_KEY_X25519 = 1,
	AGE_KEY_SCRYPT = 2
};

struct age_recip {
	int type;
	uint8_t pub[32];
	char *str;     /* age1... */
	uint8_t *pass; /* secret, age_sec_alloc'd */
	size_t passlen;
	int log2n;
};

struct age_recipients {
	struct age_recip *v;
	size_t n, cap;
};

struct age_ident {
	int type;
	uint8_t *priv; /* secret, 32 bytes */
	uint8_t pub[32];
	uint8_t *pass; /* secret */
	size_t passlen;
	int max_log2n;
};

struct age_identities {
	struct age_ident *v;
	size_t n, cap;
	char *name; /* where they came from, for messages */
};

/* --- the header */
struct age_stanza {
	char *type;
	char **args;
	size_t nargs;
	uint8_t *body;
	size_t bodylen;
};

struct age_header {
	struct age_stanza *st;
	size_t n;
	size_t mac_off; /* the MAC covers bytes [0, mac_off): through "---" */
	uint8_t mac[32];
};

/* Parses a whole header (through the newline after the MAC); 0, or -1 with
 * a static reason in *why. */
int age_header_parse(const char *buf, size_t len, struct age_header *h, const char **why);
void age_header_free(struct age_header *h);

/* A growing byte buffer for writing a header. */
struct age_buf {
	char *p;
	size_t n, cap;
};
void age_buf_add(struct age_buf *b, const void *p, size_t n);
void age_buf_str(struct age_buf *b, const char *s);
/* "-> type args...\n" and the body in lines of 64 columns */
void age_stanza_write(struct age_buf *b, const char *type, const char *const *args, size_t nargs,
                      const uint8_t *body, size_t bodylen);

#endif
