/*
 * probe.c - `config check --connect`: connect and authenticate as a
 * backup does and count what it would dump.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "mongo_internal.h"

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
int
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
