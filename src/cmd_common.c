/* cmd_common.c - what the commands share; see cmd.h. */
#include "autoconf.h"

#include "cmd.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lock.h"
#include "log.h"
#include "plugin_keys.h"

int
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

void
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

int
interrupted_code(void)
{
	return cancel_signal == SIGINT ? CAIRN_EXIT_INTERRUPTED : 128 + cancel_signal;
}

/* The one map from an operation's CAIRN_E_* outcome to the exit code
 * (cairn(1), EXIT STATUS).  "No set matches" (7) and usage errors are the
 * core's own findings and never a plugin's code: a plugin's NOTFOUND (a
 * missing bucket, a missing restore parent) is a failure like any other,
 * and an object the manifest names but the sink lacks is damage, which
 * the pipeline reports as CAIRN_E_CORRUPT.  A plugin that cannot be
 * loaded (INSTANCE_E_PLUGIN) is the core's finding too: exit 4. */
int
exit_for(int rc)
{
	switch (rc) {
	case CAIRN_OK: return CAIRN_EXIT_OK;
	case CAIRN_E_CONFIG: return CAIRN_EXIT_CONFIG;
	case CAIRN_E_CORRUPT: return CAIRN_EXIT_CORRUPT;
	case CAIRN_E_EXISTS: return CAIRN_EXIT_EXISTS;
	case CAIRN_E_LOCKED: return CAIRN_EXIT_LOCKED;
	case INSTANCE_E_PLUGIN: return CAIRN_EXIT_PLUGIN;
	case CAIRN_E_CANCELLED: return interrupted_code();
	default: return CAIRN_EXIT_FAILED;
	}
}

int
load_config(struct cli *c)
{
	char *err = NULL;
	if (!(c->cmd->flags & CMD_CONFIG)) {
		/* a programming error: the table row must say so */
		log_error(
		        "internal error: command %s reads the configuration, but its row in cli.c lacks CMD_CONFIG; report this",
		        c->cmd->name);
		return CAIRN_EXIT_FAILED;
	}
	if (c->cfg)
		return 0;
	c->cfg = config_load(c->config_path, &err);
	if (!c->cfg) {
		if (cancel_signal) {
			free(err);
			return exit_for(CAIRN_E_CANCELLED);
		}
		log_error("%s", err);
		free(err);
		return exit_for(CAIRN_E_CONFIG);
	}
	registry_init(&c->reg, c->cfg->plugin_dir);
	c->reg_ready = 1;
	/* what runs killed mid-op left (a test restore's scratch server's
	 * files, a staged tree), before this run makes its own */
	scratch_sweep(c->cfg->state_dir);
	return 0;
}

int
find_job(struct cli *c, const char *name, const struct cfg_job **job)
{
	*job = config_job(c->cfg, name);
	if (*job)
		return 0;
	struct strvec jobs = {0};
	for (size_t i = 0; i < c->cfg->njobs; i++)
		strvec_push(&jobs, c->cfg->jobs[i].name);
	char *names = strvec_join(&jobs, ", ");
	strvec_free(&jobs);
	log_error("%s: no job named \"%s\"; %s%s", c->cfg->path, name,
	          *names ? "jobs: " : "the file defines no [job NAME] section", names);
	free(names);
	return CAIRN_EXIT_USAGE;
}

int
take_job_lock(struct cli *c, const struct cfg_job *job)
{
	char *err = NULL;
	int busy;
	if (!(c->cmd->flags & CMD_JOB_LOCK)) {
		log_error(
		        "internal error: command %s takes a job lock, but its row in cli.c lacks CMD_JOB_LOCK; report this",
		        c->cmd->name);
		return CAIRN_EXIT_FAILED;
	}
	c->lockfd = lock_job(c->cfg->state_dir, job->name, &busy, &err);
	if (c->lockfd < 0) {
		log_error("%s", err);
		free(err);
		return exit_for(busy ? CAIRN_E_LOCKED : CAIRN_E_IO);
	}
	return 0;
}

