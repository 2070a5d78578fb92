/* sets.c - see sets.h */
#include "autoconf.h"

#include "sets.h"

#include <inttypes.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cairn.h"
#include "log.h"
#include "host.h" /* cancel_signal */

struct lister {
	struct set_list *l;
	size_t prefix_len;
	int unordered; /* an id came before one it sorts after */
	int cancelled; /* stopped by a signal */
};

static struct set_info *
find_or_add(struct lister *ls, const char *id, time_t t)
{
	struct set_list *l = ls->l;
	/* A sink that lists in key order (local does) hands over each set's
	 * objects together and the sets in id order: then an id is the last
	 * set's or a new one, and 10,000 sets cost no 10,000 scans.  Any
	 * other order falls back to the scan. */
	int c = l->n ? strcmp(id, l->v[l->n - 1].id) : 1;
	if (c == 0)
		return &l->v[l->n - 1];
	if (c < 0)
		ls->unordered = 1;
	for (size_t i = 0; ls->unordered && i < l->n; i++)
		if (strcmp(l->v[i].id, id) == 0)
			return &l->v[i];
	l->v = xrealloc(l->v, (l->n + 1) * sizeof(*l->v));
	struct set_info *s = &l->v[l->n++];
	memset(s, 0, sizeof(*s));
	memcpy(s->id, id, BACKUP_ID_LEN + 1);
	s->time = t;
	return s;
}

static int
on_object(void *ud, const char *key, uint64_t size, int64_t mtime)
{
	struct lister *ls = ud;
	const char *rest = key + ls->prefix_len, *slash = strchr(rest, '/');
	char id[BACKUP_ID_LEN + 1];
	time_t t;
	if (cancel_signal) { /* a listing of millions stops within a second */
		ls->cancelled = 1;
		return 1;
	}
	/* JOB/ID/NAME, nothing deeper: anything else is not ours */
	if (!slash || slash - rest != BACKUP_ID_LEN || strchr(slash + 1, '/') || !slash[1])
		return 0;
	memcpy(id, rest, BACKUP_ID_LEN);
	id[BACKUP_ID_LEN] = '\0';
	if (backup_id_parse(id, &t))
		return 0;
	struct set_info *s = find_or_add(ls, id, t);
	strvec_push(&s->keys, key);
	s->sizes = xrealloc(s->sizes, s->keys.n * sizeof(*s->sizes));
	s->sizes[s->keys.n - 1] = size;
	s->bytes += size;
	if (mtime > s->newest_mtime)
		s->newest_mtime = mtime;
	if (strcmp(slash + 1, CAIRN_MANIFEST_NAME) == 0)
		s->complete = 1;
	else if (strcmp(slash + 1, SET_PIN_NAME) == 0)
		s->pinned = 1;
	return 0;
}

static int
cmp_set(const void *a, const void *b)
{
	return strcmp(((const struct set_info *)a)->id, ((const struct set_info *)b)->id);
}

int
sets_list(struct instance *sink, const char *job, struct set_list *out, char **err)
{
	char *prefix = xasprintf("%s/", job);
	struct lister ls = {.l = out, .prefix_len = strlen(prefix)};
	int rc;
	memset(out, 0, sizeof(*out));
	rc = op_list(sink, prefix, on_object, &ls);
	free(prefix);
	out->where = xasprintf("%s: set %s/", sink->ctx.label, job);
	if (!rc && (ls.cancelled || cancel_signal))
		rc = CAIRN_E_CANCELLED;
	if (rc) {
		*err = xasprintf("%s: cannot list the backups of job %s: %s", sink->ctx.label, job,
		                 instance_error(sink, rc));
		set_list_free(out);
		return rc;
	}
	if (out->n > 1)
		qsort(out->v, out->n, sizeof(*out->v), cmp_set);
	return 0;
}

void
set_list_free(struct set_list *l)
{
	for (size_t i = 0; i < l->n; i++) {
		strvec_free(&l->v[i].keys);
		free(l->v[i].sizes);
		manifest_free(l->v[i].manifest);
		free(l->v[i].manifest_error);
	}
	free(l->v);
	free(l->where);
	memset(l, 0, sizeof(*l));
}

int
set_in_future(const struct set_info *s, time_t now)
{
	return s->time > now && s->time - now > BACKUP_ID_FUTURE_TOLERANCE;
}

