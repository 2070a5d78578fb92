/* logstats.c - see logstats.h */
#include "autoconf.h"

#include "logstats.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

static int64_t
sat_add(int64_t a, int64_t b)
{
	int64_t r;
	if (__builtin_add_overflow(a, b, &r))
		return b > 0 ? INT64_MAX : INT64_MIN;
	return r;
}

/* 1 to LOGSTATS_KEY_MAX printable ASCII characters without space, and not
 * the core's own key? */
static int
key_ok(const char *key)
{
	size_t n = 0;
	if (!key || !key[0])
		return 0;
	for (; key[n]; n++)
		if (n == LOGSTATS_KEY_MAX || key[n] <= ' ' || key[n] > '~')
			return 0;
	return strcmp(key, LOGSTATS_DROPPED) != 0;
}

/* Add value to key's count in m (a valid key). */
static void
map_add(struct logstats_map *m, const char *key, int64_t value)
{
	for (size_t i = 0; i < m->n; i++)
		if (!strcmp(m->v[i].key, key)) {
			m->v[i].value = sat_add(m->v[i].value, value);
			return;
		}
	if (m->n == LOGSTATS_KEYS) {
		m->dropped = sat_add(m->dropped, 1);
		return;
	}
	memcpy(m->v[m->n].key, key, strlen(key) + 1);
	m->v[m->n++].value = value;
}

void
logstats_add(struct logstats *s, const char *key, int64_t value)
{
	if (!key_ok(key))
		s->pending.dropped = sat_add(s->pending.dropped, 1);
	else
		map_add(&s->pending, key, value);
}

void
logstats_drop_pending(struct logstats *s)
{
	s->pending.n = 0;
	s->pending.dropped = 0;
}

void
logstats_take(struct logstats *s)
{
	struct logstats_map *p = &s->pending;
	for (size_t i = 0; i < p->n; i++)
		map_add(&s->open, p->v[i].key, p->v[i].value);
	s->open.dropped = sat_add(s->open.dropped, p->dropped);
	logstats_drop_pending(s);
}

void
logstats_reset(struct logstats *s)
{
	s->open.n = 0;
	s->open.dropped = 0;
}

char *
logstats_text(const json_t *stats)
{
	const char *key;
	json_t *v;
	char *out = NULL;
	if (!json_is_object(stats))
		return NULL;
	json_object_foreach((json_t *)stats, key, v)
	{
		char *k, *t;
		if (!json_is_integer(v))
			continue;
		k = str_escape(key);
		t = xasprintf("%s%s%s %lld", out ? out : "", out ? ", " : "", k,
		              (long long)json_integer_value(v));
		free(k);
		free(out);
		out = t;
	}
	return out;
}

json_t *
logstats_json(const struct logstats *s)
{
	const struct logstats_map *m = &s->open;
	json_t *o;
	if (!m->n && !m->dropped)
		return NULL;
	o = json_object();
	for (size_t i = 0; i < m->n; i++)
		json_object_set_new(o, m->v[i].key, json_integer((json_int_t)m->v[i].value));
	if (m->dropped)
		json_object_set_new(o, LOGSTATS_DROPPED, json_integer((json_int_t)m->dropped));
	return o;
}
