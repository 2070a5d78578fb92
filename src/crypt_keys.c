/* crypt_keys.c - a job's age keys from its INI keys (struct cfg_crypt):
 * the recipients a backup encrypts to, the identities a restore or a deep
 * verify reads with, and the identities the reading stages use for the
 * rest of the run.  See crypt.h.
 *
 * Every key file is read once, into locked memory that is wiped when
 * freed (age_keyfile_read); a secret never reaches a message: errors name
 * the file, the [job] and key, and the line, never the content.  A key
 * file its group or others can read draws a warning, as a secret written
 * inline in an INI file others can read does (plugin_keys.c). */
#include "autoconf.h"

#include "crypt.h"

#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "log.h"
#include "util.h"

/* "FILE:LINE: [job NAME] KEY", where messages about key start. */
static char *
key_where(const struct cfg_job *job, const char *key)
{
	int line = 0;
	for (size_t i = 0; job->sec && i < job->sec->nentries; i++)
		if (strcmp(job->sec->entries[i].key, key) == 0)
			line = job->sec->entries[i].line;
	if (job->crypt.cfg_path && line)
		return xasprintf("%s:%d: [job %s] %s", job->crypt.cfg_path, line, job->name, key);
	return xasprintf("[job %s] %s", job->name, key);
}

/* A warning when others than the owner can read a file of secrets. */
static void
warn_readable(const char *where, const char *path, unsigned mode)
{
	if (!(mode & (S_IRGRP | S_IROTH)))
		return;
	log_warn("%s: %s holds a secret but %s can read it (mode %04o); chmod 600 %s", where, path,
	         (mode & S_IROTH) ? "others" : "its group", mode, path);
}

/* The passphrase: a file's first line or an environment variable's, in
 * *pass (a secret buffer kept in *kf for a file; into the environment for
 * a variable) and *len.  0, or CAIRN_E_CONFIG with *err. */
static int
passphrase_get(const struct cfg_job *job, struct age_keyfile *kf, const char **pass, size_t *len,
               char **err)
{
	const struct cfg_crypt *c = &job->crypt;
	const char *key = c->passphrase_file ? "age_passphrase_file" : "age_passphrase_env";
	char *where = key_where(job, key), aerr[AGE_ERR_MAX];
	const char *text, *eol;
	size_t n, total;

	memset(kf, 0, sizeof(*kf));
	if (c->passphrase_file) {
		if (age_keyfile_read(c->passphrase_file, kf, aerr, sizeof(aerr)) != AGE_OK) {
			*err = xasprintf("%s: %s; give the file that holds the passphrase", where,
			                 aerr);
			goto fail;
		}
		warn_readable(where, c->passphrase_file, kf->mode);
		text = kf->text;
		total = kf->len;
	} else if (!(text = getenv(c->passphrase_env))) {
		*err = xasprintf(
		        "%s: environment variable %s is not set; set it in cairn's environment, or use age_passphrase_file",
		        where, c->passphrase_env);
		goto fail;
	} else {
		total = strlen(text);
	}
	/* the first line, without CR LF, as for every KEY_file and KEY_env */
	eol = memchr(text, '\n', total);
	n = eol ? (size_t)(eol - text) : total;
	if (n > 0 && text[n - 1] == '\r')
		n--;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)text[i];
		if ((ch < 0x20 && ch != '\t') || ch == 0x7f) {
			*err = xasprintf(
			        "%s: control character 0x%02x in the first line of %s%s; the passphrase is its first line, as text",
			        where, ch, c->passphrase_file ? "" : "$",
			        c->passphrase_file ? c->passphrase_file : c->passphrase_env);
			goto fail;
		}
	}
	if (n == 0) {
		*err = xasprintf("%s: the first line of %s%s is empty; it must hold the passphrase",
		                 where, c->passphrase_file ? "" : "$",
		                 c->passphrase_file ? c->passphrase_file : c->passphrase_env);
		goto fail;
	}
	*pass = text;
	*len = n;
	free(where);
	return 0;
fail:
	age_keyfile_free(kf);
	free(where);
	return CAIRN_E_CONFIG;
}

/* age_recipients_file's recipients added to r.  0 or CAIRN_E_CONFIG. */
static int
recipients_file(const struct cfg_job *job, struct age_recipients *r, char **err)
{
	const char *path = job->crypt.recipients_file;
	struct age_keyfile kf;
	struct age_recipients *file = age_recipients_new();
	char aerr[AGE_ERR_MAX], *where = key_where(job, "age_recipients_file");
	int rc = 0;

	if (age_keyfile_read(path, &kf, aerr, sizeof(aerr)) != AGE_OK) {
		*err = xasprintf("%s: %s; give a file of age1... public keys, one a line", where,
		                 aerr);
		rc = CAIRN_E_CONFIG;
	} else if (age_recipients_parse(file, kf.text, kf.len, path, aerr, sizeof(aerr)) !=
	           AGE_OK) {
		*err = xasprintf("%s: %s%s", where, aerr,
		                 strstr(aerr, " line ")
		                         ? "; one age1... public key a line, # for comments"
		                         : "");
		rc = CAIRN_E_CONFIG;
	}
	/* each key once, also when age_recipients names it too */
	for (size_t i = 0; !rc && i < age_recipients_count(file); i++) {
		const char *k = age_recipients_get(file, i);
		int seen = 0;
		for (size_t j = 0; j < age_recipients_count(r) && !seen; j++)
			seen = strcmp(age_recipients_get(r, j), k) == 0;
		if (!seen && age_recipients_add(r, k, path, aerr, sizeof(aerr)) != AGE_OK) {
			*err = xasprintf("%s: %s", where, aerr);
			rc = CAIRN_E_CONFIG;
		}
	}
	age_recipients_free(file);
	age_keyfile_free(&kf);
	free(where);
	return rc;
}

