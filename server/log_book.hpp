#pragma once
// Each workspace's operation log (logs/workspaces/NAME.log, apart from the server's own files
// so no workspace name can reach them): appended by the running operation, read whole or
// followed by any number of clients until the operation ends.
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace berth {

class LogBook {
 public:
  explicit LogBook(std::filesystem::path folder) : folder_(std::move(folder)) {}

  // Marks an operation as running on name and returns the log's size, where it starts.
  // fresh: the log is emptied first (a new workspace of a name used before).
  // ticket, when given, gets the operation's number on this log (for wait_for_more's until).
  long long begin(const std::string& name, bool fresh, unsigned long long* ticket = nullptr);
  void append(const std::string& name, std::string_view line);
  // Marks operation `ticket` ended with its outcome (a JSON object: the operation's typed
  // result, sent to followers after its last line) and wakes every follower.
  void end(const std::string& name, unsigned long long ticket, std::string outcome);
  // The outcome of operation ticket on name (0: of the last one that ended); "" when unknown.
  std::string outcome(const std::string& name, unsigned long long ticket);
  // Ends every follow (at shutdown).
  void close_all();

  std::filesystem::path path_of(const std::string& name) const { return folder_ / (name + ".log"); }

  // Waits up to max_wait for the log to grow past offset or the operation to end.
  // Returns true while a follower should keep reading. until: follow only until operation
  // number `until` has ended (0: until none runs), so a create's follower stops at its end
  // even when the work after it (waitFor) begins at once.
  bool wait_for_more(const std::string& name, long long offset, std::chrono::milliseconds max_wait, unsigned long long until = 0);

 private:
  struct Channel {
    int active = 0;  // operations writing to it now (an operation and the work after a create may overlap)
    unsigned long long begun = 0;
    std::map<unsigned long long, bool> running;  // by number: the operations not yet ended
  };
  std::map<std::string, unsigned long long> last_begun_;  // name -> the last ticket (kept after the channel goes)
  // Outcomes of ended operations, the newest kOutcomesKept of them (a follower reads its own at once).
  static constexpr size_t kOutcomesKept = 4096;
  std::map<std::pair<std::string, unsigned long long>, std::string> outcomes_;
  std::deque<std::pair<std::string, unsigned long long>> outcome_order_;
  std::map<std::string, unsigned long long> last_ended_;
  Channel& channel(const std::string& name);  // under mutex_

  std::filesystem::path folder_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::map<std::string, Channel> channels_;
  bool closed_ = false;
};

}  // namespace berth
