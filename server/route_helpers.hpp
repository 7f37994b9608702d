#pragma once
// What every route of the REST API shares: JSON answers, and handlers whose errors become JSON
// answers with the status of their code (http_api.cpp, server_routes.cpp, forwards.cpp).
#include "codec.hpp"

#include <functional>
#include <string>

namespace httplib {
struct Request;
struct Response;
}  // namespace httplib

namespace berth {

using Handler = std::function<void(const httplib::Request&, httplib::Response&)>;

void send_json(httplib::Response& response, int status, const Json& body);
void send_error(httplib::Response& response, const std::string& code, const std::string& message);
// The handler, with its errors answered as JSON, and the Server-Timing and X-Berth-Version headers.
// A request that carries a plugin's credential passes the request gate first.
Handler guarded(Handler handler);

// What a request made with a plugin's credential must pass before any route (the plugins' scopes,
// plugin_access.hpp); throws Error. Set once, before the listeners start.
using RequestGate = std::function<void(const std::string& method, const std::string& path, const std::string& plugin_token)>;
void set_request_gate(RequestGate gate);
void pass_request_gate(const std::string& method, const std::string& path, const std::string& plugin_token);

}  // namespace berth
