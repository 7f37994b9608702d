// The whole lifecycle through the real berth binary against a real berth serve.
#include "test_support.hpp"
#include "module_files.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

namespace fs = std::filesystem;
using berth::test::Result;
using berth::test::ServerHome;
using Json = nlohmann::json;

namespace {

Json json_of(const Result& result) {
  EXPECT_EQ(result.exit_code, 0) << result.err;
  return Json::parse(result.out);
}

TEST(Lifecycle, CreateExecStopStartListDelete) {
  ServerHome server;
  berth::test::TempDir scratch;
  auto repo = berth::test::make_git_repo(scratch.path() / "repo", "first commit of the demo");

  Result add = server.berth({"target", "add", "-f", (berth::test::source_dir() / "targets" / "local.yaml").string()});
  // The default target `local` exists from the first start, so adding it again is a conflict.
  EXPECT_EQ(add.exit_code, 1);
  EXPECT_NE(add.err.find("target 'local' already exists"), std::string::npos) << add.err;

  berth::test::RunOptions in_scratch;
  in_scratch.workdir = scratch.path();
  Result create = server.berth({"create", "demo", "--target", "local", "--repo", "./repo", "--env", "GREETING=hi"}, in_scratch);
  ASSERT_EQ(create.exit_code, 0) << create.err;
  EXPECT_NE(create.err.find("cloning " + repo.string()), std::string::npos) << "progress lines are shown: " << create.err;

  Result log = server.berth({"exec", "demo", "--", "git", "log", "--oneline", "-1"});
  EXPECT_EQ(log.exit_code, 0) << log.err;
  EXPECT_NE(log.out.find("first commit of the demo"), std::string::npos) << log.out;

  Result env = server.berth({"exec", "demo", "--", "sh", "-c", "echo $GREETING; echo oops >&2; exit 7"});
  EXPECT_EQ(env.exit_code, 7) << "exec returns the command's exit code";
  EXPECT_EQ(env.out, "hi\n");
  EXPECT_EQ(env.err, "oops\n");

  Json info = json_of(server.berth({"info", "demo", "-o", "json"}));
  EXPECT_EQ(info["state"], "started");
  EXPECT_EQ(info["repository"], repo.string());
  fs::path folder = info["provider_data"]["path"].get<std::string>();
  EXPECT_TRUE(fs::exists(folder / "README.md"));

  ASSERT_EQ(server.berth({"stop", "demo"}).exit_code, 0);
  EXPECT_EQ(json_of(server.berth({"info", "demo", "-o", "json"}))["state"], "stopped");
  Result refused = server.berth({"exec", "demo", "--", "true"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("berth start demo"), std::string::npos) << refused.err;

  ASSERT_EQ(server.berth({"start", "demo"}).exit_code, 0);
  Json list = json_of(server.berth({"list", "-o", "json"}));
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0]["name"], "demo");
  EXPECT_EQ(list[0]["state"], "started");

  Result yaml = server.berth({"list", "-o", "yaml"});
  EXPECT_NE(yaml.out.find("name: demo"), std::string::npos) << yaml.out;
  Result table = server.berth({"list"});
  EXPECT_NE(table.out.find("NAME"), std::string::npos);
  EXPECT_NE(table.out.find("demo"), std::string::npos);

  Result logs = server.berth({"logs", "demo"});
  EXPECT_NE(logs.out.find("==> create done: started"), std::string::npos) << logs.out;
  EXPECT_NE(logs.out.find("==> stop done: stopped"), std::string::npos) << logs.out;

  ASSERT_EQ(server.berth({"delete", "demo"}).exit_code, 0);
  EXPECT_FALSE(fs::exists(folder));
  EXPECT_FALSE(fs::exists(server.home() / "workspaces" / "demo.yaml"));
  EXPECT_EQ(json_of(server.berth({"list", "-o", "json"})).size(), 0u);
}

TEST(Lifecycle, SshOpensAShellInTheWorkspaceFolder) {
  ServerHome server;
  ASSERT_EQ(server.berth({"create", "box", "--env", "FAVOURITE=blue"}).exit_code, 0);
  berth::test::RunOptions env;
  env.env = {{"BERTH_HOME", server.home().string()}, {"BERTH_NO_AUTOSTART", "1"}, {"PS1", "$ "}};
  Result session = berth::test::run_in_terminal({berth::test::berth_binary().string(), "ssh", "box"}, env,
                                                "echo colour=$FAVOURITE; pwd\nexit 3\n", std::chrono::seconds(20));
  EXPECT_EQ(session.exit_code, 3) << session.out;
  EXPECT_NE(session.out.find("colour=blue"), std::string::npos) << session.out;
  EXPECT_NE(session.out.find("/workspaces/box"), std::string::npos) << session.out;
  ASSERT_EQ(server.berth({"stop", "box"}).exit_code, 0);
  Result stopped = server.berth({"ssh", "box"});
  EXPECT_EQ(stopped.exit_code, 1);
  EXPECT_NE(stopped.err.find("berth start box"), std::string::npos) << stopped.err;
}

// A provider that cannot rebuild (the host provider: a folder has no image) refuses, and the
// workspace stays exactly as it was: started, usable, not in error.
TEST(Lifecycle, RebuildOnAProviderWithoutItIsRefusedAndChangesNothing) {
  ServerHome server;
  ASSERT_EQ(server.berth({"create", "plain"}).exit_code, 0);
  Result rebuilt = server.berth({"rebuild", "plain"});
  EXPECT_EQ(rebuilt.exit_code, 1);
  EXPECT_NE(rebuilt.err.find("cannot rebuild its workspaces"), std::string::npos) << rebuilt.err;
  Result info = server.berth({"info", "plain", "-o", "json"});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  auto record = nlohmann::json::parse(info.out);
  EXPECT_EQ(record["state"], "started");
  EXPECT_EQ(record.value("last_error", ""), "");
  EXPECT_EQ(server.berth({"exec", "plain", "--", "true"}).exit_code, 0);
}

