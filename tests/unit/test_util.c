/*
 * test_util.c - unit tests of src/util.c: string vectors, word splitting,
 * joining, mkdir -p, writing a file atomically, path helpers, byte
 * formatting, the name rule, and escaping for the terminal (also of every
 * log line).
 */
#include "autoconf.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include "log.h"
#include "util.h"

/* Compare a freshly allocated string with the expected text and free it. */
#define assert_str_take(got, want)                 \
	do {                                       \
		char *got_ = (got);                \
		assert_non_null(got_);             \
		assert_string_equal(got_, (want)); \
		free(got_);                        \
	} while (0)

/* ------------------------------------------------------------ strvec */

static void
strvec_push_copies_and_keeps_null_terminated(void **state)
{
	struct strvec sv = {0};
	char buf[8] = "one";
	(void)state;

	strvec_push(&sv, buf);
	strcpy(buf, "XXX"); /* the vector holds its own copy */
	assert_int_equal(sv.n, 1);
	assert_string_equal(sv.v[0], "one");
	assert_null(sv.v[1]);
	/* grow well past the first allocation */
	for (int i = 0; i < 100; i++) {
		char w[16];
		snprintf(w, sizeof(w), "w%d", i);
		strvec_push(&sv, w);
		assert_null(sv.v[sv.n]);
	}
	assert_int_equal(sv.n, 101);
	assert_string_equal(sv.v[100], "w99");
	strvec_free(&sv);
}

static void
strvec_push_own_takes_the_pointer(void **state)
{
	struct strvec sv = {0};
	char *s = strdup("mine");
	(void)state;

	strvec_push_own(&sv, s);
	assert_ptr_equal(sv.v[0], s);
	assert_null(sv.v[1]);
	strvec_free(&sv); /* frees s: valgrind catches a leak otherwise */
}

static void
strvec_contains_matches_whole_strings(void **state)
{
	struct strvec sv = {0};
	(void)state;

	assert_false(strvec_contains(&sv, "a"));
	strvec_push(&sv, "alpha");
	strvec_push(&sv, "beta");
	assert_true(strvec_contains(&sv, "alpha"));
	assert_true(strvec_contains(&sv, "beta"));
	assert_false(strvec_contains(&sv, "alph"));
	assert_false(strvec_contains(&sv, "alphabet"));
	assert_false(strvec_contains(&sv, ""));
	strvec_free(&sv);
}

static void
strvec_sort_orders_bytewise(void **state)
{
	struct strvec sv = {0};
	const char *in[] = {"pear", "Zebra", "apple", "20261126T020000Z", "20260101T000000Z",
	                    "apple"};
	const char *want[] = {
	        "20260101T000000Z", "20261126T020000Z", "Zebra", "apple", "apple", "pear"};
	(void)state;

	for (size_t i = 0; i < 6; i++)
		strvec_push(&sv, in[i]);
	strvec_sort(&sv);
	for (size_t i = 0; i < 6; i++)
		assert_string_equal(sv.v[i], want[i]);
	assert_null(sv.v[6]);
	strvec_free(&sv);
}

static void
strvec_sort_and_free_accept_empty(void **state)
{
	struct strvec sv = {0};
	(void)state;

	strvec_sort(&sv);
	strvec_free(&sv);
	assert_null(sv.v);
	strvec_push(&sv, "x");
	strvec_sort(&sv);
	assert_string_equal(sv.v[0], "x");
	strvec_free(&sv);
	/* free leaves it empty and reusable */
	assert_null(sv.v);
	assert_int_equal(sv.n, 0);
	assert_int_equal(sv.cap, 0);
	strvec_push(&sv, "again");
	assert_int_equal(sv.n, 1);
	strvec_free(&sv);
}

/* ------------------------------------------------------- split_words */

static void
split_words_splits_on_spaces_and_tabs(void **state)
{
	struct strvec sv = {0};
	(void)state;

	split_words("  a\t\tbb   c\t ", &sv);
	assert_int_equal(sv.n, 3);
	assert_string_equal(sv.v[0], "a");
	assert_string_equal(sv.v[1], "bb");
	assert_string_equal(sv.v[2], "c");
	assert_null(sv.v[3]);
	strvec_free(&sv);

	split_words("single", &sv);
	assert_int_equal(sv.n, 1);
	assert_string_equal(sv.v[0], "single");
	strvec_free(&sv);
}

