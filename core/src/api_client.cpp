#include "api_client.hpp"

#include "codec.hpp"
#include "errors.hpp"
#include "exec_frames.hpp"
#include "unix_http.hpp"
#include "version.hpp"

#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ostream>

namespace berth {
namespace {

constexpr long kStreamTimeoutSeconds = 24L * 3600;

std::string encode_segment(const std::string& text) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
    }
  }
  return out;
}

Error error_from_reply(int status, const std::string& body) {
  try {
    Json json = Json::parse(body);
    const auto& error = json.at("error");
    return Error(error.at("code").get<std::string>(), error.at("message").get<std::string>());
  } catch (const std::exception&) {
    return Error(code_for_http_status(status), "the server answered HTTP " + std::to_string(status) +
                                                   (body.empty() ? "" : ": " + body.substr(0, 200)));
  }
}

Json parse_json(const std::string& body) {
  try {
    return Json::parse(body);
  } catch (const std::exception& error) {
    throw internal_error(std::string("the server sent malformed JSON: ") + error.what());
  }
}

// Splits a byte stream into lines for a ProgressSink.
// A followed log's lines to a sink; a line after a record separator (0x1E) is the operation's
// outcome, kept for the caller, never shown.
class LineSplitter {
 public:
  LineSplitter(ProgressSink& sink, std::string* outcome) : sink_(sink), outcome_(outcome) {}
  void feed(const char* data, size_t size) {
    pending_.append(data, size);
    size_t start = 0;
    for (size_t newline; (newline = pending_.find('\n', start)) != std::string::npos; start = newline + 1) {
      take(std::string_view(pending_).substr(start, newline - start));
    }
    pending_.erase(0, start);
  }
  void finish() {
    if (!pending_.empty()) take(pending_);
    pending_.clear();
  }

 private:
  void take(std::string_view line) {
    if (!line.empty() && line.front() == '\x1e') {
      if (outcome_) *outcome_ = line.substr(1);
      return;
    }
    sink_.line(line);
  }
  ProgressSink& sink_;
  std::string* outcome_;
  std::string pending_;
};

// An operation's outcome as the server sent it; a non-object when there was none.
Json parse_outcome(const std::string& text) { return text.empty() ? Json() : Json::parse(text, nullptr, false); }

}  // namespace

ApiClient::ApiClient(Endpoint endpoint) : endpoint_(std::move(endpoint)) {}
ApiClient::~ApiClient() = default;

HttpClient& ApiClient::connection() {
  if (client_) return *client_;
  client_ = std::make_unique<HttpClient>(endpoint_.address, endpoint_.tls);
  if (!endpoint_.api_key.empty()) client_->set_header("Authorization", "Bearer " + endpoint_.api_key);
  if (!endpoint_.plugin_token.empty()) client_->set_header("X-Berth-Plugin-Token", endpoint_.plugin_token);
  return *client_;
}

ApiClient::Reply ApiClient::call(const std::string& method, const std::string& path, const std::string& body,
                                 const std::string& content_type) {
  auto& client = connection();
  HttpResponse response;
  auto start = std::chrono::steady_clock::now();
  try {
    response = client.request(method, path, method == "GET" || method == "DELETE" ? "" : body, content_type);
    if (trace_) {
      double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
      std::string server = response.header("server-timing");
      size_t at = server.find("dur=");
      char line[160];
      std::snprintf(line, sizeof line, "%.1f ms", ms);
      *trace_ << "berth: " << method << ' ' << path << " -> " << response.status << " in " << line
              << (at == std::string::npos ? "" : " (server " + server.substr(at + 4) + " ms)") << std::endl;
    }
  } catch (const HttpError& error) {
    absent_server_ = client.absent_server();
    if (absent_server_ && start_server_) {
      auto start = std::move(start_server_);
      start_server_ = nullptr;
      start();
      return call(method, path, body, content_type);
    }
    std::string why = error.what();
    throw unavailable("cannot reach the berth server at " + endpoint_.address + ": " + why +
                      (why.rfind("TLS: ", 0) == 0 ? "" : " (start it with 'berth server start', or check --server)"));
  }
  check_version(response.header("x-berth-version"));
  if (response.status >= 400) throw error_from_reply(response.status, response.body);
  return Reply{response.status, std::move(response.body), response.header("x-berth-log-offset"), response.header("x-berth-log-ticket")};
}

bool ApiClient::healthy() {
  try {
    return call("GET", "/v1/health").status == 200;
  } catch (const Error&) {
    return false;
  }
}

std::string ApiClient::server_version() {
  return parse_json(call("GET", "/v1/version").body).value("version", "");
}

std::vector<Workspace> ApiClient::list_workspaces() { return parse_workspace_list(call("GET", "/v1/workspaces").body); }

