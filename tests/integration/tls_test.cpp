// TLS on berth's own TCP listener: certificates made by the real openssl for each test, a real
// `berth serve --tls-cert ...`, and the real berth CLI as the client (the berth-tls module).
#include "test_support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>
#include <memory>

namespace fs = std::filesystem;
using berth::test::Result;
using berth::test::RunOptions;
using berth::test::ServerHome;

namespace {

// A throw-away PKI in a temp folder: CAs, and certificates they sign.
class Pki {
 public:
  Pki() { make_ca("ca"); }
  fs::path file(const std::string& name) const { return dir_.path() / name; }

  void make_ca(const std::string& name) {
    run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", file(name + ".key"),
         "-out", file(name + ".pem"), "-days", "3", "-subj", "/CN=" + name});
  }
  // name.pem and name.key for the host names and addresses in alt_names (DNS:x,IP:y), signed
  // by ca; days < 0 makes one that has already expired.
  void make_cert(const std::string& name, const std::string& ca, const std::string& alt_names, int days = 2,
                 const std::string& usage = "serverAuth") {
    std::ofstream(file(name + ".ext")) << "subjectAltName=" << alt_names << "\nextendedKeyUsage=" << usage << "\n";
    run({"openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", file(name + ".key"), "-out",
         file(name + ".csr"), "-subj", "/CN=" + name});
    run({"openssl", "x509", "-req", "-in", file(name + ".csr"), "-CA", file(ca + ".pem"), "-CAkey", file(ca + ".key"),
         "-CAcreateserial", "-out", file(name + ".pem"), "-days", std::to_string(days), "-extfile", file(name + ".ext")});
  }
  // The certificate's SHA-256 as openssl prints it, without the "sha256 Fingerprint=" prefix.
  std::string fingerprint(const std::string& name) const {
    std::string out = run({"openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", file(name + ".pem")});
    out = out.substr(out.find('=') + 1);
    return out.substr(0, out.find('\n'));
  }

 private:
  std::string run(std::vector<fs::path> args) const {
    std::vector<std::string> argv(args.begin(), args.end());
    Result result = berth::test::run_program(argv);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return result.out;
  }
  berth::test::TempDir dir_;
};

// A server whose TCP listener runs TLS with the given certificate (and optional client CA),
// with an API key made on its socket.
struct TlsServer {
  TlsServer(const Pki& pki, const std::string& cert, const std::string& client_ca = "") : server(ServerHome::Start::later) {
    port = berth::test::free_tcp_port();
    std::vector<std::string> args{"--listen", "127.0.0.1:" + std::to_string(port), "--tls-cert", pki.file(cert + ".pem").string(),
                                  "--tls-key", pki.file(cert + ".key").string()};
    if (!client_ca.empty()) args.insert(args.end(), {"--tls-client-ca", pki.file(client_ca + ".pem").string()});
    server.set_serve_args(args);
    server.start();
    Result made = server.berth({"apikey", "create", "client", "-q"});
    EXPECT_EQ(made.exit_code, 0) << made.err;
    key = made.out.substr(0, made.out.find('\n'));
  }
  // berth with --server https://HOST:PORT and the key, from a home of its own (a remote client).
  Result remote(const std::string& host, std::vector<std::string> args, const RunOptions& extra = {}) const {
    args.insert(args.begin(), {berth::test::berth_binary().string(), "--home", client_home.path().string(), "--server",
                               "https://" + host + ":" + std::to_string(port), "--api-key", key});
    RunOptions options = extra;
    options.env.insert({{"BERTH_SERVER", ""}, {"BERTH_API_KEY", ""}, {"BERTH_NO_AUTOSTART", "1"}});
    return berth::test::run_program(args, options);
  }
  ServerHome server;
  berth::test::TempDir client_home;
  int port = 0;
  std::string key;
};

