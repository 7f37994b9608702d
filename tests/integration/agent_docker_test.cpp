// berth-agent (providers/docker/agent/, docs/agent.md) on the private engine of
// tests/docker_fixture.sh: every exec check is run twice, through the agent and through the
// engine's exec (a target with exec_via: engine), and must give the same answer; which path
// ran is told by the command's parent (the agent, PID 1, or nobody in the container for a
// runtime exec). Then what only an init does: orphans reaped, SIGTERM passed on, the image's
// own command kept; and the fallback when the agent's socket is gone.
#include "docker_engine.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <signal.h>
#include <sys/wait.h>

#include <algorithm>
#include <chrono>
#include <fstream>

namespace fs = std::filesystem;
using berth::test::Result;
using berth::test::RunOptions;
using berth::test::ServerHome;
using Json = nlohmann::json;
using namespace std::chrono_literals;

namespace {

using berth::test::docker;

const char kBusybox[] = "berth-test:busybox";

void add_target(const ServerHome& server, const std::string& address, const std::string& name, const std::string& exec_via,
                const std::string& stop_timeout = "1") {
  Result added = server.add_target("name: " + name + "\nprovider: docker\nproperties:\n  host: " + address + "\n  image: " + kBusybox +
                                   "\n  pull: never\n  network: none\n  stop_timeout: \"" + stop_timeout + "\"\n  exec_via: " + exec_via + "\n");
  ASSERT_EQ(added.exit_code, 0) << added.err;
}

Json provider_data(const ServerHome& server, const std::string& name) {
  Result info = server.berth({"info", name, "-o", "json"});
  return Json::parse(info.out)["provider_data"];
}

std::string container_of(const ServerHome& server, const std::string& name) { return provider_data(server, name)["container_id"]; }

// The two workspaces every check runs in: "ag" through the agent, "en" through the engine.
class AgentDocker : public ::testing::Test {
 protected:
  void SetUp() override {
    address_ = berth::test::engine_address();
    if (address_.rfind("unavailable", 0) == 0) return;
    ASSERT_NO_FATAL_FAILURE(add_target(server_, address_, "via-agent", "auto"));
    ASSERT_NO_FATAL_FAILURE(add_target(server_, address_, "via-engine", "engine"));
    for (auto [name, target] : {std::pair{"ag", "via-agent"}, std::pair{"en", "via-engine"}}) {
      Result created = server_.berth({"create", name, "--target", target, "-q"});
      ASSERT_EQ(created.exit_code, 0) << created.err;
    }
  }
  // Runs `berth exec NAME [options] -- command...` in both workspaces; expects the same result.
  // With `Outputs::message_anywhere` the two need only agree on the exit code and both say
  // `message`: where the engine fails to start a command it writes its complaint into the
  // command's stdout (with \r\n), the agent to stderr.
  enum class Outputs { same, message_anywhere };
  Result both(const std::vector<std::string>& options, const std::vector<std::string>& command, const std::string& input = "",
              Outputs outputs = Outputs::same, const std::string& message = "") {
    RunOptions run;
    run.stdin_data = input;
    Result results[2];
    const char* names[2] = {"ag", "en"};
    for (int i = 0; i < 2; ++i) {
      std::vector<std::string> args = {"exec", names[i]};  // options after the name (-e takes several values)
      args.insert(args.end(), options.begin(), options.end());
      args.push_back("--");
      args.insert(args.end(), command.begin(), command.end());
      results[i] = server_.berth(args, run);
    }
    EXPECT_EQ(results[0].exit_code, results[1].exit_code) << "agent: " << results[0].err << "\nengine: " << results[1].err;
    if (outputs == Outputs::same) {
      EXPECT_EQ(results[0].out, results[1].out);
      EXPECT_EQ(results[0].err, results[1].err);
    } else {
      for (const auto& result : results) EXPECT_NE((result.out + result.err).find(message), std::string::npos) << result.out << result.err;
    }
    return results[0];
  }
  std::string address_;
  ServerHome server_;
};

#define REQUIRE_FIXTURE_ENGINE()                                     \
  if (address_.rfind("unavailable", 0) == 0) {                       \
    const char* ci = std::getenv("CI");                              \
    if (ci && std::string(ci) == "true") FAIL() << address_;         \
    GTEST_SKIP() << address_;                                        \
  }

TEST_F(AgentDocker, InfoSaysWhichWayCommandsRunAndTheyDoRunThatWay) {
  REQUIRE_FIXTURE_ENGINE();
  EXPECT_EQ(provider_data(server_, "ag")["exec_via"], "agent");
  EXPECT_EQ(provider_data(server_, "en")["exec_via"], "engine");
  EXPECT_EQ(provider_data(server_, "ag")["agent"], "/.berth/agent");
  // The agent forks the command (its parent is PID 1); the runtime's exec enters the
  // container from outside (no parent there).
  EXPECT_EQ(server_.berth({"exec", "ag", "--", "sh", "-c", "echo $PPID"}).out, "1\n");
  EXPECT_EQ(server_.berth({"exec", "en", "--", "sh", "-c", "echo $PPID"}).out, "0\n");
  // In both, the container's main process is the agent.
  for (const char* name : {"ag", "en"}) {
    Result ps = docker(address_, {"exec", container_of(server_, name), "cat", "/proc/1/cmdline"});
    EXPECT_EQ(ps.out.substr(0, ps.out.find('\0')), "/.berth/agent") << name;
  }
}

TEST_F(AgentDocker, ExitCodesAndStdoutAndStderrApartAsTheEngineGivesThem) {
  REQUIRE_FIXTURE_ENGINE();
  Result r = both({}, {"sh", "-c", "echo out; echo err >&2; echo more; exit 3"});
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.out, "out\nmore\n");
  EXPECT_EQ(r.err, "err\n");
  EXPECT_EQ(both({}, {"true"}).exit_code, 0);
  EXPECT_EQ(both({}, {"sh", "-c", "kill -TERM $$"}).exit_code, 143) << "killed by a signal: 128 + its number";
  Result missing = server_.berth({"exec", "ag", "--", "no-such-program"});
  EXPECT_EQ(missing.exit_code, 127);
  EXPECT_NE(missing.err.find("no-such-program"), std::string::npos) << missing.err;
  EXPECT_EQ(server_.berth({"exec", "en", "--", "no-such-program"}).exit_code, 127);
}

