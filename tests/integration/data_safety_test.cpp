// Data safety (issue 11): berth deletes only what it made, the home's own files stay its own,
// key management stays with the machine's owner, and no client can stall the server.
#include "http_client.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <nlohmann/json.hpp>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <fstream>

namespace fs = std::filesystem;
using berth::test::Result;
using berth::test::ServerHome;
using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

Result add_target(const ServerHome& server, const std::string& name, const std::string& properties) {
  berth::test::RunOptions options;
  options.stdin_data = "name: " + name + "\nprovider: host\nproperties:\n" + properties;
  return server.berth({"target", "add", "-f", "-"}, options);
}

Result add_host_target(const ServerHome& server, const std::string& name, const fs::path& root) {
  return add_target(server, name, "  root: \"" + root.string() + "\"\n");
}

Json info(const ServerHome& server, const std::string& name) {
  Result result = server.berth({"info", name, "-o", "json"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  return result.exit_code == 0 ? Json::parse(result.out) : Json::object();
}

void write_text(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

// ---- the host provider deletes only what it made ----

TEST(HostSafety, ACreateRefusedBecauseTheFolderExistsLeavesNothingForDeleteToRemove) {
  ServerHome server;
  berth::test::TempDir scratch;
  fs::path root = scratch.path() / "root";
  write_text(root / "data" / "precious.txt", "the user's own work\n");
  ASSERT_EQ(add_host_target(server, "t", root).exit_code, 0);

  Result refused = server.berth({"create", "data", "--target", "t"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("already exists"), std::string::npos) << refused.err;
  EXPECT_FALSE(info(server, "data")["provider_data"].contains("path")) << "a refused create records no folder";

  Result deleted = server.berth({"delete", "data"});
  EXPECT_EQ(deleted.exit_code, 0) << deleted.err;
  EXPECT_EQ(berth::test::read_text(root / "data" / "precious.txt"), "the user's own work\n");

  ASSERT_EQ(server.berth({"create", "data", "--target", "t"}).exit_code, 1);
  EXPECT_EQ(server.berth({"delete", "data", "--force"}).exit_code, 0);
  ASSERT_EQ(server.berth({"create", "data", "--target", "t"}).exit_code, 1);
  EXPECT_EQ(server.berth({"prune", "--older-than", "0s", "--yes"}).exit_code, 0);
  EXPECT_EQ(berth::test::read_text(root / "data" / "precious.txt"), "the user's own work\n");
}

TEST(HostSafety, DeleteRemovesTheFolderItRecordedNotOneUnderTheTargetsCurrentRoot) {
  ServerHome server;
  berth::test::TempDir scratch;
  fs::path first = scratch.path() / "first", second = scratch.path() / "second";
  ASSERT_EQ(add_host_target(server, "t", first).exit_code, 0);
  ASSERT_EQ(server.berth({"create", "data", "--target", "t"}).exit_code, 0);
  ASSERT_TRUE(fs::is_directory(first / "data"));

  ASSERT_EQ(server.berth({"target", "remove", "t", "--force"}).exit_code, 0);
  ASSERT_EQ(add_host_target(server, "t", second).exit_code, 0);
  write_text(second / "data" / "precious.txt", "not berth's\n");

  Result deleted = server.berth({"delete", "data"});
  EXPECT_EQ(deleted.exit_code, 0) << deleted.err;
  EXPECT_EQ(berth::test::read_text(second / "data" / "precious.txt"), "not berth's\n");
  EXPECT_FALSE(fs::exists(first / "data")) << "the folder berth made is the one removed";
}

TEST(HostSafety, AFolderReplacedBehindBerthsBackIsLeftInPlace) {
  ServerHome server;
  ASSERT_EQ(server.berth({"create", "w"}).exit_code, 0);
  fs::path folder = info(server, "w")["provider_data"]["path"].get<std::string>();
  fs::remove_all(folder);
  write_text(folder / "precious.txt", "made by the user after berth's folder went\n");
  Result deleted = server.berth({"delete", "w"});
  EXPECT_EQ(deleted.exit_code, 0) << deleted.err;
  EXPECT_NE(deleted.err.find("left " + folder.string() + " in place"), std::string::npos) << deleted.err;
  EXPECT_TRUE(fs::exists(folder / "precious.txt"));
}

// A TCP listener that never accepts: a clone from it waits for ever, as a stuck server would.
class SilentListener {
 public:
  SilentListener() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address);
    ::listen(fd_, 16);
    socklen_t size = sizeof address;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &size);
    port_ = ntohs(address.sin_port);
  }
  ~SilentListener() { ::close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

TEST(HostSafety, ACreateKilledMidCloneIsAnErrorAfterTheRestartNotStarted) {
  ServerHome server;
  SilentListener stuck;
  std::string repository = "http://127.0.0.1:" + std::to_string(stuck.port()) + "/repo.git";
  ASSERT_EQ(server.berth({"create", "half", "--repo", repository, "--detach"}).exit_code, 0);
  ASSERT_TRUE(berth::test::wait_until([&] { return server.berth({"logs", "half"}).out.find("cloning") != std::string::npos; },
                                      std::chrono::seconds(20)));
  server.kill_hard();
  server.start();  // answers at once; reconcile settles the record behind it
  Json record;
  EXPECT_TRUE(berth::test::wait_until([&] { return (record = info(server, "half")).value("operation", "x").empty(); },
                                      std::chrono::seconds(20)));
  EXPECT_EQ(record["state"], "error") << record.dump();
  EXPECT_EQ(server.berth({"delete", "half"}).exit_code, 0);
}

// ---- target roots ----

TEST(TargetRoots, ARootMustBeAbsoluteAndApartFromTheHomeAndFromOtherTargetsRoots) {
  ServerHome server;
  berth::test::TempDir scratch;
  Result relative = add_target(server, "rel", "  root: some/folder\n");
  EXPECT_NE(relative.exit_code, 0);
  EXPECT_NE(relative.err.find("property 'root' must be an absolute path"), std::string::npos) << relative.err;

  for (const fs::path& bad : {server.home(), server.home() / "workspaces", server.home().parent_path()}) {
    Result refused = add_host_target(server, "near-home", bad);
    EXPECT_NE(refused.exit_code, 0) << bad;
    EXPECT_NE(refused.err.find("berth's home"), std::string::npos) << bad << ": " << refused.err;
  }

  fs::path root = scratch.path() / "r";
  ASSERT_EQ(add_host_target(server, "outer", root).exit_code, 0);
  for (const fs::path& bad : {root, root / "a", scratch.path()}) {
    Result refused = add_host_target(server, "nested", bad);
    EXPECT_NE(refused.exit_code, 0) << bad;
    EXPECT_NE(refused.err.find("the root of target 'outer'"), std::string::npos) << bad << ": " << refused.err;
  }
  EXPECT_EQ(add_host_target(server, "sibling", scratch.path() / "r2").exit_code, 0) << "a folder beside another root is fine";
  EXPECT_EQ(server.berth({"target", "show", "nested"}).exit_code, 1) << "nothing refused was saved";
}

// ---- the home's own files ----

TEST(HomeFiles, AWorkspaceNamedServerKeepsItsLogApartFromTheServersLog) {
  ServerHome server(ServerHome::Start::later);
  write_text(server.home() / "logs" / "server.log", "SERVER-LOG-LINE\n");
  server.start();
  ASSERT_EQ(server.berth({"create", "server"}).exit_code, 0);
  Result logs = server.berth({"logs", "server"});
  EXPECT_NE(logs.out.find("==> create done: started"), std::string::npos) << logs.out;
  EXPECT_EQ(logs.out.find("SERVER-LOG-LINE"), std::string::npos) << "berth logs server shows the workspace's log: " << logs.out;
  EXPECT_EQ(berth::test::read_text(server.home() / "logs" / "server.log"), "SERVER-LOG-LINE\n") << "the server's log is untouched";
}

TEST(HomeFiles, SymbolicLinksPlantedInTheHomeAreNeverFollowed) {
  berth::test::TempDir elsewhere;
  fs::path victim = elsewhere.path() / "victim.txt";
  write_text(victim, "precious\n");
  {
    ServerHome server(ServerHome::Start::later);
    fs::create_symlink(victim, server.home() / "server.lock");
    EXPECT_THROW(server.start(), std::runtime_error) << "a linked lock file is refused";
    EXPECT_NE(server.server_log().find("server.lock is a symbolic link"), std::string::npos) << server.server_log();
    EXPECT_EQ(berth::test::read_text(victim), "precious\n");
  }
  ServerHome server;
  ASSERT_EQ(server.berth({"create", "w"}).exit_code, 0);
  // Wherever a workspace's log may live, a link planted there receives nothing.
  for (const fs::path& log : {server.home() / "logs" / "w.log", server.home() / "logs" / "workspaces" / "w.log"}) {
    fs::remove(log);
    fs::create_symlink(victim, log);
  }
  ASSERT_EQ(server.berth({"stop", "w"}).exit_code, 0);
  ASSERT_EQ(server.berth({"start", "w"}).exit_code, 0);
  EXPECT_EQ(berth::test::read_text(victim), "precious\n");
  Result logs = server.berth({"logs", "w"});
  EXPECT_EQ(logs.out.find("precious"), std::string::npos) << "a linked log is not read either: " << logs.out;
}

TEST(HomeFiles, AHomeThatIsNotPrivateIsRefusedNamingThePathAndTheFix) {
  ServerHome server(ServerHome::Start::later);
  fs::permissions(server.home(), fs::perms::group_read | fs::perms::group_exec | fs::perms::others_read | fs::perms::others_exec,
                  fs::perm_options::add);
  EXPECT_THROW(server.start(), std::runtime_error);
  if (server.running()) server.stop();  // a regression must not leave a server behind
  EXPECT_NE(server.server_log().find("berth's home " + server.home().string() + " is open to other users (mode 755)"), std::string::npos)
      << server.server_log();
  EXPECT_NE(server.server_log().find("chmod 700 " + server.home().string()), std::string::npos) << server.server_log();
  fs::permissions(server.home(), fs::perms::owner_all, fs::perm_options::replace);

  if (::geteuid() == 0) {  // only root can give a folder to another user
    ASSERT_EQ(::chown(server.home().c_str(), 65534, 65534), 0);
    EXPECT_THROW(server.start(), std::runtime_error);
    if (server.running()) server.stop();  // a regression must not leave a server behind
    EXPECT_NE(server.server_log().find("belongs to user 65534, not to you"), std::string::npos) << server.server_log();
    ASSERT_EQ(::chown(server.home().c_str(), ::geteuid(), ::getegid()), 0);
  }
  fs::create_directories(server.home() / "elsewhere");
  fs::remove_all(server.home() / "workspaces");
  fs::create_directory_symlink(server.home() / "elsewhere", server.home() / "workspaces");
  EXPECT_THROW(server.start(), std::runtime_error);
  if (server.running()) server.stop();  // a regression must not leave a server behind
  EXPECT_NE(server.server_log().find("workspaces in berth's home is not a folder"), std::string::npos) << server.server_log();
  fs::remove(server.home() / "workspaces");
  server.start();
  EXPECT_EQ(server.berth({"list"}).exit_code, 0) << "a private home serves";
}

// ---- records: what is written can be read back ----

TEST(Records, NothingIsWrittenThatCannotBeReadBack) {
  ServerHome server;
  berth::HttpClient client("unix://" + (server.home() / "berth.sock").string());
  // DEL is one byte in the request and four ("\x7F") in the record: 300 KB of it passes the
  // body limit and would make a record of 1.2 MB.
  Json wide{{"name", "wide"}, {"repository", "https://example.invalid/" + std::string(300000, '\x7f')}};
  auto refused = client.request("POST", "/v1/workspaces", wide.dump());
  EXPECT_EQ(refused.status, 400) << refused.body.substr(0, 300);
  EXPECT_NE(refused.body.find("a record may have to be read back"), std::string::npos) << refused.body.substr(0, 300);
  EXPECT_EQ(server.berth({"info", "wide"}).exit_code, 1) << "no record was made";

  // A failed create copies the repository into the error: the error is what gives way. The
  // repository stays under the 128 KiB an argument may have, the env fills the rest.
  std::string repository = "https://127.0.0.1:1/" + std::string(120000, '\x7f');
  Json env = Json::object();
  for (const char* key : {"A", "B", "C"}) env[key] = std::string(47000, '\x7f');
  auto accepted = client.request("POST", "/v1/workspaces", Json{{"name", "long"}, {"repository", repository}, {"env", env}}.dump());
  ASSERT_EQ(accepted.status, 202) << accepted.body.substr(0, 300);
  ASSERT_TRUE(berth::test::wait_until([&] { return info(server, "long").value("state", "") == "error"; }, std::chrono::seconds(20)));
  server.stop();
  server.start();
  Json record = info(server, "long");
  EXPECT_EQ(record.value("state", ""), "error") << "the record reads back after a restart: " << server.server_log().substr(0, 500);
  EXPECT_EQ(record.value("repository", ""), repository) << "what the user asked for is kept whole";
  EXPECT_NE(record.value("last_error", "").find("cut to fit the record"), std::string::npos);
  EXPECT_EQ(server.server_log().find("skipped workspace"), std::string::npos) << server.server_log().substr(0, 500);
}

// ---- integer properties have ranges ----

TEST(IntegerRanges, AnOutOfRangeStopTimeoutIsRefusedAtTargetAddNamingTheRange) {
  ServerHome server;
  berth::test::RunOptions yaml;
  yaml.stdin_data = "name: d\nprovider: docker\nproperties:\n  host: unix:///nowhere.sock\n  stop_timeout: 99999999999\n";
  Result added = server.berth({"target", "add", "-f", "-"}, yaml);
  EXPECT_EQ(added.exit_code, 2) << added.err;
  EXPECT_NE(added.err.find("property 'stop_timeout' must be a whole number from 0 to 3600 (got '99999999999')"), std::string::npos)
      << added.err;
  EXPECT_EQ(server.berth({"target", "show", "d"}).exit_code, 1) << "nothing saved";
  Result shown = server.berth({"provider", "info", "docker", "-o", "json"});
  EXPECT_NE(shown.out.find("\"maximum\": 3600"), std::string::npos) << shown.out;
}

// ---- clients that could stall the server ----

TEST(LogFollow, BadOffsetsAreRefusedWithA400InsteadOfSpinning) {
  ServerHome server;
  ASSERT_EQ(server.berth({"create", "w"}).exit_code, 0);
  for (const char* offset : {"-1", "abc", "12abc", "99999999999999999999999"}) {
    std::string answer = berth::test::send_raw(server.home() / "berth.sock",
                                  std::string("GET /v1/workspaces/w/logs?follow=true&offset=") + offset + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                                  std::chrono::seconds(5));
    EXPECT_EQ(answer.rfind("HTTP/1.1 400", 0), 0u) << offset << ": " << answer.substr(0, 300);
    EXPECT_NE(answer.find("must be a whole number of bytes"), std::string::npos) << offset << ": " << answer.substr(0, 300);
  }
  std::string good = berth::test::send_raw(server.home() / "berth.sock",
                              "GET /v1/workspaces/w/logs?follow=true&offset=0 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
                              std::chrono::seconds(5));
  EXPECT_NE(good.find("==> create done: started"), std::string::npos) << good;
}

}  // namespace

// The quick start's path: a home that does not exist yet, made by the first command (which
// writes its cache there before the server starts): private, so the server it starts accepts it.
TEST(HomeFiles, AHomeTheCliMakesIsPrivateAndItsServerStarts) {
  berth::test::TempDir parent;
  fs::path home = parent.path() / "new" / "home";
  berth::test::RunOptions options;
  options.env = {{"BERTH_HOME", home.string()}, {"BERTH_NO_AUTOSTART", ""}, {"BERTH_SERVER", ""}};
  Result listed = berth::test::run_program({berth::test::berth_binary().string(), "list"}, options);
  EXPECT_EQ(listed.exit_code, 0) << listed.err;
  for (const auto& folder : {home, home / "cache", home / "logs"}) {
    EXPECT_EQ(fs::status(folder).permissions() & fs::perms::all, fs::perms::owner_all) << folder;
  }
  berth::test::run_program({berth::test::berth_binary().string(), "server", "stop"}, options);
}
