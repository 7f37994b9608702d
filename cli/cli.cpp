#include "cli.hpp"

#include "commands.hpp"
#include "errors.hpp"
#include "help_formatter.hpp"
#include "plugins.hpp"
#include "version.hpp"

#include <signal.h>

#include <algorithm>
#include <iostream>
#include <set>
#include <vector>

namespace berth::cli {
namespace {

Registry built_in_commands() {
  Registry registry;
  add_workspace_commands(registry);
  add_target_commands(registry);
  add_provider_commands(registry);
  add_server_commands(registry);
  add_remote_commands(registry);
  add_devcontainer_commands(registry);
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

// The command the line names (its first word that is not a global option or an option's value),
// or "" when it names none.
std::string named_command(int argc, char** argv) {
  const std::set<std::string> with_value{"--home", "--server", "--api-key", "--tls-ca", "--tls-cert", "--tls-key", "-o", "--output"};
  for (int i = 1; i < argc; ++i) {
    std::string word = argv[i];
    if (word == "--") return "";
    if (word.empty() || word[0] != '-') return word;
    if (with_value.count(word)) ++i;
  }
  return "";
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// When the command line names no command, or one that does not exist (at the top or inside a
// group such as `berth workspace`), says which exist and which one was probably meant.
// Returns false when the error is of another kind.
bool explain_command_error(CLI::App& app, int argc, char** argv) {
  const std::set<std::string> with_value{"--home", "--server", "--api-key", "--tls-ca", "--tls-cert", "--tls-key", "-o", "--output"};
  CLI::App* level = &app;
  std::string path = "berth";
  for (int i = 1; i < argc; ++i) {
    std::string word = argv[i];
    if (word == "--") break;
    if (!word.empty() && word[0] == '-') {
      if (level == &app && with_value.count(word)) ++i;
      continue;
    }
    std::vector<std::string> names;
    CLI::App* found = nullptr;
    for (CLI::App* sub : level->get_subcommands({})) {
      if (sub->get_group().empty()) continue;  // hidden
      names.push_back(sub->get_name());
      if (sub->check_name(word)) found = sub;
    }
    if (names.empty()) return false;  // a command's own argument: not ours to explain
    if (found) {
      level = found;
      path += " " + found->get_name();
      continue;
    }
    std::string best;
    size_t best_distance = 3;
    for (const auto& name : names) {
      size_t distance = edit_distance(word, name);
      if (distance < best_distance) best = name, best_distance = distance;
    }
    std::cerr << "berth: '" << word << "' is not a command of " << path << "."
              << (best.empty() ? "" : " Did you mean '" + path + " " + best + "'?") << "\n";
    std::string list;
    for (const auto& name : names) list += (list.empty() ? "" : ", ") + name;
    std::cerr << path << " commands: " << list << " (" << path << " --help)" << std::endl;
    return true;
  }
  auto subs = level->get_subcommands({});
  if (subs.empty()) return false;
  std::string list;
  for (CLI::App* sub : subs) {
    if (!sub->get_group().empty()) list += (list.empty() ? "" : ", ") + sub->get_name();
  }
  std::cerr << path << " needs a command: " << list << " (" << path << " --help)" << std::endl;
  return true;
}

}  // namespace

int run(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  Session session;
  Invocation invocation{session};
  // Never torn down: the process ends right after, and freeing the command tree was a tenth of a
  // short command's run. The pointer keeps it reachable, so leak checkers do not count it.
  static CLI::App* const tree = new CLI::App{"berth: dev environments on any infrastructure, from one CLI", "berth"};
  CLI::App& app = *tree;
  app.require_subcommand(1);
  app.fallthrough();
  app.formatter(std::make_shared<HelpFormatter>());
  auto& options = session.options;
  app.add_option("--home", options.home, "berth's home folder (env BERTH_HOME)")->envname("BERTH_HOME");
  app.add_option("--server", options.server, "Server address: unix:///PATH, https://HOST:PORT or http://HOST:PORT (env BERTH_SERVER)");
  app.add_option("--api-key", options.api_key, "API key for a TCP server (env BERTH_API_KEY)");
  app.add_option("--tls-ca", options.tls_ca, "For an https:// server: the CA certificate (PEM) that signed its certificate (env BERTH_TLS_CA)");
  app.add_option("--tls-cert", options.tls_cert, "A client certificate (PEM), for a server that requires one (env BERTH_TLS_CERT)");
  app.add_option("--tls-key", options.tls_key, "The client certificate's private key (PEM) (env BERTH_TLS_KEY)");
  app.add_option("-o,--output", options.output, "Output format: table, json or yaml")
      ->check(CLI::IsMember({"table", "json", "yaml"}));
  app.add_flag("-q,--quiet", options.quiet, "Print only what was asked for");
  app.add_flag("-v,--verbose", options.verbose, "Say more");
  app.set_version_flag("--version", std::string("berth ") + BERTH_VERSION, "Print berth's version and exit");
  app.add_flag("--no-autostart", options.no_autostart, "Do not start a local server when none is running (env BERTH_NO_AUTOSTART=1)");

  try {
    Registry registry = built_in_commands();
    // A line that names a built-in command needs only that command's options: the others are
    // listed by name and summary (CLI11 builds each option's parser, a third of a short
    // command's run), and plugins, which cannot take a built-in's name, are not looked for.
    // Anything else (no command, an alias, a typo, a plugin's command, completion) gets all.
    std::string named = named_command(argc, argv);
    bool only_named = named != "__complete" && named != "completion" &&
                      std::any_of(registry.begin(), registry.end(), [&](const Command& command) { return command.name == named; });
    if (!only_named) add_plugin_commands(registry, find_plugins(registry, argc, argv));
    for (const auto& command : registry) {
      CLI::App* sub = app.add_subcommand(command.name, command.summary);
      sub->group(command.group);
      sub->fallthrough();
      if (!only_named || command.name == named) command.define(*sub, invocation);
    }
    // Set after the commands are added: CLI11 copies a parent's footer into each subcommand
    // made after it, and a command's help shows its own examples, not these.
    app.footer(
        "Examples:\n  berth create api --repo https://example.org/api.git\n  berth exec api -- make test\n"
        "  berth ssh api\n  berth stop api && berth delete api\n  berth target add -f targets/local-docker.yaml\n"
        "More: berth COMMAND --help; docs/ in the source tree.");
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& help) {
    return app.exit(help);
  } catch (const CLI::CallForAllHelp& help) {
    return app.exit(help);
  } catch (const CLI::CallForVersion& version) {
    return app.exit(version);
  } catch (const CLI::ParseError& error) {
    bool about_commands = dynamic_cast<const CLI::RequiredError*>(&error) || dynamic_cast<const CLI::ExtrasError*>(&error);
    if (!about_commands || !explain_command_error(app, argc, argv)) app.exit(error);
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
