/* logcat_load.c - see logcat.h: a sink's logs from one listing, and the
 * chains of segments that carry a log from a position to a time. */
#include "autoconf.h"

#include "logcat.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cairn.h"
#include "host.h" /* cancel_signal */
#include "manifest.h"
#include "sets.h" /* sink_read_all */

/* Bounds on what one listing of JOB/log/ may hold (the sink's content is
 * untrusted): a real log has two objects per segment, a few thousand
 * segments a week at the default span of 60 s; beyond these it is
 * planted, or wants a pitr_window. */
#define LOGCAT_MAX_OBJECTS (1u << 21) /* 2,097,152 objects */
#define LOGCAT_MAX_GAPS 4096          /* gap records read per source */

enum entry_kind {
	ENTRY_MANIFEST,
	ENTRY_DATA,
	ENTRY_GAP
};

/* A listed object of ours. */
struct entry {
	char name[LOGSEG_NAME_MAX];
	enum entry_kind kind;
	char *key;
	uint64_t size;
	int64_t mtime;
};

struct src_entries {
	char *source;
	struct entry *v;
	size_t n, cap;
};

struct loader {
	size_t prefix_len; /* of "JOB/log/" */
	struct src_entries *s;
	size_t ns;
	size_t total;
	int cancelled, too_many;
};

static struct src_entries *
find_source(struct loader *ld, const char *source, size_t len)
{
	for (size_t i = ld->ns; i-- > 0;) /* the last one first: keys come grouped */
		if (strlen(ld->s[i].source) == len && strncmp(ld->s[i].source, source, len) == 0)
			return &ld->s[i];
	if (ld->ns >= MANIFEST_MAX_SOURCES)
		return NULL;
	ld->s = xrealloc(ld->s, (ld->ns + 1) * sizeof(*ld->s));
	struct src_entries *e = &ld->s[ld->ns++];
	memset(e, 0, sizeof(*e));
	e->source = xstrndup(source, len);
	return e;
}

/* The kind of the object named by file (SEG.SUFFIX): 0, or -1 when it is
 * not ours. */
static int
classify(const char *file, struct entry *e)
{
	struct cairn_log_pos f, t;
	const char *dot = file + LOGSEG_NAME_LEN;
	if (strnlen(file, LOGSEG_NAME_LEN + 2) < LOGSEG_NAME_LEN + 2 || *dot != '.')
		return -1;
	memcpy(e->name, file, LOGSEG_NAME_LEN);
	e->name[LOGSEG_NAME_LEN] = '\0';
	if (logseg_name_parse(e->name, &f, &t))
		return -1;
	dot++;
	if (strcmp(dot, "json") == 0)
		e->kind = ENTRY_MANIFEST;
	else if (strcmp(dot, "gap") == 0)
		e->kind = ENTRY_GAP;
	else if (*dot &&
	         strspn(dot,
	                "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_+.") ==
	                 strlen(dot) &&
	         dot[strlen(dot) - 1] != '.' && !strstr(dot, ".."))
		e->kind = ENTRY_DATA;
	else
		return -1;
	return 0;
}

static int
on_log_object(void *ud, const char *key, uint64_t size, int64_t mtime)
{
	struct loader *ld = ud;
	const char *rest = key + ld->prefix_len, *slash = strchr(rest, '/');
	struct entry e;
	if (cancel_signal) {
		ld->cancelled = 1;
		return 1;
	}
	/* JOB/log/SOURCE/SEG.SUFFIX, nothing deeper: anything else is not ours */
	if (!slash || slash == rest || strchr(slash + 1, '/') || classify(slash + 1, &e))
		return 0;
	char *source = xstrndup(rest, (size_t)(slash - rest));
	int ok = valid_name(source);
	free(source);
	if (!ok)
		return 0;
	if (++ld->total > LOGCAT_MAX_OBJECTS) {
		ld->too_many = 1;
		return 1;
	}
	struct src_entries *se = find_source(ld, rest, (size_t)(slash - rest));
	if (!se) {
		ld->too_many = 1;
		return 1;
	}
	if (se->n == se->cap) {
		se->cap = se->cap ? se->cap * 2 : 64;
		se->v = xrealloc(se->v, se->cap * sizeof(*se->v));
	}
	e.key = xstrdup(key);
	e.size = size;
	e.mtime = mtime;
	se->v[se->n++] = e;
	return 0;
}

