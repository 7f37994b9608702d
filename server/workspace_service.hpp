#pragma once
// The state the server owns: targets and workspaces, kept in memory and written through to
// one YAML file per record; lifecycle operations run here, on the runner's bounded pool, each
// a call into the workspace's provider process.
#include "home.hpp"
#include "event_bus.hpp"
#include "idle_stop.hpp"
#include "log_book.hpp"
#include "operation_runner.hpp"
#include "provider_registry.hpp"
#include "provider_watch.hpp"
#include "record_folder.hpp"
#include "target_document.hpp"

#include <berth/api.hpp>

#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

namespace berth {

// Refuses what a command cannot be given (a NUL byte in an argument or the environment, an env
// name a shell cannot take), naming the argument: invalid.
void check_session_request(const SessionRequest& request);

class WorkspaceService {
 public:
  WorkspaceService(Home home, ProviderRegistry& providers, LogBook& logs);
  ~WorkspaceService();

  // Reads every record and creates the default target on first start. Records left in a
  // transitional state stay busy until reconcile() settles them. Returns one line per problem.
  std::vector<std::string> load();
  // Settles, in the background, each record load() found mid-operation by asking its provider
  // (with a deadline); `report` gets one line per record. Returns at once.
  void reconcile(const std::function<void(const std::string&)>& report);
  // Starts, in the background, the watch of each provider that has workspaces (and of each
  // that gets one later): what a provider reports changed outside berth updates the records
  // (provider_watch.hpp). `report` gets the watches' notes. Returns at once.
  void start_watches(const std::function<void(const std::string&)>& report);

  std::vector<Target> targets() const;
  Target target(const std::string& name) const;
  Target add_target(TargetDocument document);
  // Returns a warning when the provider could not release what it kept for the target (its
  // warm pool); the target is removed either way.
  std::string remove_target(const std::string& name, bool force);
  Target set_default_target(const std::string& name);
  TargetCheck check_target(const std::string& name);

  // Visits every record in name order under the lock, without copying them.
  void for_each_workspace(const std::function<void(const Workspace&)>& visit) const;
  Workspace workspace(const std::string& name) const;
  // The record after asking its provider for the real state (an idle workspace whose
  // infrastructure was stopped, started or removed behind berth's back is updated and saved).
  // status_error: why the provider could not tell (the record returned is then the stored one).
  Workspace refreshed_workspace(const std::string& name, std::string* status_error = nullptr);

  struct Accepted {
    Workspace record;
    long long log_offset = 0;
    unsigned long long log_ticket = 0;  // the operation's number on its log (LogBook::begin)
  };
  // call_options go to the provider with this call only, never saved on the record (who asked:
  // berth.client, berth.host_commands; trust): see http_api.cpp's request_options.
  Accepted create(const WorkspaceRequest& request, const StringMap& call_options = {});
  Accepted start(const std::string& name);
  Accepted stop(const std::string& name);
  // keep_volume: the provider leaves the user's working tree (a volume) for a later create.
  Accepted remove(const std::string& name, bool force, bool keep_volume = false);
  // Makes the infrastructure again from its definition, keeping the working tree.
  Accepted rebuild(const std::string& name, const StringMap& call_options = {});
  // Throws what exec would refuse with (unknown workspace, not started, no command).
  void check_exec(const std::string& name, const ExecRequest& request) const;
  // Runs a command with all of its stdin given (POST .../exec); a session without a terminal.
  int exec(const std::string& name, const ExecRequest& request, OutputSink& output);
  // Throws what a session or port connection would be refused for (unknown workspace, not
  // started) before its stream begins.
  void check_started(const std::string& name) const;
  // An interactive session: the client's input comes from `input`, the output goes to
  // `output`; returns the exit code. A session without a terminal has the target's
  // exec_timeout; one with a terminal has none.
  int session(const std::string& name, const SessionRequest& request, OutputSink& output, StreamInput& input);
  // Relays a connection to TCP port `port` in the workspace until either side closes.
  void connect(const std::string& name, int port, OutputSink& output, StreamInput& input);

  // Idle auto-stop's view (server/idle_stop.hpp): each workspace with its auto_stop (the
  // create's --auto-stop / --keep-alive, else its target's; berth.keep-alive opts out) and its
  // target's auto_delete; the provider's CPU counter (negative: not known); open streams.
  std::vector<IdleStop::Candidate> idle_candidates() const;  // settled records only
  IdleStop::Candidate idle_candidate(const std::string& name) const;  // busy or not; not_found
  double cpu_seconds(const std::string& name);
  Activity& activity() { return activity_; }

  LogBook& logs() { return logs_; }
  // Every saved or removed record, pushed (GET /v1/events).
  EventBus& events() { return events_; }

