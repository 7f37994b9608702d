#pragma once
// What every command shares: the global options, the output format and the API client
// (started on first use, autostarting the local server when it is not running).
#include "api_client.hpp"
#include "home.hpp"

#include <berth/types.hpp>

#include <memory>
#include <string>

namespace berth::cli {

using berth::OutputFormat;

struct GlobalOptions {
  std::string home;
  std::string server;
  std::string api_key;
  std::string tls_ca;    // for an https:// server: the CA that signed its certificate
  std::string tls_cert;  // a client certificate and key, for a server that requires one
  std::string tls_key;
  std::string output = "table";
  bool quiet = false;
  bool verbose = false;
  bool no_autostart = false;
};

class Session {
 public:
  GlobalOptions options;

  Home home() const { return resolve_home(options.home); }
  OutputFormat format() const;
  // The client, connected; autostarts the default local server unless told not to.
  ApiClient& api();
  // True when talking to this home's own socket (not a --server elsewhere).
  bool local_server() const;
  bool stdout_is_terminal() const;
  bool colour() const;

 private:
  std::unique_ptr<ApiClient> client_;
  bool remote_ = false;  // talking to a server other than this home's own socket
};

}  // namespace berth::cli
