/* test_plugin.c - loading plugins: every way a load can fail says why, and a
 * good plugin's descriptor is read only as far as its struct_size. */
#include "autoconf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cairn.h"
#include "config.h"
#include "plugin.h"
#include "util.h"

#define REAL_PLUGINS TEST_BUILDDIR "/plugins/.libs"

static char *
load_error(const char *file)
{
	char *path = xasprintf("%s/%s", TEST_PLUGINDIR, file), *err = NULL;
	struct loaded_plugin *lp = plugin_load_path(path, NULL, &err);
	assert_null(lp);
	assert_non_null(err);
	free(path);
	return err;
}

static void
another_abi_major_is_refused_naming_both_abis(void **state)
{
	char *err = load_error("badabi.so");
	assert_non_null(strstr(err, "badabi.so"));
	assert_non_null(strstr(err, "ABI 99"));
	assert_non_null(strstr(err, "ABI 1"));
	free(err);
}

static void
a_module_without_entry_symbol_is_not_a_plugin(void **state)
{
	char *err = load_error("noentry.so");
	assert_non_null(strstr(err, "noentry.so"));
	assert_non_null(strstr(err, "cairn_plugin_entry"));
	free(err);
}

static void
a_missing_shared_library_is_named(void **state)
{
	char *err = load_error("missingdep.so");
	/* libltdl alone says "file not found"; the user needs the library */
	assert_non_null(strstr(err, "missingdep.so"));
	assert_non_null(strstr(err, "libcairn-testdep-gone.so.0"));
	assert_null(strstr(err, "file not found"));
	free(err);
}

static void
a_plugin_not_in_the_path_names_the_directories_searched(void **state)
{
	struct plugin_registry reg;
	char *err = NULL;
	setenv("CAIRN_PLUGIN_PATH", "/nonexistent/a:/nonexistent/b", 1);
	registry_init(&reg, "/nonexistent/dir");
	assert_null(registry_load(&reg, "nosuch", &err));
	assert_non_null(strstr(err, "no plugin named nosuch"));
	assert_non_null(strstr(err, "/nonexistent/dir, /nonexistent/a, /nonexistent/b, " CAIRN_PLUGINDIR));
	free(err);
	registry_free(&reg);
}

static void
plugin_dir_comes_before_the_environment(void **state)
{
	struct plugin_registry reg;
	char *err = NULL;
	/* wrongkind exists only in the test plugin dir; local in both orders */
	setenv("CAIRN_PLUGIN_PATH", REAL_PLUGINS, 1);
	registry_init(&reg, TEST_PLUGINDIR);
	struct loaded_plugin *lp = registry_load(&reg, "wrongkind", &err);
	assert_non_null(lp);
	assert_string_equal(lp->path, TEST_PLUGINDIR "/wrongkind.so");
	lp = registry_load(&reg, "local", &err);
	assert_non_null(lp);
	assert_string_equal(lp->path, REAL_PLUGINS "/local.so");
	/* cached: the same object again */
	assert_ptr_equal(registry_load(&reg, "local", &err), lp);
	registry_free(&reg);
}

static void
the_real_plugins_load_with_their_keys(void **state)
{
	char *err = NULL;
	struct loaded_plugin *files = plugin_load_path(REAL_PLUGINS "/files.so", "files", &err);
	struct loaded_plugin *local = plugin_load_path(REAL_PLUGINS "/local.so", "local", &err);
	assert_non_null(files);
	assert_non_null(local);
	assert_int_equal(files->desc.kind, CAIRN_KIND_SOURCE);
	assert_int_equal(local->desc.kind, CAIRN_KIND_SINK);
	assert_string_equal(files->desc.keys[0].name, "path");
	assert_true(files->desc.keys[0].flags & CAIRN_KEY_REQUIRED);
	assert_non_null(files->source.backup);
	assert_non_null(local->sink.abort);
	plugin_unload(files);
	plugin_unload(local);
}

static void
a_renamed_module_is_refused(void **state)
{
	char dir[] = "/tmp/cairn-plugin-XXXXXX", *copy, *cmd, *err = NULL;
	assert_non_null(mkdtemp(dir));
	copy = xasprintf("%s/other.so", dir);
	cmd = xasprintf("cp %s/local.so %s", REAL_PLUGINS, copy);
	assert_int_equal(system(cmd), 0);
	assert_null(plugin_load_path(copy, "other", &err));
	assert_non_null(strstr(err, "calls itself \"local\""));
	free(err);
	unlink(copy);
	rmdir(dir);
	free(copy);
	free(cmd);
}

