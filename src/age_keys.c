/* age_keys.c - age's keys: X25519 recipients (age1...) and identities
 * (AGE-SECRET-KEY-1...), the recipients- and identity-file formats, and
 * the passphrase (scrypt) recipient and identity.  A bad line is named by
 * file and line, never quoted (it may be a secret). */
#include "autoconf.h"

#include "age_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "bech32.h"
#include "util.h"

#define KEYFILE_MAX (1024 * 1024) /* a key file longer than this is refused */

struct age_recipients *
age_recipients_new(void)
{
	return xcalloc(1, sizeof(struct age_recipients));
}

void
age_recipients_free(struct age_recipients *r)
{
	size_t i;

	if (r == NULL)
		return;
	for (i = 0; i < r->n; i++) {
		free(r->v[i].str);
		age_sec_free(r->v[i].pass, r->v[i].passlen);
	}
	free(r->v);
	free(r);
}

static struct age_recip *
recip_push(struct age_recipients *r)
{
	if (r->n == r->cap) {
		r->cap = r->cap ? r->cap * 2 : 4;
		r->v = xrealloc(r->v, r->cap * sizeof(*r->v));
	}
	memset(&r->v[r->n], 0, sizeof(r->v[0]));
	return &r->v[r->n++];
}

static int
has_scrypt(const struct age_recipients *r)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		if (r->v[i].type == AGE_KEY_SCRYPT)
			return 1;
	return 0;
}

/* A recipient string into pub; the reason in *why. */
static int
decode_recipient(const char *s, uint8_t pub[32], const char **why)
{
	char hrp[16];
	uint8_t data[64];
	size_t n = 0;

	if (strncmp(s, "ssh-", 4) == 0)
		return *why = "an SSH key; only age1... X25519 recipients are supported", -1;
	if (bech32_decode(s, hrp, sizeof(hrp), data, sizeof(data), &n, why) < 0)
		return -1;
	if (strcmp(hrp, "age") != 0 || s[0] != 'a')
		return *why = "not an age1... recipient (lowercase, Bech32 with \"age\")", -1;
	if (n != 32)
		return *why = "an age1... recipient of the wrong length", -1;
	memcpy(pub, data, 32);
	return 0;
}

static int
add_recipient(struct age_recipients *r, const char *s, const char *src, size_t line, char *err,
              size_t errsz)
{
	const char *why = "";
	uint8_t pub[32];
	struct age_recip *rc;

	if (decode_recipient(s, pub, &why) < 0) {
		if (line > 0)
			return age_errf(err, errsz, AGE_E_INVALID,
			                "%s line %zu: not a valid age recipient: %s", src, line,
			                why);
		return age_errf(err, errsz, AGE_E_INVALID, "%s: not a valid age recipient: %s", src,
		                why);
	}
	if (has_scrypt(r))
		return age_errf(err, errsz, AGE_E_INVALID,
		                "%s: a passphrase must be the only recipient of an age file", src);
	rc = recip_push(r);
	rc->type = AGE_KEY_X25519;
	memcpy(rc->pub, pub, 32);
	rc->str = bech32_encode("age", pub, 32, 0);
	return AGE_OK;
}

int
age_recipients_add(struct age_recipients *r, const char *recipient, const char *src, char *err,
                   size_t errsz)
{
	return add_recipient(r, recipient, src ? src : "recipient", 0, err, errsz);
}

/* Calls fn for each line of text that is not blank or a # comment, with
 * trailing whitespace (and a CR) cut.  The line buffer is a secret one. */
static int
each_line(const char *text, size_t len, const char *name, char *err, size_t errsz,
          int (*fn)(void *, const char *, size_t, char *, size_t), void *arg)
{
	size_t pos = 0, lineno = 0;
	char *line = age_sec_alloc(len + 1);
	int rc = AGE_OK;

	while (rc == AGE_OK && pos < len) {
		const char *nl = memchr(text + pos, '\n', len - pos);
		size_t n = nl ? (size_t)(nl - (text + pos)) : len - pos;

		lineno++;
		memcpy(line, text + pos, n);
		pos += n + (nl != NULL);
		while (n > 0 && (line[n - 1] == ' ' || line[n - 1] == '\t' || line[n - 1] == '\r'))
			n--;
		line[n] = '\0';
		if (n == 0 || line[0] == '#')
			continue;
		if (memchr(line, '\0', n) != NULL)
			rc = age_errf(err, errsz, AGE_E_INVALID,
			              "%s line %zu: a NUL byte; not an age key file", name, lineno);
		else
			rc = fn(arg, line, lineno, err, errsz);
	}
	age_sec_free(line, len + 1);
	return rc;
}

struct recip_arg {
	struct age_recipients *r;
	const char *name;
};

static int
recip_line(void *arg, const char *line, size_t lineno, char *err, size_t errsz)
{
	struct recip_arg *a = arg;

	return add_recipient(a->r, line, a->name, lineno, err, errsz);
}

