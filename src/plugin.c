/* plugin.c - see plugin.h (core) */
#include "autoconf.h"

#include "plugin.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <ltdl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cairn.h"
#include "log.h"

volatile sig_atomic_t cairn_cancel_signal;

const char *
cairn_strerror(int code)
{
	switch (code) {
	case CAIRN_OK: return "success";
	case CAIRN_E_CONFIG: return "configuration error";
	case CAIRN_E_IO: return "input/output error";
	case CAIRN_E_AUTH: return "authentication failed";
	case CAIRN_E_NOTFOUND: return "not found";
	case CAIRN_E_CORRUPT: return "data is corrupt";
	case CAIRN_E_RETRYABLE: return "temporary failure";
	case CAIRN_E_CANCELLED: return "cancelled";
	case CAIRN_E_NOMEM: return "out of memory";
	case CAIRN_E_UNSUPPORTED: return "not supported";
	case CAIRN_E_EXISTS: return "target is not empty";
	default: return "unknown error";
	}
}

/* ------------------------------------------------------------ host */

static void
host_log(cairn_ctx *ctx, enum cairn_log_level level, const char *fmt, ...)
{
	va_list ap;
	char *prefix = xasprintf("%s: ", ctx->label);
	if (level == CAIRN_LOG_WARN)
		ctx->warnings++;
	if (level > CAIRN_LOG_DEBUG)
		level = CAIRN_LOG_DEBUG;
	va_start(ap, fmt);
	log_vmsg(level, prefix, fmt, ap);
	va_end(ap);
	free(prefix);
}

static void
host_set_error(cairn_ctx *ctx, const char *fmt, ...)
{
	va_list ap;
	free(ctx->error);
	va_start(ap, fmt);
	ctx->error = xvasprintf(fmt, ap);
	va_end(ap);
}

static int
host_cancelled(cairn_ctx *ctx)
{
	(void)ctx;
	return cairn_cancel_signal != 0;
}

static void
host_stat(cairn_ctx *ctx, const char *key, int64_t value)
{
	if (!ctx->stats)
		ctx->stats = json_object();
	json_object_set_new(ctx->stats, key, json_integer(value));
}

const struct cairn_host cairn_host_table = {
	.struct_size = sizeof(struct cairn_host),
	.abi_major = CAIRN_ABI_MAJOR,
	.abi_minor = CAIRN_ABI_MINOR,
	.cairn_version = PACKAGE_VERSION,
	.log = host_log,
	.set_error = host_set_error,
	.cancelled = host_cancelled,
	.stat = host_stat,
};

/* ---------------------------------------------------------- loading */

void
registry_init(struct plugin_registry *reg, const char *plugin_dir)
{
	const char *env = getenv("CAIRN_PLUGIN_PATH");
	memset(reg, 0, sizeof(*reg));
	if (plugin_dir)
		strvec_push(&reg->dirs, plugin_dir);
	if (env) {
		char *copy = xstrdup(env), *save = NULL;
		for (char *d = strtok_r(copy, ":", &save); d; d = strtok_r(NULL, ":", &save))
			strvec_push(&reg->dirs, d);
		free(copy);
	}
	strvec_push(&reg->dirs, CAIRN_PLUGINDIR);
}

void
plugin_unload(struct loaded_plugin *lp)
{
	if (!lp)
		return;
	if (lp->handle) {
		lt_dlclose(lp->handle);
		lt_dlexit(); /* libltdl counts its users */
	}
	free(lp->name);
	free(lp->path);
	free(lp);
}

void
registry_free(struct plugin_registry *reg)
{
	for (size_t i = 0; i < reg->nloaded; i++)
		plugin_unload(reg->loaded[i]);
	free(reg->loaded);
	strvec_free(&reg->dirs);
}

/* Copy min(their size, our size) bytes of a versioned struct. */
static void
copy_versioned(void *dst, size_t dst_size, const void *src)
{
	size_t their = *(const size_t *)src;
	memset(dst, 0, dst_size);
	memcpy(dst, src, their < dst_size ? their : dst_size);
}

