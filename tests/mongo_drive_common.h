/*
 * mongo_drive_common.h - what tests/mongo_follow_drive.c and
 * tests/mongo_replay_drive.c share: a host's basic members that print
 * (stat lines "stat KEY VALUE" on stdout, log lines "log LEVEL: ..." on
 * stderr), the context they work on, and the source's keys from
 * KEY=VALUE arguments.
 */
#ifndef CAIRN_MONGO_DRIVE_COMMON_H
#define CAIRN_MONGO_DRIVE_COMMON_H

#include <cairn/plugin.h>

struct cairn_ctx {
	char error[4096]; /* the last set_error */
};

void drive_log(cairn_ctx *ctx, enum cairn_log_level level, const char *fmt, ...) CAIRN_PRINTF(3, 4);
void drive_set_error(cairn_ctx *ctx, const char *fmt, ...) CAIRN_PRINTF(2, 3);
int drive_cancelled(cairn_ctx *ctx);
void drive_stat(cairn_ctx *ctx, const char *key, int64_t value);

/* The values of keys (at most 64) from argv's KEY=VALUE, else their
 * defaults; a LIST's words are separated by spaces. */
void drive_config(const struct cairn_key *keys, char **argv, int argc, struct cairn_config *cfg);

#endif
