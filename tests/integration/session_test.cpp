// Sessions and port forwarding through the server (issue 12), on the host provider and a
// provider without sessions: the real berth binary, a real berth serve, real processes.
#include "test_support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <functional>
#include <random>

namespace fs = std::filesystem;
using berth::test::Result;
using berth::test::RunOptions;
using berth::test::ServerHome;
using berth::test::wait_until;
using namespace std::chrono_literals;

namespace {

RunOptions at(const ServerHome& server, std::string stdin_data = "") {
  RunOptions options;
  options.env = {{"BERTH_HOME", server.home().string()}, {"BERTH_NO_AUTOSTART", "1"}, {"PS1", "$ "}};
  options.stdin_data = std::move(stdin_data);
  return options;
}

std::string binary_data(size_t size) {
  std::string data(size, '\0');
  std::mt19937 random(42);
  for (size_t i = 0; i < size; ++i) data[i] = static_cast<char>(i < 256 ? i : random() & 0xff);
  return data;
}

// How many processes' command lines (arguments joined by spaces, a space after each) match.
// A process may end while it is read: then it counts as gone (a read error, not a throw).
int count_processes(const std::function<bool(const std::string& line)>& match) {
  int count = 0;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string line;
    int fd = ::open((entry.path() / "cmdline").c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    char buffer[4096];
    for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;) line.append(buffer, static_cast<size_t>(n));
    ::close(fd);
    for (char& c : line) c = c == '\0' ? ' ' : c;
    if (match(line)) ++count;
  }
  return count;
}

// Processes whose command line holds `marker` (berth's own left out).
int processes_with(const std::string& marker) {
  return count_processes([&](const std::string& line) { return line.find(marker) != std::string::npos && line.find("berth") == std::string::npos; });
}

// Processes whose command line is exactly `words`: the program itself once it runs, not a
// shell or a forked copy of one that names it.
int processes_running(const std::string& words) {
  return count_processes([&](const std::string& line) { return line == words + " "; });
}

int open_descriptors(int pid) {
  int count = 0;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd")) ++count;
  return count;
}

TEST(Session, StdinStreamsBinaryBothWaysWithNoSizeCap) {
  ServerHome server;
  ASSERT_EQ(server.berth({"create", "box"}).exit_code, 0);
  // Past 64 KiB the old exec hung for ever; past 1 MiB the old API refused; bytes that are not
  // UTF-8 failed with a JSON error. 3 MiB of every byte value now goes through and back.
  std::string data = binary_data(3 << 20);
  Result echoed = server.berth({"exec", "-i", "box", "--", "cat"}, at(server, data));
  ASSERT_EQ(echoed.exit_code, 0) << echoed.err;
  EXPECT_EQ(echoed.out.size(), data.size());
  EXPECT_TRUE(echoed.out == data) << "the bytes came back changed";
  Result counted = server.berth({"exec", "-i", "box", "--", "wc", "-c"}, at(server, data));
  EXPECT_EQ(counted.out, std::to_string(data.size()) + "\n");
  // Without -i the command's stdin is closed at once: cat ends.
  Result closed = server.berth({"exec", "box", "--", "cat"});
  EXPECT_EQ(closed.exit_code, 0);
  EXPECT_EQ(closed.out, "");
  Result split = server.berth({"exec", "box", "--", "sh", "-c", "echo out; echo err >&2; exit 7"});
  EXPECT_EQ(split.exit_code, 7);
  EXPECT_EQ(split.out, "out\n");
  EXPECT_EQ(split.err, "err\n");
}

