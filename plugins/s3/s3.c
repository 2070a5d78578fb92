/*
 * s3.c - the "s3" sink: backup objects in an S3-compatible bucket.
 *
 * An object with key "JOB/ID/NAME" is stored as PREFIX/JOB/ID/NAME in the
 * bucket.  Writes stream (upload.c): a stream that ends within the first
 * part is one PUT at commit, a longer one a multipart upload completed at
 * commit; either way nothing is visible under the key before commit, and
 * the core writes the manifest last, so a set is listed only when whole.
 *
 * This file is the top of the sink: the key table, create (the steps
 * below, each one group of keys, then creds.c), destroy and the
 * descriptor, whose ops are in list.c, upload.c, read.c and lock.c.
 * Which file uses which: see s3_internal.h.
 *
 * Uncommitted data can only be a multipart upload never completed, which
 * no listing shows; abort() removes those of a failed run, and a bucket
 * lifecycle rule (AbortIncompleteMultipartUpload) those of a killed one
 * (see cairn.ini(5)).
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "s3_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------- keys */

static const struct cairn_key s3_keys[] = {
        {.name = "endpoint",
         .type = CAIRN_KEY_STRING,
         .help = "http:// or https:// URL of the store; default AWS's https://s3.REGION.amazonaws.com"},
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
         .help = "path (https://host/BUCKET/KEY) or virtual (https://BUCKET.host/KEY); default virtual for AWS, else path"},
        {.name = "storage_class",
         .type = CAIRN_KEY_STRING,
         .help = "storage class of new objects (STANDARD_IA, GLACIER_IR, ...); default the bucket's"},
        {.name = "sse",
         .type = CAIRN_KEY_STRING,
         .help = "server-side encryption: AES256 or aws:kms"},
        {.name = "kms_key_id",
         .type = CAIRN_KEY_STRING,
         .help = "the KMS key for sse = aws:kms; default the account's S3 key"},
        {.name = "part_size",
         .type = CAIRN_KEY_SIZE,
         .default_value = "16777216",
         .help = "bytes per multipart part, at least 5M; memory is at most (upload_concurrency + 1) parts"},
        {.name = "upload_concurrency",
         .type = CAIRN_KEY_INT,
         .default_value = "4",
         .help = "parts uploaded at once, 1 to 64"},
        {.name = "max_retries",
         .type = CAIRN_KEY_INT,
         .default_value = "5",
         .help = "retries of a request after a connection error, timeout, 5xx or 429, with exponential backoff"},
        {.name = "timeout",
         .type = CAIRN_KEY_DURATION,
         .default_value = "60",
         .help = "seconds to connect, and without a byte moving, before a request counts as failed"},
        {.name = "min_speed",
         .type = CAIRN_KEY_SIZE,
         .default_value = "65536",
         .help = "bytes per second a download must average (after the first `timeout`), else it fails; 0: no floor"},
        {.name = "max_upload_rate",
         .type = CAIRN_KEY_SIZE,
         .default_value = "0",
         .help = "bytes per second for the uploads of one object together; 0: no limit"},
        {.name = "lock",
         .type = CAIRN_KEY_STRING,
         .default_value = "conditional",
         .help = "the job's lock in the bucket: conditional (If-None-Match: *; AWS S3, MinIO, Ceph RGW), refresh (lock objects, any store) or none"},
        {.name = "lock_stale",
         .type = CAIRN_KEY_DURATION,
         .default_value = "1800",
         .help = "a lock not refreshed for this long is a dead run's and is taken over; the holder refreshes it every sixth of it"},
        {.name = "ca_file",
         .type = CAIRN_KEY_PATH,
         .help = "PEM file of the CAs that sign the store's certificate"},
        {.name = "insecure",
         .type = CAIRN_KEY_BOOL,
         .default_value = "no",
         .help = "yes: do not check the store's TLS certificate (test stores only)"},
        {.name = "profile",
         .type = CAIRN_KEY_STRING,
         .help = "profile in the shared credentials file; default $AWS_PROFILE, else \"default\""},
        {.name = "access_key",
         .type = CAIRN_KEY_STRING,
         .flags = CAIRN_KEY_SECRET,
         .help = "access key id; default $AWS_ACCESS_KEY_ID, else the shared credentials file"},
        {.name = "secret_key",
         .type = CAIRN_KEY_STRING,
         .flags = CAIRN_KEY_SECRET,
         .help = "secret access key, with access_key"},
        {.name = NULL}};

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
			return s3_error(s3, CAIRN_E_NOMEM, "out of memory");
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
		return s3_error(
		        s3, CAIRN_E_CONFIG,
		        "endpoint must not hold a user or password (it has an '@'); give the credentials as access_key and secret_key");
	if (!host)
		return s3_error(s3, CAIRN_E_CONFIG,
		                "endpoint \"%s\" is not an http:// or https:// URL", ep);
	if (!*host || *host == '/' || strpbrk(ep, "?# \t\"\\"))
		return s3_error(
		        s3, CAIRN_E_CONFIG,
		        "endpoint \"%s\" must be scheme://host[:port][/path] without user, query or spaces",
		        ep);
	if (!(s3->endpoint = strdup(ep)))
		return s3_error(s3, CAIRN_E_NOMEM, "out of memory");
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
		s3_error(s3, CAIRN_E_CONFIG, "prefix \"%s\" is unusable: %s", p, why);
		free(core);
		return CAIRN_E_CONFIG;
	}
	if (asprintf(&s3->prefix, "%s/", core) < 0)
		s3->prefix = NULL;
	free(core);
	return s3->prefix ? 0 : CAIRN_E_NOMEM;
}

