#include "engine.hpp"

#include <cctype>
#include <cstdio>

#include <httplib.h>
#include <netdb.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>

namespace docker {
namespace {

constexpr const char* kNewestApi = "1.41";

void set_socket_deadline(int fd, int option, std::chrono::seconds deadline) {
  timeval value{static_cast<time_t>(deadline.count()), 0};
  ::setsockopt(fd, SOL_SOCKET, option, &value, sizeof value);
}

// The engine's connection, made by berth (engine_link.hpp: a Unix socket, TCP, TLS or ssh)
// within the engine's deadline: httplib 0.11 has no deadline of its own for connecting to a
// Unix socket, and no ssh; a frozen engine must not stall a provider call.
class LinkedClient : public httplib::ClientImpl {
 public:
  LinkedClient(EngineLink link, std::chrono::seconds deadline)
      : httplib::ClientImpl("docker", 80), link_(std::move(link)), deadline_(deadline) {}
  std::string last_error;
  std::shared_ptr<SshReport> ssh;  // the last connection's ssh child, for ssh://

 protected:
  bool create_and_connect_socket(Socket& socket, httplib::Error& error) override {
    int fd = connect_engine(link_, deadline_, last_error, &ssh);
    if (fd < 0) {
      error = httplib::Error::Connection;
      return false;
    }
    socket.sock = fd;
    return true;
  }