int
crypt_recipients_load(const struct cfg_job *job, struct age_recipients **out, char **err)
{
	const struct cfg_crypt *c = &job->crypt;
	struct age_recipients *r;
	char aerr[AGE_ERR_MAX];
	int rc = 0;

	*out = NULL;
	if (!c->age)
		return 0;
	r = age_recipients_new();
	for (size_t i = 0; i < c->recipients.n && !rc; i++)
		if (age_recipients_add(r, c->recipients.v[i], "age_recipients", aerr,
		                       sizeof(aerr)) != AGE_OK) {
			char *where = key_where(job, "age_recipients");
			*err = xasprintf("%s: %s", where, aerr);
			free(where);
			rc = CAIRN_E_CONFIG;
		}
	if (!rc && c->recipients_file)
		rc = recipients_file(job, r, err);
	if (!rc && (c->passphrase_file || c->passphrase_env)) {
		struct age_keyfile kf;
		const char *pass = NULL;
		size_t len = 0;
		if (!(rc = passphrase_get(job, &kf, &pass, &len, err)) &&
		    age_recipients_add_passphrase(r, pass, len, 0, aerr, sizeof(aerr)) != AGE_OK) {
			char *where = key_where(job, c->passphrase_file ? "age_passphrase_file"
			                                                : "age_passphrase_env");
			*err = xasprintf("%s: %s", where, aerr);
			free(where);
			rc = CAIRN_E_CONFIG;
		}
		age_keyfile_free(&kf);
	}
	if (!rc && age_recipients_count(r) == 0) { /* config_crypt_check() saw to it */
		char *where = key_where(job, "encryption");
		*err = xasprintf("%s: no recipient to encrypt to; give age_recipients", where);
		free(where);
		rc = CAIRN_E_CONFIG;
	}
	if (rc) {
		age_recipients_free(r);
		return rc;
	}
	*out = r;
	return 0;
}

/* An identity file's identities added to ids; where names it in messages
 * ("--identity" or the INI key's place).  0 or CAIRN_E_CONFIG. */
static int
identity_file(const char *where, const char *path, struct age_identities *ids, char **err)
{
	struct age_keyfile kf;
	char aerr[AGE_ERR_MAX];
	int rc = 0;

	if (age_keyfile_read(path, &kf, aerr, sizeof(aerr)) != AGE_OK) {
		*err = xasprintf(
		        "%s: %s; give the file of AGE-SECRET-KEY-1... lines that age-keygen -o FILE made",
		        where, aerr);
		return CAIRN_E_CONFIG;
	}
	warn_readable(where, path, kf.mode);
	if (age_identities_parse(ids, kf.text, kf.len, path, aerr, sizeof(aerr)) != AGE_OK) {
		*err = xasprintf(
		        "%s: %s%s", where, aerr,
		        strstr(aerr, " line ")
		                ? "; an identity file holds AGE-SECRET-KEY-1... lines and # comments"
		                : "");
		rc = CAIRN_E_CONFIG;
	}
	age_keyfile_free(&kf);
	return rc;
}

int
crypt_identities_load(const struct cfg_job *job, const char *identity_path,
                      struct age_identities **out, char **err)
{
	const struct cfg_crypt *c = &job->crypt;
	struct age_identities *ids = age_identities_new();
	char aerr[AGE_ERR_MAX];
	int rc = 0;

	*out = NULL;
	if (identity_path) {
		rc = identity_file("--identity", identity_path, ids, err);
	} else {
		if (c->identity_file) {
			char *where = key_where(job, "age_identity_file");
			rc = identity_file(where, c->identity_file, ids, err);
			free(where);
		}
		if (!rc && (c->passphrase_file || c->passphrase_env)) {
			struct age_keyfile kf;
			const char *pass = NULL;
			size_t len = 0;
			if (!(rc = passphrase_get(job, &kf, &pass, &len, err)) &&
			    age_identities_add_passphrase(ids, pass, len, 0, aerr, sizeof(aerr)) !=
			            AGE_OK) {
				*err = xasprintf("[job %s]: %s", job->name, aerr);
				rc = CAIRN_E_CONFIG;
			}
			age_keyfile_free(&kf);
		}
	}
	if (rc || age_identities_count(ids) == 0) {
		age_identities_free(ids);
		return rc;
	}
	*out = ids;
	return 0;
}

/* The run's identities: set by the command once it knows its job, read
 * by the stages (crypt.c), from any thread once set. */
static const struct age_identities *run_identities;

void
crypt_set_identities(const struct age_identities *ids)
{
	run_identities = ids;
}

const struct age_identities *
crypt_identities(void)
{
	return run_identities;
}

void
crypt_recipients_describe(const struct age_recipients *r, struct strvec *out)
{
	for (size_t i = 0; r && i < age_recipients_count(r); i++) {
		const char *s = age_recipients_get(r, i);
		strvec_push(out, s ? s : "scrypt");
	}
}
