/*
 * test_config.c - unit tests of src/config.c and src/plugin_keys.c: the
 * INI file as structs, its one-line errors, and the typed check of plugin
 * keys (which needs an INI file to check).  The value parsers are
 * test_values.c's.
 *
 * Every test writes its INI into its own mkdtemp directory as cfg.ini, so
 * error messages can be checked for "cfg.ini:LINE:".  Errors must name the
 * file and line, the section and key, and say what to do; the tests check
 * each part, so a message that loses one of them fails.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include "config.h"
#include "plugin_keys.h"

struct fx {
	char dir[64];   /* the mkdtemp directory */
	char path[128]; /* dir/cfg.ini */
	char *cwd;      /* to go back to after tests that chdir */
	char *err;      /* the last error, freed by the next call */
	struct config *cfg;
	struct typed_config *tc;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	assert_non_null(f);
	strcpy(f->dir, "/tmp/test_config.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/cfg.ini", f->dir);
	f->cwd = getcwd(NULL, 0);
	assert_non_null(f->cwd);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	if (chdir(f->cwd) != 0)
		return -1;
	typed_config_free(f->tc);
	config_free(f->cfg);
	free(f->err);
	rm_tree(f->dir);
	free(f->cwd);
	free(f);
	return 0;
}

/* Write text to dir/name with the given mode. */
static void
write_file_mode(struct fx *f, const char *name, const char *text, mode_t mode)
{
	char path[256];
	FILE *fp;
	snprintf(path, sizeof(path), "%s/%s", f->dir, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	assert_int_equal(fputs(text, fp) >= 0, 1);
	assert_int_equal(fclose(fp), 0);
	assert_int_equal(chmod(path, mode), 0);
}

/* The INI is private (0600) unless a test says otherwise: a readable file
 * holding a secret makes config_typed warn on stderr. */
static void
write_ini(struct fx *f, const char *text)
{
	write_file_mode(f, "cfg.ini", text, 0600);
}

/* Load text, which must be good. */
static struct config *
load(struct fx *f, const char *text)
{
	char *err = NULL;
	write_ini(f, text);
	config_free(f->cfg);
	f->cfg = config_load(f->path, &err);
	if (!f->cfg)
		fail_msg("config_load: %s", err);
	return f->cfg;
}

/* Load text, which must be refused; the error, valid until the next call. */
static const char *
load_err(struct fx *f, const char *text)
{
	struct config *cfg;
	free(f->err);
	f->err = NULL;
	write_ini(f, text);
	cfg = config_load(f->path, &f->err);
	if (cfg) {
		config_free(cfg);
		fail_msg("config_load accepted:\n%s", text);
	}
	assert_non_null(f->err);
	/* one line */
	assert_null(strchr(f->err, '\n'));
	return f->err;
}

/* Four sections a job can use; the job's own keys start at line 10. */
#define BASE                \
	"[source db]\n"     \
	"plugin = mongo\n"  \
	"[source files]\n"  \
	"plugin = files\n"  \
	"[sink local]\n"    \
	"plugin = local\n"  \
	"[retention std]\n" \
	"keep_daily = 7\n"  \
	"[job nightly]\n"

/* ================================================== config_load: good */

static const char design_ini[] = "[cairn]\n"
                                 "state_dir = /var/lib/cairn\n"
                                 "\n"
                                 "[source plato_db]\n"
                                 "plugin = mongo\n"
                                 "uri = mongodb://localhost:27017/plato_menu\n"
                                 "\n"
                                 "[source cache]\n"
                                 "plugin = redis\n"
                                 "host = 127.0.0.1\n"
                                 "\n"
                                 "[source uploads]\n"
                                 "plugin = files\n"
                                 "path = /srv/plato/uploads\n"
                                 "\n"
                                 "[sink local]\n"
                                 "plugin = local\n"
                                 "path = /var/backups/cairn\n"
                                 "\n"
                                 "[sink offsite]\n"
                                 "plugin = s3\n"
                                 "endpoint = https://s3.example.com\n"
                                 "bucket = plato-backups\n"
                                 "\n"
                                 "[retention standard]\n"
                                 "keep_daily = 7\n"
                                 "keep_weekly = 4\n"
                                 "keep_monthly = 12\n"
                                 "keep_yearly = all\n"
                                 "\n"
                                 "[job nightly]\n"
                                 "sources = plato_db cache uploads\n"
                                 "sinks = local offsite\n"
                                 "retention = standard\n"
                                 "compression = zstd\n";

static void
load_parses_the_design_example(void **state)
{
	struct fx *f = *state;
	struct config *cfg = load(f, design_ini);
	const struct cfg_job *j;
	const struct cfg_section *s;

	assert_string_equal(cfg->path, f->path);
	assert_string_equal(cfg->dir, f->dir);
	assert_string_equal(cfg->state_dir, "/var/lib/cairn");
	assert_null(cfg->plugin_dir);
	assert_int_equal(cfg->nsections, 8);
	assert_int_equal(cfg->njobs, 1);

	j = &cfg->jobs[0];
	assert_ptr_equal(config_job(cfg, "nightly"), j);
	assert_string_equal(j->name, "nightly");
	assert_ptr_equal(j->sec, config_section(cfg, SECTION_JOB, "nightly"));
	assert_int_equal(j->sources.n, 3);
	assert_string_equal(j->sources.v[0], "plato_db");
	assert_string_equal(j->sources.v[1], "cache");
	assert_string_equal(j->sources.v[2], "uploads");
	assert_int_equal(j->sinks.n, 2);
	assert_string_equal(j->sinks.v[0], "local");
	assert_string_equal(j->sinks.v[1], "offsite");
	assert_int_equal(j->compression, COMP_ZSTD);
	assert_int_equal(j->level, -1);
	assert_null(j->description);

	assert_non_null(j->retention);
	assert_string_equal(j->retention->name, "standard");
	assert_ptr_equal(j->keep.sec, j->retention);
	assert_int_equal(j->keep.keep_last, 0);
	assert_int_equal(j->keep.keep_hourly, 0);
	assert_int_equal(j->keep.keep_daily, 7);
	assert_int_equal(j->keep.keep_weekly, 4);
	assert_int_equal(j->keep.keep_monthly, 12);
	assert_int_equal(j->keep.keep_yearly, KEEP_ALL);

	s = config_section(cfg, SECTION_SOURCE, "plato_db");
	assert_non_null(s);
	assert_string_equal(s->plugin, "mongo");
	assert_int_equal(s->line, 4);
	assert_int_equal(s->nentries, 2);
	assert_string_equal(s->entries[1].key, "uri");
	assert_string_equal(s->entries[1].value, "mongodb://localhost:27017/plato_menu");
	assert_int_equal(s->entries[1].line, 6);
	s = config_section(cfg, SECTION_SINK, "offsite");
	assert_non_null(s);
	assert_string_equal(s->plugin, "s3");
	assert_int_equal(s->kind, SECTION_SINK);
	s = config_section(cfg, SECTION_CAIRN, NULL);
	assert_non_null(s);
	assert_null(s->name);
}

static void
load_lookups_tell_kinds_apart(void **state)
{
	struct fx *f = *state;
	struct config *cfg = load(f, design_ini);

	assert_null(config_job(cfg, "weekly"));
	assert_null(config_section(cfg, SECTION_SINK, "uploads")); /* a source */
	assert_null(config_section(cfg, SECTION_SOURCE, "nightly"));
	assert_null(config_section(cfg, SECTION_RETENTION, NULL));
	assert_string_equal(section_kind_name(SECTION_CAIRN), "cairn");
	assert_string_equal(section_kind_name(SECTION_SOURCE), "source");
	assert_string_equal(section_kind_name(SECTION_SINK), "sink");
	assert_string_equal(section_kind_name(SECTION_RETENTION), "retention");
	assert_string_equal(section_kind_name(SECTION_JOB), "job");
}

static void
load_joins_continuations_and_skips_comments(void **state)
{
	struct fx *f = *state;
	struct config *cfg = load(f, "# cairn configuration\n"
	                             "; another comment style\n"
	                             "[job weekly]\n" /* before what it names */
	                             "  sources = db   files\n"
	                             "sinks = local ; inline comment\n"
	                             "compression = gzip\n"
	                             "compression_level = 9\n"
	                             "description = Weekly run, all of it\n"
	                             "[cairn]\n"
	                             "state_dir = state/here\n"
	                             "plugin_dir = ./plugins\n"
	                             "[source db]\n"
	                             "plugin=mongo\n"
	                             "[source files]\n"
	                             "  # an indented comment\n"
	                             "plugin    =    files\n"
	                             "[source logs]\n"
	                             "plugin = files\n"
	                             "[sink local]\n"
	                             "plugin = local\n"
	                             "[sink other]\n"
	                             "plugin = local\n"
	                             "[job daily]\n"
	                             "sources = db\n"
	                             "    files\n"
	                             "\tlogs\n"
	                             "sinks = local\n"
	                             "        other\n");
	const struct cfg_job *w = config_job(cfg, "weekly"), *d = config_job(cfg, "daily");
	char *want;

	assert_int_equal(cfg->njobs, 2);
	assert_non_null(w);
	assert_non_null(d);
	assert_int_equal(w->sources.n, 2);
	assert_string_equal(w->sources.v[1], "files");
	assert_int_equal(w->sinks.n, 1);
	assert_string_equal(w->sinks.v[0], "local");
	assert_int_equal(w->compression, COMP_GZIP);
	assert_int_equal(w->level, 9);
	assert_string_equal(w->description, "Weekly run, all of it");
	assert_null(w->retention);
	assert_int_equal(w->keep.keep_daily, 0);
	assert_int_equal(w->keep.keep_yearly, 0);

	assert_int_equal(d->sources.n, 3);
	assert_string_equal(d->sources.v[0], "db");
	assert_string_equal(d->sources.v[1], "files");
	assert_string_equal(d->sources.v[2], "logs");
	assert_int_equal(d->sinks.n, 2);
	assert_string_equal(d->sinks.v[1], "other");
	/* the joined value keeps the line of its first line */
	assert_int_equal(d->sec->entries[0].line, 24);
	assert_string_equal(d->sec->entries[0].value, "db files logs");

	/* relative directories are taken from the INI's directory */
	want = xasprintf("%s/state/here", f->dir);
	assert_string_equal(cfg->state_dir, want);
	free(want);
	want = xasprintf("%s/plugins", f->dir);
	assert_string_equal(cfg->plugin_dir, want);
	free(want);
	assert_string_equal(config_section(cfg, SECTION_SOURCE, "files")->plugin, "files");
}

static void
load_reads_every_compression_and_level(void **state)
{
	static const struct {
		const char *comp, *level;
		enum compression want;
		int want_level;
	} ok[] = {
	        {NULL, NULL, COMP_ZSTD, -1},   {NULL, "1", COMP_ZSTD, 1},
	        {"zstd", "19", COMP_ZSTD, 19}, {"gzip", "1", COMP_GZIP, 1},
	        {"gzip", "9", COMP_GZIP, 9},   {"xz", "0", COMP_XZ, 0},
	        {"xz", "9", COMP_XZ, 9},       {"none", NULL, COMP_NONE, -1},
	        {"xz", NULL, COMP_XZ, -1},
	};
	struct fx *f = *state;

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		char *ini = xasprintf(BASE "sources = db\nsinks = local\n%s%s%s%s%s%s",
		                      ok[i].level ? "compression_level = " : "",
		                      ok[i].level ? ok[i].level : "", ok[i].level ? "\n" : "",
		                      ok[i].comp ? "compression = " : "",
		                      ok[i].comp ? ok[i].comp : "", ok[i].comp ? "\n" : "");
		struct config *cfg = load(f, ini);
		assert_int_equal(cfg->jobs[0].compression, ok[i].want);
		assert_int_equal(cfg->jobs[0].level, ok[i].want_level);
		free(ini);
	}
}

