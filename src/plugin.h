/* plugin.h (core) - finding, loading and checking plugins; the host table;
 * plugin instances with their context. */
#ifndef CAIRN_CORE_PLUGIN_H
#define CAIRN_CORE_PLUGIN_H

#include <cairn/plugin.h>

#include "config.h"
#include "host.h"
#include "util.h"

/* A loaded plugin.  desc, source and sink are the core's own zero-padded
 * copies: fields a plugin built against an older ABI minor lacks read as
 * zero/NULL, and the core never reads past the plugin's struct_size. */
struct loaded_plugin {
	char *name;
	char *path;
	void *handle; /* lt_dlhandle */
	struct cairn_plugin desc;
	struct cairn_source_ops source;
	struct cairn_sink_ops sink;
};

struct plugin_registry {
	struct strvec dirs; /* searched in order */
	struct loaded_plugin **loaded;
	size_t nloaded;
	/* set by a failed registry_load: the plugin is fine but was built
	 * for a newer cairn (a key type this one does not know), which
	 * `cairn plugins` shows apart from broken plugins */
	int last_needs_newer;
};

/* Search plugin_dir (may be NULL), then $CAIRN_PLUGIN_PATH, then the
 * compiled-in plugin directory. */
void registry_init(struct plugin_registry *reg, const char *plugin_dir);
void registry_free(struct plugin_registry *reg);

/* Find and load NAME (cached).  On failure returns NULL and sets *err to a
 * line a sysadmin can act on: the file tried and the real cause. */
struct loaded_plugin *registry_load(struct plugin_registry *reg, const char *name, char **err);
/* Load one module from an exact path, checking name and ABI (used by
 * registry_load and the tests).  expect_name may be NULL. */
struct loaded_plugin *plugin_load_path(const char *path, const char *expect_name, char **err);
/* The same; *needs_newer is set to 1 when the load failed only because the
 * plugin needs a newer cairn, else to 0. */
struct loaded_plugin *plugin_load_path_newer(const char *path, const char *expect_name, char **err,
                                             int *needs_newer);
void plugin_unload(struct loaded_plugin *lp);

/* Every plugin name found in the search path, first occurrence wins. */
void registry_scan(const struct plugin_registry *reg, struct strvec *names);

/* A plugin instance: one [source] or [sink] section made live. */
struct instance {
	struct loaded_plugin *lp;
	const char *name;
	enum section_kind kind;
	cairn_ctx ctx;
	void *inst;
};

/* instance_create()'s code for "the plugin cannot be loaded" (missing,
 * broken, or needing a newer cairn): the core's finding, apart from any
 * code a plugin's own create() returns, such as CAIRN_E_NOTFOUND for a
 * missing bucket.  Never handed to or taken from a plugin. */
#define INSTANCE_E_PLUGIN (-1000)

/* Check the section's keys against the plugin, with overrides ("KEY=VALUE"),
 * and call create().  Returns 0, or INSTANCE_E_PLUGIN, CAIRN_E_CONFIG or
 * the plugin's code with *err set. */
int instance_create(struct plugin_registry *reg, const struct config *cfg,
                    const struct cfg_section *sec, const struct strvec *overrides,
                    struct instance **out, char **err);
/* The same for config check, without overrides: every error of the
 * section's keys goes to errs (a plugin that cannot be loaded, or whose
 * create() fails, is one error), one line each. */
int instance_create_all(struct plugin_registry *reg, const struct config *cfg,
                        const struct cfg_section *sec, struct instance **out, struct strvec *errs);
void instance_destroy(struct instance *in);

/* The plugin's detail for its last failure, or a generic word for rc. */
const char *instance_error(const struct instance *in, int rc);
/* Forget the last error detail, the stats and the warnings. */
void instance_reset(struct instance *in);

/* Every call into a plugin's ops goes through these.  Each clears the
 * error detail first, so a failure the plugin does not explain reads as
 * the code's generic word, never as an older call's message; and each
 * removes the instance's scratch directory once the op is over (for a
 * sink, once no writer or reader of it is open). */
const char *op_file_extension(struct instance *in);
int op_backup(struct instance *in, struct cairn_out *out);
int op_restore(struct instance *in, struct cairn_in *cin, unsigned flags);
int op_verify(struct instance *in, struct cairn_in *cin);
int op_restore_test(struct instance *in, struct cairn_in *cin);
/* A source's probe (ABI 1.2): CAIRN_E_UNSUPPORTED, without a call, when
 * the plugin has none. */
int op_probe(struct instance *in, char *summary, size_t len);
/* ABI 1.4: does the source follow a change log (it then has all three
 * ops: the loader refuses a plugin with only some)?  The ops below may
 * be called only when it does. */
int op_can_follow(const struct instance *in);
const char *op_log_extension(struct instance *in);
int op_follow(struct instance *in, const struct cairn_log_pos *from, struct cairn_log_out *out);
int op_replay(struct instance *in, struct cairn_log_replay *rp);
int op_open_write(struct instance *in, const char *key, cairn_sink_writer **w);
int op_write(struct instance *in, cairn_sink_writer *w, const void *buf, size_t len);
int op_commit(struct instance *in, cairn_sink_writer *w);
void op_abort(struct instance *in, cairn_sink_writer *w);
int op_open_read(struct instance *in, const char *key, cairn_sink_reader **r);
ssize_t op_read(struct instance *in, cairn_sink_reader *r, void *buf, size_t len);
void op_close_read(struct instance *in, cairn_sink_reader *r);
int op_list(struct instance *in, const char *prefix, cairn_list_cb cb, void *ud);
int op_remove(struct instance *in, const char *key);
int op_usage(struct instance *in, struct cairn_usage *u);
int op_lock(struct instance *in, const char *name, cairn_sink_lock **lk);
void op_unlock(struct instance *in, cairn_sink_lock *lk);

#endif
