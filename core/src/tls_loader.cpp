#include "tls_loader.hpp"

#include "home.hpp"

#include <dlfcn.h>
#include <unistd.h>

#include <mutex>

namespace berth {
namespace {

using ConnectFunction = int (*)(int, const char*, const char*, const char*, const char*, const char*, int, long, char*, size_t, char*, size_t);

// bin/berth finds it in ../lib/berth, as the built-in providers; libexec/berth/* in ../../lib/berth.
ConnectFunction load(std::string& error) {
  static std::once_flag once;
  static ConnectFunction function = nullptr;
  static std::string load_error;
  std::call_once(once, [] {
    std::filesystem::path here = executable_dir();
    std::string tried;
    for (const auto& candidate : {here.parent_path() / "lib" / "berth" / "libberth-tls.so",
                                  here.parent_path().parent_path() / "lib" / "berth" / "libberth-tls.so"}) {
      void* library = ::dlopen(candidate.c_str(), RTLD_NOW | RTLD_LOCAL);
      if (!library) {
        tried += (tried.empty() ? "" : "; ") + std::string(::dlerror());
        continue;
      }
      function = reinterpret_cast<ConnectFunction>(::dlsym(library, "berth_tls_connect_v1"));
      if (function) return;
      tried += (tried.empty() ? "" : "; ") + candidate.string() + " has no berth_tls_connect_v1";
    }
    load_error = "cannot load berth's TLS module (is berth installed whole?): " + tried;
  });
  error = load_error;
  return function;
}

}  // namespace

int tls_connect(int sock, const TlsClientOptions& options, std::string& error, std::string* fingerprint) {
  ConnectFunction connect = load(error);
  if (!connect) {
    ::close(sock);
    return -1;
  }
  char message[1024] = {};
  char presented[128] = {};
  int plain = connect(sock, options.server_name.c_str(), options.ca_file.c_str(), options.pin_sha256.c_str(), options.cert_file.c_str(),
                      options.key_file.c_str(), options.verify ? 1 : 0, static_cast<long>(options.deadline.count()), message, sizeof message,
                      presented, sizeof presented);
  if (fingerprint) *fingerprint = presented;
  if (plain < 0) error = message;
  return plain;
}

}  // namespace berth
