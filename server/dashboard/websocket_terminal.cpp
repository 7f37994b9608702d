#include "websocket_terminal.hpp"

#include "errors.hpp"

#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <deque>

namespace berth {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
using Socket = asio::generic::stream_protocol::socket;

// Output the browser has not taken yet beyond this ends the connection (the terminal goes on,
// and a reconnect replays its last 64 KiB): a terminal never waits for a slow browser.
constexpr size_t kMaxPending = 8 << 20;
constexpr size_t kMaxMessage = 1 << 20;

int hex_digit(char c) {
  return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

std::string percent_decoded(std::string_view text) {
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '%' && i + 2 < text.size() && hex_digit(text[i + 1]) >= 0 && hex_digit(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex_digit(text[i + 1]) * 16 + hex_digit(text[i + 2])));
      i += 2;
      continue;
    }
    out.push_back(text[i] == '+' ? ' ' : text[i]);
  }
  return out;
}

std::map<std::string, std::string> query_of(const std::string& target) {
  std::map<std::string, std::string> query;
  size_t mark = target.find('?');
  if (mark == std::string::npos) return query;
  std::string_view rest(target);
  rest.remove_prefix(mark + 1);
  while (!rest.empty()) {
    size_t amp = rest.find('&');
    std::string_view pair = rest.substr(0, amp);
    size_t equals = pair.find('=');
    query[percent_decoded(pair.substr(0, equals))] = equals == std::string_view::npos ? "" : percent_decoded(pair.substr(equals + 1));
    if (amp == std::string_view::npos) break;
    rest.remove_prefix(amp + 1);
  }
  return query;
}

int size_parameter(const std::map<std::string, std::string>& query, const std::string& name, int fallback) {
  auto it = query.find(name);
  if (it == query.end()) return fallback;
  const std::string& text = it->second;
  if (text.empty() || text.size() > 4 || text.find_first_not_of("0123456789") != std::string::npos || std::stoi(text) < 1 || std::stoi(text) > 1000) {
    throw invalid("'" + name + "' must be a whole number from 1 to 1000, not '" + text.substr(0, 20) + "'");
  }
  return std::stoi(text);
}

class Connection : public TerminalViewer {
 public:
  Connection(asio::io_context& io, websocket::stream<Socket>& ws, TerminalHub& hub) : io_(io), ws_(ws), hub_(hub) {}

  void attached(const std::string& id, size_t replayed, bool persistent) override {
    send("h" + Json{{"terminal", id}, {"replayed", replayed}, {"persistent", persistent}}.dump());
  }
  void output(std::string_view bytes) override {
    std::string message;
    message.reserve(bytes.size() + 1);
    message.push_back('o');
    message.append(bytes);
    send(std::move(message));
  }
  void ended(const std::string& frame) override { send(frame, true); }

  // On the io thread, once the handshake is done.
  void start(std::shared_ptr<Terminal> terminal) {
    terminal_ = std::move(terminal);
    read_next();
  }
  void refuse(const std::string& frame) {
    send(frame, true);
    read_next();
  }
  // After io.run(): the terminal no longer calls this viewer.
  void leave() {
    if (terminal_) hub_.detach(terminal_, this);
  }

