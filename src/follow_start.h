/* follow_start.h - where `cairn follow` takes up a source's change log:
 * after the newest segment (or gap) committed in any sink of the job;
 * with none, after the log START position of the newest complete set
 * holding the source (doc/design.md § Logs). */
#ifndef CAIRN_FOLLOW_START_H
#define CAIRN_FOLLOW_START_H

#include "logcat.h"
#include "plugin.h"

struct follow_start {
	int found; /* a segment or gap of the source stands in some sink */
	struct cairn_log_pos to;
	char base[BACKUP_ID_LEN + 1];
	/* per sink: where its own copy of the log ends (has[i] 0: none, or
	 * it could not be read) */
	int *has;
	struct cairn_log_pos *at;
};

/* Look in every sink.  A sink that cannot be listed, or whose newest
 * manifest cannot be read, is said (warning) and counted as having
 * none.  Never fails. */
void follow_start_find(struct instance **sinks, size_t n, const char *job, const char *source,
                       struct follow_start *out);
void follow_start_free(struct follow_start *fs);

/* The newest set in the sinks holding source (not a one-off object)
 * whose manifest records the log's START position: 1 with id and *start,
 * 0 when there is none. */
int follow_base_find(struct instance **sinks, size_t n, const char *job, const char *source,
                     char id[BACKUP_ID_LEN + 1], struct cairn_log_pos *start);
/* The START position set id records for source, read from the first sink
 * holding it: 0, or -1 with *err. */
int follow_base_start(struct instance **sinks, size_t n, const char *job, const char *id,
                      const char *source, struct cairn_log_pos *start, char **err);

#endif
