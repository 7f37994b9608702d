#pragma once
// berth dashboard: the web UI, served by the server itself on a TCP listener of its own, bound
// to 127.0.0.1 and started on demand (POST /v1/dashboard on the Unix socket).
// Who may use it: whoever holds a one-time token the socket handed out. The first visit trades
// it for an HttpOnly, SameSite=Strict cookie (the token is then spent), and every request after
// must carry that cookie, name this listener in its Host (DNS rebinding), send the session's
// CSRF header when it changes anything (and an Origin, if any, of this listener), and every
// WebSocket handshake must come from this listener's Origin. Pages carry a strict CSP.
// docs/dashboard.md says why each check is there.
#include "api_keys.hpp"
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

class PluginAccess;

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

  // The dashboard on the TCP listener too, when it has TLS and API keys (berth serve --listen
  // with --tls-cert): a client with a key mints a one-time link there (POST /v1/dashboard), and
  // the cookie it signs in is that key's, for as long as the key lives. The TLS certificate names
  // the listener, so Host is not checked there; the CSRF header and Origin are.
  void serve_remote(httplib::Server& tcp, const ApiKeyStore& keys);
  // What the TCP listener's key check makes of a request without a key.
  enum class Remote { none, answered, public_file, use, admin };
  Remote check_remote(const httplib::Request& request, httplib::Response& response);
  // For a WebSocket on the TCP listener without a key: the cookie and Origin (throws Error).
  void check_remote_browser(const std::map<std::string, std::string>& headers);

  // Where plugins' pages come from (/plugins/NAME/ui/...): each served at an opaque origin of its
  // own in a sandboxed frame, reaching berth only through the page's bridge (docs/plugins.md).
  void set_plugins(PluginAccess* plugins) { plugins_ = plugins; }

  static constexpr const char* kCookie = "berth_dashboard";
  static constexpr const char* kCsrfHeader = "X-Berth-CSRF";
  static constexpr std::chrono::minutes kTokenLifetime{10};

 private:
  struct Session {
    std::string csrf;
    std::string key;  // on the TCP listener: the API key's name it signed in with
  };
  struct Token {
    std::chrono::steady_clock::time_point expires;
    std::string key;
  };
  std::string mint(const std::string& key);  // with mutex_ held
  bool redeem(const httplib::Request& request, httplib::Response& response, bool secure);  // with mutex_ held
  void add_routes(httplib::Server& http);
  void add_page_routes(httplib::Server& http, bool secure);  // the pages, xterm.js, plugins' pages and the session's facts
  void send_plugin_file(const httplib::Request& request, httplib::Response& response, const std::string& plugin, const std::string& relative,
                        bool secure);
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
  std::map<std::string, Token> tokens_;  // unspent, until they expire
  const ApiKeyStore* keys_ = nullptr;    // serve_remote's
  PluginAccess* plugins_ = nullptr;
  std::map<std::string, Session> sessions_;                              // by cookie
  std::unique_ptr<StreamRoutes> streams_;
  std::unique_ptr<GuardedServer> http_;
  std::thread thread_;
};

}  // namespace berth