 private:
  // Queues a message; called on any thread (the terminal's, with its lock held).
  void send(std::string message, bool close_after = false) {
    size_t size = message.size();
    if (pending_.fetch_add(size) + size > kMaxPending) {
      asio::post(io_, [this] { drop(); });
      return;
    }
    asio::post(io_, [this, message = std::move(message), close_after]() mutable {
      if (closing_) return;
      queue_.push_back(std::move(message));
      close_after_ = close_after_ || close_after;
      if (!writing_) write_next();
    });
  }
  void write_next() {
    if (queue_.empty()) {
      writing_ = false;
      if (close_after_ && !closing_) {
        closing_ = true;
        ws_.async_close(websocket::close_code::normal, [this](beast::error_code) { drop(); });
      }
      return;
    }
    writing_ = true;
    ws_.async_write(asio::buffer(queue_.front()), [this](beast::error_code error, size_t) {
      pending_ -= queue_.front().size();
      queue_.pop_front();
      if (error) {
        drop();
        return;
      }
      write_next();
    });
  }
  void read_next() {
    ws_.async_read(buffer_, [this](beast::error_code error, size_t) {
      if (error) {
        drop();
        return;
      }
      std::string message = beast::buffers_to_string(buffer_.data());
      buffer_.consume(buffer_.size());
      handle(message);
      read_next();
    });
  }
  void handle(const std::string& message) {
    if (message.empty() || !terminal_) return;
    std::string payload = message.substr(1);
    switch (message[0]) {
      case 'i': terminal_->input(std::move(payload)); break;
      case 'r':
        if (payload.size() == 4) {
          auto byte = [&](size_t i) { return static_cast<unsigned char>(payload[i]); };
          int rows = byte(0) << 8 | byte(1), cols = byte(2) << 8 | byte(3);
          if (rows > 0 && cols > 0 && rows <= 1000 && cols <= 1000) terminal_->resize(rows, cols);
        }
        break;
      case 's':
        if (!payload.empty() && payload.size() <= 8 && payload.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZ12") == std::string::npos) {
          terminal_->signal(std::move(payload));
        }
        break;
      case 'q': terminal_->quit(); break;
      default: break;  // not ours: ignored, as unknown frames are elsewhere
    }
  }
  // The connection is over: whatever is under way is cancelled, and io.run() returns.
  // (Beast's idle-ping timer would otherwise keep io.run() going after the socket closed.)
  void drop() {
    closing_ = true;
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).close(ignored);
    io_.stop();
  }

  asio::io_context& io_;
  websocket::stream<Socket>& ws_;
  TerminalHub& hub_;
  std::shared_ptr<Terminal> terminal_;
  beast::flat_buffer buffer_;
  std::deque<std::string> queue_;
  std::atomic<size_t> pending_{0};
  bool writing_ = false;
  bool close_after_ = false;
  bool closing_ = false;
};

}  // namespace

void serve_terminal_websocket(int sock, const std::string& target, const std::map<std::string, std::string>& headers,
                              const std::string& workspace, TerminalHub& terminals) {
  http::request<http::empty_body> request;
  request.method(http::verb::get);
  request.target(target);
  request.version(11);
  for (const auto& [name, value] : headers) request.set(name, value);
  if (!websocket::is_upgrade(request)) throw invalid("this route is a WebSocket: send 'Connection: Upgrade' and 'Upgrade: websocket'");
  if (request[http::field::sec_websocket_version] != "13" || request[http::field::sec_websocket_key].empty()) {
    throw invalid("a WebSocket handshake needs Sec-WebSocket-Version: 13 and a Sec-WebSocket-Key");
  }
  auto query = query_of(target);
  int rows = size_parameter(query, "rows", 24), cols = size_parameter(query, "cols", 80);
  std::string id = query.count("id") ? query["id"] : "";
  if (id.size() > 64 || id.find_first_not_of("0123456789abcdef") != std::string::npos) throw invalid("'id' must be a terminal id (hexadecimal)");
  bool persistent = query.count("persistent") && query["persistent"] == "true";

  sockaddr_storage address{};
  socklen_t size = sizeof address;
  if (::getsockname(sock, reinterpret_cast<sockaddr*>(&address), &size) != 0) throw unavailable("the client went away");
  int own = ::dup(sock);  // the caller closes sock; Asio closes its own descriptor
  if (own < 0) throw unavailable("out of descriptors");
  asio::io_context io(1);
  Socket socket(io);
  beast::error_code error;
  socket.assign(asio::generic::stream_protocol(address.ss_family, 0), own, error);
  if (error) {
    ::close(own);
    throw unavailable("cannot serve the connection: " + error.message());
  }
  websocket::stream<Socket> ws(std::move(socket));
  ws.set_option(websocket::stream_base::timeout::suggested(beast::role_type::server));
  ws.set_option(websocket::stream_base::decorator([](websocket::response_type& response) { response.set(http::field::server, "berth"); }));
  ws.read_message_max(kMaxMessage);
  ws.binary(true);
  ws.accept(request, error);
  if (error) return;  // Beast answered the handshake's fault itself

  Connection connection(io, ws, terminals);
  try {
    auto attached = terminals.attach(workspace, id, rows, cols, persistent, &connection);
    connection.start(attached.terminal);
  } catch (const Error& failure) {
    connection.refuse("!" + Json{{"error", {{"code", failure.code()}, {"message", failure.what()}}}}.dump(-1, ' ', false, Json::error_handler_t::replace));
  } catch (const std::exception& failure) {
    connection.refuse("!" + Json{{"error", {{"code", "internal"}, {"message", failure.what()}}}}.dump());
  }
  io.run();
  connection.leave();
}

}  // namespace berth
