#pragma once
// berth-provider-host: one provider library, served to berth-server in its own process.
#include <berth/sdk.hpp>

#include <filesystem>
#include <string>

namespace berth {

struct HostOptions {
  std::filesystem::path library;
  bool dropin = false;      // a drop-in gets the ownership and mode checks
  ApiVersion manifest_api;  // what its manifest says, which the library must agree with
};

// Serves the provider over fd 3 until the server closes it. Returns the exit status.
int provider_host_main(const HostOptions& options);

}  // namespace berth
