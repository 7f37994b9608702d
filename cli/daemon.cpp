#include "daemon.hpp"

#include "api_client.hpp"
#include "atomic_file.hpp"
#include "errors.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sstream>
#include <thread>

namespace fs = std::filesystem;

namespace berth::cli {
namespace {

int read_pid(const Home& home) {
  auto text = read_home_file(home.pid_path());
  if (!text) return 0;
  try {
    return std::stoi(*text);
  } catch (const std::exception&) {
    return 0;
  }
}

// A zombie (ended, not yet reaped by whoever started it) counts as gone; a process whose main
// thread ended while others still run (its leader shows as a zombie) does not.
bool alive(int pid) {
  if (pid <= 0 || (::kill(pid, 0) != 0 && errno != EPERM)) return false;
  auto stat = read_file("/proc/" + std::to_string(pid) + "/stat").value_or("");
  size_t paren = stat.rfind(')');
  if (paren == std::string::npos || paren + 2 >= stat.size() || stat[paren + 2] != 'Z') return true;
  std::error_code error;
  size_t threads = 0;
  for (fs::directory_iterator it("/proc/" + std::to_string(pid) + "/task", error), end; !error && it != end; it.increment(error)) ++threads;
  return threads > 1;
}

// The end of what the log gained past offset from (this start's lines, not an earlier one's).
std::string log_tail(const fs::path& path, size_t from) {
  auto text = read_file(path).value_or("");
  if (from > text.size()) from = 0;  // the log was replaced meanwhile
  size_t start = std::max(from, text.size() > 800 ? text.size() - 800 : size_t{0});
  text = text.substr(start);
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text.empty() ? "(nothing)" : text;
}

// The process holding the flock on path (the home's lock), from /proc/locks; 0 when none.
// Read, not tried: taking the lock even for a moment could make a starting server lose it.
int lock_holder(const fs::path& path) {
  struct stat file {};
  if (::stat(path.c_str(), &file) != 0) return 0;
  std::istringstream locks(read_file("/proc/locks").value_or(""));
  for (std::string line; std::getline(locks, line);) {
    // "1: FLOCK  ADVISORY  WRITE 4242 08:01:1234567 0 EOF"
    std::istringstream fields(line);
    std::string number, kind, mode, access, where;
    int pid = 0;
    if (!(fields >> number >> kind >> mode >> access >> pid >> where) || kind != "FLOCK") continue;
    size_t colon = where.rfind(':');
    if (colon == std::string::npos) continue;
    try {
      if (std::stoull(where.substr(colon + 1)) == file.st_ino) return pid;
    } catch (const std::exception&) {
    }
  }
  return 0;
}

template <class Condition>
bool wait_until(Condition condition, std::chrono::milliseconds deadline) {
  auto until = std::chrono::steady_clock::now() + deadline;
  auto pause = std::chrono::milliseconds(2);
  while (std::chrono::steady_clock::now() < until) {
    if (condition()) return true;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::milliseconds(5));
  }
  return condition();
}

}  // namespace

DaemonStatus daemon_status(const Home& home) {
  ApiClient client(Endpoint{"unix://" + home.socket_path().string(), ""});
  DaemonStatus status;
  status.running = client.healthy();
  status.pid = status.running ? read_pid(home) : 0;
  return status;
}

