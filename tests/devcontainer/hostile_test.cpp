// Repositories written by an attacker (issue 21), created through the CLI on the private engine
// and, where it matters, over TCP with an API key. Each test makes its hostile repository,
// plants a marker beside the server's home where it tries to reach the server's files, and
// checks that berth refuses naming the field, that nothing outside the repository reaches a
// container, and that the docker provider goes on serving everyone else. docs/security.md
// links each rule to its test here.
#include "docker_engine.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/random.h>

#include <cstdlib>
#include <fstream>

namespace fs = std::filesystem;
using berth::test::Result;
using berth::test::RunOptions;
using berth::test::ServerHome;
using Json = nlohmann::json;

namespace {

using berth::test::docker;
using berth::test::engine_address;

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

std::string random_word() {
  unsigned char bytes[6];
  if (::getrandom(bytes, sizeof bytes, 0) != sizeof bytes) throw std::runtime_error("getrandom failed");
  std::string out;
  for (unsigned char b : bytes) out += "0123456789abcdef"[b >> 4], out += "0123456789abcdef"[b & 15];
  return out;
}

// A git repository of the given files (path -> content) and symbolic links (path -> target),
// committed as a hostile author would push it.
using Files = std::map<std::string, std::string>;

class HostileRepo {
 public:
  explicit HostileRepo(const Files& files, const Files& links = {})
      : path_(dir_.path() / "repo") {
    berth::test::make_git_repo(path_, "first");
    for (const auto& [file, content] : files) {
      fs::create_directories((path_ / file).parent_path());
      std::ofstream(path_ / file, std::ios::binary) << content;
    }
    for (const auto& [link, target] : links) {
      fs::create_directories((path_ / link).parent_path());
      fs::create_symlink(target, path_ / link);
    }
    berth::test::commit_all(path_, "hostile");
  }
  std::string str() const { return path_.string(); }

 private:
  berth::test::TempDir dir_;
  fs::path path_;
};

class Hostile : public ::testing::Test {
 protected:
  void SetUp() override {
    address_ = engine_address();
    if (address_.rfind("unavailable", 0) == 0) return;
    // A secret in the server's environment, which no repository may read (${localEnv:...}).
    ::setenv("HOSTILE_SERVER_SECRET", server_secret_.c_str(), 1);
    port_ = berth::test::free_tcp_port();
    server_.set_serve_args({"--listen", "127.0.0.1:" + std::to_string(port_)});
    server_.start();
    ::unsetenv("HOSTILE_SERVER_SECRET");
    RunOptions yaml;
    yaml.stdin_data = "name: dc\nprovider: docker\nproperties:\n  host: " + address_ +
                      "\n  image: berth-test:busybox\n  pull: never\n  network: none\n  stop_timeout: \"1\"\n";
    Result added = server_.berth({"target", "add", "-f", "-"}, yaml);
    ASSERT_EQ(added.exit_code, 0) << added.err;
    ASSERT_EQ(server_.berth({"target", "set-default", "dc"}).exit_code, 0);
    // The marker: a file of the server's, beside its home, that must never reach a container.
    marker_ = server_.home().parent_path() / ("berth-marker-" + random_word());
    std::ofstream(marker_) << marker_text_ << "\n";
  }
  void TearDown() override {
    for (const auto& name : made_) server_.berth({"delete", "--force", name});
    std::error_code ignored;
    fs::remove(marker_, ignored);
  }
  Result create(const std::string& name, std::vector<std::string> args, const RunOptions& options = {}) {
    made_.push_back(name);
    args.insert(args.begin(), {"create", name});
    return server_.berth(args, options);
  }
  std::string in(const std::string& name, const std::string& line) {
    Result result = server_.berth({"exec", name, "--", "/bin/sh", "-c", line});
    EXPECT_EQ(result.exit_code, 0) << line << ": " << result.err;
    return trimmed(result.out);
  }
  std::string containers_of(const std::string& name) {
    return trimmed(docker(address_, {"ps", "-a", "--filter", "label=dev.berth.workspace=" + name, "-q"}).out);
  }
  // A refusal as the issue asks: exit 1, the message names what, nothing made, no marker.
  void expect_refused(const std::string& name, const Result& result, const std::vector<std::string>& fragments) {
    EXPECT_EQ(result.exit_code, 1) << result.out << result.err;
    for (const auto& fragment : fragments) EXPECT_NE(result.err.find(fragment), std::string::npos) << "missing '" << fragment << "' in: " << result.err;
    EXPECT_EQ(result.err.find(marker_text_), std::string::npos) << "the marker's content was shown: " << result.err;
    EXPECT_EQ(server_.berth({"logs", name}).out.find(marker_text_), std::string::npos) << "the marker's content is in the log";
    EXPECT_EQ(containers_of(name), "") << "a container was made for a refused create";
  }
  // An API key and the CLI's options to reach the server over TCP with it.
  RunOptions over_tcp() {
    Result key = server_.berth({"apikey", "create", "tcp-" + random_word()});
    EXPECT_EQ(key.exit_code, 0) << key.err;
    RunOptions remote;
    remote.env = {{"BERTH_SERVER", "http://127.0.0.1:" + std::to_string(port_)}, {"BERTH_API_KEY", key.out.substr(0, key.out.find('\n'))}};
    return remote;
  }

