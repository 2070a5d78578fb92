/* secret_env.c - see secret_env.h */
#include "autoconf.h"

#include "secret_env.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "plugin.h" /* registry_load */

/* Does the key (its first len bytes) end in _env after something? */
static int
env_key(const char *key, size_t len)
{
	return len > 4 && memcmp(key + len - 4, "_env", 4) == 0;
}

/* The VARIABLE of a "[SOURCE.]KEY_env=VARIABLE" of --set, or NULL. */
static const char *
set_env_var(const char *set)
{
	const char *eq = strchr(set, '='), *key = set, *dot;
	if (!eq)
		return NULL;
	/* a SOURCE. scope: its dot comes before the = (a key has none) */
	if ((dot = memchr(set, '.', (size_t)(eq - set))))
		key = dot + 1;
	return env_key(key, (size_t)(eq - key)) ? eq + 1 : NULL;
}

void
secret_env_vars(const struct config *cfg, struct plugin_registry *reg, const struct strvec *sets,
                struct strvec *out)
{
	for (size_t i = 0; sets && i < sets->n; i++) {
		const char *var = set_env_var(sets->v[i]);
		if (var)
			strvec_push(out, var);
	}
	for (size_t i = 0; i < cfg->nsections; i++) {
		const struct cfg_section *s = &cfg->sections[i];
		/* a job's own: age_passphrase_env (config_crypt.c) */
		if (s->kind != SECTION_SOURCE && s->kind != SECTION_SINK && s->kind != SECTION_JOB)
			continue;
		for (size_t e = 0; e < s->nentries; e++) {
			const char *key = s->entries[e].key;
			if (env_key(key, strlen(key)))
				strvec_push(out, s->entries[e].value);
		}
		/* what the plugin itself may take from the environment (s3's
		 * AWS_SECRET_ACCESS_KEY, say); a plugin that cannot be loaded
		 * is said where its section is made */
		struct loaded_plugin *lp;
		char *err = NULL;
		if (!reg || !s->plugin || !(lp = registry_load(reg, s->plugin, &err))) {
			free(err);
			continue;
		}
		for (const char *const *v = lp->desc.secret_env; v && *v; v++)
			strvec_push(out, *v);
	}
}
