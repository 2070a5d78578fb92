/* fakehost.c - see fakehost.h */
#include "fakehost.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void
fake_log(cairn_ctx *ctx, enum cairn_log_level level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	if (level == CAIRN_LOG_WARN)
		ctx->warnings++;
	size_t used = strlen(ctx->log);
	snprintf(ctx->log + used, sizeof(ctx->log) - used, "%s\n", line);
}

static void
fake_set_error(cairn_ctx *ctx, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ctx->error, sizeof(ctx->error), fmt, ap);
	va_end(ap);
}

static int
fake_cancelled(cairn_ctx *ctx)
{
	return ctx->cancelled;
}

static void
fake_stat_set(cairn_ctx *ctx, const char *key, int64_t value)
{
	for (int i = 0; i < ctx->nstats; i++)
		if (strcmp(ctx->stats[i].key, key) == 0) {
			ctx->stats[i].value = value;
			return;
		}
	if (ctx->nstats < 64) {
		snprintf(ctx->stats[ctx->nstats].key, sizeof(ctx->stats[0].key), "%s", key);
		ctx->stats[ctx->nstats++].value = value;
	}
}

const struct cairn_host fake_host = {
        .struct_size = sizeof(struct cairn_host),
        .abi_major = CAIRN_ABI_MAJOR,
        .abi_minor = CAIRN_ABI_MINOR,
        .cairn_version = "test",
        .log = fake_log,
        .set_error = fake_set_error,
        .cancelled = fake_cancelled,
        .stat = fake_stat_set,
};

cairn_ctx *
fake_ctx_new(void)
{
	return calloc(1, sizeof(cairn_ctx));
}

int64_t
fake_stat(const cairn_ctx *ctx, const char *key)
{
	for (int i = 0; i < ctx->nstats; i++)
		if (strcmp(ctx->stats[i].key, key) == 0)
			return ctx->stats[i].value;
	return -1;
}

static void
fill_value(struct cairn_value *v, const char *text)
{
	v->set = 1;
	v->text = strdup(text);
	if (v->type == CAIRN_KEY_BOOL)
		v->i = (!strcmp(text, "yes") || !strcmp(text, "true") || !strcmp(text, "1"));
	else if (v->type == CAIRN_KEY_LIST) {
		char **words = calloc(strlen(text) + 1, sizeof(char *));
		size_t n = 0;
		char *copy = strdup(text), *save = NULL;
		for (char *w = strtok_r(copy, " \t", &save); w; w = strtok_r(NULL, " \t", &save))
			words[n++] = strdup(w);
		free(copy);
		v->list = (const char *const *)words;
		v->list_len = n;
	} else
		v->i = strtoll(text, NULL, 10);
}

struct cairn_config *
fake_config(const struct cairn_key *keys, ...)
{
	size_t n = 0;
	while (keys[n].name)
		n++;
	struct cairn_config *cfg = calloc(1, sizeof(*cfg));
	struct cairn_value *values = calloc(n + 1, sizeof(*values));
	for (size_t k = 0; k < n; k++) {
		values[k].name = keys[k].name;
		values[k].type = keys[k].type;
		if (keys[k].default_value)
			fill_value(&values[k], keys[k].default_value);
	}
	va_list ap;
	va_start(ap, keys);
	const char *name;
	while ((name = va_arg(ap, const char *))) {
		const char *value = va_arg(ap, const char *);
		for (size_t k = 0; k < n; k++)
			if (strcmp(keys[k].name, name) == 0) {
				free((char *)values[k].text);
				values[k].text = NULL;
				if (values[k].list) {
					for (size_t w = 0; w < values[k].list_len; w++)
						free((char *)values[k].list[w]);
					free((void *)values[k].list);
					values[k].list = NULL;
				}
				fill_value(&values[k], value);
			}
	}
	va_end(ap);
	cfg->count = n;
	cfg->values = values;
	cfg->instance = "test";
	return cfg;
}

void
fake_config_free(struct cairn_config *cfg)
{
	if (!cfg)
		return;
	for (size_t k = 0; k < cfg->count; k++) {
		const struct cairn_value *v = &cfg->values[k];
		free((char *)v->text);
		for (size_t w = 0; w < v->list_len; w++)
			free((char *)v->list[w]);
		free((void *)v->list);
	}
	free((void *)cfg->values);
	free(cfg);
}
