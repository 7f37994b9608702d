#pragma once
/// berth plugin SDK.
///
/// A plugin is a shared library that adds commands to `berth`. It implements berth::Plugin and
/// registers it with BERTH_PLUGIN(ClassName). Beside the library lies its manifest, NAME.yaml,
/// which berth reads for `--help` and `berth plugin list` without loading the library:
///
///     name: report
///     version: 1.0.0
///     api_version: "1.5"           # the SDK API version the library was built against
///     min_berth_version: 0.1.0     # optional: the oldest berth it runs in
///     description: Summaries of workspaces
///     commands:
///       - name: report             # runs as `berth report ...`
///         summary: Count workspaces by state and provider
///         arguments:               # optional, shown in `berth report --help`
///           - name: --by
///             description: provider or state
///
/// The library is loaded only when one of its commands runs, in a child process of the CLI, so
/// a plugin that crashes ends with a message naming it, never with a crash of berth.
/// Walkthrough: docs/plugins.md.
#include <berth/api.hpp>
#include <berth/sdk.hpp>
#include <berth/types.hpp>

#include <iosfwd>
#include <string>
#include <vector>

namespace berth {

/// What a plugin's command receives from berth. Owned by berth; valid during run().
class Context {
 public:
  virtual ~Context() = default;
  /// The typed API client the CLI itself uses (workspaces, targets, providers).
  virtual Api& api() = 0;
  /// The providers the server has loaded (and the broken ones, with reasons).
  virtual std::vector<ProviderStatus> providers() = 0;
  virtual std::ostream& out() = 0;
  virtual std::ostream& err() = 0;
  virtual std::istream& in() = 0;
  /// True when standard input is a terminal (a prompt can be answered).
  virtual bool interactive() const = 0;
  /// A folder that belongs to this plugin alone, created on first use.
  virtual std::string data_dir() const = 0;
  /// berth's home (where targets/, workspaces/, providers/, plugins/ live).
  virtual std::string home_dir() const = 0;
  /// The -o format the user asked for.
  virtual OutputFormat output_format() const = 0;
  virtual bool quiet() const = 0;
  /// The version of the berth running this plugin, "major.minor.patch".
  virtual std::string berth_version() const = 0;
};

/// A plugin. run() is called once per command invocation; its return value is berth's exit
/// code (0 to 255). Throwing reports the message, naming the plugin, and exits 1.
class Plugin {
 public:
  virtual ~Plugin() = default;
  virtual int run(Context& context, const std::string& command, const std::vector<std::string>& args) = 0;
};

}  // namespace berth

/// Registers PluginClass as this library's plugin.
#define BERTH_PLUGIN(PluginClass)                                                        \
  extern "C" BERTH_EXPORT const berth::ApiVersion* berth_plugin_api_version() noexcept { \
    static constexpr berth::ApiVersion version = berth::sdk_api_version;                 \
    return &version;                                                                     \
  }                                                                                      \
  extern "C" BERTH_EXPORT berth::Plugin* berth_plugin_create() { return new PluginClass(); }
