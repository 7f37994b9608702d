#pragma once
#include <string>
#include <string_view>

namespace berth {

// True for a DNS label: [a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?
bool is_valid_name(std::string_view name);
// Throws invalid naming the kind ("workspace", "target"...) and the rule.
void require_valid_name(std::string_view kind, std::string_view name);

}  // namespace berth
