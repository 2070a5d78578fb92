/*
 * test_restore_plan.c - unit tests of src/restore_plan.c, the pure restore
 * plan: sets with their manifests in, which set and object each source is
 * restored from out (--id, --at, partial sets, --source, one-off sets,
 * unreadable manifests, future ids), and with logs the base of a replay
 * (--at TIME and --at latest, by the sets' recorded log positions).
 *
 * The sets are built in memory; the manifest callback counts its calls,
 * so a test can also show which manifests the plan had to look at.
 */
#include "autoconf.h"

#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include "restore_plan.h"
#include "timeutil.h"
#include "util.h"

#define MAXSETS 8
#define NOW ((time_t)1795658400) /* 2026-11-26T02:00:00Z */
#define DAY (24 * 60 * 60)

struct fixture {
	struct set_info v[MAXSETS];
	struct manifest *m[MAXSETS]; /* NULL: unreadable */
	size_t n;
	int asked[MAXSETS]; /* manifest() calls per set */
	struct restore_sets sets;
	struct restore_plan plan;
	struct strvec logs; /* sources with a log */
};

static int
has_log(void *ud, const char *name)
{
	struct fixture *f = ud;
	return strvec_contains(&f->logs, name);
}

/* Record the log positions of source name in m: start and end seconds
 * after the set's own time (end < 0: none). */
static void
set_log(struct manifest *m, const char *name, int start_s, int end_s)
{
	time_t t;
	assert_int_equal(backup_id_parse(m->id, &t), 0);
	for (size_t k = 0; k < m->nsources; k++) {
		struct manifest_source *ms = &m->sources[k];
		if (strcmp(ms->name, name) != 0)
			continue;
		ms->has_log_start = 1;
		ms->log_start.time_ms = ((int64_t)t + start_s) * 1000;
		ms->log_start.lsn = (uint64_t)(t + start_s) << 32;
		snprintf(ms->log_start.text, sizeof(ms->log_start.text), "start-%s", m->id);
		if (end_s >= 0) {
			ms->has_log_end = 1;
			ms->log_end.time_ms = ((int64_t)t + end_s) * 1000;
			ms->log_end.lsn = (uint64_t)(t + end_s) << 32;
			snprintf(ms->log_end.text, sizeof(ms->log_end.text), "end-%s", m->id);
		}
		return;
	}
	fail_msg("no source %s", name);
}

static const struct manifest *
get_manifest(void *ud, size_t i)
{
	struct fixture *f = ud;
	assert_true(i < f->n);
	f->asked[i]++;
	return f->m[i];
}

/* Add a complete set taken days_ago before NOW.  holds: sources stored,
 * space separated; failed: sources it lacks (NULL: none).  A name written
 * "NAME*" is stored with a backup --set override (a one-off run). */
static struct manifest *
add_set(struct fixture *f, int days_ago, const char *holds, const char *failed)
{
	struct set_info *s = &f->v[f->n];
	struct manifest *m = xcalloc(1, sizeof(*m));
	char *list = xstrdup(holds), *save = NULL;
	assert_true(f->n < MAXSETS);
	s->time = NOW - (time_t)days_ago * DAY;
	backup_id_format(s->time, s->id);
	s->complete = 1;
	m->job = xstrdup("j");
	m->id = xstrdup(s->id);
	for (char *w = strtok_r(list, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		struct manifest_source *ms = manifest_add_source(m);
		size_t len = strlen(w);
		int oneoff = w[len - 1] == '*';
		ms->name = xstrndup(w, len - (size_t)oneoff);
		ms->object = xasprintf("j/%s/%s.tar", s->id, ms->name);
		if (oneoff) {
			strvec_push(&ms->overrides, "path=/elsewhere");
			m->partial = 1;
		}
	}
	free(list);
	if (failed) {
		list = xstrdup(failed);
		for (char *w = strtok_r(list, " ", &save); w; w = strtok_r(NULL, " ", &save))
			manifest_add_failed(m, w, "files", "it broke", 0);
		free(list);
	}
	f->m[f->n++] = m;
	return m;
}

static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	f->sets.v = f->v;
	f->sets.manifest = get_manifest;
	f->sets.ud = f;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	restore_plan_free(&f->plan);
	strvec_free(&f->logs);
	for (size_t i = 0; i < f->n; i++)
		manifest_free(f->m[i]);
	free(f);
	return 0;
}

static int
make(struct fixture *f, size_t base, int by_id, const time_t *at, const struct strvec *only)
{
	struct restore_query q = {.base = base, .by_id = by_id, .at = at, .only = only, .now = NOW};
	f->sets.n = f->n;
	restore_plan_free(&f->plan);
	return restore_plan_make(&f->sets, &q, &f->plan);
}