int
age_recipients_parse(struct age_recipients *r, const char *text, size_t len, const char *name,
                     char *err, size_t errsz)
{
	struct recip_arg a = {r, name};
	size_t before = r->n;
	int rc = each_line(text, len, name, err, errsz, recip_line, &a);

	if (rc == AGE_OK && r->n == before)
		return age_errf(
		        err, errsz, AGE_E_INVALID,
		        "%s: no recipient in it; put one age1... public key a line (age-keygen -y KEYFILE prints it)",
		        name);
	return rc;
}

/* The one reader of key files (recipients, identities, passphrases): a
 * regular file of at most KEYFILE_MAX bytes into a secret buffer.  Opened
 * without blocking (a FIFO or a device would hang open() or read()) and
 * checked through the descriptor, so what is checked is what is read. */
int
age_keyfile_read(const char *path, struct age_keyfile *kf, char *err, size_t errsz)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY), flags;
	struct stat st;

	memset(kf, 0, sizeof(*kf));
	if (fd < 0)
		return age_errf(err, errsz, AGE_E_IO, "%s: cannot open: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size > KEYFILE_MAX) {
		close(fd);
		return age_errf(err, errsz, AGE_E_IO, "%s: not a regular file of at most 1 MiB",
		                path);
	}
	if ((flags = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0)
		goto fail;
	kf->cap = (size_t)st.st_size + 1;
	kf->text = age_sec_alloc(kf->cap);
	kf->mode = (unsigned)(st.st_mode & 07777);
	while (kf->len < (size_t)st.st_size) {
		ssize_t got = read(fd, kf->text + kf->len, (size_t)st.st_size - kf->len);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0)
			goto fail;
		if (got == 0) /* it shrank while being read: what there is */
			break;
		kf->len += (size_t)got;
	}
	close(fd);
	kf->text[kf->len] = '\0';
	return AGE_OK;
fail : {
	int e = errno;

	close(fd);
	age_keyfile_free(kf);
	return age_errf(err, errsz, AGE_E_IO, "%s: cannot read: %s", path, strerror(e));
}
}

void
age_keyfile_free(struct age_keyfile *kf)
{
	age_sec_free(kf->text, kf->cap);
	memset(kf, 0, sizeof(*kf));
}

/* A key file read and parsed into obj by parse(), the file named by its
 * path in parse()'s messages: what age_recipients_load() and
 * age_identities_load() share. */
static int
load_keyfile(const char *path, void *obj,
             int (*parse)(void *, const char *, size_t, const char *, char *, size_t), char *err,
             size_t errsz)
{
	struct age_keyfile kf;
	int rc = age_keyfile_read(path, &kf, err, errsz);

	if (rc != AGE_OK)
		return rc;
	rc = parse(obj, kf.text, kf.len, path, err, errsz);
	age_keyfile_free(&kf);
	return rc;
}

static int
parse_recipients(void *r, const char *text, size_t len, const char *name, char *err, size_t errsz)
{
	return age_recipients_parse(r, text, len, name, err, errsz);
}

int
age_recipients_load(struct age_recipients *r, const char *path, char *err, size_t errsz)
{
	return load_keyfile(path, r, parse_recipients, err, errsz);
}

int
age_recipients_add_passphrase(struct age_recipients *r, const char *pass, size_t len, int log2n,
                              char *err, size_t errsz)
{
	struct age_recip *rc;

	if (len == 0)
		return age_errf(err, errsz, AGE_E_INVALID, "the age passphrase is empty");
	if (log2n == 0)
		log2n = AGE_SCRYPT_LOG2N;
	if (log2n < 1 || log2n > 30)
		return age_errf(err, errsz, AGE_E_INVALID,
		                "an scrypt work factor must be 1 to 30, not %d", log2n);
	if (r->n > 0)
		return age_errf(err, errsz, AGE_E_INVALID,
		                "a passphrase must be the only recipient of an age file");
	rc = recip_push(r);
	rc->type = AGE_KEY_SCRYPT;
	rc->pass = age_sec_alloc(len);
	memcpy(rc->pass, pass, len);
	rc->passlen = len;
	rc->log2n = log2n;
	return AGE_OK;
}

size_t
age_recipients_count(const struct age_recipients *r)
{
	return r->n;
}

const char *
age_recipients_get(const struct age_recipients *r, size_t i)
{
	return i < r->n ? r->v[i].str : NULL;
}

/* ----------------------------------------------------------- identities */
struct age_identities *
age_identities_new(void)
{
	return xcalloc(1, sizeof(struct age_identities));
}

void
age_identities_free(struct age_identities *ids)
{
	size_t i;

	if (ids == NULL)
		return;
	for (i = 0; i < ids->n; i++) {
		age_sec_free(ids->v[i].priv, 32);
		age_sec_free(ids->v[i].pass, ids->v[i].passlen);
	}
	free(ids->v);
	free(ids->name);
	free(ids);
}