/* Where the objects go: region, addressing, bucket, endpoint, prefix. */
static int
s3_conf_where(struct s3 *s3, const struct cairn_config *cfg)
{
	const char *ep = s3_cfg_text(cfg, "endpoint"), *v;
	int rc;

	v = s3_cfg_text(cfg, "region");
	if (!v)
		v = "us-east-1";
	if (!s3_only(v, "-_"))
		return s3_error(s3, CAIRN_E_CONFIG,
		                "region \"%s\" is not a region name (like eu-west-1)", v);
	if (!(s3->region = strdup(v)))
		return s3_error(s3, CAIRN_E_NOMEM, "out of memory");

	v = s3_cfg_text(cfg, "addressing");
	if (!v)
		s3->virtual_host = ep == NULL;
	else if (!strcmp(v, "path"))
		s3->virtual_host = 0;
	else if (!strcmp(v, "virtual"))
		s3->virtual_host = 1;
	else
		return s3_error(s3, CAIRN_E_CONFIG, "addressing \"%s\" is neither path nor virtual",
		                v);

	v = s3_cfg_text(cfg, "bucket");
	if (!v)
		return s3_error(s3, CAIRN_E_CONFIG,
		                "bucket is not set; name the bucket that holds the backups");
	if (strlen(v) < 3 || strlen(v) > 255 || !s3_only(v, s3->virtual_host ? "-." : "-._") ||
	    (s3->virtual_host && strcspn(v, "ABCDEFGHIJKLMNOPQRSTUVWXYZ") != strlen(v)))
		return s3_error(
		        s3, CAIRN_E_CONFIG,
		        "bucket \"%s\" is not a bucket name (3 to 63 letters, digits, '-' and '.'%s)",
		        v, s3->virtual_host ? ", lower case for virtual addressing" : "");
	if (!(s3->bucket = strdup(v)))
		return s3_error(s3, CAIRN_E_NOMEM, "out of memory");
	if ((rc = s3_set_endpoint(s3, ep)))
		return rc;
	if ((rc = s3_set_prefix(s3, s3_cfg_text(cfg, "prefix"))) == CAIRN_E_NOMEM)
		s3_error(s3, rc, "out of memory");
	return rc;
}

/* How new objects are stored: storage class, server-side encryption. */
static int
s3_conf_objects(struct s3 *s3, const struct cairn_config *cfg)
{
	const char *v;

	if ((v = s3_cfg_text(cfg, "storage_class"))) {
		if (!s3_only(v, "_"))
			return s3_error(
			        s3, CAIRN_E_CONFIG,
			        "storage_class \"%s\" is not a storage class (like STANDARD_IA)",
			        v);
		if (!(s3->storage_class = strdup(v)))
			return s3_error(s3, CAIRN_E_NOMEM, "out of memory");
	}
	if ((v = s3_cfg_text(cfg, "sse"))) {
		if (strcmp(v, "AES256") && strcmp(v, "aws:kms"))
			return s3_error(s3, CAIRN_E_CONFIG,
			                "sse \"%s\" is neither AES256 nor aws:kms", v);
		if (!(s3->sse = strdup(v)))
			return s3_error(s3, CAIRN_E_NOMEM, "out of memory");
	}
	if ((v = s3_cfg_text(cfg, "kms_key_id"))) {
		if (!s3->sse || strcmp(s3->sse, "aws:kms"))
			return s3_error(s3, CAIRN_E_CONFIG, "kms_key_id needs sse = aws:kms");
		if (!s3_only(v, "-_:/"))
			return s3_error(s3, CAIRN_E_CONFIG,
			                "kms_key_id \"%s\" is not a key id or ARN", v);
		if (!(s3->kms_key_id = strdup(v)))
			return s3_error(s3, CAIRN_E_NOMEM, "out of memory");
	}
	return 0;
}

