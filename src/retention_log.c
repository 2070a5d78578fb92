/* retention_log.c - see retention_log.h */
#include "autoconf.h"

#include "retention_log.h"

#include <stdio.h>
#include <string.h>

#include "retention.h" /* retention_format_duration */
#include "sets.h"      /* SET_LEFTOVER_GRACE */

int
log_retention_for(const struct log_keeper *kept, size_t n, const char *source, int64_t window,
                  time_t now, struct log_retention *out)
{
	memset(out, 0, sizeof(*out));
	out->source = source;
	out->cut_ms = INT64_MIN;
	out->window = window > 0 ? window : 0;
	out->now_ms = (int64_t)now * 1000;
	for (size_t i = 0; i < n; i++) {
		const struct manifest *m = kept[i].m;
		if (!m)
			return -1;
		for (size_t k = 0; k < m->nsources; k++) {
			const struct manifest_source *s = &m->sources[k];
			if (strcmp(s->name, source) != 0)
				continue;
			out->holders++;
			if (!s->has_log_start && !s->has_log_end)
				continue;
			int64_t at = s->has_log_end ? s->log_end.time_ms : s->log_start.time_ms;
			if (out->cut_ms == INT64_MIN || at < out->cut_ms) {
				out->cut_ms = at;
				snprintf(out->cut_set, sizeof(out->cut_set), "%s", kept[i].id);
			}
		}
	}
	return 0;
}

int
log_retention_segment(const struct log_retention *p, int64_t to_ms, char *why, size_t len)
{
	char window[32];
	retention_format_duration(p->window, window, sizeof(window));
	if (!p->holders) {
		snprintf(why, len, "remove: no kept set holds source %s", p->source);
		return 0;
	}
	if (p->cut_ms != INT64_MIN && to_ms < p->cut_ms) {
		snprintf(why, len, "remove: log before oldest kept set %s", p->cut_set);
		return 0;
	}
	if (p->window > 0 && to_ms < p->now_ms - p->window * 1000) {
		snprintf(why, len, "remove: log older than pitr_window %s", window);
		return 0;
	}
	if (p->cut_ms == INT64_MIN)
		snprintf(why, len, "keep: no kept set records where the log of %s stood",
		         p->source);
	else
		snprintf(why, len, "keep: log after kept set %s", p->cut_set);
	return 1;
}

int
log_retention_gap(int64_t from_ms, int64_t kept_to_ms, char *why, size_t len)
{
	if (kept_to_ms != INT64_MAX && kept_to_ms <= from_ms) {
		snprintf(why, len, "keep: a kept segment lies before it");
		return 1;
	}
	snprintf(why, len, "remove: no kept segment lies before it");
	return 0;
}

int
log_retention_orphan(int64_t mtime, int64_t to_ms, time_t now, char *why, size_t len)
{
	char grace[32];
	int64_t touched = mtime > 0 ? mtime : to_ms / 1000;
	retention_format_duration(SET_LEFTOVER_GRACE, grace, sizeof(grace));
	if ((int64_t)now - touched > SET_LEFTOVER_GRACE) {
		snprintf(why, len, "remove: no manifest, left over for more than %s", grace);
		return 0;
	}
	snprintf(why, len, "keep: no manifest yet, changed within %s: a follower may be writing it",
	         grace);
	return 1;
}
