// The API key comparison: constant time, whatever differs.
#include "api_keys.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;

// A presented key is hashed before it is compared, so a matching prefix of the key is no
// matching prefix of what is compared; and the comparison itself reads every byte whatever
// differs. Timed on inputs long enough that an early exit would show (a 1 MiB compare that
// stops at the first byte is ~10^4 times faster), not on HTTP round trips, where noise hides it.
TEST(ApiKeys, ComparisonTimeDoesNotDependOnWhereInputsDiffer) {
  std::string stored(1 << 20, 'a');
  std::string first = stored, last = stored;
  first.front() = 'b';
  last.back() = 'b';
  auto time_compare = [&](const std::string& presented) {
    auto start = Clock::now();
    bool equal = berth::constant_time_equal(stored, presented);
    EXPECT_FALSE(equal);
    return std::chrono::duration<double, std::micro>(Clock::now() - start).count();
  };
  std::vector<double> first_times, last_times;
  for (int i = 0; i < 41; ++i) {  // interleaved, so drift affects both alike
    first_times.push_back(time_compare(first));
    last_times.push_back(time_compare(last));
  }
  std::sort(first_times.begin(), first_times.end());
  std::sort(last_times.begin(), last_times.end());
  double ratio = first_times[20] / last_times[20];
  EXPECT_GT(ratio, 0.5) << first_times[20] << " us vs " << last_times[20] << " us";
  EXPECT_LT(ratio, 2.0) << first_times[20] << " us vs " << last_times[20] << " us";
  EXPECT_TRUE(berth::constant_time_equal(stored, std::string(stored)));
  EXPECT_FALSE(berth::constant_time_equal(stored, stored.substr(1)));
}

}  // namespace
