#pragma once
// devcontainer.json as the Development Containers specification defines it: finding it in a
// repository, reading and checking it, its variables, and its merge with image metadata.
// Provider-neutral: the docker provider uses it to make containers, the CLI to print a
// configuration (berth devcontainer read) without an engine.
#include <devcontainer/jsonc.hpp>
#include <devcontainer/repository.hpp>

#include <filesystem>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace devcontainer {

namespace fs = std::filesystem;

// Where a repository's devcontainer.json is, relative to its root, in the spec's order:
// .devcontainer/devcontainer.json, .devcontainer.json, .devcontainer/NAME/devcontainer.json.
// chosen (relative to root) picks one and must exist. Returns "" when there is none; throws
// invalid naming every candidate when several of the last kind exist and none was chosen, and
// naming the file when a candidate is a symbolic link that leads out of the repository.
std::string find_config(const Repository& repository, const std::string& chosen);

// The largest devcontainer.json (or devcontainer-feature.json) berth reads.
inline constexpr size_t kMaxDefinitionBytes = 1u << 20;

// A devcontainer.json, read and checked.
struct Config {
  Document document;                  // the file as written (variables substituted by resolve())
  fs::path file;                      // on disk
  std::vector<std::string> warnings;  // unknown properties and the like: said, not fatal
  std::string workspace_folder;       // in the container: workspaceFolder, or the default (set by resolve())
  fs::path root;                      // the repository's folder
  std::string folder;                 // the real folder of the file inside it ("" is the root)
};

// Reads and checks the repository's file relative: JSONC, the type of every known property,
// image or build present, the Dockerfile and the build context inside the repository. Throws
// berth::Error("invalid") naming file, line and property.
Config load_config(const Repository& repository, const std::string& relative);

// What the local variables stand for.
struct LocalContext {
  std::string local_workspace_folder;   // ${localWorkspaceFolder}
  std::string config_file;              // for ${devcontainerId}
  std::function<std::optional<std::string>(const std::string&)> local_env;  // ${localEnv:X}
  std::string default_workspace_folder; // when workspaceFolder is not set
};

// Substitutes ${localEnv:X[:default]}, ${localWorkspaceFolder[Basename]},
// ${containerWorkspaceFolder[Basename]} and ${devcontainerId} in every string of the config
// (workspaceFolder first, since the container ones come from it), leaving ${containerEnv:X}
// for substitute_container_env once the container runs. Sets config.workspace_folder.
// An unknown variable is refused naming file, line and property.
void resolve(Config& config, const LocalContext& context);

// ${containerEnv:X[:default]} in every string of value, from the running container's env.
void substitute_container_env(Json& value, const std::map<std::string, std::string>& container_env);

// The spec's ${devcontainerId}: sha256 of the id labels, as a 52-digit base-32 number.
std::string devcontainer_id(const std::string& local_folder, const std::string& config_file);

// The properties of a devcontainer.json that image metadata carries (the spec's list).
Json metadata_entry(const Json& config);
// The devcontainer.metadata label of an image: an array of entries or one entry; [] when
// empty. Throws invalid for anything else.
Json parse_metadata_label(const std::string& label);
// The spec's merge of metadata entries (base image first, devcontainer.json's own entry
// last): lifecycle commands collected in order (onCreateCommands, ...), env maps merged with
// later entries winning, booleans or'd, lists united, single values from the last entry
// that sets them. The result is the configuration with the merged properties.
Json merge(const Json& config, const Json& entries);

// One lifecycle command in its three forms: a string (run by /bin/sh -c), an array (argv),
// or an object of named commands of either kind, run in parallel. Returns (name, argv) pairs;
// the name is empty outside the object form.
std::vector<std::pair<std::string, std::vector<std::string>>> command_steps(const Json& command);

// The lifecycle commands in the spec's order.
inline constexpr const char* kLifecycleCommands[] = {"onCreateCommand", "updateContentCommand", "postCreateCommand",
                                                    "postStartCommand", "postAttachCommand"};

std::string sha256_hex(const std::string& data);

// A size as hostRequirements writes it ("4gb", "512mb", a number of bytes) in bytes; -1 when
// it is not one.
double parse_size(const Json& value);

}  // namespace devcontainer
