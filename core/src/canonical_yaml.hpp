#pragma once
// A fast reader for the YAML berth itself writes: top-level keys whose values are plain or
// double-quoted scalars, `{}`, or one level of nested map. yaml-cpp spends about 0.6 M
// instructions on a 15-line record, which made start-up with 10,000 workspaces take over a
// second; this reads the same file in a few thousand. Anything outside that shape (comments,
// lists, anchors, single quotes, deeper nesting, a hand-edited file) returns nullopt and the
// caller uses yaml-cpp, so the result is always what yaml-cpp would give.
#include <nlohmann/json.hpp>

#include <optional>
#include <string_view>

namespace berth {

std::optional<nlohmann::json> parse_canonical_yaml(std::string_view text);

}  // namespace berth