static const char *
missing_op(const struct loaded_plugin *lp)
{
	if (lp->desc.kind == CAIRN_KIND_SOURCE) {
		const struct cairn_source_ops *o = &lp->source;
		if (!o->create) return "create";
		if (!o->destroy) return "destroy";
		if (!o->file_extension) return "file_extension";
		if (!o->backup) return "backup";
		if (!o->restore) return "restore";
	} else {
		const struct cairn_sink_ops *o = &lp->sink;
		if (!o->create) return "create";
		if (!o->destroy) return "destroy";
		if (!o->open_write) return "open_write";
		if (!o->write) return "write";
		if (!o->commit) return "commit";
		if (!o->abort) return "abort";
		if (!o->open_read) return "open_read";
		if (!o->read) return "read";
		if (!o->close_read) return "close_read";
		if (!o->list) return "list";
		if (!o->remove) return "remove";
	}
	return NULL;
}

static const char *
bad_key_table(const struct cairn_key *keys)
{
	for (size_t k = 0; keys && keys[k].name; k++) {
		if (keys[k].type < CAIRN_KEY_STRING || keys[k].type > CAIRN_KEY_PATH)
			return keys[k].name;
		if (strcmp(keys[k].name, "plugin") == 0)
			return keys[k].name;
		for (size_t j = 0; j < k; j++)
			if (strcmp(keys[j].name, keys[k].name) == 0)
				return keys[k].name;
	}
	return NULL;
}

struct loaded_plugin *
plugin_load_path(const char *path, const char *expect_name, char **err)
{
	lt_dladvise advise;
	lt_dlhandle h = NULL;
	struct loaded_plugin *lp = NULL;
	const struct cairn_plugin *(*entry)(const struct cairn_host *);
	const struct cairn_plugin *d;
	const char *bad;

	lt_dlinit(); /* reference-counted; plugin_unload ends it */
	/* Local symbols: two plugins may use different versions of one
	 * library, and plugins must never satisfy each other's symbols. */
	if (lt_dladvise_init(&advise) == 0) {
		lt_dladvise_local(&advise);
		h = lt_dlopenadvise(path, advise);
		lt_dladvise_destroy(&advise);
	}
	if (!h) {
		/* libltdl says "file not found" whatever went wrong: ask the
		 * dynamic linker itself, whose message names the missing
		 * library or undefined symbol. */
		const char *why = lt_dlerror();
		void *probe = dlopen(path, RTLD_NOW | RTLD_LOCAL);
		if (!probe) {
			const char *dl = dlerror();
			size_t pl = strlen(path);
			if (!dl)
				dl = why ? why : "unknown error";
			if (strncmp(dl, path, pl) == 0 && strncmp(dl + pl, ": ", 2) == 0)
				dl += pl + 2; /* about the plugin itself */
			const char *colon = strstr(dl, ": cannot open shared object file");
			if (colon && dl != colon)
				*err = xasprintf("cannot load plugin %s: it needs %.*s, which cannot be "
				                 "found; install the package that provides it",
				                 path, (int)(colon - dl), dl);
			else
				*err = xasprintf("cannot load plugin %s: %s", path, dl);
		} else {
			dlclose(probe);
			*err = xasprintf("cannot load plugin %s: %s", path, why ? why : "unknown error");
		}
		goto fail;
	}
	entry = (const struct cairn_plugin *(*)(const struct cairn_host *))lt_dlsym(
		h, CAIRN_PLUGIN_ENTRY_SYMBOL);
	if (!entry) {
		*err = xasprintf("%s is not a cairn plugin: it exports no %s(); rebuild it "
		                 "against <cairn/plugin.h>", path, CAIRN_PLUGIN_ENTRY_SYMBOL);
		goto fail;
	}
	d = entry(&cairn_host_table);
	if (!d) {
		*err = xasprintf("plugin %s refused to start (its entry returned nothing)", path);
		goto fail;
	}
	/* abi_major sits after struct_size in every ABI, so it can be read
	 * before anything else is trusted. */
	if (d->struct_size < offsetof(struct cairn_plugin, abi_minor) || d->abi_major != CAIRN_ABI_MAJOR) {
		*err = xasprintf("plugin %s speaks plugin ABI %u, this cairn %s speaks ABI %d; "
		                 "install a build of the plugin made for cairn %s",
		                 path, d->struct_size >= offsetof(struct cairn_plugin, abi_minor)
		                           ? d->abi_major : 0,
		                 PACKAGE_VERSION, CAIRN_ABI_MAJOR, PACKAGE_VERSION);
		goto fail;
	}
	lp = xcalloc(1, sizeof(*lp));
	copy_versioned(&lp->desc, sizeof(lp->desc), d);
	if (!lp->desc.name || !lp->desc.version ||
	    (lp->desc.kind != CAIRN_KIND_SOURCE && lp->desc.kind != CAIRN_KIND_SINK) ||
	    (lp->desc.kind == CAIRN_KIND_SOURCE && !lp->desc.source) ||
	    (lp->desc.kind == CAIRN_KIND_SINK && !lp->desc.sink)) {
		*err = xasprintf("plugin %s has an incomplete descriptor (name, version, kind "
		                 "and ops are required)", path);
		goto fail;
	}
	if (expect_name && strcmp(lp->desc.name, expect_name) != 0) {
		*err = xasprintf("%s calls itself \"%s\", not \"%s\"; rename the file or fix "
		                 "the plugin's name", path, lp->desc.name, expect_name);
		goto fail;
	}
	if (lp->desc.kind == CAIRN_KIND_SOURCE)
		copy_versioned(&lp->source, sizeof(lp->source), lp->desc.source);
	else
		copy_versioned(&lp->sink, sizeof(lp->sink), lp->desc.sink);
	if ((bad = missing_op(lp))) {
		*err = xasprintf("plugin %s lacks the required op %s()", path, bad);
		goto fail;
	}
	if ((bad = bad_key_table(lp->desc.keys))) {
		*err = xasprintf("plugin %s has a bad key table entry \"%s\" (unknown type, "
		                 "duplicate, or the reserved name plugin)", path, bad);
		goto fail;
	}
	lp->name = xstrdup(lp->desc.name);
	lp->path = xstrdup(path);
	lp->handle = h;
	return lp;
fail:
	free(lp);
	if (h)
		lt_dlclose(h);
	lt_dlexit();
	return NULL;
}

