/* test_plugin.c - loading plugins: every way a load can fail says why, and a
 * good plugin's descriptor is read only as far as its struct_size. */
#include "autoconf.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "cairn.h"
#include "config.h"
#include "plugin.h"
#include "util.h"

#define REAL_PLUGINS TEST_BUILDDIR "/plugins/.libs"

/* A packager's subset build (--disable-local, ...) leaves plugins out:
 * make check says which were built; a test of a missing one skips. */
static void
need_plugin(const char *name)
{
	const char *built = getenv("CAIRN_BUILT_PLUGINS");
	size_t n = strlen(name);
	for (const char *p = built; p && *p; p += strcspn(p, " "), p += strspn(p, " "))
		if (strncmp(p, name, n) == 0 && (p[n] == ' ' || p[n] == '\0'))
			return;
	if (built)
		skip();
}

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

/* ABI 1.4: a change log takes log_extension, follow and replay, all
 * three or none; the loader names the plugin and what it has. */
static void
a_plugin_with_only_some_log_ops_is_refused(void **state)
{
	(void)state;
	char *err = load_error("followhalf.so");
	struct loaded_plugin *lp;
	assert_non_null(strstr(err, "followhalf.so"));
	assert_non_null(strstr(err, "only some of the change log ops"));
	assert_non_null(strstr(err, "replay no"));
	free(err);
	err = NULL;
	lp = plugin_load_path(TEST_PLUGINDIR "/followsrc.so", "followsrc", &err);
	assert_non_null(lp);
	assert_non_null(lp->source.follow);
	assert_non_null(lp->source.replay);
	plugin_unload(lp);
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
	assert_non_null(
	        strstr(err, "/nonexistent/dir, /nonexistent/a, /nonexistent/b, " CAIRN_PLUGINDIR));
	free(err);
	registry_free(&reg);
}

static void
plugin_dir_comes_before_the_environment(void **state)
{
	need_plugin("local");
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
	need_plugin("files");
	need_plugin("local");
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
	need_plugin("local");
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
	struct loaded_plugin *lp =
	        plugin_load_path(TEST_PLUGINDIR "/oldminor.so", "oldminor", &err);
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
	      "[job j]\nsources = s\nsinks = k\n",
	      fp);
	fclose(fp);
	struct config *cfg = config_load(ini, &err);
	assert_non_null(cfg);
	registry_init(&reg, TEST_PLUGINDIR);
	assert_int_equal(instance_create(&reg, cfg, config_section(cfg, SECTION_SOURCE, "s"), NULL,
	                                 &in, &err),
	                 CAIRN_E_CONFIG);
	assert_non_null(strstr(
	        err,
	        "c.ini:1: [source s] plugin: wrongkind is a sink plugin, not a source plugin"));
	free(err);
	err = NULL;
	/* the same plugin as a sink is fine, and its key was checked */
	assert_int_equal(
	        instance_create(&reg, cfg, config_section(cfg, SECTION_SINK, "k"), NULL, &in, &err),
	        0);
	instance_destroy(in);
	assert_int_equal(instance_create(&reg, cfg, config_section(cfg, SECTION_SINK, "bad"), NULL,
	                                 &in, &err),
	                 CAIRN_E_CONFIG);
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
	struct config *cfg = config_load(ini, &err);
	assert_non_null(cfg);
	registry_init(&reg, TEST_PLUGINDIR);
	assert_int_equal(
	        instance_create(&reg, cfg, config_section(cfg, SECTION_SINK, "k"), NULL, &in, &err),
	        INSTANCE_E_PLUGIN);
	/* FILE:LINE: [kind name] key: what; what to do, with the search detail */
	want = xasprintf("%s:3: [sink k] plugin: no plugin named nosuch: no nosuch.so in %s", ini,
	                 TEST_PLUGINDIR);
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

static void
key_tables_are_checked_at_load(void **state)
{
	char *err;
	(void)state;
	err = load_error("keydot.so");
	assert_non_null(strstr(err, "keydot.so has a key \"s3.bucket\" with a '.'"));
	assert_non_null(strstr(err, "--set SECTION.KEY=VALUE could never reach"));
	free(err);
	err = load_error("keyempty.so");
	assert_non_null(strstr(err, "keyempty.so has a key with an empty name (entry 2"));
	free(err);
	err = load_error("keyenv.so");
	assert_non_null(strstr(err, "keyenv.so lists \"BAD=1\" (entry 2 of its secret_env)"));
	free(err);
	err = load_error("keydup.so");
	assert_non_null(strstr(err, "keydup.so has the key \"path\" twice"));
	free(err);
	/* password_file comes first, the secret after it: found either way */
	err = load_error("keysecret.so");
	assert_non_null(strstr(err, "\"password_file\" and \"password\""));
	assert_non_null(strstr(err, "the secret key password is given"));
	free(err);
	err = load_error("keyplugin.so");
	assert_non_null(strstr(err, "named \"plugin\", which is cairn's own key"));
	free(err);
	err = load_error("keyboth.so");
	assert_non_null(strstr(err, "keyboth.so marks the key \"idle\" both backup-only and "
	                            "restore-only"));
	free(err);
}

