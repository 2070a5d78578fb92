/*
 * http.c - one S3 request, with retries.
 *
 * Signature V4 is libcurl's (CURLOPT_AWS_SIGV4), not ours.  What curl 7.88
 * (Debian 12) leaves to the caller is done here: it signs the
 * x-amz-content-sha256 header's value as the payload hash but does not
 * send one, so every request carries it; and it signs the path and the
 * query string exactly as sent, so keys are encoded as SigV4 wants them
 * (s3_uri_encode) and callers give query parameters sorted and in the
 * "name=value" form ("uploads=", not "uploads").
 *
 * The secret reaches curl only as CURLOPT_PASSWORD; curl's verbose output
 * stays off and no message here ever includes a header.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "s3_internal.h"

#include <ctype.h>
#include <errno.h>
#include <libxml/parser.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

/* The SHA-256 of nothing: the payload hash of GET, HEAD and DELETE. */
#define S3_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
/* Backoff: the first retry waits 100-200 ms, each next one twice as
 * long, at most 10-20 s. */
#define S3_BACKOFF_BASE_MS 200L
#define S3_BACKOFF_MAX_MS 20000L

static pthread_once_t s3_once = PTHREAD_ONCE_INIT;

static void
s3_global_init_once(void)
{
	/* Both libraries ask a library to do this once, before any thread
	 * uses them; pthread_once makes "once" true across instances. */
	curl_global_init(CURL_GLOBAL_DEFAULT);
	xmlInitParser();
}

void
s3_global_init(void)
{
	pthread_once(&s3_once, s3_global_init_once);
}

CURL *
s3_curl_new(void)
{
	s3_global_init();
	return curl_easy_init();
}

/* The op thread's handle, made on first use and kept for its
 * connections. */
CURL *
s3_op_curl(struct s3 *s3, struct s3_status *st)
{
	if (!s3->curl && !(s3->curl = s3_curl_new()))
		s3_fail(st, CAIRN_E_NOMEM, "cannot start libcurl (out of memory?)");
	return s3->curl;
}

void
s3_base64(const unsigned char *in, size_t len, char *out)
{
	EVP_EncodeBlock((unsigned char *)out, in, (int)len);
}

void
s3_sha256_hex(const void *buf, size_t len, char out[65])
{
	unsigned char md[32];
	unsigned int mdlen = 0;
	int i;

	EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL);
	for (i = 0; i < 32; i++)
		sprintf(out + 2 * i, "%02x", md[i]);
	out[64] = '\0';
}

/* ------------------------------------------------------------ encoding */

char *
s3_uri_encode(const char *src, int keep_slash)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(src);
	char *out = malloc(3 * n + 1), *o = out;
	const unsigned char *p;

	if (!out)
		return NULL;
	for (p = (const unsigned char *)src; *p; p++) {
		if (isalnum(*p) && *p < 0x80)
			*o++ = (char)*p;
		else if (*p == '-' || *p == '_' || *p == '.' || *p == '~' ||
		         (*p == '/' && keep_slash))
			*o++ = (char)*p;
		else {
			*o++ = '%';
			*o++ = hex[*p >> 4];
			*o++ = hex[*p & 15];
		}
	}
	*o = '\0';
	return out;
}

char *
s3_url(const struct s3 *s3, const char *key, const char *query)
{
	const char *hostpart, *base;
	char *enc = NULL, *url = NULL;
	size_t schemelen;
	int rc;

	if (key && !(enc = s3_uri_encode(key, 1)))
		return NULL;
	/* endpoint is "scheme://host[:port][/base]" (checked by create). */
	hostpart = strstr(s3->endpoint, "://") + 3;
	schemelen = (size_t)(hostpart - s3->endpoint);
	base = strchr(hostpart, '/');
	if (!base)
		base = hostpart + strlen(hostpart);
	if (s3->virtual_host)
		rc = asprintf(&url, "%.*s%s.%.*s%s/%s%s%s", (int)schemelen, s3->endpoint,
		              s3->bucket, (int)(base - hostpart), hostpart, base, enc ? enc : "",
		              query && *query ? "?" : "", query ? query : "");
	else
		rc = asprintf(&url, "%s/%s%s%s%s%s", s3->endpoint, s3->bucket, enc ? "/" : "",
		              enc ? enc : "", query && *query ? "?" : "", query ? query : "");
	free(enc);
	return rc < 0 ? NULL : url;
}

