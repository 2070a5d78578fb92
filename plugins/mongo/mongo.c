/*
 * mongo.c - the `mongo` source: a MongoDB deployment as a `mongodump
 * --archive` stream.
 *
 * This file holds the configuration, the connection, namespace patterns
 * and the descriptor; backup.c writes the archive, restore.c restores,
 * verifies and test-restores it, dumparchive.c knows the format.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "mongo.h"

#include <pthread.h>

const struct cairn_host *mongo_host;

/* ------------------------------------------------------ process state */

static void
mongo_log_nowhere(mongoc_log_level_t level, const char *domain, const char *message, void *u)
{
	(void)level;
	(void)domain;
	(void)message;
	(void)u;
}

static pthread_once_t mongo_once = PTHREAD_ONCE_INIT;

static void
mongo_init_once(void)
{
	/* See mongo.h: once per process, never undone. */
	mongoc_log_set_handler(mongo_log_nowhere, NULL);
	mongoc_init();
}

void
mongo_global_init(void)
{
	pthread_once(&mongo_once, mongo_init_once);
}

/* ------------------------------------------------------------ helpers */

void
mongo_err(struct mongo_inst *mi, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (CAIRN_HOST_HAS(mongo_host, vset_error) && mongo_host->vset_error)
		mongo_host->vset_error(mi->ctx, fmt, ap);
	else {
		char buf[2048];
		vsnprintf(buf, sizeof(buf), fmt, ap);
		mongo_host->set_error(mi->ctx, "%s", buf);
	}
	va_end(ap);
}

void
mongo_log(struct mongo_inst *mi, enum cairn_log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	if (CAIRN_HOST_HAS(mongo_host, vlog) && mongo_host->vlog)
		mongo_host->vlog(mi->ctx, level, fmt, ap);
	else {
		char buf[2048];
		vsnprintf(buf, sizeof(buf), fmt, ap);
		mongo_host->log(mi->ctx, level, "%s", buf);
	}
	va_end(ap);
}

int
mongo_code(const bson_error_t *e)
{
	if (e->domain == MONGOC_ERROR_CLIENT && e->code == MONGOC_ERROR_CLIENT_AUTHENTICATE)
		return CAIRN_E_AUTH;
	/* server codes: 18 AuthenticationFailed, 13 Unauthorized */
	if ((e->domain == MONGOC_ERROR_SERVER || e->domain == MONGOC_ERROR_QUERY ||
	     e->domain == MONGOC_ERROR_COMMAND) &&
	    (e->code == 18 || e->code == 13))
		return CAIRN_E_AUTH;
	if (e->domain == MONGOC_ERROR_BSON)
		return CAIRN_E_CORRUPT;
	return CAIRN_E_IO;
}

/* `*` matches any run of characters; caps (if not NULL) get the start and
 * length of what each `*` matched, leftmost shortest first. */
static int
mongo_match(const char *p, const char *t, const char **cap, size_t *caplen)
{
	if (!*p)
		return !*t;
	if (*p == '*') {
		for (const char *s = t;; s++) {
			if (mongo_match(p + 1, s, cap ? cap + 1 : NULL,
			                caplen ? caplen + 1 : NULL)) {
				if (cap) {
					cap[0] = t;
					caplen[0] = (size_t)(s - t);
				}
				return 1;
			}
			if (!*s)
				return 0;
		}
	}
	return *p == *t && mongo_match(p + 1, t + 1, cap, caplen);
}

int
mongo_glob(const char *pattern, const char *text)
{
	return mongo_match(pattern, text, NULL, NULL);
}

static size_t
mongo_stars(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += *s == '*';
	return n;
}

int
mongo_selected(const struct mongo_inst *mi, const char *db, const char *coll)
{
	char *ns;
	int yes = mi->ninclude == 0;
	if (asprintf(&ns, "%s.%s", db, coll) < 0)
		return 0;
	for (size_t k = 0; !yes && k < mi->ninclude; k++)
		yes = mongo_glob(mi->include[k], ns);
	for (size_t k = 0; yes && k < mi->nexclude; k++)
		yes = !mongo_glob(mi->exclude[k], ns);
	free(ns);
	return yes;
}

