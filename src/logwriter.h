/* logwriter.h - one following source's change log into segments in every
 * sink of its job (cairn follow; the layout is logcat.h's).
 *
 * The source's follow() pushes records and idles into logwriter_out().
 * A segment is cut every segment_span (also with no record in it: it
 * proves the quiet time) or once it holds segment_size raw bytes, never
 * inside a record.  Its bytes go through the job's compression and a
 * SHA-256 into a buffer in memory (a segment's name says where it ends,
 * and a sink object is named when it is opened: so the object is written
 * once the segment is closed; memory is bounded by one compressed
 * segment, whatever the length of the log), then into every sink: the
 * data object, then its manifest.  A sink that fails is skipped (said,
 * once) and tried again with the next segment; when it takes one again,
 * a gap record goes first, so that its chain shows the hole honestly.
 * When no sink takes a segment it is dropped and the follower resumes
 * after the last committed position. */
#ifndef CAIRN_LOGWRITER_H
#define CAIRN_LOGWRITER_H

#include <pthread.h>
#include <signal.h>

#include "config.h"
#include "logcat.h"
#include "plugin.h"

struct logwriter;
struct age_recipients;

struct logwriter_conf {
	const struct cfg_job *job;
	struct instance *source; /* one that can follow (op_can_follow) */
	struct instance **sinks; /* the job's, shared with other writers */
	size_t nsinks;
	/* held around every call into a sink (NULL: none), since the
	 * writers of several sources share the sink instances */
	pthread_mutex_t *sink_mutex;
	const char *host; /* recorded in the manifests */
	/* besides a signal (cancel_signal), non-zero stops follow(): record()
	 * and idle() return CAIRN_E_CANCELLED; may be NULL */
	const volatile sig_atomic_t *stop;
	/* the job's recipients (crypt_recipients_load): each segment is
	 * encrypted after compression, SEG.EXT[.COMP].age; NULL: not */
	const struct age_recipients *recipients;
	/* called after each segment some sink took (may be NULL) */
	void (*on_commit)(void *userdata);
	void *userdata;
};

/* NULL with *err when the source's log extension is no valid name. */
struct logwriter *logwriter_new(const struct logwriter_conf *conf, char **err);
void logwriter_free(struct logwriter *lw);

/* Where the chain stands: the next segment starts after from, continuing
 * full set base (NULL: the same as before).  Drops an open segment and
 * clears logwriter_store_failed(). */
void logwriter_start(struct logwriter *lw, const struct cairn_log_pos *from, const char *base);
/* Sink i lacks the log from `from` on (it fell behind in an earlier run):
 * the next segment it takes is preceded by a gap record from there. */
void logwriter_sink_behind(struct logwriter *lw, size_t i, const struct cairn_log_pos *from);

/* What follow() is given. */
struct cairn_log_out *logwriter_out(struct logwriter *lw);

/* Close and store the open segment if it covers anything.  0 when some
 * sink took it (or there was nothing), CAIRN_E_IO when none did (the
 * segment is dropped: resume after logwriter_committed()). */
int logwriter_commit(struct logwriter *lw);
/* The end of the last segment committed (or the start). */
const struct cairn_log_pos *logwriter_committed(const struct logwriter *lw);
/* 1 once a record or idle of follow() was refused because no sink took
 * the segment it closed (cleared by logwriter_start). */
int logwriter_store_failed(const struct logwriter *lw);
/* The segments committed so far, for the run record. */
uint64_t logwriter_segments(const struct logwriter *lw);
const char *logwriter_last_segment(const struct logwriter *lw);

/* Record a gap (committed position, to] in every sink, base the full set
 * taken after it, reason one line; then go on from to with base.  0 when
 * some sink took it. */
int logwriter_gap(struct logwriter *lw, const struct cairn_log_pos *to, const char *base,
                  const char *reason);

#endif
