/*
 * lock.c - the s3 sink's lock of a job (ABI 1.1 lock/unlock), so that two
 * runs of one job on two hosts or state_dirs never write into one prefix
 * at once.  Two ways, chosen by the key "lock":
 *
 *   conditional  PREFIX/JOB/.lock made with PUT If-None-Match: * (AWS S3,
 *                MinIO and Ceph RGW answer 412 PreconditionFailed when it
 *                exists): atomic; a stale one is replaced with PUT
 *                If-Match: ITS-ETAG, so two runs cannot both take it over.
 *   refresh      restic's way, for stores without conditional writes: each
 *                run writes its own PREFIX/JOB/.lock-NONCE, then lists
 *                PREFIX/JOB/.lock*; any other live lock and it removes its
 *                own and gives up.  Two runs at once may both give up; both
 *                never go on.
 *
 * Either way the holder rewrites its lock object every lock_stale / 6 from
 * a thread, with the time in it; a lock whose time is older than
 * lock_stale is a dead holder's and is taken over (removed) with a
 * warning.  The object says who holds it (host, pid, state_dir, time) for
 * the message of the run that finds it.  The core never takes these keys
 * for a set's objects: they lie directly in JOB/, not in JOB/ID/.
 *
 * SPDX-License-Identifier: MIT
 */
#include "autoconf.h"

#include "s3_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#define S3_LOCK_MAX 4096 /* a lock object's body; longer: not ours */

struct cairn_sink_lock {
	struct s3 *s3;
	char *key; /* full key of our lock object */
	char *who; /* "host=...\npid=...\nstate_dir=...\n" */
	char nonce[33];
	pthread_t thread;
	int have_thread;
	int wake[2];         /* a pipe: unlock writes to end the thread's wait */
	atomic_int stopping; /* ends the wait, and a refresh request in flight */
};

/* What a lock object says, cleaned for a message. */
struct s3_holder {
	char host[128], state_dir[256], nonce[33];
	long long pid;
	int64_t time; /* -1: unreadable */
};

static char *
s3_lock_body(const struct cairn_sink_lock *lk)
{
	char *b;
	if (asprintf(&b, "cairn lock\n%snonce=%s\ntime=%lld\n", lk->who, lk->nonce,
	             (long long)time(NULL)) < 0)
		return NULL;
	return b;
}

/* Copy a value of the untrusted object, printable ASCII only. */
static void
s3_lock_clean(char *dst, size_t size, const char *src, size_t len)
{
	size_t i, n = 0;
	for (i = 0; i < len && n + 1 < size; i++)
		dst[n++] = src[i] >= 0x20 && src[i] < 0x7f ? src[i] : '?';
	dst[n] = '\0';
}

static void
s3_lock_parse(const char *body, size_t len, struct s3_holder *h)
{
	const char *p = body, *end = body + len;
	memset(h, 0, sizeof(*h));
	h->pid = -1;
	h->time = -1;
	snprintf(h->host, sizeof(h->host), "?");
	snprintf(h->state_dir, sizeof(h->state_dir), "?");
	if (len < 11 || memcmp(body, "cairn lock\n", 11))
		return;
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p)), *eq;
		size_t l = nl ? (size_t)(nl - p) : (size_t)(end - p);
		char num[24];
		if ((eq = memchr(p, '=', l))) {
			size_t kl = (size_t)(eq - p), vl = l - kl - 1;
			const char *v = eq + 1;
			if (kl == 4 && !memcmp(p, "host", 4))
				s3_lock_clean(h->host, sizeof(h->host), v, vl);
			else if (kl == 9 && !memcmp(p, "state_dir", 9))
				s3_lock_clean(h->state_dir, sizeof(h->state_dir), v, vl);
			else if (kl == 5 && !memcmp(p, "nonce", 5))
				s3_lock_clean(h->nonce, sizeof(h->nonce), v, vl);
			else if (kl == 3 && !memcmp(p, "pid", 3) && vl < sizeof(num)) {
				s3_lock_clean(num, sizeof(num), v, vl);
				h->pid = strtoll(num, NULL, 10);
			} else if (kl == 4 && !memcmp(p, "time", 4) && vl < sizeof(num)) {
				char *e;
				s3_lock_clean(num, sizeof(num), v, vl);
				errno = 0;
				h->time = strtoll(num, &e, 10);
				if (errno || *e || e == num || h->time < 0)
					h->time = -1;
			}
		}
		p += l + 1;
	}
}

