// Concurrent listings share a body, and never one begun before they arrived.
#include "shared_listing.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <future>
#include <set>
#include <thread>

namespace {

using berth::SharedListing;
using namespace std::chrono_literals;

// Waits for a condition with a deadline (no sleeps as synchronisation).
template <typename Condition>
bool eventually(Condition condition) {
  auto until = std::chrono::steady_clock::now() + 10s;
  while (!condition()) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::yield();
  }
  return true;
}

TEST(SharedListing, CallersThatArriveDuringAWriteShareTheNextOneNotTheOneUnderWay) {
  SharedListing listing;
  std::atomic<int> writes{0};
  std::atomic<bool> release_first{false};
  std::promise<void> first_writing;
  // The first caller's write holds until told; what it returns says which write it was.
  auto first = std::async(std::launch::async, [&] {
    return listing.get(0, [&](size_t) {
      int number = ++writes;
      first_writing.set_value();
      while (!release_first) std::this_thread::yield();
      return std::to_string(number);
    });
  });
  first_writing.get_future().wait();
  // Eight callers arrive while the first write is under way.
  std::vector<std::future<SharedListing::Body>> late;
  for (int i = 0; i < 8; ++i) {
    late.push_back(std::async(std::launch::async, [&] {
      return listing.get(0, [&](size_t last_size) {
        EXPECT_EQ(last_size, 1u);  // the size of the first body
        return std::to_string(++writes);
      });
    }));
  }
  ASSERT_TRUE(eventually([&] { return listing.waiting(0) == 8; }));
  release_first = true;
  EXPECT_EQ(*first.get(), "1");
  std::set<std::string> seen;
  for (auto& body : late) seen.insert(*body.get());
  EXPECT_EQ(seen.count("1"), 0u) << "a caller got a body begun before it arrived";
  EXPECT_EQ(seen.size(), 1u) << "the eight should have shared one body";
  EXPECT_EQ(writes.load(), 2) << "one write for the first caller, one shared by the eight";
}

TEST(SharedListing, OneAtATimeEachCallerWritesItsOwn) {
  SharedListing listing;
  int writes = 0;
  for (int i = 1; i <= 3; ++i) {
    auto body = listing.get(7, [&](size_t) { return std::to_string(++writes); });
    EXPECT_EQ(*body, std::to_string(i));
  }
}

TEST(SharedListing, AFailedWriteReachesOnlyItsCallerAndTheNextOneWrites) {
  SharedListing listing;
  EXPECT_THROW(listing.get(1, [](size_t) -> std::string { throw std::runtime_error("disk"); }), std::runtime_error);
  EXPECT_EQ(*listing.get(1, [](size_t) { return std::string("ok"); }), "ok");
}

}  // namespace
