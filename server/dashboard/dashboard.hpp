#pragma once
// berth dashboard: the web UI, served by the server itself on a TCP listener of its own, bound
// to 127.0.0.1 and started on demand (POST /v1/dashboard on the Unix socket).
// Who may use it: whoever holds a one-time token the socket handed out. The first visit trades
// it for an HttpOnly, SameSite=Strict cookie (the token is then spent), and every request after
// must carry that cookie, name this listener in its Host (DNS rebinding), send the session's
// CSRF header when it changes anything (and an Origin, if any, of this listener), and every
// WebSocket handshake must come from this listener's Origin. Pages carry a strict CSP.
// docs/dashboard.md says why each check is there.
#include "stream_routes.hpp"
#include "terminal_hub.hpp"

#include <chrono>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

namespace httplib {
class Server;
}

namespace berth {

class GuardedServer;

struct DashboardFiles {
  std::filesystem::path ui;     // <prefix>/share/berth/dashboard: index.html and the modules
  std::filesystem::path xterm;  // <prefix>/share/berth/xterm: Debian's xterm.js, bundled for the browser
};

class Dashboard {
 public:
  // configure: registers the API on a listener as on the server's others (workers, routes).
  using Configure = std::function<void(httplib::Server&)>;
  Dashboard(DashboardFiles files, Configure configure, WorkspaceService& service, TerminalHub& terminals,
            std::function<void(const std::string&)> log);
  ~Dashboard();

  struct Opened {
    std::string url;  // with a fresh one-time token
    int port = 0;
  };
  // Starts the listener unless it runs (on port; 0: any free one) and mints a token.
  Opened open(int port);
  void stop();
  int port() const;

  static constexpr const char* kCookie = "berth_dashboard";
  static constexpr const char* kCsrfHeader = "X-Berth-CSRF";
  static constexpr std::chrono::minutes kTokenLifetime{10};

 private:
  struct Session {
    std::string csrf;
  };
  void add_routes(httplib::Server& http);
  // The checks every request passes; "" or why not. For a WebSocket handshake too.
  bool host_is_ours(const std::string& host) const;
  std::string origin() const;
  const Session* session_of(const std::string& cookie_header) const;  // with mutex_ held
  void check_browser(const std::map<std::string, std::string>& headers);  // for stream routes; throws Error

  DashboardFiles files_;
  Configure configure_;
  WorkspaceService& service_;
  TerminalHub& terminals_;
  std::function<void(const std::string&)> log_;
  mutable std::mutex mutex_;
  int port_ = 0;
  std::map<std::string, std::chrono::steady_clock::time_point> tokens_;  // unspent, until they expire
  std::map<std::string, Session> sessions_;                              // by cookie
  std::unique_ptr<StreamRoutes> streams_;
  std::unique_ptr<GuardedServer> http_;
  std::thread thread_;
};

}  // namespace berth
