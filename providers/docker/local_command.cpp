#include "local_command.hpp"

#include <berth/sdk.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>

namespace docker {

int run_local(const std::vector<std::string>& argv, const std::string& folder, berth::OutputSink& output) {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw berth::Error("provider_failed", "pipe failed");
  std::vector<char*> args;
  for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
  args.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid < 0) {
    ::close(fds[0]);
    ::close(fds[1]);
    throw berth::Error("provider_failed", "fork failed");
  }
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (!folder.empty() && ::chdir(folder.c_str()) != 0) ::_exit(126);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(fds[1]);
  char buffer[4096];
  for (ssize_t n; (n = ::read(fds[0], buffer, sizeof buffer)) != 0;) {
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) break;
    output.write(berth::OutputStream::stdout_stream, std::string_view(buffer, static_cast<size_t>(n)));
  }
  ::close(fds[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void ProgressLines::write(berth::OutputStream, std::string_view data) {
  for (char c : data) {
    if (c == '\n' || c == '\r') {
      flush();
    } else {
      pending_.push_back(c);
    }
  }
}

void ProgressLines::flush() {
  if (!pending_.empty()) progress_.line(pending_);
  pending_.clear();
}

}  // namespace docker
