/* pipeline.c - see pipeline.h */
#include "autoconf.h"

#include "pipeline.h"

#include <openssl/evp.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "cairn.h"
#include "compress.h"
#include "crypt.h"
#include "log.h"
#include "pipeline_key.h"
#include "progress.h"
#include "sets.h"
#include "util.h"

static void
sha_hex(EVP_MD_CTX *sha, char out[65])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	EVP_DigestFinal_ex(sha, md, &len);
	for (unsigned i = 0; i < len && i < 32; i++)
		snprintf(out + 2 * i, 3, "%02x", md[i]);
}

static EVP_MD_CTX *
sha_new(void)
{
	EVP_MD_CTX *sha = EVP_MD_CTX_new();
	if (!sha || EVP_DigestInit_ex(sha, EVP_sha256(), NULL) != 1) {
		log_error("cannot start SHA-256 (OpenSSL)");
		abort();
	}
	return sha;
}

/* ------------------------------------------------------------- backup */

struct sink_run {
	struct instance *sink;
	int alive;
	cairn_sink_writer *w;    /* the object being written */
	struct strvec committed; /* keys of this set it holds */
	struct manifest m;       /* what it committed */
	char *error;
};

struct run {
	struct cairn_out out; /* first: the source's writer */
	const struct backup_request *rq;
	struct sink_run *sinks;
	struct compressor *z;
	struct crypt_writer *cw; /* the age stage, when the job encrypts */
	EVP_MD_CTX *sha;
	uint64_t raw, stored;
	char *stream_error; /* compression's own failure */
	const char *key;
	int keep_others; /* a failed source rolls back only its own object */
	size_t source;   /* the index in rq->sources of the one running */
};

/* Remove what this run committed to s; a set must never stay half there. */
static void
sink_rollback(struct sink_run *s)
{
	for (size_t i = s->committed.n; i-- > 0;) {
		int rc = op_remove(s->sink, s->committed.v[i]);
		if (rc && rc != CAIRN_E_NOTFOUND)
			log_error("%s: cannot remove %s after the failure: %s; remove it by hand",
			          s->sink->ctx.label, s->committed.v[i],
			          instance_error(s->sink, rc));
	}
	strvec_free(&s->committed);
}

static void
sink_fail(struct sink_run *s, int rc, const char *doing, const char *key)
{
	/* the detail first: abort() is a call, and calls clear it */
	char *error = s->alive ? xasprintf("%s: %s %s failed: %s", s->sink->ctx.label, doing, key,
	                                   instance_error(s->sink, rc))
	                       : NULL;
	if (s->w) {
		op_abort(s->sink, s->w);
		s->w = NULL;
	}
	if (!s->alive)
		return;
	s->alive = 0;
	s->error = error;
	log_error("%s; this sink gets no backup set from this run", s->error);
	sink_rollback(s);
}

static int
fanout(void *ud, const void *buf, size_t len)
{
	struct run *r = ud;
	int live = 0;
	EVP_DigestUpdate(r->sha, buf, len);
	r->stored += len;
	for (size_t i = 0; i < r->rq->nsinks; i++) {
		struct sink_run *s = &r->sinks[i];
		if (!s->w)
			continue;
		int rc = op_write(s->sink, s->w, buf, len);
		if (rc)
			sink_fail(s, rc, "writing", r->key);
		else
			live++;
	}
	return live ? 0 : CAIRN_E_IO;
}

/* The compressor's output when the job encrypts: through the age stage
 * (crypt.h), then fanout (SHA-256 and sinks) takes the encrypted bytes. */
static int
encrypt_out(void *ud, const void *buf, size_t len)
{
	struct run *r = ud;
	char *err = NULL;
	int rc = crypt_writer_write(r->cw, buf, len, &err);
	if (err) {
		free(r->stream_error);
		r->stream_error = err;
	}
	return rc;
}

static int
out_write(struct cairn_out *o, const void *buf, size_t len)
{
	struct run *r = (struct run *)o;
	char *err = NULL;
	int rc;
	if (cancel_signal)
		return CAIRN_E_CANCELLED;
	r->raw += len;
	progress_add(len);
	rc = compressor_write(r->z, buf, len, &err);
	if (err) {
		free(r->stream_error);
		r->stream_error = err;
	}
	return rc;
}

