/*
 * read.c - the s3 sink's reader.
 *
 * A thread with its own curl handle GETs the object into a ring buffer of
 * S3_RING bytes and waits while it is full; read() takes what is there,
 * so data flows while the consumer works, in flat memory.  When the
 * connection drops or stalls mid-body, the thread asks again from the
 * byte reached (Range: bytes=N-) with If-Match on the first answer's
 * ETag, so the rest comes from the same object or not at all.  An attempt
 * that brought data resets the retry count: a long download through a
 * flaky link is not limited to max_retries drops in all.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "s3_internal.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define S3_RING (8u << 20)
#define S3_WAIT_MS 200

struct cairn_sink_reader {
	struct s3 *s3;
	char *key;  /* the core's key */
	char *full; /* the key in the bucket */
	pthread_t th;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	unsigned char *ring;
	size_t head, len; /* data: ring[head .. head + len) modulo S3_RING */
	int began;        /* the first byte (or the end) arrived */
	int eof;
	int failed;
	struct s3_status st;
	atomic_int stop;
	int64_t got;   /* bytes of the object put into the ring */
	int64_t total; /* the object's size, -1: not known yet */
	int64_t skip;  /* bytes of this answer to drop (Range ignored) */
	char etag[256];
	struct s3_req *cur; /* the request in flight (for on_data) */
	int64_t t0;         /* when the download began (CLOCK_MONOTONIC, ms) */
	int64_t waited;     /* ms spent waiting for the reader to make room */
	int slow;           /* below min_speed: stopped */
};

static int64_t
s3_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Has the download fallen below min_speed?  It has `timeout` plus the
 * object's size at min_speed, not counting the time it waited for a slow
 * reader: a store that sends a little and cuts the connection every time
 * (each attempt brings data, so the retries never run out) cannot hold a
 * restore for ever.  Only once the size is known. */
static int
s3_too_slow(const cairn_sink_reader *r)
{
	const struct s3 *s3 = r->s3;
	int64_t total = r->total;
	if (total < 0 && r->cur)
		total = r->cur->http == 206 ? r->cur->range_total : r->cur->length;
	if (s3->min_speed <= 0 || total <= 0)
		return 0;
	return s3_now_ms() - r->t0 - r->waited >
	       (int64_t)s3->timeout * 1000 + total / s3->min_speed * 1000 +
	               (total % s3->min_speed) * 1000 / s3->min_speed;
}

static size_t
s3_ring_push(void *ud, const char *p, size_t n)
{
	cairn_sink_reader *r = ud;
	size_t taken = n;

	if (r->cur->http == 200 && r->got > 0 && r->cur->range_from > 0 && r->skip == -1)
		r->skip = r->got; /* the store sent the whole object again */
	if (r->skip > 0) {
		size_t drop = (int64_t)n < r->skip ? n : (size_t)r->skip;
		r->skip -= (int64_t)drop;
		p += drop;
		n -= drop;
		if (!n)
			return taken;
	}
	if (s3_too_slow(r)) {
		r->slow = 1;
		return 0; /* curl stops the transfer */
	}
	pthread_mutex_lock(&r->mu);
	if (S3_RING - r->len < n) {
		int64_t since = s3_now_ms();
		while (S3_RING - r->len < n && !atomic_load(&r->stop))
			pthread_cond_wait(&r->cv, &r->mu);
		r->waited += s3_now_ms() - since;
	}
	if (atomic_load(&r->stop)) {
		pthread_mutex_unlock(&r->mu);
		return 0;
	}
	while (n) {
		size_t tail = (r->head + r->len) % S3_RING;
		size_t room = S3_RING - tail, k = n < room ? n : room;
		memcpy(r->ring + tail, p, k);
		r->len += k;
		r->got += (int64_t)k;
		p += k;
		n -= k;
	}
	r->began = 1;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
	return taken;
}

static void
s3_reader_end(cairn_sink_reader *r, const struct s3_status *st)
{
	pthread_mutex_lock(&r->mu);
	if (st) {
		r->failed = 1;
		r->st = *st;
	} else {
		r->eof = 1;
	}
	r->began = 1;
	pthread_cond_broadcast(&r->cv);
	pthread_mutex_unlock(&r->mu);
}