static struct age_ident *
ident_push(struct age_identities *ids, const char *name)
{
	if (ids->n == ids->cap) {
		ids->cap = ids->cap ? ids->cap * 2 : 4;
		ids->v = xrealloc(ids->v, ids->cap * sizeof(*ids->v));
	}
	if (ids->name == NULL) {
		ids->name = xstrdup(name);
	} else if (strcmp(ids->name, name) != 0 && strstr(ids->name, name) == NULL) {
		char *both = xasprintf("%s and %s", ids->name, name);

		free(ids->name);
		ids->name = both;
	}
	memset(&ids->v[ids->n], 0, sizeof(ids->v[0]));
	return &ids->v[ids->n++];
}

/* An identity string into priv (a secret buffer of 32); *why on failure. */
static int
decode_identity(const char *s, uint8_t *priv, const char **why)
{
	char hrp[32];
	uint8_t *data = age_sec_alloc(64);
	size_t n = 0;
	int rc = -1;

	if (bech32_decode(s, hrp, sizeof(hrp), data, 64, &n, why) < 0)
		goto out;
	if (strcmp(hrp, "age-secret-key-") != 0 || s[0] != 'A') {
		*why = "not an AGE-SECRET-KEY-1... identity (uppercase Bech32)";
		goto out;
	}
	if (n != 32) {
		*why = "an AGE-SECRET-KEY-1... identity of the wrong length";
		goto out;
	}
	memcpy(priv, data, 32);
	rc = 0;
out:
	age_sec_free(data, 64);
	return rc;
}

struct ident_arg {
	struct age_identities *ids;
	const char *name;
};

static int
ident_line(void *arg, const char *line, size_t lineno, char *err, size_t errsz)
{
	struct ident_arg *a = arg;
	uint8_t *priv = age_sec_alloc(32);
	const char *why = "";
	uint8_t pub[32];
	struct age_ident *id;

	if (decode_identity(line, priv, &why) < 0 || age_x25519_public(priv, pub) < 0) {
		age_sec_free(priv, 32);
		if (strncmp(line, "-----BEGIN", 10) == 0)
			why = "an SSH or PEM key; only AGE-SECRET-KEY-1... identities are supported";
		return age_errf(err, errsz, AGE_E_INVALID,
		                "%s line %zu: not a valid age identity: %s", a->name, lineno, why);
	}
	id = ident_push(a->ids, a->name);
	id->type = AGE_KEY_X25519;
	id->priv = priv;
	memcpy(id->pub, pub, 32);
	return AGE_OK;
}

int
age_identities_parse(struct age_identities *ids, const char *text, size_t len, const char *name,
                     char *err, size_t errsz)
{
	struct ident_arg a = {ids, name};
	size_t before = ids->n;
	int rc = each_line(text, len, name, err, errsz, ident_line, &a);

	if (rc == AGE_OK && ids->n == before)
		return age_errf(
		        err, errsz, AGE_E_INVALID,
		        "%s: no identity in it; it should hold AGE-SECRET-KEY-1... lines (age-keygen -o FILE makes one)",
		        name);
	return rc;
}

static int
parse_identities(void *ids, const char *text, size_t len, const char *name, char *err, size_t errsz)
{
	return age_identities_parse(ids, text, len, name, err, errsz);
}

int
age_identities_load(struct age_identities *ids, const char *path, char *err, size_t errsz)
{
	return load_keyfile(path, ids, parse_identities, err, errsz);
}

int
age_identities_add_passphrase(struct age_identities *ids, const char *pass, size_t len,
                              int max_log2n, char *err, size_t errsz)
{
	struct age_ident *id;

	if (len == 0)
		return age_errf(err, errsz, AGE_E_INVALID, "the age passphrase is empty");
	id = ident_push(ids, "the passphrase");
	id->type = AGE_KEY_SCRYPT;
	id->pass = age_sec_alloc(len);
	memcpy(id->pass, pass, len);
	id->passlen = len;
	id->max_log2n = max_log2n > 0 ? max_log2n : AGE_SCRYPT_MAX_LOG2N;
	return AGE_OK;
}

size_t
age_identities_count(const struct age_identities *ids)
{
	return ids->n;
}

char *
age_identities_public(const struct age_identities *ids, size_t i)
{
	if (i >= ids->n || ids->v[i].type != AGE_KEY_X25519)
		return NULL;
	return bech32_encode("age", ids->v[i].pub, 32, 0);
}

char *
age_identity_to_recipient(const char *identity, char *err, size_t errsz)
{
	uint8_t *priv = age_sec_alloc(32);
	const char *why = "";
	uint8_t pub[32];
	char *out = NULL;

	if (decode_identity(identity, priv, &why) < 0 || age_x25519_public(priv, pub) < 0)
		age_errf(err, errsz, AGE_E_INVALID, "not a valid age identity: %s", why);
	else
		out = bech32_encode("age", pub, 32, 0);
	age_sec_free(priv, 32);
	return out;
}
