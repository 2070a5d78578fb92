/* cmd_list.c - the complete backup sets of the jobs, as a table or JSON. */
#include "autoconf.h"

#include "cmd.h"

#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

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
				}
				manifest_free(m);
			}
			set_list_free(&l);
		}
		free_instances(sinks, nsinks);
	}
	if (optind < argc && !config_job(c->cfg, argv[optind])) {
		const struct cfg_job *j;
		rc = find_job(c, argv[optind], &j);
	}
	if (!rc && json) {
		json_t *root = json_pack("{s:o}", "sets", jsets);
		jsets = NULL;
		char *s = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		puts(s);
		free(s);
		json_decref(root);
	} else if (!rc && !header) {
		say_none(c, optind < argc ? argv[optind] : NULL, only_sink);
	}
out:
	json_decref(jsets);
	return rc;
}