std::vector<Workspace> ApiClient::list_workspaces(const std::string& fields) {
  return parse_workspace_list(call("GET", "/v1/workspaces?fields=" + fields).body);
}

Workspace ApiClient::get_workspace(const std::string& name) {
  std::string ignored;
  return get_workspace(name, ignored);
}

Workspace ApiClient::get_workspace(const std::string& name, std::string& status_error) {
  Json body = parse_json(call("GET", "/v1/workspaces/" + encode_segment(name)).body);
  status_error = body.is_object() ? body.value("status_error", "") : "";
  return body.get<Workspace>();
}

void ApiClient::follow_log(const std::string& name, long long offset, ProgressSink& sink, const std::string& until, std::string* outcome) {
  auto& client = connection();
  LineSplitter splitter(sink, outcome);
  HttpResponse response;
  client.set_timeout(std::chrono::seconds(kStreamTimeoutSeconds));
  try {
    response = client.request("GET", "/v1/workspaces/" + encode_segment(name) + "/logs?follow=true&offset=" + std::to_string(offset) +
                                                        (until.empty() ? "" : "&until=" + until) + (outcome ? "&outcome=true" : ""), "",
                              "", [&](std::string_view data) { splitter.feed(data.data(), data.size()); });
  } catch (const HttpError& error) {
    client.set_timeout(std::chrono::seconds(120));
    throw unavailable("lost the log stream of workspace '" + name + "': " + error.what() +
                      "; the operation goes on in the server (berth logs " + name + " -f)");
  }
  client.set_timeout(std::chrono::seconds(120));
  if (response.status >= 400) throw error_from_reply(response.status, response.body);
  splitter.finish();
}

Workspace ApiClient::run_operation(const std::string& name, const std::string& path, const std::string& body,
                                   ProgressSink* follow, bool expect_gone) {
  Reply reply = call("POST", path, body);
  Workspace started = parse_json(reply.body).get<Workspace>();
  // 200: nothing to do (already in that state), so no operation and no log to follow.
  if (!follow || reply.status == 200) return started;
  long long offset = reply.log_offset.empty() ? 0 : std::stoll(reply.log_offset);
  std::string outcome_text;
  follow_log(name, offset, *follow, reply.log_ticket, &outcome_text);
  last_outcome_ = outcome_text;
  // How it ended is the outcome's fields, never the log's sentences.
  Json outcome = parse_outcome(outcome_text);
  if (outcome.is_object()) {
    if (!outcome.value("ok", false)) {
      const Json& record = outcome.contains("workspace") ? outcome["workspace"] : Json();
      if (record.is_object() && record.value("state", "") == "error" && !record.value("last_error", "").empty()) {
        throw provider_failed(record.value("last_error", ""));
      }
      throw Error(outcome.value("code", "provider_failed"), outcome.value("message", "workspace '" + name + "': the operation failed"));
    }
    if (outcome.contains("workspace") && outcome["workspace"].is_object()) return outcome["workspace"].get<Workspace>();
    if (expect_gone) return started;
  }
  // A server without outcomes: the record says how it ended.
  try {
    Workspace final_record =
        parse_json(call("GET", "/v1/workspaces/" + encode_segment(name) + "?refresh=false").body).get<Workspace>();
    if (final_record.state == WorkspaceState::error) {
      throw provider_failed(final_record.last_error.empty() ? "workspace '" + name + "' is in error" : final_record.last_error);
    }
    return final_record;
  } catch (const Error& error) {
    if (expect_gone && error.code() == "not_found") return started;
    throw;
  }
}

Workspace ApiClient::create_workspace(const WorkspaceRequest& request, ProgressSink* follow) {
  Json body{{"name", request.name},
            {"target", request.target},
            {"repository", request.repository},
            {"image", request.image},
            {"env", request.env},
            {"options", request.options}, {"labels", request.labels}};
  return run_operation(request.name, "/v1/workspaces", body.dump(), follow, false);
}

Workspace ApiClient::start_workspace(const std::string& name, ProgressSink* follow) {
  return run_operation(name, "/v1/workspaces/" + encode_segment(name) + "/start", "{}", follow, false);
}

Workspace ApiClient::stop_workspace(const std::string& name, ProgressSink* follow) {
  return run_operation(name, "/v1/workspaces/" + encode_segment(name) + "/stop", "{}", follow, false);
}

Workspace ApiClient::rebuild_workspace(const std::string& name, ProgressSink* follow) { return rebuild_workspace(name, follow, false); }

Workspace ApiClient::rebuild_workspace(const std::string& name, ProgressSink* follow, bool trust) {
  return run_operation(name, "/v1/workspaces/" + encode_segment(name) + "/rebuild", trust ? R"({"trust":true})" : "{}", follow, false);
}

