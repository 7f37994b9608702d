#pragma once
// How the docker provider reaches an engine: a Unix socket, TCP, TCP with TLS (the Docker
// CLI's --tls and --tlsverify), or ssh://[USER@]HOST[:PORT] (an `ssh` child running `docker
// system dial-stdio` on the remote machine, as the Docker CLI does). Whatever the way, the
// caller gets a plain socket: TLS is relayed (core/tls/tls_link.hpp) and ssh speaks on one
// end of a socket pair, so the HTTP client, hijacked exec streams and half-closes all work
// on it unchanged. One connection, one ssh child.
#include "tls_options.hpp"

#include <chrono>
#include <memory>
#include <mutex>
#include <berth/sdk.hpp>
#include <berth/types.hpp>

#include <string>

namespace docker {

// An engine's address and, for tcp://, its TLS settings.
struct EngineLink {
  std::string address;           // unix:///PATH, tcp://HOST[:PORT] or ssh://[USER@]HOST[:PORT]
  bool tls = false;              // tcp:// over TLS
  berth::TlsClientOptions tls_options;  // ca_file, cert_file, key_file, verify
};

// How to reach the engine at address for a target with these properties: a tcp:// one over
// TLS when the target names any of tls_ca, tls_cert, tls_key (the same for each of its engines).
EngineLink engine_link(const berth::StringMap& properties, const std::string& address);

// The parts of an address; throws std::invalid_argument saying what form is expected.
struct Location {
  enum class Kind { unix_socket, tcp, ssh } kind = Kind::unix_socket;
  std::string path;  // unix
  std::string host;  // tcp, ssh
  std::string user;  // ssh, optional
  int port = 0;      // tcp (default 2375, 2376 with TLS), ssh (0: ssh's own default)
};
Location parse_engine_address(const std::string& address);

// What an ssh child said when it ended (its exit status and the end of its standard error),
// for errors that would otherwise only say "the connection closed".
class SshReport {
 public:
  void finish(int status, std::string error_text);
  // Waits up to timeout for the child to end; "" when it did not, or ended well.
  std::string failure(std::chrono::milliseconds timeout);

 private:
  std::mutex mutex_;
  bool finished_ = false;
  int status_ = 0;
  std::string error_;
};

// Connects within deadline; returns the socket, or -1 with error set. For ssh://, report (when
// given) is filled in once the ssh child ends.
int connect_engine(const EngineLink& link, std::chrono::seconds deadline, std::string& error,
                   std::shared_ptr<SshReport>* report = nullptr);

}  // namespace docker
