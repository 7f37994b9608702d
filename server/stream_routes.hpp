#pragma once
// The API's two streaming routes, served on connections berth owns outright rather than
// through cpp-httplib (0.11 has no HTTP/1.1 Upgrade):
//   POST /v1/workspaces/NAME/session      an interactive session (body: SessionRequest)
//   POST /v1/workspaces/NAME/ports/PORT   a connection to TCP port PORT in the workspace
// Each needs "Connection: Upgrade" and "Upgrade: berth-stream" and must be the first request
// on its connection. Refusals are ordinary JSON error answers; after "101 Switching
// Protocols" both sides speak frames (exec_frames.hpp): the client sends 'i' input, 'c' end
// of input, 'r' a terminal size (rows and cols, 2 bytes each, big-endian), 's' a signal's
// name; the server sends 'o' and 'e' output, then 'x' the exit code or '!' an error as JSON.
// See docs/api.md, "Streams".
// Beside them, where the server has a terminal hub: GET /v1/workspaces/NAME/terminal with
// "Upgrade: websocket", the dashboard's terminal (dashboard/websocket_terminal.hpp).
#include "api_keys.hpp"
#include "workspace_service.hpp"

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>

namespace berth {

class TerminalHub;

inline constexpr const char* kStreamProtocol = "berth-stream";

class StreamRoutes {
 public:
  // keys: non-null on a listener where every request needs an API key (TCP).
  // terminals: where the WebSocket terminal route is served (null: it is not).
  // browser_gate: on the dashboard's listener, the checks a browser's handshake must pass
  // (Host, cookie, Origin; throws Error); there only the WebSocket route is served.
  using Gate = std::function<void(const std::map<std::string, std::string>& headers)>;
  StreamRoutes(WorkspaceService& service, const ApiKeyStore* keys, TerminalHub* terminals = nullptr, Gate browser_gate = nullptr)
      : service_(service), keys_(keys), terminals_(terminals), gate_(std::move(browser_gate)) {}

  // Looks (without consuming anything) at the first request on a new connection; when it is
  // one of the stream routes, serves the connection to its end, closes it and returns true.
  // Otherwise returns false and the connection is httplib's.
  // on_authenticated runs once the request showed a live key (TCP).
  bool take(int sock, const std::function<void()>& on_authenticated = nullptr);

  // On a keyed listener that serves the dashboard: what a request without a key must pass
  // instead (the dashboard's cookie and Origin; throws Error). Set before the listener starts.
  void set_keyless_gate(Gate gate) { keyless_gate_ = std::move(gate); }

  // How many of one client's streams may wait for it to read at once (docs/sessions.md).
  static constexpr int kMaxStalledStreams = 16;
  struct StallCounter {
    std::mutex mutex;
    std::map<std::string, int> by_client;
  };

 private:
  void serve(int sock, const std::function<void()>& on_authenticated);
  WorkspaceService& service_;
  const ApiKeyStore* keys_;
  TerminalHub* terminals_;
  Gate gate_;
  Gate keyless_gate_;
  StallCounter stalls_;
};

}  // namespace berth