static char *
find_module(const struct plugin_registry *reg, const char *name)
{
	static const char *const exts[] = {".so", ".la", NULL};
	struct stat st;
	for (size_t d = 0; d < reg->dirs.n; d++)
		for (int e = 0; exts[e]; e++) {
			char *file = xasprintf("%s/%s%s", reg->dirs.v[d], name, exts[e]);
			if (stat(file, &st) == 0 && S_ISREG(st.st_mode))
				return file;
			free(file);
		}
	return NULL;
}

struct loaded_plugin *
registry_load(struct plugin_registry *reg, const char *name, char **err)
{
	struct loaded_plugin *lp;
	char *path;
	for (size_t i = 0; i < reg->nloaded; i++)
		if (strcmp(reg->loaded[i]->name, name) == 0)
			return reg->loaded[i];
	if (!valid_name(name)) {
		*err = xasprintf("\"%s\" is not a plugin name", name);
		return NULL;
	}
	path = find_module(reg, name);
	if (!path) {
		char *dirs = xstrdup("");
		for (size_t d = 0; d < reg->dirs.n; d++) {
			char *n = xasprintf("%s%s%s", dirs, d ? ", " : "", reg->dirs.v[d]);
			free(dirs);
			dirs = n;
		}
		*err = xasprintf("no plugin named %s: no %s.so in %s; install it, or point "
		                 "plugin_dir or $CAIRN_PLUGIN_PATH at it", name, name, dirs);
		free(dirs);
		return NULL;
	}
	lp = plugin_load_path(path, name, err);
	free(path);
	if (!lp)
		return NULL;
	reg->loaded = xrealloc(reg->loaded, (reg->nloaded + 1) * sizeof(*reg->loaded));
	reg->loaded[reg->nloaded++] = lp;
	return lp;
}