// A command that stops reading its stdin early (head, a closed descriptor) while input is still
// coming: the rest is dropped, as with a local pipe, and the provider's process lives on.
TEST(Lifecycle, ExecInputToACommandThatStopsReadingDoesNotCrashTheProvider) {
  ServerHome server;
  ASSERT_EQ(server.berth({"create", "pipes", "-q"}).exit_code, 0);
  berth::test::RunOptions input;
  input.stdin_data = std::string(8u << 20, 'a');
  Result head = server.berth({"exec", "-i", "pipes", "--", "head", "-c", "3"}, input);
  EXPECT_EQ(head.exit_code, 0) << head.err;
  EXPECT_EQ(head.out, "aaa");
  Result closed = server.berth({"exec", "-i", "pipes", "--", "sh", "-c", "exec 0<&-; sleep 0.2; echo kept-going"}, input);
  EXPECT_EQ(closed.exit_code, 0) << closed.err;
  EXPECT_EQ(closed.out, "kept-going\n");
  std::string log = berth::test::read_text(server.home() / "logs" / "providers" / "host.log");
  EXPECT_EQ(log.find("crashed"), std::string::npos) << log;
}

// Issue 22: --keep-volume on a provider that cannot keep a tree apart (host) deleted the tree
// with its uncommitted work, exit 0. It is refused before anything is deleted.
TEST(Lifecycle, KeepVolumeOnAProviderThatCannotIsRefusedBeforeAnythingIsDeleted) {
  ServerHome server;
  ASSERT_EQ(server.berth({"create", "w"}).exit_code, 0);
  ASSERT_EQ(server.berth({"exec", "w", "--", "sh", "-c", "echo mine > uncommitted.txt"}).exit_code, 0);
  Result deleted = server.berth({"delete", "w", "--keep-volume"});
  EXPECT_NE(deleted.exit_code, 0);
  EXPECT_NE(deleted.err.find("provider 'host' cannot keep a workspace's working tree apart (--keep-volume)"), std::string::npos) << deleted.err;
  EXPECT_NE(deleted.err.find("nothing was deleted"), std::string::npos) << deleted.err;
  Result kept = server.berth({"exec", "w", "--", "cat", "uncommitted.txt"});
  EXPECT_EQ(kept.exit_code, 0) << kept.err;
  EXPECT_EQ(kept.out, "mine\n");
  EXPECT_EQ(server.berth({"delete", "w"}).exit_code, 0);
}

TEST(Lifecycle, SocketIsOwnerOnlyAndHomeIsPrivate) {
  ServerHome server;
  struct stat info {};
  ASSERT_EQ(::stat((server.home() / "berth.sock").c_str(), &info), 0);
  EXPECT_TRUE(S_ISSOCK(info.st_mode));
  EXPECT_EQ(info.st_mode & 0777, 0600u);
}

// --detach returns while the create still runs (held at a gate), and logs -f follows it to
// its end once the gate opens.
TEST(Lifecycle, DetachedCreateGoesOnAndLogsFollow) {
  ServerHome server(ServerHome::Start::later);
  berth::test::drop_in_provider(server.home(), berth::test::test_provider("flaky_provider"), "flaky",
                                berth::test::provider_manifest("flaky"));
  server.start();
  berth::test::TempDir scratch;
  fs::path gate = scratch.path() / "gate";
  ASSERT_EQ(server.add_target("name: held\nprovider: flaky\nproperties:\n  gate: " + gate.string() + "\n  gate_on: create\n").exit_code, 0);
  Result create = server.berth({"create", "bg", "--target", "held", "--detach"});
  ASSERT_EQ(create.exit_code, 0) << create.err;
  Json during = Json::parse(server.berth({"info", "bg", "-o", "json"}).out);
  EXPECT_EQ(during["state"], "creating") << "--detach waited for the create to end";
  std::ofstream(gate) << "open";
  Result follow = server.berth({"logs", "bg", "-f"});
  EXPECT_EQ(follow.exit_code, 0);
  EXPECT_NE(follow.out.find("waiting for gate"), std::string::npos) << follow.out;
  EXPECT_NE(follow.out.find("==> create done: started"), std::string::npos) << follow.out;
  EXPECT_EQ(Json::parse(server.berth({"info", "bg", "-o", "json"}).out)["state"], "started");
}

TEST(Lifecycle, DeleteForceRemovesRecordWhenInfrastructureIsGone) {
  ServerHome server;
  ASSERT_EQ(server.berth({"create", "gone"}).exit_code, 0);
  Json info = Json::parse(server.berth({"info", "gone", "-o", "json"}).out);
  fs::remove_all(info["provider_data"]["path"].get<std::string>());
  // stop fails: its folder is gone; the workspace goes to error with what to do next.
  ASSERT_EQ(server.berth({"stop", "gone"}).exit_code, 1);
  Json failed = Json::parse(server.berth({"info", "gone", "-o", "json"}).out);
  EXPECT_EQ(failed["state"], "error");
  EXPECT_NE(failed["last_error"].get<std::string>().find("is gone"), std::string::npos) << failed.dump();
  Result removed = server.berth({"delete", "gone", "--force"});
  EXPECT_EQ(removed.exit_code, 0) << removed.err;
  EXPECT_EQ(server.berth({"info", "gone"}).exit_code, 1);
}

