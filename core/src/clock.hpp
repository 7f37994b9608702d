#pragma once
#include <string>

namespace berth {
// The current time as RFC 3339 in UTC, to the second: 2026-11-21T17:49:03Z.
std::string now_rfc3339();
}  // namespace berth