const struct set_info *
sets_select(const struct set_list *l, const char *id, const time_t *at)
{
	time_t now = time(NULL);
	for (size_t i = l->n; i-- > 0;) {
		const struct set_info *s = &l->v[i];
		if (!s->complete)
			continue;
		if (id) {
			if (strcmp(s->id, id) == 0)
				return s;
		} else if (set_in_future(s, now)) {
			log_warn(
			        "%s%s: its id lies in the future (a host with a wrong clock, or planted); passed over, name it with --id %s to use it",
			        l->where ? l->where : "set ", s->id, s->id);
		} else if (!at || s->time <= *at) {
			return s;
		}
	}
	return NULL;
}

int
set_manifest(struct instance *sink, const char *job, struct set_info *s, const struct manifest **m,
             char **err)
{
	int rc = 0;
	*m = NULL;
	if (!s->complete) {
		*err = xasprintf("%s: set %s/%s has no manifest", sink->ctx.label, job, s->id);
		return CAIRN_E_NOTFOUND;
	}
	if (!s->manifest && !s->manifest_error) {
		rc = set_read_manifest(sink, job, s->id, &s->manifest, &s->manifest_error);
		if (rc && !s->manifest_error)
			s->manifest_error = xstrdup(status_str(rc));
		char *why = NULL;
		if (!rc && set_check_bound(s, s->manifest, &why)) {
			s->manifest_error = xasprintf(
			        "%s: set %s/%s: %s; the set is damaged, or mixed with another run's objects under the same id",
			        sink->ctx.label, job, s->id, why);
			free(why);
			manifest_free(s->manifest);
			rc = CAIRN_E_CORRUPT;
		}
		if (!rc)
			s->partial = s->manifest->partial;
		else
			s->manifest = NULL;
	}
	if (!s->manifest) {
		*err = xstrdup(s->manifest_error);
		return rc ? rc : CAIRN_E_CORRUPT;
	}
	*m = s->manifest;
	return 0;
}

int
sink_read_all(struct instance *sink, const char *key, size_t max, char **buf, size_t *len,
              char **err)
{
	cairn_sink_reader *r;
	size_t cap = 4096, n = 0;
	char *b;
	int rc = op_open_read(sink, key, &r);
	if (rc) {
		*err = xasprintf("%s: cannot read %s: %s", sink->ctx.label, key,
		                 instance_error(sink, rc));
		return rc;
	}
	b = xmalloc(cap);
	for (;;) {
		if (cancel_signal) {
			*err = xasprintf("%s: reading %s was interrupted", sink->ctx.label, key);
			rc = CAIRN_E_CANCELLED;
			break;
		}
		if (n == cap) {
			if (cap >= max) {
				*err = xasprintf(
				        "%s: %s is larger than the limit of %zu bytes; it is damaged or was planted",
				        sink->ctx.label, key, max);
				rc = CAIRN_E_CORRUPT;
				break;
			}
			cap *= 2;
			b = xrealloc(b, cap);
		}
		ssize_t got = op_read(sink, r, b + n, cap - n);
		if (got < 0) {
			*err = xasprintf("%s: cannot read %s: %s", sink->ctx.label, key,
			                 instance_error(sink, (int)got));
			rc = (int)got;
			break;
		}
		if (got == 0)
			break;
		n += (size_t)got;
	}
	op_close_read(sink, r);
	if (rc) {
		free(b);
		return rc;
	}
	*buf = b;
	*len = n;
	return 0;
}

int
sink_write_all(struct instance *sink, const char *key, const void *buf, size_t len, char **err)
{
	cairn_sink_writer *w;
	int rc = op_open_write(sink, key, &w);
	if (!rc) {
		rc = op_write(sink, w, buf, len);
		if (rc) {
			/* the detail before abort(), which clears it */
			*err = xasprintf("%s: cannot write %s: %s", sink->ctx.label, key,
			                 instance_error(sink, rc));
			op_abort(sink, w);
			return rc;
		}
		rc = op_commit(sink, w);
	}
	if (rc)
		*err = xasprintf("%s: cannot write %s: %s", sink->ctx.label, key,
		                 instance_error(sink, rc));
	return rc;
}

int
set_read_manifest(struct instance *sink, const char *job, const char *id, struct manifest **out,
                  char **err)
{
	return set_read_manifest_text(sink, job, id, out, NULL, NULL, err);
}