static size_t
alive_count(const struct run *r)
{
	size_t n = 0;
	for (size_t i = 0; i < r->rq->nsinks; i++)
		n += r->sinks[i].alive;
	return n;
}

/* Open the object key in every live sink; a sink that cannot open it
 * fails.  The number still alive. */
static size_t
open_writers(struct run *r, const char *key)
{
	for (size_t i = 0; i < r->rq->nsinks; i++) {
		struct sink_run *s = &r->sinks[i];
		if (!s->alive)
			continue;
		int orc = op_open_write(s->sink, key, &s->w);
		if (orc) {
			s->w = NULL;
			sink_fail(s, orc, "opening", key);
		}
	}
	return alive_count(r);
}

/* Commit the object of src, whole and hashed, in every sink still
 * writing it, and add its entry to each one's manifest. */
static void
commit_object(struct run *r, struct instance *src, const char *key)
{
	const struct backup_request *rq = r->rq;
	char sha[65] = "";
	sha_hex(r->sha, sha);
	for (size_t i = 0; i < rq->nsinks; i++) {
		struct sink_run *s = &r->sinks[i];
		if (!s->w)
			continue;
		cairn_sink_writer *w = s->w;
		s->w = NULL; /* commit releases it, success or not */
		int crc = op_commit(s->sink, w);
		if (crc) {
			sink_fail(s, crc, "committing", key);
			continue;
		}
		strvec_push(&s->committed, key);
		struct manifest_source *ms = manifest_add_source(&s->m);
		ms->name = xstrdup(src->name);
		ms->plugin = xstrdup(src->lp->name);
		ms->plugin_version = xstrdup(src->lp->desc.version);
		ms->object = xstrdup(key);
		ms->compression = xstrdup(compression_name(rq->job->compression));
		ms->encryption = rq->recipients ? xstrdup(CRYPT_AGE) : NULL;
		ms->raw_bytes = r->raw;
		ms->stored_bytes = r->stored;
		memcpy(ms->sha256, sha, sizeof(sha));
		/* manifest_stats = no: the clear manifest keeps them to itself */
		ms->stats = src->ctx.stats && rq->job->crypt.manifest_stats
		                    ? json_deep_copy(src->ctx.stats)
		                    : NULL;
		/* where its change log stood (host->log_position, ABI 1.4) */
		ms->has_log_start = src->ctx.has_log[CAIRN_LOG_AT_START];
		ms->log_start = src->ctx.log[CAIRN_LOG_AT_START];
		ms->has_log_end = src->ctx.has_log[CAIRN_LOG_AT_END];
		ms->log_end = src->ctx.log[CAIRN_LOG_AT_END];
		for (size_t o = 0; rq->overrides && o < rq->overrides[r->source].n; o++)
			strvec_push(&ms->overrides, rq->overrides[r->source].v[o]);
	}
}

/* Back up one source into every live sink.  Returns 0, or the source's
 * failure (the set is then lost), or CAIRN_E_IO when every sink failed. */
