#include "duration.hpp"

#include <cctype>

namespace berth {

std::optional<std::chrono::seconds> parse_duration(const std::string& text, std::chrono::seconds most) {
  if (text == "off" || text == "0") return std::chrono::seconds(0);
  if (text.empty() || text.size() > 12 || !std::isdigit(static_cast<unsigned char>(text.front()))) return std::nullopt;
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  if (digits > 9) return std::nullopt;
  long long number = std::stoll(text.substr(0, digits));
  std::string unit = text.substr(digits);
  long long scale = unit.empty() || unit == "s" ? 1 : unit == "m" ? 60 : unit == "h" ? 3600 : unit == "d" ? 86400 : 0;
  if (scale == 0) return std::nullopt;
  std::chrono::seconds value(number * scale);
  if (value > most) return std::nullopt;
  return value;
}

std::string format_duration(std::chrono::seconds duration) {
  long long left = duration.count();
  if (left <= 0) return "0s";
  std::string out;
  for (auto [unit, size] : {std::pair{"d", 86400LL}, {"h", 3600LL}, {"m", 60LL}, {"s", 1LL}}) {
    if (left >= size) {
      out += std::to_string(left / size) + unit;
      left %= size;
    }
  }
  return out;
}

}  // namespace berth
