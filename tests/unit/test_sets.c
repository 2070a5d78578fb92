/*
 * test_sets.c - unit tests of src/sets.c: backup sets as a sink holds them
 * (JOB/ID/OBJECT keys), listed, their manifests read, judged and bound to
 * the objects listed, removed, pinned, with an in-memory sink.
 */
#include "autoconf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "testutil.h"

#include "cairn.h"
#include "log.h"
#include "manifest.h"
#include "memplug.h"
#include "sets.h"

#define ID1 "20261126T020000Z"
#define ID2 "20261127T020000Z"

struct fixture {
	struct memsink ms;
	struct instance *sink;
	struct set_list l;
};

static int
setup(void **state)
{
	struct fixture *f = xcalloc(1, sizeof(*f));
	f->ms.fail_write_at = -1;
	f->ms.store = 1;
	f->sink = memsink_instance("mem", &f->ms);
	log_level = CAIRN_LOG_ERROR - 1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	set_list_free(&f->l);
	instance_destroy(f->sink);
	memsink_clear(&f->ms);
	free(f);
	return 0;
}

static void
put(struct fixture *f, const char *key, const char *data)
{
	char *err = NULL;
	assert_int_equal(sink_write_all(f->sink, key, data, strlen(data), &err), 0);
}

/* A set ID of job j holding source docs (object j/ID/docs.tar with data),
 * its manifest saying the object is stored_bytes long. */
static void
put_set(struct fixture *f, const char *id, const char *data, uint64_t stored_bytes)
{
	struct manifest m = {.format = MANIFEST_FORMAT};
	char *key = xasprintf("j/%s/docs.tar", id), *mkey = xasprintf("j/%s/manifest.json", id);
	put(f, key, data);
	m.cairn_version = xstrdup("0");
	m.job = xstrdup("j");
	m.id = xstrdup(id);
	m.host = xstrdup("h");
	m.sink = xstrdup("mem");
	struct manifest_source *s = manifest_add_source(&m);
	s->name = xstrdup("docs");
	s->plugin = xstrdup("files");
	s->plugin_version = xstrdup("1");
	s->object = xstrdup(key);
	s->compression = xstrdup("none");
	s->raw_bytes = s->stored_bytes = stored_bytes;
	memset(s->sha256, 'a', 64);
	char *json = manifest_to_json(&m);
	put(f, mkey, json);
	free(json);
	manifest_clear(&m);
	free(key);
	free(mkey);
}

static void
list(struct fixture *f)
{
	char *err = NULL;
	set_list_free(&f->l);
	assert_int_equal(sets_list(f->sink, "j", &f->l, &err), 0);
}

/* JOB/ID/NAME keys make sets, oldest first, with their objects' keys and
 * sizes; anything else under the job (deeper keys, bad ids, a bare id) is
 * not a set's, and another job's sets are not listed. */
static void
test_list_groups_sets(void **state)
{
	struct fixture *f = *state;
	put(f, "j/" ID2 "/docs.tar", "12345");
	put(f, "j/" ID2 "/pin", "{}");
	put(f, "j/" ID1 "/docs.tar", "abc");
	put(f, "j/" ID1 "/manifest.json", "{}");
	put(f, "j/" ID1 "/deeper/x", "zz");
	put(f, "j/notanid/docs.tar", "zz");
	put(f, "j/" ID1, "zz");
	put(f, "jj/" ID1 "/docs.tar", "zz");
	list(f);
	assert_int_equal(f->l.n, 2);
	assert_string_equal(f->l.v[0].id, ID1);
	assert_string_equal(f->l.v[1].id, ID2);
	assert_true(f->l.v[0].complete);
	assert_false(f->l.v[0].pinned);
	assert_false(f->l.v[1].complete);
	assert_true(f->l.v[1].pinned);
	assert_int_equal(f->l.v[0].keys.n, 2);
	assert_int_equal(f->l.v[0].bytes, 5);
	assert_int_equal(f->l.v[1].bytes, 7);
	for (size_t i = 0; i < f->l.v[1].keys.n; i++)
		if (strcmp(f->l.v[1].keys.v[i], "j/" ID2 "/docs.tar") == 0)
			assert_int_equal(f->l.v[1].sizes[i], 5);
	assert_contains(f->l.where, "set j/");
}

/* set_manifest reads a good manifest once and keeps it; an incomplete set
 * has none. */
