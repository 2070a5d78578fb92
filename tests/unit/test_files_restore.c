/*
 * test_files_restore.c - the files source's restore: it must never lie.
 *
 * Like test_files.c this includes the plugin's .c files and uses
 * tests/unit/fakehost.c for the core.  Most tars are made here with
 * libarchive's pax writer, so each test holds exactly the entries it
 * needs; the stream comes from a cairn_in of our own that can end with
 * CAIRN_E_CORRUPT (ABI 1.1: damage found at the very end), be cut short,
 * or cancel the run after some bytes.
 *
 * Some tests need root (a small tmpfs for "disk full", owners, dropping
 * to nobody for a non-root restore); they skip elsewhere.
 */
#include "../../plugins/files/common.c"
#include "../../plugins/files/files.c"
#include "../../plugins/files/attrs.c"
#include "../../plugins/files/write.c"
#include "../../plugins/files/walk.c"
#include "../../plugins/files/estimate.c"
#include "../../plugins/files/backup.c"
#include "../../plugins/files/rmtree.c"
#include "../../plugins/files/pathwalk.c"
#include "../../plugins/files/meta.c"
#include "../../plugins/files/extract.c"
#include "../../plugins/files/stage.c"
#include "../../plugins/files/read.c"
#include "../../plugins/files/restore.c"
#include "../../plugins/files/restore_test.c"

#include <ftw.h>
#include <grp.h>
#include <malloc.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include "fakehost.h"

/* ------------------------------------------------- no chdir, ever */

/* libarchive's disk writer changes directories; the plugin must not.
 * These replace libc's for this program (and for libarchive in it). */
static int chdir_calls;

int
chdir(const char *path)
{
	chdir_calls++;
	return (int)syscall(SYS_chdir, path);
}

int
fchdir(int fd)
{
	chdir_calls++;
	return (int)syscall(SYS_fchdir, fd);
}

/* ------------------------------------------ unlink failures, injected */

/* Replaces libc's for this program, as chdir() above.  While armed, the
 * first unlinkat() of a non-directory named "victim*" fails with EPERM (an
 * entry that may be a directory: files_rm_count() remembers its name to
 * enter it) and every later one with EIO (a real failure). */
static int unlink_inject; /* 0: off; else 1 + the failures so far */

int
unlinkat(int dirfd, const char *path, int flags)
{
	if (unlink_inject > 0 && flags == 0 && strncmp(path, "victim", 6) == 0) {
		errno = unlink_inject++ == 1 ? EPERM : EIO;
		return -1;
	}
	return (int)syscall(SYS_unlinkat, dirfd, path, flags);
}

/* ---------------------------------------------------------- streams */

/* struct buf and buf_add are testutil.h's */

static int
memout_write(struct cairn_out *self, const void *p, size_t n)
{
	struct {
		struct cairn_out out;
		struct buf b;
	} *m = (void *)self;
	buf_add(&m->b, p, n);
	return 0;
}

struct memin {
	struct cairn_in in;
	const char *p;
	size_t len, pos;
	size_t chunk;
	int end_code;     /* returned instead of 0 at the end; 0: a good end */
	size_t cancel_at; /* set ctx->cancelled once pos passes this; 0: never */
	cairn_ctx *ctx;
};

static ssize_t
memin_read(struct cairn_in *self, void *out, size_t len)
{
	struct memin *m = (struct memin *)self;
	if (m->cancel_at && m->pos >= m->cancel_at)
		m->ctx->cancelled = 1;
	if (m->pos >= m->len)
		return m->end_code ? m->end_code : 0;
	if (len > m->chunk)
		len = m->chunk;
	if (len > m->len - m->pos)
		len = m->len - m->pos;
	memcpy(out, m->p + m->pos, len);
	m->pos += len;
	return (ssize_t)len;
}

static void
memin_init(struct memin *m, const struct buf *b, cairn_ctx *ctx)
{
	memset(m, 0, sizeof(*m));
	m->in.struct_size = sizeof(m->in);
	m->in.read = memin_read;
	m->p = b->p;
	m->len = b->len;
	m->chunk = 9000; /* odd sizes: short reads everywhere */
	m->ctx = ctx;
}

/* ------------------------------------------------------ making tars */

struct ent {
	const char *name;
	char type;           /* 'f' file (default), 'd', 'l' symlink, 'h' hard
	                         link, 'c' char device, 'p' FIFO */
	const char *content; /* a file's data */
	size_t size;         /* else this many bytes of a pattern */
	mode_t mode;         /* 0: 0644 (files), 0755 (directories) */
	const char *target;  /* 'l', 'h' */
	const char *uname, *gname;
	int uid, gid; /* -1 with uname: not set */
	time_t mtime;
	long nsec;
};

static la_ssize_t
tar_write_cb(struct archive *a, void *data, const void *p, size_t n)
{
	(void)a;
	buf_add(data, p, n);
	return (la_ssize_t)n;
}

