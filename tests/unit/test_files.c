/*
 * test_files.c - unit tests of the "files" source plugin.
 *
 * The plugin's .c files are included to reach its statics; the core is replaced
 * by tests/unit/fakehost.c.  Backups go into a growable memory buffer and
 * restores read from one, so each test sees exactly the tar the plugin
 * wrote.  Every test works in its own mkdtemp directory, removed afterwards.
 *
 * Unreadable files: root reads everything, so as root the tests drop
 * CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the effective set for the
 * backup (and raise them again); where that is impossible they skip().
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
#include <limits.h>
#include <linux/capability.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/xattr.h>

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include "testutil.h"

#include "fakehost.h"

/* ----------------------------------------------------------- streams */

struct memout {
	struct cairn_out out;
	char *buf;
	size_t len, cap;
	int calls;
	int fail_at; /* fail the call with this number (1-based); 0: never */
	int fail_code;
	void (*hook)(struct memout *m); /* run on the first call */
	/* run on every call, with the bytes */
	void (*peek)(struct memout *m, const void *buf, size_t len);
	cairn_ctx *ctx;
	char path[512]; /* for hooks */
};

static int
memout_write(struct cairn_out *self, const void *buf, size_t len)
{
	struct memout *m = (struct memout *)self;
	m->calls++;
	if (m->calls == 1 && m->hook)
		m->hook(m);
	if (m->peek)
		m->peek(m, buf, len);
	if (m->fail_at && m->calls >= m->fail_at)
		return m->fail_code;
	if (m->len + len > m->cap) {
		size_t cap = m->cap ? m->cap : 65536;
		while (cap < m->len + len)
			cap *= 2;
		m->buf = realloc(m->buf, cap);
		assert_non_null(m->buf);
		m->cap = cap;
	}
	memcpy(m->buf + m->len, buf, len);
	m->len += len;
	return 0;
}

static void
memout_init(struct memout *m)
{
	memset(m, 0, sizeof(*m));
	m->out.struct_size = sizeof(m->out);
	m->out.write = memout_write;
}

static void
memout_reset(struct memout *m)
{
	free(m->buf);
	memout_init(m);
}

struct memin {
	struct cairn_in in;
	const char *buf;
	size_t len, pos;
	size_t chunk;  /* at most this much per read; 0: everything */
	int fail_code; /* return this instead of data; 0: never */
	int reads_after_end;
};

static ssize_t
memin_read(struct cairn_in *self, void *buf, size_t len)
{
	struct memin *m = (struct memin *)self;
	if (m->fail_code)
		return m->fail_code;
	if (m->pos >= m->len) {
		m->reads_after_end++;
		return 0;
	}
	if (m->chunk && len > m->chunk)
		len = m->chunk;
	if (len > m->len - m->pos)
		len = m->len - m->pos;
	memcpy(buf, m->buf + m->pos, len);
	m->pos += len;
	return (ssize_t)len;
}

static void
memin_init(struct memin *m, const void *buf, size_t len)
{
	memset(m, 0, sizeof(*m));
	m->in.struct_size = sizeof(m->in);
	m->in.read = memin_read;
	m->buf = buf;
	m->len = len;
	m->chunk = 7000; /* odd sizes: libarchive must cope with short reads */
}

/* ---------------------------------------------------------- fixtures */

