/* cli.c - sub-commands: backup, list, restore, verify, config check,
 * plugins.  Each one loads the configuration, makes the plugin instances it
 * needs and hands the work to pipeline.c; this file owns the exit codes and
 * what the user reads. */
#include "autoconf.h"

#include "cli.h"

#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cairn.h"
#include "config.h"
#include "lock.h"
#include "log.h"
#include "manifest.h"
#include "pipeline.h"
#include "plugin.h"
#include "progress.h"
#include "sets.h"
#include "timeutil.h"
#include "util.h"

static const char usage_text[] =
	"Usage: cairn [-c FILE] [-v|-q] COMMAND ...\n"
	"\n"
	"Commands:\n"
	"  backup JOB [--source NAME]...        back up a job's sources into its sinks\n"
	"  list [JOB] [--sink NAME] [--json]    list complete backup sets\n"
	"  restore JOB [--id ID | --at TIME] [--sink NAME] [--source NAME]...\n"
	"          [--set [SOURCE.]KEY=VALUE]... [--force]\n"
	"                                       restore a set (default: the newest)\n"
	"  verify JOB [--id ID | --all] [--sink NAME] [--deep]\n"
	"                                       check stored sets against their manifests\n"
	"  config check                         check the INI file and every plugin key\n"
	"  plugins [-v]                         list the plugins found\n"
	"\n"
	"Options:\n"
	"  -c, --config FILE   the INI file (default: $CAIRN_CONFIG, else " CAIRN_SYSCONFDIR
	"/cairn/cairn.ini)\n"
	"  -v, --verbose       say more (twice: debug)\n"
	"  -q, --quiet         only errors; no progress line\n"
	"  -h, --help          this help;  -V, --version  the version\n"
	"\n"
	"Exit codes: 0 ok, 1 failed, 2 usage, 3 config, 4 plugin, 5 locked, 6 damaged,\n"
	"7 no such backup, 8 restore target not empty, 130 interrupted.  See cairn(1).\n";

struct cli {
	const char *config_path;
	struct cairn_cfg *cfg;
	struct plugin_registry reg;
	int reg_ready;
	int verbose, quiet;
};

static int
usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
usage_error(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *msg = xvasprintf(fmt, ap); /* it may quote the command line */
	va_end(ap);
	char *safe = str_escape(msg);
	fprintf(stderr, "cairn: %s; see cairn --help\n", safe);
	free(safe);
	free(msg);
	return CAIRN_EXIT_USAGE;
}

/* One line of standard output, with control characters escaped: names in
 * it come from manifests, sinks and plugins, none of which may move a
 * terminal's cursor or retitle its window.  fmt ends without a newline. */
static void
print_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void
print_line(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	char *line = xvasprintf(fmt, ap);
	va_end(ap);
	char *safe = str_escape(line);
	puts(safe);
	free(safe);
	free(line);
}

static void
on_signal(int sig)
{
	cairn_cancel_signal = sig;
}

static void
install_signals(void)
{
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN); /* a dead peer is an error return, not a death */
}

static int
interrupted_code(void)
{
	return cairn_cancel_signal == SIGINT ? CAIRN_EXIT_INTERRUPTED : 128 + cairn_cancel_signal;
}

/* The one map from an operation's CAIRN_E_* outcome to the exit code
 * (cairn(1), EXIT STATUS).  "No set matches" (7) and usage errors are the
 * core's own findings and never a plugin's code: a plugin's NOTFOUND (a
 * missing bucket, a missing restore parent) is a failure like any other,
 * and an object the manifest names but the sink lacks is damage, which
 * the pipeline reports as CAIRN_E_CORRUPT. */
static int
exit_for(int rc)
{
	switch (rc) {
	case CAIRN_OK: return CAIRN_EXIT_OK;
	case CAIRN_E_CONFIG: return CAIRN_EXIT_CONFIG;
	case CAIRN_E_CORRUPT: return CAIRN_EXIT_CORRUPT;
	case CAIRN_E_EXISTS: return CAIRN_EXIT_EXISTS;
	case CAIRN_E_LOCKED: return CAIRN_EXIT_LOCKED;
	case CAIRN_E_CANCELLED: return interrupted_code();
	default: return CAIRN_EXIT_FAILED;
	}
}

static int
load_config(struct cli *c)
{
	char *err = NULL;
	if (c->cfg)
		return 0;
	c->cfg = config_load(c->config_path, &err);
	if (!c->cfg) {
		if (cairn_cancel_signal) {
			free(err);
			return interrupted_code();
		}
		log_error("%s", err);
		free(err);
		return CAIRN_EXIT_CONFIG;
	}
	registry_init(&c->reg, c->cfg->plugin_dir);
	c->reg_ready = 1;
	return 0;
}