/* With logs: --at at (NULL: latest), until_ms its second's last
 * millisecond (INT64_MAX for latest). */
static int
make_logs(struct fixture *f, size_t base, const time_t *at, const struct strvec *only)
{
	struct restore_query q = {.base = base,
	                          .at = at,
	                          .only = only,
	                          .now = NOW,
	                          .with_logs = 1,
	                          .until_ms = at ? (int64_t)*at * 1000 + 999 : INT64_MAX,
	                          .has_log = has_log,
	                          .log_ud = f};
	f->sets.n = f->n;
	restore_plan_free(&f->plan);
	return restore_plan_make(&f->sets, &q, &f->plan);
}

static const struct restore_step *
step_of(const struct fixture *f, const char *name)
{
	for (size_t i = 0; i < f->plan.n; i++)
		if (strcmp(f->plan.steps[i].ms->name, name) == 0)
			return &f->plan.steps[i];
	return NULL;
}

/* The plan's step for source name: the set id it comes from. */
static const char *
from(const struct fixture *f, const char *name)
{
	const struct restore_step *st = step_of(f, name);
	return st ? st->id : NULL;
}

/* The newest set holds every source: all come from it, in its order, and
 * no older manifest is read. */
static void
test_newest_holds_all(void **state)
{
	struct fixture *f = *state;
	add_set(f, 2, "a b", NULL);
	add_set(f, 1, "a b", NULL);
	assert_int_equal(make(f, 1, 0, NULL, NULL), 0);
	assert_int_equal(f->plan.n, 2);
	assert_string_equal(f->plan.steps[0].ms->name, "a");
	assert_string_equal(f->plan.steps[1].ms->name, "b");
	assert_ptr_equal(f->plan.steps[0].ms, &f->m[1]->sources[0]);
	assert_string_equal(f->plan.steps[0].id, f->v[1].id);
	assert_int_equal(f->plan.nlacks, 0);
	assert_int_equal(f->asked[0], 0);
}

/* A partial newest set: the source it lacks comes from the newest set
 * that has it; the others from the newest. */
static void
test_partial_takes_older(void **state)
{
	struct fixture *f = *state;
	add_set(f, 3, "a b", NULL);
	add_set(f, 2, "a b", NULL);
	add_set(f, 1, "a", "b");
	assert_int_equal(make(f, 2, 0, NULL, NULL), 0);
	assert_int_equal(f->plan.n, 2);
	assert_string_equal(from(f, "a"), f->v[2].id);
	assert_string_equal(from(f, "b"), f->v[1].id);
	assert_ptr_equal(f->plan.steps[1].ms, &f->m[1]->sources[1]);
	assert_int_equal(f->plan.nlacks, 0); /* only --id's partial set is warned of */
}

/* --id: every source from that set, even an older one's holding more; a
 * partial one lists what it lacks, each with the newest set that has
 * it. */
static void
test_by_id(void **state)
{
	struct fixture *f = *state;
	add_set(f, 3, "a b", NULL);
	add_set(f, 2, "a", "b");
	add_set(f, 1, "a b", NULL);
	assert_int_equal(make(f, 1, 1, NULL, NULL), 0);
	assert_int_equal(f->plan.n, 1);
	assert_string_equal(from(f, "a"), f->v[1].id);
	assert_int_equal(f->plan.nlacks, 1);
	assert_string_equal(f->plan.lacks[0].name, "b");
	assert_string_equal(f->plan.lacks[0].newest, f->v[2].id);
	assert_non_null(f->plan.lacks[0].lack);
	assert_string_equal(f->plan.lacks[0].lack->error, "it broke");
}

/* --id with --source: only that source, no word of what the set lacks. */
static void
test_by_id_with_source(void **state)
{
	struct fixture *f = *state;
	struct strvec only = {0};
	add_set(f, 2, "a b", NULL);
	add_set(f, 1, "a", "b");
	strvec_push(&only, "a");
	assert_int_equal(make(f, 1, 1, NULL, &only), 0);
	assert_int_equal(f->plan.n, 1);
	assert_string_equal(from(f, "a"), f->v[1].id);
	assert_int_equal(f->plan.nlacks, 0);
	strvec_free(&only);
}

/* --id of a set lacking the --source asked: the gap names it, why the set
 * lacks it and the newest set that has it. */
static void
test_by_id_missing(void **state)
{
	struct fixture *f = *state;
	struct strvec only = {0};
	add_set(f, 2, "a b", NULL);
	add_set(f, 1, "a", "b");
	strvec_push(&only, "b");
	assert_int_equal(make(f, 1, 1, NULL, &only), -1);
	assert_string_equal(f->plan.missing.name, "b");
	assert_non_null(f->plan.missing.lack);
	assert_false(f->plan.missing.lack->skipped);
	assert_string_equal(f->plan.missing.newest, f->v[0].id);
	strvec_free(&only);
}