struct fx {
	char dir[64];
	char src[128]; /* the tree backed up */
	char dst[128]; /* a restore target, not created */
	cairn_ctx *ctx;
	const struct cairn_source_ops *ops;
	struct memout out;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	const struct cairn_plugin *pl = cairn_plugin_entry(&fake_host);
	assert_non_null(f);
	strcpy(f->dir, "/tmp/test_files.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->src, sizeof(f->src), "%s/src", f->dir);
	snprintf(f->dst, sizeof(f->dst), "%s/restored/here", f->dir);
	assert_int_equal(mkdir(f->src, 0755), 0);
	f->ctx = fake_ctx_new();
	f->ops = pl->source;
	memout_init(&f->out);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	rm_tree(f->dir);
	free(f->out.buf);
	free(f->ctx);
	free(f);
	return 0;
}

/* An instance for path with extra "key", "value" pairs (NULL-ended). */
static struct files_inst *
inst_new(struct fx *f, const char *path, const char *k1, const char *v1, const char *k2,
         const char *v2)
{
	struct cairn_config *cfg = fake_config(files_keys, "path", path, k1, v1, k2, v2, NULL);
	void *inst = NULL;
	assert_int_equal(f->ops->create(f->ctx, cfg, &inst), 0);
	fake_config_free(cfg); /* create() must have copied what it keeps */
	return inst;
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
mkd(const char *dir, const char *rel, mode_t mode)
{
	char p[4096];
	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	assert_int_equal(mkdir(p, 0700), 0);
	assert_int_equal(chmod(p, mode), 0);
}

static int
exists(const char *dir, const char *rel)
{
	char p[4096];
	struct stat st;
	snprintf(p, sizeof(p), "%s/%s", dir, rel);
	return lstat(p, &st) == 0;
}

static int
backup(struct fx *f, struct files_inst *fi)
{
	return f->ops->backup(fi, &f->out.out);
}

static int
restore(struct fx *f, struct files_inst *fi, unsigned flags)
{
	struct memin in;
	memin_init(&in, f->out.buf, f->out.len);
	return f->ops->restore(fi, &in.in, flags);
}

/* --------------------------------------------------- tar inspection */

/* Every entry of a tar as "\x1eNAME|HARDLINK|SIZE", in order. */
static char *
tar_listing(const void *buf, size_t len)
{
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	size_t cap = 4096, used = 0;
	char *s = calloc(1, cap);
	archive_read_support_format_tar(a);
	assert_int_equal(archive_read_open_memory(a, buf, len), ARCHIVE_OK);
	/* WARN: a name this (C) locale cannot show; listed all the same */
	while (archive_read_next_header(a, &e) >= ARCHIVE_WARN) {
		const char *h = archive_entry_hardlink(e);
		char line[8192];
		int n = snprintf(line, sizeof(line), "\x1e%s|%s|%lld", archive_entry_pathname(e),
		                 h ? h : "", (long long)archive_entry_size(e));
		while (used + (size_t)n + 1 > cap)
			s = realloc(s, cap *= 2);
		memcpy(s + used, line, (size_t)n + 1);
		used += (size_t)n;
	}
	archive_read_free(a);
	return s;
}

static int
tar_has(const char *listing, const char *name)
{
	char pat[4096];
	snprintf(pat, sizeof(pat), "\x1e%s|", name);
	return strstr(listing, pat) != NULL;
}

/* ------------------------------------------------ tree comparison */

/* One line per entry of a tree: what a restore must reproduce. */
static char **listing_lines;
static size_t listing_n;
static size_t listing_rootlen;

static uint64_t
file_hash(const char *path)
{
	uint64_t h = 1469598103934665603ULL;
	unsigned char b[65536];
	ssize_t n;
	int fd = open(path, O_RDONLY);
	assert_true(fd >= 0);
	while ((n = read(fd, b, sizeof(b))) > 0)
		for (ssize_t i = 0; i < n; i++)
			h = (h ^ b[i]) * 1099511628211ULL;
	close(fd);
	return h;
}

static int
listing_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	char line[8192], target[4096] = "", xattr[256] = "";
	uint64_t hash = 0;
	ssize_t n;
	(void)flag;
	(void)ftw;
	if (S_ISLNK(st->st_mode)) {
		n = readlink(path, target, sizeof(target) - 1);
		assert_true(n >= 0);
		target[n] = '\0';
	} else if (S_ISREG(st->st_mode))
		hash = file_hash(path);
	n = lgetxattr(path, "user.cairn", xattr, sizeof(xattr) - 1);
	xattr[n > 0 ? n : 0] = '\0';
	snprintf(line, sizeof(line),
	         "%s|type=%o|mode=%o|uid=%u|gid=%u|size=%lld|mtime=%lld.%09ld|"
	         "link=%s|hash=%llx|nlink=%lu|xattr=%s",
	         path[listing_rootlen] ? path + listing_rootlen + 1 : ".",
	         (unsigned)(st->st_mode & S_IFMT), (unsigned)(st->st_mode & 07777),
	         (unsigned)st->st_uid, (unsigned)st->st_gid,
	         S_ISDIR(st->st_mode) ? 0LL : (long long)st->st_size,
	         /* symlink times: restored with lutimes, compare them too */
	         (long long)st->st_mtim.tv_sec, st->st_mtim.tv_nsec, target,
	         (unsigned long long)hash, S_ISDIR(st->st_mode) ? 0UL : (unsigned long)st->st_nlink,
	         xattr);
	listing_lines = realloc(listing_lines, (listing_n + 1) * sizeof(char *));
	listing_lines[listing_n++] = strdup(line);
	return 0;
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static char *
tree_listing(const char *root)
{
	size_t total = 1;
	char *s;
	listing_lines = NULL;
	listing_n = 0;
	listing_rootlen = strlen(root);
	assert_int_equal(nftw(root, listing_one, 16, FTW_PHYS), 0);
	qsort(listing_lines, listing_n, sizeof(char *), cmp_str);
	for (size_t i = 0; i < listing_n; i++)
		total += strlen(listing_lines[i]) + 1;
	s = calloc(1, total);
	for (size_t i = 0; i < listing_n; i++) {
		strcat(s, listing_lines[i]);
		strcat(s, "\n");
		free(listing_lines[i]);
	}
	free(listing_lines);
	return s;
}

/* Compare two listings; on a difference show the first differing lines
 * (cmocka would cut the whole strings short). */
static void
assert_same_listing(const char *a, const char *b)
{
	const char *la = a, *lb = b;
	while (*la && *lb) {
		const char *ea = strchr(la, '\n'), *eb = strchr(lb, '\n');
		if (ea - la != eb - lb || memcmp(la, lb, (size_t)(ea - la)) != 0) {
			print_message("source:   %.*s\nrestored: %.*s\n", (int)(ea - la), la,
			              (int)(eb - lb), lb);
			fail();
		}
		la = ea + 1;
		lb = eb + 1;
	}
	assert_string_equal(la, lb);
}

/* ---------------------------------------------------- capabilities */

static struct __user_cap_data_struct caps_saved[2];
static int caps_dropped;

/* Make permission bits bind this process: 1 if they do now. */
static int
dac_enforced(void)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	struct __user_cap_data_struct d[2];
	if (geteuid() != 0)
		return 1;
	if (syscall(SYS_capget, &h, d) != 0)
		return 0;
	memcpy(caps_saved, d, sizeof(d));
	d[0].effective &= ~((1u << CAP_DAC_OVERRIDE) | (1u << CAP_DAC_READ_SEARCH));
	if (syscall(SYS_capset, &h, d) != 0)
		return 0;
	caps_dropped = 1;
	return 1;
}

static void
dac_restore(void)
{
	struct __user_cap_header_struct h = {_LINUX_CAPABILITY_VERSION_3, 0};
	if (!caps_dropped)
		return;
	assert_int_equal(syscall(SYS_capset, &h, caps_saved), 0);
	caps_dropped = 0;
}

/* ----------------------------------------------------------- tests */

/* config check --connect: probe() lists the tree's top, or names what is
 * wrong with path. */
static void
test_probe_reads_the_top_or_names_the_path(void **state)
{
	struct fx *f = *state;
	char summary[256], missing[600];
	struct files_inst *fi;

	put(f->src, "a.txt", "a\n", 0644);
	mkd(f->src, "sub", 0755);
	fi = inst_new(f, f->src, NULL, NULL, NULL, NULL);
	assert_non_null(f->ops->probe);
	assert_int_equal(f->ops->probe(fi, summary, sizeof(summary)), 0);
	assert_non_null(strstr(summary, f->src));
	assert_non_null(strstr(summary, "readable, 2 entries at its top"));
	/* a cut summary stays a string */
	assert_int_equal(f->ops->probe(fi, summary, 8), 0);
	assert_int_equal(strlen(summary), 7);
	f->ops->destroy(fi);

	snprintf(missing, sizeof(missing), "%s/nothere", f->dir);
	fi = inst_new(f, missing, NULL, NULL, NULL, NULL);
	assert_int_equal(f->ops->probe(fi, summary, sizeof(summary)), CAIRN_E_NOTFOUND);
	assert_non_null(strstr(f->ctx->error, "nothere does not exist"));
	f->ops->destroy(fi);

	snprintf(missing, sizeof(missing), "%s/a.txt", f->src);
	fi = inst_new(f, missing, NULL, NULL, NULL, NULL);
	assert_int_equal(f->ops->probe(fi, summary, sizeof(summary)), CAIRN_E_CONFIG);
	assert_non_null(strstr(f->ctx->error, "is not a directory"));
	f->ops->destroy(fi);

	if (geteuid() != 0) { /* root reads it anyway */
		assert_int_equal(chmod(f->src, 0), 0);
		fi = inst_new(f, f->src, NULL, NULL, NULL, NULL);
		assert_int_equal(f->ops->probe(fi, summary, sizeof(summary)), CAIRN_E_IO);
		assert_non_null(strstr(f->ctx->error, "cannot read path"));
		f->ops->destroy(fi);
		assert_int_equal(chmod(f->src, 0755), 0);
	}
}

static void
test_descriptor_names_keys_and_extension(void **state)
{
	struct fx *f = *state;
	const struct cairn_plugin *pl = cairn_plugin_entry(&fake_host);
	static const char *const names[] = {
	        "path", "exclude", "one_file_system", "ignore_unreadable", "xattrs", "acls"};
	size_t k;

	assert_string_equal(pl->name, "files");
	assert_int_equal(pl->kind, CAIRN_KIND_SOURCE);
	assert_int_equal(pl->abi_major, CAIRN_ABI_MAJOR);
	assert_int_equal(pl->struct_size, sizeof(struct cairn_plugin));
	assert_non_null(pl->source->verify);
	assert_non_null(pl->source->restore_test);
	for (k = 0; pl->keys[k].name; k++) {
		assert_true(k < 6);
		assert_string_equal(pl->keys[k].name, names[k]);
	}
	assert_int_equal(k, 6);
	assert_int_equal(pl->keys[0].type, CAIRN_KEY_PATH);
	assert_true(pl->keys[0].flags & CAIRN_KEY_REQUIRED);
	assert_int_equal(pl->keys[1].type, CAIRN_KEY_LIST);
	assert_string_equal(pl->keys[2].default_value, "no");
	assert_string_equal(pl->keys[3].default_value, "no");
	assert_string_equal(pl->keys[4].default_value, "yes");
	assert_string_equal(pl->keys[5].default_value, "yes");

	struct files_inst *fi = inst_new(f, f->src, NULL, NULL, NULL, NULL);
	assert_string_equal(f->ops->file_extension(fi), "tar");
	f->ops->destroy(fi);
}

static void
test_create_does_not_look_at_the_disk(void **state)
{
	struct fx *f = *state;
	char missing[256];
	snprintf(missing, sizeof(missing), "%s/not/there/", f->dir);
	struct files_inst *fi = inst_new(f, missing, NULL, NULL, NULL, NULL);
	/* trailing '/' dropped, nothing created */
	assert_int_equal(strlen(fi->path), strlen(missing) - 1);
	assert_false(exists(f->dir, "not"));
	f->ops->destroy(fi);
}

static void
test_create_refuses_exclude_of_everything(void **state)
{
	struct fx *f = *state;
	struct cairn_config *cfg =
	        fake_config(files_keys, "path", f->src, "exclude", "*.tmp /", NULL);
	void *inst = NULL;
	assert_int_equal(f->ops->create(f->ctx, cfg, &inst), CAIRN_E_CONFIG);
	assert_null(inst);
	assert_non_null(strstr(f->ctx->error, "'/'"));
	fake_config_free(cfg);
}

static void
test_roundtrip_keeps_content_and_metadata(void **state)
{
	struct fx *f = *state;
	char p[4096], longname[201], deep[512];
	struct timespec ts[2];
	int have_xattr;

	/* awkward names */
	put(f->src, "plain.txt", "hello\n", 0644);
	put(f->src, "with space", "s", 0600);
	put(f->src, "new\nline", "n", 0640);
	put(f->src, "\xc3\xbctf-8 \xe2\x98\x83", "u", 0644);
	memset(longname, 'L', 200);
	longname[200] = '\0';
	put(f->src, longname, "long", 0644);
	/* a path longer than ustar's 255 bytes */
	mkd(f->src, "d1", 0755);
	snprintf(deep, sizeof(deep), "d1/%.150s", longname);
	mkd(f->src, deep, 0751);
	snprintf(deep, sizeof(deep), "d1/%.150s/%.150s", longname, longname);
	put(f->src, deep, "deep", 0444);
	/* empties, odd modes */
	put(f->src, "empty", "", 0600);
	mkd(f->src, "emptydir", 0700);
	mkd(f->src, "sticky", 01777);
	put(f->src, "setuid", "#!/bin/sh\n", 04755);
	/* links */
	assert_int_equal(
	        symlinkat("plain.txt", AT_FDCWD, (snprintf(p, sizeof(p), "%s/link", f->src), p)),
	        0);
	assert_int_equal(symlinkat("nowhere/at/all", AT_FDCWD,
	                           (snprintf(p, sizeof(p), "%s/dangling", f->src), p)),
	                 0);
	put(f->src, "hard1", "shared inode\n", 0644);
	mkd(f->src, "sub", 0755);
	{
		char a[4096], b[4096];
		snprintf(a, sizeof(a), "%s/hard1", f->src);
		snprintf(b, sizeof(b), "%s/sub/hard2", f->src);
		assert_int_equal(link(a, b), 0);
	}
	snprintf(p, sizeof(p), "%s/fifo", f->src);
	assert_int_equal(mkfifo(p, 0640), 0);
	/* a small sparse file: 4 MiB hole, data, 4 MiB hole */
	snprintf(p, sizeof(p), "%s/sparse", f->src);
	{
		int fd = open(p, O_WRONLY | O_CREAT, 0644);
		assert_true(fd >= 0);
		assert_int_equal(pwrite(fd, "middle", 6, 4 << 20), 6);
		assert_int_equal(ftruncate(fd, 8 << 20), 0);
		close(fd);
	}
	/* sub-second mtime */
	snprintf(p, sizeof(p), "%s/plain.txt", f->src);
	ts[0].tv_sec = ts[1].tv_sec = 1700000000;
	ts[0].tv_nsec = ts[1].tv_nsec = 123456789;
	assert_int_equal(utimensat(AT_FDCWD, p, ts, AT_SYMLINK_NOFOLLOW), 0);
	have_xattr = setxattr(p, "user.cairn", "v1", 2, 0) == 0;
	if (geteuid() == 0) {
		snprintf(p, sizeof(p), "%s/with space", f->src);
		assert_int_equal(lchown(p, 1234, 5678), 0);
	}
	/* the root's own mode and time travel as "." */
	assert_int_equal(chmod(f->src, 0750), 0);
	ts[0].tv_sec = ts[1].tv_sec = 1600000000;
	ts[0].tv_nsec = ts[1].tv_nsec = 5;
	assert_int_equal(utimensat(AT_FDCWD, f->src, ts, 0), 0);
	char *before = tree_listing(f->src);

	struct files_inst *fi = inst_new(f, f->src, NULL, NULL, NULL, NULL);
	assert_int_equal(backup(f, fi), 0);
	assert_int_equal(f->ctx->warnings, 0); /* also: no charset warnings */
	assert_int_equal(f->out.len % FILES_RECORD, 0);
	/* 10 regular files with data, hard2 a link to hard1 */
	assert_int_equal(fake_stat(f->ctx, "files"), 10);
	assert_int_equal(fake_stat(f->ctx, "hardlinks"), 1);
	assert_int_equal(fake_stat(f->ctx, "symlinks"), 2);
	/* ., d1, d1/L.., emptydir, sticky, sub */
	assert_int_equal(fake_stat(f->ctx, "directories"), 6);
	assert_int_equal(fake_stat(f->ctx, "bytes"),
	                 6 + 1 + 1 + 1 + 4 + 4 + 0 + 10 + 13 + (8 << 20));
	assert_int_equal(fake_stat(f->ctx, "warnings"), 0);

	/* what the tar holds: relative names, the root as ".", one copy of
	 * the hard-linked data, the sparse file's holes not stored */
	char *tl = tar_listing(f->out.buf, f->out.len);
	assert_true(tar_has(tl, "./") || tar_has(tl, "."));
	assert_true(tar_has(tl, "plain.txt"));
	assert_true(tar_has(tl, "new\nline"));
	assert_null(strstr(tl, "\x1e/"));
	assert_null(strstr(tl, "\x1e./p"));
	assert_true(strstr(tl, "\x1esub/hard2|hard1|0") != NULL ||
	            strstr(tl, "\x1ehard1|sub/hard2|0") != NULL);
	assert_true(f->out.len < (1 << 20));
	free(tl);
	f->ops->destroy(fi);

	/* restore somewhere else, as --set path=... does */
	memset(f->ctx, 0, sizeof(*f->ctx));
	fi = inst_new(f, f->dst, NULL, NULL, NULL, NULL);
	assert_int_equal(restore(f, fi, 0), 0);
	assert_int_equal(f->ctx->warnings, 0);
	assert_int_equal(fake_stat(f->ctx, "files"), 10);
	assert_int_equal(fake_stat(f->ctx, "bytes"),
	                 6 + 1 + 1 + 1 + 4 + 4 + 0 + 10 + 13 + (8 << 20));
	char *after = tree_listing(f->dst);
	assert_same_listing(before, after);
	if (have_xattr)
		assert_non_null(strstr(after, "xattr=v1"));
	{
		struct stat a, b, s;
		snprintf(p, sizeof(p), "%s/hard1", f->dst);
		assert_int_equal(stat(p, &a), 0);
		snprintf(p, sizeof(p), "%s/sub/hard2", f->dst);
		assert_int_equal(stat(p, &b), 0);
		assert_true(a.st_ino == b.st_ino);
		snprintf(p, sizeof(p), "%s/sparse", f->dst);
		assert_int_equal(stat(p, &s), 0);
		assert_true(s.st_blocks * 512 < (1 << 20));
	}
	free(before);
	free(after);
	f->ops->destroy(fi);
}

static void
test_gigabyte_sparse_file_stays_sparse_and_cheap(void **state)
{
	struct fx *f = *state;
	char p[512], got[8];
	struct stat st;
	struct timespec t0, t1;

	snprintf(p, sizeof(p), "%s/disk.img", f->src);
	int fd = open(p, O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1LL << 30), 0);
	assert_int_equal(pwrite(fd, "DATA", 4, 512LL << 20), 4);
	close(fd);
	put(f->src, "fully-sparse", "", 0644);
	snprintf(p, sizeof(p), "%s/fully-sparse", f->src);
	assert_int_equal(truncate(p, 1LL << 30), 0);