// Starting a started workspace asks nothing of its provider: here its start would fail.
TEST(Lifecycle, StartOnStartedIsANoOpAndStatesShowInInfo) {
  ServerHome server(ServerHome::Start::later);
  berth::test::drop_in_provider(server.home(), berth::test::test_provider("flaky_provider"), "flaky",
                                berth::test::provider_manifest("flaky"));
  server.start();
  ASSERT_EQ(server.add_target("name: nostart\nprovider: flaky\nproperties:\n  fail_on: start\n").exit_code, 0);
  ASSERT_EQ(server.berth({"create", "idem", "--target", "nostart"}).exit_code, 0);
  std::string log_before = server.berth({"logs", "idem"}).out;
  Result again = server.berth({"start", "idem"});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_NE(again.out.find("is started"), std::string::npos) << again.out;
  EXPECT_EQ(server.berth({"logs", "idem"}).out, log_before) << "the no-op start ran something";
  EXPECT_EQ(Json::parse(server.berth({"info", "idem", "-o", "json"}).out)["state"], "started");
  // The same start after a stop does reach the provider, and fails as told.
  ASSERT_EQ(server.berth({"stop", "idem"}).exit_code, 0);
  Result real = server.berth({"start", "idem"});
  EXPECT_EQ(real.exit_code, 1);
  EXPECT_NE(real.err.find("flaky was told to fail in start"), std::string::npos) << real.err;
}

TEST(Lifecycle, AutostartStartsTheServerAndSaysSo) {
  berth::test::TempDir home;
  berth::test::RunOptions options;
  options.env = {{"BERTH_HOME", home.path().string()}, {"BERTH_NO_AUTOSTART", ""}, {"BERTH_SERVER", ""}};
  auto berth = [&](std::vector<std::string> args) {
    args.insert(args.begin(), berth::test::berth_binary().string());
    return berth::test::run_program(args, options);
  };
  Result list = berth({"list"});
  EXPECT_EQ(list.exit_code, 0) << list.err;
  EXPECT_NE(list.err.find("started a local server"), std::string::npos) << list.err;
  Result status = berth({"server", "status"});
  EXPECT_EQ(status.exit_code, 0);
  EXPECT_NE(status.out.find("running"), std::string::npos);
  Result stop = berth({"server", "stop"});
  EXPECT_EQ(stop.exit_code, 0) << stop.err;
  EXPECT_EQ(berth({"server", "status"}).exit_code, 1);
  Result refused = berth({"--no-autostart", "list"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("no berth server is running"), std::string::npos) << refused.err;
}

TEST(Cli, VersionHelpAndCompletion) {
  ServerHome server;
  Result version = server.berth({"version"});
  EXPECT_EQ(version.exit_code, 0);
  EXPECT_NE(version.out.find("berth 0."), std::string::npos);
  EXPECT_NE(version.out.find("(SDK API " + berth::to_string(berth::sdk_api_version) + ")"), std::string::npos) << "the SDK providers build against: " << version.out;
  Result help = server.berth({"--help"});
  EXPECT_EQ(help.exit_code, 0);
  for (const char* word : {"workspace", "target", "provider", "server", "completion", "create", "exec"}) {
    EXPECT_NE(help.out.find(word), std::string::npos) << word;
  }
  Result usage = server.berth({"create"});
  EXPECT_EQ(usage.exit_code, 2) << "a usage error exits 2";
  Result unknown = server.berth({"frobnicate"});
  EXPECT_EQ(unknown.exit_code, 2);
  Result bash = server.berth({"completion", "bash"});
  EXPECT_EQ(bash.exit_code, 0);
  EXPECT_NE(bash.out.find("complete -F _berth berth"), std::string::npos);
  EXPECT_NE(bash.out.find("\"workspace\")"), std::string::npos);
  // The generated script is valid bash.
  std::ofstream(server.home() / "completion.bash") << bash.out;
  EXPECT_EQ(berth::test::run_program({"bash", "-n", (server.home() / "completion.bash").string()}).exit_code, 0);
}

}  // namespace