TEST(Tls, GoodCertificateCarriesRequestsAndStreams) {
  Pki pki;
  pki.make_cert("server", "ca", "DNS:localhost,IP:127.0.0.1");
  TlsServer tls(pki, "server");
  EXPECT_NE(tls.server.server_log().find("listening on https://127.0.0.1:"), std::string::npos) << tls.server.server_log();
  ASSERT_EQ(tls.server.add_target("name: here\nprovider: host\n").exit_code, 0);
  ASSERT_EQ(tls.server.berth({"create", "w", "--target", "here", "-q"}).exit_code, 0);
  std::string ca = pki.file("ca.pem").string();
  for (const std::string host : {"localhost", "127.0.0.1"}) {
    Result listed = tls.remote(host, {"--tls-ca", ca, "list", "-q"});
    EXPECT_EQ(listed.exit_code, 0) << listed.err;
    EXPECT_EQ(listed.out, "w\n");
  }
  // The stream routes (a session with standard input, half-closed at its end) run over TLS too.
  std::string input(300000, 'x');
  for (size_t i = 0; i < input.size(); i += 7) input[i] = static_cast<char>('a' + i % 26);
  RunOptions with_input;
  with_input.stdin_data = input;
  Result streamed = tls.remote("localhost", {"--tls-ca", ca, "exec", "-i", "w", "--", "sh", "-c", "cat; exit 5"}, with_input);
  EXPECT_EQ(streamed.exit_code, 5) << streamed.err;
  EXPECT_TRUE(streamed.out == input) << "got " << streamed.out.size() << " bytes of " << input.size();
  // Plain HTTP on the TLS port gets an answer that says so.
  Result plain = berth::test::run_program({berth::test::berth_binary().string(), "--server", "http://127.0.0.1:" + std::to_string(tls.port),
                                           "--api-key", tls.key, "list"});
  EXPECT_NE(plain.exit_code, 0);
  EXPECT_NE(plain.err.find("speaks HTTPS only"), std::string::npos) << plain.err;
}

