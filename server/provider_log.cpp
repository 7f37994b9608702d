#include "provider_log.hpp"

#include "clock.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>

namespace fs = std::filesystem;

namespace berth {

void Redactor::set_secrets(std::vector<std::string> secrets) {
  std::erase_if(secrets, [](const std::string& s) { return s.size() < 4; });
  // Longest first, so a secret that contains another is replaced whole.
  std::sort(secrets.begin(), secrets.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
  std::unique_lock lock(mutex_);
  secrets_ = std::move(secrets);
}

std::string Redactor::apply(std::string_view text) const {
  std::string result(text);
  std::shared_lock lock(mutex_);
  for (const auto& secret : secrets_) {
    for (size_t at = result.find(secret); at != std::string::npos; at = result.find(secret, at + 8)) {
      result.replace(at, secret.size(), "********");
    }
  }
  return result;
}

ProviderLog::ProviderLog(fs::path file, std::shared_ptr<const Redactor> redactor, size_t limit)
    : file_(std::move(file)), redactor_(std::move(redactor)), limit_(limit) {}

void ProviderLog::write(int pid, std::string_view bytes) {
  std::lock_guard lock(mutex_);
  for (char c : bytes) {
    if (c == '\n' || pending_.size() >= 4096) {
      append("[" + std::to_string(pid) + "] " + pending_);
      pending_.clear();
      if (c == '\n') continue;
    }
    pending_.push_back(c);
  }
}

void ProviderLog::flush(int pid) {
  std::lock_guard lock(mutex_);
  if (pending_.empty()) return;
  append("[" + std::to_string(pid) + "] " + pending_);
  pending_.clear();
}

void ProviderLog::note(std::string_view text) {
  std::lock_guard lock(mutex_);
  append("==> " + now_rfc3339() + " " + std::string(text));
}

void ProviderLog::append(std::string_view line) {
  std::string text = (redactor_ ? redactor_->apply(line) : std::string(line)) + "\n";
  // O_NOFOLLOW: a link planted in the home never receives provider output.
  auto open_log = [&] { return ::open(file_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600); };
  if (fd_ < 0) fd_ = open_log();
  if (fd_ < 0) return;  // a log that cannot be written must not stop the provider
  struct stat info {};
  if (::fstat(fd_, &info) == 0 && static_cast<size_t>(info.st_size) + text.size() > limit_) {
    ::close(fd_);
    std::error_code error;
    fs::rename(file_, fs::path(file_.string() + ".1"), error);
    fd_ = open_log();
    if (fd_ < 0) return;
  }
  ssize_t ignored = ::write(fd_, text.data(), text.size());
  (void)ignored;
}

ProviderLog::~ProviderLog() {
  if (fd_ >= 0) ::close(fd_);
}

std::string ProviderLog::text() const {
  std::lock_guard lock(mutex_);
  std::string result;
  for (const auto& path : {fs::path(file_.string() + ".1"), file_}) {
    int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) continue;
    char buffer[65536];
    ssize_t n;
    while ((n = ::read(fd, buffer, sizeof buffer)) > 0) result.append(buffer, static_cast<size_t>(n));
    ::close(fd);
  }
  return result;
}

}  // namespace berth
