/* mongo_drive_common.c - see mongo_drive_common.h */
#include "mongo_drive_common.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void
drive_log(cairn_ctx *ctx, enum cairn_log_level level, const char *fmt, ...)
{
	va_list ap;
	(void)ctx;
	va_start(ap, fmt);
	fprintf(stderr, "log %d: ", (int)level);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
}

void
drive_set_error(cairn_ctx *ctx, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(ctx->error, sizeof(ctx->error), fmt, ap);
	va_end(ap);
}

int
drive_cancelled(cairn_ctx *ctx)
{
	(void)ctx;
	return 0;
}

void
drive_stat(cairn_ctx *ctx, const char *key, int64_t value)
{
	(void)ctx;
	printf("stat %s %lld\n", key, (long long)value);
}

static struct cairn_value values[64];

void
drive_config(const struct cairn_key *keys, char **argv, int argc, struct cairn_config *cfg)
{
	size_t n = 0;
	for (; keys[n].name && n < 64; n++) {
		struct cairn_value *v = &values[n];
		const char *text = keys[n].default_value;
		size_t len = strlen(keys[n].name);
		for (int a = 0; a < argc; a++)
			if (!strncmp(argv[a], keys[n].name, len) && argv[a][len] == '=')
				text = argv[a] + len + 1;
		v->name = keys[n].name;
		v->type = keys[n].type;
		if (!text)
			continue;
		v->set = 1;
		v->text = text;
		if (v->type == CAIRN_KEY_BOOL)
			v->i = !strcmp(text, "yes") || !strcmp(text, "1") || !strcmp(text, "true");
		else if (v->type == CAIRN_KEY_INT || v->type == CAIRN_KEY_SIZE)
			v->i = strtoll(text, NULL, 10);
		else if (v->type == CAIRN_KEY_LIST) {
			char *copy = strdup(text), *save = NULL, *w;
			const char **list = calloc(strlen(text) + 1, sizeof(char *));
			for (w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save))
				list[v->list_len++] = w;
			v->list = list;
		}
	}
	cfg->count = n;
	cfg->values = values;
	cfg->instance = "drive";
}
