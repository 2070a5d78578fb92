/*
 * test_plugin_keys.c - unit tests of the key name rules in
 * src/plugin_keys.c: which written key names which table entry (the
 * secret KEY_file / KEY_env rule that the INI check, --set and the loader
 * share) and the names of key types.  config_typed() is tested through an
 * INI file in test_config.c.
 */
#include "autoconf.h"

#include <string.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "plugin_keys.h"

static const struct cairn_key plain = {.name = "path", .type = CAIRN_KEY_PATH};
static const struct cairn_key secret = {
        .name = "password", .type = CAIRN_KEY_STRING, .flags = CAIRN_KEY_SECRET};

static enum key_match
match(const struct cairn_key *k, const char *key)
{
	return key_match(k, key, strlen(key));
}

static void
key_match_exact_names_any_key(void **state)
{
	(void)state;
	assert_int_equal(match(&plain, "path"), KEY_EXACT);
	assert_int_equal(match(&secret, "password"), KEY_EXACT);
	assert_int_equal(match(&plain, "pat"), KEY_NO_MATCH);
	assert_int_equal(match(&plain, "paths"), KEY_NO_MATCH);
	assert_int_equal(match(&plain, ""), KEY_NO_MATCH);
}

static void
key_match_file_and_env_only_for_secrets(void **state)
{
	(void)state;
	assert_int_equal(match(&secret, "password_file"), KEY_SECRET_FILE);
	assert_int_equal(match(&secret, "password_env"), KEY_SECRET_ENV);
	assert_int_equal(match(&plain, "path_file"), KEY_NO_MATCH);
	assert_int_equal(match(&plain, "path_env"), KEY_NO_MATCH);
	assert_int_equal(match(&secret, "password_files"), KEY_NO_MATCH);
	assert_int_equal(match(&secret, "password_fil"), KEY_NO_MATCH);
	assert_int_equal(match(&secret, "password_"), KEY_NO_MATCH);
	assert_int_equal(match(&secret, "passwordfile"), KEY_NO_MATCH);
}

static void
key_match_reads_only_len_bytes(void **state)
{
	/* --set gives "KEY=VALUE": the key is what comes before '=' */
	(void)state;
	assert_int_equal(key_match(&secret, "password_env=PW", 12), KEY_SECRET_ENV);
	assert_int_equal(key_match(&plain, "path=/srv", 4), KEY_EXACT);
	assert_int_equal(key_match(&plain, "path=/srv", 5), KEY_NO_MATCH);
}

static void
key_type_names_every_type_and_no_other(void **state)
{
	static const struct {
		enum cairn_key_type t;
		const char *name;
	} all[] = {
	        {CAIRN_KEY_STRING, "string"},     {CAIRN_KEY_INT, "int"},
	        {CAIRN_KEY_BOOL, "bool"},         {CAIRN_KEY_SIZE, "size"},
	        {CAIRN_KEY_DURATION, "duration"}, {CAIRN_KEY_LIST, "list"},
	        {CAIRN_KEY_PATH, "path"},
	};
	(void)state;
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		assert_non_null(key_type_name(all[i].t));
		assert_string_equal(key_type_name(all[i].t), all[i].name);
		assert_non_null(key_type_word(all[i].t));
	}
	assert_null(key_type_name((enum cairn_key_type)0));
	assert_null(key_type_name((enum cairn_key_type)8));
	assert_null(key_type_name((enum cairn_key_type) - 1));
	assert_string_equal(key_type_word((enum cairn_key_type)99), "a value");
	assert_string_equal(key_type_word(CAIRN_KEY_INT), "a whole number");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(key_match_exact_names_any_key),
	        cmocka_unit_test(key_match_file_and_env_only_for_secrets),
	        cmocka_unit_test(key_match_reads_only_len_bytes),
	        cmocka_unit_test(key_type_names_every_type_and_no_other),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