static void
split_words_appends_to_what_is_there(void **state)
{
	struct strvec sv = {0};
	(void)state;

	strvec_push(&sv, "first");
	split_words("second third", &sv);
	assert_int_equal(sv.n, 3);
	assert_string_equal(sv.v[0], "first");
	assert_string_equal(sv.v[2], "third");
	strvec_free(&sv);
}

static void
split_words_of_blank_text_gives_nothing(void **state)
{
	struct strvec sv = {0};
	(void)state;

	split_words("", &sv);
	assert_int_equal(sv.n, 0);
	split_words(" \t \t", &sv);
	assert_int_equal(sv.n, 0);
	strvec_free(&sv);
}

/* ------------------------------------------------------------- paths */

static void
strvec_join_puts_sep_between_only(void **state)
{
	struct strvec sv = {0};
	(void)state;

	assert_str_take(strvec_join(&sv, ", "), "");
	strvec_push(&sv, "a");
	assert_str_take(strvec_join(&sv, ", "), "a");
	strvec_push(&sv, "");
	strvec_push(&sv, "ccc");
	assert_str_take(strvec_join(&sv, ", "), "a, , ccc");
	assert_str_take(strvec_join(&sv, ""), "accc");
	assert_str_take(strvec_join(&sv, " -- "), "a --  -- ccc");
	strvec_free(&sv);
}

static void
strvec_join_is_linear_in_the_names(void **state)
{
	/* 20,000 names of 19 bytes: the old quadratic loop copied about
	 * 4 GB for this; one pass copies 400 KB and ends at once */
	struct strvec sv = {0};
	char name[32];
	(void)state;

	alarm(10);
	for (int i = 0; i < 20000; i++) {
		snprintf(name, sizeof(name), "name-%014d", i);
		strvec_push(&sv, name);
	}
	char *all = strvec_join(&sv, ",");
	assert_int_equal(strlen(all), 20000 * 19 + 19999);
	assert_memory_equal(all, "name-00000000000000,name-00000000000001,", 40);
	assert_string_equal(all + strlen(all) - 19, "name-00000000019999");
	free(all);
	strvec_free(&sv);
	alarm(0);
}

static void
mkdir_p_makes_every_missing_parent_with_mode(void **state)
{
	char dir[] = "/tmp/cairn-test-mkdir-XXXXXX";
	struct stat st;
	mode_t old = umask(022);
	(void)state;

	assert_non_null(mkdtemp(dir));
	char *deep = xasprintf("%s/a/b/c", dir);
	assert_int_equal(mkdir_p(deep, 0700), 0);
	for (int i = 0; i < 3; i++) {
		static const char *const parts[] = {"a", "a/b", "a/b/c"};
		char *part = xasprintf("%s/%s", dir, parts[i]);
		assert_int_equal(stat(part, &st), 0);
		assert_true(S_ISDIR(st.st_mode));
		/* the mode asked for */
		assert_int_equal(st.st_mode & 07777, 0700);
		free(part);
	}
	/* again: what exists is fine, and a trailing slash too */
	assert_int_equal(mkdir_p(deep, 0700), 0);
	char *slash = xasprintf("%s/", deep);
	assert_int_equal(mkdir_p(slash, 0700), 0);
	free(slash);
	umask(old);
	free(deep);
	rm_tree(dir);
}

static void
mkdir_p_fails_below_a_file_with_errno(void **state)
{
	char dir[] = "/tmp/cairn-test-mkdir-XXXXXX";
	(void)state;

	assert_non_null(mkdtemp(dir));
	char *file = xasprintf("%s/file", dir);
	FILE *f = fopen(file, "w");
	assert_non_null(f);
	fclose(f);
	char *below = xasprintf("%s/sub/dir", file);
	errno = 0;
	assert_int_equal(mkdir_p(below, 0700), -1);
	assert_int_equal(errno, ENOTDIR);
	free(below);
	free(file);
	rm_tree(dir);
}

static void
path_join_puts_one_slash_between(void **state)
{
	(void)state;
	assert_str_take(path_join("a", "b"), "a/b");
	assert_str_take(path_join("/srv/data", "x/y"), "/srv/data/x/y");
	assert_str_take(path_join("/srv/data/", "x"), "/srv/data/x");
	assert_str_take(path_join("/srv/data///", "x"), "/srv/data/x");
	assert_str_take(path_join("/srv", "/x"), "/srv/x");
	assert_str_take(path_join("/srv/", "//x"), "/srv/x");
}

