/*
 * test_local.c - unit tests of the "local" sink plugin.
 *
 * The plugin's .c files are included to reach their statics (the writer
 * struct, the temporary names); the core is replaced by
 * tests/unit/fakehost.c.  Every test works in its own mkdtemp directory,
 * removed afterwards.
 */
#include "../../plugins/local/common.c"
#include "../../plugins/local/dir.c"
#include "../../plugins/local/walk.c"
#include "../../plugins/local/write.c"
#include "../../plugins/local/read.c"
#include "../../plugins/local/lock.c"
#include "../../plugins/local/local.c"

#include <ftw.h>
#include <grp.h>
#include <signal.h>
#include <sys/wait.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include "fakehost.h"

struct fx {
	char dir[64];   /* the mkdtemp directory */
	char root[128]; /* the sink's root: dir/store, not created yet */
	cairn_ctx *ctx;
	struct cairn_config *cfg;
	struct local *lc;
	const struct cairn_sink_ops *ops;
};

static void
fx_instance(struct fx *f, const char *fsync_value)
{
	if (f->lc) {
		f->ops->destroy(f->lc);
		fake_config_free(f->cfg);
	}
	f->cfg = fake_config(local_keys, "path", f->root, "fsync", fsync_value, NULL);
	assert_non_null(f->cfg);
	assert_int_equal(f->ops->create(f->ctx, f->cfg, (void **)&f->lc), 0);
	assert_non_null(f->lc);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	const struct cairn_plugin *pl = cairn_plugin_entry(&fake_host);

	assert_non_null(f);
	strcpy(f->dir, "/tmp/test_local.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->root, sizeof(f->root), "%s/store", f->dir);
	f->ctx = fake_ctx_new();
	f->ops = pl->sink;
	fx_instance(f, "yes");
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	rm_tree(f->dir);
	f->ops->destroy(f->lc);
	fake_config_free(f->cfg);
	free(f->ctx);
	free(f);
	return 0;
}

/* ------------------------------------------------------------- helpers */

static char *
fx_path(const struct fx *f, const char *rel)
{
	static char buf[4][512];
	static int k;
	char *p = buf[k++ % 4];

	snprintf(p, sizeof(buf[0]), "%s/%s", f->root, rel);
	return p;
}

static void
put(struct fx *f, const char *key, const char *data)
{
	cairn_sink_writer *w = NULL;

	assert_int_equal(f->ops->open_write(f->lc, key, &w), 0);
	assert_non_null(w);
	assert_int_equal(f->ops->write(w, data, strlen(data)), 0);
	assert_int_equal(f->ops->commit(w), 0);
}

/* The whole object, NUL-terminated, malloc'd; *len gets its length. */
static char *
get(struct fx *f, const char *key, size_t *len)
{
	cairn_sink_reader *r = NULL;
	size_t cap = 64, n = 0;
	char *buf = malloc(cap + 1);
	ssize_t got;

	assert_int_equal(f->ops->open_read(f->lc, key, &r), 0);
	/* Small, odd reads so the loop in the caller is exercised. */
	while ((got = f->ops->read(r, buf + n, cap - n < 37 ? cap - n : 37)) > 0) {
		n += (size_t)got;
		if (n == cap) {
			cap *= 2;
			buf = realloc(buf, cap + 1);
		}
	}
	assert_int_equal(got, 0);
	f->ops->close_read(r);
	buf[n] = '\0';
	if (len)
		*len = n;
	return buf;
}

struct listing {
	char text[4096]; /* "key size\n" per object */
	int calls;
	int stop_after; /* 0: never stop */
	int64_t mtime;
};

static int
collect(void *userdata, const char *key, uint64_t size, int64_t mtime)
{
	struct listing *l = userdata;
	size_t used = strlen(l->text);

	snprintf(l->text + used, sizeof(l->text) - used, "%s %llu\n", key,
	         (unsigned long long)size);
	l->mtime = mtime;
	l->calls++;
	return l->stop_after && l->calls >= l->stop_after;
}

static const char *
list(struct fx *f, const char *prefix, struct listing *l)
{
	memset(l, 0, sizeof(*l));
	assert_int_equal(f->ops->list(f->lc, prefix, collect, l), 0);
	return l->text;
}

static int files_found;

static int
count_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)path;
	(void)st;
	(void)ftw;
	if (flag != FTW_D && flag != FTW_DP && flag != FTW_DNR)
		files_found++;
	return 0;
}

/* Non-directories anywhere under path (hidden ones included). */
static int
count_files(const char *path)
{
	files_found = 0;
	nftw(path, count_one, 16, FTW_PHYS);
	return files_found;
}

/* The name of the one hidden temporary file in dir, or "" if none. */
static const char *
temp_file_in(const char *dir)
{
	static char name[256];
	struct dirent *de;
	DIR *d = opendir(dir);

	name[0] = '\0';
	if (!d)
		return name;
	while ((de = readdir(d)))
		if (local_is_tmpname(de->d_name))
			snprintf(name, sizeof(name), "%s", de->d_name);
	closedir(d);
	return name;
}

static mode_t
mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(lstat(path, &st), 0);
	return st.st_mode & 07777;
}

static void
touch(const char *path, const char *data, time_t mtime)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	fputs(data, fp);
	fclose(fp);
	if (mtime) {
		struct timespec ts[2] = {{mtime, 0}, {mtime, 0}};
		assert_int_equal(utimensat(AT_FDCWD, path, ts, 0), 0);
	}
}

/* --------------------------------------------------------------- tests */

static void
test_descriptor(void **state)
{
	const struct cairn_plugin *pl = cairn_plugin_entry(&fake_host);
	const struct cairn_sink_ops *o = pl->sink;

	(void)state;
	assert_string_equal(pl->name, "local");
	assert_string_equal(pl->version, "0.1.0");
	assert_int_equal(pl->kind, CAIRN_KIND_SINK);
	assert_int_equal(pl->abi_major, CAIRN_ABI_MAJOR);
	assert_null(pl->source);
	assert_int_equal(o->struct_size, sizeof(struct cairn_sink_ops));
	assert_true(o->create && o->destroy && o->open_write && o->write && o->commit && o->abort &&
	            o->open_read && o->read && o->close_read && o->list && o->remove && o->usage &&
	            o->lock && o->unlock);
	assert_string_equal(pl->keys[0].name, "path");
	assert_int_equal(pl->keys[0].type, CAIRN_KEY_PATH);
	assert_true(pl->keys[0].flags & CAIRN_KEY_REQUIRED);
	assert_string_equal(pl->keys[1].name, "fsync");
	assert_int_equal(pl->keys[1].type, CAIRN_KEY_BOOL);
	assert_string_equal(pl->keys[1].default_value, "yes");
	assert_non_null(strstr(pl->keys[1].help, "power failure"));
	assert_null(pl->keys[2].name);
}

