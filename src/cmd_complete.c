/* cmd_complete.c - the hidden `cairn __complete WORD... CURRENT`, which
 * the bash completion (etc/bash-completion/cairn) asks for the words
 * that may stand where CURRENT is: the commands, a command's options and
 * positional words from its row in cli.c, and from the INI file (-c
 * honoured) job, sink and source names, for --set SOURCE. and KEY=, and
 * for --id the ids of the job's sets.  One candidate a line on stdout; the line __FILES__ asks
 * the shell to complete a file name.  It says nothing else, ever: a
 * broken INI file completes nothing. */
#include "autoconf.h"

#include "cmd.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "progress.h"

/* What the words before CURRENT said. */
struct words {
	const char *config;        /* -c FILE, --config=FILE */
	const struct command *cmd; /* the command, once named */
	const char *job;           /* its first positional word */
	const char *sink;          /* --sink NAME */
	size_t npos;               /* positional words after the command */
};

static void
offer(const char *cur, const char *word)
{
	if (strncmp(word, cur, strlen(cur)) == 0)
		print_line("%s", word);
}

/* The global options (before or after the command). */
static const struct option globals[] = {{"config", required_argument, NULL, 'c'},
                                        {"verbose", no_argument, NULL, 'v'},
                                        {"quiet", no_argument, NULL, 'q'},
                                        {"help", no_argument, NULL, 'h'},
                                        {NULL, 0, NULL, 0}};

/* The option of cmd (else a global one) a word names: "--sink",
 * "--sink=x", "-s", "-sx", "-vc".  *inl: the argument given in the word
 * itself, or NULL (then it is the next word, if the option takes one). */
static const struct option *
option_of(const struct command *cmd, const char *w, const char **inl)
{
	const struct option *sets[] = {cmd ? cmd->opts : NULL, globals}, *last = NULL;
	*inl = NULL;
	if (w[0] != '-' || !w[1])
		return NULL;
	if (w[1] != '-') {
		for (const char *p = w + 1; *p; p++) {
			last = NULL;
			for (size_t s = 0; s < 2 && !last; s++)
				for (const struct option *o = sets[s]; o && o->name && !last; o++)
					if (o->val == *p)
						last = o;
			if (last && last->has_arg == required_argument) {
				*inl = p[1] ? p + 1 : NULL;
				return last;
			}
		}
		return last;
	}
	size_t len = strcspn(w + 2, "=");
	if (w[2 + len] == '=')
		*inl = w + 3 + len;
	for (size_t s = 0; s < 2; s++)
		for (const struct option *o = sets[s]; o && o->name; o++)
			if (strlen(o->name) == len && strncmp(o->name, w + 2, len) == 0)
				return o;
	return NULL;
}

/* The n-th positional word of a synopsis ("JOB", "ID", "check", ...):
 * words that are neither options nor an option's argument nor "|",
 * without their brackets and "...".  NULL past the last. */