static void
path_join_keeps_the_root_single(void **state)
{
	(void)state;
	assert_str_take(path_join("/", "etc"), "/etc");
	assert_str_take(path_join("//", "etc"), "/etc");
	assert_str_take(path_join("/", "/etc"), "/etc");
}

static void
path_dirname_returns_the_directory_part(void **state)
{
	(void)state;
	assert_str_take(path_dirname("/etc/cairn/cairn.ini"), "/etc/cairn");
	assert_str_take(path_dirname("conf/cairn.ini"), "conf");
	assert_str_take(path_dirname("cairn.ini"), ".");
	assert_str_take(path_dirname("/cairn.ini"), "/");
	assert_str_take(path_dirname("/"), "/");
}

static void
path_absolute_keeps_absolute_paths(void **state)
{
	(void)state;
	assert_str_take(path_absolute("/var/backups", "/etc"), "/var/backups");
	assert_str_take(path_absolute("/var/backups", NULL), "/var/backups");
	assert_str_take(path_absolute("/", "relative/base"), "/");
}

static void
path_absolute_resolves_against_base(void **state)
{
	(void)state;
	assert_str_take(path_absolute("data", "/etc/cairn"), "/etc/cairn/data");
	assert_str_take(path_absolute("a/b", "/etc/cairn/"), "/etc/cairn/a/b");
	assert_str_take(path_absolute("./data", "/etc/cairn"), "/etc/cairn/data");
	assert_str_take(path_absolute(".", "/etc/cairn"), "/etc/cairn");
	/* "..", "." and "//" collapse as a person reads them */
	assert_str_take(path_absolute("../x", "/etc/cairn"), "/etc/x");
	assert_str_take(path_absolute("../../../x", "/etc/cairn"), "/x");
	assert_str_take(path_absolute("a/./b//c/..", "/etc"), "/etc/a/b");
	assert_str_take(path_absolute("/var//backups/./", NULL), "/var/backups");
	assert_str_take(path_absolute("..", "/"), "/");
	assert_str_take(path_absolute("x", "/"), "/x");
}

static void
path_absolute_uses_cwd_without_base(void **state)
{
	char *cwd = getcwd(NULL, 0), *want;
	(void)state;

	assert_non_null(cwd);
	want = path_join(cwd, "data");
	assert_str_take(path_absolute("data", NULL), want);
	assert_str_take(path_absolute("./data", NULL), want);
	assert_str_take(path_absolute(".", NULL), cwd);
	free(want);
	free(cwd);
}

static void
path_absolute_makes_a_relative_base_absolute_first(void **state)
{
	char *cwd = getcwd(NULL, 0), *want;
	(void)state;

	assert_non_null(cwd);
	want = xasprintf("%s%sconf/data", cwd, strcmp(cwd, "/") ? "/" : "");
	assert_str_take(path_absolute("data", "conf"), want);
	assert_str_take(path_absolute("data", "./conf"), want);
	free(want);
	assert_str_take(path_absolute("/abs", "conf"), "/abs");
	free(cwd);
}

/* ------------------------------------------------------ format_bytes */

static void
format_bytes_picks_binary_units(void **state)
{
	char buf[32];
	(void)state;

	assert_string_equal(format_bytes(0, buf, sizeof(buf)), "0 B");
	assert_string_equal(format_bytes(1, buf, sizeof(buf)), "1 B");
	assert_string_equal(format_bytes(1023, buf, sizeof(buf)), "1023 B");
	assert_string_equal(format_bytes(1024, buf, sizeof(buf)), "1.0 KiB");
	assert_string_equal(format_bytes(1536, buf, sizeof(buf)), "1.5 KiB");
	assert_string_equal(format_bytes(64ULL << 20, buf, sizeof(buf)), "64.0 MiB");
	assert_string_equal(format_bytes(3ULL << 29, buf, sizeof(buf)), "1.5 GiB");
	assert_string_equal(format_bytes(5ULL << 40, buf, sizeof(buf)), "5.0 TiB");
	assert_string_equal(format_bytes(2ULL << 50, buf, sizeof(buf)), "2.0 PiB");
	/* the largest unit is PiB: bigger numbers stay in it */
	assert_string_equal(format_bytes(UINT64_MAX, buf, sizeof(buf)), "16384.0 PiB");
}

static void
format_bytes_returns_buf_and_truncates_safely(void **state)
{
	char buf[5];
	(void)state;

	assert_ptr_equal(format_bytes(1536, buf, sizeof(buf)), buf);
	assert_string_equal(buf, "1.5 ");
}