static void
make_tar(struct buf *b, const struct ent *v, size_t n)
{
	struct archive *a = archive_write_new();
	b->len = 0;
	archive_write_set_format_pax(a);
	archive_write_set_bytes_per_block(a, 10240);
	assert_int_equal(archive_write_open(a, b, NULL, tar_write_cb, NULL), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();
		char type = v[i].type ? v[i].type : 'f';
		size_t size = v[i].content ? strlen(v[i].content) : v[i].size;
		archive_entry_set_pathname(e, v[i].name);
		archive_entry_set_mtime(e, v[i].mtime ? v[i].mtime : 1600000000, v[i].nsec);
		archive_entry_set_uid(e, v[i].uid);
		archive_entry_set_gid(e, v[i].gid);
		if (v[i].uname)
			archive_entry_set_uname(e, v[i].uname);
		if (v[i].gname)
			archive_entry_set_gname(e, v[i].gname);
		switch (type) {
		case 'd':
			archive_entry_set_filetype(e, AE_IFDIR);
			archive_entry_set_perm(e, v[i].mode ? v[i].mode : 0755);
			break;
		case 'l':
			archive_entry_set_filetype(e, AE_IFLNK);
			archive_entry_set_perm(e, 0777);
			archive_entry_set_symlink(e, v[i].target);
			break;
		case 'h':
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_perm(e, 0644);
			archive_entry_set_hardlink(e, v[i].target);
			break;
		case 'c':
			archive_entry_set_filetype(e, AE_IFCHR);
			archive_entry_set_perm(e, 0666);
			archive_entry_set_rdevmajor(e, 1);
			archive_entry_set_rdevminor(e, 3);
			break;
		case 'p':
			archive_entry_set_filetype(e, AE_IFIFO);
			archive_entry_set_perm(e, v[i].mode ? v[i].mode : 0640);
			break;
		default:
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_perm(e, v[i].mode ? v[i].mode : 0644);
			archive_entry_set_size(e, (la_int64_t)size);
		}
		assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
		if (type == 'f') {
			if (v[i].content)
				assert_int_equal(archive_write_data(a, v[i].content, size),
				                 (la_ssize_t)size);
			else {
				char chunk[8192];
				for (size_t k = 0; k < sizeof(chunk); k++)
					chunk[k] = (char)('a' + k % 23);
				for (size_t done = 0; done < size;) {
					size_t m = size - done < sizeof(chunk) ? size - done
					                                       : sizeof(chunk);
					assert_int_equal(archive_write_data(a, chunk, m),
					                 (la_ssize_t)m);
					done += m;
				}
			}
		}
		archive_entry_free(e);
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
}

/* ---------------------------------------------------------- fixture */

struct fx {
	char dir[64];
	char target[128]; /* dir/t, absent at first */
	char mnt[128];    /* a tmpfs mounted here, or "" */
	cairn_ctx *ctx;
	const struct cairn_source_ops *ops;
	struct buf tar;
	struct files_inst *fi;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	const struct cairn_plugin *pl = cairn_plugin_entry(&fake_host);
	assert_non_null(f);
	alarm(120); /* nothing here may hang */
	strcpy(f->dir, "/tmp/test_files_restore.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->target, sizeof(f->target), "%s/t", f->dir);
	f->ctx = fake_ctx_new();
	f->ops = pl->source;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	if (f->fi)
		f->ops->destroy(f->fi);
	if (f->mnt[0])
		umount2(f->mnt, MNT_DETACH);
	rm_tree(f->dir);
	free(f->tar.p);
	free(f->ctx);
	free(f);
	alarm(0);
	files_host = &fake_host;
	return 0;
}

static struct files_inst *
inst(struct fx *f, const char *path)
{
	struct cairn_config *cfg = fake_config(files_keys, "path", path, NULL);
	void *in = NULL;
	if (f->fi)
		f->ops->destroy(f->fi);
	assert_int_equal(f->ops->create(f->ctx, cfg, &in), 0);
	fake_config_free(cfg);
	f->fi = in;
	return in;
}

static int
restore_with(struct fx *f, const char *path, unsigned flags, struct memin *m)
{
	struct memin local;
	if (m == NULL) {
		memin_init(&local, &f->tar, f->ctx);
		m = &local;
	}
	memset(f->ctx->error, 0, sizeof(f->ctx->error));
	return f->ops->restore(inst(f, path), &m->in, flags);
}

static int
restore(struct fx *f, unsigned flags)
{
	return restore_with(f, f->target, flags, NULL);
}

static void
put(const char *dir, const char *rel, const char *content, mode_t mode)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	size_t n = strlen(content);
	assert_int_equal(write(fd, content, n), (ssize_t)n);
	close(fd);
	assert_int_equal(chmod(p, mode), 0);
}

static void
mkd(const char *dir, const char *rel)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	assert_int_equal(mkdir(p, 0755), 0);
}

static int
exists(const char *dir, const char *rel)
{
	char p[4096];
	struct stat st;
	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	return lstat(p, &st) == 0;
}

static char *
slurp(const char *dir, const char *rel)
{
	static char got[4096];
	char p[4096];
	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	int fd = open(p, O_RDONLY);
	if (fd < 0)
		return NULL;
	ssize_t n = read(fd, got, sizeof(got) - 1);
	close(fd);
	got[n > 0 ? n : 0] = '\0';
	return got;
}

static struct stat
lst(const char *dir, const char *rel)
{
	char p[4096];
	struct stat st;
	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	assert_int_equal(lstat(p, &st), 0);
	return st;
}

/* A tree's names, types, modes, sizes, mtimes and contents, one sorted
 * line each: "unchanged" means this string is equal. */
static struct buf sig_buf;
static size_t sig_rootlen;

static int
sig_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	char line[8192];
	uint64_t h = 1469598103934665603ULL;
	(void)flag;
	(void)ftw;
	if (S_ISREG(st->st_mode)) {
		unsigned char b[65536];
		ssize_t n;
		int fd = open(path, O_RDONLY);
		assert_true(fd >= 0);
		while ((n = read(fd, b, sizeof(b))) > 0)
			for (ssize_t i = 0; i < n; i++)
				h = (h ^ b[i]) * 1099511628211ULL;
		close(fd);
	}
	int n = snprintf(line, sizeof(line), "%s|%o|%lld|%lld.%09ld|%llx\n", path + sig_rootlen,
	                 (unsigned)st->st_mode, S_ISDIR(st->st_mode) ? 0LL : (long long)st->st_size,
	                 (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec, (unsigned long long)h);
	buf_add(&sig_buf, line, (size_t)n);
	return 0;
}

static char *
tree_sig(const char *root)
{
	sig_buf.p = NULL;
	sig_buf.len = sig_buf.cap = 0;
	sig_rootlen = strlen(root);
	assert_int_equal(nftw(root, sig_one, 16, FTW_PHYS), 0);
	buf_add(&sig_buf, "", 1);
	return sig_buf.p; /* nftw's order is readdir's: stable for one tree */
}

/* Entries whose name holds ".cairn-restore." in dir. */
static int
staging_left(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;
	if (d == NULL)
		return 0;
	while ((de = readdir(d)) != NULL)
		n += strstr(de->d_name, ".cairn-restore.") != NULL;
	closedir(d);
	return n;
}

/* A tar of a few files with one big one in the middle. */
static void
tar_www(struct fx *f, size_t bigsize)
{
	const struct ent v[] = {
	        {.name = "www", .type = 'd'},
	        {.name = "www/index.html", .content = "<html>new</html>"},
	        {.name = "www/img", .type = 'd'},
	        {.name = "www/img/a.png", .size = bigsize},
	        {.name = "www/zz-last", .content = "last"},
	        {.name = "same", .content = "from the backup"},
	};
	make_tar(&f->tar, v, sizeof(v) / sizeof(v[0]));
}

/* A target that exists and holds good files. */
static char *
good_tree(struct fx *f)
{
	mkd(f->dir, "t");
	mkd(f->target, "www");
	put(f->target, "www/index.html", "<html>good</html>", 0644);
	put(f->target, "same", "good content", 0600);
	put(f->target, "mine", "only here", 0644);
	return tree_sig(f->target);
}

/* ------------------------------------------------------------ tests */

