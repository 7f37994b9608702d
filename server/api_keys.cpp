#include "api_keys.hpp"

#include "clock.hpp"
#include "codec.hpp"
#include "errors.hpp"
#include "home.hpp"
#include "names.hpp"

#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <sys/random.h>

namespace berth {

std::string sha256_hex(const std::string& data) {
  unsigned char digest[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest);
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (unsigned char byte : digest) {
    out.push_back(hex[byte >> 4]);
    out.push_back(hex[byte & 15]);
  }
  return out;
}

bool constant_time_equal(const std::string& a, const std::string& b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

ApiKeyStore::ApiKeyStore(std::filesystem::path folder) : files_(std::move(folder)) {}

void ApiKeyStore::load() {
  create_private_folders(files_.folder());
  std::lock_guard lock(mutex_);
  for (const auto& stored : files_.load_all()) {
    try {
      Json json = yaml_to_json(stored.text, stored.path.string());
      keys_[stored.name] = Entry{json.value("sha256", ""), json.value("created_at", ""), json.value("scope", "") == "admin"};
    } catch (const std::exception&) {
      // An unreadable key file is no key at all: it can never authenticate.
    }
  }
}

std::string random_hex(size_t bytes) {
  std::vector<unsigned char> random(bytes);
  if (::getrandom(random.data(), random.size(), 0) != static_cast<ssize_t>(random.size())) throw internal_error("no randomness for a secret");
  static constexpr char kHex[] = "0123456789abcdef";
  std::string text;
  for (unsigned char byte : random) {
    text.push_back(kHex[byte >> 4]);
    text.push_back(kHex[byte & 15]);
  }
  return text;
}

std::string ApiKeyStore::create(const std::string& name, bool admin) {
  require_valid_name("API key", name);
  std::string key = "berth_" + random_hex(32);
  Entry entry{sha256_hex(key), now_rfc3339(), admin};
  std::lock_guard lock(mutex_);
  if (keys_.count(name)) throw conflict("API key '" + name + "' already exists; revoke it first (berth apikey revoke " + name + ")");
  files_.save(name, json_to_yaml(Json{{"name", name}, {"sha256", entry.sha256}, {"created_at", entry.created_at},
                                      {"scope", admin ? "admin" : "use"}}));
  keys_[name] = entry;
  return key;
}

void ApiKeyStore::revoke(const std::string& name) {
  require_valid_name("API key", name);
  std::lock_guard lock(mutex_);
  if (!keys_.count(name)) throw not_found("API key '" + name + "' does not exist (berth apikey list)");
  files_.remove(name);
  keys_.erase(name);
}

std::vector<ApiKeyInfo> ApiKeyStore::list() const {
  std::lock_guard lock(mutex_);
  std::vector<ApiKeyInfo> result;
  for (const auto& [name, entry] : keys_) result.push_back({name, entry.created_at, entry.admin});
  return result;
}

KeyScope ApiKeyStore::scope_of(const std::string& presented) const {
  std::string hash = sha256_hex(presented);
  std::lock_guard lock(mutex_);
  bool found = false, admin = false;
  for (const auto& [name, entry] : keys_) {
    bool match = constant_time_equal(hash, entry.sha256);
    found |= match;
    admin |= match && entry.admin;
  }
  return !found ? KeyScope::none : admin ? KeyScope::admin : KeyScope::use;
}

std::string ApiKeyStore::name_of(const std::string& presented) const {
  std::string hash = sha256_hex(presented);
  std::lock_guard lock(mutex_);
  std::string found;
  for (const auto& [name, entry] : keys_) {
    if (constant_time_equal(hash, entry.sha256)) found = name;
  }
  return found;
}

KeyScope ApiKeyStore::scope_of_name(const std::string& name) const {
  std::lock_guard lock(mutex_);
  auto it = keys_.find(name);
  return it == keys_.end() ? KeyScope::none : it->second.admin ? KeyScope::admin : KeyScope::use;
}

}  // namespace berth
