#pragma once
// GET /v1/workspaces for many clients at once: requests that arrive while a listing is being
// written wait for it to end and share the next one, so twenty concurrent listings of 10,000
// workspaces write the records and hold the body once or twice, not twenty times. A caller
// never gets a body begun before it arrived: what it reads is as fresh as its own would be.
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace berth {

class SharedListing {
 public:
  using Body = std::shared_ptr<const std::string>;
  // A body for `key` (the fields asked for) written after this call began: by `write` here, or
  // by a concurrent caller with the same key. What `write` throws reaches only its own caller.
  // `write` gets the last body's size, to reserve a little more than that at once (growing a
  // string of megabytes by doubling holds up to three times its size).
  Body get(unsigned key, const std::function<std::string(std::size_t last_size)>& write);
  // How many callers wait for a body of `key` (diagnostics and tests).
  int waiting(unsigned key);

 private:
  struct Slot {
    bool writing = false;
    int waiting = 0;
    std::uint64_t started = 0;  // when the kept body's writing began
    std::size_t last_size = 0;
    Body body;                  // kept only while someone waits for it
  };
  std::mutex mutex_;
  std::condition_variable finished_;
  std::uint64_t clock_ = 0;
  std::map<unsigned, Slot> slots_;
};

}  // namespace berth