/* How transfers go: part size, parallel parts, retries, timeout, speeds. */
static int
s3_conf_transfer(struct s3 *s3, const struct cairn_config *cfg)
{
	int64_t n;

	n = s3_int(cfg, "part_size", 16 << 20);
	if (n < (int64_t)S3_MIN_PART_SIZE || n > (int64_t)S3_MAX_PART_SIZE)
		return s3_error(s3, CAIRN_E_CONFIG,
		                "part_size %lld is outside 5M to 5G, S3's limits", (long long)n);
	s3->part_size = (size_t)n;
	n = s3_int(cfg, "upload_concurrency", 4);
	if (n < 1 || n > 64)
		return s3_error(s3, CAIRN_E_CONFIG, "upload_concurrency %lld is outside 1 to 64",
		                (long long)n);
	s3->concurrency = (int)n;
	n = s3_int(cfg, "max_retries", 5);
	if (n < 0 || n > 100)
		return s3_error(s3, CAIRN_E_CONFIG, "max_retries %lld is outside 0 to 100",
		                (long long)n);
	s3->max_retries = (int)n;
	n = s3_int(cfg, "timeout", 60);
	if (n < 1 || n > 86400)
		return s3_error(s3, CAIRN_E_CONFIG, "timeout %lld s is outside 1 s to 1 day",
		                (long long)n);
	s3->timeout = (long)n;
	n = s3_int(cfg, "min_speed", 65536);
	if (n < 0)
		return s3_error(s3, CAIRN_E_CONFIG, "min_speed is negative");
	s3->min_speed = n;
	n = s3_int(cfg, "max_upload_rate", 0);
	if (n < 0)
		return s3_error(s3, CAIRN_E_CONFIG, "max_upload_rate is negative");
	s3->max_rate = n;
	return 0;
}

/* The job's lock (lock.c): its mode and when a holder counts as dead. */
static int
s3_conf_lock(struct s3 *s3, const struct cairn_config *cfg)
{
	const char *v = s3_cfg_text(cfg, "lock");

	if (!v || !strcmp(v, "conditional"))
		s3->lock_mode = S3_LOCK_CONDITIONAL;
	else if (!strcmp(v, "refresh"))
		s3->lock_mode = S3_LOCK_REFRESH;
	else if (!strcmp(v, "none"))
		s3->lock_mode = S3_LOCK_NONE;
	else
		return s3_error(s3, CAIRN_E_CONFIG,
		                "lock \"%s\" is not conditional, refresh or none", v);
	s3->lock_stale = s3_int(cfg, "lock_stale", 1800);
	if (s3->lock_stale < 60 || s3->lock_stale > 7 * 86400)
		return s3_error(s3, CAIRN_E_CONFIG, "lock_stale %lld s is outside 60 s to 7 days",
		                (long long)s3->lock_stale);
	return 0;
}

/* TLS and the signature's scope. */
static int
s3_conf_tls(struct s3 *s3, const struct cairn_config *cfg)
{
	const char *v;

	if ((v = s3_cfg_text(cfg, "ca_file")) && !(s3->ca_file = strdup(v)))
		return s3_error(s3, CAIRN_E_NOMEM, "out of memory");
	s3->insecure = s3_int(cfg, "insecure", 0) != 0;
	if (asprintf(&s3->sigv4, "aws:amz:%s:s3", s3->region) < 0) {
		s3->sigv4 = NULL;
		return s3_error(s3, CAIRN_E_NOMEM, "out of memory");
	}
	return 0;
}

static int
s3_create(cairn_ctx *ctx, const struct cairn_config *cfg, void **instance)
{
	struct s3 *s3;
	int rc;

	*instance = NULL;
	s3 = calloc(1, sizeof(*s3));
	if (!s3)
		return cairn_error(s3_host, ctx, CAIRN_E_NOMEM, "out of memory");
	s3->ctx = ctx;
	if (!(s3->name = strdup(cfg->instance ? cfg->instance : "s3"))) {
		free(s3);
		return cairn_error(s3_host, ctx, CAIRN_E_NOMEM, "sink: out of memory");
	}
	if ((rc = s3_conf_where(s3, cfg)) || (rc = s3_conf_objects(s3, cfg)) ||
	    (rc = s3_conf_transfer(s3, cfg)) || (rc = s3_conf_lock(s3, cfg)) ||
	    (rc = s3_conf_tls(s3, cfg)) || (rc = s3_credentials(s3, cfg))) {
		s3_destroy(s3);
		return rc;
	}
	s3_global_init();
	*instance = s3;
	return 0;
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