// What a docker or kubectl user types first: --version, -q for names only, a prune with no
// terminal to ask, and logs -f's exit code for a failed operation.
TEST(Cli, VersionQuietListPruneWithoutTerminalAndFollowExitCode) {
  ServerHome server(ServerHome::Start::later);
  berth::test::drop_in_provider(server.home(), berth::test::test_provider("flaky_provider"), "flaky",
                                berth::test::provider_manifest("flaky"));
  server.start();
  Result version = server.berth({"--version"});
  EXPECT_EQ(version.exit_code, 0) << version.err;
  EXPECT_EQ(version.out.rfind("berth ", 0), 0u) << version.out;
  Result typo = server.berth({"lsit"});
  EXPECT_EQ(typo.exit_code, 2);
  EXPECT_NE(typo.err.find("'lsit' is not a command of berth. Did you mean 'berth list'?"), std::string::npos) << typo.err;
  Result group = server.berth({"workspace"});
  EXPECT_EQ(group.exit_code, 2);
  EXPECT_NE(group.err.find("berth workspace needs a command: create, list, info"), std::string::npos) << group.err;

  ASSERT_EQ(server.berth({"create", "b"}).exit_code, 0);
  ASSERT_EQ(server.berth({"create", "a"}).exit_code, 0);
  Result names = server.berth({"-q", "list"});
  EXPECT_EQ(names.exit_code, 0);
  EXPECT_EQ(names.out, "a\nb\n");
  Result verbose = server.berth({"-v", "info", "a"});  // each request, its status and both times
  EXPECT_NE(verbose.err.find("berth: GET /v1/workspaces/a -> 200 in "), std::string::npos) << verbose.err;
  EXPECT_NE(verbose.err.find(" ms (server "), std::string::npos) << verbose.err;
  EXPECT_EQ(server.berth({"info", "a"}).err, "") << "quiet without -v";

  ASSERT_EQ(server.berth({"stop", "a"}).exit_code, 0);
  EXPECT_EQ(server.berth({"-q", "list", "--state", "stopped"}).out, "a\n");
  EXPECT_EQ(server.berth({"-q", "list", "--state", "started", "--target", "local"}).out, "b\n");
  EXPECT_EQ(server.berth({"-q", "list", "--target", "elsewhere"}).out, "");
  EXPECT_EQ(server.berth({"list", "--state", "bogus"}).exit_code, 2);
  EXPECT_NE(server.berth({"create", "--help"}).out.find("Examples:\n  berth create api --repo"), std::string::npos);
  Result again = server.berth({"stop", "a"});  // nothing to do: no log history on a pipe
  EXPECT_EQ(again.exit_code, 0);
  EXPECT_EQ((again.out + again.err).find("==> stop a at"), std::string::npos) << again.out << again.err;
  EXPECT_NE(again.out.find("workspace 'a' is stopped"), std::string::npos) << again.out;
  Result prune = server.berth({"prune", "--older-than", "0s"});  // stdin is not a terminal here
  EXPECT_EQ(prune.exit_code, 1);
  EXPECT_NE(prune.err.find("add --yes"), std::string::npos) << prune.err;
  EXPECT_EQ(server.berth({"-q", "list"}).out, "a\nb\n") << "nothing was deleted";

  berth::test::RunOptions options;
  options.stdin_data = "name: failing\nprovider: flaky\nproperties:\n  fail_on: create\n";
  ASSERT_EQ(server.berth({"target", "add", "-f", "-"}, options).exit_code, 0);
  ASSERT_EQ(server.berth({"create", "c", "--target", "failing", "--detach"}).exit_code, 0);
  Result followed = server.berth({"logs", "-f", "c"});
  EXPECT_EQ(followed.exit_code, 1) << followed.out;
  EXPECT_NE(followed.out.find("==> create failed"), std::string::npos) << followed.out;
  EXPECT_EQ(server.berth({"logs", "-f", "a"}).exit_code, 0) << "a stop that succeeded";

  // The failed create's record holds the name: the refusal says how to free it.
  Result again_create = server.berth({"create", "c", "--target", "failing"});
  EXPECT_EQ(again_create.exit_code, 1);
  EXPECT_NE(again_create.err.find("already exists in state error"), std::string::npos) << again_create.err;
  EXPECT_NE(again_create.err.find("berth delete c frees the name"), std::string::npos) << again_create.err;
  EXPECT_EQ(again_create.err.find("(next:"), std::string::npos) << "one next step, not two: " << again_create.err;

  // Several names at once, each reported; one that fails does not stop the others.
  Result stopped = server.berth({"stop", "b", "nosuch", "a"});
  EXPECT_EQ(stopped.exit_code, 1);
  EXPECT_NE(stopped.err.find("berth: nosuch: workspace 'nosuch' does not exist"), std::string::npos) << stopped.err;
  EXPECT_NE(stopped.out.find("workspace 'b' is stopped"), std::string::npos) << stopped.out;
  EXPECT_NE(stopped.out.find("workspace 'a' is stopped"), std::string::npos) << stopped.out;
  Result deleted = server.berth({"delete", "a", "b", "c"});
  EXPECT_EQ(deleted.exit_code, 0) << deleted.err;
  EXPECT_EQ(server.berth({"-q", "list"}).out, "");
}

// Issue 22: berth server stop returns only once the server's process has ended, every thread
// of it, and says so while what runs (here a create held at a gate) finishes first.
TEST(Cli, ServerStopReturnsOnlyOnceTheServerHasEndedAndSaysWhileItWaits) {
  ServerHome server(ServerHome::Start::later);
  berth::test::drop_in_provider(server.home(), berth::test::test_provider("flaky_provider"), "flaky",
                                berth::test::provider_manifest("flaky"));
  server.start();
  berth::test::TempDir scratch;
  ASSERT_EQ(server.add_target("name: held\nprovider: flaky\nproperties:\n  gate: " + (scratch.path() / "gate").string() + "\n  gate_on: create\n")
                .exit_code,
            0);
  ASSERT_EQ(server.berth({"create", "bg", "--target", "held", "--detach"}).exit_code, 0);
  int pid = server.pid();
  Result stopped = server.berth({"server", "stop"});
  // Gone, or a zombie of this test with no thread left: nothing of it runs any more.
  std::string state = berth::test::read_text("/proc/" + std::to_string(pid) + "/stat");
  size_t paren = state.rfind(')');
  bool ended = state.empty() || (paren != std::string::npos && state[paren + 2] == 'Z' && berth::test::thread_count(pid) <= 1);
  EXPECT_TRUE(ended) << state;
  EXPECT_EQ(stopped.exit_code, 0) << stopped.err;
  EXPECT_NE(stopped.out.find("server stopped"), std::string::npos) << stopped.out;
  EXPECT_NE(stopped.err.find("is still ending: running operations and streams finish first; waiting up to 28 s more"), std::string::npos)
      << stopped.err;
}