TEST_F(AgentDocker, StdinLargeOutputEnvWorkdirAndHome) {
  REQUIRE_FIXTURE_ENGINE();
  EXPECT_EQ(both({"-i"}, {"sh", "-c", "cat; echo done"}, "line one\nline two\n").out, "line one\nline two\ndone\n");
  std::string big(3u << 20, 'x');
  for (size_t i = 0; i < big.size(); i += 4096) big[i] = static_cast<char>('a' + (i / 4096) % 26);
  EXPECT_EQ(both({"-i"}, {"sh", "-c", "cat; cat /dev/null"}, big).out, big);
  // (-w after the last -e: the CLI's -e takes every value up to the next option, -- included.)
  EXPECT_EQ(both({"-e", "GREETING=hello there", "-e", "PATH=/bin:/opt", "-w", "/"}, {"sh", "-c", "echo \"$GREETING|$PATH\""}).out,
            "hello there|/bin:/opt\n");
  EXPECT_EQ(server_.berth({"exec", "ag", "--", "pwd"}).out, "/workspaces/ag\n");
  EXPECT_EQ(server_.berth({"exec", "en", "--", "pwd"}).out, "/workspaces/en\n");
  EXPECT_EQ(both({"-w", "/tmp"}, {"pwd"}).out, "/tmp\n");
  EXPECT_EQ(both({}, {"sh", "-c", "echo $HOME; echo $HOSTNAME | wc -c"}).out, "/root\n13\n");
  // The same environment (but for the container's own name, and what the engine path's sh
  // wrapper adds: SHLVL, PWD).
  std::string environments[2];
  for (int i = 0; i < 2; ++i) {
    Result env = server_.berth({"exec", i == 0 ? "ag" : "en", "--", "env"});
    std::vector<std::string> lines;
    for (size_t from = 0, end; (end = env.out.find('\n', from)) != std::string::npos; from = end + 1) {
      std::string line = env.out.substr(from, end - from);
      if (line.rfind("HOSTNAME=", 0) != 0 && line.rfind("SHLVL=", 0) != 0 && line.rfind("PWD=", 0) != 0) lines.push_back(line);
    }
    std::sort(lines.begin(), lines.end());
    for (const auto& line : lines) environments[i] += line + "\n";
  }
  EXPECT_EQ(environments[0], environments[1]);
  EXPECT_EQ(environments[0], "HOME=/root\nPATH=/bin\n");
  EXPECT_EQ(both({"-w", "/no/such/folder"}, {"pwd"}, "", Outputs::message_anywhere, "/no/such/folder").exit_code, 126);
}