  const std::string server_secret_ = "server-secret-" + random_word();
  const std::string marker_text_ = "MARKER-" + random_word();
  ServerHome server_{ServerHome::Start::later};
  int port_ = 0;
  std::string address_;
  fs::path marker_;
  std::vector<std::string> made_;
};

// 1. build.context and build.dockerfile outside the repository; a context that is a link out.
TEST_F(Hostile, BuildContextAndDockerfileOutsideTheRepositoryAreRefused) {
  REQUIRE_ENGINE(address);
  HostileRepo context(Files{{".devcontainer/devcontainer.json", R"({"build": {"dockerfile": "Dockerfile", "context": "../../../../../../../.."}})"},
                       {".devcontainer/Dockerfile", "FROM berth-test:busybox\nCOPY . /leak/\n"}});
  expect_refused("ctx", create("ctx", {"--repo", context.str()}), {"property 'build.context'", "leads outside the repository"});

  fs::path outside = marker_.parent_path() / ("dockerfile-" + random_word());
  fs::create_directories(outside);
  std::ofstream(outside / "Dockerfile") << "FROM berth-test:busybox\n";
  std::string up = "../../../../../../../../../../..";
  HostileRepo dockerfile(Files{{".devcontainer/devcontainer.json", R"({"build": {"dockerfile": ")" + up + (outside / "Dockerfile").string() + R"("}})"}});
  expect_refused("dfile", create("dfile", {"--repo", dockerfile.str()}), {"property 'build.dockerfile'", "leads outside the repository"});

  HostileRepo linked(Files{{".devcontainer/devcontainer.json", R"({"build": {"dockerfile": "Dockerfile", "context": "ctx"}})"},
                      {".devcontainer/Dockerfile", "FROM berth-test:busybox\n"}},
                     {{".devcontainer/ctx", marker_.parent_path().string()}});
  expect_refused("ctxlink", create("ctxlink", {"--repo", linked.str()}),
                 {"property 'build.context'", "goes through the symbolic link '.devcontainer/ctx'", "outside the repository"});
  fs::remove_all(outside);
}

// 1 (continued). A link to the marker inside an accepted context travels as a link: the build
// works, and the marker's content is not in the image.
TEST_F(Hostile, ALinkInTheBuildContextNeverBringsTheFileItPointsAt) {
  REQUIRE_ENGINE(address);
  HostileRepo repo(Files{{".devcontainer/devcontainer.json", R"({"build": {"dockerfile": "Dockerfile", "context": ".."}})"},
                    {".devcontainer/Dockerfile", "FROM berth-test:busybox\nCOPY . /leak/\n"}},
                   {{"leak-link", marker_.string()}});
  Result created = create("linkctx", {"--repo", repo.str()});
  ASSERT_EQ(created.exit_code, 0) << created.err << server_.berth({"logs", "linkctx"}).out;
  EXPECT_EQ(in("linkctx", "test -L /leak/leak-link && echo link"), "link") << "the link is in the image as a link";
  EXPECT_EQ(in("linkctx", "cat /leak/leak-link 2>/dev/null; grep -r " + marker_text_ + " /leak /workspaces 2>/dev/null | head -1"), "")
      << "the marker's content reached the image";
}

// 2. A local feature outside the repository, by ".." and through a link.
TEST_F(Hostile, FeaturesOutsideTheRepositoryAreRefused) {
  REQUIRE_ENGINE(address);
  HostileRepo dotted(Files{{".devcontainer/devcontainer.json", R"({"image": "berth-test:busybox", "features": {"../../../../../../../../srv/x/feat": {}}})"}});
  expect_refused("featdots", create("featdots", {"--repo", dotted.str()}), {"property 'features.", "leads outside the repository"});

  fs::path outside = marker_.parent_path() / ("feature-" + random_word());
  fs::create_directories(outside);
  std::ofstream(outside / "devcontainer-feature.json") << R"({"id": "evil"})";
  std::ofstream(outside / "install.sh") << "#!/bin/sh\ncp " << marker_.string() << " /stolen\n";
  HostileRepo linked(Files{{".devcontainer/devcontainer.json", R"({"image": "berth-test:busybox", "features": {"./feat": {}}})"}},
                     {{".devcontainer/feat", outside.string()}});
  expect_refused("featlink", create("featlink", {"--repo", linked.str()}),
                 {"property 'features../feat'", "goes through the symbolic link '.devcontainer/feat'"});
  fs::remove_all(outside);
}

// 3. The definition itself a link to a file of the server: refused naming it, never read.
TEST_F(Hostile, ADefinitionThatIsALinkOutIsRefusedUnread) {
  REQUIRE_ENGINE(address);
  std::ofstream(marker_) << R"({"image": ")" << marker_text_ << R"("})";
  HostileRepo repo(Files{}, {{".devcontainer/devcontainer.json", marker_.string()}});
  expect_refused("deflink", create("deflink", {"--repo", repo.str()}),
                 {".devcontainer/devcontainer.json", "goes through the symbolic link '.devcontainer/devcontainer.json'", "outside the repository"});
}

// 4. workspaceFolder with ".." and bind mounts of the server's folders.
TEST_F(Hostile, ContainerPathsAreNeverServerPaths) {
  REQUIRE_ENGINE(address);
  HostileRepo dots(Files{{".devcontainer/devcontainer.json", R"({"image": "berth-test:busybox", "workspaceFolder": "/workspaces/../../../../../../rt-escaped"})"}});
  expect_refused("wsdots", create("wsdots", {"--repo", dots.str()}), {"property 'workspaceFolder'", "a '..' component"});
  for (fs::path folder = server_.home(); !folder.empty() && folder != folder.root_path(); folder = folder.parent_path()) {
    EXPECT_FALSE(fs::exists(folder / "rt-escaped")) << folder;
  }
  HostileRepo bind(Files{{".devcontainer/devcontainer.json", R"({"image": "berth-test:busybox", "mounts": ["type=bind,source=)" +
                                                             marker_.parent_path().string() + R"(,target=/host"]})"}});
  expect_refused("bindout", create("bindout", {"--repo", bind.str()}), {"property 'mounts[0]'", "outside the repository"});
  HostileRepo climb(Files{{".devcontainer/devcontainer.json",
                      R"({"image": "berth-test:busybox", "workspaceMount": "type=bind,source=${localWorkspaceFolder}/../../..,target=/w", "workspaceFolder": "/w"})"}});
  expect_refused("bindclimb", create("bindclimb", {"--repo", climb.str()}), {"property 'workspaceMount'", "outside the repository"});
  HostileRepo volume(Files{{".devcontainer/devcontainer.json", R"({"image": "berth-test:busybox", "mounts": ["type=volume,source=berth-0123456789ab-other,target=/other"]})"}});
  expect_refused("volsteal", create("volsteal", {"--repo", volume.str()}), {"property 'mounts[0]'", "berth's own"});
}

