#pragma once
// Plugins' backend services (the manifest's `service:`): each started by the server on its first
// use, listening on a Unix socket the server names (BERTH_PLUGIN_SOCKET), acting on berth with
// the plugin's own credential (BERTH_PLUGIN_TOKEN, BERTH_SERVER), its output in the plugin's log.
// Supervised like provider hosts: a crash is named by its exit status, the next start waits a
// back-off, and three crashes in a minute quarantine it until the plugin is enabled again.
// Every thread here has an owner: a service's reader thread is joined before a restart and at
// stop_all().
#include "http_client.hpp"
#include "plugin_access.hpp"

#include <nlohmann/json.hpp>

#include <chrono>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace berth {

class PluginServices {
 public:
  // sockets: a private folder for the services' sockets; server_address: unix://… of this server.
  PluginServices(PluginAccess& access, std::filesystem::path sockets, std::string server_address);
  ~PluginServices();
  PluginServices(const PluginServices&) = delete;
  PluginServices& operator=(const PluginServices&) = delete;

  // The service's answer to method target (path and query, as the service sees it), starting the
  // service first when it does not run. Throws unavailable when it cannot (quarantined, waiting
  // out its back-off, ended before it listened) or no_service when the plugin has none.
  HttpResponse forward(const PluginEntry& plugin, const std::string& method, const std::string& target, const std::string& body,
                       const std::string& content_type);
  // {state: stopped|running|crashed|quarantined, pid, crashes (in the last minute), last_exit}.
  nlohmann::json state_json(const std::string& plugin);
  // Enabling a plugin again lifts its service's quarantine.
  void reset(const std::string& plugin);
  void stop_all();

  static constexpr int kQuarantineCrashes = 3;
  static constexpr std::chrono::seconds kCrashWindow{60};
  static constexpr std::chrono::seconds kStartDeadline{10};

 private:
  struct Service {
    pid_t pid = -1;
    std::string state = "stopped";
    std::deque<std::chrono::steady_clock::time_point> crashes;
    std::string last_exit;
    std::chrono::steady_clock::time_point next_start{};
    bool stopping = false;
    std::string token;   // this run's credential, revoked when it ends
    std::thread reader;  // reads the service's output into the plugin's log, then reaps it
  };
  void start(const PluginEntry& plugin, Service& service);  // with mutex_ held
  void watch(std::string plugin, std::shared_ptr<Service> service, int output, pid_t pid);
  std::filesystem::path socket_of(const std::string& plugin) const { return sockets_ / (plugin + ".sock"); }

  PluginAccess& access_;
  std::filesystem::path sockets_;
  std::string server_address_;
  std::mutex mutex_;
  std::map<std::string, std::shared_ptr<Service>> services_;
};

}  // namespace berth
