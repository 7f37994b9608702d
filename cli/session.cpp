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
  if (address.empty()) {
    // The active profile, if any, names a server elsewhere (berth profile use NAME).
    Json config = read_profiles(*this);
    std::string active = config.value("active", "");
    if (!active.empty() && config["profiles"].contains(active)) {
      address = config["profiles"][active].value("server", "");
      if (key.empty()) key = config["profiles"][active].value("api_key", "");
      from_profile = !address.empty();
    }
  }
  if (address.empty()) address = "unix://" + home.socket_path().string();
  remote_ = !local_server() || from_profile;
  client_ = std::make_unique<ApiClient>(Endpoint{address, key});
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
    int pid = start_daemon(home, std::chrono::seconds(15));
    if (!quiet) {
      std::cerr << "berth: started a local server (pid " << pid << ", log " << home.server_log_path().string() << ")" << std::endl;
    }
  });
  return *client_;
}

}  // namespace berth::cli
