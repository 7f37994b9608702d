// Plugin commands: discovered from manifests, run in a child process that loads the library.
#include "plugins.hpp"

#include "daemon.hpp"
#include "errors.hpp"
#include "home.hpp"
#include "module_files.hpp"
#include "output.hpp"
#include "version.hpp"

#include <berth/plugin.hpp>

#define BOOST_DLL_USE_STD_FS
#include <boost/dll/shared_library.hpp>

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <set>
#include <iostream>

namespace fs = std::filesystem;

namespace berth::cli {
namespace {

constexpr const char* kVersionSymbol = "berth_plugin_api_version";
constexpr const char* kFactorySymbol = "berth_plugin_create";

class CliContext : public Context {
 public:
  CliContext(Session& session, const PluginEntry& plugin) : session_(session), plugin_(plugin) {}
  Api& api() override { return session_.api(); }
  std::vector<ProviderStatus> providers() override { return session_.api().list_providers(); }
  std::ostream& out() override { return std::cout; }
  std::ostream& err() override { return std::cerr; }
  std::istream& in() override { return std::cin; }
  bool interactive() const override { return ::isatty(0) == 1; }
  std::string data_dir() const override {
    fs::path dir = session_.home().data_dir / "plugin-data" / plugin_.name;
    try {
      create_private_folders(dir);
    } catch (const std::exception&) {
      // The plugin finds out when it writes there.
    }
    return dir.string();
  }
  std::string home_dir() const override { return session_.home().data_dir.string(); }
  OutputFormat output_format() const override { return session_.format(); }
  bool quiet() const override { return session_.options.quiet; }
  std::string berth_version() const override { return BERTH_VERSION; }

