/* restore_file.c - restore --from FILE; see restore_file.h */
#include "autoconf.h"

#include "restore_file.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cairn.h"
#include "compress.h"
#include "host.h"
#include "log.h"
#include "progress.h"
#include "util.h"

/* ------------------------------------------------------------ formats */

static const struct {
	const char *name; /* --format, and the extension of cairn's objects */
	const char *what;
	enum file_kind kind;
} kinds[] = {
        {"tar", "a tar", FILE_KIND_TAR},
        {"rdb", "a dump.rdb (RDB)", FILE_KIND_RDB},
        {"resp", "a RESP stream (redis-cli --pipe input)", FILE_KIND_RESP},
        {"archive", "a mongodump --archive file", FILE_KIND_ARCHIVE},
};
#define NKINDS (sizeof(kinds) / sizeof(kinds[0]))

/* What each plugin shipped with cairn restores; any other plugin restores
 * the kind its objects are named after (file_extension). */
static const struct {
	const char *plugin;
	enum file_kind k1, k2;
	const char *expects;
} plugin_kinds[] = {
        {"files", FILE_KIND_TAR, FILE_KIND_TAR, "a tar (plain, .gz, .zst or .xz)"},
        {"redis", FILE_KIND_RDB, FILE_KIND_RESP,
         "a dump.rdb or a RESP stream as cairn's mode = dump writes (plain, .gz, .zst or .xz)"},
        {"mongo", FILE_KIND_ARCHIVE, FILE_KIND_ARCHIVE,
         "a mongodump --archive file (plain or --gzip, or .zst or .xz)"},
};

const char *
file_kind_what(enum file_kind k)
{
	for (size_t i = 0; i < NKINDS; i++)
		if (kinds[i].kind == k)
			return kinds[i].what;
	return "of a kind cairn does not know";
}

int
file_format_parse(const char *text, struct file_format *f)
{
	static const struct {
		const char *ext;
		enum compression c;
	} comps[] = {{"gz", COMP_GZIP}, {"zst", COMP_ZSTD}, {"xz", COMP_XZ}};
	const char *dot = strchr(text, '.');
	size_t klen = dot ? (size_t)(dot - text) : strlen(text);
	f->kind = FILE_KIND_UNKNOWN;
	f->comp = COMP_NONE;
	for (size_t i = 0; i < NKINDS; i++)
		if (strlen(kinds[i].name) == klen && strncmp(kinds[i].name, text, klen) == 0)
			f->kind = kinds[i].kind;
	if (f->kind == FILE_KIND_UNKNOWN)
		return -1;
	if (!dot)
		return 0;
	for (size_t i = 0; i < sizeof(comps) / sizeof(comps[0]); i++)
		if (strcmp(dot + 1, comps[i].ext) == 0) {
			f->comp = comps[i].c;
			return 0;
		}
	return -1;
}

int
restore_file_fits(const char *plugin, const char *ext, enum file_kind k, const char **expects)
{
	for (size_t i = 0; i < sizeof(plugin_kinds) / sizeof(plugin_kinds[0]); i++)
		if (strcmp(plugin, plugin_kinds[i].plugin) == 0) {
			*expects = plugin_kinds[i].expects;
			return k == plugin_kinds[i].k1 || k == plugin_kinds[i].k2;
		}
	for (size_t i = 0; i < NKINDS; i++)
		if (ext && strcmp(ext, kinds[i].name) == 0) {
			*expects = kinds[i].what;
			return k == kinds[i].kind;
		}
	*expects = "what its plugin reads";
	return 1; /* a kind cairn does not know: the plugin's parser judges */
}

/* --------------------------------------------------- reading the file */

static ssize_t
read_fd(int fd, void *buf, size_t len)
{
	ssize_t n;
	do
		n = read(fd, buf, len);
	while (n < 0 && errno == EINTR && !cancel_signal);
	return n;
}

struct head_reader {
	struct restore_file *f;
	int errnum;
};

static ssize_t
head_pull(void *ud, void *buf, size_t len)
{
	struct head_reader *h = ud;
	ssize_t n = read_fd(h->f->fd, buf, len);
	if (n < 0) {
		h->errnum = errno;
		return CAIRN_E_IO;
	}
	return n;
}

/* Up to len bytes of the start of f, decompressed with c: their count,
 * or a code with *err. */