  // Refuses new operations, ends every exec, waits up to grace for running operations, then
  // stops every provider host (the calls still running fail and their records say so), and
  // ends every log follow.
  void shutdown(std::chrono::milliseconds grace);

 private:
  void validate_with_provider(const Target& target, const std::function<std::string(const std::string&)>& line);
  ProviderReply call_for_target(const Target& target, const char* method, std::chrono::seconds timeout, const char* source);
  enum class Operation { create, start, stop, destroy, rebuild };
  struct Plan {
    Operation operation;
    WorkspaceState during;
    bool force = false;
    bool keep_volume = false;
    WorkspaceState before = WorkspaceState::error;  // the state the operation found
    StringMap call_options = {};                     // given to the provider with this call only
    unsigned long long ticket = 0;                   // the operation's number on its log
  };
  // One call into the workspace's provider; provider_data is updated from the reply.
  ProviderReply call_provider(const std::string& method, Workspace& workspace, const Target& target,
                              ProgressSink& progress, std::chrono::seconds timeout, const std::string& timeout_source,
                              OutputSink* output = nullptr, const ExecRequest* exec = nullptr);
  // A session or connect call, counted so shutdown can end it.
  ProviderReply stream_call(const std::string& method, const std::string& name, OutputSink& output, StreamInput& input,
                            const SessionRequest* session, int port);
  Accepted begin_operation(const std::string& name, Plan plan);
  void run_operation(const std::string& name, Plan plan);
  void finish_operation();  // under no lock: one fewer running, wakes shutdown
  // ticket: its operation number on the log when the caller began it there already (0: begins it).
  void run_after_ready(const std::string& name, const std::string& what, unsigned long long ticket = 0);
  void save_workspace(const Workspace& workspace);  // writes the file; caller owns the record
  Target target_with_defaults(const std::string& name) const;  // under mutex_, raw secrets
  // The target a lifecycle operation runs with; a delete still runs when the target was removed
  // (target remove --force), with no properties: the provider works from its provider_data.
  Target operation_target(const Workspace& workspace, bool deleting) const;
  Target masked(const Target& target) const;
  std::string provider_data_dir(const std::string& provider) const;
  std::string reconcile_one(const std::string& name);
  // A change a provider's watch reported: for a settled record of that provider (name and
  // provider_data as the change says), the provider's status decides, as in refreshed_workspace;
  // a record busy with an operation is looked at again when the operation ends.
  void apply_change(const std::string& provider, const InfraChange& change);
  // The provider's status of a record seen at `epoch`, within berth's refresh deadline;
  // nothing when the provider cannot tell.
  std::optional<Status> ask_status(const Workspace& seen, const std::string& deadline_source, std::string* error = nullptr);
  // Records what the provider found when the record is still as seen (no operation began or
  // ended since, same state); returns the record as it now is.
  Workspace settle_found(const Workspace& seen, uint64_t epoch, const Status& status);
  // Under mutex_: the record's provider watches it as it now is (the watch made when needed);
  // unwatch when the record is gone.
  void watch_workspace(const Workspace& workspace);
  void unwatch_workspace(const Workspace& workspace);
  WatchedWorkspace watched_of(const Workspace& workspace) const;  // under mutex_
  void update_secrets();  // under mutex_: the redactor learns every secret property value
  IdleStop::Candidate candidate_of(const Workspace& workspace, long long now) const;  // under mutex_

  Home home_;
  ProviderRegistry& providers_;
  LogBook& logs_;
  EventBus events_;
  RecordFolder target_files_;
  RecordFolder workspace_files_;

  mutable std::mutex mutex_;
  std::condition_variable idle_;
  std::map<std::string, Target> targets_;
  std::map<std::string, Workspace> workspaces_;
  std::string default_target_;
  int running_ = 0;
  int execs_ = 0;  // execs in flight: shutdown cancels them and waits for them to end
  bool shutting_down_ = false;
  std::vector<std::string> to_reconcile_;
  std::vector<std::string> to_finish_;  // started records whose after-ready work was cut short
  // Bumped when an operation claims a record: a status asked before must not overwrite what
  // the operation did.
  std::map<std::string, uint64_t> epochs_;
  // Provider watches, by provider; made with a provider's first record, started by
  // start_watches, never removed before shutdown.
  std::map<std::string, std::unique_ptr<ProviderWatch>> watches_;
  bool watching_ = false;
  std::function<void(const std::string&)> watch_report_;
  std::set<std::string> recheck_;  // reported on while busy: looked at again when the operation ends
  Activity activity_;  // streams open per workspace (exec, session, port connection)
  // Owns every operation's thread: bounded, and shutdown waits for each.
  OperationRunner runner_{64};
};

}  // namespace berth