static void
load_makes_a_relative_ini_path_absolute(void **state)
{
	struct fx *f = *state;
	char *err = NULL, *cwd, *want;
	struct config *cfg;

	write_ini(f, "[cairn]\nstate_dir = st\n");
	assert_int_equal(chdir(f->dir), 0);
	cwd = getcwd(NULL, 0);
	cfg = config_load("cfg.ini", &err);
	if (!cfg)
		fail_msg("config_load: %s", err);
	assert_string_equal(cfg->path, "cfg.ini");
	assert_string_equal(cfg->dir, cwd);
	want = xasprintf("%s/st", cwd);
	assert_string_equal(cfg->state_dir, want);
	free(want);
	free(cwd);
	config_free(cfg);
}

static void
load_defaults_state_dir(void **state)
{
	struct fx *f = *state;
	char *old_xdg = getenv("XDG_STATE_HOME") ? strdup(getenv("XDG_STATE_HOME")) : NULL;
	struct config *cfg;

	setenv("XDG_STATE_HOME", "/xdg/state", 1);
	cfg = load(f, BASE "sources = db\nsinks = local\n");
	if (geteuid() == 0)
		assert_string_equal(cfg->state_dir, CAIRN_LOCALSTATEDIR "/lib/cairn");
	else
		assert_string_equal(cfg->state_dir, "/xdg/state/cairn");
	if (old_xdg)
		setenv("XDG_STATE_HOME", old_xdg, 1);
	else
		unsetenv("XDG_STATE_HOME");
	free(old_xdg);
}

static void
load_notes_a_file_others_can_read(void **state)
{
	struct fx *f = *state;
	char *err = NULL;
	struct config *cfg;

	write_file_mode(f, "cfg.ini", "[cairn]\n", 0644);
	cfg = config_load(f->path, &err);
	assert_non_null(cfg);
	assert_int_equal(cfg->other_readable, 1);
	config_free(cfg);
	write_file_mode(f, "cfg.ini", "[cairn]\n", 0640);
	cfg = config_load(f->path, &err);
	assert_non_null(cfg);
	assert_int_equal(cfg->other_readable, 0);
	config_free(cfg);
}

static void
load_allows_one_name_in_different_kinds(void **state)
{
	struct fx *f = *state;
	struct config *cfg = load(f, "[source web]\nplugin = files\n"
	                             "[sink web]\nplugin = local\n"
	                             "[job web]\nsources = web\nsinks = web\n");
	assert_non_null(config_section(cfg, SECTION_SOURCE, "web"));
	assert_non_null(config_section(cfg, SECTION_SINK, "web"));
	assert_non_null(config_job(cfg, "web"));
}

static void
load_accepts_an_empty_file(void **state)
{
	struct fx *f = *state;
	struct config *cfg = load(f, "");
	assert_int_equal(cfg->nsections, 0);
	assert_int_equal(cfg->njobs, 0);
	assert_non_null(cfg->state_dir);
}

/* ================================================= config_load: errors */

static void
load_error_missing_file_suggests_c_and_env(void **state)
{
	struct fx *f = *state;
	char *err = NULL, *path = xasprintf("%s/nope.ini", f->dir);

	assert_null(config_load(path, &err));
	assert_non_null(err);
	assert_contains(err, path);
	assert_contains(err, "cannot read the configuration");
	assert_contains(err, strerror(ENOENT));
	assert_contains(err, "-c FILE");
	assert_contains(err, "$CAIRN_CONFIG");
	free(err);
	free(path);
}

static void
load_error_a_directory_is_not_a_config(void **state)
{
	struct fx *f = *state;
	char *err = NULL;

	assert_null(config_load(f->dir, &err));
	assert_contains(err, f->dir);
	assert_contains(err, "is a directory");
	assert_contains(err, "not a regular file");
	assert_contains(err, "-c FILE");
	assert_null(strchr(err, '\n'));
	free(err);
}

/* Load path, which must be refused within a few seconds; returns the error. */
static char *
load_err_path(const char *path)
{
	char *err = NULL;
	struct config *cfg;
	alarm(10); /* a hang fails instead of stalling the run */
	cfg = config_load(path, &err);
	alarm(0);
	if (cfg) {
		config_free(cfg);
		fail_msg("config_load accepted %s", path);
	}
	assert_non_null(err);
	assert_null(strchr(err, '\n'));
	return err;
}

static void
load_error_dev_zero_is_not_a_config(void **state)
{
	/* /dev/zero used to be read for ever, deaf to SIGTERM */
	char *err = load_err_path("/dev/zero");
	(void)state;
	assert_contains(err, "/dev/zero: not a regular file but a character device");
	assert_contains(err, "-c takes an INI file");
	free(err);
}

static void
load_error_a_fifo_is_not_a_config(void **state)
{
	/* a FIFO nobody writes to used to block open() for ever */
	struct fx *f = *state;
	char *fifo = xasprintf("%s/fifo.ini", f->dir), *err;
	assert_int_equal(mkfifo(fifo, 0600), 0);
	err = load_err_path(fifo);
	assert_contains(err, fifo);
	assert_contains(err, "not a regular file but a FIFO");
	free(err);
	free(fifo);
}

