/* memplug.c - see memplug.h */
#include "autoconf.h"

#include "memplug.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util.h"

/* ---------------------------------------------------------------- sink */

/* Ask the host for the scratch directory and put a file into it; the
 * file's path goes to path. */
static int
put_scratch_file(cairn_ctx *ctx, char *path, size_t size)
{
	const char *dir = cairn_host_table.scratch_dir(ctx);
	int fd;
	if (!dir)
		return -1;
	snprintf(path, size, "%s/staged", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	if (fd < 0)
		return -1;
	close(fd);
	return 0;
}

struct memwriter {
	struct memsink *ms;
	char *key;
	unsigned char *data;
	size_t len, cap;
	uint64_t total;
};

struct memreader {
	struct memobj *o;
	size_t pos;
};

static int
ms_create(cairn_ctx *c, const struct cairn_config *cfg, void **i)
{
	(void)c;
	(void)cfg;
	(void)i;
	return 0;
}
static void
ms_destroy(void *i)
{
	(void)i;
}

static int
ms_open_write(void *inst, const char *key, cairn_sink_writer **out)
{
	struct memsink *ms = inst;
	if (ms->fail_open_key && strstr(key, ms->fail_open_key))
		return CAIRN_E_IO;
	if (memsink_get(ms, key))
		return CAIRN_E_EXISTS;
	if (ms->stale_detail)
		cairn_host_table.set_error(ms->ctx, "%s", ms->stale_detail);
	if (ms->use_scratch && put_scratch_file(ms->ctx, ms->scratch, sizeof(ms->scratch)))
		return CAIRN_E_IO;
	struct memwriter *w = xcalloc(1, sizeof(*w));
	w->ms = ms;
	w->key = xstrdup(key);
	ms->open_writers++;
	*out = (cairn_sink_writer *)w;
	return 0;
}

static int
ms_write(cairn_sink_writer *wr, const void *buf, size_t len)
{
	struct memwriter *w = (struct memwriter *)wr;
	if (w->ms->fail_write_at >= 0 && w->total + len > (uint64_t)w->ms->fail_write_at)
		return CAIRN_E_IO;
	if (w->ms->use_scratch && access(w->ms->scratch, F_OK) != 0)
		w->ms->scratch_gone_in_write++;
	w->total += len;
	w->ms->written += len;
	if (!w->ms->store)
		return 0;
	if (w->len + len > w->cap) {
		w->cap = (w->len + len) * 2;
		w->data = xrealloc(w->data, w->cap);
	}
	memcpy(w->data + w->len, buf, len);
	w->len += len;
	return 0;
}

static void
ms_abort(cairn_sink_writer *wr)
{
	struct memwriter *w = (struct memwriter *)wr;
	w->ms->open_writers--;
	w->ms->aborts++;
	free(w->data);
	free(w->key);
	free(w);
}

static int ms_remove(void *inst, const char *key);

static int
ms_commit(cairn_sink_writer *wr)
{
	struct memwriter *w = (struct memwriter *)wr;
	struct memsink *ms = w->ms;
	if (ms->fail_commit_key && strstr(w->key, ms->fail_commit_key)) {
		ms_abort(wr);
		ms->aborts--; /* a failed commit is not an abort call */
		return CAIRN_E_IO;
	}
	struct memobj *o = &ms->objs[ms->nobjs++];
	o->key = w->key;
	o->data = w->data;
	o->len = w->len;
	o->size = w->total;
	ms->open_writers--;
	ms->commits++;
	free(w);
	if (ms->plant_after && strstr(o->key, ms->plant_after)) {
		struct memobj *p = memsink_get(ms, ms->plant_key);
		if (!p) {
			p = &ms->objs[ms->nobjs++];
			p->key = xstrdup(ms->plant_key);
		} else {
			free(p->data);
		}
		p->len = p->size = strlen(ms->plant_data);
		p->data = (unsigned char *)xstrdup(ms->plant_data);
		ms->plant_after = NULL;
	}
	if (ms->vanish_key && strstr(o->key, "manifest.json"))
		for (size_t i = 0; i < ms->nobjs; i++)
			if (strstr(ms->objs[i].key, ms->vanish_key)) {
				ms_remove(ms, ms->objs[i].key);
				break;
			}
	return 0;
}

static int
ms_open_read(void *inst, const char *key, cairn_sink_reader **out)
{
	struct memobj *o = memsink_get(inst, key);
	if (!o)
		return CAIRN_E_NOTFOUND;
	struct memreader *r = xcalloc(1, sizeof(*r));
	r->o = o;
	*out = (cairn_sink_reader *)r;
	return 0;
}

static ssize_t
ms_read(cairn_sink_reader *rd, void *buf, size_t len)
{
	struct memreader *r = (struct memreader *)rd;
	size_t n = r->o->len - r->pos;
	if (n > len)
		n = len;
	memcpy(buf, r->o->data + r->pos, n);
	r->pos += n;
	return (ssize_t)n;
}

static void
ms_close_read(cairn_sink_reader *r)
{
	free(r);
}

static int
ms_list(void *inst, const char *prefix, cairn_list_cb cb, void *ud)
{
	struct memsink *ms = inst;
	for (size_t i = 0; i < ms->nobjs; i++)
		if (strncmp(ms->objs[i].key, prefix, strlen(prefix)) == 0 &&
		    cb(ud, ms->objs[i].key, ms->objs[i].size, 0))
			break;
	return 0;
}

static int
ms_remove(void *inst, const char *key)
{
	struct memsink *ms = inst;
	for (size_t i = 0; i < ms->nobjs; i++)
		if (strcmp(ms->objs[i].key, key) == 0) {
			free(ms->objs[i].key);
			free(ms->objs[i].data);
			ms->objs[i] = ms->objs[--ms->nobjs];
			return 0;
		}
	return CAIRN_E_NOTFOUND;
}

struct memobj *
memsink_get(struct memsink *ms, const char *key)
{
	for (size_t i = 0; i < ms->nobjs; i++)
		if (strcmp(ms->objs[i].key, key) == 0)
			return &ms->objs[i];
	return NULL;
}

void
memsink_clear(struct memsink *ms)
{
	while (ms->nobjs)
		ms_remove(ms, ms->objs[0].key);
}

/* ---------------------------------------------------------------- source */

unsigned char
memsrc_byte(uint64_t i)
{
	return (unsigned char)("cairn streams bytes "[i % 20] ^ ((i >> 12) & 0x7));
}

static int
ss_create(cairn_ctx *c, const struct cairn_config *cfg, void **i)
{
	(void)c;
	(void)cfg;
	(void)i;
	return 0;
}
static void
ss_destroy(void *i)
{
	(void)i;
}
static const char *
ss_ext(void *i)
{
	(void)i;
	return "bin";
}

static int
ss_backup(void *inst, struct cairn_out *out)
{
	struct memsrc *s = inst;
	unsigned char buf[8192];
	uint64_t done = 0;
	if (s->announced)
		cairn_host_table.progress_total(s->ctx, s->bytes);
	while (done < s->bytes) {
		size_t n = sizeof(buf);
		if (s->bytes - done < n)
			n = (size_t)(s->bytes - done);
		if (s->fail_at >= 0 && done + n > (uint64_t)s->fail_at)
			return CAIRN_E_CORRUPT;
		if (s->cancel_at >= 0 && done + n > (uint64_t)s->cancel_at)
			cancel_signal = 15;
		for (size_t k = 0; k < n; k++)
			buf[k] = memsrc_byte(done + k);
		int rc = out->write(out, buf, n);
		if (rc) {
			s->write_rc = rc;
			return rc;
		}
		done += n;
	}
	if (s->stats) /* for the manifest (manifest_stats) */
		cairn_host_table.stat(s->ctx, "bytes", (int64_t)s->bytes);
	return 0;
}

static int
ss_restore(void *inst, struct cairn_in *in, unsigned flags)
{
	struct memsrc *s = inst;
	unsigned char buf[5000];
	ssize_t n;
	(void)flags;
	free(s->restored);
	s->restored = NULL;
	s->restored_len = 0;
	s->restore_calls++;
	if (s->use_scratch && put_scratch_file(s->ctx, s->scratch, sizeof(s->scratch)))
		return CAIRN_E_IO;
	while ((n = in->read(in, buf, sizeof(buf))) > 0) {
		if (s->keep_restored) {
			s->restored = xrealloc(s->restored, s->restored_len + (size_t)n);
			memcpy(s->restored + s->restored_len, buf, (size_t)n);
		}
		s->restored_len += (size_t)n;
	}
	s->last_read_rc = (int)n;
	return n < 0 ? (int)n : 0;
}

static int
ss_verify(void *inst, struct cairn_in *in)
{
	unsigned char buf[4096];
	uint64_t off = 0;
	ssize_t n;
	(void)inst;
	while ((n = in->read(in, buf, sizeof(buf))) > 0)
		for (ssize_t k = 0; k < n; k++, off++)
			if (buf[k] != memsrc_byte(off))
				return CAIRN_E_CORRUPT;
	return n < 0 ? (int)n : 0;
}

static int
ss_restore_test(void *inst, struct cairn_in *in)
{
	struct memsrc *s = inst;
	unsigned char buf[4096];
	ssize_t n;
	s->rt_calls++;
	s->rt_read = 0;
	if (s->rt_fail) {
		cairn_host_table.set_error(s->ctx, "the scratch server did not start");
		return CAIRN_E_IO;
	}
	while ((n = in->read(in, buf, sizeof(buf))) > 0)
		for (ssize_t k = 0; k < n; k++, s->rt_read++)
			if (buf[k] != memsrc_byte(s->rt_read)) {
				cairn_host_table.set_error(s->ctx, "cannot parse byte %llu",
				                           (unsigned long long)s->rt_read);
				return CAIRN_E_IO;
			}
	return n < 0 ? (int)n : 0;
}

static const struct cairn_key no_keys[] = {{.name = NULL}};

static struct loaded_plugin memsink_plugin = {
        .name = "memsink",
        .desc = {.name = "memsink", .version = "1", .kind = CAIRN_KIND_SINK, .keys = no_keys},
        .sink = {.create = ms_create,
                 .destroy = ms_destroy,
                 .open_write = ms_open_write,
                 .write = ms_write,
                 .commit = ms_commit,
                 .abort = ms_abort,
                 .open_read = ms_open_read,
                 .read = ms_read,
                 .close_read = ms_close_read,
                 .list = ms_list,
                 .remove = ms_remove},
};

static struct loaded_plugin memsrc_plugin = {
        .name = "memsrc",
        .desc = {.name = "memsrc", .version = "1", .kind = CAIRN_KIND_SOURCE, .keys = no_keys},
        .source = {.create = ss_create,
                   .destroy = ss_destroy,
                   .file_extension = ss_ext,
                   .backup = ss_backup,
                   .restore = ss_restore,
                   .verify = ss_verify,
                   .restore_test = ss_restore_test},
};

static struct instance *
make(struct loaded_plugin *lp, enum section_kind kind, const char *name, void *inst)
{
	struct instance *in = xcalloc(1, sizeof(*in));
	in->lp = lp;
	in->name = name;
	in->kind = kind;
	in->inst = inst;
	in->ctx.label =
	        xasprintf("%s %s (%s)", kind == SECTION_SINK ? "sink" : "source", name, lp->name);
	in->ctx.scratch_tag = xasprintf("%s-%s", kind == SECTION_SINK ? "sink" : "source", name);
	return in;
}

void
memsrc_set_staged(int staged)
{
	memsrc_plugin.source.flags = staged ? CAIRN_SOURCE_STAGED_RESTORE : 0;
}

struct instance *
memsink_instance(const char *name, struct memsink *ms)
{
	struct instance *in = make(&memsink_plugin, SECTION_SINK, name, ms);
	ms->ctx = &in->ctx;
	return in;
}

struct instance *
memsrc_instance(const char *name, struct memsrc *src)
{
	struct instance *in = make(&memsrc_plugin, SECTION_SOURCE, name, src);
	src->ctx = &in->ctx;
	return in;
}