 private:
  EngineLink link_;
  std::chrono::seconds deadline_;
};

std::string unreachable_message(const std::string& address, const std::string& cause) {
  std::string hint = cause.rfind("TLS: ", 0) == 0 || cause.find("docker CLI") != std::string::npos ? ""
                     : address.rfind("ssh://", 0) == 0
                         ? " (check that the server's user can ssh there without a password prompt, and run docker version there)"
                         : " (start Docker, e.g. 'sudo systemctl start docker', or set the target's host property)";
  return "cannot reach the Docker engine at " + address + ": " + cause + hint;
}

}  // namespace

Json Reply::json() const {
  Json parsed = Json::parse(body, nullptr, false);
  return parsed.is_discarded() ? Json() : parsed;
}

std::string Reply::message() const {
  Json parsed = json();
  if (parsed.is_object() && parsed.contains("message") && parsed["message"].is_string()) return parsed["message"].get<std::string>();
  return body.empty() ? "HTTP " + std::to_string(status) : body;
}

Engine::Engine(EngineLink link, std::string api_version, std::chrono::seconds deadline)
    : link_(std::move(link)), version_(std::move(api_version)), deadline_(deadline) {}
Engine::~Engine() = default;

httplib::ClientImpl& Engine::client() {
  if (client_) return *client_;
  parse_engine_address(link_.address);  // a malformed address is its own error, not "unreachable"
  client_ = std::make_unique<LinkedClient>(link_, deadline_);
  client_->set_keep_alive(true);
  client_->set_connection_timeout(std::min<time_t>(5, deadline_.count()), 0);
  client_->set_read_timeout(deadline_.count(), 0);
  client_->set_write_timeout(deadline_.count(), 0);
  return *client_;
}

Reply Engine::send(const std::string& method, const std::string& path, const std::string& body, const std::string& content_type) {
  auto& http = client();
  httplib::Request request;
  request.method = method;
  request.path = path;
  request.body = body;
  if (!body.empty()) request.set_header("Content-Type", content_type);
  httplib::Response response;
  httplib::Error error = httplib::Error::Success;
  if (!http.send(request, response, error)) throw EngineUnreachable(unreachable_message(address(), failure_cause(error)));
  return Reply{response.status, std::move(response.body)};
}

const std::string& Engine::api_version() {
  if (!version_.empty()) return version_;
  Reply reply = send("GET", "/version", "", "");
  if (reply.status != 200) throw std::runtime_error("the Docker engine at " + address() + " answered /version with " + reply.message());
  std::string engine_version = reply.json().value("ApiVersion", kNewestApi);
  // The older of the engine's newest and ours: both sides then speak it.
  auto number = [](const std::string& v) {
    size_t dot = v.find('.');
    // strtol, not stoi: an engine's odd answer must not become a bare "stoi" error.
    return dot == std::string::npos ? 0L : std::strtol(v.substr(0, dot).c_str(), nullptr, 10) * 1000 + std::strtol(v.substr(dot + 1).c_str(), nullptr, 10);
  };
  version_ = number(engine_version) < number(kNewestApi) ? engine_version : kNewestApi;
  return version_;
}

std::string Engine::versioned(const std::string& path) { return "/v" + api_version() + path; }

Reply Engine::get(const std::string& path) { return send("GET", versioned(path), "", ""); }
Reply Engine::post(const std::string& path, const Json& body) {
  return send("POST", versioned(path), body.is_null() ? "" : body.dump(), "application/json");
}
Reply Engine::del(const std::string& path) { return send("DELETE", versioned(path), "", ""); }

Reply Engine::post_streaming(const std::string& path, const std::function<void(std::string_view)>& on_data,
                             const std::string& body, const std::string& content_type) {
  return send_streaming("POST", path, on_data, body, content_type);
}

Reply Engine::send_streaming(const std::string& method, const std::string& path, const std::function<void(std::string_view)>& on_data,
                             const std::string& body, const std::string& content_type) {
  auto& http = client();
  httplib::Request request;
  request.method = method;
  request.path = versioned(path);
  request.body = body;
  if (!body.empty()) request.set_header("Content-Type", content_type);
  Reply reply;
  request.response_handler = [&](const httplib::Response& response) {
    reply.status = response.status;
    return true;
  };
  request.content_receiver = [&](const char* data, size_t size, uint64_t, uint64_t) {
    if (reply.status >= 400) {
      reply.body.append(data, size);
    } else {
      on_data(std::string_view(data, size));
    }
    return true;
  };
  httplib::Response response;
  httplib::Error error = httplib::Error::Success;
  if (!http.send(request, response, error)) throw EngineUnreachable(unreachable_message(address(), failure_cause(error)));
  return reply;
}

Reply Engine::get_streaming(const std::string& path, const std::function<bool(std::string_view)>& on_data,
                            const std::function<void()>& on_headers) {
  auto& http = client();
  httplib::Request request;
  request.method = "GET";
  request.path = versioned(path);
  Reply reply;
  request.response_handler = [&](const httplib::Response& response) {
    reply.status = response.status;
    if (reply.status < 400 && on_headers) on_headers();
    return true;
  };
  request.content_receiver = [&](const char* data, size_t size, uint64_t, uint64_t) {
    if (reply.status >= 400) {
      reply.body.append(data, size);
      return true;
    }
    return on_data(std::string_view(data, size));
  };
  httplib::Response response;
  httplib::Error error = httplib::Error::Success;
  if (!http.send(request, response, error) && error != httplib::Error::Canceled) {
    std::string cause = error == httplib::Error::Read ? "it sent nothing for " + std::to_string(deadline_.count()) + " s" : httplib::to_string(error);
    throw EngineUnreachable(unreachable_message(address(), cause));
  }
  return reply;
}

void Engine::abort() {
  if (client_) client_->stop();
}

Reply Engine::put_stream(const std::string& path, const std::string& content_type,
                         const std::function<bool(std::string& chunk)>& produce) {
  auto& http = client();
  auto result = http.Put(
      versioned(path).c_str(),
      [&](size_t, httplib::DataSink& sink) {
        std::string chunk;
        bool more = produce(chunk);
        if (!chunk.empty() && !sink.write(chunk.data(), chunk.size())) return false;
        if (!more) sink.done();
        return true;
      },
      content_type.c_str());
  if (!result) throw EngineUnreachable(unreachable_message(address(), failure_cause(result.error())));
  return Reply{result->status, result->body};
}

std::string Engine::failure_cause(httplib::Error error) {
  auto& linked = static_cast<LinkedClient&>(client());
  // An ssh child that ended says why far better than the closed connection it leaves.
  if (linked.ssh) {
    if (std::string why = linked.ssh->failure(std::chrono::seconds(2)); !why.empty()) return why;
  }
  if (error == httplib::Error::Connection && !linked.last_error.empty()) return linked.last_error;
  if (error == httplib::Error::Read || error == httplib::Error::Write) {
    return "it did not answer within " + std::to_string(deadline_.count()) + " s (is it frozen or overloaded?)";
  }
  return httplib::to_string(error);
}

int Engine::connect_socket(std::shared_ptr<SshReport>& ssh) {
  std::string error;
  int fd = connect_engine(link_, deadline_, error, &ssh);
  if (fd < 0) throw EngineUnreachable(unreachable_message(address(), error));
  return fd;
}

int Engine::hijack(const std::string& path, const Json& body) {
  std::string payload = body.dump();
  std::string request = "POST " + versioned(path) + " HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\n"
                        "Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: " + std::to_string(payload.size()) + "\r\n\r\n" + payload;
  std::shared_ptr<SshReport> ssh;
  int fd = connect_socket(ssh);
  // The request and the answer's head have the engine's deadline; the raw stream after it has
  // none (a command may be silent for as long as it likes).
  set_socket_deadline(fd, SO_SNDTIMEO, deadline_);
  set_socket_deadline(fd, SO_RCVTIMEO, deadline_);
  for (size_t sent = 0; sent < request.size();) {
    ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) {
      ::close(fd);
      throw EngineUnreachable(unreachable_message(address(), std::strerror(errno)));
    }
    sent += static_cast<size_t>(n);
  }
  // Read the response head byte by byte, so nothing of the raw stream after it is consumed.
  std::string head;
  char c;
  while (head.size() < 16384 && head.find("\r\n\r\n") == std::string::npos) {
    if (::recv(fd, &c, 1, 0) != 1) break;
    head.push_back(c);
  }
  int status = head.size() > 12 ? std::atoi(head.c_str() + 9) : 0;
  if (status == 0 && head.find("\r\n\r\n") == std::string::npos) {
    ::close(fd);
    std::string why = ssh ? ssh->failure(std::chrono::seconds(2)) : "";
    throw EngineUnreachable(unreachable_message(address(), why.empty() ? "it did not answer within " + std::to_string(deadline_.count()) + " s" : why));
  }
  if (status != 101 && status != 200) {
    std::string rest(4096, '\0');
    ssize_t n = ::recv(fd, rest.data(), rest.size(), MSG_DONTWAIT);
    ::close(fd);
    std::string body_text = n > 0 ? rest.substr(0, static_cast<size_t>(n)) : "";
    Reply reply{status, body_text.substr(body_text.find('{') == std::string::npos ? 0 : body_text.find('{'))};
    throw std::runtime_error("the Docker engine refused " + path + ": " + reply.message());
  }
  set_socket_deadline(fd, SO_SNDTIMEO, std::chrono::seconds(0));
  set_socket_deadline(fd, SO_RCVTIMEO, std::chrono::seconds(0));
  return fd;
}

std::string url_escape(const std::string& text) {
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      char buffer[4];
      std::snprintf(buffer, sizeof buffer, "%%%02X", c);
      out += buffer;
    }
  }
  return out;
}

}  // namespace docker
