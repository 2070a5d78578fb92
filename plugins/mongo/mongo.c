/*
 * mongo.c - the `mongo` source: a MongoDB deployment as a `mongodump
 * --archive` stream.
 *
 * The top floor: the key table, create() and destroy(), and the
 * descriptor whose ops are the files below (backup.c, restore.c,
 * verify.c, restore_test.c, probe.c); mongo_internal.h draws the floors.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "mongo_internal.h"

/* ------------------------------------------------------------- config */

enum {
	MK_URI,
	MK_PASSWORD,
	MK_DATABASES,
	MK_INCLUDE,
	MK_EXCLUDE,
	MK_NS_FROM,
	MK_NS_TO,
	MK_DROP,
	MK_READ_PREFERENCE,
	MK_BATCH_SIZE,
	MK_OPLOG,
};

static const struct cairn_key mongo_keys[] = {
        [MK_URI] =
                {.name = "uri",
                 .type = CAIRN_KEY_STRING,
                 .flags = CAIRN_KEY_REQUIRED,
                 .help = "libmongoc connection string, e.g. mongodb://backup@db1,db2/?replicaSet=rs0 (put the password in `password`)"},
        [MK_PASSWORD] = {.name = "password",
                         .type = CAIRN_KEY_STRING,
                         .flags = CAIRN_KEY_SECRET,
                         .help = "replaces the uri's password; or password_file/password_env"},
        [MK_DATABASES] =
                {.name = "databases",
                 .type = CAIRN_KEY_LIST,
                 .flags = CAIRN_KEY_NO_RESTORE,
                 .help = "databases to back up (default: the uri's database, else all but admin, local and config)"},
        [MK_INCLUDE] =
                {.name = "include",
                 .type = CAIRN_KEY_LIST,
                 .help = "namespaces to back up or restore, db.coll with * wildcards (default: all)"},
        [MK_EXCLUDE] = {.name = "exclude",
                        .type = CAIRN_KEY_LIST,
                        .help = "namespaces to leave out, db.coll with * wildcards"},
        [MK_NS_FROM] =
                {.name = "ns_from",
                 .type = CAIRN_KEY_LIST,
                 .flags = CAIRN_KEY_NO_BACKUP,
                 .help = "restore: namespaces to rename, e.g. plato_menu.* (pairs with ns_to)"},
        [MK_NS_TO] = {.name = "ns_to",
                      .type = CAIRN_KEY_LIST,
                      .flags = CAIRN_KEY_NO_BACKUP,
                      .help = "restore: their new names, e.g. plato_restore.*"},
        [MK_DROP] = {.name = "drop",
                     .type = CAIRN_KEY_BOOL,
                     .flags = CAIRN_KEY_NO_BACKUP,
                     .default_value = "no",
                     .help = "restore: drop each collection before restoring it"},
        [MK_READ_PREFERENCE] =
                {.name = "read_preference",
                 .type = CAIRN_KEY_STRING,
                 .flags = CAIRN_KEY_NO_RESTORE,
                 .help = "primary, primaryPreferred, secondary, secondaryPreferred (default, unless the uri has readPreference) or nearest"},
        [MK_BATCH_SIZE] = {.name = "batch_size",
                           .type = CAIRN_KEY_INT,
                           .flags = CAIRN_KEY_NO_RESTORE,
                           .default_value = "0",
                           .help = "documents per cursor batch; 0: about 2 MiB of documents"},
        [MK_OPLOG] =
                {.name = "oplog",
                 .type = CAIRN_KEY_BOOL,
                 .flags = CAIRN_KEY_NO_RESTORE,
                 .default_value = "no",
                 .help = "capture the oplog written during the backup into the archive, as mongodump --oplog (needs a replica set member)"},
        {.name = NULL},
};

static void
mongo_strv_free(char **v, size_t n)
{
	for (size_t k = 0; k < n; k++)
		free(v[k]);
	free(v);
}