static void
test_create(void **state)
{
	struct fx *f = *state;
	struct cairn_config *cfg;
	void *inst = (void *)1;
	struct stat st;

	/* No path: a config error, no instance. */
	cfg = fake_config(local_keys, NULL);
	assert_int_equal(f->ops->create(f->ctx, cfg, &inst), CAIRN_E_CONFIG);
	assert_null(inst);
	assert_non_null(strstr(f->ctx->error, "path"));
	fake_config_free(cfg);

	/* Trailing slashes go; fsync defaults to yes; the disk is untouched. */
	char p[200];
	snprintf(p, sizeof(p), "%s///", f->root);
	cfg = fake_config(local_keys, "path", p, NULL);
	assert_int_equal(f->ops->create(f->ctx, cfg, &inst), 0);
	fake_config_free(cfg); /* the instance must have copied what it keeps */
	assert_string_equal(((struct local *)inst)->root, f->root);
	assert_int_equal(((struct local *)inst)->fsync, 1);
	assert_int_equal(stat(f->root, &st), -1);
	f->ops->destroy(inst);

	cfg = fake_config(local_keys, "path", "/", "fsync", "no", NULL);
	assert_int_equal(f->ops->create(f->ctx, cfg, &inst), 0);
	fake_config_free(cfg);
	assert_string_equal(((struct local *)inst)->root, "/");
	assert_int_equal(((struct local *)inst)->fsync, 0);
	char *j = local_join(inst, "a/b");
	assert_string_equal(j, "/a/b");
	free(j);
	f->ops->destroy(inst);
	f->ops->destroy(NULL);
}

static void
roundtrip(struct fx *f)
{
	enum {
		SIZE = 1 << 20
	};
	char *data = malloc(SIZE), *back;
	cairn_sink_writer *w = NULL;
	size_t len, off;

	for (size_t i = 0; i < SIZE; i++)
		data[i] = (char)(i * 7 + i / 251);
	assert_int_equal(f->ops->open_write(f->lc, "job/20260101T000000Z/db.tar.zst", &w), 0);
	/* Odd chunk sizes, and a zero-length write. */
	for (off = 0; off < SIZE; off += len) {
		len = SIZE - off < 100003 ? SIZE - off : 100003;
		assert_int_equal(f->ops->write(w, data + off, len), 0);
	}
	assert_int_equal(f->ops->write(w, data, 0), 0);
	assert_int_equal(f->ops->commit(w), 0);

	back = get(f, "job/20260101T000000Z/db.tar.zst", &len);
	assert_int_equal(len, SIZE);
	assert_memory_equal(back, data, SIZE);
	/* Nothing else: no temporary file left next to the object. */
	assert_int_equal(count_files(f->root), 1);
	free(back);
	free(data);
}

static void
test_roundtrip(void **state)
{
	roundtrip(*state);
}

static void
test_roundtrip_fsync_no(void **state)
{
	struct fx *f = *state;

	fx_instance(f, "no");
	assert_int_equal(f->lc->fsync, 0);
	roundtrip(f);
}

static void
test_invisible_before_commit(void **state)
{
	struct fx *f = *state;
	cairn_sink_writer *w = NULL;
	struct listing l;
	struct stat st;
	char *back;

	assert_int_equal(f->ops->open_write(f->lc, "j/1/a", &w), 0);
	assert_int_equal(f->ops->write(w, "hello", 5), 0);
	/* Not under the real name, not in a listing, not readable... */
	assert_int_equal(stat(fx_path(f, "j/1/a"), &st), -1);
	assert_string_equal(list(f, "", &l), "");
	assert_int_equal(f->ops->open_read(f->lc, "j/1/a", &(cairn_sink_reader *){NULL}),
	                 CAIRN_E_NOTFOUND);
	/* ...but written to a hidden temporary file beside it. */
	assert_string_not_equal(temp_file_in(fx_path(f, "j/1")), "");
	assert_int_equal(f->ops->commit(w), 0);

	assert_int_equal(stat(fx_path(f, "j/1/a"), &st), 0);
	assert_string_equal(list(f, "", &l), "j/1/a 5\n");
	assert_string_equal(temp_file_in(fx_path(f, "j/1")), "");
	back = get(f, "j/1/a", NULL);
	assert_string_equal(back, "hello");
	free(back);
}

static void
test_abort_leaves_nothing(void **state)
{
	struct fx *f = *state;
	cairn_sink_writer *w = NULL;
	struct listing l;

	assert_int_equal(f->ops->open_write(f->lc, "j/1/a", &w), 0);
	assert_int_equal(f->ops->write(w, "partial", 7), 0);
	assert_int_equal(count_files(f->root), 1); /* the temporary file */
	f->ops->abort(w);
	assert_int_equal(count_files(f->root), 0);
	assert_string_equal(list(f, "", &l), "");

	/* Right after open_write, before any write, too. */
	assert_int_equal(f->ops->open_write(f->lc, "j/1/b", &w), 0);
	f->ops->abort(w);
	assert_int_equal(count_files(f->root), 0);

	/* And when the temporary file already vanished: no warning. */
	assert_int_equal(f->ops->open_write(f->lc, "j/1/c", &w), 0);
	assert_int_equal(unlink(w->tmppath), 0);
	f->ops->abort(w);
	assert_int_equal(f->ctx->warnings, 0);
}

/* Make the next write fail with ENOSPC, as a full disk would. */
static void
fill_disk(cairn_sink_writer *w)
{
	int full = open("/dev/full", O_WRONLY | O_CLOEXEC);

	assert_true(full >= 0);
	assert_int_equal(dup2(full, w->fd), w->fd);
	close(full);
}

static void
test_abort_after_failed_write(void **state)
{
	struct fx *f = *state;
	cairn_sink_writer *w = NULL;

	assert_int_equal(f->ops->open_write(f->lc, "j/1/a", &w), 0);
	fill_disk(w);
	assert_int_equal(f->ops->write(w, "x", 1), CAIRN_E_IO);
	assert_non_null(strstr(f->ctx->error, fx_path(f, "j/1/a")));
	assert_non_null(strstr(f->ctx->error, "disk full"));
	/* The writer stays failed; abort then cleans up. */
	assert_int_equal(f->ops->write(w, "y", 1), CAIRN_E_IO);
	f->ops->abort(w);
	assert_int_equal(count_files(f->root), 0);
}

static void
test_commit_after_failed_write(void **state)
{
	struct fx *f = *state;
	cairn_sink_writer *w = NULL;
	struct listing l;

	/* Without fsync, so that nothing but the failed write stops it. */
	fx_instance(f, "no");
	assert_int_equal(f->ops->open_write(f->lc, "j/1/a", &w), 0);
	assert_int_equal(f->ops->write(w, "good", 4), 0);
	fill_disk(w);
	assert_int_equal(f->ops->write(w, "x", 1), CAIRN_E_IO);
	/* A partial object must not be published. */
	assert_int_equal(f->ops->commit(w), CAIRN_E_IO);
	assert_non_null(strstr(f->ctx->error, fx_path(f, "j/1/a")));
	assert_int_equal(count_files(f->root), 0);
	assert_string_equal(list(f, "", &l), "");
}

static void
test_existing_refused(void **state)
{
	struct fx *f = *state;
	cairn_sink_writer *w = (void *)1;
	char *back;

	put(f, "j/1/a", "original");
	assert_int_equal(f->ops->open_write(f->lc, "j/1/a", &w), CAIRN_E_EXISTS);
	assert_null(w);
	assert_non_null(strstr(f->ctx->error, fx_path(f, "j/1/a")));
	assert_non_null(strstr(f->ctx->error, "already exists"));
	back = get(f, "j/1/a", NULL);
	assert_string_equal(back, "original");
	free(back);
	assert_int_equal(count_files(f->root), 1);
}