static void
fields_past_struct_size_read_as_null(void **state)
{
	char *err = NULL;
	struct loaded_plugin *lp = plugin_load_path(TEST_PLUGINDIR "/oldminor.so", "oldminor", &err);
	assert_non_null(lp);
	assert_non_null(lp->source.restore);
	/* the plugin filled verify in, but its ops table says it ends before */
	assert_null(lp->source.verify);
	assert_null(lp->source.restore_test);
	plugin_unload(lp);
}

static void
a_sink_plugin_in_a_source_section_is_a_config_error(void **state)
{
	char dir[] = "/tmp/cairn-plugin-XXXXXX", *ini, *err = NULL;
	FILE *fp;
	struct plugin_registry reg;
	struct instance *in = NULL;
	assert_non_null(mkdtemp(dir));
	ini = xasprintf("%s/c.ini", dir);
	fp = fopen(ini, "w");
	fputs("[source s]\nplugin = wrongkind\n\n[sink k]\nplugin = wrongkind\nsize = 2M\n"
	      "[sink bad]\nplugin = wrongkind\nsize = lots\n"
	      "[job j]\nsources = s\nsinks = k\n", fp);
	fclose(fp);
	struct cairn_cfg *cfg = config_load(ini, &err);
	assert_non_null(cfg);
	registry_init(&reg, TEST_PLUGINDIR);
	assert_int_equal(instance_create(&reg, cfg, config_section(cfg, SECTION_SOURCE, "s"), NULL,
	                                 &in, &err), CAIRN_E_CONFIG);
	assert_non_null(strstr(err, "c.ini:1: [source s] plugin: wrongkind is a sink plugin, not a source plugin"));
	free(err);
	err = NULL;
	/* the same plugin as a sink is fine, and its key was checked */
	assert_int_equal(instance_create(&reg, cfg, config_section(cfg, SECTION_SINK, "k"), NULL,
	                                 &in, &err), 0);
	instance_destroy(in);
	assert_int_equal(instance_create(&reg, cfg, config_section(cfg, SECTION_SINK, "bad"), NULL,
	                                 &in, &err), CAIRN_E_CONFIG);
	assert_non_null(strstr(err, "c.ini:9: [sink bad] size: \"lots\" is not a size"));
	free(err);
	registry_free(&reg);
	config_free(cfg);
	unlink(ini);
	rmdir(dir);
	free(ini);
}

static void
an_unknown_plugin_names_the_line_of_its_plugin_key(void **state)
{
	char dir[] = "/tmp/cairn-plugin-XXXXXX", *ini, *err = NULL, *want;
	FILE *fp;
	struct plugin_registry reg;
	struct instance *in = NULL;
	(void)state;
	assert_non_null(mkdtemp(dir));
	ini = xasprintf("%s/c.ini", dir);
	fp = fopen(ini, "w");
	fputs("[sink k]\n; which one\nplugin = nosuch\n", fp);
	fclose(fp);
	struct cairn_cfg *cfg = config_load(ini, &err);
	assert_non_null(cfg);
	registry_init(&reg, TEST_PLUGINDIR);
	assert_int_equal(instance_create(&reg, cfg, config_section(cfg, SECTION_SINK, "k"), NULL,
	                                 &in, &err), CAIRN_E_NOTFOUND);
	/* FILE:LINE: [kind name] key: what; what to do, with the search detail */
	want = xasprintf("%s:3: [sink k] plugin: no plugin named nosuch: no nosuch.so in %s",
	                 ini, TEST_PLUGINDIR);
	assert_non_null(strstr(err, want));
	assert_non_null(strstr(err, "install it, or point plugin_dir"));
	assert_null(strchr(err, '\n'));
	free(want);
	free(err);
	registry_free(&reg);
	config_free(cfg);
	unlink(ini);
	rmdir(dir);
	free(ini);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(another_abi_major_is_refused_naming_both_abis),
		cmocka_unit_test(a_module_without_entry_symbol_is_not_a_plugin),
		cmocka_unit_test(a_missing_shared_library_is_named),
		cmocka_unit_test(a_plugin_not_in_the_path_names_the_directories_searched),
		cmocka_unit_test(plugin_dir_comes_before_the_environment),
		cmocka_unit_test(the_real_plugins_load_with_their_keys),
		cmocka_unit_test(a_renamed_module_is_refused),
		cmocka_unit_test(fields_past_struct_size_read_as_null),
		cmocka_unit_test(a_sink_plugin_in_a_source_section_is_a_config_error),
		cmocka_unit_test(an_unknown_plugin_names_the_line_of_its_plugin_key),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