 private:
  Session& session_;
  const PluginEntry& plugin_;
};

// In the child: load, handshake, create, run. Returns the exit code; never throws.
int run_in_child(Session& session, const PluginEntry& plugin, const std::string& command, const std::vector<std::string>& args) {
  const std::string who = "plugin '" + plugin.name + "'";
  try {
    boost::dll::shared_library library;
    try {
      library.load(plugin.library, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
    } catch (const std::exception& error) {
      throw Error("unavailable", "cannot be loaded: " + std::string(error.what()));
    }
    if (!library.has(kVersionSymbol) || !library.has(kFactorySymbol)) {
      throw Error("unavailable", std::string("has no entry symbol ") + kVersionSymbol + " (use BERTH_PLUGIN)");
    }
    const ApiVersion* reported = library.get<const ApiVersion*() noexcept>(kVersionSymbol)();
    if (reported == nullptr || to_string(*reported) != plugin.api_version) {
      throw Error("unavailable", "was built for SDK API " + (reported ? to_string(*reported) : std::string("?")) +
                                     " but its manifest says " + plugin.api_version);
    }
    std::unique_ptr<Plugin> instance(library.get<Plugin*()>(kFactorySymbol)());
    if (!instance) throw Error("unavailable", "its factory returned nothing");
    CliContext context(session, plugin);
    int code = instance->run(context, command, args);
    std::cout.flush();
    if (code < 0 || code > 255) {
      std::cerr << "berth: " << who << " returned an invalid exit code " << code << " from '" << command
                << "' (expected 0 to 255)" << std::endl;
      return 1;
    }
    return code;
  } catch (const std::exception& error) {
    std::cout.flush();
    std::cerr << "berth: " << who << " failed in '" << command << "': " << error.what() << std::endl;
    return 1;
  } catch (...) {
    std::cerr << "berth: " << who << " failed in '" << command << "' with an unknown exception" << std::endl;
    return 1;
  }
}

int run_plugin(Session& session, const PluginEntry& plugin, const std::string& command, const std::vector<std::string>& args) {
  // A plugin that lists its permissions acts with a credential of its own, which the server holds
  // to what was granted; one of SDK 1.4 or older (no list) acts as the user, as it always did.
  std::string token;
  if (plugin.extensions.scoped) {
    Json minted = Json::parse(session.api().call("POST", "/v1/plugins/" + plugin.name + "/token", "{}").body, nullptr, false);
    token = minted.is_object() ? minted.value("token", "") : "";
    if (token.empty()) throw unavailable("the server gave plugin '" + plugin.name + "' no credential");
  }
  std::cout.flush();
  std::cerr.flush();
  pid_t pid = ::fork();
  if (pid < 0) throw unavailable("cannot start plugin '" + plugin.name + "': fork failed");
  if (pid == 0) {
    // A crash must end the child by its signal, so the parent can say which plugin crashed;
    // handlers inherited from the CLI (or a sanitizer's) would turn it into an exit code.
    for (int signal_number : {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT}) ::signal(signal_number, SIG_DFL);
    if (!token.empty()) session.api().act_for_plugin(token);
    int code = run_in_child(session, plugin, command, args);
    std::cout.flush();
    std::cerr.flush();
    ::_exit(code);
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!token.empty()) {
    try {
      session.api().call("POST", "/v1/plugins/" + plugin.name + "/token/revoke", Json{{"token", token}}.dump());
    } catch (const Error&) {
      // It lapses with the server, or as one of the plugin's oldest.
    }
  }
  if (WIFSIGNALED(status)) {
    int signal_number = WTERMSIG(status);
    throw Error("provider_failed", "plugin '" + plugin.name + "' crashed with signal " + std::to_string(signal_number) + " (" +
                                       strsignal(signal_number) + ") in '" + command + "'; berth itself is fine (to turn it off: berth plugin disable " +
                                       plugin.name + ")");
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 1;
}

std::string arguments_footer(const PluginCommandSpec& command, const PluginEntry& plugin) {
  std::string footer = "Provided by plugin '" + plugin.name + "' " + plugin.version + " (" + plugin.location + ").";
  if (!command.arguments.empty()) {
    footer += "\nArguments:";
    for (const auto& [name, description] : command.arguments) footer += "\n  " + name + "  " + description;
  }
  return footer;
}

void define_plugin_management(CLI::App& app, Invocation& run, const std::shared_ptr<const std::vector<PluginEntry>>& plugins) {
  app.footer(
      "Examples:\n"
      "  berth plugin list\n"
      "  berth plugin disable prune           its commands disappear from berth\n"
      "  berth plugin enable prune");
  app.require_subcommand(1);
  auto* list = app.add_subcommand("list", "List every plugin and provider: kind, version, location, status");
  list->alias("ls");
  list->callback([&run, plugins] {
    Json rows_json = Json::array();
    std::vector<Row> rows;
    for (const auto& p : *plugins) {
      std::string commands;
      for (const auto& c : p.commands) commands += (commands.empty() ? "" : ",") + c.name;
      std::string reason = p.reason;
      if (reason.empty() && !p.not_granted.empty()) {
        std::string missing;
        for (const auto& permission : p.not_granted) missing += (missing.empty() ? "" : ",") + permission;
        reason = "asks for " + missing + ", not granted: berth plugin enable " + p.name;
      }
      rows_json.push_back({{"kind", "plugin"}, {"name", p.name}, {"version", p.version}, {"api_version", p.api_version},
                           {"location", p.location}, {"status", to_string(p.state)}, {"reason", reason}, {"commands", commands},
                           {"scoped", p.extensions.scoped}, {"permissions", p.extensions.permissions}, {"granted", p.granted},
                           {"not_granted", p.not_granted}, {"sections", extensions_json(p.extensions)}});
    }
    // What only the server knows (a service's state, jobs' last runs, the log's last lines), when
    // this home's server runs; the list itself never needs one.
    if (run.session.local_server() && daemon_status(run.session.home()).running) {
      try {
        Json served = Json::parse(run.session.api().call("GET", "/v1/plugins").body, nullptr, false);
        for (auto& row : rows_json) {
          for (const auto& plugin : served.is_array() ? served : Json::array()) {
            if (plugin.value("name", "") != row["name"]) continue;
            for (const char* key : {"service", "jobs", "log_tail"}) {
              if (plugin.contains(key)) row[key] = plugin[key];
            }
          }
        }
      } catch (const Error&) {
        // Listed without them.
      }
    }
    try {
      for (const auto& p : run.session.api().list_providers()) {
        rows_json.push_back({{"kind", "provider"}, {"name", p.info.name}, {"version", p.info.version}, {"api_version", p.api_version},
                             {"location", p.location}, {"status", p.broken ? "broken" : "loaded"}, {"reason", p.reason}, {"commands", ""}});
      }
    } catch (const Error& error) {
      std::cerr << "berth: providers not listed: " << error.what() << std::endl;
    }
    print_as(run.session, rows_json, [&] {
      for (const auto& row : rows_json) {
        rows.push_back({row["kind"], row["name"], row["version"].get<std::string>().empty() ? "-" : row["version"].get<std::string>(),
                        row["location"], row["status"], row["commands"], row["reason"]});
      }
      print_table({"KIND", "NAME", "VERSION", "LOCATION", "STATUS", "COMMANDS", "REASON"}, rows);
    });
  });

  {
    auto name = std::make_shared<std::string>();
    auto* logs = app.add_subcommand("logs", "Show a plugin's log: its refusals, host binaries, service and jobs (the server keeps the last 200 lines)");
    logs->add_option("name", *name, "Plugin name")->required();
    logs->callback([&run, name] {
      Json answer = Json::parse(run.session.api().call("GET", "/v1/plugins/" + *name + "/log").body, nullptr, false);
      if (run.session.format() != OutputFormat::table) {
        print_as(run.session, answer, [] {});
        return;
      }
      if (answer.is_object() && answer.contains("lines")) {
        for (const auto& line : answer["lines"]) std::cout << line.get<std::string>() << '\n';
      }
    });
  }
  {
    auto name = std::make_shared<std::string>();
    auto enable_job = std::make_shared<std::string>();
    auto disable_job = std::make_shared<std::string>();
    auto run_job = std::make_shared<std::string>();
    auto* jobs = app.add_subcommand("jobs", "List a plugin's scheduled jobs with their last runs; enable, disable or run one");
    jobs->add_option("name", *name, "Plugin name")->required();
    jobs->add_option("--enable", *enable_job, "Enable the job with this id (kept in plugins.yaml)");
    jobs->add_option("--disable", *disable_job, "Disable the job with this id");
    jobs->add_option("--run", *run_job, "Run the job with this id now (in the server, as the schedule would)");
    jobs->callback([&run, plugins, name, enable_job, disable_job, run_job] {
      auto found = std::find_if(plugins->begin(), plugins->end(), [&](const PluginEntry& p) { return p.name == *name; });
      if (found == plugins->end()) throw not_found("plugin '" + *name + "' is not installed (berth plugin list)");
      for (const auto& [id, enable] : {std::pair{*enable_job, true}, std::pair{*disable_job, false}}) {
        if (id.empty()) continue;
        set_plugin_job_enabled(plugin_folders(run.session.home()).settings, *found, id, enable);
        if (!run.session.options.quiet) std::cout << "job '" << id << "' of plugin '" << *name << "' " << (enable ? "enabled" : "disabled") << '\n';
      }
      if (!run_job->empty()) {
        run.session.api().call("POST", "/v1/plugins/" + *name + "/jobs/" + *run_job + "/run", "{}");
        if (!run.session.options.quiet) std::cout << "job '" << *run_job << "' of plugin '" << *name << "' started; see: berth plugin jobs " << *name << '\n';
      }
      if (!enable_job->empty() || !disable_job->empty() || !run_job->empty()) return;
      Json list = Json::parse(run.session.api().call("GET", "/v1/plugins/" + *name + "/jobs").body, nullptr, false);
      print_as(run.session, list, [&] {
        std::vector<Row> rows;
        for (const auto& job : list) {
          std::string last = "-", code = "-";
          if (!job["runs"].empty()) {
            const Json& newest = job["runs"][0];
            last = newest.value("started_at", "");
            code = newest.value("timed_out", false) ? "timed out" : std::to_string(newest.value("exit_code", -1));
          }
          std::string command;
          for (const auto& word : job["command"]) command += (command.empty() ? "" : " ") + word.get<std::string>();
          rows.push_back({job.value("id", ""), job.value("schedule", ""), command, job.value("enabled", false) ? "yes" : "no",
                          job.value("running", false) ? "running" : last, code});
        }
        print_table({"ID", "SCHEDULE", "COMMAND", "ENABLED", "LAST RUN", "EXIT"}, rows);
      });
    });
  }

  for (bool enable : {true, false}) {
    auto name = std::make_shared<std::string>();
    auto* sub = app.add_subcommand(enable ? "enable" : "disable", enable ? "Enable a disabled plugin" : "Disable a plugin: its commands disappear");
    sub->add_option("name", *name, "Plugin name")->required();
    auto yes = std::make_shared<bool>(false);
    if (enable) sub->add_flag("-y,--yes", *yes, "Grant the permissions it asks for without asking");
    sub->callback([&run, plugins, name, enable, yes] {
      auto found = std::find_if(plugins->begin(), plugins->end(), [&](const PluginEntry& p) { return p.name == *name; });
      if (found == plugins->end()) throw not_found("plugin '" + *name + "' is not installed (berth plugin list)");
      if (enable && found->state == PluginState::broken) throw unavailable("plugin '" + *name + "' is broken: " + found->reason);
      if (enable && !found->not_granted.empty()) {
        std::string asks;
        for (const auto& permission : found->extensions.permissions) {
          asks += "  " + permission + (found->not_granted.count(permission) ? "  (new)" : "") + "\n";
        }
        std::cerr << "plugin '" << *name << "' asks to act through berth with:\n" << asks;
        if (!*yes) {
          if (::isatty(0) != 1) {
            throw invalid("plugin '" + *name + "' asks for permissions (above); grant them with: berth plugin enable " + *name + " --yes");
          }
          std::cerr << "Grant them? [y/N] " << std::flush;
          std::string answer;
          std::getline(std::cin, answer);
          if (answer != "y" && answer != "Y" && answer != "yes") throw invalid("nothing granted; plugin '" + *name + "' is unchanged");
        }
      }
      // Through the server when one runs (enabling there also lifts a service's quarantine); the
      // settings file directly otherwise.
      bool told_server = false;
      if (run.session.local_server() && daemon_status(run.session.home()).running) {
        try {
          run.session.api().call("POST", "/v1/plugins/" + *name + (enable ? "/enable" : "/disable"), "{}");
          told_server = true;
        } catch (const Error& error) {
          if (error.code() != "unavailable") throw;
        }
      }
      if (!told_server) set_plugin_enabled(plugin_folders(run.session.home()).settings, *found, enable);
      if (!run.session.options.quiet) std::cout << "plugin '" << *name << "' " << (enable ? "enabled" : "disabled") << '\n';
    });
  }
}

}  // namespace

PluginFolders plugin_folders(const Home& home) {
  return {executable_dir().parent_path() / "lib" / "berth" / "plugins", home.plugins_dir(), home.config_dir / "plugins.yaml",
          home.data_dir / "cache" / "plugin-manifests.json"};
}

void add_plugin_commands(Registry& registry, const std::shared_ptr<const std::vector<PluginEntry>>& plugins) {
  registry.push_back({"plugin", "List plugins and providers; enable or disable plugins", "Configuration",
                      [plugins](CLI::App& app, Invocation& run) { define_plugin_management(app, run, plugins); }});
  std::set<std::string> taken{"help", "ls", "rm", "ws"};
  for (const auto& command : registry) taken.insert(command.name);
  for (const auto& plugin : *plugins) {
    for (const auto& command : plugin.commands) {
      // A colliding command is never registered: the plugin is broken, and the name stays its owner's.
      if (!taken.insert(command.name).second) continue;
      std::string group = plugin.state == PluginState::enabled ? "Plugin " + plugin.name : "";
      registry.push_back({command.name, command.summary, group, [&plugin, command](CLI::App& app, Invocation& run) {
                            // Everything berth does not know goes to the plugin, in order; -o and -q
                            // keep their meaning anywhere on the line.
                            app.fallthrough(false);
                            app.allow_extras();
                            app.add_option("-o,--output", run.session.options.output, "Output format: table, json or yaml")
                                ->check(CLI::IsMember({"table", "json", "yaml"}));
                            app.add_flag("-q,--quiet", run.session.options.quiet, "Print only what was asked for");
                            app.footer(arguments_footer(command, plugin));
                            app.callback([&app, &run, &plugin, command] {
                              if (plugin.state == PluginState::disabled) {
                                throw unavailable("plugin '" + plugin.name + "' is disabled; enable it with: berth plugin enable " + plugin.name);
                              }
                              if (plugin.state == PluginState::broken) {
                                throw unavailable("plugin '" + plugin.name + "' is broken: " + plugin.reason);
                              }
                              run.exit_code = run_plugin(run.session, plugin, command.name, app.remaining());
                            });
                          }});
    }
  }
}

}  // namespace berth::cli
