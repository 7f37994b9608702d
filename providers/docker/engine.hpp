#pragma once
// A small client of the Docker Engine API (JSON over HTTP on a Unix socket or TCP), with the
// API version negotiated once per engine.
#include <nlohmann/json.hpp>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "engine_link.hpp"

namespace httplib {
class ClientImpl;
enum class Error;
}

namespace docker {

using Json = nlohmann::json;

// text with everything but [A-Za-z0-9-_.~] percent-encoded, for a query or path segment.
std::string url_escape(const std::string& text);

// An engine's answer to a request; status 0 never reaches callers (they get EngineUnreachable).
struct Reply {
  int status = 0;
  std::string body;
  Json json() const;
  std::string message() const;  // the engine's own error message, or the body
};

// The engine's progress streams (image pulls, builds) are one JSON object a line: feed the
// bytes as they come; each whole object goes to on_event (lines that are not objects are skipped).
class EventLines {
 public:
  template <typename OnEvent>
  void feed(std::string_view data, OnEvent on_event) {
    pending_.append(data);
    size_t newline;
    while ((newline = pending_.find('\n')) != std::string::npos) {
      Json event = Json::parse(pending_.substr(0, newline), nullptr, false);
      pending_.erase(0, newline + 1);
      if (event.is_object()) on_event(event);
    }
  }

 private:
  std::string pending_;
};

class EngineUnreachable : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Engine {
 public:
  // link: the engine's address (unix://, tcp:// or ssh://) and TLS settings (engine_link.hpp).
  // api_version: already negotiated with this engine, or empty to ask it on first use.
  // deadline: how long connecting, and each wait for the engine to take or send data, may
  // last; an engine that stops answering (frozen, overloaded) fails the call after it.
  explicit Engine(EngineLink link, std::string api_version = "",
                  std::chrono::seconds deadline = std::chrono::seconds(60));
  ~Engine();

  const std::string& address() const { return link_.address; }
  // The negotiated API version, e.g. "1.41" (asks the engine on first use).
  const std::string& api_version();

  Reply get(const std::string& path);
  Reply post(const std::string& path, const Json& body = nullptr);
  Reply del(const std::string& path);
  // POST whose response is streamed to on_data as it comes (image pulls; image builds, with
  // the build context as body).
  Reply post_streaming(const std::string& path, const std::function<void(std::string_view)>& on_data,
                       const std::string& body = "", const std::string& content_type = "");
  // GET whose response is streamed to on_data as it comes (the engine's /events), until the
  // engine ends it, on_data returns false, a read waits past the deadline, or abort().
  // on_headers runs once the engine answered (the stream is open), before any data.
  Reply get_streaming(const std::string& path, const std::function<bool(std::string_view)>& on_data,
                      const std::function<void()>& on_headers = {});
  // Ends a get_streaming or post_streaming in progress on another thread (closes its connection).
  void abort();
  // PUT of a body produced by `produce` (it returns false at the end) — archive uploads.
  Reply put_stream(const std::string& path, const std::string& content_type,
                   const std::function<bool(std::string& chunk)>& produce);

  // A hijacked connection: sends the request, then returns the raw socket for both ways.
  // Throws EngineUnreachable or std::runtime_error with the engine's message.
  int hijack(const std::string& path, const Json& body);

 private:
  Reply send(const std::string& method, const std::string& path, const std::string& body, const std::string& content_type);
  Reply send_streaming(const std::string& method, const std::string& path, const std::function<void(std::string_view)>& on_data,
                       const std::string& body, const std::string& content_type);
  std::string versioned(const std::string& path);
  int connect_socket(std::shared_ptr<SshReport>& ssh);
  std::string failure_cause(httplib::Error error);
  httplib::ClientImpl& client();

  EngineLink link_;
  std::string version_;
  std::chrono::seconds deadline_;
  std::unique_ptr<httplib::ClientImpl> client_;
};

}  // namespace docker
