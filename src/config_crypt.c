/* config_crypt.c - a job's encryption keys (issue 20): encryption,
 * age_recipients, age_recipients_file, age_passphrase_file,
 * age_passphrase_env, age_identity_file and manifest_stats.  Apart from
 * config.c, which is long enough; see config_crypt_key() in config.h.
 * Only the INI's words are checked here (each recipient is a valid age1...
 * key, paths are made absolute); the key files are read when a run needs
 * them (crypt_keys.c), and by config check. */
#include "autoconf.h"

#include "config.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "age.h"
#include "util.h"
#include "values.h"

void
config_crypt_defaults(struct cfg_crypt *c)
{
	memset(c, 0, sizeof(*c));
	c->manifest_stats = 1;
}

/* A name an environment variable can have: [A-Za-z_][A-Za-z0-9_]*. */
static int
env_name(const char *s)
{
	if (!*s || (*s >= '0' && *s <= '9'))
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '_'))
			return 0;
	return 1;
}

/* age_recipients = age1... age1...: each checked now, so a typo is said
 * at load.  A word is quoted only when it looks like a public key: a
 * secret key put there by mistake never reaches a message. */
static char *
add_recipients(const char *value, struct cfg_crypt *c)
{
	struct strvec words = {0};
	char *why = NULL, err[AGE_ERR_MAX];
	struct age_recipients *r = age_recipients_new();

	split_words(value, &words);
	if (!words.n)
		why = xstrdup(
		        "empty list; give one or more age1... public keys (age-keygen -y KEYFILE prints one)");
	for (size_t i = 0; i < words.n && !why; i++) {
		const char *w = words.v[i];
		if (strncasecmp(w, "AGE-SECRET-KEY-", 15) == 0)
			why = xasprintf(
			        "word %zu is a secret key (AGE-SECRET-KEY-1...), not a recipient; put it in the file of age_identity_file and its public key here (age-keygen -y FILE prints it)",
			        i + 1);
		else if (age_recipients_add(r, w, "recipient", err, sizeof(err)) != AGE_OK)
			why = strncmp(w, "age1", 4) == 0 && strlen(w) < 100
			              ? xasprintf(
			                        "\"%s\" is not a valid age recipient (%s); copy the age1... public key again (age-keygen -y KEYFILE prints it)",
			                        w, err)
			              : xasprintf(
			                        "word %zu is not a valid age recipient (%s); give age1... public keys (age-keygen -y KEYFILE prints one)",
			                        i + 1, err);
		else if (strvec_contains(&c->recipients, w))
			why = xasprintf("\"%s\" is listed twice", w);
		else
			strvec_push(&c->recipients, w);
	}
	age_recipients_free(r);
	strvec_free(&words);
	return why;
}

/* A PATH key: made absolute against dir into *slot. */
static char *
set_path(const char *value, const char *dir, char **slot)
{
	if (!*value)
		return xstrdup("empty value; give a file");
	free(*slot);
	*slot = path_absolute(value, dir);
	return NULL;
}

int
config_crypt_key(const char *key, const char *value, const char *dir, struct cfg_crypt *c,
                 char **why)
{
	int64_t v;

	*why = NULL;
	if (strcmp(key, "encryption") == 0) {
		if (strcmp(value, "age") == 0)
			c->age = 1;
		else if (strcmp(value, "none") == 0)
			c->age = 0;
		else
			*why = xasprintf(
			        "\"%s\" is not an encryption; use age (with age_recipients or a passphrase) or none",
			        value);
	} else if (strcmp(key, "age_recipients") == 0) {
		*why = add_recipients(value, c);
	} else if (strcmp(key, "age_recipients_file") == 0) {
		*why = set_path(value, dir, &c->recipients_file);
	} else if (strcmp(key, "age_passphrase_file") == 0) {
		*why = set_path(value, dir, &c->passphrase_file);
	} else if (strcmp(key, "age_identity_file") == 0) {
		*why = set_path(value, dir, &c->identity_file);
	} else if (strcmp(key, "age_passphrase_env") == 0) {
		if (!env_name(value))
			*why = xasprintf(
			        "\"%s\" is not the name of an environment variable; give one such as CAIRN_AGE_PASSPHRASE",
			        value);
		else {
			free(c->passphrase_env);
			c->passphrase_env = xstrdup(value);
		}
	} else if (strcmp(key, "manifest_stats") == 0) {
		if (parse_bool(value, &v))
			*why = xasprintf(
			        "\"%s\" is not yes or no (no: the sources' statistics stay out of the manifests, which are not encrypted)",
			        value);
		else
			c->manifest_stats = (int)v;
	} else {
		return 0;
	}
	return 1;
}

int
config_crypt_check(const struct cfg_crypt *c, char **why)
{
	int pass = c->passphrase_file || c->passphrase_env;
	int recips = c->recipients.n || c->recipients_file;

	*why = NULL;
	if (c->passphrase_file && c->passphrase_env)
		*why = xstrdup("age_passphrase_file and age_passphrase_env are both set; keep one");
	else if (pass && recips)
		*why = xasprintf(
		        "%s with %s: age encrypts to a passphrase alone or to recipients, never both; remove one",
		        c->passphrase_file ? "age_passphrase_file" : "age_passphrase_env",
		        c->recipients.n ? "age_recipients" : "age_recipients_file");
	else if (c->age && !pass && !recips)
		*why = xstrdup(
		        "encryption = age needs age_recipients or age_recipients_file (age1... public keys; age-keygen -y KEYFILE prints one), or age_passphrase_file or age_passphrase_env");
	else if (!c->line && (pass || recips))
		*why = xasprintf(
		        "%s is set but there is no encryption = key, so the job backs up in clear; add encryption = age (or encryption = none to keep the key for reading)",
		        recips ? (c->recipients.n ? "age_recipients" : "age_recipients_file")
		               : (c->passphrase_file ? "age_passphrase_file"
		                                     : "age_passphrase_env"));
	return *why ? -1 : 0;
}

void
config_crypt_free(struct cfg_crypt *c)
{
	strvec_free(&c->recipients);
	free(c->recipients_file);
	free(c->passphrase_file);
	free(c->passphrase_env);
	free(c->identity_file);
	memset(c, 0, sizeof(*c));
}
