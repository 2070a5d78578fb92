/*
 * upload.c - the s3 sink's writer.
 *
 * write() only copies into the part being filled.  A stream that ends
 * within the first part becomes one PUT at commit.  Once a byte follows a
 * full first part, the writer starts a multipart upload and from then on
 * hands each full part to upload_concurrency worker threads, each with
 * its own curl handle, and goes on filling the next one: the source and
 * the job's other sinks wait for the network only when every part buffer
 * is in flight.  At most upload_concurrency + 1 part buffers exist.
 *
 * Each part carries Content-MD5 and its SHA-256 as the signed payload
 * hash, so the store checks every byte.  A part that fails is retried
 * alone (s3_request); a part that fails for good stops the others and
 * makes the next write() or commit() fail.  commit() waits for the parts
 * and completes the upload; abort() stops the workers and sends
 * AbortMultipartUpload, so a failed backup leaves no parts behind.
 *
 * The workers never call into the host: they report through the writer,
 * and the op's thread turns that into set_error.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "s3_internal.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* The first part buffer starts this small and doubles as it fills, so a
 * manifest of a few KiB does not take part_size of memory. */
#define S3_FIRST_BUF (64u << 10)
/* How often a waiting op thread looks at host->cancelled. */
#define S3_WAIT_MS 200

struct s3_part {
	unsigned char *buf;
	size_t cap, len;
	int number; /* 1-based */
	struct s3_part *next;
};

struct cairn_sink_writer {
	struct s3 *s3;
	char *key;  /* the core's key */
	char *full; /* the key in the bucket */
	char *upload_id;
	char *enc_id; /* upload_id, URI-encoded for the query */
	struct s3_part *cur;
	uint64_t total;
	int next_number;
	int broken; /* a write failed: commit must not publish */

	pthread_mutex_t mu;
	pthread_cond_t cv;
	pthread_t *threads;
	int nthreads;
	struct s3_part *qhead, *qtail; /* full parts waiting for a worker */
	struct s3_part *free_list;
	int nbufs;    /* part buffers allocated */
	int inflight; /* parts queued or being sent */
	int closing;  /* commit: workers leave once the queue is empty */
	atomic_int stop;
	int failed; /* a part failed for good: fst says how */
	struct s3_status fst;
	char (*etags)[128]; /* by part number - 1 */
	int etag_cap;
};

/* ------------------------------------------------------------- helpers */

static struct curl_slist *
s3_object_headers(struct s3 *s3, int *bad)
{
	struct curl_slist *h = NULL, *n;
	char line[512];

	if (s3->storage_class) {
		snprintf(line, sizeof(line), "x-amz-storage-class: %s", s3->storage_class);
		if (!(n = curl_slist_append(h, line)))
			goto oom;
		h = n;
	}
	if (s3->sse) {
		snprintf(line, sizeof(line), "x-amz-server-side-encryption: %s", s3->sse);
		if (!(n = curl_slist_append(h, line)))
			goto oom;
		h = n;
	}
	if (s3->kms_key_id) {
		snprintf(line, sizeof(line), "x-amz-server-side-encryption-aws-kms-key-id: %s",
		         s3->kms_key_id);
		if (!(n = curl_slist_append(h, line)))
			goto oom;
		h = n;
	}
	return h;
oom:
	curl_slist_free_all(h);
	*bad = 1;
	return NULL;
}

static void
s3_part_free(struct s3_part *p)
{
	if (!p)
		return;
	free(p->buf);
	free(p);
}

