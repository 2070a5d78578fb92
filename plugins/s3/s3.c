/*
 * s3.c - the "s3" sink: backup objects in an S3-compatible bucket.
 *
 * An object with key "JOB/ID/NAME" is stored as PREFIX/JOB/ID/NAME in the
 * bucket.  Writes stream (upload.c): a stream that ends within the first
 * part is one PUT at commit, a longer one a multipart upload completed at
 * commit; either way nothing is visible under the key before commit, and
 * the core writes the manifest last, so a set is listed only when whole.
 *
 * No lock().  S3 has no primitive that makes "create unless it exists"
 * atomic across the stores cairn targets: conditional PUT (If-None-Match)
 * came to AWS only in 2024 and S3-compatible stores ignore it or refuse
 * it, and a lock object that is only checked, then written, lets two runs
 * both take it.  A lock that does not exclude is worse than none, so the
 * core's rule for sinks without lock() applies: uncommitted leftovers are
 * removed after the grace period.  Uncommitted data here can only be a
 * multipart upload never completed, which no listing shows; abort()
 * removes those of a failed run, and a bucket lifecycle rule
 * (AbortIncompleteMultipartUpload) those of a killed one (see
 * cairn.ini(5)).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "s3.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

const struct cairn_host *s3_host;

/* ---------------------------------------------------------------- keys */

static const struct cairn_key s3_keys[] = {
        {.name = "endpoint",
         .type = CAIRN_KEY_STRING,
         .help = "http:// or https:// URL of the store; default AWS's "
                 "https://s3.REGION.amazonaws.com"},
        {.name = "region",
         .type = CAIRN_KEY_STRING,
         .default_value = "us-east-1",
         .help = "the bucket's region, part of every signature"},
        {.name = "bucket",
         .type = CAIRN_KEY_STRING,
         .flags = CAIRN_KEY_REQUIRED,
         .help = "the bucket that holds the backups (it must exist)"},
        {.name = "prefix",
         .type = CAIRN_KEY_STRING,
         .help = "key prefix below which the backups lie, e.g. \"cairn/host1\""},
        {.name = "addressing",
         .type = CAIRN_KEY_STRING,
         .help = "path (https://host/BUCKET/KEY) or virtual "
                 "(https://BUCKET.host/KEY); default virtual for AWS, else path"},
        {.name = "storage_class",
         .type = CAIRN_KEY_STRING,
         .help = "storage class of new objects (STANDARD_IA, GLACIER_IR, ...); "
                 "default the bucket's"},
        {.name = "sse",
         .type = CAIRN_KEY_STRING,
         .help = "server-side encryption: AES256 or aws:kms"},
        {.name = "kms_key_id",
         .type = CAIRN_KEY_STRING,
         .help = "the KMS key for sse = aws:kms; default the account's S3 key"},
        {.name = "part_size",
         .type = CAIRN_KEY_SIZE,
         .default_value = "16777216",
         .help = "bytes per multipart part, at least 5M; memory is at most "
                 "(upload_concurrency + 1) parts"},
        {.name = "upload_concurrency",
         .type = CAIRN_KEY_INT,
         .default_value = "4",
         .help = "parts uploaded at once, 1 to 64"},
        {.name = "max_retries",
         .type = CAIRN_KEY_INT,
         .default_value = "5",
         .help = "retries of a request after a connection error, timeout, 5xx "
                 "or 429, with exponential backoff"},
        {.name = "timeout",
         .type = CAIRN_KEY_DURATION,
         .default_value = "60",
         .help = "seconds to connect, and without a byte moving, before a "
                 "request counts as failed"},
        {.name = "min_speed",
         .type = CAIRN_KEY_SIZE,
         .default_value = "65536",
         .help = "bytes per second a download must average (after the first "
                 "`timeout`), else it fails; 0: no floor"},
        {.name = "max_upload_rate",
         .type = CAIRN_KEY_SIZE,
         .default_value = "0",
         .help = "bytes per second for the uploads of one object together; "
                 "0: no limit"},
        {.name = "lock",
         .type = CAIRN_KEY_STRING,
         .default_value = "conditional",
         .help = "the job's lock in the bucket: conditional (If-None-Match: *; AWS "
                 "S3, MinIO, Ceph RGW), refresh (lock objects, any store) or none"},
        {.name = "lock_stale",
         .type = CAIRN_KEY_DURATION,
         .default_value = "1800",
         .help = "a lock not refreshed for this long is a dead run's and is taken "
                 "over; the holder refreshes it every sixth of it"},
        {.name = "ca_file",
         .type = CAIRN_KEY_PATH,
         .help = "PEM file of the CAs that sign the store's certificate"},
        {.name = "insecure",
         .type = CAIRN_KEY_BOOL,
         .default_value = "no",
         .help = "yes: do not check the store's TLS certificate (test stores "
                 "only)"},
        {.name = "profile",
         .type = CAIRN_KEY_STRING,
         .help = "profile in the shared credentials file; default $AWS_PROFILE, "
                 "else \"default\""},
        {.name = "access_key",
         .type = CAIRN_KEY_STRING,
         .flags = CAIRN_KEY_SECRET,
         .help = "access key id; default $AWS_ACCESS_KEY_ID, else the shared "
                 "credentials file"},
        {.name = "secret_key",
         .type = CAIRN_KEY_STRING,
         .flags = CAIRN_KEY_SECRET,
         .help = "secret access key, with access_key"},
        {.name = NULL}};

