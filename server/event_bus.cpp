#include "event_bus.hpp"

namespace berth {

unsigned long long EventBus::publish(std::string type, std::string data) {
  unsigned long long id;
  {
    std::lock_guard lock(mutex_);
    id = next_id_++;
    events_.push_back(Event{id, std::move(type), std::move(data)});
    if (events_.size() > kKept) events_.pop_front();
  }
  changed_.notify_all();
  return id;
}

std::vector<EventBus::Event> EventBus::wait_after(unsigned long long after, std::chrono::milliseconds max_wait) {
  std::unique_lock lock(mutex_);
  changed_.wait_for(lock, max_wait, [&] { return closed_ || next_id_ - 1 > after; });
  std::vector<Event> out;
  if (closed_ || next_id_ - 1 <= after) return out;
  if (events_.empty() || events_.front().id > after + 1) {
    // Some were dropped from the window: the client reads the list again, then follows on.
    out.push_back(Event{next_id_ - 1, "reset", "{}"});
    return out;
  }
  for (const auto& event : events_) {
    if (event.id > after) out.push_back(event);
  }
  return out;
}

unsigned long long EventBus::last_id() {
  std::lock_guard lock(mutex_);
  return next_id_ - 1;
}

void EventBus::close() {
  {
    std::lock_guard lock(mutex_);
    closed_ = true;
  }
  changed_.notify_all();
}

bool EventBus::closed() {
  std::lock_guard lock(mutex_);
  return closed_;
}

}  // namespace berth
