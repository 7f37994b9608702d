#include "log_book.hpp"

#include "atomic_file.hpp"
#include "clock.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <system_error>

namespace fs = std::filesystem;

namespace berth {

LogBook::Channel& LogBook::channel(const std::string& name) { return channels_[name]; }

long long LogBook::begin(const std::string& name, bool fresh, unsigned long long* ticket) {
  std::lock_guard lock(mutex_);
  std::error_code error;
  if (fresh) fs::remove(path_of(name), error);
  Channel& open = channel(name);
  ++open.active;
  unsigned long long number = ++last_begun_[name];
  open.running[number] = true;
  if (ticket) *ticket = number;
  return std::max(home_file_size(path_of(name)), 0LL);
}

void LogBook::append(const std::string& name, std::string_view line) {
  std::string entry;
  entry.reserve(line.size() + 1);
  entry.append(line);
  entry.push_back('\n');
  {
    std::lock_guard lock(mutex_);
    // O_NOFOLLOW: a link planted in place of a log must not receive its lines.
    int fd = ::open(path_of(name).c_str(), O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd >= 0) {
      [[maybe_unused]] ssize_t written = ::write(fd, entry.data(), entry.size());
      ::close(fd);
    }
  }
  changed_.notify_all();
}

void LogBook::end(const std::string& name, unsigned long long ticket, std::string outcome) {
  {
    std::lock_guard lock(mutex_);
    // Recorded before the followers wake, so each finds its operation's outcome.
    if (outcomes_.emplace(std::pair{name, ticket}, std::move(outcome)).second) {
      outcome_order_.emplace_back(name, ticket);
      if (outcome_order_.size() > kOutcomesKept) {
        outcomes_.erase(outcome_order_.front());
        outcome_order_.pop_front();
      }
    }
    last_ended_[name] = ticket;
    auto it = channels_.find(name);
    if (it != channels_.end()) {
      it->second.running.erase(ticket);
      if (--it->second.active <= 0) channels_.erase(it);
    }
  }
  changed_.notify_all();
}

std::string LogBook::outcome(const std::string& name, unsigned long long ticket) {
  std::lock_guard lock(mutex_);
  if (ticket == 0) {
    auto last = last_ended_.find(name);
    if (last == last_ended_.end()) return "";
    ticket = last->second;
  }
  auto it = outcomes_.find({name, ticket});
  return it == outcomes_.end() ? "" : it->second;
}

void LogBook::close_all() {
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  changed_.notify_all();
}

bool LogBook::wait_for_more(const std::string& name, long long offset, std::chrono::milliseconds max_wait, unsigned long long until) {
  std::unique_lock lock(mutex_);
  auto grown = [&] { return home_file_size(path_of(name)) > offset; };
  auto ended = [&] {
    auto it = channels_.find(name);
    if (closed_ || it == channels_.end() || it->second.active == 0) return true;
    return until != 0 && it->second.running.count(until) == 0;
  };
  changed_.wait_for(lock, max_wait, [&] { return grown() || ended(); });
  return grown() || !ended();
}

}  // namespace berth