// 5. initializeCommand: asked on a terminal, refused without agreement elsewhere, remembered per
// repository and command, refused over TCP whatever the client says.
TEST_F(Hostile, InitializeCommandNeedsConsentAndTheSocket) {
  REQUIRE_ENGINE(address);
  fs::path ran = marker_.parent_path() / ("init-ran-" + random_word());
  HostileRepo repo(Files{{".devcontainer/devcontainer.json", R"({"image": "berth-test:busybox", "initializeCommand": "touch )" + ran.string() + R"("})"}});

  Result refused = create("init1", {"--repo", repo.str()});
  expect_refused("init1", refused, {"property 'initializeCommand'", "on the server's machine", "add --trust"});
  EXPECT_FALSE(fs::exists(ran)) << "it ran without consent";
  Json record = Json::parse(server_.berth({"info", "init1", "-o", "json"}).out);
  Json question = Json::parse(record["provider_data"].value("berth.consent", std::string("{}")));
  EXPECT_EQ(question.value("command", ""), "touch " + ran.string()) << record.dump();

  RunOptions terminal_env;
  terminal_env.env = {{"BERTH_HOME", server_.home().string()}, {"BERTH_NO_AUTOSTART", "1"}};
  {
    made_.push_back("init2");
    berth::test::Terminal terminal({berth::test::berth_binary().string(), "create", "init2", "--repo", repo.str()}, terminal_env);
    ASSERT_TRUE(terminal.wait_for("Run it?", 0, std::chrono::seconds(60))) << terminal.output();
    EXPECT_NE(terminal.output().find("touch " + ran.string()), std::string::npos) << "the question shows the command: " << terminal.output();
    terminal.type("n\n");
    Result answered = terminal.finish(std::chrono::seconds(30));
    EXPECT_EQ(answered.exit_code, 1) << terminal.output();
    EXPECT_FALSE(fs::exists(ran)) << "it ran after a no";
  }
  {
    made_.push_back("init3");
    berth::test::Terminal terminal({berth::test::berth_binary().string(), "create", "init3", "--repo", repo.str()}, terminal_env);
    ASSERT_TRUE(terminal.wait_for("Run it?", 0, std::chrono::seconds(60))) << terminal.output();
    terminal.type("y\n");
    Result answered = terminal.finish(std::chrono::seconds(120));
    EXPECT_EQ(answered.exit_code, 0) << terminal.output();
    EXPECT_TRUE(fs::exists(ran)) << "a yes runs it";
    EXPECT_NE(server_.berth({"logs", "init3"}).out.find("initializeCommand runs on the server's machine as user"), std::string::npos);
  }
  fs::remove(ran);
  Result remembered = create("init4", {"--repo", repo.str()});
  EXPECT_EQ(remembered.exit_code, 0) << remembered.err;
  EXPECT_TRUE(fs::exists(ran)) << "the answer is remembered for this repository and command";
  EXPECT_NE(server_.berth({"logs", "init4"}).out.find("initializeCommand trusted since"), std::string::npos);

  fs::path other = marker_.parent_path() / ("init-other-" + random_word());
  HostileRepo changed(Files{{".devcontainer/devcontainer.json", R"({"image": "berth-test:busybox", "initializeCommand": "touch )" + other.string() + R"("})"}});
  expect_refused("init5", create("init5", {"--repo", changed.str()}), {"add --trust"});
  EXPECT_FALSE(fs::exists(other)) << "another command is asked about again";

  Result remote = create("init6", {"--repo", changed.str(), "--trust"}, over_tcp());
  expect_refused("init6", remote, {"property 'initializeCommand'", "came over TCP", "--allow-remote-initialize"});
  EXPECT_FALSE(fs::exists(other)) << "a TCP client ran a command on the server's machine";
  fs::remove(ran);
}

