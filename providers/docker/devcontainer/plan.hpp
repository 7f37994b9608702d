#pragma once
// A repository's devcontainer.json turned into a container on a Docker engine: what create
// reads (load_plan), builds or pulls (prepare_image), sets on the container (shape_container),
// records on the workspace (record_plan), and runs once it is up (lifecycle.cpp).
#include "../engine.hpp"

#include <devcontainer/config.hpp>
#include <devcontainer/features.hpp>

#include <berth/provider.hpp>

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

namespace docker::dc {

namespace fs = std::filesystem;

// The runArgs berth understands, already parsed (the rest is refused by name at load).
struct RunArgs {
  std::vector<std::string> cap_add, cap_drop, security_opt, env, add_host;
  std::map<std::string, std::string> labels;
  std::string hostname, network, shm_size;
  bool privileged = false, init = false;
};

struct Plan {
  devcontainer::Config config;  // checked, local variables substituted
  std::string shown_as;         // the path in the repository, e.g. .devcontainer/devcontainer.json
  fs::path checkout;            // the clone on this machine (${localWorkspaceFolder})
  RunArgs run_args;
  std::vector<devcontainer::Feature> features;  // local ones, in install order
  Json entries = Json::array();  // image metadata entries, devcontainer.json's own last
  Json merged;                   // the configuration merged with them
  std::string image;             // what the container runs
  const std::string& workspace_folder() const { return config.workspace_folder; }
};

// Reads the checkout's devcontainer.json (or the one options["devcontainer"] names), checks it
// and substitutes local variables; nullopt when it has none or options["no_devcontainer"] is
// "true". Everything wrong is refused here, before anything is made.
std::optional<Plan> load_plan(const berth::OperationContext& c, const fs::path& checkout, const std::string& default_folder);

// initializeCommand, on this machine, in the checkout (after require_initialize_consent).
void run_initialize_command(const Plan& plan, berth::ProgressSink& progress);

// consent.cpp: refuses an initializeCommand unless the request came from the server's own
// Unix socket (or TCP where the server allows it: options berth.host_commands=allowed) and
// the person agreed (options trust=true now, or earlier for the same repository and command,
// remembered in the provider's data folder). Without agreement the record gets
// provider_data berth.consent (field, file, line, command, hash) for the CLI to ask with.
void require_initialize_consent(const Plan& plan, berth::OperationContext& c);
std::string initialize_command_hash(const Plan& plan, const std::string& repository);

// untrusted.cpp: runs work (reading a repository's or an image's files) in a short-lived child
// and returns what it returned. A crash of the child is this operation's error (invalid,
// naming what), never the provider's; berth::Error thrown by work comes back as it was.
std::string read_untrusted(const std::string& what, const std::function<std::string()>& work);

// Pulls the image or builds the Dockerfile, then installs the features in a layer of their own
// (each image reused while its inputs are unchanged), then reads its devcontainer.metadata
// label and merges it with devcontainer.json into plan.merged.
void prepare_image(Plan& plan, Engine& engine, const std::function<void(const std::string&)>& ensure_image,
                   berth::ProgressSink& progress);

// Refuses when the engine has fewer CPUs or less memory than hostRequirements asks.
void check_host_requirements(const Plan& plan, Engine& engine);

// Sets the merged configuration on a /containers/create body: env, user, folder, command,
// init, privileged, capabilities, security options, mounts, runArgs, labels.
void shape_container(const Plan& plan, const berth::OperationContext& c, Json& body);

// Records what exec, sessions, start and berth info need in provider_data.
void record_plan(const Plan& plan, berth::StringMap& provider_data);

using ExecFunction = std::function<int(const berth::ExecRequest&, berth::OutputSink&)>;

// Once the container first runs: substitutes ${containerEnv:X} in remoteEnv and the commands
// from the container's environment, and gives the repository to the user commands run as.
void settle_container(Engine& engine, berth::OperationContext& c, const ExecFunction& exec);

// Runs the create-time lifecycle commands not yet done (onCreate, updateContent, postCreate;
// the next one is recorded, so a start after a failure goes on from there), then
// postStartCommand. A failing command throws with its name, exit code and last lines.
// until_ready (create, rebuild): only up to waitFor's command; what is left is named in
// provider_data["berth.after_ready"], for the server to run through start() once it is ready.
void run_lifecycle(berth::OperationContext& c, const ExecFunction& exec, bool until_ready = false);

// postAttachCommand, for a session about to start (berth ssh): the collected commands recorded
// at create, run as every exec is (docker::exec_defaults). Nothing when there are none.
void run_attach_commands(berth::OperationContext& c, const ExecFunction& exec);

// Gives folder (recursively) to user inside the container, when user is not root.
void give_to_user(berth::OperationContext& c, const ExecFunction& exec, const std::string& user, const std::string& folder);

}  // namespace docker::dc