static int
backup_source(struct run *r, struct instance *src, char **source_error)
{
	const struct backup_request *rq = r->rq;
	char *key, *err = NULL;
	int rc = 0;

	r->raw = r->stored = 0;
	if (!(key = pipeline_object_key(rq, src, source_error)))
		return CAIRN_E_UNSUPPORTED;
	r->key = key;
	r->sha = sha_new();
	instance_reset(src);
	if (!open_writers(r, key)) {
		rc = CAIRN_E_IO;
		goto out;
	}
	/* the age stage writes its header through fanout at once */
	if (rq->recipients && !(r->cw = crypt_writer_new(rq->recipients, fanout, r, &err))) {
		*source_error = xasprintf("source %s: %s", src->name, err);
		rc = CAIRN_E_IO;
		goto abort_all;
	}
	r->z = compressor_new(rq->job->compression, rq->job->level, rq->job->threads,
	                      r->cw ? encrypt_out : fanout, r, &err);
	if (!r->z) {
		*source_error = xasprintf("source %s: %s", src->name, err);
		rc = CAIRN_E_IO;
		goto abort_all;
	}
	progress_begin(src->name);
	log_info("source %s: backing up to %s", src->name, key);
	rc = rq->backup ? rq->backup(rq->backup_ud, src, &r->out) : op_backup(src, &r->out);
	if (rc == 0 && !cancel_signal)
		rc = compressor_finish(r->z, &err);
	if (rc == 0 && !cancel_signal && r->cw)
		rc = crypt_writer_finish(r->cw, &err);
	progress_end();
	if (cancel_signal)
		rc = CAIRN_E_CANCELLED;
	if (rc == CAIRN_E_CANCELLED) {
		*source_error = xasprintf("interrupted while backing up source %s", src->name);
		goto abort_all;
	}
	if (!alive_count(r)) {
		rc = CAIRN_E_IO; /* every sink failed; each said why */
		goto out;
	}
	if (rc) {
		*source_error = xasprintf("%s: %s", src->ctx.label,
		                          err               ? err
		                          : r->stream_error ? r->stream_error
		                                            : instance_error(src, rc));
		goto abort_all;
	}
	commit_object(r, src, key);
	if (src->ctx.warnings)
		log_warn("source %s: finished with %d warning%s", src->name, src->ctx.warnings,
		         src->ctx.warnings == 1 ? "" : "s");
	rc = alive_count(r) ? 0 : CAIRN_E_IO;
	goto out;

abort_all:
	/* A failed source loses the whole set, in every sink; with
	 * on_source_failure = keep only its own object, which was never
	 * committed.  An interruption always loses the set. */
	for (size_t i = 0; i < rq->nsinks; i++) {
		struct sink_run *s = &r->sinks[i];
		if (s->w) {
			op_abort(s->sink, s->w);
			s->w = NULL;
		}
		if (!r->keep_others || rc == CAIRN_E_CANCELLED)
			sink_rollback(s);
	}
out:
	compressor_free(r->z);
	r->z = NULL;
	crypt_writer_free(r->cw);
	r->cw = NULL;
	EVP_MD_CTX_free(r->sha);
	r->sha = NULL;
	free(r->stream_error);
	r->stream_error = NULL;
	free(err);
	free(key);
	r->key = NULL;
	return rc;
}

/* Write the manifest of this run's set into sink s, which holds every
 * object of it: first checking that no other run's objects stand under
 * the id (set_check_clash), then that every object is still there.  A
 * failure rolls back what the run committed there. */
static void
commit_manifest(const struct backup_request *rq, struct sink_run *s,
                const struct backup_outcome *out, time_t started)
{
	char *key = xasprintf("%s/%s/%s", rq->job->name, rq->id, CAIRN_MANIFEST_NAME);
	char *err = NULL, *json;
	s->m.cairn_version = xstrdup(PACKAGE_VERSION);
	s->m.job = xstrdup(rq->job->name);
	s->m.id = xstrdup(rq->id);
	s->m.host = xstrdup(rq->host ? rq->host : "");
	s->m.sink = xstrdup(s->sink->name);
	s->m.started = started;
	s->m.finished = time(NULL);
	for (size_t f = 0; f < out->nfailed; f++)
		manifest_add_failed(&s->m, out->failed[f].name, out->failed[f].plugin,
		                    out->failed[f].error, 0);
	for (size_t f = 0; f < rq->nskipped; f++)
		manifest_add_failed(&s->m, rq->skipped[f].name, rq->skipped[f].plugin,
		                    rq->skipped[f].error, 1);
	for (size_t k = 0; rq->run_sinks && k < rq->run_sinks->n; k++)
		strvec_push(&s->m.run_sinks, rq->run_sinks->v[k]);
	for (size_t k = 0; k < s->m.nsources; k++)
		s->m.partial = s->m.partial || s->m.sources[k].overrides.n;
	if (rq->recipients)
		crypt_recipients_describe(rq->recipients, &s->m.recipients);
	json = manifest_to_json(&s->m);
	int wrc = CAIRN_E_IO;
	if (strlen(json) > MANIFEST_MAX_BYTES) /* cairn would refuse it */
		err = xasprintf(
		        "%s: the manifest %s would be %zu bytes, more than the limit of %u (16 MiB); the sources record too many statistics",
		        s->sink->ctx.label, key, strlen(json), MANIFEST_MAX_BYTES);
	else if (!(wrc = set_check_clash(s->sink, rq->job->name, rq->id, &s->m, &s->committed,
	                                 &err)))
		wrc = sink_write_all(s->sink, key, json, strlen(json), &err);
	free(json);
	if (!wrc) {
		/* The manifest counts as committed from here on, so a failure
		 * below removes it with the objects. */
		strvec_push(&s->committed, key);
		wrc = set_check_objects(s->sink, rq->job->name, rq->id, &s->committed, &err);
	}
	if (wrc) {
		s->alive = 0;
		s->error = err;
		log_error("%s; this sink gets no backup set from this run", err);
		sink_rollback(s);
	}
	free(key);
}

