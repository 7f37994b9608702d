#pragma once
// Finds, checks and loads providers: built-ins beside the binary, drop-ins in the home.
#include <berth/provider.hpp>

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace berth {

class ProviderRegistry {
 public:
  // Loads every provider in both folders. Never throws for a bad provider: it is recorded
  // as broken with the reason.
  void load(const std::filesystem::path& builtin_folder, const std::filesystem::path& dropin_folder);

  std::vector<ProviderStatus> list() const;
  std::optional<ProviderStatus> find(const std::string& name) const;
  // The live provider; throws not_found, or provider_failed when it is broken.
  std::shared_ptr<Provider> instance(const std::string& name) const;

 private:
  struct Entry {
    ProviderStatus status;
    std::shared_ptr<Provider> instance;  // its deleter keeps the library loaded
  };
  Entry load_one(const struct ModuleFile& file) const;

  std::map<std::string, Entry> entries_;
};

}  // namespace berth
