#include "names.hpp"

#include "errors.hpp"

namespace berth {
namespace {
bool is_lower_alnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }
}  // namespace

bool is_valid_name(std::string_view name) {
  if (name.empty() || name.size() > 63) return false;
  if (!is_lower_alnum(name.front()) || !is_lower_alnum(name.back())) return false;
  for (char c : name) {
    if (!is_lower_alnum(c) && c != '-') return false;
  }
  return true;
}

void require_valid_name(std::string_view kind, std::string_view name) {
  if (is_valid_name(name)) return;
  std::string shown(name.substr(0, 80));
  throw invalid("invalid " + std::string(kind) + " name '" + shown +
                "': use 1 to 63 lowercase letters, digits and '-', starting and ending with a "
                "letter or digit");
}

}  // namespace berth
