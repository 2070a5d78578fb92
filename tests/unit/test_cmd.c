/*
 * test_cmd.c - unit tests of src/cmd_common.c: the one map from outcomes
 * to exit codes, and what make_instance() makes of each way a plugin
 * section can fail: a plugin that cannot be loaded (4) is not a plugin's
 * own "not found" (1), and neither is a wrong section (3).
 */
#include "autoconf.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include "cmd.h"
#include "log.h"

static void
exit_for_maps_every_outcome(void **state)
{
	static const struct {
		int rc, exit;
	} map[] = {
	        {CAIRN_OK, CAIRN_EXIT_OK},
	        {CAIRN_E_CONFIG, CAIRN_EXIT_CONFIG},
	        {CAIRN_E_IO, CAIRN_EXIT_FAILED},
	        {CAIRN_E_AUTH, CAIRN_EXIT_FAILED},
	        /* a plugin's own "not found" (a missing bucket) is a failure */
	        {CAIRN_E_NOTFOUND, CAIRN_EXIT_FAILED},
	        {CAIRN_E_CORRUPT, CAIRN_EXIT_CORRUPT},
	        {CAIRN_E_RETRYABLE, CAIRN_EXIT_FAILED},
	        {CAIRN_E_NOMEM, CAIRN_EXIT_FAILED},
	        {CAIRN_E_UNSUPPORTED, CAIRN_EXIT_FAILED},
	        {CAIRN_E_EXISTS, CAIRN_EXIT_EXISTS},
	        {CAIRN_E_LOCKED, CAIRN_EXIT_LOCKED},
	        /* a plugin that cannot be loaded */
	        {INSTANCE_E_PLUGIN, CAIRN_EXIT_PLUGIN},
	        {-99, CAIRN_EXIT_FAILED},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (exit_for(map[i].rc) != map[i].exit)
			fail_msg("exit_for(%d) = %d, want %d", map[i].rc, exit_for(map[i].rc),
			         map[i].exit);
	assert_int_not_equal(INSTANCE_E_PLUGIN, CAIRN_E_NOTFOUND);
}

static void
exit_for_a_cancel_names_the_signal(void **state)
{
	(void)state;
	cancel_signal = SIGINT;
	assert_int_equal(exit_for(CAIRN_E_CANCELLED), CAIRN_EXIT_INTERRUPTED);
	cancel_signal = SIGTERM;
	assert_int_equal(exit_for(CAIRN_E_CANCELLED), 128 + SIGTERM);
	cancel_signal = 0;
}

/* A configuration with one source section per case, plugins from the
 * test plugins' directory only. */
struct fx {
	char dir[64];
	char path[128];
	struct cli c;
};

static const struct command test_row = {"test", NULL, CMD_CONFIG, NULL, NULL};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	FILE *fp;
	strcpy(f->dir, "/tmp/cairn-test-cmd-XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/cfg.ini", f->dir);
	fp = fopen(f->path, "w");
	if (!fp)
		return -1;
	fprintf(fp,
	        "[cairn]\nstate_dir = %s/state\nplugin_dir = %s\n\n"
	        "[source gone]\nplugin = nosuchplugin\n\n"
	        "[source missingdb]\nplugin = createnotfound\n\n"
	        "[source wrong]\nplugin = wrongkind\n\n"
	        "[source badkey]\nplugin = createnotfound\ncolour = red\n",
	        f->dir, TEST_PLUGINDIR);
	fclose(fp);
	/* only plugin_dir: the built plugins are not wanted here */
	unsetenv("CAIRN_PLUGIN_PATH");
	f->c.cmd = &test_row;
	f->c.config_path = f->path;
	f->c.lockfd = -1;
	log_level = CAIRN_LOG_ERROR - 1; /* the errors are expected */
	*state = f;
	return load_config(&f->c);
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	if (f->c.reg_ready)
		registry_free(&f->c.reg);
	config_free(f->c.cfg);
	rm_tree(f->dir);
	free(f);
	return 0;
}

static void
make_instance_tells_the_failures_apart(void **state)
{
	struct fx *f = *state;
	struct instance *in = NULL;

	assert_int_equal(make_instance(&f->c, SECTION_SOURCE, "gone", NULL, &in),
	                 CAIRN_EXIT_PLUGIN);
	assert_null(in);
	assert_int_equal(make_instance(&f->c, SECTION_SOURCE, "wrong", NULL, &in),
	                 CAIRN_EXIT_CONFIG);
	assert_int_equal(make_instance(&f->c, SECTION_SOURCE, "badkey", NULL, &in),
	                 CAIRN_EXIT_CONFIG);
	assert_int_equal(make_instance(&f->c, SECTION_SOURCE, "nosection", NULL, &in),
	                 CAIRN_EXIT_CONFIG);
	assert_null(in);
}