static void
test_needs_a_core_that_proves_the_end(void **state)
{
	struct fx *f = *state;
	static struct cairn_host old;
	old = fake_host;
	old.abi_minor = 0;
	old.cairn_version = "1.0.3";
	tar_www(f, 10);
	files_host = &old;
	assert_int_equal(restore(f, 0), CAIRN_E_UNSUPPORTED);
	assert_contains(f->ctx->error, "1.1");
	assert_false(exists(f->dir, "t"));
	files_host = &fake_host;
}

static void
test_descriptor_says_staged(void **state)
{
	(void)state;
	const struct cairn_plugin *pl = cairn_plugin_entry(&fake_host);
	assert_true(pl->source->flags & CAIRN_SOURCE_STAGED_RESTORE);
}

static void
test_damage_found_at_the_very_end_leaves_no_target(void **state)
{
	struct fx *f = *state;
	struct memin m;
	tar_www(f, 300000);
	memin_init(&m, &f->tar, f->ctx);
	m.end_code = CAIRN_E_CORRUPT;
	assert_int_equal(restore_with(f, f->target, 0, &m), CAIRN_E_CORRUPT);
	assert_int_equal(m.pos, m.len); /* it did read everything */
	assert_false(exists(f->dir, "t"));
	assert_int_equal(staging_left(f->dir), 0);
}

static void
test_damage_at_the_end_with_force_keeps_good_files(void **state)
{
	struct fx *f = *state;
	struct memin m;
	char *before = good_tree(f), *after;
	tar_www(f, 300000);
	memin_init(&m, &f->tar, f->ctx);
	m.end_code = CAIRN_E_CORRUPT;
	assert_int_equal(restore_with(f, f->target, CAIRN_RESTORE_FORCE, &m), CAIRN_E_CORRUPT);
	after = tree_sig(f->target);
	assert_string_equal(before, after);
	assert_int_equal(staging_left(f->target), 0);
	free(before);
	free(after);
}

static void
test_cancel_midway_leaves_target_as_it_was(void **state)
{
	struct fx *f = *state;
	struct memin m;
	tar_www(f, 2 << 20);
	memin_init(&m, &f->tar, f->ctx);
	m.cancel_at = 1 << 20; /* inside a.png */
	assert_int_equal(restore_with(f, f->target, 0, &m), CAIRN_E_CANCELLED);
	assert_false(exists(f->dir, "t"));
	assert_int_equal(staging_left(f->dir), 0);

	char *before = good_tree(f), *after;
	f->ctx->cancelled = 0;
	memin_init(&m, &f->tar, f->ctx);
	m.cancel_at = 1 << 20;
	assert_int_equal(restore_with(f, f->target, CAIRN_RESTORE_FORCE, &m), CAIRN_E_CANCELLED);
	after = tree_sig(f->target);
	assert_string_equal(before, after);
	assert_int_equal(staging_left(f->target), 0);
	free(before);
	free(after);
}

static void
test_truncated_stream_names_the_entry_and_changes_nothing(void **state)
{
	struct fx *f = *state;
	tar_www(f, 200000);
	f->tar.len = 100000; /* inside www/img/a.png */
	assert_int_equal(restore(f, 0), CAIRN_E_CORRUPT);
	assert_contains(f->ctx->error, "www/img/a.png");
	assert_false(exists(f->dir, "t"));
	assert_int_equal(staging_left(f->dir), 0);

	/* cut between entries: no end-of-archive marker */
	tar_www(f, 2000);
	size_t end = f->tar.len;
	while (end > 0 && f->tar.p[end - 1] == 0)
		end--;
	f->tar.len = (end + 511) & ~(size_t)511;
	char *before = good_tree(f), *after;
	assert_int_equal(restore(f, CAIRN_RESTORE_FORCE), CAIRN_E_CORRUPT);
	assert_contains(f->ctx->error, "cut short");
	after = tree_sig(f->target);
	assert_string_equal(before, after);
	free(before);
	free(after);
}

/* Disk full: a 1 MiB tmpfs; needs root (CI runs as root). */
static int
small_tmpfs(struct fx *f)
{
	snprintf(f->mnt, sizeof(f->mnt), "%s/m", f->dir);
	assert_int_equal(mkdir(f->mnt, 0755), 0);
	if (geteuid() != 0 || mount("tmpfs", f->mnt, "tmpfs", 0, "size=1m,mode=0755") != 0) {
		f->mnt[0] = '\0';
		return 0;
	}
	return 1;
}

static void
test_disk_full_fails_naming_the_file(void **state)
{
	struct fx *f = *state;
	char target[256];
	if (!small_tmpfs(f)) {
		print_message("skipped: mounting a small tmpfs needs root\n");
		skip();
	}
	snprintf(target, sizeof(target), "%s/t", f->mnt);
	tar_www(f, 2 << 20);
	assert_int_equal(restore_with(f, target, 0, NULL), CAIRN_E_IO);
	assert_contains(f->ctx->error, "restoring www/img/a.png failed: No space left on device");
	assert_false(exists(f->mnt, "t"));
	assert_int_equal(staging_left(f->mnt), 0);

	/* --force over a good tree: it stays as it was */
	assert_int_equal(mkdir(target, 0755), 0);
	put(target, "same", "good content", 0644);
	put(target, "keep", "keep me", 0644);
	char *before = tree_sig(target), *after;
	assert_int_equal(restore_with(f, target, CAIRN_RESTORE_FORCE, NULL), CAIRN_E_IO);
	assert_contains(f->ctx->error, "www/img/a.png");
	after = tree_sig(target);
	assert_string_equal(before, after);
	assert_int_equal(staging_left(target), 0);
	free(before);
	free(after);
}

static void
test_entry_through_a_symlink_is_refused(void **state)
{
	struct fx *f = *state;
	char outside[256];
	snprintf(outside, sizeof(outside), "%s/outside", f->dir);
	assert_int_equal(mkdir(outside, 0755), 0);
	const struct ent v[] = {
	        {.name = "ok", .content = "fine"},
	        {.name = "a", .type = 'l', .target = outside},
	        {.name = "a/f", .content = "pwned"},
	};
	make_tar(&f->tar, v, 3);
	assert_int_equal(restore(f, 0), CAIRN_E_CORRUPT);
	assert_contains(f->ctx->error, "a/f");
	assert_contains(f->ctx->error, "symbolic link");
	assert_false(exists(outside, "f"));
	assert_false(exists(f->dir, "t"));
	assert_int_equal(staging_left(f->dir), 0);

	/* a hard link resolved through a symlink is refused as well */
	const struct ent w[] = {
	        {.name = "a", .type = 'l', .target = "/etc"},
	        {.name = "grab", .type = 'h', .target = "a/passwd"},
	};
	make_tar(&f->tar, w, 2);
	assert_int_equal(restore(f, 0), CAIRN_E_CORRUPT);
	assert_contains(f->ctx->error, "grab");
	assert_false(exists(f->dir, "t"));
}