static void
s3_deadline(struct timespec *ts, long ms)
{
	clock_gettime(CLOCK_REALTIME, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Wait on the writer's condition for a while; the caller holds mu.
 * Returns non-zero when the run is being stopped (and then stops the
 * workers too). */
static int
s3_wait(cairn_sink_writer *w)
{
	struct timespec ts;

	s3_deadline(&ts, S3_WAIT_MS);
	pthread_cond_timedwait(&w->cv, &w->mu, &ts);
	if (s3_host->cancelled(w->s3->ctx)) {
		atomic_store(&w->stop, 1);
		pthread_cond_broadcast(&w->cv);
		return 1;
	}
	return 0;
}

/* ------------------------------------------------------------- workers */

static void *
s3_worker(void *arg)
{
	cairn_sink_writer *w = arg;
	struct s3 *s3 = w->s3;
	CURL *curl = s3_curl_new();
	struct s3_req r = {.range_from = -1};
	struct s3_status st;
	struct s3_part *p;
	char query[1200];
	int rc;

	for (;;) {
		pthread_mutex_lock(&w->mu);
		while (!w->qhead && !atomic_load(&w->stop) && !w->closing)
			pthread_cond_wait(&w->cv, &w->mu);
		if (atomic_load(&w->stop) || !w->qhead) {
			pthread_mutex_unlock(&w->mu);
			break;
		}
		p = w->qhead;
		w->qhead = p->next;
		if (!w->qhead)
			w->qtail = NULL;
		pthread_mutex_unlock(&w->mu);

		memset(&st, 0, sizeof(st));
		if (!curl) {
			rc = s3_fail(&st, CAIRN_E_NOMEM, "s3://%s/%s: cannot start libcurl",
			             s3->bucket, w->full);
		} else {
			/* Sorted: partNumber before uploadId. */
			snprintf(query, sizeof(query), "partNumber=%d&uploadId=%s", p->number,
			         w->enc_id);
			memset(&r, 0, sizeof(r));
			r.range_from = -1;
			r.method = "PUT";
			r.key = w->full;
			r.query = query;
			r.what = "upload of a part";
			r.body = p->buf;
			r.body_len = p->len;
			r.md5 = 1;
			r.stop = &w->stop;
			if (s3->max_rate > 0)
				r.max_send_speed = s3->max_rate / s3->concurrency
				                           ? s3->max_rate / s3->concurrency
				                           : 1;
			rc = s3_request(s3, curl, &r, &st);
			if (!rc && !r.etag[0])
				rc = s3_fail(
				        &st, CAIRN_E_CORRUPT,
				        "s3://%s/%s: the store answered part %d without an ETag; check that endpoint is an S3 store",
				        s3->bucket, w->full, p->number);
			if (!rc && strlen(r.etag) >= sizeof(w->etags[0]))
				rc = s3_fail(&st, CAIRN_E_CORRUPT,
				             "s3://%s/%s: the ETag of part %d is too long",
				             s3->bucket, w->full, p->number);
		}
		pthread_mutex_lock(&w->mu);
		if (!rc) {
			strcpy(w->etags[p->number - 1], r.etag);
		} else if (!w->failed) {
			w->failed = 1;
			w->fst = st;
			/* The upload cannot complete: the others need not go on. */
			atomic_store(&w->stop, 1);
		}
		s3_req_reset(&r);
		p->len = 0;
		p->next = w->free_list;
		w->free_list = p;
		w->inflight--;
		pthread_cond_broadcast(&w->cv);
		pthread_mutex_unlock(&w->mu);
	}
	s3_req_reset(&r);
	if (curl)
		curl_easy_cleanup(curl);
	return NULL;
}

/* Stop or finish the workers and wait for them. */
static void
s3_join(cairn_sink_writer *w, int stop)
{
	int i;

	pthread_mutex_lock(&w->mu);
	if (stop)
		atomic_store(&w->stop, 1);
	w->closing = 1;
	pthread_cond_broadcast(&w->cv);
	pthread_mutex_unlock(&w->mu);
	for (i = 0; i < w->nthreads; i++)
		pthread_join(w->threads[i], NULL);
	w->nthreads = 0;
}

static int
s3_start_workers(cairn_sink_writer *w)
{
	struct s3 *s3 = w->s3;
	sigset_t all, old;
	int i, err = 0;

	w->threads = calloc((size_t)s3->concurrency, sizeof(*w->threads));
	if (!w->threads)
		return s3_fail(&w->fst, CAIRN_E_NOMEM, "s3://%s/%s: out of memory", s3->bucket,
		               w->full);
	/* Signals are the main program's business: the workers take none. */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	for (i = 0; i < s3->concurrency; i++) {
		err = pthread_create(&w->threads[i], NULL, s3_worker, w);
		if (err)
			break;
		w->nthreads++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (!w->nthreads)
		return s3_fail(&w->fst, CAIRN_E_NOMEM,
		               "s3://%s/%s: cannot start an upload thread: %s", s3->bucket, w->full,
		               strerror(err));
	return 0; /* fewer threads than asked still upload everything */
}

/* ------------------------------------------------------------ multipart */

/* CreateMultipartUpload, then the workers. */
static int
s3_multipart_start(cairn_sink_writer *w)
{
	struct s3 *s3 = w->s3;
	struct s3_req r = {.range_from = -1};
	struct s3_status st = {0};
	int rc, bad = 0;

	if (!s3->curl && !(s3->curl = s3_curl_new()))
		return s3_fail(&w->fst, CAIRN_E_NOMEM, "s3://%s/%s: cannot start libcurl",
		               s3->bucket, w->full);
	r.method = "POST";
	r.key = w->full;
	r.query = "uploads=";
	r.what = "start of a multipart upload";
	r.ctx = s3->ctx;
	r.headers = s3_object_headers(s3, &bad);
	if (bad)
		return s3_fail(&w->fst, CAIRN_E_NOMEM, "s3://%s/%s: out of memory", s3->bucket,
		               w->full);
	rc = s3_request(s3, s3->curl, &r, &st);
	curl_slist_free_all(r.headers);
	if (rc) {
		w->fst = st;
		s3_req_reset(&r);
		return rc;
	}
	w->upload_id = s3_xml_upload_id(r.resp, r.resp_len);
	s3_req_reset(&r);
	if (!w->upload_id)
		return s3_fail(
		        &w->fst, CAIRN_E_CORRUPT,
		        "s3://%s/%s: the store's answer to CreateMultipartUpload has no UploadId; check that endpoint is an S3 store",
		        s3->bucket, w->full);
	if (!(w->enc_id = s3_uri_encode(w->upload_id, 0)))
		return s3_fail(&w->fst, CAIRN_E_NOMEM, "s3://%s/%s: out of memory", s3->bucket,
		               w->full);
	return s3_start_workers(w);
}

/* Queue the current part for the workers. */
static int
s3_submit(cairn_sink_writer *w)
{
	struct s3 *s3 = w->s3;
	struct s3_part *p = w->cur;

	if (w->next_number > S3_MAX_PARTS)
		return s3_fail(
		        &w->fst, CAIRN_E_CONFIG,
		        "s3://%s/%s: the object needs more than %d parts of %zu bytes: raise part_size",
		        s3->bucket, w->full, S3_MAX_PARTS, s3->part_size);
	if (w->next_number > w->etag_cap) {
		int cap = w->etag_cap ? 2 * w->etag_cap : 64;
		void *g;
		if (cap > S3_MAX_PARTS)
			cap = S3_MAX_PARTS;
		pthread_mutex_lock(&w->mu);
		g = realloc(w->etags, (size_t)cap * sizeof(*w->etags));
		if (g) {
			w->etags = g;
			w->etag_cap = cap;
		}
		pthread_mutex_unlock(&w->mu);
		if (!g)
			return s3_fail(&w->fst, CAIRN_E_NOMEM, "s3://%s/%s: out of memory",
			               s3->bucket, w->full);
	}
	p->number = w->next_number++;
	p->next = NULL;
	w->cur = NULL;
	pthread_mutex_lock(&w->mu);
	if (w->qtail)
		w->qtail->next = p;
	else
		w->qhead = p;
	w->qtail = p;
	w->inflight++;
	pthread_cond_signal(&w->cv);
	pthread_mutex_unlock(&w->mu);
	return 0;
}

/* A free part buffer into w->cur, waiting for a worker when all
 * upload_concurrency + 1 are taken. */
static int
s3_take_buffer(cairn_sink_writer *w)
{
	struct s3 *s3 = w->s3;
	struct s3_part *p = NULL;

	pthread_mutex_lock(&w->mu);
	for (;;) {
		if (w->failed) {
			pthread_mutex_unlock(&w->mu);
			return w->fst.rc;
		}
		if (w->free_list) {
			p = w->free_list;
			w->free_list = p->next;
			break;
		}
		if (w->nbufs < s3->concurrency + 1) {
			w->nbufs++;
			break;
		}
		if (s3_wait(w)) {
			pthread_mutex_unlock(&w->mu);
			return s3_fail(&w->fst, CAIRN_E_CANCELLED, "s3://%s/%s: upload stopped",
			               s3->bucket, w->full);
		}
	}
	pthread_mutex_unlock(&w->mu);
	if (!p) {
		size_t cap = w->upload_id ? s3->part_size : S3_FIRST_BUF;
		if (cap > s3->part_size)
			cap = s3->part_size;
		p = calloc(1, sizeof(*p));
		if (!p || !(p->buf = malloc(cap))) {
			free(p);
			pthread_mutex_lock(&w->mu);
			w->nbufs--;
			pthread_mutex_unlock(&w->mu);
			return s3_fail(
			        &w->fst, CAIRN_E_NOMEM,
			        "s3://%s/%s: out of memory for a part of %zu bytes: lower part_size or upload_concurrency",
			        s3->bucket, w->full, s3->part_size);
		}
		p->cap = cap;
	}
	p->len = 0;
	w->cur = p;
	return 0;
}

/* ------------------------------------------------------------ the ops */

static void
s3_writer_free(cairn_sink_writer *w)
{
	struct s3_part *p, *n;

	if (!w)
		return;
	s3_part_free(w->cur);
	for (p = w->qhead; p; p = n) {
		n = p->next;
		s3_part_free(p);
	}
	for (p = w->free_list; p; p = n) {
		n = p->next;
		s3_part_free(p);
	}
	pthread_mutex_destroy(&w->mu);
	pthread_cond_destroy(&w->cv);
	free(w->threads);
	free(w->etags);
	free(w->enc_id);
	free(w->upload_id);
	free(w->full);
	free(w->key);
	free(w);
}

int
s3_open_write(void *instance, const char *key, cairn_sink_writer **writer)
{
	struct s3 *s3 = instance;
	struct s3_status st = {0};
	cairn_sink_writer *w;

	*writer = NULL;
	w = calloc(1, sizeof(*w));
	if (!w)
		return s3_fail(&st, CAIRN_E_NOMEM, "out of memory"), s3_report(s3, &st);
	w->s3 = s3;
	w->next_number = 1;
	pthread_mutex_init(&w->mu, NULL);
	pthread_cond_init(&w->cv, NULL);
	atomic_init(&w->stop, 0);
	if (!(w->full = s3_full_key(s3, key, &st)) || !(w->key = strdup(key))) {
		if (!st.rc)
			s3_fail(&st, CAIRN_E_NOMEM, "out of memory");
		s3_writer_free(w);
		return s3_report(s3, &st);
	}
	*writer = w;
	return 0;
}

int
s3_write(cairn_sink_writer *w, const void *buf, size_t len)
{
	struct s3 *s3 = w->s3;
	const unsigned char *p = buf;
	int rc;

	if (w->broken) {
		return s3_error(s3, CAIRN_E_IO, "s3://%s/%s: an earlier write failed", s3->bucket,
		                w->full);
	}
	while (len) {
		size_t n;
		if (!w->cur && (rc = s3_take_buffer(w)))
			goto fail;
		if (w->cur->len == s3->part_size) {
			/* A byte follows a full part: it goes out now. */
			if (!w->upload_id && (rc = s3_multipart_start(w)))
				goto fail;
			if ((rc = s3_submit(w)))
				goto fail;
			continue;
		}
		if (w->cur->len == w->cur->cap) {
			/* The first buffer grows towards part_size. */
			size_t cap =
			        w->cur->cap * 2 > s3->part_size ? s3->part_size : w->cur->cap * 2;
			unsigned char *g = realloc(w->cur->buf, cap);
			if (!g) {
				rc = s3_fail(
				        &w->fst, CAIRN_E_NOMEM,
				        "s3://%s/%s: out of memory for a part of %zu bytes: lower part_size",
				        s3->bucket, w->full, cap);
				goto fail;
			}
			w->cur->buf = g;
			w->cur->cap = cap;
		}
		n = w->cur->cap - w->cur->len;
		if (n > len)
			n = len;
		memcpy(w->cur->buf + w->cur->len, p, n);
		w->cur->len += n;
		w->total += n;
		p += n;
		len -= n;
	}
	/* Report a part that failed meanwhile now, not only at commit. */
	pthread_mutex_lock(&w->mu);
	rc = w->failed ? w->fst.rc : 0;
	pthread_mutex_unlock(&w->mu);
	if (!rc)
		return 0;
fail:
	w->broken = 1;
	s3_report(s3, &w->fst);
	return rc;
}

static void
s3_xml_escape_into(char *dst, size_t size, const char *src)
{
	size_t o = 0;

	for (; *src && o + 7 < size; src++) {
		const char *rep = NULL;
		switch (*src) {
		case '&': rep = "&amp;"; break;
		case '<': rep = "&lt;"; break;
		case '>': rep = "&gt;"; break;
		case '"': rep = "&quot;"; break;
		}
		if (rep) {
			memcpy(dst + o, rep, strlen(rep));
			o += strlen(rep);
		} else {
			dst[o++] = *src;
		}
	}
	dst[o] = '\0';
}

/* The body of CompleteMultipartUpload, malloc'd. */
static char *
s3_complete_xml(cairn_sink_writer *w, size_t *len)
{
	int parts = w->next_number - 1, i;
	size_t cap = 128 + (size_t)parts * 400, o;
	char *x = malloc(cap), etag[300];

	if (!x)
		return NULL;
	o = (size_t)snprintf(
	        x, cap,
	        "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">");
	for (i = 0; i < parts; i++) {
		s3_xml_escape_into(etag, sizeof(etag), w->etags[i]);
		o += (size_t)snprintf(x + o, cap - o,
		                      "<Part><PartNumber>%d</PartNumber><ETag>%s</ETag></Part>",
		                      i + 1, etag);
	}
	o += (size_t)snprintf(x + o, cap - o, "</CompleteMultipartUpload>");
	*len = o;
	return x;
}

/* Send AbortMultipartUpload; failures are a warning (the parts stay
 * until a lifecycle rule or a person removes them). */
static void
s3_multipart_abort(cairn_sink_writer *w)
{
	struct s3 *s3 = w->s3;
	struct s3_req r = {.range_from = -1};
	struct s3_status st = {0};
	char query[1200];
	int rc;

	if (!w->upload_id || (!s3->curl && !(s3->curl = s3_curl_new())))
		return;
	snprintf(query, sizeof(query), "uploadId=%s", w->enc_id);
	r.method = "DELETE";
	r.key = w->full;
	r.query = query;
	r.what = "abort of a multipart upload";
	rc = s3_request(s3, s3->curl, &r, &st);
	/* 404 NoSuchUpload: gone already.  Any other refusal (s3rver's 405
	 * among them) may leave the parts: say which upload. */
	if (rc && r.http != 404)
		s3_log(s3, CAIRN_LOG_WARN,
		       "%s; the parts of upload %s of s3://%s/%s may stay in the bucket (and be billed) until removed: add an AbortIncompleteMultipartUpload lifecycle rule",
		       st.msg, w->upload_id, s3->bucket, w->full);
	s3_req_reset(&r);
}

/* CompleteMultipartUpload, retried also when a 200 carries an <Error>
 * (S3 may answer so once it has started sending the answer). */
static int
s3_multipart_complete(cairn_sink_writer *w, struct s3_status *st)
{
	struct s3 *s3 = w->s3;
	struct s3_req r = {.range_from = -1};
	char query[1200], code[128], msg[512];
	size_t len;
	char *body = s3_complete_xml(w, &len);
	int rc = 0, attempt, ok;

	if (!body)
		return s3_fail(st, CAIRN_E_NOMEM, "s3://%s/%s: out of memory", s3->bucket, w->full);
	snprintf(query, sizeof(query), "uploadId=%s", w->enc_id);
	for (attempt = 0;; attempt++) {
		memset(&r, 0, sizeof(r));
		r.range_from = -1;
		r.method = "POST";
		r.key = w->full;
		r.query = query;
		r.what = "completion of a multipart upload";
		r.body = (const unsigned char *)body;
		r.body_len = len;
		r.content_type = "application/xml";
		r.ctx = s3->ctx;
		rc = s3_request(s3, s3->curl, &r, st);
		if (rc == CAIRN_E_NOTFOUND && attempt > 0) {
			/* NoSuchUpload after a retry: the earlier attempt may
			 * have completed it and lost only the answer. */
			struct s3_req h = {.range_from = -1};
			struct s3_status hst = {0};
			h.method = "HEAD";
			h.key = w->full;
			h.what = "check of a completed upload";
			h.ctx = s3->ctx;
			if (!s3_request(s3, s3->curl, &h, &hst) && h.length == (int64_t)w->total)
				rc = 0, st->rc = 0;
			s3_req_reset(&h);
			break;
		}
		if (rc)
			break;
		ok = s3_xml_complete(r.resp, r.resp_len, code, sizeof(code), msg, sizeof(msg));
		if (ok == 1)
			break;
		if (ok == 0 && attempt < s3->max_retries &&
		    (!strcmp(code, "InternalError") || !strcmp(code, "SlowDown") ||
		     !strcmp(code, "ServiceUnavailable"))) {
			s3_req_reset(&r);
			if (s3_backoff_wait(attempt, NULL, s3->ctx)) {
				rc = s3_fail(st, CAIRN_E_CANCELLED, "s3://%s/%s: upload stopped",
				             s3->bucket, w->full);
				break;
			}
			continue;
		}
		rc = s3_fail(st, ok == 0 ? CAIRN_E_IO : CAIRN_E_CORRUPT,
		             "s3://%s/%s: completion of a multipart upload failed: %.100s%s%.300s",
		             s3->bucket, w->full, ok == 0 ? code : "the answer is not XML",
		             ok == 0 && *msg ? ": " : "", ok == 0 ? msg : "");
		break;
	}
	s3_req_reset(&r);
	free(body);
	return rc;
}

/* The whole object as one PUT. */
static int
s3_put(cairn_sink_writer *w, struct s3_status *st)
{
	struct s3 *s3 = w->s3;
	struct s3_req r = {.range_from = -1};
	int rc, bad = 0;

	if (!s3->curl && !(s3->curl = s3_curl_new()))
		return s3_fail(st, CAIRN_E_NOMEM, "s3://%s/%s: cannot start libcurl", s3->bucket,
		               w->full);
	r.method = "PUT";
	r.key = w->full;
	r.what = "upload";
	r.body = w->cur ? w->cur->buf : NULL;
	r.body_len = w->cur ? w->cur->len : 0;
	r.md5 = 1;
	r.ctx = s3->ctx;
	r.max_send_speed = s3->max_rate;
	r.headers = s3_object_headers(s3, &bad);
	if (bad)
		return s3_fail(st, CAIRN_E_NOMEM, "s3://%s/%s: out of memory", s3->bucket, w->full);
	rc = s3_request(s3, s3->curl, &r, st);
	curl_slist_free_all(r.headers);
	s3_req_reset(&r);
	return rc;
}

int
s3_commit(cairn_sink_writer *w)
{
	struct s3 *s3 = w->s3;
	struct s3_status st = {0};
	int rc = 0;

	if (w->broken) {
		s3_error(s3, CAIRN_E_IO,
		         "s3://%s/%s: an earlier write failed; nothing was published", s3->bucket,
		         w->full);
		s3_abort(w);
		return CAIRN_E_IO;
	}
	if (!w->upload_id) {
		rc = s3_put(w, &st);
		if (rc)
			s3_report(s3, &st);
		s3_writer_free(w);
		return rc;
	}
	if (w->cur && w->cur->len)
		rc = s3_submit(w);
	if (rc) {
		s3_report(s3, &w->fst);
		s3_abort(w);
		return rc;
	}
	/* Wait for the parts in flight. */
	pthread_mutex_lock(&w->mu);
	while (w->inflight > 0 && !w->failed)
		if (s3_wait(w)) {
			pthread_mutex_unlock(&w->mu);
			s3_fail(&st, CAIRN_E_CANCELLED, "s3://%s/%s: upload stopped", s3->bucket,
			        w->full);
			s3_report(s3, &st);
			s3_abort(w);
			return CAIRN_E_CANCELLED;
		}
	rc = w->failed ? w->fst.rc : 0;
	pthread_mutex_unlock(&w->mu);
	if (rc) {
		s3_report(s3, &w->fst);
		s3_abort(w);
		return rc;
	}
	s3_join(w, 0);
	rc = s3_multipart_complete(w, &st);
	if (rc) {
		s3_report(s3, &st);
		s3_abort(w);
		return rc;
	}
	s3_writer_free(w);
	return 0;
}

void
s3_abort(cairn_sink_writer *w)
{
	if (!w)
		return;
	s3_join(w, 1);
	s3_multipart_abort(w);
	s3_writer_free(w);
}
