/* plugin.c - see plugin.h (core) */
#include "autoconf.h"

#include "plugin.h"

#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <ltdl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cairn.h"
#include "log.h"
#include "plugin_keys.h"

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
		if (!o->create)
			return "create";
		if (!o->destroy)
			return "destroy";
		if (!o->file_extension)
			return "file_extension";
		if (!o->backup)
			return "backup";
		if (!o->restore)
			return "restore";
	} else {
		const struct cairn_sink_ops *o = &lp->sink;
		if (!o->create)
			return "create";
		if (!o->destroy)
			return "destroy";
		if (!o->open_write)
			return "open_write";
		if (!o->write)
			return "write";
		if (!o->commit)
			return "commit";
		if (!o->abort)
			return "abort";
		if (!o->open_read)
			return "open_read";
		if (!o->read)
			return "read";
		if (!o->close_read)
			return "close_read";
		if (!o->list)
			return "list";
		if (!o->remove)
			return "remove";
	}
	return NULL;
}

/* Does name end in "_file" or "_env" after a secret key's name? */
static int
is_secret_alias(const char *name, const char *secret)
{
	size_t n = strlen(secret);
	return strncmp(name, secret, n) == 0 &&
	       (strcmp(name + n, "_file") == 0 || strcmp(name + n, "_env") == 0);
}

/* Check a plugin's secret_env list (ABI 1.3): 0, or -1 with *err. */
static int
check_secret_env(const char *path, const char *const *names, char **err)
{
	for (size_t i = 0; names && names[i]; i++)
		if (!*names[i] || strchr(names[i], '=')) {
			*err = xasprintf(
			        "plugin %s lists \"%s\" (entry %zu of its secret_env) as an environment variable; a name is non-empty and has no '='",
			        path, names[i], i + 1);
			return -1;
		}
	return 0;
}

/* Check a plugin's key table.  0, or -1 with *err.  A key type this cairn
 * does not know means the plugin was built for a newer cairn, not that it
 * is broken, and the message says so. */
static int
check_key_table(const char *path, const char *plugin, const struct cairn_key *keys, char **err,
                int *needs_newer)
{
	for (size_t k = 0; keys && keys[k].name; k++) {
		const char *name = keys[k].name;
		if (!*name) {
			*err = xasprintf(
			        "plugin %s has a key with an empty name (entry %zu of its key table); fix the plugin",
			        path, k + 1);
			return -1;
		}
		if (strchr(name, '.')) {
			*err = xasprintf(
			        "plugin %s has a key \"%s\" with a '.' in its name, which --set SECTION.KEY=VALUE could never reach; fix the plugin",
			        path, name);
			return -1;
		}
		if (strcmp(name, "plugin") == 0) {
			*err = xasprintf(
			        "plugin %s has a key named \"plugin\", which is cairn's own key; fix the plugin",
			        path);
			return -1;
		}
		if ((keys[k].flags & CAIRN_KEY_NO_RESTORE) &&
		    (keys[k].flags & CAIRN_KEY_NO_BACKUP)) {
			*err = xasprintf(
			        "plugin %s marks the key \"%s\" both backup-only and restore-only, so it does nothing; fix the plugin",
			        path, name);
			return -1;
		}
		for (size_t j = 0; j < k; j++) {
			if (strcmp(keys[j].name, name) == 0) {
				*err = xasprintf(
				        "plugin %s has the key \"%s\" twice; fix the plugin", path,
				        name);
				return -1;
			}
			const struct cairn_key *secret =
			        keys[j].flags & CAIRN_KEY_SECRET &&
			                        is_secret_alias(name, keys[j].name)
			                ? &keys[j]
			        : keys[k].flags & CAIRN_KEY_SECRET &&
			                        is_secret_alias(keys[j].name, name)
			                ? &keys[k]
			                : NULL;
			if (secret) {
				*err = xasprintf(
				        "plugin %s has the keys \"%s\" and \"%s\", but %s_file and %s_env are how the secret key %s is given; fix the plugin",
				        path, keys[j].name, name, secret->name, secret->name,
				        secret->name);
				return -1;
			}
		}
	}
	/* Types last: a table that is broken otherwise is broken, whatever
	 * version it was built for. */
	for (size_t k = 0; keys && keys[k].name; k++)
		if (keys[k].type < CAIRN_KEY_STRING || keys[k].type > CAIRN_KEY_PATH) {
			*err = xasprintf(
			        "plugin %s needs a newer cairn (key type %d of key %s is unknown to cairn %s); upgrade cairn, or install a build of %s made for cairn %s",
			        plugin, (int)keys[k].type, keys[k].name, PACKAGE_VERSION, path,
			        PACKAGE_VERSION);
			*needs_newer = 1;
			return -1;
		}
	return 0;
}