static void
an_unknown_key_type_needs_a_newer_cairn(void **state)
{
	char dir[] = "/tmp/cairn-plugin-XXXXXX", *ini, *err = NULL;
	FILE *fp;
	struct plugin_registry reg;
	struct instance *in = NULL;
	(void)state;
	err = load_error("keynewer.so");
	assert_non_null(strstr(err, "plugin keynewer needs a newer cairn (key type 42 of key "
	                            "window is unknown to cairn " PACKAGE_VERSION ")"));
	assert_null(strstr(err, "bad"));
	assert_null(strstr(err, "broken"));
	free(err);
	err = NULL;
	/* told apart from a broken plugin, for `cairn plugins` */
	registry_init(&reg, TEST_PLUGINDIR);
	reg.last_needs_newer = 0;
	assert_null(registry_load(&reg, "keynewer", &err));
	assert_int_equal(reg.last_needs_newer, 1);
	free(err);
	err = NULL;
	assert_null(registry_load(&reg, "keydup", &err));
	assert_int_equal(reg.last_needs_newer, 0);
	free(err);
	err = NULL;
	registry_free(&reg);
	/* through a section: the code of a plugin that cannot load (exit 4),
	 * not a plugin's own NOTFOUND */
	assert_non_null(mkdtemp(dir));
	ini = xasprintf("%s/c.ini", dir);
	fp = fopen(ini, "w");
	fputs("[source s]\nplugin = keynewer\n", fp);
	fclose(fp);
	struct config *cfg = config_load(ini, &err);
	assert_non_null(cfg);
	registry_init(&reg, TEST_PLUGINDIR);
	assert_int_equal(instance_create(&reg, cfg, config_section(cfg, SECTION_SOURCE, "s"), NULL,
	                                 &in, &err),
	                 INSTANCE_E_PLUGIN);
	assert_non_null(
	        strstr(err, "c.ini:2: [source s] plugin: plugin keynewer needs a newer cairn"));
	free(err);
	registry_free(&reg);
	config_free(cfg);
	unlink(ini);
	rmdir(dir);
	free(ini);
}

static void
plugins_built_against_abi_1_0_load_with_the_new_fields_empty(void **state)
{
	char *err = NULL;
	(void)state;
	struct loaded_plugin *src =
	        plugin_load_path(TEST_PLUGINDIR "/abi10src.so", "abi10src", &err);
	struct loaded_plugin *snk =
	        plugin_load_path(TEST_PLUGINDIR "/abi10sink.so", "abi10sink", &err);
	assert_non_null(src);
	assert_non_null(snk);
	assert_int_equal(src->desc.abi_minor, 0);
	assert_int_equal(snk->desc.abi_minor, 0);
	/* their ops tables end where 1.0 ended */
	assert_true(src->desc.source->struct_size < sizeof(struct cairn_source_ops));
	assert_true(snk->desc.sink->struct_size < sizeof(struct cairn_sink_ops));
	assert_non_null(src->source.restore);
	assert_int_equal(src->source.flags, 0); /* so the core pre-checks restores */
	assert_null(src->source.probe);         /* ABI 1.2: "not checked" */
	assert_non_null(snk->sink.remove);
	assert_null(snk->sink.lock); /* so leftovers wait for the grace period */
	assert_null(snk->sink.unlock);
	plugin_unload(src);
	plugin_unload(snk);
}

static void
set_error_with_args(cairn_ctx *ctx, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cairn_host_table.vset_error(ctx, fmt, ap);
	va_end(ap);
}

static void
the_host_table_has_the_1_1_members_and_cuts_nothing(void **state)
{
	cairn_ctx ctx = {.label = "source s (t)"};
	size_t n = 100000;
	char *long_text = xmalloc(n + 1);
	(void)state;
	assert_int_equal(cairn_host_table.struct_size, sizeof(struct cairn_host));
	assert_true(CAIRN_HOST_HAS(&cairn_host_table, vlog));
	assert_true(CAIRN_HOST_HAS(&cairn_host_table, vset_error));
	assert_true(CAIRN_HOST_HAS(&cairn_host_table, progress_total));
	assert_true(CAIRN_HOST_HAS(&cairn_host_table, scratch_dir));
	memset(long_text, 'x', n);
	long_text[n] = '\0';
	set_error_with_args(&ctx, "%s: %s", "obj", long_text);
	assert_int_equal(strlen(ctx.error), n + 5);
	/* the old detail may be an argument of the new one */
	set_error_with_args(&ctx, "again: %.3s", ctx.error);
	assert_string_equal(ctx.error, "again: obj");
	free(ctx.error);
	free(long_text);
}

