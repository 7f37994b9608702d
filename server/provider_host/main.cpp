// berth-provider-host --library PATH --api MAJOR.MINOR [--dropin]: started by berth-server only.
#include "host.hpp"
#include "module_files.hpp"

#include <iostream>
#include <string>

int main(int argc, char** argv) {
  berth::HostOptions options;
  bool api_given = false;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--library" && i + 1 < argc) {
      options.library = argv[++i];
    } else if (arg == "--api" && i + 1 < argc) {
      auto version = berth::parse_api_version(argv[++i]);
      if (!version) break;
      options.manifest_api = *version;
      api_given = true;
    } else if (arg == "--dropin") {
      options.dropin = true;
    } else {
      api_given = false;
      break;
    }
  }
  if (options.library.empty() || !api_given) {
    std::cerr << "usage: berth-provider-host --library PATH --api MAJOR.MINOR [--dropin] (started by berth-server)" << std::endl;
    return 2;
  }
  return berth::provider_host_main(options);
}

#if defined(__SANITIZE_ADDRESS__)
// In a sanitizer build, a provider's crash must still reach berth-server as the signal it was
// (the server names it), not as a sanitizer report ending in abort.
extern "C" const char* __asan_default_options() {
  return "handle_segv=0:handle_abort=0:handle_sigbus=0:handle_sigfpe=0:handle_sigill=0";
}
#endif
