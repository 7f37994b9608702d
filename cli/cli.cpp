#include "cli.hpp"

#include "commands.hpp"
#include "errors.hpp"

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
  add_completion_command(registry);
  return registry;
}

}  // namespace

int run(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  Session session;
  Invocation invocation{session};
  CLI::App app{"berth: dev environments on any infrastructure, from one CLI", "berth"};
  app.require_subcommand(1);
  app.fallthrough();
  auto& options = session.options;
  app.add_option("--home", options.home, "berth's home folder (env BERTH_HOME)")->envname("BERTH_HOME");
  app.add_option("--server", options.server, "Server address: unix:///PATH or http://HOST:PORT (env BERTH_SERVER)");
  app.add_option("--api-key", options.api_key, "API key for a TCP server (env BERTH_API_KEY)");
  app.add_option("-o,--output", options.output, "Output format: table, json or yaml")
      ->check(CLI::IsMember({"table", "json", "yaml"}));
  app.add_flag("-q,--quiet", options.quiet, "Print only what was asked for");
  app.add_flag("-v,--verbose", options.verbose, "Say more");
  app.add_flag("--no-autostart", options.no_autostart, "Do not start a local server when none is running (env BERTH_NO_AUTOSTART=1)");

  for (const auto& command : built_in_commands()) {
    CLI::App* sub = app.add_subcommand(command.name, command.summary);
    sub->group(command.group);
    sub->fallthrough();
    command.define(*sub, invocation);
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& help) {
    return app.exit(help);
  } catch (const CLI::CallForAllHelp& help) {
    return app.exit(help);
  } catch (const CLI::ParseError& error) {
    app.exit(error);
    return 2;
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
