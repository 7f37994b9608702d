#include "process.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

extern char** environ;

namespace host {
namespace {

struct Pipe {
  int read_end = -1;
  int write_end = -1;
  Pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
    read_end = fds[0];
    write_end = fds[1];
  }
  ~Pipe() {
    if (read_end >= 0) ::close(read_end);
    if (write_end >= 0) ::close(write_end);
  }
  void close_read() { ::close(read_end), read_end = -1; }
  void close_write() { ::close(write_end), write_end = -1; }
};

}  // namespace

std::vector<std::string> build_environment(const berth::StringMap& extra) {
  std::vector<std::string> env;
  for (char** entry = environ; *entry; ++entry) {
    std::string text = *entry;
    std::string key = text.substr(0, text.find('='));
    if (!extra.count(key)) env.push_back(text);
  }
  for (const auto& [key, value] : extra) env.push_back(key + "=" + value);
  return env;
}

int run_process(const ProcessSpec& spec, berth::OutputSink& sink, const PidObserver& observer) {
  if (spec.argv.empty()) throw std::runtime_error("no command given");
  Pipe out, err, in, exec_error;
  std::vector<std::string> env = build_environment(spec.extra_env);
  std::vector<char*> argv, envp;
  std::vector<std::string> args = spec.argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  for (auto& entry : env) envp.push_back(entry.data());
  envp.push_back(nullptr);

  pid_t pid = ::fork();
  if (pid < 0) throw std::runtime_error(std::string("fork: ") + std::strerror(errno));
  if (pid == 0) {
    ::setpgid(0, 0);
    ::dup2(in.read_end, 0);
    ::dup2(out.write_end, 1);
    ::dup2(err.write_end, 2);
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGPIPE, SIG_DFL);
    // Nothing the provider host holds open reaches the command (the start-up error pipe stays
    // usable until exec, which closes it).
    ::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC);
    if (!spec.workdir.empty() && ::chdir(spec.workdir.c_str()) != 0) {
      std::string message = "cannot enter " + spec.workdir + ": " + std::strerror(errno);
      [[maybe_unused]] auto n = ::write(exec_error.write_end, message.data(), message.size());
      ::_exit(127);
    }
    ::execvpe(argv[0], argv.data(), envp.data());
    std::string message = "cannot run '" + spec.argv[0] + "': " + std::strerror(errno);
    [[maybe_unused]] auto n = ::write(exec_error.write_end, message.data(), message.size());
    ::_exit(127);
  }
  ::setpgid(pid, pid);
  if (observer) observer(pid);
  out.close_write();
  err.close_write();
  in.close_read();
  exec_error.close_write();

  // Standard input is small (it came in a request body): write it, then close.
  const char* input = spec.stdin_data.data();
  size_t input_left = spec.stdin_data.size();
  while (input_left > 0) {
    ssize_t written = ::write(in.write_end, input, input_left);
    if (written <= 0) break;
    input += written;
    input_left -= static_cast<size_t>(written);
  }
  in.close_write();

  std::string startup_error;
  char buffer[65536];
  ssize_t n = 0;
  while ((n = ::read(exec_error.read_end, buffer, sizeof buffer)) > 0) startup_error.append(buffer, static_cast<size_t>(n));

  try {
    pollfd fds[2] = {{out.read_end, POLLIN, 0}, {err.read_end, POLLIN, 0}};
    int open = 2;
    while (open > 0) {
      // With a cancellation to watch, wake every 100 ms to look at it.
      int ready = ::poll(fds, 2, spec.cancellation ? 100 : -1);
      if (ready < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (spec.cancellation && spec.cancellation->requested()) {
        throw berth::Error("provider_failed", "cancelled: " + spec.argv.front() + " was ended");
      }
      for (int i = 0; i < 2; ++i) {
        if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        n = ::read(fds[i].fd, buffer, sizeof buffer);
        if (n > 0) {
          sink.write(i == 0 ? berth::OutputStream::stdout_stream : berth::OutputStream::stderr_stream,
                     std::string_view(buffer, static_cast<size_t>(n)));
        } else if (n == 0 || errno != EINTR) {
          fds[i].fd = -1;
          --open;
        }
      }
    }
  } catch (...) {
    ::kill(-pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
    if (observer) observer(-pid);
    throw;
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (observer) observer(-pid);
  if (!startup_error.empty()) throw std::runtime_error(startup_error);
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
  return 1;
}

}  // namespace host