int
pipeline_backup(const struct backup_request *rq, struct backup_outcome *out)
{
	struct run r = {.out = {.struct_size = sizeof(struct cairn_out), .write = out_write},
	                .rq = rq};
	time_t started = time(NULL);
	int rc = 0;

	memset(out, 0, sizeof(*out));
	out->sinks = xcalloc(rq->nsinks, sizeof(*out->sinks));
	r.sinks = xcalloc(rq->nsinks, sizeof(*r.sinks));
	for (size_t i = 0; i < rq->nsinks; i++) {
		r.sinks[i].sink = rq->sinks[i];
		r.sinks[i].alive = 1;
	}
	r.keep_others = rq->keep_partial;
	size_t stored = 0;
	for (size_t i = 0; i < rq->nsources && !rc; i++) {
		char *serr = NULL;
		struct instance *src = rq->sources[i];
		r.source = i;
		rc = backup_source(&r, src, &serr);
		if (rc && serr && rc != CAIRN_E_CANCELLED && rq->keep_partial && alive_count(&r)) {
			/* this source is lost, the others go on */
			log_error("%s; the set goes on without source %s and will be partial", serr,
			          src->name);
			out->failed =
			        xrealloc(out->failed, (out->nfailed + 1) * sizeof(*out->failed));
			struct manifest_failed *f = &out->failed[out->nfailed++];
			f->name = xstrdup(src->name);
			f->plugin = xstrdup(src->lp->name);
			f->error = serr;
			f->skipped = 0;
			rc = 0;
			continue;
		}
		if (rc)
			out->source_error = serr;
		else
			stored++;
		out->raw_bytes += r.raw;
		out->stored_bytes += r.stored;
	}
	if (!rc && !stored && out->nfailed) {
		/* every source failed: there is no set to keep */
		out->source_error = xstrdup(out->failed[0].error);
		rc = CAIRN_E_IO;
		log_error("every source of job %s failed; no backup set was written",
		          rq->job->name);
	} else if (rc && out->source_error) {
		log_error("%s; no backup set was written", out->source_error);
	}
	for (size_t i = 0; i < rq->nsinks; i++) {
		struct sink_run *s = &r.sinks[i];
		if (s->alive && !rc)
			commit_manifest(rq, s, out, started);
		out->sinks[i].ok = s->alive && !rc;
		out->sinks[i].error = s->error;
		if (!out->sinks[i].ok && !s->error)
			out->sinks[i].error = xstrdup(out->source_error ? out->source_error
			                                                : "the backup failed");
		if (!out->sinks[i].ok)
			sink_rollback(s);
		strvec_free(&s->committed);
		manifest_clear(&s->m);
	}
	out->cancelled = rc == CAIRN_E_CANCELLED;
	if (!rc)
		for (size_t i = 0; i < rq->nsinks; i++)
			if (!out->sinks[i].ok)
				rc = CAIRN_E_IO;
	free(r.sinks);
	return rc;
}

void
backup_outcome_free(struct backup_outcome *out, size_t nsinks)
{
	for (size_t i = 0; out->sinks && i < nsinks; i++)
		free(out->sinks[i].error);
	free(out->sinks);
	free(out->source_error);
	for (size_t i = 0; i < out->nfailed; i++) {
		free(out->failed[i].name);
		free(out->failed[i].plugin);
		free(out->failed[i].error);
	}
	free(out->failed);
	memset(out, 0, sizeof(*out));
}

