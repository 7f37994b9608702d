// unix_probe SOCKET: connects to a Unix socket, reads until the other side closes (or 5 s
// pass), prints how many bytes came. Static, so a test can run it inside a container
// (agent_docker_test: a process in the container must get nothing from berth-agent).
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

int main(int argc, char** argv) {
  if (argc != 2 || std::strlen(argv[1]) >= sizeof(sockaddr_un{}.sun_path)) {
    std::fprintf(stderr, "usage: unix_probe SOCKET\n");
    return 2;
  }
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::strcpy(address.sun_path, argv[1]);
  int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    std::perror("connect");
    return 1;
  }
  long total = 0;
  char buffer[4096];
  pollfd polled{fd, POLLIN, 0};
  while (::poll(&polled, 1, 5000) == 1) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n <= 0) break;
    total += n;
  }
  std::printf("%ld\n", total);
  return 0;
}
