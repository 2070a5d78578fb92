/* replay.c - see replay.h */
#include "autoconf.h"

#include "replay.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "host.h"
#include "log.h"
#include "pipeline.h"
#include "progress.h"
#include "util.h"

/* A segment as the entry of a stored object, for pipeline's reader: its
 * strings point into seg. */
static void
seg_entry(const struct log_segment *seg, struct manifest_source *ms)
{
	memset(ms, 0, sizeof(*ms));
	ms->name = (char *)seg->name;
	ms->plugin = seg->plugin;
	ms->object = seg->object;
	ms->compression = seg->compression;
	ms->encryption = seg->encryption;
	ms->set_recipients = seg->recipients.n ? &seg->recipients : NULL;
	ms->raw_bytes = seg->raw_bytes;
	ms->stored_bytes = seg->stored_bytes;
	memcpy(ms->sha256, seg->sha256, sizeof(ms->sha256));
}

int
replay_check_segment(struct instance *sink, const struct log_segment *seg, char **err)
{
	struct manifest_source ms;
	if (!seg->object || !seg->compression) {
		*err = xasprintf(
		        "%s: log segment %s has no readable manifest: the stored log is damaged",
		        sink->ctx.label, seg->name);
		return CAIRN_E_CORRUPT;
	}
	seg_entry(seg, &ms);
	/* an encrypted one as a set's objects: verify needs no key for it
	 * (--deep decrypts, through the source's replay) */
	return seg->encryption ? pipeline_object_sums(sink, &ms, err)
	                       : pipeline_object_scan(sink, &ms, err);
}

/* One replay: the struct the source is given, first, and the core's side
 * of next(). */
struct replay_run {
	struct cairn_log_replay rp;
	const struct replay_request *rq;
	struct manifest_source *ents; /* one per segment */
	size_t next;                  /* the segment next() opens next */
	struct object_stream *cur;    /* the one the source reads */
	int rc;                       /* next()'s first failure, kept */
	char *err;
	int reached_end; /* next() said there is none left */
};

/* Close the segment being read, checking what the source left unread. */
static int
close_current(struct replay_run *r)
{
	char *err = NULL;
	int rc;
	if (!r->cur)
		return 0;
	rc = pipeline_object_finish(r->cur, &err);
	pipeline_object_close(r->cur);
	r->cur = NULL;
	if (rc && !r->rc) {
		r->rc = rc;
		r->err =
		        rc == CAIRN_E_CORRUPT &&
		                        !(r->rq->flags & (CAIRN_REPLAY_PARSE | CAIRN_REPLAY_TEST))
		                ? xasprintf(
		                          "%s; the sink returned other bytes than when they were checked, so the restored data may be damaged",
		                          err)
		                : xstrdup(err);
	}
	free(err);
	return rc;
}

static int
replay_next(struct cairn_log_replay *rp, struct cairn_in **in)
{
	struct replay_run *r = (struct replay_run *)rp;
	const struct replay_request *rq = r->rq;
	int rc;
	if (r->rc)
		return r->rc; /* a failed chain stays failed */
	if (cancel_signal)
		return CAIRN_E_CANCELLED;
	if ((rc = close_current(r)))
		return rc;
	if (r->next == rq->nsegs) {
		r->reached_end = 1;
		return 0;
	}
	rc = pipeline_object_open(rq->sink, &r->ents[r->next], &r->cur, &r->err);
	if (rc) {
		r->rc = rc;
		return rc;
	}
	r->next++;
	*in = pipeline_object_in(r->cur);
	return 1;
}

/* Before anything is written: every segment read through and checked,
 * and the base too unless the source stages its restore (or writes
 * nothing: a parse or a test).  0 or a code with *err. */
static int
check_chain(const struct replay_request *rq, const struct manifest_source *ents, char **err)
{
	const unsigned harmless = CAIRN_REPLAY_PARSE | CAIRN_REPLAY_TEST;
	struct instance *src = rq->source;
	uint64_t total = 0;
	int rc = 0;
	if (rq->flags & harmless)
		return 0;
	for (size_t i = 0; i < rq->nsegs; i++)
		total += ents[i].stored_bytes;
	log_info("%s: checking %zu log segment%s before the replay", src->ctx.label, rq->nsegs,
	         rq->nsegs == 1 ? "" : "s");
	progress_begin_phase(src->name, "checking");
	progress_total(total);
	for (size_t i = 0; i < rq->nsegs && !rc; i++)
		rc = pipeline_object_scan(rq->sink, &ents[i], err);
	progress_end();
	if (rc || !rq->base || (src->lp->source.flags & CAIRN_SOURCE_STAGED_RESTORE))
		return rc;
	log_info("%s: checking %s before restoring it", src->ctx.label, rq->base->object);
	progress_begin_phase(src->name, "checking");
	progress_total(rq->base->stored_bytes);
	rc = pipeline_object_scan(rq->sink, rq->base, err);
	progress_end();
	return rc;
}

/* The "records" the source read against the segments' manifests: all of
 * them when it reached the end of the chain, else at least those of
 * every segment that ends at or before until_ms (the source stops at
 * the first later record, which only the last segment holds). */
