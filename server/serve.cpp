#include "serve.hpp"

#include "api_keys.hpp"
#include "atomic_file.hpp"
#include "dashboard/dashboard.hpp"
#include "dashboard/terminal_hub.hpp"
#include "duration.hpp"
#include "forwards.hpp"
#include "server_routes.hpp"
#include "elastic_pool.hpp"
#include "errors.hpp"
#include "http_api.hpp"
#include "idle_stop.hpp"
#include "log_book.hpp"
#include "plugin_routes.hpp"
#include "route_helpers.hpp"
#include "provider_registry.hpp"
#include "record_folder.hpp"
#include "stream_routes.hpp"
#include "guarded_server.hpp"
#include "tls_link.hpp"
#include "workspace_service.hpp"

#include <arpa/inet.h>
#include <httplib.h>
#include <malloc.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <iostream>
#include <thread>

namespace fs = std::filesystem;

namespace berth {
namespace {

constexpr size_t kWorkerThreads = 16;
constexpr size_t kMaxWorkerThreads = 1024;
// A request's line and headers must arrive within this; over TCP one address may keep
// this many connections that have not shown a key yet (see guarded_server.hpp).
constexpr std::chrono::seconds kRequestHeadDeadline{5};
constexpr size_t kUnauthenticatedPerAddress = 32;

// The home's socket, owner-only: httplib binds it (AF_UNIX), berth makes it 0600 from birth.
class UnixSocketServer : public GuardedServer {
 public:
  UnixSocketServer(std::chrono::milliseconds head_deadline, StreamRoutes* streams) : GuardedServer(false, head_deadline, 0, streams) {
    set_address_family(AF_UNIX);
  }
  bool bind_unix(const fs::path& path, std::string& error) {
    if (path.native().size() >= sizeof(sockaddr_un::sun_path)) {
      error = "socket path " + path.string() + " is too long: " + std::to_string(path.native().size()) + " bytes, and a Unix socket's path holds at most " +
              std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " (use a shorter BERTH_HOME)";
      return false;
    }
    ::unlink(path.c_str());  // we hold the home's lock: any socket there is stale
    // No moment in which another user could connect: the socket is born 0600.
    mode_t old_mask = ::umask(0177);
    bool bound = bind_with_full_backlog(path.string(), 80);
    int saved = errno;
    ::umask(old_mask);
    if (!bound || ::chmod(path.c_str(), 0600) != 0) {
      error = "cannot listen on " + path.string() + ": " + std::strerror(bound ? errno : saved);
      return false;
    }
    return true;
  }
};

void log_line(const std::string& text) { std::cerr << "berth serve: " << text << std::endl; }

// Only this machine can reach it: 127.0.0.0/8, ::1, localhost.
bool loopback_host(std::string host) {
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  if (host == "localhost") return true;
  in_addr v4{};
  if (::inet_pton(AF_INET, host.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  return ::inet_pton(AF_INET6, host.c_str(), &v6) == 1 && IN6_IS_ADDR_LOOPBACK(&v6);
}

// The TLS flags must make sense together, and a listener that others can reach must be TLS
// unless the user says --insecure. Returns "" or what is wrong.
std::string check_listen_options(const ServeOptions& options, const std::string& host) {
  bool tls = !options.tls_cert.empty() || !options.tls_key.empty();
  if (options.listen.empty()) {
    if (tls || !options.tls_client_ca.empty()) return "--tls-cert, --tls-key and --tls-client-ca are for the TCP listener: give --listen HOST:PORT too";
    return "";
  }
  if (options.tls_cert.empty() != options.tls_key.empty()) return "--tls-cert and --tls-key go together: give both (PEM files)";
  if (!options.tls_client_ca.empty() && !tls) return "--tls-client-ca needs TLS: give --tls-cert and --tls-key too";
  if (!tls && !loopback_host(host) && !options.insecure) {
    return "--listen " + options.listen + " is reachable from other machines, and without TLS its API keys would cross the network in clear text: "
           "give --tls-cert FILE --tls-key FILE (see README, \"Remote servers\"), or --insecure to accept that";
  }
  return "";
}

}  // namespace

int serve(const ServeOptions& options) {
  const Home& home = options.home;
  // Signals are taken by one thread with sigwait, so every other thread keeps them blocked.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ::signal(SIGPIPE, SIG_IGN);
  // A file size limit (or a full disk) must fail the write with EFBIG, not end the server.
  ::signal(SIGXFSZ, SIG_IGN);
  // 64 worker threads would otherwise each get a malloc arena that keeps what a large
  // response (a list of 10,000 workspaces) freed; two arenas and a trim keep RSS near idle.
  ::mallopt(M_ARENA_MAX, 2);

  std::unique_ptr<HomeLock> lock;
  try {
    home.create_folders();
    home.check_private();
    lock = std::make_unique<HomeLock>(home.lock_path());
  } catch (const Error& error) {
    log_line(error.what());
    return 1;
  }

  try {
    write_file_atomically(home.pid_path(), std::to_string(::getpid()) + "\n");
  } catch (const Error& error) {
    log_line(error.what());
    return 1;
  }

  // Each provider runs in its own berth-provider-host, which lies beside this executable.
  ProviderRegistry providers;
  providers.load(ProviderPaths{options.builtin_providers, home.providers_dir(), executable_dir() / "berth-provider-host",
                               home.logs_dir() / "providers", home.config_dir / "providers.yaml",
                               home.data_dir / "cache" / "provider-info.json"});
  for (const auto& status : providers.list()) {
    if (status.broken) log_line("provider '" + status.info.name + "' is broken: " + status.reason);
  }
  LogBook logs(home.workspace_logs_dir());
  WorkspaceService service(home, providers, logs);
  try {
    for (const auto& problem : service.load()) log_line(problem);
  } catch (const std::exception& error) {
    log_line(std::string("cannot load the home: ") + error.what());
    return 1;
  }

  ApiKeyStore keys(home.config_dir / "apikeys");
  try {
    keys.load();
  } catch (const std::exception& error) {
    log_line(std::string("cannot read the API keys: ") + error.what());
    return 1;
  }

  TerminalHub terminals(service);
  ForwardHub forwards(service);
  // Idle workspaces stopped (and long-stopped ones deleted) where a target says so.
  IdleStop idle(IdleStop::Hooks{
      [&] { return service.idle_candidates(); },
      [&](const std::string& name) { return service.cpu_seconds(name); },
      [&](const std::string& name) { return service.activity().seen(name); },
      [&](const std::string& name, const std::string& reason) {
        logs.append(name, reason);  // before the operation's own lines, so its followers see why
        service.stop(name);
        log_line(name + ": " + reason);
      },
      [&](const std::string& name, const std::string& reason) {
        log_line(name + ": " + reason);  // the workspace's log goes with it
        service.remove(name, false);
      }});
  std::unique_ptr<Dashboard> dashboard;
  ServerFacts facts{&home, std::chrono::steady_clock::now(),
                    PluginFolders{executable_dir().parent_path().parent_path() / "lib" / "berth" / "plugins", home.plugins_dir(),
                                  home.config_dir / "plugins.yaml", {}},
                    nullptr, &terminals, [&](const std::string& name) {
                      Workspace workspace = service.workspace(name);  // not_found for an unknown one
                      IdleStop::Candidate candidate = service.idle_candidate(name);
                      Json report = idle.report(name);
                      bool watched = !report.empty();
                      report["auto_stop"] = candidate.stop_after.count() > 0 ? format_duration(candidate.stop_after) : "off";
                      report["auto_delete"] = candidate.delete_after.count() > 0 ? format_duration(candidate.delete_after) : "off";
                      report["state"] = to_string(workspace.state);
                      report["watched"] = watched;
                      report["open_streams"] = service.activity().seen(name).open;
                      return report.dump();
                    }};
  // Every request made with a plugin's credential is held to what the plugin was granted.
  PluginAccess plugin_access(facts.plugins, home.data_dir / "plugin-data");
  set_request_gate([&plugin_access](const std::string& method, const std::string& path, const std::string& token) {
    plugin_access.check(method, path, token);
  });
  PluginServices plugin_services(plugin_access, home.data_dir / "run" / "plugins", "unix://" + home.socket_path().string());
  // A job that runs a plugin's command runs this berth's CLI: bin/berth of the same install.
  fs::path cli = executable_dir().parent_path().parent_path() / "bin" / "berth";
  if (!fs::exists(cli)) cli = executable_dir() / "berth";
  PluginJobs plugin_jobs(plugin_access, cli, home.data_dir == home.config_dir ? home.data_dir : fs::path());
  auto configure = [&](httplib::Server& http, const Listener& listener) {
    http.new_task_queue = [] { return new ElasticPool(kWorkerThreads, kMaxWorkerThreads); };
    http.set_keep_alive_max_count(1000);
    // Idle keep-alive connections hold a worker until this passes, also at shutdown.
    http.set_keep_alive_timeout(2);
    // A client that sends nothing (or too slowly) lets its worker go after this.
    http.set_read_timeout(10, 0);
    register_api(http, service, providers, keys, listener);
    register_server_routes(http, facts);
    register_forward_routes(http, forwards);
    register_plugin_routes(http, plugin_access, plugin_services, plugin_jobs);
    // httplib calls its logger once the response is written: a large one was just freed.
    http.set_logger([](const httplib::Request&, const httplib::Response& response) {
      if (response.body.size() > kTrimAfterBytes) ::malloc_trim(0);
    });
  };
  StreamRoutes local_streams(service, nullptr, &terminals);
  StreamRoutes keyed_streams(service, &keys, &terminals);
  UnixSocketServer server(kRequestHeadDeadline, &local_streams);
  configure(server, Listener{false, false});
  // The dashboard's own listener (127.0.0.1, on demand): its viewer signed in with a link from
  // this socket, and is a remote client for what a repository may run here (docs/security.md).
  dashboard = std::make_unique<Dashboard>(
      DashboardFiles{executable_dir().parent_path().parent_path() / "share" / "berth" / "dashboard",
                     executable_dir().parent_path().parent_path() / "share" / "berth" / "xterm"},
      [&](httplib::Server& http) { configure(http, Listener{true, options.allow_remote_initialize}); }, service, terminals, log_line);
  dashboard->set_plugins(&plugin_access);
  register_dashboard_route(server, *dashboard);
  facts.listeners = [&] {
    std::vector<std::string> urls{"unix://" + home.socket_path().string()};
    if (!options.listen.empty()) urls.push_back(std::string(options.tls_cert.empty() ? "http://" : "https://") + options.listen);
    if (int port = dashboard->port(); port > 0) urls.push_back("http://127.0.0.1:" + std::to_string(port) + " (dashboard)");
    return urls;
  };

  // The socket first: a failure after the TCP listener's thread started would end the process
  // with that thread still joinable (std::terminate, SIGABRT: issue 22).
  std::string error;
  if (!server.bind_unix(home.socket_path(), error)) {
    log_line(error);
    return 1;
  }
  struct SocketFile {
    fs::path path;
    bool keep = false;
    ~SocketFile() {
      if (!keep) ::unlink(path.c_str());
    }
  } socket_file{home.socket_path()};

  // TCP, when asked: the same API, and every request must carry a live API key.
  std::unique_ptr<GuardedServer> tcp;
  std::unique_ptr<tls::ServerContext> tls_context;
  std::thread tcp_thread;
  if (!options.tls_cert.empty()) {
    try {
      tls_context = std::make_unique<tls::ServerContext>(options.tls_cert, options.tls_key, options.tls_client_ca);
    } catch (const std::exception& error) {
      log_line(error.what());
      return 2;
    }
  }
  if (!options.listen.empty()) {
    size_t colon = options.listen.rfind(':');
    int port = 0;
    try {
      port = colon == std::string::npos ? 0 : std::stoi(options.listen.substr(colon + 1));
    } catch (const std::exception&) {
    }
    if (port <= 0 || port > 65535) {
      log_line("--listen '" + options.listen + "' must be HOST:PORT, e.g. 127.0.0.1:7420");
      return 2;
    }
    if (tls_context) {
      // nothing more to check
    } else if (!loopback_host(options.listen.substr(0, colon))) {
      log_line("warning: --insecure: plain HTTP on " + options.listen + "; API keys and everything else cross the network in clear text");
    }
    tcp = std::make_unique<GuardedServer>(true, kRequestHeadDeadline, kUnauthenticatedPerAddress, &keyed_streams, tls_context.get());
    configure(*tcp, Listener{true, options.allow_remote_initialize});
    if (options.allow_remote_initialize) log_line("warning: --allow-remote-initialize: TCP clients' repositories may run initializeCommand here, as this server's user, once they agree");
    // Small answers on kept-alive connections would otherwise wait ~40 ms for delayed ACKs.
    tcp->set_tcp_nodelay(true);
    // With TLS, the dashboard is served there too, behind the same keys (docs/dashboard.md).
    if (tls_context) {
      dashboard->serve_remote(*tcp, keys);
      keyed_streams.set_keyless_gate([&](const auto& headers) { dashboard->check_remote_browser(headers); });
    }
    require_api_key(*tcp, keys, tls_context ? dashboard.get() : nullptr);
    if (!tcp->bind_with_full_backlog(options.listen.substr(0, colon), port)) {
      log_line("cannot listen on " + options.listen + ": the address is in use or not this machine's");
      return 1;
    }
    if (keys.list().empty()) log_line("no API key exists yet: make one with 'berth apikey create NAME' on the socket");
    tcp_thread = std::thread([&] { tcp->listen_after_bind(); });
    log_line("listening on " + std::string(tls_context ? "https://" : "http://") + options.listen + " (API key required" +
             (options.tls_client_ca.empty() ? "" : ", and a client certificate signed by " + options.tls_client_ca) + ")");
  }
  socket_file.keep = true;  // unlinked below, once the listener is done
  std::thread signal_thread([&] {
    int received = 0;
    sigwait(&signals, &received);
    log_line(std::string("received ") + strsignal(received) + "; finishing operations in progress");
    idle.stop();
    terminals.end_all(std::chrono::seconds(3));
    forwards.close_all();
    service.shutdown(std::chrono::seconds(10));
    plugin_jobs.stop();
    plugin_services.stop_all();
    dashboard->stop();
    if (tcp) tcp->stop();
    server.stop();
  });

  log_line("listening on unix://" + home.socket_path().string() + " (home " + home.data_dir.string() + ", pid " +
           std::to_string(::getpid()) + ")");
  // Records left mid-operation are settled in the background, each within a deadline: a slow
  // engine or a crashing provider never keeps the server from answering.
  service.reconcile(log_line);
  // Changes made outside berth (a container stopped or removed) reach the records as they happen.
  service.start_watches(log_line);
  plugin_jobs.start();
  idle.start();
  server.listen_after_bind();
  dashboard->stop();
  if (tcp) tcp->stop();
  if (tcp_thread.joinable()) tcp_thread.join();
  ::unlink(home.socket_path().c_str());
  ::unlink(home.pid_path().c_str());
  if (signal_thread.joinable()) {
    // Wakes its sigwait when listen ended by itself (SIGTERM is blocked there: nothing is terminated).
    pthread_kill(signal_thread.native_handle(), SIGTERM);  // NOLINT(bugprone-bad-signal-to-kill-thread)
    signal_thread.join();
  }
  log_line("stopped");
  return 0;
}

}  // namespace berth

namespace berth {

int server_main(int argc, char** argv) {
  std::string home_option;
  ServeOptions options;
  std::map<std::string, std::string*> with_value{{"--home", &home_option},
                                                 {"--listen", &options.listen},
                                                 {"--tls-cert", &options.tls_cert},
                                                 {"--tls-key", &options.tls_key},
                                                 {"--tls-client-ca", &options.tls_client_ca}};
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (auto it = with_value.find(arg); it != with_value.end() && i + 1 < argc) {
      *it->second = argv[++i];
    } else if (arg == "--insecure") {
      options.insecure = true;
    } else if (arg == "--allow-remote-initialize") {
      options.allow_remote_initialize = true;
    } else {
      std::cerr << "usage: berth-server [--home DIR] [--listen HOST:PORT [--tls-cert FILE --tls-key FILE [--tls-client-ca FILE]] [--insecure] [--allow-remote-initialize]]"
                   " (run it as: berth serve)"
                << std::endl;
      return 2;
    }
  }
  std::string problem = check_listen_options(options, options.listen.substr(0, options.listen.rfind(':')));
  if (!problem.empty()) {
    log_line(problem);
    return 2;
  }
  try {
    // <prefix>/libexec/berth/berth-server finds the built-in providers in <prefix>/lib/berth/providers.
    options.builtin_providers = executable_dir().parent_path().parent_path() / "lib" / "berth" / "providers";
    options.home = resolve_home(home_option);
    return serve(options);
  } catch (const std::exception& error) {
    std::cerr << "berth serve: " << error.what() << std::endl;
    return 1;
  }
}

}  // namespace berth