static int
cmp_entry(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;
	int c = strcmp(x->name, y->name);
	if (c)
		return c;
	if (x->kind != y->kind)
		return (int)x->kind - (int)y->kind;
	return strcmp(x->key, y->key);
}

static void
add_damage(struct log_source *ls, const char *key, char *line)
{
	strvec_push_own(&ls->damage, line);
	strvec_push(&ls->damage_keys, key);
}

static void
add_orphan(struct log_source *ls, const struct entry *e)
{
	strvec_push(&ls->orphans, e->key);
	ls->orphan_mtime = xrealloc(ls->orphan_mtime, ls->orphans.n * sizeof(*ls->orphan_mtime));
	ls->orphan_mtime[ls->orphans.n - 1] = e->mtime;
}

/* Read a small object of ours: 0 with the bytes, a code with *err, or
 * CAIRN_E_CORRUPT with *err when it is too large to be ours. */
static int
read_small(struct instance *sink, const char *key, char **buf, size_t *len, char **err)
{
	return sink_read_all(sink, key, LOGSEG_MAX_BYTES, buf, len, err);
}

/* A gap record into ls: 0, or a code the whole load fails with. */
static int
load_gap(struct instance *sink, const char *job, struct log_source *ls, const struct entry *e,
         char **err)
{
	char *buf, *why = NULL;
	size_t len;
	struct log_gap g;
	if (ls->ngaps >= LOGCAT_MAX_GAPS) {
		add_damage(ls, e->key,
		           xasprintf("%s: %s: more than %d gap records in this log; it was planted",
		                     sink->ctx.label, e->key, LOGCAT_MAX_GAPS));
		return 0;
	}
	int rc = read_small(sink, e->key, &buf, &len, &why);
	if (rc == CAIRN_E_NOTFOUND) { /* removed since the listing */
		free(why);
		return 0;
	}
	if (rc == CAIRN_E_CORRUPT) {
		add_damage(ls, e->key, why);
		return 0;
	}
	if (rc) {
		*err = why;
		return rc;
	}
	if (loggap_parse(buf, len, job, ls->source, e->name, &g, &why)) {
		add_damage(ls, e->key,
		           xasprintf("%s: %s: %s; the gap record is damaged or was planted",
		                     sink->ctx.label, e->key, why));
		free(why);
	} else {
		ls->gaps = xrealloc(ls->gaps, (ls->ngaps + 1) * sizeof(*ls->gaps));
		ls->gaps[ls->ngaps++] = g;
	}
	free(buf);
	return 0;
}

/* Is the object the manifest names among the data entries, with its
 * stored size?  The index of the entry, or -1 with *why. */
static ssize_t
bind_object(const struct log_segment *s, const struct entry *data, size_t ndata, char **why)
{
	for (size_t i = 0; i < ndata; i++) {
		if (strcmp(data[i].key, s->object) != 0)
			continue;
		if (data[i].size == s->stored_bytes)
			return (ssize_t)i;
		*why = xasprintf("its object %s is %" PRIu64
		                 " bytes, but the manifest says %" PRIu64,
		                 s->object, data[i].size, s->stored_bytes);
		return -1;
	}
	*why = xasprintf("its object %s is missing", s->object);
	return -1;
}

static void
push_segment(struct log_source *ls, struct log_segment *s)
{
	ls->segs = xrealloc(ls->segs, (ls->nsegs + 1) * sizeof(*ls->segs));
	ls->segs[ls->nsegs++] = *s;
}