	struct files_inst *fi = inst_new(f, f->src, NULL, NULL, NULL, NULL);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	assert_int_equal(backup(f, fi), 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	/* the holes are neither read nor stored */
	assert_true(f->out.len < 256 * 1024);
	assert_int_equal(fake_stat(f->ctx, "bytes"), 2LL << 30);
	f->ops->destroy(fi);

	fi = inst_new(f, f->dst, NULL, NULL, NULL, NULL);
	assert_int_equal(restore(f, fi, 0), 0);
	snprintf(p, sizeof(p), "%s/disk.img", f->dst);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_size, 1LL << 30);
	assert_true(st.st_blocks * 512 < (1 << 20));
	fd = open(p, O_RDONLY);
	assert_int_equal(pread(fd, got, 4, 512LL << 20), 4);
	assert_memory_equal(got, "DATA", 4);
	assert_int_equal(pread(fd, got, 4, 0), 4);
	assert_memory_equal(got, "\0\0\0\0", 4);
	close(fd);
	snprintf(p, sizeof(p), "%s/fully-sparse", f->dst);
	assert_int_equal(stat(p, &st), 0);
	assert_int_equal(st.st_size, 1LL << 30);
	assert_true(st.st_blocks * 512 < (1 << 20));
	f->ops->destroy(fi);
	(void)t0;
	(void)t1;
}