static int
s3_lock_stale(const struct s3 *s3, const struct s3_holder *h)
{
	return h->time >= 0 && (int64_t)time(NULL) - h->time > s3->lock_stale;
}

/* "host H, pid P, state_dir S, since TIME" into out. */
static void
s3_lock_who(const struct s3_holder *h, char *out, size_t size)
{
	char when[32] = "an unknown time";
	time_t t = (time_t)h->time;
	struct tm tm;
	if (h->time >= 0 && gmtime_r(&t, &tm))
		strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
	snprintf(out, size, "host %s, pid %lld, state_dir %s, since %s", h->host, h->pid,
	         h->state_dir, when);
}

/* One request on the op's thread.  body NULL: no body. */
static int
s3_lock_req(struct s3 *s3, CURL *curl, struct s3_req *r, const char *method, const char *key,
            const char *body, struct s3_status *st)
{
	r->method = method;
	r->key = key;
	r->shown = key;
	r->what = "lock";
	r->ctx = s3->ctx;
	r->range_from = -1;
	if (body) {
		r->body = (const unsigned char *)body;
		r->body_len = strlen(body);
		r->content_type = "text/plain";
	}
	return s3_request(s3, curl, r, st);
}

/* Read a lock object: 0 with h filled (and its ETag), CAIRN_E_NOTFOUND
 * when it is gone, else an error reported. */
static int
s3_lock_read(struct s3 *s3, CURL *curl, const char *key, struct s3_holder *h, char *etag,
             size_t etaglen)
{
	struct s3_status st = {0};
	struct s3_req r = {.range_from = -1};
	int rc = s3_lock_req(s3, curl, &r, "GET", key, NULL, &st);
	if (rc == CAIRN_E_NOTFOUND && r.http == 404) {
		s3_req_reset(&r);
		return rc;
	}
	if (rc) {
		s3_req_reset(&r);
		s3_report(s3, &st);
		return rc;
	}
	s3_lock_parse(r.resp ? r.resp : "", r.resp_len > S3_LOCK_MAX ? 0 : r.resp_len, h);
	if (etag)
		snprintf(etag, etaglen, "%s", r.etag);
	s3_req_reset(&r);
	return 0;
}

static int
s3_lock_delete(struct s3 *s3, CURL *curl, const char *key)
{
	struct s3_status st = {0};
	struct s3_req r = {.range_from = -1};
	int rc = s3_lock_req(s3, curl, &r, "DELETE", key, NULL, &st);
	s3_req_reset(&r);
	if (rc && rc != CAIRN_E_NOTFOUND)
		return s3_report(s3, &st);
	return 0;
}

static int
s3_lock_locked(struct s3 *s3, const char *key, const char *name, const struct s3_holder *h)
{
	char who[512];
	s3_lock_who(h, who, sizeof(who));
	return s3_error(
	        s3, CAIRN_E_LOCKED,
	        "job %s is locked in s3://%s/%s by another run (%s); wait for it to end, or if no such run is alive remove that object or wait until it is %lld s without refresh",
	        name, s3->bucket, key, who, (long long)s3->lock_stale);
}

/* conditional: PUT If-None-Match: *; a stale lock is replaced with PUT
 * If-Match: its ETag. */
