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
Handler guarded(Handler handler);

}  // namespace berth
