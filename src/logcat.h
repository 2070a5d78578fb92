/* logcat.h - a job's change logs as a sink holds them (point-in-time
 * recovery, doc/design.md § Logs).
 *
 * `cairn follow JOB` cuts each following source's change log into
 * segments and stores them beside the job's sets:
 *
 *   JOB/log/SOURCE/SEG.EXT[.COMP]  a segment: the source's records,
 *                                  concatenated, then compressed
 *   JOB/log/SOURCE/SEG.json        its manifest, committed after the
 *                                  segment in the same sink: only a
 *                                  segment with one exists
 *   JOB/log/SOURCE/SEG.gap         a gap: what the log lost (JSON)
 *
 * SEG names the stretch of the log an object covers, so that a listing
 * alone shows a log's span, holes and lag without reading a manifest:
 *
 *   FROMTIME-TOTIME-FROMLSN-TOLSN
 *   20261207T142800.123Z-20261207T142900.000Z-0000018d2f3a0001-0000018d2f3b0005
 *
 * times are UTC to the millisecond, lsns 16 lowercase hex digits.  A
 * segment covers (FROM, TO]: every change after position FROM (the
 * previous segment's TO, or the position following started from) up to
 * and including TO (where the log stood when the segment was closed: its
 * last record, or later when the log was idle).  Names sort by FROMTIME,
 * which is chain order along a log.  A gap covers (FROM, TO] too: changes
 * in it are lost, and TO is the position of the new full backup taken
 * after it.
 *
 * The sink's content is untrusted: a name that does not parse is not
 * ours and is ignored; a manifest that does not parse, does not say this
 * job, source and name, names an object other than SEG.EXT[.COMP] beside
 * it, or disagrees with its name is damage, and so is a segment whose
 * object is not listed with the manifest's stored size. */
#ifndef CAIRN_LOGCAT_H
#define CAIRN_LOGCAT_H

#include <jansson.h>
#include <stdint.h>
#include <time.h>

#include "plugin.h" /* struct instance, <cairn/plugin.h> */
#include "timeutil.h"
#include "util.h"

#define LOG_DIR "log"                /* JOB/LOG_DIR/SOURCE/ */
#define LOGSEG_FORMAT 1              /* "format" of a segment manifest */
#define LOGSEG_MAX_BYTES (64u << 10) /* a segment manifest or gap record */
#define LOGSEG_NAME_MAX 80           /* SEG, NUL included */
#define LOGSEG_NAME_LEN 75           /* SEG's length: every name has it */
#define LOGSEG_INDEX_MAX 512         /* entries in a segment's (time, lsn) index */
#define LOGSEG_MAX_RECIPIENTS 64     /* entries of a segment's "recipients" */

/* One entry of a segment's index: the first record at or after a time. */
struct log_index_entry {
	int64_t time_ms; /* the record's time, as the manifest lists it */
	uint64_t lsn;    /* the record's lsn */
};

/* A segment manifest, SEG.json.  Standard JSON:
 * {"format":1, "kind":"cairn-log-segment", "cairn_version":"0.5",
 *  "job":"nightly", "source":"db", "plugin":"mongo", "plugin_version":"..",
 *  "host":"web1", "segment":"SEG", "object":"nightly/log/db/SEG.bson.zst",
 *  "compression":"zstd", "raw_bytes":N, "stored_bytes":N, "sha256":"hex",
 *  "records":N, "base":"20261207T020000Z",
 *  "from":{"lsn":"0000018d2f3a0001","time":"2026-12-07T14:28:00.123Z",
 *          "pos":"1733581680:1"},
 *  "first":{...}, "last":{...},  (absent when records is 0)
 *  "to":{...}, "created":"2026-12-07T14:29:01Z", "stats":{...},
 *  "index":[[1733581680123,"0000018d2f3a0001"], ...]}
 * lsns are 16 hex digits as text (JSON numbers lose 64-bit integers).
 * index (optional, absent when records is 0) lists the first record of
 * each second of the segment as [time in ms since the epoch, lsn], so a
 * reader finds where TIME lies without reading the segment: at most
 * LOGSEG_INDEX_MAX entries (a longer segment keeps every 2nd, 4th...
 * second's), each inside (from, to], lsns increasing and times not
 * decreasing; anything else is damage. */
struct log_segment {
	char name[LOGSEG_NAME_MAX]; /* SEG */
	char *source, *plugin, *plugin_version, *host;
	char *object;      /* the data object's key */
	char *compression; /* "zstd", "gzip", "xz", "none" */
	char *encryption;  /* "age" (the object's key ends in .age), or NULL */
	/* "recipients": whom an encrypted one was written to (age1... or
	 * "scrypt", at most LOGSEG_MAX_RECIPIENTS), as a set's manifest
	 * says; empty when not known */
	struct strvec recipients;
	uint64_t raw_bytes, stored_bytes, records;
	char sha256[65];
	struct cairn_log_pos from, first, last, to; /* first/last zero when records == 0 */
	char base[BACKUP_ID_LEN + 1];               /* the full set the chain continues from */
	time_t created;
	json_t *stats;                 /* may be NULL */
	struct log_index_entry *index; /* nindex entries, owned; may be NULL */
	size_t nindex;
	/* From the listing (logcat_load): the object's and manifest's
	 * presence; a segment whose manifest was not read has only what the
	 * name says (from/to lsn and time; text empty) and, as listed, the
	 * key and size of its data object (object, stored_bytes). */
	int has_manifest, manifest_read;
};

