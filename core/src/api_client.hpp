#pragma once
// The REST client of the berth API, over the home's Unix socket or TCP.
#include "http_client.hpp"

#include <berth/api.hpp>

#include <functional>
#include <memory>
#include <string>

namespace berth {

struct Endpoint {
  std::string address;  // unix:///path/to/berth.sock, http://host:port or https://host:port
  std::string api_key;  // sent as Authorization: Bearer, when not empty
  TlsClientOptions tls = {};  // for https://: the CA, a pinned fingerprint, a client certificate
  std::string plugin_token = {};  // a plugin's own credential (X-Berth-Plugin-Token): the server holds it to the plugin's grants
};

class ApiClient : public Api {
 public:
  explicit ApiClient(Endpoint endpoint);
  // With a stream: each request, its answer's status, its time and the server's (berth -v).
  void set_trace(std::ostream* trace) { trace_ = trace; }
  // From now on, every request acts for a plugin, with its credential (a plugin command's child).
  void act_for_plugin(const std::string& token) {
    endpoint_.plugin_token = token;
    client_.reset();
  }
  ~ApiClient() override;

  // True when the server answers GET /v1/health.
  bool healthy();
  // Called once when a request finds nobody listening on a Unix socket; the request is then
  // tried again (the CLI starts the local server there).
  void on_absent_server(std::function<void()> start_server) { start_server_ = std::move(start_server); }
  // Called once, with the server's version, when its major.minor differs from this client's
  // (read from the X-Berth-Version header of the first answer that has one).
  void on_version_mismatch(std::function<void(const std::string&)> warn) { warn_version_ = std::move(warn); }
  // True when the last failure was "nobody listens there" (no socket, or refused).
  bool last_failure_was_absent_server() const { return absent_server_; }
  const Endpoint& endpoint() const { return endpoint_; }

  std::string server_version() override;
  std::vector<Workspace> list_workspaces() override;
  // Only the named fields (comma-separated) of each workspace: a smaller answer to read.
  std::vector<Workspace> list_workspaces(const std::string& fields);
  Workspace get_workspace(const std::string& name) override;
  // The same, and why its provider could not say the workspace's real state (empty when it
  // did): the record is then berth's last known one.
  Workspace get_workspace(const std::string& name, std::string& status_error);
  Workspace create_workspace(const WorkspaceRequest& request, ProgressSink* follow) override;
  Workspace start_workspace(const std::string& name, ProgressSink* follow) override;
  Workspace stop_workspace(const std::string& name, ProgressSink* follow) override;
  std::string delete_workspace(const std::string& name, bool force, ProgressSink* follow) override;
  std::string delete_workspace(const std::string& name, bool force, bool keep_volume, ProgressSink* follow) override;
  Workspace rebuild_workspace(const std::string& name, ProgressSink* follow) override;
  // trust: the person agreed to the definition's initializeCommand (berth rebuild --trust).
  Workspace rebuild_workspace(const std::string& name, ProgressSink* follow, bool trust);
  int exec(const std::string& name, const ExecRequest& request, OutputSink& output) override;
  std::string workspace_log(const std::string& name) override;
  // Opens a stream route (POST path with a JSON body and "Upgrade: berth-stream", see
  // server/stream_routes.hpp) and returns its socket once the server switched protocols;
  // throws the server's refusal as berth::Error. The caller owns (closes) the socket.
  int open_stream(const std::string& path, const std::string& body);
  // Follows the log from byte offset until the running operation ends.
  // until: an operation's number (X-Berth-Log-Ticket) to stop following at its end; empty:
  // until no operation runs. outcome, when given, gets the followed operation's typed result
  // (the JSON object the server sends after its last line; "" from a server without them).
  void follow_log(const std::string& name, long long offset, ProgressSink& sink, const std::string& until = "",
                  std::string* outcome = nullptr);

  std::vector<Target> list_targets() override;
  Target get_target(const std::string& name) override;
  Target add_target(const Target& target) override;
  // Sends a target file as the user wrote it, so errors can name its lines.
  Target add_target_yaml(const std::string& yaml_text, const std::string& source);
  void remove_target(const std::string& name, bool force) override;
  Target set_default_target(const std::string& name) override;
  TargetCheck check_target(const std::string& name) override;

  std::vector<ProviderStatus> list_providers() override;
  ProviderStatus get_provider(const std::string& name) override;
  ProviderStatus enable_provider(const std::string& name) override;
  ProviderStatus disable_provider(const std::string& name) override;
  std::string provider_log(const std::string& name) override;

  // The outcome (JSON) of the last operation followed to its end; "" when none was.
  const std::string& last_outcome() const { return last_outcome_; }

  std::ostream* trace_ = nullptr;
  struct Reply {
    int status = 0;
    std::string body;
    std::string log_offset;
    std::string log_ticket;  // the operation's number on the log: follow only until it ends
  };
  // One request; throws unavailable when the server cannot be reached, and berth::Error with
  // the server's code for an error answer.
  Reply call(const std::string& method, const std::string& path, const std::string& body = "",
             const std::string& content_type = "application/json");

 private:
  Workspace run_operation(const std::string& name, const std::string& path, const std::string& body,
                          ProgressSink* follow, bool expect_gone);
  HttpClient& connection();

  void check_version(const std::string& server_version);

  Endpoint endpoint_;
  std::unique_ptr<HttpClient> client_;
  std::function<void(const std::string&)> warn_version_;
  bool version_checked_ = false;
  std::string last_outcome_;
  bool absent_server_ = false;
  std::function<void()> start_server_;
};

}  // namespace berth
