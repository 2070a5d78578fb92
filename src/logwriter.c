/* logwriter.c - see logwriter.h */
#include "autoconf.h"

#include "logwriter.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cairn.h"
#include "compress.h"
#include "crypt.h"
#include "host.h"
#include "log.h"
#include "logstats.h"
#include "sets.h"
#include "util.h"
#include "values.h"

/* A sink as this writer sees it. */
struct lw_sink {
	struct instance *sink;
	int behind; /* it lacks the log from `missing` on */
	struct cairn_log_pos missing;
	char *why; /* why it fell behind: the gap record's reason */
};

struct logwriter {
	struct cairn_log_out out; /* first: what follow() is given */
	struct logwriter_conf conf;
	struct lw_sink *sinks;
	char *ext;   /* the log extension */
	char *cext;  /* the compression's, or NULL */
	char *label; /* "source db" */
	char base[BACKUP_ID_LEN + 1];
	struct cairn_log_pos committed; /* the open segment's FROM */
	/* the open segment */
	struct compressor *z;
	struct crypt_writer *cw;  /* the age stage, when the job encrypts */
	struct strvec recipients; /* its manifests' (crypt_recipients_describe) */
	EVP_MD_CTX *sha;
	char *buf; /* its compressed (and encrypted) bytes (kept: flat) */
	size_t len, cap;
	uint64_t raw, records;
	struct cairn_log_pos first, last, to;
	/* its (time, lsn) index: the first record of each index_step_ms */
	struct log_index_entry *index; /* LOGSEG_INDEX_MAX, kept: flat */
	size_t nindex;
	int64_t index_step_ms;
	int64_t opened_ms; /* monotonic clock */
	int store_failed;
	uint64_t segments;
	char last_name[LOGSEG_NAME_MAX];
	struct logstats stats; /* host->stat in follow(): the source's counts */
};