TEST_F(AgentDocker, UsersFromTheContainersOwnPasswdAndGroupFiles) {
  REQUIRE_FIXTURE_ENGINE();
  // A user with a supplementary group, known only to this container's /etc/passwd and /etc/group.
  for (const char* name : {"ag", "en"}) {
    Result added = server_.berth({"exec", name, "--", "sh", "-c",
                                  "echo 'dev:x:1000:1000:dev:/home/dev:/bin/sh' >> /etc/passwd; "
                                  "printf 'dev:x:1000:\\nextra:x:2000:nobody,dev\\n' >> /etc/group; mkdir -p /home/dev"});
    ASSERT_EQ(added.exit_code, 0) << added.err;
  }
  EXPECT_EQ(both({"-u", "dev"}, {"id"}).out, "uid=1000(dev) gid=1000(dev) groups=1000(dev),2000(extra)\n");
  EXPECT_EQ(both({"-u", "dev"}, {"sh", "-c", "echo $HOME"}).out, "/home/dev\n");
  EXPECT_EQ(both({"-u", "nobody"}, {"sh", "-c", "id; echo $HOME"}).out, "uid=65534(nobody) gid=65534(nogroup) groups=2000(extra),65534(nogroup)\n/tmp\n");
  EXPECT_EQ(both({"-u", "1000:2000"}, {"id", "-u"}).out, "1000\n");
  EXPECT_EQ(both({"-u", "4242"}, {"id", "-u"}).out, "4242\n") << "a uid without an entry";
  Result unknown = both({"-u", "nosuch"}, {"id"}, "", Outputs::message_anywhere, "unable to find user nosuch");
  EXPECT_EQ(unknown.exit_code, 126);
}

TEST_F(AgentDocker, CtrlCReachesTheCommandWithAndWithoutATerminal) {
  REQUIRE_FIXTURE_ENGINE();
  berth::test::TempDir scratch;
  const std::string script = "trap 'echo got-int; exit 5' INT; echo ready; while :; do sleep 1; done";
  for (const char* name : {"ag", "en"}) {
    // Without a terminal: berth exec passes SIGINT on to the command's process group.
    fs::path log = scratch.path() / (std::string(name) + ".log");
    RunOptions options;
    options.env = {{"BERTH_HOME", server_.home().string()}, {"BERTH_NO_AUTOSTART", "1"}, {"BERTH_SERVER", ""}};
    int client = berth::test::spawn_program(
        {"/bin/sh", "-c", "exec '" + berth::test::berth_binary().string() + "' exec " + name + " -- sh -c \"" + script + "\" >'" + log.string() + "' 2>&1"},
        options);
    ASSERT_TRUE(berth::test::wait_until([&] { return berth::test::read_text(log).find("ready") != std::string::npos; }, 20s)) << name;
    ::kill(client, SIGINT);
    int status = 0;
    if (!berth::test::wait_until([&] { return ::waitpid(client, &status, WNOHANG) == client; }, 20s)) {
      ::kill(client, SIGKILL);
      ::waitpid(client, nullptr, 0);
      FAIL() << name << ": berth exec did not end on SIGINT: " << berth::test::read_text(log);
    }
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 5) << name << ": " << status << " " << berth::test::read_text(log);
    EXPECT_NE(berth::test::read_text(log).find("got-int"), std::string::npos) << name;

    // With one: Ctrl-C is a byte on the workspace's terminal, which makes it SIGINT.
    RunOptions terminal_options = options;
    terminal_options.env["TERM"] = "xterm";
    berth::test::Terminal terminal({berth::test::berth_binary().string(), "exec", "-t", name, "--", "sh", "-c", script}, terminal_options);
    ASSERT_TRUE(terminal.wait_for("ready", 0, 20s)) << terminal.output();
    terminal.type("\x03");
    EXPECT_TRUE(terminal.wait_for("got-int", 0, 20s)) << name << ": " << terminal.output();
    Result ended = terminal.finish(20s);
    EXPECT_EQ(ended.exit_code, 5) << name << ": " << ended.out;
  }
}