/* ------------------------------------------------------------- backoff */

long
s3_backoff_ms(int attempt, uint32_t rnd)
{
	long cap;

	if (attempt < 0)
		attempt = 0;
	if (attempt > 16)
		attempt = 16;
	cap = S3_BACKOFF_BASE_MS << attempt;
	if (cap > S3_BACKOFF_MAX_MS)
		cap = S3_BACKOFF_MAX_MS;
	/* Half fixed, half random: retries of parts that failed together
	 * spread out, and no retry comes sooner than half the step. */
	return cap / 2 + (long)(rnd % (uint32_t)(cap / 2 + 1));
}

int
s3_backoff_wait(int attempt, atomic_int *stop, cairn_ctx *ctx)
{
	uint32_t rnd;
	long left;

	if (getrandom(&rnd, sizeof(rnd), GRND_NONBLOCK) != sizeof(rnd))
		rnd = (uint32_t)time(NULL) ^ (uint32_t)(uintptr_t)&rnd;
	for (left = s3_backoff_ms(attempt, rnd); left > 0; left -= 50) {
		struct timespec ts = {0, (left < 50 ? left : 50) * 1000000L};
		if ((stop && atomic_load(stop)) || (ctx && s3_host->cancelled(ctx)))
			return -1;
		nanosleep(&ts, NULL); /* EINTR: a shorter wait, no harm */
	}
	return (stop && atomic_load(stop)) || (ctx && s3_host->cancelled(ctx));
}

/* ------------------------------------------------------------ callbacks */

struct s3_xfer {
	struct s3_req *r;
	CURL *curl;
	long status;   /* of the response whose body is coming */
	int stopped;   /* on_data said stop */
	int too_large; /* the error body went past S3_MAX_RESPONSE */
};

static size_t
s3_on_header(char *p, size_t size, size_t n, void *ud)
{
	struct s3_xfer *x = ud;
	struct s3_req *r = x->r;
	size_t len = size * n, vlen;
	const char *v;

	if (len >= 5 && !strncmp(p, "HTTP/", 5)) {
		/* A new response (after a 100 Continue, say): forget the
		 * last one's headers. */
		r->etag[0] = '\0';
		r->length = -1;
		r->range_total = -1;
		return len;
	}
	v = memchr(p, ':', len);
	if (!v)
		return len;
	v++;
	while (v < p + len && (*v == ' ' || *v == '\t'))
		v++;
	vlen = (size_t)(p + len - v);
	while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
		vlen--;
	if (!strncasecmp(p, "etag:", 5)) {
		if (vlen >= sizeof(r->etag))
			vlen = sizeof(r->etag) - 1;
		memcpy(r->etag, v, vlen);
		r->etag[vlen] = '\0';
	} else if (!strncasecmp(p, "content-length:", 15)) {
		char num[32];
		if (vlen < sizeof(num)) {
			memcpy(num, v, vlen);
			num[vlen] = '\0';
			r->length = strtoll(num, NULL, 10);
		}
	} else if (!strncasecmp(p, "content-range:", 14)) {
		const char *slash = memchr(v, '/', vlen);
		char num[32];
		size_t nl = slash ? (size_t)(v + vlen - slash - 1) : 0;
		if (slash && nl && nl < sizeof(num)) {
			memcpy(num, slash + 1, nl);
			num[nl] = '\0';
			if (isdigit((unsigned char)num[0]))
				r->range_total = strtoll(num, NULL, 10);
		}
	}
	return len;
}