TEST(Session, TerminalSessionHasATerminalResizesAndExitCode) {
  ServerHome server;
  ASSERT_EQ(server.berth({"create", "box"}).exit_code, 0);
  berth::test::Terminal terminal({berth::test::berth_binary().string(), "ssh", "box"}, at(server));
  ASSERT_TRUE(terminal.wait_for("", 0, 20s)) << "no prompt";
  size_t mark = terminal.output().size();
  terminal.type("stty size; tty\n");
  EXPECT_TRUE(terminal.wait_for("30 100", mark, 20s)) << terminal.output();
  EXPECT_TRUE(terminal.wait_for("/dev/pts/", mark, 20s)) << terminal.output();
  mark = terminal.output().size();
  terminal.resize(41, 132);
  // The resize travels as its own frame; ask until the shell sees it.
  EXPECT_TRUE(wait_until(
      [&] {
        terminal.type("stty size\n");
        return terminal.wait_for("41 132", mark, 500ms);
      },
      20s))
      << terminal.output();
  mark = terminal.output().size();
  terminal.type("sleep 1237\n");
  ASSERT_TRUE(wait_until([&] { return processes_with("sleep 1237") == 1; }, 20s)) << terminal.output();
  terminal.type("\x03");  // Ctrl-C reaches the workspace's terminal, not berth
  EXPECT_TRUE(wait_until([&] { return processes_with("sleep 1237") == 0; }, 20s)) << terminal.output();
  mark = terminal.output().size();
  EXPECT_TRUE(wait_until(
      [&] {
        terminal.type("echo after-sleep=$?\n");
        return terminal.wait_for("after-sleep=130", mark, 1s);
      },
      20s))
      << terminal.output();
  terminal.type("exit 3\n");
  Result finished = terminal.finish(20s);
  EXPECT_EQ(finished.exit_code, 3) << finished.out;
}

TEST(Session, AClientThatGoesAwayEndsTheCommandAndLeaksNothing) {
  ServerHome server;
  ASSERT_EQ(server.berth({"create", "box"}).exit_code, 0);
  ASSERT_EQ(server.berth({"exec", "box", "--", "true"}).exit_code, 0);  // the provider host is up
  int descriptors = open_descriptors(server.pid());
  const std::string marker = "sleep 1234";
  for (const char* mode : {"-i", "-t"}) {
    int client = berth::test::spawn_program({berth::test::berth_binary().string(), "exec", mode, "box", "--", "sleep", "1234"}, at(server));
    ASSERT_TRUE(wait_until([&] { return processes_with(marker) == 1; }, 20s)) << mode;
    ::kill(client, SIGKILL);
    ::waitpid(client, nullptr, 0);
    EXPECT_TRUE(wait_until([&] { return processes_with(marker) == 0; }, 20s)) << "the command outlived its client (" << mode << ")";
  }
  EXPECT_TRUE(wait_until([&] { return open_descriptors(server.pid()) <= descriptors; }, 20s))
      << open_descriptors(server.pid()) << " open now, " << descriptors << " before";
  // Ctrl-C at berth exec without a terminal is passed on as SIGINT.
  int client = berth::test::spawn_program({berth::test::berth_binary().string(), "exec", "box", "--", "sh", "-c", "sleep 1236; true"}, at(server));
  // Both the shell and its sleep, the sleep running as itself: the shell has set up and waits
  // for its child. (A signal that came while the shell was still starting could find SIGINT not
  // yet its own to act on; one that came to the shell's forked copy before it became sleep was
  // caught by the copy's inherited handler and lost at its exec — the shell then waited for
  // ever. Counting the shell and that copy as "both" let that happen about once in 12 loaded runs.)
  ASSERT_TRUE(wait_until([&] { return processes_with("sleep 1236") >= 2 && processes_running("sleep 1236") == 1; }, 20s));
  ::kill(client, SIGINT);
  int status = 0;
  bool ended = wait_until([&] { return ::waitpid(client, &status, WNOHANG) == client; }, 20s);
  std::string stuck;  // what the command's processes look like when they did not end
  if (!ended) {
    for (const auto& entry : fs::directory_iterator("/proc")) {
      std::string status_text = berth::test::read_text(entry.path() / "status");
      std::string cmdline = berth::test::read_text(entry.path() / "cmdline");
      for (char& c : cmdline) c = c == '\0' ? ' ' : c;
      if (cmdline.find("sleep 1236") == std::string::npos && entry.path().filename() != std::to_string(client)) continue;
      stuck += entry.path().filename().string() + " " + cmdline + "\n";
      for (const char* field : {"State:", "PPid:", "SigPnd:", "ShdPnd:", "SigBlk:", "SigIgn:", "SigCgt:"}) {
        size_t at = status_text.find(field);
        if (at != std::string::npos) stuck += "  " + status_text.substr(at, status_text.find('\n', at) - at) + "\n";
      }
    }
    ::kill(client, SIGKILL);
    ::waitpid(client, &status, 0);
  }
  EXPECT_TRUE(ended) << "berth exec did not end at Ctrl-C:\n" << stuck << "server log:\n" << server.server_log();
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 130) << status;
  EXPECT_TRUE(wait_until([&] { return processes_with("sleep 1236") == 0; }, 20s));
}

