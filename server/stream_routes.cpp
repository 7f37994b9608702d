#include "stream_routes.hpp"

#include "route_helpers.hpp"

#include "codec.hpp"
#include "errors.hpp"
#include "exec_frames.hpp"
#include "names.hpp"
#include "provider_protocol.hpp"
#include "dashboard/websocket_terminal.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <thread>

namespace berth {
namespace {

using Clock = std::chrono::steady_clock;
constexpr auto kHeadDeadline = std::chrono::seconds(5);
constexpr size_t kMaxHead = 16 << 10;
constexpr size_t kMaxBody = 1 << 20;
// A client that takes nothing for this long while output waits is gone (docs/sessions.md).
constexpr int kSendTimeoutSeconds = 60;
constexpr auto kStalledReader = std::chrono::seconds(kSendTimeoutSeconds);

int milliseconds_until(Clock::time_point deadline) {
  auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
  return static_cast<int>(std::max<long long>(left, 0));
}

bool send_all(int sock, std::string_view bytes) {
  while (!bytes.empty()) {
    ssize_t n = ::send(sock, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    bytes.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

void send_refusal(int sock, const std::string& code, const std::string& message, const std::string& extra_headers = "") {
  int status = http_status_for(code);
  std::string body = Json{{"error", {{"code", code}, {"message", message}}}}.dump(-1, ' ', false, Json::error_handler_t::replace);
  std::string head = "HTTP/1.1 " + std::to_string(status) + " Refused\r\nContent-Type: application/json\r\nContent-Length: " +
                     std::to_string(body.size()) + "\r\nConnection: close\r\n" + extra_headers + "\r\n";
  send_all(sock, head + body);
}

// The request as far as the stream routes need it.
struct StreamRequest {
  std::string method;
  std::string path;
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
  std::string early;  // frames the client sent right behind the body, before the 101
};

std::string lower(std::string text) {
  for (char& c : text) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return text;
}

std::string trim(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) text.remove_suffix(1);
  return std::string(text);
}

// Reads the head and body; throws Error with what is wrong.
StreamRequest read_request(int sock) {
  auto deadline = Clock::now() + kHeadDeadline;
  std::string data;
  size_t head_end = std::string::npos;
  char buffer[4096];
  while (head_end == std::string::npos) {
    pollfd ready{sock, POLLIN, 0};
    if (::poll(&ready, 1, milliseconds_until(deadline)) <= 0) throw invalid("the request's head did not arrive within 5 s");
    ssize_t n = ::recv(sock, buffer, sizeof buffer, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw unavailable("the client went away");
    data.append(buffer, static_cast<size_t>(n));
    head_end = data.find("\r\n\r\n");
    if (head_end == std::string::npos && data.size() > kMaxHead) throw Error("too_large", "the request's head is longer than 16 KiB");
  }
  StreamRequest request;
  std::string_view head(data.data(), head_end);
  size_t line_end = head.find("\r\n");
  std::string_view line = head.substr(0, line_end);
  size_t space = line.find(' ');
  size_t second = line.find(' ', space + 1);
  if (space == std::string_view::npos || second == std::string_view::npos) throw invalid("malformed request line");
  request.method = std::string(line.substr(0, space));
  request.path = std::string(line.substr(space + 1, second - space - 1));
  for (size_t at = line_end == std::string_view::npos ? head.size() : line_end + 2; at < head.size();) {
    size_t end = head.find("\r\n", at);
    if (end == std::string_view::npos) end = head.size();
    std::string_view field = head.substr(at, end - at);
    size_t colon = field.find(':');
    if (colon != std::string_view::npos) request.headers[lower(std::string(field.substr(0, colon)))] = trim(field.substr(colon + 1));
    at = end + 2;
  }
  size_t length = 0;
  if (auto it = request.headers.find("content-length"); it != request.headers.end()) {
    try {
      length = std::stoul(it->second);
    } catch (const std::exception&) {
      throw invalid("Content-Length is not a number");
    }
  }
  if (length > kMaxBody) throw Error("too_large", "the request body is larger than 1 MiB");
  request.body = data.substr(head_end + 4);
  while (request.body.size() < length) {
    pollfd ready{sock, POLLIN, 0};
    if (::poll(&ready, 1, milliseconds_until(deadline)) <= 0) throw invalid("the request's body did not arrive within 5 s");
    ssize_t n = ::recv(sock, buffer, std::min(sizeof buffer, length - request.body.size()), 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw unavailable("the client went away");
    request.body.append(buffer, static_cast<size_t>(n));
  }
  // Frames the client sent right behind its body, without waiting for the 101, are kept.
  request.early = request.body.substr(length);
  request.body.resize(length);
  return request;
}

// Output to the client, as frames. A client that takes nothing for kStalledReader is dropped
// (counted from the last byte it took, not per send: a frame sent in parts doubled it), and
// a client may hold at most kMaxStalledStreams streams that wait for it at once (each holds
// up to a window of output in the server).
class ClientFrames : public OutputSink {
 public:
  ClientFrames(int sock, StreamRoutes::StallCounter& stalls, std::string client)
      : sock_(sock), stalls_(stalls), client_(std::move(client)) {}
  ~ClientFrames() override { stalled(false); }
  void write(OutputStream stream, std::string_view data) override {
    std::string why = send(encode_frame(stream == OutputStream::stdout_stream ? 'o' : 'e', data), Count::stalls);
    if (!why.empty()) throw unavailable(why);
  }
  // The last frame ('x' or '!'), under the same rule: a client that took nothing for
  // kStalledReader is not waited for again (the connection closed 60 s late: issue 22).
  void write_last(const std::string& frame) { send(frame, Count::not_stalls); }

 private:
  enum class Count { stalls, not_stalls };
  // Sends the frame; why not, when the client is gone or took nothing for too long.
  std::string send(std::string_view rest, Count count) {
    while (!rest.empty()) {
      ssize_t n = ::send(sock_, rest.data(), rest.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        rest.remove_prefix(static_cast<size_t>(n));
        last_taken_ = Clock::now();
        stalled(false);
        continue;
      }
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        if (count == Count::stalls && !stalled(true)) {
          return "this client already holds " + std::to_string(StreamRoutes::kMaxStalledStreams) +
                 " streams whose output it does not read; read them or end them";
        }
        pollfd ready{sock_, POLLOUT, 0};
        int waited = ::poll(&ready, 1, milliseconds_until(last_taken_ + kStalledReader));
        if (waited == 0) return "the client took none of the output for " + std::to_string(kSendTimeoutSeconds) + " s";
        if (waited < 0 && errno != EINTR) return "the client went away";
        continue;
      }
      return "the client went away";
    }
    return "";
  }

  // Counts this stream as waiting for its client (or no longer); false when the client holds
  // too many that wait already.
  bool stalled(bool now) {
    if (now == stalled_) return true;
    std::lock_guard lock(stalls_.mutex);
    int& count = stalls_.by_client[client_];
    if (now && count >= StreamRoutes::kMaxStalledStreams) return false;
    count += now ? 1 : -1;
    if (count == 0) stalls_.by_client.erase(client_);
    stalled_ = now;
    return true;
  }
  int sock_;
  StreamRoutes::StallCounter& stalls_;
  std::string client_;
  bool stalled_ = false;
  Clock::time_point last_taken_ = Clock::now();  // when the client last took a byte
};

// Who is at the other end, for the cap on stalled streams: a local user (the socket), or an
// address (TCP).
std::string client_of(int sock) {
  ucred credentials{};
  socklen_t size = sizeof credentials;
  sockaddr_storage address{};
  socklen_t address_size = sizeof address;
  if (::getsockname(sock, reinterpret_cast<sockaddr*>(&address), &address_size) == 0 && address.ss_family == AF_UNIX &&
      ::getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &credentials, &size) == 0) {
    return "uid " + std::to_string(credentials.uid);
  }
  address_size = sizeof address;
  char host[INET6_ADDRSTRLEN] = {};
  if (::getpeername(sock, reinterpret_cast<sockaddr*>(&address), &address_size) == 0) {
    const void* raw = address.ss_family == AF_INET ? static_cast<const void*>(&reinterpret_cast<sockaddr_in*>(&address)->sin_addr)
                                                   : static_cast<const void*>(&reinterpret_cast<sockaddr_in6*>(&address)->sin6_addr);
    ::inet_ntop(address.ss_family, raw, host, sizeof host);
  }
  return std::string("address ") + host;
}

// The client's frames, read on the call's input thread.
class ClientInput : public StreamInput {
 public:
  ClientInput(int sock, std::string early) : sock_(sock), early_(std::move(early)) {
    if (::pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) throw unavailable("out of descriptors");
  }
  ~ClientInput() override {
    ::close(wake_[0]);
    ::close(wake_[1]);
  }
  void run(StreamRelay& to) override {
    bool ok = true;
    FrameDecoder decoder(
        [&](char type, std::string_view payload) {
          if (!ok) return;
          if (type == 'i') {
            ok = to.input(payload);
          } else if (type == 'c') {
            ok = to.end_of_input();
          } else if (type == 'r') {
            int rows = 0, cols = 0;
            if (decode_size(payload, rows, cols)) ok = to.resize(rows, cols);
          } else if (type == 's') {
            ok = to.signal(std::string(payload));
          }
        },
        kMaxProviderFrame);
    try {
      decoder.feed(early_.data(), early_.size());
    } catch (const std::exception&) {
      to.client_gone();
      return;
    }
    char buffer[65536];
    while (ok && !stopped_) {
      pollfd fds[2] = {{sock_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (fds[1].revents || stopped_) return;
      ssize_t n = ::recv(sock_, buffer, sizeof buffer, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        // A client ends its input with a 'c' frame and reads on; a closed socket is a client
        // that is gone (killed, or done reading), whose command must not go on alone.
        to.client_gone();
        return;
      }
      try {
        decoder.feed(buffer, static_cast<size_t>(n));
      } catch (const std::exception&) {
        to.client_gone();  // a frame too long to be data: not a berth client
        return;
      }
    }
  }
  void stop() override {
    stopped_ = true;
    [[maybe_unused]] ssize_t n = ::write(wake_[1], "s", 1);
  }

 private:
  int sock_;
  std::string early_;
  int wake_[2] = {-1, -1};
  std::atomic<bool> stopped_{false};
};

// "NAME" and "session" or "ports/PORT" from /v1/workspaces/NAME/..., or false.
bool split_path(const std::string& path, std::string& name, std::string& rest) {
  const std::string prefix = "/v1/workspaces/";
  if (path.rfind(prefix, 0) != 0) return false;
  size_t slash = path.find('/', prefix.size());
  if (slash == std::string::npos) return false;
  name = path.substr(prefix.size(), slash - prefix.size());
  rest = path.substr(slash + 1);
  return rest == "session" || rest == "terminal" || (rest.rfind("ports/", 0) == 0 && rest.size() > 6 && rest.find('/', 6) == std::string::npos);
}

}  // namespace

bool StreamRoutes::take(int sock, const std::function<void()>& on_authenticated) {
  // Only the request line is needed to decide, and a client sends it in one piece; one that
  // dribbles it is given until the head deadline. POST for the berth-stream routes, GET for
  // the WebSocket terminal.
  static constexpr std::string_view post_prefix = "POST /v1/workspaces/";
  static constexpr std::string_view get_prefix = "GET /v1/workspaces/";
  auto deadline = Clock::now() + kHeadDeadline;
  char buffer[512];
  while (true) {
    pollfd ready{sock, POLLIN, 0};
    if (::poll(&ready, 1, milliseconds_until(deadline)) <= 0) return false;
    ssize_t n = ::recv(sock, buffer, sizeof buffer, MSG_PEEK | MSG_DONTWAIT);
    if (n <= 0) return false;
    std::string_view seen(buffer, static_cast<size_t>(n));
    std::string_view prefix = !seen.empty() && seen.front() == 'G' && terminals_ ? get_prefix : post_prefix;
    size_t common = std::min(seen.size(), prefix.size());
    if (seen.substr(0, common) != prefix.substr(0, common)) return false;
    if (size_t eol = seen.find('\n'); eol != std::string_view::npos) {
      std::string_view line = seen.substr(0, eol);
      size_t space = line.find(' ', prefix.size());
      if (space == std::string_view::npos) return false;
      std::string name, rest;
      size_t path_start = prefix.find('/');
      std::string path(line.substr(path_start, space - path_start));
      if (!split_path(path.substr(0, path.find('?')), name, rest)) return false;
      if ((prefix == get_prefix) != (rest == "terminal")) return false;  // httplib answers it (404 or 405)
      serve(sock, on_authenticated);
      // A lingering close: what the client still sends (input it had under way) is read and
      // dropped until it closes too, so the kernel does not answer it with a reset that would
      // destroy the last frame before the client read it.
      ::shutdown(sock, SHUT_WR);
      auto linger_until = Clock::now() + std::chrono::seconds(2);
      char drain[4096];
      for (pollfd ready{sock, POLLIN, 0}; ::poll(&ready, 1, milliseconds_until(linger_until)) > 0;) {
        if (::recv(sock, drain, sizeof drain, 0) <= 0) break;
      }
      ::close(sock);
      return true;
    }
    if (seen.size() == sizeof buffer || Clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
}

void StreamRoutes::serve(int sock, const std::function<void()>& on_authenticated) {
  StreamRequest request;
  try {
    request = read_request(sock);
  } catch (const Error& error) {
    send_refusal(sock, error.code(), error.what());
    return;
  }
  if (keys_) {
    std::string header = request.headers["authorization"];
    const std::string bearer = "Bearer ";
    bool presented = header.size() > bearer.size() && header.compare(0, bearer.size(), bearer) == 0;
    bool browser = false;
    if (!presented && keyless_gate_) {
      try {
        keyless_gate_(request.headers);
        browser = true;
      } catch (const Error& error) {
        if (error.code() != "unauthorized") {
          send_refusal(sock, error.code(), error.what());
          return;
        }
      }
    }
    if (!browser && (!presented || keys_->scope_of(header.substr(bearer.size())) == KeyScope::none)) {
      send_refusal(sock, "unauthorized",
                   presented ? "the API key is not valid (revoked, or never made here)"
                             : "this server needs an API key over TCP: --api-key KEY or BERTH_API_KEY",
                   "WWW-Authenticate: Bearer\r\n");
      return;
    }
    if (on_authenticated) on_authenticated();
  }
  if (auto token = request.headers.find("x-berth-plugin-token"); token != request.headers.end()) {
    try {
      pass_request_gate(request.method, request.path, token->second);
    } catch (const Error& error) {
      send_refusal(sock, error.code(), error.what());
      return;
    }
  }
  std::string name, rest;
  split_path(request.path.substr(0, request.path.find('?')), name, rest);
  if (gate_) {
    try {
      gate_(request.headers);
      if (rest != "terminal") throw Error("forbidden", "the dashboard's listener serves no berth-stream routes: use the server's socket");
    } catch (const Error& error) {
      send_refusal(sock, error.code(), error.what());
      return;
    }
  }
  if (rest == "terminal") {
    try {
      require_valid_name("workspace", name);
      serve_terminal_websocket(sock, request.path, request.headers, name, *terminals_);
    } catch (const Error& error) {
      send_refusal(sock, error.code(), error.what());
    }
    return;
  }
  if (lower(request.headers["upgrade"]) != kStreamProtocol || lower(request.headers["connection"]).find("upgrade") == std::string::npos) {
    send_refusal(sock, "invalid", std::string("this route is a stream: send 'Connection: Upgrade' and 'Upgrade: ") + kStreamProtocol + "'",
                 std::string("Upgrade: ") + kStreamProtocol + "\r\n");
    return;
  }
  SessionRequest session;
  int port = 0;
  try {
    require_valid_name("workspace", name);
    if (rest == "session") {
      session = parse_session_request(request.body.empty() ? "{}" : request.body);
    } else {
      std::string digits = rest.substr(6);
      if (digits.empty() || digits.size() > 5 || digits.find_first_not_of("0123456789") != std::string::npos ||
          std::stoi(digits) < 1 || std::stoi(digits) > 65535) {
        throw invalid("port '" + digits + "' is not a TCP port (1-65535)");
      }
      port = std::stoi(digits);
    }
    if (rest == "session") check_session_request(session);
    service_.check_started(name);
  } catch (const Error& error) {
    send_refusal(sock, error.code(), error.what());
    return;
  }

  timeval timeout{kSendTimeoutSeconds, 0};
  ::setsockopt(sock, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
  std::string upgraded = std::string("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: ") + kStreamProtocol + "\r\n\r\n";
  if (!send_all(sock, upgraded)) return;
  ClientFrames output(sock, stalls_, client_of(sock));
  ClientInput input(sock, std::move(request.early));
  std::string last;
  try {
    int code = rest == "session" ? service_.session(name, session, output, input) : (service_.connect(name, port, output, input), 0);
    last = encode_frame('x', std::to_string(code));
  } catch (const Error& error) {
    last = encode_frame('!', Json{{"error", {{"code", error.code()}, {"message", error.what()}}}}.dump(-1, ' ', false, Json::error_handler_t::replace));
  } catch (const std::exception& error) {
    last = encode_frame('!', Json{{"error", {{"code", "internal"}, {"message", error.what()}}}}.dump());
  }
  output.write_last(last);
}

}  // namespace berth
