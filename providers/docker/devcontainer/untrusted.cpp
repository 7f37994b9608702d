// Reading what a repository's or an image's author wrote, in a short-lived child: whatever that
// input makes the reader do (a crash, a runaway allocation), it ends the child, fails this one
// workspace's operation naming the input, and never takes down the provider's process, which
// serves every other workspace (a crash there counts toward the provider's quarantine).
#include "plan.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace docker::dc {
namespace {

bool write_all(int fd, const std::string& data) {
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

}  // namespace

std::string read_untrusted(const std::string& what, const std::function<std::string()>& work) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw berth::Error("provider_failed", std::string("pipe failed: ") + std::strerror(errno));
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    throw berth::Error("provider_failed", std::string("fork failed: ") + std::strerror(errno));
  }
  if (pid == 0) {
    ::close(fds[0]);
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)  // their shadow memory is address space too
    // Bounded: a reader that allocates without end fails instead of starving the machine.
    struct rlimit memory {4ul << 30, 4ul << 30};
    ::setrlimit(RLIMIT_AS, &memory);
#endif
    std::string reply;
    try {
      reply = "ok\n" + work();
    } catch (const berth::Error& error) {
      reply = "error\n" + error.code() + "\n" + error.what();
    } catch (const std::exception& error) {
      reply = std::string("error\ninvalid\n") + error.what();
    }
    ::_exit(write_all(fds[1], reply) ? 0 : 1);
  }
  ::close(fds[1]);
  std::string reply;
  char buffer[65536];
  while (true) {
    ssize_t n = ::read(fds[0], buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    reply.append(buffer, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(status)) {
    throw berth::Error("invalid", "reading " + what + " crashed its reader (" + std::string(::strsignal(WTERMSIG(status))) +
                                      "): the input is malformed or hostile; nothing was made, and the provider goes on serving");
  }
  if (reply.rfind("ok\n", 0) == 0) return reply.substr(3);
  if (reply.rfind("error\n", 0) == 0) {
    size_t code_end = reply.find('\n', 6);
    if (code_end != std::string::npos) throw berth::Error(reply.substr(6, code_end - 6), reply.substr(code_end + 1));
  }
  throw berth::Error("invalid", "reading " + what + " failed without an answer (exit status " + std::to_string(WEXITSTATUS(status)) + ")");
}

}  // namespace docker::dc
