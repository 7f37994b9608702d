#include "plugin_routes.hpp"

#include "errors.hpp"
#include "host_binary.hpp"
#include "names.hpp"
#include "route_helpers.hpp"

#include <algorithm>
#include <cstdlib>

namespace berth {
namespace {

constexpr long kDefaultTimeoutSeconds = 30;
constexpr long kMaxTimeoutSeconds = 300;
constexpr size_t kMaxArguments = 64;
constexpr size_t kMaxArgumentBytes = 4096;

Json plugin_json(const PluginEntry& plugin, PluginAccess& access, PluginServices& services, PluginJobs& jobs) {
  Json commands = Json::array();
  for (const auto& command : plugin.commands) commands.push_back({{"name", command.name}, {"summary", command.summary}});
  Json json{{"name", plugin.name},         {"version", plugin.version},   {"description", plugin.description},
            {"location", plugin.location}, {"state", to_string(plugin.state)}, {"commands", commands}};
  if (!plugin.reason.empty()) json["reason"] = plugin.reason;
  json["scoped"] = plugin.extensions.scoped;
  json["permissions"] = plugin.extensions.permissions;
  json["granted"] = plugin.granted;
  json["not_granted"] = plugin.not_granted;
  json.update(extensions_json(plugin.extensions));
  if (plugin.extensions.service) json["service"].update(services.state_json(plugin.name));
  if (!plugin.extensions.jobs.empty()) json["jobs"] = jobs.jobs_json(plugin);
  auto lines = access.log_lines(plugin.name);
  if (lines.size() > 5) lines.erase(lines.begin(), lines.end() - 5);
  json["log_tail"] = lines;
  return json;
}

PluginEntry find_plugin(PluginAccess& access, const std::string& name) {
  require_valid_name("plugin", name);
  return access.entry(name);
}

// The target the service sees: the rest of the path, and the query as the client sent it.
std::string service_target(const httplib::Request& request, const std::string& rest) {
  std::string target = rest.empty() || rest.front() != '/' ? "/" + rest : rest;
  if (!request.params.empty()) {
    std::string query;
    for (const auto& [key, value] : request.params) {
      query += (query.empty() ? "?" : "&") + httplib::detail::encode_query_param(key) + "=" + httplib::detail::encode_query_param(value);
    }
    target += query;
  }
  return target;
}

// The service's answer as it gave it, except an error naming one of the manifest's error codes:
// that one is shown as PLUGIN:code with the status the manifest gives it.
void answer_from_service(httplib::Response& response, const PluginEntry& plugin, const HttpResponse& answer) {
  // The answer is served at berth's own origin (the dashboard's, on its listener): whatever the
  // service sends, a browser must neither run it nor give it that origin.
  response.headers.erase("Content-Security-Policy");
  response.set_header("Content-Security-Policy", "sandbox; default-src 'none'; frame-ancestors 'none'");
  response.set_header("X-Content-Type-Options", "nosniff");
  response.status = answer.status;
  std::string type = answer.header("content-type");
  if (answer.status >= 400) {
    Json body = Json::parse(answer.body, nullptr, false);
    if (body.is_object() && body.contains("error") && body["error"].is_object() && body["error"].contains("code") && body["error"]["code"].is_string()) {
      std::string code = body["error"]["code"];
      for (const auto& declared : plugin.extensions.error_codes) {
        if (declared.code != code) continue;
        body["error"]["code"] = plugin.name + ":" + code;
        if (!body["error"].contains("message") && !declared.message.empty()) body["error"]["message"] = declared.message;
        send_json(response, declared.status, body);
        return;
      }
    }
  }
  response.set_content(answer.body, type.empty() ? "application/octet-stream" : type);
}

}  // namespace

void register_plugin_routes(httplib::Server& server, PluginAccess& access, PluginServices& services, PluginJobs& jobs) {
  server.Get("/v1/plugins", guarded([&](const httplib::Request&, httplib::Response& response) {
    Json list = Json::array();
    for (const auto& plugin : discover_plugins(access.folders(), {})) list.push_back(plugin_json(plugin, access, services, jobs));
    send_json(response, 200, list);
  }));
  server.Post(R"(/v1/plugins/([^/]+)/(enable|disable))", guarded([&](const httplib::Request& request, httplib::Response& response) {
    PluginEntry found = find_plugin(access, request.matches[1]);
    bool enable = request.matches[2] == "enable";
    set_plugin_enabled(access.folders().settings, found, enable);
    if (enable) services.reset(found.name);
    send_json(response, 200, plugin_json(access.entry(found.name), access, services, jobs));
  }));
  server.Get(R"(/v1/plugins/([^/]+)/jobs)", guarded([&](const httplib::Request& request, httplib::Response& response) {
    send_json(response, 200, jobs.jobs_json(find_plugin(access, request.matches[1])));
  }));
  server.Post(R"(/v1/plugins/([^/]+)/jobs/([^/]+)/run)", guarded([&](const httplib::Request& request, httplib::Response& response) {
    std::string plugin = request.matches[1];
    require_valid_name("plugin", plugin);
    jobs.run_now(plugin, request.matches[2]);
    send_json(response, 202, Json{{"plugin", plugin}, {"job", std::string(request.matches[2])}, {"started", true}});
  }));
  // Only the owner (the Unix socket, a key, a dashboard session): a plugin's own credential
  // cannot mint another (the gate finds the route closed to plugins).
  server.Post(R"(/v1/plugins/([^/]+)/token)", guarded([&access](const httplib::Request& request, httplib::Response& response) {
    std::string name = request.matches[1];
    send_json(response, 200, Json{{"plugin", name}, {"token", access.mint(name)}, {"header", kPluginTokenHeader}});
  }));
  server.Post(R"(/v1/plugins/([^/]+)/token/revoke)", guarded([&access](const httplib::Request& request, httplib::Response& response) {
    Json body = Json::parse(request.body, nullptr, false);
    if (!body.is_object() || !body.contains("token") || !body["token"].is_string()) throw invalid("the request body must be {\"token\": TOKEN}");
    access.revoke(body["token"]);
    send_json(response, 200, Json{{"revoked", true}});
  }));
  // The service: anything under /service/, and the manifest's routes at the plugin's root.
  auto proxy = guarded([&](const httplib::Request& request, httplib::Response& response) {
    PluginEntry plugin = find_plugin(access, request.matches[1]);
    std::string rest = request.matches[2];
    std::string target;
    if (rest == "service" || rest.rfind("service/", 0) == 0) {
      target = rest.substr(std::string("service").size());
    } else {
      bool declared = std::any_of(plugin.extensions.routes.begin(), plugin.extensions.routes.end(),
                                  [&](const PluginRoute& route) { return route.method == request.method && route.path == "/" + rest; });
      if (!declared) throw not_found("plugin '" + plugin.name + "' has no route " + request.method + " /" + rest.substr(0, 100) + " (its manifest's routes)");
      target = "/" + rest;
    }
    answer_from_service(response, plugin, services.forward(plugin, request.method, service_target(request, target), request.body,
                                                   request.get_header_value("Content-Type")));
  });
  const char* proxied = R"(/v1/plugins/([^/]+)/((?:service|[a-z0-9][a-z0-9._/-]*)(?:/.*)?))";
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
  // Last: httplib takes the first route that matches, and these match what the ones above do not.
  server.Get(proxied, proxy);
  server.Post(proxied, proxy);
  server.Put(proxied, proxy);
  server.Delete(proxied, proxy);
  server.Patch(proxied, proxy);
}

}  // namespace berth