static ssize_t
read_head(struct restore_file *f, enum compression c, unsigned char *buf, size_t len, char **err)
{
	struct head_reader h = {f, 0};
	char *zerr = NULL;
	struct decompressor *z;
	size_t got = 0;
	ssize_t n = 0;
	if (lseek(f->fd, 0, SEEK_SET) != 0) {
		*err = xasprintf("%s: cannot read it: %s", f->path, strerror(errno));
		return CAIRN_E_IO;
	}
	if (!(z = decompressor_new(c, head_pull, &h, &zerr))) {
		*err = xasprintf("%s: %s", f->path, zerr);
		free(zerr);
		return CAIRN_E_UNSUPPORTED;
	}
	while (got < len && (n = decompressor_read(z, buf + got, len - got, &zerr)) > 0)
		got += (size_t)n;
	decompressor_free(z);
	if (n < 0) {
		if (h.errnum)
			*err = xasprintf("%s: cannot read it: %s", f->path, strerror(h.errnum));
		else
			*err = xasprintf("%s: %s; the file is damaged", f->path,
			                 zerr ? zerr : "it does not decompress");
		free(zerr);
		return h.errnum ? CAIRN_E_IO : CAIRN_E_CORRUPT;
	}
	return (ssize_t)got;
}

static enum compression
compression_of(const unsigned char *b, size_t n)
{
	if (n >= 2 && b[0] == 0x1f && b[1] == 0x8b)
		return COMP_GZIP;
	if (n >= 4 && memcmp(b, "\x28\xb5\x2f\xfd", 4) == 0)
		return COMP_ZSTD;
	if (n >= 6 && memcmp(b, "\xfd\x37\x7a\x58\x5a\x00", 6) == 0)
		return COMP_XZ;
	return COMP_NONE;
}

static enum file_kind
kind_of(const unsigned char *b, size_t n)
{
	if (n >= 5 && memcmp(b, "REDIS", 5) == 0)
		return FILE_KIND_RDB;
	if (n >= 4 && memcmp(b, "\x6d\xe2\x99\x81", 4) == 0) /* 0x8199e26d LE */
		return FILE_KIND_ARCHIVE;
	if (n >= 262 && memcmp(b + 257, "ustar", 5) == 0)
		return FILE_KIND_TAR;
	if (n >= 1 && b[0] == '*')
		return FILE_KIND_RESP;
	return FILE_KIND_UNKNOWN;
}

/* Recognise f's compression and kind from its first bytes (the kind stays
 * FILE_KIND_UNKNOWN when they name none). */
static int
recognise(struct restore_file *f, char **err)
{
	unsigned char head[512];
	ssize_t n = read_head(f, COMP_NONE, head, sizeof(head), err);
	if (n < 0)
		return (int)n;
	if (n == 0) {
		*err = xasprintf("%s is empty: there is nothing to restore", f->path);
		return CAIRN_E_UNSUPPORTED;
	}
	f->fmt.comp = compression_of(head, (size_t)n);
	if (f->fmt.comp != COMP_NONE &&
	    (n = read_head(f, f->fmt.comp, head, sizeof(head), err)) < 0)
		return (int)n;
	f->fmt.kind = kind_of(head, (size_t)n);
	f->nhead = (size_t)n < sizeof(f->head) ? (size_t)n : sizeof(f->head);
	memcpy(f->head, head, f->nhead);
	return 0;
}

char *
restore_file_unknown(const struct restore_file *f)
{
	char first[64] = "";
	for (size_t i = 0; i < f->nhead; i++)
		snprintf(first + strlen(first), sizeof(first) - strlen(first), " %02x", f->head[i]);
	return xasprintf(
	        "%s holds %s%sdata of a kind cairn does not recognise (%sit starts with%s); name it with --format (tar, rdb, resp or archive, with .gz, .zst or .xz when compressed)",
	        f->path, f->fmt.comp == COMP_NONE ? "" : compression_name(f->fmt.comp),
	        f->fmt.comp == COMP_NONE ? "" : "-compressed ",
	        f->fmt.comp == COMP_NONE ? "" : "once decompressed, ", first);
}