// 6. ${localEnv:X} is the client's environment: what the definition names, never the server's.
TEST_F(Hostile, LocalEnvIsTheClientsNeverTheServers) {
  REQUIRE_ENGINE(address);
  HostileRepo repo(Files{{".devcontainer/devcontainer.json",
                     R"({"image": "berth-test:busybox", "containerEnv": {"FROM_CLIENT": "${localEnv:HOSTILE_CLIENT}",
                        "FROM_SERVER": "${localEnv:HOSTILE_SERVER_SECRET}", "KEY": "${localEnv:BERTH_API_KEY}"}})"}});
  RunOptions local;
  local.env = {{"HOSTILE_CLIENT", "from-the-client"}, {"HOSTILE_SERVER_SECRET", ""}};
  Result created = create("envlocal", {"--repo", repo.str()}, local);
  ASSERT_EQ(created.exit_code, 0) << created.err;
  EXPECT_EQ(in("envlocal", "echo \"[$FROM_CLIENT][$FROM_SERVER][$KEY]\""), "[from-the-client][][]");

  RunOptions remote = over_tcp();
  remote.env["HOSTILE_CLIENT"] = "from-the-tcp-client";
  remote.env["HOSTILE_SERVER_SECRET"] = "";
  Result over = create("envtcp", {"--repo", repo.str()}, remote);
  ASSERT_EQ(over.exit_code, 0) << over.err;
  EXPECT_EQ(in("envtcp", "echo \"[$FROM_CLIENT][$FROM_SERVER][$KEY]\""), "[from-the-tcp-client][][]")
      << "the client's own API key (BERTH_*) is never sent";
  EXPECT_EQ(in("envtcp", "env | grep -c " + server_secret_ + " || true"), "0");
  Json inspected = Json::parse(docker(address, {"inspect", containers_of("envtcp")}).out)[0];
  EXPECT_EQ(inspected.dump().find(server_secret_), std::string::npos) << "the server's secret is in the container";
  EXPECT_EQ(server_.berth({"info", "envtcp", "-o", "json"}).out.find(server_secret_), std::string::npos);
}