static size_t
s3_on_body(char *p, size_t size, size_t n, void *ud)
{
	struct s3_xfer *x = ud;
	struct s3_req *r = x->r;
	size_t len = size * n;
	char *grown;

	if (!x->status)
		curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &x->status);
	if (r->on_data && x->status >= 200 && x->status < 300) {
		size_t took;
		r->http = x->status;
		took = r->on_data(r->ud, p, len);
		if (took != len)
			x->stopped = 1;
		else
			r->delivered += (int64_t)len;
		return took;
	}
	if (r->resp_len + len > S3_MAX_RESPONSE) {
		x->too_large = 1;
		return 0;
	}
	grown = realloc(r->resp, r->resp_len + len + 1);
	if (!grown)
		return 0;
	r->resp = grown;
	memcpy(r->resp + r->resp_len, p, len);
	r->resp_len += len;
	r->resp[r->resp_len] = '\0';
	return len;
}

static int
s3_on_progress(void *ud, curl_off_t dt, curl_off_t dn, curl_off_t ut, curl_off_t un)
{
	struct s3_xfer *x = ud;

	(void)dt;
	(void)dn;
	(void)ut;
	(void)un;
	if (x->r->stop && atomic_load(x->r->stop))
		return 1;
	if (x->r->ctx && s3_host->cancelled(x->r->ctx))
		return 1;
	return 0;
}

/* ------------------------------------------------------------- verdicts */

/* What to tell the user about an S3 error code: a hint, and the status. */
static const char *
s3_hint(const struct s3 *s3, const char *code, long http, int *rc)
{
	*rc = CAIRN_E_IO;
	if (!strcmp(code, "AccessDenied") || (!*code && (http == 401 || http == 403))) {
		*rc = CAIRN_E_AUTH;
		return "the credentials are refused here: check their permissions on the bucket and prefix";
	}
	if (!strcmp(code, "InvalidAccessKeyId")) {
		*rc = CAIRN_E_AUTH;
		return "the store does not know this access key: check access_key (or the credentials it came from)";
	}
	if (!strcmp(code, "SignatureDoesNotMatch")) {
		*rc = CAIRN_E_AUTH;
		return "the secret key is wrong (or region differs from the bucket's): check secret_key and region";
	}
	if (!strcmp(code, "ExpiredToken") || !strcmp(code, "InvalidToken") ||
	    !strcmp(code, "TokenRefreshRequired")) {
		*rc = CAIRN_E_AUTH;
		return "the session token is expired or invalid: get fresh credentials";
	}
	if (!strcmp(code, "RequestTimeTooSkewed")) {
		*rc = CAIRN_E_AUTH;
		return "this machine's clock is off: synchronise it (NTP)";
	}
	if (!strcmp(code, "AuthorizationHeaderMalformed") || !strcmp(code, "PermanentRedirect") ||
	    !strcmp(code, "IllegalLocationConstraintException") || (http >= 300 && http < 400)) {
		*rc = CAIRN_E_CONFIG;
		return "the bucket lives elsewhere: check region, endpoint and addressing";
	}
	if (!strcmp(code, "NoSuchBucket")) {
		*rc = CAIRN_E_NOTFOUND;
		(void)s3;
		return "create the bucket or fix \"bucket\"";
	}
	if (!strcmp(code, "NoSuchKey") || (!*code && http == 404)) {
		*rc = CAIRN_E_NOTFOUND;
		return NULL;
	}
	if (!strcmp(code, "NoSuchUpload")) {
		*rc = CAIRN_E_NOTFOUND;
		return "the multipart upload is gone (aborted by a lifecycle rule?)";
	}
	if (!strcmp(code, "BadDigest") || !strcmp(code, "InvalidDigest") ||
	    !strcmp(code, "XAmzContentSHA256Mismatch")) {
		*rc = CAIRN_E_IO;
		return "the data changed on its way to the store";
	}
	if (!strcmp(code, "EntityTooLarge") || !strcmp(code, "EntityTooSmall")) {
		*rc = CAIRN_E_CONFIG;
		return "check part_size";
	}
	if (!strcmp(code, "InvalidStorageClass") || !strcmp(code, "InvalidArgument") ||
	    !strcmp(code, "KMS.NotFoundException") || !strcmp(code, "KMS.DisabledException")) {
		*rc = CAIRN_E_CONFIG;
		return "check storage_class, sse and kms_key_id";
	}
	return NULL;
}

