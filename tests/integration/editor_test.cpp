// berth code NAME (issue 27): the workspace's ssh entry in ~/.ssh/berth.config, one Include at
// the top of ~/.ssh/config and nothing else of the user's changed, the editor's command; against
// the local socket and a TCP server (the ProxyCommand goes through berth with --server).
#include "test_support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <sys/stat.h>

#include <fstream>

namespace fs = std::filesystem;
using berth::test::Result;
using berth::test::RunOptions;
using berth::test::ServerHome;

namespace {

class Editor : public ::testing::Test {
 protected:
  void SetUp() override {
    fs::create_directories(user_home_.path() / ".ssh");
    with_home_.env["HOME"] = user_home_.path().string();
    repo_ = berth::test::make_git_repo(scratch_.path() / "repo", "for the editor");
  }
  fs::path ssh(const std::string& file) const { return user_home_.path() / ".ssh" / file; }
  size_t count(const std::string& text, const std::string& what) const {
    size_t n = 0;
    for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + 1)) ++n;
    return n;
  }

  berth::test::TempDir user_home_, scratch_;
  fs::path repo_;
  RunOptions with_home_;
};

TEST_F(Editor, CodePrintWritesTheEntryAndOneIncludeAndLeavesTheUsersLinesAlone) {
  ServerHome server;
  const std::string own = "# my own settings\nHost *\n  ServerAliveInterval 30\n\nHost work\n  HostName work.example.org\n  User me";  // no final newline
  std::ofstream(ssh("config")) << own;
  ::chmod(ssh("config").c_str(), 0600);
  ASSERT_EQ(server.berth({"create", "api", "--repo", repo_.string()}).exit_code, 0);
  ASSERT_EQ(server.berth({"create", "web", "--repo", repo_.string()}).exit_code, 0);

  Result printed = server.berth({"code", "api", "--print"}, with_home_);
  ASSERT_EQ(printed.exit_code, 0) << printed.err;
  Result info = server.berth({"info", "api", "-o", "json"});
  std::string folder = nlohmann::json::parse(info.out)["provider_data"]["path"];
  EXPECT_EQ(printed.out, "'code' '--folder-uri' 'vscode-remote://ssh-remote+api.berth" + folder + "'\n");
  std::string config = berth::test::read_text(ssh("config"));
  EXPECT_EQ(config.rfind("# Added by berth code", 0), 0u) << "the Include goes first, before any Host: " << config;
  EXPECT_EQ(count(config, "Include berth.config\n"), 1u) << config;
  ASSERT_GE(config.size(), own.size());
  EXPECT_EQ(config.substr(config.size() - own.size()), own) << "the user's own lines, byte for byte";
  std::string entries = berth::test::read_text(ssh("berth.config"));
  EXPECT_NE(entries.find("Host api.berth\n"), std::string::npos) << entries;
  EXPECT_NE(entries.find("ssh api --stdio"), std::string::npos) << entries;
  struct stat mode {};
  ASSERT_EQ(::stat(ssh("berth.config").c_str(), &mode), 0);
  EXPECT_EQ(mode.st_mode & 0777, 0600u);

  // Again, and for another workspace: still one Include, one block per workspace.
  ASSERT_EQ(server.berth({"code", "api", "--print"}, with_home_).exit_code, 0);
  Result zed = server.berth({"code", "web", "--print", "--editor", "zed"}, with_home_);
  ASSERT_EQ(zed.exit_code, 0) << zed.err;
  EXPECT_EQ(zed.out.rfind("'zed' 'ssh://web.berth/", 0), 0u) << zed.out;
  EXPECT_EQ(berth::test::read_text(ssh("config")), config) << "nothing added the second time";
  entries = berth::test::read_text(ssh("berth.config"));
  EXPECT_EQ(count(entries, "Host api.berth\n"), 1u) << entries;
  EXPECT_EQ(count(entries, "Host web.berth\n"), 1u) << entries;

  // ssh itself reads the result: the Include resolves and the entry applies.
  Result resolved = berth::test::run_program({"ssh", "-G", "-F", ssh("config").string(), "api.berth"}, with_home_);
  if (resolved.exit_code == 0) {
    EXPECT_NE(resolved.out.find("proxycommand "), std::string::npos) << resolved.out;
    EXPECT_NE(resolved.out.find("hostkeyalias berth-workspace"), std::string::npos) << resolved.out;
  }

  // A stopped workspace cannot be opened: said, and nothing written for it.
  ASSERT_EQ(server.berth({"stop", "web"}).exit_code, 0);
  Result stopped = server.berth({"code", "web", "--print"}, with_home_);
  EXPECT_NE(stopped.exit_code, 0);
  EXPECT_NE(stopped.err.find("berth start web"), std::string::npos) << stopped.err;
  // Not installed: the error says so and how to see the command.
  RunOptions no_editor = with_home_;
  no_editor.env["PATH"] = "/nonexistent";
  Result missing = server.berth({"code", "api", "--editor", "cursor"}, no_editor);
  EXPECT_NE(missing.exit_code, 0);
  EXPECT_NE(missing.err.find("cannot run 'cursor'"), std::string::npos) << missing.err;
}

