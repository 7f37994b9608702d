#include "forwards.hpp"

#include "codec.hpp"
#include "errors.hpp"
#include "names.hpp"
#include "route_helpers.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <httplib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace berth {

struct ForwardHub::Entry {
  Forward forward;
  int listener = -1;
  int wake[2] = {-1, -1};
  std::thread acceptor;
  ~Entry() {
    if (wake[1] >= 0) [[maybe_unused]] ssize_t n = ::write(wake[1], "x", 1);
    if (acceptor.joinable()) acceptor.join();
    for (int fd : {listener, wake[0], wake[1]}) {
      if (fd >= 0) ::close(fd);
    }
  }
};

namespace {

// What the workspace's port sends, to the local connection.
class SocketOutput : public OutputSink {
 public:
  explicit SocketOutput(int fd) : fd_(fd) {}
  void write(OutputStream, std::string_view data) override {
    while (!data.empty()) {
      ssize_t n = ::send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) throw unavailable("the local connection went away");
      data.remove_prefix(static_cast<size_t>(n));
    }
  }

 private:
  int fd_;
};

// What the local connection sends, to the workspace's port; its end of writing ends the port's.
class SocketInput : public StreamInput {
 public:
  explicit SocketInput(int fd) : fd_(fd) {
    if (::pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) throw unavailable("out of descriptors");
  }
  ~SocketInput() override {
    ::close(wake_[0]);
    ::close(wake_[1]);
  }
  void run(StreamRelay& to) override {
    char buffer[65536];
    bool reading = true;
    while (!stopped_) {
      pollfd fds[2] = {{fd_, static_cast<short>(reading ? POLLIN : 0), 0}, {wake_[0], POLLIN, 0}};
      if (::poll(fds, 2, -1) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (fds[1].revents || stopped_) return;
      ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n == 0) {
        if (!to.end_of_input()) return;
        reading = false;  // half closed: the answer may still come
        continue;
      }
      if (n < 0 || !to.input(std::string_view(buffer, static_cast<size_t>(n)))) {
        to.client_gone();
        return;
      }
    }
  }
  void stop() override {
    stopped_ = true;
    [[maybe_unused]] ssize_t n = ::write(wake_[1], "s", 1);
  }

 private:
  int fd_;
  int wake_[2] = {-1, -1};
  std::atomic<bool> stopped_{false};
};

}  // namespace

ForwardHub::ForwardHub(WorkspaceService& service) : service_(service) {}
ForwardHub::~ForwardHub() { close_all(); }