// berth server start --listen: the background server listens on TCP too, keys required.
TEST(Cli, ServerStartListensOnTcpWhenAsked) {
  berth::test::TempDir home;
  int port = berth::test::free_tcp_port();
  std::string address = "127.0.0.1:" + std::to_string(port);
  berth::test::RunOptions options;
  options.env = {{"BERTH_HOME", home.path().string()}, {"BERTH_SERVER", ""}, {"BERTH_API_KEY", ""}};
  auto berth = [&](std::vector<std::string> args) {
    args.insert(args.begin(), berth::test::berth_binary().string());
    return berth::test::run_program(args, options);
  };
  Result started = berth({"server", "start", "--listen", address});
  EXPECT_EQ(started.exit_code, 0) << started.err;
  Result remote = berth({"--server", "http://" + address, "list"});
  EXPECT_EQ(remote.exit_code, 1);
  EXPECT_NE(remote.err.find("needs an API key"), std::string::npos) << remote.err;
  EXPECT_EQ(berth({"server", "stop"}).exit_code, 0);
}

// Ctrl-C while a create is followed: the CLI says the create goes on and how to follow it.
TEST(Cli, CtrlCWhileFollowingSaysTheOperationGoesOn) {
  ServerHome server(ServerHome::Start::later);
  berth::test::drop_in_provider(server.home(), berth::test::test_provider("flaky_provider"), "flaky",
                                berth::test::provider_manifest("flaky"));
  server.start();
  berth::test::TempDir scratch;
  fs::path gate = scratch.path() / "gate";
  berth::test::RunOptions options;
  options.stdin_data = "name: gated\nprovider: flaky\nproperties:\n  gate: " + gate.string() + "\n  gate_on: create\n";
  ASSERT_EQ(server.berth({"target", "add", "-f", "-"}, options).exit_code, 0);
  berth::test::RunOptions terminal_options;
  terminal_options.env = {{"BERTH_HOME", server.home().string()}, {"BERTH_NO_AUTOSTART", "1"}, {"BERTH_SERVER", ""}};
  berth::test::Terminal terminal({berth::test::berth_binary().string(), "create", "w", "--target", "gated"}, terminal_options);
  ASSERT_TRUE(berth::test::wait_until(
      [&] { return berth::test::read_text(server.home() / "logs" / "workspaces" / "w.log").find("waiting for gate") != std::string::npos; },
      std::chrono::seconds(20)));
  terminal.type("\x03");  // Ctrl-C: the terminal sends SIGINT to the CLI
  Result result = terminal.finish(std::chrono::seconds(10));
  EXPECT_EQ(result.exit_code, 130) << result.out;
  EXPECT_NE(result.out.find("the create goes on in the server (follow it: berth logs -f w)"), std::string::npos) << result.out;
  std::ofstream(gate) << "open";
  EXPECT_TRUE(berth::test::wait_until([&] { return server.berth({"info", "w"}).out.find("started") != std::string::npos; },
                                      std::chrono::seconds(20)));
}

// On a terminal, `berth list` fits the window and says when in words; on a pipe, whole lines.
TEST(Cli, ListFitsANarrowTerminal) {
  ServerHome server;
  berth::test::TempDir scratch;
  fs::path deep = scratch.path() / std::string(90, 'r') / "repository";
  fs::create_directories(deep.parent_path());
  fs::path repo = berth::test::make_git_repo(deep, "first");
  ASSERT_EQ(server.berth({"create", "w", "--repo", repo.string()}).exit_code, 0);
  Result piped = server.berth({"list"});
  EXPECT_NE(piped.out.find(repo.string()), std::string::npos) << "a pipe gets whole lines";

  berth::test::RunOptions options;
  options.env = {{"BERTH_HOME", server.home().string()}, {"BERTH_NO_AUTOSTART", "1"}, {"BERTH_SERVER", ""}};
  berth::test::Terminal terminal({berth::test::berth_binary().string(), "list"}, options);  // 100 columns
  Result shown = terminal.finish(std::chrono::seconds(10));
  EXPECT_EQ(shown.exit_code, 0) << shown.out;
  std::istringstream lines(shown.out);
  int rows = 0;
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty()) continue;
    ++rows;
    std::string visible = std::regex_replace(line, std::regex("\033\\[[0-9;]*m"), "");  // colour takes no columns
    EXPECT_LE(visible.size(), 100u) << line;
  }
  EXPECT_EQ(rows, 2) << shown.out;
  EXPECT_NE(shown.out.find("~r"), std::string::npos) << "the long repository cell was cut: " << shown.out;
  EXPECT_NE(shown.out.find("r/repository"), std::string::npos) << "a path keeps its end, the repository's name: " << shown.out;
  EXPECT_NE(shown.out.find("just now"), std::string::npos) << shown.out;
  EXPECT_NE(shown.out.find("\033[32mstarted\033[0m"), std::string::npos) << "the state in green: " << shown.out;
  // COLUMNS says the width, as for ls: the provider column goes before any cell is cut.
  options.env["COLUMNS"] = "60";
  berth::test::Terminal narrow({berth::test::berth_binary().string(), "list"}, options);
  Result narrowed = narrow.finish(std::chrono::seconds(10));
  EXPECT_EQ(narrowed.exit_code, 0) << narrowed.out;
  std::istringstream narrow_lines(narrowed.out);
  for (std::string line; std::getline(narrow_lines, line);) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    EXPECT_LE(std::regex_replace(line, std::regex("\033\\[[0-9;]*m"), "").size(), 60u) << line;
  }
  EXPECT_EQ(narrowed.out.find("PROVIDER"), std::string::npos) << narrowed.out;
  EXPECT_NE(narrowed.out.find("r/repository"), std::string::npos) << narrowed.out;
  options.env.erase("COLUMNS");
  berth::test::Terminal info({berth::test::berth_binary().string(), "info", "w"}, options);
  Result informed = info.finish(std::chrono::seconds(10));
  EXPECT_NE(informed.out.find("Z (just now)"), std::string::npos) << "info says how long ago too: " << informed.out;
  EXPECT_EQ(server.berth({"info", "w"}).out.find("(just now)"), std::string::npos) << "not on a pipe";
  options.env["NO_COLOR"] = "1";
  berth::test::Terminal plain({berth::test::berth_binary().string(), "list"}, options);
  Result uncoloured = plain.finish(std::chrono::seconds(10));
  EXPECT_EQ(uncoloured.out.find("\033["), std::string::npos) << "NO_COLOR: " << uncoloured.out;
  EXPECT_EQ(piped.out.find("\033["), std::string::npos) << "no colour on a pipe";
}

