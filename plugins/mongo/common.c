/*
 * common.c - the bottom floor of the mongo source: the host, libmongoc's
 * process-wide set-up, log and error helpers, the connection, and the
 * BSON helper every other file uses.
 *
 * SPDX-License-Identifier: MIT
 */
#define _GNU_SOURCE
#include "mongo_internal.h"

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
	cairn_verror(mongo_host, mi->ctx, fmt, ap);
	va_end(ap);
}

void
mongo_log(struct mongo_inst *mi, enum cairn_log_level level, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	cairn_vlog(mongo_host, mi->ctx, level, fmt, ap);
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

/* --------------------------------------------------------- connecting */

mongoc_client_t *
mongo_connect(struct mongo_inst *mi, int primary, int *rc)
{
	return mongo_connect_uri(mi, mi->uri, primary, rc);
}

mongoc_client_t *
mongo_connect_uri(struct mongo_inst *mi, const mongoc_uri_t *uri, int primary, int *rc)
{
	mongoc_client_t *client;
	mongoc_read_prefs_t *rp;
	bson_t cmd = BSON_INITIALIZER, reply;
	bson_error_t err;
	int ok;

	client = mongoc_client_new_from_uri_with_error(uri, &err);
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
			mongo_err(
			        mi,
			        "server %s: authentication failed (%s); check the user in the uri and the password",
			        mi->server, err.message);
		else
			mongo_err(mi, "server %s: cannot connect: %s", mi->server, err.message);
		mongoc_client_destroy(client);
		return NULL;
	}
	*rc = 0;
	return client;
}
