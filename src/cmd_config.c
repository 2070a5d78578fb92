/* cmd_config.c - config check: the INI file, the state directory, each
 * job's age key files and every plugin section made into an instance,
 * every error on its own line; with --connect, each source and sink the
 * jobs use is reached (a source's probe op, a sink's list of the job's
 * objects and its usage) and reported on a line of its own. */
#include "autoconf.h"

#include "cmd.h"

#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "crypt.h"
#include "log.h"

/* The worse of two exit codes of config check: a configuration error (3)
 * over any other, else the first one seen. */
static int
worse(int worst, int rc)
{
	if (rc && (!worst || rc == CAIRN_EXIT_CONFIG))
		return rc;
	return worst;
}

/* The line an error names ("FILE:LINE: ..." of the INI file path), or
 * INT_MAX for one about no line of it. */
static long
error_line(const char *path, const char *e)
{
	size_t n = strlen(path);
	char *end;
	long line;
	if (strncmp(e, path, n) != 0 || e[n] != ':')
		return INT_MAX;
	line = strtol(e + n + 1, &end, 10);
	return end > e + n + 1 && *end == ':' ? line : INT_MAX;
}

/* Say each error of errs in the order of the lines they name (stable, the
 * others last), and empty it. */
static void
say_errors(const char *path, struct strvec *errs)
{
	for (size_t i = 1; i < errs->n; i++)
		for (size_t j = i;
		     j > 0 && error_line(path, errs->v[j - 1]) > error_line(path, errs->v[j]);
		     j--) {
			char *t = errs->v[j];
			errs->v[j] = errs->v[j - 1];
			errs->v[j - 1] = t;
		}
	for (size_t i = 0; i < errs->n; i++)
		log_error("%s", errs->v[i]);
	strvec_free(errs);
}

/* Read the INI file reporting every error (the other commands stop at
 * the first): 0, an exit code (3 when it has errors) or -1 when it cannot
 * be read at all (said; nothing more to check). */
static int
load_all(struct cli *c, struct strvec *errs)
{
	char *err = NULL;
	c->cfg = config_load_all(c->config_path, errs, &err);
	if (!c->cfg) {
		if (cancel_signal) {
			free(err);
			return -1;
		}
		log_error("%s", err);
		free(err);
		return -1;
	}
	registry_init(&c->reg, c->cfg->plugin_dir);
	c->reg_ready = 1;
	return errs->n ? exit_for(CAIRN_E_CONFIG) : 0;
}

/* Make every [source] and [sink] section that names a plugin into an
 * instance (made[i] for section i, NULL when it could not be), each
 * error said.  Returns the worst exit code. */
static int
make_all(struct cli *c, struct instance **made, size_t *nsrc, size_t *nsink, struct strvec *errs)
{
	int worst = 0;
	for (size_t i = 0; i < c->cfg->nsections; i++) {
		const struct cfg_section *sec = &c->cfg->sections[i];
		int rc;
		if ((sec->kind != SECTION_SOURCE && sec->kind != SECTION_SINK) || !sec->plugin)
			continue; /* a section without plugin = was said by the loader */
		rc = instance_create_all(&c->reg, c->cfg, sec, &made[i], errs);
		if (rc) {
			made[i] = NULL;
			worst = worse(worst, exit_for(rc));
			continue;
		}
		sec->kind == SECTION_SOURCE ? (*nsrc)++ : (*nsink)++;
	}
	return worst;
}

/* Each job's age keys read as a run reads them: the recipients (their
 * file, the passphrase) and the identity file, readable and well formed;
 * a key file others can read is warned about as it is read.  Jobs whose
 * encryption keys were refused are left out (said already).  Errors into
 * errs; the worst exit code. */
static int
check_keys(const struct config *cfg, struct strvec *errs)
{
	int worst = 0;
	for (size_t j = 0; j < cfg->njobs; j++) {
		const struct cfg_job *job = &cfg->jobs[j];
		struct age_recipients *r = NULL;
		struct age_identities *ids = NULL;
		char *err = NULL;
		if (!job->sec || config_crypt_check(&job->crypt, &err)) {
			free(err);
			continue;
		}
		if (crypt_recipients_load(job, &r, &err) == 0 &&
		    crypt_identities_load(job, NULL, &ids, &err) == 0)
			err = NULL;
		if (err && !strvec_contains(errs, err)) {
			strvec_push(errs, err);
			worst = exit_for(CAIRN_E_CONFIG);
		}
		free(err);
		age_recipients_free(r);
		age_identities_free(ids);
	}
	return worst;
}

/* ------------------------------------------------------------ --connect */

struct count {
	uint64_t objects, bytes;
};

static int
count_object(void *ud, const char *key, uint64_t size, int64_t mtime)
{
	struct count *n = ud;
	(void)key;
	(void)mtime;
	n->objects++;
	n->bytes += size;
	return 0;
}

/* A source: its probe.  0 or 1 (said). */
static int
connect_source(struct cli *c, struct instance *in)
{
	char summary[512];
	int rc = op_probe(in, summary, sizeof(summary));
	if (rc == CAIRN_E_UNSUPPORTED && !in->lp->source.probe) {
		if (!c->quiet)
			print_line("%s: not checked (the plugin has no probe)", in->ctx.label);
		return 0;
	}
	if (rc) {
		log_error("%s: FAILED: %s", in->ctx.label, instance_error(in, rc));
		return rc == CAIRN_E_CANCELLED ? interrupted_code() : CAIRN_EXIT_FAILED;
	}
	if (!c->quiet)
		print_line("%s: ok, %s", in->ctx.label, *summary ? summary : "reached");
	return 0;
}

/* A sink: the objects of each job that uses it (only job, when given),
 * then its usage when it offers one.  0 or 1 (said). */