/* Write len bytes of text to dir/cfg.ini. */
static void
write_ini_bytes(struct fx *f, const char *text, size_t len)
{
	int fd = open(f->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	assert_int_equal(close(fd), 0);
}

/* An INI of size bytes: [cairn], then comment lines. */
static char *
big_ini(size_t size)
{
	char *text = malloc(size + 1);
	assert_non_null(text);
	memset(text, 'x', size);
	memcpy(text, "[cairn]\n", 8);
	for (size_t i = 8; i < size; i += 100) {
		text[i] = ';';
		if (i + 99 < size)
			text[i + 99] = '\n';
	}
	text[size - 1] = '\n';
	text[size] = '\0';
	return text;
}

static void
load_error_an_oversized_file(void **state)
{
	struct fx *f = *state;
	char *text = big_ini(CONFIG_MAX_BYTES), *err = NULL, *want;
	struct config *cfg;

	assert_int_equal(CONFIG_MAX_BYTES, 1024 * 1024);
	write_ini_bytes(f, text, CONFIG_MAX_BYTES); /* the largest that loads */
	cfg = config_load(f->path, &err);
	if (!cfg)
		fail_msg("%s", err);
	config_free(cfg);
	free(text);

	text = big_ini(CONFIG_MAX_BYTES + 1);
	write_ini_bytes(f, text, CONFIG_MAX_BYTES + 1);
	err = load_err_path(f->path);
	want = xasprintf("%s is %d bytes, over 1 MiB; an INI file that large is not a cairn "
	                 "configuration",
	                 f->path, CONFIG_MAX_BYTES + 1);
	assert_contains(err, want);
	free(want);
	free(err);
	free(text);
}

static void
load_skips_a_byte_order_mark(void **state)
{
	struct fx *f = *state;
	struct config *cfg = load(f, "\xef\xbb\xbf[cairn]\nstate_dir = /x\n");
	assert_string_equal(cfg->state_dir, "/x");
	/* only at the start of the file */
	const char *e = load_err(f, "[cairn]\n\xef\xbb\xbf[source s]\nplugin = files\n");
	assert_contains(e, "cfg.ini:2:");
}

static void
load_reads_crlf_lines(void **state)
{
	struct fx *f = *state;
	struct config *cfg = load(f, "[cairn]\r\nstate_dir = /x\r\n\r\n[source s]\r\n"
	                             "plugin = files\r\npath = /a\r\n  /b\r\n");
	const struct cfg_section *s = config_section(cfg, SECTION_SOURCE, "s");
	assert_string_equal(cfg->state_dir, "/x");
	assert_non_null(s);
	assert_string_equal(s->plugin, "files");
	assert_int_equal(s->plugin_line, 5);
	assert_string_equal(s->entries[1].value, "/a /b");
}

/* Load len bytes, which must be refused; the error as load_err. */
static const char *
load_err_bytes(struct fx *f, const char *text, size_t len)
{
	struct config *cfg;
	free(f->err);
	f->err = NULL;
	write_ini_bytes(f, text, len);
	cfg = config_load(f->path, &f->err);
	if (cfg) {
		config_free(cfg);
		fail_msg("config_load accepted %zu bytes", len);
	}
	assert_non_null(f->err);
	assert_null(strchr(f->err, '\n'));
	return f->err;
}

static void
load_error_control_characters_name_the_line(void **state)
{
	struct fx *f = *state;
	static const char nul[] = "[cairn]\nstate_dir = /a\0/b\n";
	const char *e;

	/* a NUL used to cut the value silently: state_dir was "/a" */
	e = load_err_bytes(f, nul, sizeof(nul) - 1);
	assert_contains(e, "cfg.ini:2: control character 0x00 in the line");
	assert_contains(e, "the file is not text, or was saved with the wrong encoding");

	e = load_err(f, "[cairn]\n; ok\nplugin_dir = /p\x1b[2J\n");
	assert_contains(e, "cfg.ini:3: control character 0x1b in the line");
	e = load_err(f, "[cairn]\nstate_dir = /x\x7f\n");
	assert_contains(e, "cfg.ini:2: control character 0x7f");
	e = load_err(f, "[cairn]\nstate_dir = /x\ry\n"); /* a CR inside a line */
	assert_contains(e, "cfg.ini:2: control character 0x0d");
	e = load_err(f, "[cairn]\n; \x01 in a comment is no better\n");
	assert_contains(e, "cfg.ini:2: control character 0x01");
	e = load_err(f, "[cairn]\nstate_dir = /x\n\x0c\n"); /* a form feed line */
	assert_contains(e, "cfg.ini:3: control character 0x0c");
	/* the first error wins: an inih syntax error after it does not hide it */
	e = load_err(f, "[cairn]\nstate_dir = /x\x1b\nno equals here\n");
	assert_contains(e, "cfg.ini:2: control character 0x1b");

	/* a tab is text */
	load(f, "[cairn]\nstate_dir\t=\t/a\tb\n");
	assert_string_equal(f->cfg->state_dir, "/a\tb");
}

static void
load_error_the_first_error_in_the_file_wins(void **state)
{
	/* an inih syntax error on line 2 comes before a duplicate on line 3 */
	const char *e = load_err(*state, "[cairn]\nbad line\n[cairn]\n");
	assert_contains(e, "cfg.ini:2:");
}

static void
load_error_unknown_section_kind(void **state)
{
	const char *e = load_err(*state, "[cairn]\nstate_dir = /x\n\n[destination x]\npath = y\n");
	assert_contains(e, "cfg.ini:4:");
	assert_contains(e, "[destination x]");
	assert_contains(e, "unknown kind of section");
	assert_contains(e, "use [cairn], [source NAME], [sink NAME], [retention NAME], [job NAME], "
	                   "[check] or [serve]");
}

static void
load_error_section_without_name(void **state)
{
	struct fx *f = *state;
	const char *e = load_err(f, "; first\n[source]\nplugin = files\n");
	assert_contains(e, "cfg.ini:2:");
	assert_contains(e, "[source]");
	assert_contains(e, "needs a name");
	assert_contains(e, "e.g. [source nightly]");

	e = load_err(f, "[job  ]\n");
	assert_contains(e, "cfg.ini:1:");
	assert_contains(e, "needs a name");
}

static void
load_error_cairn_section_with_name(void **state)
{
	const char *e = load_err(*state, "[cairn main]\nstate_dir = /x\n");
	assert_contains(e, "cfg.ini:1:");
	assert_contains(e, "[cairn main]");
	assert_contains(e, "takes no name");
}

static void
load_error_invalid_section_name(void **state)
{
	struct fx *f = *state;
	const char *e = load_err(f, "\n[job my/job]\n");
	assert_contains(e, "cfg.ini:2:");
	assert_contains(e, "[job my/job]");
	assert_contains(e, "\"my/job\" is not a valid name");
	assert_contains(e, "use letters, digits");

	e = load_err(f, "[sink .hidden]\nplugin = local\n");
	assert_contains(e, "cfg.ini:1:");
	assert_contains(e, "\".hidden\" is not a valid name");
	e = load_err(f, "[source two words]\nplugin = files\n");
	assert_contains(e, "\"two words\" is not a valid name");
}

static void
load_error_duplicate_section(void **state)
{
	struct fx *f = *state;
	const char *e = load_err(f, "[sink a]\nplugin = local\n\n[sink a]\nplugin = local\n");
	assert_contains(e, "cfg.ini:4:");
	assert_contains(e, "[sink a]");
	assert_contains(e, "defined twice (first at line 1)");
	assert_contains(e, "merge them or rename one");

	e = load_err(f, "[cairn]\n[cairn]\n");
	assert_contains(e, "cfg.ini:2:");
	assert_contains(e, "[cairn]: defined twice (first at line 1)");
}

static void
load_error_duplicate_key(void **state)
{
	struct fx *f = *state;
	const char *e = load_err(f, "[sink a]\nplugin = local\npath = /x\npath = /y\n");
	assert_contains(e, "cfg.ini:4:");
	assert_contains(e, "[sink a] path");
	assert_contains(e, "set twice (first at line 3)");
	assert_contains(e, "keep one");

	e = load_err(f, BASE "sources = db\nsinks = local\nsources = files\n");
	assert_contains(e, "cfg.ini:12:");
	assert_contains(e, "[job nightly] sources: set twice (first at line 10)");
}

static void
load_error_key_outside_any_section(void **state)
{
	const char *e = load_err(*state, "; comment\nstate_dir = /x\n[cairn]\n");
	assert_contains(e, "cfg.ini:2:");
	assert_contains(e, "state_dir");
	assert_contains(e, "outside any section");
	assert_contains(e, "put it under [cairn]");
}

static void
load_error_unknown_key_in_cairn(void **state)
{
	const char *e = load_err(*state, "[cairn]\nstate_dir = /x\nstatedir = /y\n");
	assert_contains(e, "cfg.ini:3:");
	assert_contains(e, "[cairn] statedir");
	assert_contains(e, "unknown key");
	assert_contains(e, "[cairn] takes state_dir, plugin_dir and metrics_file");
}

static void
load_error_empty_directory_in_cairn(void **state)
{
	const char *e = load_err(*state, "[cairn]\nplugin_dir =\n");
	assert_contains(e, "cfg.ini:2:");
	assert_contains(e, "[cairn] plugin_dir");
	assert_contains(e, "empty value; give a directory");
}

static void
load_error_unknown_key_in_job(void **state)
{
	const char *e = load_err(*state, BASE "sources = db\nsinks = local\ncompresion = xz\n");
	assert_contains(e, "cfg.ini:12:");
	assert_contains(e, "[job nightly] compresion");
	assert_contains(e, "unknown key");
	assert_contains(e, "a job takes sources, sinks, retention, compression");
}

static void
load_error_unknown_key_in_retention(void **state)
{
	const char *e = load_err(*state, "[retention std]\nkeep_daily = 7\nkeep_days = 3\n");
	assert_contains(e, "cfg.ini:3:");
	assert_contains(e, "[retention std] keep_days");
	assert_contains(e, "unknown key");
	assert_contains(e, "keep_daily");
}

static void
load_error_job_names_missing_source(void **state)
{
	const char *e = load_err(*state, BASE "sources = db nope\nsinks = local\n");
	assert_contains(e, "cfg.ini:10:");
	assert_contains(e, "[job nightly] sources");
	assert_contains(e, "no source named \"nope\"");
	assert_contains(e, "define [source nope] or fix the name");
}

static void
load_error_job_names_missing_sink(void **state)
{
	struct fx *f = *state;
	const char *e = load_err(f, BASE "sources = db\nsinks = local remote\n");
	assert_contains(e, "cfg.ini:11:");
	assert_contains(e, "[job nightly] sinks");
	assert_contains(e, "no sink named \"remote\"");
	assert_contains(e, "define [sink remote]");

	/* a source of that name is not a sink */
	e = load_err(f, BASE "sources = db\nsinks = files\n");
	assert_contains(e, "no sink named \"files\"");
}

static void
load_error_job_names_missing_retention(void **state)
{
	const char *e = load_err(*state, BASE "sources = db\nsinks = local\nretention = weekly\n");
	assert_contains(e, "cfg.ini:12:");
	assert_contains(e, "[job nightly] retention");
	assert_contains(e, "no retention named \"weekly\"");
	assert_contains(e, "define [retention weekly]");
}

static void
load_error_job_without_sources_or_sinks(void **state)
{
	struct fx *f = *state;
	const char *e = load_err(f, BASE "sinks = local\n");
	assert_contains(e, "cfg.ini:9:");
	assert_contains(e, "[job nightly]: no sources = key");
	assert_contains(e, "list the sources to back up");

	e = load_err(f, BASE "sources = db\n");
	assert_contains(e, "cfg.ini:9:");
	assert_contains(e, "[job nightly]: no sinks = key");
	assert_contains(e, "list where the backups go");
}

static void
load_error_empty_list(void **state)
{
	struct fx *f = *state;
	const char *e = load_err(f, BASE "sources = db\nsinks =\n");
	assert_contains(e, "cfg.ini:11:");
	assert_contains(e, "[job nightly] sinks");
	assert_contains(e, "empty list; name at least one sink");

	e = load_err(f, BASE "sources =   \nsinks = local\n");
	assert_contains(e, "cfg.ini:10:");
	assert_contains(e, "name at least one source");
}

static void
load_error_name_listed_twice(void **state)
{
	struct fx *f = *state;
	const char *e = load_err(f, BASE "sources = db files db\nsinks = local\n");
	assert_contains(e, "cfg.ini:10:");
	assert_contains(e, "[job nightly] sources");
	assert_contains(e, "\"db\" is listed twice");

	/* also across a continuation line */
	e = load_err(f, BASE "sources = db\nsinks = local\n  local\n");
	assert_contains(e, "cfg.ini:11:");
	assert_contains(e, "\"local\" is listed twice");
}

static void
load_error_bad_compression(void **state)
{
	struct fx *f = *state;
	const char *e = load_err(f, BASE "sources = db\nsinks = local\ncompression = lz4\n");
	assert_contains(e, "cfg.ini:12:");
	assert_contains(e, "[job nightly] compression");
	assert_contains(e, "\"lz4\" is not a compression");
	assert_contains(e, "use zstd, gzip, xz or none");
}

static void
load_error_compression_level_out_of_range(void **state)
{
	static const struct {
		const char *comp, *level, *range;
	} bad[] = {
	        {"zstd", "0", "zstd takes a level from 1 to 19"},
	        {"zstd", "20", "zstd takes a level from 1 to 19"},
	        {"gzip", "0", "gzip takes a level from 1 to 9"},
	        {"gzip", "10", "gzip takes a level from 1 to 9"},
	        {"xz", "-1", "xz takes a level from 0 to 9"},
	        {"xz", "10", "xz takes a level from 0 to 9"},
	        {"zstd", "fast", "zstd takes a level from 1 to 19"},
	        {"gzip", "9.5", "gzip takes a level from 1 to 9"},
	};
	struct fx *f = *state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *ini = xasprintf(BASE "sources = db\nsinks = local\ncompression = %s\n"
		                           "compression_level = %s\n",
		                      bad[i].comp, bad[i].level);
		char *quoted = xasprintf("\"%s\"", bad[i].level);
		const char *e = load_err(f, ini);
		assert_contains(e, "cfg.ini:13:");
		assert_contains(e, "[job nightly] compression_level");
		assert_contains(e, quoted);
		assert_contains(e, bad[i].range);
		free(quoted);
		free(ini);
	}
}

static void
load_error_level_with_compression_none(void **state)
{
	const char *e = load_err(*state, BASE "sources = db\nsinks = local\n"
	                                      "compression_level = 3\ncompression = none\n");
	assert_contains(e, "cfg.ini:12:");
	assert_contains(e, "[job nightly] compression_level");
	assert_contains(e, "means nothing with compression = none; remove it");
}

static void
compression_threads_default_to_one_and_are_checked(void **state)
{
	struct fx *f = *state;
	struct config *cfg = load(f, BASE "sources = db\nsinks = local\n");
	assert_int_equal(cfg->jobs[0].threads, 1);
	cfg = load(f, BASE "sources = db\nsinks = local\ncompression_threads = 0\n");
	assert_int_equal(cfg->jobs[0].threads, 0);
	const char *e = load_err(f, BASE "sources = db\nsinks = local\ncompression_threads = 99\n");
	assert_contains(e, "cfg.ini:12:");
	assert_contains(e, "[job nightly] compression_threads");
	assert_contains(e, "from 0");
}

static void
load_error_retention_bad_count(void **state)
{
	static const char *const bad[] = {"seven", "-1", "1.5", "1000001", "ALL", "7d"};
	struct fx *f = *state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *ini = xasprintf("[retention r]\nkeep_last = 3\nkeep_daily = %s\n", bad[i]);
		char *quoted = xasprintf("\"%s\" is not a count", bad[i]);
		const char *e = load_err(f, ini);
		assert_contains(e, "cfg.ini:3:");
		assert_contains(e, "[retention r] keep_daily");
		assert_contains(e, quoted);
		assert_contains(e, "use a whole number or all");
		free(quoted);
		free(ini);
	}
}

