// berth serve, berth server start|stop|status, berth version.
#include "commands.hpp"
#include "daemon.hpp"
#include "errors.hpp"
#include "output.hpp"
#include "home.hpp"
#include "module_files.hpp"

#include <unistd.h>
#include "version.hpp"

#include "module_files.hpp"

#include <fcntl.h>
#include <spawn.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>

extern char** environ;

namespace berth::cli {
namespace {

// The options of the TCP listener, shared by `berth serve` and `berth server start`.
struct ListenOptions {
  std::string listen, tls_cert, tls_key, tls_client_ca;
  bool insecure = false;
  bool allow_remote_initialize = false;
  std::vector<std::string> arguments() const {
    std::vector<std::string> args;
    for (const auto& [flag, value] : {std::pair{"--listen", listen}, {"--tls-cert", tls_cert}, {"--tls-key", tls_key}, {"--tls-client-ca", tls_client_ca}}) {
      if (!value.empty()) args.insert(args.end(), {flag, flag == std::string("--listen") ? value : fs::absolute(value).string()});
    }
    if (insecure) args.push_back("--insecure");
    if (allow_remote_initialize) args.push_back("--allow-remote-initialize");
    return args;
  }
};

void add_listen_options(CLI::App& app, ListenOptions& options) {
  app.add_option("--listen", options.listen, "Also listen on TCP HOST:PORT (every request then needs an API key)");
  app.add_option("--tls-cert", options.tls_cert, "TLS on the TCP listener: the server's certificate (PEM, followed by its chain)");
  app.add_option("--tls-key", options.tls_key, "The certificate's private key (PEM)");
  app.add_option("--tls-client-ca", options.tls_client_ca, "Mutual TLS: require client certificates signed by this CA (PEM)");
  app.add_flag("--insecure", options.insecure, "Allow plain HTTP on an address other than loopback (API keys cross the network in clear text)");
  app.add_flag("--allow-remote-initialize", options.allow_remote_initialize,
               "Let TCP clients' repositories run devcontainer.json's initializeCommand on this machine, as this server's user, "
               "once they agree (--trust); without it only the Unix socket's clients can (docs/security.md)");
}

void define_serve(CLI::App& app, Invocation& run) {
  app.footer(
      "Examples:\n"
      "  berth serve                          until Ctrl-C; logs on the terminal\n"
      "  berth serve --listen 0.0.0.0:7420    TCP too (clients need a key: berth apikey create NAME)");
  auto listen = std::make_shared<ListenOptions>();
  add_listen_options(app, *listen);
  app.callback([&run, listen] {
    // The server is its own program (it alone links the HTTP server); this process becomes it.
    std::string server = (executable_dir().parent_path() / "libexec" / "berth" / "berth-server").string();
    std::string home = run.session.home().data_dir.string();
    Home resolved = run.session.home();
    std::vector<std::string> args{server};
    if (resolved.data_dir == resolved.config_dir) args.insert(args.end(), {"--home", home});
    for (auto& arg : listen->arguments()) args.push_back(arg);
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    ::execv(server.c_str(), argv.data());
    throw unavailable("cannot run " + server + ": " + std::strerror(errno) + " (is berth installed whole?)");
  });
}

void define_server(CLI::App& app, Invocation& run) {
  // Set first: start, stop and status inherit it.
  app.footer(
      "Examples:\n"
      "  berth server start\n"
      "  berth server start --listen 127.0.0.1:7420\n"
      "  berth server status -o json\n"
      "  berth server stop                    running operations finish first");
  app.require_subcommand(1);
  auto listen = std::make_shared<ListenOptions>();
  auto* start = app.add_subcommand("start", "Start the server in the background (pid file, log file)");
  add_listen_options(*start, *listen);
  start->callback([&run, listen] {
    Home home = run.session.home();
    if (daemon_status(home).running) {
      std::cout << "a server is already running for " << home.data_dir.string() << '\n';
      return;
    }
    int pid = start_daemon(home, std::chrono::seconds(60), listen->arguments());
    std::cout << "server started (pid " << pid << ", log " << home.server_log_path().string() << ")\n";
  });
  app.add_subcommand("stop", "Stop the background server, letting running operations finish")->callback([&run] {
    Home home = run.session.home();
    if (!stop_daemon(home, std::chrono::seconds(30), [](const std::string& note) { std::cerr << "berth: " << note << std::endl; })) {
      std::cout << "no server is running for " << home.data_dir.string() << '\n';
      return;
    }
    std::cout << "server stopped\n";
  });
  app.add_subcommand("status", "Say whether the server is running")->callback([&run] {
    Home home = run.session.home();
    DaemonStatus status = daemon_status(home);
    Json json{{"running", status.running}, {"pid", status.pid}, {"socket", home.socket_path().string()},
              {"log", home.server_log_path().string()}};
    print_as(run.session, json, [&] {
      if (status.running) {
        std::cout << "running (pid " << status.pid << ", socket " << home.socket_path().string() << ")\n";
      } else {
        std::cout << "not running\n";
      }
    });
    if (!status.running) run.exit_code = 1;
  });
}

// Opens url in the desktop's browser, without waiting for it; false when there is no desktop.
bool open_in_browser(const std::string& url) {
  if (!std::getenv("DISPLAY") && !std::getenv("WAYLAND_DISPLAY")) return false;
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0);
  std::string program = "xdg-open", argument = url;
  char* argv[] = {program.data(), argument.data(), nullptr};
  pid_t pid = 0;
  int failed = posix_spawnp(&pid, "xdg-open", &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  return failed == 0;
}

void define_dashboard(CLI::App& app, Invocation& run) {
  app.footer(
      "The link signs one browser in once (the server trades it for a cookie); run the command again for another.\n"
      "The dashboard listens on 127.0.0.1 only; a remote server with TLS serves it on its --listen address too, the link\n"
      "then signing in with this profile's API key. docs/dashboard.md says how it is kept safe.\n"
      "Examples:\n"
      "  berth dashboard                 opens the browser (on a desktop) and prints the link\n"
      "  berth dashboard --print         only prints the link\n"
      "  berth dashboard --port 7421     on that port, when the dashboard is not running yet");
  auto print_only = std::make_shared<bool>(false);
  auto port = std::make_shared<int>(0);
  app.add_flag("--print", *print_only, "Only print the link; do not open a browser");
  app.add_option("--port", *port, "The dashboard's TCP port on 127.0.0.1 (default: any free one)")->check(CLI::Range(1, 65535));
  app.callback([&run, print_only, port] {
    ApiClient& api = run.session.api();
    const std::string& address = api.endpoint().address;
    bool remote = address.rfind("https://", 0) == 0;
    if (address.rfind("unix://", 0) != 0 && !remote) {
      throw invalid("berth dashboard opens the dashboard of the server on this machine, or of a remote server over TLS; " + address +
                    " is plain HTTP (serve with --tls-cert and --tls-key, or run berth dashboard on that machine)");
    }
    if (remote && *port) throw invalid("--port is for the dashboard on this machine; a remote server serves it on its TLS listener");
    Json body = Json::object();
    if (*port) body["port"] = *port;
    if (remote) body["origin"] = address.substr(0, address.find('/', 8));  // https://HOST:PORT, for the link
    Json opened = Json::parse(api.call("POST", "/v1/dashboard", body.dump()).body);
    std::string url = opened.value("url", "");
    print_as(run.session, opened, [&] { std::cout << url << '\n'; });
    if (!*print_only && open_in_browser(url) && !run.session.options.quiet) std::cerr << "berth: opened the dashboard in the browser" << std::endl;
  });
}

void define_version(CLI::App& app, Invocation& run) {
  app.footer("Examples:\n  berth version\n  berth --version\n  berth version -o json");
  app.callback([&run] {
    // The SDK version providers and plugins are built against (was a fixed "1.0").
    std::string sdk = to_string(sdk_api_version);
    Json json{{"version", BERTH_VERSION}, {"sdk_api", sdk}};
    print_as(run.session, json, [&sdk] { std::cout << "berth " << BERTH_VERSION << " (SDK API " << sdk << ")\n"; });
  });
}

}  // namespace

void add_server_commands(Registry& registry) {
  registry.push_back({"serve", "Run the server in the foreground", "Server", define_serve});
  registry.push_back({"server", "Run the server in the background (start, stop, status)", "Server", define_server});
  registry.push_back({"dashboard", "Open the web dashboard (prints a one-time sign-in link)", "Server", define_dashboard});
  registry.push_back({"version", "Show berth's version", "Other", define_version});
}

}  // namespace berth::cli
