#pragma once
/// berth SDK: what every provider and plugin shares with the host.
///
/// Rules of the boundary (see docs/providers.md):
///  - only plain data crosses it: strings, vectors, maps of strings, and the structs below;
///  - a library reports failure by throwing (berth::Error or any std::exception); the host
///    catches at the boundary, so nothing a library throws can end the server or the CLI;
///  - the host and the library must be built with the same C++ standard library ABI (GCC's
///    libstdc++ on Linux, the default _GLIBCXX_USE_CXX11_ABI=1): a provider reports the facts it
///    was compiled with (berth::AbiFacts) and a host that finds them different refuses it.
#include <cstdint>
#include <stdexcept>
#include <string>

#define BERTH_EXPORT __attribute__((visibility("default")))

namespace berth {

/// The SDK API version. A library built against major M minor N is considered by a host with
/// the same major M and minor >= N; anything else is refused before any of its code is called.
/// A provider must also match the host's ABI facts (berth::AbiFacts in provider.hpp): a minor
/// version that changes an SDK struct's size refuses libraries built against the older one,
/// with a message saying to rebuild. 1.1 did (OperationContext, PropertySpec).
struct ApiVersion {
  int major;
  int minor;
};

/// 1.1: OperationContext::cancellation (deadline and cancellation), ABI facts in the handshake.
/// 1.2: Provider::session (interactive sessions, streamed stdin) and Provider::connect (ports).
/// 1.3: Provider::rebuild and Provider::release_target (rebuild keeping the work; a target's pool released);
///      Provider::watch (changes made outside berth, reported as they happen), InfraState::paused.
/// 1.4: Provider::validate_target (a target's properties refused at `target add`, not at create).
/// 1.5: Provider::cpu_seconds (the workspace's CPU time, for idle auto-stop).
inline constexpr ApiVersion sdk_api_version{1, 5};

/// The error type of berth, with a stable code that maps to an HTTP status and an exit code:
/// "invalid", "not_found", "conflict", "provider_failed", "unauthorized", "too_large",
/// "unavailable", "internal". Libraries may throw it, or any std::exception.
class BERTH_EXPORT Error : public std::runtime_error {
 public:
  Error(std::string code, const std::string& message)
      : std::runtime_error(message), code_(std::move(code)) {}
  const std::string& code() const noexcept { return code_; }

 private:
  std::string code_;
};

}  // namespace berth