static void
load_error_retention_keeps_nothing(void **state)
{
	struct fx *f = *state;
	const char *e = load_err(f, "\n[retention r]\nkeep_daily = 0\nkeep_last = 0\n");
	assert_contains(e, "cfg.ini:2:");
	assert_contains(e, "[retention r]: keeps no backups at all");
	assert_contains(e, "set at least one keep_ key");

	e = load_err(f, "[retention empty]\n");
	assert_contains(e, "cfg.ini:1:");
	assert_contains(e, "[retention empty]: keeps no backups at all");
}

static void
load_error_plugin_section_without_plugin(void **state)
{
	struct fx *f = *state;
	const char *e = load_err(f, "[source db]\nuri = mongodb://x\n");
	assert_contains(e, "cfg.ini:1:");
	assert_contains(e, "[source db]: no plugin = key");
	assert_contains(e, "e.g. plugin = files");

	e = load_err(f, "[cairn]\n[sink offsite]\nbucket = b\n");
	assert_contains(e, "cfg.ini:2:");
	assert_contains(e, "[sink offsite]: no plugin = key");
	assert_contains(e, "e.g. plugin = local");
}

static void
load_error_bad_plugin_name(void **state)
{
	const char *e = load_err(*state, "[source db]\nplugin = ../evil\n");
	assert_contains(e, "cfg.ini:2:");
	assert_contains(e, "[source db] plugin");
	assert_contains(e, "\"../evil\" is not a plugin name");
}

static void
load_error_line_too_long(void **state)
{
	struct fx *f = *state;
	/* inih reads lines into INI_MAX_LINE bytes: the text and its '\0';
	 * the line's end (LF or CR LF) is not part of it */
	size_t fits = INI_MAX_LINE - 1;
	char *line = malloc(INI_MAX_LINE + 100), *ini, *limit;
	const char *e;

	assert_non_null(line);
	memset(line, 'x', INI_MAX_LINE + 99);
	memcpy(line, "state_dir = /", 13);
	line[fits] = '\0';
	ini = xasprintf("[cairn]\n; fine\n%s\n", line);
	load(f, ini); /* the longest line that fits */
	assert_int_equal(strlen(f->cfg->state_dir), fits - 12);
	free(ini);
	ini = xasprintf("[cairn]\r\n; fine\r\n%s\r\n", line); /* with CR LF too */
	load(f, ini);
	assert_int_equal(strlen(f->cfg->state_dir), fits - 12);
	free(ini);
	ini = xasprintf("[cairn]\n%s", line); /* and as the last line, without LF */
	load(f, ini);
	assert_int_equal(strlen(f->cfg->state_dir), fits - 12);
	free(ini);

	line[fits] = 'x';
	line[fits + 1] = '\0';
	ini = xasprintf("[cairn]\n; one too long\n%s\nplugin_dir = /p\n", line);
	e = load_err(f, ini);
	assert_contains(e, "cfg.ini:3:");
	limit = xasprintf("line is longer than %zu characters", fits);
	assert_contains(e, limit);
	assert_contains(e, "continue a long value on indented lines");
	free(limit);
	free(ini);

	line[INI_MAX_LINE + 99] = '\0';
	ini = xasprintf("[cairn]\n%s", line); /* at the end, without newline */
	e = load_err(f, ini);
	assert_contains(e, "cfg.ini:2:");
	assert_contains(e, "longer than");
	free(ini);
	free(line);
}

static void
load_error_line_without_equals(void **state)
{
	struct fx *f = *state;
	const char *e = load_err(f, "[cairn]\nstate_dir = /x\njust some words\n");
	assert_contains(e, "cfg.ini:3:");
	assert_contains(e, "not a section header, key = value line, continuation or comment");
	assert_contains(e, "fix or remove it");

	e = load_err(f, "[cairn]\n\n[source a\nplugin = files\n");
	assert_contains(e, "cfg.ini:3:");
	assert_contains(e, "not a section header");
}

/* ======================================================= config_typed */

static const struct cairn_key test_keys[] = {
        {.name = "exclude", .type = CAIRN_KEY_LIST},
        {.name = "timeout", .type = CAIRN_KEY_DURATION, .default_value = "30s"},
        {.name = "chunk", .type = CAIRN_KEY_SIZE, .default_value = "1M"},
        {.name = "fsync", .type = CAIRN_KEY_BOOL, .default_value = "yes"},
        {.name = "retries", .type = CAIRN_KEY_INT, .default_value = "3"},
        {.name = "label", .type = CAIRN_KEY_STRING},
        {.name = "path",
         .type = CAIRN_KEY_PATH,
         .flags = CAIRN_KEY_REQUIRED,
         .help = "the directory to back up"},
        {.name = "password", .type = CAIRN_KEY_STRING, .flags = CAIRN_KEY_SECRET},
        {.name = "spool", .type = CAIRN_KEY_PATH, .default_value = "spool"},
        {.name = "pin", .type = CAIRN_KEY_INT, .flags = CAIRN_KEY_SECRET},
        {.name = NULL},
};
enum {
	K_EXCLUDE,
	K_TIMEOUT,
	K_CHUNK,
	K_FSYNC,
	K_RETRIES,
	K_LABEL,
	K_PATH,
	K_PASSWORD,
	K_SPOOL,
	K_PIN,
	K_COUNT
};

/* Load "[source s]\nplugin = test\n" + body and run config_typed with
 * overrides (a NULL-terminated list, or NULL); 0 or CAIRN_E_CONFIG. */
static int
typed(struct fx *f, const char *body, const char *const *overrides)
{
	char *ini = xasprintf("[source s]\nplugin = test\n%s", body);
	struct strvec ov = {0};
	int rc;

	load(f, ini);
	free(ini);
	for (size_t i = 0; overrides && overrides[i]; i++)
		strvec_push(&ov, overrides[i]);
	typed_config_free(f->tc);
	f->tc = NULL;
	free(f->err);
	f->err = NULL;
	rc = config_typed(f->cfg, config_section(f->cfg, SECTION_SOURCE, "s"), "test", test_keys,
	                  overrides ? &ov : NULL, &f->tc, &f->err);
	strvec_free(&ov);
	if (rc == 0) {
		assert_non_null(f->tc);
		assert_null(f->err);
	} else {
		assert_int_equal(rc, CAIRN_E_CONFIG);
		assert_non_null(f->err);
		assert_null(strchr(f->err, '\n'));
	}
	return rc;
}

static const struct cairn_value *
val(struct fx *f, int k)
{
	return &f->tc->pub.values[k];
}

static void
typed_parses_every_type(void **state)
{
	struct fx *f = *state;
	char *want;
	int rc = typed(f,
	               "path = data\n"
	               "label = hello  world\n"
	               "retries = -5\n"
	               "fsync = off\n"
	               "chunk = 64M\n"
	               "timeout = 2h\n"
	               "exclude = *.tmp  cache\n"
	               "\t*.log\n",
	               NULL);

	if (rc)
		fail_msg("%s", f->err);
	assert_int_equal(f->tc->pub.count, K_COUNT);
	assert_string_equal(f->tc->pub.instance, "s");
	/* values follow the key table, not the file */
	for (int k = 0; k < K_COUNT; k++) {
		assert_string_equal(val(f, k)->name, test_keys[k].name);
		assert_int_equal(val(f, k)->type, test_keys[k].type);
	}
	want = xasprintf("%s/data", f->dir);
	assert_true(val(f, K_PATH)->set);
	assert_string_equal(val(f, K_PATH)->text, want);
	free(want);
	assert_string_equal(val(f, K_LABEL)->text, "hello  world");
	assert_int_equal(val(f, K_RETRIES)->i, -5);
	assert_string_equal(val(f, K_RETRIES)->text, "-5");
	assert_int_equal(val(f, K_FSYNC)->i, 0);
	assert_int_equal(val(f, K_CHUNK)->i, 64LL << 20);
	assert_string_equal(val(f, K_CHUNK)->text, "64M");
	assert_int_equal(val(f, K_TIMEOUT)->i, 7200);
	assert_true(val(f, K_EXCLUDE)->set);
	assert_int_equal(val(f, K_EXCLUDE)->list_len, 3);
	assert_string_equal(val(f, K_EXCLUDE)->list[0], "*.tmp");
	assert_string_equal(val(f, K_EXCLUDE)->list[1], "cache");
	assert_string_equal(val(f, K_EXCLUDE)->list[2], "*.log");
	assert_false(val(f, K_PASSWORD)->set);
	assert_null(val(f, K_PASSWORD)->text);
	/* a key the plugin reads through the public helper */
	assert_ptr_equal(cairn_config_get(&f->tc->pub, "chunk"), val(f, K_CHUNK));
}

static void
typed_applies_defaults_when_unset(void **state)
{
	struct fx *f = *state;
	char *want;

	if (typed(f, "path = /srv\n", NULL))
		fail_msg("%s", f->err);
	assert_string_equal(val(f, K_PATH)->text, "/srv");
	assert_true(val(f, K_TIMEOUT)->set);
	assert_int_equal(val(f, K_TIMEOUT)->i, 30);
	assert_int_equal(val(f, K_CHUNK)->i, 1 << 20);
	assert_int_equal(val(f, K_FSYNC)->i, 1);
	assert_int_equal(val(f, K_RETRIES)->i, 3);
	/* a PATH default is relative to the INI's directory too */
	want = xasprintf("%s/spool", f->dir);
	assert_string_equal(val(f, K_SPOOL)->text, want);
	free(want);
	/* no default: unset and zero */
	assert_false(val(f, K_LABEL)->set);
	assert_null(val(f, K_LABEL)->text);
	assert_false(val(f, K_EXCLUDE)->set);
	assert_null(val(f, K_EXCLUDE)->list);
	assert_int_equal(val(f, K_EXCLUDE)->list_len, 0);
}

static void
typed_empty_list_is_set_and_empty(void **state)
{
	struct fx *f = *state;
	if (typed(f, "path = /srv\nexclude =\n", NULL))
		fail_msg("%s", f->err);
	assert_true(val(f, K_EXCLUDE)->set);
	assert_int_equal(val(f, K_EXCLUDE)->list_len, 0);
	assert_non_null(val(f, K_EXCLUDE)->list);
}

