#include "cli.hpp"

#include "commands.hpp"
#include "errors.hpp"
#include "help_formatter.hpp"
#include "plugins.hpp"
#include "version.hpp"

#include <signal.h>

#include <iostream>

namespace berth::cli {
namespace {

Registry built_in_commands() {
  Registry registry;
  add_workspace_commands(registry);
  add_target_commands(registry);
  add_provider_commands(registry);
  add_server_commands(registry);
  add_remote_commands(registry);
  add_completion_command(registry);
  return registry;
}

// The home named on the command line or in the environment, before CLI11 parses anything:
// plugin commands must be known to build the parser.
Home early_home(int argc, char** argv) {
  std::string home;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--") break;
    if (arg == "--home" && i + 1 < argc) home = argv[i + 1];
    if (arg.rfind("--home=", 0) == 0) home = arg.substr(7);
  }
  return resolve_home(home);
}

std::shared_ptr<const std::vector<PluginEntry>> find_plugins(const Registry& builtins, int argc, char** argv) {
  std::set<std::string> reserved{"help", "ls", "rm", "ws", "plugin"};
  for (const auto& command : builtins) reserved.insert(command.name);
  try {
    return std::make_shared<const std::vector<PluginEntry>>(discover_plugins(plugin_folders(early_home(argc, argv)), reserved));
  } catch (const std::exception& error) {
    std::cerr << "berth: plugins not loaded: " << error.what() << std::endl;
    return std::make_shared<const std::vector<PluginEntry>>();
  }
}

}  // namespace

int run(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  Session session;
  Invocation invocation{session};
  CLI::App app{"berth: dev environments on any infrastructure, from one CLI", "berth"};
  app.require_subcommand(1);
  app.fallthrough();
  app.formatter(std::make_shared<HelpFormatter>());
  auto& options = session.options;
  app.add_option("--home", options.home, "berth's home folder (env BERTH_HOME)")->envname("BERTH_HOME");
  app.add_option("--server", options.server, "Server address: unix:///PATH or http://HOST:PORT (env BERTH_SERVER)");
  app.add_option("--api-key", options.api_key, "API key for a TCP server (env BERTH_API_KEY)");
  app.add_option("-o,--output", options.output, "Output format: table, json or yaml")
      ->check(CLI::IsMember({"table", "json", "yaml"}));
  app.add_flag("-q,--quiet", options.quiet, "Print only what was asked for");
  app.add_flag("-v,--verbose", options.verbose, "Say more");
  app.set_version_flag("--version", std::string("berth ") + BERTH_VERSION, "Print berth's version and exit");
  app.add_flag("--no-autostart", options.no_autostart, "Do not start a local server when none is running (env BERTH_NO_AUTOSTART=1)");

  try {
    Registry registry = built_in_commands();
    add_plugin_commands(registry, find_plugins(registry, argc, argv));
    for (const auto& command : registry) {
      CLI::App* sub = app.add_subcommand(command.name, command.summary);
      sub->group(command.group);
      sub->fallthrough();
      command.define(*sub, invocation);
    }
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& help) {
    return app.exit(help);
  } catch (const CLI::CallForAllHelp& help) {
    return app.exit(help);
  } catch (const CLI::CallForVersion& version) {
    return app.exit(version);
  } catch (const CLI::ParseError& error) {
    app.exit(error);
    return 2;
  } catch (const CLI::Error& error) {
    std::cerr << "berth: cannot build the command line: " << error.what() << std::endl;
    return 1;
  } catch (const Error& error) {
    std::cerr << "berth: " << error.what() << std::endl;
    return exit_code_for(error.code());
  } catch (const std::exception& error) {
    std::cerr << "berth: " << error.what() << std::endl;
    return 1;
  }
  return invocation.exit_code;
}

}  // namespace berth::cli