int
try_instance(struct cli *c, enum section_kind kind, const char *name,
             const struct strvec *overrides, struct instance **out, char **err)
{
	const struct cfg_section *sec = config_section(c->cfg, kind, name);
	*out = NULL;
	if (!sec) {
		*err = xasprintf("%s: no [%s %s] section", c->cfg->path, section_kind_name(kind),
		                 name);
		return CAIRN_E_CONFIG;
	}
	return instance_create(&c->reg, c->cfg, sec, overrides, out, err);
}

int
make_instance(struct cli *c, enum section_kind kind, const char *name,
              const struct strvec *overrides, struct instance **out)
{
	char *err = NULL;
	int rc = try_instance(c, kind, name, overrides, out, &err);
	if (rc) {
		log_error("%s", err);
		free(err);
		/* a plugin's own NOTFOUND (a missing bucket) is a failure, 1 */
		return exit_for(rc);
	}
	return 0;
}

void
free_instances(struct instance **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		instance_destroy(v[i]);
	free(v);
}

int
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

int
locate_set(struct cli *c, const struct cfg_job *job, const char *only_sink, const char *id,
           const time_t *at, struct instance **sink_out, struct manifest **m_out,
           char found[BACKUP_ID_LEN + 1])
{
	struct instance **sinks = NULL;
	size_t nsinks = 0;
	struct strvec unlisted = {0}; /* sinks that could not be listed */
	int rc = make_sinks(c, job, only_sink, &sinks, &nsinks);
	*sink_out = NULL;
	for (size_t k = 0; k < nsinks && !rc && !*sink_out; k++) {
		struct set_list l;
		char *err = NULL;
		if (sets_list(sinks[k], job->name, &l, &err)) {
			log_warn("%s", err);
			free(err);
			strvec_push(&unlisted, sinks[k]->name);
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
	if (!rc && !*sink_out && unlisted.n) {
		/* exit 7 says "no set matches"; a sink that could not be read
		 * may hold one, so that is a failure naming it */
		char *names = strvec_join(&unlisted, ", ");
		if (only_sink)
			log_error(
			        "cannot list the backups of job %s in sink %s (see above); try again once it can be reached",
			        job->name, names);
		else
			log_error(
			        "cannot list the backups of job %s in sink %s (see above), and no other sink holds a matching complete set; try again once it can be reached",
			        job->name, names);
		free(names);
		rc = CAIRN_EXIT_FAILED;
	}
	strvec_free(&unlisted);
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
		          what, only_sink ? " in sink " : "", only_sink ? only_sink : "",
		          job->name);
		rc = CAIRN_EXIT_NOTFOUND;
	}
	return rc;
}

const char *
set_phase_name(enum set_phase phase)
{
	return phase == SET_BACKUP ? "backup" : phase == SET_RESTORE ? "restore" : "verify";
}

enum set_take
plugin_takes(const struct loaded_plugin *lp, const char *key, size_t len, enum set_phase phase)
{
	unsigned not_here = phase == SET_BACKUP ? CAIRN_KEY_NO_BACKUP : CAIRN_KEY_NO_RESTORE;
	for (const struct cairn_key *k = lp->desc.keys; k && k->name; k++)
		if (key_match(k, key, len) != KEY_NO_MATCH)
			return k->flags & not_here ? TAKES_NO_EFFECT : TAKES_YES;
	return TAKES_NOT;
}

/* Plugin keys never contain dots, so the last dot before '=' ends the
 * source name, which may itself contain dots. */
const char *
split_set(const char *s, char **source)
{
	const char *eq = strchr(s, '='), *dot = NULL;
	for (const char *p = s; p < eq; p++)
		if (*p == '.')
			dot = p;
	*source = dot ? xstrndup(s, (size_t)(dot - s)) : NULL;
	return dot ? dot + 1 : s;
}

/* The plugin of [source NAME], or NULL when the INI file has no such
 * section or its plugin cannot be loaded (said where that source is
 * made). */
static struct loaded_plugin *
source_plugin(struct cli *c, const char *name)
{
	const struct cfg_section *sec = config_section(c->cfg, SECTION_SOURCE, name);
	struct loaded_plugin *lp;
	char *err = NULL;
	if (!sec || !(lp = registry_load(&c->reg, sec->plugin, &err))) {
		free(err);
		return NULL;
	}
	return lp;
}