/* Each value through --set, so every case runs the full typed path. */
static void
typed_reads_sizes_durations_bools_and_ints(void **state)
{
	static const struct {
		const char *set;
		int k;
		int64_t want;
	} cases[] = {
	        {"chunk=64M", K_CHUNK, 64LL << 20},
	        {"chunk=1G", K_CHUNK, 1LL << 30},
	        {"chunk=512KiB", K_CHUNK, 512LL << 10},
	        {"chunk=10", K_CHUNK, 10},
	        {"chunk=2T", K_CHUNK, 2LL << 40},
	        {"chunk=64MB", K_CHUNK, 64LL << 20},
	        {"timeout=90s", K_TIMEOUT, 90},
	        {"timeout=90", K_TIMEOUT, 90},
	        {"timeout=10m", K_TIMEOUT, 600},
	        {"timeout=2h", K_TIMEOUT, 7200},
	        {"timeout=7d", K_TIMEOUT, 7 * 86400},
	        {"timeout=1w", K_TIMEOUT, 604800},
	        {"fsync=yes", K_FSYNC, 1},
	        {"fsync=no", K_FSYNC, 0},
	        {"fsync=true", K_FSYNC, 1},
	        {"fsync=false", K_FSYNC, 0},
	        {"fsync=on", K_FSYNC, 1},
	        {"fsync=off", K_FSYNC, 0},
	        {"fsync=1", K_FSYNC, 1},
	        {"fsync=0", K_FSYNC, 0},
	        {"fsync=No", K_FSYNC, 0},
	        {"fsync=TRUE", K_FSYNC, 1},
	        {"retries=0", K_RETRIES, 0},
	        {"retries=-12", K_RETRIES, -12},
	        {"retries=9223372036854775807", K_RETRIES, INT64_MAX},
	};
	struct fx *f = *state;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *ov[] = {cases[i].set, NULL};
		if (typed(f, "path = /srv\n", ov))
			fail_msg("--set %s: %s", cases[i].set, f->err);
		assert_true(val(f, cases[i].k)->set);
		if (val(f, cases[i].k)->i != cases[i].want)
			fail_msg("--set %s: got %lld, want %lld", cases[i].set,
			         (long long)val(f, cases[i].k)->i, (long long)cases[i].want);
	}
}

static void
typed_error_unknown_key_suggests_near_key(void **state)
{
	struct fx *f = *state;

	assert_int_equal(typed(f, "path = /srv\npth = /x\n", NULL), CAIRN_E_CONFIG);
	assert_contains(f->err, "cfg.ini:4:");
	assert_contains(f->err, "[source s] pth");
	assert_contains(f->err, "unknown key for plugin test");
	assert_contains(f->err, "did you mean path?");
	assert_null(f->tc);

	assert_int_equal(typed(f, "path = /srv\nfsnyc = no\n", NULL), CAIRN_E_CONFIG);
	assert_contains(f->err, "did you mean fsync?");
}

static void
typed_error_far_unknown_key_lists_the_keys(void **state)
{
	struct fx *f = *state;

	assert_int_equal(typed(f, "bucket = b\npath = /srv\n", NULL), CAIRN_E_CONFIG);
	assert_contains(f->err, "cfg.ini:3:");
	assert_contains(f->err, "[source s] bucket");
	assert_contains(f->err, "known keys: exclude, timeout, chunk, fsync, retries, label, "
	                        "path, password, spool");
	assert_null(strstr(f->err, "did you mean"));
}

static void
typed_error_bad_value_names_the_type(void **state)
{
	static const struct {
		const char *line, *key, *what;
	} bad[] = {
	        {"retries = many", "retries", "\"many\" is not a whole number"},
	        {"retries = 1.5", "retries", "\"1.5\" is not a whole number"},
	        {"retries = 99999999999999999999", "retries", "is not a whole number"},
	        {"fsync = maybe", "fsync", "\"maybe\" is not yes or no"},
	        {"fsync = 2", "fsync", "\"2\" is not yes or no"},
	        {"chunk = 12X", "chunk", "\"12X\" is not a size such as 512K, 64M or 2G"},
	        {"chunk = -1M", "chunk", "\"-1M\" is not a size"},
	        {"chunk = 1.5G", "chunk", "\"1.5G\" is not a size"},
	        {"timeout = 5y", "timeout", "\"5y\" is not a duration such as 30s"},
	        {"timeout = soon", "timeout", "\"soon\" is not a duration"},
	        {"path =", "path", "empty path"},
	};
	struct fx *f = *state;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* path first, so the bad line is always line 4 */
		char *body =
		        xasprintf("%s\n%s\n", strcmp(bad[i].key, "path") ? "path = /srv" : "; -",
		                  bad[i].line);
		char *label = xasprintf("[source s] %s:", bad[i].key);
		assert_int_equal(typed(f, body, NULL), CAIRN_E_CONFIG);
		assert_contains(f->err, "cfg.ini:4:");
		assert_contains(f->err, label);
		assert_contains(f->err, bad[i].what);
		free(label);
		free(body);
	}
}

static void
typed_error_missing_required_key_names_section_line(void **state)
{
	struct fx *f = *state;

	assert_int_equal(typed(f, "label = x\n", NULL), CAIRN_E_CONFIG);
	assert_contains(f->err, "cfg.ini:1:");
	assert_contains(f->err, "[source s] path");
	assert_contains(f->err, "required by plugin test");
	assert_contains(f->err, "add path = ...");
	assert_contains(f->err, "(the directory to back up)");

	/* --set satisfies a required key */
	const char *ov[] = {"path=/srv", NULL};
	assert_int_equal(typed(f, "label = x\n", ov), 0);
	assert_string_equal(val(f, K_PATH)->text, "/srv");
}

static void
typed_error_broken_default_blames_the_plugin(void **state)
{
	static const struct cairn_key keys[] = {
	        {.name = "n", .type = CAIRN_KEY_INT, .default_value = "lots"},
	        {.name = NULL},
	};
	struct fx *f = *state;
	struct typed_config *tc = NULL;
	char *err = NULL;

	load(f, "[sink k]\nplugin = broken\n");
	assert_int_equal(config_typed(f->cfg, config_section(f->cfg, SECTION_SINK, "k"), "broken",
	                              keys, NULL, &tc, &err),
	                 CAIRN_E_CONFIG);
	assert_null(tc);
	assert_contains(err, "plugin broken");
	assert_contains(err, "default of key n (\"lots\") is not a whole number");
	assert_contains(err, "report this to the plugin's author");
	free(err);
}

static void
typed_overrides_win_over_the_ini(void **state)
{
	struct fx *f = *state;
	const char *ov[] = {"retries=9", "label=from the command line", "exclude=a b", NULL};

	if (typed(f, "path = /srv\nretries = 5\nlabel = ini\nexclude = x y z\n", ov))
		fail_msg("%s", f->err);
	assert_int_equal(val(f, K_RETRIES)->i, 9);
	assert_string_equal(val(f, K_LABEL)->text, "from the command line");
	assert_int_equal(val(f, K_EXCLUDE)->list_len, 2);
	assert_string_equal(val(f, K_EXCLUDE)->list[1], "b");

	/* the last --set of a key wins */
	const char *twice[] = {"retries=1", "retries=2", NULL};
	assert_int_equal(typed(f, "path = /srv\n", twice), 0);
	assert_int_equal(val(f, K_RETRIES)->i, 2);
}

static void
typed_override_path_is_relative_to_cwd(void **state)
{
	struct fx *f = *state;
	char *sub = xasprintf("%s/sub", f->dir), *cwd, *want;
	const char *ov[] = {"path=restore/here", "spool=./sp", NULL};

	assert_int_equal(mkdir(sub, 0700), 0);
	assert_int_equal(chdir(sub), 0);
	cwd = getcwd(NULL, 0);
	if (typed(f, "path = data\nspool = ini-spool\n", ov))
		fail_msg("%s", f->err);
	want = xasprintf("%s/restore/here", cwd);
	assert_string_equal(val(f, K_PATH)->text, want);
	free(want);
	want = xasprintf("%s/sp", cwd);
	assert_string_equal(val(f, K_SPOOL)->text, want);
	free(want);

	const char *abs[] = {"path=/abs/x", NULL};
	assert_int_equal(typed(f, "path = data\n", abs), 0);
	assert_string_equal(val(f, K_PATH)->text, "/abs/x");
	free(cwd);
	free(sub);
}

static void
typed_error_unknown_override_mentions_set(void **state)
{
	struct fx *f = *state;
	const char *ov[] = {"pth=/x", NULL};

	assert_int_equal(typed(f, "path = /srv\n", ov), CAIRN_E_CONFIG);
	assert_contains(f->err, "--set pth");
	assert_contains(f->err, "unknown key for plugin test");
	assert_contains(f->err, "did you mean path?");
	assert_contains(f->err, "[source s]");
}

static void
typed_error_bad_override(void **state)
{
	struct fx *f = *state;
	const char *noeq[] = {"retries", NULL};
	const char *nokey[] = {"=5", NULL};
	const char *badval[] = {"retries=abc", NULL};

	assert_int_equal(typed(f, "path = /srv\n", noeq), CAIRN_E_CONFIG);
	assert_contains(f->err, "--set retries");
	assert_contains(f->err, "use --set KEY=VALUE");
	assert_int_equal(typed(f, "path = /srv\n", nokey), CAIRN_E_CONFIG);
	assert_contains(f->err, "use --set KEY=VALUE");
	assert_int_equal(typed(f, "path = /srv\n", badval), CAIRN_E_CONFIG);
	assert_contains(f->err, "--set retries");
	assert_contains(f->err, "\"abc\" is not a whole number");
	assert_contains(f->err, "[source s]");
}

static void
typed_secret_from_file_takes_its_first_line(void **state)
{
	struct fx *f = *state;

	write_file_mode(f, "pw", "s3cret word\nsecond line\n", 0600);
	if (typed(f, "path = /srv\npassword_file = pw\n", NULL))
		fail_msg("%s", f->err);
	assert_true(val(f, K_PASSWORD)->set);
	assert_string_equal(val(f, K_PASSWORD)->text, "s3cret word");

	write_file_mode(f, "pw", "dos\r\n", 0600);
	assert_int_equal(typed(f, "path = /srv\npassword_file = pw\n", NULL), 0);
	assert_string_equal(val(f, K_PASSWORD)->text, "dos");

	write_file_mode(f, "pw", "", 0600);
	assert_int_equal(typed(f, "path = /srv\npassword_file = pw\n", NULL), 0);
	assert_true(val(f, K_PASSWORD)->set);
	assert_string_equal(val(f, K_PASSWORD)->text, "");
}

static void
typed_error_secret_given_twice(void **state)
{
	struct fx *f = *state;

	setenv("CAIRN_TEST_SECRET", "from-env", 1);
	assert_int_equal(typed(f,
	                       "path = /srv\npassword = inline\npassword_env = CAIRN_TEST_SECRET\n",
	                       NULL),
	                 CAIRN_E_CONFIG);
	assert_contains(f->err, "cfg.ini:5:");
	assert_contains(f->err, "[source s] password_env");
	assert_contains(f->err, "already given at line 4");
	unsetenv("CAIRN_TEST_SECRET");
}

static void
typed_secret_from_environment(void **state)
{
	struct fx *f = *state;

	setenv("CAIRN_TEST_SECRET", "from-env", 1);
	if (typed(f, "path = /srv\npassword_env = CAIRN_TEST_SECRET\n", NULL))
		fail_msg("%s", f->err);
	assert_string_equal(val(f, K_PASSWORD)->text, "from-env");

	/* and through --set */
	const char *ov[] = {"password_env=CAIRN_TEST_SECRET", NULL};
	setenv("CAIRN_TEST_SECRET", "other", 1);
	assert_int_equal(typed(f, "path = /srv\npassword = plain\n", ov), 0);
	assert_string_equal(val(f, K_PASSWORD)->text, "other");
	unsetenv("CAIRN_TEST_SECRET");
}

