// The SDK as a third party meets it: install berth to a prefix, build the example provider
// out of tree with find_package(berth), drop it into a fresh home, use it through the CLI.
#include "http_client.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>

namespace fs = std::filesystem;
using berth::test::Result;
using berth::test::run_program;
using berth::test::ServerHome;
using Json = nlohmann::json;

namespace {

void expect_ok(const Result& result, const std::string& what) {
  ASSERT_EQ(result.exit_code, 0) << what << "\nstdout: " << result.out << "\nstderr: " << result.err;
}

TEST(Sdk, ExampleProviderBuiltOutOfTreeWorksAsDropIn) {
  berth::test::TempDir work;
  fs::path prefix = work.path() / "prefix";
  expect_ok(run_program({"cmake", "--install", berth::test::build_dir().string(), "--prefix", prefix.string()}), "install");
  ASSERT_TRUE(fs::exists(prefix / "include" / "berth" / "provider.hpp"));
  ASSERT_TRUE(fs::exists(prefix / "lib" / "cmake" / "berth" / "berthConfig.cmake"));

  fs::path build = work.path() / "example-build";
  expect_ok(run_program({"cmake", "-S", (berth::test::source_dir() / "examples" / "provider-snapshot").string(), "-B",
                         build.string(), "-G", "Ninja", "-DCMAKE_PREFIX_PATH=" + prefix.string()}),
            "configure the example");
  expect_ok(run_program({"cmake", "--build", build.string()}), "build the example");

  ServerHome server(ServerHome::Start::later);
  fs::create_directories(server.home() / "providers");
  for (const char* file : {"snapshot.so", "snapshot.yaml"}) fs::copy_file(build / file, server.home() / "providers" / file);
  server.start();

  Json providers = Json::parse(server.berth({"provider", "list", "-o", "json"}).out);
  bool loaded = false;
  for (const auto& p : providers) loaded |= p["name"] == "snapshot" && p["status"] == "loaded";
  ASSERT_TRUE(loaded) << providers.dump(1);

  fs::path root = work.path() / "snapshots";
  fs::create_directories(root);
  berth::test::RunOptions yaml;
  yaml.stdin_data = "name: snaps\nprovider: snapshot\nproperties:\n  root: " + root.string() + "\n";
  expect_ok(server.berth({"target", "add", "-f", "-"}, yaml), "target add");
  // A missing required property is refused with the manifest's words.
  yaml.stdin_data = "name: bad\nprovider: snapshot\n";
  Result missing = server.berth({"target", "add", "-f", "-"}, yaml);
  EXPECT_EQ(missing.exit_code, 2);
  EXPECT_NE(missing.err.find("property 'root' is required by provider 'snapshot'"), std::string::npos) << missing.err;

  fs::path repo = berth::test::make_git_repo(work.path() / "repo", "snapshot example");
  expect_ok(server.berth({"create", "w", "--target", "snaps", "--repo", repo.string()}), "create");
  Result ls = server.berth({"exec", "w", "--", "ls"});
  expect_ok(ls, "exec");
  EXPECT_NE(ls.out.find("README.md"), std::string::npos) << ls.out;

  // Sessions (SDK 1.2) of a provider built out of tree: berth ssh at a terminal, berth exec
  // with binary stdin, through the server's streams like every other provider.
  berth::test::RunOptions terminal_env;
  terminal_env.env = {{"BERTH_HOME", server.home().string()}, {"BERTH_NO_AUTOSTART", "1"}, {"BERTH_SERVER", ""}, {"TERM", "xterm"}};
  berth::test::Terminal terminal({berth::test::berth_binary().string(), "ssh", "w"}, terminal_env);
  ASSERT_TRUE(terminal.wait_for("", 0, std::chrono::seconds(20))) << "no prompt";
  terminal.type("echo $((6*7)); tty; stty size; ls\n");
  ASSERT_TRUE(terminal.wait_for("42", 0, std::chrono::seconds(20))) << terminal.output();
  EXPECT_TRUE(terminal.wait_for("README.md", 0, std::chrono::seconds(20))) << "the shell runs in the workspace: " << terminal.output();
  EXPECT_NE(terminal.output().find("/dev/pts/"), std::string::npos) << "the shell has a terminal: " << terminal.output();
  EXPECT_NE(terminal.output().find("30 100"), std::string::npos) << "the terminal's size was passed on: " << terminal.output();
  terminal.resize(41, 132);  // SIGWINCH to berth ssh, a resize event to the provider
  bool resized = false;
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  for (int round = 0; !resized && std::chrono::steady_clock::now() < until; ++round) {
    size_t from = terminal.output().size();
    std::string marker = "size-" + std::to_string(round) + "-";
    terminal.type("stty size; echo " + marker + "$((2+3))\n");
    ASSERT_TRUE(terminal.wait_for(marker + "5", from, std::chrono::seconds(20))) << terminal.output();
    resized = terminal.output().find("41 132", from) != std::string::npos;
  }
  EXPECT_TRUE(resized) << terminal.output();
  terminal.type("exit 3\n");
  Result shell = terminal.finish(std::chrono::seconds(20));
  EXPECT_EQ(shell.exit_code, 3) << shell.out << shell.err;

  std::string data(4u << 20, '\0');
  for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>((i * 7919u) ^ (i >> 9));
  berth::test::RunOptions input;
  input.stdin_data = data;
  Result echoed = server.berth({"exec", "-i", "w", "--", "cat"}, input);
  expect_ok(echoed, "exec -i cat");
  EXPECT_EQ(echoed.out.size(), data.size());
  EXPECT_TRUE(echoed.out == data) << "4 MiB of binary stdin came back changed";
  Result failing = server.berth({"exec", "w", "--", "sh", "-c", "echo to-err >&2; exit 7"});
  EXPECT_EQ(failing.exit_code, 7);
  EXPECT_EQ(failing.err, "to-err\n");

  expect_ok(server.berth({"stop", "w"}), "stop");
  EXPECT_TRUE(fs::exists(root / "w.tar.gz"));
  EXPECT_FALSE(fs::exists(root / "w"));
  EXPECT_EQ(server.berth({"exec", "w", "--", "ls"}).exit_code, 1);

  expect_ok(server.berth({"start", "w"}), "start");
  EXPECT_TRUE(fs::exists(root / "w" / "README.md"));
  EXPECT_FALSE(fs::exists(root / "w.tar.gz"));

  expect_ok(server.berth({"delete", "w"}), "delete");
  EXPECT_FALSE(fs::exists(root / "w"));
}

TEST(Sdk, ExamplePluginBuiltOutOfTreeListsWorkspacesThroughTheContext) {
  berth::test::TempDir work;
  fs::path prefix = work.path() / "prefix";
  expect_ok(run_program({"cmake", "--install", berth::test::build_dir().string(), "--prefix", prefix.string()}), "install");
  fs::path build = work.path() / "example-build";
  expect_ok(run_program({"cmake", "-S", (berth::test::source_dir() / "examples" / "plugin-report").string(), "-B",
                         build.string(), "-G", "Ninja", "-DCMAKE_PREFIX_PATH=" + prefix.string()}),
            "configure the example plugin");
  expect_ok(run_program({"cmake", "--build", build.string()}), "build the example plugin");

  ServerHome server;
  fs::create_directories(server.home() / "plugins");
  for (const char* file : {"report.so", "report.yaml"}) fs::copy_file(build / file, server.home() / "plugins" / file);

  Result help = server.berth({"--help"});
  EXPECT_NE(help.out.find("Plugin report"), std::string::npos) << help.out;
  Json plugins = Json::parse(server.berth({"plugin", "list", "-o", "json"}).out);
  bool listed = false;
  for (const auto& row : plugins) {
    listed |= row["name"] == "report" && row["status"] == "enabled" &&
              row["location"] == (server.home() / "plugins" / "report.so").string() && row["version"] == "1.0.0";
  }
  EXPECT_TRUE(listed) << plugins.dump(1);

  expect_ok(server.berth({"create", "r1", "-q"}), "create r1");
  expect_ok(server.berth({"create", "r2", "-q"}), "create r2");
  expect_ok(server.berth({"stop", "r2", "-q"}), "stop r2");
  Result report = server.berth({"report"});
  expect_ok(report, "report");
  EXPECT_NE(report.out.find("started: 1 (r1)"), std::string::npos) << report.out;
  EXPECT_NE(report.out.find("stopped: 1 (r2)"), std::string::npos) << report.out;
  Result by_provider = server.berth({"report", "--by", "provider", "-o", "json"});
  expect_ok(by_provider, "report --by provider");
  EXPECT_EQ(Json::parse(by_provider.out)["host"], 2);
}

}  // namespace