static void
tree_for_excludes(struct fx *f)
{
	put(f->src, "keep.txt", "k", 0644);
	put(f->src, "a.tmp", "t", 0644);
	put(f->src, ".hidden.tmp", "t", 0644);
	mkd(f->src, "sub", 0755);
	put(f->src, "sub/b.tmp", "t", 0644);
	put(f->src, "sub/keep2", "k", 0644);
	put(f->src, "sub/cache", "file named cache", 0644);
	mkd(f->src, "cache", 0755);
	put(f->src, "cache/x", "x", 0644);
	mkd(f->src, "logs", 0755);
	put(f->src, "logs/app.log", "l", 0644);
	mkd(f->src, "logs/old", 0755);
	put(f->src, "logs/old/app.log", "l", 0644);
	mkd(f->src, "other", 0755);
	mkd(f->src, "other/logs", 0755);
	put(f->src, "other/logs/app.log", "l", 0644);
}

static void
test_exclude_basename_pattern_matches_anywhere_and_prunes_dirs(void **state)
{
	struct fx *f = *state;
	tree_for_excludes(f);
	/* If the excluded directory were descended into, this unreadable
	 * directory inside it would fail the backup. */
	mkd(f->src, "cache/locked", 0000);
	int enforced = dac_enforced();
	struct files_inst *fi = inst_new(f, f->src, "exclude", "*.tmp cache", NULL, NULL);
	int rc = backup(f, fi);
	dac_restore();
	assert_int_equal(rc, 0);
	assert_int_equal(f->ctx->warnings, 0);
	char *tl = tar_listing(f->out.buf, f->out.len);
	assert_true(tar_has(tl, "keep.txt"));
	assert_true(tar_has(tl, "sub/keep2"));
	assert_true(tar_has(tl, "logs/old/app.log"));
	assert_false(tar_has(tl, "a.tmp"));
	assert_false(tar_has(tl, ".hidden.tmp"));
	assert_false(tar_has(tl, "sub/b.tmp"));
	assert_false(tar_has(tl, "cache/"));
	assert_false(tar_has(tl, "cache/x"));
	assert_false(tar_has(tl, "cache/locked/"));
	assert_false(tar_has(tl, "sub/cache"));
	assert_int_equal(fake_stat(f->ctx, "files"), 5);
	free(tl);
	f->ops->destroy(fi);
	(void)enforced;
}

static void
test_exclude_path_pattern_is_anchored_at_root(void **state)
{
	struct fx *f = *state;
	tree_for_excludes(f);
	/* "keep.txt/" only matches directories */
	struct files_inst *fi = inst_new(f, f->src, "exclude",
	                                 "logs/*.log /sub/cache keep.txt/ /cache/", NULL, NULL);
	assert_int_equal(backup(f, fi), 0);
	char *tl = tar_listing(f->out.buf, f->out.len);
	assert_false(tar_has(tl, "logs/app.log"));
	assert_true(tar_has(tl, "logs/old/app.log"));   /* '*' stops at '/' */
	assert_true(tar_has(tl, "other/logs/app.log")); /* anchored at root */
	assert_false(tar_has(tl, "sub/cache"));
	assert_true(tar_has(tl, "sub/keep2"));
	assert_true(tar_has(tl, "keep.txt"));
	assert_false(tar_has(tl, "cache/"));
	assert_false(tar_has(tl, "cache/x"));
	assert_true(tar_has(tl, "a.tmp"));
	free(tl);
	f->ops->destroy(fi);
}

static void
test_restore_refuses_non_empty_target_without_force(void **state)
{
	struct fx *f = *state;
	put(f->src, "from-backup", "b", 0644);
	struct files_inst *fi = inst_new(f, f->src, NULL, NULL, NULL, NULL);
	assert_int_equal(backup(f, fi), 0);
	f->ops->destroy(fi);

	char target[256];
	snprintf(target, sizeof(target), "%s/busy", f->dir);
	mkd(f->dir, "busy", 0755);
	put(target, "already-here", "mine", 0600);
	fi = inst_new(f, target, NULL, NULL, NULL, NULL);
	assert_int_equal(restore(f, fi, 0), CAIRN_E_EXISTS);
	assert_non_null(strstr(f->ctx->error, target));
	assert_non_null(strstr(f->ctx->error, "--set path="));
	assert_non_null(strstr(f->ctx->error, "--force"));
	assert_false(exists(target, "from-backup"));

	assert_int_equal(restore(f, fi, CAIRN_RESTORE_FORCE), 0);
	assert_true(exists(target, "from-backup"));
	assert_true(exists(target, "already-here"));
	f->ops->destroy(fi);
}

static void
test_restore_creates_missing_target_and_parents(void **state)
{
	struct fx *f = *state;
	struct stat st;
	put(f->src, "x", "x", 0644);
	assert_int_equal(chmod(f->src, 0751), 0);
	struct files_inst *fi = inst_new(f, f->src, NULL, NULL, NULL, NULL);
	assert_int_equal(backup(f, fi), 0);
	f->ops->destroy(fi);
	fi = inst_new(f, f->dst, NULL, NULL, NULL, NULL); /* dir/restored/here */
	assert_int_equal(restore(f, fi, 0), 0);
	assert_true(exists(f->dst, "x"));
	assert_int_equal(stat(f->dst, &st), 0);
	assert_int_equal(st.st_mode & 07777, 0751); /* from the "." entry */
	f->ops->destroy(fi);
	/* the working directory is where it was */
	char cwd[4096];
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_null(strstr(cwd, f->dir));
}

static void
test_restore_target_that_is_a_file_is_refused(void **state)
{
	struct fx *f = *state;
	char target[256];
	put(f->src, "x", "x", 0644);
	struct files_inst *fi = inst_new(f, f->src, NULL, NULL, NULL, NULL);
	assert_int_equal(backup(f, fi), 0);
	f->ops->destroy(fi);
	put(f->dir, "afile", "", 0644);
	snprintf(target, sizeof(target), "%s/afile", f->dir);
	fi = inst_new(f, target, NULL, NULL, NULL, NULL);
	assert_int_equal(restore(f, fi, CAIRN_RESTORE_FORCE), CAIRN_E_EXISTS);
	assert_non_null(strstr(f->ctx->error, "not a directory"));
	f->ops->destroy(fi);
}

static void
test_unreadable_file_fails_backup_naming_it(void **state)
{
	struct fx *f = *state;
	put(f->src, "ok", "fine", 0644);
	put(f->src, "secret", "top secret", 0000);
	if (!dac_enforced())
		skip();
	struct files_inst *fi = inst_new(f, f->src, NULL, NULL, NULL, NULL);
	int rc = backup(f, fi);
	dac_restore();
	assert_int_equal(rc, CAIRN_E_IO);
	assert_non_null(strstr(f->ctx->error, "secret"));
	assert_non_null(strstr(f->ctx->error, "ignore_unreadable"));
	f->ops->destroy(fi);
}

