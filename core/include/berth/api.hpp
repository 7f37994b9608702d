#pragma once
/// The typed berth API: what the CLI uses, and what a plugin's Context hands it.
/// Every call goes to the server over REST; failures throw berth::Error with the server's code.
#include <berth/io.hpp>
#include <berth/sdk.hpp>
#include <berth/types.hpp>

#include <string>
#include <vector>

namespace berth {

/// What `berth create` asks for.
struct WorkspaceRequest {
  std::string name;
  std::string target;      ///< empty: the default target
  std::string repository;  ///< URL or absolute local path; empty for none
  std::string image;
  StringMap env;
  StringMap options;  ///< create options for the provider (Workspace::options)
  StringMap labels;   ///< the user's labels (Workspace::labels)
};

class Api {
 public:
  virtual ~Api() = default;

  virtual std::string server_version() = 0;

  virtual std::vector<Workspace> list_workspaces() = 0;
  virtual Workspace get_workspace(const std::string& name) = 0;
  /// Lifecycle calls start the operation on the server. With a progress sink they follow its
  /// log until it ends and return the final record (throwing if it failed); with nullptr they
  /// return the record at once.
  virtual Workspace create_workspace(const WorkspaceRequest& request, ProgressSink* follow) = 0;
  virtual Workspace start_workspace(const std::string& name, ProgressSink* follow) = 0;
  virtual Workspace stop_workspace(const std::string& name, ProgressSink* follow) = 0;
  /// With force the record goes even when the provider fails; the returned text says what
  /// may be left behind (empty when nothing).
  virtual std::string delete_workspace(const std::string& name, bool force, ProgressSink* follow) = 0;
  /// Runs a command in a started workspace; returns its exit code.
  virtual int exec(const std::string& name, const ExecRequest& request, OutputSink& output) = 0;
  virtual std::string workspace_log(const std::string& name) = 0;

  virtual std::vector<Target> list_targets() = 0;
  virtual Target get_target(const std::string& name) = 0;
  virtual Target add_target(const Target& target) = 0;
  virtual void remove_target(const std::string& name, bool force) = 0;
  virtual Target set_default_target(const std::string& name) = 0;
  /// Asks the target's provider whether its infrastructure is reachable.
  virtual TargetCheck check_target(const std::string& name) = 0;

  virtual std::vector<ProviderStatus> list_providers() = 0;
  virtual ProviderStatus get_provider(const std::string& name) = 0;
  /// Lifts a provider's quarantine, refusal or disable (SDK 1.1); disable stops its process.
  virtual ProviderStatus enable_provider(const std::string& name) = 0;
  virtual ProviderStatus disable_provider(const std::string& name) = 0;
  /// What the provider printed: logs/providers/NAME.log (SDK 1.1).
  virtual std::string provider_log(const std::string& name) = 0;

  // Added after 1.2 (at the end, so a plugin built before them still finds the others):
  /// Makes the workspace's infrastructure again from its definition (a changed
  /// devcontainer.json, a new image), keeping its working tree; follows as the lifecycle calls.
  virtual Workspace rebuild_workspace(const std::string& name, ProgressSink* follow) = 0;
  /// delete_workspace that, with keep_volume, leaves the working tree's volume for a later create.
  virtual std::string delete_workspace(const std::string& name, bool force, bool keep_volume, ProgressSink* follow) = 0;
};

}  // namespace berth