static void
test_entry_below_a_file_names_the_full_path(void **state)
{
	struct fx *f = *state;
	const struct ent v[] = {
	        {.name = "deep", .type = 'd'},
	        {.name = "deep/er", .type = 'd'},
	        {.name = "deep/er/file", .content = "x"},
	        {.name = "deep/er/file/below", .content = "y"},
	};
	make_tar(&f->tar, v, 4);
	assert_int_equal(restore(f, 0), CAIRN_E_CORRUPT);
	assert_contains(f->ctx->error, "'deep/er/file/below'");
	assert_false(exists(f->dir, "t"));
}

static void
test_path_longer_than_path_max_round_trips(void **state)
{
	struct fx *f = *state;
	char comp[201], *name = calloc(1, 8192);
	struct ent v[32];
	size_t n = 0, len = 0;
	memset(comp, 'p', 200);
	comp[200] = '\0';
	for (int i = 0; i < 25; i++) {
		len += (size_t)sprintf(name + len, "%s%s", i ? "/" : "", comp);
		v[n++] = (struct ent){.name = strdup(name), .type = 'd'};
	}
	strcpy(name + len, "/leaf");
	assert_true(strlen(name) > PATH_MAX);
	v[n++] = (struct ent){.name = strdup(name), .content = "deep down"};
	make_tar(&f->tar, v, n);
	assert_int_equal(restore(f, 0), 0);
	/* walk down to check */
	int fd = open(f->target, O_RDONLY | O_DIRECTORY);
	for (int i = 0; i < 25; i++) {
		int next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
		assert_true(next >= 0);
		close(fd);
		fd = next;
	}
	char got[32] = "";
	int leaf = openat(fd, "leaf", O_RDONLY);
	assert_true(leaf >= 0);
	assert_int_equal(read(leaf, got, sizeof(got)), 9);
	assert_string_equal(got, "deep down");
	close(leaf);
	close(fd);
	for (size_t k = 0; k < n; k++)
		free((char *)v[k].name);
	free(name);
	/* rm_tree cannot remove it by path: do it the plugin's way */
	assert_int_equal(files_rm_tree(AT_FDCWD, f->target), 0);
}

static void
test_force_merges_and_replaces_namesakes(void **state)
{
	struct fx *f = *state;
	mkd(f->dir, "t");
	put(f->target, "keep", "not in the backup", 0644);
	put(f->target, "same", "old", 0644);
	mkd(f->target, "d");
	put(f->target, "d/extra", "stays", 0644);
	put(f->target, "d/over", "old", 0644);
	mkd(f->target, "wasdir");
	mkd(f->target, "wasdir/sub");
	put(f->target, "wasdir/sub/x", "x", 0644);
	put(f->target, "wasfile", "a file", 0644);
	{
		char p[256];
		snprintf(p, sizeof(p), "%s/wasdir2link", f->target);
		assert_int_equal(symlink("/etc", p), 0);
	}
	const struct ent v[] = {
	        {.name = ".", .type = 'd', .mode = 0751},
	        {.name = "same", .content = "new"},
	        {.name = "d", .type = 'd', .mode = 0700},
	        {.name = "d/over", .content = "new"},
	        {.name = "d/added", .content = "added"},
	        {.name = "wasdir", .content = "now a file"},
	        {.name = "wasfile", .type = 'd'},
	        {.name = "wasfile/in", .content = "in"},
	        {.name = "wasdir2link", .type = 'd'},
	        {.name = "wasdir2link/hosts", .content = "mine"},
	};
	make_tar(&f->tar, v, sizeof(v) / sizeof(v[0]));
	assert_int_equal(restore(f, 0), CAIRN_E_EXISTS);
	assert_contains(f->ctx->error, "--force");
	assert_string_equal(slurp(f->target, "same"), "old");

	assert_int_equal(restore(f, CAIRN_RESTORE_FORCE), 0);
	assert_string_equal(slurp(f->target, "keep"), "not in the backup");
	assert_string_equal(slurp(f->target, "same"), "new");
	assert_string_equal(slurp(f->target, "d/extra"), "stays");
	assert_string_equal(slurp(f->target, "d/over"), "new");
	assert_string_equal(slurp(f->target, "d/added"), "added");
	assert_string_equal(slurp(f->target, "wasdir"), "now a file");
	assert_string_equal(slurp(f->target, "wasfile/in"), "in");
	assert_true(S_ISDIR(lst(f->target, "wasdir2link").st_mode));
	assert_string_equal(slurp(f->target, "wasdir2link/hosts"), "mine");
	assert_int_equal(lst(f->target, "d").st_mode & 07777, 0700);
	assert_int_equal(lst(f->target, "d").st_mtime, 1600000000);
	assert_int_equal(lst(f->target, ".").st_mode & 07777, 0751);
	assert_int_equal(lst(f->target, ".").st_mtime, 1600000000);
	assert_int_equal(staging_left(f->target), 0);
}

static void
test_modes_and_times_exact_whatever_the_umask(void **state)
{
	struct fx *f = *state;
	const struct ent v[] = {
	        {.name = ".", .type = 'd', .mode = 0750, .mtime = 1500000000, .nsec = 5},
	        {.name = "pub", .content = "p", .mode = 0644, .nsec = 123456789},
	        {.name = "all", .content = "a", .mode = 0777, .nsec = 1},
	        {.name = "ro", .content = "r", .mode = 0444},
	        {.name = "suid", .content = "s", .mode = 04755},
	        {.name = "dir", .type = 'd', .mode = 0555, .nsec = 999999999},
	        {.name = "dir/in", .content = "i", .mode = 0600},
	        {.name = "sticky", .type = 'd', .mode = 01777},
	        {.name = "fifo", .type = 'p', .mode = 0666},
	        {.name = "ln", .type = 'l', .target = "pub", .nsec = 42},
	};
	static const struct {
		const char *n;
		mode_t m;
		long ns;
	} want[] = {
	        {".", 0750, 5},      {"pub", 0644, 123456789}, {"all", 0777, 1},
	        {"ro", 0444, 0},     {"suid", 04755, 0},       {"dir", 0555, 999999999},
	        {"dir/in", 0600, 0}, {"sticky", 01777, 0},     {"fifo", 0666, 0},
	};
	make_tar(&f->tar, v, sizeof(v) / sizeof(v[0]));
	static const mode_t masks[] = {077, 0, 0777};
	for (size_t u = 0; u < 3; u++) {
		mode_t old = umask(masks[u]);
		rm_tree(f->target);
		int rc = restore(f, 0);
		umask(old);
		assert_int_equal(rc, 0);
		for (size_t k = 0; k < sizeof(want) / sizeof(want[0]); k++) {
			struct stat st = lst(f->target, want[k].n);
			if ((st.st_mode & 07777) != want[k].m)
				fail_msg("umask %03o: %s has mode %o, not %o", masks[u], want[k].n,
				         (unsigned)(st.st_mode & 07777), (unsigned)want[k].m);
			assert_int_equal(st.st_mtim.tv_nsec, want[k].ns);
		}
		struct stat ln = lst(f->target, "ln");
		assert_true(S_ISLNK(ln.st_mode));
		assert_int_equal(ln.st_mtim.tv_nsec, 42);
		assert_int_equal(lst(f->target, ".").st_mtime, 1500000000);
	}
}

