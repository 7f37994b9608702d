#pragma once
// A terminal over a WebSocket (RFC 6455, Boost.Beast's codec), for the dashboard:
//   GET /v1/workspaces/NAME/terminal?rows=R&cols=C[&id=ID][&persistent=true]
//   with Upgrade: websocket
// Every message is binary, a type byte then its payload, the frames of the berth-stream
// routes (stream_routes.hpp) without their length: the browser sends 'i' input, 'r' a size
// (rows and cols, 2 bytes each, big-endian), 's' a signal's name, 'q' to end the terminal now;
// the server sends 'h' and JSON {"terminal", "replayed", "persistent"} first, then 'o' output,
// then 'x' and the exit code or '!' and a JSON error. Closing the socket without 'q' leaves the
// terminal to a later reconnect with &id=ID (terminal_hub.hpp). docs/dashboard.md.
#include "terminal_hub.hpp"

#include <map>
#include <string>

namespace berth {

// Answers the handshake (the request's head already read: method, target, headers in lower
// case) and serves the connection until either side ends it. Throws Error before the 101 when
// the request is not a WebSocket handshake or the terminal cannot start; the caller answers it.
void serve_terminal_websocket(int sock, const std::string& target, const std::map<std::string, std::string>& headers,
                              const std::string& workspace, TerminalHub& terminals);

}  // namespace berth