static void
test_unreadable_file_and_dir_are_warnings_with_ignore_unreadable(void **state)
{
	struct fx *f = *state;
	put(f->src, "ok", "fine", 0644);
	put(f->src, "secret", "top secret", 0000);
	mkd(f->src, "closed", 0755);
	put(f->src, "closed/inside", "x", 0644);
	{
		char p[256];
		snprintf(p, sizeof(p), "%s/closed", f->src);
		assert_int_equal(chmod(p, 0000), 0);
	}
	if (!dac_enforced())
		skip();
	struct files_inst *fi = inst_new(f, f->src, "ignore_unreadable", "yes", NULL, NULL);
	int rc = backup(f, fi);
	dac_restore();
	assert_int_equal(rc, 0);
	assert_int_equal(f->ctx->warnings, 2);
	assert_int_equal(fake_stat(f->ctx, "warnings"), 2);
	assert_non_null(strstr(f->ctx->log, "secret"));
	assert_non_null(strstr(f->ctx->log, "closed"));
	char *tl = tar_listing(f->out.buf, f->out.len);
	assert_true(tar_has(tl, "ok"));
	assert_false(tar_has(tl, "secret"));
	assert_false(tar_has(tl, "closed/"));
	assert_int_equal(fake_stat(f->ctx, "files"), 1);
	free(tl);
	f->ops->destroy(fi);
}

static void
test_missing_path_is_notfound_naming_it(void **state)
{
	struct fx *f = *state;
	char missing[256];
	snprintf(missing, sizeof(missing), "%s/gone", f->dir);
	struct files_inst *fi = inst_new(f, missing, NULL, NULL, NULL, NULL);
	assert_int_equal(backup(f, fi), CAIRN_E_NOTFOUND);
	assert_non_null(strstr(f->ctx->error, missing));
	assert_int_equal(f->out.calls, 0);
	f->ops->destroy(fi);
}

static void
test_path_that_is_a_file_is_a_config_error(void **state)
{
	struct fx *f = *state;
	char p[256];
	put(f->src, "file", "x", 0644);
	snprintf(p, sizeof(p), "%s/file", f->src);
	struct files_inst *fi = inst_new(f, p, NULL, NULL, NULL, NULL);
	assert_int_equal(backup(f, fi), CAIRN_E_CONFIG);
	assert_non_null(strstr(f->ctx->error, "not a directory"));
	f->ops->destroy(fi);
}

/* A tar made by hand with libarchive's pax writer. */
struct handmade {
	const char *name;
	const char *content; /* NULL: a directory */
	const char *symlink; /* a symlink to this */
	const char *hardlink;
};

