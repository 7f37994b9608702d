#include "operation_runner.hpp"

namespace berth {

void OperationRunner::submit(std::function<void()> task) {
  {
    std::lock_guard lock(mutex_);
    if (!stopping_) {
      tasks_.push_back(std::move(task));
      // A new thread only when no idle one will take it: operations wait on providers, so
      // one slow provider must not hold up the others while the limit allows.
      if (idle_ < tasks_.size() && threads_.size() < limit_) threads_.emplace_back(&OperationRunner::work, this);
      ready_.notify_one();
      return;
    }
  }
  task();
}

void OperationRunner::shutdown() {
  std::vector<std::thread> threads;
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
    threads.swap(threads_);
  }
  ready_.notify_all();
  for (auto& thread : threads) thread.join();
}

void OperationRunner::work() {
  std::unique_lock lock(mutex_);
  while (true) {
    ++idle_;
    ready_.wait(lock, [&] { return stopping_ || !tasks_.empty(); });
    --idle_;
    if (tasks_.empty()) return;  // stopping, and nothing left to run
    auto task = std::move(tasks_.front());
    tasks_.pop_front();
    lock.unlock();
    task();
    lock.lock();
  }
}

}  // namespace berth
