/* cmd_status.c - what each job's backups look like in each sink: a short
 * table (with a sparkline of the newest sets' sizes on a terminal), the
 * JSON document of doc/status-json.md, or the Prometheus textfile.  What
 * backup and verify record of their runs is record.c's. */
#include "autoconf.h"

#include "cmd.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "metrics.h"
#include "state.h"
#include "status.h"

/* "3h 2m", "4d 1h", "12m", "40s" */
static void
age_text(int64_t s, char *buf, size_t len)
{
	if (s < 0)
		s = 0;
	if (s >= 86400)
		snprintf(buf, len, "%lldd %lldh", (long long)(s / 86400),
		         (long long)(s / 3600 % 24));
	else if (s >= 3600)
		snprintf(buf, len, "%lldh %lldm", (long long)(s / 3600), (long long)(s / 60 % 60));
	else if (s >= 60)
		snprintf(buf, len, "%lldm", (long long)(s / 60));
	else
		snprintf(buf, len, "%llds", (long long)s);
}

/* Does the user's terminal take UTF-8?  cairn never calls setlocale(), so
 * it asks the environment as setlocale(LC_CTYPE, "") would: the first of
 * LC_ALL, LC_CTYPE and LANG that is set decides. */
static int
utf8_locale(void)
{
	static const char *const vars[] = {"LC_ALL", "LC_CTYPE", "LANG"};
	for (size_t i = 0; i < sizeof(vars) / sizeof(vars[0]); i++) {
		const char *v = getenv(vars[i]);
		if (v && *v)
			return strcasestr(v, "utf-8") != NULL || strcasestr(v, "utf8") != NULL;
	}
	return 0;
}

/* The stored sizes of the newest sets as block characters (ASCII where
 * the locale is not UTF-8), lowest to highest of them: the size trend at
 * a glance. */
static void
sparkline(const struct sink_status *ss, char *buf, size_t len)
{
	static const char *const bars[] = {"\u2581", "\u2582", "\u2583", "\u2584",
	                                   "\u2585", "\u2586", "\u2587", "\u2588"};
	static const char ascii[] = "_.,-=+*#";
	int utf8 = utf8_locale();
	size_t w = utf8 ? 3 : 1;
	uint64_t lo = UINT64_MAX, hi = 0;
	size_t n = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < ss->nrecent; i++) {
		if (ss->recent[i].bytes < lo)
			lo = ss->recent[i].bytes;
		if (ss->recent[i].bytes > hi)
			hi = ss->recent[i].bytes;
	}
	for (size_t i = 0; i < ss->nrecent && n + w + 1 < len; i++) {
		size_t k = hi > lo ? (size_t)((ss->recent[i].bytes - lo) * 7 / (hi - lo)) : 3;
		memcpy(buf + n, utf8 ? bars[k] : &ascii[k], w);
		n += w;
		buf[n] = '\0';
	}
}

static void
test_text(const struct state_test *t, time_t now, char *buf, size_t len)
{
	char age[24];
	if (!t->time) {
		snprintf(buf, len, "never");
		return;
	}
	age_text((int64_t)(now - t->time), age, sizeof(age));
	snprintf(buf, len, "%s %s ago", t->ok ? "ok" : "FAILED", age);
}

static void
print_table(const struct status_report *r, int tty)
{
	print_line("%-12s %-10s %-17s %8s %10s %7s %5s %10s %-14s %-14s %6s%s", "JOB", "SINK",
	           "LAST BACKUP", "AGE", "STORED", "CHANGE", "SETS", "KEPT", "VERIFY",
	           "RESTORE TEST", "USAGE", tty ? "  SIZES" : "");
	for (size_t j = 0; j < r->njobs; j++) {
		const struct job_status *js = &r->jobs[j];
		for (size_t k = 0; k < js->nsinks; k++) {
			const struct sink_status *ss = &js->sinks[k];
			char age[32] = "-", stored[32] = "-", change[16] = "-", kept[32], ver[48],
			     rt[48], usage[16] = "-", spark[STATUS_RECENT * 3 + 1] = "";
			double pct;
			if (!ss->reachable) {
				print_line("%-12s %-10s UNREACHABLE: %s", js->job->name, ss->name,
				           ss->error ? ss->error : "");
				continue;
			}
			if (ss->have_last) {
				time_t done = ss->last.finished ? ss->last.finished : ss->last.time;
				age_text((int64_t)(r->now - done), age, sizeof(age));
				format_bytes(ss->last.stored, stored, sizeof(stored));
			}
			if (status_size_change(ss, &pct))
				snprintf(change, sizeof(change), "%+.1f%%", pct);
			format_bytes(ss->bytes_kept, kept, sizeof(kept));
			test_text(&ss->state.verify, r->now, ver, sizeof(ver));
			test_text(&ss->state.restore_test, r->now, rt, sizeof(rt));
			if (status_usage_percent(ss, &pct))
				snprintf(usage, sizeof(usage), "%.0f%%", pct);
			if (tty)
				sparkline(ss, spark, sizeof(spark));
			print_line("%-12s %-10s %-17s %8s %10s %7s %5zu %10s %-14s %-14s %6s%s%s",
			           js->job->name, ss->name, ss->have_last ? ss->last.id : "none",
			           age, stored, change, ss->sets, kept, ver, rt, usage,
			           tty ? "  " : "", spark);
		}
	}
	/* what needs a second line: failures, damage */
	for (size_t j = 0; j < r->njobs; j++) {
		const struct job_status *js = &r->jobs[j];
		if (js->state_error)
			print_line("  %s: %s", js->job->name, js->state_error);
		for (size_t k = 0; k < js->nsinks; k++) {
			const struct sink_status *ss = &js->sinks[k];
			const struct state_sink *st = &ss->state;
			if (ss->reachable && ss->error)
				print_line("  %s in %s: %s", js->job->name, ss->name, ss->error);
			for (size_t f = 0; f < ss->future.n; f++)
				print_line(
				        "  %s in %s: set %s: its id lies in the future (a host with a wrong clock, or planted); not counted, not taken for the last backup",
				        js->job->name, ss->name, ss->future.v[f]);
			if (ss->pinned.n) {
				char *ids = strvec_join(&ss->pinned, " ");
				print_line(
				        "  %s in %s: pinned (kept by prune until cairn unpin): %s",
				        js->job->name, ss->name, ids);
				free(ids);
			}
			if (st->partial || st->failed)
				print_line(
				        "  %s in %s: %u partial and %u failed run%s since the last success; the last: %s",
				        js->job->name, ss->name, st->partial, st->failed,
				        st->partial + st->failed == 1 ? "" : "s",
				        st->run.error ? st->run.error
				                      : run_status_name(st->run.status));
			if (st->verify.time && !st->verify.ok)
				print_line("  %s in %s: verify of %s failed: %s", js->job->name,
				           ss->name, st->verify.id,
				           st->verify.detail ? st->verify.detail : "");
			if (st->restore_test.time && !st->restore_test.ok)
				print_line("  %s in %s: restore test of %s failed: %s",
				           js->job->name, ss->name, st->restore_test.id,
				           st->restore_test.detail ? st->restore_test.detail : "");
		}
	}
}

