/* serve_front.c - see serve_front.h */
#include "autoconf.h"

#ifdef HAVE_LIBMICROHTTPD

#include "serve_front.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "host.h"
#include "util.h"

#define EVENTS 64
/* The deadlines are looked at this often at most. */
#define SWEEP_MS 100
/* Descriptors kept free beyond the clients, for the status threads. */
#define SPARE_FDS 256

/* A client whose header has not arrived yet. */
struct waiting {
	int fd;
	size_t index; /* in front->v */
	long long deadline_ms;
	struct sockaddr_storage addr;
	socklen_t alen;
};

struct serve_front {
	int lfd, ep;
	unsigned port;
	unsigned max;
	size_t max_header;
	int tls;
	unsigned served; /* connections libmicrohttpd holds (atomic) */
	struct waiting **v;
	size_t n;
	char *peek; /* max_header bytes */
};

static long long
now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Enough descriptors for max clients: the soft limit is raised toward
 * the hard one.  0, or -1 with *err. */
static int
reserve_fds(unsigned max, char **err)
{
	struct rlimit rl;
	rlim_t want = (rlim_t)max + SPARE_FDS;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
		return 0;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want) {
		*err = xasprintf(
		        "max_connections = %u needs %llu open files, but the limit is %llu; lower max_connections or raise the limit (LimitNOFILE= in the service, ulimit -n)",
		        max, (unsigned long long)want, (unsigned long long)rl.rlim_max);
		return -1;
	}
	rl.rlim_cur = want;
	if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
		*err = xasprintf(
		        "cannot raise the open-file limit to %llu for max_connections = %u: %s",
		        (unsigned long long)want, max, strerror(errno));
		return -1;
	}
	return 0;
}

struct serve_front *
serve_front_new(const struct sockaddr_storage *addr, unsigned max_connections, size_t max_header,
                int tls, char **err)
{
	struct serve_front *f;
	struct sockaddr_storage bound;
	socklen_t len = addr->ss_family == AF_INET6 ? sizeof(struct sockaddr_in6)
	                                            : sizeof(struct sockaddr_in);
	int one = 1, fd;
	if (reserve_fds(max_connections, err))
		return NULL;
	fd = socket(addr->ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		*err = xasprintf("cannot make a socket: %s", strerror(errno));
		return NULL;
	}
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (addr->ss_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(fd, (const struct sockaddr *)addr, len) != 0 || listen(fd, SOMAXCONN) != 0) {
		*err = xasprintf("%s; is another server using the port?", strerror(errno));
		close(fd);
		return NULL;
	}
	len = sizeof(bound);
	if (getsockname(fd, (struct sockaddr *)&bound, &len) != 0) {
		*err = xasprintf("cannot read the bound address: %s", strerror(errno));
		close(fd);
		return NULL;
	}
	f = xcalloc(1, sizeof(*f));
	f->lfd = fd;
	f->port = ntohs(bound.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&bound)->sin6_port
	                                            : ((struct sockaddr_in *)&bound)->sin_port);
	f->max = max_connections;
	f->max_header = max_header;
	f->tls = tls;
	f->peek = xmalloc(max_header);
	f->ep = epoll_create1(EPOLL_CLOEXEC);
	struct epoll_event ev = {.events = EPOLLIN, .data.ptr = NULL};
	if (f->ep < 0 || epoll_ctl(f->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
		*err = xasprintf("epoll: %s", strerror(errno));
		serve_front_free(f);
		return NULL;
	}
	return f;
}

unsigned
serve_front_port(const struct serve_front *f)
{
	return f->port;
}

void
serve_front_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                   enum MHD_ConnectionNotificationCode toe)
{
	struct serve_front *f = cls;
	(void)conn;
	(void)socket_context;
	if (toe == MHD_CONNECTION_NOTIFY_STARTED)
		__atomic_add_fetch(&f->served, 1, __ATOMIC_SEQ_CST);
	else if (toe == MHD_CONNECTION_NOTIFY_CLOSED)
		__atomic_sub_fetch(&f->served, 1, __ATOMIC_SEQ_CST);
}

/* Answer a client that is not handed over, and close it.  What it sent is
 * read first, so the close sends FIN rather than a reset that could make
 * the client lose the answer. */