static int
find_job(struct cli *c, const char *name, const struct cfg_job **job)
{
	*job = config_job(c->cfg, name);
	if (*job)
		return 0;
	char *names = xstrdup("");
	for (size_t i = 0; i < c->cfg->njobs; i++) {
		char *n = xasprintf("%s%s%s", names, i ? ", " : "", c->cfg->jobs[i].name);
		free(names);
		names = n;
	}
	log_error("%s: no job named \"%s\"; %s%s", c->cfg->path, name,
	          *names ? "jobs: " : "the file defines no [job NAME] section", names);
	free(names);
	return CAIRN_EXIT_USAGE;
}

/* Exit code for a failure to make an instance. */
static int
instance_exit(int rc)
{
	return rc == CAIRN_E_CONFIG ? CAIRN_EXIT_CONFIG
	       : rc == CAIRN_E_NOTFOUND ? CAIRN_EXIT_PLUGIN
	                                : CAIRN_EXIT_FAILED;
}

static int
make_instance(struct cli *c, enum section_kind kind, const char *name,
              const struct strvec *overrides, struct instance **out)
{
	char *err = NULL;
	const struct cfg_section *sec = config_section(c->cfg, kind, name);
	int rc;
	if (!sec) {
		log_error("%s: no [%s %s] section", c->cfg->path, section_kind_name(kind), name);
		return CAIRN_EXIT_CONFIG;
	}
	rc = instance_create(&c->reg, c->cfg, sec, overrides, out, &err);
	if (rc) {
		log_error("%s", err);
		free(err);
		return instance_exit(rc);
	}
	return 0;
}

static void
free_instances(struct instance **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		instance_destroy(v[i]);
	free(v);
}

static int
make_sinks(struct cli *c, const struct cfg_job *job, const char *only, struct instance ***out,
           size_t *n)
{
	int rc = 0;
	*out = xcalloc(job->sinks.n, sizeof(**out));
	*n = 0;
	if (only && !strvec_contains(&job->sinks, only)) {
		log_error("job %s has no sink named \"%s\"", job->name, only);
		return CAIRN_EXIT_USAGE;
	}
	for (size_t i = 0; i < job->sinks.n && !rc; i++) {
		if (only && strcmp(only, job->sinks.v[i]) != 0)
			continue;
		rc = make_instance(c, SECTION_SINK, job->sinks.v[i], NULL, &(*out)[*n]);
		if (!rc)
			(*n)++;
	}
	return rc;
}

/* ------------------------------------------------------------- backup */

/* Incomplete sets in a sink without a lock of its own may belong to a run
 * of the job from another host or state_dir that is still writing: only
 * sets untouched this long are taken for leftovers. */
#define LEFTOVER_GRACE_SECS (24 * 60 * 60)

/* Remove the sets of job that runs which died left in the sink: all of
 * them when the sink's own lock is held (nobody else can be writing),
 * else only those older than the grace period. */
static void
remove_leftovers(const struct cfg_job *job, struct instance *sink, int locked,
                 const struct set_list *l)
{
	time_t now = time(NULL);
	for (size_t s = 0; s < l->n; s++) {
		const struct set_info *si = &l->v[s];
		char *err = NULL;
		if (si->complete)
			continue;
		if (!locked && si->newest_mtime > now - LEFTOVER_GRACE_SECS) {
			log_info("%s: leaving incomplete set %s/%s alone: it changed within the last "
			         "day and this sink has no lock, so another run may still be writing it",
			         sink->ctx.label, job->name, si->id);
			continue;
		}
		log_info("%s: removing incomplete set %s/%s left by an interrupted run",
		         sink->ctx.label, job->name, si->id);
		if (set_remove(sink, job->name, si, &err)) {
			log_warn("%s", err);
			free(err);
		}
	}
}

/* A new id: the start time, or one second past the newest set any sink
 * holds, so ids stay unique and sorted even for runs within a second. */
static int
choose_id(const struct cfg_job *job, struct instance **sinks, cairn_sink_lock **locks, size_t n,
          char id[BACKUP_ID_LEN + 1])
{
	time_t t = time(NULL);
	for (size_t i = 0; i < n; i++) {
		struct set_list l;
		char *err = NULL;
		if (sets_list(sinks[i], job->name, &l, &err)) {
			log_error("%s", err);
			free(err);
			return -1;
		}
		if (l.n && l.v[l.n - 1].time >= t)
			t = l.v[l.n - 1].time + 1;
		remove_leftovers(job, sinks[i], locks[i] != NULL, &l);
		set_list_free(&l);
	}
	backup_id_format(t, id);
	return 0;
}

/* Take every sink's own lock of the job.  A sink held by another run stops
 * the whole run before anything is touched (exit 5); a sink whose lock
 * fails otherwise is left out of this run, which then fails (exit 1) while
 * the other sinks still get their set. */