/* "restore --set: key exclude of source uploads (files) has no effect on
 * restore; it only shapes backups" */
static int
no_effect(const char *source, const struct loaded_plugin *lp, const char *kv, size_t klen,
          enum set_phase phase)
{
	log_error("%s --set: key %.*s of source %s (%s) has no effect on %s; it only shapes %s",
	          set_phase_name(phase), (int)klen, kv, source, lp->name, set_phase_name(phase),
	          phase == SET_BACKUP ? "restores" : "backups");
	return CAIRN_EXIT_USAGE;
}

/* One --set against the sources: 0, or an exit code with the error said. */
static int
check_set(struct cli *c, const char *set, const char *const *sources, size_t n,
          enum set_phase phase)
{
	char *scope;
	const char *kv = split_set(set, &scope);
	size_t klen = (size_t)(strchr(kv, '=') - kv);
	const char *idle = NULL; /* a source that has the key to no effect */
	struct loaded_plugin *idle_lp = NULL;
	int rc = 0, reached = 0;
	for (size_t s = 0; s < n && !reached; s++) {
		struct loaded_plugin *lp;
		if (scope && strcmp(scope, sources[s]) != 0)
			continue;
		if (!(lp = source_plugin(c, sources[s]))) {
			reached = scope != NULL; /* the key is checked when it is made */
			continue;
		}
		enum set_take t = plugin_takes(lp, kv, klen, phase);
		if (t == TAKES_NO_EFFECT && !idle) {
			idle = sources[s];
			idle_lp = lp;
		}
		/* a scoped key the plugin lacks is refused when the source is
		 * made, naming the file and the key's place */
		reached = t == TAKES_YES || (scope && t == TAKES_NOT);
	}
	/* [SOURCE.]KEY without its value: the value may be a secret, and a
	 * key nobody knows cannot be told to be no secret */
	int named = (int)(kv + klen - set);
	if (!reached && idle)
		rc = no_effect(idle, idle_lp, kv, klen, phase);
	else if (!reached && scope)
		log_error("--set %.*s: this %s %s no source named %s", named, set,
		          set_phase_name(phase), phase == SET_BACKUP ? "backs up" : "restores",
		          scope);
	else if (!reached)
		log_error(
		        "--set %.*s: none of the sources being %s has a key %.*s; see cairn plugins -v",
		        named, set, phase == SET_BACKUP ? "backed up" : "restored", (int)klen, kv);
	if (!reached && !idle)
		rc = CAIRN_EXIT_USAGE;
	free(scope);
	return rc;
}

int
check_sets(struct cli *c, const struct strvec *sets, const char *const *sources, size_t n,
           enum set_phase phase)
{
	int rc = 0;
	for (size_t i = 0; i < sets->n && !rc; i++)
		rc = check_set(c, sets->v[i], sources, n, phase);
	return rc;
}

void
overrides_for(const struct strvec *sets, const char *source, const struct loaded_plugin *lp,
              enum set_phase phase, struct strvec *out)
{
	for (size_t i = 0; i < sets->n; i++) {
		char *scope;
		const char *kv = split_set(sets->v[i], &scope);
		if (scope ? strcmp(scope, source) == 0
		          : plugin_takes(lp, kv, (size_t)(strchr(kv, '=') - kv), phase) ==
		                    TAKES_YES)
			strvec_push(out, kv);
		free(scope);
	}
}

char *
set_for_record(const struct loaded_plugin *lp, const char *kv)
{
	const char *eq = strchr(kv, '=');
	size_t len = eq ? (size_t)(eq - kv) : strlen(kv);
	for (const struct cairn_key *k = lp->desc.keys; eq && k && k->name; k++)
		if (key_match(k, kv, len) == KEY_EXACT && (k->flags & CAIRN_KEY_SECRET))
			return xasprintf("%.*s=(secret)", (int)len, kv);
	return xstrdup(kv);
}

