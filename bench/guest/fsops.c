/*
 * fsops: the metadata workload of bench/vm.ts, run inside the guest.
 *
 *     fsops create|stat|unlink DIR COUNT
 *
 * does COUNT of one operation on DIR/f00000, DIR/f00001, ... and prints
 * "<op> <count> <nanoseconds>" (CLOCK_MONOTONIC around the loop). Under TCG a
 * busybox shell loop costs far more per iteration than the file system call
 * it makes (and `stat`/`rm` fork an applet each), so a shell loop would mostly
 * measure the emulated CPU; this helper makes one system call per operation
 * ("create" is open(O_CREAT|O_EXCL) then close).
 *
 * Built static by bench/vm.ts with the host's gcc; exits 1 on the first error.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: fsops create|stat|unlink DIR COUNT\n");
    return 2;
  }
  const char *op = argv[1];
  const char *dir = argv[2];
  long count = strtol(argv[3], NULL, 10);
  int kind = strcmp(op, "create") == 0 ? 0 : strcmp(op, "stat") == 0 ? 1 : strcmp(op, "unlink") == 0 ? 2 : -1;
  if (kind < 0 || count <= 0) {
    fprintf(stderr, "fsops: bad operation or count\n");
    return 2;
  }
  char path[4096];
  struct stat st;
  long long start = now_ns();
  for (long i = 0; i < count; i++) {
    snprintf(path, sizeof path, "%s/f%05ld", dir, i);
    int rc;
    if (kind == 0) {
      rc = open(path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
      if (rc >= 0) rc = close(rc);
    } else if (kind == 1) {
      rc = stat(path, &st);
    } else {
      rc = unlink(path);
    }
    if (rc < 0) {
      fprintf(stderr, "fsops: %s %s: %s\n", op, path, strerror(errno));
      return 1;
    }
  }
  long long elapsed = now_ns() - start;
  printf("%s %ld %lld\n", op, count, elapsed);
  return 0;
}