int
restore_file_open(const char *path, const struct file_format *forced, struct restore_file *f,
                  char **err)
{
	struct stat st;
	int rc;
	memset(f, 0, sizeof(*f));
	f->path = path;
	f->fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	if (f->fd < 0) {
		*err = xasprintf("cannot open %s: %s", path, strerror(errno));
		return CAIRN_E_NOTFOUND;
	}
	if (fstat(f->fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		*err = xasprintf(
		        "%s is no regular file; --from reads a file that a backup tool wrote",
		        path);
		restore_file_close(f);
		return CAIRN_E_NOTFOUND;
	}
	f->size = (uint64_t)st.st_size;
	if (forced) {
		f->fmt = *forced;
		return 0;
	}
	if ((rc = recognise(f, err)))
		restore_file_close(f);
	return rc;
}

void
restore_file_close(struct restore_file *f)
{
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
}

/* ---------------------------------------------------------- restoring */

/* One pass over the file, decompressed, as a source's reader.  Like a
 * stored object's stream, it reports its end only once the whole file
 * was read and, on the second pass, matched the first in size and
 * SHA-256. */
struct file_stream {
	struct cairn_in in; /* first: the source's reader */
	struct restore_file *f;
	struct decompressor *z;
	EVP_MD_CTX *sha;
	uint64_t bytes;
	const char *want_sha; /* the first pass's, on the second; else NULL */
	uint64_t want_bytes;
	char sha_hex[65];
	char *err;
	int rc;      /* first failure of the stream itself */
	int checked; /* the end was reached and checked */
};

static ssize_t
fs_pull(void *ud, void *buf, size_t len)
{
	struct file_stream *fs = ud;
	ssize_t n;
	if (cancel_signal)
		return CAIRN_E_CANCELLED;
	if ((n = read_fd(fs->f->fd, buf, len)) < 0) {
		if (!fs->err)
			fs->err = xasprintf("reading %s failed: %s", fs->f->path, strerror(errno));
		return fs->rc = cancel_signal ? CAIRN_E_CANCELLED : CAIRN_E_IO;
	}
	EVP_DigestUpdate(fs->sha, buf, (size_t)n);
	fs->bytes += (uint64_t)n;
	progress_add((uint64_t)n);
	return n;
}

static int
fs_fail(struct file_stream *fs, int rc, char *msg)
{
	if (!fs->err)
		fs->err = msg;
	else
		free(msg);
	return fs->rc = rc;
}

/* At the end of the decompressed data: read what follows it in the file,
 * then check that the file is still what was opened (and checked). */
static int
fs_end(struct file_stream *fs)
{
	char *buf = xmalloc(CAIRN_BUFSIZE);
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int len = 0;
	ssize_t n;
	do
		n = fs_pull(fs, buf, CAIRN_BUFSIZE);
	while (n > 0);
	free(buf);
	if (n < 0)
		return (int)n;
	EVP_DigestFinal_ex(fs->sha, md, &len);
	for (unsigned i = 0; i < len && i < 32; i++)
		snprintf(fs->sha_hex + 2 * i, 3, "%02x", md[i]);
	if (fs->bytes != fs->f->size)
		return fs_fail(
		        fs, CAIRN_E_IO,
		        xasprintf(
		                "%s changed while it was read (%llu bytes when opened, %llu read); restore it once nothing writes it",
		                fs->f->path, (unsigned long long)fs->f->size,
		                (unsigned long long)fs->bytes));
	if (fs->want_sha && (fs->bytes != fs->want_bytes || strcmp(fs->sha_hex, fs->want_sha) != 0))
		return fs_fail(
		        fs, CAIRN_E_CORRUPT,
		        xasprintf(
		                "%s changed between the check and the restore (SHA-256 %s, checked as %s), so the restored data may be damaged",
		                fs->f->path, fs->sha_hex, fs->want_sha));
	fs->checked = 1;
	return 0;
}

static ssize_t
fs_read(struct cairn_in *in, void *buf, size_t len)
{
	struct file_stream *fs = (struct file_stream *)in;
	char *zerr = NULL;
	ssize_t n;
	if (fs->rc)
		return fs->rc; /* a failed stream stays failed */
	if (fs->checked)
		return 0;
	n = decompressor_read(fs->z, buf, len, &zerr);
	if (n < 0) {
		if (zerr)
			return fs_fail(fs, (int)n,
			               xasprintf("%s: %s; the file is damaged or cut short",
			                         fs->f->path, zerr));
		return fs->rc ? fs->rc : (fs->rc = (int)n);
	}
	free(zerr);
	return n > 0 ? n : fs_end(fs);
}

static int
fs_open(struct file_stream *fs, struct restore_file *f, char **err)
{
	memset(fs, 0, sizeof(*fs));
	fs->in.struct_size = sizeof(struct cairn_in);
	fs->in.read = fs_read;
	fs->f = f;
	if (lseek(f->fd, 0, SEEK_SET) != 0) {
		*err = xasprintf("cannot read %s: %s", f->path, strerror(errno));
		return CAIRN_E_IO;
	}
	if (!(fs->z = decompressor_new(f->fmt.comp, fs_pull, fs, err)))
		return CAIRN_E_UNSUPPORTED;
	fs->sha = EVP_MD_CTX_new();
	if (!fs->sha || EVP_DigestInit_ex(fs->sha, EVP_sha256(), NULL) != 1) {
		log_error("cannot start SHA-256 (OpenSSL)");
		abort();
	}
	return 0;
}

/* Read what the consumer left unread, so that the whole file is checked. */
static int
fs_finish(struct file_stream *fs)
{
	char *buf = xmalloc(CAIRN_BUFSIZE);
	ssize_t n;
	do
		n = fs_read(&fs->in, buf, CAIRN_BUFSIZE);
	while (n > 0);
	free(buf);
	return (int)n;
}

static void
fs_close(struct file_stream *fs)
{
	decompressor_free(fs->z);
	EVP_MD_CTX_free(fs->sha);
	free(fs->err);
}

/* The error of an op that read fs: the file's own failure explains more
 * than the source's complaint about it. */
static char *
fs_error(struct file_stream *fs, struct instance *source, int rc)
{
	if (fs->rc && fs->err)
		return xstrdup(fs->err);
	return xasprintf("%s: %s: %s", source->ctx.label, fs->f->path, instance_error(source, rc));
}

/* What the check-first pass read. */
struct file_seen {
	uint64_t bytes;
	char sha[65];
};

/* One pass: the source's verify (restore 0), which fills seen, or its
 * restore (1), checked against want when given. */
static int
file_pass(struct restore_file *f, struct instance *source, int restore, unsigned flags,
          const struct file_seen *want, struct file_seen *seen, char **err)
{
	struct file_stream fs;
	int rc = fs_open(&fs, f, err);
	if (rc)
		return rc;
	if (want) {
		fs.want_sha = want->sha;
		fs.want_bytes = want->bytes;
	}
	progress_begin_phase(source->name, restore ? "restoring" : "checking");
	progress_total(f->size);
	instance_reset(source);
	rc = restore ? op_restore(source, &fs.in, flags) : op_verify(source, &fs.in);
	if (rc) {
		*err = fs_error(&fs, source, rc);
		if (fs.rc && fs.rc != CAIRN_E_CANCELLED)
			rc = fs.rc;
	} else if ((rc = fs_finish(&fs))) {
		*err = fs.err ? xstrdup(fs.err) : xasprintf("reading %s failed", f->path);
	}
	progress_end();
	if (!rc && seen) {
		memcpy(seen->sha, fs.sha_hex, sizeof(seen->sha));
		seen->bytes = fs.bytes;
	}
	fs_close(&fs);
	return rc;
}

int
pipeline_restore_file(struct restore_file *f, struct instance *source, unsigned flags, char **err)
{
	int staged = (source->lp->source.flags & CAIRN_SOURCE_STAGED_RESTORE) != 0;
	struct file_seen checked = {0};
	int rc = 0;
	if (!staged && !source->lp->source.verify) {
		*err = xasprintf(
		        "%s: its plugin can neither check a file before restoring it (it has no verify op) nor stage its restore, so it cannot restore --from a file",
		        source->ctx.label);
		return CAIRN_E_UNSUPPORTED;
	}
	if (!staged) {
		/* The source writes into its target as it reads: its deep
		 * verify reads the whole file first, and the restore's read is
		 * checked to see the same bytes. */
		log_info("%s: checking %s before restoring it", source->ctx.label, f->path);
		rc = file_pass(f, source, 0, 0, NULL, &checked, err);
	}
	if (!rc)
		rc = file_pass(f, source, 1, flags, staged ? NULL : &checked, NULL, err);
	if (cancel_signal)
		rc = CAIRN_E_CANCELLED;
	return rc;
}
