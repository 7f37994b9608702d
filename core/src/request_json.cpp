// The JSON bodies of the API's requests, checked strictly: a wrong type is invalid, naming the field.
#include "codec.hpp"
#include "errors.hpp"

namespace berth {

Json parse_request_object(const std::string& body) {
  if (body.empty()) return Json::object();
  Json parsed = Json::parse(body, nullptr, false);
  if (parsed.is_discarded()) throw invalid("the request body is not valid JSON");
  if (!parsed.is_object()) throw invalid("the request body must be a JSON object");
  return parsed;
}

std::string request_string(const Json& body, const char* key) {
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return "";
  if (!it->is_string()) throw invalid(std::string("field '") + key + "' must be a string");
  return it->get<std::string>();
}

StringMap request_map(const Json& body, const char* key) {
  StringMap result;
  auto it = body.find(key);
  if (it == body.end() || it->is_null()) return result;
  if (!it->is_object()) throw invalid(std::string("field '") + key + "' must be an object of strings");
  for (const auto& [name, value] : it->items()) {
    if (!value.is_string()) throw invalid(std::string("field '") + key + "." + name + "' must be a string");
    result[name] = value.get<std::string>();
  }
  return result;
}

WorkspaceRequest parse_create_request(const std::string& text) {
  Json body = parse_request_object(text);
  return WorkspaceRequest{request_string(body, "name"),  request_string(body, "target"), request_string(body, "repository"),
                          request_string(body, "image"), request_map(body, "env"),       request_map(body, "options"),
                          request_map(body, "labels")};
}

ExecRequest parse_exec_request(const std::string& text) {
  Json body = parse_request_object(text);
  ExecRequest exec;
  auto command = body.find("command");
  if (command == body.end() || !command->is_array() || command->empty()) {
    throw invalid("field 'command' must be a non-empty list of strings");
  }
  for (const auto& part : *command) {
    if (!part.is_string()) throw invalid("field 'command' must be a list of strings");
    exec.command.push_back(part.get<std::string>());
  }
  exec.env = request_map(body, "env");
  exec.workdir = request_string(body, "workdir");
  exec.user = request_string(body, "user");
  exec.stdin_data = request_string(body, "stdin");
  return exec;
}

SessionRequest parse_session_request(const std::string& text) {
  Json body = parse_request_object(text);
  SessionRequest session;
  if (auto command = body.find("command"); command != body.end() && !command->is_null()) {
    if (!command->is_array()) throw invalid("field 'command' must be a list of strings (leave it out for the user's shell)");
    for (const auto& part : *command) {
      if (!part.is_string()) throw invalid("field 'command' must be a list of strings");
      session.command.push_back(part.get<std::string>());
    }
  }
  session.env = request_map(body, "env");
  session.workdir = request_string(body, "workdir");
  session.user = request_string(body, "user");
  for (auto [field, value] : {std::pair{"tty", &session.tty}, std::pair{"attach", &session.attach}}) {
    auto it = body.find(field);
    if (it == body.end()) continue;
    if (!it->is_boolean()) throw invalid(std::string("field '") + field + "' must be true or false");
    *value = it->get<bool>();
  }
  for (auto [field, value] : {std::pair{"rows", &session.rows}, std::pair{"cols", &session.cols}}) {
    auto it = body.find(field);
    if (it == body.end()) continue;
    if (!it->is_number_integer() || it->get<long long>() < 1 || it->get<long long>() > 65535) {
      throw invalid(std::string("field '") + field + "' must be a whole number from 1 to 65535");
    }
    *value = it->get<int>();
  }
  return session;
}

}  // namespace berth
