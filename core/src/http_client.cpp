#include "http_client.hpp"

#include "unix_http.hpp"

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace berth {
namespace {

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

}  // namespace

std::string HttpResponse::header(const std::string& lowercase_name) const {
  auto it = headers.find(lowercase_name);
  return it == headers.end() ? "" : it->second;
}

HttpClient::HttpClient(std::string address, TlsClientOptions tls) : address_(std::move(address)), tls_(std::move(tls)) {}
HttpClient::~HttpClient() { close(); }

void HttpClient::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
  buffer_.clear();
  offset_ = 0;
}

void HttpClient::connect() {
  connect_error_.clear();
  absent_server_ = false;
  fd_ = connect_socket(address_, connect_error_, &absent_server_, &tls_);
  if (fd_ < 0) throw HttpError(true, connect_error_);
}

void HttpClient::send_all(const std::string& data) {
  for (size_t sent = 0; sent < data.size();) {
    ssize_t n = ::send(fd_, data.data() + sent, data.size() - sent, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw HttpError(false, std::string("write failed: ") + std::strerror(errno));
    sent += static_cast<size_t>(n);
  }
}

bool HttpClient::fill() {
  if (offset_ > 0 && offset_ == buffer_.size()) {
    buffer_.clear();
    offset_ = 0;
  }
  pollfd ready{fd_, POLLIN, 0};
  int waited = ::poll(&ready, 1, static_cast<int>(std::chrono::milliseconds(timeout_).count()));
  if (waited == 0) throw HttpError(false, "no answer within " + std::to_string(timeout_.count()) + " s");
  if (waited < 0 && errno != EINTR) throw HttpError(false, std::string("poll failed: ") + std::strerror(errno));
  char chunk[65536];
  ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
  if (n < 0 && errno == EINTR) return true;
  if (n <= 0) return false;
  buffer_.append(chunk, static_cast<size_t>(n));
  return true;
}

std::string HttpClient::read_line() {
  while (true) {
    size_t end = buffer_.find("\r\n", offset_);
    if (end != std::string::npos) {
      std::string line = buffer_.substr(offset_, end - offset_);
      offset_ = end + 2;
      return line;
    }
    if (buffer_.size() - offset_ > 65536) throw HttpError(false, "a header line is too long");
    if (!fill()) throw HttpError(false, "the connection closed mid-answer");
  }
}

void HttpClient::read_exact(size_t size, const std::function<void(std::string_view)>& sink) {
  while (size > 0) {
    if (offset_ == buffer_.size() && !fill()) throw HttpError(false, "the connection closed mid-answer");
    size_t take = std::min(size, buffer_.size() - offset_);
    sink(std::string_view(buffer_).substr(offset_, take));
    offset_ += take;
    size -= take;
  }
}

HttpResponse HttpClient::request(const std::string& method, const std::string& path, const std::string& body,
                                 const std::string& content_type, const std::function<void(std::string_view)>& receiver) {
  std::string head = method + " " + path + " HTTP/1.1\r\nHost: berth\r\n";
  for (const auto& [name, value] : extra_headers_) head += name + ": " + value + "\r\n";
  if (!body.empty() || method == "POST" || method == "PUT") {
    head += "Content-Type: " + content_type + "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  head += "\r\n";
  // A kept-alive connection may have been closed by the server meanwhile: one retry on a fresh one.
  for (int attempt = 0;; ++attempt) {
    bool reused = fd_ >= 0;
    bool answered = false;
    if (!reused) connect();
    try {
      send_all(head + body);
      std::string status_line = read_line();
      answered = true;
      HttpResponse response;
      if (status_line.size() < 12 || status_line.rfind("HTTP/1.", 0) != 0) throw HttpError(false, "not an HTTP answer");
      response.status = std::atoi(status_line.c_str() + 9);
      for (std::string line = read_line(); !line.empty(); line = read_line()) {
        size_t colon = line.find(':');
        if (colon == std::string::npos) continue;
        size_t value_start = line.find_first_not_of(' ', colon + 1);
        response.headers[lower(line.substr(0, colon))] = value_start == std::string::npos ? "" : line.substr(value_start);
      }
      auto sink = [&](std::string_view data) {
        if (receiver && response.status < 400) {
          receiver(data);
        } else {
          response.body.append(data);
        }
      };
      bool keep = lower(response.header("connection")) != "close";
      if (lower(response.header("transfer-encoding")).find("chunked") != std::string::npos) {
        while (true) {
          size_t size = std::stoul(read_line(), nullptr, 16);
          if (size == 0) {
            while (!read_line().empty()) {
            }
            break;
          }
          read_exact(size, sink);
          read_line();
        }
      } else if (!response.header("content-length").empty()) {
        read_exact(std::stoul(response.header("content-length")), sink);
      } else if (method != "HEAD" && response.status != 204 && response.status != 304) {
        keep = false;
        if (offset_ < buffer_.size()) sink(std::string_view(buffer_).substr(offset_));
        offset_ = buffer_.size();
        while (fill()) {
          sink(std::string_view(buffer_).substr(offset_));
          offset_ = buffer_.size();
        }
      }
      if (!keep) close();
      return response;
    } catch (const HttpError& error) {
      close();
      if (!reused || attempt > 0 || answered || error.connect_failed()) throw;
    } catch (const std::exception& error) {
      close();
      throw HttpError(false, std::string("malformed answer: ") + error.what());
    }
  }
}

}  // namespace berth
