#include "dashboard.hpp"

#include "plugin_access.hpp"

#include "atomic_file.hpp"
#include "errors.hpp"
#include "guarded_server.hpp"
#include "version.hpp"

#include <httplib.h>

#include <sys/stat.h>

namespace fs = std::filesystem;

namespace berth {
namespace {

using Clock = std::chrono::steady_clock;

// No inline script or style, nothing from another origin, no framing by anyone.
constexpr const char* kContentSecurityPolicy =
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

void send_error(httplib::Response& response, int status, const std::string& code, const std::string& message) {
  GuardedServer::close_after_answer();
  response.status = status;
  response.set_content(Json{{"error", {{"code", code}, {"message", message}}}}.dump(-1, ' ', false, Json::error_handler_t::replace),
                       "application/json");
}

std::string content_type_of(const fs::path& path) {
  static const std::map<std::string, std::string> types{
      {".html", "text/html; charset=utf-8"}, {".js", "text/javascript; charset=utf-8"}, {".mjs", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},   {".svg", "image/svg+xml"},                 {".png", "image/png"},
      {".json", "application/json"},         {".ico", "image/x-icon"},                  {".woff2", "font/woff2"},
      {".txt", "text/plain; charset=utf-8"}};
  auto it = types.find(path.extension().string());
  return it == types.end() ? "application/octet-stream" : it->second;
}

// A file under root named by a request path: plain names only, no "..", no hidden files.
void send_file(httplib::Response& response, const fs::path& root, const std::string& relative) {
  bool plain = !relative.empty() && relative.size() < 200 && relative.find("..") == std::string::npos && relative.front() != '/' &&
               relative.find("/.") == std::string::npos && relative.front() != '.';
  std::optional<std::string> text = plain ? read_file(root / relative) : std::nullopt;
  if (!text) {
    send_error(response, 404, "not_found", "no such file in the dashboard: " + relative.substr(0, 100));
    return;
  }
  response.status = 200;
  response.set_header("Cache-Control", "no-cache");
  // Sent as it is: through set_content cpp-httplib would compress it for a browser with brotli's
  // slowest setting (450 ms and megabytes of heap for xterm.js, 10 ms for a 5 KB module), to
  // save bytes that never leave this machine.
  auto body = std::make_shared<const std::string>(std::move(*text));
  response.set_content_provider(body->size(), content_type_of(relative), [body](size_t offset, size_t length, httplib::DataSink& sink) {
    return sink.write(body->data() + offset, length);
  });
}

void add_page_headers(httplib::Response& response) {
  response.set_header("Content-Security-Policy", kContentSecurityPolicy);
  response.set_header("X-Content-Type-Options", "nosniff");
  response.set_header("X-Frame-Options", "DENY");
  response.set_header("Referrer-Policy", "no-referrer");
  response.set_header("Cross-Origin-Opener-Policy", "same-origin");
  response.set_header("Cross-Origin-Resource-Policy", "same-origin");
}

bool is_page_file(const std::string& path) { return path == "/" || path.rfind("/ui/", 0) == 0 || path.rfind("/vendor/xterm/", 0) == 0; }

// A plugin's pages and berth's bridge script for them: loaded by a sandboxed frame, whose opaque
// origin sends no cookie, so they are served to anyone who may reach the listener (they hold no
// secret; every call they make goes through the dashboard page, with the plugin's credential).
bool is_plugin_page_file(const std::string& path) { return path == "/plugin-bridge.js" || path.rfind("/plugins/", 0) == 0; }

// The headers of a file a plugin's frame loads: a CSP that keeps the frame sandboxed even when
// opened directly, lets it load only its own plugin's files and the bridge, and connect nowhere.
void add_plugin_frame_headers(httplib::Response& response, const std::string& origin, const std::string& plugin) {
  for (const char* name : {"Content-Security-Policy", "X-Frame-Options", "Cross-Origin-Resource-Policy", "Cross-Origin-Opener-Policy"}) {
    response.headers.erase(name);
  }
  std::string own = origin + "/plugins/" + plugin + "/ui/";
  response.set_header("Content-Security-Policy", "sandbox allow-scripts; default-src 'none'; script-src " + own + " " + origin +
                                                     "/plugin-bridge.js; style-src " + own + " 'unsafe-inline'; img-src " + own +
                                                     " data:; font-src " + own + "; connect-src 'none'; form-action 'none'; base-uri 'none'; "
                                                     "frame-ancestors " + origin);
  // Loaded from an opaque origin: a same-origin resource policy would block it.
  response.set_header("Cross-Origin-Resource-Policy", "cross-origin");
  response.set_header("Access-Control-Allow-Origin", "*");
}

// relative, walked from root without following a symbolic link or leaving root.
std::optional<std::string> read_inside(const fs::path& root, const std::string& relative) {
  if (relative.empty() || relative.size() > 200 || relative.front() == '/' || relative.front() == '.' || relative.find("/.") != std::string::npos ||
      relative.find("..") != std::string::npos) {
    return std::nullopt;
  }
  fs::path walked = root;
  for (const auto& part : fs::path(relative)) {
    walked /= part;
    struct stat info {};
    if (::lstat(walked.c_str(), &info) != 0 || S_ISLNK(info.st_mode)) return std::nullopt;
  }
  return read_file(walked);
}

std::string cookie_value(const std::string& header, const std::string& name) {
  size_t at = 0;
  while (at < header.size()) {
    size_t end = header.find(';', at);
    if (end == std::string::npos) end = header.size();
    std::string_view pair(header.data() + at, end - at);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    if (pair.size() > name.size() && pair.compare(0, name.size(), name) == 0 && pair[name.size()] == '=') {
      return std::string(pair.substr(name.size() + 1));
    }
    at = end + 1;
  }
  return "";
}

constexpr const char* kSignInPage =
    "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>berth dashboard</title></head><body>"
    "<h1>berth dashboard</h1><p>This browser is not signed in, or its sign-in link was used already.</p>"
    "<p>Run <code>berth dashboard</code> on this machine for a new link.</p></body></html>";

}  // namespace

Dashboard::Dashboard(DashboardFiles files, Configure configure, WorkspaceService& service, TerminalHub& terminals,
                     std::function<void(const std::string&)> log)
    : files_(std::move(files)), configure_(std::move(configure)), service_(service), terminals_(terminals), log_(std::move(log)) {}

Dashboard::~Dashboard() { stop(); }

int Dashboard::port() const {
  std::lock_guard lock(mutex_);
  return port_;
}

std::string Dashboard::origin() const { return "http://127.0.0.1:" + std::to_string(port_); }

bool Dashboard::host_is_ours(const std::string& host) const {
  std::string port = std::to_string(port_);
  return host == "127.0.0.1:" + port || host == "localhost:" + port;
}

const Dashboard::Session* Dashboard::session_of(const std::string& cookie_header) const {
  std::string value = cookie_value(cookie_header, kCookie);
  auto it = value.empty() ? sessions_.end() : sessions_.find(value);
  return it == sessions_.end() ? nullptr : &it->second;
}

void Dashboard::check_browser(const std::map<std::string, std::string>& headers) {
  auto header = [&](const char* name) {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  };
  std::lock_guard lock(mutex_);
  if (!host_is_ours(header("host"))) throw Error("forbidden", "the dashboard answers only as 127.0.0.1:" + std::to_string(port_) + " or localhost:" + std::to_string(port_));
  std::string origin = header("origin");
  std::string port = std::to_string(port_);
  if (origin != "http://127.0.0.1:" + port && origin != "http://localhost:" + port) {
    throw Error("forbidden", "a terminal opens only from the dashboard's own pages (Origin '" + origin.substr(0, 100) + "' is not)");
  }
  const Session* session = session_of(header("cookie"));
  if (!session || !session->key.empty()) throw Error("unauthorized", "not signed in to the dashboard: run 'berth dashboard' for a link");
}

Dashboard::Opened Dashboard::open(int port) {
  std::unique_lock lock(mutex_);
  if (!http_) {
    streams_ = std::make_unique<StreamRoutes>(service_, nullptr, &terminals_, [this](const auto& headers) { check_browser(headers); });
    auto http = std::make_unique<GuardedServer>(false, std::chrono::seconds(5), 0, streams_.get());
    configure_(*http);
    // A terminal's keystrokes are tiny frames: none may wait for a delayed ACK.
    http->set_tcp_nodelay(true);
    add_routes(*http);
    int bound = port == 0 ? http->bind_any_with_full_backlog("127.0.0.1") : (http->bind_with_full_backlog("127.0.0.1", port) ? port : -1);
    if (bound <= 0) throw Error("conflict", "the dashboard cannot listen on 127.0.0.1:" + std::to_string(port) + ": the port is in use");
    port_ = bound;
    http_ = std::move(http);
    thread_ = std::thread([server = http_.get()] { server->listen_after_bind(); });
    log_("dashboard on " + origin() + " (127.0.0.1 only; sign in with a link from 'berth dashboard')");
  } else if (port != 0 && port != port_) {
    throw Error("conflict", "the dashboard listens on 127.0.0.1:" + std::to_string(port_) + " already; it moves to another port when the server restarts");
  }
  return Opened{origin() + "/?token=" + mint(""), port_};
}

std::string Dashboard::mint(const std::string& key) {
  // Tokens that expired unused go.
  auto now = Clock::now();
  for (auto it = tokens_.begin(); it != tokens_.end();) it = it->second.expires < now ? tokens_.erase(it) : std::next(it);
  std::string token = random_hex(24);
  tokens_[token] = Token{now + kTokenLifetime, key};
  return token;
}

// GET /?token=T: the token for a session cookie, once. Answers the request either way.
bool Dashboard::redeem(const httplib::Request& request, httplib::Response& response, bool secure) {
  auto it = tokens_.find(request.get_param_value("token"));
  if (it == tokens_.end() || it->second.expires < Clock::now()) {
    GuardedServer::close_after_answer();
    response.status = 401;
    response.set_content(kSignInPage, "text/html; charset=utf-8");
    return false;
  }
  std::string key = it->second.key;
  tokens_.erase(it);  // spent
  std::string cookie = random_hex(32);
  sessions_[cookie] = Session{random_hex(24), key};
  response.status = 303;
  response.set_header("Location", "/");  // the token leaves the address bar and the history
  response.set_header("Set-Cookie", std::string(kCookie) + "=" + cookie + "; HttpOnly; SameSite=Strict; Path=/" + (secure ? "; Secure" : ""));
  response.set_header("Cache-Control", "no-store");
  return true;
}

void Dashboard::stop() {
  std::unique_ptr<GuardedServer> http;
  {
    std::lock_guard lock(mutex_);
    http = std::move(http_);
  }
  if (http) http->stop();
  if (thread_.joinable()) thread_.join();
}

void Dashboard::add_routes(httplib::Server& http) {
  http.set_pre_routing_handler([this](const httplib::Request& request, httplib::Response& response) {
    add_page_headers(response);
    std::lock_guard lock(mutex_);
    // DNS rebinding: a name that resolves to 127.0.0.1 is still another site's.
    std::string host = request.get_header_value("Host");
    if (!host_is_ours(host)) {
      send_error(response, 403, "forbidden",
                 "the dashboard answers only as 127.0.0.1:" + std::to_string(port_) + " or localhost:" + std::to_string(port_) + ", not as '" +
                     host.substr(0, 100) + "'");
      return httplib::Server::HandlerResponse::Handled;
    }
    if (request.path == "/" && request.has_param("token")) {
      redeem(request, response, false);
      return httplib::Server::HandlerResponse::Handled;
    }
    if (is_plugin_page_file(request.path) && request.method == "GET") return httplib::Server::HandlerResponse::Unhandled;
    const Session* session = session_of(request.get_header_value("Cookie"));
    if (session && !session->key.empty()) session = nullptr;  // the TCP listener's, not this one's
    if (!session) {
      if (request.path == "/" || request.path.rfind("/v1/", 0) != 0) {
        GuardedServer::close_after_answer();
        response.status = 401;
        response.set_content(kSignInPage, "text/html; charset=utf-8");
      } else {
        send_error(response, 401, "unauthorized", "not signed in to the dashboard: run 'berth dashboard' on this machine for a link");
      }
      return httplib::Server::HandlerResponse::Handled;
    }
    if (request.method != "GET" && request.method != "HEAD") {
      // A page on another port of 127.0.0.1 is the same site (the cookie goes along), but it
      // can neither read the session's CSRF value nor send the header without a preflight
      // this server never grants.
      std::string origin = request.get_header_value("Origin");
      if (request.get_header_value(kCsrfHeader) != session->csrf || (!origin.empty() && origin != this->origin() && origin != "http://localhost:" + std::to_string(port_))) {
        send_error(response, 403, "forbidden",
                   std::string("a change through the dashboard needs its ") + kCsrfHeader + " header and its own Origin (reload the dashboard)");
        return httplib::Server::HandlerResponse::Handled;
      }
    }
    if (request.path.rfind("/v1/", 0) == 0) response.set_header("Cache-Control", "no-store");
    return httplib::Server::HandlerResponse::Unhandled;
  });

  add_page_routes(http, false);
}

void Dashboard::send_plugin_file(const httplib::Request& request, httplib::Response& response, const std::string& plugin,
                                 const std::string& relative, bool secure) {
  std::string origin = std::string(secure ? "https://" : "http://") + request.get_header_value("Host");
  add_plugin_frame_headers(response, origin, plugin);
  std::optional<std::string> text;
  if (plugins_ && plugin != "-") {
    PluginEntry entry = plugins_->entry(plugin);
    if (entry.state == PluginState::enabled && entry.extensions.has_ui()) text = read_inside(entry.extensions.folder / entry.extensions.ui_root, relative);
  } else if (plugin == "-") {
    text = read_file(files_.ui / "plugin-bridge.js");
  }
  if (!text) {
    send_error(response, 404, "not_found", "no such file of plugin '" + plugin.substr(0, 60) + "': " + relative.substr(0, 100));
    return;
  }
  response.status = 200;
  response.set_header("Cache-Control", "no-cache");
  response.set_content(std::move(*text), content_type_of(relative));
}

void Dashboard::add_page_routes(httplib::Server& http, bool secure) {
  http.Get("/plugin-bridge.js", [this, secure](const httplib::Request& request, httplib::Response& response) {
    send_plugin_file(request, response, "-", "plugin-bridge.js", secure);
  });
  http.Get(R"(/plugins/([a-z0-9][a-z0-9-]{0,62})/ui/(.+))", [this, secure](const httplib::Request& request, httplib::Response& response) {
    try {
      send_plugin_file(request, response, request.matches[1], request.matches[2], secure);
    } catch (const std::exception& error) {
      send_error(response, 404, "not_found", error.what());
    }
  });
  http.Get("/", [this](const httplib::Request&, httplib::Response& response) { send_file(response, files_.ui, "index.html"); });
  http.Get(R"(/ui/(.+))", [this](const httplib::Request& request, httplib::Response& response) { send_file(response, files_.ui, request.matches[1]); });
  http.Get(R"(/vendor/xterm/(.+))", [this](const httplib::Request& request, httplib::Response& response) {
    send_file(response, files_.xterm, request.matches[1]);
  });
  http.Get("/v1/dashboard/session", [this](const httplib::Request& request, httplib::Response& response) {
    std::lock_guard lock(mutex_);
    const Session* session = session_of(request.get_header_value("Cookie"));
    bool admin = session && (session->key.empty() || (keys_ && keys_->scope_of_name(session->key) == KeyScope::admin));
    Json body{{"csrf", session ? session->csrf : ""}, {"admin", admin}, {"version", BERTH_VERSION}, {"port", port_}};
    if (session && !session->key.empty()) body["key"] = session->key;
    response.set_content(body.dump(), "application/json");
  });
}

void Dashboard::serve_remote(httplib::Server& tcp, const ApiKeyStore& keys) {
  {
    std::lock_guard lock(mutex_);
    keys_ = &keys;
  }
  add_page_routes(tcp, true);
  // A key holder mints a link for the listener it reached, by the name it reached it with.
  tcp.Post("/v1/dashboard", [this](const httplib::Request& request, httplib::Response& response) {
    std::string header = request.get_header_value("Authorization");
    std::string name = header.rfind("Bearer ", 0) == 0 ? keys_->name_of(header.substr(7)) : "";
    if (name.empty()) {
      send_error(response, 401, "unauthorized", "a dashboard link over TCP is made with an API key (Authorization: Bearer KEY)");
      return;
    }
    // The address the client reached: as it says (berth's own client names every host 'berth'
    // in Host), or the Host it sent. It only makes the link it is given; the token is the secret.
    std::string origin = "https://" + request.get_header_value("Host");
    try {
      Json body = request.body.empty() ? Json::object() : Json::parse(request.body);
      std::string said = body.is_object() ? body.value("origin", "") : "";
      if (said.rfind("https://", 0) == 0 && said.size() < 300 && said.find_first_of("/ \t\r\n?#", 8) == std::string::npos) origin = said;
    } catch (const std::exception&) {
      send_error(response, 400, "invalid", "the request body must be a JSON object: {\"origin\": \"https://HOST:PORT\"}");
      return;
    }
    std::lock_guard lock(mutex_);
    std::string url = origin + "/?token=" + mint(name);
    response.set_content(Json{{"url", url}, {"key", name}}.dump(), "application/json");
  });
}

Dashboard::Remote Dashboard::check_remote(const httplib::Request& request, httplib::Response& response) {
  std::lock_guard lock(mutex_);
  if (!keys_) return Remote::none;
  add_page_headers(response);
  if (request.path == "/" && request.has_param("token")) {
    redeem(request, response, true);
    return Remote::answered;
  }
  const Session* session = session_of(request.get_header_value("Cookie"));
  KeyScope scope = session && !session->key.empty() ? keys_->scope_of_name(session->key) : KeyScope::none;
  if (scope == KeyScope::none) {
    if ((is_page_file(request.path) || is_plugin_page_file(request.path)) && request.method == "GET") {
      return Remote::public_file;  // the pages hold no secret
    }
    return Remote::none;
  }
  if (request.method != "GET" && request.method != "HEAD") {
    std::string origin = request.get_header_value("Origin");
    if (request.get_header_value(kCsrfHeader) != session->csrf || (!origin.empty() && origin != "https://" + request.get_header_value("Host"))) {
      send_error(response, 403, "forbidden",
                 std::string("a change through the dashboard needs its ") + kCsrfHeader + " header and its own Origin (reload the dashboard)");
      return Remote::answered;
    }
  }
  if (request.path.rfind("/v1/", 0) == 0) response.set_header("Cache-Control", "no-store");
  return scope == KeyScope::admin ? Remote::admin : Remote::use;
}

void Dashboard::check_remote_browser(const std::map<std::string, std::string>& headers) {
  auto header = [&](const char* name) {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  };
  std::lock_guard lock(mutex_);
  const Session* session = session_of(header("cookie"));
  if (!keys_ || !session || session->key.empty() || keys_->scope_of_name(session->key) == KeyScope::none) {
    throw Error("unauthorized", "this server needs an API key over TCP, or a dashboard session signed in with one");
  }
  if (header("origin") != "https://" + header("host")) {
    throw Error("forbidden", "a terminal opens only from the dashboard's own pages (Origin '" + header("origin").substr(0, 100) + "' is not)");
  }
}

}  // namespace berth
