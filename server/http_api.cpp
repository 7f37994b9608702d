#include "http_api.hpp"

#include "codec.hpp"
#include "dashboard/dashboard.hpp"
#include "errors.hpp"
#include "exec_frames.hpp"
#include "module_files.hpp"
#include "names.hpp"
#include "guarded_server.hpp"
#include "route_helpers.hpp"
#include "shared_listing.hpp"
#include "version.hpp"

#include <httplib.h>
#include <malloc.h>

#include <chrono>
#include <filesystem>
#include <functional>

namespace fs = std::filesystem;

namespace berth {
namespace {

constexpr const char* kJson = "application/json";

Json parse_body(const httplib::Request& request) { return parse_request_object(request.body); }

bool flag(const httplib::Request& request, const char* name) {
  return request.has_param(name) && request.get_param_value(name) == "true";
}

void send_accepted(httplib::Response& response, const WorkspaceService::Accepted& accepted) {
  if (accepted.log_offset >= 0) response.set_header("X-Berth-Log-Offset", std::to_string(accepted.log_offset));
  if (accepted.log_ticket > 0) response.set_header("X-Berth-Log-Ticket", std::to_string(accepted.log_ticket));
  send_json(response, accepted.log_offset >= 0 ? 202 : 200, Json(accepted.record));
}

// Streams exec output as frames into the chunked response.
class FrameSink : public OutputSink {
 public:
  explicit FrameSink(httplib::DataSink& sink) : sink_(sink) {}
  void write(OutputStream stream, std::string_view data) override {
    std::string frame = encode_frame(stream == OutputStream::stdout_stream ? 'o' : 'e', data);
    if (!sink_.write(frame.data(), frame.size())) throw unavailable("the client went away");
  }

