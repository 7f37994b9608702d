// The docker provider reaching engines elsewhere: over TLS (the private engine also listens on
// a loopback port with --tlsverify, scripts/docker-engine), over ssh:// (a real sshd started
// here, in front of that engine), and placed across several engines.
#include "docker_engine.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>

namespace fs = std::filesystem;
using berth::test::Result;
using berth::test::ServerHome;
using Json = nlohmann::json;

namespace {

const char kImage[] = "berth-test:busybox";

fs::path engine_dir() { return fs::path(BERTH_DOCKER_STATUS).parent_path(); }

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
  return text;
}

Result add_target(const ServerHome& server, const std::string& name, const std::string& host_line, const std::string& extra = "") {
  berth::test::RunOptions yaml;
  yaml.stdin_data = "name: " + name + "\nprovider: docker\nproperties:\n  " + host_line + "\n  image: " + kImage +
                    "\n  pull: never\n  network: none\n  stop_timeout: \"2\"\n" + extra;
  return server.berth({"target", "add", "-f", "-"}, yaml);
}

Json info(const ServerHome& server, const std::string& name) {
  Result result = server.berth({"info", name, "-o", "json"});
  EXPECT_EQ(result.exit_code, 0) << result.err;
  return result.exit_code == 0 ? Json::parse(result.out) : Json::object();
}

std::string engine_state(const std::string& address, const std::string& id) {
  Result inspected = berth::test::docker(address, {"inspect", "-f", "{{.State.Status}}", id});
  return inspected.exit_code != 0 ? "missing" : trimmed(inspected.out);
}

// Create, a hijacked exec stream with input, stop, start, delete: each checked on the engine
// itself through its Unix socket.
void whole_lifecycle(const ServerHome& server, const std::string& target, const std::string& unix_address) {
  Result created = server.berth({"create", "w", "--target", target});
  ASSERT_EQ(created.exit_code, 0) << created.err << created.out;
  std::string id = info(server, "w")["provider_data"].value("container_id", "");
  EXPECT_EQ(engine_state(unix_address, id), "running");
  berth::test::RunOptions input;
  input.stdin_data = std::string(200000, 'q') + "end";
  Result streamed = server.berth({"exec", "-i", "w", "--", "sh", "-c", "wc -c; exit 6"}, input);
  EXPECT_EQ(streamed.exit_code, 6) << streamed.err;
  EXPECT_EQ(trimmed(streamed.out), "200003");
  EXPECT_EQ(server.berth({"stop", "w"}).exit_code, 0);
  EXPECT_EQ(engine_state(unix_address, id), "exited");
  EXPECT_EQ(server.berth({"start", "w"}).exit_code, 0);
  EXPECT_EQ(engine_state(unix_address, id), "running");
  Result deleted = server.berth({"delete", "w"});
  EXPECT_EQ(deleted.exit_code, 0) << deleted.err;
  EXPECT_EQ(engine_state(unix_address, id), "missing");
}