/* An environment value is checked like a file's content: its first line
 * without CR LF, control characters in it refused, never repeated. */
static void
typed_secret_from_environment_checked_like_a_file(void **state)
{
	struct fx *f = *state;

	setenv("CAIRN_TEST_SECRET", "from-env\n", 1);
	if (typed(f, "path = /srv\npassword_env = CAIRN_TEST_SECRET\n", NULL))
		fail_msg("%s", f->err);
	assert_string_equal(val(f, K_PASSWORD)->text, "from-env");
	setenv("CAIRN_TEST_SECRET", "dos\r\n", 1);
	assert_int_equal(typed(f, "path = /srv\npassword_env = CAIRN_TEST_SECRET\n", NULL), 0);
	assert_string_equal(val(f, K_PASSWORD)->text, "dos");
	setenv("CAIRN_TEST_SECRET", "s3cr\x01t", 1);
	assert_int_equal(typed(f, "path = /srv\npassword_env = CAIRN_TEST_SECRET\n", NULL),
	                 CAIRN_E_CONFIG);
	assert_contains(f->err, "cfg.ini:4: [source s] password_env:");
	assert_contains(f->err, "control character 0x01 in the first line of $CAIRN_TEST_SECRET");
	assert_null(strstr(f->err, "s3cr"));
	unsetenv("CAIRN_TEST_SECRET");
}

/* A value given for a secret key is never repeated, even a bad one. */
static void
typed_error_bad_secret_value_not_repeated(void **state)
{
	struct fx *f = *state;
	const char *ov[] = {"pin=12x4", NULL};

	assert_int_equal(typed(f, "path = /srv\n", ov), CAIRN_E_CONFIG);
	assert_contains(f->err, "--set pin: ");
	assert_contains(f->err, "not a whole number");
	assert_null(strstr(f->err, "12x4"));
	assert_int_equal(typed(f, "path = /srv\npin = 98x7\n", NULL), CAIRN_E_CONFIG);
	assert_contains(f->err, "cfg.ini:4: [source s] pin:");
	assert_null(strstr(f->err, "98x7"));
}

static void
typed_error_secret_file_missing(void **state)
{
	struct fx *f = *state;
	char *path = xasprintf("%s/no-such-pw", f->dir);

	assert_int_equal(typed(f, "path = /srv\npassword_file = no-such-pw\n", NULL),
	                 CAIRN_E_CONFIG);
	assert_contains(f->err, "cfg.ini:4:");
	assert_contains(f->err, "[source s] password_file");
	assert_contains(f->err, "cannot read");
	assert_contains(f->err, path);
	assert_contains(f->err, strerror(ENOENT));
	free(path);
}

static void
typed_error_secret_file_not_a_file(void **state)
{
	struct fx *f = *state;
	char *fifo = xasprintf("%s/pw-fifo", f->dir), *ini;
	static const char nul[] = "s3cr\0et\n";
	int fd;

	/* /dev/zero as a secret used to give an empty password */
	alarm(10); /* and a FIFO hung in open(): a hang fails */
	assert_int_equal(typed(f, "path = /srv\npassword_file = /dev/zero\n", NULL),
	                 CAIRN_E_CONFIG);
	assert_contains(f->err, "cfg.ini:4: [source s] password_file:");
	assert_contains(f->err, "/dev/zero is not a regular file but a character device");
	assert_contains(f->err, "password_file takes a file holding the secret");

	assert_int_equal(mkfifo(fifo, 0600), 0);
	ini = xasprintf("path = /srv\npassword_file = %s\n", fifo);
	assert_int_equal(typed(f, ini, NULL), CAIRN_E_CONFIG);
	assert_contains(f->err, "is not a regular file but a FIFO");
	free(ini);
	alarm(0);

	/* a file far larger than any secret */
	char *big = calloc(1, SECRET_MAX_BYTES + 2);
	assert_non_null(big);
	memset(big, 'p', SECRET_MAX_BYTES + 1);
	write_file_mode(f, "pw", big, 0600);
	assert_int_equal(typed(f, "path = /srv\npassword_file = pw\n", NULL), CAIRN_E_CONFIG);
	assert_contains(f->err, "bytes, over 64 KiB; a secret is one short line");
	assert_null(strstr(f->err, "ppp")); /* never the secret itself */
	big[SECRET_MAX_BYTES] = '\0';       /* the largest that is read */
	write_file_mode(f, "pw", big, 0600);
	assert_int_equal(typed(f, "path = /srv\npassword_file = pw\n", NULL), 0);
	assert_int_equal(strlen(val(f, K_PASSWORD)->text), SECRET_MAX_BYTES);
	free(big);

	/* a NUL used to cut the secret silently */
	char *pw = xasprintf("%s/pw", f->dir);
	fd = open(pw, O_WRONLY | O_TRUNC | O_CLOEXEC);
	free(pw);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, nul, sizeof(nul) - 1), (ssize_t)sizeof(nul) - 1);
	close(fd);
	assert_int_equal(typed(f, "path = /srv\npassword_file = pw\n", NULL), CAIRN_E_CONFIG);
	assert_contains(f->err, "cfg.ini:4: [source s] password_file:");
	assert_contains(f->err, "control character 0x00 in the first line of");
	assert_null(strstr(f->err, "s3cr"));
	free(fifo);
}

/* ========================================================= state_dir */

