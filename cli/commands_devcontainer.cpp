// berth devcontainer read PATH: a repository's devcontainer.json as berth reads it, checked,
// its variables substituted and merged, without creating anything or talking to an engine.
#include "commands.hpp"
#include "errors.hpp"
#include "output.hpp"

#include <devcontainer/config.hpp>

#include <cstdlib>
#include <iostream>

namespace berth::cli {
namespace {

void define_devcontainer(CLI::App& app, Invocation& run) {
  app.footer(
      "Examples:\n"
      "  berth devcontainer read .\n"
      "  berth devcontainer read ~/src/api --devcontainer .devcontainer/python/devcontainer.json");
  app.require_subcommand(1);
  auto folder = std::make_shared<std::string>();
  auto config = std::make_shared<std::string>();
  auto* read = app.add_subcommand("read", "Print a repository's devcontainer.json as berth reads it (checked, variables substituted, merged)");
  read->footer(
      "The merged configuration here has no image metadata: reading the image's devcontainer.metadata label needs the engine;\n"
      "berth create merges it and shows the result in berth info NAME -o json (provider_data devcontainer.merged).\n\n"
      "Examples:\n  berth devcontainer read . -o json\n  berth devcontainer read ~/src/api --devcontainer .devcontainer/python/devcontainer.json");
  read->add_option("path", *folder, "The repository's folder on this machine")->required();
  read->add_option("--devcontainer,--config", *config, "The devcontainer.json to read, relative to the folder (when it has several)");
  read->callback([&run, folder, config] {
    std::error_code error;
    fs::path root = fs::absolute(*folder, error).lexically_normal();
    if (root.has_filename() == false) root = root.parent_path();
    if (!fs::is_directory(root, error)) throw invalid("'" + *folder + "' is not a folder");
    devcontainer::Repository repository(root);
    std::string relative = devcontainer::find_config(repository, *config);
    if (relative.empty()) {
      throw not_found("no devcontainer.json in " + root.string() +
                      " (looked for .devcontainer/devcontainer.json, .devcontainer.json, .devcontainer/*/devcontainer.json)");
    }
    devcontainer::Config loaded = devcontainer::load_config(repository, relative);
    for (const auto& warning : loaded.warnings) std::cerr << "warning: " << warning << '\n';
    devcontainer::LocalContext context;
    context.local_workspace_folder = root.string();
    context.config_file = (root / relative).string();
    context.default_workspace_folder = "/workspaces/" + root.filename().string();
    context.local_env = [](const std::string& name) -> std::optional<std::string> {
      const char* value = std::getenv(name.c_str());
      return value ? std::optional<std::string>(value) : std::nullopt;
    };
    devcontainer::resolve(loaded, context);
    const Json& configuration = loaded.document.value;
    Json entries = Json::array({devcontainer::metadata_entry(configuration)});
    Json document{{"configFile", (root / relative).string()},
                  {"configuration", configuration},
                  {"workspace", {{"workspaceFolder", loaded.workspace_folder}}},
                  {"mergedConfiguration", devcontainer::merge(configuration, entries)}};
    print_as(run.session, document, [&] { std::cout << document.dump(2) << '\n'; });
  });
}

}  // namespace

void add_devcontainer_commands(Registry& registry) {
  registry.push_back({"devcontainer", "Read a repository's devcontainer.json as berth does (read)", "Workspaces", define_devcontainer});
}

}  // namespace berth::cli
