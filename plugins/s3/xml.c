/*
 * xml.c - the S3 answers cairn reads, parsed with libxml2.
 *
 * Elements are matched by local name only: AWS puts everything in the
 * namespace http://s3.amazonaws.com/doc/2006-03-01/, some stores use
 * another or none.  The answers are untrusted: the parser never loads
 * a DTD, never substitutes entities and never reaches the network, and
 * every value is checked before use.
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
#include <libxml/tree.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static xmlDocPtr
s3_xml_read(const char *xml, size_t len)
{
	if (!xml || !len || len > (size_t)INT32_MAX)
		return NULL;
	/* S3 answers in UTF-8.  Read every answer as UTF-8 and ignore the
	 * encoding it declares: a body that declares another one and then
	 * breaks it would otherwise make libxml2's converter print to stderr,
	 * which XML_PARSE_NOERROR does not silence (found by fuzz_s3_xml), and
	 * a declared one alone makes iconv load a converter module. */
	return xmlReadMemory(xml, (int)len, "s3.xml", "UTF-8",
	                     XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
	                             XML_PARSE_IGNORE_ENC);
}

static int
s3_is(const xmlNode *n, const char *name)
{
	return n && n->type == XML_ELEMENT_NODE && !strcmp((const char *)n->name, name);
}

static xmlNode *
s3_child(const xmlNode *n, const char *name)
{
	xmlNode *c;

	for (c = n ? n->children : NULL; c; c = c->next)
		if (s3_is(c, name))
			return c;
	return NULL;
}

/* The text of n, malloc'd ("" for an empty element); NULL when out of
 * memory or n is NULL. */
static char *
s3_text(const xmlNode *n)
{
	xmlChar *t;
	char *s;

	if (!n)
		return NULL;
	t = xmlNodeGetContent(n);
	s = strdup(t ? (const char *)t : "");
	xmlFree(t);
	return s;
}

static void
s3_copy_text(const xmlNode *n, char *out, size_t size)
{
	char *t = s3_text(n);

	snprintf(out, size, "%s", t ? t : "");
	free(t);
}

int64_t
s3_parse_time(const char *s)
{
	struct tm tm;
	int y, mo, d, h, mi, sec, n = 0;
	time_t t;

	if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &sec, &n) != 6 ||
	    n != 19)
		return -1;
	s += n;
	if (*s == '.') /* fractions of a second */
		for (s++; isdigit((unsigned char)*s); s++)
			;
	if (strcmp(s, "Z") && strcmp(s, "+00:00") && strcmp(s, ""))
		return -1;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	t = timegm(&tm);
	return t == (time_t)-1 ? -1 : (int64_t)t;
}

void
s3_list_page_free(struct s3_list_page *page)
{
	size_t i;

	for (i = 0; i < page->n; i++)
		free(page->v[i].key);
	free(page->v);
	free(page->next_token);
	memset(page, 0, sizeof(*page));
}

/* A decimal size of at most 5 TiB (S3's largest object) times a margin. */
static int
s3_parse_size(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (!s || !*s)
		return -1;
	for (; *s; s++) {
		if (!isdigit((unsigned char)*s) || v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

int
s3_xml_list(const char *xml, size_t len, struct s3_list_page *page, char *why, size_t whylen)
{
	xmlDocPtr doc = s3_xml_read(xml, len);
	xmlNode *root, *c, *f;
	char *t;
	size_t cap = 0;
	int rc = -1;

	memset(page, 0, sizeof(*page));
	if (!doc) {
		snprintf(why, whylen, "the listing is not XML");
		return -1;
	}
	root = xmlDocGetRootElement(doc);
	if (!s3_is(root, "ListBucketResult")) {
		snprintf(why, whylen, "the listing is <%s>, not <ListBucketResult>",
		         root ? (const char *)root->name : "nothing");
		goto out;
	}
	for (c = root->children; c; c = c->next) {
		struct s3_object o = {0};
		if (s3_is(c, "IsTruncated")) {
			t = s3_text(c);
			page->truncated = t && !strcmp(t, "true");
			free(t);
			continue;
		}
		if (s3_is(c, "NextContinuationToken")) {
			free(page->next_token);
			page->next_token = s3_text(c);
			continue;
		}
		if (!s3_is(c, "Contents"))
			continue;
		f = s3_child(c, "Key");
		if (!f) {
			snprintf(why, whylen, "an entry of the listing has no <Key>");
			goto out;
		}
		o.key = s3_text(f);
		t = s3_text(s3_child(c, "Size"));
		if (!o.key || s3_parse_size(t, &o.size) < 0) {
			snprintf(why, whylen, "the listing's entry \"%.200s\" has no valid <Size>",
			         o.key ? o.key : "");
			free(t);
			free(o.key);
			goto out;
		}
		free(t);
		t = s3_text(s3_child(c, "LastModified"));
		o.mtime = s3_parse_time(t);
		free(t);
		if (o.mtime < 0)
			o.mtime = 0; /* unknown; the size and key still count */
		if (page->n == cap) {
			struct s3_object *g;
			cap = cap ? 2 * cap : 64;
			g = realloc(page->v, cap * sizeof(*g));
			if (!g) {
				free(o.key);
				snprintf(why, whylen, "out of memory");
				goto out;
			}
			page->v = g;
		}
		page->v[page->n++] = o;
	}
	if (page->truncated && (!page->next_token || !*page->next_token)) {
		snprintf(why, whylen,
		         "the listing is truncated but gives no <NextContinuationToken>");
		goto out;
	}
	rc = 0;
out:
	if (rc)
		s3_list_page_free(page);
	xmlFreeDoc(doc);
	return rc;
}

int
s3_xml_error(const char *xml, size_t len, char *code, size_t codelen, char *msg, size_t msglen)
{
	xmlDocPtr doc = s3_xml_read(xml, len);
	xmlNode *root;
	int is = 0;

	if (codelen)
		code[0] = '\0';
	if (msglen)
		msg[0] = '\0';
	if (!doc)
		return 0;
	root = xmlDocGetRootElement(doc);
	if (s3_is(root, "Error")) {
		is = 1;
		s3_copy_text(s3_child(root, "Code"), code, codelen);
		s3_copy_text(s3_child(root, "Message"), msg, msglen);
	}
	xmlFreeDoc(doc);
	return is;
}

char *
s3_xml_upload_id(const char *xml, size_t len)
{
	xmlDocPtr doc = s3_xml_read(xml, len);
	xmlNode *root;
	char *id = NULL;

	if (!doc)
		return NULL;
	root = xmlDocGetRootElement(doc);
	if (s3_is(root, "InitiateMultipartUploadResult"))
		id = s3_text(s3_child(root, "UploadId"));
	xmlFreeDoc(doc);
	if (id && !*id) {
		free(id);
		id = NULL;
	}
	return id;
}

int
s3_xml_complete(const char *xml, size_t len, char *code, size_t codelen, char *msg, size_t msglen)
{
	xmlDocPtr doc = s3_xml_read(xml, len);
	xmlNode *root;
	int rc = -1;

	if (codelen)
		code[0] = '\0';
	if (msglen)
		msg[0] = '\0';
	if (!doc)
		return -1;
	root = xmlDocGetRootElement(doc);
	if (s3_is(root, "CompleteMultipartUploadResult")) {
		rc = 1;
	} else if (s3_is(root, "Error")) {
		rc = 0;
		s3_copy_text(s3_child(root, "Code"), code, codelen);
		s3_copy_text(s3_child(root, "Message"), msg, msglen);
	}
	xmlFreeDoc(doc);
	return rc;
}