/* ---------------------------------------------------- reading objects */

struct object_stream {
	struct cairn_in in; /* first: the source's reader */
	struct instance *sink;
	const struct manifest_source *ms;
	cairn_sink_reader *r;
	EVP_MD_CTX *sha;
	uint64_t stored, raw;
	struct decompressor *z;
	struct crypt_reader *cr; /* between the hashing and z, when encrypted */
	char *err;
	int rc;         /* first failure of the stream itself */
	int checked;    /* the end was reached and size and SHA-256 matched */
	int decompress; /* the consumer reads decompressed bytes */
};

static int object_check(struct object_stream *os, char **err);

static ssize_t
pull_stored(void *ud, void *buf, size_t len)
{
	struct object_stream *os = ud;
	ssize_t n;
	if (cancel_signal)
		return CAIRN_E_CANCELLED;
	n = op_read(os->sink, os->r, buf, len);
	if (n < 0) {
		if (!os->err)
			os->err = xasprintf("%s: reading %s failed: %s", os->sink->ctx.label,
			                    os->ms->object, instance_error(os->sink, (int)n));
		os->rc = (int)n;
		return n;
	}
	EVP_DigestUpdate(os->sha, buf, (size_t)n);
	os->stored += (uint64_t)n;
	/* progress counts the stored bytes, against the manifest's
	 * stored_bytes: known before a byte is read */
	progress_add((uint64_t)n);
	return n;
}

/* The decompressor's input when the object is encrypted: the stored
 * bytes (hashed by pull_stored) decrypted, only what authenticated. */
static ssize_t
pull_decrypted(void *ud, void *buf, size_t len)
{
	struct object_stream *os = ud;
	char *err = NULL;
	int code = 0;
	ssize_t n = crypt_reader_read(os->cr, buf, len, &code, &err);
	if (n >= 0)
		return n;
	if (code && !os->err)
		os->err = xasprintf("%s: %s", os->sink->ctx.label, err);
	if (code && !os->rc)
		os->rc = code;
	free(err);
	return os->rc ? os->rc : CAIRN_E_IO;
}

/* The source's reader.  The end of the stream is only ever reported
 * after the whole stored object was read and matched the manifest (ABI
 * 1.1): a source that stages its restore publishes on that 0 and nothing
 * else, so a damaged last byte must show up here, not after. */
static ssize_t
in_read(struct cairn_in *in, void *buf, size_t len)
{
	struct object_stream *os = (struct object_stream *)in;
	char *err = NULL;
	ssize_t n;
	if (os->rc)
		return os->rc; /* a failed stream stays failed */
	if (os->checked)
		return 0;
	n = decompressor_read(os->z, buf, len, &err);
	if (n < 0) {
		if (err && !os->err)
			os->err =
			        xasprintf("%s in %s: %s", os->sink->ctx.label, os->ms->object, err);
		free(err);
		if (!os->rc)
			os->rc = (int)n;
		return n;
	}
	if (n == 0) {
		int rc = object_check(os, &err);
		if (rc) {
			if (!os->err)
				os->err = err;
			else
				free(err);
			os->rc = rc;
			return rc;
		}
		return 0;
	}
	os->raw += (uint64_t)n;
	return n;
}