int
set_read_manifest_text(struct instance *sink, const char *job, const char *id,
                       struct manifest **out, char **text, size_t *text_len, char **err)
{
	char *key = xasprintf("%s/%s/%s", job, id, CAIRN_MANIFEST_NAME), *buf, *why = NULL;
	size_t len;
	int rc = sink_read_all(sink, key, MANIFEST_MAX_BYTES, &buf, &len, err);
	if (rc == 0 && cancel_signal) { /* read whole, but the run is over */
		free(buf);
		*err = xasprintf("%s: reading %s was interrupted", sink->ctx.label, key);
		rc = CAIRN_E_CANCELLED;
	}
	if (rc == 0) {
		*out = manifest_parse(buf, len, &why);
		if (*out && text) { /* the very bytes that were judged */
			*text = buf;
			*text_len = len;
		} else {
			free(buf);
		}
		if (*out && manifest_check_place(*out, job, id, &why)) {
			if (text) {
				free(*text);
				*text = NULL;
			}
			manifest_free(*out);
			*out = NULL;
		}
		if (!*out) {
			*err = xasprintf("%s: %s: %s; the set is damaged or was planted",
			                 sink->ctx.label, key, why);
			free(why);
			rc = CAIRN_E_CORRUPT;
		}
	}
	free(key);
	return rc;
}

/* A name of a manifest, for finding the ones listed twice. */
struct name_ref {
	const char *s;
	int failed; /* a failed_sources entry */
};

static int
cmp_ref(const void *a, const void *b)
{
	const struct name_ref *x = a, *y = b;
	int c = strcmp(x->s, y->s);
	return c ? c : x->failed - y->failed;
}

/* Names or objects listed twice: sorted, then only neighbours compared,
 * so n log n however many the manifest lists (never each with every
 * earlier one).  0, or -1 with *why. */
static int
check_twice(const struct manifest *m, char **why)
{
	size_t n = m->nsources + m->nfailed, k = 0;
	struct name_ref *v = xcalloc(n ? n : 1, sizeof(*v));
	struct name_ref *o = xcalloc(m->nsources ? m->nsources : 1, sizeof(*o));
	int rc = 0;
	for (size_t i = 0; i < m->nsources; i++) {
		v[k++].s = m->sources[i].name;
		o[i].s = m->sources[i].object;
	}
	for (size_t i = 0; i < m->nfailed; i++) {
		v[k].s = m->failed[i].name;
		v[k++].failed = 1;
	}
	qsort(v, n, sizeof(*v), cmp_ref);
	qsort(o, m->nsources, sizeof(*o), cmp_ref);
	for (size_t i = 1; i < n && !rc; i++) {
		if (strcmp(v[i - 1].s, v[i].s) != 0 || v[i - 1].failed)
			continue; /* a source failed twice tells nothing false */
		*why = v[i].failed ? xasprintf("source %s is listed both as stored and as failed",
		                               v[i].s)
		                   : xasprintf("source %s is listed twice", v[i].s);
		rc = -1;
	}
	for (size_t i = 1; i < m->nsources && !rc; i++)
		if (strcmp(o[i - 1].s, o[i].s) == 0) {
			*why = xasprintf("object %s is listed twice", o[i].s);
			rc = -1;
		}
	free(v);
	free(o);
	return rc;
}

int
manifest_check_place(const struct manifest *m, const char *job, const char *id, char **why)
{
	size_t plen;
	char *prefix;
	if (strcmp(m->job, job) != 0 || strcmp(m->id, id) != 0) {
		*why = xasprintf("it describes set %s/%s, not the set %s/%s where it lies", m->job,
		                 m->id, job, id);
		return -1;
	}
	if (m->nsources == 0) {
		*why = xstrdup("it lists no sources");
		return -1;
	}
	/* parse refuses more; a manifest built in memory is checked too */
	if (m->nsources > MANIFEST_MAX_SOURCES || m->nfailed > MANIFEST_MAX_FAILED) {
		*why = xasprintf(
		        "it lists %zu sources and %zu failed ones, more than the limit of %d each",
		        m->nsources, m->nfailed, MANIFEST_MAX_SOURCES);
		return -1;
	}
	if (check_twice(m, why))
		return -1;
	prefix = xasprintf("%s/%s/", job, id);
	plen = strlen(prefix);
	for (size_t i = 0; i < m->nsources; i++) {
		const struct manifest_source *ms = &m->sources[i];
		const char *name = ms->object + (strncmp(ms->object, prefix, plen) == 0 ? plen : 0);
		/* One plain name inside this set's own prefix: never another
		 * set's object, never a path that climbs out. */
		if (name == ms->object || !*name || strchr(name, '/') || name[0] == '.' ||
		    strcmp(name, CAIRN_MANIFEST_NAME) == 0 || strcmp(name, SET_PIN_NAME) == 0) {
			*why = xasprintf(
			        "source %s names object \"%s\", which is not an object of this set",
			        ms->name, ms->object);
			free(prefix);
			return -1;
		}
	}
	free(prefix);
	return 0;
}

