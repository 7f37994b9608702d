#include "errors.hpp"

#include <array>
#include <utility>

namespace berth {
namespace {
constexpr std::array<std::pair<const char*, int>, 11> kStatusByCode{{
    {"invalid", 400},
    {"unauthorized", 401},
    {"forbidden", 403},
    {"not_found", 404},
    {"conflict", 409},
    {"too_large", 413},
    {"unprocessable", 422},
    {"internal", 500},
    {"unsupported", 501},
    {"provider_failed", 502},
    {"unavailable", 503},
}};
}  // namespace

int http_status_for(const std::string& code) {
  for (const auto& [name, status] : kStatusByCode) {
    if (code == name) return status;
  }
  return 500;
}

std::string code_for_http_status(int status) {
  for (const auto& [name, value] : kStatusByCode) {
    if (status == value) return name;
  }
  return "internal";
}

int exit_code_for(const std::string& code) { return code == "invalid" ? 2 : 1; }

}  // namespace berth
