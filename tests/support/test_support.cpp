#include "test_support.hpp"

#include <gtest/gtest.h>

#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <pty.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace fs = std::filesystem;

namespace berth::test {

TempDir::TempDir() {
  std::string pattern = (fs::temp_directory_path() / "berth-test-XXXXXX").string();
  if (!::mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code error;
  fs::permissions(path_, fs::perms::owner_all, fs::perm_options::add, error);
  fs::remove_all(path_, error);
}

fs::path build_dir() { return BERTH_TEST_BUILD_DIR; }
fs::path source_dir() { return BERTH_TEST_SOURCE_DIR; }
fs::path berth_binary() { return build_dir() / "bin" / "berth"; }

Result run_program(const std::vector<std::string>& argv, const RunOptions& options) {
  int out[2], err[2], in[2];
  if (::pipe2(out, O_CLOEXEC) || ::pipe2(err, O_CLOEXEC) || ::pipe2(in, O_CLOEXEC)) throw std::runtime_error("pipe");
  std::vector<std::string> env;
  for (char** entry = environ; *entry; ++entry) {
    std::string text = *entry;
    if (!options.env.count(text.substr(0, text.find('=')))) env.push_back(text);
  }
  for (const auto& [key, value] : options.env) {
    if (!value.empty()) env.push_back(key + "=" + value);
  }
  std::vector<std::string> args = argv;
  std::vector<char*> c_args, c_env;
  for (auto& arg : args) c_args.push_back(arg.data());
  c_args.push_back(nullptr);
  for (auto& entry : env) c_env.push_back(entry.data());
  c_env.push_back(nullptr);
  pid_t pid = ::fork();
  if (pid == 0) {
    ::signal(SIGPIPE, SIG_DFL);  // as a program started from a shell has it
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    if (!options.workdir.empty() && ::chdir(options.workdir.c_str()) != 0) ::_exit(126);
    ::execvpe(c_args[0], c_args.data(), c_env.data());
    ::_exit(127);
  }
  ::close(out[1]);
  ::close(err[1]);
  ::close(in[0]);
  // A program may exit before it has read all its input (head -c 3): that is an EPIPE for the
  // writer below, not a SIGPIPE that silently kills the whole test binary.
  ::signal(SIGPIPE, SIG_IGN);
  std::thread writer([fd = in[1], data = options.stdin_data] {
    size_t done = 0;
    while (done < data.size()) {
      ssize_t n = ::write(fd, data.data() + done, data.size() - done);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    ::close(fd);
  });
  Result result;
  pollfd fds[2] = {{out[0], POLLIN, 0}, {err[0], POLLIN, 0}};
  int open = 2;
  char buffer[65536];
  auto until = std::chrono::steady_clock::now() + options.deadline;
  bool killed = false;
  while (open > 0) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now()).count();
    if (left <= 0 && !killed) {
      // Stuck: say where, then end it (its output pipes may be held by what it started: stop reading).
      result.err += "\n[test support] " + argv[0] + " did not end within " + std::to_string(options.deadline.count()) +
                    " s; its threads:\n" + stacks_of(pid);
      ::kill(pid, SIGKILL);
      killed = true;
      until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
      continue;
    }
    if (left <= 0) break;
    if (::poll(fds, 2, static_cast<int>(std::min<long long>(left, 1000))) < 0) continue;
    for (int i = 0; i < 2; ++i) {
      if (fds[i].fd < 0 || !(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
      ssize_t n = ::read(fds[i].fd, buffer, sizeof buffer);
      if (n > 0) {
        (i == 0 ? result.out : result.err).append(buffer, static_cast<size_t>(n));
      } else {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open;
      }
    }
  }
  for (auto& fd : fds) {
    if (fd.fd >= 0) ::close(fd.fd);
  }
  writer.join();
  int status = 0;
  ::waitpid(pid, &status, 0);
  result.exit_code = killed ? 124 : WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

std::string stacks_of(int pid) {
  std::string pid_text = std::to_string(pid);
  if (::access("/usr/bin/gdb", X_OK) == 0) {
    RunOptions options;
    options.deadline = std::chrono::seconds(60);
    Result gdb = run_program({"/usr/bin/gdb", "-p", pid_text, "-batch", "-nx", "-ex", "thread apply all bt"}, options);
    if (gdb.out.find("Thread ") != std::string::npos) return gdb.out;
  }
  std::string text;
  std::error_code error;
  for (const auto& task : fs::directory_iterator("/proc/" + pid_text + "/task", error)) {
    text += task.path().filename().string() + " " + read_text(task.path() / "comm") + "  waits in " + read_text(task.path() / "wchan") + "\n";
  }
  return text.empty() ? "(process " + pid_text + " is gone)\n" : text;
}

Terminal::Terminal(const std::vector<std::string>& argv, const RunOptions& options) {
  std::vector<std::string> args = argv;
  std::vector<char*> c_args;
  for (auto& arg : args) c_args.push_back(arg.data());
  c_args.push_back(nullptr);
  winsize size{};
  size.ws_row = 30;
  size.ws_col = 100;
  pid_ = ::forkpty(&master_, nullptr, nullptr, &size);
  if (pid_ < 0) throw std::runtime_error("forkpty failed");
  if (pid_ == 0) {
    ::signal(SIGPIPE, SIG_DFL);
    for (const auto& [key, value] : options.env) {
      if (value.empty()) {
        ::unsetenv(key.c_str());
      } else {
        ::setenv(key.c_str(), value.c_str(), 1);
      }
    }
    ::execvp(c_args[0], c_args.data());
    ::_exit(127);
  }
}

Terminal::~Terminal() {
  if (master_ >= 0) ::close(master_);
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
}

bool Terminal::read_some(int timeout_ms) {
  pollfd fd{master_, POLLIN, 0};
  if (::poll(&fd, 1, timeout_ms) <= 0) return true;
  char buffer[4096];
  ssize_t n = ::read(master_, buffer, sizeof buffer);
  if (n <= 0) return false;  // EIO once every holder of the terminal's other side has closed it
  out_.append(buffer, static_cast<size_t>(n));
  return true;
}

void Terminal::type(const std::string& text) {
  [[maybe_unused]] ssize_t n = ::write(master_, text.data(), text.size());
}

bool Terminal::wait_for(const std::string& text, size_t from, std::chrono::milliseconds deadline) {
  auto seen = [&] { return text.empty() ? out_.size() > from : out_.find(text, std::min(from, out_.size())) != std::string::npos; };
  auto until = std::chrono::steady_clock::now() + deadline;
  while (!seen()) {
    if (std::chrono::steady_clock::now() >= until || !read_some(50)) return seen();
  }
  return true;
}

void Terminal::resize(unsigned short rows, unsigned short columns) {
  winsize size{};
  size.ws_row = rows;
  size.ws_col = columns;
  ::ioctl(master_, TIOCSWINSZ, &size);
}

Result Terminal::finish(std::chrono::milliseconds deadline) {
  auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until && read_some(50)) {
  }
  Result result;
  int status = 0;
  if (::waitpid(pid_, &status, WNOHANG) == 0) {
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
    result.err = "timed out";
  }
  pid_ = -1;
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.out = out_;
  return result;
}

Result run_in_terminal(const std::vector<std::string>& argv, const RunOptions& options, const std::string& input,
                       std::chrono::milliseconds deadline) {
  Terminal terminal(argv, options);
  auto until = std::chrono::steady_clock::now() + deadline;
  if (terminal.wait_for("", 0, deadline)) {  // its first output: the prompt
    for (size_t typed = 0; typed < input.size();) {
      size_t end = input.find('\n', typed);
      end = end == std::string::npos ? input.size() : end + 1;
      terminal.type(input.substr(typed, end - typed));
      typed = end;
    }
  }
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now());
  return terminal.finish(std::max(left, std::chrono::milliseconds(0)));
}

bool wait_until(const std::function<bool()>& condition, std::chrono::milliseconds deadline) {
  auto until = std::chrono::steady_clock::now() + deadline;
  auto pause = std::chrono::milliseconds(1);
  while (std::chrono::steady_clock::now() < until) {
    if (condition()) return true;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(50));
  }
  return condition();
}

ServerHome::ServerHome(Start when) {
  if (when == Start::now) start();
}

void drop_in_provider(const fs::path& home, const fs::path& library, const std::string& name, const std::string& manifest) {
  fs::create_directories(home / "providers");
  fs::copy_file(library, home / "providers" / (name + ".so"), fs::copy_options::overwrite_existing);
  if (!manifest.empty()) std::ofstream(home / "providers" / (name + ".yaml")) << manifest;
}

std::string provider_manifest(const std::string& name, const std::string& version, const std::string& api_version) {
  return "name: " + name + "\nversion: " + version + "\napi_version: \"" + api_version + "\"\ndescription: test\n";
}

fs::path test_provider(const std::string& file_stem) { return build_dir() / "tests" / "providers" / (file_stem + ".so"); }

ServerHome::~ServerHome() {
  if (pid_ > 0) stop();
}

Result ServerHome::berth(const std::vector<std::string>& args, const RunOptions& options) const {
  std::vector<std::string> argv{berth_binary().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  RunOptions with_home = options;
  with_home.env["BERTH_HOME"] = home().string();
  with_home.env.try_emplace("BERTH_NO_AUTOSTART", "1");
  with_home.env.try_emplace("BERTH_SERVER", "");
  return run_program(argv, with_home);
}

Result ServerHome::add_target(const std::string& yaml) const {
  RunOptions options;
  options.stdin_data = yaml;
  return berth({"target", "add", "-f", "-"}, options);
}

void ServerHome::start() {
  fs::path log = home() / "serve.out";
  pid_t pid = ::fork();
  if (pid == 0) {
    ::signal(SIGPIPE, SIG_DFL);
    int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0600);
    ::dup2(fd, 1);
    ::dup2(fd, 2);
    ::setenv("BERTH_HOME", home().c_str(), 1);
    if (file_size_limit_ > 0) {
      struct rlimit limit {static_cast<rlim_t>(file_size_limit_), static_cast<rlim_t>(file_size_limit_)};
      ::setrlimit(RLIMIT_FSIZE, &limit);
    }
    std::vector<std::string> args{berth_binary().string(), "serve"};
    args.insert(args.end(), serve_args_.begin(), serve_args_.end());
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  pid_ = pid;
  bool up = wait_until(
      [&] {
        int status = 0;
        if (::waitpid(pid_, &status, WNOHANG) == pid_) {
          pid_ = -1;
          return true;
        }
        return berth({"server", "status"}).exit_code == 0;
      },
      std::chrono::seconds(20));
  if (!up || pid_ < 0) throw std::runtime_error("berth serve did not come up: " + server_log());
}

void ServerHome::stop() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  // A server that does not end is a failure that says where it is stuck, not a silent ctest timeout.
  bool ended = wait_until([&] { return ::waitpid(pid_, nullptr, WNOHANG) == pid_; }, std::chrono::seconds(60));
  if (!ended) {
    ADD_FAILURE() << "berth serve (pid " << pid_ << ") did not end within 60 s of SIGTERM; its threads:\n"
                  << stacks_of(pid_) << "its log:\n" << server_log();
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  pid_ = -1;
}

void ServerHome::kill_hard() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGKILL);
  ::waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

int spawn_program(const std::vector<std::string>& argv, const RunOptions& options) {
  std::vector<std::string> args = argv;
  pid_t pid = ::fork();
  if (pid == 0) {
    ::signal(SIGPIPE, SIG_DFL);
    int null_fd = ::open("/dev/null", O_RDWR);
    int out_fd = options.output_file.empty() ? null_fd : ::open(options.output_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(null_fd, 0);
    ::dup2(out_fd, 1);
    ::dup2(out_fd, 2);
    for (const auto& [key, value] : options.env) {
      if (value.empty()) {
        ::unsetenv(key.c_str());
      } else {
        ::setenv(key.c_str(), value.c_str(), 1);
      }
    }
    std::vector<char*> c_args;
    for (auto& arg : args) c_args.push_back(arg.data());
    c_args.push_back(nullptr);
    ::execvp(c_args[0], c_args.data());
    ::_exit(127);
  }
  return pid;
}

int provider_host_pid(int server_pid, const std::string& library_stem) {
  for (const auto& entry : fs::directory_iterator("/proc")) {
    std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string stat = read_text(entry.path() / "stat");
    size_t close = stat.rfind(')');
    int parent = 0;
    char state = 0;
    if (close == std::string::npos || std::sscanf(stat.c_str() + close + 1, " %c %d", &state, &parent) != 2 || parent != server_pid) continue;
    std::string command = read_text(entry.path() / "cmdline");
    for (char& c : command) c = c == '\0' ? ' ' : c;
    if (command.find("berth-provider-host") != std::string::npos && command.find("/" + library_stem + ".so ") != std::string::npos) {
      return std::stoi(name);
    }
  }
  return 0;
}

size_t thread_count(int pid) {
  std::error_code error;
  size_t count = 0;
  for (fs::directory_iterator it("/proc/" + std::to_string(pid) + "/task", error), end; !error && it != end; it.increment(error)) ++count;
  return count;
}

std::string send_raw(const fs::path& socket, const std::string& request, std::chrono::milliseconds deadline,
                     const std::function<bool(const std::string&)>& enough) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::snprintf(address.sun_path, sizeof address.sun_path, "%s", socket.c_str());
  if (::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    ::close(fd);
    return "";
  }
  ::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  std::string answer;
  auto until = std::chrono::steady_clock::now() + deadline;
  char buffer[4096];
  while (std::chrono::steady_clock::now() < until) {
    pollfd ready{fd, POLLIN, 0};
    int left = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now()).count());
    if (::poll(&ready, 1, std::max(left, 1)) <= 0) continue;
    ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
    if (n <= 0) break;
    answer.append(buffer, static_cast<size_t>(n));
    if (enough && enough(answer)) break;
  }
  ::close(fd);
  return answer;
}

