/* secret_env.c - see secret_env.h */
#include "autoconf.h"

#include "secret_env.h"

#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "plugin.h" /* registry_load */

void
secret_env_vars(const struct config *cfg, struct plugin_registry *reg, struct strvec *out)
{
	for (size_t i = 0; i < cfg->nsections; i++) {
		const struct cfg_section *s = &cfg->sections[i];
		if (s->kind != SECTION_SOURCE && s->kind != SECTION_SINK)
			continue;
		for (size_t e = 0; e < s->nentries; e++) {
			size_t len = strlen(s->entries[e].key);
			if (len > 4 && strcmp(s->entries[e].key + len - 4, "_env") == 0)
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
