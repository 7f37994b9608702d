#pragma once
// The state the server owns: targets and workspaces, kept in memory and written through to
// one YAML file per record; lifecycle operations run here, in their own threads.
#include "home.hpp"
#include "log_book.hpp"
#include "provider_registry.hpp"
#include "record_folder.hpp"
#include "target_document.hpp"

#include <berth/api.hpp>

#include <chrono>
#include <condition_variable>
#include <thread>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace berth {

class WorkspaceService {
 public:
  WorkspaceService(Home home, ProviderRegistry& providers, LogBook& logs);
  ~WorkspaceService();

  // Reads every record, creates the default target on first start, and reconciles records
  // left in a transitional state by asking their provider. Returns one line per problem found.
  std::vector<std::string> load();

  std::vector<Target> targets() const;
  Target target(const std::string& name) const;
  Target add_target(TargetDocument document);
  void remove_target(const std::string& name, bool force);
  Target set_default_target(const std::string& name);
  TargetCheck check_target(const std::string& name);

  // Visits every record in name order under the lock, without copying them.
  void for_each_workspace(const std::function<void(const Workspace&)>& visit) const;
  Workspace workspace(const std::string& name) const;
  // The record after asking its provider for the real state (an idle workspace whose
  // infrastructure was stopped, started or removed behind berth's back is updated and saved).
  Workspace refreshed_workspace(const std::string& name);

  struct Accepted {
    Workspace record;
    long long log_offset = 0;
  };
  Accepted create(WorkspaceRequest request);
  Accepted start(const std::string& name);
  Accepted stop(const std::string& name);
  Accepted remove(const std::string& name, bool force);
  // Throws what exec would refuse with (unknown workspace, not started, no command).
  void check_exec(const std::string& name, const ExecRequest& request) const;
  int exec(const std::string& name, const ExecRequest& request, OutputSink& output);

  LogBook& logs() { return logs_; }

  // Refuses new operations, waits up to grace for running ones, then fails those still
  // running (their records say so) and ends every log follow.
  void shutdown(std::chrono::milliseconds grace);

 private:
  enum class Operation { create, start, stop, destroy };
  struct Plan {
    Operation operation;
    WorkspaceState during;
    bool force = false;
    uint64_t id = 0;
  };
  // An operation in flight and when it must have ended (the target's `timeout`).
  struct RunningOperation {
    uint64_t id;
    std::string operation;
    std::chrono::steady_clock::time_point deadline;
    long timeout_seconds;
  };
  uint64_t track(const std::string& name, const std::string& operation, const Target& target);  // under mutex_
  void untrack(const std::string& name);                                                          // under mutex_
  void reap_expired();

  Accepted begin_operation(const std::string& name, Operation operation, bool force);
  void run_operation(std::string name, Plan plan);
  void save_workspace(const Workspace& workspace);  // writes the file; caller owns the record
  Target target_with_defaults(const std::string& name) const;  // under mutex_, raw secrets
  // The target a lifecycle operation runs with; a delete still runs when the target was removed
  // (target remove --force), with no properties: the provider works from its provider_data.
  Target operation_target(const Workspace& workspace, bool deleting) const;
  Target masked(const Target& target) const;
  std::string provider_data_dir(const std::string& provider) const;
  void reconcile(Workspace& workspace, std::vector<std::string>& problems);

  Home home_;
  ProviderRegistry& providers_;
  LogBook& logs_;
  RecordFolder target_files_;
  RecordFolder workspace_files_;

  mutable std::mutex mutex_;
  std::condition_variable idle_;
  std::map<std::string, Target> targets_;
  std::map<std::string, Workspace> workspaces_;
  std::string default_target_;
  int running_ = 0;
  bool shutting_down_ = false;
  std::map<std::string, RunningOperation> running_operations_;
  uint64_t next_operation_id_ = 0;
  std::thread reaper_;
  std::condition_variable reaper_wake_;
  bool reaper_stop_ = false;
};

}  // namespace berth
