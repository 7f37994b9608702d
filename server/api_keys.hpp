#pragma once
// API keys for TCP clients: shown once at creation, stored only as SHA-256 hashes
// (<config>/apikeys/NAME.yaml, 0600), checked in constant time against every stored hash.
#include "record_folder.hpp"

#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace berth {

struct ApiKeyInfo {
  std::string name;
  std::string created_at;
  bool admin = false;
};

// What a presented key may do: nothing, use the API, or also manage API keys (an explicit
// scope given at creation, so a leaked ordinary key cannot mint spares or revoke others).
enum class KeyScope { none, use, admin };

class ApiKeyStore {
 public:
  explicit ApiKeyStore(std::filesystem::path folder);
  void load();
  // Makes a key named name (admin: it may manage keys over TCP); returns the key itself,
  // which is not kept anywhere.
  std::string create(const std::string& name, bool admin = false);
  void revoke(const std::string& name);
  std::vector<ApiKeyInfo> list() const;
  // True when presented is a live key. Hashes it first, then compares with every stored hash
  // without stopping at the first difference or the first match.
  bool accepts(const std::string& presented) const { return scope_of(presented) != KeyScope::none; }
  // The scope of presented, found the same constant-time way.
  KeyScope scope_of(const std::string& presented) const;
  // The name of the live key presented ("" for none), found the same way.
  std::string name_of(const std::string& presented) const;
  // The scope of the live key of that name (none once revoked).
  KeyScope scope_of_name(const std::string& name) const;

 private:
  struct Entry {
    std::string sha256;  // hex
    std::string created_at;
    bool admin = false;
  };
  RecordFolder files_;
  mutable std::mutex mutex_;
  std::map<std::string, Entry> keys_;
};

std::string sha256_hex(const std::string& data);
// `bytes` bytes from the kernel's random source, as lower-case hex: keys, tokens, ids.
std::string random_hex(size_t bytes);
// Compares a and b in time that depends only on their lengths.
bool constant_time_equal(const std::string& a, const std::string& b);

}  // namespace berth