/* A gap record, SEG.gap:
 * {"format":1, "kind":"cairn-log-gap", "job":..., "source":..., "segment":"SEG",
 *  "from":{...}, "to":{...}, "base":"ID or empty", "reason":"one line",
 *  "created":"..."} */
struct log_gap {
	char name[LOGSEG_NAME_MAX];
	struct cairn_log_pos from, to;
	char base[BACKUP_ID_LEN + 1]; /* the full set taken after it; "" if none */
	char *reason;
	time_t created;
};

/* One source's log in one sink, in name order. */
struct log_source {
	char *source;
	/* the segments as far as the load could believe them: a damaged one
	 * is only in damage (a chain names it at the break it makes) */
	struct log_segment *segs;
	size_t nsegs;
	struct log_gap *gaps;
	size_t ngaps;
	/* objects under JOB/log/SOURCE/ that are damage: a manifest or gap
	 * that cannot be believed, a segment without its object; one line each
	 * naming the key */
	struct strvec damage;
	struct strvec damage_keys; /* the key each damage line is about */
	/* data objects without a manifest: uncommitted or left over (prune
	 * removes those older than SET_LEFTOVER_GRACE) */
	struct strvec orphans;
	int64_t *orphan_mtime; /* each orphan's mtime as listed, seconds */
};

struct log_catalog {
	struct log_source *v;
	size_t n;
};

/* --- names --- */
/* Make SEG from two positions (lsn and time_ms used). */
void logseg_name(const struct cairn_log_pos *from, const struct cairn_log_pos *to,
                 char out[LOGSEG_NAME_MAX]);
/* Parse SEG: 0 with from/to lsn and time_ms (text empty), -1 when it is
 * not a segment name. */
int logseg_name_parse(const char *name, struct cairn_log_pos *from, struct cairn_log_pos *to);

/* --- manifests --- */
char *logseg_to_json(const char *job, const struct log_segment *s);
/* Parse and check a manifest read from JOB/log/SOURCE/NAME.json against
 * its place: 0, or -1 with *err (one line, no key prefix). */
int logseg_parse(const char *buf, size_t len, const char *job, const char *source, const char *name,
                 struct log_segment *out, char **err);
void logseg_clear(struct log_segment *s);
char *loggap_to_json(const char *job, const char *source, const struct log_gap *g);
int loggap_parse(const char *buf, size_t len, const char *job, const char *source, const char *name,
                 struct log_gap *out, char **err);
void loggap_clear(struct log_gap *g);

/* --- a sink's logs --- */
/* List JOB/log/ (only JOB/log/SOURCE/ when source is not NULL) of the
 * sink.  With read_manifests, every segment's manifest and every gap is
 * read and checked (restore, verify); without, segments carry only what
 * their names say (status, check, list, metrics, prune: one listing),
 * gap records are read all the same (they are few).  0, or a CAIRN_E_*
 * code with *err. */
int logcat_load(struct instance *sink, const char *job, const char *source, int read_manifests,
                struct log_catalog *out, char **err);
void logcat_free(struct log_catalog *c);
const struct log_source *logcat_source(const struct log_catalog *c, const char *source);

/* --- chains --- */
/* The segments that carry the log from just after `after` up to until_ms
 * (INT64_MAX: as far as it goes unbroken), in order: the first is the one
 * whose (FROM, TO] holds after.lsn, each next one's FROM is the previous
 * one's TO (lsn and, with manifests read, text).  The chain must reach
 * until_ms (the last segment's TO time at or after it), unless until_ms
 * is INT64_MAX.  0 with *v (caller frees the array, not the segments) and
 * *n, and *reach_ms the time it reaches; -1 with *why, one line naming
 * the break (a gap with its interval and reason, a missing stretch, a
 * damaged segment) and the latest time that can be restored, and
 * *reach_ms that time (INT64_MIN when even after is not covered). */
int logcat_chain(const struct log_source *ls, const struct cairn_log_pos *after, int64_t until_ms,
                 const struct log_segment ***v, size_t *n, int64_t *reach_ms, char **why);
/* The newest segment (greatest TO time), or NULL. */
const struct log_segment *logcat_newest(const struct log_source *ls);

/* --- positions in text and JSON --- */
/* "2026-12-07T14:28:00.123Z" into out (at least 32 bytes). */
void log_time_format(int64_t ms, char *out, size_t len);
json_t *log_pos_to_json(const struct cairn_log_pos *p);
int log_pos_from_json(const json_t *j, struct cairn_log_pos *p);

#endif
