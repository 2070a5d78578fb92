/* cmd_serve.c - a small read-only HTTP endpoint (libmicrohttpd) for
 * monitoring: GET /status (the status --json document), /status/JOB,
 * /metrics (Prometheus) and /healthz (cairn check as 200/503).  Every
 * path but /healthz needs "Authorization: Bearer TOKEN", the token being
 * the first line of [serve] token_file, compared in constant time.
 *
 * It never writes and never runs a backup: it only shows what status
 * shows.  The status is gathered in the background, one thread per sink
 * (serve_cache.c), so no request waits for a sink and a slow sink delays
 * only its own part; /healthz reads the same cache.  Clients reach
 * libmicrohttpd through serve_front.c, which hands over a connection only
 * once its request header is whole, answers 408 to one that trickles and
 * 503 past max_connections.  One request per connection; request headers
 * are bounded by REQUEST_MEMORY; a body is refused. */
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
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "serve_cache.h"
#include "serve_front.h"
#include "status.h"

#define CACHE_SECS 5
#define TOKEN_MIN 16
#define TOKEN_MAX 4096
#define TLS_FILE_MAX (1024 * 1024)
/* Request line and headers of one connection must fit in this. */
#define REQUEST_MEMORY (32 * 1024)
#define CONNECTION_TIMEOUT 10 /* seconds of silence before a connection goes */
/* On SIGTERM, a status thread inside a slow sink is waited for this long. */
#define STOP_GRACE_MS 1000

struct server {
	struct cli *c;
	unsigned char token_sha[SHA256_DIGEST_LENGTH];
	struct serve_cache *cache;
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
	if (len < TOKEN_MIN) {
		/* a short token is guessed; say how to make a good one */
		*err = xasprintf(
		        "the token in token_file %s is %zu characters long; use at least %d, e.g. the output of: openssl rand -hex 32",
		        path, len, TOKEN_MIN);
		OPENSSL_cleanse(data, len);
		free(data);
		return -1;
	}
	SHA256((const unsigned char *)data, len, sv->token_sha);
	OPENSSL_cleanse(data, len);
	free(data);
	return 0;
}

/* "Bearer TOKEN" against the token: both hashed first, so the compare
 * takes the same time whatever the length or content sent.  The scheme
 * is case-insensitive (RFC 9110, 11.1). */
static int
authorized(const struct server *sv, struct MHD_Connection *conn)
{
	const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Authorization");
	unsigned char got[SHA256_DIGEST_LENGTH];
	if (!h || strncasecmp(h, "Bearer ", 7) != 0)
		return 0;
	h += 7;
	while (*h == ' ')
		h++;
	SHA256((const unsigned char *)h, strlen(h), got);
	return CRYPTO_memcmp(got, sv->token_sha, sizeof(got)) == 0;
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
	/* one request per connection: a client cannot keep a connection
	 * open by trickling its next request (see serve_front.h) */
	MHD_add_response_header(r, "Connection", "close");
	if (allow)
		MHD_add_response_header(r, "Allow", allow);
	if (bearer)
		MHD_add_response_header(r, "WWW-Authenticate", "Bearer");
	rc = MHD_queue_response(conn, status, r);
	MHD_destroy_response(r);
	return rc;
}

/* Does the request carry a body (a length other than 0, or chunks)? */
static int
has_body(struct MHD_Connection *conn, size_t upload_size)
{
	const char *cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Content-Length");
	return upload_size || (cl && strcmp(cl, "0") != 0) ||
	       MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "Transfer-Encoding");
}