void
registry_scan(const struct plugin_registry *reg, struct strvec *names)
{
	for (size_t d = 0; d < reg->dirs.n; d++) {
		DIR *dir = opendir(reg->dirs.v[d]);
		struct dirent *de;
		struct strvec here = {0};
		if (!dir)
			continue;
		while ((de = readdir(dir))) {
			size_t len = strlen(de->d_name);
			if (len > 3 && strcmp(de->d_name + len - 3, ".so") == 0)
				strvec_push_own(&here, xstrndup(de->d_name, len - 3));
		}
		closedir(dir);
		strvec_sort(&here);
		for (size_t i = 0; i < here.n; i++)
			if (!strvec_contains(names, here.v[i]))
				strvec_push(names, here.v[i]);
		strvec_free(&here);
	}
}

/* -------------------------------------------------------- instances */

int
instance_create(struct plugin_registry *reg, const struct cairn_cfg *cfg,
                const struct cfg_section *sec, const struct strvec *overrides,
                struct instance **out, char **err)
{
	struct loaded_plugin *lp;
	struct typed_config *tc = NULL;
	struct instance *in;
	enum cairn_plugin_kind want =
		sec->kind == SECTION_SOURCE ? CAIRN_KIND_SOURCE : CAIRN_KIND_SINK;
	int rc;

	lp = registry_load(reg, sec->plugin, err);
	if (!lp) {
		/* the plugin = key is what to fix: name its line */
		char *why = *err;
		*err = xasprintf("%s:%d: [%s %s] plugin: %s", cfg->path, sec->plugin_line,
		                 section_kind_name(sec->kind), sec->name, why);
		free(why);
		return CAIRN_E_NOTFOUND;
	}
	if (lp->desc.kind != want) {
		*err = xasprintf("%s:%d: [%s %s] plugin: %s is a %s plugin, not a %s plugin",
		                 cfg->path, sec->line, section_kind_name(sec->kind), sec->name,
		                 lp->name, lp->desc.kind == CAIRN_KIND_SOURCE ? "source" : "sink",
		                 section_kind_name(sec->kind));
		return CAIRN_E_CONFIG;
	}
	rc = config_typed(cfg, sec, lp->name, lp->desc.keys, overrides, &tc, err);
	if (rc)
		return rc;
	in = xcalloc(1, sizeof(*in));
	in->lp = lp;
	in->name = sec->name;
	in->kind = sec->kind;
	in->ctx.label = xasprintf("%s %s (%s)", section_kind_name(sec->kind), sec->name, lp->name);
	rc = want == CAIRN_KIND_SOURCE ? lp->source.create(&in->ctx, &tc->pub, &in->inst)
	                               : lp->sink.create(&in->ctx, &tc->pub, &in->inst);
	typed_config_free(tc);
	if (rc) {
		*err = xasprintf("%s: %s", in->ctx.label, instance_error(in, rc));
		in->inst = NULL;
		instance_destroy(in);
		return rc;
	}
	*out = in;
	return 0;
}

void
instance_destroy(struct instance *in)
{
	if (!in)
		return;
	if (in->inst) {
		if (in->kind == SECTION_SOURCE)
			in->lp->source.destroy(in->inst);
		else
			in->lp->sink.destroy(in->inst);
	}
	free(in->ctx.label);
	free(in->ctx.error);
	json_decref(in->ctx.stats);
	free(in);
}

const char *
instance_error(const struct instance *in, int rc)
{
	if (in->ctx.error && *in->ctx.error)
		return in->ctx.error;
	return cairn_strerror(rc);
}

void
instance_reset(struct instance *in)
{
	free(in->ctx.error);
	in->ctx.error = NULL;
	json_decref(in->ctx.stats);
	in->ctx.stats = NULL;
	in->ctx.warnings = 0;
}