/* Copy at most max bytes of an untrusted string, flattening control
 * characters, so a server's message stays one harmless line. */
static void
s3_clean(char *dst, size_t size, const char *src)
{
	size_t i;

	for (i = 0; src[i] && i + 1 < size; i++)
		dst[i] = (unsigned char)src[i] < 0x20 || src[i] == 0x7f ? ' ' : src[i];
	dst[i] = '\0';
}

static int
s3_curl_retryable(CURLcode c)
{
	switch (c) {
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_PARTIAL_FILE:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_WEIRD_SERVER_REPLY:
	case CURLE_HTTP3: return 1;
	default: return 0;
	}
}

/* "s3://BUCKET/KEY" or "s3://BUCKET" into buf. */
static const char *
s3_where(const struct s3 *s3, const struct s3_req *r, char *buf, size_t size)
{
	if (r->key)
		snprintf(buf, size, "s3://%s/%s", s3->bucket, r->key);
	else if (*s3->prefix)
		snprintf(buf, size, "s3://%s/%s", s3->bucket, s3->prefix);
	else
		snprintf(buf, size, "s3://%s", s3->bucket);
	return buf;
}

/* Judge a finished attempt. */
static enum s3_verdict
s3_judge(struct s3 *s3, struct s3_req *r, struct s3_xfer *x, CURLcode c, const char *errbuf,
         struct s3_status *st)
{
	char where[1200], code[128] = "", msg[512] = "", ccode[128], cmsg[512];
	const char *hint;
	int rc;

	s3_where(s3, r, where, sizeof(where));
	if ((r->stop && atomic_load(r->stop)) || c == CURLE_ABORTED_BY_CALLBACK ||
	    (c == CURLE_WRITE_ERROR && x->stopped)) {
		s3_fail(st, CAIRN_E_CANCELLED, "%s: %s stopped", where, r->what);
		return S3_FAIL;
	}
	if (c != CURLE_OK) {
		const char *why = errbuf && *errbuf ? errbuf : curl_easy_strerror(c);
		if (x->too_large) {
			s3_fail(st, CAIRN_E_CORRUPT,
			        "%s: %s failed: the store's answer is larger than %u bytes; check that endpoint is an S3 store",
			        where, r->what, S3_MAX_RESPONSE);
			return S3_FAIL;
		}
		s3_clean(cmsg, sizeof(cmsg), why);
		if (s3_curl_retryable(c)) {
			s3_fail(st, CAIRN_E_IO, "%s: %s failed: %s", where, r->what, cmsg);
			return S3_RETRY;
		}
		s3_fail(st, c == CURLE_PEER_FAILED_VERIFICATION ? CAIRN_E_CONFIG : CAIRN_E_IO,
		        "%s: %s failed: %s%s", where, r->what, cmsg,
		        c == CURLE_PEER_FAILED_VERIFICATION
		                ? "; give the store's CA as ca_file (or, only for a test store, insecure = yes)"
		                : "");
		return S3_FAIL;
	}
	r->http = x->status;
	if (!r->http)
		curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &r->http);
	if (r->http >= 200 && r->http < 300)
		return S3_DONE;
	if (r->resp && r->resp_len)
		s3_xml_error(r->resp, r->resp_len, code, sizeof(code), msg, sizeof(msg));
	s3_clean(ccode, sizeof(ccode), code);
	s3_clean(cmsg, sizeof(cmsg), msg);
	if (r->http >= 500 || r->http == 429 || !strcmp(ccode, "SlowDown") ||
	    !strcmp(ccode, "RequestTimeout") || !strcmp(ccode, "InternalError")) {
		s3_fail(st, CAIRN_E_IO, "%s: %s failed: %s%s%s (HTTP %ld)", where, r->what,
		        *ccode ? ccode : "server error", *cmsg ? ": " : "", cmsg, r->http);
		return S3_RETRY;
	}
	hint = s3_hint(s3, ccode, r->http, &rc);
	if (!*ccode && r->http == 404)
		snprintf(ccode, sizeof(ccode), "%s", r->key ? "NoSuchKey" : "NoSuchBucket");
	if (!strcmp(ccode, "NoSuchBucket"))
		s3_fail(st, rc, "%s: %s failed: NoSuchBucket: bucket %s does not exist%s%s", where,
		        r->what, s3->bucket, hint ? "; " : "", hint ? hint : "");
	else
		s3_fail(st, rc, "%s: %s failed: %s%s%s (HTTP %ld)%s%s", where, r->what,
		        *ccode ? ccode : "error", *cmsg ? ": " : "", cmsg, r->http,
		        hint ? "; " : "", hint ? hint : "");
	return S3_FAIL;
}