struct loaded_plugin *
plugin_load_path(const char *path, const char *expect_name, char **err)
{
	int needs_newer;
	return plugin_load_path_newer(path, expect_name, err, &needs_newer);
}

struct loaded_plugin *
plugin_load_path_newer(const char *path, const char *expect_name, char **err, int *needs_newer)
{
	lt_dladvise advise;
	lt_dlhandle h = NULL;
	struct loaded_plugin *lp = NULL;
	const struct cairn_plugin *(*entry)(const struct cairn_host *);
	const struct cairn_plugin *d;
	const char *bad;

	*needs_newer = 0;
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
				*err = xasprintf(
				        "cannot load plugin %s: it needs %.*s, which cannot be found; install the package that provides it",
				        path, (int)(colon - dl), dl);
			else
				*err = xasprintf("cannot load plugin %s: %s", path, dl);
		} else {
			dlclose(probe);
			*err = xasprintf("cannot load plugin %s: %s", path,
			                 why ? why : "unknown error");
		}
		goto fail;
	}
	entry = (const struct cairn_plugin *(*)(const struct cairn_host *))lt_dlsym(
	        h, CAIRN_PLUGIN_ENTRY_SYMBOL);
	if (!entry) {
		*err = xasprintf(
		        "%s is not a cairn plugin: it exports no %s(); rebuild it against <cairn/plugin.h>",
		        path, CAIRN_PLUGIN_ENTRY_SYMBOL);
		goto fail;
	}
	d = entry(&cairn_host_table);
	if (!d) {
		*err = xasprintf("plugin %s refused to start (its entry returned nothing)", path);
		goto fail;
	}
	/* abi_major sits after struct_size in every ABI, so it can be read
	 * before anything else is trusted. */
	if (d->struct_size < offsetof(struct cairn_plugin, abi_minor) ||
	    d->abi_major != CAIRN_ABI_MAJOR) {
		*err = xasprintf(
		        "plugin %s speaks plugin ABI %u, this cairn %s speaks ABI %d; install a build of the plugin made for cairn %s",
		        path,
		        d->struct_size >= offsetof(struct cairn_plugin, abi_minor) ? d->abi_major
		                                                                   : 0,
		        PACKAGE_VERSION, CAIRN_ABI_MAJOR, PACKAGE_VERSION);
		goto fail;
	}
	lp = xcalloc(1, sizeof(*lp));
	copy_versioned(&lp->desc, sizeof(lp->desc), d);
	if (!lp->desc.name || !lp->desc.version ||
	    (lp->desc.kind != CAIRN_KIND_SOURCE && lp->desc.kind != CAIRN_KIND_SINK) ||
	    (lp->desc.kind == CAIRN_KIND_SOURCE && !lp->desc.source) ||
	    (lp->desc.kind == CAIRN_KIND_SINK && !lp->desc.sink)) {
		*err = xasprintf(
		        "plugin %s has an incomplete descriptor (name, version, kind and ops are required)",
		        path);
		goto fail;
	}
	if (expect_name && strcmp(lp->desc.name, expect_name) != 0) {
		*err = xasprintf(
		        "%s calls itself \"%s\", not \"%s\"; rename the file or fix the plugin's name",
		        path, lp->desc.name, expect_name);
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
	if (lp->desc.kind == CAIRN_KIND_SOURCE) {
		/* ABI 1.4: a change log takes all three ops or none */
		int nlog = !!lp->source.log_extension + !!lp->source.follow + !!lp->source.replay;
		if (nlog && nlog < 3) {
			*err = xasprintf(
			        "plugin %s has only some of the change log ops (log_extension %s, follow %s, replay %s): a source has all three or none; fix the plugin",
			        path, lp->source.log_extension ? "yes" : "no",
			        lp->source.follow ? "yes" : "no", lp->source.replay ? "yes" : "no");
			goto fail;
		}
	}
	if (check_key_table(path, lp->desc.name, lp->desc.keys, err, needs_newer) ||
	    check_secret_env(path, lp->desc.secret_env, err))
		goto fail;
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
	/* A plugin loaded before is found without a write: serve's status
	 * threads make instances of loaded plugins at once. */
	for (size_t i = 0; i < reg->nloaded; i++)
		if (strcmp(reg->loaded[i]->name, name) == 0)
			return reg->loaded[i];
	reg->last_needs_newer = 0;
	if (!valid_name(name)) {
		*err = xasprintf("\"%s\" is not a plugin name", name);
		return NULL;
	}
	path = find_module(reg, name);
	if (!path) {
		char *dirs = strvec_join(&reg->dirs, ", ");
		*err = xasprintf(
		        "no plugin named %s: no %s.so in %s; install it, or point plugin_dir or $CAIRN_PLUGIN_PATH at it",
		        name, name, dirs);
		free(dirs);
		return NULL;
	}
	lp = plugin_load_path_newer(path, name, err, &reg->last_needs_newer);
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

static void instance_call(struct instance *in);
static void instance_done(struct instance *in);

/* instance_create() (errs NULL) and instance_create_all(). */
static int
instance_make(struct plugin_registry *reg, const struct config *cfg, const struct cfg_section *sec,
              const struct strvec *overrides, struct instance **out, char **err,
              struct strvec *errs)
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
		return INSTANCE_E_PLUGIN;
	}
	if (lp->desc.kind != want) {
		*err = xasprintf("%s:%d: [%s %s] plugin: %s is a %s plugin, not a %s plugin",
		                 cfg->path, sec->line, section_kind_name(sec->kind), sec->name,
		                 lp->name, lp->desc.kind == CAIRN_KIND_SOURCE ? "source" : "sink",
		                 section_kind_name(sec->kind));
		return CAIRN_E_CONFIG;
	}
	rc = errs ? config_typed_all(cfg, sec, lp->name, lp->desc.keys, overrides, &tc, errs)
	          : config_typed(cfg, sec, lp->name, lp->desc.keys, overrides, &tc, err);
	if (rc)
		return rc;
	in = xcalloc(1, sizeof(*in));
	in->lp = lp;
	in->name = sec->name;
	in->kind = sec->kind;
	in->ctx.label = xasprintf("%s %s (%s)", section_kind_name(sec->kind), sec->name, lp->name);
	in->ctx.scratch_tag = xasprintf("%s-%s", section_kind_name(sec->kind), sec->name);
	if (cfg->state_dir)
		in->ctx.state_dir = xstrdup(cfg->state_dir);
	instance_call(in);
	rc = want == CAIRN_KIND_SOURCE ? lp->source.create(&in->ctx, &tc->pub, &in->inst)
	                               : lp->sink.create(&in->ctx, &tc->pub, &in->inst);
	instance_done(in);
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

