/* cmd_serve.c - a small read-only HTTP endpoint (libmicrohttpd) for
 * monitoring: GET /status (the status --json document), /status/JOB,
 * /metrics (Prometheus) and /healthz (cairn check as 200/503).  Every
 * path but /healthz needs "Authorization: Bearer TOKEN", the token being
 * the first line of [serve] token_file, compared in constant time.
 *
 * It never writes and never runs a backup: it only gathers what status
 * gathers.  One internal thread answers all requests in turn (plugin
 * instances are not shared between threads), and what it gathered is
 * reused for CACHE_SECS, so a burst of requests costs one gathering and a
 * sink that is slow or down delays only the first request after that.
 * Connections beyond max_connections wait in the listen queue; request
 * headers are bounded by the connection memory limit; a body is refused. */
#include "autoconf.h"

#include "cmd.h"

#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#ifdef HAVE_LIBMICROHTTPD

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "metrics.h"
#include "status.h"

#define CACHE_SECS 5
#define TOKEN_MAX 4096
#define TLS_FILE_MAX (1024 * 1024)
/* Request line and headers of one connection must fit in this. */
#define REQUEST_MEMORY (32 * 1024)
#define CONNECTION_TIMEOUT 10 /* seconds of silence before a connection goes */

struct server {
	struct cli *c;
	unsigned char token_sha[SHA256_DIGEST_LENGTH];
	time_t gathered; /* 0: nothing cached */
	struct status_report report;
	char *status_doc, *metrics; /* from report */
	struct check_result check;
};

/* Read a small regular file whole (a token, a key): 0, or -1 with *err.
 * private_file: refuse it when group or others have any access. */
static int
read_private(const char *path, const char *what, size_t max, int private_file, char **data,
             size_t *len, char **err)
{
	struct stat st;
	size_t n = 0;
	char *buf;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		*err = xasprintf("cannot open the %s %s: %s", what, path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
		*err = xasprintf("the %s %s is not a regular file of at most %zu KiB", what, path,
		                 max >> 10);
		close(fd);
		return -1;
	}
	if (private_file && (st.st_mode & (S_IRWXG | S_IRWXO))) {
		*err = xasprintf("the %s %s can be read by others (mode %04o); chmod 600 it", what,
		                 path, (unsigned)(st.st_mode & 07777));
		close(fd);
		return -1;
	}
	buf = xmalloc(max + 1);
	for (;;) {
		ssize_t got = read(fd, buf + n, max - n);
		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			*err = xasprintf("cannot read the %s %s: %s", what, path, strerror(errno));
			free(buf);
			close(fd);
			return -1;
		}
		if (got == 0 || (n += (size_t)got) == max)
			break;
	}
	close(fd);
	buf[n] = '\0';
	*data = buf;
	*len = n;
	return 0;
}

static int
load_token(struct server *sv, const char *path, char **err)
{
	char *data;
	size_t len;
	if (read_private(path, "token_file", TOKEN_MAX, 1, &data, &len, err))
		return -1;
	len = strcspn(data, "\r\n");
	data[len] = '\0';
	if (len == 0) {
		*err = xasprintf("the token_file %s has an empty first line; put the token there",
		                 path);
		free(data);
		return -1;
	}
	SHA256((const unsigned char *)data, len, sv->token_sha);
	OPENSSL_cleanse(data, len);
	free(data);
	return 0;
}

/* "Bearer TOKEN" against the token: both hashed first, so the compare
 * takes the same time whatever the length or content sent. */
static int
authorized(const struct server *sv, struct MHD_Connection *conn)
{
	const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
	unsigned char got[SHA256_DIGEST_LENGTH];
	if (!h || strncmp(h, "Bearer ", 7) != 0)
		return 0;
	SHA256((const unsigned char *)h + 7, strlen(h + 7), got);
	return CRYPTO_memcmp(got, sv->token_sha, sizeof(got)) == 0;
}

static void
drop_cache(struct server *sv)
{
	if (!sv->gathered)
		return;
	status_free(&sv->report);
	check_result_free(&sv->check);
	free(sv->status_doc);
	free(sv->metrics);
	sv->status_doc = sv->metrics = NULL;
	sv->gathered = 0;
}

static void
refresh(struct server *sv)
{
	time_t now = time(NULL);
	json_t *doc;
	if (sv->gathered && now >= sv->gathered && now - sv->gathered < CACHE_SECS)
		return;
	drop_cache(sv);
	status_gather(&sv->c->reg, sv->c->cfg, NULL, &sv->report);
	doc = status_json(&sv->report);
	sv->status_doc = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
	json_decref(doc);
	sv->metrics = metrics_text(&sv->report);
	check_evaluate(&sv->report, &sv->check);
	sv->gathered = now;
}

