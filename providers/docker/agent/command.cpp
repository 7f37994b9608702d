#include "command.hpp"

#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace berth_agent {
namespace {

// Between fork and exec (the agent has one thread, so allocating there is safe).
void say(const std::string& text) {
  std::string line = "berth-agent: " + text + "\n";
  ssize_t ignored = ::write(2, line.data(), line.size());
  (void)ignored;
}

[[noreturn]] void fail(const std::string& what, int code) {
  say(what);
  ::_exit(code);
}

std::string env_value(const std::vector<std::string>& env, const std::string& key) {
  for (const auto& item : env) {
    if (item.size() > key.size() && item.compare(0, key.size(), key) == 0 && item[key.size()] == '=') return item.substr(key.size() + 1);
  }
  return "";
}

// execvp with the command's PATH, not the agent's: the first match that runs; a file that is
// no binary (ENOEXEC) runs with /bin/sh, as execvp does.
[[noreturn]] void exec_program(const std::vector<std::string>& argv, const std::vector<std::string>& env) {
  std::vector<char*> args, vars;
  for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  for (const auto& v : env) vars.push_back(const_cast<char*>(v.c_str()));
  vars.push_back(nullptr);
  auto attempt = [&](const std::string& path) {
    ::execve(path.c_str(), args.data(), vars.data());
    if (errno == ENOEXEC) {
      std::vector<char*> shell = {const_cast<char*>("/bin/sh"), const_cast<char*>(path.c_str())};
      shell.insert(shell.end(), args.begin() + 1, args.end());
      ::execve("/bin/sh", shell.data(), vars.data());
      errno = ENOEXEC;
    }
    return errno;
  };
  const std::string& program = argv[0];
  if (program.find('/') != std::string::npos) {
    int error = attempt(program);
    fail(program + ": " + std::strerror(error), error == ENOENT ? 127 : 126);
  }
  std::string path = env_value(env, "PATH");
  if (path.empty()) path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
  int seen = ENOENT;
  size_t from = 0;
  while (from <= path.size()) {
    size_t colon = path.find(':', from);
    std::string folder = path.substr(from, colon == std::string::npos ? std::string::npos : colon - from);
    int error = attempt((folder.empty() ? "." : folder) + "/" + program);
    if (error == EACCES) seen = EACCES;
    else if (error != ENOENT && error != ENOTDIR) { seen = error; break; }
    if (colon == std::string::npos) break;
    from = colon + 1;
  }
  if (seen == ENOENT) fail(program + ": executable file not found in $PATH", 127);
  fail(program + ": " + std::strerror(seen), 126);
}

bool nonblocking(int fd) { return ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK) == 0; }

}  // namespace

void resize_terminal(int master, int rows, int cols) {
  winsize size{};
  size.ws_row = static_cast<unsigned short>(rows > 0 ? rows : 24);
  size.ws_col = static_cast<unsigned short>(cols > 0 ? cols : 80);
  ::ioctl(master, TIOCSWINSZ, &size);
}

bool spawn_command(const CommandSpec& spec, Spawned& spawned, std::string& error) {
  int in[2] = {-1, -1}, out[2] = {-1, -1}, err[2] = {-1, -1};
  int master = -1;
  std::string slave;
  auto close_all = [&] {
    for (int fd : {in[0], in[1], out[0], out[1], err[0], err[1], master}) if (fd >= 0) ::close(fd);
  };
  if (spec.tty) {
    master = ::open("/dev/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
    int unlock = 0, number = -1;
    if (master < 0 || ::ioctl(master, TIOCSPTLCK, &unlock) != 0 || ::ioctl(master, TIOCGPTN, &number) != 0) {
      error = std::string("cannot open a terminal (/dev/ptmx): ") + std::strerror(errno);
      close_all();
      return false;
    }
    slave = "/dev/pts/" + std::to_string(number);
    resize_terminal(master, spec.rows, spec.cols);
  } else if (!spec.own_stdio) {
    if (::pipe2(in, O_CLOEXEC) != 0 || ::pipe2(out, O_CLOEXEC) != 0 || ::pipe2(err, O_CLOEXEC) != 0) {
      error = std::string("cannot make pipes: ") + std::strerror(errno);
      close_all();
      return false;
    }
  }
  std::vector<std::string> argv = spec.argv;
  bool login_shell = argv.empty();
  std::string shell = spec.identity.shell.empty() ? "/bin/sh" : spec.identity.shell;
  std::vector<gid_t> groups = spec.identity.groups;
  if (groups.empty()) groups.push_back(spec.identity.gid);
  std::vector<std::string> login = {shell, "-l"}, fallback = {"/bin/sh", "-l"};
  std::string where = "chdir to cwd (\"" + spec.workdir + "\") failed: ";

  pid_t pid = ::fork();
  if (pid < 0) {
    error = std::string("cannot fork: ") + std::strerror(errno);
    close_all();
    return false;
  }
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    for (int sig = 1; sig < NSIG; ++sig) ::signal(sig, SIG_DFL);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    if (spec.tty) {
      ::setsid();
      int fd = ::open(slave.c_str(), O_RDWR);
      if (fd < 0) fail("cannot open " + slave, 126);
      ::ioctl(fd, TIOCSCTTY, 0);
      ::dup2(fd, 0);
      ::dup2(fd, 1);
      ::dup2(fd, 2);
      if (fd > 2) ::close(fd);
    } else {
      ::setpgid(0, 0);
      if (!spec.own_stdio) {
        ::dup2(in[0], 0);
        ::dup2(out[1], 1);
        ::dup2(err[1], 2);
      }
    }
    if (::setgroups(groups.size(), groups.data()) != 0 && errno != EPERM) fail(std::string("setgroups: ") + std::strerror(errno), 126);
    if (::setgid(spec.identity.gid) != 0) fail(std::string("setgid: ") + std::strerror(errno), 126);
    if (::setuid(spec.identity.uid) != 0) fail(std::string("setuid: ") + std::strerror(errno), 126);
    if (!spec.workdir.empty() && ::chdir(spec.workdir.c_str()) != 0) fail(where + std::strerror(errno), 126);
    if (login_shell) exec_program(::access(shell.c_str(), X_OK) == 0 ? login : fallback, spec.env);
    exec_program(argv, spec.env);
  }
  spawned = Spawned{};
  spawned.pid = pid;
  if (spec.tty) {
    spawned.stdout_fd = master;
    spawned.stdin_fd = ::fcntl(master, F_DUPFD_CLOEXEC, 3);
    nonblocking(master);
  } else if (!spec.own_stdio) {
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);
    spawned.stdin_fd = in[1];
    spawned.stdout_fd = out[0];
    spawned.stderr_fd = err[0];
    nonblocking(in[1]);
    nonblocking(out[0]);
    nonblocking(err[0]);
  }
  return true;
}

}  // namespace berth_agent
