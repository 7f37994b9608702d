#include "workspace_service.hpp"

#include "clock.hpp"
#include "codec.hpp"
#include "errors.hpp"
#include "names.hpp"

#include <algorithm>
#include <thread>

namespace fs = std::filesystem;

namespace berth {
namespace {

constexpr long kDefaultTimeoutSeconds = 600;

const char* operation_name(int operation) {
  static const char* names[] = {"create", "start", "stop", "delete"};
  return names[operation];
}

// Progress of an operation goes to the workspace's log.
class LogProgress : public ProgressSink {
 public:
  LogProgress(LogBook& logs, std::string name) : logs_(logs), name_(std::move(name)) {}
  void line(std::string_view text) override { logs_.append(name_, text); }

 private:
  LogBook& logs_;
  std::string name_;
};

bool is_valid_env_key(const std::string& key) {
  if (key.empty() || key.size() > 256 || (key[0] >= '0' && key[0] <= '9')) return false;
  return std::all_of(key.begin(), key.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

void check_repository(const std::string& repository) {
  if (repository.empty()) return;
  bool url = repository.find("://") != std::string::npos;
  bool scp_like = repository.find('@') != std::string::npos && repository.find(':') != std::string::npos;
  if (!url && !scp_like && repository.front() != '/') {
    throw invalid("repository '" + repository + "' must be a URL or an absolute path");
  }
}

}  // namespace

WorkspaceService::WorkspaceService(Home home, ProviderRegistry& providers, LogBook& logs)
    : home_(std::move(home)),
      providers_(providers),
      logs_(logs),
      target_files_(home_.targets_dir()),
      workspace_files_(home_.workspaces_dir()) {}

WorkspaceService::~WorkspaceService() {
  {
    std::lock_guard lock(mutex_);
    reaper_stop_ = true;
  }
  reaper_wake_.notify_all();
  if (reaper_.joinable()) reaper_.join();
}

uint64_t WorkspaceService::track(const std::string& name, const std::string& operation, const Target& target) {
  long timeout = kDefaultTimeoutSeconds;
  if (auto it = target.properties.find("timeout"); it != target.properties.end()) {
    try {
      timeout = std::stol(it->second);
    } catch (const std::exception&) {
    }
  }
  uint64_t id = ++next_operation_id_;
  running_operations_[name] = {id, operation, std::chrono::steady_clock::now() + std::chrono::seconds(timeout), timeout};
  ++running_;
  return id;
}

void WorkspaceService::untrack(const std::string& name) {
  running_operations_.erase(name);
  --running_;
  idle_.notify_all();
}

// Fails every operation past its deadline: the record says why, the workspace is free again,
// and whatever the provider returns later is ignored (run_operation finds it untracked).
void WorkspaceService::reap_expired() {
  std::unique_lock lock(mutex_);
  while (!reaper_stop_) {
    reaper_wake_.wait_for(lock, std::chrono::milliseconds(200));
    auto now = std::chrono::steady_clock::now();
    for (auto it = running_operations_.begin(); it != running_operations_.end();) {
      if (it->second.deadline > now) {
        ++it;
        continue;
      }
      std::string name = it->first;
      RunningOperation expired = it->second;
      it = running_operations_.erase(it);
      --running_;
      auto record = workspaces_.find(name);
      if (record == workspaces_.end()) continue;
      Workspace& w = record->second;
      w.state = WorkspaceState::error;
      w.operation.clear();
      w.updated_at = now_rfc3339();
      w.last_error = expired.operation + " timed out after " + std::to_string(expired.timeout_seconds) +
                     " s (the target's timeout); the provider may still be at work: berth delete " + name + " --force";
      try {
        save_workspace(w);
      } catch (const std::exception& error) {
        w.last_error += " (and the record could not be saved: " + std::string(error.what()) + ")";
      }
      logs_.append(name, "==> " + expired.operation + " failed: timed out after " + std::to_string(expired.timeout_seconds) + " s");
      logs_.end(name);
    }
    idle_.notify_all();
  }
}

std::vector<std::string> WorkspaceService::load() {
  std::vector<std::string> problems;
  Json settings = Json::object();
  if (auto text = read_file(home_.settings_path())) {
    try {
      settings = yaml_to_json(*text, home_.settings_path().string());
    } catch (const std::exception& error) {
      problems.push_back(error.what());
    }
  }
  if (settings.is_object()) default_target_ = settings.value("default_target", "");

  for (const auto& stored : target_files_.load_all()) {
    try {
      Target target = target_from_yaml(stored.text, stored.path.string());
      if (target.name != stored.name) throw invalid(stored.path.string() + ": name '" + target.name + "' does not match the file name");
      targets_[target.name] = std::move(target);
    } catch (const std::exception& error) {
      problems.push_back(std::string("skipped target: ") + error.what());
    }
  }

  bool initialized = settings.is_object() && settings.value("initialized", "") == "true";
  if (!initialized) {
    if (targets_.empty() && providers_.find("host") && !providers_.find("host")->broken) {
      TargetDocument local;
      local.source = "built-in default";
      local.target = Target{"local", "host", {}, false};
      validate_target_properties(local, providers_.find("host")->info);
      target_files_.save("local", target_to_yaml(local.target));
      targets_["local"] = local.target;
      default_target_ = "local";
    }
    write_file_atomically(home_.settings_path(),
                          json_to_yaml(Json{{"initialized", "true"}, {"default_target", default_target_}}));
  }

  for (const auto& stored : workspace_files_.load_all()) {
    try {
      Workspace workspace = workspace_from_yaml(stored.text, stored.path.string());
      if (workspace.name != stored.name) throw invalid(stored.path.string() + ": name '" + workspace.name + "' does not match the file name");
      if (is_transitional(workspace.state) || !workspace.operation.empty()) reconcile(workspace, problems);
      workspaces_[workspace.name] = std::move(workspace);
    } catch (const std::exception& error) {
      problems.push_back(std::string("skipped workspace: ") + error.what());
    }
  }
  reaper_ = std::thread(&WorkspaceService::reap_expired, this);
  return problems;
}

void WorkspaceService::reconcile(Workspace& workspace, std::vector<std::string>& problems) {
  std::string interrupted = workspace.operation.empty() ? to_string(workspace.state) : workspace.operation;
  WorkspaceState was = workspace.state;
  Status status;
  std::string cause;
  try {
    auto provider = providers_.instance(workspace.provider);
    Target target = target_with_defaults(workspace.target);
    LogProgress progress(logs_, workspace.name);
    std::string data_dir = provider_data_dir(workspace.provider);
    OperationContext context{workspace, target.properties, workspace.provider_data, progress, data_dir};
    status = provider->status(context);
  } catch (const std::exception& error) {
    cause = error.what();
  }
  workspace.operation.clear();
  workspace.updated_at = now_rfc3339();
  if (was == WorkspaceState::deleting) {
    workspace.state = WorkspaceState::error;
    workspace.last_error = "the server stopped during delete; run 'berth delete " + workspace.name + "' again";
  } else if (status.state == InfraState::started && was != WorkspaceState::stopping) {
    workspace.state = WorkspaceState::started;
    workspace.last_error.clear();
  } else if (status.state == InfraState::stopped && was != WorkspaceState::creating) {
    workspace.state = WorkspaceState::stopped;
    workspace.last_error.clear();
  } else {
    workspace.state = WorkspaceState::error;
    std::string found = !cause.empty() ? "its provider could not tell its state: " + cause
                        : status.state == InfraState::gone ? "its infrastructure is gone"
                        : status.detail.empty() ? "its state is uncertain" : status.detail;
    workspace.last_error = "the server stopped during " + interrupted + " and " + found + "; run 'berth " +
                           (was == WorkspaceState::stopping ? "stop " : "delete ") + workspace.name + "'";
  }
  logs_.append(workspace.name, "==> reconciled after a server restart: " + to_string(workspace.state) +
                                   (workspace.last_error.empty() ? "" : " (" + workspace.last_error + ")"));
  save_workspace(workspace);
  problems.push_back("reconciled workspace '" + workspace.name + "' left in " + interrupted + ": now " +
                     to_string(workspace.state));
}

// ---- targets ----

Target WorkspaceService::masked(const Target& target) const {
  Target shown = target;
  shown.is_default = target.name == default_target_;
  if (auto provider = providers_.find(target.provider)) shown.properties = masked_properties(target.properties, provider->info);
  return shown;
}

Target WorkspaceService::target_with_defaults(const std::string& name) const {
  std::lock_guard lock(mutex_);
  auto it = targets_.find(name);
  if (it == targets_.end()) throw not_found("target '" + name + "' does not exist (berth target list)");
  return it->second;
}

std::vector<Target> WorkspaceService::targets() const {
  std::lock_guard lock(mutex_);
  std::vector<Target> result;
  for (const auto& [name, target] : targets_) result.push_back(masked(target));
  return result;
}

Target WorkspaceService::target(const std::string& name) const {
  require_valid_name("target", name);
  std::lock_guard lock(mutex_);
  auto it = targets_.find(name);
  if (it == targets_.end()) throw not_found("target '" + name + "' does not exist (berth target list)");
  return masked(it->second);
}

// A target's `root` (a path property) holds the folders its provider makes and deletes, so it
// must be absolute and must not be, hold or lie inside berth's home or another target's root:
// a delete in one must never reach into the other.
Target WorkspaceService::operation_target(const Workspace& workspace, bool deleting) const {
  try {
    return target_with_defaults(workspace.target);
  } catch (const Error& error) {
    if (!deleting || error.code() != "not_found") throw;
    return Target{workspace.target, workspace.provider, {}, false};
  }
}

static void check_target_root(const Target& target, const ProviderInfo& provider, const Home& home,
                       const std::map<std::string, Target>& others, const std::string& where) {
  auto is_root = [](const PropertySpec& spec) { return spec.name == "root" && spec.type == PropertyType::path; };
  auto spec = std::find_if(provider.target_manifest.begin(), provider.target_manifest.end(), is_root);
  auto value = target.properties.find("root");
  if (spec == provider.target_manifest.end() || value == target.properties.end() || value->second.empty()) return;
  if (!fs::path(value->second).is_absolute()) {
    throw invalid(where + ": property 'root' must be an absolute path (got '" + value->second + "')");
  }
  auto resolved = [](const fs::path& path) {
    std::error_code error;
    fs::path real = fs::weakly_canonical(path, error);
    real = (error ? path : real).lexically_normal();
    return real.has_filename() ? real : real.parent_path();
  };
  auto overlaps = [](const fs::path& a, const fs::path& b) {  // equal, or one inside the other
    auto [left, right] = std::mismatch(a.begin(), a.end(), b.begin(), b.end());
    return left == a.end() || right == b.end();
  };
  fs::path root = resolved(value->second);
  for (const fs::path& own : {home.data_dir, home.config_dir}) {
    if (overlaps(root, resolved(own))) {
      throw invalid(where + ": property 'root' (" + value->second + ") must not be, hold or lie inside berth's home " + own.string() +
                    "; pick a folder outside it");
    }
  }
  for (const auto& [name, other] : others) {
    auto other_root = other.properties.find("root");
    if (name == target.name || other_root == other.properties.end() || other_root->second.empty()) continue;
    if (overlaps(root, resolved(other_root->second))) {
      throw invalid(where + ": property 'root' (" + value->second + ") must not be, hold or lie inside the root of target '" + name +
                    "' (" + other_root->second + "); give each target a folder of its own");
    }
  }
}

Target WorkspaceService::add_target(TargetDocument document) {
  Target& target = document.target;
  require_valid_name("target", target.name);
  auto provider = providers_.find(target.provider);
  auto line = [&](const std::string& key) {
    auto it = document.line_of.find(key);
    return document.source + (it == document.line_of.end() ? "" : ":" + std::to_string(it->second));
  };
  if (!provider) {
    std::string installed;
    for (const auto& status : providers_.list()) {
      if (!status.broken) installed += (installed.empty() ? "" : ", ") + status.info.name;
    }
    throw invalid(line("provider") + ": provider '" + target.provider + "' is not installed (installed: " +
                  (installed.empty() ? "none" : installed) + ")");
  }
  if (provider->broken) throw invalid(line("provider") + ": provider '" + target.provider + "' is broken: " + provider->reason);
  validate_target_properties(document, provider->info);
  target.is_default = false;
  std::lock_guard lock(mutex_);
  if (shutting_down_) throw unavailable("the server is shutting down");
  if (targets_.count(target.name)) {
    throw conflict("target '" + target.name + "' already exists; remove it first (berth target remove " + target.name + ")");
  }
  check_target_root(target, provider->info, home_, targets_, line("root"));
  target_files_.save(target.name, target_to_yaml(target));
  targets_[target.name] = target;
  return masked(target);
}

void WorkspaceService::remove_target(const std::string& name, bool force) {
  require_valid_name("target", name);
  std::lock_guard lock(mutex_);
  if (!targets_.count(name)) throw not_found("target '" + name + "' does not exist (berth target list)");
  std::vector<std::string> users;
  for (const auto& [workspace_name, workspace] : workspaces_) {
    if (workspace.target == name) users.push_back(workspace_name);
  }
  if (!users.empty() && !force) {
    std::string list;
    for (size_t i = 0; i < users.size() && i < 5; ++i) list += (i ? ", " : "") + users[i];
    if (users.size() > 5) list += ", ...";
    throw conflict("target '" + name + "' is used by " + std::to_string(users.size()) + " workspace(s) (" + list +
                   "); delete them first, or pass --force");
  }
  target_files_.remove(name);
  targets_.erase(name);
  if (default_target_ == name) {
    default_target_.clear();
    write_file_atomically(home_.settings_path(), json_to_yaml(Json{{"initialized", "true"}, {"default_target", ""}}));
  }
}

Target WorkspaceService::set_default_target(const std::string& name) {
  require_valid_name("target", name);
  std::lock_guard lock(mutex_);
  auto it = targets_.find(name);
  if (it == targets_.end()) throw not_found("target '" + name + "' does not exist (berth target list)");
  write_file_atomically(home_.settings_path(), json_to_yaml(Json{{"initialized", "true"}, {"default_target", name}}));
  default_target_ = name;
  return masked(it->second);
}

TargetCheck WorkspaceService::check_target(const std::string& name) {
  require_valid_name("target", name);
  Target target = target_with_defaults(name);
  try {
    auto provider = providers_.instance(target.provider);
    return provider->check_target(target.properties, provider_data_dir(target.provider));
  } catch (const std::exception& error) {
    return TargetCheck{false, error.what()};
  }
}

// ---- workspaces ----

void WorkspaceService::for_each_workspace(const std::function<void(const Workspace&)>& visit) const {
  std::lock_guard lock(mutex_);
  for (const auto& [name, workspace] : workspaces_) visit(workspace);
}

Workspace WorkspaceService::workspace(const std::string& name) const {
  require_valid_name("workspace", name);
  std::lock_guard lock(mutex_);
  auto it = workspaces_.find(name);
  if (it == workspaces_.end()) throw not_found("workspace '" + name + "' does not exist (berth list)");
  return it->second;
}

Workspace WorkspaceService::refreshed_workspace(const std::string& name) {
  Workspace seen = workspace(name);
  bool settled = seen.operation.empty() && (seen.state == WorkspaceState::started || seen.state == WorkspaceState::stopped);
  if (!settled) return seen;
  Status status;
  try {
    Target target = target_with_defaults(seen.target);
    auto provider = providers_.instance(seen.provider);
    LogProgress progress(logs_, name);
    std::string data_dir = provider_data_dir(seen.provider);
    Workspace copy = seen;
    OperationContext context{copy, target.properties, copy.provider_data, progress, data_dir};
    status = provider->status(context);
  } catch (const std::exception&) {
    return seen;  // the provider cannot tell now; the record stays as it was
  }
  WorkspaceState real = status.state == InfraState::started   ? WorkspaceState::started
                        : status.state == InfraState::stopped ? WorkspaceState::stopped
                        : status.state == InfraState::gone    ? WorkspaceState::error
                                                              : seen.state;
  if (real == seen.state) return seen;
  std::lock_guard lock(mutex_);
  auto it = workspaces_.find(name);
  // Changed meanwhile (an operation began or ended): that newer record wins.
  if (it == workspaces_.end() || !it->second.operation.empty() || it->second.updated_at != seen.updated_at ||
      it->second.state != seen.state) {
    return it == workspaces_.end() ? seen : it->second;
  }
  Workspace updated = it->second;
  updated.state = real;
  updated.updated_at = now_rfc3339();
  updated.last_error = real == WorkspaceState::error
                           ? (status.detail.empty() ? "its infrastructure is gone" : status.detail) +
                                 " (changed outside berth); delete the workspace: berth delete " + name
                           : "";
  save_workspace(updated);
  it->second = updated;
  logs_.append(name, "==> found " + to_string(real) + " outside berth" + (updated.last_error.empty() ? "" : ": " + updated.last_error));
  return updated;
}

void WorkspaceService::save_workspace(const Workspace& workspace) {
  workspace_files_.save(workspace.name, workspace_to_yaml(workspace));
}

std::string WorkspaceService::provider_data_dir(const std::string& provider) const {
  fs::path dir = home_.provider_data_dir() / provider;
  std::error_code error;
  fs::create_directories(dir, error);
  return dir.string();
}

WorkspaceService::Accepted WorkspaceService::create(WorkspaceRequest request) {
  require_valid_name("workspace", request.name);
  check_repository(request.repository);
  for (const auto& [key, value] : request.env) {
    if (!is_valid_env_key(key)) throw invalid("env name '" + key.substr(0, 80) + "' must be letters, digits and '_', not starting with a digit");
    if (value.size() > 65536) throw invalid("env value of '" + key + "' is longer than 65536 bytes");
  }
  if (request.env.size() > 256) throw invalid("at most 256 env variables");
  Workspace workspace;
  uint64_t operation_id = 0;
  {
    std::lock_guard lock(mutex_);
    if (shutting_down_) throw unavailable("the server is shutting down; try again when it is back");
    if (workspaces_.count(request.name)) {
      throw conflict("workspace '" + request.name + "' already exists (berth info " + request.name + ")");
    }
    std::string target_name = request.target.empty() ? default_target_ : request.target;
    if (target_name.empty()) {
      throw invalid("no --target given and no default target is set (berth target list; berth target set-default NAME)");
    }
    require_valid_name("target", target_name);
    auto target = targets_.find(target_name);
    if (target == targets_.end()) throw not_found("target '" + target_name + "' does not exist (berth target list)");
    providers_.instance(target->second.provider);  // a broken or missing provider fails now, not later
    workspace.name = request.name;
    workspace.target = target_name;
    workspace.provider = target->second.provider;
    workspace.repository = request.repository;
    workspace.image = request.image;
    workspace.env = request.env;
    workspace.state = WorkspaceState::creating;
    workspace.operation = "create";
    workspace.created_at = workspace.updated_at = now_rfc3339();
    workspaces_[workspace.name] = workspace;  // claims the name
    operation_id = track(workspace.name, "create", target->second);
  }
  Accepted accepted{workspace, 0};
  try {
    save_workspace(workspace);
  } catch (...) {
    std::lock_guard lock(mutex_);
    workspaces_.erase(workspace.name);
    untrack(workspace.name);
    throw;
  }
  accepted.log_offset = logs_.begin(workspace.name, true);
  std::thread(&WorkspaceService::run_operation, this, workspace.name,
              Plan{Operation::create, WorkspaceState::creating, false, operation_id})
      .detach();
  return accepted;
}

WorkspaceService::Accepted WorkspaceService::begin_operation(const std::string& name, Operation operation, bool force) {
  require_valid_name("workspace", name);
  Plan plan{operation, WorkspaceState::deleting, force};
  Workspace before;
  Workspace claimed;
  {
    std::lock_guard lock(mutex_);
    if (shutting_down_) throw unavailable("the server is shutting down; try again when it is back");
    auto it = workspaces_.find(name);
    if (it == workspaces_.end()) throw not_found("workspace '" + name + "' does not exist (berth list)");
    Workspace& workspace = it->second;
    if (!workspace.operation.empty()) {
      throw conflict("workspace '" + name + "' is busy: " + workspace.operation + " in progress (berth logs " + name + " -f)");
    }
    if (operation == Operation::start) {
      if (workspace.state == WorkspaceState::started) return Accepted{workspace, -1};
      plan.during = WorkspaceState::starting;
    } else if (operation == Operation::stop) {
      if (workspace.state == WorkspaceState::stopped) return Accepted{workspace, -1};
      plan.during = WorkspaceState::stopping;
    }
    before = workspace;
    workspace.state = plan.during;
    workspace.operation = operation_name(static_cast<int>(operation));
    workspace.updated_at = now_rfc3339();
    claimed = workspace;
    auto target = targets_.find(workspace.target);
    plan.id = track(name, workspace.operation, target == targets_.end() ? Target{} : target->second);
  }
  try {
    save_workspace(claimed);
  } catch (...) {
    std::lock_guard lock(mutex_);
    workspaces_[name] = before;
    untrack(name);
    throw;
  }
  long long offset = logs_.begin(name, false);
  std::thread(&WorkspaceService::run_operation, this, name, plan).detach();
  return Accepted{claimed, offset};
}

WorkspaceService::Accepted WorkspaceService::start(const std::string& name) {
  return begin_operation(name, Operation::start, false);
}

WorkspaceService::Accepted WorkspaceService::stop(const std::string& name) {
  return begin_operation(name, Operation::stop, false);
}

WorkspaceService::Accepted WorkspaceService::remove(const std::string& name, bool force) {
  return begin_operation(name, Operation::destroy, force);
}

void WorkspaceService::run_operation(std::string name, Plan plan) {
  const char* verb = operation_name(static_cast<int>(plan.operation));
  LogProgress progress(logs_, name);
  progress.line("==> " + std::string(verb) + " " + name + " at " + now_rfc3339());
  Workspace workspace = this->workspace(name);
  std::string failure;
  try {
    Target target = operation_target(workspace, plan.operation == Operation::destroy);
    auto provider = providers_.instance(workspace.provider);
    std::string data_dir = provider_data_dir(workspace.provider);
    OperationContext context{workspace, target.properties, workspace.provider_data, progress, data_dir};
    switch (plan.operation) {
      case Operation::create: provider->create(context); break;
      case Operation::start: provider->start(context); break;
      case Operation::stop: provider->stop(context); break;
      case Operation::destroy: provider->destroy(context); break;
    }
  } catch (const std::exception& error) {
    failure = error.what();
    if (failure.empty()) failure = "the provider failed without a message";
  } catch (...) {
    failure = "the provider threw an unknown exception";
  }

  bool remove_record = plan.operation == Operation::destroy && (failure.empty() || plan.force);
  workspace.operation.clear();
  workspace.updated_at = now_rfc3339();
  if (!failure.empty()) {
    progress.line("error: " + failure);
    if (remove_record) {
      progress.line("warning: removed the record anyway (--force); what the provider made may be left behind: " + failure);
    }
    workspace.state = WorkspaceState::error;
    std::string next = plan.operation == Operation::destroy ? "berth delete " + name + " --force"
                       : plan.operation == Operation::create ? "berth logs " + name + ", then berth delete " + name
                                                             : "berth logs " + name + ", then berth " + verb + " " + name;
    workspace.last_error = std::string(verb) + " failed: " + failure + " (next: " + next + ")";
  } else if (plan.operation != Operation::destroy) {
    workspace.state = plan.operation == Operation::stop ? WorkspaceState::stopped : WorkspaceState::started;
    workspace.last_error.clear();
  }

  {
    std::lock_guard lock(mutex_);
    auto running = running_operations_.find(name);
    if (running == running_operations_.end() || running->second.id != plan.id) {
      // Reaped at its deadline: the record already says so, and this late result must not
      // overwrite what happened since.
      progress.line("==> the provider ended " + std::string(verb) + " after its deadline; that result is ignored");
      return;
    }
    running_operations_.erase(running);  // from here the reaper leaves this operation alone
  }
  try {
    if (remove_record) {
      workspace_files_.remove(name);
    } else {
      save_workspace(workspace);
    }
  } catch (const std::exception& error) {
    progress.line(std::string("error: cannot save the record: ") + error.what());
    workspace.state = WorkspaceState::error;
    workspace.last_error = std::string("cannot save the record: ") + error.what();
    remove_record = false;
  }
  {
    std::lock_guard lock(mutex_);
    if (remove_record) {
      workspaces_.erase(name);
    } else {
      workspaces_[name] = workspace;
    }
    --running_;
  }
  progress.line(failure.empty() ? "==> " + std::string(verb) + " done: " + (remove_record ? "deleted" : to_string(workspace.state))
                                : "==> " + std::string(verb) + " failed");
  logs_.end(name);
  idle_.notify_all();
}

void WorkspaceService::check_exec(const std::string& name, const ExecRequest& request) const {
  Workspace workspace = this->workspace(name);
  if (request.command.empty()) throw invalid("exec needs a command: berth exec " + name + " -- CMD [ARGS...]");
  if (workspace.state != WorkspaceState::started || !workspace.operation.empty()) {
    if (workspace.state == WorkspaceState::stopped) {
      throw conflict("workspace '" + name + "' is stopped; start it first: berth start " + name);
    }
    throw conflict("workspace '" + name + "' is " + (workspace.operation.empty() ? to_string(workspace.state) : workspace.operation + " in progress") +
                   ", not started" + (workspace.state == WorkspaceState::error ? " (" + workspace.last_error + ")" : ""));
  }
}

int WorkspaceService::exec(const std::string& name, const ExecRequest& request, OutputSink& output) {
  check_exec(name, request);
  Workspace workspace = this->workspace(name);
  Target target = target_with_defaults(workspace.target);
  auto provider = providers_.instance(workspace.provider);
  LogProgress progress(logs_, name);
  std::string data_dir = provider_data_dir(workspace.provider);
  OperationContext context{workspace, target.properties, workspace.provider_data, progress, data_dir};
  try {
    return provider->exec(context, request, output);
  } catch (const Error&) {
    throw;
  } catch (const std::exception& error) {
    throw provider_failed(std::string("exec in '") + name + "' failed: " + error.what());
  }
}

void WorkspaceService::shutdown(std::chrono::milliseconds grace) {
  std::vector<Workspace> unfinished;
  {
    std::unique_lock lock(mutex_);
    shutting_down_ = true;
    idle_.wait_for(lock, grace, [&] { return running_ == 0; });
    running_operations_.clear();
    for (auto& [name, workspace] : workspaces_) {
      if (workspace.operation.empty()) continue;
      workspace.state = WorkspaceState::error;
      workspace.last_error = "the server stopped during " + workspace.operation + "; run 'berth delete " + name +
                             "' or try the operation again";
      workspace.operation.clear();
      unfinished.push_back(workspace);
    }
  }
  for (const auto& workspace : unfinished) {
    try {
      save_workspace(workspace);
      logs_.append(workspace.name, "==> failed: the server stopped before the operation ended");
    } catch (const std::exception&) {
      // Reconciliation at the next start covers a record that could not be saved now.
    }
  }
  logs_.close_all();
}

}  // namespace berth
