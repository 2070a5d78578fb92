/* serve_front.h - the front door of `cairn serve`: its own listening
 * socket and accept loop in front of libmicrohttpd.
 *
 * A client is handed to libmicrohttpd only once its whole request header
 * has arrived (seen with MSG_PEEK, so libmicrohttpd still reads every
 * byte); until then it waits here, costing a descriptor and a few bytes,
 * and one that has not sent its header within HEADER_TIMEOUT_SECS gets 408
 * and is closed.  A client that trickles its header therefore never holds
 * a libmicrohttpd connection, and slow clients cannot lock others out.
 * Past max_connections (waiting and served together) a new client gets
 * 503 with Retry-After instead of being dropped.  The loop runs on epoll
 * (edge-triggered), so there is no FD_SETSIZE limit.
 *
 * With TLS the header cannot be seen before libmicrohttpd decrypts it: a
 * client is then handed over as soon as its first bytes arrive, and
 * libmicrohttpd's own connection timeout bounds it. */
#ifndef CAIRN_SERVE_FRONT_H
#define CAIRN_SERVE_FRONT_H

#include <microhttpd.h>
#include <sys/socket.h>

/* Seconds a client has from its connection to the end of its header. */
#define HEADER_TIMEOUT_SECS 5

struct serve_front;

/* Listen on addr (TCP, numeric).  The front takes the socket.  NULL with
 * *err when it cannot. */
struct serve_front *serve_front_new(const struct sockaddr_storage *addr, unsigned max_connections,
                                    size_t max_header, int tls, char **err);
/* The port it listens on (the one the OS chose for port 0). */
unsigned serve_front_port(const struct serve_front *f);
/* libmicrohttpd's MHD_OPTION_NOTIFY_CONNECTION callback, with the front as
 * its closure: counts the connections libmicrohttpd holds. */
void serve_front_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                        enum MHD_ConnectionNotificationCode toe);
/* Accept and hand over until cancel_signal is set.  0, or -1 with *err
 * when the loop itself fails. */
int serve_front_run(struct serve_front *f, struct MHD_Daemon *d, char **err);
/* Close the listening socket and every client still waiting. */
void serve_front_free(struct serve_front *f);

#endif