static void
test_manifest_read_once(void **state)
{
	struct fixture *f = *state;
	const struct manifest *m, *again;
	char *err = NULL;
	put_set(f, ID1, "abc", 3);
	put(f, "j/" ID2 "/docs.tar", "abc");
	list(f);
	assert_int_equal(set_manifest(f->sink, "j", &f->l.v[0], &m, &err), 0);
	assert_string_equal(m->sources[0].name, "docs");
	assert_int_equal(set_manifest(f->sink, "j", &f->l.v[0], &again, &err), 0);
	assert_ptr_equal(m, again);
	assert_int_equal(set_manifest(f->sink, "j", &f->l.v[1], &m, &err), CAIRN_E_NOTFOUND);
	assert_contains(err, "has no manifest");
	free(err);
}

/* A manifest that describes another set (copied there, or planted) is
 * damage, named as such, and stays so on a second ask. */
static void
test_manifest_elsewhere_is_damage(void **state)
{
	struct fixture *f = *state;
	const struct manifest *m;
	char *err = NULL;
	struct memobj *o;
	put_set(f, ID1, "abc", 3);
	put(f, "j/" ID2 "/docs.tar", "abc");
	o = memsink_get(&f->ms, "j/" ID1 "/manifest.json");
	put(f, "j/" ID2 "/manifest.json", "");
	struct memobj *o2 = memsink_get(&f->ms, "j/" ID2 "/manifest.json");
	o2->data = xrealloc(o2->data, o->len);
	memcpy(o2->data, o->data, o->len);
	o2->len = o->len;
	list(f);
	assert_int_equal(set_manifest(f->sink, "j", &f->l.v[1], &m, &err), CAIRN_E_CORRUPT);
	assert_contains(err, "describes set j/" ID1);
	free(err);
	err = NULL;
	assert_int_equal(set_manifest(f->sink, "j", &f->l.v[1], &m, &err), CAIRN_E_CORRUPT);
	assert_null(m);
	free(err);
}

/* Issue 16: a set binds its objects to its manifest.  An object whose
 * listed size is not the size the manifest stored (another run's object
 * under the same id, or damage) makes the set damage, not counted; so
 * does a missing object. */
static void
test_manifest_bound_to_objects(void **state)
{
	struct fixture *f = *state;
	const struct manifest *m;
	char *err = NULL;
	put_set(f, ID1, "abcd", 3);
	put_set(f, ID2, "abc", 3);
	list(f);
	assert_int_equal(set_manifest(f->sink, "j", &f->l.v[0], &m, &err), CAIRN_E_CORRUPT);
	assert_contains(err, "object j/" ID1 "/docs.tar is 4 bytes, but its manifest says 3");
	assert_contains(err, "mixed with another run's objects");
	free(err);
	err = NULL;
	assert_int_equal(set_manifest(f->sink, "j", &f->l.v[1], &m, &err), 0);
	assert_int_equal(set_check_bound(&f->l.v[1], m, &err), 0);

	assert_int_equal(op_remove(f->sink, "j/" ID2 "/docs.tar"), 0);
	list(f);
	assert_int_equal(set_manifest(f->sink, "j", &f->l.v[1], &m, &err), CAIRN_E_CORRUPT);
	assert_contains(err, "j/" ID2 "/docs.tar, which its manifest lists, is missing");
	free(err);
}

/* manifest_check_place: only objects directly inside the set's own
 * prefix, each once, at least one source. */
static void
test_check_place(void **state)
{
	(void)state;
	struct manifest m = {0};
	char *why = NULL;
	m.job = xstrdup("j");
	m.id = xstrdup(ID1);
	assert_int_equal(manifest_check_place(&m, "j", ID1, &why), -1);
	assert_contains(why, "lists no sources");
	free(why);
	struct manifest_source *s = manifest_add_source(&m);
	s->name = xstrdup("docs");
	s->object = xstrdup("j/" ID2 "/docs.tar");
	assert_int_equal(manifest_check_place(&m, "j", ID1, &why), -1);
	assert_contains(why, "not an object of this set");
	free(why);
	free(s->object);
	s->object = xstrdup("j/" ID1 "/docs.tar");
	assert_int_equal(manifest_check_place(&m, "j", ID1, &why), 0);
	assert_int_equal(manifest_check_place(&m, "k", ID1, &why), -1);
	assert_contains(why, "describes set j/" ID1 ", not the set k/" ID1);
	free(why);
	s = manifest_add_source(&m);
	s->name = xstrdup("web");
	s->object = xstrdup("j/" ID1 "/docs.tar");
	assert_int_equal(manifest_check_place(&m, "j", ID1, &why), -1);
	assert_contains(why, "object j/" ID1 "/docs.tar is listed twice");
	free(why);
	manifest_clear(&m);
}

