/*
 * test_s3.c - unit tests of the "s3" sink plugin.
 *
 * The plugin's .c files are included to reach their statics; the core is
 * tests/unit/fakehost.c.  Parsers, encoders, the backoff and the
 * configuration are tested directly; the request engine, the writer and
 * the reader against a small HTTP server on a loopback port the OS
 * chose (stub_*), which answers each request as the test says and keeps
 * what it was asked.  The real S3 server (s3rver) and the AWS CLI come in
 * the integration tests (tests/integration/s3_*.sh).
 */
/* Parts of 256 KiB instead of S3's 5 MiB; the integration tests use the real limit. */
#define S3_MIN_PART_SIZE (256u << 10)
#define TP 262144
#define TP_TEXT "262144"

/* Allocation-failure injection: the plugin's own malloc() calls (not
 * libcurl's, libxml2's or the test's) go through s3_test_malloc, which
 * fails the next one once s3_test_fail_next is set. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
#include <stdlib.h>
#include <string.h>
static int s3_test_fail_next;
static void *
s3_test_malloc(size_t n)
{
	if (s3_test_fail_next) {
		s3_test_fail_next = 0;
		return NULL;
	}
	return malloc(n);
}
#define malloc(n) s3_test_malloc(n)

#include "../../plugins/s3/common.c"
#include "../../plugins/s3/s3.c"
#include "../../plugins/s3/creds.c"
#include "../../plugins/s3/list.c"
#include "../../plugins/s3/http.c"
#include "../../plugins/s3/xml.c"
#include "../../plugins/s3/upload.c"
#include "../../plugins/s3/read.c"
#include "../../plugins/s3/lock.c"
#undef malloc

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include "fakehost.h"

/* ------------------------------------------------------------ the stub */

#define STUB_MAX_REQS 64

struct stub_req {
	char method[16];
	char target[1024]; /* path?query as sent */
	char head[4096];   /* all header lines */
	size_t body_len;
	char body[4096]; /* its first bytes */
};

struct stub_resp {
	int status;
	char headers[512]; /* extra lines, each ending in \r\n */
	const char *body;
	size_t body_len;
	long cut_after; /* >= 0: close after this many body bytes */
};

struct stub {
	int fd;
	int port;
	pthread_t th;
	pthread_mutex_t mu;
	int nreq;
	struct stub_req reqs[STUB_MAX_REQS];
	void (*answer)(struct stub *s, const struct stub_req *rq, int n, struct stub_resp *out);
	void *user;
	int quit;
};

static int
stub_read_head(int c, char *buf, size_t size, size_t *len)
{
	size_t n = 0;
	char *end;

	for (;;) {
		ssize_t k = recv(c, buf + n, size - 1 - n, 0);
		if (k <= 0)
			return -1;
		n += (size_t)k;
		buf[n] = '\0';
		if ((end = strstr(buf, "\r\n\r\n"))) {
			*len = n;
			return (int)(end + 4 - buf);
		}
		if (n >= size - 1)
			return -1;
	}
}

static void
stub_serve(struct stub *s, int c)
{
	char buf[16384], line[1024];
	struct stub_req rq;
	struct stub_resp out;
	size_t len, have, want;
	int hl, n, blen;
	const char *cl;

	memset(&rq, 0, sizeof(rq));
	hl = stub_read_head(c, buf, sizeof(buf), &len);
	if (hl < 0)
		return;
	sscanf(buf, "%15s %1023s", rq.method, rq.target);
	snprintf(rq.head, sizeof(rq.head), "%.*s", hl, buf);
	cl = strcasestr(rq.head, "\ncontent-length:");
	want = cl ? (size_t)strtoul(cl + 16, NULL, 10) : 0;
	if (want && strcasestr(rq.head, "\nexpect: 100-continue")) {
		const char *cont = "HTTP/1.1 100 Continue\r\n\r\n";
		send(c, cont, strlen(cont), MSG_NOSIGNAL);
	}
	have = len - (size_t)hl;
	memcpy(rq.body, buf + hl, have < sizeof(rq.body) ? have : sizeof(rq.body));
	while (have < want) {
		ssize_t k = recv(c, buf, sizeof(buf), 0);
		if (k <= 0)
			return;
		if (have < sizeof(rq.body))
			memcpy(rq.body + have, buf,
			       (size_t)k < sizeof(rq.body) - have ? (size_t)k
			                                          : sizeof(rq.body) - have);
		have += (size_t)k;
	}
	rq.body_len = have;
	pthread_mutex_lock(&s->mu);
	n = s->nreq;
	if (s->nreq < STUB_MAX_REQS)
		s->reqs[s->nreq++] = rq;
	pthread_mutex_unlock(&s->mu);
	memset(&out, 0, sizeof(out));
	out.status = 200;
	out.cut_after = -1;
	s->answer(s, &rq, n, &out);
	if (!out.body)
		out.body = "";
	if (!out.body_len)
		out.body_len = strlen(out.body);
	blen = snprintf(line, sizeof(line),
	                "HTTP/1.1 %d X\r\nContent-Length: %zu\r\nConnection: close\r\n%s\r\n",
	                out.status, out.body_len, out.headers);
	send(c, line, (size_t)blen, MSG_NOSIGNAL);
	if (strcmp(rq.method, "HEAD"))
		send(c, out.body,
		     out.cut_after >= 0 && (size_t)out.cut_after < out.body_len
		             ? (size_t)out.cut_after
		             : out.body_len,
		     MSG_NOSIGNAL);
}

static void *
stub_main(void *arg)
{
	struct stub *s = arg;

	for (;;) {
		int c = accept4(s->fd, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0) {
			if (s->quit)
				break;
			continue;
		}
		if (s->quit) {
			close(c);
			break;
		}
		stub_serve(s, c);
		shutdown(c, SHUT_RDWR);
		close(c);
	}
	return NULL;
}

static struct stub *
stub_start(void (*answer)(struct stub *, const struct stub_req *, int, struct stub_resp *),
           void *user)
{
	struct stub *s = calloc(1, sizeof(*s));
	struct sockaddr_in a = {.sin_family = AF_INET};
	socklen_t alen = sizeof(a);

	assert_non_null(s);
	s->answer = answer;
	s->user = user;
	pthread_mutex_init(&s->mu, NULL);
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(s->fd >= 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s->fd, 16), 0);
	assert_int_equal(getsockname(s->fd, (struct sockaddr *)&a, &alen), 0);
	s->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&s->th, NULL, stub_main, s), 0);
	return s;
}

