#include "record_folder.hpp"

#include "errors.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

namespace fs = std::filesystem;

namespace berth {

std::vector<StoredRecord> RecordFolder::load_all() const {
  std::vector<StoredRecord> records;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(folder_, error)) {
    std::string file_name = entry.path().filename().string();
    if (is_write_leftover(file_name)) {
      fs::remove(entry.path(), error);
      continue;
    }
    if (entry.path().extension() != ".yaml" || !entry.is_regular_file()) continue;
    auto text = read_home_file(entry.path());
    if (!text) continue;
    records.push_back({entry.path().stem().string(), entry.path(), std::move(*text)});
  }
  std::sort(records.begin(), records.end(),
            [](const StoredRecord& a, const StoredRecord& b) { return a.name < b.name; });
  return records;
}

void RecordFolder::save(const std::string& name, std::string_view text, const WriteHook& hook) const {
  write_file_atomically(path_of(name), text, 0600, hook);
}

void RecordFolder::remove(const std::string& name) const { remove_file_durably(path_of(name)); }

HomeLock::HomeLock(const fs::path& lock_path) {
  // O_NOFOLLOW: a link planted as the lock file must not get its target truncated.
  fd_ = ::open(lock_path.c_str(), O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd_ < 0) {
    if (errno == ELOOP) {
      throw unavailable("lock file " + lock_path.string() + " is a symbolic link, which berth never follows in its home; remove it: rm " +
                        lock_path.string());
    }
    throw unavailable("cannot open lock file " + lock_path.string() + ": " + std::strerror(errno));
  }
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    char buffer[32] = {};
    ssize_t n = ::pread(fd_, buffer, sizeof buffer - 1, 0);
    std::string owner = n > 0 ? std::string(buffer, static_cast<size_t>(n)) : "unknown";
    while (!owner.empty() && (owner.back() == '\n' || owner.back() == ' ')) owner.pop_back();
    ::close(fd_);
    fd_ = -1;
    throw conflict("another berth server (pid " + owner + ") already owns " +
                   lock_path.parent_path().string() +
                   ": use that one, or stop it with 'berth server stop'");
  }
  std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd_, 0) == 0) {
    [[maybe_unused]] ssize_t ignored = ::pwrite(fd_, pid.data(), pid.size(), 0);
  }
}

HomeLock::~HomeLock() {
  if (fd_ >= 0) ::close(fd_);
}

}  // namespace berth