static void
make_tar(struct memout *out, const struct handmade *h, size_t n)
{
	struct archive *a = archive_write_new();
	archive_write_set_format_pax(a);
	size_t cap = 1 << 20, used = 0;
	out->buf = realloc(out->buf, cap);
	assert_int_equal(archive_write_open_memory(a, out->buf, cap, &used), ARCHIVE_OK);
	for (size_t i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();
		archive_entry_set_pathname(e, h[i].name);
		archive_entry_set_perm(e, 0644);
		if (h[i].symlink) {
			archive_entry_set_filetype(e, AE_IFLNK);
			archive_entry_set_symlink(e, h[i].symlink);
		} else if (h[i].hardlink) {
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_hardlink(e, h[i].hardlink);
		} else if (h[i].content) {
			archive_entry_set_filetype(e, AE_IFREG);
			archive_entry_set_size(e, (la_int64_t)strlen(h[i].content));
		} else {
			archive_entry_set_filetype(e, AE_IFDIR);
			archive_entry_set_perm(e, 0755);
		}
		assert_int_equal(archive_write_header(a, e), ARCHIVE_OK);
		if (h[i].content && !h[i].symlink && !h[i].hardlink)
			archive_write_data(a, h[i].content, strlen(h[i].content));
		archive_entry_free(e);
	}
	assert_int_equal(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
	out->len = used;
}

static void
test_restore_refuses_dotdot_entry_and_writes_nothing_outside(void **state)
{
	struct fx *f = *state;
	const struct handmade h[] = {
	        {.name = "fine", .content = "ok"},
	        {.name = "../evil", .content = "pwned"},
	};
	make_tar(&f->out, h, 2);
	char target[256];
	snprintf(target, sizeof(target), "%s/t", f->dir);
	struct files_inst *fi = inst_new(f, target, NULL, NULL, NULL, NULL);
	assert_int_equal(restore(f, fi, 0), CAIRN_E_CORRUPT);
	assert_non_null(strstr(f->ctx->error, "../evil"));
	assert_false(exists(f->dir, "evil"));
	f->ops->destroy(fi);
}

static void
test_restore_refuses_absolute_entry_and_writes_nothing_outside(void **state)
{
	struct fx *f = *state;
	char abs[256], target[256];
	snprintf(abs, sizeof(abs), "%s/abs-outside", f->dir);
	const struct handmade h[] = {{.name = abs, .content = "pwned"}};
	make_tar(&f->out, h, 1);
	snprintf(target, sizeof(target), "%s/t", f->dir);
	struct files_inst *fi = inst_new(f, target, NULL, NULL, NULL, NULL);
	assert_int_equal(restore(f, fi, 0), CAIRN_E_CORRUPT);
	assert_false(exists(f->dir, "abs-outside"));
	assert_false(exists(target, f->dir + 1));
	f->ops->destroy(fi);
}

static void
test_restore_refuses_writing_through_a_symlink_or_hardlink_out(void **state)
{
	struct fx *f = *state;
	char outside[256], target[256];
	snprintf(outside, sizeof(outside), "%s/outside", f->dir);
	mkd(f->dir, "outside", 0755);
	put(f->dir, "victim", "original", 0644);
	const struct handmade h[] = {
	        {.name = "esc", .symlink = outside},
	        {.name = "esc/evil", .content = "pwned"},
	};
	make_tar(&f->out, h, 2);
	snprintf(target, sizeof(target), "%s/t", f->dir);
	struct files_inst *fi = inst_new(f, target, NULL, NULL, NULL, NULL);
	assert_true(restore(f, fi, 0) < 0);
	assert_false(exists(outside, "evil"));
	f->ops->destroy(fi);

	const struct handmade h2[] = {
	        {.name = "grab", .hardlink = "../victim"},
	};
	make_tar(&f->out, h2, 1);
	snprintf(target, sizeof(target), "%s/t2", f->dir);
	fi = inst_new(f, target, NULL, NULL, NULL, NULL);
	assert_int_equal(restore(f, fi, 0), CAIRN_E_CORRUPT);
	assert_false(exists(target, "grab"));
	f->ops->destroy(fi);
}

static void
backup_small_tree(struct fx *f)
{
	char big[100000];
	for (size_t i = 0; i < sizeof(big) - 1; i++)
		big[i] = (char)('a' + (i * 7) % 26);
	big[sizeof(big) - 1] = '\0';
	put(f->src, "big", big, 0644);
	put(f->src, "small", "small content", 0644);
	struct files_inst *fi = inst_new(f, f->src, NULL, NULL, NULL, NULL);
	assert_int_equal(backup(f, fi), 0);
	f->ops->destroy(fi);
	memset(f->ctx, 0, sizeof(*f->ctx));
}

static int
verify_buf(struct fx *f, const char *buf, size_t len)
{
	struct memin in;
	char target[256];
	snprintf(target, sizeof(target), "%s/never", f->dir);
	struct files_inst *fi = inst_new(f, target, NULL, NULL, NULL, NULL);
	memin_init(&in, buf, len);
	int rc = f->ops->verify(fi, &in.in);
	/* verify reads to the end and never touches path */
	if (rc == 0)
		assert_int_equal(in.pos, len);
	assert_false(exists(f->dir, "never"));
	f->ops->destroy(fi);
	return rc;
}

static void
test_verify_accepts_good_tar_and_counts(void **state)
{
	struct fx *f = *state;
	backup_small_tree(f);
	assert_int_equal(verify_buf(f, f->out.buf, f->out.len), 0);
	assert_int_equal(fake_stat(f->ctx, "files"), 2);
	assert_int_equal(fake_stat(f->ctx, "bytes"), 99999 + 13);
}

static void
test_verify_rejects_tar_truncated_inside_data(void **state)
{
	struct fx *f = *state;
	backup_small_tree(f);
	assert_int_equal(verify_buf(f, f->out.buf, 40000), CAIRN_E_CORRUPT);
	assert_non_null(strstr(f->ctx->error, "damaged"));
}

static void
test_verify_rejects_tar_cut_between_entries(void **state)
{
	struct fx *f = *state;
	backup_small_tree(f);
	/* cut right after the last entry's padded data: no end marker */
	size_t end = f->out.len;
	while (end > 0 && f->out.buf[end - 1] == 0)
		end--;
	end = (end + 511) & ~(size_t)511;
	assert_true(end < f->out.len);
	assert_int_equal(verify_buf(f, f->out.buf, end), CAIRN_E_CORRUPT);
	assert_non_null(strstr(f->ctx->error, "cut short"));
}

static void
test_verify_rejects_garbled_header(void **state)
{
	struct fx *f = *state;
	backup_small_tree(f);
	/* the ustar header of "small": find its name, garble the header */
	char *hit = memmem(f->out.buf, f->out.len, "small\0", 6);
	assert_non_null(hit);
	size_t at = (size_t)(hit - f->out.buf) & ~(size_t)511;
	memset(f->out.buf + at + 100, 'Z', 60);
	assert_int_equal(verify_buf(f, f->out.buf, f->out.len), CAIRN_E_CORRUPT);
}

static void
test_verify_rejects_garbage(void **state)
{
	struct fx *f = *state;
	char junk[4096];
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (char)(i * 31 + 7);
	assert_int_equal(verify_buf(f, junk, sizeof(junk)), CAIRN_E_CORRUPT);
	assert_int_equal(verify_buf(f, junk, 0), CAIRN_E_CORRUPT);
}

static void
test_restore_passes_on_input_failure_code(void **state)
{
	struct fx *f = *state;
	struct memin in;
	backup_small_tree(f);
	struct files_inst *fi = inst_new(f, f->dst, NULL, NULL, NULL, NULL);
	memin_init(&in, f->out.buf, f->out.len);
	in.fail_code = CAIRN_E_AUTH;
	assert_int_equal(f->ops->restore(fi, &in.in, 0), CAIRN_E_AUTH);
	in.fail_code = 0;
	in.pos = 0;
	assert_int_equal(f->ops->verify(fi, &in.in), 0);
	f->ops->destroy(fi);
}

static void
test_backup_cancelled_before_start_writes_nothing(void **state)
{
	struct fx *f = *state;
	put(f->src, "x", "x", 0644);
	struct files_inst *fi = inst_new(f, f->src, NULL, NULL, NULL, NULL);
	f->ctx->cancelled = 1;
	assert_int_equal(backup(f, fi), CAIRN_E_CANCELLED);
	assert_int_equal(f->out.calls, 0);
	f->ops->destroy(fi);
}

static void
cancel_hook(struct memout *m)
{
	m->ctx->cancelled = 1;
}

static void
test_backup_cancelled_midway_stops(void **state)
{
	struct fx *f = *state;
	char name[32], big[300000];
	memset(big, 'q', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	for (int i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "f%02d", i);
		put(f->src, name, big, 0644);
	}
	f->out.hook = cancel_hook;
	f->out.ctx = f->ctx;
	struct files_inst *fi = inst_new(f, f->src, NULL, NULL, NULL, NULL);
	assert_int_equal(backup(f, fi), CAIRN_E_CANCELLED);
	/* 6 MB of files; stopped within the file being read */
	assert_true(f->out.len < 1000000);
	f->ops->destroy(fi);
}

static void
test_restore_and_verify_cancelled(void **state)
{
	struct fx *f = *state;
	struct memin in;
	backup_small_tree(f);
	struct files_inst *fi = inst_new(f, f->dst, NULL, NULL, NULL, NULL);
	f->ctx->cancelled = 1;
	memin_init(&in, f->out.buf, f->out.len);
	assert_int_equal(f->ops->restore(fi, &in.in, 0), CAIRN_E_CANCELLED);
	assert_false(exists(f->dst, "big"));
	memin_init(&in, f->out.buf, f->out.len);
	assert_int_equal(f->ops->verify(fi, &in.in), CAIRN_E_CANCELLED);
	f->ops->destroy(fi);
}

static void
test_backup_passes_on_write_failure_and_stops_writing(void **state)
{
	struct fx *f = *state;
	char big[400000];
	memset(big, 'w', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	put(f->src, "big", big, 0644);
	put(f->src, "big2", big, 0644);
	struct files_inst *fi = inst_new(f, f->src, NULL, NULL, NULL, NULL);
	f->out.fail_at = 2;
	f->out.fail_code = CAIRN_E_AUTH; /* anything distinctive */
	assert_int_equal(backup(f, fi), CAIRN_E_AUTH);
	assert_int_equal(f->out.calls, 2);

	memout_reset(&f->out);
	f->out.fail_at = 1;
	f->out.fail_code = CAIRN_E_RETRYABLE;
	assert_int_equal(backup(f, fi), CAIRN_E_RETRYABLE);
	assert_int_equal(f->out.calls, 1);
	f->ops->destroy(fi);
}

static void
grow_hook(struct memout *m)
{
	/* the file is being read right now: change it */
	int fd = open(m->path, O_WRONLY | O_APPEND);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "more", 4), 4);
	close(fd);
}

static void
unlink_hook(struct memout *m)
{
	assert_int_equal(unlink(m->path), 0);
}

static void
changing_file(struct fx *f, void (*hook)(struct memout *), const char *word)
{
	static char big[1 << 20];
	memset(big, 'c', sizeof(big) - 1);
	put(f->src, "busy.log", big, 0644);
	snprintf(f->out.path, sizeof(f->out.path), "%s/busy.log", f->src);
	f->out.hook = hook;
	struct files_inst *fi = inst_new(f, f->src, NULL, NULL, NULL, NULL);
	assert_int_equal(backup(f, fi), 0);
	assert_int_equal(f->ctx->warnings, 1);
	assert_int_equal(fake_stat(f->ctx, "warnings"), 1);
	assert_non_null(strstr(f->ctx->log, "busy.log"));
	assert_non_null(strstr(f->ctx->log, word));
	f->ops->destroy(fi);
	/* the tar is whole all the same */
	assert_int_equal(verify_buf(f, f->out.buf, f->out.len), 0);
	assert_int_equal(fake_stat(f->ctx, "bytes"), sizeof(big) - 1);
}

static void
test_file_changed_while_read_is_a_warning(void **state)
{
	changing_file(*state, grow_hook, "changed");
}

static void
test_file_removed_while_read_is_a_warning(void **state)
{
	changing_file(*state, unlink_hook, "vanished");
}

/* Unlink the file whose pax header is going out right now. */
static void
unlink_during_sparse_header(struct memout *m, const void *buf, size_t len)
{
	if (m->path[0] && memmem(buf, len, "GNU.sparse", 10)) {
		assert_int_equal(unlink(m->path), 0);
		m->path[0] = '\0';
	}
}