// Issue 22: a burst of sessions leaves no parked thread per session in the provider's host.
TEST(Session, TheProviderHostsThreadsComeBackToTheirBaselineAfterABurst) {
  ServerHome server;
  ASSERT_EQ(server.berth({"create", "box"}).exit_code, 0);
  ASSERT_EQ(server.berth({"exec", "box", "--", "true"}).exit_code, 0);  // the provider host is up
  int host = berth::test::provider_host_pid(server.pid(), "host");
  ASSERT_GT(host, 0);
  size_t baseline = berth::test::thread_count(host);
  fs::path gate = server.home() / "gate";
  constexpr int kSessions = 16;
  std::vector<int> clients;
  for (int i = 0; i < kSessions; ++i) {
    fs::path started = server.home() / ("started-" + std::to_string(i));
    clients.push_back(berth::test::spawn_program({berth::test::berth_binary().string(), "exec", "box", "--", "sh", "-c",
                                                  "touch " + started.string() + "; while [ ! -e " + gate.string() + " ]; do sleep 0.05; done"},
                                                 at(server)));
  }
  ASSERT_TRUE(wait_until(
      [&] {
        for (int i = 0; i < kSessions; ++i) {
          if (!fs::exists(server.home() / ("started-" + std::to_string(i)))) return false;
        }
        return true;
      },
      60s));
  // The burst is real: the host holds threads for the running sessions. How many at one instant
  // is not a contract (under TSan two full runs peaked at 14 of 16 while all 16 commands ran), so
  // this asks for half; the point of the test is the return to the baseline below.
  size_t busy = 0;
  EXPECT_TRUE(wait_until(
      [&] {
        busy = std::max(busy, berth::test::thread_count(host));
        return busy >= baseline + kSessions / 2;
      },
      30s))
      << "the sessions ran at once: " << busy << " threads, " << baseline << " before";
  std::ofstream(gate) << "open";
  for (int client : clients) {
    int status = 0;
    ::waitpid(client, &status, 0);
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }
  EXPECT_TRUE(wait_until([&] { return berth::test::thread_count(host) <= baseline + 1; }, 30s))
      << berth::test::thread_count(host) << " threads, " << baseline << " before the burst, " << busy << " during it";
  EXPECT_EQ(berth::test::provider_host_pid(server.pid(), "host"), host);
}

// Issue 22: -e A=B=c is name A, value B=c (as docker exec takes it), the same as create --env;
// a name a shell cannot take, and a NUL byte (which execve would cut at), are refused by name.
TEST(Session, ExecEnvAndArgumentsAreTakenAsGivenOrRefusedByName) {
  ServerHome server;
  ASSERT_EQ(server.berth({"create", "box"}).exit_code, 0);
  Result value = server.berth({"exec", "-e", "A=B=c", "box", "--", "sh", "-c", "printf %s \"$A\""});
  EXPECT_EQ(value.exit_code, 0) << value.err;
  EXPECT_EQ(value.out, "B=c");
  for (const char* command : {"exec", "create"}) {
    std::vector<std::string> args = std::string(command) == "exec" ? std::vector<std::string>{"exec", "-e", "A-B=c", "box", "--", "true"}
                                                                   : std::vector<std::string>{"create", "other", "--env", "A-B=c"};
    Result refused = server.berth(args);
    EXPECT_NE(refused.exit_code, 0) << command;
    EXPECT_NE(refused.err.find("env name 'A-B' must be letters, digits and '_'"), std::string::npos) << command << ": " << refused.err;
  }
  auto post = [&](const std::string& body) {
    std::string request = "POST /v1/workspaces/box/exec HTTP/1.1\r\nHost: berth\r\nContent-Type: application/json\r\nContent-Length: " +
                          std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" + body;
    return berth::test::send_raw(server.home() / "berth.sock", request, 20s);
  };
  std::string cut = post(R"({"command": ["printf", "%s", "a\u0000b"]})");
  EXPECT_NE(cut.find(" 400 "), std::string::npos) << cut;
  EXPECT_NE(cut.find("argument 3 of the command ('a\\\\0b') contains a NUL byte"), std::string::npos) << cut;
  std::string env = post(R"({"command": ["true"], "env": {"A": "x\u0000y"}})");
  EXPECT_NE(env.find(" 400 "), std::string::npos) << env;
  EXPECT_NE(env.find("env value of 'A'"), std::string::npos) << env;
}

