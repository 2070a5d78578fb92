/* cmd_pin.c - cairn pin and cairn unpin: keep a set on purpose, or let
 * the job's retention have it again.  A pin is the object JOB/ID/pin in
 * the sink (sets.c), so it travels with the set and every host sees it;
 * prune (retention.c) keeps a pinned set outside its rules. */
#include "autoconf.h"

#include "cmd.h"

#include <getopt.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

/* Pin (or unpin) set id in one sink, under the sink's own lock.  *held is
 * set when the sink holds the set.  0 or an exit code, the error said. */
static int
pin_in_sink(const struct cfg_job *job, struct instance *sink, const char *id, int pin,
            const char *note, int *held)
{
	cairn_sink_lock *lk = NULL;
	struct set_list l;
	const struct set_info *s = NULL;
	char *err = NULL;
	int rc = sink_lock(sink, job->name, &lk, &err);
	if (!rc && (rc = sets_list(sink, job->name, &l, &err)) == 0) {
		for (size_t i = 0; i < l.n && !s; i++)
			if (strcmp(l.v[i].id, id) == 0 && (l.v[i].complete || !pin))
				s = &l.v[i];
		if (s && pin) {
			*held = 1;
			/* a sink never overwrites an object: the old pin goes
			 * first (under both locks, so no prune sees the gap) */
			if (s->pinned)
				rc = set_unpin(sink, job->name, id, &err);
			if (!rc)
				rc = set_pin(sink, job->name, id, note, &err);
			if (!rc)
				print_line("pinned %s/%s in %s%s", job->name, id, sink->name,
				           s->pinned ? " (it was already; the note is renewed)"
				                     : "");
		} else if (s && s->pinned) {
			*held = 1;
			rc = set_unpin(sink, job->name, id, &err);
			if (!rc)
				print_line(
				        "unpinned %s/%s in %s: the job's retention decides again",
				        job->name, id, sink->name);
		} else if (s) {
			*held = 1;
			print_line("%s/%s in %s was not pinned", job->name, id, sink->name);
		} else {
			log_info("%s: holds no complete set %s/%s", sink->ctx.label, job->name, id);
		}
		set_list_free(&l);
	}
	sink_unlock(sink, lk);
	if (rc) {
		log_error("%s", err);
		free(err);
		return rc == CAIRN_E_LOCKED ? CAIRN_EXIT_LOCKED : CAIRN_EXIT_FAILED;
	}
	return 0;
}

const struct option pin_options[] = {{"sink", required_argument, NULL, 's'},
                                     {"note", required_argument, NULL, 'n'},
                                     {NULL, 0, NULL, 0}};
const struct option unpin_options[] = {{"sink", required_argument, NULL, 's'}, {NULL, 0, NULL, 0}};

static int
pin_command(struct cli *c, int argc, char **argv, int pin)
{
	const char *only_sink = NULL, *note = NULL, *what = pin ? "pin" : "unpin";
	const struct cfg_job *job;
	struct instance **sinks = NULL;
	size_t nsinks = 0;
	int opt, rc, held = 0;

	while ((opt = getopt_long(argc, argv, pin ? "s:n:" : "s:",
	                          pin ? pin_options : unpin_options, NULL)) != -1) {
		if (opt == 's')
			only_sink = optarg;
		else if (opt == 'n' && pin)
			note = optarg;
		else
			return usage_error("%s: unknown option", what);
	}
	if (optind + 2 != argc)
		return usage_error("%s takes a JOB and a backup ID", what);
	if ((rc = parse_when(argv[optind + 1], NULL, NULL)) || (rc = load_config(c)) ||
	    (rc = find_job(c, argv[optind], &job)))
		return rc;
	if ((rc = make_sinks(c, job, only_sink, &sinks, &nsinks)))
		goto out;
	/* prune lists and then removes under this lock: a pin written in
	 * between would not save the set */
	if ((rc = take_job_lock(c, job)))
		goto out;
	for (size_t i = 0; i < nsinks && !cancel_signal; i++) {
		int src = pin_in_sink(job, sinks[i], argv[optind + 1], pin, note, &held);
		if (src && (!rc || src == CAIRN_EXIT_LOCKED))
			rc = src;
	}
	if (cancel_signal)
		rc = exit_for(CAIRN_E_CANCELLED);
	else if (!rc && !held) {
		log_error("no complete backup set of job %s with id %s%s%s; see cairn list %s",
		          job->name, argv[optind + 1], only_sink ? " in sink " : "",
		          only_sink ? only_sink : "", job->name);
		rc = CAIRN_EXIT_NOTFOUND;
	}
out:
	free_instances(sinks, nsinks);
	return rc;
}

int
cmd_pin(struct cli *c, int argc, char **argv)
{
	return pin_command(c, argc, argv, 1);
}

int
cmd_unpin(struct cli *c, int argc, char **argv)
{
	return pin_command(c, argc, argv, 0);
}