// Completion offers the server's workspace, target and provider names, in a real bash; with no
// server running it offers the commands' own words and starts nothing.
TEST(Cli, CompletionOffersNamesFromTheServer) {
  ServerHome server;
  ASSERT_EQ(server.berth({"create", "alpha"}).exit_code, 0);
  ASSERT_EQ(server.berth({"create", "beta"}).exit_code, 0);
  berth::test::RunOptions options;
  options.env = {{"BERTH_HOME", server.home().string()}, {"BERTH_SERVER", ""},
                 {"PATH", berth::test::berth_binary().parent_path().string() + ":" + std::getenv("PATH")}};
  auto complete = [&](const std::string& words, int index) {
    std::string script = "source <(berth completion bash); COMP_WORDS=(" + words + "); COMP_CWORD=" + std::to_string(index) +
                         "; _berth; printf '%s\\n' \"${COMPREPLY[@]}\" | sort";
    return berth::test::run_program({"bash", "-c", script}, options);
  };
  Result workspaces = complete("berth stop ''", 2);
  EXPECT_NE(workspaces.out.find("alpha\nbeta\n"), std::string::npos) << workspaces.out << workspaces.err;
  Result prefixed = complete("berth workspace delete al", 3);
  EXPECT_EQ(prefixed.out, "alpha\n") << prefixed.err;
  Result targets = complete("berth target show ''", 3);
  EXPECT_NE(targets.out.find("local\n"), std::string::npos) << targets.out;
  Result providers = complete("berth provider info ''", 3);
  EXPECT_NE(providers.out.find("host\n"), std::string::npos) << providers.out;
  // Commands that take several names keep offering them; aliases are commands too.
  Result more = complete("berth stop alpha ''", 3);
  EXPECT_NE(more.out.find("alpha\nbeta\n"), std::string::npos) << more.out << more.err;
  EXPECT_EQ(complete("berth ws rm b", 3).out, "beta\n");
  EXPECT_EQ(complete("berth rm b", 2).out, "beta\n");
  // Option values: targets, states, output formats; plugin names from this machine.
  EXPECT_EQ(complete("berth create gamma --target ''", 4).out, "local\n");
  EXPECT_EQ(complete("berth list --state sto", 3).out, "stopped\nstopping\n");
  EXPECT_EQ(complete("berth -o j", 2).out, "json\n");
  EXPECT_NE(complete("berth plugin disable ''", 3).out.find("prune\n"), std::string::npos);
  EXPECT_EQ(complete("berth exec alpha -- ''", 4).out, "\n") << "the command's own arguments are not berth's";
  // fish, where installed: the same names, a group's subcommands only until one is given.
  if (berth::test::run_program({"sh", "-c", "command -v fish"}).exit_code == 0) {
    auto fish = [&](const std::string& line) {
      return berth::test::run_program(
          {"fish", "-c", "berth completion fish | source; complete -C '" + line + "' | string replace -r '\\t.*' '' | sort"}, options);
    };
    EXPECT_EQ(fish("berth stop ").out, "alpha\nbeta\n");
    EXPECT_EQ(fish("berth ws rm ").out, "alpha\nbeta\n");
    EXPECT_EQ(fish("berth target show ").out, "local\n");
    EXPECT_EQ(fish("berth server ").out, "start\nstatus\nstop\n");
  }

  berth::test::TempDir empty;
  options.env["BERTH_HOME"] = (empty.path() / "none").string();
  Result nothing = berth::test::run_program({berth::test::berth_binary().string(), "__complete", "workspaces"}, options);
  EXPECT_EQ(nothing.exit_code, 0);
  EXPECT_EQ(nothing.out, "");
  EXPECT_EQ(nothing.err, "");
  EXPECT_FALSE(fs::exists(empty.path() / "none" / "berth.sock")) << "completion started a server";
}

// A clone that fails says git's reason, not only its exit code, and how to free the name.
TEST(Cli, AFailedCloneSaysWhyAndHowToFreeTheName) {
  ServerHome server;
  berth::test::TempDir scratch;
  std::string missing = "file://" + (scratch.path() / "no-such-repository.git").string();
  Result created = server.berth({"create", "c", "--repo", missing});
  EXPECT_EQ(created.exit_code, 1);
  EXPECT_NE(created.err.find("git clone of " + missing + " failed with exit code 128: '"), std::string::npos) << created.err;
  EXPECT_NE(created.err.find("does not appear to be a git repository"), std::string::npos) << created.err;
  EXPECT_NE(created.err.find("berth delete c"), std::string::npos) << created.err;
}

