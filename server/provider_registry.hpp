#pragma once
// Finds and checks providers (built-ins beside the binary, drop-ins in the home) and serves
// each through its own host process (provider_process.hpp). Nothing here loads a library.
#include "provider_process.hpp"

#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace berth {

struct ProviderPaths {
  std::filesystem::path builtin_folder;
  std::filesystem::path dropin_folder;
  std::filesystem::path host_binary;   // berth-provider-host
  std::filesystem::path log_folder;    // logs/providers
  std::filesystem::path settings_file; // providers.yaml: which are disabled
  std::filesystem::path info_cache;    // what each library said of itself, by file identity
};

class ProviderRegistry {
 public:
  explicit ProviderRegistry(std::shared_ptr<Redactor> redactor = std::make_shared<Redactor>());
  ~ProviderRegistry();

  // Finds every provider in both folders. A library whose info is cached for its exact file
  // (device, inode, size, mtime) is not started: its host starts on first use. The others are
  // started side by side, each within its greeting deadline, to learn their info. Never
  // throws for a bad provider: it is recorded as broken with the reason.
  void load(const ProviderPaths& paths);

  std::vector<ProviderStatus> list() const;
  std::optional<ProviderStatus> find(const std::string& name) const;
  // The provider's info (its target manifest) when it is known: also while the provider is
  // quarantined or disabled (those are states of its process, not of its targets).
  std::optional<ProviderInfo> manifest_of(const std::string& name) const;
  // Whether the provider's manifest says it keeps a deleted workspace's working tree apart when
  // asked (`keeps_volumes: true`: berth delete --keep-volume).
  bool keeps_volumes(const std::string& name) const;
  // The provider's process; throws not_found, or provider_failed when it is broken,
  // quarantined or disabled.
  ProviderProcess& process(const std::string& name) const;

  // berth provider enable|disable NAME; kept in the settings file across restarts.
  ProviderStatus enable(const std::string& name);
  ProviderStatus disable(const std::string& name);
  // logs/providers/NAME.log as it is now.
  std::string log_text(const std::string& name) const;

  // Asks every call of `method` in flight (all when empty) to end; stop_all ends every host
  // for good (shutdown: later calls fail at once).
  void cancel_all(const std::string& method, const std::string& why);
  void stop_all(const std::string& why);

  Redactor& redactor() { return *redactor_; }

 private:
  struct Entry {
    ProviderStatus status;                     // as found on disk, and from the host's greeting
    bool keeps_volumes = false;                // its manifest's keeps_volumes
    std::unique_ptr<ProviderProcess> process;  // null when refused before any process started
  };
  ProviderStatus current_status(const Entry& entry) const;
  void save_disabled() const;
  const Entry& entry(const std::string& name) const;

  ProviderPaths paths_;
  std::shared_ptr<Redactor> redactor_;
  std::map<std::string, Entry> entries_;
};

}  // namespace berth