static void *
s3_reader_thread(void *arg)
{
	cairn_sink_reader *r = arg;
	struct s3 *s3 = r->s3;
	struct s3_req q;
	struct s3_status st = {0};
	CURL *curl = s3_curl_new();
	enum s3_verdict v;
	int attempt = 0;

	memset(&q, 0, sizeof(q));
	r->t0 = s3_now_ms();
	if (!curl) {
		s3_fail(&st, CAIRN_E_NOMEM, "s3://%s/%s: cannot start libcurl", s3->bucket,
		        r->full);
		s3_reader_end(r, &st);
		return NULL;
	}
	for (;;) {
		int64_t before = r->got;
		memset(&q, 0, sizeof(q));
		q.method = "GET";
		q.key = r->full;
		q.what = "download";
		q.range_from = r->got > 0 ? r->got : -1;
		q.if_match = r->got > 0 ? r->etag : NULL;
		q.on_data = s3_ring_push;
		q.ud = r;
		q.stop = &r->stop;
		r->cur = &q;
		r->skip = r->got > 0 ? -1 : 0;
		v = s3_attempt(s3, curl, &q, &st);
		if (before == 0 && q.etag[0] && !r->etag[0])
			snprintf(r->etag, sizeof(r->etag), "%s", q.etag);
		if (r->total < 0 && q.http == 200 && q.length >= 0)
			r->total = q.length;
		if (r->total < 0 && q.http == 206 && q.range_total >= 0)
			r->total = q.range_total;
		if (v == S3_DONE && r->total >= 0 && r->got != r->total) {
			/* A clean end before the last byte: ask for the rest. */
			s3_fail(&st, CAIRN_E_IO,
			        "s3://%s/%s: download ended after %lld of %lld bytes", s3->bucket,
			        r->full, (long long)r->got, (long long)r->total);
			v = r->got > r->total ? S3_FAIL : S3_RETRY;
			if (v == S3_FAIL)
				st.rc = CAIRN_E_CORRUPT;
		}
		if (v == S3_DONE)
			break;
		if (r->slow || s3_too_slow(r)) {
			s3_fail(&st, CAIRN_E_IO,
			        "s3://%s/%s: download too slow: %lld of %lld bytes in %lld s, below min_speed (%lld bytes/s); check the network and the store, or lower min_speed (0: no floor)",
			        s3->bucket, r->full, (long long)r->got, (long long)r->total,
			        (long long)((s3_now_ms() - r->t0) / 1000),
			        (long long)s3->min_speed);
			s3_req_reset(&q);
			curl_easy_cleanup(curl);
			s3_reader_end(r, &st);
			return NULL;
		}
		if (v == S3_FAIL) {
			if (q.http == 412)
				s3_fail(&st, CAIRN_E_CORRUPT,
				        "s3://%s/%s: the object changed while it was being read (ETag %s no longer matches): read it again",
				        s3->bucket, r->full, r->etag);
			s3_req_reset(&q);
			curl_easy_cleanup(curl);
			s3_reader_end(r, &st);
			return NULL;
		}
		if (r->got > before)
			attempt = 0;
		if (attempt >= s3->max_retries) {
			size_t len = strlen(st.msg);
			snprintf(
			        st.msg + len, sizeof(st.msg) - len,
			        "; gave up after %d attempts without progress: try again later, or raise max_retries or timeout",
			        attempt + 1);
			s3_req_reset(&q);
			curl_easy_cleanup(curl);
			s3_reader_end(r, &st);
			return NULL;
		}
		if (s3_backoff_wait(attempt, &r->stop, NULL)) {
			s3_fail(&st, CAIRN_E_CANCELLED, "s3://%s/%s: download stopped", s3->bucket,
			        r->full);
			s3_req_reset(&q);
			curl_easy_cleanup(curl);
			s3_reader_end(r, &st);
			return NULL;
		}
		attempt++;
	}
	s3_req_reset(&q);
	curl_easy_cleanup(curl);
	s3_reader_end(r, NULL);
	return NULL;
}

static void
s3_reader_free(cairn_sink_reader *r)
{
	if (!r)
		return;
	if (r->started) {
		pthread_mutex_lock(&r->mu);
		atomic_store(&r->stop, 1);
		pthread_cond_broadcast(&r->cv);
		pthread_mutex_unlock(&r->mu);
		pthread_join(r->th, NULL);
	}
	pthread_mutex_destroy(&r->mu);
	pthread_cond_destroy(&r->cv);
	free(r->ring);
	free(r->full);
	free(r->key);
	free(r);
}

