#pragma once
// HTTP over a Unix socket or TCP, for clients of berth's server and of a Docker engine.
#include <memory>
#include <string>

namespace httplib { class ClientImpl; }

namespace berth {

// An httplib client for unix:///PATH, http://HOST:PORT or tcp://HOST:PORT. absent_server, when
// given, is set when a Unix socket is missing or refuses (nobody listens there).
std::unique_ptr<httplib::ClientImpl> make_http_client(const std::string& address, bool* absent_server = nullptr);

// The cause of the last failed connect of a client made above ("" when unknown).
std::string last_connect_error(httplib::ClientImpl& client);

// Opens a connection to address, sends request (a whole HTTP request) and reads the response
// head; returns the socket, positioned at the first byte after the head, for raw use both ways
// (Docker's hijacked exec streams). Sets status; throws berth::Error("unavailable") when the
// address cannot be reached.
int open_raw_stream(const std::string& address, const std::string& request, int& status, std::string& head);

}  // namespace berth