static void
test_commit_never_replaces(void **state)
{
	struct fx *f = *state;
	cairn_sink_writer *w = NULL;
	char *back;

	/* Someone creates the key between open_write and commit. */
	assert_int_equal(f->ops->open_write(f->lc, "j/1/a", &w), 0);
	assert_int_equal(f->ops->write(w, "mine", 4), 0);
	touch(fx_path(f, "j/1/a"), "theirs", 0);
	assert_int_equal(f->ops->commit(w), CAIRN_E_EXISTS);
	assert_non_null(strstr(f->ctx->error, fx_path(f, "j/1/a")));
	back = get(f, "j/1/a", NULL);
	assert_string_equal(back, "theirs");
	free(back);
	assert_int_equal(count_files(f->root), 1); /* temp file gone */
}

/* The fallbacks for file systems without RENAME_NOREPLACE or hard links:
 * they publish, and they refuse an existing name just the same. */
static void
publish_fallback(struct fx *f, enum local_publish_how how)
{
	cairn_sink_writer *w = NULL;
	char *back;

	assert_int_equal(f->ops->open_write(f->lc, "j/1/a", &w), 0);
	assert_int_equal(f->ops->write(w, "first", 5), 0);
	assert_int_equal(local_publish(w, how), 0);
	local_writer_free(w);
	assert_string_equal(temp_file_in(fx_path(f, "j/1")), "");

	assert_int_equal(f->ops->open_write(f->lc, "j/1/b", &w), 0);
	assert_int_equal(f->ops->write(w, "second", 6), 0);
	touch(fx_path(f, "j/1/b"), "theirs", 0);
	assert_int_equal(local_publish(w, how), CAIRN_E_EXISTS);
	assert_non_null(strstr(f->ctx->error, fx_path(f, "j/1/b")));
	f->ops->abort(w);

	back = get(f, "j/1/a", NULL);
	assert_string_equal(back, "first");
	free(back);
	back = get(f, "j/1/b", NULL);
	assert_string_equal(back, "theirs");
	free(back);
	assert_int_equal(count_files(f->root), 2);
}

static void
test_publish_link(void **state)
{
	publish_fallback(*state, LOCAL_PUBLISH_LINK);
}

static void
test_publish_check(void **state)
{
	publish_fallback(*state, LOCAL_PUBLISH_CHECK);
}

static void
modes_with_umask(struct fx *f, mode_t mask)
{
	mode_t old = umask(mask);
	cairn_sink_writer *w = NULL;

	assert_int_equal(f->ops->open_write(f->lc, "job/1/a", &w), 0);
	/* The temporary file is private from the start. */
	assert_int_equal(mode_of(w->tmppath), 0600);
	assert_int_equal(f->ops->write(w, "x", 1), 0);
	assert_int_equal(f->ops->commit(w), 0);
	umask(old);
	assert_int_equal(mode_of(f->root), 0700);
	assert_int_equal(mode_of(fx_path(f, "job")), 0700);
	assert_int_equal(mode_of(fx_path(f, "job/1")), 0700);
	assert_int_equal(mode_of(fx_path(f, "job/1/a")), 0600);
}

static void
test_modes_umask0(void **state)
{
	modes_with_umask(*state, 0);
}

static void
test_modes_umask022(void **state)
{
	modes_with_umask(*state, 022);
}

static void
test_modes_umask_strict(void **state)
{
	/* A umask that takes the owner's bits must not lock us out. */
	modes_with_umask(*state, 0277);
}

static void
test_list(void **state)
{
	struct fx *f = *state;
	struct listing l;
	time_t now = time(NULL);

	/* Written out of order; "a-b" and "ab" sort around "a/". */
	put(f, "b/2/x", "12");
	put(f, "a/1/y", "1");
	put(f, "ab/1/r", "1");
	put(f, "a/10/z", "1");
	put(f, "a/1/x", "1234");
	put(f, "a-b/1/q", "1");
	put(f, "top", "abc");
	/* Not objects: temporary files, hidden names, symlinks. */
	touch(fx_path(f, "a/1/.x.abcDEF.part"), "tmp", 0);
	touch(fx_path(f, "a/1/.hidden"), "h", 0);
	assert_int_equal(mkdir(fx_path(f, ".trash"), 0700), 0);
	touch(fx_path(f, ".trash/x"), "t", 0);
	assert_int_equal(symlink("x", fx_path(f, "a/1/link")), 0);
	assert_int_equal(symlink("../b", fx_path(f, "a/loop")), 0);

	assert_string_equal(list(f, "", &l), "a-b/1/q 1\n"
	                                     "a/1/x 4\n"
	                                     "a/1/y 1\n"
	                                     "a/10/z 1\n"
	                                     "ab/1/r 1\n"
	                                     "b/2/x 2\n"
	                                     "top 3\n");
	assert_true(l.mtime >= now - 60 && l.mtime <= now + 60);
	char all[sizeof(l.text)];
	strcpy(all, l.text);
	assert_string_equal(list(f, NULL, &l), all);
	assert_string_equal(list(f, "a/", &l), "a/1/x 4\na/1/y 1\na/10/z 1\n");
	assert_string_equal(list(f, "a/1", &l), "a/1/x 4\na/1/y 1\na/10/z 1\n");
	assert_string_equal(list(f, "a/1/", &l), "a/1/x 4\na/1/y 1\n");
	assert_string_equal(list(f, "a/1/x", &l), "a/1/x 4\n");
	assert_string_equal(list(f, "a", &l), "a-b/1/q 1\na/1/x 4\na/1/y 1\na/10/z 1\nab/1/r 1\n");
	assert_string_equal(list(f, "t", &l), "top 3\n");
	/* A prefix directory that is missing, or is a file: empty. */
	assert_string_equal(list(f, "zz/", &l), "");
	assert_string_equal(list(f, "top/", &l), "");
	assert_int_equal(l.calls, 0);
	/* A prefix that would leave the store. */
	assert_int_equal(f->ops->list(f->lc, "../", collect, &l), CAIRN_E_CONFIG);
	assert_int_equal(f->ops->list(f->lc, "a/../../", collect, &l), CAIRN_E_CONFIG);
}

static void
test_list_stop(void **state)
{
	struct fx *f = *state;
	struct listing l;

	put(f, "j/1/a", "a");
	put(f, "j/1/b", "b");
	put(f, "j/2/a", "c");
	put(f, "k/1/a", "d");
	memset(&l, 0, sizeof(l));
	l.stop_after = 2;
	assert_int_equal(f->ops->list(f->lc, "", collect, &l), 0);
	assert_int_equal(l.calls, 2);
	assert_string_equal(l.text, "j/1/a 1\nj/1/b 1\n");
	/* Stopping at the end of a directory stops the outer levels too. */
	memset(&l, 0, sizeof(l));
	l.stop_after = 3;
	assert_int_equal(f->ops->list(f->lc, "", collect, &l), 0);
	assert_int_equal(l.calls, 3);
}

static void
test_missing_root(void **state)
{
	struct fx *f = *state;
	struct listing l;
	struct cairn_usage u;

	assert_string_equal(list(f, "", &l), "");
	assert_string_equal(list(f, "j/", &l), "");
	assert_int_equal(l.calls, 0);
	/* usage measures the file system the root would be created on. */
	snprintf(f->root, sizeof(f->root), "%s/not/yet/there", f->dir);
	fx_instance(f, "yes");
	assert_int_equal(f->ops->usage(f->lc, &u), 0);
	assert_int_equal(u.used, 0);
	assert_true(u.total > 0 && u.total != UINT64_MAX);
	assert_true(u.avail <= u.total);
}