/* set_remove takes every object; set_check_objects names a committed key
 * that is gone. */
static void
test_remove_and_check_objects(void **state)
{
	struct fixture *f = *state;
	struct strvec keys = {0};
	char *err = NULL;
	put_set(f, ID1, "abc", 3);
	put_set(f, ID2, "abc", 3);
	strvec_push(&keys, "j/" ID1 "/docs.tar");
	strvec_push(&keys, "j/" ID1 "/manifest.json");
	assert_int_equal(set_check_objects(f->sink, "j", ID1, &keys, &err), 0);
	list(f);
	assert_int_equal(set_remove(f->sink, "j", &f->l.v[0], &err), 0);
	assert_null(memsink_get(&f->ms, "j/" ID1 "/docs.tar"));
	assert_null(memsink_get(&f->ms, "j/" ID1 "/manifest.json"));
	assert_non_null(memsink_get(&f->ms, "j/" ID2 "/docs.tar"));
	assert_int_equal(set_check_objects(f->sink, "j", ID1, &keys, &err), CAIRN_E_IO);
	assert_contains(err, "j/" ID1 "/docs.tar was committed but is gone from the sink");
	free(err);
	strvec_free(&keys);
}

/* sink_read_all reads whole objects up to its limit; beyond it is
 * damage; a missing one says so. */
static void
test_read_all_limit(void **state)
{
	struct fixture *f = *state;
	char big[10000], *buf = NULL, *err = NULL;
	size_t len;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	put(f, "k", big);
	assert_int_equal(sink_read_all(f->sink, "k", 16384, &buf, &len, &err), 0);
	assert_int_equal(len, sizeof(big) - 1);
	free(buf);
	assert_int_equal(sink_read_all(f->sink, "k", 4096, &buf, &len, &err), CAIRN_E_CORRUPT);
	assert_contains(err, "larger than the limit of 4096 bytes");
	free(err);
	err = NULL;
	assert_int_equal(sink_read_all(f->sink, "nope", 4096, &buf, &len, &err), CAIRN_E_NOTFOUND);
	assert_contains(err, "cannot read nope");
	free(err);
}

/* A pin is an object JOB/ID/pin saying who and why; unpin removes it, and
 * unpinning twice is no error. */
static void
test_pin_unpin(void **state)
{
	struct fixture *f = *state;
	char *err = NULL;
	put_set(f, ID1, "abc", 3);
	assert_int_equal(set_pin(f->sink, "j", ID1, "before the upgrade", &err), 0);
	struct memobj *o = memsink_get(&f->ms, "j/" ID1 "/pin");
	assert_non_null(o);
	char *text = xstrndup((const char *)o->data, o->len);
	assert_contains(text, "\"note\": \"before the upgrade\"");
	assert_contains(text, "\"id\": \"" ID1 "\"");
	free(text);
	list(f);
	assert_true(f->l.v[0].pinned);
	assert_int_equal(set_unpin(f->sink, "j", ID1, &err), 0);
	assert_null(memsink_get(&f->ms, "j/" ID1 "/pin"));
	assert_int_equal(set_unpin(f->sink, "j", ID1, &err), 0);
}

/* set_in_future: beyond the tolerance only. */
static void
test_in_future(void **state)
{
	(void)state;
	struct set_info s = {.time = 1000 + BACKUP_ID_FUTURE_TOLERANCE};
	assert_false(set_in_future(&s, 1000));
	s.time++;
	assert_true(set_in_future(&s, 1000));
	s.time = 10;
	assert_false(set_in_future(&s, 1000));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test_setup_teardown(test_list_groups_sets, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_manifest_read_once, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_manifest_elsewhere_is_damage, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_manifest_bound_to_objects, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_check_place, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_remove_and_check_objects, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_read_all_limit, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_pin_unpin, setup, teardown),
	        cmocka_unit_test_setup_teardown(test_in_future, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
