/* manifest.c - see manifest.h */
#include "autoconf.h"

#include "manifest.h"

#include <stdlib.h>
#include <string.h>

#include "json.h"   /* json_strings */
#include "logcat.h" /* log_pos_to_json, log_pos_from_json */
#include "timeutil.h"
#include "util.h"

/* Bounds on the fields of issue 20 (an age1... key is 62 characters). */
#define MANIFEST_MAX_WORD 32           /* "encryption" */
#define MANIFEST_MAX_RECIPIENTS 1024   /* entries of "recipients" */
#define MANIFEST_MAX_RECIPIENT_LEN 256 /* bytes of one */

struct manifest_source *
manifest_add_source(struct manifest *m)
{
	m->sources = xrealloc(m->sources, (m->nsources + 1) * sizeof(*m->sources));
	struct manifest_source *s = &m->sources[m->nsources++];
	memset(s, 0, sizeof(*s));
	return s;
}

void
manifest_add_failed(struct manifest *m, const char *name, const char *plugin, const char *error,
                    int skipped)
{
	m->failed = xrealloc(m->failed, (m->nfailed + 1) * sizeof(*m->failed));
	struct manifest_failed *f = &m->failed[m->nfailed++];
	f->name = xstrdup(name);
	f->plugin = xstrdup(plugin ? plugin : "");
	f->error = xstrdup(error ? error : "");
	f->skipped = skipped;
	m->partial = 1;
}

const struct manifest_failed *
manifest_failed_source(const struct manifest *m, const char *name)
{
	for (size_t i = 0; i < m->nfailed; i++)
		if (strcmp(m->failed[i].name, name) == 0)
			return &m->failed[i];
	return NULL;
}

static json_t *
strvec_json(const struct strvec *v)
{
	json_t *a = json_array();
	for (size_t i = 0; i < v->n; i++)
		json_array_append_new(a, json_string(v->v[i]));
	return a;
}

/* An optional array of strings: 0, or -1 when it is something else. */
static int
strvec_parse(json_t *a, struct strvec *out)
{
	size_t i;
	json_t *o;
	if (!a)
		return 0;
	if (!json_is_array(a))
		return -1;
	json_array_foreach(a, i, o)
	{
		if (!json_is_string(o))
			return -1;
		strvec_push(out, json_string_value(o));
	}
	return 0;
}

static json_t *
time_json(time_t t)
{
	char buf[32];
	iso8601_format_utc(t, buf, sizeof(buf));
	return json_string(buf);
}

/* "log": {"start": POS, "end": POS}, each only when known. */
static json_t *
log_json(const struct manifest_source *s)
{
	json_t *o = json_object();
	if (s->has_log_start)
		json_object_set_new(o, "start", log_pos_to_json(&s->log_start));
	if (s->has_log_end)
		json_object_set_new(o, "end", log_pos_to_json(&s->log_end));
	return o;
}

/* The optional "log" of a source entry into s: 0, or -1 when it is there
 * but not an object of positions. */
static int
log_parse(json_t *log, struct manifest_source *s)
{
	json_t *start, *end;
	if (!log)
		return 0;
	if (!json_is_object(log))
		return -1;
	start = json_object_get(log, "start");
	end = json_object_get(log, "end");
	if ((start && log_pos_from_json(start, &s->log_start)) ||
	    (end && log_pos_from_json(end, &s->log_end)))
		return -1;
	s->has_log_start = start != NULL;
	s->has_log_end = end != NULL;
	return 0;
}

