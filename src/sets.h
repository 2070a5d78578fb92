/* sets.h - backup sets as a sink holds them: JOB/ID/OBJECT keys, complete
 * when JOB/ID/manifest.json exists. */
#ifndef CAIRN_SETS_H
#define CAIRN_SETS_H

#include <stdint.h>
#include <time.h>

#include "manifest.h"
#include "plugin.h"
#include "timeutil.h"
#include "util.h"

struct set_info {
	char id[BACKUP_ID_LEN + 1];
	time_t time;
	int complete;      /* has a manifest */
	uint64_t bytes;    /* all its objects */
	struct strvec keys; /* its objects' keys, manifest included */
};

struct set_list {
	struct set_info *v;
	size_t n;
};

/* The sets of job in sink, oldest first.  0 or a CAIRN_E_* code with *err. */
int sets_list(struct instance *sink, const char *job, struct set_list *out, char **err);
void set_list_free(struct set_list *l);

/* The complete set with this id, or the newest complete set taken at or
 * before *at, or (both NULL) the newest complete set.  NULL if none. */
const struct set_info *sets_select(const struct set_list *l, const char *id, const time_t *at);

/* Read and parse JOB/ID/manifest.json. */
int set_read_manifest(struct instance *sink, const char *job, const char *id,
                      struct manifest **out, char **err);

/* Remove every object of a set, the manifest first: if this stops half way
 * the set is merely incomplete, never a manifest naming missing objects. */
int set_remove(struct instance *sink, const char *job, const struct set_info *s, char **err);

/* Read a whole (small) object into memory, at most max bytes. */
int sink_read_all(struct instance *sink, const char *key, size_t max, char **buf,
                  size_t *len, char **err);
/* Write a whole object and commit it. */
int sink_write_all(struct instance *sink, const char *key, const void *buf, size_t len,
                   char **err);

#endif
