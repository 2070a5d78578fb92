/* plugin_keys.h - a plugin section's keys typed against the plugin's key
 * table, and the rules of key names that the core, the command line and
 * the plugin loader share: a secret KEY may also be given as KEY_file =
 * PATH (its first line) or KEY_env = VARIABLE. */
#ifndef CAIRN_PLUGIN_KEYS_H
#define CAIRN_PLUGIN_KEYS_H

#include <cairn/plugin.h>
#include <stddef.h>

#include "config.h" /* one way: config.h knows nothing of plugin keys */
#include "util.h"

/* How a key as written names the table entry k. */
enum key_match {
	KEY_NO_MATCH = 0,
	KEY_EXACT,       /* KEY itself */
	KEY_SECRET_FILE, /* KEY_file of a secret KEY */
	KEY_SECRET_ENV   /* KEY_env of a secret KEY */
};

/* Does key (its first len bytes: it may go on with "=VALUE") name k? */
enum key_match key_match(const struct cairn_key *k, const char *key, size_t len);

/* "string", "int", ... as `cairn plugins -v` shows a key's type, or NULL
 * for a type this cairn does not know. */
const char *key_type_name(enum cairn_key_type t);
/* What a value of the type looks like, for "... is not a whole number". */
const char *key_type_word(enum cairn_key_type t);

/* A plugin section's keys checked and parsed against a key table.  The
 * cairn_config inside is what the plugin's create() gets. */
struct typed_config {
	struct cairn_config pub;
	struct cairn_value *values;
	struct strvec owned; /* strings the values point into */
	int *line;           /* per key: the INI line that set it, or 0 */
	char ***lists;
	size_t nlists;
};

/* Check sec's keys (except plugin =) against keys, then apply overrides
 * ("KEY=VALUE" strings from --set, relative paths against the working
 * directory).  Errors name the file, line, section and key.  Returns 0 or
 * CAIRN_E_CONFIG with *err set.  Free *out with typed_config_free. */
int config_typed(const struct config *cfg, const struct cfg_section *sec, const char *plugin_name,
                 const struct cairn_key *keys, const struct strvec *overrides,
                 struct typed_config **out, char **err);
/* The same for config check: every error goes to errs, one line each (in
 * the order: the plugin's defaults, the section's keys, the overrides, the
 * required keys missing); CAIRN_E_CONFIG when there was any.
 * config_typed() says the first of them. */
int config_typed_all(const struct config *cfg, const struct cfg_section *sec,
                     const char *plugin_name, const struct cairn_key *keys,
                     const struct strvec *overrides, struct typed_config **out,
                     struct strvec *errs);
void typed_config_free(struct typed_config *tc);

#endif