static enum MHD_Result
answer(struct server *sv, struct MHD_Connection *conn, const char *url)
{
	const char *json = "application/json", *text = "text/plain; charset=utf-8";
	char *doc = NULL, *body;
	enum MHD_Result rc;
	if (strcmp(url, "/status") == 0 ||
	    (strncmp(url, "/status/", 8) == 0 && valid_name(url + 8))) {
		serve_cache_render(sv->cache, url[7] ? url + 8 : NULL, &doc, NULL, NULL);
		if (!doc)
			return reply(conn, MHD_HTTP_NOT_FOUND, text, "no such job\n", NULL, 0);
		body = xasprintf("%s\n", doc);
		rc = reply(conn, MHD_HTTP_OK, json, body, NULL, 0);
		free(body);
		free(doc);
		return rc;
	}
	if (strcmp(url, "/metrics") == 0) {
		serve_cache_render(sv->cache, NULL, NULL, &doc, NULL);
		rc = reply(conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", doc, NULL,
		           0);
		free(doc);
		return rc;
	}
	return reply(conn, MHD_HTTP_NOT_FOUND, text, "not found\n", NULL, 0);
}

static enum MHD_Result
on_request(void *cls, struct MHD_Connection *conn, const char *url, const char *method,
           const char *version, const char *upload_data, size_t *upload_data_size, void **ctx)
{
	struct server *sv = cls;
	const char *text = "text/plain; charset=utf-8";
	(void)version;
	(void)upload_data;
	(void)ctx;
	if (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0)
		return reply(conn, MHD_HTTP_METHOD_NOT_ALLOWED, text, "method not allowed\n",
		             "GET, HEAD", 0);
	/* a GET with a body is not a request this server makes sense of */
	if (has_body(conn, *upload_data_size)) {
		*upload_data_size = 0;
		return reply(conn, MHD_HTTP_CONTENT_TOO_LARGE, text, "no body expected\n", NULL, 0);
	}
	if (strcmp(url, "/healthz") == 0) {
		/* from the cache: a health check never waits for a sink */
		enum check_state state;
		serve_cache_render(sv->cache, NULL, NULL, NULL, &state);
		/* a warning still lets the service count as healthy */
		int bad = state == CHECK_CRITICAL || state == CHECK_UNKNOWN;
		char *body = xasprintf("%s\n", check_state_name(state));
		enum MHD_Result rc = reply(conn, bad ? MHD_HTTP_SERVICE_UNAVAILABLE : MHD_HTTP_OK,
		                           text, body, NULL, 0);
		free(body);
		return rc;
	}
	if (!authorized(sv, conn))
		return reply(conn, MHD_HTTP_UNAUTHORIZED, text, "unauthorized\n", NULL, 1);
	return answer(sv, conn, url);
}

/* ADDR:PORT, [V6ADDR]:PORT: 0, or -1 with *err. */
static int
parse_listen(const char *text, struct sockaddr_storage *ss, char **err)
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
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)ss;
		if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			goto bad;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
	}
	return 0;
bad:
	*err = xasprintf(
	        "\"%s\" is not ADDR:PORT with a numeric address, e.g. 127.0.0.1:9135 or [::1]:9135",
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

/* The token, and TLS's key and certificate when configured: 0, or an exit
 * code with the error said. */
static int
load_secrets(struct server *sv, char **key, char **cert)
{
	const struct cfg_serve *cs = &sv->c->cfg->serve;
	char *err = NULL;
	size_t len;
	if (!cs->token_file) {
		log_error(
		        "%s: [serve] has no token_file; give a file (mode 0600) whose first line is the token clients send as \"Authorization: Bearer TOKEN\"",
		        sv->c->cfg->path);
		return CAIRN_EXIT_CONFIG;
	}
	if (load_token(sv, cs->token_file, &err))
		goto bad;
	if (!cs->tls_cert)
		return 0;
	if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
		log_error(
		        "serve: this libmicrohttpd was built without TLS; remove tls_cert and tls_key or install one with GnuTLS");
		return CAIRN_EXIT_CONFIG;
	}
	if (read_private(cs->tls_key, "tls_key", TLS_FILE_MAX, 1, key, &len, &err) ||
	    read_private(cs->tls_cert, "tls_cert", TLS_FILE_MAX, 0, cert, &len, &err))
		goto bad;
	return 0;
bad:
	log_error("serve: %s", err);
	free(err);
	return CAIRN_EXIT_CONFIG;
}

