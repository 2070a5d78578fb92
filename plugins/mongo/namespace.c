/*
 * namespace.c - namespace patterns (`db.coll` with `*`: include, exclude,
 * ns_from/ns_to), the renames they make, and the names MongoDB takes.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "mongo_internal.h"

/* `*` matches any run of characters; caps (if not NULL) get the start and
 * length of what each `*` matched, leftmost shortest first. */
static int
mongo_match(const char *p, const char *t, const char **cap, size_t *caplen)
{
	if (!*p)
		return !*t;
	if (*p == '*') {
		for (const char *s = t;; s++) {
			if (mongo_match(p + 1, s, cap ? cap + 1 : NULL,
			                caplen ? caplen + 1 : NULL)) {
				if (cap) {
					cap[0] = t;
					caplen[0] = (size_t)(s - t);
				}
				return 1;
			}
			if (!*s)
				return 0;
		}
	}
	return *p == *t && mongo_match(p + 1, t + 1, cap, caplen);
}

int
mongo_glob(const char *pattern, const char *text)
{
	return mongo_match(pattern, text, NULL, NULL);
}

size_t
mongo_stars(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += *s == '*';
	return n;
}

int
mongo_selected(const struct mongo_inst *mi, const char *db, const char *coll)
{
	char *ns;
	int yes = mi->ninclude == 0;
	if (asprintf(&ns, "%s.%s", db, coll) < 0)
		return 0;
	for (size_t k = 0; !yes && k < mi->ninclude; k++)
		yes = mongo_glob(mi->include[k], ns);
	for (size_t k = 0; yes && k < mi->nexclude; k++)
		yes = !mongo_glob(mi->exclude[k], ns);
	free(ns);
	return yes;
}

/* mongodump's prepare.go shouldSkipSystemNamespace: system collections
 * but system.js, and in admin only system.keys; and names with a `$`. */
int
mongo_system_ns(const char *db, const char *coll)
{
	if (!strcmp(db, "admin"))
		return !strcmp(coll, "system.keys");
	if (!strcmp(coll, "system.js"))
		return 0;
	if (!strncmp(coll, "system.", 7))
		return 1;
	return strchr(coll, '$') != NULL;
}

char *
mongo_rename_ns(const struct mongo_inst *mi, const char *db, const char *coll)
{
	char *ns, *out;
	if (asprintf(&ns, "%s.%s", db, coll) < 0)
		return NULL;
	for (size_t k = 0; k < mi->nrenames; k++) {
		size_t nst = mongo_stars(mi->renames[k].from), len = 0, c = 0;
		const char **cap = calloc(nst + 1, sizeof(*cap));
		size_t *caplen = calloc(nst + 1, sizeof(*caplen));
		if (!cap || !caplen) {
			free(cap);
			free(caplen);
			free(ns);
			return NULL;
		}
		if (!mongo_match(mi->renames[k].from, ns, cap, caplen)) {
			free(cap);
			free(caplen);
			continue;
		}
		/* create() made the numbers of * equal; never read past the
		 * captures all the same */
		for (const char *t = mi->renames[k].to; *t; t++)
			len += *t == '*' && c < nst ? caplen[c++] : 1;
		out = malloc(len + 1);
		if (out) {
			char *o = out;
			c = 0;
			for (const char *t = mi->renames[k].to; *t; t++) {
				if (*t == '*' && c < nst) {
					memcpy(o, cap[c], caplen[c]);
					o += caplen[c++];
				} else
					*o++ = *t;
			}
			*o = '\0';
		}
		free(cap);
		free(caplen);
		free(ns);
		return out;
	}
	return ns;
}

const char *
mongo_bad_db_name(const char *name)
{
	if (!*name)
		return "it is empty";
	if (strlen(name) > 63)
		return "it is longer than 63 bytes";
	if (strpbrk(name, "/\\. \"$"))
		return "it holds one of / \\ . space \" $";
	return NULL;
}

const char *
mongo_bad_coll_name(const char *name)
{
	if (!*name)
		return "it is empty";
	if (strchr(name, '$'))
		return "it holds a $";
	return NULL;
}
