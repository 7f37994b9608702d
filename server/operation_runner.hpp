#pragma once
// Owns the threads that run lifecycle operations and reconciles: at most `limit` at once (the
// rest wait in order), every thread joinable, and shutdown() returns only once every task
// submitted before it has ended. A task never outlives the runner.
#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace berth {

class OperationRunner {
 public:
  explicit OperationRunner(size_t limit) : limit_(limit) {}
  ~OperationRunner() { shutdown(); }
  OperationRunner(const OperationRunner&) = delete;
  OperationRunner& operator=(const OperationRunner&) = delete;

  void submit(std::function<void()> task);
  // Runs what is queued, then joins every thread. Later submits run on the caller's thread.
  void shutdown();

 private:
  void work();

  size_t limit_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::deque<std::function<void()>> tasks_;
  std::vector<std::thread> threads_;
  size_t idle_ = 0;
  bool stopping_ = false;
};

}  // namespace berth