/* -------------------------------------------------------- valid_name */

static void
valid_name_accepts_letters_digits_and_marks(void **state)
{
	(void)state;
	assert_true(valid_name("nightly"));
	assert_true(valid_name("plato_db"));
	assert_true(valid_name("s3-offsite"));
	assert_true(valid_name("v1.2"));
	assert_true(valid_name("9lives"));
	assert_true(valid_name("_x"));
	assert_true(valid_name("x."));
	assert_true(valid_name("X"));
}

static void
valid_name_refuses_what_breaks_object_keys(void **state)
{
	(void)state;
	assert_false(valid_name(""));
	assert_false(valid_name("."));
	assert_false(valid_name(".."));
	assert_false(valid_name(".hidden"));
	assert_false(valid_name("-opt"));
	assert_false(valid_name("a/b"));
	assert_false(valid_name("a b"));
	assert_false(valid_name("a\tb"));
	assert_false(valid_name("tab\n"));
	assert_false(valid_name("x:y"));
	assert_false(valid_name("x*"));
	assert_false(valid_name("caf\xc3\xa9"));
}

/* ------------------------------------------------------------ escaping */

static const struct {
	const char *in, *out;
} escapes[] = {
        {"", ""},
        {"plain name.txt", "plain name.txt"},
        {"\x1b[2J", "\\x1b[2J"},                      /* clear the screen */
        {"\x1b]0;owned\x07x", "\\x1b]0;owned\\x07x"}, /* set the title */
        {"a\nb", "a\\nb"},
        {"a\tb", "a\\tb"},
        {"a\rb", "a\\rb"},
        {"back\\slash", "back\\\\slash"}, /* so escaping can be undone */
        {"\\x1b", "\\\\x1b"},             /* not mistaken for an escape */
        {"\x01\x1f\x7f", "\\x01\\x1f\\x7f"},
        {" ~", " ~"}, /* the printable ends stay */
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
        {"\xc2\xa0\xef\xbf\xbd\xf4\x8f\xbf\xbf", "\xc2\xa0\xef\xbf\xbd\xf4\x8f\xbf\xbf"},
        /* Latin-1 and stray bytes: not UTF-8 */
        {"caf\xe9", "caf\\xe9"},
        {"\x80\xbf", "\\x80\\xbf"},
        {"\xff\xfe", "\\xff\\xfe"},
        /* C1 controls: U+009B is CSI to some terminals, raw or as UTF-8 */
        {"\x9b"
         "2J",
         "\\x9b"
         "2J"},
        {"\xc2\x9b"
         "2J",
         "\\xc2\\x9b"
         "2J"},
        {"\xc2\x85", "\\xc2\\x85"},
        /* overlong, surrogate, over U+10FFFF, cut short */
        {"\xc0\xaf", "\\xc0\\xaf"},
        {"\xe0\x80\xaf", "\\xe0\\x80\\xaf"},
        {"\xed\xa0\x80", "\\xed\\xa0\\x80"},
        {"\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"},
        {"\xe2\x82", "\\xe2\\x82"},
        {"\xe2\x82x", "\\xe2\\x82x"},
        {"\xf0\x9f\x98", "\\xf0\\x9f\\x98"},
};

static void
str_escape_escapes_controls_and_bad_utf8(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(escapes) / sizeof(escapes[0]); i++) {
		char *got = str_escape(escapes[i].in);
		if (strcmp(got, escapes[i].out) != 0)
			fail_msg("case %zu: str_escape gave \"%s\", want \"%s\"", i, got,
			         escapes[i].out);
		free(got);
	}
}

static void
str_escape_buf_takes_nul_bytes_and_never_cuts_an_escape(void **state)
{
	char buf[16];
	(void)state;

	/* a NUL inside the bytes is escaped like any control */
	assert_int_equal(str_escape_buf(buf, sizeof(buf), "a\0b", 3), 6);
	assert_string_equal(buf, "a\\x00b");
	/* the length it needs, like snprintf; what fits is whole escapes */
	assert_int_equal(str_escape_buf(buf, 4, "ab\x1b", 3), 6);
	assert_string_equal(buf, "ab");
	assert_int_equal(str_escape_buf(buf, 7, "ab\x1b", 3), 6);
	assert_string_equal(buf, "ab\\x1b");
	assert_int_equal(str_escape_buf(buf, 3, "\xc3\xa9\xc3\xa9", 4), 4);
	assert_string_equal(buf, "\xc3\xa9"); /* not half a character */
	assert_int_equal(str_escape_buf(buf, 1, "x", 1), 1);
	assert_string_equal(buf, "");
	assert_int_equal(str_escape_buf(NULL, 0, "\n\n", 2), 4);
	/* a valid sequence is not read past len */
	assert_int_equal(str_escape_buf(buf, sizeof(buf), "\xc3\xa9", 1), 4);
	assert_string_equal(buf, "\\xc3");
}