/* -------------------------------------------------------------- errors */

int
s3_report(struct s3 *s3, const struct s3_status *st)
{
	if (st->rc)
		s3_host->set_error(s3->ctx, "%s", st->msg);
	return st->rc;
}

static int s3_err(cairn_ctx *ctx, int rc, const char *fmt, ...) CAIRN_PRINTF(3, 4);

static int
s3_err(cairn_ctx *ctx, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	if (CAIRN_HOST_HAS(s3_host, vset_error) && s3_host->vset_error) {
		s3_host->vset_error(ctx, fmt, ap);
	} else {
		char line[S3_MSG_MAX];
		vsnprintf(line, sizeof(line), fmt, ap);
		s3_host->set_error(ctx, "%s", line);
	}
	va_end(ap);
	return rc;
}

/* ----------------------------------------------------------- key names */

/* Like the local sink's: relative, no empty, "." or ".." components.
 * Names starting with '.' are allowed (S3 has no hidden names). */
static const char *
s3_key_problem(const char *key)
{
	const char *c;
	size_t len;

	if (!key || !*key)
		return "it is empty";
	if (key[0] == '/')
		return "it starts with '/'";
	for (c = key; *c; c += len + (c[len] == '/')) {
		len = strcspn(c, "/");
		if (len == 0)
			return "it has an empty component";
		if ((len == 1 && c[0] == '.') || (len == 2 && c[0] == '.' && c[1] == '.'))
			return "it has a \".\" or \"..\" component";
		if (c[len] == '/' && c[len + 1] == '\0')
			return "it ends with '/'";
	}
	for (c = key; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return "it contains a control character";
	return NULL;
}

char *
s3_full_key(const struct s3 *s3, const char *key, struct s3_status *st)
{
	const char *why = s3_key_problem(key);
	char *full;

	if (why) {
		s3_fail(st, CAIRN_E_CONFIG,
		        "invalid object key \"%s\": %s; rename the job or source it comes "
		        "from",
		        key ? key : "", why);
		return NULL;
	}
	if (asprintf(&full, "%s%s", s3->prefix, key) < 0) {
		s3_fail(st, CAIRN_E_NOMEM, "out of memory");
		return NULL;
	}
	if (strlen(full) > 1024) {
		s3_fail(st, CAIRN_E_CONFIG,
		        "object key s3://%s/%.100s... is longer than S3's 1024 bytes: "
		        "shorten prefix or the job's name",
		        s3->bucket, full);
		free(full);
		return NULL;
	}
	return full;
}

/* --------------------------------------------------------- credentials */

void
s3_creds_free(struct s3_creds *c)
{
	if (!c)
		return;
	if (c->secret_key)
		explicit_bzero(c->secret_key, strlen(c->secret_key));
	if (c->session_token)
		explicit_bzero(c->session_token, strlen(c->session_token));
	free(c->access_key);
	free(c->secret_key);
	free(c->session_token);
	memset(c, 0, sizeof(*c));
}

/* Debian's inih reads lines of at most 200 bytes, and session tokens are
 * longer.  The reader hands inih such a line as "NAME = \1N" and keeps
 * the value aside; the handler takes it back from there. */
#define S3_LONG_MARK '\1'
#define S3_LONG_MAX 8

struct s3_cred_parse {
	FILE *f;
	const char *profile;
	struct s3_creds *out;
	int found; /* the profile's section was seen */
	int oom;
	int toolong; /* a line longer than any credential */
	char *longv[S3_LONG_MAX];
	int nlong;
};

static char *
s3_cred_reader(char *str, int num, void *stream)
{
	struct s3_cred_parse *p = stream;
	char line[8192], *eq;
	size_t len;

	if (!fgets(line, sizeof(line), p->f))
		return NULL;
	len = strlen(line);
	if (len == sizeof(line) - 1 && line[len - 1] != '\n') {
		int ch;
		p->toolong = 1;
		while ((ch = fgetc(p->f)) != EOF && ch != '\n')
			;
		line[0] = '\0';
		len = 0;
	}
	if ((int)len < num - 2 || !(eq = strchr(line, '=')) || p->nlong == S3_LONG_MAX) {
		if ((int)len >= num - 2)
			line[num - 2] = '\0'; /* a comment or junk: inih's own way */
		snprintf(str, (size_t)num, "%s", line);
		return str;
	}
	*eq = '\0';
	eq++;
	eq += strspn(eq, " \t");
	eq[strcspn(eq, "\r\n")] = '\0';
	if (!(p->longv[p->nlong] = strdup(eq))) {
		p->oom = 1;
		return NULL;
	}
	snprintf(str, (size_t)num, "%.*s=%c%d\n", num - 8, line, S3_LONG_MARK, p->nlong++);
	return str;
}

static int
s3_cred_handler(void *ud, const char *section, const char *name, const char *value)
{
	struct s3_cred_parse *p = ud;
	char **slot = NULL;

	if (strcmp(section, p->profile))
		return 1;
	p->found = 1;
	if (!name)
		return 1;
	if (value[0] == S3_LONG_MARK) {
		int k = atoi(value + 1);
		if (k < 0 || k >= p->nlong)
			return 0;
		value = p->longv[k];
	}
	if (!strcmp(name, "aws_access_key_id"))
		slot = &p->out->access_key;
	else if (!strcmp(name, "aws_secret_access_key"))
		slot = &p->out->secret_key;
	else if (!strcmp(name, "aws_session_token"))
		slot = &p->out->session_token;
	if (!slot)
		return 1;
	free(*slot);
	if (!(*slot = strdup(value))) {
		p->oom = 1;
		return 0;
	}
	return 1;
}

/* 0: found (out filled); CAIRN_E_NOTFOUND: no such file or profile (why
 * says which); another code: the file is unusable (why says how). */
int
s3_creds_parse_file(const char *path, const char *profile, struct s3_creds *out, char *why,
                    size_t whylen)
{
	struct s3_cred_parse p = {.profile = profile, .out = out};
	int fd, line, rc = 0, k;
	struct stat st;

	memset(out, 0, sizeof(*out));
	do
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	while (fd < 0 && errno == EINTR);
	if (fd < 0) {
		snprintf(why, whylen, "%s: %s", path, strerror(errno));
		return errno == ENOENT ? CAIRN_E_NOTFOUND : CAIRN_E_CONFIG;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(why, whylen, "%s is not a regular file", path);
		close(fd);
		return CAIRN_E_CONFIG;
	}
	p.f = fdopen(fd, "r");
	if (!p.f) {
		close(fd);
		snprintf(why, whylen, "out of memory");
		return CAIRN_E_NOMEM;
	}
	line = ini_parse_stream(s3_cred_reader, &p, s3_cred_handler, &p);
	fclose(p.f);
	for (k = 0; k < p.nlong; k++) {
		explicit_bzero(p.longv[k], strlen(p.longv[k]));
		free(p.longv[k]);
	}
	if (p.oom) {
		snprintf(why, whylen, "out of memory");
		rc = CAIRN_E_NOMEM;
	} else if (p.toolong) {
		snprintf(why, whylen, "%s has a line longer than 8 KiB: fix the file", path);
		rc = CAIRN_E_CONFIG;
	} else if (line) {
		snprintf(why, whylen, "%s, line %d: not INI syntax: fix the file", path, line);
		rc = CAIRN_E_CONFIG;
	} else if (!p.found) {
		snprintf(why, whylen, "%s has no [%s] profile", path, profile);
		rc = CAIRN_E_NOTFOUND;
	} else if (!out->access_key || !*out->access_key || !out->secret_key || !*out->secret_key) {
		snprintf(why, whylen,
		         "%s, profile [%s]: aws_access_key_id and aws_secret_access_key "
		         "must both be set",
		         path, profile);
		rc = CAIRN_E_CONFIG;
	}
	if (rc)
		s3_creds_free(out);
	return rc;
}

static char *
s3_home(void)
{
	const char *h = getenv("HOME");
	struct passwd pw, *res = NULL;
	char buf[4096];

	if (h && *h)
		return strdup(h);
	if (getpwuid_r(getuid(), &pw, buf, sizeof(buf), &res) == 0 && res && res->pw_dir)
		return strdup(res->pw_dir);
	return NULL;
}

static int
s3_dupkeys(struct s3 *s3, const char *ak, const char *sk, const char *tok, const char *from)
{
	s3->access_key = strdup(ak);
	s3->secret_key = strdup(sk);
	s3->session_token = tok && *tok ? strdup(tok) : NULL;
	s3->cred_from = strdup(from);
	if (!s3->access_key || !s3->secret_key || !s3->cred_from ||
	    (tok && *tok && !s3->session_token))
		return s3_err(s3->ctx, CAIRN_E_NOMEM, "out of memory");
	return 0;
}

/* Credentials, first found wins: the INI, the environment, the shared
 * credentials file.  The environment is only read. */
static int
s3_credentials(struct s3 *s3, const struct cairn_config *cfg)
{
	const struct cairn_value *ak = cairn_config_get(cfg, "access_key");
	const struct cairn_value *sk = cairn_config_get(cfg, "secret_key");
	const struct cairn_value *pv = cairn_config_get(cfg, "profile");
	const char *eak = getenv("AWS_ACCESS_KEY_ID"), *esk = getenv("AWS_SECRET_ACCESS_KEY");
	const char *file = getenv("AWS_SHARED_CREDENTIALS_FILE"), *profile;
	int has_ak = ak && ak->set && ak->text && *ak->text;
	int has_sk = sk && sk->set && sk->text && *sk->text;
	struct s3_creds c;
	char why[1024], *home = NULL, *path = NULL, *from = NULL;
	int rc;

	if (has_ak != has_sk)
		return s3_err(s3->ctx, CAIRN_E_CONFIG,
		              "%s is set but %s is not: give both (or neither, "
		              "to take them from the environment or ~/.aws/credentials)",
		              has_ak ? "access_key" : "secret_key",
		              has_ak ? "secret_key" : "access_key");
	if (has_ak)
		return s3_dupkeys(s3, ak->text, sk->text, NULL, "the configuration");
	if (eak && *eak && esk && *esk)
		return s3_dupkeys(s3, eak, esk, getenv("AWS_SESSION_TOKEN"),
		                  "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY");
	profile = pv && pv->set && pv->text && *pv->text ? pv->text : getenv("AWS_PROFILE");
	if (!profile || !*profile)
		profile = "default";
	if (file && *file) {
		path = strdup(file);
	} else {
		home = s3_home();
		if (home && asprintf(&path, "%s/.aws/credentials", home) < 0)
			path = NULL;
	}
	if (!path) {
		free(home);
		return s3_err(s3->ctx, CAIRN_E_CONFIG,
		              "no credentials: set access_key and secret_key, or "
		              "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (no home directory "
		              "for ~/.aws/credentials)");
	}
	rc = s3_creds_parse_file(path, profile, &c, why, sizeof(why));
	if (rc == CAIRN_E_NOTFOUND) {
		rc = s3_err(s3->ctx, CAIRN_E_CONFIG,
		            "no credentials: set access_key and secret_key, or "
		            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a [%s] profile in "
		            "%s (%s)",
		            profile, path, why);
	} else if (rc) {
		rc = s3_err(s3->ctx, rc, "cannot read credentials: %s", why);
	} else if (asprintf(&from, "%s, profile [%s]", path, profile) < 0) {
		rc = s3_err(s3->ctx, CAIRN_E_NOMEM, "out of memory");
	} else {
		rc = s3_dupkeys(s3, c.access_key, c.secret_key, c.session_token, from);
	}
	s3_creds_free(&c);
	free(from);
	free(path);
	free(home);
	return rc;
}

/* ------------------------------------------------------ create, destroy */

static void
s3_free_secret(char *s)
{
	if (!s)
		return;
	explicit_bzero(s, strlen(s));
	free(s);
}

static void
s3_destroy(void *instance)
{
	struct s3 *s3 = instance;

	if (!s3)
		return;
	if (s3->curl)
		curl_easy_cleanup(s3->curl);
	free(s3->name);
	free(s3->endpoint);
	free(s3->region);
	free(s3->bucket);
	free(s3->prefix);
	free(s3->storage_class);
	free(s3->sse);
	free(s3->kms_key_id);
	free(s3->ca_file);
	free(s3->access_key);
	s3_free_secret(s3->secret_key);
	s3_free_secret(s3->session_token);
	free(s3->cred_from);
	free(s3->sigv4);
	free(s3);
}

static const char *
s3_cfg_text(const struct cairn_config *cfg, const char *name)
{
	const struct cairn_value *v = cairn_config_get(cfg, name);

	return v && v->set && v->text && *v->text ? v->text : NULL;
}

static int64_t
s3_int(const struct cairn_config *cfg, const char *name, int64_t dflt)
{
	const struct cairn_value *v = cairn_config_get(cfg, name);

	return v && v->set ? v->i : dflt;
}

static int
s3_only(const char *s, const char *allowed)
{
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr(allowed, *s))
			return 0;
	return 1;
}

