#pragma once
#include "home.hpp"

#include <filesystem>
#include <string>

namespace berth {

struct ServeOptions {
  Home home;
  std::filesystem::path builtin_providers;  // <prefix>/lib/berth/providers
  std::string listen;                        // optional HOST:PORT for TCP (API keys required)
  std::string tls_cert;                      // TLS on the TCP listener: certificate (PEM, with its chain)
  std::string tls_key;                       // and its private key
  std::string tls_client_ca;                 // optional: CAs whose client certificates are required
  bool insecure = false;                     // plain HTTP on an address other than loopback
  bool allow_remote_initialize = false;      // TCP clients may run initializeCommand here (with consent)
};

// Runs the server in the foreground until SIGTERM or SIGINT; returns the process exit code.
int serve(const ServeOptions& options);

// berth-server [--home DIR] [--listen HOST:PORT [--tls-cert F --tls-key F [--tls-client-ca F]] [--insecure] [--allow-remote-initialize]]:
// what `berth serve` runs.
int server_main(int argc, char** argv);

}  // namespace berth