TEST(Tls, CertificateOfAnotherCaIsRefused) {
  Pki pki;
  pki.make_ca("other");
  pki.make_cert("server", "other", "DNS:localhost,IP:127.0.0.1");
  TlsServer tls(pki, "server");
  Result refused = tls.remote("localhost", {"--tls-ca", pki.file("ca.pem").string(), "list"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("certificate is not trusted"), std::string::npos) << refused.err;
  // With no CA given, the system's CAs do not know it either.
  Result system = tls.remote("localhost", {"list"});
  EXPECT_NE(system.err.find("certificate is not trusted"), std::string::npos) << system.err;
  EXPECT_NE(system.err.find(pki.fingerprint("server")), std::string::npos) << system.err;
}

TEST(Tls, ExpiredCertificateIsRefused) {
  Pki pki;
  pki.make_cert("server", "ca", "DNS:localhost,IP:127.0.0.1", -1);
  TlsServer tls(pki, "server");
  Result refused = tls.remote("localhost", {"--tls-ca", pki.file("ca.pem").string(), "list"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("certificate has expired"), std::string::npos) << refused.err;
}

TEST(Tls, CertificateForAnotherHostIsRefused) {
  Pki pki;
  pki.make_cert("server", "ca", "DNS:elsewhere.example");
  TlsServer tls(pki, "server");
  for (const std::string host : {"localhost", "127.0.0.1"}) {
    Result refused = tls.remote(host, {"--tls-ca", pki.file("ca.pem").string(), "list"});
    EXPECT_EQ(refused.exit_code, 1);
    EXPECT_NE(refused.err.find("the certificate is not for '" + host + "'"), std::string::npos) << refused.err;
  }
}

TEST(Tls, ClientCertificateRequiredAndMissing) {
  Pki pki;
  pki.make_cert("server", "ca", "DNS:localhost,IP:127.0.0.1");
  pki.make_ca("clients");
  pki.make_ca("strangers");
  pki.make_cert("me", "clients", "DNS:me", 2, "clientAuth");
  pki.make_cert("stranger", "strangers", "DNS:stranger", 2, "clientAuth");
  TlsServer tls(pki, "server", "clients");
  EXPECT_NE(tls.server.server_log().find("client certificate"), std::string::npos) << tls.server.server_log();
  std::string ca = pki.file("ca.pem").string();
  Result missing = tls.remote("localhost", {"--tls-ca", ca, "list"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.err.find("requires a client certificate"), std::string::npos) << missing.err;
  Result mine = tls.remote("localhost", {"--tls-ca", ca, "--tls-cert", pki.file("me.pem").string(), "--tls-key", pki.file("me.key").string(), "list"});
  EXPECT_EQ(mine.exit_code, 0) << mine.err;
  Result strange = tls.remote("localhost", {"--tls-ca", ca, "--tls-cert", pki.file("stranger.pem").string(), "--tls-key",
                                            pki.file("stranger.key").string(), "list"});
  EXPECT_EQ(strange.exit_code, 1);
  EXPECT_EQ(strange.out, "");
}

// berth profile add pins a certificate no CA vouches for, as ssh does a host key; a server that
// later presents another certificate is refused.
TEST(Tls, ProfilePinsTheCertificateOnFirstUse) {
  Pki pki;
  pki.make_cert("server", "ca", "DNS:localhost,IP:127.0.0.1");
  pki.make_cert("impostor", "ca", "DNS:localhost,IP:127.0.0.1");
  TlsServer tls(pki, "server");
  berth::test::TempDir client;
  RunOptions env;
  env.env = {{"BERTH_HOME", client.path().string()}, {"BERTH_SERVER", ""}, {"BERTH_API_KEY", ""}, {"BERTH_NO_AUTOSTART", "1"}};
  auto berth = [&](std::vector<std::string> args) {
    args.insert(args.begin(), berth::test::berth_binary().string());
    return berth::test::run_program(args, env);
  };
  std::string url = "https://localhost:" + std::to_string(tls.port);
  // Not a terminal, no pin: nothing is saved, and the fingerprint to compare is shown.
  Result unpinned = berth({"profile", "add", "big", "--server", url, "--api-key", tls.key});
  EXPECT_EQ(unpinned.exit_code, 2) << unpinned.err;
  EXPECT_NE(unpinned.err.find(pki.fingerprint("server")), std::string::npos) << unpinned.err;
  EXPECT_EQ(berth({"profile", "list", "-q"}).out.find("big"), std::string::npos);
  Result wrong = berth({"profile", "add", "big", "--server", url, "--api-key", tls.key, "--tls-pin", pki.fingerprint("impostor")});
  EXPECT_EQ(wrong.exit_code, 2);
  EXPECT_NE(wrong.err.find("not the --tls-pin"), std::string::npos) << wrong.err;
  Result pinned = berth({"profile", "add", "big", "--server", url, "--api-key", tls.key, "--tls-pin", pki.fingerprint("server")});
  ASSERT_EQ(pinned.exit_code, 0) << pinned.err;
  EXPECT_NE(pinned.out.find("pinned"), std::string::npos) << pinned.out;
  Result listed = berth({"list"});
  EXPECT_EQ(listed.exit_code, 0) << listed.err;

  // The same address, another certificate (of a CA the client does not know anyway).
  tls.server.stop();
  tls.server.set_serve_args({"--listen", "127.0.0.1:" + std::to_string(tls.port), "--tls-cert", pki.file("impostor.pem").string(),
                             "--tls-key", pki.file("impostor.key").string()});
  tls.server.start();
  Result changed = berth({"list"});
  EXPECT_EQ(changed.exit_code, 1);
  EXPECT_NE(changed.err.find("not the pinned one"), std::string::npos) << changed.err;
}

// Runs berth on a pseudo-terminal (a real one, from Python's pty module) and answers its pin
// question with `answer` once it is asked; what the terminal showed comes back as the output.
Result on_terminal(const std::vector<std::string>& args, const std::string& answer, const RunOptions& env) {
  static const char* driver = R"(import os, pty, select, sys, time
pid, fd = pty.fork()
if pid == 0:
    os.execv(sys.argv[2], sys.argv[2:])
shown, answered, deadline = b'', False, time.time() + 30
while time.time() < deadline:
    ready, _, _ = select.select([fd], [], [], 0.5)
    if not ready:
        continue
    try:
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    shown += data
    if not answered and b'(yes/no)' in shown:
        os.write(fd, sys.argv[1].encode() + b'\n')
        answered = True
_, status = os.waitpid(pid, 0)
sys.stdout.write(shown.decode(errors='replace'))
sys.exit(os.waitstatus_to_exitcode(status))
)";
  std::vector<std::string> argv{"python3", "-c", driver, answer, berth::test::berth_binary().string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return berth::test::run_program(argv, env);
}

// berth profile add on a terminal asks before it pins an unknown certificate: "no" saves
// nothing, "yes" pins it and the profile then works.
TEST(Tls, OnATerminalProfileAddAsksBeforeItPins) {
  Pki pki;
  pki.make_cert("server", "ca", "DNS:localhost,IP:127.0.0.1");
  TlsServer tls(pki, "server");
  berth::test::TempDir client;
  RunOptions env;
  env.env = {{"BERTH_HOME", client.path().string()}, {"BERTH_SERVER", ""}, {"BERTH_API_KEY", ""}, {"BERTH_NO_AUTOSTART", "1"}};
  std::vector<std::string> add{"profile", "add", "big", "--server", "https://localhost:" + std::to_string(tls.port), "--api-key", tls.key};
  Result declined = on_terminal(add, "no", env);
  EXPECT_EQ(declined.exit_code, 2) << declined.out;
  EXPECT_NE(declined.out.find(pki.fingerprint("server")), std::string::npos) << declined.out;
  EXPECT_NE(declined.out.find("not pinned: nothing was saved"), std::string::npos) << declined.out;
  Result none = berth::test::run_program({berth::test::berth_binary().string(), "profile", "list", "-q"}, env);
  EXPECT_EQ(none.out.find("big"), std::string::npos) << none.out;

  Result accepted = on_terminal(add, "yes", env);
  ASSERT_EQ(accepted.exit_code, 0) << accepted.out;
  EXPECT_NE(accepted.out.find("pinned"), std::string::npos) << accepted.out;
  Result listed = berth::test::run_program({berth::test::berth_binary().string(), "list"}, env);
  EXPECT_EQ(listed.exit_code, 0) << listed.err;
}

// berth server start (the daemon the CLI starts) takes the same TLS flags as berth serve.
TEST(Tls, ServerStartTakesTheTlsFlags) {
  Pki pki;
  pki.make_cert("server", "ca", "DNS:localhost,IP:127.0.0.1");
  ServerHome home(ServerHome::Start::later);
  int port = berth::test::free_tcp_port();
  RunOptions env;
  env.env = {{"BERTH_HOME", home.home().string()}, {"BERTH_SERVER", ""}, {"BERTH_API_KEY", ""}};
  auto berth = [&](std::vector<std::string> args) {
    args.insert(args.begin(), berth::test::berth_binary().string());
    return berth::test::run_program(args, env);
  };
  Result started = berth({"server", "start", "--listen", "127.0.0.1:" + std::to_string(port), "--tls-cert", pki.file("server.pem").string(),
                          "--tls-key", pki.file("server.key").string()});
  // The daemon is not this test's child: stopped however the test ends.
  std::shared_ptr<void> stop_at_end(nullptr, [&](void*) { berth({"server", "stop"}); });
  ASSERT_EQ(started.exit_code, 0) << started.err;
  Result key = berth({"apikey", "create", "client", "-q"});
  ASSERT_EQ(key.exit_code, 0) << key.err;
  berth::test::TempDir client;
  Result listed = berth::test::run_program({berth::test::berth_binary().string(), "--home", client.path().string(), "--server",
                                            "https://localhost:" + std::to_string(port), "--api-key", key.out.substr(0, key.out.find('\n')),
                                            "--tls-ca", pki.file("ca.pem").string(), "list", "-o", "json"});
  EXPECT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_EQ(listed.out.substr(0, 1), "[") << listed.out;
  Result plain = berth::test::run_program({berth::test::berth_binary().string(), "--home", client.path().string(), "--server",
                                           "http://127.0.0.1:" + std::to_string(port), "--api-key", "x", "list"});
  EXPECT_NE(plain.err.find("speaks HTTPS only"), std::string::npos) << plain.err;
}

TEST(Tls, PlainHttpBeyondLoopbackNeedsInsecure) {
  ServerHome refused(ServerHome::Start::later);
  int port = berth::test::free_tcp_port();
  Result result = berth::test::run_program({berth::test::berth_binary().string(), "--home", refused.home().string(), "serve", "--listen",
                                            "0.0.0.0:" + std::to_string(port)});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("clear text"), std::string::npos) << result.err;
  EXPECT_NE(result.err.find("--tls-cert"), std::string::npos) << result.err;

  ServerHome insecure(ServerHome::Start::later);
  insecure.set_serve_args({"--listen", "0.0.0.0:" + std::to_string(port), "--insecure"});
  insecure.start();
  EXPECT_NE(insecure.server_log().find("warning: --insecure"), std::string::npos) << insecure.server_log();

  Result half = berth::test::run_program({berth::test::berth_binary().string(), "--home", refused.home().string(), "serve", "--listen",
                                          "127.0.0.1:" + std::to_string(port), "--tls-cert", "/nonexistent.pem"});
  EXPECT_EQ(half.exit_code, 2);
  EXPECT_NE(half.err.find("--tls-cert and --tls-key go together"), std::string::npos) << half.err;
}

}  // namespace

namespace {

// curl against the TLS listener with the test CA; the status line and headers, then the body.
Result curl(const Pki& pki, const std::vector<std::string>& args) {
  std::vector<std::string> argv{"curl", "-s", "-i", "--cacert", pki.file("ca.pem").string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return berth::test::run_program(argv);
}

int status_of(const Result& answer) { return answer.out.size() > 12 ? std::stoi(answer.out.substr(9, 3)) : 0; }

}  // namespace

// Issue 24: with --listen and TLS, the dashboard is served there too, behind the same keys: a key
// holder mints a one-time link with `berth dashboard`, the cookie it signs in is that key's
// (revoking the key ends it), and changes need the CSRF header and the listener's own Origin.
TEST(Tls, TheDashboardIsServedOnTheTlsListenerBehindTheSameKeys) {
  Pki pki;
  pki.make_cert("server", "ca", "DNS:localhost,IP:127.0.0.1");
  TlsServer tls(pki, "server");
  ASSERT_EQ(tls.server.berth({"create", "w", "-q"}).exit_code, 0);
  std::string origin = "https://localhost:" + std::to_string(tls.port);

  Result printed = tls.remote("localhost", {"--tls-ca", pki.file("ca.pem").string(), "dashboard", "--print"});
  ASSERT_EQ(printed.exit_code, 0) << printed.err;
  ASSERT_EQ(printed.out.rfind(origin + "/?token=", 0), 0u) << printed.out;
  std::string link = printed.out.substr(0, printed.out.find('\n'));

  EXPECT_EQ(status_of(curl(pki, {origin + "/v1/workspaces"})), 401) << "no key, no cookie";
  Result page = curl(pki, {origin + "/"});
  EXPECT_EQ(status_of(page), 200) << "the pages themselves are public";
  EXPECT_NE(page.out.find("Content-Security-Policy: default-src 'self'"), std::string::npos) << page.out.substr(0, 600);

  Result signed_in = curl(pki, {link});
  ASSERT_EQ(status_of(signed_in), 303) << signed_in.out;
  size_t at = signed_in.out.find("berth_dashboard=");
  ASSERT_NE(at, std::string::npos) << signed_in.out;
  std::string cookie = signed_in.out.substr(at, signed_in.out.find(';', at) - at);
  std::string set_cookie = signed_in.out.substr(at, signed_in.out.find('\n', at) - at);
  EXPECT_NE(set_cookie.find("Secure"), std::string::npos) << set_cookie;
  EXPECT_NE(set_cookie.find("HttpOnly"), std::string::npos) << set_cookie;
  EXPECT_EQ(status_of(curl(pki, {link})), 401) << "a spent link";

  Result listed = curl(pki, {"-H", "Cookie: " + cookie, origin + "/v1/workspaces"});
  EXPECT_EQ(status_of(listed), 200) << listed.out.substr(0, 300);
  EXPECT_NE(listed.out.find("\"name\":\"w\""), std::string::npos);
  Result session = curl(pki, {"-H", "Cookie: " + cookie, origin + "/v1/dashboard/session"});
  std::string body = session.out.substr(session.out.find("\r\n\r\n") + 4);
  std::string csrf = nlohmann::json::parse(body).value("csrf", "");
  EXPECT_EQ(nlohmann::json::parse(body).value("key", ""), "client");
  EXPECT_EQ(nlohmann::json::parse(body).value("admin", true), false) << "the key's scope, not more";

  EXPECT_EQ(status_of(curl(pki, {"-X", "POST", "-H", "Cookie: " + cookie, origin + "/v1/workspaces/w/stop"})), 403) << "no CSRF header";
  EXPECT_EQ(status_of(curl(pki, {"-X", "POST", "-H", "Cookie: " + cookie, "-H", "X-Berth-CSRF: " + csrf, "-H", "Origin: https://evil.example",
                                 origin + "/v1/workspaces/w/stop"})),
            403)
      << "another origin";
  EXPECT_EQ(status_of(curl(pki, {"-X", "POST", "-H", "Cookie: " + cookie, "-H", "X-Berth-CSRF: " + csrf, "-H", "Origin: " + origin,
                                 origin + "/v1/apikeys", "-d", R"({"name":"spare"})"})),
            403)
      << "an ordinary key's session cannot mint keys";
  EXPECT_EQ(status_of(curl(pki, {"-X", "POST", "-H", "Cookie: " + cookie, "-H", "X-Berth-CSRF: " + csrf, "-H", "Origin: " + origin,
                                 origin + "/v1/workspaces/w/stop", "-d", ""})),
            202);

  // A WebSocket terminal from another origin is refused before the upgrade.
  Result foreign = curl(pki, {"-H", "Cookie: " + cookie, "-H", "Origin: https://evil.example", "-H", "Connection: Upgrade", "-H",
                              "Upgrade: websocket", "-H", "Sec-WebSocket-Version: 13", "-H", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                              origin + "/v1/workspaces/w/terminal"});
  EXPECT_EQ(status_of(foreign), 403) << foreign.out.substr(0, 300);

  ASSERT_EQ(tls.server.berth({"apikey", "revoke", "client"}).exit_code, 0);
  EXPECT_EQ(status_of(curl(pki, {"-H", "Cookie: " + cookie, origin + "/v1/workspaces"})), 401) << "the key is revoked: so is its session";
}