static void
test_owners_by_name_first(void **state)
{
	struct fx *f = *state;
	struct passwd *pw = getpwnam("nobody");
	struct group *gr = getgrnam("nogroup");
	if (geteuid() != 0 || pw == NULL || gr == NULL) {
		print_message("skipped: needs root and a nobody user\n");
		skip();
	}
	uid_t nobody = pw->pw_uid;
	gid_t nogroup = gr->gr_gid;
	const struct ent v[] = {
	        {.name = "byname",
	         .content = "x",
	         .uname = "nobody",
	         .uid = 4242,
	         .gname = "nogroup",
	         .gid = 4243,
	         .mode = 04750},
	        {.name = "bynumber",
	         .content = "y",
	         .uname = "no-such-user-for-cairn",
	         .uid = 4344,
	         .gname = "no-such-group-for-cairn",
	         .gid = 4345},
	        {.name = "dir", .type = 'd', .uname = "nobody", .uid = 1},
	        {.name = "link", .type = 'l', .target = "byname", .uid = 4346, .gid = 4347},
	};
	make_tar(&f->tar, v, 4);
	assert_int_equal(restore(f, 0), 0);
	struct stat a = lst(f->target, "byname"), b = lst(f->target, "bynumber");
	assert_int_equal(a.st_uid, nobody);
	assert_int_equal(a.st_gid, nogroup);
	assert_int_equal(a.st_mode & 07777, 04750); /* after fchown */
	assert_int_equal(b.st_uid, 4344);
	assert_int_equal(b.st_gid, 4345);
	assert_int_equal(lst(f->target, "dir").st_uid, nobody);
	assert_int_equal(lst(f->target, "link").st_uid, 4346);
	assert_int_equal(lst(f->target, "link").st_gid, 4347);
	assert_int_equal(f->ctx->warnings, 0);
}

/* Drop to nobody in a child and restore a tar with a device node and a
 * foreign owner; the child reports through its exit status. */
static void
test_non_root_warns_skips_device_and_restores_the_rest(void **state)
{
	struct fx *f = *state;
	struct passwd *pw = getpwnam("nobody");
	char base[64] = "/tmp/test_files_restore_nr.XXXXXX", target[128];
	if (geteuid() != 0 || pw == NULL) {
		print_message("skipped: needs root to drop to nobody\n");
		skip();
	}
	const struct ent v[] = {
	        {.name = "a", .content = "first", .uid = (int)pw->pw_uid, .gid = (int)pw->pw_gid},
	        {.name = "dev", .type = 'd', .uid = (int)pw->pw_uid, .gid = (int)pw->pw_gid},
	        {.name = "dev/null0", .type = 'c', .uid = 0, .uname = "root"},
	        {.name = "dev/theirs", .content = "t", .uid = 0, .uname = "root"},
	        {.name = "b", .content = "after", .uid = (int)pw->pw_uid, .gid = (int)pw->pw_gid},
	};
	make_tar(&f->tar, v, 5);
	assert_non_null(mkdtemp(base));
	assert_int_equal(chown(base, pw->pw_uid, pw->pw_gid), 0);
	snprintf(target, sizeof(target), "%s/t", base);
	struct files_inst *fi = inst(f, target);

	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		struct memin m;
		if (setgroups(0, NULL) != 0 || setresgid(pw->pw_gid, pw->pw_gid, pw->pw_gid) != 0 ||
		    setresuid(pw->pw_uid, pw->pw_uid, pw->pw_uid) != 0)
			_exit(10);
		memin_init(&m, &f->tar, f->ctx);
		int rc = f->ops->restore(fi, &m.in, 0);
		if (rc != 0) {
			fprintf(stderr, "restore: %d %s\n", rc, f->ctx->error);
			_exit(11);
		}
		if (!strstr(f->ctx->log, "dev/null0") || !strstr(f->ctx->log, "dev/theirs"))
			_exit(12);
		if (fake_stat(f->ctx, "skipped") != 1 || fake_stat(f->ctx, "warnings") != 2 ||
		    f->ctx->warnings != 2) {
			fprintf(stderr, "%s", f->ctx->log);
			_exit(13);
		}
		_exit(0);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	assert_string_equal(slurp(target, "a"), "first");
	assert_string_equal(slurp(target, "b"), "after");
	assert_string_equal(slurp(target, "dev/theirs"), "t");
	assert_int_equal(lst(target, "dev/theirs").st_uid, pw->pw_uid);
	assert_false(exists(target, "dev/null0"));
	rm_tree(base);
}

static void
test_hard_links_symlinks_and_sparse_files(void **state)
{
	struct fx *f = *state;
	char src[128], p[256];
	struct {
		struct cairn_out out;
		struct buf b;
	} out = {{sizeof(struct cairn_out), memout_write}, {0}};
	snprintf(src, sizeof(src), "%s/src", f->dir);
	assert_int_equal(mkdir(src, 0755), 0);
	put(src, "one", "shared", 0640);
	mkd(src, "sub");
	{
		char one[256];
		snprintf(one, sizeof(one), "%s/one", src);
		snprintf(p, sizeof(p), "%s/sub/two", src);
		assert_int_equal(link(one, p), 0);
	}
	snprintf(p, sizeof(p), "%s/sub/ln", src);
	assert_int_equal(symlink("../one", p), 0);
	snprintf(p, sizeof(p), "%s/sparse", src);
	int fd = open(p, O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "mid", 3, 8 << 20), 3);
	assert_int_equal(ftruncate(fd, 16 << 20), 0);
	close(fd);

	assert_int_equal(f->ops->backup(inst(f, src), &out.out), 0);
	f->tar = out.b;
	assert_int_equal(restore(f, 0), 0);
	struct stat a = lst(f->target, "one"), b = lst(f->target, "sub/two");
	assert_int_equal(a.st_ino, b.st_ino);
	assert_int_equal(a.st_nlink, 2);
	assert_int_equal(a.st_mode & 07777, 0640);
	char got[64] = "";
	snprintf(p, sizeof(p), "%s/sub/ln", f->target);
	assert_int_equal(readlink(p, got, sizeof(got)), 6);
	assert_string_equal(got, "../one");
	struct stat s = lst(f->target, "sparse");
	assert_int_equal(s.st_size, 16 << 20);
	assert_true(s.st_blocks * 512 < (1 << 20));
	snprintf(p, sizeof(p), "%s/sparse", f->target);
	fd = open(p, O_RDONLY);
	memset(got, 0, sizeof(got));
	assert_int_equal(pread(fd, got, 3, 8 << 20), 3);
	assert_string_equal(got, "mid");
	close(fd);
}

