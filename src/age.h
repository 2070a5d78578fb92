/* age.h - reading and writing the age format (age-encryption.org/v1, the
 * C2SP spec) with OpenSSL's libcrypto: X25519 and passphrase (scrypt)
 * recipients, a streaming encryptor and decryptor whose memory stays one
 * 64 KiB chunk however long the stream.
 *
 * Secrets (identities, passphrases, file keys) live in locked pages that
 * are wiped when freed, are left out of core dumps, and never reach a
 * message.  Every error is one line for a person: the file and line of a
 * bad key, the object that no identity opens, a tampered or truncated
 * object. */
#ifndef CAIRN_AGE_H
#define CAIRN_AGE_H

#include <stddef.h>
#include <stdint.h>

/* Return codes (0 is success). */
enum {
	AGE_OK = 0,
	AGE_E_INVALID = 1,    /* a bad key, file, argument or state */
	AGE_E_IO = 2,         /* a key file could not be read */
	AGE_E_NOTAGE = 3,     /* the input does not start as an age file */
	AGE_E_HEADER = 4,     /* a malformed or unsupported header */
	AGE_E_NOMATCH = 5,    /* no identity opens any stanza */
	AGE_E_PASSPHRASE = 6, /* the passphrase does not open the scrypt stanza */
	AGE_E_MAC = 7,        /* the header MAC does not verify: tampered */
	AGE_E_AUTH = 8,       /* a payload chunk does not verify: tampered */
	AGE_E_TRUNCATED = 9,  /* the stream ends before its final chunk */
	AGE_E_TRAILING = 10,  /* bytes after the final chunk */
	AGE_E_CRYPTO = 11,    /* libcrypto failed (out of memory, no RNG) */
	AGE_E_WRITE = 12,     /* the write callback failed */
};

#define AGE_ERR_MAX 512         /* room for any message of this module */
#define AGE_CHUNK (64 * 1024)   /* plaintext bytes per STREAM chunk */
#define AGE_SCRYPT_LOG2N 18     /* age's default work factor */
#define AGE_SCRYPT_MAX_LOG2N 22 /* the largest one accepted when decrypting */

/* Where the encryptor and decryptor put their output; returns 0, or
 * non-zero to stop (the call then fails with AGE_E_WRITE). */
typedef int (*age_write_fn)(void *ctx, const uint8_t *buf, size_t len);

/* ------------------------------------------------------------ key files */
/* A key file read whole into locked memory that is wiped when freed (a
 * NUL after its len bytes; mode its permission bits, for warnings about
 * key files others can read): a regular file of at most 1 MiB, a FIFO or
 * a device refused without blocking.  What age_recipients_load() and
 * age_identities_load() read with, and crypt_keys.c for a passphrase.
 * 0, or AGE_E_IO with err naming the path. */
struct age_keyfile {
	char *text;
	size_t len, cap;
	unsigned mode;
};
int age_keyfile_read(const char *path, struct age_keyfile *kf, char *err, size_t errsz);
void age_keyfile_free(struct age_keyfile *kf);

/* ----------------------------------------------------------- recipients */
struct age_recipients;

struct age_recipients *age_recipients_new(void);
void age_recipients_free(struct age_recipients *r);
/* One age1... recipient; what names it in messages (e.g. "age_recipients")
 * goes in src.  0 or AGE_E_INVALID with err. */
int age_recipients_add(struct age_recipients *r, const char *recipient, const char *src, char *err,
                       size_t errsz);
/* age's recipients-file format from a string / a file: one recipient a
 * line, # comments, blank lines; name labels messages. */
int age_recipients_parse(struct age_recipients *r, const char *text, size_t len, const char *name,
                         char *err, size_t errsz);
int age_recipients_load(struct age_recipients *r, const char *path, char *err, size_t errsz);
/* The passphrase (scrypt) recipient at work factor log2n (0: age's
 * default).  It must be the only recipient. */
int age_recipients_add_passphrase(struct age_recipients *r, const char *pass, size_t len, int log2n,
                                  char *err, size_t errsz);
size_t age_recipients_count(const struct age_recipients *r);
/* The i-th X25519 recipient as age1... (NULL for a passphrase). */
const char *age_recipients_get(const struct age_recipients *r, size_t i);

/* ----------------------------------------------------------- identities */
struct age_identities;

struct age_identities *age_identities_new(void);
void age_identities_free(struct age_identities *ids);
/* age's identity-file format (AGE-SECRET-KEY-1... lines, # comments) from
 * a string or a file; name labels messages ("none of the identities in
 * NAME opens ..."). */
int age_identities_parse(struct age_identities *ids, const char *text, size_t len, const char *name,
                         char *err, size_t errsz);
int age_identities_load(struct age_identities *ids, const char *path, char *err, size_t errsz);
/* A passphrase identity; work factors above max_log2n (0: the default
 * AGE_SCRYPT_MAX_LOG2N) are refused. */
int age_identities_add_passphrase(struct age_identities *ids, const char *pass, size_t len,
                                  int max_log2n, char *err, size_t errsz);
size_t age_identities_count(const struct age_identities *ids);
/* The public key (age1...) of the i-th X25519 identity, a new string, or
 * NULL for a passphrase. */
char *age_identities_public(const struct age_identities *ids, size_t i);

/* The recipient (age1...) of an identity string AGE-SECRET-KEY-1..., a new
 * string; NULL with err when it is not one. */
char *age_identity_to_recipient(const char *identity, char *err, size_t errsz);

/* ------------------------------------------------------------ encryptor */
struct age_enc;

/* Writes the header at once through write(ctx, ...).  NULL with err. */
struct age_enc *age_enc_new(const struct age_recipients *r, age_write_fn write, void *ctx,
                            char *err, size_t errsz);
int age_enc_write(struct age_enc *e, const void *buf, size_t len);
/* Writes the final chunk; the stream is complete when it returns 0. */
int age_enc_finish(struct age_enc *e);
const char *age_enc_error(const struct age_enc *e);
void age_enc_free(struct age_enc *e);

/* ------------------------------------------------------------ decryptor */
struct age_dec;

/* object names the input in messages.  Fed in any sizes; plaintext goes to
 * write(ctx, ...) only after its chunk's tag verified. */
struct age_dec *age_dec_new(const struct age_identities *ids, const char *object,
                            age_write_fn write, void *ctx);
int age_dec_write(struct age_dec *d, const void *buf, size_t len);
/* Fails unless the stream ended with its final chunk. */
int age_dec_finish(struct age_dec *d);
const char *age_dec_error(const struct age_dec *d);
void age_dec_free(struct age_dec *d);

#endif