/* Check and keep the endpoint: scheme://host[:port][/base]. */
static int
s3_set_endpoint(struct s3 *s3, const char *ep)
{
	const char *host;
	size_t len;

	if (!ep) {
		if (asprintf(&s3->endpoint, "https://s3.%s.amazonaws.com", s3->region) < 0)
			return s3_err(s3->ctx, CAIRN_E_NOMEM, "out of memory");
		return 0;
	}
	if (!strncmp(ep, "https://", 8))
		host = ep + 8;
	else if (!strncmp(ep, "http://", 7))
		host = ep + 7;
	else
		host = NULL;
	/* user:password@ may be there: never repeat what precedes the '@' */
	if (strchr(ep, '@'))
		return s3_err(s3->ctx, CAIRN_E_CONFIG,
		              "endpoint must not hold a user or password (it has an '@'); give "
		              "the credentials as access_key and secret_key");
	if (!host)
		return s3_err(s3->ctx, CAIRN_E_CONFIG,
		              "endpoint \"%s\" is not an http:// or https:// URL", ep);
	if (!*host || *host == '/' || strpbrk(ep, "?# \t\"\\"))
		return s3_err(s3->ctx, CAIRN_E_CONFIG,
		              "endpoint \"%s\" must be scheme://host[:port][/path] "
		              "without user, query or spaces",
		              ep);
	if (!(s3->endpoint = strdup(ep)))
		return s3_err(s3->ctx, CAIRN_E_NOMEM, "out of memory");
	len = strlen(s3->endpoint);
	while (len && s3->endpoint[len - 1] == '/')
		s3->endpoint[--len] = '\0';
	return 0;
}