static int
object_open(struct object_stream *os, struct instance *sink, const struct manifest_source *ms,
            char **err)
{
	enum compression c;
	int rc;
	memset(os, 0, sizeof(*os));
	os->in.struct_size = sizeof(struct cairn_in);
	os->in.read = in_read;
	os->sink = sink;
	os->ms = ms;
	if (parse_compression(ms->compression, &c)) {
		*err = xasprintf("%s: the manifest names an unknown compression \"%s\"", ms->object,
		                 ms->compression);
		return CAIRN_E_CORRUPT;
	}
	if (ms->encryption && strcmp(ms->encryption, CRYPT_AGE) != 0) {
		char *shown = str_escape(ms->encryption);
		*err = xasprintf(
		        "%s: the manifest names an unknown encryption \"%s\"; a newer cairn may read it",
		        ms->object, shown);
		free(shown);
		return CAIRN_E_CORRUPT;
	}
	rc = op_open_read(sink, ms->object, &os->r);
	if (rc == CAIRN_E_NOTFOUND) {
		/* The manifest is the set's promise: an object it names and the
		 * sink lacks is damage, like a wrong checksum. */
		*err = xasprintf(
		        "%s: %s is missing although the manifest of %s names it: the stored backup is damaged",
		        sink->ctx.label, ms->object, ms->name);
		os->r = NULL;
		return CAIRN_E_CORRUPT;
	}
	if (rc) {
		*err = xasprintf("%s: cannot read %s: %s", sink->ctx.label, ms->object,
		                 instance_error(sink, rc));
		os->r = NULL;
		return rc;
	}
	os->sha = sha_new();
	if (ms->encryption) { /* fails, if it must, only once read */
		os->cr = crypt_reader_new(crypt_identities(), ms->object, pull_stored, os);
		if (ms->set_recipients)
			crypt_reader_expect(os->cr, ms->set_recipients);
	}
	os->z = decompressor_new(c, os->cr ? pull_decrypted : pull_stored, os, err);
	if (!os->z) {
		crypt_reader_free(os->cr);
		op_close_read(sink, os->r);
		EVP_MD_CTX_free(os->sha);
		return CAIRN_E_UNSUPPORTED;
	}
	return 0;
}

/* At the end of the decompressed stream: read what follows it in the
 * stored object (nothing, unless it was damaged or extended), then
 * compare size, SHA-256 and the raw size with the manifest.  Runs once. */
static int
object_check(struct object_stream *os, char **err)
{
	char *buf = xmalloc(CAIRN_BUFSIZE);
	ssize_t n = 0;
	char sha[65] = "";
	int rc = 0;
	if (os->cr && os->decompress) /* the age stream to its proven end */
		do
			n = pull_decrypted(os, buf, CAIRN_BUFSIZE);
		while (n > 0);
	if (n == 0) /* and the rest of the stored object */
		do
			n = pull_stored(os, buf, CAIRN_BUFSIZE);
		while (n > 0);
	free(buf);
	if (n < 0) {
		*err = os->err ? xstrdup(os->err) : xasprintf("reading %s failed", os->ms->object);
		return os->rc ? os->rc : (int)n;
	}
	sha_hex(os->sha, sha);
	if (os->stored != os->ms->stored_bytes) {
		*err = xasprintf(
		        "%s: %s has %llu bytes, the manifest says %llu: the stored backup is damaged",
		        os->sink->ctx.label, os->ms->object, (unsigned long long)os->stored,
		        (unsigned long long)os->ms->stored_bytes);
		rc = CAIRN_E_CORRUPT;
	} else if (strcmp(sha, os->ms->sha256) != 0) {
		*err = xasprintf(
		        "%s: %s has SHA-256 %s, the manifest says %s: the stored backup is damaged",
		        os->sink->ctx.label, os->ms->object, sha, os->ms->sha256);
		rc = CAIRN_E_CORRUPT;
	} else if (os->decompress && os->raw != os->ms->raw_bytes) {
		*err = xasprintf(
		        "%s: %s decompresses to %llu bytes, the manifest says %llu: the stored backup is damaged",
		        os->sink->ctx.label, os->ms->object, (unsigned long long)os->raw,
		        (unsigned long long)os->ms->raw_bytes);
		rc = CAIRN_E_CORRUPT;
	}
	if (!rc)
		os->checked = 1;
	return rc;
}

/* Read what the consumer left unread (tar's trailing blocks, say), so that
 * size and checksum cover the whole object, and check it. */
static int
object_finish(struct object_stream *os, char **err)
{
	char *buf;
	ssize_t n;
	if (os->checked)
		return 0;
	if (!os->decompress)
		return object_check(os, err);
	buf = xmalloc(CAIRN_BUFSIZE);
	do
		n = in_read(&os->in, buf, CAIRN_BUFSIZE);
	while (n > 0);
	free(buf);
	if (n < 0) {
		*err = os->err ? xstrdup(os->err) : xasprintf("reading %s failed", os->ms->object);
		return os->rc ? os->rc : (int)n;
	}
	return 0;
}

static void
object_close(struct object_stream *os)
{
	if (os->r)
		op_close_read(os->sink, os->r);
	decompressor_free(os->z);
	crypt_reader_free(os->cr);
	EVP_MD_CTX_free(os->sha);
	free(os->err);
}