static void
refuse(struct serve_front *f, int fd, const char *status, const char *body)
{
	if (!f->tls) {
		char *msg =
		        xasprintf("HTTP/1.1 %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
		                  "Content-Length: %zu\r\nRetry-After: 1\r\nConnection: close\r\n"
		                  "\r\n%s",
		                  status, strlen(body), body);
		while (recv(fd, f->peek, f->max_header, MSG_DONTWAIT) > 0)
			;
		if (send(fd, msg, strlen(msg), MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
			/* nothing to do: the client is gone or not reading */
		}
		shutdown(fd, SHUT_WR);
		free(msg);
	}
	close(fd);
}

/* Forget waiting client w (its descriptor is the caller's to close or to
 * hand over). */
static void
unwait(struct serve_front *f, struct waiting *w)
{
	epoll_ctl(f->ep, EPOLL_CTL_DEL, w->fd, NULL);
	f->v[w->index] = f->v[--f->n];
	f->v[w->index]->index = w->index;
	free(w);
}

static void
accept_all(struct serve_front *f)
{
	for (;;) {
		struct waiting *w;
		struct sockaddr_storage addr;
		socklen_t alen = sizeof(addr);
		int fd = accept4(f->lfd, (struct sockaddr *)&addr, &alen,
		                 SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return; /* EAGAIN, or out of descriptors: the next round */
		}
		if (f->n + __atomic_load_n(&f->served, __ATOMIC_SEQ_CST) >= f->max) {
			refuse(f, fd, "503 Service Unavailable",
			       "busy: max_connections are open; retry\n");
			continue;
		}
		w = xcalloc(1, sizeof(*w));
		w->fd = fd;
		w->addr = addr;
		w->alen = alen;
		w->deadline_ms = now_ms() + HEADER_TIMEOUT_SECS * 1000LL;
		struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLET, .data.ptr = w};
		if (epoll_ctl(f->ep, EPOLL_CTL_ADD, fd, &ev) != 0) {
			free(w);
			close(fd);
			continue;
		}
		if (f->n % 64 == 0)
			f->v = xrealloc(f->v, (f->n + 64) * sizeof(*f->v));
		w->index = f->n;
		f->v[f->n++] = w;
	}
}

/* Has the whole request header arrived?  1: hand it over; 0: wait; -1:
 * the client closed or sent too much (already answered and closed). */
static int
header_whole(struct serve_front *f, struct waiting *w)
{
	ssize_t n = recv(w->fd, f->peek, f->max_header, MSG_PEEK | MSG_DONTWAIT);
	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR ? 0 : -1;
	if (n == 0)
		return -1;
	if (f->tls)
		return 1;
	if (memmem(f->peek, (size_t)n, "\r\n\r\n", 4) || memmem(f->peek, (size_t)n, "\n\n", 2))
		return 1;
	return (size_t)n >= f->max_header ? -2 : 0;
}

static void
on_client(struct serve_front *f, struct MHD_Daemon *d, struct waiting *w)
{
	int fd = w->fd, r = header_whole(f, w);
	struct sockaddr_storage addr = w->addr;
	socklen_t alen = w->alen;
	if (r == 0)
		return;
	unwait(f, w);
	if (r == -1) {
		close(fd);
	} else if (r == -2) {
		refuse(f, fd, "431 Request Header Fields Too Large", "request header too large\n");
	} else if (MHD_add_connection(d, fd, (struct sockaddr *)&addr, alen) != MHD_YES) {
		/* libmicrohttpd closed it: its own limit, or out of memory */
	}
}

static void
sweep(struct serve_front *f)
{
	long long now = now_ms();
	for (size_t i = 0; i < f->n;) {
		struct waiting *w = f->v[i];
		if (w->deadline_ms > now) {
			i++;
			continue;
		}
		int fd = w->fd;
		unwait(f, w); /* the last one moved to i: look at i again */
		refuse(f, fd, "408 Request Timeout", "the request header took too long\n");
	}
}

int
serve_front_run(struct serve_front *f, struct MHD_Daemon *d, char **err)
{
	struct epoll_event evs[EVENTS];
	long long next_sweep = now_ms() + SWEEP_MS;
	while (!cancel_signal) {
		int n = epoll_wait(f->ep, evs, EVENTS, SWEEP_MS);
		if (n < 0 && errno != EINTR) {
			*err = xasprintf("epoll_wait: %s", strerror(errno));
			return -1;
		}
		for (int i = 0; i < n; i++) {
			if (!evs[i].data.ptr)
				accept_all(f);
			else
				on_client(f, d, evs[i].data.ptr);
		}
		if (now_ms() >= next_sweep) {
			sweep(f);
			next_sweep = now_ms() + SWEEP_MS;
		}
	}
	return 0;
}

void
serve_front_free(struct serve_front *f)
{
	if (!f)
		return;
	for (size_t i = 0; i < f->n; i++) {
		close(f->v[i]->fd);
		free(f->v[i]);
	}
	free(f->v);
	if (f->ep >= 0)
		close(f->ep);
	close(f->lfd);
	free(f->peek);
	free(f);
}

#endif /* HAVE_LIBMICROHTTPD */