static char *
positional(const char *synopsis, size_t n)
{
	char *copy = xstrdup(synopsis ? synopsis : ""), *save = NULL, *found = NULL;
	int after_option = 0;
	for (char *tok = strtok_r(copy, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
		tok += strspn(tok, "[");
		tok[strcspn(tok, "]|.")] = '\0';
		if (!*tok)
			continue;
		if (tok[0] == '-') {
			after_option = !strchr(tok, '=');
			continue;
		}
		if (after_option) {
			after_option = 0;
			continue;
		}
		if (n-- == 0) {
			found = xstrdup(tok);
			break;
		}
	}
	free(copy);
	return found;
}

static void
offer_names(struct cli *c, const char *cur, enum section_kind kind, const struct words *w)
{
	const struct cfg_job *job = w->job ? config_job(c->cfg, w->job) : NULL;
	const struct strvec *of = !job ? NULL : kind == SECTION_SINK ? &job->sinks : &job->sources;
	for (size_t i = 0; of && i < of->n; i++)
		offer(cur, of->v[i]);
	for (size_t i = 0; !of && i < c->cfg->nsections; i++)
		if (c->cfg->sections[i].kind == kind)
			offer(cur, c->cfg->sections[i].name);
}

/* The ids of the job's complete sets, in its sinks (only --sink's). */
static void
offer_ids(struct cli *c, const char *cur, const struct words *w)
{
	const struct cfg_job *job = w->job ? config_job(c->cfg, w->job) : NULL;
	struct instance **sinks = NULL;
	struct strvec ids = {0};
	size_t n = 0;
	if (!job)
		return;
	registry_init(&c->reg, c->cfg->plugin_dir);
	c->reg_ready = 1;
	make_sinks(c, job, w->sink, &sinks, &n);
	for (size_t k = 0; k < n; k++) {
		struct set_list l;
		char *err = NULL;
		if (sets_list(sinks[k], job->name, &l, &err)) {
			free(err);
			continue;
		}
		for (size_t s = 0; s < l.n; s++)
			if (l.v[s].complete && !strvec_contains(&ids, l.v[s].id))
				strvec_push(&ids, l.v[s].id);
		set_list_free(&l);
	}
	free_instances(sinks, n);
	for (size_t i = 0; i < ids.n; i++)
		offer(cur, ids.v[i]);
	strvec_free(&ids);
}

/* --set's argument: "SOURCE." for the job's sources and "KEY=" for the
 * keys of their plugins that shape this run (restore's unless the
 * command is backup); after "SOURCE.", that source's keys. */
static void
offer_set(struct cli *c, const char *cur, const struct words *w)
{
	const struct cfg_job *job = w->job ? config_job(c->cfg, w->job) : NULL;
	enum set_phase phase =
	        w->cmd && strcmp(w->cmd->name, "backup") == 0 ? SET_BACKUP : SET_RESTORE;
	const char *dot = strrchr(cur, '.');
	struct strvec seen = {0};
	registry_init(&c->reg, c->cfg->plugin_dir);
	c->reg_ready = 1;
	for (size_t i = 0; i < c->cfg->nsections; i++) {
		const struct cfg_section *sec = &c->cfg->sections[i];
		struct loaded_plugin *lp;
		char *err = NULL, *scope = dot ? xstrndup(cur, (size_t)(dot - cur + 1)) : NULL;
		if (sec->kind != SECTION_SOURCE ||
		    (job && !strvec_contains(&job->sources, sec->name)))
			goto next;
		char *name_dot = xasprintf("%s.", sec->name);
		if (!dot || strcmp(scope, name_dot) != 0)
			offer(cur, name_dot);
		free(name_dot);
		if ((dot && strncmp(scope, sec->name, strlen(sec->name)) != 0) ||
		    !(lp = registry_load(&c->reg, sec->plugin, &err)))
			goto next;
		for (const struct cairn_key *k = lp->desc.keys; k && k->name; k++) {
			char *kv = xasprintf("%s%s=", dot ? scope : "", k->name);
			if ((!dot || strlen(scope) == strlen(sec->name) + 1) &&
			    plugin_takes(lp, k->name, strlen(k->name), phase) == TAKES_YES &&
			    !strvec_contains(&seen, kv)) {
				offer(cur, kv);
				strvec_push(&seen, kv);
			}
			free(kv);
		}
	next:
		free(err);
		free(scope);
	}
	strvec_free(&seen);
}

/* The argument of option name, or the positional word of a synopsis
 * (JOB, ID, COMMAND, or a literal word such as config's "check"). */
static void
offer_slot(struct cli *c, const char *cur, const char *what, int is_option, const struct words *w)
{
	char *err = NULL;
	if (is_option &&
	    (!strcmp(what, "config") || !strcmp(what, "prometheus") || !strcmp(what, "identity"))) {
		puts("__FILES__");
		return;
	}
	if (!is_option && strcmp(what, "COMMAND") == 0) {
		for (const struct command *t = command_table(); t->name; t++)
			if (t->synopsis)
				offer(cur, t->name);
		return;
	}
	if (!is_option && what[0] >= 'a' && what[0] <= 'z') {
		offer(cur, what);
		return;
	}
	if (!c->cfg && !(c->cfg = config_load(w->config ? w->config : c->config_path, &err))) {
		free(err);
		return;
	}
	if (!is_option && strcmp(what, "JOB") == 0)
		for (size_t i = 0; i < c->cfg->njobs; i++)
			offer(cur, c->cfg->jobs[i].name);
	else if (is_option &&
	         (!strcmp(what, "sink") || !strcmp(what, "from") || !strcmp(what, "to")))
		offer_names(c, cur, SECTION_SINK, w);
	else if (is_option && strcmp(what, "source") == 0)
		offer_names(c, cur, SECTION_SOURCE, w);
	else if (is_option && strcmp(what, "set") == 0)
		offer_set(c, cur, w);
	else if (is_option ? strcmp(what, "id") == 0 : strcmp(what, "ID") == 0)
		offer_ids(c, cur, w);
}

/* The options a word starting with '-' may be. */
static void
offer_options(const char *cur, const struct command *cmd)
{
	for (size_t s = 0; s < 2; s++)
		for (const struct option *o = s     ? globals
		                              : cmd ? cmd->opts
		                                    : NULL;
		     o && o->name; o++) {
			char *opt = xasprintf("--%s", o->name);
			offer(cur, opt);
			free(opt);
		}
	if (!cmd)
		offer(cur, "--version");
}

/* Note what an option's argument says: -c's file, --sink's name. */
static void
note(struct words *w, const struct option *o, const char *arg)
{
	if (strcmp(o->name, "config") == 0)
		w->config = arg;
	else if (strcmp(o->name, "sink") == 0)
		w->sink = arg;
}

int
cmd_complete(struct cli *c, int argc, char **argv)
{
	struct words w = {0};
	const char *cur = argc > 1 ? argv[argc - 1] : "", *inl;
	const struct option *wants = NULL; /* the option whose argument is next */
	int dashdash = 0;
	log_level = CAIRN_LOG_ERROR - 1; /* never a word on stderr */
	progress_enabled = 0;
	for (int i = 1; i < argc - 1; i++) {
		const char *a = argv[i];
		const struct option *o;
		if (wants) {
			note(&w, wants, a);
			wants = NULL;
		} else if (!dashdash && strcmp(a, "--") == 0) {
			dashdash = 1;
		} else if (!dashdash && (o = option_of(w.cmd, a, &inl))) {
			if (o->has_arg == required_argument && inl)
				note(&w, o, inl);
			else if (o->has_arg == required_argument)
				wants = o;
		} else if (!dashdash && a[0] == '-' && a[1]) {
			continue; /* an option this cairn does not know */
		} else if (!w.cmd) {
			w.cmd = command_table();
			while (w.cmd->name && strcmp(w.cmd->name, a) != 0)
				w.cmd++;
			if (!w.cmd->name || !w.cmd->synopsis)
				return 0; /* no such command: nothing to offer */
		} else {
			char *slot = positional(w.cmd->synopsis, w.npos++);
			if (slot && strcmp(slot, "JOB") == 0)
				w.job = a;
			free(slot);
		}
	}
	const struct option *o = dashdash || wants ? NULL : option_of(w.cmd, cur, &inl);
	if (wants) {
		offer_slot(c, cur, wants->name, 1, &w);
	} else if (o && inl && cur[1] == '-') { /* --sink=NAME: the NAME */
		offer_slot(c, inl, o->name, 1, &w);
	} else if (!dashdash && cur[0] == '-') {
		offer_options(cur, w.cmd);
	} else {
		char *slot = w.cmd ? positional(w.cmd->synopsis, w.npos) : xstrdup("COMMAND");
		if (slot)
			offer_slot(c, cur, slot, 0, &w);
		free(slot);
	}
	return 0;
}