// A berth exec whose stdout is a pipe nobody reads: its stream stalls in the server.
struct StalledClient {
  int pid = -1;
  int unread = -1;  // the read end of its stdout, never read
  StalledClient(const ServerHome& server, const std::vector<std::string>& command) {
    int out[2];
    if (::pipe2(out, O_CLOEXEC) != 0) return;
    pid = ::fork();
    if (pid == 0) {
      ::dup2(out[1], 1);
      ::setenv("BERTH_HOME", server.home().c_str(), 1);
      ::setenv("BERTH_NO_AUTOSTART", "1", 1);
      std::vector<std::string> args{berth::test::berth_binary().string(), "exec", "box", "--"};
      args.insert(args.end(), command.begin(), command.end());
      std::vector<char*> argv;
      for (auto& arg : args) argv.push_back(arg.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    ::close(out[1]);
    unread = out[0];
  }
  ~StalledClient() {
    ::close(unread);  // its next write fails: it ends
    if (pid > 0) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  }
};

// Issue 22: one client may hold at most 16 streams that wait for it to read; past that, a
// stream that stalls is dropped (and its command ended) at once, not after a minute or two.
TEST(Session, OneClientHoldsAtMostSixteenStalledStreams) {
  ServerHome server;
  ASSERT_EQ(server.berth({"create", "box"}).exit_code, 0);
  std::vector<std::unique_ptr<StalledClient>> clients;
  for (int i = 0; i < 20; ++i) clients.push_back(std::make_unique<StalledClient>(server, std::vector<std::string>{"yes", "stalled-1238"}));
  ASSERT_TRUE(wait_until([&] { return processes_with("stalled-1238") >= 16; }, 30s)) << processes_with("stalled-1238");
  EXPECT_TRUE(wait_until([&] { return processes_with("stalled-1238") == 16; }, 30s)) << processes_with("stalled-1238") << " commands still run";
  clients.clear();
  EXPECT_TRUE(wait_until([&] { return processes_with("stalled-1238") == 0; }, 30s)) << processes_with("stalled-1238");
}

// Issue 22: a client that takes nothing is dropped after 60 s, as docs/sessions.md says (a
// frame sent in parts waited 60 s per part: about 120 s).
TEST(StalledReader, IsDroppedAfterSixtySeconds) {
  ServerHome server;
  ASSERT_EQ(server.berth({"create", "box"}).exit_code, 0);
  // A raw client that opens a session and never reads: the server's close shows as POLLRDHUP.
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::snprintf(address.sun_path, sizeof address.sun_path, "%s", (server.home() / "berth.sock").c_str());
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  std::string body = R"({"command": ["dd", "if=/dev/zero", "bs=1048577", "status=none"]})";
  std::string request = "POST /v1/workspaces/box/session HTTP/1.1\r\nHost: berth\r\nConnection: Upgrade\r\nUpgrade: berth-stream\r\n"
                        "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
  ASSERT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL), static_cast<ssize_t>(request.size()));
  ASSERT_TRUE(wait_until([&] { return processes_with("bs=1048577") == 1; }, 30s));
  auto start = std::chrono::steady_clock::now();
  bool dropped = wait_until(
      [&] {
        pollfd closed{fd, POLLRDHUP, 0};
        return ::poll(&closed, 1, 0) > 0 && (closed.revents & (POLLRDHUP | POLLHUP));
      },
      150s);
  auto took = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - start).count();
  ::close(fd);
  EXPECT_TRUE(dropped);
  EXPECT_GE(took, 55);
  EXPECT_LE(took, 75) << "dropped after " << took << " s";
  EXPECT_TRUE(wait_until([&] { return processes_with("bs=1048577") == 0; }, 30s)) << "the command outlived its dropped client";
}