/* The change logs of the jobs that follow: per sink and source, how far
 * behind the log is, when its newest segment ends, its breaks. */
static void
print_logs(const struct status_report *r)
{
	int header = 0;
	for (size_t j = 0; j < r->njobs; j++)
		for (size_t k = 0; k < r->jobs[j].nsinks; k++) {
			const struct sink_status *ss = &r->jobs[j].sinks[k];
			const char *job = r->jobs[j].job->name;
			for (size_t i = 0; i < ss->nlogs; i++) {
				const struct log_summary *ls = &ss->logs[i];
				char lag[32] = "-", newest[40] = "-";
				if (!header++)
					print_line("%-12s %-10s %-10s %8s %-24s %8s %5s",
					           "LOG OF JOB", "SINK", "SOURCE", "LAG",
					           "NEWEST SEGMENT ENDS", "SEGMENTS", "GAPS");
				if (ls->segments) {
					age_text((int64_t)logstatus_lag(ls, r->now), lag,
					         sizeof(lag));
					log_time_format(ls->to_ms, newest, sizeof(newest));
				}
				print_line("%-12s %-10s %-10s %8s %-24s %8zu %5zu", job, ss->name,
				           ls->source, lag, newest, ls->segments,
				           ls->ngaps + ls->nholes);
			}
		}
	/* what needs a line of its own: breaks, a listing that failed */
	for (size_t j = 0; j < r->njobs; j++)
		for (size_t k = 0; k < r->jobs[j].nsinks; k++) {
			const struct sink_status *ss = &r->jobs[j].sinks[k];
			const char *job = r->jobs[j].job->name;
			if (ss->log_error)
				print_line("  %s in %s: the change logs cannot be listed: %s", job,
				           ss->name, ss->log_error);
			for (size_t i = 0; i < ss->nlogs; i++)
				for (size_t b = 0; b < ss->logs[i].nbreaks; b++) {
					const struct log_break *br = &ss->logs[i].breaks[b];
					char iv[96];
					logstatus_interval(&br->from, &br->to, iv, sizeof(iv));
					print_line("  %s in %s: the log of %s has a %s %s: %s", job,
					           ss->name, ss->logs[i].source,
					           br->kind == LOG_BREAK_GAP ? "gap" : "hole", iv,
					           br->reason);
				}
		}
}

/* The options of status: its row in cli.c gives them to the scan for global
 * options after the command and to completion. */
const struct option status_options[] = {{"json", no_argument, NULL, 'j'},
                                        {"prometheus", required_argument, NULL, 'p'},
                                        {NULL, 0, NULL, 0}};

int
cmd_status(struct cli *c, int argc, char **argv)
{
	const char *prom = NULL, *only = NULL;
	int opt, json = 0, rc;
	struct status_report r;

	while ((opt = getopt_long(argc, argv, "jp:", status_options, NULL)) != -1) {
		if (opt == 'j')
			json = 1;
		else if (opt == 'p')
			prom = optarg;
		else
			return usage_error("status: unknown option");
	}
	if (argc - optind > 1)
		return usage_error("status takes at most one JOB");
	if (optind < argc)
		only = argv[optind];
	if ((rc = load_config(c)))
		return rc;
	if (status_gather(&c->reg, c->cfg, only, &r)) {
		const struct cfg_job *j;
		return find_job(c, only, &j);
	}
	if (prom) {
		char *text = metrics_text(&r), *err = NULL;
		if (metrics_write(prom, text, &err)) {
			log_error("%s", err);
			free(err);
			rc = CAIRN_EXIT_FAILED;
		}
		free(text);
	}
	if (json) {
		json_t *doc = status_json(&r);
		char *s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		puts(s);
		free(s);
		json_decref(doc);
	} else if (!prom) {
		print_table(&r, isatty(STDOUT_FILENO));
		print_logs(&r);
	}
	status_free(&r);
	return rc;
}
