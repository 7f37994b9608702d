#pragma once
/// berth provider SDK.
///
/// A provider is a shared library that knows one kind of infrastructure. It implements
/// berth::Provider and registers it with BERTH_PROVIDER(ClassName) in exactly one source file.
/// Beside the library lies its manifest, NAME.yaml, which the host reads without running the
/// library's code:
///
///     name: folder                 # must equal info().name and the file's base name
///     version: 1.2.0               # must equal info().version
///     api_version: "1.0"           # the SDK API version the library was built against
///     description: Workspaces as plain folders
///
/// The host loads the library with RTLD_NOW | RTLD_LOCAL, checks the API version handshake
/// (same major, library minor <= host minor) before calling anything else, keeps the library
/// loaded while any object it made is alive, and catches every exception at the boundary.
/// Walkthrough: docs/providers.md.
#include <berth/io.hpp>
#include <berth/sdk.hpp>
#include <berth/types.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace berth {

/// Everything a lifecycle operation receives.
struct OperationContext {
  const Workspace& workspace;     ///< the record (name, repository, image, env, ...)
  const StringMap& properties;    ///< the target's properties, validated, defaults filled in
  StringMap& provider_data;       ///< the provider's own data on the record; changes are saved
  ProgressSink& progress;         ///< progress lines for the workspace log
  const std::string& data_dir;    ///< a folder the host gives this provider for its own files
};

/// The real state of a workspace's infrastructure, as the provider finds it.
enum class InfraState { started, stopped, gone, unknown };

struct Status {
  InfraState state = InfraState::unknown;
  std::string detail;  ///< e.g. "container gone" or the engine's own words
};

/// A provider. The host makes one per process and calls it from several threads at once, for
/// different workspaces; an implementation guards any state it shares between calls.
class Provider {
 public:
  virtual ~Provider() = default;

  /// Name, version, description and the target manifest (the properties a target may set).
  virtual ProviderInfo info() const = 0;

  /// Makes the workspace's infrastructure, clones the repository if any, and leaves it started.
  virtual void create(OperationContext& context) = 0;
  virtual void start(OperationContext& context) = 0;
  virtual void stop(OperationContext& context) = 0;
  /// Removes everything create made. Succeeds when it is already gone.
  virtual void destroy(OperationContext& context) = 0;
  /// Asks the infrastructure, never a cache.
  virtual Status status(OperationContext& context) = 0;
  /// Runs a command in the workspace, streams its output, returns its exit code.
  virtual int exec(OperationContext& context, const ExecRequest& request, OutputSink& output) = 0;
  /// Says whether a target's infrastructure is reachable and usable (berth doctor asks).
  /// Throwing counts as "not reachable", with the message.
  virtual TargetCheck check_target(const StringMap& properties, const std::string& data_dir) {
    (void)properties;
    (void)data_dir;
    return {true, "not checked by this provider"};
  }
};

}  // namespace berth

/// Registers ProviderClass as this library's provider. The host calls
/// berth_provider_api_version() first and berth_provider_create() only if the handshake passes.
#define BERTH_PROVIDER(ProviderClass)                                                   \
  extern "C" BERTH_EXPORT const berth::ApiVersion* berth_provider_api_version() noexcept { \
    static constexpr berth::ApiVersion version = berth::sdk_api_version;                \
    return &version;                                                                    \
  }                                                                                     \
  extern "C" BERTH_EXPORT berth::Provider* berth_provider_create() { return new ProviderClass(); }