static void
test_hard_link_to_nothing_earlier_is_damage(void **state)
{
	struct fx *f = *state;
	const struct ent v[] = {
	        {.name = "ok", .content = "fine"},
	        {.name = "link", .type = 'h', .target = "missing"},
	};
	make_tar(&f->tar, v, 2);
	assert_int_equal(restore(f, 0), CAIRN_E_CORRUPT);
	assert_contains(f->ctx->error, "link");
	assert_contains(f->ctx->error, "missing");
	assert_false(exists(f->dir, "t"));
}

static void
test_later_entry_of_a_name_wins(void **state)
{
	struct fx *f = *state;
	const struct ent v[] = {
	        {.name = "x", .content = "first"},
	        {.name = "x", .content = "second"},
	        {.name = "y", .type = 'l', .target = "x"},
	        {.name = "y", .content = "a file now"},
	};
	make_tar(&f->tar, v, 4);
	assert_int_equal(restore(f, 0), 0);
	assert_string_equal(slurp(f->target, "x"), "second");
	assert_true(S_ISREG(lst(f->target, "y").st_mode));
	assert_string_equal(slurp(f->target, "y"), "a file now");
}

/* Raw POSIX ACL xattrs: version 2, then (tag, perm, id) entries. */
static size_t
acl_bytes(unsigned char *b, const unsigned (*e)[3], size_t n)
{
	files_le32(b, 2);
	for (size_t k = 0; k < n; k++) {
		files_le16(b + 4 + 8 * k, e[k][0]);
		files_le16(b + 6 + 8 * k, e[k][1]);
		files_le32(b + 8 + 8 * k, e[k][2]);
	}
	return 4 + 8 * n;
}

static void
test_xattrs_and_acls_round_trip(void **state)
{
	struct fx *f = *state;
	char src[128], p[256], q[256];
	unsigned char acc[64], def[64], got[128];
	static const unsigned acc_e[][3] = {{0x01, 6, 0xffffffffu}, {0x02, 4, 1234},
	                                    {0x04, 4, 0xffffffffu}, {0x08, 6, 5678},
	                                    {0x10, 6, 0xffffffffu}, {0x20, 0, 0xffffffffu}};
	static const unsigned def_e[][3] = {{0x01, 7, 0xffffffffu},
	                                    {0x04, 5, 0xffffffffu},
	                                    {0x08, 5, 5678},
	                                    {0x10, 5, 0xffffffffu},
	                                    {0x20, 0, 0xffffffffu}};
	size_t alen = acl_bytes(acc, acc_e, 6), dlen = acl_bytes(def, def_e, 5);
	struct {
		struct cairn_out out;
		struct buf b;
	} out = {{sizeof(struct cairn_out), memout_write}, {0}};

	snprintf(src, sizeof(src), "%s/src", f->dir);
	assert_int_equal(mkdir(src, 0755), 0);
	put(src, "f", "x", 0640);
	mkd(src, "d");
	snprintf(p, sizeof(p), "%s/f", src);
	snprintf(q, sizeof(q), "%s/d", src);
	if (setxattr(p, "user.cairn", "v1", 2, 0) != 0 ||
	    setxattr(p, "system.posix_acl_access", acc, alen, 0) != 0 ||
	    setxattr(q, "system.posix_acl_default", def, dlen, 0) != 0 ||
	    setxattr(q, "user.dir", "dv", 2, 0) != 0) {
		print_message("skipped: no xattrs or ACLs on /tmp\n");
		skip();
	}
	assert_int_equal(f->ops->backup(inst(f, src), &out.out), 0);
	f->tar = out.b;
	assert_int_equal(restore(f, 0), 0);
	assert_int_equal(f->ctx->warnings, 0);
	snprintf(p, sizeof(p), "%s/f", f->target);
	snprintf(q, sizeof(q), "%s/d", f->target);
	assert_int_equal(getxattr(p, "user.cairn", got, sizeof(got)), 2);
	assert_memory_equal(got, "v1", 2);
	assert_int_equal(getxattr(p, "system.posix_acl_access", got, sizeof(got)), (ssize_t)alen);
	assert_memory_equal(got, acc, alen);
	assert_int_equal(getxattr(q, "system.posix_acl_default", got, sizeof(got)), (ssize_t)dlen);
	assert_memory_equal(got, def, dlen);
	assert_int_equal(getxattr(q, "user.dir", got, sizeof(got)), 2);
	/* the mode's group bits are the mask, as in the source */
	assert_int_equal(lst(f->target, "f").st_mode & 0777, 0660);
	/* a file created in d would inherit; one restored there must not
	 * get more than it had */
	assert_int_equal(lgetxattr(p, "system.posix_acl_default", got, sizeof(got)), -1);

	/* acls = no, xattrs = no: none of it */
	struct cairn_config *cfg =
	        fake_config(files_keys, "path", f->target, "acls", "no", "xattrs", "no", NULL);
	void *in2 = NULL;
	struct memin m;
	rm_tree(f->target);
	assert_int_equal(f->ops->create(f->ctx, cfg, &in2), 0);
	fake_config_free(cfg);
	memin_init(&m, &f->tar, f->ctx);
	assert_int_equal(f->ops->restore(in2, &m.in, 0), 0);
	f->ops->destroy(in2);
	assert_int_equal(getxattr(p, "user.cairn", got, sizeof(got)), -1);
	assert_int_equal(getxattr(p, "system.posix_acl_access", got, sizeof(got)), -1);
}