int
instance_create(struct plugin_registry *reg, const struct config *cfg,
                const struct cfg_section *sec, const struct strvec *overrides,
                struct instance **out, char **err)
{
	return instance_make(reg, cfg, sec, overrides, out, err, NULL);
}

int
instance_create_all(struct plugin_registry *reg, const struct config *cfg,
                    const struct cfg_section *sec, struct instance **out, struct strvec *errs)
{
	char *err = NULL;
	int rc = instance_make(reg, cfg, sec, NULL, out, &err, errs);
	if (err)
		strvec_push_own(errs, err);
	return rc;
}

void
instance_destroy(struct instance *in)
{
	if (!in)
		return;
	if (in->inst) {
		instance_call(in);
		if (in->kind == SECTION_SOURCE)
			in->lp->source.destroy(in->inst);
		else
			in->lp->sink.destroy(in->inst);
	}
	ctx_free(&in->ctx);
	free(in);
}

const char *
instance_error(const struct instance *in, int rc)
{
	if (in->ctx.error && *in->ctx.error)
		return in->ctx.error;
	return status_str(rc);
}

void
instance_reset(struct instance *in)
{
	instance_call(in);
	json_decref(in->ctx.stats);
	in->ctx.stats = NULL;
	in->ctx.warnings = 0;
}

/* ------------------------------------------------------------ calls */

/* Before every call into the plugin: a detail left from an earlier call
 * must never explain this one's failure. */
static void
instance_call(struct instance *in)
{
	free(in->ctx.error);
	in->ctx.error = NULL;
}

/* After every call: the op is over, and with it its scratch directory,
 * unless a writer or reader of the sink still spans calls. */
static void
instance_done(struct instance *in)
{
	if (in->ctx.scratch && in->ctx.open <= 0)
		ctx_scratch_remove(&in->ctx);
}

const char *
op_file_extension(struct instance *in)
{
	instance_call(in);
	const char *ext = in->lp->source.file_extension(in->inst);
	instance_done(in);
	return ext;
}

int
op_backup(struct instance *in, struct cairn_out *out)
{
	int rc;
	instance_call(in);
	in->ctx.in_backup = 1;
	in->ctx.has_log[0] = in->ctx.has_log[1] = 0;
	rc = in->lp->source.backup(in->inst, out);
	in->ctx.in_backup = 0;
	instance_done(in);
	return rc;
}

int
op_restore(struct instance *in, struct cairn_in *cin, unsigned flags)
{
	int rc;
	instance_call(in);
	rc = in->lp->source.restore(in->inst, cin, flags);
	instance_done(in);
	return rc;
}