static int
check_records(const struct replay_run *r, char **err)
{
	const struct replay_request *rq = r->rq;
	const json_t *j =
	        rq->source->ctx.stats ? json_object_get(rq->source->ctx.stats, "records") : NULL;
	uint64_t sum = 0, least = 0;
	json_int_t got;
	if (!json_is_integer(j) || !rq->nsegs)
		return 0; /* not recorded: not compared */
	got = json_integer_value(j);
	for (size_t i = 0; i < rq->nsegs; i++) {
		sum += rq->segs[i]->records;
		if (r->reached_end || rq->segs[i]->to.time_ms <= rq->until_ms)
			least += rq->segs[i]->records;
	}
	if (got >= 0 && (uint64_t)got >= least && (uint64_t)got <= sum)
		return 0;
	if (least == sum)
		*err = xasprintf("%s: replay read %" JSON_INTEGER_FORMAT
		                 " records from log segments %s to %s, their manifests say %" PRIu64
		                 ": the stored log is damaged",
		                 rq->source->ctx.label, got, rq->segs[0]->name,
		                 rq->segs[rq->nsegs - 1]->name, sum);
	else
		*err = xasprintf(
		        "%s: replay read %" JSON_INTEGER_FORMAT
		        " records from log segments %s to %s, their manifests say between %" PRIu64
		        " and %" PRIu64 ": the stored log is damaged",
		        rq->source->ctx.label, got, rq->segs[0]->name,
		        rq->segs[rq->nsegs - 1]->name, least, sum);
	return CAIRN_E_CORRUPT;
}

/* replay() failed with rc: the streams' own failure (damage, a sink that
 * broke) explains more than the source's complaint; a source that gave up
 * on a segment it could not parse has the rest read, so that damage is
 * called damage. */
static int
replay_failed(struct replay_run *r, struct object_stream *bos, int rc, char **err)
{
	char *serr = NULL;
	if (r->rc) {
		*err = r->err;
		r->err = NULL;
		return r->rc == CAIRN_E_CANCELLED ? rc : r->rc;
	}
	int frc = r->cur ? pipeline_object_failed(r->cur, &serr) : 0;
	if (!frc && bos)
		frc = pipeline_object_failed(bos, &serr);
	if (frc && serr) {
		*err = serr;
		return frc == CAIRN_E_CANCELLED ? rc : frc;
	}
	free(serr);
	if (r->cur && rc != CAIRN_E_CANCELLED && !cancel_signal &&
	    close_current(r) == CAIRN_E_CORRUPT) {
		*err = r->err;
		r->err = NULL;
		return CAIRN_E_CORRUPT;
	}
	*err = xasprintf("%s: %s", r->rq->source->ctx.label, instance_error(r->rq->source, rc));
	return rc;
}

/* After a replay() that succeeded: the base and the segment being read
 * checked to their ends, and the records counted. */
static int
replay_done(struct replay_run *r, struct object_stream *bos, char **err)
{
	int rc = 0;
	if (bos)
		rc = pipeline_object_finish(bos, err);
	if (!rc && close_current(r)) {
		*err = r->err;
		r->err = NULL;
		rc = r->rc;
	}
	if (!rc)
		rc = check_records(r, err);
	return rc;
}

int
pipeline_replay(const struct replay_request *rq, char **err)
{
	struct replay_run r = {.rp = {.struct_size = sizeof(struct cairn_log_replay),
	                              .flags = rq->flags,
	                              .restore_flags = rq->restore_flags,
	                              .after = rq->after,
	                              .until_ms = rq->until_ms,
	                              .next = replay_next},
	                       .rq = rq};
	struct object_stream *bos = NULL;
	uint64_t total = rq->base ? rq->base->stored_bytes : 0;
	int rc;
	if (!rq->source->lp->source.replay) {
		*err = xasprintf("%s: plugin %s cannot replay a change log", rq->source->ctx.label,
		                 rq->source->lp->name);
		return CAIRN_E_UNSUPPORTED;
	}
	r.ents = xcalloc(rq->nsegs + 1, sizeof(*r.ents));
	for (size_t i = 0; i < rq->nsegs; i++) {
		total += rq->segs[i]->stored_bytes;
		seg_entry(rq->segs[i], &r.ents[i]);
	}
	if ((rc = check_chain(rq, r.ents, err)))
		goto out;
	if (rq->base && !(rq->flags & CAIRN_REPLAY_PARSE)) {
		if ((rc = pipeline_object_open(rq->sink, rq->base, &bos, err)))
			goto out;
		r.rp.base = pipeline_object_in(bos);
	}
	progress_begin_phase(rq->source->name, "replaying");
	progress_total(total);
	instance_reset(rq->source);
	rc = op_replay(rq->source, &r.rp);
	if (rc)
		rc = replay_failed(&r, bos, rc, err);
	else
		rc = replay_done(&r, bos, err);
	progress_end();
	if (cancel_signal)
		rc = CAIRN_E_CANCELLED;
out:
	if (r.cur)
		pipeline_object_close(r.cur);
	pipeline_object_close(bos);
	free(r.err);
	free(r.ents);
	return rc;
}