std::string ApiClient::delete_workspace(const std::string& name, bool force, ProgressSink* follow) {
  return delete_workspace(name, force, false, follow);
}

std::string ApiClient::delete_workspace(const std::string& name, bool force, bool keep_volume, ProgressSink* follow) {
  std::string query = force && keep_volume ? "?force=true&keep_volume=true" : force ? "?force=true" : keep_volume ? "?keep_volume=true" : "";
  Reply reply = call("DELETE", "/v1/workspaces/" + encode_segment(name) + query);
  Json json = parse_json(reply.body);
  std::string left_behind = json.value("left_behind", "");
  if (follow && reply.status == 202) {
    long long offset = reply.log_offset.empty() ? 0 : std::stoll(reply.log_offset);
    std::string outcome_text;
    try {
      follow_log(name, offset, *follow, reply.log_ticket, &outcome_text);
    } catch (const Error& error) {
      if (error.code() != "not_found") throw;  // gone already: the delete is over
    }
    // A forced delete whose provider failed says what may be left behind, as a field.
    Json outcome = parse_outcome(outcome_text);
    if (outcome.is_object()) {
      if (outcome.value("deleted", false)) return outcome.value("left_behind", left_behind);
      const Json& record = outcome.contains("workspace") ? outcome["workspace"] : Json();
      throw provider_failed(record.is_object() && !record.value("last_error", "").empty() ? record.value("last_error", "")
                                                                                         : outcome.value("message", "the delete failed"));
    }
    try {
      Workspace remaining = get_workspace(name);
      if (remaining.state == WorkspaceState::error) throw provider_failed(remaining.last_error);
      throw internal_error("workspace '" + name + "' is still there in state " + to_string(remaining.state));
    } catch (const Error& error) {
      if (error.code() != "not_found") throw;
    }
  }
  return left_behind;
}

int ApiClient::exec(const std::string& name, const ExecRequest& request, OutputSink& output) {
  auto& client = connection();
  Json body{{"command", request.command}, {"env", request.env}, {"workdir", request.workdir},
            {"user", request.user}, {"stdin", request.stdin_data}};
  int exit_code = -1;
  std::optional<Error> stream_error;
  FrameDecoder decoder([&](char type, std::string_view payload) {
    switch (type) {
      case 'o': output.write(OutputStream::stdout_stream, payload); break;
      case 'e': output.write(OutputStream::stderr_stream, payload); break;
      case 'x': exit_code = std::stoi(std::string(payload)); break;
      case '!': stream_error = error_from_reply(500, std::string(payload)); break;
      default: break;
    }
  });
  HttpResponse response;
  client.set_timeout(std::chrono::seconds(kStreamTimeoutSeconds));
  try {
    response = client.request("POST", "/v1/workspaces/" + encode_segment(name) + "/exec", body.dump(), "application/json",
                              [&](std::string_view data) { decoder.feed(data.data(), data.size()); });
  } catch (const HttpError& error) {
    client.set_timeout(std::chrono::seconds(120));
    // No server yet (nothing was sent): start it, as every other command does, and run again.
    if (client.absent_server() && start_server_) {
      auto start = std::move(start_server_);
      start_server_ = nullptr;
      start();
      return exec(name, request, output);
    }
    throw unavailable("lost the connection to the berth server while running the command in '" + name + "': " + error.what());
  }
  client.set_timeout(std::chrono::seconds(120));
  if (response.status >= 400) throw error_from_reply(response.status, response.body);
  if (stream_error) throw *stream_error;
  if (exit_code < 0) throw internal_error("the server ended the command's stream without an exit code");
  return exit_code;
}

void ApiClient::check_version(const std::string& server_version) {
  if (version_checked_ || server_version.empty()) return;
  version_checked_ = true;
  auto major_minor = [](const std::string& version) { return version.substr(0, version.find('.', version.find('.') + 1)); };
  if (warn_version_ && major_minor(server_version) != major_minor(BERTH_VERSION)) warn_version_(server_version);
}

