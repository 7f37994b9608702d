#pragma once
// HTTP over a Unix socket or TCP, for clients of berth's server and of a Docker engine.
#include <string>

namespace berth {

// Connects to unix:///PATH, http://HOST:PORT or tcp://HOST:PORT; -1 with error set when it
// cannot. absent_server, when given, is set when a Unix socket is missing or refuses.
int connect_socket(const std::string& address, std::string& error, bool* absent_server = nullptr);

// Opens a connection to address, sends request (a whole HTTP request) and reads the response
// head; returns the socket, positioned at the first byte after the head, for raw use both ways
// (Docker's hijacked exec streams). Sets status; throws berth::Error("unavailable") when the
// address cannot be reached.
int open_raw_stream(const std::string& address, const std::string& request, int& status, std::string& head);

}  // namespace berth
