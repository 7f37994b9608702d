// Sessions and ports of docker workspaces through the server's streams, against the private
// engine of tests/docker_fixture.sh: berth ssh at a terminal, berth exec with large binary
// input and output, a client that dies mid-session, the real ssh and scp clients through
// berth ssh-config (image berth-test:openssh, scripts/docker-engine), and berth forward with
// curl. What happened in the container is checked with the docker CLI where berth could lie.
#include "docker_engine.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <thread>

namespace fs = std::filesystem;
using berth::test::Result;
using berth::test::RunOptions;
using berth::test::ServerHome;
using Json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

using berth::test::docker;
using berth::test::engine_address;

const char kBusybox[] = "berth-test:busybox";
const char kOpenssh[] = "berth-test:openssh";
constexpr size_t kLarge = 20u << 20;

// A started workspace NAME on a target of the given image (no network: ports are reached
// through the container, as on a remote engine).
void create_workspace(const ServerHome& server, const std::string& address, const std::string& name, const std::string& image) {
  std::string target = "dock-" + name;
  Result added = server.add_target("name: " + target + "\nprovider: docker\nproperties:\n  host: " + address + "\n  image: " + image +
                                   "\n  pull: never\n  network: none\n  stop_timeout: \"1\"\n");
  ASSERT_EQ(added.exit_code, 0) << added.err;
  Result created = server.berth({"create", name, "--target", target, "-q"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
}

std::string container_of(const ServerHome& server, const std::string& name) {
  Result info = server.berth({"info", name, "-o", "json"});
  return Json::parse(info.out)["provider_data"]["container_id"];
}

RunOptions at_terminal(const ServerHome& server) {
  RunOptions options;
  options.env = {{"BERTH_HOME", server.home().string()}, {"BERTH_NO_AUTOSTART", "1"}, {"BERTH_SERVER", ""}, {"TERM", "xterm"}};
  return options;
}

// 20 MiB in which every byte value occurs, in no simple order.
std::string binary_data(size_t size) {
  std::string data(size, '\0');
  uint32_t state = 12345;
  for (size_t i = 0; i < size; ++i) {
    state = state * 1103515245u + 12345u;
    data[i] = static_cast<char>(i < 256 ? i : state >> 23);
  }
  return data;
}

// The first word of sha256sum's output for data, computed on this machine.
std::string local_sha256(const std::string& data) {
  RunOptions input;
  input.stdin_data = data;
  Result hashed = berth::test::run_program({"sha256sum"}, input);
  return hashed.out.substr(0, 64);
}

// Processes whose parent chain leads to pid (not pid itself).
int descendants_of(int pid) {
  std::map<int, int> parent;
  for (const auto& entry : fs::directory_iterator("/proc")) {
    std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::string stat = berth::test::read_text(entry.path() / "stat");
    size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    int ppid = 0;
    if (std::sscanf(stat.c_str() + close + 2, "%*c %d", &ppid) == 1) parent[std::stoi(name)] = ppid;
  }
  int count = 0;
  for (auto [child, up] : parent) {
    for (int hops = 0; up > 1 && hops < 64; ++hops) {
      if (up == pid) {
        ++count;
        break;
      }
      auto next = parent.find(up);
      up = next == parent.end() ? 0 : next->second;
    }
  }
  return count;
}

int open_descriptors(int pid) {
  int count = 0;
  std::error_code error;
  for ([[maybe_unused]] const auto& entry : fs::directory_iterator("/proc/" + std::to_string(pid) + "/fd", error)) ++count;
  return count;
}

// Starts a program in the background with stdout and stderr going to a file.
int spawn_logged(const std::vector<std::string>& argv, const RunOptions& options, const fs::path& log) {
  std::string command = "exec";
  for (const auto& arg : argv) command += " '" + arg + "'";
  command += " >'" + log.string() + "' 2>&1";
  return berth::test::spawn_program({"/bin/sh", "-c", command}, options);
}

bool accepts_connections(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = htons(static_cast<uint16_t>(port));
  bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return ok;
}

// Ends a background program with sig and returns its exit status as run_program would.
int end_program(int pid, int sig) {
  ::kill(pid, sig);
  int status = 0;
  if (!berth::test::wait_until([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, 10s)) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    return -1;
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

TEST(SessionDocker, SshAtATerminalRunsTheShellPassesResizesAndCtrlC) {
  REQUIRE_ENGINE(address);
  ServerHome server;
  ASSERT_NO_FATAL_FAILURE(create_workspace(server, address, "term", kBusybox));
  std::string id = container_of(server, "term");
  berth::test::Terminal terminal({berth::test::berth_binary().string(), "ssh", "term"}, at_terminal(server));
  ASSERT_TRUE(terminal.wait_for("", 0, 20s)) << "no prompt";

  // The shell computes the answer, so the terminal's echo of the typed line never matches.
  terminal.type("echo $((6*7))\n");
  ASSERT_TRUE(terminal.wait_for("42", 0, 20s)) << terminal.output();

  terminal.resize(41, 132);  // the kernel sends SIGWINCH to berth ssh, which tells the workspace
  bool resized = false;
  auto until = std::chrono::steady_clock::now() + 20s;
  for (int round = 0; !resized && std::chrono::steady_clock::now() < until; ++round) {
    size_t from = terminal.output().size();
    std::string marker = "size-" + std::to_string(round) + "-";
    terminal.type("stty size; echo " + marker + "$((2+3))\n");
    ASSERT_TRUE(terminal.wait_for(marker + "5", from, 20s)) << terminal.output();
    resized = terminal.output().find("41 132", from) != std::string::npos;
  }
  EXPECT_TRUE(resized) << "the workspace's terminal never became 41 x 132: " << terminal.output();

  // Ctrl-C is a byte on the terminal: the workspace's terminal turns it into SIGINT for sleep.
  terminal.type("sleep 100\n");
  ASSERT_TRUE(berth::test::wait_until([&] { return docker(address, {"exec", id, "ps"}).out.find("sleep 100") != std::string::npos; }, 20s))
      << "sleep never started: " << terminal.output();
  size_t before_interrupt = terminal.output().size();
  terminal.type("\x03");
  terminal.type("echo after-$((1+1))\n");
  EXPECT_TRUE(terminal.wait_for("after-2", before_interrupt, 10s)) << "Ctrl-C did not end sleep 100: " << terminal.output();
  EXPECT_EQ(docker(address, {"exec", id, "ps"}).out.find("sleep 100"), std::string::npos);

  terminal.type("exit 3\n");
  Result session = terminal.finish(20s);
  EXPECT_EQ(session.exit_code, 3) << session.out << session.err;
}

TEST(SessionDocker, ExecCarriesTwentyMegabytesOfBinaryDataEachWay) {
  REQUIRE_ENGINE(address);
  ServerHome server;
  ASSERT_NO_FATAL_FAILURE(create_workspace(server, address, "bulk", kBusybox));
  std::string data = binary_data(kLarge);

  RunOptions input;
  input.stdin_data = data;
  Result hashed = server.berth({"exec", "-i", "bulk", "--", "sha256sum"}, input);
  ASSERT_EQ(hashed.exit_code, 0) << hashed.err;
  EXPECT_EQ(hashed.out.substr(0, 64), local_sha256(data)) << "stdin reached the command changed";

  ASSERT_EQ(server.berth({"exec", "-i", "bulk", "--", "sh", "-c", "cat > /tmp/blob"}, input).exit_code, 0);
  Result back = server.berth({"exec", "bulk", "--", "cat", "/tmp/blob"});
  ASSERT_EQ(back.exit_code, 0) << back.err;
  EXPECT_EQ(back.out.size(), data.size());
  EXPECT_TRUE(back.out == data) << "stdout came back changed";
}

TEST(SessionDocker, AClientKilledMidSessionEndsTheCommandAndLeavesNothingBehind) {
  REQUIRE_ENGINE(address);
  ServerHome server;
  ASSERT_NO_FATAL_FAILURE(create_workspace(server, address, "gone", kBusybox));
  std::string id = container_of(server, "gone");
  // Once a session has run, the provider's host process is there for good: the baseline.
  ASSERT_EQ(server.berth({"exec", "gone", "--", "true"}).exit_code, 0);
  // Back to where they were (a connection of an earlier command may still have been closing).
  auto settled = [&](int fds, int children) { return open_descriptors(server.pid()) <= fds && descendants_of(server.pid()) <= children; };
  int fds = open_descriptors(server.pid());
  int children = descendants_of(server.pid());
  ASSERT_GT(fds, 0);
  ASSERT_GT(children, 0) << "the docker provider's host";

  RunOptions options = at_terminal(server);
  int client = berth::test::spawn_program({berth::test::berth_binary().string(), "exec", "gone", "--", "sleep", "1000"}, options);
  auto sleeping = [&] { return docker(address, {"exec", id, "ps"}).out.find("sleep 1000") != std::string::npos; };
  ASSERT_TRUE(berth::test::wait_until(sleeping, 20s)) << "sleep 1000 never started";
  ::kill(client, SIGKILL);
  ::waitpid(client, nullptr, 0);

  EXPECT_TRUE(berth::test::wait_until([&] { return !sleeping(); }, 15s)) << "sleep 1000 outlived its client";
  EXPECT_TRUE(berth::test::wait_until([&] { return settled(fds, children); }, 15s))
      << "descriptors " << open_descriptors(server.pid()) << " (were " << fds << "), processes " << descendants_of(server.pid())
      << " (were " << children << ")";
  Result after = server.berth({"exec", "gone", "--", "echo", "still-fine"});
  EXPECT_EQ(after.out, "still-fine\n") << after.err;
}

// The server killed mid-session (a crash, or kill -9 on the way to a restart): the CLI says
// so and fails, and the command it started in the container does not run on without a client.
TEST(SessionDocker, AServerKilledMidSessionIsSaidAndTheCommandEnds) {
  REQUIRE_ENGINE(address);
  ServerHome server;
  berth::test::TempDir scratch;
  ASSERT_NO_FATAL_FAILURE(create_workspace(server, address, "crash", kBusybox));
  std::string id = container_of(server, "crash");
  fs::path log = scratch.path() / "exec.log";
  int client = spawn_logged({berth::test::berth_binary().string(), "exec", "crash", "--", "sleep", "1000"}, at_terminal(server), log);
  auto sleeping = [&] { return docker(address, {"exec", id, "ps"}).out.find("sleep 1000") != std::string::npos; };
  ASSERT_TRUE(berth::test::wait_until(sleeping, 20s)) << "sleep 1000 never started";

  server.kill_hard();
  int status = 0;
  ASSERT_TRUE(berth::test::wait_until([&] { return ::waitpid(client, &status, WNOHANG) == client; }, 10s))
      << "berth exec did not notice its server was gone";
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) != 0);
  EXPECT_NE(berth::test::read_text(log).find("lost the connection to the berth server"), std::string::npos) << berth::test::read_text(log);
  EXPECT_TRUE(berth::test::wait_until([&] { return !sleeping(); }, 15s)) << "sleep 1000 outlived the server that started it";

  server.start();
  Result after = server.berth({"exec", "crash", "--", "echo", "back"});
  EXPECT_EQ(after.out, "back\n") << after.err;
}

TEST(SessionDocker, RealSshAndScpReachAWorkspaceThroughSshConfig) {
  REQUIRE_ENGINE(address);
  ServerHome server;
  berth::test::TempDir scratch;
  ASSERT_NO_FATAL_FAILURE(create_workspace(server, address, "sshd", kOpenssh));
  Result config = server.berth({"ssh-config", "sshd"});
  ASSERT_EQ(config.exit_code, 0) << config.err;
  EXPECT_NE(config.out.find("Host sshd.berth"), std::string::npos) << config.out;
  EXPECT_NE(config.out.find("User root"), std::string::npos) << config.out;
  fs::path config_file = scratch.path() / "ssh_config";
  std::ofstream(config_file) << config.out;

  // Under `timeout`: a broken stream leaves sshd waiting for its login grace time (2 minutes).
  std::vector<std::string> ssh = {"timeout", "30", "ssh", "-F", config_file.string(), "-o", "BatchMode=yes", "sshd.berth"};
  ssh.push_back("echo hi; id -un");
  Result remote = berth::test::run_program(ssh);
  ASSERT_EQ(remote.exit_code, 0) << remote.err;
  EXPECT_EQ(remote.out, "hi\nroot\n") << remote.err;

  std::string data = binary_data(1u << 20);
  fs::path local = scratch.path() / "local.bin";
  std::ofstream(local, std::ios::binary) << data;
  std::vector<std::string> scp = {"timeout", "30", "scp", "-F", config_file.string(), "-o", "BatchMode=yes"};
  std::vector<std::string> upload = scp;
  upload.insert(upload.end(), {local.string(), "sshd.berth:/tmp/x"});
  Result sent = berth::test::run_program(upload);
  ASSERT_EQ(sent.exit_code, 0) << sent.err;
  Result inside = server.berth({"exec", "sshd", "--", "cat", "/tmp/x"});
  EXPECT_TRUE(inside.out == data) << "scp wrote " << inside.out.size() << " bytes, not the " << data.size() << " sent";

  fs::path fetched = scratch.path() / "fetched.bin";
  std::vector<std::string> download = scp;
  download.insert(download.end(), {"sshd.berth:/tmp/x", fetched.string()});
  Result got = berth::test::run_program(download);
  ASSERT_EQ(got.exit_code, 0) << got.err;
  EXPECT_TRUE(berth::test::read_text(fetched) == data) << "scp brought back something else";
}

TEST(SessionDocker, SshStdioIntoAWorkspaceWithoutSshdSaysWhatToInstall) {
  REQUIRE_ENGINE(address);
  ServerHome server;
  ASSERT_NO_FATAL_FAILURE(create_workspace(server, address, "plain", kBusybox));
  Result stdio = server.berth({"ssh", "plain", "--stdio"});
  EXPECT_EQ(stdio.exit_code, 127) << stdio.err;
  EXPECT_NE(stdio.err.find("no OpenSSH server (sshd); install openssh-server"), std::string::npos) << stdio.err << stdio.out;
  EXPECT_EQ(stdio.out, "") << "stdout is the ssh client's protocol stream: nothing else may go there";
}

// The engine reads a command's stdout and stderr apart: what it writes on stderr at once comes
// before berth's own start-up line on stdout as often as not, and must still stay on stderr.
TEST(SessionDocker, StderrWrittenAtOnceStaysOnStderr) {
  REQUIRE_ENGINE(address);
  ServerHome server;
  ASSERT_NO_FATAL_FAILURE(create_workspace(server, address, "streams", kBusybox));
  for (int round = 0; round < 10; ++round) {
    Result streams = server.berth({"exec", "streams", "--", "sh", "-c", "echo to-err >&2; exit 4"});
    EXPECT_EQ(streams.exit_code, 4);
    EXPECT_EQ(streams.err, "to-err\n") << "round " << round;
    ASSERT_EQ(streams.out, "") << "round " << round;
  }
}

TEST(SessionDocker, ForwardCarriesConnectionsAtOnceLargeDownloadsAndSaysWhatIsWrong) {
  REQUIRE_ENGINE(address);
  ServerHome server;
  berth::test::TempDir scratch;
  ASSERT_NO_FATAL_FAILURE(create_workspace(server, address, "web", kBusybox));
  Result served = server.berth({"exec", "web", "--", "sh", "-c",
                                "mkdir -p /srv && echo hello > /srv/index.html && head -c 20971520 /dev/urandom > /srv/big && "
                                "httpd -p 8080 -h /srv && sha256sum /srv/big"});
  ASSERT_EQ(served.exit_code, 0) << served.err;
  std::string remote_hash = served.out.substr(0, 64);

  int port = berth::test::free_tcp_port();
  fs::path log = scratch.path() / "forward.log";
  RunOptions options = at_terminal(server);
  int forward = spawn_logged({berth::test::berth_binary().string(), "forward", "web", std::to_string(port) + ":8080"}, options, log);
  ASSERT_TRUE(berth::test::wait_until([&] { return accepts_connections(port); }, 20s)) << berth::test::read_text(log);
  std::string url = "http://127.0.0.1:" + std::to_string(port);

  // A connection left open mid-request, and meanwhile another one served in full.
  int held = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  to.sin_port = htons(static_cast<uint16_t>(port));
  timeval patience{20, 0};  // a broken forward fails the test instead of hanging it
  ::setsockopt(held, SOL_SOCKET, SO_RCVTIMEO, &patience, sizeof patience);
  ASSERT_EQ(::connect(held, reinterpret_cast<sockaddr*>(&to), sizeof to), 0);
  std::string head = "GET /index.html HTTP/1.0\r\n";
  ASSERT_EQ(::send(held, head.data(), head.size(), MSG_NOSIGNAL), static_cast<ssize_t>(head.size()));
  Result second = berth::test::run_program({"curl", "-sS", "--max-time", "20", url + "/index.html"});
  EXPECT_EQ(second.out, "hello\n") << second.err;
  ASSERT_EQ(::send(held, "\r\n", 2, MSG_NOSIGNAL), 2);
  std::string answer;
  char buffer[4096];
  for (ssize_t n; (n = ::recv(held, buffer, sizeof buffer, 0)) > 0;) answer.append(buffer, static_cast<size_t>(n));
  ::close(held);
  EXPECT_NE(answer.find("200 OK"), std::string::npos) << answer;
  EXPECT_EQ(answer.substr(answer.size() >= 6 ? answer.size() - 6 : 0), "hello\n") << answer;

  // Two large downloads at once, each whole.
  std::string hashes[2];
  std::thread downloads[2];
  for (int i = 0; i < 2; ++i) {
    downloads[i] = std::thread([&, i] {
      fs::path file = scratch.path() / ("big-" + std::to_string(i));
      Result got = berth::test::run_program({"curl", "-sS", "--max-time", "60", "-o", file.string(), url + "/big"});
      if (got.exit_code == 0) hashes[i] = berth::test::run_program({"sha256sum", file.string()}).out.substr(0, 64);
    });
  }
  for (auto& download : downloads) download.join();
  EXPECT_EQ(hashes[0], remote_hash);
  EXPECT_EQ(hashes[1], remote_hash);
  EXPECT_EQ(end_program(forward, SIGINT), 0) << berth::test::read_text(log);

  // A port nothing listens on: the connection is closed and the forward says why.
  int dead_port = berth::test::free_tcp_port();
  fs::path dead_log = scratch.path() / "dead.log";
  int dead = spawn_logged({berth::test::berth_binary().string(), "forward", "web", std::to_string(dead_port) + ":9"}, options, dead_log);
  ASSERT_TRUE(berth::test::wait_until([&] { return accepts_connections(dead_port); }, 20s)) << berth::test::read_text(dead_log);
  Result refused = berth::test::run_program({"curl", "-sS", "--max-time", "20", "http://127.0.0.1:" + std::to_string(dead_port) + "/"});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_TRUE(berth::test::wait_until(
      [&] { return berth::test::read_text(dead_log).find("nothing listens on port 9 in the workspace") != std::string::npos; }, 10s))
      << berth::test::read_text(dead_log);
  end_program(dead, SIGINT);

  // A local port already taken: refused at once, naming the port.
  int taken = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int taken_port = berth::test::free_tcp_port();
  to.sin_port = htons(static_cast<uint16_t>(taken_port));
  ASSERT_EQ(::bind(taken, reinterpret_cast<sockaddr*>(&to), sizeof to), 0);
  ASSERT_EQ(::listen(taken, 1), 0);
  Result busy = server.berth({"forward", "web", std::to_string(taken_port) + ":8080"});
  ::close(taken);
  EXPECT_NE(busy.exit_code, 0);
  EXPECT_NE(busy.err.find("port " + std::to_string(taken_port) + " is already in use on this machine"), std::string::npos) << busy.err;
}

}  // namespace
