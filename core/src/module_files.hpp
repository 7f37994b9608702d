#pragma once
// What providers and plugins share before any of their code runs: the manifest beside the
// .so, the file-safety checks, the API version handshake.
#include <berth/sdk.hpp>

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace berth {

struct ModuleManifest {
  std::string name;
  std::string version;
  std::string api_version;  // "major.minor"
  std::string description;
  nlohmann::json document;  // the whole manifest, for the sections a kind adds (plugin commands)
};

// One module found in a folder: NAME.so and/or NAME.yaml.
struct ModuleFile {
  std::string name;
  std::filesystem::path library;   // empty when only a manifest was found
  std::filesystem::path manifest;  // empty when only a library was found
  bool builtin = false;
};

// Every module in folder, by name. A missing folder is an empty list.
std::vector<ModuleFile> find_modules(const std::filesystem::path& folder, bool builtin);

// Why a module found on disk cannot even be considered: no library, no manifest, or a drop-in
// file or folder others can write. Empty when its files are in order.
std::string module_file_problem(const ModuleFile& file);

// Reads and checks NAME.yaml without loading the library. Throws invalid with the reason.
ModuleManifest read_module_manifest(const std::filesystem::path& path, const std::string& expected_name);
// The checks of read_module_manifest on a document already parsed.
ModuleManifest manifest_from_document(nlohmann::json document, const std::filesystem::path& path,
                                      const std::string& expected_name);

// Parsed manifests kept in a JSON file, keyed by each manifest's device, inode, size and
// modification time, so an unchanged manifest is not parsed as YAML again (yaml-cpp costs
// about 0.1 ms a file; the CLI reads every plugin's manifest at each start).
class ManifestCache {
 public:
  explicit ManifestCache(std::filesystem::path file);
  ModuleManifest read(const std::filesystem::path& path, const std::string& expected_name);
  // Writes the cache back when anything in it changed; failures are ignored (it is a cache).
  void save() const;

 private:
  std::filesystem::path file_;
  nlohmann::json entries_;
  bool changed_ = false;
};

// Why path (or its folder) must not be loaded: writable by others, or owned by another user.
// Empty when it is safe.
std::string unsafe_file_reason(const std::filesystem::path& path);

// Opens a module's library for loading, so that what is checked is what is loaded: once, with
// O_NOFOLLOW (a symbolic link is refused), then checked on the open descriptor (a regular file;
// for a drop-in, owned by this user or root and writable by nobody else, and every folder of
// its real path likewise, a sticky folder such as /tmp excepted). Load it from
// "/proc/self/fd/N" and close the descriptor after. Throws invalid with the reason.
int open_module_library(const std::filesystem::path& path, bool dropin);

std::optional<ApiVersion> parse_api_version(const std::string& text);
std::string to_string(ApiVersion version);
// Why a module built for `module` cannot load in a host of `host`; empty when it can.
std::string api_version_mismatch(ApiVersion module, ApiVersion host);

}  // namespace berth
