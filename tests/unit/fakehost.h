/* fakehost.h - a host table for testing one plugin without the core.
 * It records errors, log lines and stats so tests can assert on them. */
#ifndef CAIRN_FAKEHOST_H
#define CAIRN_FAKEHOST_H

#include <cairn/plugin.h>

struct cairn_ctx {
	char error[2048]; /* last set_error() */
	char log[8192];   /* every log line, '\n'-separated */
	int warnings;     /* log lines at CAIRN_LOG_WARN */
	int cancelled;    /* what host->cancelled() answers */
	struct {
		char key[128];
		int64_t value;
	} stats[64];
	int nstats;
};

extern const struct cairn_host fake_host;

/* A context with everything zeroed.  Free with free(). */
cairn_ctx *fake_ctx_new(void);
/* The value of a recorded stat, or -1 if it was never set. */
int64_t fake_stat(const cairn_ctx *ctx, const char *key);

/* Build a config for keys from "name", "value" pairs ending with NULL.
 * Values are parsed just enough for tests (ints, yes/no, space lists);
 * unset keys take the key table's default.  Free with fake_config_free. */
struct cairn_config *fake_config(const struct cairn_key *keys, ...);
void fake_config_free(struct cairn_config *cfg);

#endif