// 7. Hostile JSON: invalid UTF-8 named with its place; an image whose metadata label nests
// 32,000 levels fails its own creates, ten times, and the provider serves everyone else.
TEST_F(Hostile, HostileJsonFailsItsOwnCreateAndNothingElse) {
  REQUIRE_ENGINE(address);
  HostileRepo bytes(Files{{".devcontainer/devcontainer.json", "{\"image\": \"berth-test:busybox\",\n \"name\": \"\xff\"}\n"}});
  expect_refused("utf8", create("utf8", {"--repo", bytes.str()}),
                 {".devcontainer/devcontainer.json:2:11: malformed JSON: invalid UTF-8 byte 0xFF"});

  ASSERT_EQ(create("bystander", {}).exit_code, 0);
  std::string deep = std::string(32000, '[') + std::string(32000, ']');
  std::string scratch = "berth-hostile-" + random_word();
  ASSERT_EQ(docker(address, {"create", "--name", scratch, "berth-test:busybox", "true"}).exit_code, 0);
  Result committed = docker(address, {"commit", "-c", "LABEL devcontainer.metadata=" + deep, scratch, "berth-hostile:deep"});
  docker(address, {"rm", scratch});
  ASSERT_EQ(committed.exit_code, 0) << committed.err;
  HostileRepo repo(Files{{".devcontainer/devcontainer.json", R"({"image": "berth-hostile:deep"})"}});
  for (int i = 0; i < 10; ++i) {
    std::string name = "deep" + std::to_string(i);
    Result refused = create(name, {"--repo", repo.str()});
    EXPECT_EQ(refused.exit_code, 1) << refused.err;
    EXPECT_NE(refused.err.find("devcontainer.metadata label is nested more than 64 levels deep"), std::string::npos) << refused.err;
  }
  Json providers = Json::parse(server_.berth({"provider", "list", "-o", "json"}).out);
  bool seen = false;
  for (const auto& provider : providers) {
    if (provider.value("name", "") != "docker") continue;
    seen = true;
    EXPECT_EQ(provider.value("status", ""), "loaded") << provider.dump();
  }
  EXPECT_TRUE(seen) << providers.dump();
  EXPECT_EQ(in("bystander", "echo still here"), "still here");
  docker(address, {"rmi", "berth-hostile:deep"});
}

