// Minimal single-threaded epoll SOCKS5 server, a floor for what any proxy can do on this machine. It accepts any
// method (a username/password exchange is answered with success, unchecked), CONNECTs to IPv4 addresses (names go to
// 127.0.0.1) and relays with recv/send, keeping unsent bytes until the peer is writable, and relays UDP ASSOCIATE
// datagrams with an IPv4 header. Not a server to run: no rules, no limits, no logs, no timeouts, no IPv6.
// See bench/floor/run.sh and docs/performance-journal.md (the floors of 2026-11-25 and 2026-12-04).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

enum { GREETING, AUTH, REQUEST, CONNECTING, RELAY, ASSOCIATED };
typedef struct { unsigned char *pending; int off, len, eof; } direction; // bytes read from one side, owed to the other
typedef struct { int client, target, udp, state, len; unsigned char in[600]; direction up, down; struct sockaddr_in udp_client; } conn;
static conn *by_fd[1 << 17];
static int ep;
static unsigned char buf[65536];

static void add(int fd, unsigned ev) { struct epoll_event e = {.events = ev, .data.fd = fd}; epoll_ctl(ep, EPOLL_CTL_ADD, fd, &e); }
static void mod(int fd, unsigned ev) { struct epoll_event e = {.events = ev, .data.fd = fd}; epoll_ctl(ep, EPOLL_CTL_MOD, fd, &e); }
static void drop(conn *c) { free(c->up.pending); free(c->down.pending); by_fd[c->client] = 0; close(c->client); if (c->target >= 0) { by_fd[c->target] = 0; close(c->target); }
  if (c->udp >= 0) { by_fd[c->udp] = 0; close(c->udp); } free(c); }


// Interest of one socket: readable unless its direction waits for the peer, writable while the other direction owes it.
static void interest(conn *c) {
  mod(c->client, (c->up.len || c->up.eof ? 0 : EPOLLIN) | (c->down.len ? EPOLLOUT : 0));
  mod(c->target, (c->down.len || c->down.eof ? 0 : EPOLLIN) | (c->up.len ? EPOLLOUT : 0));
}
// Moves what `from` has to `to`; returns 0 when the tunnel is over.
static int pump(direction *d, int from, int to) {
  for (int rounds = 0; rounds < 16; rounds++) {
    if (d->len) {
      ssize_t w = send(to, d->pending + d->off, d->len, MSG_NOSIGNAL);
      if (w < 0) return errno == EAGAIN;
      d->off += w; d->len -= w;
      if (d->len) return 1;
      if (d->eof) { shutdown(to, SHUT_WR); return 1; }
    }
    if (d->eof) return 1;
    ssize_t n = recv(from, buf, sizeof buf, 0);
    if (n < 0) return errno == EAGAIN;
    if (n == 0) { d->eof = 1; shutdown(to, SHUT_WR); return 1; }
    ssize_t w = send(to, buf, n, MSG_NOSIGNAL);
    if (w < 0 && errno != EAGAIN) return 0;
    if (w < 0) w = 0;
    if (w < n) { if (!d->pending) d->pending = malloc(sizeof buf); memcpy(d->pending, buf + w, n - w); d->off = 0; d->len = n - w; return 1; }
  }
  return 1;
}
static void on_relay(conn *c) {
  if (!pump(&c->up, c->client, c->target) || !pump(&c->down, c->target, c->client) || (c->up.eof && c->down.eof && !c->up.len && !c->down.len)) { drop(c); return; }
  interest(c);
}