TEST(Session, TheServerStoppingMidSessionIsSaidAndNonZero) {
  ServerHome server;
  ASSERT_EQ(server.berth({"create", "box"}).exit_code, 0);
  fs::path out = server.home() / "client.err";
  pid_t client = ::fork();
  if (client == 0) {
    int fd = ::open(out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    ::dup2(fd, 2);
    ::setenv("BERTH_HOME", server.home().c_str(), 1);
    ::setenv("BERTH_NO_AUTOSTART", "1", 1);
    ::execl(berth::test::berth_binary().c_str(), "berth", "exec", "box", "--", "sleep", "1235", nullptr);
    ::_exit(127);
  }
  ASSERT_TRUE(wait_until([&] { return processes_with("sleep 1235") == 1; }, 20s));
  server.stop();
  int status = 0;
  ASSERT_TRUE(wait_until([&] { return ::waitpid(client, &status, WNOHANG) == client; }, 30s));
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0) << status;
  std::string said = berth::test::read_text(out);
  EXPECT_TRUE(said.find("shutting down") != std::string::npos || said.find("lost the connection") != std::string::npos) << said;
  EXPECT_TRUE(wait_until([&] { return processes_with("sleep 1235") == 0; }, 20s));
}

TEST(Session, RefusalsNameWhatIsWrong) {
  ServerHome server;
  Result unknown = server.berth({"ssh", "nope"});
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.err.find("workspace 'nope' does not exist"), std::string::npos) << unknown.err;
  ASSERT_EQ(server.berth({"create", "box"}).exit_code, 0);
  ASSERT_EQ(server.berth({"stop", "box"}).exit_code, 0);
  for (auto args : {std::vector<std::string>{"ssh", "box"}, {"exec", "box", "--", "true"}, {"forward", "box", "0:80"}}) {
    Result stopped = server.berth(args);
    EXPECT_EQ(stopped.exit_code, 1) << args[0];
    EXPECT_NE(stopped.err.find("berth start box"), std::string::npos) << args[0] << ": " << stopped.err;
  }
  Result bad_port = server.berth({"forward", "box", "80000"});
  EXPECT_EQ(bad_port.exit_code, 2);
  EXPECT_NE(bad_port.err.find("'80000' is not [LOCAL:]REMOTE"), std::string::npos) << bad_port.err;
  // The raw route: a stream needs the upgrade, and the port must be a port.
  std::string plain = berth::test::send_raw(server.home() / "berth.sock",
                                            "POST /v1/workspaces/box/session HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n", 5s);
  EXPECT_NE(plain.find("Upgrade: berth-stream"), std::string::npos) << plain;
  std::string bad = berth::test::send_raw(server.home() / "berth.sock",
                                          "POST /v1/workspaces/box/ports/99999 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
                                          "Upgrade: berth-stream\r\nContent-Length: 0\r\n\r\n",
                                          5s);
  EXPECT_NE(bad.find("HTTP/1.1 400"), std::string::npos) << bad;
  EXPECT_NE(bad.find("not a TCP port"), std::string::npos) << bad;
}

TEST(Session, AProviderWithoutSessionsServesExecAndSaysSoForTerminals) {
  ServerHome server(ServerHome::Start::later);
  berth::test::drop_in_provider(server.home(), berth::test::test_provider("flaky_provider"), "plain",
                                berth::test::provider_manifest("plain"));
  server.start();
  ASSERT_EQ(server.add_target("name: p\nprovider: plain\n").exit_code, 0);
  ASSERT_EQ(server.berth({"create", "w", "--target", "p"}).exit_code, 0);
  Result ran = server.berth({"exec", "-i", "w", "--", "echo", "hi"}, at(server, "input"));
  EXPECT_EQ(ran.exit_code, 0) << ran.err;
  EXPECT_EQ(ran.out, "flaky ran: echo hi\n");
  berth::test::Terminal terminal({berth::test::berth_binary().string(), "ssh", "w"}, at(server));
  Result refused = terminal.finish(20s);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.out.find("provider 'plain' has no terminal sessions"), std::string::npos) << refused.out;
  Result no_ports = server.berth({"exec", "w", "--", "true"});
  EXPECT_EQ(no_ports.exit_code, 0);
}

