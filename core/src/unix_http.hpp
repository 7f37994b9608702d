#pragma once
// HTTP over a Unix socket or TCP, for clients of berth's server and of a Docker engine.
#include "tls_options.hpp"

#include <string>

namespace berth {

// Connects to unix:///PATH, http://HOST:PORT, https://HOST:PORT or tcp://HOST:PORT; -1 with
// error set when it cannot. absent_server, when given, is set when a Unix socket is missing or
// refuses. https:// runs TLS with tls's checks (the host name is the address's when tls names
// none) and returns the plain end of the connection (tls_loader.hpp).
int connect_socket(const std::string& address, std::string& error, bool* absent_server = nullptr, const TlsClientOptions* tls = nullptr);

// What an https:// server presents: connects, runs the TLS checks of tls, and closes.
struct TlsProbe {
  bool accepted = false;    // the certificate passed tls's checks
  std::string fingerprint;  // its SHA-256, when the handshake got that far
  std::string error;        // why it was not accepted
};
TlsProbe probe_tls(const std::string& address, const TlsClientOptions& tls);

// Opens a connection to address, sends request (a whole HTTP request) and reads the response
// head; returns the socket, positioned at the first byte after the head, for raw use both ways
// (Docker's hijacked exec streams). Sets status; throws berth::Error("unavailable") when the
// address cannot be reached.
int open_raw_stream(const std::string& address, const std::string& request, int& status, std::string& head,
                    const TlsClientOptions* tls = nullptr);

}  // namespace berth