static void
mongo_destroy(void *instance)
{
	struct mongo_inst *mi = instance;
	if (!mi)
		return;
	if (mi->uri)
		mongoc_uri_destroy(mi->uri);
	free(mi->name);
	free(mi->server);
	mongo_strv_free(mi->databases, mi->ndatabases);
	mongo_strv_free(mi->include, mi->ninclude);
	mongo_strv_free(mi->exclude, mi->nexclude);
	for (size_t k = 0; k < mi->nrenames; k++) {
		free(mi->renames[k].from);
		free(mi->renames[k].to);
	}
	free(mi->renames);
	free(mi);
}

static int
mongo_copy_list(const struct cairn_value *v, char ***out, size_t *n)
{
	*out = NULL;
	*n = 0;
	if (!v->set || v->list_len == 0)
		return 0;
	*out = calloc(v->list_len, sizeof(char *));
	if (!*out)
		return CAIRN_E_NOMEM;
	for (size_t k = 0; k < v->list_len; k++) {
		if (!((*out)[k] = strdup(v->list[k])))
			return CAIRN_E_NOMEM;
		(*n)++;
	}
	return 0;
}

/* A namespace pattern: db.coll, the db part without wildcards' help. */
static int
mongo_check_pattern(struct mongo_inst *mi, const char *key, const char *p)
{
	const char *dot = strchr(p, '.');
	if (!dot || dot == p || !dot[1]) {
		mongo_err(
		        mi,
		        "key %s: \"%s\" is not a namespace pattern; write DB.COLLECTION, with * as a wildcard (e.g. shop.* or *.orders)",
		        key, p);
		return CAIRN_E_CONFIG;
	}
	return 0;
}

static char *
mongo_server_text(const mongoc_uri_t *uri)
{
	const mongoc_host_list_t *h = mongoc_uri_get_hosts(uri);
	char *s = NULL;
	size_t len = 0;
	FILE *f;
	if (!h) {
		const char *srv = mongoc_uri_get_srv_hostname(uri);
		if (asprintf(&s, "%s", srv ? srv : "(no host)") < 0)
			return NULL;
		return s;
	}
	f = open_memstream(&s, &len);
	if (!f)
		return NULL;
	for (int first = 1; h; h = h->next, first = 0)
		fprintf(f, "%s%s", first ? "" : ",", h->host_and_port);
	if (fclose(f) != 0) {
		free(s);
		return NULL;
	}
	return s;
}

static int
mongo_read_mode(struct mongo_inst *mi, const char *text)
{
	static const struct {
		const char *name;
		mongoc_read_mode_t mode;
	} modes[] = {
	        {"primary", MONGOC_READ_PRIMARY},
	        {"primaryPreferred", MONGOC_READ_PRIMARY_PREFERRED},
	        {"secondary", MONGOC_READ_SECONDARY},
	        {"secondaryPreferred", MONGOC_READ_SECONDARY_PREFERRED},
	        {"nearest", MONGOC_READ_NEAREST},
	};
	for (size_t k = 0; k < sizeof(modes) / sizeof(modes[0]); k++)
		if (!strcasecmp(text, modes[k].name)) {
			mi->read_mode = modes[k].mode;
			return 0;
		}
	mongo_err(
	        mi,
	        "key read_preference: \"%s\" is not one of primary, primaryPreferred, secondary, secondaryPreferred, nearest",
	        text);
	return CAIRN_E_CONFIG;
}

/* uri and password: the parsed URI with the secret set, and the hosts as
 * messages name them. */