// UDP ASSOCIATE: one UDP socket per association; datagrams from the client's announced port (IPv4 header only) go to
// their destination without the header, everything else goes back to the client with one.
static void associate(conn *c, unsigned short client_port) {
  int u = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  socklen_t l = sizeof a;
  bind(u, (void *)&a, sizeof a);
  getsockname(u, (void *)&a, &l);
  c->udp = u; by_fd[u] = c; c->state = ASSOCIATED; c->len = 0;
  c->udp_client = (struct sockaddr_in){.sin_family = AF_INET, .sin_port = client_port, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  unsigned char r[10] = {5, 0, 0, 1, 127, 0, 0, 1};
  memcpy(r + 8, &a.sin_port, 2);
  send(c->client, r, 10, MSG_NOSIGNAL);
  add(u, EPOLLIN);
}
static void on_udp(conn *c) {
  for (int rounds = 0; rounds < 64; rounds++) {
    struct sockaddr_in from; socklen_t l = sizeof from;
    ssize_t n = recvfrom(c->udp, buf + 10, sizeof buf - 10, 0, (void *)&from, &l);
    if (n < 0) return;
    if (from.sin_port == c->udp_client.sin_port && from.sin_addr.s_addr == c->udp_client.sin_addr.s_addr) {
      unsigned char *h = buf + 10;
      if (n < 10 || h[2] != 0 || h[3] != 1) continue;
      struct sockaddr_in to = {.sin_family = AF_INET};
      memcpy(&to.sin_addr, h + 4, 4); memcpy(&to.sin_port, h + 8, 2);
      sendto(c->udp, h + 10, n - 10, 0, (void *)&to, sizeof to);
    } else {
      unsigned char *h = buf;
      h[0] = h[1] = h[2] = 0; h[3] = 1;
      memcpy(h + 4, &from.sin_addr, 4); memcpy(h + 8, &from.sin_port, 2);
      sendto(c->udp, h, n + 10, 0, (void *)&c->udp_client, sizeof c->udp_client);
    }
  }
}
static void on_client(conn *c) {
  if (c->state == RELAY) { on_relay(c); return; }
  if (c->state == ASSOCIATED) { ssize_t n = recv(c->client, buf, sizeof buf, 0); if (n == 0 || (n < 0 && errno != EAGAIN)) drop(c); return; }
  ssize_t n = recv(c->client, c->in + c->len, sizeof c->in - c->len, 0);
  if (n <= 0) { if (n == 0 || errno != EAGAIN) drop(c); return; }
  c->len += n;
  for (;;) {
    unsigned char *b = c->in; int used;
    if (c->state == GREETING) {
      if (c->len < 2 || c->len < 2 + b[1]) return;
      used = 2 + b[1];
      int pw = memchr(b + 2, 2, b[1]) && !memchr(b + 2, 0, b[1]);
      unsigned char r[2] = {5, pw ? 2 : 0}; send(c->client, r, 2, MSG_NOSIGNAL);
      c->state = pw ? AUTH : REQUEST;
    } else if (c->state == AUTH) {
      if (c->len < 3 || c->len < 3 + b[1] || c->len < 3 + b[1] + b[2 + b[1]]) return;
      used = 3 + b[1] + b[2 + b[1]];
      unsigned char r[2] = {1, 0}; send(c->client, r, 2, MSG_NOSIGNAL);
      c->state = REQUEST;
    } else if (c->state == REQUEST) {
      if (c->len < 5) return;
      int alen = b[3] == 1 ? 4 : b[3] == 3 ? 1 + b[4] : 16;
      if (c->len < 6 + alen) return;
      struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(b[4 + alen] << 8 | b[5 + alen])};
      if (b[1] == 3) { associate(c, a.sin_port); return; }
      if (b[3] == 1) memcpy(&a.sin_addr, b + 4, 4); else a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      int t = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
      setsockopt(t, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      c->target = t; by_fd[t] = c; c->state = CONNECTING; c->len = 0;
      mod(c->client, 0);
      if (connect(t, (void *)&a, sizeof a) && errno != EINPROGRESS) { unsigned char r[10] = {5, 5, 0, 1}; send(c->client, r, 10, MSG_NOSIGNAL); drop(c); return; }
      add(t, EPOLLOUT);
      return;
    } else return;
    c->len -= used; memmove(c->in, c->in + used, c->len);
    if (!c->len) return;
  }
}
static void on_target(conn *c) {
  if (c->state == CONNECTING) {
    int err = 0; socklen_t l = sizeof err; getsockopt(c->target, SOL_SOCKET, SO_ERROR, &err, &l);
    unsigned char r[10] = {5, err ? 5 : 0, 0, 1, 127, 0, 0, 1, 0, 0};
    send(c->client, r, 10, MSG_NOSIGNAL);
    if (err) { drop(c); return; }
    c->state = RELAY; mod(c->target, EPOLLIN); mod(c->client, EPOLLIN);
    return;
  }
  on_relay(c);
}
int main(int argc, char **argv) {
  int port = 0;
  for (int i = 1; i < argc - 1; i++) if (!strcmp(argv[i], "--listen")) port = atoi(strchr(argv[i + 1], ':') + 1);
  ep = epoll_create1(EPOLL_CLOEXEC);
  int l = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), one = 1;
  setsockopt(l, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (bind(l, (void *)&a, sizeof a) || listen(l, 512)) { perror("listen"); return 1; }
  add(l, EPOLLIN);
  struct epoll_event evs[256];
  for (;;) {
    int n = epoll_wait(ep, evs, 256, -1);
    for (int i = 0; i < n; i++) {
      int fd = evs[i].data.fd;
      if (fd == l) { int c; while ((c = accept4(l, 0, 0, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) { setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); conn *x = calloc(1, sizeof *x); x->client = c; x->target = -1; x->udp = -1; by_fd[c] = x; add(c, EPOLLIN); } continue; }
      conn *c = by_fd[fd];
      if (!c) continue;
      if (fd == c->client) on_client(c); else if (fd == c->udp) on_udp(c); else on_target(c);
    }
  }
}
