#include "provider_registry.hpp"

#include "atomic_file.hpp"
#include "codec.hpp"
#include "errors.hpp"
#include "home.hpp"
#include "module_files.hpp"

#include <sys/stat.h>

#include <mutex>
#include <set>
#include <thread>

namespace fs = std::filesystem;

namespace berth {

ProviderRegistry::ProviderRegistry(std::shared_ptr<Redactor> redactor) : redactor_(std::move(redactor)) {}

ProviderRegistry::~ProviderRegistry() { stop_all("berth-server is shutting down"); }

void ProviderRegistry::load(const ProviderPaths& paths) {
  paths_ = paths;
  try {
    create_private_folders(paths.log_folder);
  } catch (const std::exception&) {
    // The providers' logs then go nowhere; the providers still load.
  }
  std::set<std::string> disabled;
  if (auto text = read_file(paths.settings_file)) {
    try {
      Json settings = yaml_to_json(*text, paths.settings_file.string());
      if (settings.is_object() && settings.contains("disabled") && settings["disabled"].is_array()) {
        for (const auto& name : settings["disabled"]) {
          if (name.is_string()) disabled.insert(name.get<std::string>());
        }
      }
    } catch (const std::exception&) {
      // An unreadable settings file disables nothing; the server says nothing worse than that.
    }
  }

  auto add = [&](const ModuleFile& file, const std::string& key) {
    Entry entry;
    auto& status = entry.status;
    status.info.name = file.name;
    status.location = file.builtin ? "built-in" : file.library.empty() ? file.manifest.string() : file.library.string();
    status.path = file.library.string();
    auto refuse = [&](const std::string& reason) {
      status.broken = true;
      status.reason = reason;
      entries_[key] = std::move(entry);
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
    if (auto keeps = manifest.document.find("keeps_volumes"); keeps != manifest.document.end()) {
      entry.keeps_volumes = keeps->is_boolean() ? keeps->get<bool>() : keeps->is_string() && keeps->get<std::string>() == "true";
    }
    ApiVersion api = *parse_api_version(manifest.api_version);
    // The handshake, first from the manifest: a mismatch never starts a host at all.
    if (auto reason = api_version_mismatch(api, sdk_api_version); !reason.empty()) return refuse(reason);
    entry.process = std::make_unique<ProviderProcess>(ProviderModule{file.name, file.library, !file.builtin, api}, paths.host_binary,
                                                      paths.log_folder / (file.name + ".log"), redactor_);
    if (disabled.count(file.name)) entry.process->disable();
    entries_[key] = std::move(entry);
  };
  for (const auto& file : find_modules(paths.builtin_folder, true)) add(file, file.name);
  for (const auto& file : find_modules(paths.dropin_folder, false)) {
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
    add(file, file.name);
  }

  // What each library said of itself, by file identity and SDK: an unchanged library need not
  // be started to be listed, validated against, or chosen; its host starts on first use.
  Json cache = Json::object();
  if (auto text = read_file(paths.info_cache)) {
    Json parsed = Json::parse(*text, nullptr, false);
    if (parsed.is_object()) cache = std::move(parsed);
  }
  auto identity = [](const fs::path& library) {
    struct stat info {};
    if (::stat(library.c_str(), &info) != 0) return std::string();
    return std::to_string(info.st_dev) + ":" + std::to_string(info.st_ino) + ":" + std::to_string(info.st_size) + ":" +
           std::to_string(info.st_mtim.tv_sec) + "." + std::to_string(info.st_mtim.tv_nsec) + ":" + to_string(sdk_api_version);
  };
  // A new berth-provider-host may judge a library differently (its ABI facts): ask again then.
  std::string host_identity = identity(paths.host_binary);
  Json fresh_cache = Json::object();
  std::mutex cache_mutex;
  auto accept = [&](Entry& entry, ProviderInfo info) {
    if (info.name != entry.status.info.name || info.version != entry.status.info.version) {
      entry.status.broken = true;
      entry.status.reason = "the library says it is " + info.name + " " + info.version + " but its manifest says " +
                            entry.status.info.name + " " + entry.status.info.version;
      entry.process->stop("refused");
      entry.process.reset();
      return false;
    }
    if (info.description.empty()) info.description = entry.status.info.description;
    entry.status.info = std::move(info);
    return true;
  };
  std::vector<std::thread> starts;
  for (auto& item : entries_) {
    Entry& entry = item.second;  // a named reference: lambdas below capture it (a structured binding they may not, in clang 14)
    if (!entry.process) continue;
    std::string id = identity(entry.status.path) + "/" + host_identity;
    auto cached = cache.find(entry.status.path);
    if (!id.empty() && cached != cache.end() && cached->is_object() && cached->value("identity", "") == id) {
      try {
        if (accept(entry, cached->at("info").get<ProviderInfo>())) {
          std::lock_guard lock(cache_mutex);
          fresh_cache[entry.status.path] = *cached;
        }
        continue;
      } catch (const std::exception&) {
        // A damaged entry: ask the library again.
      }
    }
    if (entry.process->state().health == ProviderProcess::Health::disabled) continue;
    starts.emplace_back([&entry, &accept, &fresh_cache, &cache_mutex, id] {
      try {
        Json hello = entry.process->greeting();
        ProviderInfo info = hello.at("info").get<ProviderInfo>();
        Json cached{{"identity", id}, {"info", hello.at("info")}};
        if (accept(entry, std::move(info)) && !id.empty()) {
          std::lock_guard lock(cache_mutex);
          fresh_cache[entry.status.path] = std::move(cached);
        }
      } catch (const std::exception&) {
        // The process keeps the reason; current_status reports it.
      }
    });
  }
  for (auto& start : starts) start.join();
  if (fresh_cache != cache) {
    try {
      create_private_folders(paths.info_cache.parent_path());
      write_file_atomically(paths.info_cache, fresh_cache.dump());
    } catch (const std::exception&) {
      // A cache that cannot be written only costs a start next time.
    }
  }
}

ProviderStatus ProviderRegistry::current_status(const Entry& entry) const {
  ProviderStatus status = entry.status;
  if (entry.process && !status.broken) {
    auto state = entry.process->state();
    if (state.health != ProviderProcess::Health::ready) {
      status.broken = true;
      status.reason = state.reason;
    }
  }
  return status;
}

std::vector<ProviderStatus> ProviderRegistry::list() const {
  std::vector<ProviderStatus> result;
  for (const auto& [key, entry] : entries_) result.push_back(current_status(entry));
  return result;
}

std::optional<ProviderStatus> ProviderRegistry::find(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) return std::nullopt;
  return current_status(it->second);
}

std::optional<ProviderInfo> ProviderRegistry::manifest_of(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end() || !it->second.process || it->second.status.broken) return std::nullopt;
  if (it->second.process->state().health == ProviderProcess::Health::broken) return std::nullopt;
  return it->second.status.info;
}