static int
lock_sinks(const struct cfg_job *job, struct instance **sinks, size_t *nsinks,
           cairn_sink_lock **locks, int *dropped)
{
	size_t kept = 0;
	*dropped = 0;
	for (size_t i = 0; i < *nsinks; i++) {
		char *err = NULL;
		int rc = sink_lock(sinks[i], job->name, &locks[kept], &err);
		if (rc == CAIRN_E_LOCKED) {
			log_error("%s", err);
			free(err);
			for (size_t k = 0; k < kept; k++)
				sink_unlock(sinks[k], locks[k]);
			memset(locks, 0, *nsinks * sizeof(*locks));
			for (size_t k = i; k < *nsinks; k++) /* keep them for freeing */
				sinks[kept++] = sinks[k];
			*nsinks = kept;
			return CAIRN_EXIT_LOCKED;
		}
		if (rc) {
			log_error("%s; this sink gets no backup set from this run", err);
			free(err);
			instance_destroy(sinks[i]);
			(*dropped)++;
			continue;
		}
		sinks[kept++] = sinks[i];
	}
	*nsinks = kept;
	return kept ? 0 : CAIRN_EXIT_FAILED;
}

static int
cmd_backup(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {{"source", required_argument, NULL, 's'},
	                                     {NULL, 0, NULL, 0}};
	struct strvec only = {0};
	const struct cfg_job *job;
	struct instance **sinks = NULL, **sources = NULL;
	size_t nsinks = 0, nsources = 0;
	int opt, rc, lockfd = -1, busy, dropped = 0;
	char id[BACKUP_ID_LEN + 1], host[256] = "", *err = NULL;
	cairn_sink_lock **locks = NULL;

	while ((opt = getopt_long(argc, argv, "s:", opts, NULL)) != -1) {
		if (opt != 's')
			return usage_error("backup: unknown option");
		strvec_push(&only, optarg);
	}
	if (optind + 1 != argc) {
		strvec_free(&only);
		return usage_error("backup takes one JOB");
	}
	if ((rc = load_config(c)) || (rc = find_job(c, argv[optind], &job)))
		goto out;
	for (size_t i = 0; i < only.n; i++)
		if (!strvec_contains(&job->sources, only.v[i])) {
			log_error("job %s has no source named \"%s\"", job->name, only.v[i]);
			rc = CAIRN_EXIT_USAGE;
			goto out;
		}
	if ((rc = make_sinks(c, job, NULL, &sinks, &nsinks)))
		goto out;
	sources = xcalloc(job->sources.n, sizeof(*sources));
	for (size_t i = 0; i < job->sources.n && !rc; i++) {
		if (only.n && !strvec_contains(&only, job->sources.v[i]))
			continue;
		rc = make_instance(c, SECTION_SOURCE, job->sources.v[i], NULL, &sources[nsources]);
		if (!rc)
			nsources++;
	}
	if (rc)
		goto out;
	lockfd = lock_job(c->cfg->state_dir, job->name, &busy, &err);
	if (lockfd < 0) {
		log_error("%s", err);
		rc = busy ? CAIRN_EXIT_LOCKED : CAIRN_EXIT_FAILED;
		goto out;
	}
	locks = xcalloc(nsinks ? nsinks : 1, sizeof(*locks));
	if ((rc = lock_sinks(job, sinks, &nsinks, locks, &dropped)))
		goto out;
	if (choose_id(job, sinks, locks, nsinks, id)) {
		rc = CAIRN_EXIT_FAILED;
		goto out;
	}
	gethostname(host, sizeof(host) - 1);
	struct backup_request rq = {.job = job, .id = id, .sources = sources,
	                            .nsources = nsources, .sinks = sinks, .nsinks = nsinks,
	                            .host = host};
	struct backup_outcome res;
	int prc = pipeline_backup(&rq, &res);
	if (prc == 0) {
		char raw[32], stored[32];
		log_info("backup %s/%s complete in %zu sink%s: %s read, %s stored", job->name, id,
		         nsinks, nsinks == 1 ? "" : "s", format_bytes(res.raw_bytes, raw, sizeof(raw)),
		         format_bytes(res.stored_bytes, stored, sizeof(stored)));
		rc = CAIRN_EXIT_OK;
	} else if (res.cancelled) {
		log_error("backup %s interrupted; nothing of it was kept", job->name);
		rc = interrupted_code();
	} else {
		size_t ok = 0;
		for (size_t i = 0; i < nsinks; i++)
			ok += res.sinks[i].ok;
		if (ok) {
			char *failed = xstrdup("");
			for (size_t i = 0; i < nsinks; i++)
				if (!res.sinks[i].ok) {
					char *f = xasprintf("%s%s%s", failed, *failed ? ", " : "", sinks[i]->name);
					free(failed);
					failed = f;
				}
			log_error("backup %s/%s is complete in %zu of %zu sinks; failed: %s", job->name,
			          id, ok, nsinks, failed);
			free(failed);
		} else if (!res.source_error) {
			log_error("backup %s failed: no sink could store it", job->name);
		}
		rc = CAIRN_EXIT_FAILED;
	}
	backup_outcome_free(&res, nsinks);
	if (rc == CAIRN_EXIT_OK && dropped)
		rc = CAIRN_EXIT_FAILED; /* each said why above */
out:
	for (size_t i = 0; locks && i < nsinks; i++)
		sink_unlock(sinks[i], locks[i]);
	free(locks);
	unlock_job(lockfd);
	free(err);
	free_instances(sources, nsources);
	free_instances(sinks, nsinks);
	strvec_free(&only);
	return rc;
}