int free_tcp_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address);
  socklen_t size = sizeof address;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &size);
  int port = ntohs(address.sin_port);
  ::close(fd);
  return port;
}

std::string ServerHome::server_log() const { return read_text(home() / "serve.out"); }

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream content;
  content << in.rdbuf();
  return content.str();
}

fs::path make_git_repo(const fs::path& where, const std::string& message) {
  fs::create_directories(where);
  RunOptions options;
  options.workdir = where;
  options.env = {{"GIT_AUTHOR_NAME", "berth"}, {"GIT_AUTHOR_EMAIL", "berth@example.org"},
                 {"GIT_COMMITTER_NAME", "berth"}, {"GIT_COMMITTER_EMAIL", "berth@example.org"}};
  run_program({"git", "init", "-q"}, options);
  std::ofstream(where / "README.md") << "hello from the repo\n";
  run_program({"git", "add", "README.md"}, options);
  auto result = run_program({"git", "commit", "-q", "-m", message}, options);
  if (result.exit_code != 0) throw std::runtime_error("git commit failed: " + result.err);
  return where;
}

void commit_all(const fs::path& where, const std::string& message) {
  RunOptions options;
  options.workdir = where;
  options.env = {{"GIT_AUTHOR_NAME", "berth"}, {"GIT_AUTHOR_EMAIL", "berth@example.org"},
                 {"GIT_COMMITTER_NAME", "berth"}, {"GIT_COMMITTER_EMAIL", "berth@example.org"}};
  run_program({"git", "add", "-A"}, options);
  auto result = run_program({"git", "commit", "-q", "-m", message}, options);
  if (result.exit_code != 0) throw std::runtime_error("git commit failed: " + result.err);
}

}  // namespace berth::test