bool ProviderRegistry::keeps_volumes(const std::string& name) const {
  auto it = entries_.find(name);
  return it != entries_.end() && it->second.keeps_volumes;
}

const ProviderRegistry::Entry& ProviderRegistry::entry(const std::string& name) const {
  auto it = entries_.find(name);
  if (it == entries_.end()) throw not_found("provider '" + name + "' is not installed (berth provider list)");
  return it->second;
}

ProviderProcess& ProviderRegistry::process(const std::string& name) const {
  const Entry& found = entry(name);
  if (!found.process || found.status.broken) {
    throw provider_failed("provider '" + name + "' is broken: " + found.status.reason);
  }
  // Quarantined or disabled: refused before anything is recorded, with the way out.
  auto state = found.process->state();
  if (state.health == ProviderProcess::Health::broken) throw provider_failed("provider '" + name + "' is broken: " + state.reason);
  if (state.health != ProviderProcess::Health::ready) throw provider_failed("provider '" + name + "' is " + state.reason);
  return *found.process;
}

ProviderStatus ProviderRegistry::enable(const std::string& name) {
  const Entry& found = entry(name);
  if (!found.process) throw conflict("provider '" + name + "' cannot be enabled: " + found.status.reason);
  found.process->enable();
  save_disabled();
  try {
    found.process->greeting();  // starts it now, so the answer says whether it works
  } catch (const std::exception&) {
  }
  return current_status(found);
}

ProviderStatus ProviderRegistry::disable(const std::string& name) {
  const Entry& found = entry(name);
  if (!found.process) throw conflict("provider '" + name + "' is not running: " + found.status.reason);
  found.process->disable();
  save_disabled();
  return current_status(found);
}

void ProviderRegistry::save_disabled() const {
  Json disabled = Json::array();
  for (const auto& [key, entry] : entries_) {
    if (entry.process && entry.process->state().health == ProviderProcess::Health::disabled) disabled.push_back(key);
  }
  write_file_atomically(paths_.settings_file, json_to_yaml(Json{{"disabled", disabled}}));
}

std::string ProviderRegistry::log_text(const std::string& name) const {
  const Entry& found = entry(name);
  return found.process ? found.process->log_text() : "";
}

void ProviderRegistry::cancel_all(const std::string& method, const std::string& why) {
  for (auto& [key, entry] : entries_) {
    if (entry.process) entry.process->cancel_calls(method, why);
  }
}

void ProviderRegistry::stop_all(const std::string& why) {
  for (auto& [key, entry] : entries_) {
    if (entry.process) entry.process->close(why);
  }
}

}  // namespace berth