/* A listed object: its key and size. */
struct listed {
	const char *key;
	uint64_t size;
};

static int
cmp_listed(const void *a, const void *b)
{
	return strcmp(((const struct listed *)a)->key, ((const struct listed *)b)->key);
}

int
set_check_bound(const struct set_info *s, const struct manifest *m, char **why)
{
	/* sorted once, then one search per source: n log n however many */
	struct listed *v = xcalloc(s->keys.n ? s->keys.n : 1, sizeof(*v));
	int rc = 0;
	for (size_t i = 0; i < s->keys.n; i++) {
		v[i].key = s->keys.v[i];
		v[i].size = s->sizes ? s->sizes[i] : 0;
	}
	qsort(v, s->keys.n, sizeof(*v), cmp_listed);
	for (size_t i = 0; i < m->nsources && !rc; i++) {
		const struct manifest_source *ms = &m->sources[i];
		struct listed k = {.key = ms->object};
		const struct listed *o = bsearch(&k, v, s->keys.n, sizeof(*v), cmp_listed);
		if (!o) {
			*why = xasprintf("object %s, which its manifest lists, is missing",
			                 ms->object);
			rc = -1;
		} else if (o->size != ms->stored_bytes) {
			*why = xasprintf("object %s is %" PRIu64
			                 " bytes, but its manifest says %" PRIu64,
			                 ms->object, o->size, ms->stored_bytes);
			rc = -1;
		}
	}
	free(v);
	return rc;
}

int
set_remove(struct instance *sink, const char *job, const struct set_info *s, char **err)
{
	char *manifest = xasprintf("%s/%s/%s", job, s->id, CAIRN_MANIFEST_NAME);
	int rc = 0;
	for (int pass = 0; pass < 2 && !rc; pass++)
		for (size_t i = 0; i < s->keys.n && !rc; i++) {
			int is_manifest = strcmp(s->keys.v[i], manifest) == 0;
			if (is_manifest != (pass == 0))
				continue;
			rc = op_remove(sink, s->keys.v[i]);
			if (rc == CAIRN_E_NOTFOUND)
				rc = 0;
			if (rc)
				*err = xasprintf("%s: cannot remove %s: %s", sink->ctx.label,
				                 s->keys.v[i], instance_error(sink, rc));
		}
	free(manifest);
	return rc;
}

int
sink_lock(struct instance *sink, const char *job, cairn_sink_lock **lk, char **err)
{
	int rc;
	*lk = NULL;
	if (!sink->lp->sink.lock || !sink->lp->sink.unlock)
		return 0;
	rc = op_lock(sink, job, lk);
	if (rc) {
		*lk = NULL;
		*err = rc == CAIRN_E_LOCKED
		               ? xasprintf("%s: %s", sink->ctx.label, instance_error(sink, rc))
		               : xasprintf("%s: cannot lock job %s in this sink: %s",
		                           sink->ctx.label, job, instance_error(sink, rc));
	}
	return rc;
}

void
sink_unlock(struct instance *sink, cairn_sink_lock *lk)
{
	if (lk)
		op_unlock(sink, lk);
}

int
set_check_objects(struct instance *sink, const char *job, const char *id, const struct strvec *keys,
                  char **err)
{
	struct set_list l;
	const struct set_info *s = NULL;
	int rc = sets_list(sink, job, &l, err);
	if (rc)
		return rc;
	for (size_t i = 0; i < l.n && !s; i++)
		if (strcmp(l.v[i].id, id) == 0)
			s = &l.v[i];
	for (size_t i = 0; i < keys->n && !rc; i++)
		if (!s || !strvec_contains(&s->keys, keys->v[i])) {
			*err = xasprintf(
			        "%s: %s was committed but is gone from the sink; another run of job %s on another host or state_dir may have removed it: run each job from one place only",
			        sink->ctx.label, keys->v[i], job);
			rc = CAIRN_E_IO;
		}
	set_list_free(&l);
	return rc;
}