// 8. berth ssh --stdio: berth's host key goes to the workspace on the session's input, not in a
// command line (any local user reads /proc/PID/cmdline). A stand-in sshd records its parent's
// command line and the key it was given.
TEST_F(Hostile, SshKeysTravelOnTheStreamNotInACommandLine) {
  REQUIRE_ENGINE(address);
  ASSERT_EQ(create("sshkey", {}).exit_code, 0);
  in("sshkey", "mkdir -p /usr/local/bin && printf '%s\\n' '#!/bin/sh' "
               "'tr \"\\\\000\" \" \" < /proc/$PPID/cmdline > /tmp/parent-cmdline' "
               "'while [ $# -gt 0 ]; do [ \"$1\" = -h ] && cp \"$2\" /tmp/got-host-key; shift; done' > /usr/local/bin/sshd && "
               "chmod +x /usr/local/bin/sshd");
  Result relayed = server_.berth({"ssh", "sshkey", "--stdio"});
  EXPECT_EQ(relayed.exit_code, 0) << relayed.err;
  std::string key = berth::test::read_text(server_.home() / "ssh" / "host_ed25519");
  ASSERT_FALSE(key.empty());
  std::string body_line = key.substr(key.find('\n') + 1, 40);  // base64 of the key, no header
  std::string parent = in("sshkey", "cat /tmp/parent-cmdline");
  EXPECT_NE(parent.find("/bin/sh -c"), std::string::npos) << parent;
  EXPECT_EQ(parent.find(body_line), std::string::npos) << "the host key is in a command line: " << parent;
  EXPECT_EQ(in("sshkey", "cat /tmp/got-host-key") + "\n", key) << "sshd got berth's host key through the stream";
}

// 8 (continued). A home whose path holds '%': ssh_config reads '%' as a token, so the entry
// writes '%%' and OpenSSH finds the pin in the right file.
TEST_F(Hostile, SshConfigEscapesPercentInPaths) {
  berth::test::TempDir dir;
  fs::path odd = dir.path() / "h%h";
  fs::create_directory_symlink(server_.home(), odd);
  if (!server_.running()) server_.start();
  ASSERT_EQ(server_.add_target("name: here\nprovider: host\nproperties: {}\n").exit_code, 0);
  made_.push_back("pct");
  ASSERT_EQ(server_.berth({"create", "pct", "--target", "here"}).exit_code, 0);
  RunOptions options;
  options.env = {{"BERTH_HOME", odd.string()}, {"BERTH_NO_AUTOSTART", "1"}};
  Result config = berth::test::run_program({berth::test::berth_binary().string(), "ssh-config", "pct"}, options);
  ASSERT_EQ(config.exit_code, 0) << config.err;
  EXPECT_NE(config.out.find("h%%h/ssh/"), std::string::npos) << config.out;
  std::ofstream(dir.path() / "config") << config.out;
  Result resolved = berth::test::run_program({"ssh", "-G", "-F", (dir.path() / "config").string(), "pct.berth"});
  ASSERT_EQ(resolved.exit_code, 0) << resolved.err;
  EXPECT_NE(resolved.out.find("userknownhostsfile " + (odd / "ssh").string() + "/"), std::string::npos) << resolved.out;
}

}  // namespace
