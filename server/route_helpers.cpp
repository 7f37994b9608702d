#include "route_helpers.hpp"

#include "errors.hpp"
#include "version.hpp"

#include <httplib.h>

#include <chrono>

namespace berth {
namespace {
constexpr const char* kJson = "application/json";
RequestGate request_gate;
}  // namespace

void set_request_gate(RequestGate gate) { request_gate = std::move(gate); }

void pass_request_gate(const std::string& method, const std::string& path, const std::string& plugin_token) {
  if (plugin_token.empty()) return;
  if (!request_gate) throw Error("forbidden", "this server takes no plugin credentials");
  request_gate(method, path, plugin_token);
}

void send_error(httplib::Response& response, const std::string& code, const std::string& message) {
  response.status = http_status_for(code);
  response.set_content(Json{{"error", {{"code", code}, {"message", message}}}}.dump(-1, ' ', false, Json::error_handler_t::replace), kJson);
}

void send_json(httplib::Response& response, int status, const Json& body) {
  response.status = status;
  response.set_content(body.dump(-1, ' ', false, Json::error_handler_t::replace), kJson);
}

// Every handler's errors become JSON answers with the status of their code.
Handler guarded(Handler handler) {
  return [handler = std::move(handler)](const httplib::Request& request, httplib::Response& response) {
    auto start = std::chrono::steady_clock::now();
    try {
      pass_request_gate(request.method, request.path, request.get_header_value("X-Berth-Plugin-Token"));
      handler(request, response);
    } catch (const Error& error) {
      send_error(response, error.code(), error.what());
    } catch (const std::exception& error) {
      send_error(response, "internal", error.what());
    }
    // What the server spent on it (`berth -v` shows it): until the answer, or its stream, began.
    auto micros = std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - start).count();
    response.set_header("Server-Timing", "app;dur=" + std::to_string(micros / 1000) + "." + std::to_string(micros / 100 % 10));
    // Every answer says which berth served it, so a client can warn about a mismatch for free.
    response.set_header("X-Berth-Version", BERTH_VERSION);
  };
}

}  // namespace berth