static int64_t
clock_ms(clockid_t id)
{
	struct timespec ts;
	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
sink_lock_all(struct logwriter *lw)
{
	if (lw->conf.sink_mutex)
		pthread_mutex_lock(lw->conf.sink_mutex);
}

static void
sink_unlock_all(struct logwriter *lw)
{
	if (lw->conf.sink_mutex)
		pthread_mutex_unlock(lw->conf.sink_mutex);
}

static int
emit(void *ud, const void *buf, size_t len)
{
	struct logwriter *lw = ud;
	if (lw->len + len > lw->cap) {
		size_t cap = lw->cap ? lw->cap : 64 * 1024;
		while (cap < lw->len + len)
			cap *= 2;
		lw->buf = xrealloc(lw->buf, cap);
		lw->cap = cap;
	}
	memcpy(lw->buf + lw->len, buf, len);
	lw->len += len;
	EVP_DigestUpdate(lw->sha, buf, len);
	return 0;
}

/* The compressor's output when the job encrypts: through the age stage
 * (crypt.h) into emit. */
static int
emit_encrypted(void *ud, const void *buf, size_t len)
{
	struct logwriter *lw = ud;
	char *err = NULL;
	int rc = crypt_writer_write(lw->cw, buf, len, &err);
	if (rc)
		log_error("%s: cannot encrypt a log segment: %s", lw->label, err ? err : "");
	free(err);
	return rc;
}

/* Drop the open segment and open an empty one after lw->committed. */
static void
segment_reset(struct logwriter *lw)
{
	char *err = NULL;
	if (!lw->sha)
		lw->sha = EVP_MD_CTX_new();
	if (!lw->sha || EVP_DigestInit_ex(lw->sha, EVP_sha256(), NULL) != 1) {
		log_error("cannot start SHA-256 (OpenSSL)");
		abort();
	}
	lw->len = 0;
	crypt_writer_free(lw->cw); /* a new age header (and file key) per segment */
	lw->cw = NULL;
	if (lw->conf.recipients &&
	    !(lw->cw = crypt_writer_new(lw->conf.recipients, emit, lw, &err))) {
		log_error("%s: cannot start the encryption of a log segment: %s", lw->label, err);
		abort(); /* the same recipients encrypted the job's backups */
	}
	compressor_free(lw->z);
	lw->z = compressor_new(lw->conf.job->compression, lw->conf.job->level, 0,
	                       lw->cw ? emit_encrypted : emit, lw, &err);
	if (!lw->z) { /* the job's compression worked for every backup */
		log_error("%s: cannot start the compression of a log segment: %s", lw->label, err);
		abort();
	}
	lw->raw = lw->records = 0;
	memset(&lw->first, 0, sizeof(lw->first));
	memset(&lw->last, 0, sizeof(lw->last));
	lw->to = lw->committed;
	lw->nindex = 0;
	lw->index_step_ms = 1000;
	lw->opened_ms = clock_ms(CLOCK_MONOTONIC);
	logstats_reset(&lw->stats);
}

/* Keep the first entry of each step_ms in the index. */
static void
index_thin(struct logwriter *lw, int64_t step_ms)
{
	size_t k = 0;
	for (size_t i = 0; i < lw->nindex; i++)
		if (!k || lw->index[i].time_ms / step_ms != lw->index[k - 1].time_ms / step_ms)
			lw->index[k++] = lw->index[i];
	lw->nindex = k;
	lw->index_step_ms = step_ms;
}

/* A record at pos went into the open segment: index it if it is the
 * first of its second (of its step, once the index had to be thinned).
 * Its time is the one the manifest lists: never before the segment's
 * start nor the record ahead of it (segment_describe). */
static void
index_add(struct logwriter *lw, const struct cairn_log_pos *pos)
{
	int64_t t = pos->time_ms;
	struct log_index_entry *prev = lw->nindex ? &lw->index[lw->nindex - 1] : NULL;
	if (t < lw->committed.time_ms)
		t = lw->committed.time_ms;
	if (prev && t < prev->time_ms)
		t = prev->time_ms;
	if (prev && t / lw->index_step_ms == prev->time_ms / lw->index_step_ms)
		return;
	if (lw->nindex == LOGSEG_INDEX_MAX) {
		index_thin(lw, lw->index_step_ms * 2);
		prev = &lw->index[lw->nindex - 1];
		if (t / lw->index_step_ms == prev->time_ms / lw->index_step_ms)
			return;
	}
	lw->index[lw->nindex].time_ms = t;
	lw->index[lw->nindex++].lsn = pos->lsn;
}

/* What file_extension() may be (plugin.h), for log_extension() too. */
static int
valid_extension(const char *ext)
{
	size_t n = strspn(ext, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_+");
	return n >= 1 && n <= 32 && !ext[n];
}

static int lw_record(struct cairn_log_out *o, const void *buf, size_t len,
                     const struct cairn_log_pos *pos);
static int lw_idle(struct cairn_log_out *o, const struct cairn_log_pos *pos);

struct logwriter *
logwriter_new(const struct logwriter_conf *conf, char **err)
{
	const char *ext = op_log_extension(conf->source), *cext;
	struct logwriter *lw;
	if (!ext || !valid_extension(ext)) {
		char *shown = str_escape(ext ? ext : "");
		*err = xasprintf(
		        "%s: its plugin names its log segments \"%s\", which is no file extension (1 to 32 letters, digits, '-', '_' or '+'); fix the plugin",
		        conf->source->ctx.label, shown);
		free(shown);
		return NULL;
	}
	lw = xcalloc(1, sizeof(*lw));
	lw->out.struct_size = sizeof(lw->out);
	lw->out.record = lw_record;
	lw->out.idle = lw_idle;
	lw->conf = *conf;
	lw->sinks = xcalloc(conf->nsinks ? conf->nsinks : 1, sizeof(*lw->sinks));
	for (size_t i = 0; i < conf->nsinks; i++)
		lw->sinks[i].sink = conf->sinks[i];
	lw->ext = xstrdup(ext);
	cext = compression_ext(conf->job->compression);
	lw->cext = cext ? xstrdup(cext) : NULL;
	lw->label = xasprintf("source %s", conf->source->name);
	lw->index = xcalloc(LOGSEG_INDEX_MAX, sizeof(*lw->index));
	if (conf->recipients)
		crypt_recipients_describe(conf->recipients, &lw->recipients);
	segment_reset(lw);
	conf->source->ctx.follow_stats = &lw->stats;
	return lw;
}

void
logwriter_free(struct logwriter *lw)
{
	if (!lw)
		return;
	if (lw->conf.source->ctx.follow_stats == &lw->stats)
		lw->conf.source->ctx.follow_stats = NULL;
	compressor_free(lw->z);
	crypt_writer_free(lw->cw);
	strvec_free(&lw->recipients);
	EVP_MD_CTX_free(lw->sha);
	for (size_t i = 0; i < lw->conf.nsinks; i++)
		free(lw->sinks[i].why);
	free(lw->sinks);
	free(lw->buf);
	free(lw->index);
	free(lw->ext);
	free(lw->cext);
	free(lw->label);
	free(lw);
}

void
logwriter_start(struct logwriter *lw, const struct cairn_log_pos *from, const char *base)
{
	lw->committed = *from;
	if (base)
		snprintf(lw->base, sizeof(lw->base), "%s", base);
	lw->store_failed = 0;
	logstats_drop_pending(&lw->stats);
	segment_reset(lw);
}

void
logwriter_sink_behind(struct logwriter *lw, size_t i, const struct cairn_log_pos *from)
{
	lw->sinks[i].behind = 1;
	lw->sinks[i].missing = *from;
	free(lw->sinks[i].why);
	lw->sinks[i].why = xasprintf(
	        "sink %s fell behind the job's other sinks while cairn follow was down or it failed; this stretch of the log is in the others",
	        lw->sinks[i].sink->name);
}

struct cairn_log_out *
logwriter_out(struct logwriter *lw)
{
	return &lw->out;
}

const struct cairn_log_pos *
logwriter_committed(const struct logwriter *lw)
{
	return &lw->committed;
}

int
logwriter_store_failed(const struct logwriter *lw)
{
	return lw->store_failed;
}

uint64_t
logwriter_segments(const struct logwriter *lw)
{
	return lw->segments;
}

const char *
logwriter_last_segment(const struct logwriter *lw)
{
	return lw->last_name;
}

/* "JOB/log/SOURCE/" + name + suffix. */
static char *
log_key(const struct logwriter *lw, const char *name, const char *suffix)
{
	return xasprintf("%s/" LOG_DIR "/%s/%s%s", lw->conf.job->name, lw->conf.source->name, name,
	                 suffix);
}

/* Write the gap (from, to] into sink s: 0, or a code with *err. */
static int
gap_to_sink(struct logwriter *lw, struct lw_sink *s, const struct cairn_log_pos *from,
            const struct cairn_log_pos *to, const char *base, const char *reason, char **err)
{
	struct log_gap g = {0};
	char *json, *key;
	int rc;
	logseg_name(from, to, g.name);
	g.from = *from;
	g.to = *to;
	snprintf(g.base, sizeof(g.base), "%s", base ? base : "");
	g.reason = (char *)reason;
	g.created = time(NULL);
	json = loggap_to_json(lw->conf.job->name, lw->conf.source->name, &g);
	key = log_key(lw, g.name, ".gap");
	rc = sink_write_all(s->sink, key, json, strlen(json), err);
	if (!rc)
		log_warn("%s: recorded the gap %s in %s: %s", lw->label, key, s->sink->ctx.label,
		         reason);
	free(key);
	free(json);
	return rc;
}

/* Sink s failed with err (taken) while storing the segment from `from`. */
static void
sink_fell_behind(struct logwriter *lw, struct lw_sink *s, const struct cairn_log_pos *from,
                 char *err)
{
	if (!s->behind) {
		log_error(
		        "%s; this sink misses the log from here on until it works again: cairn follow goes on with the other sinks and then records the gap in it",
		        err);
		s->behind = 1;
		s->missing = *from;
		free(s->why);
		s->why = xasprintf(
		        "sink %s failed (%s); this stretch of the log is in the job's other sinks",
		        s->sink->name, err);
	} else {
		log_debug("%s", err);
	}
	free(err);
}

/* Store the closed segment (data key, manifest json) in sink s. */
static int
segment_to_sink(struct logwriter *lw, struct lw_sink *s, const struct log_segment *seg,
                const char *json)
{
	char *err = NULL, *mkey = log_key(lw, seg->name, ".json");
	int rc = 0;
	if (s->behind &&
	    (lw->committed.lsn != s->missing.lsn || lw->committed.time_ms != s->missing.time_ms)) {
		rc = gap_to_sink(lw, s, &s->missing, &seg->from, "", s->why, &err);
		if (rc)
			goto fail;
		s->missing = seg->from; /* the gap covers up to here */
	}
	if ((rc = sink_write_all(s->sink, seg->object, lw->buf, lw->len, &err)))
		goto fail;
	if ((rc = sink_write_all(s->sink, mkey, json, strlen(json), &err))) {
		/* no manifest, no segment: the data object goes too */
		(void)op_remove(s->sink, seg->object);
		goto fail;
	}
	if (s->behind)
		log_info("%s: %s works again; its gap is recorded", lw->label, s->sink->ctx.label);
	s->behind = 0;
	free(mkey);
	return 0;
fail:
	if (!s->behind)
		sink_fell_behind(lw, s, &seg->from, err);
	else
		free(err);
	free(mkey);
	return rc;
}

/* Fill the manifest of the open segment, now closed. */
static void
segment_describe(struct logwriter *lw, struct log_segment *seg, char *sha)
{
	struct instance *src = lw->conf.source;
	memset(seg, 0, sizeof(*seg));
	logseg_name(&lw->committed, &lw->to, seg->name);
	seg->source = (char *)src->name;
	seg->plugin = src->lp->name;
	seg->plugin_version = (char *)src->lp->desc.version;
	seg->host = (char *)(lw->conf.host ? lw->conf.host : "");
	seg->object = xasprintf("%s/" LOG_DIR "/%s/%s.%s%s%s%s", lw->conf.job->name, src->name,
	                        seg->name, lw->ext, lw->cext ? "." : "", lw->cext ? lw->cext : "",
	                        lw->cw ? CRYPT_EXT : "");
	seg->compression = (char *)compression_name(lw->conf.job->compression);
	seg->encryption = lw->cw ? (char *)CRYPT_AGE : NULL;
	seg->recipients = lw->recipients; /* not owned: seg is not cleared */
	seg->raw_bytes = lw->raw;
	seg->stored_bytes = lw->len;
	seg->records = lw->records;
	memcpy(seg->sha256, sha, 65);
	seg->from = lw->committed;
	seg->first = lw->first;
	seg->last = lw->last;
	seg->to = lw->to;
	/* Times never go back along a chain: a record whose own time lies
	 * before the segment's start (the server's clock behind the core's,
	 * which advanced the start while the log was idle; or a log that
	 * counts whole seconds) is listed at the start.  The record itself
	 * keeps its time. */
	if (seg->records && seg->first.time_ms < seg->from.time_ms)
		seg->first.time_ms = seg->from.time_ms;
	if (seg->records && seg->last.time_ms < seg->first.time_ms)
		seg->last.time_ms = seg->first.time_ms;
	seg->index = lw->index; /* not owned: seg is not cleared */
	seg->nindex = lw->nindex;
	memcpy(seg->base, lw->base, sizeof(seg->base));
	seg->created = time(NULL);
	/* the caller drops it; manifest_stats = no: the clear manifest
	 * keeps the source's counts to itself, as a set's does */
	seg->stats = lw->conf.job->crypt.manifest_stats ? logstats_json(&lw->stats) : NULL;
}

int
logwriter_commit(struct logwriter *lw)
{
	struct log_segment seg;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	char sha[65] = "", *err = NULL, *json;
	size_t ok = 0;
	if (!lw->records && lw->to.lsn == lw->committed.lsn &&
	    lw->to.time_ms <= lw->committed.time_ms) {
		segment_reset(lw); /* it covers nothing */
		return 0;
	}
	if (compressor_finish(lw->z, &err) || (lw->cw && crypt_writer_finish(lw->cw, &err))) {
		log_error("%s: cannot compress or encrypt a log segment: %s", lw->label,
		          err ? err : "");
		free(err);
		segment_reset(lw);
		return CAIRN_E_IO;
	}
	EVP_DigestFinal_ex(lw->sha, md, &mdlen);
	for (unsigned i = 0; i < mdlen && i < 32; i++)
		snprintf(sha + 2 * i, 3, "%02x", md[i]);
	segment_describe(lw, &seg, sha);
	json = logseg_to_json(lw->conf.job->name, &seg);
	json_decref(seg.stats);
	sink_lock_all(lw);
	for (size_t i = 0; i < lw->conf.nsinks; i++)
		ok += segment_to_sink(lw, &lw->sinks[i], &seg, json) == 0;
	sink_unlock_all(lw);
	if (ok) {
		log_debug("%s: committed log segment %s (%llu records) in %zu of %zu sinks",
		          lw->label, seg.object, (unsigned long long)seg.records, ok,
		          lw->conf.nsinks);
		lw->committed = lw->to;
		lw->segments++;
		memcpy(lw->last_name, seg.name, sizeof(lw->last_name));
	} else {
		log_error(
		        "%s: no sink took log segment %s; cairn follow goes on from the end of the last one stored, %s",
		        lw->label, seg.name, lw->committed.text);
	}
	free(seg.object);
	free(json);
	segment_reset(lw);
	if (ok && lw->conf.on_commit)
		lw->conf.on_commit(lw->conf.userdata);
	return ok ? 0 : CAIRN_E_IO;
}

int
logwriter_gap(struct logwriter *lw, const struct cairn_log_pos *to, const char *base,
              const char *reason)
{
	size_t ok = 0;
	sink_lock_all(lw);
	for (size_t i = 0; i < lw->conf.nsinks; i++) {
		struct lw_sink *s = &lw->sinks[i];
		char *err = NULL;
		const struct cairn_log_pos *from = s->behind ? &s->missing : &lw->committed;
		if (gap_to_sink(lw, s, from, to, base, reason, &err)) {
			sink_fell_behind(lw, s, to, err);
			continue;
		}
		s->behind = 0;
		ok++;
	}
	sink_unlock_all(lw);
	logwriter_start(lw, to, base);
	return ok ? 0 : CAIRN_E_IO;
}

/* Is the open segment's span over? */
static int
span_over(const struct logwriter *lw)
{
	return clock_ms(CLOCK_MONOTONIC) - lw->opened_ms >= lw->conf.job->log.segment_span * 1000;
}

/* Commit for record/idle: a failure everywhere stops follow(). */
static int
cut(struct logwriter *lw)
{
	if (logwriter_commit(lw)) {
		lw->store_failed = 1;
		return CAIRN_E_IO;
	}
	return 0;
}

static int
bad_pos(struct logwriter *lw, const struct cairn_log_pos *pos, const char *what)
{
	if (!pos || !log_pos_valid(pos)) {
		log_error(
		        "%s: its plugin gave a %s whose position text is not 1 to 95 printable characters without space; fix the plugin",
		        lw->label, what);
		return CAIRN_E_CORRUPT;
	}
	if (pos->lsn < lw->to.lsn || (pos->lsn == lw->to.lsn && !strcmp(what, "record"))) {
		log_error(
		        "%s: its plugin gave a %s at lsn %llu after one at lsn %llu: a log's positions only grow; fix the plugin",
		        lw->label, what, (unsigned long long)pos->lsn,
		        (unsigned long long)lw->to.lsn);
		return CAIRN_E_CORRUPT;
	}
	return 0;
}

static void
advance_to(struct logwriter *lw, const struct cairn_log_pos *pos)
{
	int64_t t = lw->to.time_ms;
	lw->to = *pos;
	if (lw->to.time_ms < t) /* time never goes back along the log */
		lw->to.time_ms = t;
}

static int
lw_record(struct cairn_log_out *o, const void *buf, size_t len, const struct cairn_log_pos *pos)
{
	struct logwriter *lw = (struct logwriter *)o;
	char *err = NULL;
	int rc;
	if ((rc = bad_pos(lw, pos, "record")))
		return rc;
	if ((span_over(lw) || (lw->raw && lw->raw + len > lw->conf.job->log.segment_size)) &&
	    (rc = cut(lw)))
		return rc;
	if ((rc = compressor_write(lw->z, buf, len, &err))) {
		log_error("%s: cannot compress a log segment: %s", lw->label, err ? err : "");
		free(err);
		return rc;
	}
	lw->raw += len;
	logstats_take(&lw->stats); /* the counts given for this record */
	if (!lw->records++)
		lw->first = *pos;
	lw->last = *pos;
	index_add(lw, pos);
	advance_to(lw, pos);
	if (lw->raw >= lw->conf.job->log.segment_size && (rc = cut(lw)))
		return rc;
	return cancel_signal || (lw->conf.stop && *lw->conf.stop) ? CAIRN_E_CANCELLED : 0;
}

static int
lw_idle(struct cairn_log_out *o, const struct cairn_log_pos *pos)
{
	struct logwriter *lw = (struct logwriter *)o;
	int rc;
	if (pos) {
		if ((rc = bad_pos(lw, pos, "idle position")))
			return rc;
		advance_to(lw, pos);
	} else {
		int64_t now = clock_ms(CLOCK_REALTIME);
		if (now > lw->to.time_ms)
			lw->to.time_ms = now;
	}
	if (span_over(lw) && (rc = cut(lw)))
		return rc;
	return cancel_signal || (lw->conf.stop && *lw->conf.stop) ? CAIRN_E_CANCELLED : 0;
}
