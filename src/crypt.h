/* crypt.h - client-side encryption in the age format (age-encryption.org/v1),
 * as a stage of the core's pipeline (issue 20).
 *
 * Backup:  source -> compression -> age -> SHA-256 -> every sink.
 * Restore: sink -> SHA-256 -> age (each 64 KiB chunk authenticated before
 *          a byte of it goes on) -> decompression -> source.
 *
 * The SHA-256 and the stored size in a manifest are of the stored,
 * encrypted bytes, so list, prune, copy and shallow verify need no key; an
 * encrypted object is named NAME.EXT.COMP.age (a log segment
 * SEG.EXT.COMP.age) and `age -d -i KEY OBJECT | zstd -dc` reads it
 * without cairn.  The manifests stay in clear; see doc/design.md for what
 * they still reveal.
 *
 * Two halves:
 *  - crypt_keys.c: the job's keys from its INI keys (struct cfg_crypt):
 *    recipients for writing, identities for reading, with the warnings
 *    for key files others can read;
 *  - crypt.c: the writing and reading stages, which the pipeline
 *    (pipeline.c) and the log writer (logwriter.c) put between their
 *    compression and their hashing. */
#ifndef CAIRN_CRYPT_H
#define CAIRN_CRYPT_H

#include <sys/types.h>

#include "age.h"
#include "compress.h"
#include "config.h"

/* The suffix of an encrypted object's key, and the manifest's word for
 * it ("encryption": "age"). */
#define CRYPT_EXT ".age"
#define CRYPT_AGE "age"

/* ------------------------------------------------------------------ keys */

/* The recipients a backup of job encrypts to: age_recipients and
 * age_recipients_file together, or the passphrase of age_passphrase_file /
 * age_passphrase_env (scrypt, age's default work factor).  0 with *out
 * NULL when the job does not encrypt; 0 with *out set; or CAIRN_E_CONFIG
 * with *err one line naming the [job], key, file and line, and what to
 * do.  A passphrase file that others can read draws a warning. */
int crypt_recipients_load(const struct cfg_job *job, struct age_recipients **out, char **err);

/* The identities that read job's encrypted objects: the file given on the
 * command line (restore/verify --identity PATH; NULL: none) or else the
 * INI's age_identity_file, or the passphrase.  0 with *out NULL when none
 * is given (reading an encrypted object then fails naming what to give);
 * CAIRN_E_CONFIG with *err for an unreadable or malformed key file.  A
 * key file that others can read draws a warning. */
int crypt_identities_load(const struct cfg_job *job, const char *identity_path,
                          struct age_identities **out, char **err);

/* The identities the reading stages use, for the rest of the run (a
 * command sets them once it knows its job, before it reads; NULL: none).
 * Not owned; the command frees them after its last read. */
void crypt_set_identities(const struct age_identities *ids);
const struct age_identities *crypt_identities(void);

/* The manifest's "recipients" of a set written to r: each X25519
 * recipient as age1..., or "scrypt" for a passphrase.  Public keys only. */
void crypt_recipients_describe(const struct age_recipients *r, struct strvec *out);

/* --------------------------------------------------------------- stages */

/* Writing: what write() is given leaves encrypted through emit (the
 * header at once, then one chunk per 64 KiB).  NULL with *err. */
struct crypt_writer;
struct crypt_writer *crypt_writer_new(const struct age_recipients *r, emit_fn emit, void *userdata,
                                      char **err);
int crypt_writer_write(struct crypt_writer *w, const void *buf, size_t len, char **err);
/* The final chunk: the object is complete when this returns 0. */
int crypt_writer_finish(struct crypt_writer *w, char **err);
void crypt_writer_free(struct crypt_writer *w);

/* Reading: pulls the stored bytes through pull and gives back the
 * plaintext, only what authenticated.  object names the object in
 * messages ("JOB/ID/NAME.EXT.COMP.age").  read() returns the bytes read,
 * 0 at the proven end of the stream, or -1 with *err set and *code the
 * CAIRN_E_* code: CAIRN_E_CORRUPT for a tampered, truncated or non-age
 * object (exit 6), CAIRN_E_AUTH when no identity opens it (naming the
 * identities' source and the recipients it was written to),
 * CAIRN_E_CONFIG when no identity was given at all.  When pull fails
 * (returns -1), read() returns -1 with *code 0 and *err NULL: the
 * puller's own error stands. */
struct crypt_reader;
struct crypt_reader *crypt_reader_new(const struct age_identities *ids, const char *object,
                                      pull_fn pull, void *userdata);
ssize_t crypt_reader_read(struct crypt_reader *r, void *buf, size_t len, int *code, char **err);
/* The recipients the object's manifest says it was written to (its set's
 * "recipients"; not copied, must outlive r).  When an identity whose
 * public key is among them opens no stanza of the header, the header was
 * damaged: CAIRN_E_CORRUPT rather than CAIRN_E_AUTH; and the message for
 * identities that do not match names them. */
void crypt_reader_expect(struct crypt_reader *r, const struct strvec *recipients);
void crypt_reader_free(struct crypt_reader *r);

#endif