static void
a_scratch_directory_is_private_and_removed_whole(void **state)
{
	char dir[] = "/tmp/cairn-scratch-XXXXXX", *outside, *p;
	cairn_ctx ctx = {.label = "source s (t)", .scratch_tag = "source-s"};
	const char *sd;
	struct stat st;
	mode_t old;
	FILE *fp;
	(void)state;
	assert_non_null(mkdtemp(dir));
	/* without a state_dir there is none, and the detail says why */
	assert_null(cairn_host_table.scratch_dir(&ctx));
	assert_non_null(strstr(ctx.error, "no state_dir"));
	free(ctx.error);
	ctx.error = NULL;

	ctx.state_dir = xasprintf("%s/state", dir);
	old = umask(0); /* the user's umask must not matter */
	sd = cairn_host_table.scratch_dir(&ctx);
	umask(old);
	assert_non_null(sd);
	assert_ptr_equal(cairn_host_table.scratch_dir(&ctx), sd); /* the same within the op */
	p = xasprintf("%s/state/scratch/source-s.", dir);
	assert_memory_equal(sd, p, strlen(p));
	free(p);
	assert_int_equal(stat(sd, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);

	/* what a plugin may leave: a tree, a directory it made read-only, a
	 * symlink out of it */
	outside = xasprintf("%s/outside", dir);
	fp = fopen(outside, "w");
	fputs("keep\n", fp);
	fclose(fp);
	char *a = xasprintf("%s/a", sd), *b = xasprintf("%s/a/b", sd),
	     *f = xasprintf("%s/a/b/f", sd), *l = xasprintf("%s/a/link", sd);
	assert_int_equal(mkdir(a, 0700), 0);
	assert_int_equal(mkdir(b, 0700), 0);
	fp = fopen(f, "w");
	fputs("x", fp);
	fclose(fp);
	assert_int_equal(symlink(outside, l), 0);
	assert_int_equal(chmod(b, 0500), 0);
	char *copy = xstrdup(sd);
	ctx_scratch_remove(&ctx);
	assert_null(ctx.scratch);
	assert_int_equal(lstat(copy, &st), -1);
	assert_int_equal(stat(outside, &st), 0); /* the link's target is untouched */
	unlink(outside);
	p = xasprintf("%s/state/scratch", dir);
	assert_int_equal(rmdir(p), 0);
	free(p);
	assert_int_equal(rmdir(ctx.state_dir), 0);
	assert_int_equal(rmdir(dir), 0);
	free(copy);
	free(a);
	free(b);
	free(f);
	free(l);
	free(outside);
	free(ctx.state_dir);
}

static void
an_instance_gets_its_scratch_below_the_configured_state_dir(void **state)
{
	char dir[] = "/tmp/cairn-plugin-XXXXXX", *ini, *err = NULL, *want;
	FILE *fp;
	struct plugin_registry reg;
	struct instance *in = NULL;
	const char *sd;
	(void)state;
	assert_non_null(mkdtemp(dir));
	ini = xasprintf("%s/c.ini", dir);
	fp = fopen(ini, "w");
	fputs("[cairn]\nstate_dir = state\n\n[sink k]\nplugin = wrongkind\n", fp);
	fclose(fp);
	struct config *cfg = config_load(ini, &err);
	assert_non_null(cfg);
	registry_init(&reg, TEST_PLUGINDIR);
	assert_int_equal(
	        instance_create(&reg, cfg, config_section(cfg, SECTION_SINK, "k"), NULL, &in, &err),
	        0);
	sd = cairn_host_table.scratch_dir(&in->ctx);
	assert_non_null(sd);
	want = xasprintf("%s/state/scratch/sink-k.", dir);
	assert_memory_equal(sd, want, strlen(want));
	free(want);
	instance_destroy(in); /* removes it */
	want = xasprintf("%s/state/scratch", dir);
	assert_int_equal(rmdir(want), 0); /* so it is empty */
	free(want);
	want = xasprintf("%s/state", dir);
	assert_int_equal(rmdir(want), 0);
	free(want);
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
	        cmocka_unit_test(a_plugin_with_only_some_log_ops_is_refused),
	        cmocka_unit_test(a_missing_shared_library_is_named),
	        cmocka_unit_test(a_plugin_not_in_the_path_names_the_directories_searched),
	        cmocka_unit_test(plugin_dir_comes_before_the_environment),
	        cmocka_unit_test(the_real_plugins_load_with_their_keys),
	        cmocka_unit_test(a_renamed_module_is_refused),
	        cmocka_unit_test(fields_past_struct_size_read_as_null),
	        cmocka_unit_test(a_sink_plugin_in_a_source_section_is_a_config_error),
	        cmocka_unit_test(an_unknown_plugin_names_the_line_of_its_plugin_key),
	        cmocka_unit_test(key_tables_are_checked_at_load),
	        cmocka_unit_test(an_unknown_key_type_needs_a_newer_cairn),
	        cmocka_unit_test(plugins_built_against_abi_1_0_load_with_the_new_fields_empty),
	        cmocka_unit_test(the_host_table_has_the_1_1_members_and_cuts_nothing),
	        cmocka_unit_test(a_scratch_directory_is_private_and_removed_whole),
	        cmocka_unit_test(an_instance_gets_its_scratch_below_the_configured_state_dir),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