static int
s3_lock_conditional(struct s3 *s3, CURL *curl, struct cairn_sink_lock *lk, const char *name)
{
	for (int tries = 0; tries < 3; tries++) {
		struct s3_status st = {0};
		struct s3_req r = {.range_from = -1};
		struct curl_slist *hd = curl_slist_append(NULL, "If-None-Match: *");
		struct s3_holder h;
		char etag[256], *body = s3_lock_body(lk);
		long http;
		int rc;
		if (!hd || !body) {
			curl_slist_free_all(hd);
			free(body);
			return s3_error(s3, CAIRN_E_NOMEM, "out of memory");
		}
		r.headers = hd;
		rc = s3_lock_req(s3, curl, &r, "PUT", lk->key, body, &st);
		curl_slist_free_all(hd);
		if (!rc) {
			s3_req_reset(&r);
			free(body);
			return 0;
		}
		if (r.http != 412) {
			s3_req_reset(&r);
			free(body);
			return s3_report(s3, &st);
		}
		s3_req_reset(&r);
		rc = s3_lock_read(s3, curl, lk->key, &h, etag, sizeof(etag));
		if (rc == CAIRN_E_NOTFOUND) { /* released meanwhile: again */
			free(body);
			continue;
		}
		if (rc || !strcmp(h.nonce, lk->nonce)) { /* ours: a retried PUT */
			free(body);
			return rc;
		}
		if (!s3_lock_stale(s3, &h)) {
			free(body);
			return s3_lock_locked(s3, lk->key, name, &h);
		}
		memset(&r, 0, sizeof(r));
		r.if_match = etag;
		rc = s3_lock_req(s3, curl, &r, "PUT", lk->key, body, &st);
		free(body);
		if (!rc) {
			char who[512];
			s3_lock_who(&h, who, sizeof(who));
			s3_log(s3, CAIRN_LOG_WARN,
			       "took over the stale lock s3://%s/%s of job %s (%s): its holder has not refreshed it for %lld s and is taken for dead",
			       s3->bucket, lk->key, name, who, (long long)s3->lock_stale);
		}
		http = r.http;
		s3_req_reset(&r);
		if (!rc)
			return 0;
		if (http != 412)
			return s3_report(s3, &st);
		/* another run took it over first: look again */
	}
	return s3_error(
	        s3, CAIRN_E_LOCKED,
	        "job %s: the lock s3://%s/%s keeps changing hands; another run is starting, try again later",
	        name, s3->bucket, lk->key);
}

/* ------------------------------------------------------------- refresh */

struct s3_lock_keys {
	char **v;
	size_t n;
	int nomem;
};

static int
s3_lock_collect(void *ud, const char *key, uint64_t size, int64_t mtime)
{
	struct s3_lock_keys *k = ud;
	char **v;
	(void)size;
	(void)mtime;
	if (k->n >= 1000) /* more locks than runs could ever be: enough */
		return 1;
	if (!(v = realloc(k->v, (k->n + 1) * sizeof(*v))) || !(v[k->n] = strdup(key))) {
		if (v)
			k->v = v;
		k->nomem = 1;
		return 1;
	}
	k->v = v;
	k->n++;
	return 0;
}

/* refresh: write our own lock object, then look at every other one of the
 * job; a stale one is removed, a live one makes us remove ours and give
 * up. */
static int
s3_lock_refresh_mode(struct s3 *s3, CURL *curl, struct cairn_sink_lock *lk, const char *name)
{
	struct s3_status st = {0};
	struct s3_req r = {.range_from = -1};
	struct s3_lock_keys k = {0};
	struct s3_holder h, live;
	char *body = s3_lock_body(lk), *sub = NULL;
	size_t i;
	int rc, nlive = 0;
	char livekey[1100] = "";

	if (!body || asprintf(&sub, "%s/.lock", name) < 0) {
		free(body);
		return s3_error(s3, CAIRN_E_NOMEM, "out of memory");
	}
	rc = s3_lock_req(s3, curl, &r, "PUT", lk->key, body, &st);
	s3_req_reset(&r);
	free(body);
	if (rc) {
		free(sub);
		return s3_report(s3, &st);
	}
	rc = s3_list(s3, sub, s3_lock_collect, &k);
	free(sub);
	if (!rc && k.nomem)
		rc = s3_error(s3, CAIRN_E_NOMEM, "out of memory");
	for (i = 0; !rc && i < k.n; i++) {
		char *full;
		if (asprintf(&full, "%s%s", s3->prefix, k.v[i]) < 0) {
			rc = s3_error(s3, CAIRN_E_NOMEM, "out of memory");
			break;
		}
		if (strcmp(full, lk->key) && !(rc = s3_lock_read(s3, curl, full, &h, NULL, 0)) &&
		    strcmp(h.nonce, lk->nonce)) {
			if (s3_lock_stale(s3, &h)) {
				char who[512];
				s3_lock_who(&h, who, sizeof(who));
				s3_log(s3, CAIRN_LOG_WARN,
				       "removed the stale lock s3://%s/%s of job %s (%s): its holder has not refreshed it for %lld s and is taken for dead",
				       s3->bucket, full, name, who, (long long)s3->lock_stale);
				rc = s3_lock_delete(s3, curl, full);
			} else if (!nlive++) {
				live = h;
				snprintf(livekey, sizeof(livekey), "%s", full);
			}
		}
		if (rc == CAIRN_E_NOTFOUND) /* gone meanwhile: its holder ended */
			rc = 0;
		free(full);
	}
	for (i = 0; i < k.n; i++)
		free(k.v[i]);
	free(k.v);
	if (!rc && nlive)
		rc = s3_lock_locked(s3, livekey, name, &live);
	if (rc) {
		/* ours goes, whatever the reason; the error above stays */
		struct s3_req d = {.range_from = -1};
		struct s3_status dst = {0};
		s3_lock_req(s3, curl, &d, "DELETE", lk->key, NULL, &dst);
		s3_req_reset(&d);
	}
	return rc;
}