TEST_F(Editor, AConfigBerthCannotReadIsNeverReplaced) {
  ServerHome server;
  ASSERT_EQ(server.berth({"create", "api", "--repo", repo_.string()}).exit_code, 0);
  fs::create_directories(ssh("config"));  // not a file: nothing berth could read and keep
  std::ofstream(ssh("config") / "inside") << "mine\n";
  Result refused = server.berth({"code", "api", "--print"}, with_home_);
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE(refused.err.find("cannot read " + ssh("config").string() + ": it is not a regular file; berth code leaves it as it is"),
            std::string::npos)
      << refused.err;
  EXPECT_EQ(berth::test::read_text(ssh("config") / "inside"), "mine\n");
  // A link berth cannot follow (its target is not there yet) is refused too, and stays.
  fs::remove_all(ssh("config"));
  fs::create_symlink(scratch_.path() / "not-yet", ssh("config"));
  Result dangling = server.berth({"code", "api", "--print"}, with_home_);
  EXPECT_NE(dangling.exit_code, 0);
  EXPECT_NE(dangling.err.find("is a symbolic link berth cannot follow"), std::string::npos) << dangling.err;
  EXPECT_TRUE(fs::is_symlink(ssh("config")));
  EXPECT_FALSE(fs::exists(scratch_.path() / "not-yet"));
}

TEST_F(Editor, AConfigThatIsALinkStaysALinkAndATcpServerIsInTheProxyCommand) {
  int port = berth::test::free_tcp_port();
  ServerHome server{ServerHome::Start::later};
  server.set_serve_args({"--listen", "127.0.0.1:" + std::to_string(port)});
  server.start();
  Result key = server.berth({"apikey", "create", "laptop"});
  ASSERT_EQ(key.exit_code, 0) << key.err;
  ASSERT_EQ(server.berth({"create", "api", "--repo", repo_.string()}).exit_code, 0);
  // A dotfiles manager's link: the file it points at gets the Include.
  fs::path real = scratch_.path() / "dotfiles-ssh-config";
  std::ofstream(real) << "Host work\n  User me\n";
  fs::create_symlink(real, ssh("config"));

  RunOptions remote = with_home_;
  std::string address = "http://127.0.0.1:" + std::to_string(port);
  remote.env["BERTH_SERVER"] = address;
  remote.env["BERTH_API_KEY"] = key.out.substr(0, key.out.find('\n'));
  Result printed = server.berth({"--server", address, "code", "api", "--print"}, remote);
  ASSERT_EQ(printed.exit_code, 0) << printed.err;
  EXPECT_TRUE(fs::is_symlink(ssh("config")));
  EXPECT_EQ(berth::test::read_text(real).rfind("# Added by berth code", 0), 0u) << berth::test::read_text(real);
  EXPECT_NE(berth::test::read_text(real).find("Host work\n  User me\n"), std::string::npos);
  std::string entries = berth::test::read_text(ssh("berth.config"));
  EXPECT_NE(entries.find("--server '" + address + "' ssh api --stdio"), std::string::npos) << entries;
}

}  // namespace