/* --------------------------------------------------------------- attempt */

void
s3_req_reset(struct s3_req *r)
{
	free(r->resp);
	r->resp = NULL;
	r->resp_len = 0;
	r->http = 0;
	r->etag[0] = '\0';
	r->length = -1;
	r->range_total = -1;
	r->delivered = 0;
	r->curl_rc = CURLE_OK;
}

static struct curl_slist *s3_add(struct curl_slist *l, int *bad, const char *fmt, ...)
        CAIRN_PRINTF(3, 4);

static struct curl_slist *
s3_add(struct curl_slist *l, int *bad, const char *fmt, ...)
{
	char line[2048];
	struct curl_slist *n;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	n = curl_slist_append(l, line);
	if (!n) {
		*bad = 1;
		return l;
	}
	return n;
}

enum s3_verdict
s3_attempt(struct s3 *s3, CURL *curl, struct s3_req *r, struct s3_status *st)
{
	struct s3_xfer x = {.r = r, .curl = curl};
	struct curl_slist *h = NULL, *e;
	char errbuf[CURL_ERROR_SIZE] = "", sha[65], where[1200];
	unsigned char md5[16];
	char md5b64[32];
	unsigned int mdlen;
	char *url;
	int bad = 0;
	enum s3_verdict v;
	CURLcode c;

	s3_req_reset(r);
	url = s3_url(s3, r->key, r->query);
	if (!url) {
		s3_fail(st, CAIRN_E_NOMEM, "%s: out of memory",
		        s3_where(s3, r, where, sizeof(where)));
		return S3_FAIL;
	}
	curl_easy_reset(curl);
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, errbuf);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT, s3->timeout);
	/* No byte for `timeout` seconds is a stall; a total limit would cut
	 * a slow but healthy upload of a large part. */
	curl_easy_setopt(curl, CURLOPT_LOW_SPEED_LIMIT, 1L);
	curl_easy_setopt(curl, CURLOPT_LOW_SPEED_TIME, s3->timeout);
	curl_easy_setopt(curl, CURLOPT_TCP_KEEPALIVE, 1L);
	if (s3->ca_file)
		curl_easy_setopt(curl, CURLOPT_CAINFO, s3->ca_file);
	if (s3->insecure) {
		curl_easy_setopt(curl, CURLOPT_SSL_VERIFYPEER, 0L);
		curl_easy_setopt(curl, CURLOPT_SSL_VERIFYHOST, 0L);
	}
	curl_easy_setopt(curl, CURLOPT_AWS_SIGV4, s3->sigv4);
	curl_easy_setopt(curl, CURLOPT_USERNAME, s3->access_key);
	curl_easy_setopt(curl, CURLOPT_PASSWORD, s3->secret_key);
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, s3_on_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, &x);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, s3_on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &x);
	curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, s3_on_progress);
	curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &x);
	if (r->on_data)
		curl_easy_setopt(curl, CURLOPT_BUFFERSIZE, 256L * 1024);
	if (r->max_send_speed > 0)
		curl_easy_setopt(curl, CURLOPT_MAX_SEND_SPEED_LARGE, (curl_off_t)r->max_send_speed);

	if (!strcmp(r->method, "GET")) {
		curl_easy_setopt(curl, CURLOPT_HTTPGET, 1L);
	} else if (!strcmp(r->method, "HEAD")) {
		curl_easy_setopt(curl, CURLOPT_NOBODY, 1L);
	} else if (!strcmp(r->method, "PUT") || !strcmp(r->method, "POST")) {
		/* From memory: curl sends it again as it is on a retry. */
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)r->body_len);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, r->body ? (const char *)r->body : "");
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, r->method);
	} else {
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, r->method);
	}

	if (r->body && r->body_len)
		s3_sha256_hex(r->body, r->body_len, sha);
	else
		strcpy(sha, S3_EMPTY_SHA256);
	h = s3_add(h, &bad, "x-amz-content-sha256: %s", sha);
	if (r->md5) {
		EVP_Digest(r->body ? (const void *)r->body : "", r->body_len, md5, &mdlen,
		           EVP_md5(), NULL);
		s3_base64(md5, 16, md5b64);
		h = s3_add(h, &bad, "Content-MD5: %s", md5b64);
	}
	if (!strcmp(r->method, "PUT") || !strcmp(r->method, "POST"))
		h = s3_add(h, &bad, "Content-Type: %s",
		           r->content_type ? r->content_type : "application/octet-stream");
	if (s3->session_token)
		h = s3_add(h, &bad, "x-amz-security-token: %s", s3->session_token);
	if (r->range_from >= 0)
		h = s3_add(h, &bad, "Range: bytes=%lld-", (long long)r->range_from);
	if (r->if_match && *r->if_match)
		h = s3_add(h, &bad, "If-Match: %s", r->if_match);
	for (e = r->headers; e; e = e->next)
		h = s3_add(h, &bad, "%s", e->data);
	if (bad) {
		curl_slist_free_all(h);
		free(url);
		s3_fail(st, CAIRN_E_NOMEM, "%s: out of memory",
		        s3_where(s3, r, where, sizeof(where)));
		return S3_FAIL;
	}
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, h);

	c = curl_easy_perform(curl);
	r->curl_rc = c;
	v = s3_judge(s3, r, &x, c, errbuf, st);
	/* Nothing of this request may outlive it in the handle. */
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, NULL);
	curl_slist_free_all(h);
	free(url);
	return v;
}

int
s3_request(struct s3 *s3, CURL *curl, struct s3_req *r, struct s3_status *st)
{
	int attempt;
	enum s3_verdict v;

	for (attempt = 0;; attempt++) {
		v = s3_attempt(s3, curl, r, st);
		if (v == S3_DONE) {
			st->rc = 0;
			st->msg[0] = '\0';
			return 0;
		}
		if (v == S3_FAIL)
			return st->rc;
		if (attempt >= s3->max_retries) {
			size_t len = strlen(st->msg);
			snprintf(
			        st->msg + len, sizeof(st->msg) - len,
			        "; gave up after %d attempts: try again later, or raise max_retries or timeout",
			        attempt + 1);
			return st->rc;
		}
		if (r->ctx)
			cairn_log(s3_host, r->ctx, CAIRN_LOG_DEBUG, "%s; retrying", st->msg);
		if (s3_backoff_wait(attempt, r->stop, r->ctx))
			return s3_fail(st, CAIRN_E_CANCELLED, "s3://%s: %s stopped", s3->bucket,
			               r->what);
	}
}