static int64_t
s3_lock_mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Wait until the monotonic clock reaches `until` (ms) or unlock wakes us
 * (1).  The clock is looked at after every wake: a wait that ends early
 * (a signal, or libfaketime, which ends a CLOCK_MONOTONIC condition wait
 * at once when it fakes the time of day) is waited out, so the lock
 * object is never rewritten more often than asked. */
static int
s3_lock_sleep(struct cairn_sink_lock *lk, int64_t until)
{
	for (;;) {
		struct pollfd p = {.fd = lk->wake[0], .events = POLLIN};
		int64_t left;

		if (atomic_load(&lk->stopping))
			return 1;
		left = until - s3_lock_mono_ms();
		if (left <= 0)
			return 0;
		/* at most a second at a time: without the pipe, unlock still
		 * ends the wait within one */
		poll(&p, 1, left > 1000 ? 1000 : (int)left);
	}
}

/* The holder's thread: rewrite the lock object every lock_stale / 6, so
 * that it never looks stale while we live.  A failed refresh is tried
 * again at the next one. */
static void *
s3_lock_thread(void *arg)
{
	struct cairn_sink_lock *lk = arg;
	struct s3 *s3 = lk->s3;
	CURL *curl = s3_curl_new();
	int64_t every = (s3->lock_stale / 6 > 0 ? s3->lock_stale / 6 : 1) * 1000;

	while (!s3_lock_sleep(lk, s3_lock_mono_ms() + every)) {
		char *body = s3_lock_body(lk);
		if (curl && body) {
			struct s3_status st = {0};
			struct s3_req r = {
			        .range_from = -1, .method = "PUT", .what = "lock refresh"};
			r.key = r.shown = lk->key;
			r.body = (const unsigned char *)body;
			r.body_len = strlen(body);
			r.content_type = "text/plain";
			r.stop = &lk->stopping;
			s3_request(s3, curl, &r, &st);
			s3_req_reset(&r);
		}
		free(body);
	}
	if (curl)
		curl_easy_cleanup(curl);
	return NULL;
}

/* ---------------------------------------------------------------- ops */

static void
s3_lock_free(struct cairn_sink_lock *lk)
{
	if (!lk)
		return;
	for (int i = 0; i < 2; i++)
		if (lk->wake[i] >= 0)
			close(lk->wake[i]);
	free(lk->key);
	free(lk->who);
	free(lk);
}

/* Where this run keeps its state, for the holder's line: the state_dir
 * that holds the core's scratch directory (STATE/scratch/RUN). */
static char *
s3_lock_state_dir(struct s3 *s3)
{
	const char *sc = CAIRN_HOST_HAS(s3_host, scratch_dir) && s3_host->scratch_dir
	                         ? s3_host->scratch_dir(s3->ctx)
	                         : NULL;
	char *d, *slash;
	if (!sc || !(d = strdup(sc)))
		return strdup("?");
	for (int i = 0; i < 2 && (slash = strrchr(d, '/')) && slash != d; i++)
		*slash = '\0';
	return d;
}

