/* pipeline.h - moving bytes between sources and sinks.
 *
 * Backup: each source PUSHES its stream once; the core compresses it once,
 * hashes the compressed bytes once (SHA-256) and fans them out to every
 * sink of the job.  Nothing is buffered beyond fixed-size blocks and
 * nothing touches a temporary file, so memory stays flat whatever the size.
 *
 * Restore and verify: the core reads one stored object from one sink,
 * hashes and counts it on the way, decompresses it, and the source PULLS
 * the stream.  Size and SHA-256 are checked against the manifest at the
 * end. */
#ifndef CAIRN_PIPELINE_H
#define CAIRN_PIPELINE_H

#include <time.h>

#include "config.h"
#include "manifest.h"
#include "plugin.h"

struct age_recipients;

struct backup_request {
	const struct cfg_job *job;
	const char *id;            /* the backup id shared by all sinks */
	struct instance **sources; /* in job order, maybe a subset */
	size_t nsources;
	struct instance **sinks;
	size_t nsinks;
	const char *host; /* recorded in the manifest */
	/* on_source_failure = keep: a failed source costs only its own
	 * object, the others make a partial set */
	int keep_partial;
	/* sources of the job this run leaves out (backup --source): the
	 * manifest lists them, so the set counts as partial */
	const struct manifest_failed *skipped;
	size_t nskipped;
	/* backup --set: per source (nsources of them, or NULL) the KEY=VALUE
	 * that reached it, as the manifest records them; a source with any
	 * makes the set partial (a one-off, no full backup of the job) */
	const struct strvec *overrides;
	/* backup --sink: the sinks of this run, recorded in the manifest;
	 * NULL when the run goes to every sink of the job */
	const struct strvec *run_sinks;
	/* the job's recipients (crypt_recipients_load): each object is
	 * encrypted after compression and named NAME.EXT.COMP.age; NULL
	 * when the job does not encrypt */
	const struct age_recipients *recipients;
	/* cairn follow's new base from its source's own link
	 * (follow_base.c): the sources' streams come from backup(ud, src,
	 * out) instead of their backup op; NULL: the backup op */
	int (*backup)(void *ud, struct instance *src, struct cairn_out *out);
	void *backup_ud;
};

struct sink_outcome {
	int ok;      /* the set is complete in this sink */
	char *error; /* why not, one line */
};

struct backup_outcome {
	struct sink_outcome *sinks; /* one per request sink */
	char *source_error;         /* a source failed: the set is lost everywhere */
	/* keep_partial: the sources that failed while the others were kept
	 * (name, plugin, error); the set is partial when there are any */
	struct manifest_failed *failed;
	size_t nfailed;
	int cancelled;
	uint64_t raw_bytes, stored_bytes;
};

/* Run the backup.  Returns 0 when every sink got its set (a partial one
 * when out->nfailed > 0); otherwise CAIRN_E_CANCELLED or another CAIRN_E_*
 * code, with the outcome saying who failed and why.  A sink that fails
 * keeps nothing of this id; a source that fails loses the whole set unless
 * keep_partial, and an interruption always does.  Free with
 * backup_outcome_free. */
int pipeline_backup(const struct backup_request *rq, struct backup_outcome *out);
void backup_outcome_free(struct backup_outcome *out, size_t nsinks);

/* Restore one source of a set.  source is an instance made with the
 * restore's overrides.  0, or a CAIRN_E_* code with *err set. */
int pipeline_restore(struct instance *sink, const struct manifest_source *ms,
                     struct instance *source, unsigned flags, char **err);

/* Verify one stored object: size and SHA-256 always; with source (deep),
 * also decompress and let the source check the format.  CAIRN_E_CORRUPT
 * when it is damaged. */
int pipeline_verify(struct instance *sink, const struct manifest_source *ms,
                    struct instance *source, char **err);

/* Copy one stored object from sink from to the same key in sink to
 * (cairn copy), checked as a restore checks it: the whole object is read,
 * its size and SHA-256 compared with the manifest, and only then is it
 * committed in to; a damaged object is aborted there, never committed.
 * CAIRN_E_CORRUPT when it is damaged (*err names it), another code when
 * reading or writing failed. */
int pipeline_copy(struct instance *from, struct instance *to, const struct manifest_source *ms,
                  char **err);

/* Let source restore one stored object somewhere harmless and compare
 * (its restore_test op, which it must have), checking the object's size
 * and SHA-256 on the way.  CAIRN_E_CORRUPT when the object is damaged,
 * another code when the test restore failed, with *err. */
int pipeline_restore_test(struct instance *sink, const struct manifest_source *ms,
                          struct instance *source, char **err);

/* One stored object read as restore reads it, for replay.c (log
 * segments are objects like a set's): opened in sink by the manifest
 * entry ms (for a segment, one made from its manifest), decompressed,
 * hashed and counted on the way; its reader returns 0 only once size,
 * SHA-256 and the raw size matched ms.  ms must outlive the stream. */
struct object_stream;
int pipeline_object_open(struct instance *sink, const struct manifest_source *ms,
                         struct object_stream **out, char **err);
struct cairn_in *pipeline_object_in(struct object_stream *os);
/* Read what the consumer left and check the whole object: 0, or a
 * CAIRN_E_* code (CAIRN_E_CORRUPT for damage) with *err. */
int pipeline_object_finish(struct object_stream *os, char **err);
/* The stream's own failure (damage, a sink that broke), 0 if none; with
 * *err when it has one (caller frees). */
int pipeline_object_failed(const struct object_stream *os, char **err);
void pipeline_object_close(struct object_stream *os);
/* Read one object through, decompressing it, and check it: 0 or a
 * CAIRN_E_* code with *err. */
int pipeline_object_scan(struct instance *sink, const struct manifest_source *ms, char **err);
/* Read one object through and check its size and SHA-256 only, as
 * verify checks a set's objects: no decompression, no key. */
int pipeline_object_sums(struct instance *sink, const struct manifest_source *ms, char **err);

#endif