TEST(DockerTls, LifecycleAndStreamsOverTlsVerify) {
  REQUIRE_ENGINE(address);
  std::string tls_address = trimmed(berth::test::read_text(engine_dir() / "tls-address"));
  ASSERT_FALSE(tls_address.empty()) << "scripts/docker-engine wrote no tls-address";
  fs::path tls = engine_dir() / "tls";
  ServerHome server;
  std::string files = "  tls_ca: " + (tls / "ca.pem").string() + "\n  tls_cert: " + (tls / "client.pem").string() +
                      "\n  tls_key: " + (tls / "client-key.pem").string() + "\n";
  Result added = add_target(server, "secure", "host: " + tls_address, files);
  ASSERT_EQ(added.exit_code, 0) << added.err;
  whole_lifecycle(server, "secure", address);

  // The agent is PID 1 there too, from its own volume (filled once per engine, read-only in
  // each container), not uploaded into each container.
  ASSERT_EQ(server.berth({"create", "a", "--target", "secure", "-q"}).exit_code, 0);
  Result pid1 = server.berth({"exec", "a", "--", "cat", "/proc/1/cmdline"});
  EXPECT_EQ(pid1.out.substr(0, 13), std::string("/.berth/agent", 13)) << pid1.out << pid1.err;
  std::string id = info(server, "a")["provider_data"]["container_id"];
  Result mounts = berth::test::docker(address, {"inspect", "-f", "{{range .Mounts}}{{.Name}} {{.Destination}} {{.RW}};{{end}}", id});
  EXPECT_NE(mounts.out.find("berth-agent-"), std::string::npos) << mounts.out;
  EXPECT_NE(mounts.out.find(" /.berth false;"), std::string::npos) << "the agent's volume is mounted read-only: " << mounts.out;
  Result written = server.berth({"exec", "a", "--", "touch", "/.berth/agent"});
  EXPECT_NE(written.exit_code, 0) << "a workspace must not change the agent every workspace on the engine runs";
  Result helpers = berth::test::docker(address, {"ps", "-aq", "--filter", "label=dev.berth.agent"});
  EXPECT_EQ(helpers.out, "") << "the helper that filled the volume is removed";
  EXPECT_EQ(server.berth({"delete", "a"}).exit_code, 0);

  // No client certificate: the engine (--tlsverify) refuses, and berth says why.
  ASSERT_EQ(add_target(server, "no-cert", "host: " + tls_address, "  tls_ca: " + (tls / "ca.pem").string() + "\n").exit_code, 0);
  Result refused = server.berth({"create", "x", "--target", "no-cert"});
  EXPECT_NE(refused.exit_code, 0);
  EXPECT_NE((refused.err + refused.out).find("requires a client certificate"), std::string::npos) << refused.err << refused.out;
  server.berth({"delete", "--force", "x"});

  // A CA that did not sign the engine's certificate.
  berth::test::TempDir other;
  Result made = berth::test::run_program({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                                          (other.path() / "k.pem").string(), "-out", (other.path() / "ca.pem").string(), "-days", "2", "-subj", "/CN=other"});
  ASSERT_EQ(made.exit_code, 0) << made.err;
  std::string wrong = "  tls_ca: " + (other.path() / "ca.pem").string() + "\n  tls_cert: " + (tls / "client.pem").string() +
                      "\n  tls_key: " + (tls / "client-key.pem").string() + "\n";
  ASSERT_EQ(add_target(server, "wrong-ca", "host: " + tls_address, wrong).exit_code, 0);
  Result untrusted = server.berth({"create", "y", "--target", "wrong-ca"});
  EXPECT_NE(untrusted.exit_code, 0);
  EXPECT_NE((untrusted.err + untrusted.out).find("certificate is not trusted"), std::string::npos) << untrusted.err << untrusted.out;
  server.berth({"delete", "--force", "y"});
}

