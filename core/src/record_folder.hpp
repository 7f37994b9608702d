#pragma once
// One YAML file per record in one folder; the cost of a write never depends on how many
// records there are.
#include "atomic_file.hpp"

#include <filesystem>
#include <string>
#include <vector>

namespace berth {

struct StoredRecord {
  std::string name;
  std::filesystem::path path;
  std::string text;
};

class RecordFolder {
 public:
  explicit RecordFolder(std::filesystem::path folder) : folder_(std::move(folder)) {}

  // Every NAME.yaml in the folder. Leftovers of interrupted writes are removed.
  std::vector<StoredRecord> load_all() const;
  void save(const std::string& name, std::string_view text, const WriteHook& hook = nullptr) const;
  void remove(const std::string& name) const;
  std::filesystem::path path_of(const std::string& name) const { return folder_ / (name + ".yaml"); }
  const std::filesystem::path& folder() const { return folder_; }

 private:
  std::filesystem::path folder_;
};

// An exclusive lock on the home, held for the life of the server process.
class HomeLock {
 public:
  // Throws conflict naming the home and the owner's pid when another process holds it.
  explicit HomeLock(const std::filesystem::path& lock_path);
  ~HomeLock();
  HomeLock(const HomeLock&) = delete;
  HomeLock& operator=(const HomeLock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace berth
