#pragma once
// A small HTTP/1.1 client for the CLI and plugins: JSON requests to berth's server (and a
// Docker engine's), over a Unix socket or TCP, with streamed bodies and keep-alive.
// Why not cpp-httplib here: Debian's libcpp-httplib links OpenSSL and brotli and initialises
// OpenSSL when loaded, which was a fifth of every `berth` command's start-up; the server,
// which needs a full HTTP server, still uses it.
#include "tls_options.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <string>
#include <string_view>

namespace berth {

struct HttpResponse {
  int status = 0;
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;                            // empty when streamed to a receiver
  std::string header(const std::string& lowercase_name) const;
};

class HttpClient {
 public:
  // address: unix:///PATH, http://HOST:PORT, https://HOST:PORT or tcp://HOST:PORT; tls: what
  // an https:// server's certificate must be (default: trusted by the system's CAs).
  explicit HttpClient(std::string address, TlsClientOptions tls = {});
  ~HttpClient();
  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  void set_header(const std::string& name, const std::string& value) { extra_headers_[name] = value; }
  void set_timeout(std::chrono::seconds timeout) { timeout_ = timeout; }

  // Sends one request. The body of a successful answer (status < 400) goes to receiver as it
  // arrives when one is given; otherwise, and always for an error answer, into response.body.
  // Throws HttpError.
  HttpResponse request(const std::string& method, const std::string& path, const std::string& body = "",
                       const std::string& content_type = "application/json",
                       const std::function<void(std::string_view)>& receiver = nullptr);

  // Why the last connect failed ("" when it did not); true when nobody listens on a Unix socket.
  const std::string& connect_error() const { return connect_error_; }
  bool absent_server() const { return absent_server_; }

 private:
  void connect();
  void close();
  void send_all(const std::string& data);
  bool fill();  // reads more into buffer_; false at end of stream
  std::string read_line();
  void read_exact(size_t size, const std::function<void(std::string_view)>& sink);

  std::string address_;
  TlsClientOptions tls_;
  std::map<std::string, std::string> extra_headers_;
  std::chrono::seconds timeout_{120};
  int fd_ = -1;
  std::string buffer_;
  size_t offset_ = 0;
  std::string connect_error_;
  bool absent_server_ = false;
};

class HttpError : public std::runtime_error {
 public:
  HttpError(bool connect_failed, const std::string& message) : std::runtime_error(message), connect_failed_(connect_failed) {}
  bool connect_failed() const { return connect_failed_; }

 private:
  bool connect_failed_;
};

}  // namespace berth
