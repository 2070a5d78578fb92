/* follow_start.c - see follow_start.h */
#include "autoconf.h"

#include "follow_start.h"

#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "sets.h"
#include "util.h"

/* Is a later than b (time, then lsn)? */
static int
pos_later(const struct cairn_log_pos *a, const struct cairn_log_pos *b)
{
	return a->time_ms > b->time_ms || (a->time_ms == b->time_ms && a->lsn > b->lsn);
}

/* The newest segment's TO and base in sink, its manifest read: 0, or -1
 * with *err. */
static int
newest_segment(struct instance *sink, const char *job, const char *source,
               const struct log_segment *named, struct cairn_log_pos *to, char *base, char **err)
{
	char *key = xasprintf("%s/" LOG_DIR "/%s/%s.json", job, source, named->name), *buf = NULL,
	     *why = NULL;
	struct log_segment seg;
	size_t len;
	int rc = sink_read_all(sink, key, LOGSEG_MAX_BYTES, &buf, &len, err);
	if (!rc) {
		memset(&seg, 0, sizeof(seg));
		if (logseg_parse(buf, len, job, source, named->name, &seg, &why)) {
			*err = xasprintf("%s: %s: %s", sink->ctx.label, key, why);
			free(why);
			rc = -1;
		} else {
			*to = seg.to;
			memcpy(base, seg.base, BACKUP_ID_LEN + 1);
			logseg_clear(&seg);
		}
	}
	free(buf);
	free(key);
	return rc ? -1 : 0;
}

/* Where source's log ends in sink: 1 with *to and base, 0 none, -1 with
 * *err. */
static int
sink_end(struct instance *sink, const char *job, const char *source, struct cairn_log_pos *to,
         char *base, char **err)
{
	struct log_catalog cat = {0};
	const struct log_source *ls;
	const struct log_segment *seg;
	const struct log_gap *gap = NULL;
	int rc = logcat_load(sink, job, source, 0, &cat, err);
	if (rc)
		return -1;
	ls = logcat_source(&cat, source);
	seg = ls ? logcat_newest(ls) : NULL;
	for (size_t i = 0; ls && i < ls->ngaps; i++)
		if (!gap || pos_later(&ls->gaps[i].to, &gap->to))
			gap = &ls->gaps[i];
	if (gap && (!seg || pos_later(&gap->to, &seg->to))) {
		*to = gap->to;
		memcpy(base, gap->base, BACKUP_ID_LEN + 1);
		rc = 1;
	} else if (seg) {
		rc = newest_segment(sink, job, source, seg, to, base, err) ? -1 : 1;
	}
	logcat_free(&cat);
	return rc;
}

void
follow_start_find(struct instance **sinks, size_t n, const char *job, const char *source,
                  struct follow_start *out)
{
	memset(out, 0, sizeof(*out));
	out->has = xcalloc(n ? n : 1, sizeof(*out->has));
	out->at = xcalloc(n ? n : 1, sizeof(*out->at));
	for (size_t i = 0; i < n; i++) {
		char base[BACKUP_ID_LEN + 1] = "", *err = NULL;
		int rc = sink_end(sinks[i], job, source, &out->at[i], base, &err);
		if (rc < 0) {
			log_warn(
			        "%s; cairn follow of source %s takes up the log where the other sinks have it",
			        err, source);
			free(err);
			continue;
		}
		out->has[i] = rc;
		if (rc && (!out->found || pos_later(&out->at[i], &out->to))) {
			out->found = 1;
			out->to = out->at[i];
			memcpy(out->base, base, sizeof(out->base));
		}
	}
}

void
follow_start_free(struct follow_start *fs)
{
	free(fs->has);
	free(fs->at);
	memset(fs, 0, sizeof(*fs));
}

/* The entry of source in m that a log can start from, or NULL. */
static const struct manifest_source *
base_entry(const struct manifest *m, const char *source)
{
	for (size_t k = 0; k < m->nsources; k++) {
		const struct manifest_source *ms = &m->sources[k];
		if (strcmp(ms->name, source) == 0 && ms->has_log_start && !ms->overrides.n)
			return ms;
	}
	return NULL;
}

int
follow_base_find(struct instance **sinks, size_t n, const char *job, const char *source,
                 char id[BACKUP_ID_LEN + 1], struct cairn_log_pos *start)
{
	int found = 0;
	time_t now = time(NULL);
	for (size_t i = 0; i < n; i++) {
		struct set_list l;
		char *err = NULL;
		if (sets_list(sinks[i], job, &l, &err)) {
			log_warn("%s; looking for a full backup of source %s in the other sinks",
			         err, source);
			free(err);
			continue;
		}
		for (size_t k = l.n; k-- > 0;) {
			struct set_info *s = &l.v[k];
			const struct manifest *m;
			const struct manifest_source *ms;
			if (!s->complete || set_in_future(s, now) ||
			    (found && strcmp(s->id, id) <= 0))
				continue;
			if (set_manifest(sinks[i], job, s, &m, &err)) {
				free(err);
				err = NULL;
				continue;
			}
			if ((ms = base_entry(m, source))) {
				memcpy(id, s->id, BACKUP_ID_LEN + 1);
				*start = ms->log_start;
				found = 1;
				break;
			}
		}
		set_list_free(&l);
	}
	return found;
}

int
follow_base_start(struct instance **sinks, size_t n, const char *job, const char *id,
                  const char *source, struct cairn_log_pos *start, char **err)
{
	for (size_t i = 0; i < n; i++) {
		struct manifest *m = NULL;
		const struct manifest_source *ms;
		char *why = NULL;
		if (set_read_manifest(sinks[i], job, id, &m, &why)) {
			free(why);
			continue;
		}
		ms = base_entry(m, source);
		if (ms)
			*start = ms->log_start;
		manifest_free(m);
		if (ms)
			return 0;
		*err = xasprintf(
		        "source %s cannot be followed: its full backup %s/%s records no position of its change log, which a source gives only when its server keeps a log it can follow (MongoDB: a replica set member, not a standalone server; Redis: mode = rdb with a user allowed +psync); point the source at such a server",
		        source, job, id);
		return -1;
	}
	*err = xasprintf(
	        "no sink of job %s holds set %s that was just written; see the errors above", job,
	        id);
	return -1;
}