static void
test_no_chdir_and_cwd_unchanged(void **state)
{
	struct fx *f = *state;
	char before[4096], after[4096];
	tar_www(f, 1000);
	assert_int_equal(chdir(f->dir), 0);
	assert_non_null(getcwd(before, sizeof(before)));
	chdir_calls = 0;
	assert_int_equal(restore(f, 0), 0);
	assert_int_equal(chdir_calls, 0);
	assert_non_null(getcwd(after, sizeof(after)));
	assert_string_equal(before, after);
	assert_int_equal(chdir("/"), 0);
}

static void
test_stale_staging_of_ours_is_removed(void **state)
{
	struct fx *f = *state;
	char p[256];
	tar_www(f, 10);
	/* a killed run's, beside the missing target */
	snprintf(p, sizeof(p), "%s/.t.cairn-restore.AbC123", f->dir);
	assert_int_equal(mkdir(p, 0700), 0);
	put(p, "half", "half written", 0644);
	/* similar names that are not ours stay */
	snprintf(p, sizeof(p), "%s/.t.cairn-restore.notours", f->dir);
	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(restore(f, 0), 0);
	assert_false(exists(f->dir, ".t.cairn-restore.AbC123"));
	assert_true(exists(f->dir, ".t.cairn-restore.notours"));
	assert_contains(f->ctx->log, "interrupted");

	/* inside an existing empty target: it is empty once those go */
	rm_tree(f->target);
	mkd(f->dir, "t");
	snprintf(p, sizeof(p), "%s/.cairn-restore.Zz9876", f->target);
	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(restore(f, 0), 0);
	assert_false(exists(f->target, ".cairn-restore.Zz9876"));
	assert_string_equal(slurp(f->target, "same"), "from the backup");
}

static void
test_verify_writes_nothing(void **state)
{
	struct fx *f = *state;
	struct memin m;
	tar_www(f, 5000);
	memin_init(&m, &f->tar, f->ctx);
	assert_int_equal(f->ops->verify(inst(f, f->target), &m.in), 0);
	assert_int_equal(m.pos, m.len);
	assert_false(exists(f->dir, "t"));
	memin_init(&m, &f->tar, f->ctx);
	m.end_code = CAIRN_E_CORRUPT;
	assert_int_equal(f->ops->verify(inst(f, f->target), &m.in), CAIRN_E_CORRUPT);
	assert_int_equal(staging_left(f->dir), 0);
}

/* ------------------------------------------------- the restore test */

static char rt_scratch[128];
static struct cairn_host rt_host;

static const char *
rt_scratch_dir(cairn_ctx *ctx)
{
	(void)ctx;
	return rt_scratch;
}

/* The restore test of f->tar (or of m) with f->dir/scratch as the host's
 * scratch directory; the stats recorded start empty. */
static int
restore_test(struct fx *f, struct memin *m)
{
	struct memin local;
	rt_host = fake_host;
	rt_host.scratch_dir = rt_scratch_dir;
	files_host = &rt_host; /* teardown puts fake_host back */
	snprintf(rt_scratch, sizeof(rt_scratch), "%s/scratch", f->dir);
	assert_true(mkdir(rt_scratch, 0700) == 0 || errno == EEXIST);
	if (m == NULL) {
		memin_init(&local, &f->tar, f->ctx);
		m = &local;
	}
	memset(f->ctx->error, 0, sizeof(f->ctx->error));
	f->ctx->nstats = 0;
	return f->ops->restore_test(inst(f, f->target), &m->in);
}

static int
scratch_empty(void)
{
	DIR *d = opendir(rt_scratch);
	struct dirent *de;
	int n = 0;
	assert_non_null(d);
	while ((de = readdir(d)) != NULL)
		n += strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0;
	closedir(d);
	return n == 0;
}

static void
test_restore_test_counts_as_the_backup_did_and_leaves_nothing(void **state)
{
	static const char *const keys[] = {"files", "directories", "symlinks", "hardlinks",
	                                   "bytes"};
	struct fx *f = *state;
	char src[128], a[256], b[256];
	int64_t want[5];
	struct {
		struct cairn_out out;
		struct buf b;
	} out = {{sizeof(struct cairn_out), memout_write}, {0}};
	snprintf(src, sizeof(src), "%s/src", f->dir);
	assert_int_equal(mkdir(src, 0755), 0);
	put(src, "one", "shared", 0640);
	put(src, "secret", "read-only", 0400);
	mkd(src, "sub");
	mkd(src, "sub/deeper");
	put(src, "sub/deeper/three", "3", 0644);
	snprintf(a, sizeof(a), "%s/one", src);
	snprintf(b, sizeof(b), "%s/sub/two", src);
	assert_int_equal(link(a, b), 0);
	snprintf(b, sizeof(b), "%s/sub/ln", src);
	assert_int_equal(symlink("../one", b), 0);
	assert_int_equal(chmod(src, 0500), 0); /* set last, so removal must cope */

	assert_int_equal(f->ops->backup(inst(f, src), &out.out), 0);
	assert_int_equal(chmod(src, 0755), 0);
	f->tar = out.b;
	for (size_t k = 0; k < 5; k++)
		want[k] = fake_stat(f->ctx, keys[k]);
	assert_int_equal(want[0], 3); /* one (or two), secret, three */
	assert_int_equal(want[1], 3); /* the root, sub, sub/deeper */
	assert_int_equal(want[2], 1);
	assert_int_equal(want[3], 1);

	assert_int_equal(restore_test(f, NULL), 0);
	for (size_t k = 0; k < 5; k++)
		assert_int_equal(fake_stat(f->ctx, keys[k]), want[k]);
	assert_int_equal(fake_stat(f->ctx, "warnings"), -1); /* never compared */
	assert_true(scratch_empty());
	assert_false(exists(f->dir, "t")); /* the target is never touched */
}

static void
test_restore_test_records_what_a_tar_holds(void **state)
{
	struct fx *f = *state;
	const struct ent full[] = {
	        {.name = "d", .type = 'd'},
	        {.name = "d/a", .content = "alpha"},
	        {.name = "d/b", .content = "beta"},
	};
	/* the same tree with d/b missing, and with d/b one byte longer */
	const struct ent missing[] = {full[0], full[1]};
	const struct ent longer[] = {full[0], full[1], {.name = "d/b", .content = "betas"}};
	make_tar(&f->tar, full, 3);
	assert_int_equal(restore_test(f, NULL), 0);
	assert_int_equal(fake_stat(f->ctx, "files"), 2);
	assert_int_equal(fake_stat(f->ctx, "bytes"), 9);
	/* no root entry in these tars: the root is not counted */
	assert_int_equal(fake_stat(f->ctx, "directories"), 1);
	make_tar(&f->tar, missing, 2);
	assert_int_equal(restore_test(f, NULL), 0);
	assert_int_equal(fake_stat(f->ctx, "files"), 1);
	assert_int_equal(fake_stat(f->ctx, "bytes"), 5);
	make_tar(&f->tar, longer, 3);
	assert_int_equal(restore_test(f, NULL), 0);
	assert_int_equal(fake_stat(f->ctx, "bytes"), 10);
	assert_true(scratch_empty());
}

