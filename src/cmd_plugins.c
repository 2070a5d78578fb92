/* cmd_plugins.c - the plugins found in the plugin path, with -v their keys. */
#include "autoconf.h"

#include "cmd.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "plugin_keys.h"

/* The options of plugins (read by hand below): its row in cli.c gives
 * them to the scan for global options after the command and to
 * completion.  Its own -v wins over the global one there. */
const struct option plugins_options[] = {{"verbose", no_argument, NULL, 'v'}, {NULL, 0, NULL, 0}};

int
cmd_plugins(struct cli *c, int argc, char **argv)
{
	struct strvec names = {0};
	int verbose = c->verbose, rc = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--verbose") == 0)
			verbose = 1;
		else
			return usage_error("plugins: unknown argument %s", argv[i]);
	}
	/* The config only adds plugin_dir; without a readable one, list what
	 * the environment and the install provide. */
	if (access(c->config_path, R_OK) == 0) {
		if ((rc = load_config(c)))
			return rc;
	} else {
		registry_init(&c->reg, NULL);
		c->reg_ready = 1;
	}
	registry_scan(&c->reg, &names);
	if (!names.n)
		log_warn(
		        "no plugins found in the plugin path; set $CAIRN_PLUGIN_PATH or plugin_dir");
	for (size_t i = 0; i < names.n; i++) {
		char *err = NULL;
		struct loaded_plugin *lp = registry_load(&c->reg, names.v[i], &err);
		if (!lp) {
			print_line("%-10s %s  %s", names.v[i],
			           c->reg.last_needs_newer ? "NEWER " : "BROKEN", err);
			free(err);
			rc = exit_for(INSTANCE_E_PLUGIN);
			continue;
		}
		print_line("%-10s %-6s  %-8s ABI %u.%u  %s", lp->name,
		           lp->desc.kind == CAIRN_KIND_SOURCE ? "source" : "sink", lp->desc.version,
		           lp->desc.abi_major, lp->desc.abi_minor, lp->path);
		if (verbose) {
			if (lp->desc.description)
				print_line("    %s", lp->desc.description);
			for (const struct cairn_key *k = lp->desc.keys; k && k->name; k++) {
				const char *type = key_type_name(k->type);
				print_line("    %s (%s%s%s%s%s%s)%s%s", k->name, type ? type : "?",
				           k->flags & CAIRN_KEY_REQUIRED ? ", required" : "",
				           k->flags & CAIRN_KEY_SECRET ? ", secret" : "",
				           k->flags & CAIRN_KEY_NO_RESTORE  ? ", backup only"
				           : k->flags & CAIRN_KEY_NO_BACKUP ? ", restore only"
				                                            : "",
				           k->default_value ? ", default " : "",
				           k->default_value ? k->default_value : "",
				           k->help ? ": " : "", k->help ? k->help : "");
			}
		}
	}
	strvec_free(&names);
	return rc;
}
