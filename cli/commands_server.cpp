// berth serve, berth server start|stop|status, berth version.
#include "commands.hpp"
#include "daemon.hpp"
#include "errors.hpp"
#include "output.hpp"
#include "home.hpp"

#include <unistd.h>
#include "version.hpp"

#include "module_files.hpp"

#include <cerrno>
#include <cstring>
#include <iostream>

namespace berth::cli {
namespace {

void define_serve(CLI::App& app, Invocation& run) {
  auto listen = std::make_shared<std::string>();
  app.add_option("--listen", *listen, "Also listen on TCP HOST:PORT (every request then needs an API key)");
  app.callback([&run, listen] {
    // The server is its own program (it alone links the HTTP server); this process becomes it.
    std::string server = (executable_dir().parent_path() / "libexec" / "berth" / "berth-server").string();
    std::string home = run.session.home().data_dir.string();
    Home resolved = run.session.home();
    std::vector<std::string> args{server};
    if (resolved.data_dir == resolved.config_dir) args.insert(args.end(), {"--home", home});
    if (!listen->empty()) args.insert(args.end(), {"--listen", *listen});
    std::vector<char*> argv;
    for (auto& arg : args) argv.push_back(arg.data());
    argv.push_back(nullptr);
    ::execv(server.c_str(), argv.data());
    throw unavailable("cannot run " + server + ": " + std::strerror(errno) + " (is berth installed whole?)");
  });
}

void define_server(CLI::App& app, Invocation& run) {
  app.require_subcommand(1);
  auto listen = std::make_shared<std::string>();
  auto* start = app.add_subcommand("start", "Start the server in the background (pid file, log file)");
  start->add_option("--listen", *listen, "Also listen on TCP HOST:PORT (every request then needs an API key)");
  start->callback([&run, listen] {
    Home home = run.session.home();
    if (daemon_status(home).running) {
      std::cout << "a server is already running for " << home.data_dir.string() << '\n';
      return;
    }
    int pid = start_daemon(home, std::chrono::seconds(15), *listen);
    std::cout << "server started (pid " << pid << ", log " << home.server_log_path().string() << ")\n";
  });
  app.add_subcommand("stop", "Stop the background server, letting running operations finish")->callback([&run] {
    Home home = run.session.home();
    if (!stop_daemon(home, std::chrono::seconds(30))) {
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

void define_version(CLI::App& app, Invocation& run) {
  app.callback([&run] {
    // The SDK this berth's providers and plugins are built against (it said 1.0 whatever it was).
    Json json{{"version", BERTH_VERSION}, {"sdk_api", to_string(sdk_api_version)}};
    print_as(run.session, json, [] { std::cout << "berth " << BERTH_VERSION << " (SDK API " << to_string(sdk_api_version) << ")\n"; });
  });
}

}  // namespace

void add_server_commands(Registry& registry) {
  registry.push_back({"serve", "Run the server in the foreground", "Server", define_serve});
  registry.push_back({"server", "Run the server in the background (start, stop, status)", "Server", define_server});
  registry.push_back({"version", "Show berth's version", "Other", define_version});
}

}  // namespace berth::cli