TEST_F(AgentDocker, ATerminalSessionHasItsSizeAndResizes) {
  REQUIRE_FIXTURE_ENGINE();
  RunOptions options;
  options.env = {{"BERTH_HOME", server_.home().string()}, {"BERTH_NO_AUTOSTART", "1"}, {"BERTH_SERVER", ""}, {"TERM", "xterm"}};
  berth::test::Terminal terminal({berth::test::berth_binary().string(), "ssh", "ag"}, options);
  ASSERT_TRUE(terminal.wait_for("", 0, 20s));
  terminal.type("tty; stty size; echo $((40+2))\n");
  ASSERT_TRUE(terminal.wait_for("42", 0, 20s)) << terminal.output();
  EXPECT_NE(terminal.output().find("/dev/pts/"), std::string::npos) << terminal.output();
  EXPECT_NE(terminal.output().find("30 100"), std::string::npos) << terminal.output();
  terminal.resize(41, 132);
  bool resized = false;
  auto until = std::chrono::steady_clock::now() + 20s;
  for (int round = 0; !resized && std::chrono::steady_clock::now() < until; ++round) {
    size_t from = terminal.output().size();
    std::string marker = "size-" + std::to_string(round) + "-";
    terminal.type("stty size; echo " + marker + "$((2+3))\n");
    ASSERT_TRUE(terminal.wait_for(marker + "5", from, 20s)) << terminal.output();
    resized = terminal.output().find("41 132", from) != std::string::npos;
  }
  EXPECT_TRUE(resized) << terminal.output();
  terminal.type("echo $PPID; exit 9\n");
  Result ended = terminal.finish(20s);
  EXPECT_EQ(ended.exit_code, 9);
}

// Processes whose parent ended come to PID 1, which must wait for them, or they stay zombies.
TEST_F(AgentDocker, OrphansAreReapedNoZombieIsLeft) {
  REQUIRE_FIXTURE_ENGINE();
  for (const char* name : {"ag", "en"}) {
    Result orphans = server_.berth({"exec", name, "--", "sh", "-c", "for i in 1 2 3 4 5; do (sleep 0.2; exit 3) & done; exit 0"});
    ASSERT_EQ(orphans.exit_code, 0) << orphans.err;
    std::string id = container_of(server_, name);
    auto states = [&] {
      return docker(address_, {"exec", id, "sh", "-c", "for f in /proc/[0-9]*/stat; do cut -d ' ' -f 2,3 $f; done"}).out;
    };
    ASSERT_TRUE(berth::test::wait_until([&] { return states().find("(sleep)") == std::string::npos; }, 20s)) << states();
    EXPECT_EQ(states().find(" Z"), std::string::npos) << name << ": zombies left:\n" << states();
  }
}