static enum MHD_Result
reply(struct MHD_Connection *conn, unsigned status, const char *type, const char *body,
      const char *allow, int bearer)
{
	struct MHD_Response *r =
	        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_MUST_COPY);
	enum MHD_Result rc;
	if (!r)
		return MHD_NO;
	MHD_add_response_header(r, "Content-Type", type);
	MHD_add_response_header(r, "Cache-Control", "no-store");
	MHD_add_response_header(r, "X-Content-Type-Options", "nosniff");
	if (allow)
		MHD_add_response_header(r, "Allow", allow);
	if (bearer)
		MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
	rc = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return rc;
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
           const char *version, const char *upload_data, size_t *upload_data_size, void **ctx)
{
	struct server *sv = cls;
	const char *json = "application/json", *text = "text/plain; charset=utf-8";
	(void)version;
	(void)upload_data;
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, text, "method not allowed\n",
		             "GET, HEAD", 0);
	/* a GET with a body is not a request this server makes sense of */
	if (*upload_data_size ||
	    (*ctx == NULL && MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length") &&
	     strcmp(MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length"), "0") !=
	             0)) {
		*upload_data_size = 0;
		return reply(conn, MHD_HTTP_CONTENT_TOO_LARGE, text, "no body expected\n", NULL, 0);
	}
	if (strcmp(url, "/healthz") == 0) {
		refresh(sv);
		/* a warning still lets the service count as healthy */
		int bad = sv->check.state == CHECK_CRITICAL || sv->check.state == CHECK_UNKNOWN;
		char *body = xasprintf("%s\n", check_state_name(sv->check.state));
		enum MHD_Result rc = reply(conn, bad ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK,
		                           text, body, NULL, 0);
		free(body);
		return rc;
	}
	if (!authorized(sv, conn))
		return reply(conn, MHD_HTTP_UNAUTHORIZED, text, "unauthorized\n", NULL, 1);
	if (strcmp(url, "/status") == 0) {
		refresh(sv);
		char *body = xasprintf("%s\n", sv->status_doc);
		enum MHD_Result rc = reply(conn, MHD_HTTP_OK, json, body, NULL, 0);
		free(body);
		return rc;
	}
	if (strncmp(url, "/status/", 8) == 0 && valid_name(url + 8)) {
		refresh(sv);
		json_t *doc = status_job_json(&sv->report, url + 8);
		if (!doc)
			return reply(conn, MHD_HTTP_NOT_FOUND, text, "no such job\n", NULL, 0);
		char *s = json_dumps(doc, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
		char *body = xasprintf("%s\n", s);
		json_decref(doc);
		free(s);
		enum MHD_Result rc = reply(conn, MHD_HTTP_OK, json, body, NULL, 0);
		free(body);
		return rc;
	}
	if (strcmp(url, "/metrics") == 0) {
		refresh(sv);
		return reply(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8",
		             sv->metrics, NULL, 0);
	}
	return reply(conn, MHD_HTTP_NOT_FOUND, text, "not found\n", NULL, 0);
}

/* ADDR:PORT, [V6ADDR]:PORT: 0, or -1 with *err. */
static int
parse_listen(const char *text, struct sockaddr_storage *ss, int *v6, unsigned *port_out, char **err)
{
	const char *colon = strrchr(text, ':');
	char host[128];
	char *end;
	unsigned long port;
	size_t hl;
	memset(ss, 0, sizeof(*ss));
	if (!colon || (hl = (size_t)(colon - text)) == 0 || hl >= sizeof(host))
		goto bad;
	port = strtoul(colon + 1, &end, 10);
	if (!colon[1] || *end || port > 65535)
		goto bad;
	memcpy(host, text, hl);
	host[hl] = '\0';
	if (host[0] == '[' && host[hl - 1] == ']') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
		host[hl - 1] = '\0';
		if (inet_pton(AF_INET6, host + 1, &a->sin6_addr) != 1)
			goto bad;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		*v6 = 1;
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;
		if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			goto bad;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		*v6 = 0;
	}
	*port_out = (unsigned)port;
	return 0;
bad:
	*err = xasprintf("\"%s\" is not ADDR:PORT with a numeric address, e.g. 127.0.0.1:9135 "
	                 "or [::1]:9135",
	                 text);
	return -1;
}

