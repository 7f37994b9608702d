#pragma once
// The CLI's end of a berth stream (a session or a port connection, server/stream_routes.hpp):
// what it reads goes out as 'i' frames, what comes back goes to its outputs. Knows nothing of
// providers: every workspace is reached the same way, through the server.
#include <nlohmann/json.hpp>

#include <functional>
#include <string>

namespace berth::cli {

struct RelayOptions {
  int input = 0;             // read and sent as stdin; -1: none (end of input at once)
  int output = 1;            // 'o' frames
  int error_output = 2;      // 'e' frames
  bool terminal = false;     // raw mode on the input terminal for the session, resizes on SIGWINCH
  bool forward_signals = false;  // SIGINT, SIGTERM, SIGHUP go to the remote command ('s' frames)
  std::string what = "the session";  // for messages: "the session", "the connection"
  std::string preamble;      // sent as the command's first input, before anything read from input
};

// Opens the stream with `open` (which returns its socket) and relays until the server sends
// the exit code ('x'), which it returns; throws berth::Error with the server's error ('!'), or
// unavailable when the connection to the server is lost. Closes the socket. Signals are taken
// before the stream opens, so a Ctrl-C that comes as the command starts still reaches it. The
// terminal is restored however it ends.
int relay_stream(const std::function<int()>& open, const RelayOptions& options);

// The terminal size of fd, or false when it is not a terminal.
bool terminal_size(int fd, int& rows, int& cols);

// Asks a session body (POST .../session) for a terminal like this process's on stdin: its
// size, and TERM (this one's) unless the body's env sets it.
void ask_for_terminal(nlohmann::json& body);

}  // namespace berth::cli