int
op_verify(struct instance *in, struct cairn_in *cin)
{
	int rc;
	instance_call(in);
	rc = in->lp->source.verify(in->inst, cin);
	instance_done(in);
	return rc;
}

int
op_restore_test(struct instance *in, struct cairn_in *cin)
{
	int rc;
	instance_call(in);
	rc = in->lp->source.restore_test(in->inst, cin);
	instance_done(in);
	return rc;
}

int
op_can_follow(const struct instance *in)
{
	return in->kind == SECTION_SOURCE && in->lp->source.follow != NULL;
}

const char *
op_log_extension(struct instance *in)
{
	instance_call(in);
	const char *ext = in->lp->source.log_extension(in->inst);
	instance_done(in);
	return ext;
}

int
op_follow(struct instance *in, const struct cairn_log_pos *from, struct cairn_log_out *out)
{
	int rc;
	instance_call(in);
	ctx_follow(&in->ctx, 1);
	rc = in->lp->source.follow(in->inst, from, out);
	ctx_follow(&in->ctx, 0);
	instance_done(in);
	return rc;
}

int
op_replay(struct instance *in, struct cairn_log_replay *rp)
{
	int rc;
	if (in->kind != SECTION_SOURCE || !in->lp->source.replay)
		return CAIRN_E_UNSUPPORTED;
	instance_call(in);
	rc = in->lp->source.replay(in->inst, rp);
	instance_done(in);
	return rc;
}

int
op_probe(struct instance *in, char *summary, size_t len)
{
	int rc;
	if (in->kind != SECTION_SOURCE || !in->lp->source.probe)
		return CAIRN_E_UNSUPPORTED;
	if (len)
		summary[0] = '\0';
	instance_call(in);
	rc = in->lp->source.probe(in->inst, summary, len);
	instance_done(in);
	if (len)
		summary[len - 1] = '\0'; /* whatever the plugin wrote */
	return rc;
}

int
op_open_write(struct instance *in, const char *key, cairn_sink_writer **w)
{
	int rc;
	instance_call(in);
	rc = in->lp->sink.open_write(in->inst, key, w);
	if (!rc)
		in->ctx.open++;
	instance_done(in);
	return rc;
}

int
op_write(struct instance *in, cairn_sink_writer *w, const void *buf, size_t len)
{
	instance_call(in);
	return in->lp->sink.write(w, buf, len); /* a writer is open: no scratch removal */
}

int
op_commit(struct instance *in, cairn_sink_writer *w)
{
	int rc;
	instance_call(in);
	rc = in->lp->sink.commit(w);
	in->ctx.open--; /* released whatever the result */
	instance_done(in);
	return rc;
}

void
op_abort(struct instance *in, cairn_sink_writer *w)
{
	instance_call(in);
	in->lp->sink.abort(w);
	in->ctx.open--;
	instance_done(in);
}

int
op_open_read(struct instance *in, const char *key, cairn_sink_reader **r)
{
	int rc;
	instance_call(in);
	rc = in->lp->sink.open_read(in->inst, key, r);
	if (!rc)
		in->ctx.open++;
	instance_done(in);
	return rc;
}

ssize_t
op_read(struct instance *in, cairn_sink_reader *r, void *buf, size_t len)
{
	instance_call(in);
	return in->lp->sink.read(r, buf, len); /* a reader is open: no scratch removal */
}

void
op_close_read(struct instance *in, cairn_sink_reader *r)
{
	instance_call(in);
	in->lp->sink.close_read(r);
	in->ctx.open--;
	instance_done(in);
}

int
op_list(struct instance *in, const char *prefix, cairn_list_cb cb, void *ud)
{
	int rc;
	instance_call(in);
	rc = in->lp->sink.list(in->inst, prefix, cb, ud);
	instance_done(in);
	return rc;
}

int
op_remove(struct instance *in, const char *key)
{
	int rc;
	instance_call(in);
	rc = in->lp->sink.remove(in->inst, key);
	instance_done(in);
	return rc;
}

int
op_usage(struct instance *in, struct cairn_usage *u)
{
	int rc;
	instance_call(in);
	rc = in->lp->sink.usage(in->inst, u);
	instance_done(in);
	return rc;
}

int
op_lock(struct instance *in, const char *name, cairn_sink_lock **lk)
{
	int rc;
	instance_call(in);
	rc = in->lp->sink.lock(in->inst, name, lk);
	instance_done(in);
	return rc;
}

void
op_unlock(struct instance *in, cairn_sink_lock *lk)
{
	instance_call(in);
	in->lp->sink.unlock(lk);
	instance_done(in);
}