/* --------------------------------------------------------------- list */

static void
print_set_row(const char *job, const struct set_info *s, const char *sink,
              const struct manifest *m)
{
	char when[32], size[32], *names = xstrdup("");
	format_local(s->time, when, sizeof(when));
	format_bytes(s->bytes, size, sizeof(size));
	for (size_t i = 0; m && i < m->nsources; i++) {
		char *n = xasprintf("%s%s%s", names, i ? " " : "", m->sources[i].name);
		free(names);
		names = n;
	}
	print_line("%-12s %-17s %-19s %-10s %10s  %s", job, s->id, when, sink, size,
	           m ? names : "(manifest unreadable)");
	free(names);
}

static int
cmd_list(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {{"json", no_argument, NULL, 'j'},
	                                     {"sink", required_argument, NULL, 's'},
	                                     {NULL, 0, NULL, 0}};
	int opt, json = 0, rc = 0, header = 0;
	const char *only_sink = NULL;
	json_t *jsets = json_array();

	while ((opt = getopt_long(argc, argv, "js:", opts, NULL)) != -1) {
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
			for (size_t s = 0; s < l.n; s++) {
				struct manifest *m = NULL;
				if (!l.v[s].complete)
					continue;
				if (set_read_manifest(sinks[k], job->name, l.v[s].id, &m, &err)) {
					log_warn("%s", err);
					free(err);
					err = NULL;
				}
				if (json) {
					char when[32];
					iso8601_format_utc(l.v[s].time, when, sizeof(when));
					json_array_append_new(
						jsets, json_pack("{s:s, s:s, s:s, s:s, s:I, s:o}", "job", job->name,
					                         "id", l.v[s].id, "sink", sinks[k]->name, "time",
					                         when, "bytes", (json_int_t)l.v[s].bytes,
					                         "manifest",
					                         m ? manifest_to_jansson(m) : json_null()));
				} else {
					if (!header++)
						print_line("%-12s %-17s %-19s %-10s %10s  %s", "JOB", "ID",
						       "TAKEN", "SINK", "SIZE", "SOURCES");
					print_set_row(job->name, &l.v[s], sinks[k]->name, m);
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
		log_info("no backup sets yet");
	}
out:
	json_decref(jsets);
	return rc;
}

/* ---------------------------------------------------- restore, verify */

/* The sink to read a set from: --sink, else the first sink of the job
 * holding a matching complete set. */
static int
locate_set(struct cli *c, const struct cfg_job *job, const char *only_sink, const char *id,
           const time_t *at, struct instance **sink_out, struct manifest **m_out,
           char found[BACKUP_ID_LEN + 1])
{
	struct instance **sinks = NULL;
	size_t nsinks = 0;
	int rc = make_sinks(c, job, only_sink, &sinks, &nsinks);
	*sink_out = NULL;
	for (size_t k = 0; k < nsinks && !rc && !*sink_out; k++) {
		struct set_list l;
		char *err = NULL;
		if (sets_list(sinks[k], job->name, &l, &err)) {
			log_warn("%s", err);
			free(err);
			continue;
		}
		const struct set_info *s = sets_select(&l, id, at);
		if (s && !m_out) { /* the caller reads (and judges) the manifest */
			memcpy(found, s->id, BACKUP_ID_LEN + 1);
			*sink_out = sinks[k];
			sinks[k] = NULL;
		} else if (s) {
			int mrc = set_read_manifest(sinks[k], job->name, s->id, m_out, &err);
			if (mrc) {
				log_error("%s", err);
				free(err);
				rc = exit_for(mrc);
			} else {
				*sink_out = sinks[k];
				sinks[k] = NULL;
			}
		}
		set_list_free(&l);
	}
	free_instances(sinks, nsinks);
	if (!rc && !*sink_out) {
		char what[64] = "";
		if (id)
			snprintf(what, sizeof(what), " with id %s", id);
		else if (at) {
			char buf[32];
			format_local(*at, buf, sizeof(buf));
			snprintf(what, sizeof(what), " taken at or before %s", buf);
		}
		log_error("no complete backup set of job %s%s%s%s; see cairn list %s", job->name,
		          what, only_sink ? " in sink " : "", only_sink ? only_sink : "", job->name);
		rc = CAIRN_EXIT_NOTFOUND;
	}
	return rc;
}


/* Does the plugin take KEY (the first len bytes of key), or KEY_file /
 * KEY_env for one of its secrets? */
static int
plugin_takes(const struct loaded_plugin *lp, const char *key, size_t len)
{
	for (const struct cairn_key *k = lp->desc.keys; k && k->name; k++) {
		size_t nl = strlen(k->name);
		if (nl == len && strncmp(k->name, key, len) == 0)
			return 1;
		if ((k->flags & CAIRN_KEY_SECRET) && len > nl && strncmp(k->name, key, nl) == 0 &&
		    ((len - nl == 5 && strncmp(key + nl, "_file", 5) == 0) ||
		     (len - nl == 4 && strncmp(key + nl, "_env", 4) == 0)))
			return 1;
	}
	return 0;
}

/* Split "[SOURCE.]KEY=VALUE": *source (may be NULL) and the KEY=VALUE part.
 * Plugin keys never contain dots, so the last dot before '=' ends the
 * source name, which may itself contain dots. */
static const char *
split_set(const char *s, char **source)
{
	const char *eq = strchr(s, '='), *dot = NULL;
	for (const char *p = s; p < eq; p++)
		if (*p == '.')
			dot = p;
	*source = dot ? xstrndup(s, (size_t)(dot - s)) : NULL;
	return dot ? dot + 1 : s;
}

/* The --set values for one source: SOURCE.KEY=VALUE for this source, and
 * plain KEY=VALUE where its plugin has that key. */
static void
overrides_for(const struct strvec *sets, const char *source, const struct loaded_plugin *lp,
              struct strvec *out)
{
	for (size_t i = 0; i < sets->n; i++) {
		char *scope;
		const char *kv = split_set(sets->v[i], &scope);
		if (scope ? strcmp(scope, source) == 0
		          : plugin_takes(lp, kv, (size_t)(strchr(kv, '=') - kv)))
			strvec_push(out, kv);
		free(scope);
	}
}

/* Every --set must reach a source being restored: a scoped one names one
 * of them, a plain one is a key of at least one of their plugins. */
static int
check_sets(struct cli *c, const struct strvec *sets, const struct manifest *m,
           const struct strvec *only)
{
	for (size_t i = 0; i < sets->n; i++) {
		char *scope;
		const char *kv = split_set(sets->v[i], &scope);
		size_t klen = (size_t)(strchr(kv, '=') - kv);
		int reached = 0;
		for (size_t s = 0; s < m->nsources && !reached; s++) {
			const struct manifest_source *ms = &m->sources[s];
			const struct cfg_section *sec = config_section(c->cfg, SECTION_SOURCE, ms->name);
			struct loaded_plugin *lp;
			char *err = NULL;
			if (only->n && !strvec_contains(only, ms->name))
				continue;
			if (scope) {
				reached = strcmp(scope, ms->name) == 0;
				continue;
			}
			if (!sec || !(lp = registry_load(&c->reg, sec->plugin, &err))) {
				free(err);
				continue; /* reported when that source is restored */
			}
			reached = plugin_takes(lp, kv, klen);
		}
		if (!reached) {
			if (scope)
				log_error("--set %s: set %s/%s restores no source named %s", sets->v[i],
				          m->job, m->id, scope);
			else
				log_error("--set %s: none of the sources being restored has a key "
				          "%.*s; see cairn plugins -v", sets->v[i], (int)klen, kv);
			free(scope);
			return CAIRN_EXIT_USAGE;
		}
		free(scope);
	}
	return 0;
}

static int
source_for_manifest(struct cli *c, const struct manifest_source *ms, const struct strvec *sets,
                    struct instance **out)
{
	const struct cfg_section *sec = config_section(c->cfg, SECTION_SOURCE, ms->name);
	struct strvec ov = {0};
	int rc;
	if (!sec) {
		log_error("the set holds source %s, which %s does not define; add [source %s] with "
		          "plugin = %s to restore or check it", ms->name, c->cfg->path, ms->name,
		          ms->plugin);
		return CAIRN_EXIT_CONFIG;
	}
	if (strcmp(sec->plugin, ms->plugin) != 0) {
		log_error("%s:%d: [source %s] uses plugin %s, but the set was made by plugin %s",
		          c->cfg->path, sec->line, ms->name, sec->plugin, ms->plugin);
		return CAIRN_EXIT_CONFIG;
	}
	struct loaded_plugin *lp;
	char *err = NULL;
	if (!(lp = registry_load(&c->reg, sec->plugin, &err))) {
		log_error("%s:%d: [source %s] plugin: %s", c->cfg->path, sec->plugin_line, ms->name,
		          err);
		free(err);
		return CAIRN_EXIT_PLUGIN;
	}
	overrides_for(sets, ms->name, lp, &ov);
	rc = make_instance(c, SECTION_SOURCE, ms->name, &ov, out);
	strvec_free(&ov);
	return rc;
}

static int
parse_when(const char *id, const char *at_text, time_t *at)
{
	time_t t;
	if (id && at_text)
		return usage_error("give --id or --at, not both");
	if (id && backup_id_parse(id, &t))
		return usage_error("--id %s: a backup id looks like 20261126T020000Z", id);
	if (at_text && iso8601_parse(at_text, at))
		return usage_error("--at %s: use ISO 8601, e.g. 2026-01-24, 2026-01-24T03:00 or "
		                   "2026-01-24T03:00:00Z", at_text);
	return 0;
}

static int
cmd_restore(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"id", required_argument, NULL, 'i'},    {"at", required_argument, NULL, 'a'},
		{"sink", required_argument, NULL, 'k'},  {"source", required_argument, NULL, 's'},
		{"set", required_argument, NULL, 'S'},   {"force", no_argument, NULL, 'f'},
		{NULL, 0, NULL, 0}};
	const char *id = NULL, *at_text = NULL, *only_sink = NULL;
	struct strvec only = {0}, sets = {0};
	unsigned flags = 0;
	int opt, rc;
	time_t at;
	const struct cfg_job *job;
	struct instance *sink = NULL;
	struct manifest *m = NULL;

	while ((opt = getopt_long(argc, argv, "i:a:k:s:S:f", opts, NULL)) != -1) {
		switch (opt) {
		case 'i': id = optarg; break;
		case 'a': at_text = optarg; break;
		case 'k': only_sink = optarg; break;
		case 's': strvec_push(&only, optarg); break;
		case 'S':
			if (!strchr(optarg, '=')) {
				rc = usage_error("--set %s: use --set KEY=VALUE", optarg);
				goto out;
			}
			strvec_push(&sets, optarg);
			break;
		case 'f': flags |= CAIRN_RESTORE_FORCE; break;
		default: rc = usage_error("restore: unknown option"); goto out;
		}
	}
	if (optind + 1 != argc) {
		rc = usage_error("restore takes one JOB");
		goto out;
	}
	if ((rc = parse_when(id, at_text, &at)) || (rc = load_config(c)) ||
	    (rc = find_job(c, argv[optind], &job)))
		goto out;
	if ((rc = locate_set(c, job, only_sink, id, at_text ? &at : NULL, &sink, &m, NULL)))
		goto out;
	for (size_t i = 0; i < only.n; i++) {
		int found = 0;
		for (size_t s = 0; s < m->nsources; s++)
			found |= strcmp(m->sources[s].name, only.v[i]) == 0;
		if (!found) {
			log_error("set %s/%s holds no source named %s", job->name, m->id, only.v[i]);
			rc = CAIRN_EXIT_NOTFOUND;
			goto out;
		}
	}
	if ((rc = check_sets(c, &sets, m, &only)))
		goto out;
	for (size_t s = 0; s < m->nsources && !rc; s++) {
		const struct manifest_source *ms = &m->sources[s];
		struct instance *src = NULL;
		char *err = NULL;
		if (only.n && !strvec_contains(&only, ms->name))
			continue;
		if ((rc = source_for_manifest(c, ms, &sets, &src)))
			break;
		log_info("restoring source %s from %s/%s in sink %s", ms->name, job->name, m->id,
		         sink->name);
		int prc = pipeline_restore(sink, ms, src, flags, &err);
		if (prc) {
			log_error("%s", err ? err : cairn_strerror(prc));
			rc = exit_for(prc);
		} else if (src->ctx.warnings) {
			/* a non-root restore skips device nodes and keeps files as
			 * the user's: say how many entries did not come back as
			 * stored, also under cron */
			log_warn("restored source %s from %s/%s with %d warning%s; see above",
			         ms->name, job->name, m->id, src->ctx.warnings,
			         src->ctx.warnings == 1 ? "" : "s");
		} else {
			log_info("restored source %s from %s/%s", ms->name, job->name, m->id);
		}
		free(err);
		instance_destroy(src);
	}
out:
	manifest_free(m);
	instance_destroy(sink);
	strvec_free(&only);
	strvec_free(&sets);
	return rc;
}

