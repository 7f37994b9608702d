#pragma once
// The one registry of commands: built-in and plugin commands alike are (name, summary, group,
// define), so help, completion and dispatch all read the same table.
#include "session.hpp"

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <filesystem>

#include <functional>
#include <string>
#include <vector>

namespace berth::cli {

namespace fs = std::filesystem;

struct Invocation {
  Session& session;
  int exit_code = 0;
};

struct Command {
  std::string name;
  std::string summary;
  std::string group;  // the heading it appears under in --help
  // Adds the command's options, subcommands and callback to its CLI11 app.
  std::function<void(CLI::App&, Invocation&)> define;
};

using Registry = std::vector<Command>;

void add_workspace_commands(Registry& registry);
void add_target_commands(Registry& registry);
void add_provider_commands(Registry& registry);
void add_server_commands(Registry& registry);
void add_completion_command(Registry& registry);
void add_remote_commands(Registry& registry);
void add_devcontainer_commands(Registry& registry);

// The CLI's own settings (<config>/config.yaml): profiles of servers and the active one.
nlohmann::json read_profiles(const Session& session);
void write_profiles(const Session& session, const nlohmann::json& config);
// A profile's TLS settings: tls_ca, tls_cert, tls_key, tls_pin (a pinned SHA-256).
TlsClientOptions profile_tls(const nlohmann::json& profile);

// berth ssh NAME and berth ssh-config (cli/ssh.cpp), berth forward (cli/forward.cpp).
void define_ssh(CLI::App& app, Invocation& run);
void define_ssh_config(CLI::App& app, Invocation& run);
void define_forward(CLI::App& app, Invocation& run);
// berth code NAME (cli/editor.cpp).
void define_code(CLI::App& app, Invocation& run);

// Validates a name argument before it goes anywhere; a bad one is a usage error.
void require_name_argument(const std::string& kind, const std::string& name);

}  // namespace berth::cli