static int
mongo_set_uri(struct mongo_inst *mi, const struct cairn_value *v)
{
	bson_error_t err;

	/* The URI's text may hold a password: never put it in a message. */
	mi->uri = mongoc_uri_new_with_error(v[MK_URI].text, &err);
	if (!mi->uri) {
		mongo_err(mi, "key uri: not a usable MongoDB connection string: %s", err.message);
		return CAIRN_E_CONFIG;
	}
	if (v[MK_PASSWORD].set) {
		if (!mongoc_uri_get_username(mi->uri)) {
			mongo_err(
			        mi,
			        "key password: the uri names no user; write it as mongodb://USER@HOST/");
			return CAIRN_E_CONFIG;
		}
		if (!mongoc_uri_set_password(mi->uri, v[MK_PASSWORD].text)) {
			mongo_err(mi, "key password: libmongoc refuses it (not UTF-8?)");
			return CAIRN_E_CONFIG;
		}
	}
	if (!(mi->server = mongo_server_text(mi->uri)))
		return CAIRN_E_NOMEM;
	return 0;
}

/* databases, include and exclude: what a backup dumps and a restore
 * restores. */
static int
mongo_set_selection(struct mongo_inst *mi, const struct cairn_value *v)
{
	int rc;

	if (mongo_copy_list(&v[MK_DATABASES], &mi->databases, &mi->ndatabases) < 0 ||
	    mongo_copy_list(&v[MK_INCLUDE], &mi->include, &mi->ninclude) < 0 ||
	    mongo_copy_list(&v[MK_EXCLUDE], &mi->exclude, &mi->nexclude) < 0)
		return CAIRN_E_NOMEM;
	for (size_t k = 0; k < mi->ndatabases; k++) {
		const char *why = mongo_bad_db_name(mi->databases[k]);
		if (why) {
			mongo_err(mi, "key databases: \"%s\" is not a database name: %s",
			          mi->databases[k], why);
			return CAIRN_E_CONFIG;
		}
	}
	for (size_t k = 0; k < mi->ninclude; k++)
		if ((rc = mongo_check_pattern(mi, "include", mi->include[k])) < 0)
			return rc;
	for (size_t k = 0; k < mi->nexclude; k++)
		if ((rc = mongo_check_pattern(mi, "exclude", mi->exclude[k])) < 0)
			return rc;
	return 0;
}

/* ns_from and ns_to, pair by pair. */
static int
mongo_pair_renames(struct mongo_inst *mi, char **from, char **to, size_t n)
{
	int rc;

	if (!(mi->renames = calloc(n, sizeof(*mi->renames))))
		return CAIRN_E_NOMEM;
	for (size_t k = 0; k < n; k++) {
		if ((rc = mongo_check_pattern(mi, "ns_from", from[k])) < 0 ||
		    (rc = mongo_check_pattern(mi, "ns_to", to[k])) < 0)
			return rc;
		if (mongo_stars(from[k]) != mongo_stars(to[k])) {
			mongo_err(
			        mi,
			        "keys ns_from and ns_to: \"%s\" and \"%s\" have different numbers of *; each * of ns_to takes what one * of ns_from matched",
			        from[k], to[k]);
			return CAIRN_E_CONFIG;
		}
		mi->renames[k].from = from[k];
		mi->renames[k].to = to[k];
		from[k] = to[k] = NULL;
		mi->nrenames++;
	}
	return 0;
}

/* ns_from and ns_to: the restore's renames. */
static int
mongo_set_renames(struct mongo_inst *mi, const struct cairn_value *v)
{
	char **from = NULL, **to = NULL;
	size_t nfrom = 0, nto = 0;
	int rc = 0;

	if (mongo_copy_list(&v[MK_NS_FROM], &from, &nfrom) < 0 ||
	    mongo_copy_list(&v[MK_NS_TO], &to, &nto) < 0)
		rc = CAIRN_E_NOMEM;
	else if (nfrom != nto) {
		mongo_err(
		        mi,
		        "keys ns_from and ns_to: %zu against %zu namespaces; give one ns_to for each ns_from",
		        nfrom, nto);
		rc = CAIRN_E_CONFIG;
	} else if (nfrom)
		rc = mongo_pair_renames(mi, from, to, nfrom);
	mongo_strv_free(from, nfrom);
	mongo_strv_free(to, nto);
	return rc;
}

