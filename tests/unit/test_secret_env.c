/*
 * test_secret_env.c - unit tests of src/secret_env.c: the variables that
 * hold secrets, which hooks never see: those KEY_env keys of the INI file
 * and of --set name, and those a plugin declares as secret_env.
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include "config.h"
#include "plugin.h"
#include "secret_env.h"

#define REAL_PLUGINS TEST_BUILDDIR "/plugins/.libs"

static char dir[] = "/tmp/cairn-test-secret-env.XXXXXX";

static struct config *
load(const char *text)
{
	char *path = path_join(dir, "cairn.ini"), *err = NULL;
	FILE *f = fopen(path, "w");
	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	struct config *cfg = config_load(path, &err);
	if (!cfg)
		fail_msg("%s", err);
	free(path);
	return cfg;
}

static void
ini_and_command_line_names(void **state)
{
	(void)state;
	struct config *cfg = load("[source r]\nplugin = nothere\npassword_env = R_PW\n"
	                          "path_envy = not-a-secret\n\n"
	                          "[sink k]\nplugin = nothere\nsecret_key_env = K_PW\n\n"
	                          "[retention keep]\nkeep_last = 1\n");
	struct strvec sets = {0}, out = {0};
	strvec_push(&sets, "r.password_env=SCOPED_PW"); /* SOURCE.KEY_env */
	strvec_push(&sets, "password_env=PLAIN_PW");    /* KEY_env of any source */
	strvec_push(&sets, "r.path=/srv/x_env");        /* a value ending in _env */
	strvec_push(&sets, "level=3");                  /* no _env at all */
	strvec_push(&sets, "_env=NOT_A_KEY");           /* nothing before _env */
	strvec_push(&sets, "no-equals-sign_env");       /* not KEY=VALUE */
	secret_env_vars(cfg, NULL, &sets, &out);
	char *got = strvec_join(&out, " ");
	assert_string_equal(got, "SCOPED_PW PLAIN_PW R_PW K_PW");
	free(got);
	strvec_free(&out);
	/* without --set: the INI file's alone */
	secret_env_vars(cfg, NULL, NULL, &out);
	got = strvec_join(&out, " ");
	assert_string_equal(got, "R_PW K_PW");
	free(got);
	strvec_free(&out);
	strvec_free(&sets);
	config_free(cfg);
}

static void
a_plugins_own_credentials(void **state)
{
	(void)state;
	if (!plugin_built("s3"))
		skip();
	struct config *cfg = load("[sink far]\nplugin = s3\nbucket = b\n\n"
	                          "[sink gone]\nplugin = nothere\n");
	struct plugin_registry reg;
	struct strvec out = {0};
	setenv("CAIRN_PLUGIN_PATH", REAL_PLUGINS, 1);
	registry_init(&reg, NULL);
	/* a plugin that does not load is skipped: said where it is made */
	secret_env_vars(cfg, &reg, NULL, &out);
	assert_true(strvec_contains(&out, "AWS_SECRET_ACCESS_KEY"));
	assert_true(strvec_contains(&out, "AWS_ACCESS_KEY_ID"));
	assert_true(strvec_contains(&out, "AWS_SESSION_TOKEN"));
	strvec_free(&out);
	registry_free(&reg);
	config_free(cfg);
	unsetenv("CAIRN_PLUGIN_PATH");
}

static int
setup(void **state)
{
	(void)state;
	return mkdtemp(dir) ? 0 : -1;
}

static int
teardown(void **state)
{
	(void)state;
	rm_tree(dir);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(ini_and_command_line_names),
	        cmocka_unit_test(a_plugins_own_credentials),
	};
	return cmocka_run_group_tests(tests, setup, teardown);
}