// A server that does not come up is explained by what it wrote this time, not by earlier tries.
TEST(Cli, AServerThatDoesNotStartIsExplainedByItsOwnLines) {
  ServerHome server(ServerHome::Start::later);
  fs::permissions(server.home(), fs::perms::group_read | fs::perms::group_exec | fs::perms::others_read | fs::perms::others_exec,
                  fs::perm_options::add);
  berth::test::RunOptions options;
  options.env["BERTH_NO_AUTOSTART"] = "";  // the first command starts the server
  const std::string reason = "is open to other users (mode 755); make it private: chmod 700 " + server.home().string();
  for (int attempt = 1; attempt <= 2; ++attempt) {
    Result listed = server.berth({"list"}, options);
    EXPECT_EQ(listed.exit_code, 1) << listed.err;
    EXPECT_NE(listed.err.find("the server did not come up; it wrote to "), std::string::npos) << listed.err;
    size_t first = listed.err.find(reason);
    EXPECT_NE(first, std::string::npos) << listed.err;
    EXPECT_EQ(listed.err.find(reason, first + 1), std::string::npos) << "attempt " << attempt << " repeats earlier lines:\n" << listed.err;
  }
}

// Every command's --help ends with examples of its own, never the top level's.
TEST(Cli, EveryCommandsHelpHasItsOwnExamples) {
  ServerHome server;
  const std::string top = server.berth({"--help"}).out;
  EXPECT_NE(top.find("Examples:\n  berth create api"), std::string::npos) << top;
  const std::vector<std::vector<std::string>> commands{{"workspace"},   {"create"},        {"list"},     {"info"},
                                                       {"start"},       {"stop"},          {"delete"},   {"exec"},
                                                       {"ssh"},         {"forward"},       {"logs"},     {"workspace", "stop"},
                                                       {"target"},      {"target", "add"}, {"provider"}, {"provider", "info"},
                                                       {"plugin"},      {"serve"},         {"server"},   {"server", "start"},
                                                       {"version"},     {"completion"},    {"apikey"},   {"profile"},
                                                       {"devcontainer"}};
  for (std::vector<std::string> command : commands) {
    std::string name;
    for (const auto& word : command) name += " " + word;
    command.push_back("--help");
    Result help = server.berth(command);
    EXPECT_EQ(help.exit_code, 0) << name;
    EXPECT_NE(help.out.find("Examples:\n  "), std::string::npos) << name << ":\n" << help.out;
    EXPECT_EQ(help.out.find("More: berth COMMAND --help"), std::string::npos) << name << " shows the top level's examples:\n" << help.out;
  }
  Result stop = server.berth({"stop", "--help"});
  EXPECT_NE(stop.out.find("  berth stop api web db\n"), std::string::npos) << stop.out;
  Result exec = server.berth({"exec", "--help"});
  EXPECT_NE(exec.out.find("  berth exec api -- make test\n"), std::string::npos) << exec.out;
  EXPECT_NE(exec.out.find("The command's exit code is berth exec's own."), std::string::npos) << exec.out;
  // prune says the age as it was given.
  Result prune = server.berth({"prune", "--older-than", "30d"});
  EXPECT_NE(prune.out.find("is older than 30d\n"), std::string::npos) << prune.out;
}

// delete --force of a workspace whose provider fails: the API says what may be left behind,
// and the CLI says it even with -q.
TEST(Cli, ForcedDeleteSaysWhatMayBeLeftBehind) {
  ServerHome server(ServerHome::Start::later);
  berth::test::drop_in_provider(server.home(), berth::test::test_provider("flaky_provider"), "flaky",
                                berth::test::provider_manifest("flaky"));
  server.start();
  ASSERT_EQ(server.add_target("name: sticky\nprovider: flaky\nproperties:\n  fail_on: destroy\n").exit_code, 0);
  ASSERT_EQ(server.berth({"create", "w", "--target", "sticky"}).exit_code, 0);
  Result deleted = server.berth({"-q", "delete", "w", "--force"});
  EXPECT_EQ(deleted.exit_code, 0) << deleted.err;
  EXPECT_NE(deleted.err.find("berth: warning: w: what its provider made may be left behind: flaky was told to fail in destroy"),
            std::string::npos)
      << deleted.err;
  EXPECT_EQ(server.berth({"-q", "list"}).out, "");
}

// exec starts the local server when none runs, as every other command does.
TEST(Cli, ExecStartsTheServerWhenNoneRuns) {
  ServerHome server;
  ASSERT_EQ(server.berth({"create", "w"}).exit_code, 0);
  server.stop();
  berth::test::RunOptions options;
  options.env = {{"BERTH_HOME", server.home().string()}, {"BERTH_NO_AUTOSTART", ""}, {"BERTH_SERVER", ""}};
  // A descriptor the CLI inherits (as from a careless parent) must not reach the server it starts.
  int inherited[2];
  ASSERT_EQ(::pipe(inherited), 0);
  struct stat pipe_status {};
  ::fstat(inherited[0], &pipe_status);
  std::string leaked = "pipe:[" + std::to_string(pipe_status.st_ino) + "]";
  Result exec = berth::test::run_program({berth::test::berth_binary().string(), "exec", "w", "--", "echo", "hi"}, options);
  ::close(inherited[0]);
  ::close(inherited[1]);
  std::string server_pid = berth::test::read_text(server.home() / "server.pid");
  for (const auto& entry : fs::directory_iterator("/proc/" + server_pid.substr(0, server_pid.find('\n')) + "/fd")) {
    std::error_code ignored;
    EXPECT_NE(fs::read_symlink(entry.path(), ignored).string(), leaked) << "the server inherited the CLI's descriptor " << entry.path();
  }
  EXPECT_EQ(exec.exit_code, 0) << exec.err;
  EXPECT_EQ(exec.out, "hi\n");
  EXPECT_NE(exec.err.find("started a local server"), std::string::npos) << exec.err;
  // Nothing the CLI, the server or the provider host held open reaches the workspace's command.
  Result descriptors = berth::test::run_program({berth::test::berth_binary().string(), "exec", "w", "--", "sh", "-c", "ls /proc/$$/fd"}, options);
  EXPECT_EQ(descriptors.out, "0\n1\n2\n") << descriptors.err;
  berth::test::run_program({berth::test::berth_binary().string(), "server", "stop"}, options);
}