/* Verify every object of one set in one sink.  Returns an exit code. */
static int
verify_set(struct cli *c, const struct cfg_job *job, struct instance *sink, const char *id,
           int deep)
{
	struct manifest *m = NULL;
	char *err = NULL;
	int rc = 0;
	uint64_t bytes = 0;
	int mrc = set_read_manifest(sink, job->name, id, &m, &err);
	if (mrc) {
		print_line("%s/%s in %s: %s: %s", job->name, id, sink->name,
		       mrc == CAIRN_E_CORRUPT ? "DAMAGED" : "FAILED", err);
		free(err);
		return exit_for(mrc);
	}
	for (size_t s = 0; s < m->nsources; s++) {
		const struct manifest_source *ms = &m->sources[s];
		struct instance *src = NULL;
		if (deep) {
			int src_rc = source_for_manifest(c, ms, &(struct strvec){0}, &src);
			if (src_rc) {
				rc = rc ? rc : src_rc;
				continue;
			}
		}
		int vrc = pipeline_verify(sink, ms, src, &err);
		instance_destroy(src);
		if (vrc) {
			print_line("%s/%s in %s: %s: %s", job->name, id, sink->name,
			       vrc == CAIRN_E_CORRUPT ? "DAMAGED" : "FAILED", err);
			if (vrc == CAIRN_E_CANCELLED) {
				rc = exit_for(vrc);
				free(err);
				break;
			}
			/* damage outranks any other failure of the set */
			if (rc != CAIRN_EXIT_CORRUPT)
				rc = exit_for(vrc);
		}
		bytes += ms->stored_bytes;
		free(err);
		err = NULL;
	}
	if (!rc) {
		char size[32];
		print_line("%s/%s in %s: ok (%zu object%s, %s%s)", job->name, id, sink->name,
		       m->nsources, m->nsources == 1 ? "" : "s",
		       format_bytes(bytes, size, sizeof(size)), deep ? ", deep" : "");
	}
	manifest_free(m);
	return rc;
}

