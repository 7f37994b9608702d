#include "elastic_pool.hpp"

#include <thread>

namespace berth {

ElasticPool::ElasticPool(size_t base, size_t limit) : base_(base), limit_(limit) {
  std::lock_guard lock(mutex_);
  for (size_t i = 0; i < base_; ++i) {
    ++threads_;
    std::thread(&ElasticPool::work, this, true).detach();
  }
}

ElasticPool::~ElasticPool() { shutdown(); }

void ElasticPool::enqueue(std::function<void()> task) {
  std::lock_guard lock(mutex_);
  tasks_.push_back(std::move(task));
  if (idle_ < tasks_.size() && threads_ < limit_) {
    ++threads_;
    std::thread(&ElasticPool::work, this, false).detach();
  }
  ready_.notify_one();
}

void ElasticPool::shutdown() {
  std::unique_lock lock(mutex_);
  stopping_ = true;
  ready_.notify_all();
  // Running tasks finish (httplib stops its listener first); queued ones still run.
  all_done_.wait(lock, [&] { return threads_ == 0; });
}

void ElasticPool::work(bool permanent) {
  std::unique_lock lock(mutex_);
  while (true) {
    ++idle_;
    bool woke = permanent ? (ready_.wait(lock, [&] { return stopping_ || !tasks_.empty(); }), true)
                          : ready_.wait_for(lock, std::chrono::seconds(60), [&] { return stopping_ || !tasks_.empty(); });
    --idle_;
    if (tasks_.empty() && (stopping_ || !woke)) break;
    auto task = std::move(tasks_.front());
    tasks_.pop_front();
    lock.unlock();
    task();
    lock.lock();
  }
  --threads_;
  all_done_.notify_all();
}

}  // namespace berth