// A real sshd (Debian's, unpacked by scripts/docker-engine) on a high loopback port with
// throw-away host and user keys, whose sessions reach the private engine (DOCKER_HOST). The
// server's ssh finds the user key and the known host key through an ssh configuration, as a
// user's ~/.ssh/config would give them: an `ssh` first on PATH that adds -F CONFIG.
class Sshd {
 public:
  // without_docker: sessions run with a PATH where no docker CLI is.
  Sshd(const std::string& engine, bool without_docker = false) {
    fs::path sshd = engine_dir() / "openssh" / "usr" / "sbin" / "sshd";
    if (!fs::exists(sshd)) {
      skip_ = "no sshd unpacked in " + sshd.string() + " (scripts/docker-engine start makes it)";
      return;
    }
    const fs::path& t = dir_.path();
    for (const char* key : {"host_key", "id"}) {
      Result made = berth::test::run_program({"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", (t / key).string()});
      EXPECT_EQ(made.exit_code, 0) << made.err;
    }
    fs::copy_file(t / "id.pub", t / "authorized_keys");
    port = berth::test::free_tcp_port();
    std::ofstream(t / "sshd_config") << "Port " << port << "\nListenAddress 127.0.0.1\nHostKey " << (t / "host_key").string()
                                     << "\nAuthorizedKeysFile " << (t / "authorized_keys").string() << "\nPidFile " << (t / "sshd.pid").string()
                                     << "\nStrictModes no\nPasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\n"
                                     << "SetEnv DOCKER_HOST=" << engine << "\n"
                                     << (without_docker ? "ForceCommand /usr/bin/env PATH=/nonexistent /bin/sh -c \"$SSH_ORIGINAL_COMMAND\"\n" : "");
    std::ofstream(t / "known_hosts") << "[127.0.0.1]:" << port << " " << berth::test::read_text(t / "host_key.pub");
    std::ofstream(t / "ssh_config") << "Host 127.0.0.1\n  IdentityFile " << (t / "id").string() << "\n  IdentitiesOnly yes\n  UserKnownHostsFile "
                                    << (t / "known_hosts").string() << "\n  StrictHostKeyChecking yes\n";
    fs::create_directories(t / "bin");
    std::ofstream(t / "bin" / "ssh") << "#!/bin/sh\nexec /usr/bin/ssh -F " << (t / "ssh_config").string() << " \"$@\"\n";
    fs::permissions(t / "bin" / "ssh", fs::perms::owner_all);
    fs::create_directories("/run/sshd");  // its privilege-separation folder
    pid_ = berth::test::spawn_program({sshd.string(), "-D", "-e", "-f", (t / "sshd_config").string()});
    bool up = berth::test::wait_until([&] { return berth::test::run_program({"ssh", "-F", (t / "ssh_config").string(), "-o", "BatchMode=yes",
                                                                              "-p", std::to_string(port), "root@127.0.0.1", "true"})
                                                      .exit_code != 255; },
                                      std::chrono::seconds(10));
    EXPECT_TRUE(up) << "sshd did not come up on port " << port;
  }
  ~Sshd() {
    if (pid_ > 0) {
      ::kill(pid_, SIGTERM);
      ::waitpid(pid_, nullptr, 0);
    }
  }
  const std::string& skip() const { return skip_; }
  // PATH for the berth server, with the ssh that uses this configuration first.
  std::string path() const { return (dir_.path() / "bin").string() + ":" + std::getenv("PATH"); }
  int port = 0;

 private:
  berth::test::TempDir dir_;
  int pid_ = -1;
  std::string skip_;
};

TEST(DockerSsh, LifecycleAndStreamsOverSsh) {
  REQUIRE_ENGINE(address);
  Sshd sshd(address);
  if (!sshd.skip().empty()) GTEST_SKIP() << sshd.skip();
  ::setenv("PATH", sshd.path().c_str(), 1);  // the server started next runs this ssh
  ServerHome server;
  std::string remote = "ssh://root@127.0.0.1:" + std::to_string(sshd.port);
  ASSERT_EQ(add_target(server, "far", "host: " + remote).exit_code, 0);
  whole_lifecycle(server, "far", address);
  // One ssh child per connection: once the work is done only the live-state watch's is left
  // (it follows the engine a while after its last workspace), and none once the server stops.
  std::string ours = "-p " + std::to_string(sshd.port) + " -- 127.0.0.1 docker system dial-stdio";
  auto children = [&] {
    Result found = berth::test::run_program({"pgrep", "-f", "--", ours});
    return found.exit_code == 0 ? std::count(found.out.begin(), found.out.end(), '\n') : 0L;
  };
  EXPECT_TRUE(berth::test::wait_until([&] { return children() <= 1; }, std::chrono::seconds(10))) << children() << " ssh children left";
  server.stop();
  EXPECT_TRUE(berth::test::wait_until([&] { return children() == 0; }, std::chrono::seconds(10))) << children() << " ssh children left";
}