static int
cmd_verify(struct cli *c, int argc, char **argv)
{
	static const struct option opts[] = {
		{"id", required_argument, NULL, 'i'}, {"all", no_argument, NULL, 'A'},
		{"sink", required_argument, NULL, 'k'}, {"deep", no_argument, NULL, 'd'},
		{NULL, 0, NULL, 0}};
	const char *id = NULL, *only_sink = NULL;
	int opt, all = 0, deep = 0, rc;
	const struct cfg_job *job;

	while ((opt = getopt_long(argc, argv, "i:Ak:d", opts, NULL)) != -1) {
		switch (opt) {
		case 'i': id = optarg; break;
		case 'A': all = 1; break;
		case 'k': only_sink = optarg; break;
		case 'd': deep = 1; break;
		default: return usage_error("verify: unknown option");
		}
	}
	if (optind + 1 != argc)
		return usage_error("verify takes one JOB");
	if (id && all)
		return usage_error("give --id or --all, not both");
	if ((rc = parse_when(id, NULL, NULL)) || (rc = load_config(c)) ||
	    (rc = find_job(c, argv[optind], &job)))
		return rc;
	if (!all) {
		struct instance *sink = NULL;
		char found[BACKUP_ID_LEN + 1];
		if ((rc = locate_set(c, job, only_sink, id, NULL, &sink, NULL, found)))
			return rc;
		/* the id of the set's place, never the one its manifest claims */
		rc = verify_set(c, job, sink, found, deep);
		instance_destroy(sink);
		return rc;
	}
	/* --all: every complete set, each from the first sink holding it */
	struct instance **sinks = NULL;
	size_t nsinks = 0;
	struct strvec done = {0};
	int worst = 0, any = 0;
	if ((rc = make_sinks(c, job, only_sink, &sinks, &nsinks)))
		worst = rc;
	for (size_t k = 0; k < nsinks && !cairn_cancel_signal; k++) {
		struct set_list l;
		char *err = NULL;
		if (sets_list(sinks[k], job->name, &l, &err)) {
			log_error("%s", err);
			free(err);
			worst = worst ? worst : CAIRN_EXIT_FAILED;
			continue;
		}
		for (size_t s = 0; s < l.n && !cairn_cancel_signal; s++) {
			if (!l.v[s].complete || strvec_contains(&done, l.v[s].id))
				continue;
			strvec_push(&done, l.v[s].id);
			any = 1;
			rc = verify_set(c, job, sinks[k], l.v[s].id, deep);
			if (rc && (worst == 0 || rc == CAIRN_EXIT_CORRUPT))
				worst = rc;
		}
		set_list_free(&l);
	}
	if (!any && !worst) {
		log_error("job %s has no complete backup set to verify", job->name);
		worst = CAIRN_EXIT_NOTFOUND;
	}
	strvec_free(&done);
	free_instances(sinks, nsinks);
	return cairn_cancel_signal ? interrupted_code() : worst;
}