 private:
  httplib::DataSink& sink_;
};

// What changes the server's configuration rather than using it: API keys, providers enabled or
// disabled, targets added, removed or made the default. Over TCP these need an admin key.
bool changes_configuration(const httplib::Request& request) {
  const std::string& path = request.path;
  if (path == "/v1/apikeys" || path.rfind("/v1/apikeys/", 0) == 0) return true;
  if (request.method == "GET" || request.method == "HEAD") return false;
  auto ends_with = [&](const char* tail) {
    std::string suffix = tail;
    return path.size() > suffix.size() && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  if (path.rfind("/v1/providers/", 0) == 0 && (ends_with("/enable") || ends_with("/disable"))) return true;
  if (path == "/v1/targets" && request.method == "POST") return true;
  if (path.rfind("/v1/targets/", 0) == 0) return request.method == "DELETE" || ends_with("/default");
  return false;
}

// The options of a create or rebuild as the provider gets them for this call: the client's own,
// less any that only the server may set (berth.*, trust), plus who asked: berth.client (local
// for the Unix socket, remote for TCP), berth.host_commands (allowed where this listener lets a
// repository run commands on this machine), and trust (the person agreed: --trust).
StringMap call_options(const Listener& listener, bool trust) {
  StringMap options{{"berth.client", listener.remote ? "remote" : "local"},
                    {"berth.host_commands", !listener.remote || listener.allow_remote_initialize ? "allowed" : "refused"}};
  if (trust) options["trust"] = "true";
  return options;
}

void strip_server_options(StringMap& options) {
  for (auto it = options.begin(); it != options.end();) {
    it = it->first.rfind("berth.", 0) == 0 || it->first == "trust" ? options.erase(it) : std::next(it);
  }
}

}  // namespace

void require_api_key(httplib::Server& server, const ApiKeyStore& keys, Dashboard* dashboard) {
  server.set_pre_routing_handler([&keys, dashboard](const httplib::Request& request, httplib::Response& response) {
    std::string header = request.get_header_value("Authorization");
    const std::string prefix = "Bearer ";
    bool presented = header.size() > prefix.size() && header.compare(0, prefix.size(), prefix) == 0;
    KeyScope scope = presented ? keys.scope_of(header.substr(prefix.size())) : KeyScope::none;
    if (!presented && dashboard) {
      switch (dashboard->check_remote(request, response)) {
        case Dashboard::Remote::answered: return httplib::Server::HandlerResponse::Handled;
        case Dashboard::Remote::public_file: return httplib::Server::HandlerResponse::Unhandled;  // its connection ends after it
        case Dashboard::Remote::use: scope = KeyScope::use; break;
        case Dashboard::Remote::admin: scope = KeyScope::admin; break;
        case Dashboard::Remote::none: break;
      }
    }
    // The server's configuration is the machine owner's (the Unix socket) or an admin key's: an
    // ordinary key that leaked must not mint spares for itself, revoke everyone else's, enable a
    // provider an admin disabled, or point targets elsewhere.
    if (scope != KeyScope::none && scope != KeyScope::admin && changes_configuration(request)) {
      bool keys_path = request.path.rfind("/v1/apikeys", 0) == 0;
      std::string what = keys_path ? "API keys are managed" : request.path.rfind("/v1/providers/", 0) == 0 ? "providers are enabled and disabled"
                                                                                                          : "targets are added, removed and chosen as the default";
      response.status = 403;
      response.set_content(Json{{"error", {{"code", "forbidden"},
                                            {"message", what + " on the server's Unix socket (berth ... on that machine), or with an admin "
                                                        "key made there with: berth apikey create NAME --admin; this key is not an admin key"}}}}
                               .dump(),
                           kJson);
      return httplib::Server::HandlerResponse::Handled;
    }
    if (scope != KeyScope::none) {
      GuardedServer::mark_authenticated();
      return httplib::Server::HandlerResponse::Unhandled;
    }
    response.status = 401;
    response.set_header("WWW-Authenticate", "Bearer");
    response.set_content(Json{{"error", {{"code", "unauthorized"},
                                          {"message", presented ? "the API key is not valid (revoked, or never made here)"
                                                                : "this server needs an API key over TCP: --api-key KEY or BERTH_API_KEY "
                                                                  "(make one on the server with: berth apikey create NAME)"}}}}
                             .dump(),
                         kJson);
    return httplib::Server::HandlerResponse::Handled;
  });
}

void register_api(httplib::Server& server, WorkspaceService& service, ProviderRegistry& providers, ApiKeyStore& keys,
                  const Listener& listener) {
  server.set_payload_max_length(kMaxRequestBody);
  server.set_error_handler([](const httplib::Request&, httplib::Response& response) {
    if (!response.body.empty()) return;
    int status = response.status;
    std::string message = status == 413 ? "the request body is larger than the limit of " + std::to_string(kMaxRequestBody) + " bytes"
                          : status == 404 ? "no such API path (see GET /v1/version)"
                                          : "the request was refused (HTTP " + std::to_string(status) + ")";
    response.set_content(Json{{"error", {{"code", code_for_http_status(status)}, {"message", message}}}}.dump(), kJson);
  });
  server.set_exception_handler([](const httplib::Request&, httplib::Response& response, const std::exception_ptr& pointer) {
    try {
      std::rethrow_exception(pointer);
    } catch (const std::exception& error) {
      send_error(response, "internal", error.what());
    } catch (...) {
      send_error(response, "internal", "unknown error");
    }
  });

  server.Get("/v1/health", [](const httplib::Request&, httplib::Response& response) {
    send_json(response, 200, Json{{"status", "ok"}});
  });
  server.Get("/v1/version", [](const httplib::Request&, httplib::Response& response) {
    send_json(response, 200, Json{{"version", BERTH_VERSION}, {"api", "v1"}, {"sdk_api", to_string(sdk_api_version)}});
  });

  server.Get("/v1/apikeys", guarded([&](const httplib::Request&, httplib::Response& response) {
    Json list = Json::array();
    for (const auto& key : keys.list()) {
      list.push_back({{"name", key.name}, {"created_at", key.created_at}, {"scope", key.admin ? "admin" : "use"}});
    }
    send_json(response, 200, list);
  }));
  server.Post("/v1/apikeys", guarded([&](const httplib::Request& request, httplib::Response& response) {
    Json body = parse_body(request);
    std::string name = request_string(body, "name");
    auto admin = body.find("admin");
    if (admin != body.end() && !admin->is_boolean()) throw invalid("field 'admin' must be true or false");
    bool is_admin = admin != body.end() && admin->get<bool>();
    std::string key = keys.create(name, is_admin);
    send_json(response, 201, Json{{"name", name}, {"key", key}, {"scope", is_admin ? "admin" : "use"}});
  }));
  server.Delete(R"(/v1/apikeys/([^/]+))", guarded([&](const httplib::Request& request, httplib::Response& response) {
    keys.revoke(request.matches[1]);
    send_json(response, 200, Json{{"revoked", std::string(request.matches[1])}});
  }));

  server.Get("/v1/providers", guarded([&](const httplib::Request&, httplib::Response& response) {
    send_json(response, 200, Json(providers.list()));
  }));
  server.Get(R"(/v1/providers/([^/]+))", guarded([&](const httplib::Request& request, httplib::Response& response) {
    std::string name = request.matches[1];
    auto status = providers.find(name);
    if (!status) throw not_found("provider '" + name + "' is not installed (berth provider list)");
    send_json(response, 200, Json(*status));
  }));
  server.Post(R"(/v1/providers/([^/]+)/(enable|disable))", guarded([&](const httplib::Request& request, httplib::Response& response) {
    std::string name = request.matches[1];
    require_valid_name("provider", name);
    send_json(response, 200, Json(request.matches[2] == "enable" ? providers.enable(name) : providers.disable(name)));
  }));
  server.Get(R"(/v1/providers/([^/]+)/logs)", guarded([&](const httplib::Request& request, httplib::Response& response) {
    std::string name = request.matches[1];
    require_valid_name("provider", name);
    response.set_content(providers.log_text(name), "text/plain");
  }));

  server.Get("/v1/targets", guarded([&](const httplib::Request&, httplib::Response& response) {
    send_json(response, 200, Json(service.targets()));
  }));
  server.Post("/v1/targets", guarded([&](const httplib::Request& request, httplib::Response& response) {
    Json body = parse_body(request);
    TargetDocument document;
    if (body.contains("yaml")) {
      document = parse_target_document(request_string(body, "yaml"), request_string(body, "source"));
    } else {
      document.source = "request";
      document.target.name = request_string(body, "name");
      document.target.provider = request_string(body, "provider");
      document.target.properties = request_map(body, "properties");
    }
    send_json(response, 201, Json(service.add_target(std::move(document))));
  }));
  server.Get(R"(/v1/targets/([^/]+))", guarded([&](const httplib::Request& request, httplib::Response& response) {
    send_json(response, 200, Json(service.target(request.matches[1])));
  }));
  server.Delete(R"(/v1/targets/([^/]+))", guarded([&](const httplib::Request& request, httplib::Response& response) {
    std::string warning = service.remove_target(request.matches[1], flag(request, "force"));
    Json body{{"deleted", std::string(request.matches[1])}};
    if (!warning.empty()) body["warning"] = warning;
    send_json(response, 200, body);
  }));
  server.Post(R"(/v1/targets/([^/]+)/default)", guarded([&](const httplib::Request& request, httplib::Response& response) {
    send_json(response, 200, Json(service.set_default_target(request.matches[1])));
  }));

  server.Post(R"(/v1/targets/([^/]+)/check)", guarded([&](const httplib::Request& request, httplib::Response& response) {
    TargetCheck check = service.check_target(request.matches[1]);
    send_json(response, 200, Json{{"ok", check.ok}, {"message", check.message}});
  }));

  // Concurrent listings share one body, sent from where it lies (a list of 10,000 is megabytes;
  // httplib 0.11's set_content would copy it).
  auto listing = std::make_shared<SharedListing>();
  server.Get("/v1/workspaces", guarded([&service, listing](const httplib::Request& request, httplib::Response& response) {
    unsigned mask = request.has_param("fields") ? workspace_field_mask(request.get_param_value("fields")) : kAllWorkspaceFields;
    // The last event before the listing began (a shared body never began before this request):
    // GET /v1/events?after=ID then misses no change (docs/api.md).
    response.set_header("X-Berth-Event-Id", std::to_string(service.events().last_id()));
    SharedListing::Body body = listing->get(mask, [&](size_t last_size) {
      std::string text;
      text.reserve(last_size + last_size / 8 + 64);
      text.push_back('[');
      service.for_each_workspace([&](const Workspace& workspace) {
        if (text.size() > 1) text.push_back(',');
        append_workspace_json(text, workspace, mask);
      });
      text.push_back(']');
      return text;
    });
    response.status = 200;
    const std::string* text = body.get();
    response.set_content_provider(
        text->size(), kJson, [text](size_t offset, size_t length, httplib::DataSink& sink) { return sink.write(text->data() + offset, length); },
        [body](bool) mutable {
          // The last holder of a large body gives its pages back (the server's logger trims
          // after large bodies too, but this one is freed after the logger runs).
          bool large = body.use_count() == 1 && body->size() > kTrimAfterBytes;
          body.reset();
          if (large) ::malloc_trim(0);
        });
  }));
  // The listener is copied into the routes that need it (the caller's is gone once they run).
  server.Post("/v1/workspaces", guarded([&, listener](const httplib::Request& request, httplib::Response& response) {
    WorkspaceRequest create = parse_create_request(request.body);
    bool trust = create.options.count("trust") && create.options["trust"] == "true";
    strip_server_options(create.options);
    send_accepted(response, service.create(create, call_options(listener, trust)));
  }));
  server.Get(R"(/v1/workspaces/([^/]+))", guarded([&](const httplib::Request& request, httplib::Response& response) {
    // ?refresh=false skips asking the provider (the CLI's own bookkeeping calls use it).
    bool refresh = !request.has_param("refresh") || request.get_param_value("refresh") != "false";
    std::string name = request.matches[1];
    std::string status_error;
    Json body = refresh ? service.refreshed_workspace(name, &status_error) : service.workspace(name);
    if (!status_error.empty()) body["status_error"] = status_error;  // the record is the last one berth knew
    send_json(response, 200, body);
  }));
  server.Delete(R"(/v1/workspaces/([^/]+))", guarded([&](const httplib::Request& request, httplib::Response& response) {
    send_accepted(response, service.remove(request.matches[1], flag(request, "force"), flag(request, "keep_volume")));
  }));
  server.Post(R"(/v1/workspaces/([^/]+)/rebuild)", guarded([&, listener](const httplib::Request& request, httplib::Response& response) {
    // An optional body: {"trust": true} when the person agreed to the repository's host command.
    bool trust = false;
    if (!request.body.empty()) {
      Json body = parse_body(request);
      if (body.contains("trust") && !body["trust"].is_boolean()) throw invalid("field 'trust' must be true or false");
      trust = body.value("trust", false);
    }
    send_accepted(response, service.rebuild(request.matches[1], call_options(listener, trust)));
  }));
  // Several workspaces at once (the dashboard's selection): each is accepted or refused on its
  // own, in order; the answer says which, with the ticket to follow each one's log.
  server.Post(R"(/v1/bulk/(start|stop|rebuild|delete))", guarded([&, listener](const httplib::Request& request, httplib::Response& response) {
    Json body = parse_body(request);
    auto names = body.find("workspaces");
    if (names == body.end() || !names->is_array() || names->empty() || names->size() > 1000) {
      throw invalid("field 'workspaces' must be a list of 1 to 1000 workspace names");
    }
    for (const auto& name : *names) {
      if (!name.is_string()) throw invalid("field 'workspaces' must hold workspace names (strings)");
    }
    if (body.contains("force") && !body["force"].is_boolean()) throw invalid("field 'force' must be true or false");
    bool force = body.value("force", false);
    std::string action = request.matches[1];
    Json results = Json::array();
    for (const auto& entry : *names) {
      std::string name = entry.get<std::string>();
      try {
        WorkspaceService::Accepted accepted = action == "start"  ? service.start(name)
                                              : action == "stop" ? service.stop(name)
                                              : action == "rebuild" ? service.rebuild(name, call_options(listener, false))
                                                                    : service.remove(name, force, false);
        Json result{{"workspace", name}, {"ok", true}};
        if (accepted.log_ticket > 0) result["ticket"] = accepted.log_ticket;
        if (accepted.log_offset >= 0) result["offset"] = accepted.log_offset;
        results.push_back(result);
      } catch (const Error& error) {
        results.push_back({{"workspace", name}, {"ok", false}, {"error", {{"code", error.code()}, {"message", error.what()}}}});
      }
    }
    send_json(response, 200, Json{{"results", results}});
  }));
  server.Post(R"(/v1/workspaces/([^/]+)/start)", guarded([&](const httplib::Request& request, httplib::Response& response) {
    send_accepted(response, service.start(request.matches[1]));
  }));
  server.Post(R"(/v1/workspaces/([^/]+)/stop)", guarded([&](const httplib::Request& request, httplib::Response& response) {
    send_accepted(response, service.stop(request.matches[1]));
  }));

  server.Get(R"(/v1/workspaces/([^/]+)/logs)", guarded([&](const httplib::Request& request, httplib::Response& response) {
    std::string name = request.matches[1];
    require_valid_name("workspace", name);
    auto path = service.logs().path_of(name);
    // The log outlives its workspace, so a client that follows a delete which already ended
    // still reads how it ended.
    if (home_file_size(path) < 0) service.workspace(name);  // 404 for an unknown workspace
    if (!flag(request, "follow")) {
      response.set_content(read_home_file(path).value_or(""), "text/plain; charset=utf-8");
      return;
    }
    long long start = 0;
    if (request.has_param("offset")) {
      // Digits only: a negative offset never reads anything and would spin the follow loop.
      std::string text = request.get_param_value("offset");
      bool digits = !text.empty() && text.size() <= 18 && text.find_first_not_of("0123456789") == std::string::npos;
      if (!digits) throw invalid("offset '" + text.substr(0, 40) + "' must be a whole number of bytes from 0 on");
      start = std::stoll(text);
    }
    unsigned long long until = 0;  // ?until=TICKET: only until that operation ends (X-Berth-Log-Ticket)
    if (request.has_param("until")) {
      std::string text = request.get_param_value("until");
      if (text.empty() || text.size() > 18 || text.find_first_not_of("0123456789") != std::string::npos) {
        throw invalid("until '" + text.substr(0, 40) + "' must be an operation number (X-Berth-Log-Ticket)");
      }
      until = std::stoull(text);
    }
    // ?outcome=true: the follow ends with the operation's typed result on a line of its own,
    // after a record separator (RFC 7464's 0x1E): {"operation", "ok", "code", "message",
    // "deleted", "left_behind", "workspace"} of operation `until` (or of the last one that ended).
    bool with_outcome = flag(request, "outcome");
    auto offset = std::make_shared<long long>(start);
    // Not text/*: cpp-httplib would compress a text stream for a browser (Accept-Encoding: br),
    // and its compressor holds every line back until the stream ends.
    response.set_chunked_content_provider("application/octet-stream", [&service, name, path, offset, until, with_outcome](size_t, httplib::DataSink& sink) {
      bool more = service.logs().wait_for_more(name, *offset, std::chrono::milliseconds(500), until);
      if (std::string fresh = read_home_file_from(path, *offset); !fresh.empty()) {
        if (!sink.write(fresh.data(), fresh.size())) return false;
        *offset += static_cast<long long>(fresh.size());
        return true;
      }
      if (!more) {
        if (with_outcome) {
          std::string outcome = service.logs().outcome(name, until);
          if (!outcome.empty()) {
            std::string line = "\x1e" + outcome + "\n";
            sink.write(line.data(), line.size());
          }
        }
        sink.done();
      }
      return sink.is_writable();
    });
  }));

  // Server-sent events: every saved or removed workspace record as it happens (the dashboard's
  // list, anyone's live view). Last-Event-ID (or ?after=ID) resumes after an event seen; a
  // comment every 15 s keeps proxies from closing an idle stream.
  server.Get("/v1/events", guarded([&](const httplib::Request& request, httplib::Response& response) {
    std::string after_text = request.has_header("Last-Event-ID") ? request.get_header_value("Last-Event-ID")
                             : request.has_param("after")        ? request.get_param_value("after")
                                                                 : "";
    auto cursor = std::make_shared<unsigned long long>(service.events().last_id());
    if (!after_text.empty()) {
      if (after_text.size() > 18 || after_text.find_first_not_of("0123456789") != std::string::npos) {
        throw invalid("Last-Event-ID '" + after_text.substr(0, 40) + "' must be an event number");
      }
      *cursor = std::stoull(after_text);
    }
    response.set_header("Cache-Control", "no-store");
    auto greeted = std::make_shared<bool>(false);
    response.set_chunked_content_provider("text/event-stream", [&service, cursor, greeted](size_t, httplib::DataSink& sink) {
      if (!*greeted) {
        // At once, so the client's stream opens now and not with the first change.
        *greeted = true;
        return sink.write(": hello\n\n", 9);
      }
      auto events = service.events().wait_after(*cursor, std::chrono::seconds(15));
      std::string text;
      for (const auto& event : events) {
        text += "id: " + std::to_string(event.id) + "\nevent: " + event.type + "\ndata: " + event.data + "\n\n";
        *cursor = event.id;
      }
      if (service.events().closed()) {
        sink.done();
        return true;
      }
      if (text.empty()) text = ": idle\n\n";
      return sink.write(text.data(), text.size());
    });
  }));

  server.Post(R"(/v1/workspaces/([^/]+)/exec)", guarded([&](const httplib::Request& request, httplib::Response& response) {
    std::string name = request.matches[1];
    auto exec = std::make_shared<ExecRequest>(parse_exec_request(request.body));
    service.check_exec(name, *exec);  // refusals get their own status before the stream starts
    response.set_chunked_content_provider(kExecContentType, [&service, name, exec](size_t, httplib::DataSink& sink) {
      FrameSink frames(sink);
      std::string last;
      try {
        int code = service.exec(name, *exec, frames);
        last = encode_frame('x', std::to_string(code));
      } catch (const Error& error) {
        last = encode_frame('!', Json{{"error", {{"code", error.code()}, {"message", error.what()}}}}.dump());
      } catch (const std::exception& error) {
        last = encode_frame('!', Json{{"error", {{"code", "internal"}, {"message", error.what()}}}}.dump());
      }
      sink.write(last.data(), last.size());
      sink.done();
      return true;
    });
  }));
}

}  // namespace berth