// A server of another version (an old one left running) answers as a real one does, with its
// version in every answer's X-Berth-Version: the CLI warns once, and not with -q.
TEST(Cli, AServerOfAnotherVersionIsWarnedAbout) {
  berth::test::TempDir dir;
  fs::path socket = dir.path() / "old.sock";
  int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::snprintf(address.sun_path, sizeof address.sun_path, "%s", socket.c_str());
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address), 0);
  ASSERT_EQ(::listen(listener, 8), 0);
  std::thread old_server([listener] {
    for (int served = 0; served < 2; ++served) {
      int client = ::accept(listener, nullptr, nullptr);
      if (client < 0) return;
      char buffer[4096];
      [[maybe_unused]] ssize_t n = ::recv(client, buffer, sizeof buffer, 0);
      const std::string answer =
          "HTTP/1.1 200 OK\r\nX-Berth-Version: 0.0.1\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n[]";
      [[maybe_unused]] ssize_t sent = ::send(client, answer.data(), answer.size(), MSG_NOSIGNAL);
      ::close(client);
    }
  });
  berth::test::RunOptions options;
  options.env = {{"BERTH_HOME", (dir.path() / "home").string()}, {"BERTH_SERVER", "unix://" + socket.string()}};
  Result listed = berth::test::run_program({berth::test::berth_binary().string(), "list"}, options);
  EXPECT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_NE(listed.err.find("warning: this berth is"), std::string::npos) << listed.err;
  EXPECT_NE(listed.err.find("is 0.0.1"), std::string::npos) << listed.err;
  Result quiet = berth::test::run_program({berth::test::berth_binary().string(), "-q", "list"}, options);
  EXPECT_EQ(quiet.err, "");
  old_server.join();
  ::close(listener);

  ServerHome same;
  Result current = same.berth({"list"});
  EXPECT_EQ(current.exit_code, 0);
  EXPECT_EQ(current.err.find("warning"), std::string::npos) << current.err;
}

// Labels: set at create, checked, shown, filtered on; every field of the table is askable.
TEST(Cli, LabelsAreKeptShownAndFilteredOn) {
  ServerHome server;
  ASSERT_EQ(server.berth({"create", "web1", "--label", "team=web", "-l", "tier=1"}).exit_code, 0);
  ASSERT_EQ(server.berth({"create", "web2", "--label", "team=web"}).exit_code, 0);
  ASSERT_EQ(server.berth({"create", "db1", "--label", "team=data"}).exit_code, 0);
  Result bad = server.berth({"create", "bad", "--label", "-x=1"});
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.err.find("label '-x' must start with a letter or digit"), std::string::npos) << bad.err;
  EXPECT_EQ(server.berth({"info", "bad"}).exit_code, 1) << "a refused create makes nothing";
  Result malformed = server.berth({"create", "bad", "--label", "novalue"});
  EXPECT_EQ(malformed.exit_code, 2);
  EXPECT_NE(malformed.err.find("--label 'novalue' must be KEY=VALUE"), std::string::npos) << malformed.err;

  EXPECT_EQ(server.berth({"-q", "list", "--label", "team=web"}).out, "web1\nweb2\n");
  EXPECT_EQ(server.berth({"-q", "list", "--label", "tier"}).out, "web1\n");
  EXPECT_EQ(server.berth({"-q", "list", "-l", "team=web", "-l", "tier=1"}).out, "web1\n");
  Result table = server.berth({"list", "--label", "team=data"});
  EXPECT_NE(table.out.find("db1"), std::string::npos) << table.out;
  EXPECT_EQ(table.out.find("web1"), std::string::npos) << table.out;
  Json listed = Json::parse(server.berth({"list", "-o", "json", "--label", "team=data"}).out);
  ASSERT_EQ(listed.size(), 1u);
  EXPECT_EQ(listed[0]["labels"]["team"], "data");
  EXPECT_NE(server.berth({"info", "web1"}).out.find("label.tier"), std::string::npos);
  // The record keeps them across a restart.
  server.stop();
  server.start();
  EXPECT_EQ(Json::parse(server.berth({"info", "web1", "-o", "json"}).out)["labels"]["team"], "web");
  // Every field may be asked for by name, the last ones too.
  std::string fields = berth::test::send_raw(server.home() / "berth.sock",
                                             "GET /v1/workspaces?fields=name,options,labels HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                                             std::chrono::seconds(5));
  EXPECT_NE(fields.find("\"labels\":{\"team\":\"data\"}"), std::string::npos) << fields;
  EXPECT_NE(fields.find("\"options\":{}"), std::string::npos) << fields;
}