/* "a/b", "/a/b/" -> "a/b/"; "" stays "". */
static int
s3_set_prefix(struct s3 *s3, const char *p)
{
	const char *why;
	char *core;
	size_t len;

	while (p && *p == '/')
		p++;
	if (!p || !*p)
		return (s3->prefix = strdup("")) ? 0 : CAIRN_E_NOMEM;
	core = strdup(p);
	if (!core)
		return CAIRN_E_NOMEM;
	len = strlen(core);
	while (len && core[len - 1] == '/')
		core[--len] = '\0';
	why = s3_key_problem(core);
	if (why) {
		s3_err(s3->ctx, CAIRN_E_CONFIG, "prefix \"%s\" is unusable: %s", p, why);
		free(core);
		return CAIRN_E_CONFIG;
	}
	if (asprintf(&s3->prefix, "%s/", core) < 0)
		s3->prefix = NULL;
	free(core);
	return s3->prefix ? 0 : CAIRN_E_NOMEM;
}

static int
s3_create(cairn_ctx *ctx, const struct cairn_config *cfg, void **instance)
{
	const char *ep = s3_cfg_text(cfg, "endpoint"), *v;
	struct s3 *s3;
	int64_t n;
	int rc;

	*instance = NULL;
	s3 = calloc(1, sizeof(*s3));
	if (!s3)
		return s3_err(ctx, CAIRN_E_NOMEM, "out of memory");
	s3->ctx = ctx;
	if (!(s3->name = strdup(cfg->instance ? cfg->instance : "s3"))) {
		free(s3);
		return s3_err(ctx, CAIRN_E_NOMEM, "sink: out of memory");
	}
	rc = CAIRN_E_CONFIG;

	v = s3_cfg_text(cfg, "region");
	if (!v)
		v = "us-east-1";
	if (!s3_only(v, "-_")) {
		s3_err(ctx, rc, "region \"%s\" is not a region name (like eu-west-1)", v);
		goto fail;
	}
	s3->region = strdup(v);

	v = s3_cfg_text(cfg, "addressing");
	if (!v)
		s3->virtual_host = ep == NULL;
	else if (!strcmp(v, "path"))
		s3->virtual_host = 0;
	else if (!strcmp(v, "virtual"))
		s3->virtual_host = 1;
	else {
		s3_err(ctx, rc, "addressing \"%s\" is neither path nor virtual", v);
		goto fail;
	}

	v = s3_cfg_text(cfg, "bucket");
	if (!v) {
		s3_err(ctx, rc, "bucket is not set; name the bucket that holds the backups");
		goto fail;
	}
	if (strlen(v) < 3 || strlen(v) > 255 || !s3_only(v, s3->virtual_host ? "-." : "-._") ||
	    (s3->virtual_host && strcspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != strlen(v))) {
		s3_err(ctx, rc,
		       "bucket \"%s\" is not a bucket name (3 to 63 letters, digits, "
		       "'-' and '.'%s)",
		       v, s3->virtual_host ? ", lower case for virtual addressing" : "");
		goto fail;
	}
	s3->bucket = strdup(v);
	if (!s3->region || !s3->bucket) {
		rc = s3_err(ctx, CAIRN_E_NOMEM, "out of memory");
		goto fail;
	}
	if ((rc = s3_set_endpoint(s3, ep)))
		goto fail;
	if ((rc = s3_set_prefix(s3, s3_cfg_text(cfg, "prefix")))) {
		if (rc == CAIRN_E_NOMEM)
			s3_err(ctx, rc, "out of memory");
		goto fail;
	}
	rc = CAIRN_E_CONFIG;

	if ((v = s3_cfg_text(cfg, "storage_class"))) {
		if (!s3_only(v, "_")) {
			s3_err(ctx, rc,
			       "storage_class \"%s\" is not a storage class "
			       "(like STANDARD_IA)",
			       v);
			goto fail;
		}
		s3->storage_class = strdup(v);
	}
	if ((v = s3_cfg_text(cfg, "sse"))) {
		if (strcmp(v, "AES256") && strcmp(v, "aws:kms")) {
			s3_err(ctx, rc, "sse \"%s\" is neither AES256 nor aws:kms", v);
			goto fail;
		}
		s3->sse = strdup(v);
	}
	if ((v = s3_cfg_text(cfg, "kms_key_id"))) {
		if (!s3->sse || strcmp(s3->sse, "aws:kms")) {
			s3_err(ctx, rc, "kms_key_id needs sse = aws:kms");
			goto fail;
		}
		if (!s3_only(v, "-_:/")) {
			s3_err(ctx, rc, "kms_key_id \"%s\" is not a key id or ARN", v);
			goto fail;
		}
		s3->kms_key_id = strdup(v);
	}

	n = s3_int(cfg, "part_size", 16 << 20);
	if (n < (int64_t)S3_MIN_PART_SIZE || n > (int64_t)S3_MAX_PART_SIZE) {
		s3_err(ctx, rc, "part_size %lld is outside 5M to 5G, S3's limits", (long long)n);
		goto fail;
	}
	s3->part_size = (size_t)n;
	n = s3_int(cfg, "upload_concurrency", 4);
	if (n < 1 || n > 64) {
		s3_err(ctx, rc, "upload_concurrency %lld is outside 1 to 64", (long long)n);
		goto fail;
	}
	s3->concurrency = (int)n;
	n = s3_int(cfg, "max_retries", 5);
	if (n < 0 || n > 100) {
		s3_err(ctx, rc, "max_retries %lld is outside 0 to 100", (long long)n);
		goto fail;
	}
	s3->max_retries = (int)n;
	n = s3_int(cfg, "timeout", 60);
	if (n < 1 || n > 86400) {
		s3_err(ctx, rc, "timeout %lld s is outside 1 s to 1 day", (long long)n);
		goto fail;
	}
	s3->timeout = (long)n;
	n = s3_int(cfg, "min_speed", 65536);
	if (n < 0) {
		s3_err(ctx, rc, "min_speed is negative");
		goto fail;
	}
	s3->min_speed = n;
	n = s3_int(cfg, "max_upload_rate", 0);
	if (n < 0) {
		s3_err(ctx, rc, "max_upload_rate is negative");
		goto fail;
	}
	s3->max_rate = n;
	v = s3_cfg_text(cfg, "lock");
	if (!v || !strcmp(v, "conditional"))
		s3->lock_mode = S3_LOCK_CONDITIONAL;
	else if (!strcmp(v, "refresh"))
		s3->lock_mode = S3_LOCK_REFRESH;
	else if (!strcmp(v, "none"))
		s3->lock_mode = S3_LOCK_NONE;
	else {
		s3_err(ctx, rc, "lock \"%s\" is not conditional, refresh or none", v);
		goto fail;
	}
	s3->lock_stale = s3_int(cfg, "lock_stale", 1800);
	if (s3->lock_stale < 60 || s3->lock_stale > 7 * 86400) {
		s3_err(ctx, rc, "lock_stale %lld s is outside 60 s to 7 days",
		       (long long)s3->lock_stale);
		goto fail;
	}
	if ((v = s3_cfg_text(cfg, "ca_file")))
		s3->ca_file = strdup(v);
	s3->insecure = s3_int(cfg, "insecure", 0) != 0;
	if (asprintf(&s3->sigv4, "aws:amz:%s:s3", s3->region) < 0)
		s3->sigv4 = NULL;
	if (!s3->sigv4 || ((v = s3_cfg_text(cfg, "storage_class")) && !s3->storage_class) ||
	    (s3_cfg_text(cfg, "sse") && !s3->sse) ||
	    (s3_cfg_text(cfg, "kms_key_id") && !s3->kms_key_id) ||
	    (s3_cfg_text(cfg, "ca_file") && !s3->ca_file)) {
		rc = s3_err(ctx, CAIRN_E_NOMEM, "out of memory");
		goto fail;
	}
	if ((rc = s3_credentials(s3, cfg)))
		goto fail;
	s3_global_init();
	*instance = s3;
	return 0;
fail:
	s3_destroy(s3);
	return rc;
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

/* ----------------------------------------------------- list and usage */

struct s3_walk {
	cairn_list_cb cb;
	void *userdata;
	uint64_t used;
};

/* Every object whose full key starts with PREFIX + sub, page by page, a
 * page (1000 keys) in memory at a time.  cb NULL: sum sizes into used. */
static int
s3_walk(struct s3 *s3, const char *sub, struct s3_walk *w)
{
	struct s3_status st = {0};
	struct s3_req r = {.range_from = -1};
	struct s3_list_page page;
	char *full = NULL, *encp = NULL, *enct = NULL, *token = NULL, *query = NULL;
	char why[512];
	size_t plen = strlen(s3->prefix), i;
	CURL *curl = s3_op_curl(s3, &st);
	int rc = 0, stop = 0;

	if (!curl)
		return s3_report(s3, &st);
	if (asprintf(&full, "%s%s", s3->prefix, sub ? sub : "") < 0 ||
	    !(encp = s3_uri_encode(full, 0))) {
		free(full);
		return s3_err(s3->ctx, CAIRN_E_NOMEM, "out of memory");
	}
	do {
		free(query);
		free(enct);
		query = enct = NULL;
		if (token && !(enct = s3_uri_encode(token, 0))) {
			rc = s3_err(s3->ctx, CAIRN_E_NOMEM, "out of memory");
			break;
		}
		/* Sorted by name, as the signature is over the query as sent. */
		if (asprintf(&query, "%s%s%slist-type=2&prefix=%s",
		             enct ? "continuation-token=" : "", enct ? enct : "", enct ? "&" : "",
		             encp) < 0) {
			query = NULL;
			rc = s3_err(s3->ctx, CAIRN_E_NOMEM, "out of memory");
			break;
		}
		r.method = "GET";
		r.query = query;
		r.what = "listing";
		r.ctx = s3->ctx;
		rc = s3_request(s3, curl, &r, &st);
		if (rc) {
			s3_report(s3, &st);
			break;
		}
		if (s3_xml_list(r.resp, r.resp_len, &page, why, sizeof(why)) < 0) {
			rc = s3_err(s3->ctx, CAIRN_E_CORRUPT,
			            "s3://%s/%s: the store's listing is unusable: %s; check that "
			            "endpoint is an S3 store",
			            s3->bucket, full, why);
			break;
		}
		for (i = 0; i < page.n && !stop; i++) {
			const char *k = page.v[i].key;
			/* Only what cairn could have written: below the prefix,
			 * a valid key (no "directory" markers ending in '/'). */
			if (strncmp(k, s3->prefix, plen) || s3_key_problem(k + plen))
				continue;
			if (w->cb)
				stop = w->cb(w->userdata, k + plen, page.v[i].size,
				             page.v[i].mtime);
			else
				w->used += page.v[i].size;
		}
		free(token);
		token = page.truncated && page.next_token ? strdup(page.next_token) : NULL;
		if (page.truncated && !token && !stop)
			rc = s3_err(s3->ctx, CAIRN_E_NOMEM, "out of memory");
		s3_list_page_free(&page);
		if (s3->ctx && s3_host->cancelled(s3->ctx) && token && !stop) {
			rc = s3_err(s3->ctx, CAIRN_E_CANCELLED, "s3://%s/%s: listing stopped",
			            s3->bucket, full);
			break;
		}
	} while (!rc && token && !stop);
	s3_req_reset(&r);
	free(token);
	free(enct);
	free(query);
	free(encp);
	free(full);
	return rc;
}

int
s3_list(void *instance, const char *prefix, cairn_list_cb cb, void *userdata)
{
	struct s3_walk w = {.cb = cb, .userdata = userdata};

	return s3_walk(instance, prefix, &w);
}

static int
s3_usage(void *instance, struct cairn_usage *usage)
{
	struct s3_walk w = {0};
	int rc = s3_walk(instance, "", &w);

	if (rc)
		return rc;
	usage->used = w.used;
	usage->avail = UINT64_MAX;
	usage->total = UINT64_MAX;
	return 0;
}

/* -------------------------------------------------------------- remove */

static int
s3_remove(void *instance, const char *key)
{
	struct s3 *s3 = instance;
	struct s3_status st = {0};
	struct s3_req r = {.range_from = -1};
	char *full = s3_full_key(s3, key, &st);
	CURL *curl;
	int rc;

	if (!full)
		return s3_report(s3, &st);
	if (!(curl = s3_op_curl(s3, &st))) {
		free(full);
		return s3_report(s3, &st);
	}
	/* DELETE answers 204 whether or not the object was there; the
	 * contract wants NOTFOUND for a missing one, so look first. */
	r.method = "HEAD";
	r.key = full;
	r.what = "removal";
	r.ctx = s3->ctx;
	rc = s3_request(s3, curl, &r, &st);
	if (rc == CAIRN_E_NOTFOUND && r.http == 404) {
		rc = s3_err(s3->ctx, CAIRN_E_NOTFOUND,
		            "backup object %s not found: there is no s3://%s/%s", key, s3->bucket,
		            full);
	} else if (rc) {
		s3_report(s3, &st);
	} else {
		r.method = "DELETE";
		rc = s3_request(s3, curl, &r, &st);
		if (rc)
			s3_report(s3, &st);
	}
	s3_req_reset(&r);
	free(full);
	return rc;
}

/* ----------------------------------------------------------- descriptor */

static const struct cairn_sink_ops s3_ops = {
        .struct_size = sizeof(struct cairn_sink_ops),
        .create = s3_create,
        .destroy = s3_destroy,
        .open_write = s3_open_write,
        .write = s3_write,
        .commit = s3_commit,
        .abort = s3_abort,
        .open_read = s3_open_read,
        .read = s3_read,
        .close_read = s3_close_read,
        .list = s3_list,
        .remove = s3_remove,
        .usage = s3_usage,
        .lock = s3_lock,
        .unlock = s3_unlock,
};

static const struct cairn_plugin s3_plugin = {
        .struct_size = sizeof(struct cairn_plugin),
        .abi_major = CAIRN_ABI_MAJOR,
        .abi_minor = CAIRN_ABI_MINOR,
        .name = "s3",
        .version = "0.1.0",
        .kind = CAIRN_KIND_SINK,
        .description = "an S3-compatible bucket as backup store, with streaming multipart uploads",
        .keys = s3_keys,
        .sink = &s3_ops,
        /* the credentials taken from the environment: kept from hooks */
        .secret_env = (const char *const[]){"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                            "AWS_SESSION_TOKEN", NULL},
};

CAIRN_EXPORT const struct cairn_plugin *
cairn_plugin_entry(const struct cairn_host *host)
{
	s3_host = host;
	return &s3_plugin;
}
