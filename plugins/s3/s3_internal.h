/*
 * s3_internal.h - what the files of the "s3" sink share.  Each file uses
 * only the ones below it:
 *
 *   s3.c      the top: keys, create/destroy (endpoint, objects, transfer,
 *             lock, credentials), the descriptor and its ops
 *   lock.c    the job's lock: a conditional create or refreshed objects
 *   list.c    list, usage and remove: ListObjectsV2 page by page
 *   upload.c  the writer: one PUT or a multipart upload with parts in
 *             flight on worker threads
 *   read.c    the reader: a GET streamed by a thread into a ring buffer,
 *             resumed with Range after a dropped connection
 *   creds.c   the credentials: INI, environment or shared file
 *   http.c    the connection: one request with retries, URL, headers,
 *             SigV4 through libcurl, error bodies turned into one line
 *   xml.c     libxml2 parsing of listings, errors and upload results
 *   common.c  the bottom: the host pointer, error and log helpers, key
 *             names
 *
 * Nothing here is process-wide except curl_global_init and xmlInitParser,
 * run once through pthread_once as both libraries ask of a library.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef CAIRN_S3_INTERNAL_H
#define CAIRN_S3_INTERNAL_H

#include <cairn/plugin.h>

#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* S3's smallest part but the last; the unit test makes it smaller, so
 * that its multipart uploads stay small under valgrind. */
#ifndef S3_MIN_PART_SIZE
#define S3_MIN_PART_SIZE (5u << 20)
#endif
#define S3_MAX_PART_SIZE (5ull << 30)
#define S3_MAX_PARTS 10000
/* Longest error body or XML answer read into memory; a listing page of
 * 1000 keys is far below it. */
#define S3_MAX_RESPONSE (16u << 20)
/* Longest message kept for the op's thread to hand to set_error. */
#define S3_MSG_MAX 2048

extern const struct cairn_host *s3_host;

/* One configured store: everything create() read, copied. */
struct s3 {
	cairn_ctx *ctx;
	char *name;     /* the section's name, for messages */
	char *endpoint; /* scheme://host[:port][/base], no trailing '/' */
	char *region;
	char *bucket;
	char *prefix; /* "" or "a/b/" (always ends with '/') */
	int virtual_host;
	char *storage_class; /* NULL: the store's default */
	char *sse;           /* NULL, "AES256" or "aws:kms" */
	char *kms_key_id;
	size_t part_size;
	int concurrency;
	int max_retries;
	long timeout;      /* seconds: connect, and no progress for this long */
	int64_t max_rate;  /* bytes/s for all uploads of one writer; 0: none */
	int64_t min_speed; /* bytes/s a download must average; 0: no floor */
	char *ca_file;
	int insecure;
	char *access_key;
	char *secret_key;
	char *session_token; /* NULL when none */
	char *cred_from;     /* where the keys came from, for messages */
	char *sigv4;         /* "aws:amz:REGION:s3" */
	CURL *curl;          /* the op thread's handle, kept for reuse */
	int lock_mode;       /* S3_LOCK_* */
	int64_t lock_stale;  /* seconds without refresh: the holder is dead */
};

enum {
	S3_LOCK_CONDITIONAL = 0,
	S3_LOCK_REFRESH = 1,
	S3_LOCK_NONE = 2
};

/* The outcome of a request, made on any thread and handed to the op's
 * thread, which alone may call set_error. */
struct s3_status {
	int rc; /* 0 or CAIRN_E_* */
	char msg[S3_MSG_MAX];
};

/* One HTTP request.  Fill the first block, call s3_request. */
struct s3_req {
	const char *method; /* GET PUT POST DELETE HEAD */
	const char *key;    /* the full key in the bucket; NULL: the bucket */
	const char *shown;  /* the key as the user knows it, for messages */
	const char *query;  /* "" or sorted, encoded "a=b&c=d" */
	const char *what;   /* "upload", "list", ... for messages */
	const unsigned char *body;
	size_t body_len;
	const char *content_type;
	int md5;                    /* send Content-MD5 of the body */
	struct curl_slist *headers; /* more headers; the caller frees them */
	int64_t range_from;         /* >= 0: Range: bytes=N- */
	const char *if_match;       /* If-Match: ETAG */
	int64_t max_send_speed;     /* 0: no limit */
	/* A 2xx body goes here instead of into resp; return n to go on, 0 to
	 * stop the transfer. */
	size_t (*on_data)(void *ud, const char *p, size_t n);
	void *ud;
	atomic_int *stop; /* non-NULL: a non-zero value ends the request */
	cairn_ctx *ctx;   /* non-NULL on the op's thread: host->cancelled */

	/* Results. */
	long http;  /* status of the last attempt, 0: none */
	char *resp; /* the body when on_data is NULL (or an error) */
	size_t resp_len;
	char etag[256];      /* the ETag header, quotes kept */
	int64_t length;      /* Content-Length, -1: none */
	int64_t range_total; /* from Content-Range ".../TOTAL", -1: none */
	int64_t delivered;   /* bytes given to on_data in the last attempt */
	CURLcode curl_rc;
};

/* What one attempt amounts to. */
enum s3_verdict {
	S3_DONE = 0,  /* 2xx */
	S3_RETRY = 1, /* transient: connection, timeout, 5xx, 429, SlowDown */
	S3_FAIL = 2   /* anything else; st says what */
};