/* A segment's manifest read and bound to the data objects listed with
 * its name (data[0..ndata)); what is not bound is an orphan.  0, or a
 * code the whole load fails with. */
static int
load_manifest(struct instance *sink, const char *job, struct log_source *ls, const struct entry *m,
              const struct entry *data, size_t ndata, char **err)
{
	char *buf, *why = NULL;
	size_t len;
	ssize_t bound = -1;
	struct log_segment s;
	int rc = read_small(sink, m->key, &buf, &len, &why);
	if (rc == CAIRN_E_NOTFOUND) { /* removed since the listing */
		free(why);
		for (size_t i = 0; i < ndata; i++)
			add_orphan(ls, &data[i]);
		return 0;
	}
	if (rc && rc != CAIRN_E_CORRUPT) {
		*err = why;
		return rc;
	}
	if (rc) {
		add_damage(ls, m->key, why);
	} else if (logseg_parse(buf, len, job, ls->source, m->name, &s, &why)) {
		add_damage(ls, m->key,
		           xasprintf("%s: %s: %s; the segment is damaged or was planted",
		                     sink->ctx.label, m->key, why));
		free(why);
	} else if ((bound = bind_object(&s, data, ndata, &why)) < 0) {
		add_damage(ls, m->key,
		           xasprintf("%s: %s: %s; the segment is damaged", sink->ctx.label, m->key,
		                     why));
		free(why);
		logseg_clear(&s);
	} else {
		push_segment(ls, &s);
	}
	if (!rc)
		free(buf);
	for (size_t i = 0; i < ndata; i++)
		if ((ssize_t)i != bound)
			add_orphan(ls, &data[i]);
	return 0;
}

/* One name's objects, e[0..n): gap records, a manifest, data. */
static int
load_name(struct instance *sink, const char *job, struct log_source *ls, const struct entry *e,
          size_t n, int read_manifests, char **err)
{
	const struct entry *m = NULL, *data = NULL;
	size_t ndata = 0;
	int rc = 0;
	for (size_t i = 0; i < n && !rc; i++) {
		if (e[i].kind == ENTRY_GAP)
			rc = load_gap(sink, job, ls, &e[i], err);
		else if (e[i].kind == ENTRY_MANIFEST)
			m = &e[i];
		else if (!ndata++)
			data = &e[i];
	}
	if (rc || !m) {
		for (size_t i = 0; !rc && i < ndata; i++)
			add_orphan(ls, &data[i]);
		return rc;
	}
	if (read_manifests)
		return load_manifest(sink, job, ls, m, data, ndata, err);
	if (!ndata) {
		add_damage(
		        ls, m->key,
		        xasprintf("%s: %s: its segment has no data object; the segment is damaged",
		                  sink->ctx.label, m->key));
		return 0;
	}
	struct log_segment s;
	memset(&s, 0, sizeof(s));
	memcpy(s.name, m->name, sizeof(s.name));
	logseg_name_parse(m->name, &s.from, &s.to);
	s.source = xstrdup(ls->source);
	s.object = xstrdup(data[0].key);
	s.stored_bytes = data[0].size;
	s.has_manifest = 1;
	push_segment(ls, &s);
	for (size_t i = 1; i < ndata; i++)
		add_orphan(ls, &data[i]);
	return 0;
}

static int
load_source(struct instance *sink, const char *job, struct src_entries *se, int read_manifests,
            struct log_source *ls, char **err)
{
	int rc = 0;
	memset(ls, 0, sizeof(*ls));
	ls->source = xstrdup(se->source);
	if (se->n > 1)
		qsort(se->v, se->n, sizeof(*se->v), cmp_entry);
	for (size_t i = 0, j; i < se->n && !rc; i = j) {
		if (cancel_signal) {
			*err = xasprintf("%s: reading the log of %s/%s/%s was interrupted",
			                 sink->ctx.label, job, LOG_DIR, ls->source);
			return CAIRN_E_CANCELLED;
		}
		for (j = i + 1; j < se->n && strcmp(se->v[j].name, se->v[i].name) == 0; j++)
			;
		rc = load_name(sink, job, ls, &se->v[i], j - i, read_manifests, err);
	}
	return rc;
}