char *
mongo_rename_ns(const struct mongo_inst *mi, const char *db, const char *coll)
{
	char *ns, *out;
	if (asprintf(&ns, "%s.%s", db, coll) < 0)
		return NULL;
	for (size_t k = 0; k < mi->nrenames; k++) {
		size_t nst = mongo_stars(mi->renames[k].from), len = 0, c = 0;
		const char **cap = calloc(nst + 1, sizeof(*cap));
		size_t *caplen = calloc(nst + 1, sizeof(*caplen));
		if (!cap || !caplen) {
			free(cap);
			free(caplen);
			free(ns);
			return NULL;
		}
		if (!mongo_match(mi->renames[k].from, ns, cap, caplen)) {
			free(cap);
			free(caplen);
			continue;
		}
		for (const char *t = mi->renames[k].to; *t; t++)
			len += *t == '*' ? caplen[c++] : 1;
		out = malloc(len + 1);
		if (out) {
			char *o = out;
			c = 0;
			for (const char *t = mi->renames[k].to; *t; t++) {
				if (*t == '*') {
					memcpy(o, cap[c], caplen[c]);
					o += caplen[c++];
				} else
					*o++ = *t;
			}
			*o = '\0';
		}
		free(cap);
		free(caplen);
		free(ns);
		return out;
	}
	return ns;
}

const char *
mongo_bad_db_name(const char *name)
{
	if (!*name)
		return "it is empty";
	if (strlen(name) > 63)
		return "it is longer than 63 bytes";
	if (strpbrk(name, "/\\. \"$"))
		return "it holds one of / \\ . space \" $";
	return NULL;
}

const char *
mongo_bad_coll_name(const char *name)
{
	if (!*name)
		return "it is empty";
	if (strchr(name, '$'))
		return "it holds a $";
	return NULL;
}

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
};