static void
make_instance_a_plugins_not_found_is_a_failure(void **state)
{
	struct fx *f = *state;
	struct instance *in = NULL;
	assert_int_equal(make_instance(&f->c, SECTION_SOURCE, "missingdb", NULL, &in),
	                 CAIRN_EXIT_FAILED);
	assert_null(in);
}

/* What a manifest keeps of backup --set: a secret's inline value never,
 * where it is read from (_file, _env) and every other key as given. */
static void
set_for_record_hides_a_secrets_value(void **state)
{
	static const struct cairn_key keys[] = {
	        {.name = "password", .type = CAIRN_KEY_STRING, .flags = CAIRN_KEY_SECRET},
	        {.name = "include", .type = CAIRN_KEY_LIST},
	        {.name = NULL}};
	struct loaded_plugin lp = {.name = (char *)"fake"};
	static const char *const cases[][2] = {
	        {"password=hunter2", "password=(secret)"},
	        {"password=", "password=(secret)"},
	        {"password_file=/etc/cairn/pw", "password_file=/etc/cairn/pw"},
	        {"password_env=PW", "password_env=PW"},
	        {"include=orders=x", "include=orders=x"},
	        {"passwordx=1", "passwordx=1"}};
	(void)state;
	lp.desc.keys = keys;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *r = set_for_record(&lp, cases[i][0]);
		assert_string_equal(r, cases[i][1]);
		free(r);
	}
}

/* A key's flags say in which runs --set may give it. */
static void
plugin_takes_is_phase_aware(void **state)
{
	static const struct cairn_key keys[] = {
	        {.name = "path", .type = CAIRN_KEY_PATH},
	        {.name = "exclude", .type = CAIRN_KEY_LIST, .flags = CAIRN_KEY_NO_RESTORE},
	        {.name = "flush", .type = CAIRN_KEY_BOOL, .flags = CAIRN_KEY_NO_BACKUP},
	        {.name = "password",
	         .type = CAIRN_KEY_STRING,
	         .flags = CAIRN_KEY_SECRET | CAIRN_KEY_NO_BACKUP},
	        {.name = NULL}};
	struct loaded_plugin lp = {.name = "t", .desc = {.keys = keys}};
	struct strvec sets = {0}, ov = {0};
	(void)state;
	assert_int_equal(plugin_takes(&lp, "path=x", 4, SET_RESTORE), TAKES_YES);
	assert_int_equal(plugin_takes(&lp, "path", 4, SET_BACKUP), TAKES_YES);
	assert_int_equal(plugin_takes(&lp, "exclude", 7, SET_RESTORE), TAKES_NO_EFFECT);
	assert_int_equal(plugin_takes(&lp, "exclude", 7, SET_VERIFY), TAKES_NO_EFFECT);
	assert_int_equal(plugin_takes(&lp, "exclude", 7, SET_BACKUP), TAKES_YES);
	assert_int_equal(plugin_takes(&lp, "flush", 5, SET_RESTORE), TAKES_YES);
	assert_int_equal(plugin_takes(&lp, "flush", 5, SET_BACKUP), TAKES_NO_EFFECT);
	/* a secret's _file and _env forms are the key, flags and all */
	assert_int_equal(plugin_takes(&lp, "password_file", 13, SET_BACKUP), TAKES_NO_EFFECT);
	assert_int_equal(plugin_takes(&lp, "password_env", 12, SET_RESTORE), TAKES_YES);
	assert_int_equal(plugin_takes(&lp, "exclud", 6, SET_BACKUP), TAKES_NOT);
	assert_string_equal(set_phase_name(SET_BACKUP), "backup");
	assert_string_equal(set_phase_name(SET_RESTORE), "restore");

	/* plain keys reach a plugin only where they have an effect; a scoped
	 * one always reaches its source (check_sets refused it before) */
	strvec_push(&sets, "exclude=a");
	strvec_push(&sets, "flush=yes");
	strvec_push(&sets, "src.exclude=b");
	strvec_push(&sets, "other.path=c");
	overrides_for(&sets, "src", &lp, SET_RESTORE, &ov);
	assert_int_equal(ov.n, 2);
	assert_string_equal(ov.v[0], "flush=yes");
	assert_string_equal(ov.v[1], "exclude=b");
	strvec_free(&ov);
	overrides_for(&sets, "src", &lp, SET_BACKUP, &ov);
	assert_int_equal(ov.n, 2);
	assert_string_equal(ov.v[0], "exclude=a");
	assert_string_equal(ov.v[1], "exclude=b");
	strvec_free(&ov);
	strvec_free(&sets);
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(exit_for_maps_every_outcome),
	        cmocka_unit_test(exit_for_a_cancel_names_the_signal),
	        cmocka_unit_test(plugin_takes_is_phase_aware),
	        T(make_instance_tells_the_failures_apart),
	        T(make_instance_a_plugins_not_found_is_a_failure),
	        cmocka_unit_test(set_for_record_hides_a_secrets_value),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
