/* sets.c - see sets.h */
#include "autoconf.h"

#include "sets.h"

#include <stdlib.h>
#include <string.h>

#include "cairn.h"

struct lister {
	struct set_list *l;
	size_t prefix_len;
};

static struct set_info *
find_or_add(struct set_list *l, const char *id, time_t t)
{
	for (size_t i = 0; i < l->n; i++)
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
	(void)mtime;
	/* JOB/ID/NAME, nothing deeper: anything else is not ours */
	if (!slash || slash - rest != BACKUP_ID_LEN || strchr(slash + 1, '/') || !slash[1])
		return 0;
	memcpy(id, rest, BACKUP_ID_LEN);
	id[BACKUP_ID_LEN] = '\0';
	if (backup_id_parse(id, &t))
		return 0;
	struct set_info *s = find_or_add(ls->l, id, t);
	strvec_push(&s->keys, key);
	s->bytes += size;
	if (strcmp(slash + 1, CAIRN_MANIFEST_NAME) == 0)
		s->complete = 1;
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
	rc = sink->lp->sink.list(sink->inst, prefix, on_object, &ls);
	free(prefix);
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
	for (size_t i = 0; i < l->n; i++)
		strvec_free(&l->v[i].keys);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

const struct set_info *
sets_select(const struct set_list *l, const char *id, const time_t *at)
{
	for (size_t i = l->n; i-- > 0;) {
		const struct set_info *s = &l->v[i];
		if (!s->complete)
			continue;
		if (id) {
			if (strcmp(s->id, id) == 0)
				return s;
		} else if (!at || s->time <= *at) {
			return s;
		}
	}
	return NULL;
}

int
sink_read_all(struct instance *sink, const char *key, size_t max, char **buf, size_t *len,
              char **err)
{
	cairn_sink_reader *r;
	size_t cap = 4096, n = 0;
	char *b;
	int rc = sink->lp->sink.open_read(sink->inst, key, &r);
	if (rc) {
		*err = xasprintf("%s: cannot read %s: %s", sink->ctx.label, key,
		                 instance_error(sink, rc));
		return rc;
	}
	b = xmalloc(cap);
	for (;;) {
		if (n == cap) {
			if (cap >= max) {
				*err = xasprintf("%s: %s is larger than %zu bytes", sink->ctx.label, key, max);
				rc = CAIRN_E_CORRUPT;
				break;
			}
			cap *= 2;
			b = xrealloc(b, cap);
		}
		ssize_t got = sink->lp->sink.read(r, b + n, cap - n);
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
	sink->lp->sink.close_read(r);
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
	int rc = sink->lp->sink.open_write(sink->inst, key, &w);
	if (!rc) {
		rc = sink->lp->sink.write(w, buf, len);
		if (rc)
			sink->lp->sink.abort(w);
		else
			rc = sink->lp->sink.commit(w);
	}
	if (rc)
		*err = xasprintf("%s: cannot write %s: %s", sink->ctx.label, key,
		                 instance_error(sink, rc));
	return rc;
}

int
set_read_manifest(struct instance *sink, const char *job, const char *id,
                  struct manifest **out, char **err)
{
	char *key = xasprintf("%s/%s/%s", job, id, CAIRN_MANIFEST_NAME), *buf, *why = NULL;
	size_t len;
	int rc = sink_read_all(sink, key, 64 << 20, &buf, &len, err);
	if (rc == 0) {
		*out = manifest_parse(buf, len, &why);
		free(buf);
		if (!*out) {
			*err = xasprintf("%s: %s: %s", sink->ctx.label, key, why);
			free(why);
			rc = CAIRN_E_CORRUPT;
		}
	}
	free(key);
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
			rc = sink->lp->sink.remove(sink->inst, s->keys.v[i]);
			if (rc == CAIRN_E_NOTFOUND)
				rc = 0;
			if (rc)
				*err = xasprintf("%s: cannot remove %s: %s", sink->ctx.label,
				                 s->keys.v[i], instance_error(sink, rc));
		}
	free(manifest);
	return rc;
}
