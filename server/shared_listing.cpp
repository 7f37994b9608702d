#include "shared_listing.hpp"

namespace berth {

SharedListing::Body SharedListing::get(unsigned key, const std::function<std::string(std::size_t last_size)>& write) {
  std::unique_lock lock(mutex_);
  const std::uint64_t arrived = ++clock_;
  Slot& slot = slots_[key];
  ++slot.waiting;
  while (true) {
    if (slot.body && slot.started > arrived) {
      Body body = slot.body;
      if (--slot.waiting == 0 && !slot.writing) slot.body.reset();
      return body;
    }
    if (!slot.writing) break;
    finished_.wait(lock);
  }
  --slot.waiting;
  slot.writing = true;
  const std::uint64_t started = ++clock_;
  const std::size_t last_size = slot.last_size;
  lock.unlock();
  Body body;
  try {
    body = std::make_shared<const std::string>(write(last_size));
  } catch (...) {
    lock.lock();
    slot.writing = false;
    finished_.notify_all();  // a waiter writes its own
    throw;
  }
  lock.lock();
  slot.writing = false;
  slot.started = started;
  slot.last_size = body->size();
  slot.body = slot.waiting > 0 ? body : nullptr;
  finished_.notify_all();
  return body;
}

int SharedListing::waiting(unsigned key) {
  std::lock_guard lock(mutex_);
  auto it = slots_.find(key);
  return it == slots_.end() ? 0 : it->second.waiting;
}

}  // namespace berth