static void
test_remove(void **state)
{
	struct fx *f = *state;
	struct stat st;
	struct listing l;

	put(f, "j/1/a", "a");
	put(f, "j/1/b", "b");
	put(f, "j/2/c", "c");
	assert_int_equal(f->ops->remove(f->lc, "j/1/a"), 0);
	assert_int_equal(stat(fx_path(f, "j/1/a"), &st), -1);
	assert_int_equal(stat(fx_path(f, "j/1"), &st), 0); /* b is still there */
	assert_int_equal(f->ops->remove(f->lc, "j/1/b"), 0);
	assert_int_equal(stat(fx_path(f, "j/1"), &st), -1); /* empty: gone */
	assert_int_equal(stat(fx_path(f, "j"), &st), 0);
	assert_int_equal(f->ops->remove(f->lc, "j/2/c"), 0);
	assert_int_equal(stat(fx_path(f, "j/2"), &st), -1);
	/* The job's directory stays: it holds the job's lock file. */
	assert_int_equal(stat(fx_path(f, "j"), &st), 0);
	assert_int_equal(stat(f->root, &st), 0); /* never the root */
	assert_string_equal(list(f, "", &l), "");

	/* A second remove: not found, naming the file. */
	assert_int_equal(f->ops->remove(f->lc, "j/2/c"), CAIRN_E_NOTFOUND);
	assert_non_null(strstr(f->ctx->error, fx_path(f, "j/2/c")));

	/* A top-level object: the root stays. */
	put(f, "top", "t");
	assert_int_equal(f->ops->remove(f->lc, "top"), 0);
	assert_int_equal(stat(f->root, &st), 0);
}

static void
test_notfound(void **state)
{
	struct fx *f = *state;
	cairn_sink_reader *r = (void *)1;

	/* Missing root, missing object, a directory, a path through a file. */
	assert_int_equal(f->ops->open_read(f->lc, "j/1/a", &r), CAIRN_E_NOTFOUND);
	assert_null(r);
	assert_non_null(strstr(f->ctx->error, fx_path(f, "j/1/a")));
	put(f, "j/1/b", "b");
	assert_int_equal(f->ops->open_read(f->lc, "j/1/a", &r), CAIRN_E_NOTFOUND);
	assert_int_equal(f->ops->open_read(f->lc, "j/1", &r), CAIRN_E_NOTFOUND);
	assert_int_equal(f->ops->open_read(f->lc, "j/1/b/c", &r), CAIRN_E_NOTFOUND);
	assert_int_equal(f->ops->remove(f->lc, "j/1/a"), CAIRN_E_NOTFOUND);
	assert_non_null(strstr(f->ctx->error, fx_path(f, "j/1/a")));
	/* remove never takes a directory for an object. */
	assert_int_equal(f->ops->remove(f->lc, "j/1"), CAIRN_E_NOTFOUND);
	assert_int_equal(count_files(f->root), 1);
}

static void
test_invalid_keys(void **state)
{
	static const char *const bad[] = {
	        "../x", "/x",   "a//b", ".hidden/x", "a/./b", "",
	        "a/",   "a/..", "x/.y", "..",        ".",     "a/b/../../../etc",
	};
	struct fx *f = *state;
	char longname[NAME_MAX + 8];
	struct stat st;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cairn_sink_writer *w = (void *)1;
		cairn_sink_reader *r = (void *)1;

		f->ctx->error[0] = '\0';
		assert_int_equal(f->ops->open_write(f->lc, bad[i], &w), CAIRN_E_CONFIG);
		assert_null(w);
		assert_non_null(strstr(f->ctx->error, "invalid object key"));
		assert_int_equal(f->ops->open_read(f->lc, bad[i], &r), CAIRN_E_CONFIG);
		assert_null(r);
		assert_int_equal(f->ops->remove(f->lc, bad[i]), CAIRN_E_CONFIG);
	}
	assert_int_equal(f->ops->open_write(f->lc, NULL, &(cairn_sink_writer *){NULL}),
	                 CAIRN_E_CONFIG);
	memset(longname, 'n', sizeof(longname) - 1);
	longname[sizeof(longname) - 1] = '\0';
	assert_int_equal(local_key_check(f->ctx, longname), CAIRN_E_CONFIG);
	/* Nothing was created anywhere. */
	assert_int_equal(stat(f->root, &st), -1);
	/* And the good ones pass, dots inside names included. */
	assert_int_equal(local_key_check(f->ctx, "a"), 0);
	assert_int_equal(local_key_check(f->ctx, "j/20260101T000000Z/db.tar.zst"), 0);
	assert_int_equal(local_key_check(f->ctx, "a/b../c.."), 0);
}

static void
test_long_name(void **state)
{
	struct fx *f = *state;
	char key[NAME_MAX + 8], *back;

	/* A 255-byte name: the temporary name must still fit. */
	strcpy(key, "j/");
	memset(key + 2, 'n', NAME_MAX);
	key[2 + NAME_MAX] = '\0';
	put(f, key, "long");
	back = get(f, key, NULL);
	assert_string_equal(back, "long");
	free(back);
}