static void
state_dir_check_creates_a_private_directory(void **state)
{
	struct fx *f = *state;
	char *dir = xasprintf("%s/a/b/state", f->dir), *err = NULL;
	struct stat st;

	assert_int_equal(state_dir_check(dir, &err), 0);
	assert_null(err);
	assert_int_equal(stat(dir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0077, 0); /* private, whatever the umask */
	/* it leaves nothing behind, and an existing one is fine */
	assert_int_equal(rmdir(dir), 0);
	assert_int_equal(mkdir(dir, 0755), 0);
	assert_int_equal(state_dir_check(dir, &err), 0);
	assert_int_equal(rmdir(dir), 0);
	free(dir);
}

static void
state_dir_check_names_what_is_wrong(void **state)
{
	struct fx *f = *state;
	char *file = xasprintf("%s/plain", f->dir), *below = xasprintf("%s/plain/state", f->dir);
	char *ro = xasprintf("%s/ro", f->dir), *err = NULL;

	write_file_mode(f, "plain", "x", 0600);
	assert_int_equal(state_dir_check(file, &err), -1);
	assert_contains(err, file);
	assert_contains(err, "is not a directory");
	assert_contains(err, "set state_dir in [cairn] to a writable directory");
	assert_null(strchr(err, '\n'));
	free(err);
	err = NULL;

	assert_int_equal(state_dir_check(below, &err), -1);
	assert_contains(err, "cannot create the state directory");
	assert_contains(err, below);
	assert_contains(err, strerror(ENOTDIR));
	free(err);
	err = NULL;

	if (geteuid() != 0) { /* root may write anywhere */
		assert_int_equal(mkdir(ro, 0500), 0);
		assert_int_equal(state_dir_check(ro, &err), -1);
		assert_contains(err, "cannot create a file in the state directory");
		assert_contains(err, ro);
		assert_contains(err, strerror(EACCES));
		free(err);
	}
	free(file);
	free(below);
	free(ro);
}

static void
typed_error_secret_variable_unset(void **state)
{
	struct fx *f = *state;

	unsetenv("CAIRN_TEST_UNSET");
	assert_int_equal(typed(f, "path = /srv\npassword_env = CAIRN_TEST_UNSET\n", NULL),
	                 CAIRN_E_CONFIG);
	assert_contains(f->err, "cfg.ini:4:");
	assert_contains(f->err, "[source s] password_env");
	assert_contains(f->err, "environment variable CAIRN_TEST_UNSET is not set");
}

static void
typed_file_and_env_only_for_secrets(void **state)
{
	struct fx *f = *state;

	write_file_mode(f, "lbl", "x\n", 0600);
	assert_int_equal(typed(f, "path = /srv\nlabel_file = lbl\n", NULL), CAIRN_E_CONFIG);
	assert_contains(f->err, "[source s] label_file");
	assert_contains(f->err, "unknown key");
	assert_int_equal(typed(f, "path = /srv\npassword_files = x\n", NULL), CAIRN_E_CONFIG);
	assert_contains(f->err, "unknown key");
}

/* Run config_typed with stderr sent to a file; returns what was written. */
static char *
typed_stderr(struct fx *f, mode_t mode, const char *body)
{
	char *ini = xasprintf("[source s]\nplugin = test\n%s", body), *log, buf[1024];
	int saved, fd;
	size_t n;
	FILE *fp;

	write_file_mode(f, "cfg.ini", ini, mode);
	free(ini);
	config_free(f->cfg);
	f->cfg = config_load(f->path, &f->err);
	assert_non_null(f->cfg);
	log = xasprintf("%s/stderr", f->dir);
	fflush(stderr);
	saved = dup(2);
	fd = open(log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(saved >= 0 && fd >= 0);
	dup2(fd, 2);
	close(fd);
	typed_config_free(f->tc);
	f->tc = NULL;
	int rc = config_typed(f->cfg, config_section(f->cfg, SECTION_SOURCE, "s"), "test",
	                      test_keys, NULL, &f->tc, &f->err);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	assert_int_equal(rc, 0);
	fp = fopen(log, "r");
	assert_non_null(fp);
	n = fread(buf, 1, sizeof(buf) - 1, fp);
	buf[n] = '\0';
	fclose(fp);
	free(log);
	return xstrdup(buf);
}

static void
typed_warns_about_a_secret_others_can_read(void **state)
{
	struct fx *f = *state;
	char *out;

	out = typed_stderr(f, 0644, "path = /srv\npassword = hunter2\n");
	assert_contains(out, "cfg.ini:4:");
	assert_contains(out, "password");
	assert_contains(out, "chmod 600");
	assert_contains(out, "password_file");
	assert_null(strstr(out, "hunter2")); /* never the secret itself */
	free(out);

	out = typed_stderr(f, 0600, "path = /srv\npassword = hunter2\n");
	assert_string_equal(out, "");
	free(out);
	/* a secret kept in another file is fine in a readable INI */
	write_file_mode(f, "pw", "x\n", 0600);
	out = typed_stderr(f, 0644, "path = /srv\npassword_file = pw\n");
	assert_string_equal(out, "");
	free(out);
}

static int
lines_in(const char *text)
{
	int n = 0;
	for (; *text; text++)
		n += *text == '\n';
	return n;
}

/* A secret in a file others can read draws the warning an inline one
 * does: a URL's user:password in the INI, a 0644 KEY_file. */
static void
typed_warns_about_a_readable_secret_elsewhere(void **state)
{
	struct fx *f = *state;
	char *out, *pw;

	out = typed_stderr(f, 0644, "path = /srv\nlabel = mongodb://bk:hunter2@db1/?x=1\n");
	assert_contains(out, "cfg.ini:4:");
	assert_contains(out, "label holds a password");
	assert_contains(out, "chmod 600");
	assert_null(strstr(out, "hunter2"));
	assert_int_equal(lines_in(out), 1);
	free(out);
	out = typed_stderr(f, 0600, "path = /srv\nlabel = mongodb://bk:hunter2@db1/\n");
	assert_string_equal(out, "");
	free(out);
	/* a user without a password, or an @ after the host, is no secret */
	out = typed_stderr(f, 0644, "path = /srv\nlabel = mongodb://bk@db1/?a=b:c@d\n");
	assert_string_equal(out, "");
	free(out);

	write_file_mode(f, "pw", "hunter2\n", 0644);
	out = typed_stderr(f, 0600, "path = /srv\npassword_file = pw\n");
	pw = xasprintf("%s/pw", f->dir);
	assert_contains(out, pw);
	assert_contains(out, "password_file");
	assert_contains(out, "chmod 600");
	assert_null(strstr(out, "hunter2"));
	assert_int_equal(lines_in(out), 1);
	free(out);
	free(pw);
	write_file_mode(f, "pw", "hunter2\n", 0640);
	out = typed_stderr(f, 0600, "path = /srv\npassword_file = pw\n");
	assert_string_equal(out, "");
	free(out);
}

/* ============================================ every error: config check */

/* Load text with config_load_all(); its errors into errs, one line each. */
static void
load_all(struct fx *f, const char *text, struct strvec *errs)
{
	char *err = NULL;
	write_ini(f, text);
	config_free(f->cfg);
	f->cfg = config_load_all(f->path, errs, &err);
	if (!f->cfg)
		fail_msg("config_load_all: %s", err);
	for (size_t i = 0; i < errs->n; i++)
		assert_null(strchr(errs->v[i], '\n'));
}

static void
load_all_says_every_error_in_the_order_of_the_file(void **state)
{
	struct fx *f = *state;
	struct strvec errs = {0};
	load_all(f,
	         "[cairn]\n"           /* 1 */
	         "statedir = x\n"      /* 2: unknown key */
	         "[retention r]\n"     /* 3 */
	         "keep_daily = lots\n" /* 4: not a count */
	         "[job j]\n"           /* 5 */
	         "sources = nosuch\n"  /* 6: no such source */
	         "sinks = gone\n"      /* 7: no such sink */
	         "compression = rar\n" /* 8: not a compression */
	         "bad line\n"          /* 9: syntax */
	         "another bad line\n"  /* 10: syntax */
	         "[check]\n"           /* 11 */
	         "max_usage = 200%\n", /* 12: not a threshold */
	         &errs);
	assert_int_equal(errs.n, 9);
	assert_contains(errs.v[0], "cfg.ini:2: [cairn] statedir: unknown key");
	assert_contains(errs.v[1], "cfg.ini:3: [retention r]: keeps no backups at all");
	assert_contains(errs.v[2], "cfg.ini:4: [retention r] keep_daily: \"lots\" is not a count");
	assert_contains(errs.v[3], "cfg.ini:6: [job j] sources: no source named \"nosuch\"");
	assert_contains(errs.v[4], "cfg.ini:7: [job j] sinks: no sink named \"gone\"");
	assert_contains(errs.v[5], "cfg.ini:8: [job j] compression: \"rar\" is not a compression");
	assert_contains(errs.v[6], "cfg.ini:9: not a section header");
	assert_contains(errs.v[7], "cfg.ini:10: not a section header");
	assert_contains(errs.v[8], "cfg.ini:12: [check] max_usage:");
	/* what is sound is still there to check */
	assert_int_equal(f->cfg->njobs, 1);
	assert_int_equal(f->cfg->jobs[0].sources.n, 0);
	strvec_free(&errs);

	/* config_load() says only one: a line inih refused comes first */
	char *err = NULL;
	assert_null(config_load(f->path, &err));
	assert_contains(err, "cfg.ini:9: not a section header");
	free(err);
}

static void
load_all_of_a_good_file_says_nothing(void **state)
{
	struct fx *f = *state;
	struct strvec errs = {0};
	load_all(f, BASE "sources = db files\nsinks = local\nretention = std\n", &errs);
	assert_int_equal(errs.n, 0);
	assert_int_equal(f->cfg->jobs[0].sources.n, 2);
	assert_string_equal(config_section(f->cfg, SECTION_SOURCE, "db")->plugin, "mongo");
}

static void
load_all_skips_the_keys_of_a_refused_section(void **state)
{
	struct fx *f = *state;
	struct strvec errs = {0};
	/* the keys under the refused headers are neither errors of their
	 * own nor set twice in the section before */
	load_all(f,
	         "[sink a]\nplugin = local\n[sink a]\nplugin = s3\n[sink b!]\nplugin = x\n"
	         "[sink c]\nplugin = no/such\n[source d]\npath = x\n",
	         &errs);
	assert_int_equal(errs.n, 4);
	assert_contains(errs.v[0], "cfg.ini:3: [sink a]: defined twice (first at line 1)");
	assert_contains(errs.v[1], "cfg.ini:5: [sink b!]: \"b!\" is not a valid name");
	assert_contains(errs.v[2], "cfg.ini:8: [sink c] plugin: \"no/such\" is not a plugin name");
	assert_contains(errs.v[3], "cfg.ini:9: [source d]: no plugin = key");
	/* a refused plugin name is not kept to be loaded */
	assert_null(config_section(f->cfg, SECTION_SINK, "c")->plugin);
	assert_string_equal(config_section(f->cfg, SECTION_SINK, "a")->plugin, "local");
	strvec_free(&errs);
}

static void
load_all_stops_only_when_the_file_cannot_be_read(void **state)
{
	struct fx *f = *state;
	struct strvec errs = {0};
	char *err = NULL, *missing = xasprintf("%s/nosuch.ini", f->dir);
	assert_null(config_load_all(missing, &errs, &err));
	assert_int_equal(errs.n, 0);
	assert_contains(err, "nosuch.ini: cannot read the configuration");
	free(err);
	free(missing);
}

static void
typed_all_says_every_key_error(void **state)
{
	struct fx *f = *state;
	struct strvec errs = {0};
	struct typed_config *tc = NULL;
	load(f, "[source s]\nplugin = test\npth = /srv\nfsync = maybe\nretries = many\n");
	assert_int_equal(config_typed_all(f->cfg, config_section(f->cfg, SECTION_SOURCE, "s"),
	                                  "test", test_keys, NULL, &tc, &errs),
	                 CAIRN_E_CONFIG);
	assert_null(tc);
	assert_int_equal(errs.n, 4);
	assert_contains(errs.v[0], "cfg.ini:3: [source s] pth: unknown key for plugin test; did "
	                           "you mean path?");
	assert_contains(errs.v[1], "cfg.ini:4: [source s] fsync: \"maybe\" is not yes or no");
	assert_contains(errs.v[2], "cfg.ini:5: [source s] retries: \"many\" is not a whole number");
	assert_contains(errs.v[3], "cfg.ini:1: [source s] path: required by plugin test");
	strvec_free(&errs);

	/* config_typed() says the first; a key given with a bad value is not
	 * also "required" */
	char *err = NULL;
	load(f, "[source s]\nplugin = test\npath =\nfsync = maybe\n");
	assert_int_equal(config_typed(f->cfg, config_section(f->cfg, SECTION_SOURCE, "s"), "test",
	                              test_keys, NULL, &tc, &err),
	                 CAIRN_E_CONFIG);
	assert_contains(err, "cfg.ini:3: [source s] path: empty path");
	free(err);
	assert_int_equal(config_typed_all(f->cfg, config_section(f->cfg, SECTION_SOURCE, "s"),
	                                  "test", test_keys, NULL, &tc, &errs),
	                 CAIRN_E_CONFIG);
	assert_int_equal(errs.n, 2);
	strvec_free(&errs);
}

/* The job's log keys (config_log.c): defaults, values, refusals. */
static void
test_job_log_keys(void **state)
{
	struct fx *f = *state;
	struct config *cfg = load(f, BASE "sources = db\nsinks = local\n");
	const char *e;
	assert_int_equal(cfg->jobs[0].log.segment_span, 60);
	assert_int_equal(cfg->jobs[0].log.segment_size, (uint64_t)64 << 20);
	cfg = load(f,
	           BASE "sources = db\nsinks = local\nsegment_span = 2m\nsegment_size = 64KiB\n");
	assert_int_equal(cfg->jobs[0].log.segment_span, 120);
	assert_int_equal(cfg->jobs[0].log.segment_size, (uint64_t)64 << 10);
	e = load_err(f, BASE "sources = db\nsinks = local\nsegment_span = 0s\n");
	assert_non_null(
	        strstr(e, ":12: [job nightly] segment_span: \"0s\": use a duration from 1s"));
	e = load_err(f, BASE "sources = db\nsinks = local\nsegment_size = 1000\n");
	assert_non_null(strstr(e, "segment_size: \"1000\": use a size from 64KiB"));
	e = load_err(f, BASE "sources = db\nsinks = local\nsegment_spam = 1s\n");
	assert_non_null(strstr(e, "segment_span, segment_size"));
}

/* ============================================ a job's encryption keys */

/* Keys made with Debian's age-keygen (tests/unit/age_kat.h's). */
static const char kat_key1[] =
        "AGE-SECRET-KEY-1FAZ5HZ5NP2Y8QGPJZFCTCV4RXTGE9EW2HTX06M9PKGYAPXTAUXCSKD7A7R";
static const char kat_pub1[] = "age1xfgzzk36cjzgw662tv28v04cu32g5e0c5fjgyxc5skjk3dr5mglqaakjy8";
static const char kat_pub2[] = "age1ny7d4s9t0amag4glufa2uemz6wvjwqh9n7dgm3lrapfleu0hgpyqle3llf";

/* Without encryption keys a job does not encrypt and keeps its stats. */
static void
crypt_keys_default_to_none(void **state)
{
	struct fx *f = *state;
	struct config *cfg = load(f, BASE "sources = db\nsinks = local\n");
	const struct cfg_crypt *c = &cfg->jobs[0].crypt;
	assert_int_equal(c->age, 0);
	assert_int_equal(c->recipients.n, 0);
	assert_null(c->recipients_file);
	assert_null(c->passphrase_file);
	assert_null(c->passphrase_env);
	assert_null(c->identity_file);
	assert_int_equal(c->manifest_stats, 1);
	assert_int_equal(c->line, 0);
}

/* Each key read, recipients checked and kept, paths made absolute against
 * the INI's directory. */
static void
crypt_keys_are_read_with_absolute_paths(void **state)
{
	struct fx *f = *state;
	char *ini = xasprintf(BASE "sources = db\nsinks = local\n"
	                           "encryption = age\n"
	                           "age_recipients = %s\n"
	                           "  %s\n"
	                           "age_recipients_file = keys/../keys/recipients.txt\n"
	                           "age_identity_file = id.txt\n"
	                           "manifest_stats = no\n",
	                      kat_pub1, kat_pub2);
	struct config *cfg = load(f, ini);
	const struct cfg_crypt *c = &cfg->jobs[0].crypt;
	char *want;
	free(ini);
	assert_int_equal(c->age, 1);
	assert_int_equal(c->line, 12);
	assert_int_equal(c->recipients.n, 2);
	assert_string_equal(c->recipients.v[0], kat_pub1);
	assert_string_equal(c->recipients.v[1], kat_pub2);
	want = xasprintf("%s/keys/recipients.txt", f->dir);
	assert_string_equal(c->recipients_file, want);
	free(want);
	want = xasprintf("%s/id.txt", f->dir);
	assert_string_equal(c->identity_file, want);
	free(want);
	assert_int_equal(c->manifest_stats, 0);
	assert_string_equal(c->cfg_path, f->path);

	cfg = load(f, BASE "sources = db\nsinks = local\nencryption = age\n"
	                   "age_passphrase_file = pass\n");
	want = xasprintf("%s/pass", f->dir);
	assert_string_equal(cfg->jobs[0].crypt.passphrase_file, want);
	free(want);
	cfg = load(f, BASE "sources = db\nsinks = local\nencryption = age\n"
	                   "age_passphrase_env = CAIRN_PASS\nmanifest_stats = yes\n");
	assert_string_equal(cfg->jobs[0].crypt.passphrase_env, "CAIRN_PASS");
	assert_int_equal(cfg->jobs[0].crypt.manifest_stats, 1);
	/* encryption = none says so: keys kept (for reading), nothing refused */
	cfg = load(f, BASE "sources = db\nsinks = local\nencryption = none\n"
	                   "age_passphrase_env = CAIRN_PASS\n");
	assert_int_equal(cfg->jobs[0].crypt.age, 0);
}

/* Each value refused names the file, line, [job] and key, and what to do;
 * a secret key put among the recipients is never repeated. */
static void
crypt_keys_refuse_bad_values(void **state)
{
	struct fx *f = *state;
	const char *e;
	char *ini;

	e = load_err(f, BASE "sources = db\nsinks = local\nencryption = aes\n");
	assert_contains(e, "cfg.ini:12: [job nightly] encryption: \"aes\" is not an encryption");
	assert_contains(e, "use age");
	e = load_err(f, BASE "sources = db\nsinks = local\nencryption = age\n"
	                     "age_recipients = age1typo\n");
	assert_contains(e, "cfg.ini:13: [job nightly] age_recipients: \"age1typo\" is not a valid "
	                   "age recipient");
	assert_contains(e, "age-keygen -y");
	/* a good key with one letter changed: its checksum fails */
	ini = xasprintf(BASE "sources = db\nsinks = local\nencryption = age\n"
	                     "age_recipients = %s %.*sq\n",
	                kat_pub1, (int)strlen(kat_pub2) - 1, kat_pub2);
	e = load_err(f, ini);
	free(ini);
	assert_contains(e, "cfg.ini:13: [job nightly] age_recipients: \"age1ny7d4s9");
	ini = xasprintf(BASE "sources = db\nsinks = local\nencryption = age\n"
	                     "age_recipients = %s %s\n",
	                kat_pub1, kat_key1);
	e = load_err(f, ini);
	free(ini);
	assert_contains(e, "cfg.ini:13: [job nightly] age_recipients: word 2 is a secret key");
	assert_contains(e, "age_identity_file");
	assert_null(strstr(e, kat_key1 + 16));
	ini = xasprintf(BASE "sources = db\nsinks = local\nencryption = age\n"
	                     "age_recipients = %s %s\n",
	                kat_pub1, kat_pub1);
	e = load_err(f, ini);
	free(ini);
	assert_contains(e, "is listed twice");
	e = load_err(f, BASE "sources = db\nsinks = local\nmanifest_stats = maybe\n");
	assert_contains(e, "cfg.ini:12: [job nightly] manifest_stats: \"maybe\" is not yes or no");
	e = load_err(f, BASE "sources = db\nsinks = local\nencryption = age\n"
	                     "age_passphrase_env = 1PASS\n");
	assert_contains(e, "cfg.ini:13: [job nightly] age_passphrase_env: \"1PASS\" is not the "
	                   "name of an environment variable");
	e = load_err(f, BASE "sources = db\nsinks = local\nage_identity_file =\n");
	assert_contains(e, "cfg.ini:12: [job nightly] age_identity_file: empty value; give a file");
	e = load_err(f, BASE "sources = db\nsinks = local\nage_recipient = x\n");
	assert_contains(e, "age_recipients, age_recipients_file, age_passphrase_file");
	assert_contains(e, "manifest_stats");
}

/* The keys together: encryption = age needs someone to encrypt to; a
 * passphrase is alone; recipients without encryption = would back up in
 * clear. */
static void
crypt_keys_are_checked_together(void **state)
{
	struct fx *f = *state;
	const char *e;
	char *ini;

	e = load_err(f, BASE "sources = db\nsinks = local\nencryption = age\n");
	assert_contains(e, "cfg.ini:9: [job nightly]: encryption = age needs age_recipients or "
	                   "age_recipients_file");
	assert_contains(e, "age_passphrase_file");
	ini = xasprintf(BASE "sources = db\nsinks = local\nencryption = age\n"
	                     "age_recipients = %s\nage_passphrase_env = P\n",
	                kat_pub1);
	e = load_err(f, ini);
	free(ini);
	assert_contains(e, "cfg.ini:9: [job nightly]: age_passphrase_env with age_recipients: age "
	                   "encrypts to a passphrase alone or to recipients");
	e = load_err(f, BASE "sources = db\nsinks = local\nencryption = age\n"
	                     "age_recipients_file = r\nage_passphrase_file = p\n");
	assert_contains(e, "age_passphrase_file with age_recipients_file");
	e = load_err(f, BASE "sources = db\nsinks = local\nencryption = age\n"
	                     "age_passphrase_file = p\nage_passphrase_env = P\n");
	assert_contains(e, "age_passphrase_file and age_passphrase_env are both set; keep one");
	ini = xasprintf(BASE "sources = db\nsinks = local\nage_recipients = %s\n", kat_pub1);
	e = load_err(f, ini);
	free(ini);
	assert_contains(e, "[job nightly]: age_recipients is set but there is no encryption = key");
	assert_contains(e, "add encryption = age");
	/* a bad value is said once, not again as a missing recipient */
	free(f->err);
	f->err = NULL;
	{
		struct strvec errs = {0};
		write_ini(f, BASE "sources = db\nsinks = local\nencryption = age\n"
		                  "age_recipients = age1typo\n");
		config_free(f->cfg);
		f->cfg = config_load_all(f->path, &errs, &f->err);
		assert_non_null(f->cfg);
		assert_int_equal(errs.n, 1);
		assert_contains(errs.v[0], "age_recipients: \"age1typo\"");
		strvec_free(&errs);
	}
}

#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        T(test_job_log_keys),
	        T(load_parses_the_design_example),
	        T(load_lookups_tell_kinds_apart),
	        T(load_joins_continuations_and_skips_comments),
	        T(load_reads_every_compression_and_level),
	        T(load_makes_a_relative_ini_path_absolute),
	        T(load_defaults_state_dir),
	        T(load_notes_a_file_others_can_read),
	        T(load_allows_one_name_in_different_kinds),
	        T(load_accepts_an_empty_file),
	        T(load_error_missing_file_suggests_c_and_env),
	        T(load_error_a_directory_is_not_a_config),
	        T(load_error_dev_zero_is_not_a_config),
	        T(load_error_a_fifo_is_not_a_config),
	        T(load_error_an_oversized_file),
	        T(load_skips_a_byte_order_mark),
	        T(load_reads_crlf_lines),
	        T(load_error_control_characters_name_the_line),
	        T(load_error_the_first_error_in_the_file_wins),
	        T(load_error_unknown_section_kind),
	        T(load_error_section_without_name),
	        T(load_error_cairn_section_with_name),
	        T(load_error_invalid_section_name),
	        T(load_error_duplicate_section),
	        T(load_error_duplicate_key),
	        T(load_error_key_outside_any_section),
	        T(load_error_unknown_key_in_cairn),
	        T(load_error_empty_directory_in_cairn),
	        T(load_error_unknown_key_in_job),
	        T(load_error_unknown_key_in_retention),
	        T(load_error_job_names_missing_source),
	        T(load_error_job_names_missing_sink),
	        T(load_error_job_names_missing_retention),
	        T(load_error_job_without_sources_or_sinks),
	        T(load_error_empty_list),
	        T(load_error_name_listed_twice),
	        T(load_error_bad_compression),
	        T(load_error_compression_level_out_of_range),
	        T(load_error_level_with_compression_none),
	        T(compression_threads_default_to_one_and_are_checked),
	        T(load_error_retention_bad_count),
	        T(load_error_retention_keeps_nothing),
	        T(load_error_plugin_section_without_plugin),
	        T(load_error_bad_plugin_name),
	        T(load_error_line_too_long),
	        T(load_error_line_without_equals),
	        T(typed_parses_every_type),
	        T(typed_applies_defaults_when_unset),
	        T(typed_empty_list_is_set_and_empty),
	        T(typed_reads_sizes_durations_bools_and_ints),
	        T(typed_error_unknown_key_suggests_near_key),
	        T(typed_error_far_unknown_key_lists_the_keys),
	        T(typed_error_bad_value_names_the_type),
	        T(typed_error_missing_required_key_names_section_line),
	        T(typed_error_broken_default_blames_the_plugin),
	        T(typed_overrides_win_over_the_ini),
	        T(typed_override_path_is_relative_to_cwd),
	        T(typed_error_unknown_override_mentions_set),
	        T(typed_error_bad_override),
	        T(typed_secret_from_file_takes_its_first_line),
	        T(typed_secret_from_environment),
	        T(typed_secret_from_environment_checked_like_a_file),
	        T(typed_error_bad_secret_value_not_repeated),
	        T(typed_error_secret_given_twice),
	        T(state_dir_check_creates_a_private_directory),
	        T(state_dir_check_names_what_is_wrong),
	        T(typed_error_secret_file_missing),
	        T(typed_error_secret_file_not_a_file),
	        T(typed_error_secret_variable_unset),
	        T(typed_file_and_env_only_for_secrets),
	        T(typed_warns_about_a_secret_others_can_read),
	        T(typed_warns_about_a_readable_secret_elsewhere),
	        T(load_all_says_every_error_in_the_order_of_the_file),
	        T(load_all_of_a_good_file_says_nothing),
	        T(load_all_skips_the_keys_of_a_refused_section),
	        T(load_all_stops_only_when_the_file_cannot_be_read),
	        T(typed_all_says_every_key_error),
	        T(crypt_keys_default_to_none),
	        T(crypt_keys_are_read_with_absolute_paths),
	        T(crypt_keys_refuse_bad_values),
	        T(crypt_keys_are_checked_together),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
