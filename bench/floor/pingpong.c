// Latency floors on loopback: an echo server, a 64-byte ping-pong client (p50/p99), and a one-tunnel TCP relay that
// waits in poll(2) or busy-polls. See bench/floor/run.sh and docs/performance-journal.md ("floors").
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <errno.h>

static int listen_on(int port) {
  int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (bind(s, (void *)&a, sizeof a) || listen(s, 16)) { perror("listen"); exit(1); }
  return s;
}
static int accept_one(int l) { int c = accept(l, 0, 0), one = 1; setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one); return c; }
static int connect_to(int port) {
  int s = socket(AF_INET, SOCK_STREAM, 0), one = 1;
  struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
  if (connect(s, (void *)&a, sizeof a)) { perror("connect"); exit(1); }
  setsockopt(s, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return s;
}
static int cmp(const void *a, const void *b) { double x = *(double *)a, y = *(double *)b; return x < y ? -1 : x > y; }

int main(int argc, char **argv) {
  char buf[65536];
  if (!strcmp(argv[1], "echo")) {
    int l = listen_on(atoi(argv[2]));
    for (;;) { int c = accept_one(l); ssize_t n; while ((n = recv(c, buf, sizeof buf, 0)) > 0) send(c, buf, n, 0); close(c); }
  }
  if (!strcmp(argv[1], "relay")) { // relay LISTEN TARGET busy
    int l = listen_on(atoi(argv[2])), busy = argc > 4 && atoi(argv[4]);
    for (;;) {
      int c = accept_one(l), t = connect_to(atoi(argv[3]));
      struct pollfd p[2] = {{.fd = c, .events = POLLIN}, {.fd = t, .events = POLLIN}};
      for (;;) {
        if (busy) { for (int i = 0; i < 2; i++) { ssize_t n = recv(p[i].fd, buf, sizeof buf, MSG_DONTWAIT); if (n > 0) send(p[1 - i].fd, buf, n, 0); else if (n == 0 || errno != EAGAIN) goto done; } continue; }
        if (poll(p, 2, -1) < 0) goto done;
        for (int i = 0; i < 2; i++) if (p[i].revents) { ssize_t n = recv(p[i].fd, buf, sizeof buf, 0); if (n <= 0) goto done; send(p[1 - i].fd, buf, n, 0); }
      }
    done: close(c); close(t);
    }
  }
  if (!strcmp(argv[1], "ping")) { // ping PORT COUNT
    int s = connect_to(atoi(argv[2])), count = atoi(argv[3]), warm = 2000;
    double *t = malloc(sizeof(double) * count);
    for (int i = -warm; i < count; i++) {
      struct timespec a, b; clock_gettime(CLOCK_MONOTONIC, &a);
      send(s, buf, 64, 0);
      int got = 0; while (got < 64) { ssize_t n = recv(s, buf + got, 64 - got, 0); if (n <= 0) exit(1); got += n; }
      clock_gettime(CLOCK_MONOTONIC, &b);
      if (i >= 0) t[i] = (b.tv_sec - a.tv_sec) * 1e6 + (b.tv_nsec - a.tv_nsec) / 1e3;
    }
    qsort(t, count, sizeof(double), cmp);
    printf("p50 %.1f us  p99 %.1f us\n", t[count / 2], t[count * 99 / 100]);
  }
  return 0;
}