TEST_F(AgentDocker, StopIsPromptTheAgentEndsOnSigterm) {
  REQUIRE_FIXTURE_ENGINE();
  ASSERT_NO_FATAL_FAILURE(add_target(server_, address_, "slow-stop", "auto", "30"));
  ASSERT_EQ(server_.berth({"create", "st", "--target", "slow-stop", "-q"}).exit_code, 0);
  // A command still running in it does not hold the stop up either.
  RunOptions options;
  options.env = {{"BERTH_HOME", server_.home().string()}, {"BERTH_NO_AUTOSTART", "1"}, {"BERTH_SERVER", ""}};
  int client = berth::test::spawn_program({berth::test::berth_binary().string(), "exec", "st", "--", "sleep", "1000"}, options);
  std::string id = container_of(server_, "st");
  ASSERT_TRUE(berth::test::wait_until([&] { return docker(address_, {"exec", id, "ps"}).out.find("sleep 1000") != std::string::npos; }, 20s));
  auto started = std::chrono::steady_clock::now();
  Result stopped = server_.berth({"stop", "st", "-q"});
  auto took = std::chrono::steady_clock::now() - started;
  ASSERT_EQ(stopped.exit_code, 0) << stopped.err;
  EXPECT_LT(took, 10s) << "the engine waited for its stop_timeout (30 s): SIGTERM did not end the agent";
  Result inspected = docker(address_, {"inspect", "-f", "{{.State.Running}} {{.State.ExitCode}}", id});
  EXPECT_EQ(inspected.out, "false 0\n");
  int status = 0;
  EXPECT_TRUE(berth::test::wait_until([&] { return ::waitpid(client, &status, WNOHANG) == client; }, 20s));
  EXPECT_FALSE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << "the command ended with its container: berth exec fails";

  // Started again: a new agent, answering again. The engine answered on "ag"'s bound socket,
  // so it sees this machine's files: "st" got the agent binary in its bound folder, no archive
  // upload; a start puts it back when it is gone from there.
  Json data = provider_data(server_, "st");
  EXPECT_EQ(data["agent"], "/.berth/run/berth-agent");
  fs::path binary = fs::path(data["agent_socket_folder"].get<std::string>()) / "berth-agent";
  ASSERT_TRUE(fs::exists(binary));
  fs::remove(binary);
  ASSERT_EQ(server_.berth({"start", "st", "-q"}).exit_code, 0);
  EXPECT_TRUE(fs::exists(binary));
  EXPECT_EQ(provider_data(server_, "st")["exec_via"], "agent");
  EXPECT_EQ(server_.berth({"exec", "st", "--", "sh", "-c", "echo $PPID"}).out, "1\n");
}

TEST_F(AgentDocker, WithoutItsSocketCommandsGoThroughTheEngine) {
  REQUIRE_FIXTURE_ENGINE();
  fs::path folder = provider_data(server_, "ag")["agent_socket_folder"].get<std::string>();
  ASSERT_TRUE(fs::exists(folder / "agent.sock")) << folder;
  EXPECT_EQ((fs::status(folder).permissions() & fs::perms::all), fs::perms::owner_all) << "only berth's user reaches the socket";
  fs::remove(folder / "agent.sock");
  Result r = server_.berth({"exec", "ag", "--", "sh", "-c", "echo $PPID; echo err >&2; exit 4"});
  EXPECT_EQ(r.exit_code, 4);
  EXPECT_EQ(r.out, "0\n") << "the engine's exec ran it";
  EXPECT_EQ(r.err, "err\n");
  // A process in the container cannot use the agent (it would run anything as root): the
  // agent only answers peers outside the container's PID namespace. This one is inside.
  ASSERT_EQ(server_.berth({"stop", "ag", "-q"}).exit_code, 0);
  ASSERT_EQ(server_.berth({"start", "ag", "-q"}).exit_code, 0);
  std::string id = container_of(server_, "ag");
  ASSERT_EQ(docker(address_, {"cp", BERTH_UNIX_PROBE, id + ":/tmp/unix_probe"}).exit_code, 0);
  Result inside = docker(address_, {"exec", "-u", "0", id, "/tmp/unix_probe", "/.berth/run/agent.sock"});
  EXPECT_EQ(inside.out, "0\n") << "a process in the container was answered: " << inside.err;
  fs::path outside = folder / "agent.sock";
  if (outside.string().size() < 100) {  // this process is outside: it gets the greeting
    EXPECT_NE(berth::test::run_program({BERTH_UNIX_PROBE, outside.string()}).out, "0\n");
  }
  // Deleting the workspace removes the folder berth made for the socket.
  ASSERT_EQ(server_.berth({"delete", "ag", "-q"}).exit_code, 0);
  EXPECT_FALSE(fs::exists(folder)) << folder;
}