/* ---------------------------------------------- config check, plugins */

static int
cmd_config(struct cli *c, int argc, char **argv)
{
	int rc, worst = 0;
	size_t nsrc = 0, nsink = 0;
	if (argc != 2 || strcmp(argv[1], "check") != 0)
		return usage_error("use: cairn config check");
	if ((rc = load_config(c)))
		return rc;
	/* a run needs its state directory as much as its plugins */
	char *serr = NULL;
	if (state_dir_check(c->cfg->state_dir, &serr)) {
		log_error("%s", serr);
		free(serr);
		worst = CAIRN_EXIT_CONFIG;
	}
	/* every plugin section, each error on its own line */
	for (size_t i = 0; i < c->cfg->nsections; i++) {
		const struct cfg_section *sec = &c->cfg->sections[i];
		struct instance *in = NULL;
		if (sec->kind != SECTION_SOURCE && sec->kind != SECTION_SINK)
			continue;
		rc = make_instance(c, sec->kind, sec->name, NULL, &in);
		if (rc && (!worst || rc == CAIRN_EXIT_CONFIG))
			worst = rc;
		if (!rc)
			sec->kind == SECTION_SOURCE ? nsrc++ : nsink++;
		instance_destroy(in);
	}
	if (!worst && !c->quiet)
		print_line("%s: ok (%zu job%s, %zu source%s, %zu sink%s)", c->cfg->path, c->cfg->njobs,
		       c->cfg->njobs == 1 ? "" : "s", nsrc, nsrc == 1 ? "" : "s", nsink,
		       nsink == 1 ? "" : "s");
	return worst;
}

static const char *
type_name(enum cairn_key_type t)
{
	static const char *const names[] = {"?", "string", "int", "bool", "size", "duration",
	                                    "list", "path"};
	return t >= 1 && t <= 7 ? names[t] : "?";
}

