#pragma once
// Changes pushed to whoever watches (GET /v1/events): each saved or removed workspace record is
// an event, numbered; a client that reconnects says the last number it saw (SSE's
// Last-Event-ID) and gets what it missed, or, when that is older than the kept window, a reset
// telling it to read the list again. Nothing is polled.
#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

namespace berth {

class EventBus {
 public:
  struct Event {
    unsigned long long id = 0;
    std::string type;  // "workspace", "deleted", "reset"
    std::string data;  // JSON
  };

  // Adds an event; wakes every waiter. Returns its id.
  unsigned long long publish(std::string type, std::string data);

  // The events after `after`, waiting up to max_wait for one. A cursor older than the kept
  // window gets one "reset" event (with the newest id) instead. Empty at the deadline or once closed.
  std::vector<Event> wait_after(unsigned long long after, std::chrono::milliseconds max_wait);

  // The newest event's id (0 before any).
  unsigned long long last_id();

  // Ends every wait (at shutdown).
  void close();
  bool closed();

 private:
  static constexpr size_t kKept = 4096;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::deque<Event> events_;
  unsigned long long next_id_ = 1;
  bool closed_ = false;
};

}  // namespace berth