static void
free_loader(struct loader *ld)
{
	for (size_t i = 0; i < ld->ns; i++) {
		for (size_t k = 0; k < ld->s[i].n; k++)
			free(ld->s[i].v[k].key);
		free(ld->s[i].v);
		free(ld->s[i].source);
	}
	free(ld->s);
}

static int
cmp_source(const void *a, const void *b)
{
	return strcmp(((const struct log_source *)a)->source,
	              ((const struct log_source *)b)->source);
}

int
logcat_load(struct instance *sink, const char *job, const char *source, int read_manifests,
            struct log_catalog *out, char **err)
{
	char *prefix = source ? xasprintf("%s/%s/%s/", job, LOG_DIR, source)
	                      : xasprintf("%s/%s/", job, LOG_DIR);
	struct loader ld = {.prefix_len = strlen(job) + strlen(LOG_DIR) + 2};
	int rc;
	memset(out, 0, sizeof(*out));
	rc = op_list(sink, prefix, on_log_object, &ld);
	if (!rc && (ld.cancelled || cancel_signal))
		rc = CAIRN_E_CANCELLED;
	if (rc)
		*err = xasprintf("%s: cannot list the logs of job %s (%s): %s", sink->ctx.label,
		                 job, prefix, instance_error(sink, rc));
	else if (ld.too_many) {
		*err = xasprintf(
		        "%s: %s holds more than %u log objects or %d sources; it was planted, or the log wants a pitr_window so that prune keeps it shorter",
		        sink->ctx.label, prefix, LOGCAT_MAX_OBJECTS, MANIFEST_MAX_SOURCES);
		rc = CAIRN_E_CORRUPT;
	}
	free(prefix);
	if (!rc && ld.ns)
		out->v = xcalloc(ld.ns, sizeof(*out->v));
	for (size_t i = 0; !rc && i < ld.ns; i++) {
		rc = load_source(sink, job, &ld.s[i], read_manifests, &out->v[i], err);
		out->n = i + 1;
	}
	free_loader(&ld);
	if (rc) {
		logcat_free(out);
		return rc;
	}
	if (out->n > 1)
		qsort(out->v, out->n, sizeof(*out->v), cmp_source);
	return 0;
}

void
logcat_free(struct log_catalog *c)
{
	for (size_t i = 0; i < c->n; i++) {
		struct log_source *ls = &c->v[i];
		for (size_t k = 0; k < ls->nsegs; k++)
			logseg_clear(&ls->segs[k]);
		free(ls->segs);
		for (size_t k = 0; k < ls->ngaps; k++)
			loggap_clear(&ls->gaps[k]);
		free(ls->gaps);
		strvec_free(&ls->damage);
		strvec_free(&ls->damage_keys);
		strvec_free(&ls->orphans);
		free(ls->orphan_mtime);
		free(ls->source);
	}
	free(c->v);
	memset(c, 0, sizeof(*c));
}

const struct log_source *
logcat_source(const struct log_catalog *c, const char *source)
{
	for (size_t i = 0; i < c->n; i++)
		if (strcmp(c->v[i].source, source) == 0)
			return &c->v[i];
	return NULL;
}

const struct log_segment *
logcat_newest(const struct log_source *ls)
{
	const struct log_segment *best = NULL;
	for (size_t i = 0; ls && i < ls->nsegs; i++) {
		const struct log_segment *s = &ls->segs[i];
		if (!best || s->to.time_ms > best->to.time_ms ||
		    (s->to.time_ms == best->to.time_ms && s->to.lsn > best->to.lsn))
			best = s;
	}
	return best;
}