static void
stub_stop(struct stub *s)
{
	struct sockaddr_in a = {.sin_family = AF_INET};
	int c;

	s->quit = 1;
	/* Wake accept() with a connection of our own. */
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons((uint16_t)s->port);
	connect(c, (struct sockaddr *)&a, sizeof(a));
	pthread_join(s->th, NULL);
	close(c);
	close(s->fd);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

static int
stub_count(struct stub *s, const char *method, const char *target_part)
{
	int i, n = 0;

	pthread_mutex_lock(&s->mu);
	for (i = 0; i < s->nreq; i++)
		if (!strcmp(s->reqs[i].method, method) &&
		    (!target_part || strstr(s->reqs[i].target, target_part)))
			n++;
	pthread_mutex_unlock(&s->mu);
	return n;
}

/* --------------------------------------------------------- instances */

struct fx {
	cairn_ctx *ctx;
	struct cairn_config *cfg;
	struct s3 *s3;
	struct stub *stub;
	char endpoint[64];
};

/* An instance against the stub with extra "key", "value" pairs. */
static int
fx_create(struct fx *f, ...)
{
	const char *kv[40];
	int n = 0, rc;
	va_list ap;
	const char *k;

	snprintf(f->endpoint, sizeof(f->endpoint), "http://127.0.0.1:%d",
	         f->stub ? f->stub->port : 9);
	kv[n++] = "endpoint";
	kv[n++] = f->endpoint;
	kv[n++] = "bucket";
	kv[n++] = "bucket";
	kv[n++] = "prefix";
	kv[n++] = "pre";
	kv[n++] = "access_key";
	kv[n++] = "AKIDTEST";
	kv[n++] = "secret_key";
	kv[n++] = "SECRETTEST";
	kv[n++] = "timeout";
	kv[n++] = "5";
	va_start(ap, f);
	while ((k = va_arg(ap, const char *)) && n < 38) {
		kv[n++] = k;
		kv[n++] = va_arg(ap, const char *);
	}
	va_end(ap);
	while (n < 40)
		kv[n++] = NULL;
	if (f->cfg)
		fake_config_free(f->cfg);
	f->cfg = fake_config(s3_keys, kv[0], kv[1], kv[2], kv[3], kv[4], kv[5], kv[6], kv[7], kv[8],
	                     kv[9], kv[10], kv[11], kv[12], kv[13], kv[14], kv[15], kv[16], kv[17],
	                     kv[18], kv[19], kv[20], kv[21], kv[22], kv[23], kv[24], kv[25], kv[26],
	                     kv[27], kv[28], kv[29], NULL);
	assert_non_null(f->cfg);
	if (f->s3)
		s3_destroy(f->s3);
	f->s3 = NULL;
	f->ctx->error[0] = '\0';
	rc = s3_create(f->ctx, f->cfg, (void **)&f->s3);
	return rc;
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	cairn_plugin_entry(&fake_host);
	f->ctx = fake_ctx_new();
	*state = f;
	alarm(60); /* nothing here may hang */
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	if (f->s3)
		s3_destroy(f->s3);
	if (f->stub)
		stub_stop(f->stub);
	fake_config_free(f->cfg);
	free(f->ctx);
	free(f);
	alarm(0);
	return 0;
}

/* ---------------------------------------------------------- encoding */

static void
test_uri_encode(void **state)
{
	char *e;

	(void)state;
	e = s3_uri_encode("job/2026 01/a+b=c~d_e.f-g", 1);
	assert_string_equal(e, "job/2026%2001/a%2Bb%3Dc~d_e.f-g");
	free(e);
	e = s3_uri_encode("a/b", 0);
	assert_string_equal(e, "a%2Fb");
	free(e);
	e = s3_uri_encode("\xc3\xa9t\xc3\xa9", 1); /* UTF-8 bytes, upper-case hex */
	assert_string_equal(e, "%C3%A9t%C3%A9");
	free(e);
	e = s3_uri_encode("", 1);
	assert_string_equal(e, "");
	free(e);
}

static void
test_url(void **state)
{
	struct fx *f = *state;
	char *u;

	assert_int_equal(fx_create(f, NULL), 0);
	u = s3_url(f->s3, "pre/j/a b", "uploads=");
	assert_string_equal(u, "http://127.0.0.1:9/bucket/pre/j/a%20b?uploads=");
	free(u);
	u = s3_url(f->s3, NULL, "list-type=2&prefix=pre%2F");
	assert_string_equal(u, "http://127.0.0.1:9/bucket?list-type=2&prefix=pre%2F");
	free(u);
	/* virtual addressing, and a base path behind a reverse proxy */
	assert_int_equal(fx_create(f, "endpoint", "https://store.example:8443/s3/", "addressing",
	                           "virtual", NULL),
	                 0);
	u = s3_url(f->s3, "pre/k", "");
	assert_string_equal(u, "https://bucket.store.example:8443/s3/pre/k");
	free(u);
	/* AWS by default: virtual, the region's endpoint */
	fake_config_free(f->cfg);
	f->cfg = fake_config(s3_keys, "bucket", "bucket", "region", "eu-west-1", "access_key", "A",
	                     "secret_key", "S", NULL);
	s3_destroy(f->s3);
	f->s3 = NULL;
	assert_int_equal(s3_create(f->ctx, f->cfg, (void **)&f->s3), 0);
	u = s3_url(f->s3, "k", NULL);
	assert_string_equal(u, "https://bucket.s3.eu-west-1.amazonaws.com/k");
	free(u);
	assert_string_equal(f->s3->sigv4, "aws:amz:eu-west-1:s3");
}

static void
test_full_key(void **state)
{
	struct fx *f = *state;
	struct s3_status st = {0};
	char *k, longkey[1100];

	assert_int_equal(fx_create(f, "prefix", "/a/b//", NULL), 0);
	assert_string_equal(f->s3->prefix, "a/b/");
	k = s3_full_key(f->s3, "job/20260101T000000Z/data.tar", &st);
	assert_string_equal(k, "a/b/job/20260101T000000Z/data.tar");
	free(k);
	assert_null(s3_full_key(f->s3, "job/../x", &st));
	assert_int_equal(st.rc, CAIRN_E_CONFIG);
	assert_contains(st.msg, "job/../x");
	assert_null(s3_full_key(f->s3, "/abs", &st));
	assert_null(s3_full_key(f->s3, "a//b", &st));
	assert_null(s3_full_key(f->s3, "a/b/", &st));
	assert_null(s3_full_key(f->s3, "", &st));
	memset(longkey, 'x', sizeof(longkey) - 1);
	longkey[sizeof(longkey) - 1] = '\0';
	assert_null(s3_full_key(f->s3, longkey, &st));
	assert_contains(st.msg, "1024");
	assert_int_equal(fx_create(f, "prefix", "", NULL), 0);
	assert_string_equal(f->s3->prefix, "");
	assert_int_equal(fx_create(f, "prefix", "a/../b", NULL), CAIRN_E_CONFIG);
	assert_contains(f->ctx->error, "prefix");
}

static void
test_backoff(void **state)
{
	int a;

	(void)state;
	for (a = 0; a < 30; a++) {
		long cap = 200L << (a > 16 ? 16 : a);
		if (cap > 20000)
			cap = 20000;
		assert_int_equal(s3_backoff_ms(a, 0), cap / 2);
		assert_true(s3_backoff_ms(a, 0xffffffffu) <= cap);
		assert_true(s3_backoff_ms(a, 12345) >= cap / 2);
	}
	assert_int_equal(s3_backoff_ms(0, 0), 100);
	assert_int_equal(s3_backoff_ms(1, 0), 200);
	assert_true(s3_backoff_ms(1, 7) != s3_backoff_ms(1, 8)); /* jitter */
	assert_int_equal(s3_backoff_ms(20, 0), 10000);
	assert_int_equal(s3_backoff_ms(-3, 0), 100);
}

/* ------------------------------------------------------------- XML */

static const char list_aws[] =
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
        "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
        "<Name>bucket</Name><Prefix>pre/</Prefix><KeyCount>2</KeyCount>"
        "<IsTruncated>true</IsTruncated>"
        "<NextContinuationToken>1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=</"
        "NextContinuationToken>"
        "<Contents><Key>pre/j/1/a &amp; b.tar</Key><LastModified>2026-01-24T03:00:01.000Z</"
        "LastModified><ETag>&quot;abc&quot;</ETag><Size>1234</Size>"
        "<StorageClass>STANDARD</StorageClass></Contents>"
        "<Contents><Key>pre/j/1/manifest.json</Key><LastModified>2026-01-24T03:00:02Z</"
        "LastModified><Size>0</Size></Contents>"
        "</ListBucketResult>";

/* s3rver's: another namespace on the root, fields in another order. */
static const char list_other[] =
        "<?xml version=\"1.0\"?><ListBucketResult "
        "xmlns=\"http://doc.s3.amazonaws.com/2006-03-01/\">"
        "<IsTruncated>false</IsTruncated>"
        "<Contents><Size>5</Size><Key>k</Key><LastModified>bogus</LastModified></Contents>"
        "</ListBucketResult>";

static void
test_xml_list(void **state)
{
	struct s3_list_page p;
	char why[256];

	(void)state;
	assert_int_equal(s3_xml_list(list_aws, strlen(list_aws), &p, why, sizeof(why)), 0);
	assert_int_equal(p.n, 2);
	assert_true(p.truncated);
	assert_string_equal(p.next_token, "1ueGcxLPRx1Tr/XYExHnhbYLgveDs2J/wm36Hy4vbOwM=");
	assert_string_equal(p.v[0].key, "pre/j/1/a & b.tar");
	assert_int_equal(p.v[0].size, 1234);
	assert_int_equal(p.v[0].mtime, 1769223601);
	assert_int_equal(p.v[1].size, 0);
	assert_int_equal(p.v[1].mtime, 1769223602);
	s3_list_page_free(&p);

	assert_int_equal(s3_xml_list(list_other, strlen(list_other), &p, why, sizeof(why)), 0);
	assert_int_equal(p.n, 1);
	assert_false(p.truncated);
	assert_null(p.next_token);
	assert_string_equal(p.v[0].key, "k");
	assert_int_equal(p.v[0].size, 5);
	assert_int_equal(p.v[0].mtime, 0); /* a bad time is unknown, not an error */
	s3_list_page_free(&p);
}

static void
test_xml_list_bad(void **state)
{
	static const char *bad[] = {
	        "not xml at all", "<Error><Code>AccessDenied</Code></Error>",
	        "<ListBucketResult><Contents><Size>1</Size></Contents></ListBucketResult>",
	        "<ListBucketResult><Contents><Key>k</Key><Size>-1</Size></Contents></"
	        "ListBucketResult>",
	        "<ListBucketResult><Contents><Key>k</Key><Size>12x</Size></Contents></"
	        "ListBucketResult>",
	        "<ListBucketResult><Contents><Key>k</Key></Contents></ListBucketResult>",
	        "<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>",
	        "<ListBucketResult><Contents><Key>k</Key><Size>99999999999999999999999</Size>"
	        "</Contents></ListBucketResult>",
	        /* an external entity is never fetched nor expanded */
	        "<?xml version=\"1.0\"?><!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>"
	        "<ListBucketResult><Contents><Key>&e;</Key></Contents></ListBucketResult>",
	        NULL};
	struct s3_list_page p;
	char why[256];
	int i;

	(void)state;
	for (i = 0; bad[i]; i++) {
		why[0] = '\0';
		assert_int_equal(s3_xml_list(bad[i], strlen(bad[i]), &p, why, sizeof(why)), -1);
		assert_true(why[0] != '\0');
		assert_int_equal(p.n, 0);
		assert_null(p.v);
	}
	assert_int_equal(s3_xml_list(NULL, 0, &p, why, sizeof(why)), -1);
}

static void
test_xml_answers(void **state)
{
	static const char err[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>"
	                          "SignatureDoesNotMatch</Code><Message>The request signature we "
	                          "calculated does not match</Message><RequestId>1</RequestId></"
	                          "Error>";
	static const char init[] =
	        "<InitiateMultipartUploadResult xmlns=\"http://s3.amazonaws.com/"
	        "doc/2006-03-01/\"><Bucket>b</Bucket><Key>k</Key><UploadId>VXBsb2"
	        "FkIElE+/=</UploadId></InitiateMultipartUploadResult>";
	static const char done[] = "<CompleteMultipartUploadResult><Location>x</Location><ETag>"
	                           "\"e-2\"</ETag></CompleteMultipartUploadResult>";
	char code[64], msg[128], *id;

	(void)state;
	assert_int_equal(s3_xml_error(err, strlen(err), code, sizeof(code), msg, sizeof(msg)), 1);
	assert_string_equal(code, "SignatureDoesNotMatch");
	assert_string_equal(msg, "The request signature we calculated does not match");
	assert_int_equal(s3_xml_error(init, strlen(init), code, sizeof(code), msg, sizeof(msg)), 0);
	assert_string_equal(code, "");
	assert_int_equal(s3_xml_error("<html>", 6, code, sizeof(code), msg, sizeof(msg)), 0);

	id = s3_xml_upload_id(init, strlen(init));
	assert_string_equal(id, "VXBsb2FkIElE+/=");
	free(id);
	assert_null(s3_xml_upload_id(err, strlen(err)));
	assert_null(s3_xml_upload_id("<InitiateMultipartUploadResult><UploadId></UploadId>"
	                             "</InitiateMultipartUploadResult>",
	                             77));

	assert_int_equal(s3_xml_complete(done, strlen(done), code, sizeof(code), msg, sizeof(msg)),
	                 1);
	assert_int_equal(s3_xml_complete(err, strlen(err), code, sizeof(code), msg, sizeof(msg)),
	                 0);
	assert_string_equal(code, "SignatureDoesNotMatch");
	assert_int_equal(s3_xml_complete("junk", 4, code, sizeof(code), msg, sizeof(msg)), -1);
	assert_int_equal(s3_xml_complete("", 0, code, sizeof(code), msg, sizeof(msg)), -1);
}

/* A store's answer is untrusted input: one that declares a foreign
 * encoding and then breaks it must fail quietly, never print to cairn's
 * stderr (libxml2's encoding errors bypass XML_PARSE_NOERROR).  Found by
 * fuzz_s3_xml. */
static void
test_xml_hostile_encoding_prints_nothing(void **state)
{
	static const char *bodies[] = {
	        "<?xml version=\"1.0\" encoding=\"ISO-2022-JP\"?><ListBucketResult>\xf6\xf6\xf6\xf6"
	        "</ListBucketResult>",
	        "<?xml version=\"1.0\" encoding=\"UTF-16\"?><Error>\xf6\xf6\xf6\xf6</Error>",
	        "<?xml version=\"1.0\" encoding=\"EUC-JP\"?><Error><Code>\xf6\xf6\xf6\xf6</Code></Error>",
	        "<?xml version=\"1.0\" encoding=\"no-such-charset\"?><Error/>",
	};
	char tmpl[] = "/tmp/test_s3_stderr.XXXXXX", why[256], code[64], msg[256];
	int fd = mkstemp(tmpl), saved = dup(STDERR_FILENO);
	struct s3_list_page p;
	struct stat st;
	(void)state;
	assert_true(fd >= 0 && saved >= 0);
	fflush(stderr);
	assert_int_equal(dup2(fd, STDERR_FILENO), STDERR_FILENO);
	for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		if (s3_xml_list(bodies[i], strlen(bodies[i]), &p, why, sizeof(why)) == 0)
			s3_list_page_free(&p);
		(void)s3_xml_error(bodies[i], strlen(bodies[i]), code, sizeof(code), msg,
		                   sizeof(msg));
		free(s3_xml_upload_id(bodies[i], strlen(bodies[i])));
	}
	fflush(stderr);
	dup2(saved, STDERR_FILENO);
	close(saved);
	assert_int_equal(fstat(fd, &st), 0);
	close(fd);
	unlink(tmpl);
	assert_int_equal(st.st_size, 0);
}

static void
test_parse_time(void **state)
{
	(void)state;
	assert_int_equal(s3_parse_time("1970-01-01T00:00:00.000Z"), 0);
	assert_int_equal(s3_parse_time("2026-01-24T03:00:01Z"), 1769223601);
	assert_int_equal(s3_parse_time("2026-01-24T03:00:01.123456Z"), 1769223601);
	assert_int_equal(s3_parse_time("2026-01-24T03:00:01+00:00"), 1769223601);
	assert_int_equal(s3_parse_time("2026-01-24T03:00:01+01:00"), -1);
	assert_int_equal(s3_parse_time("2026-13-24T03:00:01Z"), -1);
	assert_int_equal(s3_parse_time("yesterday"), -1);
	assert_int_equal(s3_parse_time(NULL), -1);
}

static void
test_complete_xml(void **state)
{
	cairn_sink_writer w;
	char etags[2][128] = {"\"abc\"", "\"a&b<c\""};
	size_t len;
	char *x;

	(void)state;
	memset(&w, 0, sizeof(w));
	w.next_number = 3;
	w.etags = etags;
	x = s3_complete_xml(&w, &len);
	assert_int_equal(len, strlen(x));
	assert_contains(x, "<Part><PartNumber>1</PartNumber><ETag>&quot;abc&quot;</ETag></Part>");
	assert_contains(
	        x, "<Part><PartNumber>2</PartNumber><ETag>&quot;a&amp;b&lt;c&quot;</ETag></Part>");
	assert_contains(x, "</CompleteMultipartUpload>");
	free(x);
}

/* ------------------------------------------------------ credentials */

static void
write_file(const char *path, const char *text)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static void
test_creds_file(void **state)
{
	char dir[] = "/tmp/test_s3.XXXXXX", path[128], why[512], text[4096];
	struct s3_creds c;
	char token[1001];

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/credentials", dir);
	memset(token, 'T', sizeof(token) - 1);
	token[sizeof(token) - 1] = '\0';
	snprintf(text, sizeof(text),
	         "# comment\n[default]\naws_access_key_id = AKDEF\naws_secret_access_key = SKDEF\n"
	         "\n[backup]\naws_access_key_id=AKB\naws_secret_access_key = SK/B+x=\n"
	         "aws_session_token = %s\nregion = ignored\n[half]\naws_access_key_id = X\n",
	         token);
	write_file(path, text);

	assert_int_equal(s3_creds_parse_file(path, "default", &c, why, sizeof(why)), 0);
	assert_string_equal(c.access_key, "AKDEF");
	assert_string_equal(c.secret_key, "SKDEF");
	assert_null(c.session_token);
	s3_creds_free(&c);

	/* a session token longer than inih's 200-byte line */
	assert_int_equal(s3_creds_parse_file(path, "backup", &c, why, sizeof(why)), 0);
	assert_string_equal(c.access_key, "AKB");
	assert_string_equal(c.secret_key, "SK/B+x=");
	assert_non_null(c.session_token);
	assert_string_equal(c.session_token, token);
	s3_creds_free(&c);

	assert_int_equal(s3_creds_parse_file(path, "nope", &c, why, sizeof(why)), CAIRN_E_NOTFOUND);
	assert_contains(why, "[nope]");
	assert_int_equal(s3_creds_parse_file(path, "half", &c, why, sizeof(why)), CAIRN_E_CONFIG);
	assert_contains(why, "aws_secret_access_key");
	assert_null(c.access_key);

	write_file(path, "[default]\naws_access_key_id = A\nthis is not ini\n");
	assert_int_equal(s3_creds_parse_file(path, "default", &c, why, sizeof(why)),
	                 CAIRN_E_CONFIG);
	assert_contains(why, "line 3");

	snprintf(path, sizeof(path), "%s/missing", dir);
	assert_int_equal(s3_creds_parse_file(path, "default", &c, why, sizeof(why)),
	                 CAIRN_E_NOTFOUND);
	assert_int_equal(s3_creds_parse_file(dir, "default", &c, why, sizeof(why)), CAIRN_E_CONFIG);
	rm_tree(dir);
}

/* The order: INI, then the environment, then the shared file. */
static void
test_creds_order(void **state)
{
	struct fx *f = *state;
	char dir[] = "/tmp/test_s3.XXXXXX", path[128];

	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/creds", dir);
	write_file(path, "[default]\naws_access_key_id = FILEAK\naws_secret_access_key = FILESK\n"
	                 "[other]\naws_access_key_id = OAK\naws_secret_access_key = OSK\n"
	                 "aws_session_token = OTOK\n");
	/* The test, not the plugin, sets the environment. */
	setenv("AWS_SHARED_CREDENTIALS_FILE", path, 1);
	setenv("AWS_ACCESS_KEY_ID", "ENVAK", 1);
	setenv("AWS_SECRET_ACCESS_KEY", "ENVSK", 1);
	setenv("AWS_SESSION_TOKEN", "ENVTOK", 1);
	unsetenv("AWS_PROFILE");

	assert_int_equal(fx_create(f, NULL), 0);
	assert_string_equal(f->s3->access_key, "AKIDTEST");
	assert_null(f->s3->session_token);

	fake_config_free(f->cfg);
	f->cfg = fake_config(s3_keys, "bucket", "bucket", NULL);
	s3_destroy(f->s3);
	f->s3 = NULL;
	assert_int_equal(s3_create(f->ctx, f->cfg, (void **)&f->s3), 0);
	assert_string_equal(f->s3->access_key, "ENVAK");
	assert_string_equal(f->s3->secret_key, "ENVSK");
	assert_string_equal(f->s3->session_token, "ENVTOK");

	unsetenv("AWS_ACCESS_KEY_ID");
	s3_destroy(f->s3);
	f->s3 = NULL;
	assert_int_equal(s3_create(f->ctx, f->cfg, (void **)&f->s3), 0);
	assert_string_equal(f->s3->access_key, "FILEAK");
	assert_null(f->s3->session_token);
	assert_contains(f->s3->cred_from, "[default]");

	fake_config_free(f->cfg);
	f->cfg = fake_config(s3_keys, "bucket", "bucket", "profile", "other", NULL);
	s3_destroy(f->s3);
	f->s3 = NULL;
	assert_int_equal(s3_create(f->ctx, f->cfg, (void **)&f->s3), 0);
	assert_string_equal(f->s3->access_key, "OAK");
	assert_string_equal(f->s3->session_token, "OTOK");

	fake_config_free(f->cfg);
	f->cfg = fake_config(s3_keys, "bucket", "bucket", "profile", "absent", NULL);
	s3_destroy(f->s3);
	f->s3 = NULL;
	assert_int_equal(s3_create(f->ctx, f->cfg, (void **)&f->s3), CAIRN_E_CONFIG);
	assert_contains(f->ctx->error, "no credentials");
	assert_contains(f->ctx->error, "[absent]");
	assert_true(strstr(f->ctx->error, "SK") == NULL); /* no secret in messages */

	/* half in the INI is an error, not a fallback */
	fake_config_free(f->cfg);
	f->cfg = fake_config(s3_keys, "bucket", "bucket", "access_key", "A", NULL);
	assert_int_equal(s3_create(f->ctx, f->cfg, (void **)&f->s3), CAIRN_E_CONFIG);
	assert_contains(f->ctx->error, "secret_key is not");

	unsetenv("AWS_SHARED_CREDENTIALS_FILE");
	unsetenv("AWS_SECRET_ACCESS_KEY");
	unsetenv("AWS_SESSION_TOKEN");
	rm_tree(dir);
}

static void
test_create_checks(void **state)
{
	static const struct {
		const char *key, *value, *says;
	} bad[] = {{"part_size", "1000", "part_size"},
	           {"part_size", "6442450944", "part_size"},
	           {"upload_concurrency", "0", "upload_concurrency"},
	           {"upload_concurrency", "65", "upload_concurrency"},
	           {"max_retries", "-1", "max_retries"},
	           {"timeout", "0", "timeout"},
	           {"addressing", "dns", "addressing"},
	           {"sse", "aes", "sse"},
	           {"kms_key_id", "k1", "kms_key_id needs sse = aws:kms"},
	           {"endpoint", "ftp://x", "endpoint"},
	           {"endpoint", "http://", "endpoint"},
	           {"endpoint", "http://user@host", "endpoint must not hold a user"},
	           {"endpoint", "https://key:pw-sekrit@host", "endpoint must not hold a user"},
	           {"bucket", "ab", "bucket"},
	           {"bucket", "a/b", "bucket"},
	           {"region", "eu west", "region"},
	           {"storage_class", "x y", "storage_class"},
	           {"max_upload_rate", "-5", "max_upload_rate"},
	           {NULL, NULL, NULL}};
	struct fx *f = *state;
	int i;

	for (i = 0; bad[i].key; i++) {
		assert_int_equal(fx_create(f, bad[i].key, bad[i].value, NULL), CAIRN_E_CONFIG);
		assert_null(f->s3);
		assert_contains(f->ctx->error, bad[i].says);
		/* issue 16: the secret of user:password@ was repeated */
		assert_null(strstr(f->ctx->error, "sekrit"));
	}
	assert_int_equal(fx_create(f, "sse", "aws:kms", "kms_key_id", "arn:aws:kms:eu:1:key/x-1",
	                           "storage_class", "STANDARD_IA", "part_size", "5242880",
	                           "upload_concurrency", "1", NULL),
	                 0);
	assert_int_equal(f->s3->part_size, 5242880);
	assert_int_equal(f->s3->virtual_host, 0); /* an endpoint of our own: path */
	assert_int_equal(fx_create(f, "bucket", "Upper_Case", NULL), 0);
	assert_int_equal(fx_create(f, "bucket", "Upper_Case", "addressing", "virtual", NULL),
	                 CAIRN_E_CONFIG);
}

/* ------------------------------------------------- against the stub */

struct script {
	int fail_first; /* answer the first N requests with `status` */
	int status;
	const char *body;
	int complete_error; /* Complete: a 200 with this many <Error>s first */
	const char *complete_code;
	int completes;
	const char *object; /* GET: the object */
	size_t object_len;
	int cut; /* GET: cut the first answer after this many bytes */
};

static void
answer_script(struct stub *s, const struct stub_req *rq, int n, struct stub_resp *out)
{
	struct script *sc = s->user;

	if (n < sc->fail_first) {
		out->status = sc->status;
		out->body = sc->body;
		return;
	}
	if (!strcmp(rq->method, "POST") && strstr(rq->target, "?uploads=")) {
		out->body = "<InitiateMultipartUploadResult><UploadId>up/1+</UploadId>"
		            "</InitiateMultipartUploadResult>";
		return;
	}
	if (!strcmp(rq->method, "PUT") && strstr(rq->target, "partNumber=")) {
		int part = atoi(strstr(rq->target, "partNumber=") + 11);
		snprintf(out->headers, sizeof(out->headers), "ETag: \"etag-%d\"\r\n", part);
		return;
	}
	if (!strcmp(rq->method, "POST") && strstr(rq->target, "uploadId=")) {
		pthread_mutex_lock(&s->mu);
		n = sc->completes++;
		pthread_mutex_unlock(&s->mu);
		if (n < sc->complete_error) {
			static char err[256];
			snprintf(err, sizeof(err),
			         "<Error><Code>%s</Code><Message>later</Message></Error>",
			         sc->complete_code);
			out->body = err;
			return;
		}
		out->body = "<CompleteMultipartUploadResult><ETag>\"x-2\"</ETag>"
		            "</CompleteMultipartUploadResult>";
		return;
	}
	if (!strcmp(rq->method, "DELETE") && strstr(rq->target, "uploadId=")) {
		out->status = 405; /* s3rver */
		return;
	}
	if (!strcmp(rq->method, "PUT")) {
		strcpy(out->headers, "ETag: \"put\"\r\n");
		return;
	}
	if (!strcmp(rq->method, "GET") && sc->object) {
		const char *range = strcasestr(rq->head, "\nrange: bytes=");
		size_t from = range ? strtoul(range + 14, NULL, 10) : 0;
		strcpy(out->headers, "ETag: \"obj\"\r\n");
		if (range) {
			out->status = 206;
			snprintf(out->headers + strlen(out->headers),
			         sizeof(out->headers) - strlen(out->headers),
			         "Content-Range: bytes %zu-%zu/%zu\r\n", from, sc->object_len - 1,
			         sc->object_len);
		}
		out->body = sc->object + from;
		out->body_len = sc->object_len - from;
		if (!range && sc->cut >= 0)
			out->cut_after = sc->cut;
		return;
	}
	out->status = 404;
	out->body = "<Error><Code>NoSuchKey</Code><Message>no</Message></Error>";
}

static int
put_object(struct fx *f, const char *key, const void *data, size_t len)
{
	cairn_sink_writer *w;
	size_t off = 0;
	int rc;

	rc = s3_open_write(f->s3, key, &w);
	if (rc)
		return rc;
	while (off < len) {
		size_t n = len - off < 100000 ? len - off : 100000;
		rc = s3_write(w, (const char *)data + off, n);
		if (rc) {
			s3_abort(w);
			return rc;
		}
		off += n;
	}
	return s3_commit(w);
}

static void
test_put_one(void **state)
{
	struct fx *f = *state;
	struct script sc = {0};
	const char *h;

	f->stub = stub_start(answer_script, &sc);
	assert_int_equal(fx_create(f, NULL), 0);
	assert_int_equal(put_object(f, "j/1/a b", "hello", 5), 0);
	assert_int_equal(f->stub->nreq, 1);
	assert_string_equal(f->stub->reqs[0].method, "PUT");
	assert_string_equal(f->stub->reqs[0].target, "/bucket/pre/j/1/a%20b");
	h = f->stub->reqs[0].head;
	/* sha256("hello"), md5("hello") in base64, SigV4 by curl */
	assert_contains(h, "x-amz-content-sha256: "
	                   "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
	assert_contains(h, "Content-MD5: XUFAKrxLKna5cZ2REBfFkg==");
	assert_contains(h, "Authorization: AWS4-HMAC-SHA256 Credential=AKIDTEST/");
	assert_contains(h, "/us-east-1/s3/aws4_request");
	assert_contains(h, "SignedHeaders=");
	assert_contains(h, "x-amz-content-sha256");
	assert_true(strstr(h, "SECRETTEST") == NULL);
	assert_int_equal(f->stub->reqs[0].body_len, 5);
	assert_memory_equal(f->stub->reqs[0].body, "hello", 5);

	/* an empty object is one PUT of nothing */
	assert_int_equal(put_object(f, "j/1/empty", "", 0), 0);
	assert_int_equal(f->stub->nreq, 2);
	assert_int_equal(f->stub->reqs[1].body_len, 0);
	assert_contains(f->stub->reqs[1].head, "Content-MD5: 1B2M2Y8AsgTpgAmY7PhCfg==");
}

static void
test_retry_then_ok(void **state)
{
	struct fx *f = *state;
	struct script sc = {
	        .fail_first = 2,
	        .status = 503,
	        .body = "<Error><Code>SlowDown</Code><Message>Reduce</Message></Error>"};

	f->stub = stub_start(answer_script, &sc);
	assert_int_equal(fx_create(f, "max_retries", "2", NULL), 0);
	assert_int_equal(put_object(f, "j/1/x", "abc", 3), 0);
	assert_int_equal(stub_count(f->stub, "PUT", "/bucket/pre/j/1/x"), 3);
}

static void
test_retry_budget(void **state)
{
	struct fx *f = *state;
	struct script sc = {.fail_first = 100, .status = 500, .body = "oops"};

	f->stub = stub_start(answer_script, &sc);
	assert_int_equal(fx_create(f, "max_retries", "1", NULL), 0);
	assert_int_equal(put_object(f, "j/1/x", "abc", 3), CAIRN_E_IO);
	assert_int_equal(f->stub->nreq, 2);
	assert_contains(f->ctx->error, "s3://bucket/pre/j/1/x");
	assert_contains(f->ctx->error, "HTTP 500");
	assert_contains(f->ctx->error, "gave up after 2 attempts");
}

static void
test_client_error(void **state)
{
	struct fx *f = *state;
	struct script sc = {.fail_first = 100,
	                    .status = 403,
	                    .body = "<?xml version=\"1.0\"?><Error><Code>SignatureDoesNotMatch</"
	                            "Code><Message>The signature does not match</Message></Error>"};

	f->stub = stub_start(answer_script, &sc);
	assert_int_equal(fx_create(f, NULL), 0);
	assert_int_equal(put_object(f, "j/1/x", "abc", 3), CAIRN_E_AUTH);
	assert_int_equal(f->stub->nreq, 1); /* a 4xx is not retried */
	assert_contains(f->ctx->error, "s3://bucket/pre/j/1/x");
	assert_contains(f->ctx->error, "SignatureDoesNotMatch: The signature does not match");
	assert_contains(f->ctx->error, "secret_key");
	assert_null(strchr(f->ctx->error, '\n'));

	sc.status = 404;
	sc.body = "<Error><Code>NoSuchBucket</Code><Message>nope</Message></Error>";
	assert_int_equal(put_object(f, "j/1/x", "abc", 3), CAIRN_E_NOTFOUND);
	assert_contains(f->ctx->error, "bucket bucket does not exist");
}

static void
test_multipart(void **state)
{
	struct fx *f = *state;
	struct script sc = {0};
	size_t len = 2 * TP + 1, i;
	unsigned char *data = malloc(len);
	cairn_sink_writer *w;

	for (i = 0; i < len; i++)
		data[i] = (unsigned char)(i * 7);
	f->stub = stub_start(answer_script, &sc);
	assert_int_equal(fx_create(f, "part_size", TP_TEXT, "upload_concurrency", "2", NULL), 0);
	/* exactly one part: still one PUT */
	assert_int_equal(put_object(f, "j/1/one", data, TP), 0);
	assert_int_equal(stub_count(f->stub, "PUT", "/bucket/pre/j/1/one"), 1);
	assert_int_equal(stub_count(f->stub, "POST", NULL), 0);

	assert_int_equal(put_object(f, "j/1/three", data, len), 0);
	assert_int_equal(stub_count(f->stub, "POST", "/bucket/pre/j/1/three?uploads="), 1);
	assert_int_equal(stub_count(f->stub, "PUT", "?partNumber=1&uploadId=up%2F1%2B"), 1);
	assert_int_equal(stub_count(f->stub, "PUT", "?partNumber=2&uploadId=up%2F1%2B"), 1);
	assert_int_equal(stub_count(f->stub, "PUT", "?partNumber=3&uploadId=up%2F1%2B"), 1);
	assert_int_equal(stub_count(f->stub, "POST", "/bucket/pre/j/1/three?uploadId=up%2F1%2B"),
	                 1);
	for (i = 0; i < (size_t)f->stub->nreq; i++) {
		struct stub_req *rq = &f->stub->reqs[i];
		if (strstr(rq->target, "partNumber=3"))
			assert_int_equal(rq->body_len, 1);
		else if (strstr(rq->target, "partNumber="))
			assert_int_equal(rq->body_len, TP);
		if (!strcmp(rq->method, "POST") && strstr(rq->target, "?uploadId=")) {
			assert_contains(rq->body,
			                "<PartNumber>1</PartNumber><ETag>&quot;etag-1&quot;");
			assert_contains(rq->body,
			                "<PartNumber>3</PartNumber><ETag>&quot;etag-3&quot;");
			assert_contains(rq->head, "Content-Type: application/xml");
		}
	}

	/* a 200 with <Error> on Complete is retried ... */
	sc.complete_error = 1;
	sc.complete_code = "InternalError";
	sc.completes = 0;
	assert_int_equal(put_object(f, "j/1/retried", data, len), 0);
	assert_int_equal(stub_count(f->stub, "POST", "/bucket/pre/j/1/retried?uploadId="), 2);

	/* ... or fails, and the upload is aborted; the stub answers the
	 * abort with 405 as s3rver does, a refusal that may leave the parts:
	 * a warning (issue 16: it was taken for success) */
	sc.complete_error = 100;
	sc.complete_code = "AccessDenied";
	sc.completes = 0;
	f->ctx->warnings = 0;
	assert_int_equal(put_object(f, "j/1/refused", data, len), CAIRN_E_IO);
	assert_contains(f->ctx->error, "s3://bucket/pre/j/1/refused");
	assert_contains(f->ctx->error, "AccessDenied");
	assert_int_equal(stub_count(f->stub, "DELETE", "/bucket/pre/j/1/refused?uploadId="), 1);
	assert_int_equal(f->ctx->warnings, 1);

	/* abort in the middle: no Complete, an Abort */
	assert_int_equal(s3_open_write(f->s3, "j/1/aborted", &w), 0);
	assert_int_equal(s3_write(w, data, len), 0);
	s3_abort(w);
	assert_int_equal(stub_count(f->stub, "POST", "/bucket/pre/j/1/aborted?uploadId="), 0);
	assert_int_equal(stub_count(f->stub, "DELETE", "/bucket/pre/j/1/aborted?uploadId="), 1);
	free(data);
}

/* A part that keeps failing fails the upload, which is aborted. */
static void
answer_part_fails(struct stub *s, const struct stub_req *rq, int n, struct stub_resp *out)
{
	if (!strcmp(rq->method, "PUT") && strstr(rq->target, "partNumber=2")) {
		out->status = 500;
		return;
	}
	answer_script(s, rq, n, out);
}

static void
test_part_fails(void **state)
{
	struct fx *f = *state;
	struct script sc = {0};
	size_t len = 3 * TP;
	unsigned char *data = calloc(1, len);

	f->stub = stub_start(answer_part_fails, &sc);
	assert_int_equal(fx_create(f, "part_size", TP_TEXT, "max_retries", "1", NULL), 0);
	assert_true(put_object(f, "j/1/x", data, len) < 0);
	assert_contains(f->ctx->error, "s3://bucket/pre/j/1/x");
	assert_contains(f->ctx->error, "HTTP 500");
	/* part 2 was tried twice (alone), never the whole upload again */
	assert_int_equal(stub_count(f->stub, "PUT", "partNumber=2&"), 2);
	assert_int_equal(stub_count(f->stub, "POST", "?uploads="), 1);
	assert_int_equal(stub_count(f->stub, "POST", "?uploadId="), 0);
	assert_int_equal(stub_count(f->stub, "DELETE", "?uploadId=up%2F1%2B"), 1);
	free(data);
}

static void
test_read_resume(void **state)
{
	struct fx *f = *state;
	static char obj[300000];
	struct script sc = {.object = obj, .object_len = sizeof(obj), .cut = 100000};
	cairn_sink_reader *r;
	static char got[sizeof(obj) + 10];
	size_t n = 0;
	ssize_t k;
	int i;

	for (i = 0; i < (int)sizeof(obj); i++)
		obj[i] = (char)(i * 13 + (i >> 8));
	f->stub = stub_start(answer_script, &sc);
	assert_int_equal(fx_create(f, NULL), 0);
	assert_int_equal(s3_open_read(f->s3, "j/1/obj", &r), 0);
	while ((k = s3_read(r, got + n, 7000)) > 0)
		n += (size_t)k;
	assert_int_equal(k, 0);
	s3_close_read(r);
	assert_int_equal(n, sizeof(obj));
	assert_memory_equal(got, obj, sizeof(obj));
	assert_int_equal(f->stub->nreq, 2);
	assert_contains(f->stub->reqs[1].head, "Range: bytes=100000-");
	assert_contains(f->stub->reqs[1].head, "If-Match: \"obj\"");

	/* missing: NOTFOUND from open_read, naming the key */
	sc.object = NULL;
	assert_int_equal(s3_open_read(f->s3, "j/1/none", &r), CAIRN_E_NOTFOUND);
	assert_contains(f->ctx->error, "j/1/none");
	assert_contains(f->ctx->error, "s3://bucket/pre/j/1/none");
}

struct listing {
	int pages;
};

static void
answer_list(struct stub *s, const struct stub_req *rq, int n, struct stub_resp *out)
{
	(void)s;
	if (!strcmp(rq->method, "HEAD")) {
		out->status = strstr(rq->target, "gone") ? 404 : 200;
		return;
	}
	if (!strcmp(rq->method, "DELETE")) {
		out->status = 204;
		return;
	}
	if (!strstr(rq->target, "continuation-token="))
		out->body = "<ListBucketResult><IsTruncated>true</IsTruncated>"
		            "<NextContinuationToken>t/1=</NextContinuationToken>"
		            "<Contents><Key>pre/j/1/a</Key><Size>10</Size>"
		            "<LastModified>2026-01-01T00:00:00Z</LastModified></Contents>"
		            "<Contents><Key>pre/j/1/</Key><Size>0</Size></Contents>"
		            "<Contents><Key>pre/j/../x</Key><Size>1</Size></Contents>"
		            "</ListBucketResult>";
	else
		out->body = "<ListBucketResult><IsTruncated>false</IsTruncated>"
		            "<Contents><Key>pre/j/1/manifest.json</Key><Size>5</Size></Contents>"
		            "</ListBucketResult>";
	(void)n;
}

static int
collect(void *ud, const char *key, uint64_t size, int64_t mtime)
{
	char *out = ud;

	sprintf(out + strlen(out), "%s %llu %lld\n", key, (unsigned long long)size,
	        (long long)mtime);
	return 0;
}

static void
test_list_remove_usage(void **state)
{
	struct fx *f = *state;
	struct cairn_usage u;
	char out[1024] = "";

	f->stub = stub_start(answer_list, NULL);
	assert_int_equal(fx_create(f, NULL), 0);
	assert_int_equal(s3_list(f->s3, "j/", collect, out), 0);
	assert_string_equal(out, "j/1/a 10 1767225600\nj/1/manifest.json 5 0\n");
	assert_string_equal(f->stub->reqs[0].target, "/bucket?list-type=2&prefix=pre%2Fj%2F");
	assert_string_equal(f->stub->reqs[1].target,
	                    "/bucket?continuation-token=t%2F1%3D&list-type=2&prefix=pre%2Fj%2F");
	assert_int_equal(s3_usage(f->s3, &u), 0);
	assert_int_equal(u.used, 15);
	assert_true(u.avail == UINT64_MAX && u.total == UINT64_MAX);

	assert_int_equal(s3_remove(f->s3, "j/1/a"), 0);
	assert_int_equal(stub_count(f->stub, "DELETE", "/bucket/pre/j/1/a"), 1);
	assert_int_equal(s3_remove(f->s3, "j/1/gone"), CAIRN_E_NOTFOUND);
	assert_contains(f->ctx->error, "j/1/gone");
	assert_int_equal(stub_count(f->stub, "DELETE", "/bucket/pre/j/1/gone"), 0);
}

/* The first page's keys arm the injection: the next allocation, the
 * encoded continuation token of the second page's request, fails. */
static int
collect_then_fail(void *ud, const char *key, uint64_t size, int64_t mtime)
{
	s3_test_fail_next = 1;
	return collect(ud, key, size, mtime);
}

/* Out of memory before the second listing page: one clear error, no
 * double free of the first page's query (issue 17). */
static void
test_list_second_page_nomem(void **state)
{
	struct fx *f = *state;
	char out[1024] = "";

	f->stub = stub_start(answer_list, NULL);
	assert_int_equal(fx_create(f, NULL), 0);
	assert_int_equal(s3_list(f->s3, "j/", collect_then_fail, out), CAIRN_E_NOMEM);
	assert_false(s3_test_fail_next);
	assert_string_equal(out, "j/1/a 10 1767225600\n");
	assert_string_equal(f->ctx->error, "out of memory");
	assert_int_equal(f->stub->nreq, 1);
}

/* A stopped run stops a writer that waits for the network. */
static void
test_cancel_write(void **state)
{
	struct fx *f = *state;
	struct script sc = {0};
	size_t len = 3 * TP;
	unsigned char *data = calloc(1, len);
	cairn_sink_writer *w;

	f->stub = stub_start(answer_script, &sc);
	assert_int_equal(fx_create(f, "part_size", TP_TEXT, "upload_concurrency", "1", NULL), 0);
	assert_int_equal(s3_open_write(f->s3, "j/1/x", &w), 0);
	f->ctx->cancelled = 1;
	assert_int_equal(s3_write(w, data, len), CAIRN_E_CANCELLED);
	s3_abort(w);
	assert_int_equal(stub_count(f->stub, "POST", "?uploadId="), 0);
	assert_int_equal(stub_count(f->stub, "PUT", "/bucket/pre/j/1/x HTTP"), 0);
	free(data);
}

/* Closing a reader whose thread waits on a full ring buffer returns. */
static void
test_close_early(void **state)
{
	struct fx *f = *state;
	size_t len = S3_RING + (1u << 20);
	char *obj = calloc(1, len), buf[10];
	struct script sc = {.object = obj, .object_len = len, .cut = -1};
	cairn_sink_reader *r;

	f->stub = stub_start(answer_script, &sc);
	assert_int_equal(fx_create(f, NULL), 0);
	assert_int_equal(s3_open_read(f->s3, "j/1/big", &r), 0);
	assert_int_equal(s3_read(r, buf, sizeof(buf)), sizeof(buf));
	s3_close_read(r);
	free(obj);
}

/* Nothing listens: a connection error is retried, then named. */
static void
test_no_server(void **state)
{
	struct fx *f = *state;

	assert_int_equal(fx_create(f, "max_retries", "1", NULL), 0);
	assert_int_equal(put_object(f, "j/1/x", "a", 1), CAIRN_E_IO);
	assert_contains(f->ctx->error, "s3://bucket/pre/j/1/x: upload failed");
	assert_contains(f->ctx->error, "gave up after 2 attempts");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(test_uri_encode),
	        cmocka_unit_test_setup_teardown(test_url, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_full_key, setup, teardown),
	        cmocka_unit_test(test_backoff),
	        cmocka_unit_test(test_xml_list),
	        cmocka_unit_test(test_xml_list_bad),
	        cmocka_unit_test(test_xml_answers),
	        cmocka_unit_test(test_xml_hostile_encoding_prints_nothing),
	        cmocka_unit_test(test_parse_time),
	        cmocka_unit_test(test_complete_xml),
	        cmocka_unit_test(test_creds_file),
	        cmocka_unit_test_setup_teardown(test_creds_order, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_create_checks, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_put_one, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_retry_then_ok, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_retry_budget, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_client_error, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_multipart, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_part_fails, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_read_resume, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_list_remove_usage, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_list_second_page_nomem, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_cancel_write, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_close_early, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_no_server, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
