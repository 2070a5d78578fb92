/* prune.c - see prune.h */
#include "autoconf.h"

#include "prune.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h" /* exit_for, print_line, job_policy, sets_for_retention */
#include "host.h"
#include "log.h"
#include "prune_log.h"
#include "retention.h"

static const char *const state_words[] = {[RETENTION_COMPLETE] = "complete",
                                          [RETENTION_PARTIAL] = "partial",
                                          [RETENTION_INCOMPLETE] = "incomplete",
                                          [RETENTION_DAMAGED] = "damaged"};

int
prune_sink(const struct cfg_job *job, struct instance *sink, unsigned flags, json_t *json)
{
	struct set_list l;
	struct retention_policy p;
	struct retention_set *rs;
	struct retention_verdict *v;
	size_t keep = 0, removed = 0, failed = 0;
	char *err = NULL;
	int rc, dry = (flags & PRUNE_DRY_RUN) != 0;
	time_t now = time(NULL);

	if ((rc = sets_list(sink, job->name, &l, &err))) {
		log_error("%s", err);
		free(err);
		return exit_for(rc);
	}
	job_policy(job, &p);
	rs = xcalloc(l.n ? l.n : 1, sizeof(*rs));
	v = xcalloc(l.n ? l.n : 1, sizeof(*v));
	sets_for_retention(sink, job->name, &l, NULL, rs);
	retention_apply(&p, rs, l.n, now, v);
	for (size_t i = 0; i < l.n; i++)
		keep += v[i].keep != 0;

	json_t *jsets = json ? json_array() : NULL;
	if (flags & PRUNE_PRINT && !json)
		print_line("job %s in sink %s: %zu set%s, %s %zu, %s %zu%s", job->name, sink->name,
		           l.n, l.n == 1 ? "" : "s", "keep", keep, dry ? "would remove" : "remove",
		           l.n - keep, dry ? " (dry run)" : "");
	for (size_t i = l.n; i-- > 0;) { /* newest first, as the rules count */
		char when[32];
		format_local(rs[i].time, when, sizeof(when));
		if (json) {
			char utc[32];
			iso8601_format_utc(rs[i].time, utc, sizeof(utc));
			json_array_append_new(
			        jsets, json_pack("{s:s, s:s, s:s, s:b, s:s, s:s}", "id", rs[i].id,
			                         "time", utc, "state", state_words[rs[i].state],
			                         "pinned", rs[i].pinned, "action",
			                         v[i].keep ? "keep" : "remove", "why", v[i].why));
		} else if (flags & PRUNE_PRINT) {
			print_line("  %s  %s  %-10s  %-6s  %s", rs[i].id, when,
			           state_words[rs[i].state], v[i].keep ? "keep" : "remove",
			           v[i].why);
		}
	}
	/* remove oldest first, so that an interrupted prune took the
	 * oldest; each set's manifest goes first (set_remove), so a set
	 * removed half way is incomplete, never a "complete" set missing
	 * objects */
	for (size_t i = 0; !dry && i < l.n; i++) {
		if (v[i].keep)
			continue;
		if (cancel_signal) {
			rc = CAIRN_E_CANCELLED;
			break;
		}
		if (set_remove(sink, job->name, &l.v[i], &err)) {
			log_error("%s; set %s/%s stays for now, the rest goes on", err, job->name,
			          l.v[i].id);
			free(err);
			err = NULL;
			failed++;
			continue;
		}
		removed++;
		log_info("%s: removed set %s/%s (%s)", sink->ctx.label, job->name, l.v[i].id,
		         v[i].why);
	}
	json_t *jsink = json ? json_pack("{s:s, s:b, s:I, s:I, s:o}", "sink", sink->name, "dry_run",
	                                 dry, "kept", (json_int_t)keep, "removed",
	                                 (json_int_t)removed, "sets", jsets)
	                     : NULL;
	if (!dry && (removed || failed))
		log_info("%s: pruned job %s: %zu set%s kept, %zu removed%s", sink->ctx.label,
		         job->name, keep, keep == 1 ? "" : "s", removed,
		         failed ? ", some could not be removed (see above)" : "");
	/* then the logs, judged against the sets retention keeps */
	int lrc = rc ? 0 : prune_logs(job, sink, &l, v, now, flags, jsink);
	if (json)
		json_array_append_new(json, jsink);
	for (size_t i = 0; i < l.n; i++)
		free(v[i].why);
	free(v);
	free(rs);
	set_list_free(&l);
	if (rc)
		return exit_for(rc);
	return failed ? CAIRN_EXIT_FAILED : lrc;
}