static int
cmd_plugins(struct cli *c, int argc, char **argv)
{
	struct strvec names = {0};
	int verbose = c->verbose, rc = 0;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-v") == 0 || strcmp(argv[i], "--verbose") == 0)
			verbose = 1;
		else
			return usage_error("plugins: unknown argument %s", argv[i]);
	}
	/* The config only adds plugin_dir; without a readable one, list what
	 * the environment and the install provide. */
	if (access(c->config_path, R_OK) == 0) {
		if ((rc = load_config(c)))
			return rc;
	} else {
		registry_init(&c->reg, NULL);
		c->reg_ready = 1;
	}
	registry_scan(&c->reg, &names);
	if (!names.n)
		log_warn("no plugins found in the plugin path; set $CAIRN_PLUGIN_PATH or plugin_dir");
	for (size_t i = 0; i < names.n; i++) {
		char *err = NULL;
		struct loaded_plugin *lp = registry_load(&c->reg, names.v[i], &err);
		if (!lp) {
			print_line("%-10s BROKEN  %s", names.v[i], err);
			free(err);
			rc = CAIRN_EXIT_PLUGIN;
			continue;
		}
		print_line("%-10s %-6s  %-8s ABI %u.%u  %s", lp->name,
		       lp->desc.kind == CAIRN_KIND_SOURCE ? "source" : "sink", lp->desc.version,
		       lp->desc.abi_major, lp->desc.abi_minor, lp->path);
		if (verbose) {
			if (lp->desc.description)
				print_line("    %s", lp->desc.description);
			for (const struct cairn_key *k = lp->desc.keys; k && k->name; k++) {
				print_line("    %s (%s%s%s%s%s)%s%s", k->name, type_name(k->type),
				       k->flags & CAIRN_KEY_REQUIRED ? ", required" : "",
				       k->flags & CAIRN_KEY_SECRET ? ", secret" : "",
				       k->default_value ? ", default " : "",
				       k->default_value ? k->default_value : "",
				       k->help ? ": " : "", k->help ? k->help : "");
			}
		}
	}
	strvec_free(&names);
	return rc;
}

/* ----------------------------------------------------------------- main */

int
cli_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{"config", required_argument, NULL, 'c'}, {"verbose", no_argument, NULL, 'v'},
		{"quiet", no_argument, NULL, 'q'},        {"help", no_argument, NULL, 'h'},
		{"version", no_argument, NULL, 'V'},      {NULL, 0, NULL, 0}};
	struct cli c = {0};
	char *default_config = NULL;
	const char *cmd;
	int opt, rc;

	while ((opt = getopt_long(argc, argv, "+c:vqhV", opts, NULL)) != -1) {
		switch (opt) {
		case 'c': c.config_path = optarg; break;
		case 'v': c.verbose++; break;
		case 'q': c.quiet = 1; break;
		case 'h': fputs(usage_text, stdout); return 0;
		case 'V':
			printf("cairn %s (plugin ABI %d.%d)\n", PACKAGE_VERSION, CAIRN_ABI_MAJOR,
			       CAIRN_ABI_MINOR);
			return 0;
		default: return usage_error("unknown option");
		}
	}
	if (optind >= argc) {
		fputs(usage_text, stderr);
		return CAIRN_EXIT_USAGE;
	}
	/* Terminals get progress and a summary; cron gets silence unless
	 * something goes wrong. */
	log_level = isatty(STDERR_FILENO) ? CAIRN_LOG_INFO : CAIRN_LOG_WARN;
	if (c.verbose)
		log_level = c.verbose > 1 ? CAIRN_LOG_DEBUG : CAIRN_LOG_INFO;
	if (c.quiet)
		log_level = CAIRN_LOG_ERROR;
	progress_enabled = isatty(STDERR_FILENO) && !c.quiet;
	if (!c.config_path) {
		const char *env = getenv("CAIRN_CONFIG");
		if (env && *env)
			c.config_path = env;
		else
			c.config_path = default_config = xstrdup(CAIRN_SYSCONFDIR "/cairn/cairn.ini");
	}
	install_signals();

	cmd = argv[optind];
	optind++;
	/* sub-command options come after the command: restart getopt there */
	argv += optind - 1;
	argc -= optind - 1;
	optind = 0; /* GNU getopt: start afresh at argv[1] */
	if (strcmp(cmd, "backup") == 0)
		rc = cmd_backup(&c, argc, argv);
	else if (strcmp(cmd, "list") == 0)
		rc = cmd_list(&c, argc, argv);
	else if (strcmp(cmd, "restore") == 0)
		rc = cmd_restore(&c, argc, argv);
	else if (strcmp(cmd, "verify") == 0)
		rc = cmd_verify(&c, argc, argv);
	else if (strcmp(cmd, "config") == 0)
		rc = cmd_config(&c, argc, argv);
	else if (strcmp(cmd, "plugins") == 0)
		rc = cmd_plugins(&c, argc, argv);
	else if (strcmp(cmd, "help") == 0) {
		fputs(usage_text, stdout);
		rc = 0;
	} else
		rc = usage_error("unknown command \"%s\"", cmd);

	if (c.reg_ready)
		registry_free(&c.reg);
	config_free(c.cfg);
	free(default_config);
	return rc;
}
