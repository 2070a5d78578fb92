/* cmd_config.c - config check: the INI file, the state directory and
 * every plugin section made into an instance, each error on its own line. */
#include "autoconf.h"

#include "cmd.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"

int
cmd_config(struct cli *c, int argc, char **argv)
{
	int rc, worst = 0;
	size_t nsrc = 0, nsink = 0;
	if (argc != 2 || strcmp(argv[1], "check") != 0)
		return usage_error("use: cairn config check");
	if ((rc = load_config(c)))
		return rc;
	/* a run needs its state directory as much as its plugins */
	char *serr = NULL;
	if (state_dir_check(c->cfg->state_dir, &serr)) {
		log_error("%s", serr);
		free(serr);
		worst = exit_for(CAIRN_E_CONFIG);
	}
	/* every plugin section, each error on its own line */
	for (size_t i = 0; i < c->cfg->nsections; i++) {
		const struct cfg_section *sec = &c->cfg->sections[i];
		struct instance *in = NULL;
		if (sec->kind != SECTION_SOURCE && sec->kind != SECTION_SINK)
			continue;
		rc = make_instance(c, sec->kind, sec->name, NULL, &in);
		if (rc && (!worst || rc == CAIRN_EXIT_CONFIG))
			worst = rc;
		if (!rc)
			sec->kind == SECTION_SOURCE ? nsrc++ : nsink++;
		instance_destroy(in);
	}
	if (!worst && !c->quiet)
		print_line("%s: ok (%zu job%s, %zu source%s, %zu sink%s)", c->cfg->path,
		           c->cfg->njobs, c->cfg->njobs == 1 ? "" : "s", nsrc, nsrc == 1 ? "" : "s",
		           nsink, nsink == 1 ? "" : "s");
	return worst;
}