ForwardHub::Forward ForwardHub::open(const std::string& workspace, int port) {
  require_valid_name("workspace", workspace);
  if (port < 1 || port > 65535) throw invalid("port " + std::to_string(port) + " is not a TCP port (1-65535)");
  service_.check_started(workspace);
  std::lock_guard lock(mutex_);
  for (const auto& [_, entry] : entries_) {
    if (entry->forward.workspace == workspace && entry->forward.port == port) return entry->forward;
  }
  if (entries_.size() >= kMaxForwards) throw Error("conflict", "the server has " + std::to_string(kMaxForwards) + " forwards open; close one first");
  auto entry = std::make_unique<Entry>();
  entry->listener = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (entry->listener < 0 || ::pipe2(entry->wake, O_CLOEXEC) != 0) throw unavailable("out of descriptors");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t size = sizeof address;
  if (::bind(entry->listener, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || ::listen(entry->listener, SOMAXCONN) != 0 ||
      ::getsockname(entry->listener, reinterpret_cast<sockaddr*>(&address), &size) != 0) {
    throw unavailable(std::string("cannot listen on 127.0.0.1: ") + std::strerror(errno));
  }
  entry->forward = Forward{workspace, port, ntohs(address.sin_port)};
  Entry* raw = entry.get();
  entry->acceptor = std::thread([this, raw] { accept_loop(*raw); });
  Forward forward = entry->forward;
  entries_[forward.local_port] = std::move(entry);
  return forward;
}

void ForwardHub::accept_loop(Entry& entry) {
  while (true) {
    pollfd fds[2] = {{entry.listener, POLLIN, 0}, {entry.wake[0], POLLIN, 0}};
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      return;
    }
    if (fds[1].revents) return;
    int connection = ::accept4(entry.listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (connection < 0) continue;
    int one = 1;
    ::setsockopt(connection, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    {
      std::lock_guard lock(mutex_);
      ++connections_;
    }
    std::thread([this, connection, forward = entry.forward] { carry(connection, forward); }).detach();
  }
}

// One connection, on a thread of its own; close_all waits for these to end.
void ForwardHub::carry(int connection, const Forward& forward) {
  try {
    SocketOutput output(connection);
    SocketInput input(connection);
    service_.connect(forward.workspace, forward.port, output, input);
  } catch (const std::exception&) {
    // The workspace stopped, or its port refused: the local connection just closes.
  }
  ::shutdown(connection, SHUT_RDWR);
  ::close(connection);
  std::lock_guard lock(mutex_);
  --connections_;
  idle_.notify_all();
}

std::vector<ForwardHub::Forward> ForwardHub::list(const std::string& workspace) {
  std::lock_guard lock(mutex_);
  std::vector<Forward> forwards;
  for (const auto& [_, entry] : entries_) {
    if (entry->forward.workspace == workspace) forwards.push_back(entry->forward);
  }
  return forwards;
}

bool ForwardHub::close(const std::string& workspace, int local_port) {
  std::unique_ptr<Entry> entry;
  {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(local_port);
    if (it == entries_.end() || it->second->forward.workspace != workspace) return false;
    entry = std::move(it->second);
    entries_.erase(it);
  }
  return true;  // entry's destructor stops its listener (connections under way end on their own)
}

void ForwardHub::close_all() {
  std::map<int, std::unique_ptr<Entry>> entries;
  {
    std::lock_guard lock(mutex_);
    entries.swap(entries_);
  }
  entries.clear();
  std::unique_lock lock(mutex_);
  idle_.wait_for(lock, std::chrono::seconds(5), [&] { return connections_ == 0; });
}

void register_forward_routes(httplib::Server& server, ForwardHub& forwards) {
  auto to_json = [](const ForwardHub::Forward& forward) {
    return Json{{"port", forward.port}, {"local_port", forward.local_port}, {"url", "http://127.0.0.1:" + std::to_string(forward.local_port) + "/"}};
  };
  server.Post(R"(/v1/workspaces/([^/]+)/forwards)", guarded([&forwards, to_json](const httplib::Request& request, httplib::Response& response) {
    Json body = parse_request_object(request.body);
    if (!body.contains("port") || !body["port"].is_number_integer()) throw invalid("field 'port' must be the workspace's TCP port (1-65535)");
    long long port = body["port"].get<long long>();
    if (port < 1 || port > 65535) throw invalid("field 'port' must be the workspace's TCP port (1-65535)");
    send_json(response, 201, to_json(forwards.open(request.matches[1], static_cast<int>(port))));
  }));
  server.Get(R"(/v1/workspaces/([^/]+)/forwards)", guarded([&forwards, to_json](const httplib::Request& request, httplib::Response& response) {
    std::string name = request.matches[1];
    require_valid_name("workspace", name);
    Json list = Json::array();
    for (const auto& forward : forwards.list(name)) list.push_back(to_json(forward));
    send_json(response, 200, list);
  }));
  server.Delete(R"(/v1/workspaces/([^/]+)/forwards/([0-9]{1,5}))", guarded([&forwards](const httplib::Request& request, httplib::Response& response) {
    std::string name = request.matches[1];
    require_valid_name("workspace", name);
    if (!forwards.close(name, std::stoi(request.matches[2]))) throw not_found("workspace '" + name + "' has no forward on local port " + std::string(request.matches[2]));
    send_json(response, 200, Json{{"closed", std::stoi(request.matches[2])}});
  }));
}

}  // namespace berth