namespace {

// Issue 25: the example extension, built out of tree and installed as its CMakeLists says, with
// its CLI command held to its grant and its service started through berth.
TEST(Sdk, ExampleExtensionBuiltOutOfTreeRunsItsCommandAndServiceWithItsGrant) {
  berth::test::TempDir work;
  fs::path prefix = work.path() / "prefix";
  expect_ok(run_program({"cmake", "--install", berth::test::build_dir().string(), "--prefix", prefix.string()}), "install");
  fs::path source = berth::test::source_dir() / "examples" / "plugin-glance";
  fs::path build = work.path() / "glance-build";
  expect_ok(run_program({"cmake", "-S", source.string(), "-B", build.string(), "-G", "Ninja", "-DCMAKE_PREFIX_PATH=" + prefix.string()}),
            "configure the example extension");
  expect_ok(run_program({"cmake", "--build", build.string()}), "build the example extension");

  ServerHome server;
  fs::path plugins = server.home() / "plugins";
  fs::create_directories(plugins);
  for (const char* file : {"glance.so", "glance.yaml"}) fs::copy_file(build / file, plugins / file);
  fs::copy(source / "glance", plugins / "glance", fs::copy_options::recursive);
  fs::copy_file(build / "glance-service", plugins / "glance" / "bin" / "glance-service");

  Result before = server.berth({"glance"});
  EXPECT_NE(before.err.find("needs the permission 'workspaces:read'"), std::string::npos) << "not granted yet: " << before.err;
  expect_ok(server.berth({"plugin", "enable", "glance", "--yes"}), "enable glance");
  expect_ok(server.berth({"create", "g1", "-q"}), "create g1");
  Result counted = server.berth({"glance"});
  expect_ok(counted, "glance");
  EXPECT_EQ(counted.out, "started: 1\n");

  berth::HttpClient client("unix://" + (server.home() / "berth.sock").string());
  berth::HttpResponse summary = client.request("GET", "/v1/plugins/glance/summary");
  EXPECT_EQ(summary.status, 200) << summary.body;
  EXPECT_EQ(summary.body, "{\"started\": 1}");
  Json jobs = Json::parse(server.berth({"plugin", "jobs", "glance", "-o", "json"}).out);
  EXPECT_EQ(jobs[0]["id"], "disk-report");
  EXPECT_EQ(jobs[0]["enabled"], false);
}

}  // namespace