json_t *
manifest_to_jansson(const struct manifest *m)
{
	json_t *srcs = json_array();
	for (size_t i = 0; i < m->nsources; i++) {
		const struct manifest_source *s = &m->sources[i];
		json_t *o = json_object();
		json_object_set_new(o, "name", json_string(s->name));
		json_object_set_new(o, "plugin", json_string(s->plugin));
		json_object_set_new(o, "plugin_version", json_string(s->plugin_version));
		json_object_set_new(o, "object", json_string(s->object));
		json_object_set_new(o, "compression", json_string(s->compression));
		if (s->encryption)
			json_object_set_new(o, "encryption", json_string(s->encryption));
		json_object_set_new(o, "raw_bytes", json_integer((json_int_t)s->raw_bytes));
		json_object_set_new(o, "stored_bytes", json_integer((json_int_t)s->stored_bytes));
		json_object_set_new(o, "sha256", json_string(s->sha256));
		json_object_set_new(o, "stats", s->stats ? json_incref(s->stats) : json_object());
		if (s->overrides.n)
			json_object_set_new(o, "overrides", strvec_json(&s->overrides));
		if (s->has_log_start || s->has_log_end)
			json_object_set_new(o, "log", log_json(s));
		json_array_append_new(srcs, o);
	}
	json_t *root = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:o, s:o, s:o}", "format",
	                         m->format ? m->format : MANIFEST_FORMAT, "cairn_version",
	                         m->cairn_version, "job", m->job, "id", m->id, "host",
	                         m->host ? m->host : "", "sink", m->sink ? m->sink : "", "started",
	                         time_json(m->started), "finished", time_json(m->finished),
	                         "sources", srcs);
	if (m->partial) {
		json_t *failed = json_array();
		for (size_t i = 0; i < m->nfailed; i++) {
			const struct manifest_failed *f = &m->failed[i];
			json_t *o = json_pack("{s:s, s:s, s:s}", "name", f->name, "plugin",
			                      f->plugin, "error", f->error);
			if (f->skipped)
				json_object_set_new(o, "skipped", json_true());
			json_array_append_new(failed, o);
		}
		json_object_set_new(root, "partial", json_true());
		json_object_set_new(root, "failed_sources", failed);
	}
	if (m->run_sinks.n)
		json_object_set_new(root, "run_sinks", strvec_json(&m->run_sinks));
	if (m->recipients.n)
		json_object_set_new(root, "recipients", strvec_json(&m->recipients));
	if (m->copied_from)
		json_object_set_new(root, "copied_from",
		                    json_pack("{s:s, s:o}", "sink", m->copied_from, "at",
		                              time_json(m->copied_at)));
	return root;
}