static struct cairn_sink_lock *
s3_lock_new(struct s3 *s3, const char *name)
{
	struct cairn_sink_lock *lk = calloc(1, sizeof(*lk));
	unsigned char rnd[16];
	char host[256] = "?", *sd;

	if (!lk)
		return NULL;
	lk->s3 = s3;
	/* the refresh thread's wake-up; without it, it wakes every second */
	if (pipe2(lk->wake, O_CLOEXEC) < 0)
		lk->wake[0] = lk->wake[1] = -1;
	if (getrandom(rnd, sizeof(rnd), 0) != sizeof(rnd)) {
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		snprintf((char *)rnd, sizeof(rnd), "%lx%lx", (long)ts.tv_nsec, (long)getpid());
	}
	for (int i = 0; i < 16; i++)
		snprintf(lk->nonce + 2 * i, 3, "%02x", rnd[i]);
	if (gethostname(host, sizeof(host) - 1) < 0)
		snprintf(host, sizeof(host), "?");
	host[sizeof(host) - 1] = '\0';
	sd = s3_lock_state_dir(s3);
	if (!sd ||
	    asprintf(&lk->who, "host=%s\npid=%ld\nstate_dir=%s\n", host, (long)getpid(), sd) < 0)
		lk->who = NULL;
	free(sd);
	if (!lk->who || asprintf(&lk->key, "%s%s/.lock%s%s", s3->prefix, name,
	                         s3->lock_mode == S3_LOCK_REFRESH ? "-" : "",
	                         s3->lock_mode == S3_LOCK_REFRESH ? lk->nonce : "") < 0) {
		lk->key = NULL;
		s3_lock_free(lk);
		return NULL;
	}
	return lk;
}

int
s3_lock(void *instance, const char *name, cairn_sink_lock **lock)
{
	struct s3 *s3 = instance;
	struct s3_status st = {0};
	struct cairn_sink_lock *lk;
	CURL *curl;
	int rc;

	*lock = NULL;
	if (s3->lock_mode == S3_LOCK_NONE)
		return 0;
	if (!name || !*name || strchr(name, '/'))
		return s3_error(s3, CAIRN_E_CONFIG, "cannot lock job \"%s\": not a job name",
		                name ? name : "");
	if (!(curl = s3_op_curl(s3, &st)))
		return s3_report(s3, &st);
	if (!(lk = s3_lock_new(s3, name)))
		return s3_error(s3, CAIRN_E_NOMEM, "out of memory");
	rc = s3->lock_mode == S3_LOCK_REFRESH ? s3_lock_refresh_mode(s3, curl, lk, name)
	                                      : s3_lock_conditional(s3, curl, lk, name);
	if (rc) {
		s3_lock_free(lk);
		return rc;
	}
	lk->have_thread = pthread_create(&lk->thread, NULL, s3_lock_thread, lk) == 0;
	if (!lk->have_thread)
		s3_log(s3, CAIRN_LOG_WARN,
		       "cannot start the refresh of lock s3://%s/%s: a run longer than %lld s may lose it to another",
		       s3->bucket, lk->key, (long long)s3->lock_stale);
	*lock = lk;
	return 0;
}

void
s3_unlock(cairn_sink_lock *lk)
{
	struct s3 *s3;
	struct s3_status st = {0};
	CURL *curl;

	if (!lk)
		return;
	s3 = lk->s3;
	if (lk->have_thread) {
		atomic_store(&lk->stopping, 1);
		if (lk->wake[1] >= 0 && write(lk->wake[1], "x", 1) < 0) {
			/* the thread sees stopping within a second anyway */
		}
		pthread_join(lk->thread, NULL);
	}
	if ((curl = s3_op_curl(s3, &st)) && s3_lock_delete(s3, curl, lk->key))
		s3_log(s3, CAIRN_LOG_WARN,
		       "could not remove the lock s3://%s/%s: the next run takes it over once it is %lld s old",
		       s3->bucket, lk->key, (long long)s3->lock_stale);
	s3_lock_free(lk);
}