/* The error of a source op that read from os: the stream's own failure
 * (damaged data, a sink that broke) explains more than the source's. */
static char *
consumer_error(struct object_stream *os, struct instance *source, int rc)
{
	if (os->rc && os->err)
		return xstrdup(os->err);
	return xasprintf("%s: %s", source->ctx.label, instance_error(source, rc));
}

/* Read one object through to its end and check it, decompressing when
 * asked (which also checks the compressor's own checksums). */
static int
object_scan(struct instance *sink, const struct manifest_source *ms, int decompress, char **err)
{
	struct object_stream os;
	int rc = object_open(&os, sink, ms, err);
	if (rc)
		return rc;
	os.decompress = decompress;
	rc = object_finish(&os, err);
	object_close(&os);
	return rc;
}

int
pipeline_object_open(struct instance *sink, const struct manifest_source *ms,
                     struct object_stream **out, char **err)
{
	struct object_stream *os = xmalloc(sizeof(*os));
	int rc = object_open(os, sink, ms, err);
	if (rc) {
		free(os);
		*out = NULL;
		return rc;
	}
	os->decompress = 1;
	*out = os;
	return 0;
}

struct cairn_in *
pipeline_object_in(struct object_stream *os)
{
	return &os->in;
}

int
pipeline_object_finish(struct object_stream *os, char **err)
{
	return object_finish(os, err);
}

int
pipeline_object_failed(const struct object_stream *os, char **err)
{
	if (os->rc && os->err)
		*err = xstrdup(os->err);
	return os->rc;
}

void
pipeline_object_close(struct object_stream *os)
{
	if (os) {
		object_close(os);
		free(os);
	}
}

int
pipeline_object_scan(struct instance *sink, const struct manifest_source *ms, char **err)
{
	return object_scan(sink, ms, 1, err);
}

int
pipeline_object_sums(struct instance *sink, const struct manifest_source *ms, char **err)
{
	return object_scan(sink, ms, 0, err);
}

int
pipeline_restore(struct instance *sink, const struct manifest_source *ms, struct instance *source,
                 unsigned flags, char **err)
{
	struct object_stream os;
	int staged = (source->lp->source.flags & CAIRN_SOURCE_STAGED_RESTORE) != 0;
	int rc;

	if (!staged) {
		/* The source writes into its target as it reads: prove the
		 * whole object good before it sees a byte.  It is read twice;
		 * the second read is checked again, since the sink is not
		 * trusted to return the same bytes.  Each read is a phase of
		 * its own on the progress line. */
		log_info("%s: checking %s before restoring it", source->ctx.label, ms->object);
		progress_begin_phase(source->name, "checking");
		progress_total(ms->stored_bytes);
		rc = object_scan(sink, ms, 1, err);
		progress_end();
		if (rc)
			goto out;
	}
	progress_begin_phase(source->name, "restoring");
	progress_total(ms->stored_bytes);
	rc = object_open(&os, sink, ms, err);
	if (rc)
		goto out;
	os.decompress = 1;
	instance_reset(source);
	rc = op_restore(source, &os.in, flags);
	if (rc) {
		*err = consumer_error(&os, source, rc);
		if (os.rc && os.rc != CAIRN_E_CANCELLED)
			rc = os.rc == CAIRN_E_CORRUPT ? CAIRN_E_CORRUPT : os.rc;
	} else {
		rc = object_finish(&os, err);
		if (rc == CAIRN_E_CORRUPT && !staged) {
			char *e = xasprintf(
			        "%s; the sink returned other bytes than when they were checked, so the restored data may be damaged",
			        *err);
			free(*err);
			*err = e;
		} else if (rc == CAIRN_E_CORRUPT) {
			/* The source published without reading to the end of
			 * the stream, against its own flag. */
			char *e = xasprintf("%s; %s restored it without reading it to the end",
			                    *err, source->ctx.label);
			free(*err);
			*err = e;
		}
	}
	object_close(&os);
out:
	progress_end();
	if (cancel_signal)
		rc = CAIRN_E_CANCELLED;
	return rc;
}

