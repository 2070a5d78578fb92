/* fuzz_ini.c - libFuzzer target: the INI loader on any bytes, then every
 * source and sink section typed against a key table with every key type
 * (secrets included), as a plugin's table would be; then the same with
 * config check's every-error loader, which goes on past errors. */
#include "autoconf.h"

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "config.h"
#include "plugin_keys.h"
#include "util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const struct cairn_key keys[] = {
        {"path", CAIRN_KEY_PATH, 0, NULL, "a path"},
        {"name", CAIRN_KEY_STRING, 0, "x", "a string"},
        {"count", CAIRN_KEY_INT, 0, "3", "an int"},
        {"fsync", CAIRN_KEY_BOOL, 0, "yes", "a bool"},
        {"limit", CAIRN_KEY_SIZE, 0, "1M", "a size"},
        {"timeout", CAIRN_KEY_DURATION, 0, "1h", "a duration"},
        {"exclude", CAIRN_KEY_LIST, 0, NULL, "a list"},
        {"password", CAIRN_KEY_STRING, CAIRN_KEY_SECRET, NULL, "a secret"},
        {NULL, 0, 0, NULL, NULL},
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[] = "/tmp/cairn-fuzz-ini-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0)
		abort();
	if (write(fd, data, size) != (ssize_t)size)
		abort();
	close(fd);

	char *err = NULL, *err_all = NULL;
	struct strvec errs = {0};
	/* __auto_type: the struct's name is the core's to change */
	__auto_type cfg = config_load(path, &err);
	__auto_type all = config_load_all(path, &errs, &err_all);
	unlink(path);
	if (cfg) {
		for (size_t i = 0; i < cfg->nsections; i++) {
			const struct cfg_section *sec = &cfg->sections[i];
			struct typed_config *tc = NULL;
			if (sec->kind != SECTION_SOURCE && sec->kind != SECTION_SINK)
				continue;
			char *e = NULL;
			if (config_typed(cfg, sec, "fuzz", keys, NULL, &tc, &e) == 0)
				typed_config_free(tc);
			free(e);
		}
		/* a file config_load() takes has no error for config check */
		if (all && errs.n)
			abort();
	}
	for (size_t i = 0; all && i < all->nsections; i++) {
		const struct cfg_section *sec = &all->sections[i];
		struct typed_config *tc = NULL;
		if (sec->kind != SECTION_SOURCE && sec->kind != SECTION_SINK)
			continue;
		if (config_typed_all(all, sec, "fuzz", keys, NULL, &tc, &errs) == 0)
			typed_config_free(tc);
	}
	/* and one it refuses has at least one */
	if (!cfg && all && !errs.n)
		abort();
	strvec_free(&errs);
	free(err);
	free(err_all);
	config_free(cfg);
	config_free(all);
	return 0;
}
