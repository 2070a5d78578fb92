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

/* The object that pins a set (cairn pin, backup --pin): JOB/ID/pin.  Its
 * presence is the pin; its content (when, host, user, note) is only
 * shown.  A name without a dot, so that no source's object (always
 * SOURCE.EXT) can be taken for it. */
#define SET_PIN_NAME "pin"

/* An incomplete set in a sink without a lock of its own may belong to a
 * run from another host that is still writing: only one untouched this
 * long is taken for a leftover (backup's and copy's rule). */
#define SET_LEFTOVER_GRACE (24 * 60 * 60)

struct set_info {
	char id[BACKUP_ID_LEN + 1];
	time_t time;
	int complete;         /* has a manifest */
	int pinned;           /* has a pin object: prune keeps it */
	uint64_t bytes;       /* all its objects */
	int64_t newest_mtime; /* of its newest object, seconds since the epoch */
	struct strvec keys;   /* its objects' keys, manifest included */
	uint64_t *sizes;      /* the size of each key, as listed */
	/* Filled by set_manifest(), which reads the manifest once: */
	struct manifest *manifest; /* NULL until read, or unreadable */
	char *manifest_error;      /* why it could not be read or believed */
	int partial;               /* the manifest marks it partial */
};

struct set_list {
	struct set_info *v;
	size_t n;
	char *where; /* "LABEL: set JOB/" for messages about one of its sets */
};

/* Does s's id lie in the future as seen at now (more than
 * BACKUP_ID_FUTURE_TOLERANCE seconds past it)? */
int set_in_future(const struct set_info *s, time_t now);

/* The sets of job in sink, oldest first.  0 or a CAIRN_E_* code with *err. */
int sets_list(struct instance *sink, const char *job, struct set_list *out, char **err);
void set_list_free(struct set_list *l);

/* The complete set with this id, or the newest complete set taken at or
 * before *at, or (both NULL) the newest complete set.  NULL if none.
 * Without an id, a set whose id lies in the future is passed over with a
 * warning: it is taken only when named with its id. */
const struct set_info *sets_select(const struct set_list *l, const char *id, const time_t *at);

/* The manifest of complete set s, read and checked once and then kept in
 * s (freed with the list).  The manifest must be bound to the objects the
 * listing found (set_check_bound): a set that is not is damage, and
 * counts for nothing.  0, or a CAIRN_E_* code with *err (a copy). */
int set_manifest(struct instance *sink, const char *job, struct set_info *s,
                 const struct manifest **m, char **err);

/* Read and parse JOB/ID/manifest.json, and check that it belongs where it
 * lies (manifest_check_place): anything else is CAIRN_E_CORRUPT. */
int set_read_manifest(struct instance *sink, const char *job, const char *id, struct manifest **out,
                      char **err);

/* The same, also giving the manifest's bytes as read (text, text_len;
 * the caller frees text) when it was believed: cairn copy writes them on
 * with only "sink" and "copied_from" changed. */
int set_read_manifest_text(struct instance *sink, const char *job, const char *id,
                           struct manifest **out, char **text, size_t *text_len, char **err);

/* A manifest read from JOB/ID/ must say job JOB and id ID, list at least
 * one source, and name only objects directly inside JOB/ID/, each once:
 * the sink's content is untrusted, and a manifest copied from another
 * set, or written to point elsewhere, must not be believed.  0, or -1
 * with *why. */
int manifest_check_place(const struct manifest *m, const char *job, const char *id, char **why);

/* Is every object m lists among s's listed objects, with the size m
 * stored?  A set whose objects do not match its manifest is damaged, or
 * mixed with another run's objects under the same id: its manifest
 * cannot prove it whole.  0, or -1 with *why naming the object. */
int set_check_bound(const struct set_info *s, const struct manifest *m, char **why);

/* Remove every object of a set, the manifest first: if this stops half way
 * the set is merely incomplete, never a manifest naming missing objects. */
int set_remove(struct instance *sink, const char *job, const struct set_info *s, char **err);

/* Take the sink's lock for job where it has lock() (ABI 1.1); *lk stays
 * NULL for a sink without one.  0, CAIRN_E_LOCKED (another run holds it)
 * or another code, with *err. */
int sink_lock(struct instance *sink, const char *job, cairn_sink_lock **lk, char **err);
void sink_unlock(struct instance *sink, cairn_sink_lock *lk);

/* Every key in keys is listed in set JOB/ID of the sink: what a backup
 * committed is still there after its manifest was written.  0, or
 * CAIRN_E_IO with *err naming the first missing key. */
int set_check_objects(struct instance *sink, const char *job, const char *id,
                      const struct strvec *keys, char **err);

/* Before a run commits its manifest: does set JOB/ID of the sink hold
 * only what this run wrote (m's objects, with the sizes m stored)?  Any
 * other object, a manifest, or one of m's objects with another size is
 * another run's that took the same id (two hosts or state_dirs in one
 * second, in a sink without a lock).  0, or CAIRN_E_EXISTS with *err
 * naming the object; keys of ours that another run has replaced are
 * taken out of ours, so that a rollback leaves them to that run.  A
 * listing that fails is that code with *err. */
int set_check_clash(struct instance *sink, const char *job, const char *id,
                    const struct manifest *m, struct strvec *ours, char **err);

/* Pin set JOB/ID in the sink: write JOB/ID/pin (atomically, as every
 * object) saying when, from which host, by whom and why (note may be
 * NULL).  0, or a CAIRN_E_* code with *err. */
int set_pin(struct instance *sink, const char *job, const char *id, const char *note, char **err);
/* Remove the pin of JOB/ID: 0 (also when there was none), or a code with
 * *err. */
int set_unpin(struct instance *sink, const char *job, const char *id, char **err);

/* Read a whole (small) object into memory, at most max bytes. */
int sink_read_all(struct instance *sink, const char *key, size_t max, char **buf, size_t *len,
                  char **err);
/* Write a whole object and commit it. */
int sink_write_all(struct instance *sink, const char *key, const void *buf, size_t len, char **err);

#endif
