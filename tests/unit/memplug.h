/* memplug.h - in-memory source and sink plugins for pipeline tests, with
 * failures that can be switched on at a given byte. */
#ifndef CAIRN_MEMPLUG_H
#define CAIRN_MEMPLUG_H

#include <stddef.h>
#include <stdint.h>

#include "plugin.h"

struct memobj {
	char *key;
	unsigned char *data;
	size_t len;
	uint64_t size; /* as listed: bytes written, also when not stored */
};

struct memsink {
	struct memobj objs[64];
	size_t nobjs;
	int64_t fail_write_at;       /* fail the write that passes this many bytes; -1 never */
	const char *fail_commit_key; /* commit of a key containing this fails */
	const char *fail_open_key;   /* open_write of a key containing this fails */
	int open_writers;            /* writers neither committed nor aborted */
	int aborts, commits;
	int store; /* keep the bytes (else only count them) */
	/* when the manifest is committed, drop the object whose key contains
	 * this: another run removing it behind our back */
	const char *vanish_key;
	/* when an object whose key contains plant_after is committed, put
	 * plant_data under plant_key (replacing one there): another run
	 * writing under the same id */
	const char *plant_after, *plant_key, *plant_data;
	uint64_t written; /* bytes ever written */
	cairn_ctx *ctx;   /* the instance's context (for the host table) */
	/* open_write sets this error detail and still succeeds: a detail
	 * that must not explain a later failure */
	const char *stale_detail;
	/* open_write asks for the scratch directory and puts a file in it;
	 * write counts the calls that found it gone */
	int use_scratch;
	char scratch[4096];
	int scratch_gone_in_write;
};

struct memsrc {
	uint64_t bytes;    /* how much backup() writes */
	int64_t fail_at;   /* backup fails after this many bytes; -1 never */
	int64_t cancel_at; /* raise the cancel flag after this many; -1 never */
	int write_rc;      /* the first failed out->write's code */
	/* what restore() read back */
	unsigned char *restored;
	size_t restored_len;
	int keep_restored;
	int restore_calls; /* how often restore() was called */
	int last_read_rc;  /* what restore()'s final in->read returned */
	cairn_ctx *ctx;
	/* restore() puts a file into the scratch directory, and notes it */
	int use_scratch;
	char scratch[4096];
	int announced; /* backup() calls progress_total */
	/* restore_test(): how often called, bytes it read, and that it gives
	 * up (CAIRN_E_IO, as a parser would) at the first byte that differs
	 * from memsrc_byte(), or at once when rt_fail is set */
	int rt_calls;
	uint64_t rt_read;
	int rt_fail;
	int stats; /* backup() records the statistic "bytes" */
};

/* Make the memsrc plugin declare CAIRN_SOURCE_STAGED_RESTORE (or not). */
void memsrc_set_staged(int staged);

/* The byte at offset i of every memsrc stream: compressible, not trivial. */
unsigned char memsrc_byte(uint64_t i);

struct instance *memsink_instance(const char *name, struct memsink *ms);
struct instance *memsrc_instance(const char *name, struct memsrc *src);
void memsink_clear(struct memsink *ms);
/* The object stored under key, or NULL. */
struct memobj *memsink_get(struct memsink *ms, const char *key);

#endif
