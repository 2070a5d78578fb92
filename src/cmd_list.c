/* cmd_list.c - the complete backup sets of the jobs, and the span, size
 * and breaks of their change logs, as a table or JSON. */
#include "autoconf.h"

#include "cmd.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "logstats.h"
#include "logstatus.h"

/* The change logs of one job in one sink, listed after the sets. */
struct log_rows {
	struct row {
		const char *job, *sink;
		struct log_summary *v;
		size_t n;
		struct log_catalog cat; /* with -v: the manifests, for each segment */
		int have_cat;
	} * v;
	size_t n;
};

/* Gather the job's logs in sink into rows: 0, or CAIRN_EXIT_FAILED (said). */
static int
gather_log_rows(struct cli *c, const struct cfg_job *job, struct instance *sink,
                struct log_rows *rows)
{
	struct strvec follows = {0};
	struct row r = {job->name, sink->name, NULL, 0, {0}, 0};
	char *err = NULL;
	logstatus_load_sources(&c->reg, c->cfg, job);
	logstatus_follows(&c->reg, c->cfg, job, &follows);
	int rc = logstatus_gather(sink, job->name, &follows, c->verbose > 0, &r.v, &r.n,
	                          c->verbose > 0 ? &r.cat : NULL, &err);
	strvec_free(&follows);
	if (rc) {
		log_error("%s", err);
		free(err);
		return CAIRN_EXIT_FAILED;
	}
	r.have_cat = c->verbose > 0;
	if (!r.n) {
		logstatus_free(r.v, r.n);
		if (r.have_cat)
			logcat_free(&r.cat);
		return 0;
	}
	rows->v = xrealloc(rows->v, (rows->n + 1) * sizeof(*rows->v));
	rows->v[rows->n++] = r;
	return 0;
}

static void
log_rows_free(struct log_rows *rows)
{
	for (size_t i = 0; i < rows->n; i++) {
		logstatus_free(rows->v[i].v, rows->v[i].n);
		if (rows->v[i].have_cat)
			logcat_free(&rows->v[i].cat);
	}
	free(rows->v);
	memset(rows, 0, sizeof(*rows));
}

/* -v: each segment of the log as its manifest says */
static void
print_segments(const struct log_source *ls)
{
	for (size_t i = 0; ls && i < ls->nsegs; i++) {
		const struct log_segment *sg = &ls->segs[i];
		char iv[96], size[32], *st = logstats_text(sg->stats);
		logstatus_interval(&sg->from, &sg->to, iv, sizeof(iv));
		format_bytes(sg->stored_bytes, size, sizeof(size));
		print_line("    segment %s: %s, %llu record%s, %s stored, base %s%s%s", sg->name,
		           iv, (unsigned long long)sg->records, sg->records == 1 ? "" : "s", size,
		           sg->base[0] ? sg->base : "?", st ? "; " : "", st ? st : "");
		free(st);
	}
}

static void
print_log_rows(const struct log_rows *rows, int verbose, int after_sets)
{
	if (!rows->n)
		return;
	if (after_sets)
		print_line("%s", "");
	print_line("%-12s %-10s %-10s %-24s %-24s %8s %10s %5s", "LOG OF JOB", "SOURCE", "SINK",
	           "FROM", "TO", "SEGMENTS", "SIZE", "GAPS");
	for (size_t i = 0; i < rows->n; i++)
		for (size_t k = 0; k < rows->v[i].n; k++) {
			const struct log_summary *s = &rows->v[i].v[k];
			const char *job = rows->v[i].job, *sink = rows->v[i].sink;
			char from[40] = "-", to[40] = "-", size[32], iv[96];
			if (s->segments) {
				log_time_format(s->from_ms, from, sizeof(from));
				log_time_format(s->to_ms, to, sizeof(to));
			}
			format_bytes(s->bytes, size, sizeof(size));
			print_line("%-12s %-10s %-10s %-24s %-24s %8zu %10s %5zu", job, s->source,
			           sink, from, to, s->segments, size, s->ngaps + s->nholes);
			for (size_t b = 0; b < s->nbreaks; b++) {
				const struct log_break *br = &s->breaks[b];
				logstatus_interval(&br->from, &br->to, iv, sizeof(iv));
				print_line("  %s %s in %s: %s %s: %s%s%s%s", job, s->source, sink,
				           br->kind == LOG_BREAK_GAP ? "gap" : "hole", iv,
				           br->reason, br->base[0] ? " (new base " : "", br->base,
				           br->base[0] ? ")" : "");
			}
			for (size_t d = 0; d < s->damage.n; d++)
				print_line("  %s %s in %s: damaged: %s", job, s->source, sink,
				           s->damage.v[d]);
			if (verbose && s->orphans)
				print_line(
				        "  %s %s in %s: %zu segment object%s without a manifest (being written, or left over)",
				        job, s->source, sink, s->orphans,
				        s->orphans == 1 ? "" : "s");
			if (verbose && rows->v[i].have_cat)
				print_segments(logcat_source(&rows->v[i].cat, s->source));
		}
}