/* Wait for the thread; the caller holds mu.  Non-zero: cancelled. */
static int
s3_reader_wait(cairn_sink_reader *r)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_nsec += S3_WAIT_MS * 1000000L;
	if (ts.tv_nsec >= 1000000000L) {
		ts.tv_sec++;
		ts.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&r->cv, &r->mu, &ts);
	if (s3_host->cancelled(r->s3->ctx)) {
		atomic_store(&r->stop, 1);
		pthread_cond_broadcast(&r->cv);
		return 1;
	}
	return 0;
}

int
s3_open_read(void *instance, const char *key, cairn_sink_reader **reader)
{
	struct s3 *s3 = instance;
	struct s3_status st = {0};
	cairn_sink_reader *r;
	sigset_t all, old;
	int err, rc = 0;

	*reader = NULL;
	r = calloc(1, sizeof(*r));
	if (!r) {
		s3_fail(&st, CAIRN_E_NOMEM, "out of memory");
		return s3_report(s3, &st);
	}
	r->s3 = s3;
	r->total = -1;
	pthread_mutex_init(&r->mu, NULL);
	pthread_cond_init(&r->cv, NULL);
	atomic_init(&r->stop, 0);
	if (!(r->full = s3_full_key(s3, key, &st)) || !(r->key = strdup(key)) ||
	    !(r->ring = malloc(S3_RING))) {
		if (!st.rc)
			s3_fail(&st, CAIRN_E_NOMEM, "out of memory");
		s3_reader_free(r);
		return s3_report(s3, &st);
	}
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	err = pthread_create(&r->th, NULL, s3_reader_thread, r);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (err) {
		s3_fail(&st, CAIRN_E_NOMEM, "s3://%s/%s: cannot start a download thread: %s",
		        s3->bucket, r->full, strerror(err));
		s3_reader_free(r);
		return s3_report(s3, &st);
	}
	r->started = 1;
	/* Wait for the answer, so a missing object fails here. */
	pthread_mutex_lock(&r->mu);
	while (!r->began && !(rc = s3_reader_wait(r)))
		;
	if (!rc && r->failed) {
		st = r->st;
		rc = st.rc;
	}
	pthread_mutex_unlock(&r->mu);
	if (rc == CAIRN_E_NOTFOUND)
		s3_fail(&st, rc, "backup object %s not found: there is no s3://%s/%s", key,
		        s3->bucket, r->full);
	else if (rc == 1)
		rc = s3_fail(&st, CAIRN_E_CANCELLED, "s3://%s/%s: download stopped", s3->bucket,
		             r->full);
	if (rc) {
		s3_reader_free(r);
		return s3_report(s3, &st);
	}
	*reader = r;
	return 0;
}

ssize_t
s3_read(cairn_sink_reader *r, void *buf, size_t len)
{
	struct s3_status st = {0};
	size_t n = 0, k;
	int rc = 0;

	if (!len)
		return 0;
	pthread_mutex_lock(&r->mu);
	while (!r->len && !r->eof && !r->failed)
		if (s3_reader_wait(r)) {
			rc = CAIRN_E_CANCELLED;
			break;
		}
	if (r->len) {
		while (n < len && r->len) {
			k = S3_RING - r->head;
			if (k > r->len)
				k = r->len;
			if (k > len - n)
				k = len - n;
			memcpy((unsigned char *)buf + n, r->ring + r->head, k);
			r->head = (r->head + k) % S3_RING;
			r->len -= k;
			n += k;
		}
		pthread_cond_broadcast(&r->cv);
		rc = 0;
	} else if (!rc && r->failed) {
		st = r->st;
		rc = st.rc;
	}
	pthread_mutex_unlock(&r->mu);
	if (n)
		return (ssize_t)n;
	if (rc == CAIRN_E_CANCELLED && !st.rc)
		s3_fail(&st, rc, "s3://%s/%s: download stopped", r->s3->bucket, r->full);
	if (rc)
		return s3_report(r->s3, &st);
	return 0;
}

void
s3_close_read(cairn_sink_reader *r)
{
	s3_reader_free(r);
}
