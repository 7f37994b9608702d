#include "session.hpp"

#include "codec.hpp"
#include "commands.hpp"
#include "daemon.hpp"
#include "errors.hpp"
#include "version.hpp"

#include <unistd.h>

#include <cstdlib>
#include <iostream>

namespace berth::cli {

OutputFormat Session::format() const {
  if (options.output == "json") return OutputFormat::json;
  if (options.output == "yaml") return OutputFormat::yaml;
  return OutputFormat::table;
}

bool Session::local_server() const {
  if (client_) return !remote_;
  const char* env = std::getenv("BERTH_SERVER");
  return options.server.empty() && (env == nullptr || *env == '\0');
}

TlsClientOptions profile_tls(const Json& profile) {
  TlsClientOptions tls;
  tls.ca_file = profile.value("tls_ca", "");
  tls.cert_file = profile.value("tls_cert", "");
  tls.key_file = profile.value("tls_key", "");
  tls.pin_sha256 = profile.value("tls_pin", "");
  return tls;
}

bool Session::stdout_is_terminal() const { return ::isatty(1) == 1; }

bool Session::colour() const {
  const char* no_colour = std::getenv("NO_COLOR");
  return stdout_is_terminal() && (no_colour == nullptr || *no_colour == '\0');
}

ApiClient& Session::api() {
  if (client_) return *client_;
  std::string address = options.server;
  if (address.empty()) {
    const char* env = std::getenv("BERTH_SERVER");
    if (env && *env) address = env;
  }
  std::string key = options.api_key;
  if (key.empty()) {
    const char* env = std::getenv("BERTH_API_KEY");
    if (env) key = env;
  }
  Home home = this->home();
  bool from_profile = false;
  TlsClientOptions tls;
  if (address.empty()) {
    // The active profile, if any, names a server elsewhere (berth profile use NAME).
    Json config = read_profiles(*this);
    std::string active = config.value("active", "");
    if (!active.empty() && config["profiles"].contains(active)) {
      const Json& profile = config["profiles"][active];
      address = profile.value("server", "");
      if (key.empty()) key = profile.value("api_key", "");
      tls = profile_tls(profile);
      from_profile = !address.empty();
    }
  }
  // The command line (or environment) wins over the profile, item by item.
  auto given = [](const std::string& option, const char* env) -> std::string {
    if (!option.empty()) return option;
    const char* value = std::getenv(env);
    return value ? value : "";
  };
  if (auto ca = given(options.tls_ca, "BERTH_TLS_CA"); !ca.empty()) tls.ca_file = ca, tls.pin_sha256.clear();
  if (auto cert = given(options.tls_cert, "BERTH_TLS_CERT"); !cert.empty()) tls.cert_file = cert;
  if (auto tls_key = given(options.tls_key, "BERTH_TLS_KEY"); !tls_key.empty()) tls.key_file = tls_key;
  if (address.empty()) address = "unix://" + home.socket_path().string();
  remote_ = !local_server() || from_profile;
  client_ = std::make_unique<ApiClient>(Endpoint{address, key, tls});
  if (options.verbose) client_->set_trace(&std::cerr);
  client_->on_version_mismatch([address, quiet = options.quiet](const std::string& server) {
    if (quiet) return;
    std::cerr << "berth: warning: this berth is " << BERTH_VERSION << " but the server at " << address << " is " << server
              << "; use the same version on both (a local server: berth server stop, and the next command starts this one)"
              << std::endl;
  });
  if (remote_) return *client_;

  const char* no_autostart_env = std::getenv("BERTH_NO_AUTOSTART");
  bool autostart = !options.no_autostart && !(no_autostart_env && std::string(no_autostart_env) == "1");
  // No health check up front: the first request that finds nobody listening starts the server
  // (or says why it will not), so a running server costs no extra round trip.
  client_->on_absent_server([home, autostart, quiet = options.quiet] {
    if (!autostart) {
      throw unavailable("no berth server is running for " + home.data_dir.string() +
                        " (start one with 'berth server start', or drop --no-autostart)");
    }
    int pid = start_daemon(home, std::chrono::seconds(60));
    if (!quiet) {
      std::cerr << "berth: started a local server (pid " << pid << ", log " << home.server_log_path().string() << ")" << std::endl;
    }
  });
  return *client_;
}

}  // namespace berth::cli