// devcontainer.json's overrideCommand: false keeps the image's entrypoint and command: the
// agent runs them as its child, passes SIGTERM on, and the container ends with them.
TEST_F(AgentDocker, TheImagesOwnCommandRunsAsTheAgentsChild) {
  REQUIRE_FIXTURE_ENGINE();
  berth::test::TempDir scratch;
  fs::path script = scratch.path() / "entry.sh";
  std::ofstream(script) << "echo \"entry $*\" > /tmp/main-ran\ntrap 'echo term > /tmp/main-ran; exit 7' TERM\n"
                           "while :; do sleep 1 & wait $!; done\n";
  Result made = docker(address_, {"create", "--name", "agent-entry-base", kBusybox, "true"});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  ASSERT_EQ(docker(address_, {"cp", script.string(), "agent-entry-base:/entry.sh"}).exit_code, 0);
  Result committed = docker(address_, {"commit", "-c", "ENTRYPOINT [\"/bin/sh\", \"/entry.sh\"]", "-c", "CMD [\"from-cmd\"]",
                                       "agent-entry-base", "berth-test:agent-entry"});
  docker(address_, {"rm", "agent-entry-base"});
  ASSERT_EQ(committed.exit_code, 0) << committed.err;

  fs::path repo = scratch.path() / "keeps";
  fs::create_directories(repo / ".devcontainer");
  std::ofstream(repo / ".devcontainer" / "devcontainer.json") << R"({"image": "berth-test:agent-entry", "overrideCommand": false})";
  berth::test::make_git_repo(repo, "keeps its command");
  RunOptions git;
  git.workdir = repo;
  git.env = {{"GIT_AUTHOR_NAME", "berth"}, {"GIT_AUTHOR_EMAIL", "b@example.org"}, {"GIT_COMMITTER_NAME", "berth"}, {"GIT_COMMITTER_EMAIL", "b@example.org"}};
  berth::test::run_program({"git", "add", "-A"}, git);
  ASSERT_EQ(berth::test::run_program({"git", "commit", "-q", "-m", "devcontainer"}, git).exit_code, 0);
  ASSERT_NO_FATAL_FAILURE(add_target(server_, address_, "keeps", "auto", "30"));
  Result created = server_.berth({"create", "keeps", "--target", "keeps", "--repo", repo.string(), "-q"});
  ASSERT_EQ(created.exit_code, 0) << created.err;

  std::string id = container_of(server_, "keeps");
  EXPECT_EQ(server_.berth({"exec", "keeps", "--", "cat", "/tmp/main-ran"}).out, "entry from-cmd\n");
  Result parent = server_.berth({"exec", "keeps", "--", "sh", "-c", "for f in /proc/[0-9]*/cmdline; do tr '\\0' ' ' < $f; echo; done"});
  EXPECT_NE(parent.out.find("/bin/sh /entry.sh from-cmd"), std::string::npos) << parent.out;
  EXPECT_EQ(server_.berth({"exec", "keeps", "--", "sh", "-c", "echo $PPID"}).out, "1\n");

  auto started = std::chrono::steady_clock::now();
  ASSERT_EQ(server_.berth({"stop", "keeps", "-q"}).exit_code, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 10s) << "SIGTERM did not reach the image's command";
  EXPECT_EQ(docker(address_, {"inspect", "-f", "{{.State.ExitCode}}", id}).out, "7\n") << "the container ends with its command's exit code";
  ASSERT_EQ(server_.berth({"delete", "keeps", "-q"}).exit_code, 0);
  docker(address_, {"rmi", "berth-test:agent-entry"});
}

