#pragma once
// How berth's listeners serve a connection, in place of httplib's own loop: each request's
// line and headers must arrive within a short deadline (not just each read), and a connection
// whose first request is a stream route (stream_routes.hpp) is handed over whole.
// On a keyed listener (TCP), also the guard against clients that hold workers without ever
// authenticating: a connection whose request was not authenticated is closed after its
// answer, and each address may keep only a few connections that have not authenticated yet
// (one more ends the oldest). Keyed clients are then never left waiting behind idle or slow
// strangers.
// With TLS, the connection's socket is replaced after the handshake by the plain end of a
// relay (core/tls/tls_link.hpp): everything after it, httplib's request loop and the stream
// routes alike, reads and writes plain bytes.
#include <httplib.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <string>

namespace berth {

class StreamRoutes;
namespace tls {
class ServerContext;
}

class GuardedServer : public httplib::Server {
 public:
  // keyed: every request must carry an API key (TCP). streams: the stream routes, which take
  // a connection whose first request is theirs.
  // tls: when given, every connection starts with its TLS handshake (within the head
  // deadline) and all that follows, stream routes included, runs over it.
  GuardedServer(bool keyed, std::chrono::milliseconds head_deadline, size_t unauthenticated_per_address, StreamRoutes* streams,
                const tls::ServerContext* tls = nullptr);

  // Says that the request the calling worker is serving carried a live key (the API-key check
  // calls it); a connection whose request did not is closed after the answer.
  static void mark_authenticated();
  // Says that the answer is a refusal sent before the request's body was read: the connection
  // ends after it (the body must not be read as the next request).
  static void close_after_answer();

  // bind_to_port, then the listen backlog raised to SOMAXCONN: the packaged cpp-httplib library
  // listens with 5, and a storm of clients got EAGAIN (issue 22).
  bool bind_with_full_backlog(const std::string& host, int port);
  // The same on a free port, which it returns (-1: none).
  int bind_any_with_full_backlog(const std::string& host);

 private:
  bool process_and_close_socket(socket_t sock) override;

  // Registers sock as not yet authenticated; ends the oldest such connection of address when
  // there are too many. Returns the entry's id.
  uint64_t admit(const std::string& address, int sock);
  void release(const std::string& address, uint64_t id);  // before the socket is closed

  struct Pending {
    uint64_t id;
    int sock;
  };
  bool keyed_;
  std::chrono::milliseconds head_deadline_;
  size_t per_address_;
  StreamRoutes* streams_;
  const tls::ServerContext* tls_;
  int listener_ = -1;  // the socket bind_to_port made (seen through the socket options hook)
  std::mutex mutex_;
  std::map<std::string, std::deque<Pending>> pending_;
  uint64_t next_id_ = 0;
};

}  // namespace berth