/* --at: each source from the newest set at or before it; a newer set
 * that has the source does not count, but is named as the newest that
 * holds it. */
static void
test_at(void **state)
{
	struct fixture *f = *state;
	time_t at = NOW - 2 * DAY;
	add_set(f, 4, "a b", NULL);
	add_set(f, 3, "a", "b");
	add_set(f, 2, "a", "b");
	add_set(f, 1, "a b", NULL);
	assert_int_equal(make(f, 2, 0, &at, NULL), 0);
	assert_string_equal(from(f, "a"), f->v[2].id);
	assert_string_equal(from(f, "b"), f->v[0].id);
	assert_int_equal(f->asked[3], 0); /* after --at: never read */
}

/* No set at or before --at holds a source the base set failed: the gap,
 * pointing to the newest set that has it (after --at). */
static void
test_at_missing(void **state)
{
	struct fixture *f = *state;
	time_t at = NOW - 2 * DAY;
	add_set(f, 2, "a", "b");
	add_set(f, 1, "a b", NULL);
	assert_int_equal(make(f, 0, 0, &at, NULL), -1);
	assert_string_equal(f->plan.missing.name, "b");
	assert_string_equal(f->plan.missing.lack->error, "it broke");
	assert_string_equal(f->plan.missing.newest, f->v[1].id);
	assert_int_equal(f->plan.n, 1); /* what came before the gap */
}

/* A source no set holds at all: newest is NULL; a --source the base does
 * not know has no lack either. */
static void
test_nowhere(void **state)
{
	struct fixture *f = *state;
	struct strvec only = {0};
	add_set(f, 1, "a", NULL);
	strvec_push(&only, "zz");
	assert_int_equal(make(f, 0, 0, NULL, &only), -1);
	assert_string_equal(f->plan.missing.name, "zz");
	assert_null(f->plan.missing.lack);
	assert_null(f->plan.missing.newest);
	strvec_free(&only);
}

/* A one-off set (backup --set) is no full backup of its source: without
 * --id the source comes from an older set; with --id from the one-off. */
static void
test_oneoff(void **state)
{
	struct fixture *f = *state;
	add_set(f, 2, "a", NULL);
	add_set(f, 1, "a*", NULL);
	assert_int_equal(make(f, 1, 0, NULL, NULL), 0);
	assert_string_equal(from(f, "a"), f->v[0].id);
	assert_int_equal(make(f, 1, 1, NULL, NULL), 0);
	assert_string_equal(from(f, "a"), f->v[1].id);
}

/* Sets whose manifest cannot be read, incomplete sets and sets whose id
 * lies in the future are passed over; an unreadable base is a failure
 * with no name. */
static void
test_passed_over(void **state)
{
	struct fixture *f = *state;
	add_set(f, 4, "a b", NULL);
	add_set(f, 3, "a b", NULL);
	add_set(f, 2, "a", "b");
	add_set(f, -30, "a b", NULL); /* 30 days ahead */
	manifest_free(f->m[1]);
	f->m[1] = NULL;
	f->v[0].complete = 0;
	assert_int_equal(make(f, 2, 0, NULL, NULL), -1);
	assert_string_equal(f->plan.missing.name, "b");
	assert_null(f->plan.missing.newest);
	assert_int_equal(f->asked[3], 0);
	assert_int_equal(f->asked[0], 0);
	f->v[0].complete = 1;
	assert_int_equal(make(f, 2, 0, NULL, NULL), 0);
	assert_string_equal(from(f, "b"), f->v[0].id);
	assert_int_equal(make(f, 1, 0, NULL, NULL), -1);
	assert_null(f->plan.missing.name);
}

/* A source left out of the base run (backup --source) is "skipped". */
static void
test_skipped(void **state)
{
	struct fixture *f = *state;
	struct manifest *m = add_set(f, 1, "a", NULL);
	manifest_add_failed(m, "b", "files", "left out with --source", 1);
	assert_int_equal(make(f, 0, 0, NULL, NULL), -1);
	assert_string_equal(f->plan.missing.name, "b");
	assert_true(f->plan.missing.lack->skipped);
}

/* --at with a log: the base is the newest set whose recorded position
 * lies at or before --at, replayed after its end position (the dump is
 * consistent there); a source without a log is planned as before. */
