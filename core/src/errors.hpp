#pragma once
// One place that maps an error code to an HTTP status and a CLI exit code.
#include <berth/sdk.hpp>

#include <string>

namespace berth {

inline Error invalid(const std::string& message) { return Error("invalid", message); }
inline Error not_found(const std::string& message) { return Error("not_found", message); }
inline Error conflict(const std::string& message) { return Error("conflict", message); }
inline Error provider_failed(const std::string& message) { return Error("provider_failed", message); }
inline Error unavailable(const std::string& message) { return Error("unavailable", message); }
inline Error internal_error(const std::string& message) { return Error("internal", message); }

int http_status_for(const std::string& code);
std::string code_for_http_status(int status);
// 2 for bad input (usage), 1 for everything else that failed.
int exit_code_for(const std::string& code);

}  // namespace berth