/* set_check_clash()'s listing of one set's objects. */
struct set_objects {
	struct listed *v;
	size_t n;
	int cancelled;
};

static int
on_set_object(void *ud, const char *key, uint64_t size, int64_t mtime)
{
	struct set_objects *so = ud;
	(void)mtime;
	if (cancel_signal) {
		so->cancelled = 1;
		return 1;
	}
	so->v = xrealloc(so->v, (so->n + 1) * sizeof(*so->v));
	so->v[so->n].key = xstrdup(key);
	so->v[so->n++].size = size;
	return 0;
}

/* Take key out of sv, if there. */
static void
drop_key(struct strvec *sv, const char *key)
{
	for (size_t i = 0; i < sv->n; i++)
		if (strcmp(sv->v[i], key) == 0) {
			free(sv->v[i]);
			memmove(&sv->v[i], &sv->v[i + 1], (sv->n - i - 1) * sizeof(*sv->v));
			sv->n--;
			return;
		}
}

int
set_check_clash(struct instance *sink, const char *job, const char *id, const struct manifest *m,
                struct strvec *ours, char **err)
{
	char *prefix = xasprintf("%s/%s/", job, id);
	struct set_objects so = {0};
	int rc = op_list(sink, prefix, on_set_object, &so);
	if (!rc && (so.cancelled || cancel_signal))
		rc = CAIRN_E_CANCELLED;
	if (rc)
		*err = xasprintf("%s: cannot list set %s/%s before committing it: %s",
		                 sink->ctx.label, job, id, instance_error(sink, rc));
	/* m's objects sorted, one search per listed key: a sink planted with
	 * a million keys costs n log n, never n times m */
	struct listed *mine = xcalloc(m->nsources ? m->nsources : 1, sizeof(*mine));
	for (size_t i = 0; i < m->nsources; i++) {
		mine[i].key = m->sources[i].object;
		mine[i].size = m->sources[i].stored_bytes;
	}
	qsort(mine, m->nsources, sizeof(*mine), cmp_listed);
	for (size_t i = 0; i < so.n; i++) {
		const struct listed *o =
		        bsearch(&so.v[i], mine, m->nsources, sizeof(*mine), cmp_listed);
		if (!rc && (!o || o->size != so.v[i].size)) {
			*err = xasprintf(
			        "%s: set %s/%s holds %s, which this run did not write: another run of job %s (from another host or state_dir) took the same id; nothing of this run stays in this sink, the other run's objects are left alone: run each job from one place only",
			        sink->ctx.label, job, id, so.v[i].key, job);
			rc = CAIRN_E_EXISTS;
		}
		if (o && o->size != so.v[i].size)
			drop_key(ours, so.v[i].key); /* replaced: no longer ours */
		free((char *)so.v[i].key);
	}
	free(mine);
	free(so.v);
	free(prefix);
	return rc;
}

int
set_pin(struct instance *sink, const char *job, const char *id, const char *note, char **err)
{
	char *key = xasprintf("%s/%s/%s", job, id, SET_PIN_NAME), when[32], host[256] = "";
	struct passwd *pw = getpwuid(geteuid());
	json_t *o;
	char *text, *line;
	int rc;
	iso8601_format_utc(time(NULL), when, sizeof(when));
	gethostname(host, sizeof(host) - 1);
	o = json_pack("{s:s, s:s, s:s, s:s, s:s}", "job", job, "id", id, "pinned_at", when, "host",
	              host, "user", pw && pw->pw_name ? pw->pw_name : "");
	if (note)
		json_object_set_new(o, "note", json_string(note));
	text = json_dumps(o, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(o);
	if (!text)
		abort();
	line = xasprintf("%s\n", text);
	free(text);
	rc = sink_write_all(sink, key, line, strlen(line), err);
	free(line);
	free(key);
	return rc;
}

int
set_unpin(struct instance *sink, const char *job, const char *id, char **err)
{
	char *key = xasprintf("%s/%s/%s", job, id, SET_PIN_NAME);
	int rc = op_remove(sink, key);
	if (rc == CAIRN_E_NOTFOUND)
		rc = 0;
	if (rc)
		*err = xasprintf("%s: cannot remove %s: %s", sink->ctx.label, key,
		                 instance_error(sink, rc));
	free(key);
	return rc;
}
