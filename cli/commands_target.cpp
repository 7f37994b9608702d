// berth target add|list|show|remove|set-default, and berth provider list|info.
#include "atomic_file.hpp"
#include "commands.hpp"
#include "errors.hpp"
#include "output.hpp"

#include <iostream>
#include <iterator>

namespace berth::cli {
namespace {

void show_target(Session& session, const Target& t) {
  print_as(session, Json(t), [&] {
    std::cout << "name:      " << t.name << (t.is_default ? " (default)" : "") << '\n'
              << "provider:  " << t.provider << '\n'
              << "properties:\n";
    for (const auto& [key, value] : t.properties) std::cout << "  " << key << ": " << value << '\n';
  });
}

void define_target(CLI::App& app, Invocation& run) {
  // Set first: the subcommands made below inherit it.
  app.footer(
      "Examples:\n"
      "  berth target add -f targets/local-docker.yaml\n"
      "  berth target list\n"
      "  berth target set-default local-docker\n"
      "  berth target remove old --force      even while workspaces use it");
  app.require_subcommand(1);

  auto file = std::make_shared<std::string>();
  auto* add = app.add_subcommand("add", "Add a target from a YAML file (-f FILE, or -f - for stdin)");
  add->add_option("-f,--file", *file, "The target's YAML file, or - for standard input")->required();
  add->callback([&run, file] {
    std::string text;
    std::string source = *file;
    if (*file == "-") {
      text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
      source = "<stdin>";
    } else {
      auto content = read_file(*file);
      if (!content) throw invalid("cannot read target file '" + *file + "'");
      text = std::move(*content);
    }
    Target t = run.session.api().add_target_yaml(text, source);
    if (run.session.format() != OutputFormat::table) {
      show_target(run.session, t);
    } else if (!run.session.options.quiet) {
      std::cout << "target '" << t.name << "' added (provider " << t.provider << ")\n";
    }
  });

  auto* list = app.add_subcommand("list", "List targets");
  list->alias("ls");
  list->callback([&run] {
    auto targets = run.session.api().list_targets();
    print_as(run.session, Json(targets), [&] {
      std::vector<Row> rows;
      for (const auto& t : targets) {
        std::string properties;
        for (const auto& [key, value] : t.properties) properties += (properties.empty() ? "" : " ") + key + "=" + value;
        rows.push_back({t.name + (t.is_default ? " *" : ""), t.provider, properties});
      }
      print_table({"NAME", "PROVIDER", "PROPERTIES"}, rows);
    });
  });

  auto name = std::make_shared<std::string>();
  auto* show = app.add_subcommand("show", "Show one target");
  show->add_option("name", *name, "Target name")->required();
  show->callback([&run, name] {
    require_name_argument("target", *name);
    show_target(run.session, run.session.api().get_target(*name));
  });

  auto force = std::make_shared<bool>(false);
  auto* remove = app.add_subcommand("remove", "Remove a target (refused while workspaces use it, unless --force)");
  remove->alias("rm");
  remove->add_option("name", *name, "Target name")->required();
  remove->add_flag("--force", *force, "Remove it even though workspaces use it");
  remove->callback([&run, name, force] {
    require_name_argument("target", *name);
    run.session.api().remove_target(*name, *force);
    if (!run.session.options.quiet) std::cout << "target '" << *name << "' removed\n";
  });

  auto* set_default = app.add_subcommand("set-default", "Make a target the default for berth create");
  set_default->add_option("name", *name, "Target name")->required();
  set_default->callback([&run, name] {
    require_name_argument("target", *name);
    run.session.api().set_default_target(*name);
    if (!run.session.options.quiet) std::cout << "target '" << *name << "' is the default\n";
  });
}

void print_manifest(const ProviderStatus& p) {
  std::cout << "name:         " << p.info.name << '\n'
            << "version:      " << p.info.version << '\n'
            << "api version:  " << p.api_version << '\n'
            << "location:     " << p.location << '\n'
            << "status:       " << (p.broken ? "broken: " + p.reason : "loaded") << '\n'
            << "description:  " << p.info.description << "\n\n";
  std::vector<Row> rows;
  for (const auto& spec : p.info.target_manifest) {
    std::string type = to_string(spec.type);
    if (!spec.choices.empty()) {
      type += "(";
      for (size_t i = 0; i < spec.choices.size(); ++i) type += (i ? "|" : "") + spec.choices[i];
      type += ")";
    }
    rows.push_back({spec.name, type, spec.required ? "yes" : "no", spec.default_value.empty() ? "-" : spec.default_value,
                    spec.description});
  }
  print_table({"PROPERTY", "TYPE", "REQUIRED", "DEFAULT", "DESCRIPTION"}, rows);
}

void define_provider(CLI::App& app, Invocation& run) {
  app.footer(
      "Examples:\n"
      "  berth provider list\n"
      "  berth provider info docker           the properties its targets take\n"
      "  berth provider logs docker\n"
      "  berth provider enable docker         after fixing what quarantined it");
  app.require_subcommand(1);
  auto* list = app.add_subcommand("list", "List providers: loaded or broken, built-in or drop-in");
  list->alias("ls");
  list->callback([&run] {
    auto providers = run.session.api().list_providers();
    print_as(run.session, Json(providers), [&] {
      std::vector<Row> rows;
      for (const auto& p : providers) {
        rows.push_back({p.info.name, p.info.version.empty() ? "-" : p.info.version, p.api_version.empty() ? "-" : p.api_version,
                        p.location, p.broken ? "broken" : "loaded", p.reason});
      }
      print_table({"NAME", "VERSION", "API", "LOCATION", "STATUS", "REASON"}, rows);
    });
  });
  auto name = std::make_shared<std::string>();
  auto* info = app.add_subcommand("info", "Show a provider and its target manifest");
  info->add_option("name", *name, "Provider name")->required();
  info->callback([&run, name] {
    auto provider = run.session.api().get_provider(*name);
    print_as(run.session, Json(provider), [&] { print_manifest(provider); });
  });
  // enable / disable: the answer is the provider's status after it, as `provider list` shows it.
  for (const char* verb : {"enable", "disable"}) {
    bool enable = std::string(verb) == "enable";
    auto* command = app.add_subcommand(verb, enable ? "Lift a provider's quarantine or disable, and start it"
                                                    : "Stop a provider's process and refuse its calls until enabled");
    command->add_option("name", *name, "Provider name")->required();
    command->callback([&run, name, enable] {
      auto provider = enable ? run.session.api().enable_provider(*name) : run.session.api().disable_provider(*name);
      print_as(run.session, Json(provider), [&] {
        std::cout << "provider " << provider.info.name << ": " << (provider.broken ? "broken: " + provider.reason : "loaded")
                  << std::endl;
      });
      if (enable && provider.broken) throw Error("provider_failed", "provider '" + *name + "' is still broken: " + provider.reason);
    });
  }
  auto* logs = app.add_subcommand("logs", "Show what a provider printed (logs/providers/NAME.log)");
  logs->add_option("name", *name, "Provider name")->required();
  logs->callback([&run, name] { std::cout << run.session.api().provider_log(*name) << std::flush; });
}

}  // namespace

void add_target_commands(Registry& registry) {
  registry.push_back({"target", "Manage targets: where workspaces are made (add, list, show, remove, set-default)",
                      "Configuration", define_target});
}

void add_provider_commands(Registry& registry) {
  registry.push_back({"provider", "Show and manage providers (list, info, enable, disable, logs)", "Configuration", define_provider});
}

}  // namespace berth::cli