int
pipeline_verify(struct instance *sink, const struct manifest_source *ms, struct instance *source,
                char **err)
{
	struct object_stream os;
	int rc = object_open(&os, sink, ms, err);
	if (rc)
		return rc;
	os.decompress = source != NULL;
	progress_begin(ms->name);
	progress_total(ms->stored_bytes);
	if (source && source->lp->source.verify) {
		instance_reset(source);
		rc = op_verify(source, &os.in);
		if (rc)
			*err = consumer_error(&os, source, rc);
	}
	if (!rc)
		rc = object_finish(&os, err);
	progress_end();
	if (cancel_signal)
		rc = CAIRN_E_CANCELLED;
	object_close(&os);
	return rc;
}

int
pipeline_restore_test(struct instance *sink, const struct manifest_source *ms,
                      struct instance *source, char **err)
{
	struct object_stream os;
	int rc = object_open(&os, sink, ms, err);
	if (rc)
		return rc;
	os.decompress = 1;
	progress_begin(ms->name);
	progress_total(ms->stored_bytes);
	instance_reset(source);
	/* One read: the source loads the data somewhere harmless (its
	 * scratch directory, a temporary database) while the stream is
	 * checked as it goes.  No pre-check is needed, since nothing the
	 * user keeps is touched; but when the source gives up on bytes it
	 * cannot parse, the rest is read so that damage is called damage
	 * rather than the source's complaint about it. */
	rc = op_restore_test(source, &os.in);
	if (rc) {
		char *serr = consumer_error(&os, source, rc);
		char *ferr = NULL;
		if (!os.rc && rc != CAIRN_E_CANCELLED && !cancel_signal &&
		    object_finish(&os, &ferr) == CAIRN_E_CORRUPT) {
			*err = ferr;
			free(serr);
			rc = CAIRN_E_CORRUPT;
		} else {
			free(ferr);
			*err = serr;
			if (os.rc && os.rc != CAIRN_E_CANCELLED)
				rc = os.rc;
		}
	} else {
		rc = object_finish(&os, err);
	}
	progress_end();
	if (cancel_signal)
		rc = CAIRN_E_CANCELLED;
	object_close(&os);
	return rc;
}

/* pipeline_copy's writing side: the stream's bytes, unchanged, into w. */
static int
copy_stream(struct object_stream *os, struct instance *to, cairn_sink_writer *w, char **err)
{
	char *buf = xmalloc(CAIRN_BUFSIZE);
	int rc = 0;
	for (;;) {
		ssize_t n = pull_stored(os, buf, CAIRN_BUFSIZE);
		if (n < 0) {
			rc = os->rc ? os->rc : (int)n;
			*err = os->err ? xstrdup(os->err)
			               : xasprintf("reading %s failed: %s", os->ms->object,
			                           status_str(rc));
			break;
		}
		if (n == 0)
			break;
		if ((rc = op_write(to, w, buf, (size_t)n)) != 0) {
			*err = xasprintf("%s: writing %s failed: %s", to->ctx.label, os->ms->object,
			                 instance_error(to, rc));
			break;
		}
		progress_add((uint64_t)n);
	}
	free(buf);
	return rc ? rc : object_check(os, err);
}

int
pipeline_copy(struct instance *from, struct instance *to, const struct manifest_source *ms,
              char **err)
{
	struct object_stream os;
	cairn_sink_writer *w = NULL;
	int rc = object_open(&os, from, ms, err);
	if (rc)
		return rc;
	progress_begin(ms->name);
	progress_total(ms->stored_bytes);
	rc = op_open_write(to, ms->object, &w);
	if (rc) {
		*err = xasprintf("%s: cannot write %s: %s", to->ctx.label, ms->object,
		                 instance_error(to, rc));
	} else if ((rc = copy_stream(&os, to, w, err)) != 0) {
		op_abort(to, w); /* nothing of a damaged or unread object stays */
	} else if ((rc = op_commit(to, w)) != 0) {
		*err = xasprintf("%s: cannot commit %s: %s", to->ctx.label, ms->object,
		                 instance_error(to, rc));
	}
	progress_end();
	object_close(&os);
	if (cancel_signal)
		rc = CAIRN_E_CANCELLED;
	return rc;
}