int ApiClient::open_stream(const std::string& path, const std::string& body) {
  std::string error;
  bool absent = false;
  int fd = connect_socket(endpoint_.address, error, &absent, &endpoint_.tls);
  if (fd < 0) {
    absent_server_ = absent;
    if (absent && start_server_) {
      auto start = std::move(start_server_);
      start_server_ = nullptr;
      start();
      return open_stream(path, body);
    }
    throw unavailable("cannot reach the berth server at " + endpoint_.address + ": " + error +
                      (error.rfind("TLS: ", 0) == 0 ? "" : " (start it with 'berth server start', or check --server)"));
  }
  std::string host = endpoint_.address.rfind("unix:", 0) == 0 ? "berth" : endpoint_.address.substr(endpoint_.address.find("//") + 2);
  std::string request = "POST " + path + " HTTP/1.1\r\nHost: " + host +
                        "\r\nContent-Type: application/json\r\nConnection: Upgrade\r\nUpgrade: berth-stream\r\nContent-Length: " +
                        std::to_string(body.size()) + "\r\n" +
                        (endpoint_.api_key.empty() ? "" : "Authorization: Bearer " + endpoint_.api_key + "\r\n") +
                        (endpoint_.plugin_token.empty() ? "" : "X-Berth-Plugin-Token: " + endpoint_.plugin_token + "\r\n") + "\r\n" + body;
  auto lost = [&](const std::string& what) {
    ::close(fd);
    return unavailable("lost the connection to the berth server at " + endpoint_.address + " " + what);
  };
  for (size_t sent = 0; sent < request.size();) {
    ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw lost("while opening the stream");
    sent += static_cast<size_t>(n);
  }
  // The head, a byte at a time: whatever follows it is the stream's, not ours to take.
  std::string head;
  char c;
  while (head.size() < 16384 && head.find("\r\n\r\n") == std::string::npos) {
    ssize_t n = ::recv(fd, &c, 1, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw lost("before it answered");
    head.push_back(c);
  }
  int status = head.size() > 12 ? std::atoi(head.c_str() + 9) : 0;
  if (trace_) *trace_ << "berth: POST " << path << " -> " << status << std::endl;
  if (status == 101) return fd;
  std::string lower = head;
  for (char& ch : lower) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  size_t length = 0;
  if (size_t at = lower.find("\r\ncontent-length:"); at != std::string::npos) length = std::strtoul(lower.c_str() + at + 17, nullptr, 10);
  std::string answer;
  char buffer[4096];
  while (answer.size() < std::min<size_t>(length, 1 << 20)) {
    ssize_t n = ::recv(fd, buffer, std::min(sizeof buffer, length - answer.size()), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    answer.append(buffer, static_cast<size_t>(n));
  }
  ::close(fd);
  if (status == 0) throw unavailable("the berth server at " + endpoint_.address + " did not answer in HTTP");
  throw error_from_reply(status, answer);
}

std::string ApiClient::workspace_log(const std::string& name) {
  return call("GET", "/v1/workspaces/" + encode_segment(name) + "/logs").body;
}

std::vector<Target> ApiClient::list_targets() {
  return parse_json(call("GET", "/v1/targets").body).get<std::vector<Target>>();
}

Target ApiClient::get_target(const std::string& name) {
  return parse_json(call("GET", "/v1/targets/" + encode_segment(name)).body).get<Target>();
}

Target ApiClient::add_target(const Target& target) {
  return parse_json(call("POST", "/v1/targets", Json(target).dump()).body).get<Target>();
}

Target ApiClient::add_target_yaml(const std::string& yaml_text, const std::string& source) {
  Json body{{"yaml", yaml_text}, {"source", source}};
  return parse_json(call("POST", "/v1/targets", body.dump()).body).get<Target>();
}

void ApiClient::remove_target(const std::string& name, bool force) {
  call("DELETE", "/v1/targets/" + encode_segment(name) + (force ? "?force=true" : ""));
}

Target ApiClient::set_default_target(const std::string& name) {
  return parse_json(call("POST", "/v1/targets/" + encode_segment(name) + "/default", "{}").body).get<Target>();
}

TargetCheck ApiClient::check_target(const std::string& name) {
  Json json = parse_json(call("POST", "/v1/targets/" + encode_segment(name) + "/check", "{}").body);
  return TargetCheck{json.value("ok", false), json.value("message", "")};
}

std::vector<ProviderStatus> ApiClient::list_providers() {
  return parse_json(call("GET", "/v1/providers").body).get<std::vector<ProviderStatus>>();
}

ProviderStatus ApiClient::get_provider(const std::string& name) {
  return parse_json(call("GET", "/v1/providers/" + encode_segment(name)).body).get<ProviderStatus>();
}

ProviderStatus ApiClient::enable_provider(const std::string& name) {
  return parse_json(call("POST", "/v1/providers/" + encode_segment(name) + "/enable").body).get<ProviderStatus>();
}

ProviderStatus ApiClient::disable_provider(const std::string& name) {
  return parse_json(call("POST", "/v1/providers/" + encode_segment(name) + "/disable").body).get<ProviderStatus>();
}

std::string ApiClient::provider_log(const std::string& name) {
  return call("GET", "/v1/providers/" + encode_segment(name) + "/logs").body;
}

}  // namespace berth