TEST(DockerSsh, RemoteWithoutDockerCliIsNamed) {
  REQUIRE_ENGINE(address);
  Sshd sshd(address, true);
  if (!sshd.skip().empty()) GTEST_SKIP() << sshd.skip();
  ::setenv("PATH", sshd.path().c_str(), 1);
  ServerHome server;
  ASSERT_EQ(add_target(server, "bare", "host: ssh://root@127.0.0.1:" + std::to_string(sshd.port)).exit_code, 0);
  Result refused = server.berth({"create", "w", "--target", "bare"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE((refused.err + refused.out).find("the remote machine has no docker CLI"), std::string::npos) << refused.err << refused.out;
  Result doctor = server.berth({"doctor"});
  EXPECT_NE(doctor.out.find("no docker CLI"), std::string::npos) << doctor.out;
  server.berth({"delete", "--force", "w"});
}

// An engine of the test's own (scripts/docker-engine, busybox image only), stopped at the end.
class OwnEngine {
 public:
  OwnEngine() {
    berth::test::RunOptions options;
    options.env = {{"BERTH_ENGINE_MINIMAL", "1"}};
    Result started = berth::test::run_program({(berth::test::source_dir() / "scripts" / "docker-engine").string(), "start", dir_.path().string()}, options);
    EXPECT_EQ(started.exit_code, 0) << started.err;
    address = trimmed(started.out);
  }
  ~OwnEngine() { stop(); }
  void stop() {
    if (stopped_) return;
    stopped_ = true;
    berth::test::run_program({(berth::test::source_dir() / "scripts" / "docker-engine").string(), "stop", dir_.path().string()});
  }
  std::string address;

 private:
  berth::test::TempDir dir_;
  bool stopped_ = false;
};

// A target with two engines: a create goes to the freer one and is recorded there; with one
// engine stopped, creates go to the other, and doctor names the stopped one.
TEST(DockerPlacement, CreatesGoToTheFreerEngineAndSkipUnreachableOnes) {
  REQUIRE_ENGINE(address);
  OwnEngine first, second;
  ASSERT_EQ(first.address.rfind("unix://", 0), 0u) << first.address;
  ASSERT_EQ(second.address.rfind("unix://", 0), 0u) << second.address;
  // Fill the first: two containers running that berth did not make.
  for (int i = 0; i < 2; ++i) {
    Result ran = berth::test::docker(first.address, {"run", "-d", "--network", "none", kImage, "sleep", "600"});
    ASSERT_EQ(ran.exit_code, 0) << ran.err;
  }
  ServerHome server;
  ASSERT_EQ(add_target(server, "pair", "hosts: " + first.address + ", " + second.address).exit_code, 0);
  Result created = server.berth({"create", "a", "--target", "pair"});
  ASSERT_EQ(created.exit_code, 0) << created.err << created.out;
  Json a = info(server, "a");
  EXPECT_EQ(a["provider_data"].value("docker_host", ""), second.address);
  EXPECT_EQ(engine_state(second.address, a["provider_data"].value("container_id", "")), "running");
  Result shown = server.berth({"info", "a"});
  size_t key = shown.out.find("provider.docker_host:");
  ASSERT_NE(key, std::string::npos) << shown.out;
  EXPECT_EQ(shown.out.substr(key, shown.out.find('\n', key) - key).find(second.address) != std::string::npos, true) << shown.out;
  // Every later operation goes to the engine it was placed on.
  EXPECT_EQ(server.berth({"exec", "a", "--", "true"}).exit_code, 0);
  EXPECT_EQ(server.berth({"stop", "a"}).exit_code, 0);
  EXPECT_EQ(engine_state(second.address, a["provider_data"].value("container_id", "")), "exited");

  second.stop();
  Result placed = server.berth({"create", "b", "--target", "pair"});
  ASSERT_EQ(placed.exit_code, 0) << placed.err << placed.out;
  EXPECT_NE(placed.err.find("engine " + second.address + " skipped"), std::string::npos) << placed.err;
  Json b = info(server, "b");
  EXPECT_EQ(b["provider_data"].value("docker_host", ""), first.address);
  EXPECT_EQ(engine_state(first.address, b["provider_data"].value("container_id", "")), "running");
  Result doctor = server.berth({"doctor"});
  EXPECT_NE(doctor.out.find("[FAIL]"), std::string::npos) << doctor.out;
  EXPECT_NE(doctor.out.find(second.address), std::string::npos) << doctor.out;
  EXPECT_EQ(server.berth({"delete", "b"}).exit_code, 0);
  EXPECT_EQ(engine_state(first.address, b["provider_data"].value("container_id", "")), "missing");
  server.berth({"delete", "--force", "a"});
  first.stop();
  Result none = server.berth({"create", "c", "--target", "pair"});
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_NE((none.err + none.out).find("none of the target's engines answers"), std::string::npos) << none.err << none.out;
}

}  // namespace