// berth forward against busybox httpd in a host workspace: many connections, big bodies.
TEST(Session, ForwardCarriesConnectionsToTheWorkspacesPort) {
  if (!fs::exists("/bin/busybox")) GTEST_SKIP() << "busybox is not installed (scripts/install-deps --test installs it)";
  ServerHome server;
  ASSERT_EQ(server.berth({"create", "web"}).exit_code, 0);
  int remote = berth::test::free_tcp_port();
  fs::path www = server.home() / "www";
  fs::create_directories(www);
  std::string big = binary_data(8 << 20);
  std::ofstream(www / "big") << big;
  std::ofstream(www / "index.html") << "hello through berth\n";
  int httpd = berth::test::spawn_program({"/bin/busybox", "httpd", "-f", "-p", "127.0.0.1:" + std::to_string(remote), "-h", www.string()});
  struct Reap {
    int pid;
    ~Reap() {
      if (pid <= 0) return;  // reaped already
      ::kill(pid, SIGKILL);
      ::waitpid(pid, nullptr, 0);
    }
  } reap_httpd{httpd};
  int local = berth::test::free_tcp_port();
  int forward = berth::test::spawn_program({berth::test::berth_binary().string(), "forward", "web", std::to_string(local) + ":" + std::to_string(remote)},
                                           at(server));
  Reap reap_forward{forward};
  std::string url = "http://127.0.0.1:" + std::to_string(local);
  Result first;
  ASSERT_TRUE(wait_until(
      [&] {
        first = berth::test::run_program({"curl", "-sS", "--max-time", "10", url + "/index.html"});
        return first.exit_code == 0;
      },
      20s))
      << first.err;
  EXPECT_EQ(first.out, "hello through berth\n");
  // Two at once, each a big download, byte for byte.
  int a = berth::test::spawn_program({"sh", "-c", "curl -sS --max-time 60 " + url + "/big > " + (server.home() / "a").string()});
  Result b = berth::test::run_program({"curl", "-sS", "--max-time", "60", url + "/big"});
  int status = 0;
  ::waitpid(a, &status, 0);
  EXPECT_EQ(b.exit_code, 0) << b.err;
  EXPECT_TRUE(b.out == big) << "the download came through changed (" << b.out.size() << " bytes)";
  EXPECT_TRUE(berth::test::read_text(server.home() / "a") == big) << "the second download came through changed";

  // A local port in use is refused with what to do; a port nothing listens on says so.
  Result taken = server.berth({"forward", "web", std::to_string(local) + ":" + std::to_string(remote)});
  EXPECT_EQ(taken.exit_code, 1);
  EXPECT_NE(taken.err.find("already in use on this machine"), std::string::npos) << taken.err;
  // The port it suggests instead is free (issue 22: it suggested LOCAL+1 unchecked, and 65536).
  auto suggested = [](const std::string& err) {
    size_t at = err.find("berth forward web ");
    return at == std::string::npos ? -1 : std::atoi(err.c_str() + at + 18);
  };
  int offered = suggested(taken.err);
  EXPECT_TRUE(offered >= 0 && offered <= 65535) << taken.err;
  int listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(offered));
  EXPECT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address), 0) << "port " << offered << " is not free";
  ::close(listener);
  int top = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  address.sin_port = htons(65535);
  bool holding_top = ::bind(top, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0 && ::listen(top, 1) == 0;
  Result at_top = server.berth({"forward", "web", "65535:" + std::to_string(remote)});
  ::close(top);
  EXPECT_EQ(at_top.exit_code, 1);
  EXPECT_EQ(at_top.err.find("65536"), std::string::npos) << at_top.err;
  if (holding_top) {
    EXPECT_EQ(suggested(at_top.err), 0) << at_top.err;
  }

  int dead = berth::test::free_tcp_port();
  int local2 = berth::test::free_tcp_port();
  fs::path said = server.home() / "forward2.err";
  RunOptions logged = at(server);
  logged.output_file = said;
  int forward2 =
      berth::test::spawn_program({berth::test::berth_binary().string(), "forward", "web", std::to_string(local2) + ":" + std::to_string(dead)}, logged);
  Reap reap_forward2{forward2};
  ASSERT_TRUE(wait_until([&] { return berth::test::read_text(said).find("Ctrl-C") != std::string::npos; }, 20s));
  Result refused = berth::test::run_program({"curl", "-sS", "--max-time", "10", "http://127.0.0.1:" + std::to_string(local2) + "/"});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_TRUE(wait_until([&] { return berth::test::read_text(said).find("nothing listens on port " + std::to_string(dead)) != std::string::npos; }, 20s))
      << berth::test::read_text(said);

  // Its server stopped, forward says so and ends, non-zero (issue 22: it listened on for ever).
  server.stop();
  int forward_status = 0;
  if (wait_until([&] { return ::waitpid(forward2, &forward_status, WNOHANG) == forward2; }, 30s)) {
    reap_forward2.pid = -1;
  } else {
    ADD_FAILURE() << "berth forward outlived its server: " << berth::test::read_text(said);
  }
  EXPECT_TRUE(WIFEXITED(forward_status) && WEXITSTATUS(forward_status) != 0) << forward_status;
  EXPECT_NE(berth::test::read_text(said).find("stopped; stopped forwarding"), std::string::npos) << berth::test::read_text(said);
}