static void
test_restore_test_finds_damage_and_leaves_nothing(void **state)
{
	struct fx *f = *state;
	struct memin m;
	const struct ent twice[] = {
	        {.name = "a", .content = "first"},
	        {.name = "a", .content = "second"},
	};
	const struct ent dangling[] = {
	        {.name = "ok", .content = "fine"},
	        {.name = "link", .type = 'h', .target = "missing"},
	};
	const struct ent outside[] = {{.name = "../evil", .content = "x"}};

	tar_www(f, 100000);
	memin_init(&m, &f->tar, f->ctx);
	m.end_code = CAIRN_E_CORRUPT; /* damage found at the very end */
	assert_int_equal(restore_test(f, &m), CAIRN_E_CORRUPT);
	assert_int_equal(fake_stat(f->ctx, "files"), -1);
	assert_true(scratch_empty());

	memin_init(&m, &f->tar, f->ctx);
	m.len = 30000; /* cut inside a.png's data */
	assert_int_equal(restore_test(f, &m), CAIRN_E_CORRUPT);
	assert_true(scratch_empty());

	make_tar(&f->tar, dangling, 2);
	assert_int_equal(restore_test(f, NULL), CAIRN_E_CORRUPT);
	assert_contains(f->ctx->error, "missing");
	assert_true(scratch_empty());

	make_tar(&f->tar, outside, 1);
	assert_int_equal(restore_test(f, NULL), CAIRN_E_CORRUPT);
	assert_contains(f->ctx->error, "outside");
	assert_false(exists(f->dir, "evil"));
	assert_true(scratch_empty());

	/* a tar whose entries do not all land: its count and the tree's differ */
	make_tar(&f->tar, twice, 2);
	assert_int_equal(restore_test(f, NULL), CAIRN_E_CORRUPT);
	assert_contains(f->ctx->error, "1 files on disk where the backup stream holds 2");
	assert_true(scratch_empty());
	assert_false(exists(f->dir, "t"));
}

static void
test_restore_test_needs_a_scratch_directory(void **state)
{
	struct fx *f = *state;
	struct memin m;
	tar_www(f, 10);
	memin_init(&m, &f->tar, f->ctx);
	/* fake_host has no scratch_dir, as a core without one */
	assert_int_equal(f->ops->restore_test(inst(f, f->target), &m.in), CAIRN_E_UNSUPPORTED);
	assert_contains(f->ctx->error, "scratch directory");
}

static void
test_verify_records_counts_but_not_warnings(void **state)
{
	struct fx *f = *state;
	struct memin m;
	tar_www(f, 10);
	memin_init(&m, &f->tar, f->ctx);
	f->ctx->nstats = 0;
	assert_int_equal(f->ops->verify(inst(f, f->target), &m.in), 0);
	assert_int_equal(fake_stat(f->ctx, "files"), 4);
	/* the backup's warnings (a file that changed while read) are not the
	 * verify's: recording both under one key would be a false alarm */
	assert_int_equal(fake_stat(f->ctx, "warnings"), -1);
}

/* An unlink that fails inside the tree fails the removal with its errno,
 * and frees what the walk had taken: the name it had kept to enter
 * (issue 17, found by the static analyzer).  The heap stays flat however
 * often it happens; under valgrind (make check-valgrind) one round is
 * enough for its leak check. */
static void
test_rm_failing_unlink_leaks_nothing(void **state)
{
	struct fx *f = *state;
	char tree[256];
	int at, rounds = getenv("CAIRN_UNDER_VALGRIND") ? 1 : 2000;
	size_t before, after;

	snprintf(tree, sizeof(tree), "%s/tree", f->dir);
	assert_int_equal(mkdir(tree, 0700), 0);
	put(tree, "victim1", "one", 0644);
	put(tree, "victim2", "two", 0644);
	at = open(f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(at >= 0);

	unlink_inject = 1;
	assert_int_equal(files_rm_count(at, "tree", NULL), -1);
	assert_int_equal(errno, EIO);
	before = mallinfo2().uordblks;
	for (int k = 0; k < rounds; k++) {
		unlink_inject = 1;
		assert_int_equal(files_rm_count(at, "tree", NULL), -1);
		assert_int_equal(errno, EIO);
		assert_int_equal(unlink_inject, 3); /* EPERM, then EIO */
	}
	after = mallinfo2().uordblks;
	unlink_inject = 0;
	assert_true(exists(tree, "victim1") && exists(tree, "victim2"));
	/* a leak of even the shortest name is 32 bytes a round */
	assert_true(after < before + 16 * 1024);

	/* the failure gone, the same call removes it all */
	assert_int_equal(files_rm_count(at, "tree", NULL), 0);
	assert_false(exists(f->dir, "tree"));
	close(at);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	        T(test_needs_a_core_that_proves_the_end),
	        T(test_descriptor_says_staged),
	        T(test_damage_found_at_the_very_end_leaves_no_target),
	        T(test_damage_at_the_end_with_force_keeps_good_files),
	        T(test_cancel_midway_leaves_target_as_it_was),
	        T(test_truncated_stream_names_the_entry_and_changes_nothing),
	        T(test_disk_full_fails_naming_the_file),
	        T(test_entry_through_a_symlink_is_refused),
	        T(test_entry_below_a_file_names_the_full_path),
	        T(test_path_longer_than_path_max_round_trips),
	        T(test_force_merges_and_replaces_namesakes),
	        T(test_modes_and_times_exact_whatever_the_umask),
	        T(test_owners_by_name_first),
	        T(test_non_root_warns_skips_device_and_restores_the_rest),
	        T(test_hard_links_symlinks_and_sparse_files),
	        T(test_hard_link_to_nothing_earlier_is_damage),
	        T(test_later_entry_of_a_name_wins),
	        T(test_xattrs_and_acls_round_trip),
	        T(test_no_chdir_and_cwd_unchanged),
	        T(test_stale_staging_of_ours_is_removed),
	        T(test_verify_writes_nothing),
	        T(test_restore_test_counts_as_the_backup_did_and_leaves_nothing),
	        T(test_restore_test_records_what_a_tar_holds),
	        T(test_restore_test_finds_damage_and_leaves_nothing),
	        T(test_restore_test_needs_a_scratch_directory),
	        T(test_verify_records_counts_but_not_warnings),
	        T(test_rm_failing_unlink_leaks_nothing),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