int
make_source(struct cli *c, const char *name, const struct strvec *sets, enum set_phase phase,
            struct instance **out, struct strvec *record)
{
	const struct cfg_section *sec = config_section(c->cfg, SECTION_SOURCE, name);
	struct loaded_plugin *lp;
	struct strvec ov = {0};
	char *err = NULL;
	int rc;
	if (!sec)
		return make_instance(c, SECTION_SOURCE, name, NULL, out);
	if (!(lp = registry_load(&c->reg, sec->plugin, &err))) {
		log_error("%s:%d: [source %s] plugin: %s", c->cfg->path, sec->plugin_line, name,
		          err);
		free(err);
		return exit_for(INSTANCE_E_PLUGIN);
	}
	overrides_for(sets, name, lp, phase, &ov);
	rc = make_instance(c, SECTION_SOURCE, name, &ov, out);
	for (size_t i = 0; !rc && record && i < ov.n; i++)
		strvec_push_own(record, set_for_record(lp, ov.v[i]));
	strvec_free(&ov);
	return rc;
}

int
source_for_manifest(struct cli *c, const struct manifest_source *ms, const struct strvec *sets,
                    struct instance **out)
{
	const struct cfg_section *sec = config_section(c->cfg, SECTION_SOURCE, ms->name);
	if (!sec) {
		log_error(
		        "the set holds source %s, which %s does not define; add [source %s] with plugin = %s to restore or check it",
		        ms->name, c->cfg->path, ms->name, ms->plugin);
		return exit_for(CAIRN_E_CONFIG);
	}
	if (strcmp(sec->plugin, ms->plugin) != 0) {
		log_error("%s:%d: [source %s] uses plugin %s, but the set was made by plugin %s",
		          c->cfg->path, sec->line, ms->name, sec->plugin, ms->plugin);
		return exit_for(CAIRN_E_CONFIG);
	}
	return make_source(c, ms->name, sets, SET_RESTORE, out, NULL);
}

int
parse_when(const char *id, const char *at_text, time_t *at)
{
	time_t t;
	if (id && at_text)
		return usage_error("give --id or --at, not both");
	if (id && backup_id_parse(id, &t))
		return usage_error("--id %s: a backup id looks like 20261126T020000Z", id);
	if (at_text && iso8601_parse(at_text, at))
		return usage_error(
		        "--at %s: use ISO 8601, e.g. 2026-01-24, 2026-01-24T03:00 or 2026-01-24T03:00:00Z",
		        at_text);
	return 0;
}

void
job_policy(const struct cfg_job *job, struct retention_policy *p)
{
	const struct cfg_retention *r = &job->keep;
	memset(p, 0, sizeof(*p));
	p->keep_last = r->keep_last;
	p->keep_hourly = r->keep_hourly;
	p->keep_daily = r->keep_daily;
	p->keep_weekly = r->keep_weekly;
	p->keep_monthly = r->keep_monthly;
	p->keep_yearly = r->keep_yearly;
	p->keep_within = r->keep_within;
	p->incomplete_grace = r->incomplete_grace;
	p->tz = r->tz;
}

void
sets_for_retention(struct instance *sink, const char *job, struct set_list *l, const int *only,
                   struct retention_set *rs)
{
	for (size_t i = 0; i < l->n; i++) {
		struct set_info *s = &l->v[i];
		const struct manifest *m;
		char *err = NULL;
		if (only && !only[i])
			continue;
		rs[i].id = s->id;
		rs[i].time = s->time;
		rs[i].mtime = (time_t)s->newest_mtime;
		rs[i].pinned = s->pinned;
		if (cancel_signal) {
			/* stopping: kept without a look, never removed on a guess */
			rs[i].state = RETENTION_DAMAGED;
		} else if (!s->complete) {
			rs[i].state = RETENTION_INCOMPLETE;
		} else if (set_manifest(sink, job, s, &m, &err)) {
			/* kept, never counted: a set nobody can read is not
			 * removed on a guess either */
			log_warn(
			        "%s; the set is kept and not counted: check it with cairn verify %s --id %s",
			        err, job, s->id);
			free(err);
			rs[i].state = RETENTION_DAMAGED;
		} else {
			rs[i].state = m->partial ? RETENTION_PARTIAL : RETENTION_COMPLETE;
		}
	}
}
