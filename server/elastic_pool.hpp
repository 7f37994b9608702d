#pragma once
// Workers for cpp-httplib that grow when every one is busy: a connection that sends slowly
// (or not at all) holds a worker until the read timeout, and with a fixed pool enough such
// clients would stall everyone else. Extra workers end after a minute without work.
#include <httplib.h>

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>

namespace berth {

class ElasticPool : public httplib::TaskQueue {
 public:
  ElasticPool(size_t base, size_t limit);
  ~ElasticPool() override;
  void enqueue(std::function<void()> task) override;
  void shutdown() override;

 private:
  void work(bool permanent);

  size_t base_;
  size_t limit_;
  std::mutex mutex_;
  std::condition_variable ready_;
  std::condition_variable all_done_;
  std::deque<std::function<void()>> tasks_;
  size_t threads_ = 0;
  size_t idle_ = 0;
  bool stopping_ = false;
};

}  // namespace berth
