#pragma once
// TLS for the core's clients (the CLI's HTTP client and stream relay), through the berth-tls
// module: the only path that needs OpenSSL loads it, on first use, so commands over the Unix
// socket never do.
#include "tls_options.hpp"

#include <string>

namespace berth {

// The handshake and checks (tls_options.hpp) on a connected socket; returns the plain end of
// the connection (see core/tls/tls_link.hpp), or -1 with error set (sock is then closed).
// fingerprint, when given, receives the server certificate's SHA-256.
int tls_connect(int sock, const TlsClientOptions& options, std::string& error, std::string* fingerprint = nullptr);

}  // namespace berth