// The same streams over TCP with an API key, as a remote client uses them.
TEST(Session, StreamsWorkOverTcpWithAKeyAndNotWithout) {
  int port = berth::test::free_tcp_port();
  ServerHome server(ServerHome::Start::later);
  server.set_serve_args({"--listen", "127.0.0.1:" + std::to_string(port)});
  server.start();
  Result created = server.berth({"apikey", "create", "laptop"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  std::string key = created.out.substr(0, created.out.find('\n'));
  ASSERT_EQ(server.berth({"create", "box"}).exit_code, 0);
  berth::test::TempDir elsewhere;  // another machine's home: nothing of the server's
  RunOptions remote;
  remote.env = {{"BERTH_HOME", elsewhere.path().string()}, {"BERTH_SERVER", "http://127.0.0.1:" + std::to_string(port)},
                {"BERTH_API_KEY", key}, {"PS1", "$ "}};
  remote.stdin_data = binary_data(1 << 20);
  Result echoed = berth::test::run_program({berth::test::berth_binary().string(), "exec", "-i", "box", "--", "cat"}, remote);
  EXPECT_EQ(echoed.exit_code, 0) << echoed.err;
  EXPECT_TRUE(echoed.out == remote.stdin_data);
  remote.stdin_data.clear();
  Result session = berth::test::run_in_terminal({berth::test::berth_binary().string(), "ssh", "box"}, remote, "echo remote-$((40+2))\nexit 4\n", 20s);
  EXPECT_EQ(session.exit_code, 4) << session.out;
  EXPECT_NE(session.out.find("remote-42"), std::string::npos) << session.out;
  remote.env["BERTH_API_KEY"] = "berth_not-a-key";
  Result refused = berth::test::run_program({berth::test::berth_binary().string(), "exec", "box", "--", "true"}, remote);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("the API key is not valid"), std::string::npos) << refused.err;
}

TEST(Session, SshStdioSaysWhatToInstallWithoutSshd) {
  ServerHome server;
  ASSERT_EQ(server.berth({"create", "box"}).exit_code, 0);
  // The host provider's workspace is this machine: with no sshd on PATH's usual folders here,
  // the message names the package; with one, sshd answers with its banner.
  Result stdio = server.berth({"ssh", "box", "--stdio"}, at(server, ""));
  if (fs::exists("/usr/sbin/sshd")) {
    EXPECT_NE(stdio.out.find("SSH-2.0-OpenSSH"), std::string::npos) << stdio.out << stdio.err;
  } else {
    EXPECT_EQ(stdio.exit_code, 127) << stdio.err;
    EXPECT_NE(stdio.err.find("install openssh-server"), std::string::npos) << stdio.err;
  }
  Result config = server.berth({"ssh-config", "box"});
  ASSERT_EQ(config.exit_code, 0) << config.err;
  EXPECT_NE(config.out.find("Host box.berth"), std::string::npos) << config.out;
  EXPECT_NE(config.out.find("ssh box --stdio"), std::string::npos) << config.out;
  EXPECT_NE(config.out.find("User " + std::string(::getpwuid(::getuid())->pw_name)), std::string::npos) << config.out;
  EXPECT_TRUE(fs::exists(server.home() / "ssh" / "id_ed25519"));
  EXPECT_EQ(fs::status(server.home() / "ssh").permissions() & fs::perms::all, fs::perms::owner_all);
}

}  // namespace