/* What log_error("cannot read %s: gone", name) writes to stderr. */
static char *
logged(const char *name)
{
	char path[] = "/tmp/test_util.log.XXXXXX", *text;
	int fd = mkstemp(path), saved;
	FILE *fp;
	long len;
	assert_true(fd >= 0);
	fflush(stderr);
	saved = dup(2);
	assert_true(saved >= 0);
	dup2(fd, 2);
	close(fd);
	log_error("cannot read %s: gone", name);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	fp = fopen(path, "r");
	assert_non_null(fp);
	fseek(fp, 0, SEEK_END);
	len = ftell(fp);
	rewind(fp);
	text = calloc(1, (size_t)len + 1);
	assert_non_null(text);
	assert_int_equal(fread(text, 1, (size_t)len, fp), (size_t)len);
	fclose(fp);
	unlink(path);
	return text;
}

static void
log_lines_carry_no_escape_sequence(void **state)
{
	char *out, *name;
	(void)state;

	out = logged("d\x1b[31mocs/\x1b]0;owned\x07\nline two");
	assert_string_equal(out, "cairn: error: cannot read d\\x1b[31mocs/\\x1b]0;owned\\x07"
	                         "\\nline two: gone\n");
	free(out);

	/* whole, however long: the cause at the end is not cut off */
	name = malloc(20001);
	assert_non_null(name);
	memset(name, 'n', 20000);
	name[20000] = '\0';
	out = logged(name);
	assert_int_equal(strlen(out),
	                 strlen("cairn: error: cannot read ") + 20000 + strlen(": gone\n"));
	assert_non_null(strstr(out, "n: gone\n"));
	free(out);
	free(name);
}

/* ------------------------------------------------- write_file_atomic */

static char *
slurp(const char *path)
{
	char buf[256];
	FILE *f = fopen(path, "r");
	assert_non_null(f);
	size_t n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	return xstrdup(buf);
}

/* The number of entries of dir whose name starts with prefix. */
static int
entries_like(const char *dir, const char *prefix)
{
	int n = 0;
	DIR *d = opendir(dir);
	struct dirent *e;
	assert_non_null(d);
	while ((e = readdir(d)))
		n += strncmp(e->d_name, prefix, strlen(prefix)) == 0;
	closedir(d);
	return n;
}

static void
write_file_atomic_replaces_the_file_whole_with_its_mode(void **state)
{
	char dir[] = "/tmp/cairn-test-atomic-XXXXXX";
	struct stat st;
	mode_t old = umask(077);
	char *tmp = NULL;
	(void)state;
	assert_non_null(mkdtemp(dir));
	char *path = path_join(dir, "out.prom");
	assert_int_equal(write_file_atomic(path, NULL, "first\n", 6, 0644, NULL, NULL), 0);
	assert_str_take(slurp(path), "first\n");
	/* the mode asked for, whatever the umask */
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0644);
	/* over an existing file, with a temporary of the name given */
	assert_int_equal(write_file_atomic(path, "cairn-metrics", "second", 6, 0600, NULL, &tmp),
	                 0);
	assert_str_take(slurp(path), "second");
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0600);
	char *want = xasprintf("%s/.cairn-metrics.", dir);
	assert_int_equal(strncmp(tmp, want, strlen(want)), 0);
	free(want);
	free(tmp);
	/* and none is left beside it */
	assert_int_equal(entries_like(dir, "."), 2); /* . and .. */
	umask(old);
	free(path);
	rm_tree(dir);
}

