#include "server_routes.hpp"

#include "atomic_file.hpp"
#include "codec.hpp"
#include "dashboard/dashboard.hpp"
#include "dashboard/terminal_hub.hpp"
#include "errors.hpp"
#include "names.hpp"
#include "route_helpers.hpp"
#include "version.hpp"

#include <httplib.h>
#include <unistd.h>

namespace berth {
namespace {

constexpr size_t kLogTail = 64 << 10;

}  // namespace

void register_server_routes(httplib::Server& server, const ServerFacts& facts) {
  server.Get("/v1/server", guarded([&facts](const httplib::Request&, httplib::Response& response) {
    auto uptime = std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - facts.started).count();
    send_json(response, 200,
              Json{{"version", BERTH_VERSION},
                   {"uptime_seconds", uptime},
                   {"home", facts.home->data_dir.string()},
                   {"config", facts.home->config_dir.string()},
                   {"pid", ::getpid()},
                   {"listeners", facts.listeners()}});
  }));
  server.Get("/v1/server/log", guarded([&facts](const httplib::Request&, httplib::Response& response) {
    std::string text = read_file(facts.home->server_log_path()).value_or("");
    if (text.size() > kLogTail) {
      text.erase(0, text.size() - kLogTail);
      text.erase(0, text.find('\n') + 1);  // from a whole line
    }
    response.set_content(text, "text/plain; charset=utf-8");
  }));
  server.Get(R"(/v1/workspaces/([^/]+)/terminals)", guarded([&facts](const httplib::Request& request, httplib::Response& response) {
    std::string name = request.matches[1];
    require_valid_name("workspace", name);
    Json list = Json::array();
    if (facts.terminals) {
      for (const auto& terminal : facts.terminals->list(name)) {
        list.push_back({{"id", terminal.id}, {"persistent", terminal.persistent}, {"attached", terminal.attached}});
      }
    }
    send_json(response, 200, list);
  }));
  server.Get(R"(/v1/workspaces/([^/]+)/activity)", guarded([&facts](const httplib::Request& request, httplib::Response& response) {
    std::string name = request.matches[1];
    require_valid_name("workspace", name);
    if (!facts.activity) throw Error("unsupported", "this server keeps no activity");
    response.set_content(facts.activity(name), "application/json");
  }));
}

void register_dashboard_route(httplib::Server& server, Dashboard& dashboard) {
  server.Post("/v1/dashboard", guarded([&dashboard](const httplib::Request& request, httplib::Response& response) {
    int port = 0;
    if (!request.body.empty()) {
      Json body = parse_request_object(request.body);
      if (body.contains("port")) {
        if (!body["port"].is_number_integer() || body["port"].get<long long>() < 0 || body["port"].get<long long>() > 65535) {
          throw invalid("field 'port' must be a TCP port (1-65535), or 0 for any free one");
        }
        port = body["port"].get<int>();
      }
    }
    auto opened = dashboard.open(port);
    send_json(response, 200, Json{{"url", opened.url}, {"port", opened.port}});
  }));
}

}  // namespace berth