/* ---- common.c ---- */
/* set_error (through cairn_verror) on the instance's ctx; returns rc. */
int s3_error(const struct s3 *s3, int rc, const char *fmt, ...) CAIRN_PRINTF(3, 4);
void s3_log(const struct s3 *s3, enum cairn_log_level level, const char *fmt, ...)
        CAIRN_PRINTF(3, 4);
/* Format into st and return rc (any thread). */
int s3_fail(struct s3_status *st, int rc, const char *fmt, ...) CAIRN_PRINTF(3, 4);
/* Hand st to set_error on the op's thread; returns st->rc. */
int s3_report(struct s3 *s3, const struct s3_status *st);
/* Why a key (or the prefix) cannot be an object's name, or NULL. */
const char *s3_key_problem(const char *key);
/* The full key in the bucket for the core's key, malloc'd; NULL with st
 * filled when the key is unusable. */
char *s3_full_key(const struct s3 *s3, const char *key, struct s3_status *st);

/* ---- xml.c ---- */
struct s3_object {
	char *key;
	uint64_t size;
	int64_t mtime;
};
struct s3_list_page {
	struct s3_object *v;
	size_t n;
	int truncated;
	char *next_token; /* NextContinuationToken, NULL when none */
};
int s3_xml_list(const char *xml, size_t len, struct s3_list_page *page, char *why, size_t whylen);
void s3_list_page_free(struct s3_list_page *page);
/* <Error><Code/><Message/></Error>: 1 when it is one (code/message may
 * be empty), 0 when it is not an Error document. */
int s3_xml_error(const char *xml, size_t len, char *code, size_t codelen, char *msg, size_t msglen);
/* InitiateMultipartUploadResult's UploadId, malloc'd, or NULL. */
char *s3_xml_upload_id(const char *xml, size_t len);
/* CompleteMultipartUploadResult: 1; an Error document: 0 with code and
 * message; anything else: -1. */
int s3_xml_complete(const char *xml, size_t len, char *code, size_t codelen, char *msg,
                    size_t msglen);
/* "2026-12-02T01:02:03.000Z" -> seconds since the epoch; -1 when bad. */
int64_t s3_parse_time(const char *s);

/* ---- http.c ---- */
void s3_global_init(void);
CURL *s3_curl_new(void);
/* The op thread's handle, made on first use; NULL with st filled. */
CURL *s3_op_curl(struct s3 *s3, struct s3_status *st);
/* One attempt; st is filled on S3_RETRY and S3_FAIL. */
enum s3_verdict s3_attempt(struct s3 *s3, CURL *curl, struct s3_req *r, struct s3_status *st);
/* Attempts up to max_retries + 1 with backoff; 0 or st->rc. */
int s3_request(struct s3 *s3, CURL *curl, struct s3_req *r, struct s3_status *st);
void s3_req_reset(struct s3_req *r);
/* Wait before retry `attempt` (0 for the first retry); 0, or non-zero
 * when stopped or cancelled meanwhile. */
int s3_backoff_wait(int attempt, atomic_int *stop, cairn_ctx *ctx);
/* The backoff before retry `attempt`, in ms, from a random number. */
long s3_backoff_ms(int attempt, uint32_t rnd);
/* SigV4 URI encoding of src (keep_slash: '/' stays); malloc'd. */
char *s3_uri_encode(const char *src, int keep_slash);
/* The request's URL; malloc'd. */
char *s3_url(const struct s3 *s3, const char *key, const char *query);
/* Base64 of len bytes into out (4 * ((len + 2) / 3) + 1 bytes). */
void s3_base64(const unsigned char *in, size_t len, char *out);
/* Lower-case hex SHA-256 of the buffer into out[65]. */
void s3_sha256_hex(const void *buf, size_t len, char out[65]);

/* ---- creds.c ---- */
/* The instance's keys, from the INI, the environment or the shared
 * credentials file; 0, or an error set. */
int s3_credentials(struct s3 *s3, const struct cairn_config *cfg);
/* The shared credentials file's parser, exposed for the tests. */
struct s3_creds {
	char *access_key;
	char *secret_key;
	char *session_token;
};
int s3_creds_parse_file(const char *path, const char *profile, struct s3_creds *out, char *why,
                        size_t whylen);
void s3_creds_free(struct s3_creds *c);

/* ---- list.c: the list, usage and remove ops ---- */
int s3_list(void *instance, const char *prefix, cairn_list_cb cb, void *userdata);
int s3_usage(void *instance, struct cairn_usage *usage);
int s3_remove(void *instance, const char *key);

/* ---- lock.c ---- */
int s3_lock(void *instance, const char *name, cairn_sink_lock **lock);
void s3_unlock(cairn_sink_lock *lock);

/* ---- upload.c, read.c ---- */
int s3_open_write(void *instance, const char *key, cairn_sink_writer **writer);
int s3_write(cairn_sink_writer *w, const void *buf, size_t len);
int s3_commit(cairn_sink_writer *w);
void s3_abort(cairn_sink_writer *w);
int s3_open_read(void *instance, const char *key, cairn_sink_reader **reader);
ssize_t s3_read(cairn_sink_reader *r, void *buf, size_t len);
void s3_close_read(cairn_sink_reader *r);

#endif
