#pragma once
#include <string>

namespace berth {
// The current time as RFC 3339 in UTC, to the second: 2026-11-21T17:49:03Z.
std::string now_rfc3339();
// Seconds since the epoch of such a time (what now_rfc3339 wrote); -1 when it is not one.
long long parse_rfc3339(const std::string& text);
}  // namespace berth
