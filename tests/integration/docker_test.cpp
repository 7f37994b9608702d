// The docker provider against a real, private Docker engine (tests/docker_fixture.sh), checked
// independently of berth by asking the engine itself with the docker CLI.
#include "docker_engine.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <tuple>

#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <thread>

namespace fs = std::filesystem;
using berth::test::Result;
using berth::test::ServerHome;
using Json = nlohmann::json;

namespace {

using berth::test::docker;
using berth::test::engine_address;

const char kImage[] = "berth-test:busybox";

void add_target(const ServerHome& server, const std::string& name, const std::string& address, const std::string& extra = "",
                const std::string& image = kImage) {
  berth::test::RunOptions yaml;
  yaml.stdin_data = "name: " + name + "\nprovider: docker\nproperties:\n  host: " + address + "\n  image: " + image +
                    "\n  pull: never\n  network: none\n  stop_timeout: \"2\"\n" + extra;
  Result added = server.berth({"target", "add", "-f", "-"}, yaml);
  ASSERT_EQ(added.exit_code, 0) << added.err;
}

Json info(const ServerHome& server, const std::string& name) {
  Result result = server.berth({"info", name, "-o", "json"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  return Json::parse(result.out);
}

// What the engine itself says of a container: "running", "exited", or "missing".
std::string engine_state(const std::string& address, const std::string& id) {
  Result inspected = docker(address, {"inspect", "-f", "{{.State.Status}}", id});
  if (inspected.exit_code != 0) return "missing";
  std::string state = inspected.out;
  while (!state.empty() && state.back() == '\n') state.pop_back();
  return state;
}

// The environment of `berth ssh` run by a person at a terminal, against this home's server.
berth::test::RunOptions at_terminal(const ServerHome& server) {
  berth::test::RunOptions options;
  options.env = {{"BERTH_HOME", server.home().string()}, {"BERTH_NO_AUTOSTART", "1"}, {"TERM", "xterm"}};
  return options;
}

// A relay between berth and the engine that can stop passing anything on, as a frozen engine
// (SIGSTOP, or a remote one that stops answering) would, without freezing the engine that the
// other tests share.
class FreezableRelay {
 public:
  FreezableRelay(const fs::path& socket, std::string engine_socket) : socket_(socket), engine_socket_(std::move(engine_socket)) {
    listener_ = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_un address = address_of(socket_.string());
    ::bind(listener_, reinterpret_cast<sockaddr*>(&address), sizeof address);
    ::listen(listener_, 64);
    acceptor_ = std::thread([this] { accept_loop(); });
  }
  ~FreezableRelay() {
    stopping_ = true;
    acceptor_.join();
    for (auto& pump : pumps_) pump.join();
    for (int fd : fds_) ::close(fd);
    ::close(listener_);
  }
  std::string address() const { return "unix://" + socket_.string(); }
  void freeze() { frozen_ = true; }
  void thaw() { frozen_ = false; }

 private:
  static sockaddr_un address_of(const std::string& path) {
    sockaddr_un address{};
    address.sun_family = AF_UNIX;
    std::snprintf(address.sun_path, sizeof address.sun_path, "%s", path.c_str());
    return address;
  }
  void accept_loop() {
    while (!stopping_) {
      pollfd ready{listener_, POLLIN, 0};
      if (::poll(&ready, 1, 50) <= 0) continue;
      int client = ::accept4(listener_, nullptr, nullptr, SOCK_CLOEXEC);
      if (client < 0) continue;
      int engine = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
      sockaddr_un address = address_of(engine_socket_);
      ::connect(engine, reinterpret_cast<sockaddr*>(&address), sizeof address);
      std::lock_guard lock(mutex_);
      fds_.insert(fds_.end(), {client, engine});
      pumps_.emplace_back([this, client, engine] { pump(client, engine); });
      pumps_.emplace_back([this, client, engine] { pump(engine, client); });
    }
  }
  void pump(int from, int to) {
    char buffer[65536];
    while (!stopping_) {
      pollfd ready{from, POLLIN, 0};
      if (frozen_ || ::poll(&ready, 1, 50) <= 0) {
        if (frozen_) ::poll(nullptr, 0, 50);
        continue;
      }
      ssize_t n = ::recv(from, buffer, sizeof buffer, 0);
      if (n <= 0) {
        ::shutdown(to, SHUT_WR);
        return;
      }
      for (ssize_t sent = 0; sent < n;) {
        ssize_t m = ::send(to, buffer + sent, static_cast<size_t>(n - sent), MSG_NOSIGNAL);
        if (m <= 0) return;
        sent += m;
      }
    }
  }

  fs::path socket_;
  std::string engine_socket_;
  int listener_ = -1;
  std::atomic<bool> frozen_{false}, stopping_{false};
  std::thread acceptor_;
  std::mutex mutex_;
  std::vector<std::thread> pumps_;
  std::vector<int> fds_;
};

TEST(Docker, AFrozenEngineCannotStallBerth) {
  REQUIRE_ENGINE(address);
  berth::test::TempDir relay_dir;
  FreezableRelay relay(relay_dir.path() / "engine.sock", address.substr(std::string("unix://").size()));
  ServerHome server;
  add_target(server, "frozen", relay.address());
  ASSERT_EQ(server.berth({"create", "cold", "--target", "frozen"}).exit_code, 0);
  relay.freeze();

  // `berth info` asks the engine for the container's state: it must give up in seconds.
  berth::test::RunOptions options;
  options.env = {{"BERTH_HOME", server.home().string()}, {"BERTH_NO_AUTOSTART", "1"}, {"BERTH_SERVER", ""}};
  options.output_file = relay_dir.path() / "info.out";
  auto start = std::chrono::steady_clock::now();
  int pid = berth::test::spawn_program({berth::test::berth_binary().string(), "info", "cold"}, options);
  int status = 0;
  bool ended = berth::test::wait_until([&] { return ::waitpid(pid, &status, WNOHANG) == pid; }, std::chrono::seconds(20));
  double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!ended) {
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
  }
  ASSERT_TRUE(ended) << "berth info waited more than 20 s on a frozen engine";
  EXPECT_LT(seconds, 10.0);
  // The record is shown as last known, and said to be (issue 22): not a success.
  std::string said = berth::test::read_text(options.output_file);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << status << ": " << said;
  EXPECT_NE(said.find("provider 'docker' could not tell the real state of 'cold', so this is the state berth last recorded"), std::string::npos)
      << said;

  Result doctor = server.berth({"doctor"});
  EXPECT_NE(doctor.out.find("[FAIL] target    frozen: cannot reach the Docker engine at " + relay.address() +
                            ": it did not answer within 5 s"),
            std::string::npos)
      << doctor.out;

  // A kill -9 in the middle of a stop, and a restart while the engine is still frozen: the
  // server listens at once; reconcile asks the engine behind it and gives up in seconds.
  server.kill_hard();
  fs::path record = server.home() / "workspaces" / "cold.yaml";
  std::string text = berth::test::read_text(record);
  ASSERT_NE(text.find("state: started"), std::string::npos) << text;
  text.replace(text.find("state: started"), 14, "state: stopping");
  text.replace(text.find("operation: "), 11, "operation: stop");
  std::ofstream(record, std::ios::trunc) << text;
  auto restart = std::chrono::steady_clock::now();
  server.start();
  EXPECT_LT(std::chrono::steady_clock::now() - restart, std::chrono::seconds(3)) << "the server waited on the engine before listening";
  Json settled;
  EXPECT_TRUE(berth::test::wait_until(
      [&] {
        Result listed = server.berth({"list", "-o", "json"});
        for (const auto& w : Json::parse(listed.exit_code == 0 ? listed.out : "[]")) {
          if (w.value("name", "") == "cold" && w.value("operation", "x").empty()) settled = w;
        }
        return !settled.empty();
      },
      std::chrono::seconds(20)));
  EXPECT_EQ(settled.value("state", ""), "error") << settled.dump();

  relay.thaw();
  ASSERT_EQ(server.berth({"delete", "cold"}).exit_code, 0);
}

TEST(Docker, WholeLifecycleThroughTheCli) {
  REQUIRE_ENGINE(address);
  ServerHome server;
  berth::test::TempDir scratch;
  fs::path repo = berth::test::make_git_repo(scratch.path() / "repo", "docker lifecycle");
  add_target(server, "dock", address);

  Result create = server.berth({"create", "app", "--target", "dock", "--repo", repo.string(), "--env", "COLOUR=teal"});
  ASSERT_EQ(create.exit_code, 0) << create.err;
  Json record = info(server, "app");
  EXPECT_EQ(record["state"], "started");
  std::string id = record["provider_data"]["container_id"];
  ASSERT_FALSE(id.empty());
  EXPECT_EQ(engine_state(address, id), "running");

  Result readme = server.berth({"exec", "app", "--", "cat", "README.md"});
  EXPECT_EQ(readme.exit_code, 0) << readme.err;
  EXPECT_EQ(readme.out, "hello from the repo\n") << "the repository is in the workdir";
  // Its files were written while the container was made (no devcontainer.json): a whole
  // checkout, index and all, not only the files.
  Result git_head = server.berth({"exec", "app", "--", "sh", "-c", "cat .git/HEAD; test -s .git/index && echo indexed"});
  EXPECT_EQ(git_head.out.substr(0, 16), "ref: refs/heads/") << git_head.out << git_head.err;
  EXPECT_NE(git_head.out.find("indexed\n"), std::string::npos) << git_head.out;
  Result pwd = server.berth({"exec", "app", "--", "pwd"});
  EXPECT_EQ(pwd.out, "/workspaces/app\n");

  Result streams = server.berth({"exec", "app", "--", "sh", "-c", "echo $COLOUR; echo to-err >&2; exit 3"});
  EXPECT_EQ(streams.exit_code, 3);
  EXPECT_EQ(streams.out, "teal\n");
  EXPECT_EQ(streams.err, "to-err\n");

  Result flags = server.berth({"exec", "app", "--env", "X=1", "--workdir", "/tmp", "--user", "nobody", "--", "sh", "-c", "echo $X $(pwd) $(id -u)"});
  EXPECT_EQ(flags.out, "1 /tmp 65534\n") << flags.err;

  berth::test::RunOptions input;
  input.stdin_data = "typed into stdin\n";
  Result piped = server.berth({"exec", "-i", "app", "--", "cat"}, input);
  EXPECT_EQ(piped.out, "typed into stdin\n") << piped.err;

  Result missing = server.berth({"exec", "app", "--", "no-such-program"});
  EXPECT_NE(missing.exit_code, 0);

  ASSERT_EQ(server.berth({"stop", "app"}).exit_code, 0);
  EXPECT_EQ(engine_state(address, id), "exited");
  EXPECT_EQ(server.berth({"exec", "app", "--", "true"}).exit_code, 1);
  ASSERT_EQ(server.berth({"start", "app"}).exit_code, 0);
  EXPECT_EQ(engine_state(address, id), "running");
  ASSERT_EQ(server.berth({"delete", "app"}).exit_code, 0);
  EXPECT_EQ(engine_state(address, id), "missing");
}

// --branch, --new-branch and --commit on the docker provider (issue 27): the clone that is
// written out while the container is made (no pool), and the one copied into a pool's container.
TEST(Docker, BranchesAndCommitsReachTheContainerOnBothClonePaths) {
  REQUIRE_ENGINE(address);
  ServerHome server;
  berth::test::TempDir scratch;
  fs::path repo = berth::test::make_git_repo(scratch.path() / "repo", "first");
  auto git = [&](std::vector<std::string> args) {
    args.insert(args.begin(), {"git", "-C", repo.string()});
    berth::test::RunOptions options;
    Result result = berth::test::run_program(args, options);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return result.out.substr(0, result.out.find('\n'));
  };
  std::string first = git({"rev-parse", "HEAD"});
  std::string main_branch = git({"rev-parse", "--abbrev-ref", "HEAD"});
  git({"checkout", "-q", "-b", "dev"});
  std::ofstream(repo / "dev.txt") << "on dev\n";
  berth::test::commit_all(repo, "dev work");
  std::string dev = git({"rev-parse", "HEAD"});
  git({"checkout", "-q", main_branch});
  add_target(server, "dock", address);
  add_target(server, "warm", address, "  pool: \"1\"\n");

  // On `warm`, each create takes the pool's container once it is ready again (the log says so).
  auto pool_ready = [&](const std::string& target) {
    return target != "warm" || berth::test::wait_until([&] { return server.berth({"doctor"}).out.find("pool: 1 of 1 ready") != std::string::npos; },
                                                       std::chrono::seconds(60));
  };
  auto warm_if_pooled = [&](const std::string& target, const std::string& name) {
    if (target == "warm") {
      EXPECT_NE(server.berth({"logs", name}).out.find("from the warm pool"), std::string::npos) << name;
    }
  };
  for (const std::string target : {"dock", "warm"}) {
    std::string name = "on-dev-" + target;
    ASSERT_TRUE(pool_ready(target));
    Result branch = server.berth({"create", name, "--target", target, "--repo", repo.string(), "--branch", "dev"});
    ASSERT_EQ(branch.exit_code, 0) << target << ": " << branch.err;
    warm_if_pooled(target, name);
    Result head = server.berth({"exec", name, "--", "sh", "-c", "cat .git/HEAD dev.txt"});
    EXPECT_EQ(head.out, "ref: refs/heads/dev\non dev\n") << target << ": " << head.err;
    EXPECT_EQ(info(server, name)["provider_data"]["commit"], dev) << target;

    name = "at-first-" + target;
    ASSERT_TRUE(pool_ready(target));
    Result commit = server.berth({"create", name, "--target", target, "--repo", repo.string(), "--commit", first});
    ASSERT_EQ(commit.exit_code, 0) << target << ": " << commit.err;
    warm_if_pooled(target, name);
    Result files = server.berth({"exec", name, "--", "sh", "-c", "cat .git/HEAD; ls; git status --porcelain 2>/dev/null"});
    EXPECT_EQ(files.out, first + "\nREADME.md\n") << target << ": the commit's files only, detached: " << files.err;

    name = "new-" + target;
    ASSERT_TRUE(pool_ready(target));
    Result fresh = server.berth({"create", name, "--target", target, "--repo", repo.string(), "--branch", "topic", "--new-branch"});
    ASSERT_EQ(fresh.exit_code, 0) << target << ": " << fresh.err;
    warm_if_pooled(target, name);
    EXPECT_EQ(server.berth({"exec", name, "--", "cat", ".git/HEAD"}).out, "ref: refs/heads/topic\n") << target;
    EXPECT_EQ(info(server, name)["provider_data"]["commit"], first) << target << ": made from the default branch";
  }
  Result missing = server.berth({"create", "missing", "--target", "dock", "--repo", repo.string(), "--branch", "nope"});
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("nope"), std::string::npos) << missing.err;
  EXPECT_EQ(server.berth({"delete", "--force", "missing", "on-dev-dock", "at-first-dock", "new-dock", "on-dev-warm", "at-first-warm", "new-warm"})
                .exit_code, 0);
  EXPECT_EQ(server.berth({"target", "remove", "warm"}).exit_code, 0);
}

// Idle auto-stop on the docker provider (issue 27): the container's CPU counter, read from the
// engine, tells a workspace running background work from an idle one.
TEST(Docker, AutoStopStopsTheIdleContainerAndNotTheBusyOne) {
  REQUIRE_ENGINE(address);
  ServerHome server;
  add_target(server, "idling", address, "  auto_stop: 6s\n");
  ASSERT_EQ(server.berth({"create", "busy", "--target", "idling"}).exit_code, 0);
  Result loop = server.berth({"exec", "busy", "--", "sh", "-c", "trap '' HUP; sh -c 'while :; do :; done' >/dev/null 2>&1 &"});
  ASSERT_EQ(loop.exit_code, 0) << loop.err;
  ASSERT_EQ(server.berth({"create", "idle", "--target", "idling", "--auto-stop", "2s"}).exit_code, 0);
  auto state = [&](const std::string& name) { return info(server, name).value("state", ""); };
  ASSERT_TRUE(berth::test::wait_until([&] { return state("idle") == "stopped"; }, std::chrono::seconds(60))) << state("idle");
  EXPECT_EQ(engine_state(address, info(server, "idle")["provider_data"]["container_id"]), "exited") << "the container itself stopped";
  double first = -1;
  auto cpu = [&] {
    std::string answer = berth::test::send_raw(server.home() / "berth.sock",
                                               "GET /v1/workspaces/busy/activity HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                                               std::chrono::seconds(10));
    Json seen = Json::parse(answer.substr(answer.find("\r\n\r\n") + 4));
    return seen.contains("cpu_seconds") && seen["cpu_seconds"].is_number() ? seen["cpu_seconds"].get<double>() : -1.0;
  };
  ASSERT_TRUE(berth::test::wait_until(
      [&] {
        double now = cpu();
        if (now < 0) return false;
        if (first < 0) first = now;
        return now > first + 7.0;
      },
      std::chrono::seconds(120)))
      << "the engine's CPU counter rises: " << cpu();
  EXPECT_EQ(state("busy"), "started") << "background work in the container is activity";
  EXPECT_EQ(server.berth({"delete", "busy", "idle"}).exit_code, 0);
}

TEST(Docker, SshGivesAnInteractiveShellWithATerminal) {
  REQUIRE_ENGINE(address);
  ServerHome server;
  add_target(server, "dock", address);
  ASSERT_EQ(server.berth({"create", "shell", "--target", "dock"}).exit_code, 0);
  Result session = berth::test::run_in_terminal({berth::test::berth_binary().string(), "ssh", "shell"}, at_terminal(server),
                                                "echo answer=$((6*7)); tty; stty size; pwd\nexit 5\n", std::chrono::seconds(20));
  EXPECT_EQ(session.exit_code, 5) << session.out << session.err;
  EXPECT_NE(session.out.find("answer=42"), std::string::npos) << session.out;
  EXPECT_NE(session.out.find("/dev/pts/"), std::string::npos) << "the shell has a terminal: " << session.out;
  EXPECT_NE(session.out.find("30 100"), std::string::npos) << "the terminal's size was passed on: " << session.out;
  EXPECT_NE(session.out.find("/workspaces/shell"), std::string::npos) << session.out;
}

TEST(Docker, SshPassesWindowResizesOnWhileTheSessionRuns) {
  REQUIRE_ENGINE(address);
  ServerHome server;
  add_target(server, "dock", address);
  ASSERT_EQ(server.berth({"create", "resize", "--target", "dock"}).exit_code, 0);
  berth::test::Terminal terminal({berth::test::berth_binary().string(), "ssh", "resize"}, at_terminal(server));
  ASSERT_TRUE(terminal.wait_for("", 0, std::chrono::seconds(20))) << "no prompt";
  // The marker is computed by the shell, so the terminal's echo of the typed line never matches.
  terminal.type("stty size; echo mark-$((40+2))\n");
  ASSERT_TRUE(terminal.wait_for("mark-42", 0, std::chrono::seconds(20))) << terminal.output();
  EXPECT_NE(terminal.output().find("30 100"), std::string::npos) << terminal.output();

  terminal.resize(41, 132);  // the window grows; berth ssh gets SIGWINCH and tells the engine
  // The engine applies the resize asynchronously to our typing: ask again until it shows or 20 s pass.
  bool resized = false;
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (int round = 0; !resized && std::chrono::steady_clock::now() < until; ++round) {
    size_t from = terminal.output().size();
    terminal.type("stty size; echo size-" + std::to_string(round) + "-$((1))one\n");
    ASSERT_TRUE(terminal.wait_for("size-" + std::to_string(round) + "-1one", from, std::chrono::seconds(20))) << terminal.output();
    resized = terminal.output().find("41 132", from) != std::string::npos;
  }
  EXPECT_TRUE(resized) << "the shell never saw 41 rows x 132 columns: " << terminal.output();
  terminal.type("exit 4\n");
  Result session = terminal.finish(std::chrono::seconds(20));
  EXPECT_EQ(session.exit_code, 4) << session.out << session.err;
}

TEST(Docker, ContainersChangedBehindBerthsBack) {
  REQUIRE_ENGINE(address);
  ServerHome server;
  add_target(server, "dock", address);
  ASSERT_EQ(server.berth({"create", "drift", "--target", "dock"}).exit_code, 0);
  std::string id = info(server, "drift")["provider_data"]["container_id"];

  ASSERT_EQ(docker(address, {"stop", "-t", "1", id}).exit_code, 0);
  EXPECT_EQ(info(server, "drift")["state"], "stopped") << "status asks the engine";
  ASSERT_EQ(server.berth({"start", "drift"}).exit_code, 0);
  EXPECT_EQ(engine_state(address, id), "running");

  ASSERT_EQ(docker(address, {"rm", "-f", id}).exit_code, 0);
  Json gone = info(server, "drift");
  EXPECT_EQ(gone["state"], "error");
  EXPECT_NE(gone["last_error"].get<std::string>().find("container gone"), std::string::npos) << gone.dump();
  Result deleted = server.berth({"delete", "drift"});
  EXPECT_EQ(deleted.exit_code, 0) << "a workspace whose container is gone deletes: " << deleted.err;
}

TEST(Docker, MissingImageWithPullNeverAndUnreachableEngine) {
  REQUIRE_ENGINE(address);
  ServerHome server;
  add_target(server, "noimage", address, "", "berth-test:does-not-exist");
  Result create = server.berth({"create", "w", "--target", "noimage"});
  EXPECT_EQ(create.exit_code, 1);
  EXPECT_NE(create.err.find("image 'berth-test:does-not-exist' is not on the engine"), std::string::npos) << create.err;
  EXPECT_NE(create.err.find("pull policy is 'never'"), std::string::npos) << create.err;
  EXPECT_EQ(server.berth({"delete", "w"}).exit_code, 0);

  add_target(server, "nowhere", "unix:///tmp/berth-no-such-engine.sock");
  Result unreachable = server.berth({"create", "u", "--target", "nowhere"});
  EXPECT_EQ(unreachable.exit_code, 1);
  EXPECT_NE(unreachable.err.find("cannot reach the Docker engine at unix:///tmp/berth-no-such-engine.sock"), std::string::npos)
      << unreachable.err;
  EXPECT_NE(unreachable.err.find("start Docker"), std::string::npos);
  Result doctor = server.berth({"doctor"});
  EXPECT_EQ(doctor.exit_code, 1);
  EXPECT_NE(doctor.out.find("[FAIL] target    nowhere: cannot reach the Docker engine"), std::string::npos) << doctor.out;
  EXPECT_NE(doctor.out.find("[ok]   target    noimage: engine at " + address), std::string::npos) << doctor.out;
}

TEST(Docker, ResourceLimitsReachTheEngineAndBadOnesAreRefusedBeforeAnythingIsMade) {
  REQUIRE_ENGINE(address);
  ServerHome server;
  add_target(server, "limited", address, "  cpus: \"1.5\"\n  memory: 64m\n");
  ASSERT_EQ(server.berth({"create", "limited-ws", "--target", "limited"}).exit_code, 0);
  std::string id = info(server, "limited-ws")["provider_data"]["container_id"];
  // The engine's own record of the container (the test engine does not enforce cgroup limits).
  Result limits = docker(address, {"inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}}", id});
  EXPECT_EQ(limits.out, "67108864 1500000000\n") << limits.err;
  ASSERT_EQ(server.berth({"delete", "limited-ws"}).exit_code, 0);

  // Bad limits are refused at target add (SDK 1.4's validate_target), naming the line, and
  // nothing is saved or made.
  for (const auto& [name, line, expected] : {std::tuple{"badmem", "  memory: lots\n", "<stdin>:9: property 'memory' is 'lots': expected a size"},
                                             std::tuple{"badcpu", "  cpus: \"-2\"\n", "<stdin>:9: property 'cpus' is '-2': expected a number of CPUs"}}) {
    berth::test::RunOptions yaml;
    yaml.stdin_data = std::string("name: ") + name + "\nprovider: docker\nproperties:\n  host: " + address + "\n  image: " + kImage +
                      "\n  pull: never\n  network: none\n  stop_timeout: \"2\"\n" + line;
    Result refused = server.berth({"target", "add", "-f", "-"}, yaml);
    EXPECT_EQ(refused.exit_code, 2) << refused.err;
    EXPECT_NE(refused.err.find(expected), std::string::npos) << refused.err;
    EXPECT_NE(server.berth({"target", "show", name}).exit_code, 0) << name << " was saved";
  }
  Result doctor = server.berth({"doctor"});
  EXPECT_NE(doctor.out.find("[ok]   target    limited: engine at"), std::string::npos) << doctor.out;
}

// Two machines whose homes have the same path (same user, default location) share an engine:
// here, one home moved aside and a fresh one made at its path. Each home has its own random
// identity, so the second never takes the first's container for its own.
TEST(Docker, AHomeAtTheSamePathNeverRemovesAnotherHomesContainer) {
  REQUIRE_ENGINE(address);
  berth::test::TempDir aside;
  ServerHome server;
  add_target(server, "dock", address);
  ASSERT_EQ(server.berth({"create", "api", "--target", "dock"}).exit_code, 0);
  std::string first_id = info(server, "api")["provider_data"]["container_id"];
  fs::path identity = server.home() / "provider-data" / "docker" / "identity";
  EXPECT_EQ(berth::test::read_text(identity).size(), 33u) << "32 hex digits and a newline";
  EXPECT_EQ(fs::status(identity).permissions() & fs::perms::all, fs::perms::owner_read | fs::perms::owner_write);

  server.stop();
  fs::rename(server.home(), aside.path() / "machine-a");
  fs::create_directory(server.home());
  fs::permissions(server.home(), fs::perms::owner_all, fs::perm_options::replace);
  server.start();  // machine B: the same path, a fresh home
  add_target(server, "dock", address);
  Result created = server.berth({"create", "api", "--target", "dock"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  std::string second_id = info(server, "api")["provider_data"]["container_id"];
  EXPECT_NE(first_id, second_id);
  EXPECT_EQ(engine_state(address, first_id), "running") << "machine A's container was not touched";

  // A container of the name this home would use that carries no identity of this home's is
  // left alone, by create and by delete.
  std::string own = berth::test::read_text(server.home() / "provider-data" / "docker" / "identity").substr(0, 12);
  ASSERT_EQ(docker(address, {"create", "--name", "berth-" + own + "-squat", kImage, "true"}).exit_code, 0);
  Result squat = server.berth({"create", "squat", "--target", "dock"});
  EXPECT_EQ(squat.exit_code, 1);
  EXPECT_NE(squat.err.find("exists and is not this berth home's"), std::string::npos) << squat.err;
  EXPECT_EQ(server.berth({"delete", "squat"}).exit_code, 0);
  EXPECT_EQ(engine_state(address, "berth-" + own + "-squat"), "created");

  ASSERT_EQ(server.berth({"delete", "api"}).exit_code, 0);
  EXPECT_EQ(engine_state(address, second_id), "missing");
  EXPECT_EQ(engine_state(address, first_id), "running");
  docker(address, {"rm", "-f", first_id, "berth-" + own + "-squat"});
}

TEST(Docker, DeleteAfterItsTargetWasRemovedStillRemovesTheContainer) {
  REQUIRE_ENGINE(address);
  ServerHome server;
  add_target(server, "dock", address);
  ASSERT_EQ(server.berth({"create", "orphan", "--target", "dock"}).exit_code, 0);
  std::string id = info(server, "orphan")["provider_data"]["container_id"];
  ASSERT_EQ(server.berth({"target", "remove", "dock", "--force"}).exit_code, 0);
  Result deleted = server.berth({"delete", "orphan", "--force"});
  EXPECT_EQ(deleted.exit_code, 0) << deleted.err;
  EXPECT_EQ(engine_state(address, id), "missing") << "the container was removed, from what the record kept: " << deleted.err;
}

TEST(Docker, TwoHomesOnOneEngineDoNotSeeEachOther) {
  REQUIRE_ENGINE(address);
  ServerHome first, second;
  add_target(first, "dock", address);
  add_target(second, "dock", address);
  ASSERT_EQ(first.berth({"create", "same", "--target", "dock"}).exit_code, 0);
  ASSERT_EQ(second.berth({"create", "same", "--target", "dock"}).exit_code, 0);
  std::string first_id = info(first, "same")["provider_data"]["container_id"];
  std::string second_id = info(second, "same")["provider_data"]["container_id"];
  EXPECT_NE(first_id, second_id);
  ASSERT_EQ(first.berth({"delete", "same"}).exit_code, 0);
  EXPECT_EQ(engine_state(address, first_id), "missing");
  EXPECT_EQ(engine_state(address, second_id), "running") << "deleting in one home leaves the other's container";
  Result labelled = docker(address, {"ps", "-q", "--filter", "label=dev.berth.workspace=same"});
  EXPECT_EQ(labelled.out.substr(0, 12), second_id.substr(0, 12));
  ASSERT_EQ(second.berth({"delete", "same"}).exit_code, 0);
}

}  // namespace