static void
test_sparse_file_removed_after_its_header_leaves_a_valid_tar(void **state)
{
	struct fx *f = *state;
	char p[512];
	snprintf(p, sizeof(p), "%s/sparse", f->src);
	int fd = open(p, O_WRONLY | O_CREAT, 0644);
	assert_true(fd >= 0);
	assert_int_equal(pwrite(fd, "tail", 4, 1 << 20), 4);
	close(fd);
	snprintf(f->out.path, sizeof(f->out.path), "%s", p);
	f->out.peek = unlink_during_sparse_header;
	/* flush every tar block, so the header's flush happens before the
	 * file is opened for its data */
	files_block_size = 512;
	struct files_inst *fi = inst_new(f, f->src, NULL, NULL, NULL, NULL);
	int rc = backup(f, fi);
	files_block_size = FILES_BLOCK;
	assert_int_equal(rc, 0);
	assert_int_equal(f->out.path[0], '\0'); /* the hook did run */
	assert_int_equal(f->ctx->warnings, 1);
	assert_non_null(strstr(f->ctx->log, "vanished"));
	f->ops->destroy(fi);
	/* the entry is there, full length, and the tar reads to its end */
	char *tl = tar_listing(f->out.buf, f->out.len);
	assert_true(tar_has(tl, "sparse"));
	free(tl);
	assert_int_equal(verify_buf(f, f->out.buf, f->out.len), 0);
}

/* No mount can be made here, so use one that is usually there: devpts on
 * /dev/pts.  Device nodes have no data, so nothing is read. */
static void
test_one_file_system_stops_at_mount_points(void **state)
{
	struct fx *f = *state;
	struct stat dev, pts, ptmx;
	if (stat("/dev", &dev) != 0 || stat("/dev/pts", &pts) != 0 ||
	    stat("/dev/pts/ptmx", &ptmx) != 0 || dev.st_dev == pts.st_dev)
		skip();
	struct files_inst *fi =
	        inst_new(f, "/dev", "one_file_system", "yes", "exclude", "shm mqueue");
	assert_int_equal(backup(f, fi), 0);
	char *tl = tar_listing(f->out.buf, f->out.len);
	assert_true(tar_has(tl, "pts/")); /* the mount point itself */
	assert_false(tar_has(tl, "pts/ptmx"));
	free(tl);
	f->ops->destroy(fi);

	memout_reset(&f->out);
	fi = inst_new(f, "/dev", "exclude", "shm mqueue", NULL, NULL);
	assert_int_equal(backup(f, fi), 0);
	tl = tar_listing(f->out.buf, f->out.len);
	assert_true(tar_has(tl, "pts/ptmx"));
	free(tl);
	f->ops->destroy(fi);
}

static void
test_xattrs_no_leaves_them_out(void **state)
{
	struct fx *f = *state;
	char p[256];
	put(f->src, "x", "x", 0644);
	snprintf(p, sizeof(p), "%s/x", f->src);
	if (setxattr(p, "user.cairn", "v1", 2, 0) != 0)
		skip();
	struct files_inst *fi = inst_new(f, f->src, "xattrs", "no", NULL, NULL);
	assert_int_equal(backup(f, fi), 0);
	assert_null(memmem(f->out.buf, f->out.len, "user.cairn", 10));
	f->ops->destroy(fi);
	memout_reset(&f->out);
	fi = inst_new(f, f->src, NULL, NULL, NULL, NULL);
	assert_int_equal(backup(f, fi), 0);
	assert_non_null(memmem(f->out.buf, f->out.len, "SCHILY.xattr.user.cairn", 23));
	f->ops->destroy(fi);
}

static void
test_stream_arrives_in_whole_tar_records(void **state)
{
	struct fx *f = *state;
	backup_small_tree(f);
	assert_true(f->out.len > 0);
	assert_int_equal(f->out.len % FILES_RECORD, 0);
	/* few, large writes for the compressor */
	assert_true(f->out.calls <= 2);
}

/* ------------------------------------------- a changing, deep tree */

/* Every chdir() and fchdir() of this process, libarchive's included:
 * these definitions take the place of libc's for the whole program. */
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

/* Remove name in dfd and everything below it, by descriptors: nftw
 * cannot go below PATH_MAX. */
static void
rm_at(int dfd, const char *name)
{
	int fd = openat(dfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		unlinkat(dfd, name, 0);
		return;
	}
	fchmod(fd, 0700);
	DIR *d = fdopendir(fd);
	assert_non_null(d);
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
			continue;
		rm_at(dirfd(d), de->d_name);
	}
	closedir(d);
	assert_int_equal(unlinkat(dfd, name, AT_REMOVEDIR), 0);
}

/* levels directories named comp below dir/first; the deepest one open. */
static int
mk_deep(const char *dir, const char *first, const char *comp, int levels)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC), next;
	assert_true(fd >= 0);
	for (int i = 0; i < levels; i++) {
		const char *n = i == 0 ? first : comp;
		assert_int_equal(mkdirat(fd, n, 0755), 0);
		next = openat(fd, n, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		assert_true(next >= 0);
		close(fd);
		fd = next;
	}
	return fd;
}

static void
put_at(int dfd, const char *name, const char *content)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, content, strlen(content)), (ssize_t)strlen(content));
	close(fd);
}

/* The whole victim tree goes as soon as the header of its first
 * subdirectory is out: the walk has listed victim, not yet its
 * subdirectories. */
static void
rm_victim_at_first_subdir(struct memout *m, const void *buf, size_t len)
{
	if (m->path[0] && memmem(buf, len, "victim/d0", 9)) {
		rm_tree(m->path);
		m->path[0] = '\0';
	}
}

static void
test_directory_removed_mid_backup_is_a_warning(void **state)
{
	struct fx *f = *state;
	char name[64];
	put(f->src, "a.txt", "stays", 0644);
	mkd(f->src, "victim", 0755);
	for (int i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "victim/d%03d", i);
		mkd(f->src, name, 0755);
		snprintf(name, sizeof(name), "victim/d%03d/f", i);
		put(f->src, name, "x", 0644);
	}
	put(f->src, "z.txt", "stays too", 0644);
	snprintf(f->out.path, sizeof(f->out.path), "%s/victim", f->src);
	f->out.peek = rm_victim_at_first_subdir;
	files_block_size = 512; /* each header reaches out at once */
	struct files_inst *fi = inst_new(f, f->src, NULL, NULL, NULL, NULL);
	int rc = backup(f, fi);
	files_block_size = FILES_BLOCK;
	assert_int_equal(f->out.path[0], '\0'); /* the hook did run */
	if (rc != 0)
		fail_msg("backup failed: %s", f->ctx->error);
	assert_true(f->ctx->warnings >= 1);
	assert_contains(f->ctx->log, "vanished before it could be read: victim/d0");
	assert_contains(f->ctx->log, "skipped");
	assert_null(strstr(f->ctx->log, "fix its permissions"));
	char *tl = tar_listing(f->out.buf, f->out.len);
	assert_true(tar_has(tl, "a.txt"));
	assert_true(tar_has(tl, "z.txt"));
	free(tl);
	f->ops->destroy(fi);
	assert_int_equal(verify_buf(f, f->out.buf, f->out.len), 0);
}