static void
write_file_atomic_says_which_step_failed_and_leaves_nothing(void **state)
{
	char dir[] = "/tmp/cairn-test-atomic-XXXXXX";
	enum atomic_step step = 0;
	char *tmp = NULL;
	struct rlimit lim, small = {.rlim_cur = 4, .rlim_max = RLIM_INFINITY};
	(void)state;
	assert_non_null(mkdtemp(dir));
	/* no directory to make the temporary in */
	char *path = xasprintf("%s/missing/out", dir);
	errno = 0;
	assert_int_equal(write_file_atomic(path, NULL, "x", 1, 0600, &step, NULL), -1);
	assert_int_equal(step, ATOMIC_CREATE);
	assert_int_equal(errno, ENOENT);
	free(path);
	/* a rename over a directory fails: the temporary is removed */
	path = path_join(dir, "adir");
	assert_int_equal(mkdir(path, 0700), 0);
	assert_int_equal(write_file_atomic(path, NULL, "x", 1, 0600, &step, &tmp), -1);
	assert_int_equal(step, ATOMIC_COMMIT);
	assert_int_equal(errno, EISDIR);
	char *want = xasprintf("%s/.adir.", dir);
	assert_int_equal(strncmp(tmp, want, strlen(want)), 0);
	free(want);
	free(tmp);
	tmp = NULL;
	assert_int_equal(entries_like(dir, ".adir"), 0);
	free(path);
	/* a write that fails half way (a file size limit): the old file stays */
	path = path_join(dir, "kept");
	assert_int_equal(write_file_atomic(path, NULL, "old", 3, 0600, NULL, NULL), 0);
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &lim), 0);
	small.rlim_max = lim.rlim_max;
	signal(SIGXFSZ, SIG_IGN);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &small), 0);
	int rc = write_file_atomic(path, NULL, "longer than four", 16, 0600, &step, NULL);
	int e = errno;
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	signal(SIGXFSZ, SIG_DFL);
	assert_int_equal(rc, -1);
	assert_int_equal(step, ATOMIC_WRITE);
	assert_int_equal(e, EFBIG);
	assert_str_take(slurp(path), "old");
	assert_int_equal(entries_like(dir, ".kept"), 0);
	free(path);
	rm_tree(dir);
}

/* ------------------------------------------------------------ xalloc */

static void
xasprintf_formats_into_a_new_string(void **state)
{
	(void)state;
	assert_str_take(xasprintf("%s:%d: %s", "cfg.ini", 7, "bad"), "cfg.ini:7: bad");
	assert_str_take(xstrndup("abcdef", 3), "abc");
	assert_str_take(xstrndup("ab", 10), "ab");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        cmocka_unit_test(strvec_push_copies_and_keeps_null_terminated),
	        cmocka_unit_test(strvec_push_own_takes_the_pointer),
	        cmocka_unit_test(strvec_contains_matches_whole_strings),
	        cmocka_unit_test(strvec_sort_orders_bytewise),
	        cmocka_unit_test(strvec_sort_and_free_accept_empty),
	        cmocka_unit_test(split_words_splits_on_spaces_and_tabs),
	        cmocka_unit_test(split_words_appends_to_what_is_there),
	        cmocka_unit_test(split_words_of_blank_text_gives_nothing),
	        cmocka_unit_test(strvec_join_puts_sep_between_only),
	        cmocka_unit_test(strvec_join_is_linear_in_the_names),
	        cmocka_unit_test(mkdir_p_makes_every_missing_parent_with_mode),
	        cmocka_unit_test(mkdir_p_fails_below_a_file_with_errno),
	        cmocka_unit_test(write_file_atomic_replaces_the_file_whole_with_its_mode),
	        cmocka_unit_test(write_file_atomic_says_which_step_failed_and_leaves_nothing),
	        cmocka_unit_test(path_join_puts_one_slash_between),
	        cmocka_unit_test(path_join_keeps_the_root_single),
	        cmocka_unit_test(path_dirname_returns_the_directory_part),
	        cmocka_unit_test(path_absolute_keeps_absolute_paths),
	        cmocka_unit_test(path_absolute_resolves_against_base),
	        cmocka_unit_test(path_absolute_uses_cwd_without_base),
	        cmocka_unit_test(path_absolute_makes_a_relative_base_absolute_first),
	        cmocka_unit_test(format_bytes_picks_binary_units),
	        cmocka_unit_test(format_bytes_returns_buf_and_truncates_safely),
	        cmocka_unit_test(valid_name_accepts_letters_digits_and_marks),
	        cmocka_unit_test(valid_name_refuses_what_breaks_object_keys),
	        cmocka_unit_test(xasprintf_formats_into_a_new_string),
	        cmocka_unit_test(str_escape_escapes_controls_and_bad_utf8),
	        cmocka_unit_test(str_escape_buf_takes_nul_bytes_and_never_cuts_an_escape),
	        cmocka_unit_test(log_lines_carry_no_escape_sequence),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