// An image of nothing but static files (no shell, no libc, no sleep): berth's old main
// process (sh -c 'trap … sleep') could not run there; the agent waits, and runs commands.
TEST_F(AgentDocker, AnImageWithoutAShellOrALibcRunsAndTakesCommands) {
  REQUIRE_FIXTURE_ENGINE();
  berth::test::TempDir scratch;
  fs::path root = scratch.path() / "rootfs";
  fs::create_directories(root / "etc");
  fs::create_directories(root / "workspaces");
  std::ofstream(root / "etc" / "passwd") << "root:x:0:0:root:/:/probe\n";
  std::ofstream(root / "etc" / "group") << "root:x:0:\n";
  fs::copy_file(BERTH_UNIX_PROBE, root / "probe");
  Result packed = berth::test::run_program({"tar", "-C", root.string(), "-cf", (scratch.path() / "rootfs.tar").string(), "."});
  ASSERT_EQ(packed.exit_code, 0) << packed.err;
  Result imported = docker(address_, {"import", (scratch.path() / "rootfs.tar").string(), "berth-test:static-only"});
  ASSERT_EQ(imported.exit_code, 0) << imported.err;
  Result added = server_.add_target("name: static-only\nprovider: docker\nproperties:\n  host: " + address_ +
                                    "\n  image: berth-test:static-only\n  pull: never\n  network: none\n  stop_timeout: \"30\"\n");
  ASSERT_EQ(added.exit_code, 0) << added.err;
  Result created = server_.berth({"create", "bare", "--target", "static-only", "-q"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  EXPECT_EQ(provider_data(server_, "bare")["exec_via"], "agent");
  Result usage = server_.berth({"exec", "bare", "--", "/probe"});
  EXPECT_EQ(usage.exit_code, 2);
  EXPECT_EQ(usage.err, "usage: unix_probe SOCKET\n");
  EXPECT_EQ(server_.berth({"exec", "bare", "--", "no-such-program"}).exit_code, 127);
  auto started = std::chrono::steady_clock::now();
  ASSERT_EQ(server_.berth({"stop", "bare", "-q"}).exit_code, 0);
  EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
  ASSERT_EQ(server_.berth({"delete", "bare", "-q"}).exit_code, 0);
  docker(address_, {"rmi", "berth-test:static-only"});
}

// A warm pool's containers (pool: N) run the agent too: a workspace handed out from the pool
// runs its commands through it, and the pool's own socket folders go with the pool.
TEST_F(AgentDocker, APooledWorkspaceRunsCommandsThroughTheAgent) {
  REQUIRE_FIXTURE_ENGINE();
  Result added = server_.add_target("name: warm\nprovider: docker\nproperties:\n  host: " + address_ + "\n  image: " + kBusybox +
                                    "\n  pull: never\n  network: none\n  stop_timeout: \"1\"\n  pool: \"2\"\n");
  ASSERT_EQ(added.exit_code, 0) << added.err;
  server_.berth({"doctor"});  // starts filling the pool
  fs::path agents = server_.home() / "provider-data" / "docker" / "agents";
  auto pool_folders = [&] {
    int count = 0;
    std::error_code error;
    for (const auto& entry : fs::directory_iterator(agents, error)) count += entry.path().filename().string().find("-pool_") != std::string::npos;
    return count;
  };
  // This home's pool containers only: other tests' pools share the engine.
  auto pool_running = [&] {
    std::string identity = berth::test::read_text(server_.home() / "provider-data" / "docker" / "identity");
    while (!identity.empty() && identity.back() == '\n') identity.pop_back();
    if (identity.empty()) return std::ptrdiff_t{0};
    Result listed = docker(address_, {"ps", "-q", "--filter", "name=-pool_", "--filter", "label=dev.berth.identity=" + identity});
    return std::count(listed.out.begin(), listed.out.end(), '\n');
  };
  ASSERT_TRUE(berth::test::wait_until([&] { return pool_running() == 2; }, 30s)) << server_.berth({"doctor"}).out;
  EXPECT_EQ(pool_folders(), 2);

  Result created = server_.berth({"create", "pooled", "--target", "warm", "-q"});
  ASSERT_EQ(created.exit_code, 0) << created.err;
  ASSERT_NE(server_.berth({"logs", "pooled"}).out.find("from the warm pool"), std::string::npos);
  EXPECT_EQ(provider_data(server_, "pooled")["exec_via"], "agent");
  EXPECT_EQ(server_.berth({"exec", "pooled", "--", "sh", "-c", "echo $PPID; pwd"}).out, "1\n/workspaces/pooled\n");
  Result pid1 = docker(address_, {"exec", container_of(server_, "pooled"), "cat", "/proc/1/cmdline"});
  EXPECT_EQ(pid1.out.substr(0, pid1.out.find('\0')).rfind("/.berth/", 0), 0u) << pid1.out;

  fs::path folder = provider_data(server_, "pooled")["agent_socket_folder"].get<std::string>();
  EXPECT_TRUE(fs::exists(folder / "agent.sock")) << folder;
  ASSERT_TRUE(berth::test::wait_until([&] { return pool_running() == 2; }, 30s));
  ASSERT_EQ(server_.berth({"delete", "pooled", "-q"}).exit_code, 0);
  EXPECT_FALSE(fs::exists(folder)) << "the workspace's socket folder goes with it";
  ASSERT_EQ(server_.berth({"target", "remove", "warm"}).exit_code, 0);
  EXPECT_EQ(pool_folders(), 0) << "the drained pool's socket folders are removed";
}

}  // namespace
