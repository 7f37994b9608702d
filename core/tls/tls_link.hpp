#pragma once
// TLS for berth's connections, handed out as a plain socket: the caller gets one end of a
// socket pair, and a relay thread carries the bytes between it and the TLS connection. Every
// piece of berth that works on a socket (the server's request loop and stream routes, the
// Docker engine client and its hijacked streams, the CLI's HTTP client and stream relay) thus
// works unchanged over TLS; a half-close on the plain end becomes TLS's close_notify, and the
// peer's close_notify a half-close.
// This library links OpenSSL. The server and the docker provider link it; the CLI reaches it
// only through the berth-tls module (tls_module.cpp), loaded when an address is https://.
#include "tls_options.hpp"

#include <chrono>
#include <memory>
#include <string>

namespace berth::tls {

// The server's side: a certificate and key, and optionally the CAs whose client
// certificates are required (mutual TLS).
class ServerContext {
 public:
  // Throws std::runtime_error naming the file and what is wrong with it.
  ServerContext(const std::string& cert_file, const std::string& key_file, const std::string& client_ca_file);
  ~ServerContext();
  ServerContext(const ServerContext&) = delete;
  ServerContext& operator=(const ServerContext&) = delete;

  // Runs the handshake on an accepted socket within deadline; returns the plain end of a new
  // socket pair (the socket is the relay's from then on), or -1 with error set (the socket is
  // then closed).
  int accept(int sock, std::chrono::milliseconds deadline, std::string& error) const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

// The client's side: the handshake and checks on a connected socket (see TlsClientOptions).
// Returns the plain end, or -1 with error set (the socket is then closed). fingerprint, when
// given, receives the server certificate's SHA-256 as colon-separated upper-case hex, also
// when the certificate was refused.
int connect(int sock, const TlsClientOptions& options, std::string& error, std::string* fingerprint = nullptr);

}  // namespace berth::tls
