/*
 * list.c - the "s3" sink's list, usage and remove ops: a walk over
 * ListObjectsV2 pages below the prefix (one page of 1000 keys in memory
 * at a time), and DELETE after a HEAD, as the contract wants NOTFOUND
 * for a missing object.
 *
 * SPDX-License-Identifier: MIT
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "s3_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
		return s3_error(s3, CAIRN_E_NOMEM, "out of memory");
	}
	do {
		free(query);
		free(enct);
		query = enct = NULL;
		if (token && !(enct = s3_uri_encode(token, 0))) {
			rc = s3_error(s3, CAIRN_E_NOMEM, "out of memory");
			break;
		}
		/* Sorted by name, as the signature is over the query as sent. */
		if (asprintf(&query, "%s%s%slist-type=2&prefix=%s",
		             enct ? "continuation-token=" : "", enct ? enct : "", enct ? "&" : "",
		             encp) < 0) {
			query = NULL;
			rc = s3_error(s3, CAIRN_E_NOMEM, "out of memory");
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
			rc = s3_error(
			        s3, CAIRN_E_CORRUPT,
			        "s3://%s/%s: the store's listing is unusable: %s; check that endpoint is an S3 store",
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
			rc = s3_error(s3, CAIRN_E_NOMEM, "out of memory");
		s3_list_page_free(&page);
		if (s3->ctx && s3_host->cancelled(s3->ctx) && token && !stop) {
			rc = s3_error(s3, CAIRN_E_CANCELLED, "s3://%s/%s: listing stopped",
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

int
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

int
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
		rc = s3_error(s3, CAIRN_E_NOTFOUND,
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