static int
connect_sink(struct cli *c, struct instance *in, const struct cfg_job *only)
{
	struct strvec parts = {0};
	int rc = 0;
	for (size_t j = 0; j < c->cfg->njobs && !rc; j++) {
		const struct cfg_job *job = &c->cfg->jobs[j];
		struct count n = {0};
		char *prefix, size[32];
		if ((only && job != only) || !strvec_contains(&job->sinks, in->name))
			continue;
		prefix = xasprintf("%s/", job->name);
		rc = op_list(in, prefix, count_object, &n);
		if (!rc)
			strvec_push_own(&parts, xasprintf("%" PRIu64 " object%s (%s) under %s",
			                                  n.objects, n.objects == 1 ? "" : "s",
			                                  format_bytes(n.bytes, size, sizeof(size)),
			                                  prefix));
		free(prefix);
	}
	if (!rc && in->lp->sink.usage) {
		struct cairn_usage u;
		char used[32], avail[32];
		int urc = op_usage(in, &u);
		if (urc == 0)
			strvec_push_own(
			        &parts,
			        u.avail == UINT64_MAX
			                ? xasprintf("%s used",
			                            format_bytes(u.used, used, sizeof(used)))
			                : xasprintf("%s used, %s free",
			                            format_bytes(u.used, used, sizeof(used)),
			                            format_bytes(u.avail, avail, sizeof(avail))));
		else
			strvec_push_own(&parts,
			                xasprintf("usage unknown: %s", instance_error(in, urc)));
	}
	if (rc) {
		log_error("%s: FAILED: %s", in->ctx.label, instance_error(in, rc));
		strvec_free(&parts);
		return rc == CAIRN_E_CANCELLED ? interrupted_code() : CAIRN_EXIT_FAILED;
	}
	char *text = strvec_join(&parts, ", ");
	if (!c->quiet)
		print_line("%s: ok, listed %s", in->ctx.label, text);
	free(text);
	strvec_free(&parts);
	return 0;
}

/* Is section s one that job (or, when job is NULL, any job) uses? */
static int
used(const struct config *cfg, const struct cfg_section *s, const struct cfg_job *job)
{
	for (size_t j = 0; j < cfg->njobs; j++) {
		const struct cfg_job *jb = &cfg->jobs[j];
		if (job && jb != job)
			continue;
		if (strvec_contains(s->kind == SECTION_SOURCE ? &jb->sources : &jb->sinks, s->name))
			return 1;
	}
	return 0;
}

/* Reach each source and sink the jobs (or job) use, in the file's order;
 * one line each.  Returns 0, or 1 when any failed. */
static int
connect_all(struct cli *c, struct instance **made, const struct cfg_job *job)
{
	int worst = 0;
	for (size_t i = 0; i < c->cfg->nsections && !cancel_signal; i++) {
		const struct cfg_section *sec = &c->cfg->sections[i];
		int rc;
		if ((sec->kind != SECTION_SOURCE && sec->kind != SECTION_SINK) ||
		    !used(c->cfg, sec, job))
			continue;
		if (!made[i]) {
			if (!c->quiet)
				print_line("%s %s: not checked (its configuration is in error)",
				           section_kind_name(sec->kind), sec->name);
			continue;
		}
		rc = sec->kind == SECTION_SOURCE ? connect_source(c, made[i])
		                                 : connect_sink(c, made[i], job);
		worst = worse(worst, rc);
	}
	if (cancel_signal)
		return interrupted_code();
	return worst;
}

/* ---------------------------------------------------------------- check */

/* For --help and the completion: config reads its words itself. */
const struct option config_options[] = {{"connect", no_argument, NULL, 'C'}, {NULL, 0, NULL, 0}};

int
cmd_config(struct cli *c, int argc, char **argv)
{
	int rc, worst = 0, connect = argc >= 3 && strcmp(argv[2], "--connect") == 0;
	const char *job_name = connect && argc == 4 ? argv[3] : NULL;
	const struct cfg_job *job = NULL;
	size_t nsrc = 0, nsink = 0;
	struct instance **made;
	struct strvec errs = {0};

	if (argc < 2 || strcmp(argv[1], "check") != 0 || argc > 4 || (argc > 2 && !connect) ||
	    (job_name && job_name[0] == '-'))
		return usage_error("use: cairn config check [--connect [JOB]]");
	if ((rc = load_all(c, &errs)) < 0) {
		strvec_free(&errs);
		return cancel_signal ? interrupted_code() : exit_for(CAIRN_E_CONFIG);
	}
	worst = rc;
	if (job_name && (rc = find_job(c, job_name, &job))) {
		say_errors(c->cfg->path, &errs);
		return worse(worst, rc);
	}
	/* a run needs its state directory as much as its plugins */
	char *serr = NULL;
	if (state_dir_check(c->cfg->state_dir, &serr)) {
		strvec_push_own(&errs, serr);
		worst = exit_for(CAIRN_E_CONFIG);
	}
	worst = worse(worst, check_keys(c->cfg, &errs));
	made = xcalloc(c->cfg->nsections + 1, sizeof(*made));
	worst = worse(worst, make_all(c, made, &nsrc, &nsink, &errs));
	say_errors(c->cfg->path, &errs);
	if (connect)
		worst = worse(worst, connect_all(c, made, job));
	for (size_t i = 0; i < c->cfg->nsections; i++)
		instance_destroy(made[i]);
	free(made);
	if (!worst && !c->quiet)
		print_line("%s: ok (%zu job%s, %zu source%s, %zu sink%s)", c->cfg->path,
		           c->cfg->njobs, c->cfg->njobs == 1 ? "" : "s", nsrc, nsrc == 1 ? "" : "s",
		           nsink, nsink == 1 ? "" : "s");
	return worst;
}