/* read_preference, batch_size and drop. */
static int
mongo_set_options(struct mongo_inst *mi, const struct cairn_value *v)
{
	int rc;

	if (v[MK_READ_PREFERENCE].set) {
		if ((rc = mongo_read_mode(mi, v[MK_READ_PREFERENCE].text)) < 0)
			return rc;
	} else if (mongoc_uri_get_option_as_utf8(mi->uri, MONGOC_URI_READPREFERENCE, NULL)) {
		mi->read_mode = mongoc_read_prefs_get_mode(mongoc_uri_get_read_prefs_t(mi->uri));
	} else
		mi->read_mode = MONGOC_READ_SECONDARY_PREFERRED;
	mi->batch_size = v[MK_BATCH_SIZE].set ? v[MK_BATCH_SIZE].i : 0;
	if (mi->batch_size < 0 || mi->batch_size > INT32_MAX) {
		mongo_err(
		        mi,
		        "key batch_size: %lld is out of range; use 0 (the server's choice) or a positive number",
		        (long long)mi->batch_size);
		return CAIRN_E_CONFIG;
	}
	mi->drop = v[MK_DROP].set && v[MK_DROP].i;
	mi->oplog = v[MK_OPLOG].set && v[MK_OPLOG].i;
	return 0;
}

static int
mongo_create(cairn_ctx *ctx, const struct cairn_config *cfg, void **instance)
{
	const struct cairn_value *v = cfg->values;
	struct mongo_inst *mi;
	int rc = CAIRN_E_NOMEM;

	mongo_global_init();
	mi = calloc(1, sizeof(*mi));
	if (!mi) {
		mongo_host->set_error(ctx, "out of memory");
		return CAIRN_E_NOMEM;
	}
	mi->ctx = ctx;
	if ((mi->name = strdup(cfg->instance ? cfg->instance : "mongo")) &&
	    (rc = mongo_set_uri(mi, v)) == 0 && (rc = mongo_set_selection(mi, v)) == 0 &&
	    (rc = mongo_set_renames(mi, v)) == 0 && (rc = mongo_set_options(mi, v)) == 0) {
		/* No connection here: `config check` calls create(). */
		*instance = mi;
		return 0;
	}
	if (rc == CAIRN_E_NOMEM)
		mongo_host->set_error(ctx, "out of memory");
	mongo_destroy(mi);
	return rc;
}

static const char *
mongo_file_extension(void *instance)
{
	(void)instance;
	return "archive";
}

/* ---------------------------------------------------------- descriptor */

static const struct cairn_source_ops mongo_ops = {
        .struct_size = sizeof(struct cairn_source_ops),
        .create = mongo_create,
        .destroy = mongo_destroy,
        .file_extension = mongo_file_extension,
        .backup = mongo_backup,
        .restore = mongo_restore,
        .verify = mongo_verify,
        .restore_test = mongo_restore_test,
        /* No staging: the documents go straight into the server as they
	 * are read, so the core checks the whole stored object first and
	 * then calls restore(), which reads it a second time. */
        .flags = 0,
        .probe = mongo_probe,
        .log_extension = mongo_log_extension,
        .follow = mongo_follow,
        .replay = mongo_replay,
};

static const struct cairn_plugin mongo_plugin = {
        .struct_size = sizeof(struct cairn_plugin),
        .abi_major = CAIRN_ABI_MAJOR,
        .abi_minor = CAIRN_ABI_MINOR,
        .name = "mongo",
        .version = MONGO_VERSION,
        .kind = CAIRN_KIND_SOURCE,
        .description = "MongoDB as mongodump --archive streams (libmongoc)",
        .keys = mongo_keys,
        .source = &mongo_ops,
        .sink = NULL,
};

CAIRN_EXPORT const struct cairn_plugin *
cairn_plugin_entry(const struct cairn_host *host)
{
	mongo_host = host;
	return &mongo_plugin;
}