static void
test_log_at(void **state)
{
	struct fixture *f = *state;
	time_t at;
	set_log(add_set(f, 3, "a b", NULL), "a", 0, 60);
	set_log(add_set(f, 2, "a b", NULL), "a", 0, 60);
	set_log(add_set(f, 1, "a b", NULL), "a", 0, 60);
	strvec_push(&f->logs, "a");
	at = f->v[1].time + 3600; /* an hour after the middle set */
	assert_int_equal(make_logs(f, 1, &at, NULL), 0);
	const struct restore_step *st = step_of(f, "a");
	assert_non_null(st);
	assert_true(st->replay);
	assert_string_equal(st->id, f->v[1].id);
	assert_string_equal(st->after.text, f->m[1]->sources[0].log_end.text);
	assert_int_equal(st->after.time_ms, (int64_t)(f->v[1].time + 60) * 1000);
	st = step_of(f, "b");
	assert_false(st->replay);
	assert_string_equal(st->id, f->v[1].id);
	assert_int_equal(f->asked[2], 0); /* after --at: never read */
}

/* The set was taken at or before --at, but its dump is consistent only
 * after it: the base is the set before, whose log then covers --at. */
static void
test_log_at_inside_dump(void **state)
{
	struct fixture *f = *state;
	time_t at;
	set_log(add_set(f, 2, "a", NULL), "a", 0, 600);
	set_log(add_set(f, 1, "a", NULL), "a", 0, 600);
	strvec_push(&f->logs, "a");
	at = f->v[1].time + 300; /* the newer dump was still running */
	assert_int_equal(make_logs(f, 1, &at, NULL), 0);
	assert_true(step_of(f, "a")->replay);
	assert_string_equal(from(f, "a"), f->v[0].id);
	/* the last millisecond of the second where the dump ended counts */
	at = f->v[1].time + 600;
	assert_int_equal(make_logs(f, 1, &at, NULL), 0);
	assert_string_equal(from(f, "a"), f->v[1].id);
	/* without an end position, the start one is the base's */
	f->m[1]->sources[0].has_log_end = 0;
	at = f->v[1].time + 1;
	assert_int_equal(make_logs(f, 1, &at, NULL), 0);
	assert_string_equal(from(f, "a"), f->v[1].id);
	assert_string_equal(step_of(f, "a")->after.text, f->m[1]->sources[0].log_start.text);
}

/* --at latest: the newest set that recorded a position, replayed to the
 * end; a newer set without a position (taken before the source could
 * follow, or by an older cairn) or a one-off is no base. */
static void
test_log_latest(void **state)
{
	struct fixture *f = *state;
	set_log(add_set(f, 3, "a", NULL), "a", 0, -1);
	add_set(f, 2, "a", NULL);
	set_log(add_set(f, 1, "a*", NULL), "a", 0, -1);
	strvec_push(&f->logs, "a");
	assert_int_equal(make_logs(f, 2, NULL, NULL), 0);
	assert_true(step_of(f, "a")->replay);
	assert_string_equal(from(f, "a"), f->v[0].id);
	assert_string_equal(step_of(f, "a")->after.text, f->m[0]->sources[0].log_start.text);
}

/* A source with a log but no set that recorded a position at or before
 * --at: restored as before, from the newest set, without a replay; and
 * --id never replays. */
static void
test_log_no_base(void **state)
{
	struct fixture *f = *state;
	time_t at;
	add_set(f, 2, "a", NULL);
	set_log(add_set(f, 1, "a", NULL), "a", 0, -1);
	strvec_push(&f->logs, "a");
	at = f->v[1].time - 1;
	assert_int_equal(make_logs(f, 0, &at, NULL), 0);
	assert_false(step_of(f, "a")->replay);
	assert_string_equal(from(f, "a"), f->v[0].id);
	assert_int_equal(make(f, 1, 1, NULL, NULL), 0);
	assert_false(step_of(f, "a")->replay);
	/* a source with positions but no log in the sink: no replay */
	strvec_free(&f->logs);
	assert_int_equal(make_logs(f, 1, NULL, NULL), 0);
	assert_false(step_of(f, "a")->replay);
	assert_string_equal(from(f, "a"), f->v[1].id);
}

/* --source with logs: only the sources asked, each with its own base. */
static void
test_log_only(void **state)
{
	struct fixture *f = *state;
	struct strvec only = {0};
	time_t at;
	set_log(add_set(f, 2, "a b", NULL), "b", 0, -1);
	set_log(add_set(f, 1, "a", "b"), "a", 0, -1);
	strvec_push(&f->logs, "a");
	strvec_push(&f->logs, "b");
	strvec_push(&only, "b");
	at = NOW;
	assert_int_equal(make_logs(f, 1, &at, &only), 0);
	assert_int_equal(f->plan.n, 1);
	assert_true(f->plan.steps[0].replay);
	assert_string_equal(from(f, "b"), f->v[0].id);
	strvec_free(&only);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_newest_holds_all, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_partial_takes_older, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_by_id, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_by_id_with_source, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_by_id_missing, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_at, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_at_missing, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_nowhere, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_oneoff, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_passed_over, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_skipped, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_log_at, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_log_at_inside_dump, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_log_latest, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_log_no_base, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_log_only, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
