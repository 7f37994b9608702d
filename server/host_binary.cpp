#include "host_binary.hpp"

#include "errors.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

namespace berth {
namespace {

constexpr size_t kOutputLimit = 1 << 20;

struct Pipe {
  int read = -1;
  int write = -1;
  Pipe() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw unavailable(std::string("cannot make a pipe: ") + std::strerror(errno));
    read = fds[0];
    write = fds[1];
  }
  ~Pipe() {
    if (read >= 0) ::close(read);
    if (write >= 0) ::close(write);
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
};

}  // namespace

pid_t spawn_in_own_group(const std::filesystem::path& program, const std::vector<std::string>& args, const std::vector<std::string>& environment,
                         const std::filesystem::path& folder, int out_fd, int err_fd) {
  int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, null_fd, 0);
  posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
  posix_spawn_file_actions_adddup2(&actions, err_fd, 2);
  posix_spawn_file_actions_addchdir_np(&actions, folder.c_str());
  posix_spawnattr_t attributes;
  posix_spawnattr_init(&attributes);
  // Its own process group, so ending it ends what it started too; default signal handling.
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attributes, &none);
  posix_spawnattr_setsigdefault(&attributes, &all);
  posix_spawnattr_setpgroup(&attributes, 0);
  posix_spawnattr_setflags(&attributes, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<std::string> argv_text{program.string()};
  argv_text.insert(argv_text.end(), args.begin(), args.end());
  std::vector<char*> argv, envp;
  for (auto& arg : argv_text) argv.push_back(arg.data());
  argv.push_back(nullptr);
  std::vector<std::string> env_text = environment;
  for (auto& entry : env_text) envp.push_back(entry.data());
  envp.push_back(nullptr);
  pid_t pid = -1;
  int spawned = ::posix_spawn(&pid, program.c_str(), &actions, &attributes, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attributes);
  if (null_fd >= 0) ::close(null_fd);
  if (spawned != 0) throw unavailable("cannot run " + program.string() + ": " + std::strerror(spawned));
  return pid;
}

HostBinaryRun run_host_binary(const std::filesystem::path& binary, const std::vector<std::string>& args, const std::filesystem::path& folder,
                              const std::vector<std::string>& environment, std::chrono::milliseconds timeout,
                              const std::function<void(pid_t)>& started) {
  Pipe out, err;
  pid_t pid = spawn_in_own_group(binary, args, environment, folder, out.write, err.write);
  if (started) started(pid);
  ::close(out.write);
  out.write = -1;
  ::close(err.write);
  err.write = -1;

  HostBinaryRun run;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  int open_pipes = 2;
  while (open_pipes > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) {
      run.timed_out = true;
      ::kill(-pid, SIGKILL);
      break;
    }
    pollfd fds[2] = {{out.read, POLLIN, 0}, {err.read, POLLIN, 0}};
    int ready = ::poll(fds, 2, static_cast<int>(std::min<long long>(left, 1000)));
    if (ready < 0 && errno != EINTR) break;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      char buffer[8192];
      ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
      if (n <= 0) {
        int& fd = i == 0 ? out.read : err.read;
        ::close(fd);
        fd = -1;
        --open_pipes;
        continue;
      }
      std::string& sink = i == 0 ? run.out : run.err;
      size_t room = sink.size() < kOutputLimit ? kOutputLimit - sink.size() : 0;
      sink.append(buffer, std::min(room, static_cast<size_t>(n)));
      if (static_cast<size_t>(n) > room) run.truncated = true;
    }
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  ::kill(-pid, SIGKILL);  // anything it left behind in its group
  if (started) started(0);
  run.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : -1;
  return run;
}

}  // namespace berth
