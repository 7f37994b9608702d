#pragma once
// Durations as people write them in a target or on the command line: 90s, 30m, 2h, 1d (or a
// bare number of seconds); "0" and "off" mean none.
#include <chrono>
#include <optional>
#include <string>

namespace berth {

// The duration, 0 for "0"/"off", nothing when the text is none of the forms above or longer
// than `most`.
std::optional<std::chrono::seconds> parse_duration(const std::string& text, std::chrono::seconds most = std::chrono::hours(24 * 365));

// 90 -> "1m30s", 7200 -> "2h", 0 -> "0s".
std::string format_duration(std::chrono::seconds duration);

}  // namespace berth
