/* fuzz_serve.c - libFuzzer target: the request path of `cairn serve`.
 * The bytes a client sends go through the front's header check
 * (serve_front.c's header_whole, called after each piece as the front
 * does on each read event) in the chunk sizes the input's first bytes
 * choose (chunks.h); a whole header is handed to libmicrohttpd with
 * cmd_serve.c's own on_request (method, body refusal, /healthz, the
 * Bearer check, /status/JOB routing), the status cache holding no job.
 * Both files are included to reach their statics; their public names are
 * renamed so they do not clash with the core library's copies. */
#include "autoconf.h"

#ifdef HAVE_LIBMICROHTTPD

#define serve_front_new fuzz_serve_front_new
#define serve_front_port fuzz_serve_front_port
#define serve_front_notify fuzz_serve_front_notify
#define serve_front_run fuzz_serve_front_run
#define serve_front_free fuzz_serve_front_free
#define cmd_serve fuzz_cmd_serve
#define serve_options fuzz_serve_options
#include "../../src/serve_front.c"
#include "../../src/cmd_serve.c"

#include <fcntl.h>
#include <stdint.h>
#include <sys/socket.h>

#include "chunks.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The token every request with "Authorization: Bearer" is checked against. */
#define FUZZ_TOKEN "fuzz-token-0123456789abcdef"

static struct server sv;
static struct MHD_Daemon *daemon_;

static void
fuzz_mhd_log(void *cls, const char *fmt, va_list ap)
{
	(void)cls;
	(void)fmt;
	(void)ap;
}

static void
setup(void)
{
	static struct config cfg; /* no jobs: the cache starts no thread */
	char *err = NULL;
	SHA256((const unsigned char *)FUZZ_TOKEN, strlen(FUZZ_TOKEN), sv.token_sha);
	sv.cache = serve_cache_start(NULL, &cfg, CACHE_SECS, &err);
	daemon_ = MHD_start_daemon(MHD_USE_NO_LISTEN_SOCKET | MHD_USE_ERROR_LOG, 0, NULL, NULL,
	                           on_request, &sv, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
	                           (size_t)REQUEST_MEMORY, MHD_OPTION_EXTERNAL_LOGGER, fuzz_mhd_log,
	                           NULL, MHD_OPTION_END);
	if (!sv.cache || !daemon_)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static char peek[REQUEST_MEMORY];
	struct serve_front f = {.max_header = sizeof(peek), .peek = peek};
	struct waiting w = {0};
	struct sockaddr_in sin = {.sin_family = AF_INET, .sin_port = htons(40000)};
	struct chunks c;
	char piece[256], reply[4096];
	int s[2], r = 0;

	if (!daemon_)
		setup();
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, s) != 0)
		abort();
	/* many 1-byte writes fill a socket's buffer long before 32 KiB */
	fcntl(s[0], F_SETFL, O_NONBLOCK);
	chunks_init(&c, data, size);
	if (c.len > sizeof(peek))
		c.len = sizeof(peek); /* the front refuses more with 431 */
	w.fd = s[1];
	/* the front peeks after every piece, as after every read event */
	while (r == 0) {
		size_t n = chunks_read(&c, piece, sizeof(piece));
		if (n == 0)
			break;
		if (write(s[0], piece, n) != (ssize_t)n)
			break; /* the socket's buffer is full: the client stalls */
		r = header_whole(&f, &w);
	}
	if (r != 1) {
		close(s[0]);
		close(s[1]);
		return 0; /* waits for more, or refused: nothing reaches libmicrohttpd */
	}
	/* the rest arrives after the handover, as a body would */
	for (size_t n; (n = chunks_read(&c, piece, sizeof(piece))) > 0;)
		if (write(s[0], piece, n) != (ssize_t)n)
			break; /* the socket's buffer is full: the client stalls */
	shutdown(s[0], SHUT_WR);
	fcntl(s[1], F_SETFL, O_NONBLOCK);
	if (MHD_add_connection(daemon_, s[1], (struct sockaddr *)&sin, sizeof(sin)) != MHD_YES) {
		close(s[0]);
		return 0; /* libmicrohttpd closed it */
	}
	/* run until the server closes its end (one request per connection) */
	for (int round = 0; round < 1000; round++) {
		ssize_t got;
		MHD_run(daemon_);
		got = read(s[0], reply, sizeof(reply));
		if (got == 0)
			break;
		if (got > 0 && getenv("FUZZ_SHOW")) /* replaying seeds: the answers */
			fprintf(stderr, "serve: %.*s\n",
			        (int)(memchr(reply, '\r', (size_t)got)
			                      ? (char *)memchr(reply, '\r', (size_t)got) - reply
			                      : got),
			        reply);
		if (got > 0) {
			/* a protected path never answers 200 without the token */
			if (got >= 12 && !memcmp(reply, "HTTP/1.1 200", 12) &&
			    !memmem(data, size, "/healthz", 8) &&
			    !memmem(data, size, FUZZ_TOKEN, strlen(FUZZ_TOKEN)))
				abort();
		}
	}
	close(s[0]);
	MHD_run(daemon_);
	return 0;
}

#else

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	(void)data;
	(void)size;
	return 0; /* built without libmicrohttpd: no serve to fuzz */
}

#endif