static void
test_usage(void **state)
{
	struct fx *f = *state;
	cairn_sink_writer *w = NULL;
	struct cairn_usage u;
	struct statvfs vfs;
	char big[2000];

	memset(big, 'b', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	put(f, "j/1/a", "0123456789");
	put(f, "j/1/b", big);
	put(f, "k/2/c", "abc");
	/* Uncommitted data is not an object. */
	assert_int_equal(f->ops->open_write(f->lc, "j/2/d", &w), 0);
	assert_int_equal(f->ops->write(w, big, 500), 0);
	assert_int_equal(f->ops->usage(f->lc, &u), 0);
	f->ops->abort(w);
	assert_int_equal(u.used, 10 + 1999 + 3);
	assert_int_equal(statvfs(f->root, &vfs), 0);
	assert_int_equal(u.total, (uint64_t)vfs.f_blocks * vfs.f_frsize);
	assert_true(u.avail > 0 && u.avail <= u.total);
}

#define UNPRIVILEGED_UNAVAILABLE 99

/* Run fn in a child that is not root (root ignores permissions), and
 * return its exit status; skip the test when root cannot become nobody
 * (a user namespace without uid 65534, say). */
static int
unprivileged(struct fx *f, int (*fn)(struct fx *))
{
	pid_t pid;
	int status;

	if (geteuid() != 0)
		return fn(f);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (setgroups(0, NULL) < 0 || setgid(65534) < 0 || setuid(65534) < 0)
			_exit(UNPRIVILEGED_UNAVAILABLE);
		_exit(fn(f));
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	if (WEXITSTATUS(status) == UNPRIVILEGED_UNAVAILABLE)
		skip();
	return WEXITSTATUS(status);
}

static int
write_readonly_child(struct fx *f)
{
	cairn_sink_writer *w = NULL;
	char want[512];

	/* The object's directory is read-only. */
	if (f->ops->open_write(f->lc, "j/1/a", &w) != CAIRN_E_IO || w)
		return 1;
	snprintf(want, sizeof(want),
	         "%s: permission denied: run cairn as the "
	         "user owning %s",
	         fx_path(f, "j/1"), fx_path(f, "j/1"));
	if (!strstr(f->ctx->error, want))
		return 2;
	/* A directory to create inside a read-only one: name the parent. */
	if (f->ops->open_write(f->lc, "j/2/a", &w) != CAIRN_E_IO)
		return 3;
	snprintf(want, sizeof(want),
	         "cannot create directory %s: permission "
	         "denied: run cairn as the user owning %s",
	         fx_path(f, "j/2"), fx_path(f, "j"));
	if (!strstr(f->ctx->error, want))
		return 4;
	/* remove needs a writable directory too. */
	if (f->ops->remove(f->lc, "j/1/old") != CAIRN_E_IO ||
	    !strstr(f->ctx->error, fx_path(f, "j/1/old")))
		return 5;
	return 0;
}

static void
test_write_readonly(void **state)
{
	struct fx *f = *state;
	char cmd[300];

	put(f, "j/1/old", "o");
	if (geteuid() == 0) {
		snprintf(cmd, sizeof(cmd), "chown -R 65534:65534 '%s'", f->dir);
		if (system(cmd) != 0)
			skip();
	}
	assert_int_equal(chmod(fx_path(f, "j/1"), 0500), 0);
	assert_int_equal(chmod(fx_path(f, "j"), 0500), 0);
	assert_int_equal(unprivileged(f, write_readonly_child), 0);
	assert_int_equal(chmod(fx_path(f, "j"), 0700), 0);
	assert_int_equal(chmod(fx_path(f, "j/1"), 0700), 0);
	assert_int_equal(count_files(f->root), 1);
}

static int
unreadable_child(struct fx *f)
{
	cairn_sink_writer *w = NULL;
	struct cairn_usage u;
	struct listing l;

	memset(&l, 0, sizeof(l));
	/* A listing that cannot see everything must say so... */
	if (f->ops->list(f->lc, "", collect, &l) != CAIRN_E_IO ||
	    !strstr(f->ctx->error, fx_path(f, "j/locked")) ||
	    !strstr(f->ctx->error, "permission denied"))
		return 1;
	if (f->ops->usage(f->lc, &u) != CAIRN_E_IO)
		return 2;
	/* ...but the sweep only warns: a backup must not fail over it. */
	if (f->ops->open_write(f->lc, "k/1/a", &w) != 0)
		return 3;
	f->ops->abort(w);
	if (f->ctx->warnings != 1 || !strstr(f->ctx->log, fx_path(f, "j/locked")))
		return 4;
	return 0;
}

static void
test_unreadable_dir(void **state)
{
	struct fx *f = *state;
	char cmd[300];

	put(f, "j/locked/a", "a");
	fx_instance(f, "no"); /* not swept yet */
	if (geteuid() == 0) {
		snprintf(cmd, sizeof(cmd), "chown -R 65534:65534 '%s'", f->dir);
		if (system(cmd) != 0)
			skip();
	}
	assert_int_equal(chmod(fx_path(f, "j/locked"), 0), 0);
	assert_int_equal(unprivileged(f, unreadable_child), 0);
	assert_int_equal(chmod(fx_path(f, "j/locked"), 0700), 0);
}

static void
test_sweep(void **state)
{
	struct fx *f = *state;
	cairn_sink_writer *w = NULL;
	time_t old = time(NULL) - 2 * 24 * 3600;
	struct stat st;

	/* A set that crashed two days ago, a write in progress elsewhere,
	 * and hidden files that are not ours. */
	put(f, "j/done/a", "a");
	assert_int_equal(mkdir(fx_path(f, "j/crashed"), 0700), 0);
	touch(fx_path(f, "j/crashed/.db.tar.Ab3xY9.part"), "stale", old);
	touch(fx_path(f, "j/done/.b.qwerty.part"), "stale", old);
	assert_int_equal(mkdir(fx_path(f, "j/live"), 0700), 0);
	touch(fx_path(f, "j/live/.db.tar.Zz0aa1.part"), "fresh", 0);
	touch(fx_path(f, "j/done/.keep"), "mine", old);
	touch(fx_path(f, "j/done/.x.ab-def.part"), "not our pattern", old);

	/* A fresh instance sweeps on its first open_write. */
	fx_instance(f, "no");
	assert_int_equal(f->ops->open_write(f->lc, "k/1/a", &w), 0);
	f->ops->abort(w);
	assert_int_equal(stat(fx_path(f, "j/crashed"), &st), -1);
	assert_int_equal(stat(fx_path(f, "j/done/.b.qwerty.part"), &st), -1);
	assert_int_equal(stat(fx_path(f, "j/done/a"), &st), 0);
	assert_int_equal(stat(fx_path(f, "j/live/.db.tar.Zz0aa1.part"), &st), 0);
	assert_int_equal(stat(fx_path(f, "j/done/.keep"), &st), 0);
	assert_int_equal(stat(fx_path(f, "j/done/.x.ab-def.part"), &st), 0);
	assert_non_null(strstr(f->ctx->log, "j/crashed/.db.tar.Ab3xY9.part"));
	assert_int_equal(f->ctx->warnings, 0);

	/* Only once per instance. */
	touch(fx_path(f, "j/done/.c.qwerty.part"), "stale", old);
	assert_int_equal(f->ops->open_write(f->lc, "k/1/b", &w), 0);
	f->ops->abort(w);
	assert_int_equal(stat(fx_path(f, "j/done/.c.qwerty.part"), &st), 0);
}

static void
test_tmpname(void **state)
{
	(void)state;
	assert_true(local_is_tmpname(".a.Ab3xY9.part"));
	assert_true(local_is_tmpname(".db.tar.zst.000000.part"));
	assert_false(local_is_tmpname(".a.Ab3xY.part"));
	assert_false(local_is_tmpname("a.Ab3xY9.part."));
	assert_false(local_is_tmpname("xa.Ab3xY9.part"));
	assert_false(local_is_tmpname(".a.Ab3x-9.part"));
	assert_false(local_is_tmpname(".a-Ab3xY9.part"));
	assert_false(local_is_tmpname(".part"));
}

static void
test_not_a_directory(void **state)
{
	struct fx *f = *state;
	cairn_sink_writer *w = NULL;

	/* The root is a file: a clear error naming it. */
	touch(f->root, "", 0);
	assert_int_equal(f->ops->open_write(f->lc, "j/1/a", &w), CAIRN_E_IO);
	assert_null(w);
	assert_non_null(strstr(f->ctx->error, f->root));
}

/* ------------------------------------------------- an untrusted store */

/* A file outside the store, for links planted in it to point at. */
static char *
outside(struct fx *f, const char *rel, const char *data)
{
	static char buf[2][256];
	static int k;
	char *p = buf[k++ % 2];

	snprintf(p, sizeof(buf[0]), "%s/%s", f->dir, rel);
	if (data)
		touch(p, data, 0);
	else
		assert_int_equal(mkdir(p, 0700), 0);
	return p;
}

static void
test_fifo_object(void **state)
{
	struct fx *f = *state;
	cairn_sink_reader *r = (void *)1;
	struct cairn_usage u;
	struct listing l;
	struct stat st;

	put(f, "j/1/a", "a");
	assert_int_equal(mkfifo(fx_path(f, "j/1/x.tar.zst"), 0600), 0);
	assert_int_equal(mkfifo(fx_path(f, "j/2"), 0600), 0);
	alarm(10); /* a hang in open() fails instead of stalling the run */
	assert_int_equal(f->ops->open_read(f->lc, "j/1/x.tar.zst", &r), CAIRN_E_CORRUPT);
	assert_null(r);
	assert_contains(f->ctx->error, fx_path(f, "j/1/x.tar.zst"));
	assert_contains(f->ctx->error, "is a FIFO, not a regular file");
	assert_contains(f->ctx->error, "remove it");
	/* A FIFO where a set directory belongs. */
	assert_int_equal(f->ops->open_read(f->lc, "j/2/a", &r), CAIRN_E_CORRUPT);
	assert_contains(f->ctx->error, fx_path(f, "j/2"));
	/* list and usage skip it; list says so. */
	assert_string_equal(list(f, "", &l), "j/1/a 1\n");
	assert_int_equal(f->ctx->warnings, 2);
	assert_contains(f->ctx->log, fx_path(f, "j/1/x.tar.zst"));
	assert_int_equal(f->ops->usage(f->lc, &u), 0);
	assert_int_equal(u.used, 1);
	/* remove takes it away without opening it. */
	assert_int_equal(f->ops->remove(f->lc, "j/1/x.tar.zst"), 0);
	alarm(0);
	assert_int_equal(lstat(fx_path(f, "j/1/x.tar.zst"), &st), -1);
	assert_int_equal(stat(fx_path(f, "j/1/a"), &st), 0);
}

static void
test_symlink_object(void **state)
{
	struct fx *f = *state;
	cairn_sink_reader *r = (void *)1;
	const char *secret = outside(f, "secret", "not yours");
	struct cairn_usage u;
	struct listing l;
	struct stat st;

	put(f, "j/1/a", "a");
	assert_int_equal(symlink(secret, fx_path(f, "j/1/x.tar.zst")), 0);
	assert_int_equal(f->ops->open_read(f->lc, "j/1/x.tar.zst", &r), CAIRN_E_CORRUPT);
	assert_null(r);
	assert_contains(f->ctx->error, fx_path(f, "j/1/x.tar.zst"));
	assert_contains(f->ctx->error, "is a symbolic link, not a regular file");
	assert_string_equal(list(f, "j/", &l), "j/1/a 1\n");
	assert_int_equal(f->ctx->warnings, 1);
	assert_contains(f->ctx->log, "skipping ");
	assert_contains(f->ctx->log, fx_path(f, "j/1/x.tar.zst"));
	assert_int_equal(f->ops->usage(f->lc, &u), 0);
	assert_int_equal(u.used, 1);
	/* remove takes the link, never what it points at. */
	assert_int_equal(f->ops->remove(f->lc, "j/1/x.tar.zst"), 0);
	assert_int_equal(lstat(fx_path(f, "j/1/x.tar.zst"), &st), -1);
	assert_int_equal(stat(secret, &st), 0);
	assert_int_equal(st.st_size, 9);
	/* A link to a directory is no object either, and remove does not
	 * go through it. */
	assert_int_equal(symlink(f->dir, fx_path(f, "j/1/d")), 0);
	assert_int_equal(f->ops->remove(f->lc, "j/1/d/secret"), CAIRN_E_CORRUPT);
	assert_int_equal(stat(secret, &st), 0);
}

static void
test_symlink_set_dir(void **state)
{
	struct fx *f = *state;
	cairn_sink_reader *r = (void *)1;
	cairn_sink_writer *w = (void *)1;
	cairn_sink_lock *lk = (void *)1;
	const char *out = outside(f, "outside", NULL);
	char obj[300];
	struct listing l;
	struct stat st;

	snprintf(obj, sizeof(obj), "%s/x.tar.zst", out);
	touch(obj, "foreign", 0);
	put(f, "j/1/a", "a");
	/* ROOT/j/2 -> outside: a set directory leading out of the store. */
	assert_int_equal(symlink(out, fx_path(f, "j/2")), 0);
	assert_int_equal(f->ops->open_read(f->lc, "j/2/x.tar.zst", &r), CAIRN_E_CORRUPT);
	assert_null(r);
	assert_contains(f->ctx->error, fx_path(f, "j/2"));
	assert_contains(f->ctx->error, "is a symbolic link, not a directory");
	assert_string_equal(list(f, "", &l), "j/1/a 1\n");
	assert_string_equal(list(f, "j/2/", &l), "");
	assert_int_equal(f->ctx->warnings, 2);
	assert_int_equal(f->ops->open_write(f->lc, "j/2/y", &w), CAIRN_E_CORRUPT);
	assert_null(w);
	assert_int_equal(f->ops->remove(f->lc, "j/2/x.tar.zst"), CAIRN_E_CORRUPT);
	/* ROOT/k -> outside: a job directory that does the same. */
	assert_int_equal(symlink(out, fx_path(f, "k")), 0);
	assert_int_equal(f->ops->open_write(f->lc, "k/1/y", &w), CAIRN_E_CORRUPT);
	assert_contains(f->ctx->error, fx_path(f, "k"));
	assert_int_equal(f->ops->lock(f->lc, "k", &lk), CAIRN_E_CORRUPT);
	assert_null(lk);
	/* Nothing outside changed: no new file, no lock file, no sweep. */
	assert_int_equal(count_files(out), 1);
	assert_int_equal(stat(obj, &st), 0);
	assert_int_equal(lstat(fx_path(f, "j/2"), &st), 0);
	assert_true(S_ISLNK(st.st_mode));
}

static void
test_lock(void **state)
{
	struct fx *f = *state;
	cairn_sink_lock *lk = NULL, *lk2 = (void *)1;
	struct cairn_config *cfg;
	struct local *other;
	cairn_ctx *ctx2 = fake_ctx_new();
	char want[128], line[256];
	struct cairn_usage u;
	struct listing l;
	FILE *fp;

	assert_int_equal(f->ops->lock(f->lc, "j", &lk), 0);
	assert_non_null(lk);
	assert_int_equal(mode_of(fx_path(f, "j")), 0700);
	assert_int_equal(mode_of(fx_path(f, "j/.lock")), 0600);
	/* The holder's line: pid, host, start time. */
	fp = fopen(fx_path(f, "j/.lock"), "r");
	assert_non_null(fp);
	assert_non_null(fgets(line, sizeof(line), fp));
	fclose(fp);
	snprintf(want, sizeof(want), "%ld ", (long)getpid());
	assert_true(strncmp(line, want, strlen(want)) == 0);
	assert_true(strlen(line) > 20 && line[strlen(line) - 2] == 'Z');

	/* Another instance (another open file description: the same as
	 * another process to flock) finds it held, and names the holder. */
	cfg = fake_config(local_keys, "path", f->root, NULL);
	assert_int_equal(f->ops->create(ctx2, cfg, (void **)&other), 0);
	alarm(20);
	assert_int_equal(f->ops->lock(other, "j", &lk2), CAIRN_E_LOCKED);
	assert_null(lk2);
	snprintf(want, sizeof(want), "by pid %ld on host ", (long)getpid());
	assert_contains(ctx2->error, want);
	assert_contains(ctx2->error, f->root);
	assert_contains(ctx2->error, "job j");
	assert_contains(ctx2->error, "wait for that run or stop it");
	/* The same instance too: a second run must never share it. */
	assert_int_equal(f->ops->lock(f->lc, "j", &lk2), CAIRN_E_LOCKED);
	/* Another job is free. */
	assert_int_equal(f->ops->lock(other, "k", &lk2), 0);
	f->ops->unlock(lk2);

	/* The lock file is no object. */
	put(f, "j/1/a", "a");
	assert_string_equal(list(f, "", &l), "j/1/a 1\n");
	assert_int_equal(f->ops->usage(f->lc, &u), 0);
	assert_int_equal(u.used, 1);

	/* Unlocked, it can be taken again; the file stays. */
	f->ops->unlock(lk);
	assert_int_equal(f->ops->lock(other, "j", &lk2), 0);
	f->ops->unlock(lk2);
	assert_int_equal(f->ops->lock(f->lc, "j", &lk), 0);
	f->ops->unlock(lk);
	alarm(0);
	assert_int_equal(mode_of(fx_path(f, "j/.lock")), 0600);
	/* And no sweep or prune ever removes it. */
	assert_int_equal(f->ops->remove(f->lc, "j/1/a"), 0);
	assert_int_equal(mode_of(fx_path(f, "j/.lock")), 0600);
	f->ops->unlock(NULL);

	f->ops->destroy(other);
	fake_config_free(cfg);
	free(ctx2);
}

/* The lock dies with its holder: kill -9 must not leave a job locked. */
static void
test_lock_dies_with_process(void **state)
{
	struct fx *f = *state;
	cairn_sink_lock *lk = NULL;
	int pipefd[2], status;
	char want[64], c;
	pid_t pid;

	assert_int_equal(pipe(pipefd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		static cairn_sink_lock *held;
		close(pipefd[0]);
		if (f->ops->lock(f->lc, "j", &held) != 0)
			_exit(1);
		(void)!write(pipefd[1], "x", 1);
		pause();
		_exit(0);
	}
	close(pipefd[1]);
	alarm(20);
	assert_int_equal(read(pipefd[0], &c, 1), 1);
	close(pipefd[0]);
	assert_int_equal(f->ops->lock(f->lc, "j", &lk), CAIRN_E_LOCKED);
	snprintf(want, sizeof(want), "by pid %ld on host ", (long)pid);
	assert_contains(f->ctx->error, want);
	assert_int_equal(kill(pid, SIGKILL), 0);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_int_equal(f->ops->lock(f->lc, "j", &lk), 0);
	alarm(0);
	f->ops->unlock(lk);
}

/* A writer killed mid-object, as kill -9 leaves it: its temporary file
 * is there, nobody aborted it.  Returns the size it wrote. */
static size_t
killed_writer(struct fx *f, const char *key)
{
	static char data[1000];
	int status;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		static cairn_sink_writer *w; /* reachable: valgrind is quiet */
		if (f->ops->open_write(f->lc, key, &w) != 0 ||
		    f->ops->write(w, data, sizeof(data)) != 0)
			_exit(1);
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	return sizeof(data);
}

static void
test_lock_removes_leftovers(void **state)
{
	struct fx *f = *state;
	cairn_sink_lock *lk = NULL;
	char want[512];
	struct listing l;
	struct stat st;

	put(f, "j/20260101T000000Z/a", "kept");
	killed_writer(f, "j/20260102T000000Z/db.tar.zst");
	killed_writer(f, "j/20260101T000000Z/b");
	killed_writer(f, "k/20260102T000000Z/db.tar.zst"); /* another job */
	assert_string_not_equal(temp_file_in(fx_path(f, "j/20260102T000000Z")), "");
	/* Set directories of failed runs, a dead writer's file in the job's
	 * own directory, and hidden files that are not ours. */
	assert_int_equal(mkdir(fx_path(f, "j/20260103T000000Z"), 0700), 0);
	assert_int_equal(mkdir(fx_path(f, "j/20260104T000000Z"), 0700), 0);
	assert_int_equal(mkdir(fx_path(f, "j/20260104T000000Z/sub"), 0700), 0);
	touch(fx_path(f, "j/.m.abcDEF.part"), "tmp", 0);
	touch(fx_path(f, "j/20260101T000000Z/.keep"), "k", 0);

	/* Fresh as they are, holding the lock they go at once. */
	assert_int_equal(f->ops->lock(f->lc, "j", &lk), 0);
	assert_string_equal(temp_file_in(fx_path(f, "j/20260101T000000Z")), "");
	assert_int_equal(stat(fx_path(f, "j/20260102T000000Z"), &st), -1);
	assert_int_equal(stat(fx_path(f, "j/20260103T000000Z"), &st), -1);
	assert_int_equal(stat(fx_path(f, "j/20260104T000000Z"), &st), -1);
	assert_int_equal(stat(fx_path(f, "j/.m.abcDEF.part"), &st), -1);
	assert_int_equal(stat(fx_path(f, "j/20260101T000000Z/a"), &st), 0);
	assert_int_equal(stat(fx_path(f, "j/20260101T000000Z/.keep"), &st), 0);
	assert_int_equal(stat(fx_path(f, "j/.lock"), &st), 0);
	/* Another job's live-looking temporary stays. */
	assert_string_not_equal(temp_file_in(fx_path(f, "k/20260102T000000Z")), "");
	/* Each removal is logged with its size. */
	snprintf(want, sizeof(want), "removed %s/.db.tar.zst.", fx_path(f, "j/20260102T000000Z"));
	assert_contains(f->ctx->log, want);
	assert_contains(f->ctx->log, "a temporary file left by an interrupted "
	                             "backup (1000 bytes)");
	assert_contains(f->ctx->log, fx_path(f, "j/20260104T000000Z/sub"));
	assert_int_equal(f->ctx->warnings, 0);
	assert_string_equal(list(f, "", &l), "j/20260101T000000Z/a 4\n");
	f->ops->unlock(lk);
}

/* A live follower (cairn follow) writes its log segments below JOB/log/
 * while holding another lock than the job's: a backup's lock("JOB") must
 * leave its open temporary files and directories there alone, however
 * young, and still clean up the rest of the job. */
static void
test_lock_spares_live_log_writer(void **state)
{
	struct fx *f = *state;
	cairn_sink_writer *w = NULL;
	cairn_sink_lock *lk = NULL;
	time_t old = time(NULL) - 2 * 24 * 3600;
	struct listing l;
	struct stat st;

	assert_int_equal(f->ops->open_write(f->lc, "j/log/db/a-b-c-d.bin", &w), 0);
	assert_int_equal(f->ops->write(w, "record", 6), 0);
	assert_string_not_equal(temp_file_in(fx_path(f, "j/log/db")), "");
	killed_writer(f, "j/20260102T000000Z/db.tar.zst");
	assert_int_equal(mkdir(fx_path(f, "j/log/other"), 0700), 0);
	/* a dead follower's temporary of two days ago still goes */
	assert_int_equal(mkdir(fx_path(f, "j/log/gone"), 0700), 0);
	touch(fx_path(f, "j/log/gone/.s.Ab3xY9.part"), "stale", old);

	assert_int_equal(f->ops->lock(f->lc, "j", &lk), 0);
	assert_string_not_equal(temp_file_in(fx_path(f, "j/log/db")), "");
	assert_int_equal(stat(fx_path(f, "j/log/other"), &st), 0);
	assert_int_equal(stat(fx_path(f, "j/log/gone/.s.Ab3xY9.part"), &st), -1);
	assert_int_equal(stat(fx_path(f, "j/20260102T000000Z"), &st), -1);
	/* the follower's writer goes on and commits */
	assert_int_equal(f->ops->write(w, "s", 1), 0);
	assert_int_equal(f->ops->commit(w), 0);
	f->ops->unlock(lk);
	assert_string_equal(list(f, "j/log/", &l), "j/log/db/a-b-c-d.bin 7\n");
}

static void
test_sweep_skips_locked_jobs(void **state)
{
	struct fx *f = *state;
	cairn_sink_lock *lk = NULL, *lk2 = NULL;
	cairn_sink_writer *w = NULL;
	time_t old = time(NULL) - 2 * 24 * 3600;
	struct cairn_config *cfg;
	struct local *other;
	cairn_ctx *ctx2 = fake_ctx_new();
	struct stat st;

	/* Job j is running elsewhere: its lock is held by another. */
	cfg = fake_config(local_keys, "path", f->root, NULL);
	assert_int_equal(f->ops->create(ctx2, cfg, (void **)&other), 0);
	assert_int_equal(f->ops->lock(other, "j", &lk2), 0);
	/* Job k has a lock file nobody holds, job m none at all. */
	assert_int_equal(f->ops->lock(other, "k", &lk), 0);
	f->ops->unlock(lk);
	assert_int_equal(mkdir(fx_path(f, "j/1"), 0700), 0);
	assert_int_equal(mkdir(fx_path(f, "k/1"), 0700), 0);
	assert_int_equal(mkdir(fx_path(f, "m"), 0700), 0);
	assert_int_equal(mkdir(fx_path(f, "m/1"), 0700), 0);
	touch(fx_path(f, "j/1/.a.Ab3xY9.part"), "stale", old);
	touch(fx_path(f, "k/1/.a.Ab3xY9.part"), "stale", old);
	touch(fx_path(f, "m/1/.a.Ab3xY9.part"), "stale", old);

	fx_instance(f, "no"); /* not swept yet */
	alarm(20);
	assert_int_equal(f->ops->open_write(f->lc, "x/1/a", &w), 0);
	f->ops->abort(w);
	assert_int_equal(stat(fx_path(f, "j/1/.a.Ab3xY9.part"), &st), 0);
	assert_int_equal(stat(fx_path(f, "k/1/.a.Ab3xY9.part"), &st), -1);
	assert_int_equal(stat(fx_path(f, "k/1"), &st), -1);
	assert_int_equal(stat(fx_path(f, "m/1/.a.Ab3xY9.part"), &st), -1);
	assert_int_equal(stat(fx_path(f, "k/.lock"), &st), 0);
	/* The sweep let go of k's lock again, and j's holder still has j. */
	assert_int_equal(f->ops->lock(f->lc, "k", &lk), 0);
	f->ops->unlock(lk);
	assert_int_equal(f->ops->lock(f->lc, "j", &lk), CAIRN_E_LOCKED);
	alarm(0);
	f->ops->unlock(lk2);

	f->ops->destroy(other);
	fake_config_free(cfg);
	free(ctx2);
}

static void
test_lock_bad(void **state)
{
	static const char *const bad[] = {"", "a/b", ".j", "..", "/j"};
	struct fx *f = *state;
	cairn_sink_lock *lk = (void *)1;
	const char *secret = outside(f, "secret", "not yours");
	struct stat st;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		assert_int_equal(f->ops->lock(f->lc, bad[i], &lk), CAIRN_E_CONFIG);
		assert_null(lk);
		assert_contains(f->ctx->error, "invalid job name");
	}
	assert_int_equal(f->ops->lock(f->lc, NULL, &lk), CAIRN_E_CONFIG);
	assert_int_equal(stat(f->root, &st), -1);
	/* A lock file planted as a link, or as a FIFO. */
	put(f, "j/1/a", "a");
	assert_int_equal(symlink(secret, fx_path(f, "j/.lock")), 0);
	assert_int_equal(f->ops->lock(f->lc, "j", &lk), CAIRN_E_CORRUPT);
	assert_contains(f->ctx->error, fx_path(f, "j/.lock"));
	assert_int_equal(stat(secret, &st), 0);
	assert_int_equal(st.st_size, 9);
	assert_int_equal(unlink(fx_path(f, "j/.lock")), 0);
	assert_int_equal(mkfifo(fx_path(f, "j/.lock"), 0600), 0);
	alarm(10);
	assert_int_equal(f->ops->lock(f->lc, "j", &lk), CAIRN_E_CORRUPT);
	alarm(0);
	assert_contains(f->ctx->error, "is a FIFO, not a regular file");
}

static void
test_failed_runs_leave_no_directories(void **state)
{
	struct fx *f = *state;
	cairn_sink_writer *w = NULL;
	struct stat st;

	/* An aborted write of a set's only object. */
	assert_int_equal(f->ops->open_write(f->lc, "j/1/a", &w), 0);
	assert_int_equal(f->ops->write(w, "partial", 7), 0);
	f->ops->abort(w);
	assert_int_equal(stat(fx_path(f, "j/1"), &st), -1);
	assert_int_equal(stat(fx_path(f, "j"), &st), 0);
	/* Nested names, too. */
	assert_int_equal(f->ops->open_write(f->lc, "j/2/d/e/a", &w), 0);
	f->ops->abort(w);
	assert_int_equal(stat(fx_path(f, "j/2"), &st), -1);
	/* A failed commit. */
	assert_int_equal(f->ops->open_write(f->lc, "j/3/a", &w), 0);
	fill_disk(w);
	assert_int_equal(f->ops->write(w, "x", 1), CAIRN_E_IO);
	assert_int_equal(f->ops->commit(w), CAIRN_E_IO);
	assert_int_equal(stat(fx_path(f, "j/3"), &st), -1);
	/* But never a set that still holds objects. */
	put(f, "j/4/a", "a");
	assert_int_equal(f->ops->open_write(f->lc, "j/4/b", &w), 0);
	f->ops->abort(w);
	assert_int_equal(stat(fx_path(f, "j/4/a"), &st), 0);
	assert_int_equal(f->ctx->warnings, 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
	        T(test_descriptor),
	        T(test_create),
	        T(test_roundtrip),
	        T(test_roundtrip_fsync_no),
	        T(test_invisible_before_commit),
	        T(test_abort_leaves_nothing),
	        T(test_abort_after_failed_write),
	        T(test_commit_after_failed_write),
	        T(test_existing_refused),
	        T(test_commit_never_replaces),
	        T(test_publish_link),
	        T(test_publish_check),
	        T(test_modes_umask0),
	        T(test_modes_umask022),
	        T(test_modes_umask_strict),
	        T(test_list),
	        T(test_list_stop),
	        T(test_missing_root),
	        T(test_remove),
	        T(test_notfound),
	        T(test_invalid_keys),
	        T(test_long_name),
	        T(test_usage),
	        T(test_write_readonly),
	        T(test_unreadable_dir),
	        T(test_sweep),
	        T(test_tmpname),
	        T(test_not_a_directory),
	        T(test_fifo_object),
	        T(test_symlink_object),
	        T(test_symlink_set_dir),
	        T(test_lock),
	        T(test_lock_dies_with_process),
	        T(test_lock_removes_leftovers),
	        T(test_lock_spares_live_log_writer),
	        T(test_sweep_skips_locked_jobs),
	        T(test_lock_bad),
	        T(test_failed_runs_leave_no_directories),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