static void
mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	char *msg = xvasprintf(fmt, ap);
	size_t n = strlen(msg);
	while (n && msg[n - 1] == '\n')
		msg[--n] = '\0';
	log_debug("serve: %s", msg);
	free(msg);
}

/* The options of serve: its row in cli.c gives them to the scan for global
 * options after the command and to completion. */
const struct option serve_options[] = {{"listen", required_argument, NULL, 'l'},
                                       {NULL, 0, NULL, 0}};

int
cmd_serve(struct cli *c, int argc, char **argv)
{
	const char *listen = NULL;
	struct server sv = {.c = c};
	struct sockaddr_storage addr;
	struct MHD_Daemon *d;
	char *err = NULL, *key = NULL, *cert = NULL;
	size_t len;
	unsigned port, flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG;
	int opt, rc, v6 = 0;

	while ((opt = getopt_long(argc, argv, "l:", serve_options, NULL)) != -1) {
		if (opt != 'l')
			return usage_error("serve: unknown option");
		listen = optarg;
	}
	if (optind != argc)
		return usage_error("serve takes no arguments");
	if ((rc = load_config(c)))
		return rc;
	if (!listen)
		listen = c->cfg->serve.listen;
	if (parse_listen(listen, &addr, &v6, &port, &err)) {
		log_error("serve: %s", err);
		free(err);
		return CAIRN_EXIT_USAGE;
	}
	if (!c->cfg->serve.token_file) {
		log_error("%s: [serve] has no token_file; give a file (mode 0600) whose first line "
		          "is the token clients send as \"Authorization: Bearer TOKEN\"",
		          c->cfg->path);
		return CAIRN_EXIT_CONFIG;
	}
	if (load_token(&sv, c->cfg->serve.token_file, &err)) {
		log_error("serve: %s", err);
		free(err);
		return CAIRN_EXIT_CONFIG;
	}
	if (c->cfg->serve.tls_cert) {
		if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
			log_error(
			        "serve: this libmicrohttpd was built without TLS; remove tls_cert "
			        "and tls_key or install one with GnuTLS");
			return CAIRN_EXIT_CONFIG;
		}
		if (read_private(c->cfg->serve.tls_key, "tls_key", TLS_FILE_MAX, 1, &key, &len,
		                 &err) ||
		    read_private(c->cfg->serve.tls_cert, "tls_cert", TLS_FILE_MAX, 0, &cert, &len,
		                 &err)) {
			log_error("serve: %s", err);
			free(err);
			free(key);
			return CAIRN_EXIT_CONFIG;
		}
		flags |= MHD_USE_TLS;
	}
	if (v6)
		flags |= MHD_USE_IPv6;
	d = MHD_start_daemon(flags, (uint16_t)port, NULL, NULL, on_request, &sv,
	                     MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr,
	                     MHD_OPTION_CONNECTION_LIMIT, (unsigned)c->cfg->serve.max_connections,
	                     MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)REQUEST_MEMORY,
	                     MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT,
	                     MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
	                     key ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, key,
	                     MHD_OPTION_HTTPS_MEM_CERT, cert, MHD_OPTION_END);
	if (!d) {
		log_error("serve: cannot listen on %s: %s; is another server using the port?",
		          listen, strerror(errno));
		free(key);
		free(cert);
		return CAIRN_EXIT_FAILED;
	}
	{
		const union MHD_DaemonInfo *info =
		        MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
		char host[128];
		snprintf(host, sizeof(host), "%.*s", (int)(strrchr(listen, ':') - listen), listen);
		printf("cairn serve: listening on %s://%s:%u\n", key ? "https" : "http", host,
		       info ? (unsigned)info->port : port);
		fflush(stdout);
	}
	/* the core's handlers set cancel_signal on SIGINT, SIGTERM, SIGHUP */
	while (!cancel_signal) {
		struct timespec ts = {0, 200 * 1000 * 1000};
		nanosleep(&ts, NULL);
	}
	MHD_stop_daemon(d);
	drop_cache(&sv);
	if (key)
		OPENSSL_cleanse(key, strlen(key));
	free(key);
	free(cert);
	log_info("serve: stopped by signal %d", (int)cancel_signal);
	return CAIRN_EXIT_OK;
}

#else /* !HAVE_LIBMICROHTTPD */

int
cmd_serve(struct cli *c, int argc, char **argv)
{
	(void)c;
	(void)argc;
	(void)argv;
	log_error("serve: this cairn was built without libmicrohttpd; install it (Debian: "
	          "libmicrohttpd-dev), run configure again and rebuild");
	return CAIRN_EXIT_FAILED;
}

#endif