static void
test_path_longer_than_path_max_round_trips(void **state)
{
	struct fx *f = *state;
	char comp[201];
	struct archive *a;
	struct archive_entry *e;
	int found = 0;

	memset(comp, 'p', 200);
	comp[200] = '\0';
	/* 25 levels of 200 bytes: a path of over 5,000 bytes */
	int fd = mk_deep(f->src, "deep", comp, 25);
	put_at(fd, "bottom.txt", "the very bottom\n");
	assert_int_equal(symlinkat("bottom.txt", fd, "link"), 0);
	close(fd);

	struct files_inst *fi = inst_new(f, f->src, NULL, NULL, NULL, NULL);
	int rc = backup(f, fi);
	if (rc != 0)
		fail_msg("backup failed: %s", f->ctx->error);
	assert_int_equal(f->ctx->warnings, 0);
	assert_int_equal(fake_stat(f->ctx, "directories"), 1 + 25);
	assert_int_equal(fake_stat(f->ctx, "files"), 1);
	f->ops->destroy(fi);

	/* libarchive reads the names back whole */
	a = archive_read_new();
	archive_read_support_format_tar(a);
	assert_int_equal(archive_read_open_memory(a, f->out.buf, f->out.len), ARCHIVE_OK);
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		const char *n = archive_entry_pathname(e);
		size_t len = strlen(n);
		if (len > PATH_MAX && len > 11 && strcmp(n + len - 11, "/bottom.txt") == 0) {
			char got[64] = "";
			assert_int_equal(strncmp(n, "deep/pppp", 9), 0);
			assert_int_equal(archive_read_data(a, got, sizeof(got) - 1), 16);
			assert_string_equal(got, "the very bottom\n");
			found++;
		}
	}
	archive_read_free(a);
	assert_int_equal(found, 1);

	/* and a restore gives it back */
	memset(f->ctx, 0, sizeof(*f->ctx));
	fi = inst_new(f, f->dst, NULL, NULL, NULL, NULL);
	rc = restore(f, fi, 0);
	if (rc != 0)
		fail_msg("restore failed: %s", f->ctx->error);
	f->ops->destroy(fi);
	{
		char got[64] = "";
		fd = open(f->dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		for (int i = 0; i < 25; i++) {
			int next = openat(fd, i == 0 ? "deep" : comp,
			                  O_RDONLY | O_DIRECTORY | O_CLOEXEC);
			assert_true(next >= 0);
			close(fd);
			fd = next;
		}
		int bf = openat(fd, "bottom.txt", O_RDONLY | O_CLOEXEC);
		assert_true(bf >= 0);
		assert_int_equal(read(bf, got, sizeof(got) - 1), 16);
		assert_string_equal(got, "the very bottom\n");
		close(bf);
		close(fd);
		fd = open(f->dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		rm_at(fd, "deep");
		close(fd);
	}
	fd = open(f->src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	rm_at(fd, "deep");
	close(fd);
}

/* Deeper than the levels that keep a descriptor, under a descriptor
 * limit one descriptor per level would hit: every level's file comes
 * after its subdirectory ("d" < "f"), so each level is reopened. */
static void
test_tree_deeper_than_the_descriptor_limit(void **state)
{
	struct fx *f = *state;
	struct rlimit old, low;
	int fd = open(f->src, O_RDONLY | O_DIRECTORY | O_CLOEXEC), next;
	assert_true(fd >= 0);
	for (int i = 0; i < 150; i++) {
		put_at(fd, "f", "level");
		assert_int_equal(mkdirat(fd, "d", 0755), 0);
		next = openat(fd, "d", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		assert_true(next >= 0);
		close(fd);
		fd = next;
	}
	close(fd);

	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = 64;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	struct files_inst *fi = inst_new(f, f->src, NULL, NULL, NULL, NULL);
	int rc = backup(f, fi);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	if (rc != 0)
		fail_msg("backup failed: %s", f->ctx->error);
	assert_int_equal(f->ctx->warnings, 0);
	assert_int_equal(fake_stat(f->ctx, "files"), 150);
	assert_int_equal(fake_stat(f->ctx, "directories"), 151);
	f->ops->destroy(fi);
	/* sorted: each level's file right after its subtree */
	char *tl = tar_listing(f->out.buf, f->out.len);
	assert_true(tar_has(tl, "f"));
	assert_true(tar_has(tl, "d/d/d/f"));
	const char *top = strstr(tl, "\x1e"
	                             "f||5");
	const char *below = strstr(tl, "\x1e"
	                               "d/f||5");
	assert_non_null(top);
	assert_non_null(below);
	assert_true(top > below);
	free(tl);
	fd = open(f->src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	rm_at(fd, "d");
	close(fd);
}

static void
test_unreadable_directory_names_its_path_below_the_root(void **state)
{
	struct fx *f = *state;
	char comp[201], rel[2048], want[4096];
	memset(comp, 'q', 200);
	comp[200] = '\0';
	/* www/qqq.../qqq.../private: over 1 KiB, so the cause comes after
	 * the point where a 1 KiB message was cut */
	int fd = mk_deep(f->src, "www", comp, 7);
	assert_int_equal(mkdirat(fd, "private", 0000), 0);
	close(fd);
	strcpy(rel, "www");
	for (int i = 1; i < 7; i++) {
		strcat(rel, "/");
		strcat(rel, comp);
	}
	strcat(rel, "/private");
	put(f->src, "ok", "fine", 0644);
	if (!dac_enforced())
		skip();
	struct files_inst *fi = inst_new(f, f->src, NULL, NULL, NULL, NULL);
	int rc = backup(f, fi);
	dac_restore();
	assert_int_equal(rc, CAIRN_E_IO);
	snprintf(want, sizeof(want),
	         "cannot read %s (below %s): %s; fix its "
	         "permissions, exclude it, or set ignore_unreadable = yes",
	         rel, f->src, strerror(EACCES));
	assert_string_equal(f->ctx->error, want);
	f->ops->destroy(fi);
}

static void
test_backup_never_changes_the_working_directory(void **state)
{
	struct fx *f = *state;
	char before[4096], after[4096];
	put(f->src, "x", "x", 0644);
	mkd(f->src, "sub", 0755);
	mkd(f->src, "sub/deeper", 0755);
	put(f->src, "sub/deeper/y", "y", 0644);
	assert_non_null(getcwd(before, sizeof(before)));
	chdir_calls = 0;
	struct files_inst *fi = inst_new(f, f->src, NULL, NULL, NULL, NULL);
	assert_int_equal(backup(f, fi), 0);
	assert_int_equal(fake_stat(f->ctx, "files"), 2);
	assert_int_equal(chdir_calls, 0);
	assert_non_null(getcwd(after, sizeof(after)));
	assert_string_equal(before, after);
	f->ops->destroy(fi);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	        T(test_descriptor_names_keys_and_extension),
	        T(test_probe_reads_the_top_or_names_the_path),
	        T(test_create_does_not_look_at_the_disk),
	        T(test_create_refuses_exclude_of_everything),
	        T(test_roundtrip_keeps_content_and_metadata),
	        T(test_gigabyte_sparse_file_stays_sparse_and_cheap),
	        T(test_exclude_basename_pattern_matches_anywhere_and_prunes_dirs),
	        T(test_exclude_path_pattern_is_anchored_at_root),
	        T(test_restore_refuses_non_empty_target_without_force),
	        T(test_restore_creates_missing_target_and_parents),
	        T(test_restore_target_that_is_a_file_is_refused),
	        T(test_unreadable_file_fails_backup_naming_it),
	        T(test_unreadable_file_and_dir_are_warnings_with_ignore_unreadable),
	        T(test_missing_path_is_notfound_naming_it),
	        T(test_path_that_is_a_file_is_a_config_error),
	        T(test_restore_refuses_dotdot_entry_and_writes_nothing_outside),
	        T(test_restore_refuses_absolute_entry_and_writes_nothing_outside),
	        T(test_restore_refuses_writing_through_a_symlink_or_hardlink_out),
	        T(test_verify_accepts_good_tar_and_counts),
	        T(test_verify_rejects_tar_truncated_inside_data),
	        T(test_verify_rejects_tar_cut_between_entries),
	        T(test_verify_rejects_garbled_header),
	        T(test_verify_rejects_garbage),
	        T(test_restore_passes_on_input_failure_code),
	        T(test_backup_cancelled_before_start_writes_nothing),
	        T(test_backup_cancelled_midway_stops),
	        T(test_restore_and_verify_cancelled),
	        T(test_backup_passes_on_write_failure_and_stops_writing),
	        T(test_file_changed_while_read_is_a_warning),
	        T(test_file_removed_while_read_is_a_warning),
	        T(test_sparse_file_removed_after_its_header_leaves_a_valid_tar),
	        T(test_one_file_system_stops_at_mount_points),
	        T(test_xattrs_no_leaves_them_out),
	        T(test_stream_arrives_in_whole_tar_records),
	        T(test_directory_removed_mid_backup_is_a_warning),
	        T(test_path_longer_than_path_max_round_trips),
	        T(test_tree_deeper_than_the_descriptor_limit),
	        T(test_unreadable_directory_names_its_path_below_the_root),
	        T(test_backup_never_changes_the_working_directory),
#undef T
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