static const struct cairn_key mongo_keys[] = {
        [MK_URI] = {.name = "uri",
                    .type = CAIRN_KEY_STRING,
                    .flags = CAIRN_KEY_REQUIRED,
                    .help = "libmongoc connection string, e.g. mongodb://backup@db1,db2/"
                            "?replicaSet=rs0 (put the password in `password`)"},
        [MK_PASSWORD] = {.name = "password",
                         .type = CAIRN_KEY_STRING,
                         .flags = CAIRN_KEY_SECRET,
                         .help = "replaces the uri's password; or password_file/password_env"},
        [MK_DATABASES] = {.name = "databases",
                          .type = CAIRN_KEY_LIST,
                          .flags = CAIRN_KEY_NO_RESTORE,
                          .help = "databases to back up (default: the uri's database, else all "
                                  "but admin, local and config)"},
        [MK_INCLUDE] = {.name = "include",
                        .type = CAIRN_KEY_LIST,
                        .help = "namespaces to back up or restore, db.coll with * wildcards "
                                "(default: all)"},
        [MK_EXCLUDE] = {.name = "exclude",
                        .type = CAIRN_KEY_LIST,
                        .help = "namespaces to leave out, db.coll with * wildcards"},
        [MK_NS_FROM] = {.name = "ns_from",
                        .type = CAIRN_KEY_LIST,
                        .flags = CAIRN_KEY_NO_BACKUP,
                        .help = "restore: namespaces to rename, e.g. plato_menu.* (pairs with "
                                "ns_to)"},
        [MK_NS_TO] = {.name = "ns_to",
                      .type = CAIRN_KEY_LIST,
                      .flags = CAIRN_KEY_NO_BACKUP,
                      .help = "restore: their new names, e.g. plato_restore.*"},
        [MK_DROP] = {.name = "drop",
                     .type = CAIRN_KEY_BOOL,
                     .flags = CAIRN_KEY_NO_BACKUP,
                     .default_value = "no",
                     .help = "restore: drop each collection before restoring it"},
        [MK_READ_PREFERENCE] = {.name = "read_preference",
                                .type = CAIRN_KEY_STRING,
                                .flags = CAIRN_KEY_NO_RESTORE,
                                .help = "primary, primaryPreferred, secondary, "
                                        "secondaryPreferred (default, unless the uri has "
                                        "readPreference) or nearest"},
        [MK_BATCH_SIZE] = {.name = "batch_size",
                           .type = CAIRN_KEY_INT,
                           .flags = CAIRN_KEY_NO_RESTORE,
                           .default_value = "0",
                           .help = "documents per cursor batch; 0: about 2 MiB of documents"},
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
		mongo_err(mi,
		          "key %s: \"%s\" is not a namespace pattern; write DB.COLLECTION, "
		          "with * as a wildcard (e.g. shop.* or *.orders)",
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
	mongo_err(mi,
	          "key read_preference: \"%s\" is not one of primary, primaryPreferred, "
	          "secondary, secondaryPreferred, nearest",
	          text);
	return CAIRN_E_CONFIG;
}

static int
mongo_create(cairn_ctx *ctx, const struct cairn_config *cfg, void **instance)
{
	const struct cairn_value *v = cfg->values;
	struct mongo_inst *mi;
	bson_error_t err;
	char **from = NULL, **to = NULL;
	size_t nfrom = 0, nto = 0;
	int rc = CAIRN_E_NOMEM;

	mongo_global_init();
	mi = calloc(1, sizeof(*mi));
	if (!mi) {
		mongo_host->set_error(ctx, "out of memory");
		return CAIRN_E_NOMEM;
	}
	mi->ctx = ctx;
	if (!(mi->name = strdup(cfg->instance ? cfg->instance : "mongo")))
		goto nomem;

	/* The URI's text may hold a password: never put it in a message. */
	mi->uri = mongoc_uri_new_with_error(v[MK_URI].text, &err);
	if (!mi->uri) {
		mongo_err(mi, "key uri: not a usable MongoDB connection string: %s", err.message);
		rc = CAIRN_E_CONFIG;
		goto fail;
	}
	if (v[MK_PASSWORD].set) {
		if (!mongoc_uri_get_username(mi->uri)) {
			mongo_err(mi, "key password: the uri names no user; write it as "
			              "mongodb://USER@HOST/");
			rc = CAIRN_E_CONFIG;
			goto fail;
		}
		if (!mongoc_uri_set_password(mi->uri, v[MK_PASSWORD].text)) {
			mongo_err(mi, "key password: libmongoc refuses it (not UTF-8?)");
			rc = CAIRN_E_CONFIG;
			goto fail;
		}
	}
	if (!(mi->server = mongo_server_text(mi->uri)))
		goto nomem;

	if (mongo_copy_list(&v[MK_DATABASES], &mi->databases, &mi->ndatabases) < 0 ||
	    mongo_copy_list(&v[MK_INCLUDE], &mi->include, &mi->ninclude) < 0 ||
	    mongo_copy_list(&v[MK_EXCLUDE], &mi->exclude, &mi->nexclude) < 0 ||
	    mongo_copy_list(&v[MK_NS_FROM], &from, &nfrom) < 0 ||
	    mongo_copy_list(&v[MK_NS_TO], &to, &nto) < 0)
		goto nomem;
	for (size_t k = 0; k < mi->ndatabases; k++) {
		const char *why = mongo_bad_db_name(mi->databases[k]);
		if (why) {
			mongo_err(mi, "key databases: \"%s\" is not a database name: %s",
			          mi->databases[k], why);
			rc = CAIRN_E_CONFIG;
			goto fail;
		}
	}
	for (size_t k = 0; k < mi->ninclude; k++)
		if ((rc = mongo_check_pattern(mi, "include", mi->include[k])) < 0)
			goto fail;
	for (size_t k = 0; k < mi->nexclude; k++)
		if ((rc = mongo_check_pattern(mi, "exclude", mi->exclude[k])) < 0)
			goto fail;
	if (nfrom != nto) {
		mongo_err(mi,
		          "keys ns_from and ns_to: %zu against %zu namespaces; give one "
		          "ns_to for each ns_from",
		          nfrom, nto);
		rc = CAIRN_E_CONFIG;
		goto fail;
	}
	if (nfrom) {
		mi->renames = calloc(nfrom, sizeof(*mi->renames));
		if (!mi->renames)
			goto nomem;
		for (size_t k = 0; k < nfrom; k++) {
			if ((rc = mongo_check_pattern(mi, "ns_from", from[k])) < 0 ||
			    (rc = mongo_check_pattern(mi, "ns_to", to[k])) < 0)
				goto fail;
			if (mongo_stars(from[k]) != mongo_stars(to[k])) {
				mongo_err(mi,
				          "keys ns_from and ns_to: \"%s\" and \"%s\" have "
				          "different numbers of *; each * of ns_to takes "
				          "what one * of ns_from matched",
				          from[k], to[k]);
				rc = CAIRN_E_CONFIG;
				goto fail;
			}
			mi->renames[k].from = from[k];
			mi->renames[k].to = to[k];
			from[k] = to[k] = NULL;
			mi->nrenames++;
		}
	}

	if (v[MK_READ_PREFERENCE].set) {
		if ((rc = mongo_read_mode(mi, v[MK_READ_PREFERENCE].text)) < 0)
			goto fail;
	} else if (mongoc_uri_get_option_as_utf8(mi->uri, MONGOC_URI_READPREFERENCE, NULL)) {
		mi->read_mode = mongoc_read_prefs_get_mode(mongoc_uri_get_read_prefs_t(mi->uri));
	} else
		mi->read_mode = MONGOC_READ_SECONDARY_PREFERRED;
	mi->batch_size = v[MK_BATCH_SIZE].set ? v[MK_BATCH_SIZE].i : 0;
	if (mi->batch_size < 0 || mi->batch_size > INT32_MAX) {
		mongo_err(mi,
		          "key batch_size: %lld is out of range; use 0 (the server's "
		          "choice) or a positive number",
		          (long long)mi->batch_size);
		rc = CAIRN_E_CONFIG;
		goto fail;
	}
	mi->drop = v[MK_DROP].set && v[MK_DROP].i;
	mongo_strv_free(from, nfrom);
	mongo_strv_free(to, nto);
	/* No connection here: `config check` calls create(). */
	*instance = mi;
	return 0;

nomem:
	mongo_host->set_error(ctx, "out of memory");
	rc = CAIRN_E_NOMEM;
fail:
	mongo_strv_free(from, nfrom);
	mongo_strv_free(to, nto);
	mongo_destroy(mi);
	return rc;
}

/* --------------------------------------------------------- connecting */

mongoc_client_t *
mongo_connect(struct mongo_inst *mi, int primary, int *rc)
{
	mongoc_client_t *client;
	mongoc_read_prefs_t *rp;
	bson_t cmd = BSON_INITIALIZER, reply;
	bson_error_t err;
	int ok;

	client = mongoc_client_new_from_uri_with_error(mi->uri, &err);
	if (!client) {
		mongo_err(mi, "server %s: %s", mi->server, err.message);
		*rc = CAIRN_E_CONFIG;
		bson_destroy(&cmd);
		return NULL;
	}
	mongoc_client_set_error_api(client, MONGOC_ERROR_API_VERSION_2);
	mongoc_client_set_appname(client, "cairn-mongo");
	/* a restore reads what it is about to write: from the primary */
	rp = mongoc_read_prefs_new(primary ? MONGOC_READ_PRIMARY : mi->read_mode);
	mongoc_client_set_read_prefs(client, rp);
	/* The first command connects and authenticates: a wrong password or
	 * an unreachable server fails here, before anything is written. */
	BSON_APPEND_INT32(&cmd, "ping", 1);
	ok = mongoc_client_command_simple(client, "admin", &cmd, rp, &reply, &err);
	bson_destroy(&cmd);
	bson_destroy(&reply);
	mongoc_read_prefs_destroy(rp);
	if (!ok) {
		*rc = mongo_code(&err);
		if (*rc == CAIRN_E_AUTH)
			mongo_err(mi,
			          "server %s: authentication failed (%s); check the user in "
			          "the uri and the password",
			          mi->server, err.message);
		else
			mongo_err(mi, "server %s: cannot connect: %s", mi->server, err.message);
		mongoc_client_destroy(client);
		return NULL;
	}
	*rc = 0;
	return client;
}

/* The collections of dbname that backup() would dump (include/exclude
 * applied, system collections left out) added to *n. */
static int
mongo_probe_db(struct mongo_inst *mi, mongoc_client_t *client, const char *dbname, long *n)
{
	mongoc_database_t *db = mongoc_client_get_database(client, dbname);
	bson_error_t err;
	char **names = mongoc_database_get_collection_names_with_opts(db, NULL, &err);

	mongoc_database_destroy(db);
	if (!names) {
		mongo_err(mi, "server %s: listCollections of %s failed: %s", mi->server, dbname,
		          err.message);
		return mongo_code(&err);
	}
	for (size_t k = 0; names[k]; k++)
		if (strncmp(names[k], "system.", 7) != 0 && mongo_selected(mi, dbname, names[k]))
			(*n)++;
	bson_strfreev(names);
	return 0;
}

/* config check --connect: connect and authenticate as backup() does, then
 * list the databases it would dump (the configured ones, the URI's, else
 * listDatabases but admin, local and config) and their collections. */
static int
mongo_probe(void *instance, char *summary, size_t len)
{
	struct mongo_inst *mi = instance;
	const char *uri_db = mongoc_uri_get_database(mi->uri);
	char **names = NULL;
	long ndbs = 0, ncolls = 0;
	bson_error_t err;
	int rc;
	mongoc_client_t *client = mongo_connect(mi, 0, &rc);

	if (!client)
		return rc;
	if (mi->ndatabases == 0 && !uri_db) {
		names = mongoc_client_get_database_names_with_opts(client, NULL, &err);
		if (!names) {
			mongo_err(mi, "server %s: listDatabases failed: %s", mi->server,
			          err.message);
			mongoc_client_destroy(client);
			return mongo_code(&err);
		}
	}
	for (size_t k = 0; rc == 0; k++) {
		const char *db;
		if (names)
			db = names[k];
		else if (mi->ndatabases)
			db = k < mi->ndatabases ? mi->databases[k] : NULL;
		else
			db = k == 0 ? uri_db : NULL;
		if (!db)
			break;
		if (names &&
		    (!strcmp(db, "admin") || !strcmp(db, "local") || !strcmp(db, "config")))
			continue;
		ndbs++;
		rc = mongo_probe_db(mi, client, db, &ncolls);
	}
	bson_strfreev(names);
	mongoc_client_destroy(client);
	if (rc == 0)
		snprintf(summary, len, "mongodb://%s reached, %ld database%s, %ld collection%s",
		         mi->server, ndbs, ndbs == 1 ? "" : "s", ncolls, ncolls == 1 ? "" : "s");
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

int
mongo_bson_sub(const bson_t *b, const char *key, int array, bson_t *out)
{
	bson_iter_t it;
	uint32_t len;
	const uint8_t *data;
	if (!bson_iter_init_find(&it, b, key))
		return 0;
	if (array ? !BSON_ITER_HOLDS_ARRAY(&it) : !BSON_ITER_HOLDS_DOCUMENT(&it))
		return 0;
	if (array)
		bson_iter_array(&it, &len, &data);
	else
		bson_iter_document(&it, &len, &data);
	return bson_init_static(out, data, len);
}