char *
manifest_to_json(const struct manifest *m)
{
	json_t *j = manifest_to_jansson(m);
	char *s = json_dumps(j, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(j);
	if (!s)
		abort();
	char *r = xasprintf("%s\n", s);
	free(s);
	return r;
}

static int
parse_time(json_t *v, time_t *t)
{
	return json_is_string(v) ? iso8601_parse(json_string_value(v), t) : -1;
}

/* The "sources" array into m.  0, or -1 with *err. */
static int
parse_sources(json_t *srcs, struct manifest *m, char **err)
{
	json_error_t je;
	size_t i;
	json_t *o;
	json_array_foreach(srcs, i, o)
	{
		const char *name, *plugin, *pv = "", *object, *comp, *sha, *enc = NULL;
		json_int_t raw, stored;
		json_t *stats = NULL, *ov = NULL;
		if (json_unpack_ex(o, &je, 0,
		                   "{s:s, s:s, s?s, s:s, s:s, s?s, s:I, s:I, s:s, s?o, s?o}",
		                   "name", &name, "plugin", &plugin, "plugin_version", &pv,
		                   "object", &object, "compression", &comp, "encryption", &enc,
		                   "raw_bytes", &raw, "stored_bytes", &stored, "sha256", &sha,
		                   "stats", &stats, "overrides", &ov) != 0 ||
		    strlen(sha) != 64 || strspn(sha, "0123456789abcdef") != 64 || raw < 0 ||
		    stored < 0 || (stats && !json_is_object(stats)) ||
		    (enc && (!*enc || strlen(enc) > MANIFEST_MAX_WORD))) {
			*err = xasprintf("not a cairn manifest: source %zu: %s", i,
			                 je.text[0] ? je.text : "bad sha256 or size");
			return -1;
		}
		struct manifest_source *s = manifest_add_source(m);
		s->name = xstrdup(name);
		s->plugin = xstrdup(plugin);
		s->plugin_version = xstrdup(pv);
		s->object = xstrdup(object);
		s->compression = xstrdup(comp);
		s->encryption = enc ? xstrdup(enc) : NULL;
		s->raw_bytes = (uint64_t)raw;
		s->stored_bytes = (uint64_t)stored;
		memcpy(s->sha256, sha, 65);
		s->stats = stats ? json_incref(stats) : NULL;
		if (strvec_parse(ov, &s->overrides)) {
			*err = xasprintf("not a cairn manifest: source %zu: bad overrides", i);
			return -1;
		}
		if (log_parse(json_object_get(o, "log"), s)) {
			char *shown = str_escape(name);
			*err = xasprintf(
			        "not a cairn manifest: source %s: bad log position (\"log\": {\"start\": POS, \"end\": POS})",
			        shown);
			free(shown);
			return -1;
		}
	}
	return 0;
}

/* "partial" and "failed_sources" into m; a source backed up with --set
 * marks it partial too.  0, or -1 with *err. */
static int
parse_failed(json_t *root, struct manifest *m, char **err)
{
	json_error_t je;
	size_t i;
	json_t *o;
	json_t *partial = json_object_get(root, "partial"),
	       *failed = json_object_get(root, "failed_sources");
	if ((partial && !json_is_boolean(partial)) || (failed && !json_is_array(failed))) {
		*err = xstrdup("not a cairn manifest: bad partial or failed_sources");
		return -1;
	}
	m->partial = json_is_true(partial);
	if (json_array_size(failed) > MANIFEST_MAX_FAILED) {
		*err = xasprintf("it lists %zu failed sources, more than the limit of %d",
		                 json_array_size(failed), MANIFEST_MAX_FAILED);
		return -1;
	}
	json_array_foreach(failed, i, o)
	{
		const char *name, *plugin = "", *error = "";
		int skipped = 0;
		if (json_unpack_ex(o, &je, 0, "{s:s, s?s, s?s, s?b}", "name", &name, "plugin",
		                   &plugin, "error", &error, "skipped", &skipped) != 0) {
			*err = xasprintf("not a cairn manifest: failed source %zu: %s", i, je.text);
			return -1;
		}
		manifest_add_failed(m, name, plugin, error, skipped);
	}
	/* failed sources without the flag, or a source backed up with
	 * --set: still partial */
	m->partial = m->partial || m->nfailed;
	for (size_t k = 0; k < m->nsources; k++)
		m->partial = m->partial || m->sources[k].overrides.n;
	return 0;
}

/* "recipients": an optional array of public keys (age1...) or "scrypt",
 * each one bounded, as is their number.  0, or -1 with *err. */
static int
parse_recipients(json_t *root, struct manifest *m, char **err)
{
	json_t *a = json_object_get(root, "recipients");
	size_t bad;
	if (!a || !json_strings(a, MANIFEST_MAX_RECIPIENTS, MANIFEST_MAX_RECIPIENT_LEN,
	                        &m->recipients, &bad))
		return 0;
	if (bad == SIZE_MAX)
		*err = xasprintf(
		        "not a cairn manifest: bad recipients (an array of at most %d public keys)",
		        MANIFEST_MAX_RECIPIENTS);
	else
		*err = xasprintf("not a cairn manifest: recipient %zu is not a public key", bad);
	return -1;
}

/* "copied_from", informational: a malformed one is left out, not an
 * error. */
static void
parse_copied_from(json_t *root, struct manifest *m)
{
	json_t *cf = json_object_get(root, "copied_from");
	const char *from = NULL;
	json_t *at = NULL;
	if (json_unpack(cf, "{s:s, s:o}", "sink", &from, "at", &at) == 0 &&
	    parse_time(at, &m->copied_at) == 0)
		m->copied_from = xstrdup(from);
}

struct manifest *
manifest_parse(const char *buf, size_t len, char **err)
{
	json_error_t je;
	json_t *root = NULL, *srcs = NULL, *started = NULL, *finished = NULL;
	struct manifest *m = xcalloc(1, sizeof(*m));
	const char *version = NULL, *job = NULL, *id = NULL, *host = "", *sink = "";

	if (len > MANIFEST_MAX_BYTES) {
		*err = xasprintf("it is %zu bytes, more than the limit of %u (16 MiB)", len,
		                 MANIFEST_MAX_BYTES);
		goto fail;
	}
	if (!(root = json_loadb(buf, len, 0, &je))) {
		*err = xasprintf("not valid JSON (line %d: %s)", je.line, je.text);
		goto fail;
	}
	/* the format first: a newer manifest may lack what this one needs */
	if (json_unpack_ex(root, &je, 0, "{s:i}", "format", &m->format) != 0) {
		*err = xasprintf("not a cairn manifest: %s", je.text);
		goto fail;
	}
	if (m->format > MANIFEST_FORMAT) {
		*err = xasprintf(
		        "manifest format %d is newer than this cairn understands (%d); upgrade cairn",
		        m->format, MANIFEST_FORMAT);
		goto fail;
	}
	if (json_unpack_ex(root, &je, 0, "{s:i, s:s, s:s, s:s, s?s, s?s, s:o, s:o, s:o}", "format",
	                   &m->format, "cairn_version", &version, "job", &job, "id", &id, "host",
	                   &host, "sink", &sink, "started", &started, "finished", &finished,
	                   "sources", &srcs) != 0) {
		*err = xasprintf("not a cairn manifest: %s", je.text);
		goto fail;
	}
	if (parse_time(started, &m->started) || parse_time(finished, &m->finished) ||
	    !json_is_array(srcs)) {
		*err = xstrdup("not a cairn manifest: bad started, finished or sources");
		goto fail;
	}
	if (json_array_size(srcs) > MANIFEST_MAX_SOURCES) {
		*err = xasprintf("it lists %zu sources, more than the limit of %d",
		                 json_array_size(srcs), MANIFEST_MAX_SOURCES);
		goto fail;
	}
	m->cairn_version = xstrdup(version);
	m->job = xstrdup(job);
	m->id = xstrdup(id);
	m->host = xstrdup(host);
	m->sink = xstrdup(sink);
	if (parse_sources(srcs, m, err))
		goto fail;
	if (strvec_parse(json_object_get(root, "run_sinks"), &m->run_sinks)) {
		*err = xstrdup("not a cairn manifest: bad run_sinks");
		goto fail;
	}
	if (parse_failed(root, m, err) || parse_recipients(root, m, err))
		goto fail;
	for (size_t i = 0; i < m->nsources; i++)
		m->sources[i].set_recipients = &m->recipients;
	parse_copied_from(root, m);
	json_decref(root);
	return m;
fail:
	json_decref(root);
	manifest_free(m);
	return NULL;
}

void
manifest_clear(struct manifest *m)
{
	for (size_t i = 0; i < m->nsources; i++) {
		struct manifest_source *s = &m->sources[i];
		free(s->name);
		free(s->plugin);
		free(s->plugin_version);
		free(s->object);
		free(s->compression);
		free(s->encryption);
		json_decref(s->stats);
		strvec_free(&s->overrides);
	}
	free(m->sources);
	for (size_t i = 0; i < m->nfailed; i++) {
		free(m->failed[i].name);
		free(m->failed[i].plugin);
		free(m->failed[i].error);
	}
	free(m->failed);
	strvec_free(&m->run_sinks);
	strvec_free(&m->recipients);
	free(m->cairn_version);
	free(m->job);
	free(m->id);
	free(m->host);
	free(m->sink);
	free(m->copied_from);
	memset(m, 0, sizeof(*m));
}

void
manifest_free(struct manifest *m)
{
	if (!m)
		return;
	manifest_clear(m);
	free(m);
}