/* The logs as JSON: the fields of logstatus_json, with job and sink, and
 * with -v "segmentList" from the manifests. */
static json_t *
log_rows_json(const struct log_rows *rows, time_t now)
{
	json_t *a = json_array();
	for (size_t i = 0; i < rows->n; i++)
		for (size_t k = 0; k < rows->v[i].n; k++) {
			json_t *o = logstatus_json(&rows->v[i].v[k], now);
			json_object_set_new(o, "job", json_string(rows->v[i].job));
			json_object_set_new(o, "sink", json_string(rows->v[i].sink));
			const struct log_source *ls =
			        rows->v[i].have_cat
			                ? logcat_source(&rows->v[i].cat, rows->v[i].v[k].source)
			                : NULL;
			if (ls) {
				json_t *segs = json_array();
				for (size_t g = 0; g < ls->nsegs; g++) {
					const struct log_segment *sg = &ls->segs[g];
					json_array_append_new(
					        segs,
					        json_pack("{s:s, s:o, s:o, s:I, s:I, s:s}", "name",
					                  sg->name, "from",
					                  log_pos_to_json(&sg->from), "to",
					                  log_pos_to_json(&sg->to), "records",
					                  (json_int_t)sg->records, "storedBytes",
					                  (json_int_t)sg->stored_bytes, "base",
					                  sg->base));
					if (sg->stats) /* as its manifest has them */
						json_object_set(json_array_get(segs, g), "stats",
						                sg->stats);
				}
				json_object_set_new(o, "segmentList", segs);
			}
			json_array_append_new(a, o);
		}
	return a;
}

static void
print_set_row(const char *job, const struct set_info *s, const char *sink, const struct manifest *m,
              int future)
{
	char when[32], size[32], *names;
	struct strvec sources = {0};
	format_local(s->time, when, sizeof(when));
	format_bytes(s->bytes, size, sizeof(size));
	for (size_t i = 0; m && i < m->nsources; i++)
		strvec_push(&sources, m->sources[i].name);
	names = strvec_join(&sources, " ");
	strvec_free(&sources);
	if (m && m->partial) {
		/* which sources the set lacks, and that it lacks them */
		struct strvec missing = {0};
		for (size_t i = 0; i < m->nfailed; i++)
			strvec_push_own(&missing,
			                xasprintf("%s %s", m->failed[i].name,
			                          m->failed[i].skipped ? "left out" : "failed"));
		for (size_t i = 0; i < m->nsources; i++) {
			if (!m->sources[i].overrides.n)
				continue; /* a one-off backup --set run's object */
			char *ov = strvec_join(&m->sources[i].overrides, " --set ");
			strvec_push_own(&missing, xasprintf("%s backed up with --set %s",
			                                    m->sources[i].name, ov));
			free(ov);
		}
		char *miss = strvec_join(&missing, ", ");
		char *both = xasprintf("%s (partial: %s)", names, miss);
		strvec_free(&missing);
		free(miss);
		free(names);
		names = both;
	}
	if (m && m->run_sinks.n) {
		char *to = strvec_join(&m->run_sinks, ", ");
		char *both = xasprintf("%s (backup --sink: only to %s)", names, to);
		free(to);
		free(names);
		names = both;
	}
	/* a pinned set is marked: prune keeps it (cairn unpin to let it go);
	 * so is one whose id lies in the future (a wrong clock, or planted):
	 * no rule counts it and no new id or default choice follows it */
	print_line("%-12s %-17s %-19s %-10s %10s  %s%s%s", job, s->id, when, sink, size,
	           m ? names : "(manifest unreadable)", s->pinned ? " [pinned]" : "",
	           future ? " [id in the future]" : "");
	free(names);
}

/* -v: whom an encrypted set was written to (public keys, or "scrypt" for
 * a passphrase): the identity that reads it must match one of them. */
static void
print_recipients(const struct manifest *m)
{
	if (!m->recipients.n)
		return;
	char *who = strvec_join(&m->recipients, " ");
	print_line("  encrypted to %s", who);
	free(who);
}

/* One line when there is nothing to list: which job and sinks were
 * looked at, or that no job has a set. */
