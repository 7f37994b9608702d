#pragma once
// What providers print, kept and named: logs/providers/NAME.log, capped and rotated, with the
// values of secret target properties replaced before anything is written.
#include <filesystem>
#include <mutex>
#include <memory>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace berth {

// Replaces every known secret value with ********. Values shorter than 4 characters are left
// alone (they would mask ordinary text, and no real secret is that short).
class Redactor {
 public:
  void set_secrets(std::vector<std::string> secrets);
  std::string apply(std::string_view text) const;

 private:
  mutable std::shared_mutex mutex_;
  std::vector<std::string> secrets_;
};

class ProviderLog {
 public:
  static constexpr size_t kDefaultLimit = 1 << 20;
  ProviderLog(std::filesystem::path file, std::shared_ptr<const Redactor> redactor, size_t limit = kDefaultLimit);
  ~ProviderLog();
  ProviderLog(const ProviderLog&) = delete;
  ProviderLog& operator=(const ProviderLog&) = delete;
  // Appends output as it comes; whole lines are written, redacted, stamped with the host's pid.
  void write(int pid, std::string_view bytes);
  // Writes what is left of an unfinished line.
  void flush(int pid);
  // A line of berth's own about this provider (started, crashed, killed).
  void note(std::string_view text);
  // The log as it is now: the rotated part, then the current file.
  std::string text() const;

 private:
  void append(std::string_view line);  // under mutex_

  std::filesystem::path file_;
  std::shared_ptr<const Redactor> redactor_;
  size_t limit_;
  mutable std::mutex mutex_;
  std::string pending_;
  int fd_ = -1;
};

}  // namespace berth
