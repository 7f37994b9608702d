#include "plugin_routes.hpp"

#include "errors.hpp"
#include "host_binary.hpp"
#include "names.hpp"
#include "route_helpers.hpp"

#include <cstdlib>

namespace berth {
namespace {

constexpr long kDefaultTimeoutSeconds = 30;
constexpr long kMaxTimeoutSeconds = 300;
constexpr size_t kMaxArguments = 64;
constexpr size_t kMaxArgumentBytes = 4096;

}  // namespace

void register_plugin_routes(httplib::Server& server, PluginAccess& access) {
  // Only the owner (the Unix socket, a key, a dashboard session): a plugin's own credential
  // cannot mint another (the gate finds the route closed to plugins).
  server.Post(R"(/v1/plugins/([^/]+)/token)", guarded([&access](const httplib::Request& request, httplib::Response& response) {
    std::string name = request.matches[1];
    send_json(response, 200, Json{{"plugin", name}, {"token", access.mint(name)}, {"header", kPluginTokenHeader}});
  }));
  server.Get(R"(/v1/plugins/([^/]+)/log)", guarded([&access](const httplib::Request& request, httplib::Response& response) {
    std::string name = request.matches[1];
    require_valid_name("plugin", name);
    access.entry(name);  // not_found for a plugin that is not installed
    send_json(response, 200, Json{{"plugin", name}, {"lines", access.log_lines(name)}});
  }));
  server.Post(R"(/v1/plugins/([^/]+)/exec)", guarded([&access](const httplib::Request& request, httplib::Response& response) {
    std::string name = request.matches[1];
    require_valid_name("plugin", name);
    Json body;
    try {
      body = Json::parse(request.body);
    } catch (const std::exception&) {
      throw invalid("the request body must be JSON: {\"binary\": NAME, \"args\": [..], \"timeout\": SECONDS}");
    }
    if (!body.is_object() || !body.contains("binary") || !body["binary"].is_string()) {
      throw invalid("the request body must be {\"binary\": NAME, \"args\": [..], \"timeout\": SECONDS}: 'binary' is missing");
    }
    std::string binary_name = body["binary"];
    std::vector<std::string> args;
    if (body.contains("args")) {
      if (!body["args"].is_array()) throw invalid("'args' must be a list of strings");
      for (const auto& arg : body["args"]) {
        if (!arg.is_string()) throw invalid("'args' must be a list of strings");
        const std::string& text = arg.get_ref<const std::string&>();
        if (text.size() > kMaxArgumentBytes || text.find('\0') != std::string::npos) {
          throw invalid("an argument is longer than " + std::to_string(kMaxArgumentBytes) + " bytes or holds a NUL byte");
        }
        args.push_back(text);
      }
      if (args.size() > kMaxArguments) throw invalid("at most " + std::to_string(kMaxArguments) + " arguments");
    }
    long timeout = kDefaultTimeoutSeconds;
    if (body.contains("timeout")) {
      if (!body["timeout"].is_number_integer() || body["timeout"].get<long>() < 1 || body["timeout"].get<long>() > kMaxTimeoutSeconds) {
        throw invalid("'timeout' must be a whole number of seconds from 1 to " + std::to_string(kMaxTimeoutSeconds));
      }
      timeout = body["timeout"].get<long>();
    }
    PluginEntry plugin = access.entry(name);
    if (plugin.state != PluginState::enabled) throw unavailable("plugin '" + name + "' is " + to_string(plugin.state));
    if (!plugin.granted.count("host-binaries")) {
      throw Error("forbidden", "plugin '" + name + "' was not granted the permission 'host-binaries' (berth plugin enable " + name + ")");
    }
    const PluginHostBinary* binary = nullptr;
    for (const auto& candidate : plugin.extensions.binaries) {
      if (candidate.name == binary_name) binary = &candidate;
    }
    if (!binary) {
      access.log(name, "refused to run '" + binary_name.substr(0, 100) + "': not one of the manifest's host.binaries");
      throw Error("forbidden", "'" + binary_name.substr(0, 100) + "' is not one of plugin '" + name + "''s host binaries (its manifest's host.binaries)");
    }
    std::filesystem::path data = access.data_root() / name;
    std::error_code ignored;
    std::filesystem::create_directories(data, ignored);
    std::filesystem::permissions(data, std::filesystem::perms::owner_all, ignored);
    const char* path = std::getenv("PATH");
    std::vector<std::string> environment{"PATH=" + std::string(path ? path : "/usr/bin:/bin"), "HOME=" + data.string(), "BERTH_PLUGIN=" + name,
                                         "LANG=C.UTF-8"};
    HostBinaryRun run = run_host_binary(binary->path, args, data, environment, std::chrono::seconds(timeout));
    access.log(name, "ran " + binary->name + " (" + std::to_string(args.size()) + " arguments): " +
                         (run.timed_out ? "killed after " + std::to_string(timeout) + " s" : "exit " + std::to_string(run.exit_code)));
    send_json(response, 200, Json{{"exit_code", run.exit_code}, {"timed_out", run.timed_out}, {"stdout", run.out}, {"stderr", run.err},
                                  {"truncated", run.truncated}});
  }));
}

}  // namespace berth