static void
say_none(struct cli *c, const char *job_name, const char *only_sink)
{
	const struct cfg_job *job = job_name ? config_job(c->cfg, job_name) : NULL;
	if (!job) {
		print_line(only_sink ? "no jobs have backup sets in sink %s"
		                     : "no jobs have backup sets%s",
		           only_sink ? only_sink : "");
		return;
	}
	if (only_sink) {
		print_line("no backup sets of job %s in sink %s", job->name, only_sink);
		return;
	}
	char *names = strvec_join(&job->sinks, ", ");
	print_line("no backup sets of job %s in sink%s %s", job->name, job->sinks.n == 1 ? "" : "s",
	           names);
	free(names);
}

/* The options of list: its row in cli.c gives them to the scan for global
 * options after the command and to completion. */
const struct option list_options[] = {{"json", no_argument, NULL, 'j'},
                                      {"sink", required_argument, NULL, 's'},
                                      {NULL, 0, NULL, 0}};

int
cmd_list(struct cli *c, int argc, char **argv)
{
	int opt, json = 0, rc = 0, header = 0;
	time_t now = time(NULL);
	const char *only_sink = NULL;
	json_t *jsets = json_array();
	struct log_rows rows = {0};

	while ((opt = getopt_long(argc, argv, "js:", list_options, NULL)) != -1) {
		if (opt == 'j')
			json = 1;
		else if (opt == 's')
			only_sink = optarg;
		else
			return usage_error("list: unknown option");
	}
	if (argc - optind > 1) {
		json_decref(jsets);
		return usage_error("list takes at most one JOB");
	}
	if ((rc = load_config(c)))
		goto out;
	for (size_t j = 0; j < c->cfg->njobs && !rc; j++) {
		const struct cfg_job *job = &c->cfg->jobs[j];
		struct instance **sinks = NULL;
		size_t nsinks = 0;
		if (optind < argc && strcmp(argv[optind], job->name) != 0)
			continue;
		if (only_sink && !strvec_contains(&job->sinks, only_sink))
			continue;
		rc = make_sinks(c, job, only_sink, &sinks, &nsinks);
		for (size_t k = 0; k < nsinks && !rc; k++) {
			struct set_list l;
			char *err = NULL;
			if (sets_list(sinks[k], job->name, &l, &err)) {
				log_error("%s", err);
				free(err);
				rc = CAIRN_EXIT_FAILED;
				break;
			}
			for (size_t s = 0; s < l.n && !cancel_signal; s++) {
				struct manifest *m = NULL;
				int future = set_in_future(&l.v[s], now);
				if (!l.v[s].complete)
					continue;
				if (set_read_manifest(sinks[k], job->name, l.v[s].id, &m, &err)) {
					log_warn("%s", err);
					free(err);
					err = NULL;
				} else if (set_check_bound(&l.v[s], m, &err)) {
					log_warn(
					        "%s%s: %s; the set is damaged, or mixed with another run's objects under the same id",
					        l.where, l.v[s].id, err);
					free(err);
					err = NULL;
					manifest_free(m);
					m = NULL;
				}
				if (json) {
					char when[32];
					iso8601_format_utc(l.v[s].time, when, sizeof(when));
					json_array_append_new(
					        jsets,
					        json_pack("{s:s, s:s, s:s, s:s, s:I, s:b, s:b, "
					                  "s:b, s:o}",
					                  "job", job->name, "id", l.v[s].id, "sink",
					                  sinks[k]->name, "time", when, "bytes",
					                  (json_int_t)l.v[s].bytes, "partial",
					                  m && m->partial, "pinned", l.v[s].pinned,
					                  "future", future, "manifest",
					                  m ? manifest_to_jansson(m)
					                    : json_null()));
				} else {
					if (!header++)
						print_line("%-12s %-17s %-19s %-10s %10s  %s",
						           "JOB", "ID", "TAKEN", "SINK", "SIZE",
						           "SOURCES");
					print_set_row(job->name, &l.v[s], sinks[k]->name, m,
					              future);
					if (c->verbose && m)
						print_recipients(m);
				}
				manifest_free(m);
			}
			set_list_free(&l);
			if (!cancel_signal)
				rc = gather_log_rows(c, job, sinks[k], &rows);
		}
		free_instances(sinks, nsinks);
	}
	if (optind < argc && !config_job(c->cfg, argv[optind])) {
		const struct cfg_job *j;
		rc = find_job(c, argv[optind], &j);
	}
	if (!rc && json) {
		json_t *root =
		        json_pack("{s:o, s:o}", "sets", jsets, "logs", log_rows_json(&rows, now));
		jsets = NULL;
		char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		puts(s);
		free(s);
		json_decref(root);
	} else if (!rc) {
		if (!header)
			say_none(c, optind < argc ? argv[optind] : NULL, only_sink);
		print_log_rows(&rows, c->verbose, 1);
	}
out:
	log_rows_free(&rows);
	json_decref(jsets);
	return rc;
}
