#include "provider_registry.hpp"

#include "errors.hpp"
#include "module_files.hpp"

#define BOOST_DLL_USE_STD_FS
#include <boost/dll/shared_library.hpp>

namespace fs = std::filesystem;

namespace berth {
namespace {
using Library = boost::dll::shared_library;
constexpr const char* kVersionSymbol = "berth_provider_api_version";
constexpr const char* kFactorySymbol = "berth_provider_create";
}  // namespace

ProviderRegistry::Entry ProviderRegistry::load_one(const ModuleFile& file) const {
  Entry entry;
  auto& status = entry.status;
  status.info.name = file.name;
  status.location = file.builtin ? "built-in" : file.library.empty() ? file.manifest.string() : file.library.string();
  status.path = file.library.string();
  auto refuse = [&](const std::string& reason) {
    status.broken = true;
    status.reason = reason;
    return entry;
  };
  if (auto problem = module_file_problem(file); !problem.empty()) return refuse(problem);

  ModuleManifest manifest;
  try {
    manifest = read_module_manifest(file.manifest, file.name);
  } catch (const std::exception& error) {
    return refuse(error.what());
  }
  status.info.version = manifest.version;
  status.info.description = manifest.description;
  status.api_version = manifest.api_version;
  // The handshake, first from the manifest: a mismatch never loads the library at all.
  if (auto reason = api_version_mismatch(*parse_api_version(manifest.api_version), sdk_api_version); !reason.empty()) {
    return refuse(reason);
  }

  std::shared_ptr<Library> library;
  try {
    library = std::make_shared<Library>(file.library, boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  } catch (const std::exception& error) {
    return refuse("not a loadable shared library: " + std::string(error.what()));
  }
  if (!library->has(kVersionSymbol)) return refuse("missing entry symbol " + std::string(kVersionSymbol) + " (use BERTH_PROVIDER)");
  if (!library->has(kFactorySymbol)) return refuse("missing entry symbol " + std::string(kFactorySymbol) + " (use BERTH_PROVIDER)");

  const ApiVersion* reported = library->get<const ApiVersion*() noexcept>(kVersionSymbol)();
  if (reported == nullptr) return refuse("the library reports no API version");
  if (reported->major != parse_api_version(manifest.api_version)->major ||
      reported->minor != parse_api_version(manifest.api_version)->minor) {
    return refuse("the library was built for SDK API " + to_string(*reported) + " but its manifest says " +
                  manifest.api_version);
  }

  Provider* raw = nullptr;
  try {
    raw = library->get<Provider*()>(kFactorySymbol)();
  } catch (const std::exception& error) {
    return refuse("its factory threw: " + std::string(error.what()));
  } catch (...) {
    return refuse("its factory threw an unknown exception");
  }
  if (raw == nullptr) return refuse("its factory returned no provider");
  entry.instance = std::shared_ptr<Provider>(raw, [library](Provider* provider) { delete provider; });

  try {
    ProviderInfo info = entry.instance->info();
    if (info.name != manifest.name || info.version != manifest.version) {
      entry.instance.reset();
      return refuse("the library says it is " + info.name + " " + info.version + " but its manifest says " +
                    manifest.name + " " + manifest.version);
    }
    status.info = std::move(info);
    if (status.info.description.empty()) status.info.description = manifest.description;
  } catch (const std::exception& error) {
    entry.instance.reset();
    return refuse("info() threw: " + std::string(error.what()));
  } catch (...) {
    entry.instance.reset();
    return refuse("info() threw an unknown exception");
  }
  return entry;
}

void ProviderRegistry::load(const fs::path& builtin_folder, const fs::path& dropin_folder) {
  for (const auto& file : find_modules(builtin_folder, true)) {
    entries_[file.name] = load_one(file);
  }
  for (const auto& file : find_modules(dropin_folder, false)) {
    auto existing = entries_.find(file.name);
    if (existing != entries_.end() && existing->second.status.location == "built-in") {
      // Reported under its own key so the built-in stays usable and the refusal is visible.
      Entry refused;
      refused.status.info.name = file.name;
      refused.status.location = file.library.empty() ? file.manifest.string() : file.library.string();
      refused.status.path = file.library.string();
      refused.status.broken = true;
      refused.status.reason = "a drop-in may not replace the built-in provider '" + file.name + "'; rename it";
      entries_[file.name + "@" + refused.status.location] = std::move(refused);
      continue;
    }
    entries_[file.name] = load_one(file);
  }
}

std::vector<ProviderStatus> ProviderRegistry::list() const {
  std::vector<ProviderStatus> result;
  for (const auto& [key, entry] : entries_) result.push_back(entry.status);
  return result;
}

std::optional<ProviderStatus> ProviderRegistry::find(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) return std::nullopt;
  return it->second.status;
}

std::shared_ptr<Provider> ProviderRegistry::instance(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) throw not_found("provider '" + name + "' is not installed (berth provider list)");
  if (it->second.status.broken) {
    throw provider_failed("provider '" + name + "' is broken: " + it->second.status.reason);
  }
  return it->second.instance;
}

}  // namespace berth