static struct MHD_Daemon *
start_daemon(struct server *sv, struct serve_front *front, const char *key, const char *cert)
{
	unsigned flags = MHD_USE_NO_LISTEN_SOCKET | MHD_USE_AUTO_INTERNAL_THREAD | MHD_USE_ITC |
	                 MHD_USE_ERROR_LOG;
	/* the front counts clients against max_connections; this limit only
	 * backs it up */
	unsigned limit = (unsigned)sv->c->cfg->serve.max_connections + 16;
	if (key)
		flags |= MHD_USE_TLS;
	return MHD_start_daemon(flags, 0, NULL, NULL, on_request, sv, MHD_OPTION_CONNECTION_LIMIT,
	                        limit, MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)REQUEST_MEMORY,
	                        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)CONNECTION_TIMEOUT,
	                        MHD_OPTION_NOTIFY_CONNECTION, serve_front_notify, front,
	                        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, NULL,
	                        key ? MHD_OPTION_HTTPS_MEM_KEY : MHD_OPTION_END, key,
	                        MHD_OPTION_HTTPS_MEM_CERT, cert, MHD_OPTION_END);
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
	struct serve_front *front = NULL;
	struct MHD_Daemon *d = NULL;
	char *err = NULL, *key = NULL, *cert = NULL;
	int opt, rc;
	size_t left = 0;

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
	if (parse_listen(listen, &addr, &err)) {
		log_error("serve: %s", err);
		free(err);
		return CAIRN_EXIT_USAGE;
	}
	if ((rc = load_secrets(&sv, &key, &cert)))
		goto out;
	front = serve_front_new(&addr, (unsigned)c->cfg->serve.max_connections, REQUEST_MEMORY,
	                        key != NULL, &err);
	if (!front) {
		log_error("serve: cannot listen on %s: %s", listen, err);
		rc = CAIRN_EXIT_FAILED;
		goto out;
	}
	if (!(d = start_daemon(&sv, front, key, cert))) {
		log_error("serve: cannot start the HTTP server: %s", strerror(errno));
		rc = CAIRN_EXIT_FAILED;
		goto out;
	}
	if (!(sv.cache = serve_cache_start(&c->reg, c->cfg, CACHE_SECS, &err))) {
		log_error("serve: %s", err);
		rc = CAIRN_EXIT_FAILED;
		goto out;
	}
	{
		char host[128];
		snprintf(host, sizeof(host), "%.*s", (int)(strrchr(listen, ':') - listen), listen);
		printf("cairn serve: listening on %s://%s:%u\n", key ? "https" : "http", host,
		       serve_front_port(front));
		fflush(stdout);
	}
	/* the core's handlers set cancel_signal on SIGINT, SIGTERM, SIGHUP */
	if (serve_front_run(front, d, &err)) {
		log_error("serve: %s", err);
		rc = CAIRN_EXIT_FAILED;
	} else {
		log_info("serve: stopped by signal %d", (int)cancel_signal);
	}
out:
	free(err);
	if (d)
		MHD_stop_daemon(d);
	serve_front_free(front);
	if (sv.cache && (left = serve_cache_stop(sv.cache, STOP_GRACE_MS))) {
		/* A sink thread is still inside a plugin call: the plugins
		 * cannot be unloaded under it, so leave now. */
		log_warn(
		        "serve: %zu sink%s still answering a status request; stopping without waiting for %s",
		        left, left == 1 ? " is" : "s are", left == 1 ? "it" : "them");
		fflush(stdout);
		fflush(stderr);
		_exit(rc);
	}
	if (key)
		OPENSSL_cleanse(key, strlen(key));
	free(key);
	free(cert);
	return rc;
}

#else /* !HAVE_LIBMICROHTTPD */

int
cmd_serve(struct cli *c, int argc, char **argv)
{
	(void)c;
	(void)argc;
	(void)argv;
	log_error(
	        "serve: this cairn was built without libmicrohttpd; install it (Debian: libmicrohttpd-dev), run configure again and rebuild");
	return CAIRN_EXIT_FAILED;
}

#endif