int start_daemon(const Home& home, std::chrono::milliseconds deadline, const std::vector<std::string>& serve_args) {
  home.create_folders();
  fs::path self = fs::read_symlink("/proc/self/exe");
  std::string home_arg = home.data_dir == home.config_dir ? home.data_dir.string() : "";
  const size_t log_size_before = read_file(home.server_log_path()).value_or("").size();
  pid_t pid = ::fork();
  if (pid < 0) throw unavailable("cannot start the server: fork failed");
  if (pid == 0) {
    ::setsid();
    int null_fd = ::open("/dev/null", O_RDONLY);
    int log_fd = ::open(home.server_log_path().c_str(), O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (null_fd >= 0) ::dup2(null_fd, 0);
    if (log_fd >= 0) {
      ::dup2(log_fd, 1);
      ::dup2(log_fd, 2);
    }
    std::vector<std::string> args{self.string()};
    if (!home_arg.empty()) args.insert(args.end(), {"--home", home_arg});
    args.push_back("serve");
    args.insert(args.end(), serve_args.begin(), serve_args.end());
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    // Nothing of this CLI (its connections, the /dev/null and log descriptors above) reaches the
    // server, and through it the provider hosts and the workspaces' commands.
    ::close_range(3, ~0U, 0);
    ::execv(self.c_str(), argv.data());
    ::_exit(127);
  }
  ApiClient client(Endpoint{"unix://" + home.socket_path().string(), ""});
  // Many first-use CLIs at once each start a server, and all but one lose the home's lock and
  // exit: a CLI whose server lost uses the winner (/proc/locks names it) once it answers. A loser
  // was refused by a holder of the lock, which lets it go only by ending, so an ended server with
  // no live holder means nobody will serve, said at once; a server that is alive but slow to answer
  // (a loaded machine starting twenty at once) is waited for until the deadline.
  int serving = pid;
  bool failed = false;
  bool up = wait_until(
      [&] {
        if (client.healthy()) return true;
        int status = 0;
        if (serving == pid && ::waitpid(pid, &status, WNOHANG) == pid) {
          int owner = lock_holder(home.lock_path());
          if (owner <= 0 || owner == pid || !alive(owner)) return failed = true;  // it failed by itself: report below
          serving = owner;
        }
        if (serving != pid && !alive(serving)) return failed = true;  // the winner ended too
        return false;
      },
      deadline);
  if (!up || !client.healthy()) {
    std::string who = serving == pid ? "the server" : "the server another berth started (pid " + std::to_string(serving) + ")";
    std::string why = !failed && alive(serving) ? who + " is running but did not answer" : who + " did not come up";
    throw unavailable(why + "; it wrote to " + home.server_log_path().string() + ":\n" + log_tail(home.server_log_path(), log_size_before));
  }
  return serving;
}

bool stop_daemon(const Home& home, std::chrono::milliseconds deadline, const std::function<void(const std::string&)>& still_ending) {
  int pid = read_pid(home);
  if (!alive(pid) || !daemon_status(home).running) return false;
  // The process itself, not its pid: readable once every thread of it has ended.
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, pid, 0));
  struct Closer {
    int fd;
    ~Closer() {
      if (fd >= 0) ::close(fd);
    }
  } closer{pidfd};
  auto ended_within = [&](std::chrono::milliseconds bound) {
    if (pidfd < 0) return wait_until([&] { return !alive(pid); }, bound);
    pollfd ready{pidfd, POLLIN, 0};
    auto until = std::chrono::steady_clock::now() + bound;
    while (true) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(until - std::chrono::steady_clock::now()).count();
      int n = ::poll(&ready, 1, static_cast<int>(std::max<long long>(left, 0)));
      if (n >= 0 || errno != EINTR) return n > 0;
    }
  };
  ::kill(pid, SIGTERM);
  // Running operations and streams finish first (the server gives them up to 10 s): said, so
  // nobody takes a server that still runs for a stopped one.
  constexpr auto kQuiet = std::chrono::seconds(2);
  bool ended = ended_within(std::min<std::chrono::milliseconds>(kQuiet, deadline));
  if (!ended && deadline > kQuiet) {
    if (still_ending) {
      still_ending("the server (pid " + std::to_string(pid) + ") is still ending: running operations and streams finish first; waiting up to " +
                   std::to_string(std::chrono::duration_cast<std::chrono::seconds>(deadline - kQuiet).count()) + " s more");
    }
    ended = ended_within(deadline - kQuiet);
  }
  if (!ended) {
    throw unavailable("the server (pid " + std::to_string(pid) + ") did not stop within " +
                      std::to_string(deadline.count() / 1000) + " s; its log is " + home.server_log_path().string());
  }
  return true;
}

}  // namespace berth::cli
