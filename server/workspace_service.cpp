#include "workspace_service.hpp"

#include "clock.hpp"
#include "duration.hpp"
#include "codec.hpp"
#include "errors.hpp"
#include "module_files.hpp"
#include "checkout_request.hpp"
#include "names.hpp"

#include <algorithm>
#include <cctype>
#include <atomic>
#include <thread>

namespace fs = std::filesystem;

namespace berth {
namespace {

constexpr long kDefaultTimeoutSeconds = 600;
// Status asked at start-up and by `berth info` must answer quickly or not count.
constexpr long kReconcileTimeoutSeconds = 30;
constexpr long kRefreshTimeoutSeconds = 10;
constexpr long kCheckTimeoutSeconds = 30;
// A provider's note that work is left for after the workspace is ready (SDK 1.3).
constexpr const char* kAfterReady = "berth.after_ready";

const char* operation_name(int operation) {
  static const char* names[] = {"create", "start", "stop", "delete", "rebuild"};
  return names[operation];
}

// Progress of an operation goes to the workspace's log, secret property values masked.
class LogProgress : public ProgressSink {
 public:
  LogProgress(LogBook& logs, std::string name, const Redactor& redactor) : logs_(logs), name_(std::move(name)), redactor_(redactor) {}
  void line(std::string_view text) override { logs_.append(name_, redactor_.apply(text)); }

 private:
  LogBook& logs_;
  std::string name_;
  const Redactor& redactor_;
};

bool is_valid_env_key(const std::string& key) {
  if (key.empty() || key.size() > 256 || (key[0] >= '0' && key[0] <= '9')) return false;
  return std::all_of(key.begin(), key.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

// A string as a message shows it: NUL bytes visible, cut at 80 bytes.
std::string shown(const std::string& text) {
  std::string out;
  for (char c : text.substr(0, 80)) out += c == '\0' ? std::string("\\0") : std::string(1, c);
  return text.size() > 80 ? out + "..." : out;
}

// An environment the same way for create and for a command: names as a shell takes them
// (A=B=c is name A, value B=c; a name holding '=' is refused), and no NUL byte, which execve
// would silently cut the value at.
void check_env(const StringMap& env) {
  for (const auto& [key, value] : env) {
    if (!is_valid_env_key(key)) throw invalid("env name '" + shown(key) + "' must be letters, digits and '_', not starting with a digit");
    if (value.size() > 65536) throw invalid("env value of '" + key + "' is longer than 65536 bytes");
    if (value.find('\0') != std::string::npos) throw invalid("env value of '" + key + "' ('" + shown(value) + "') contains a NUL byte, which no environment variable can hold");
  }
  if (env.size() > 256) throw invalid("at most 256 env variables");
}

// What a session hands to execve: an argument with a NUL byte would be cut short there.
void check_command(const SessionRequest& request) {
  for (size_t i = 0; i < request.command.size(); ++i) {
    if (request.command[i].find('\0') != std::string::npos) {
      throw invalid("argument " + std::to_string(i + 1) + " of the command ('" + shown(request.command[i]) +
                    "') contains a NUL byte, which no command's argument can hold");
    }
  }
  for (auto [what, text] : {std::pair{"workdir", &request.workdir}, std::pair{"user", &request.user}}) {
    if (text->find('\0') != std::string::npos) throw invalid(std::string(what) + " '" + shown(*text) + "' contains a NUL byte");
  }
  check_env(request.env);
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
  // The watches' handlers call into this service: they end before anything of it does.
  for (auto& [provider, watch] : watches_) watch->stop();
  runner_.shutdown();
}

namespace {
long timeout_seconds(const Target& target, const char* property, long fallback) {
  if (auto it = target.properties.find(property); it != target.properties.end()) {
    try {
      return std::stol(it->second);
    } catch (const std::exception&) {
    }
  }
  return fallback;
}
}  // namespace

void WorkspaceService::update_secrets() {
  std::vector<std::string> secrets;
  for (const auto& [name, target] : targets_) {
    auto provider = providers_.find(target.provider);
    if (!provider) continue;
    for (const auto& spec : provider->info.target_manifest) {
      if (spec.type != PropertyType::secret) continue;
      if (auto it = target.properties.find(spec.name); it != target.properties.end()) secrets.push_back(it->second);
    }
  }
  providers_.redactor().set_secrets(std::move(secrets));
}

ProviderReply WorkspaceService::call_provider(const std::string& method, Workspace& workspace, const Target& target,
                                              ProgressSink& progress, std::chrono::seconds timeout,
                                              const std::string& timeout_source, OutputSink* output, const ExecRequest* exec) {
  ProviderCall call;
  call.method = method;
  call.workspace = &workspace;
  call.properties = &target.properties;
  call.provider_data = &workspace.provider_data;
  call.data_dir = provider_data_dir(workspace.provider);
  call.progress = &progress;
  call.output = output;
  call.exec = exec;
  call.timeout = timeout;
  call.timeout_source = timeout_source;
  return providers_.process(workspace.provider).call(call);
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
      if (workspace.state == WorkspaceState::started && workspace.operation.empty() && workspace.provider_data.count(kAfterReady)) {
        to_finish_.push_back(workspace.name);  // the server stopped before that work was done
      }
      if (is_transitional(workspace.state) || !workspace.operation.empty()) {
        // Busy until reconcile settles it: nothing else may start on it meanwhile.
        if (workspace.operation.empty()) workspace.operation = to_string(workspace.state);
        to_reconcile_.push_back(workspace.name);
      }
      workspaces_[workspace.name] = std::move(workspace);
    } catch (const std::exception& error) {
      problems.push_back(std::string("skipped workspace: ") + error.what());
    }
  }
  {
    std::lock_guard lock(mutex_);
    update_secrets();
    for (const auto& [name, workspace] : workspaces_) watch_workspace(workspace);
  }
  return problems;
}

void WorkspaceService::reconcile(const std::function<void(const std::string&)>& report) {
  std::vector<std::string> names;
  {
    std::lock_guard lock(mutex_);
    names.swap(to_reconcile_);
    running_ += static_cast<int>(names.size());
  }
  std::vector<std::string> unfinished;
  {
    std::lock_guard lock(mutex_);
    unfinished.swap(to_finish_);
  }
  for (const auto& name : unfinished) {
    runner_.submit([this, name] {
      std::string what;
      try {
        Workspace seen = workspace(name);
        what = seen.provider_data[kAfterReady];
      } catch (const std::exception&) {
        return;
      }
      run_after_ready(name, what);
    });
  }
  for (const auto& name : names) {
    runner_.submit([this, name, report] {
      std::string line;
      try {
        line = reconcile_one(name);
      } catch (const std::exception& error) {
        line = "cannot reconcile workspace '" + name + "': " + error.what();
      }
      finish_operation();
      if (report) report(line);
    });
  }
}

// A record the server left mid-operation: the provider says what is really there, within a
// deadline, and a provider that crashes or hangs leaves it in error, never the server down.
std::string WorkspaceService::reconcile_one(const std::string& name) {
  Workspace workspace = this->workspace(name);
  std::string interrupted = workspace.operation;
  WorkspaceState was = workspace.state;
  Status status;
  std::string cause;
  try {
    Target target = target_with_defaults(workspace.target);
    LogProgress progress(logs_, workspace.name, providers_.redactor());
    long timeout = std::min(timeout_seconds(target, kTimeoutProperty, kDefaultTimeoutSeconds), kReconcileTimeoutSeconds);
    status = call_provider("status", workspace, target, progress, std::chrono::seconds(timeout), "berth's reconcile deadline").status;
  } catch (const std::exception& error) {
    cause = error.what();
  }
  workspace.operation.clear();
  workspace.updated_at = now_rfc3339();
  if (was == WorkspaceState::deleting) {
    workspace.state = WorkspaceState::error;
    workspace.last_error = "the server stopped during delete; run 'berth delete " + workspace.name + "' again";
  } else if (status.state == InfraState::started && was != WorkspaceState::stopping && was != WorkspaceState::creating) {
    workspace.state = WorkspaceState::started;
    workspace.last_error.clear();
  } else if (status.state == InfraState::stopped && was != WorkspaceState::creating) {
    workspace.state = WorkspaceState::stopped;
    workspace.last_error.clear();
  } else if (status.state == InfraState::paused && was != WorkspaceState::creating) {
    workspace.state = WorkspaceState::paused;
    workspace.last_error.clear();
  } else {
    // An interrupted create is an error: nothing proves it finished (a clone may be half done).
    workspace.state = WorkspaceState::error;
    std::string found = !cause.empty() ? "its provider could not tell its state: " + cause
                        : status.state == InfraState::gone ? "its infrastructure is gone"
                        : was == WorkspaceState::creating ? "a " + interrupted + " cut short may have left it half made"
                        : status.detail.empty() ? "its state is uncertain" : status.detail;
    workspace.last_error = "the server stopped during " + interrupted + " and " + found + "; run 'berth " +
                           (was == WorkspaceState::stopping ? "stop " : interrupted == "rebuild" ? "rebuild " : "delete ") +
                           workspace.name + "'";
  }
  logs_.append(workspace.name, "==> reconciled after a server restart: " + to_string(workspace.state) +
                                   (workspace.last_error.empty() ? "" : " (" + workspace.last_error + ")"));
  save_workspace(workspace);
  {
    std::lock_guard lock(mutex_);
    workspaces_[name] = workspace;
    watch_workspace(workspace);
  }
  return "reconciled workspace '" + workspace.name + "' left in " + interrupted + ": now " + to_string(workspace.state) +
         (workspace.last_error.empty() ? "" : " (" + workspace.last_error + ")");
}

void WorkspaceService::finish_operation() {
  std::lock_guard lock(mutex_);
  --running_;
  idle_.notify_all();
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

// A call about a target as a whole (validate, check, release), with a deadline.
ProviderReply WorkspaceService::call_for_target(const Target& target, const char* method, std::chrono::seconds timeout, const char* source) {
  ProviderCall call;
  call.method = method;
  call.properties = &target.properties;
  call.data_dir = provider_data_dir(target.provider);
  call.timeout = timeout;
  call.timeout_source = source;
  return providers_.process(target.provider).call(call);
}

// What the manifest cannot say (the form of an address) the provider checks before anything is
// saved (SDK 1.4, Provider::validate_target; older libraries accept everything). Its refusal
// names the property; the message gets the file and the property's line.
void WorkspaceService::validate_with_provider(const Target& target, const std::function<std::string(const std::string&)>& line) {
  try {
    call_for_target(target, "validate_target", std::chrono::seconds(kCheckTimeoutSeconds), "target add's deadline");
  } catch (const Error& error) {
    std::string message = error.what();
    if (error.code() != "invalid") {
      throw invalid(line("provider") + ": provider '" + target.provider + "' could not check the target (nothing was saved): " + message);
    }
    std::string where = line("");
    const std::string prefix = "property '";
    if (size_t end = message.find('\'', prefix.size()); message.rfind(prefix, 0) == 0 && end != std::string::npos) {
      where = line(message.substr(prefix.size(), end - prefix.size()));
    }
    throw invalid(where + ": " + message);
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
  auto manifest = providers_.manifest_of(target.provider);
  if (!manifest) throw invalid(line("provider") + ": provider '" + target.provider + "' is broken: " + provider->reason);
  validate_target_properties(document, *manifest);
  validate_with_provider(target, line);
  target.is_default = false;
  std::lock_guard lock(mutex_);
  if (shutting_down_) throw unavailable("the server is shutting down");
  if (targets_.count(target.name)) {
    throw conflict("target '" + target.name + "' already exists; remove it first (berth target remove " + target.name + ")");
  }
  check_target_root(target, *manifest, home_, targets_, line("root"));
  target_files_.save(target.name, target_to_yaml(target));
  targets_[target.name] = target;
  update_secrets();
  return masked(target);
}

std::string WorkspaceService::remove_target(const std::string& name, bool force) {
  require_valid_name("target", name);
  Target removed;
  {
  std::lock_guard lock(mutex_);
  if (!targets_.count(name)) throw not_found("target '" + name + "' does not exist (berth target list)");
  removed = targets_[name];
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
  update_secrets();
  if (default_target_ == name) {
    default_target_.clear();
    write_file_atomically(home_.settings_path(), json_to_yaml(Json{{"initialized", "true"}, {"default_target", ""}}));
  }
  }
  // Its provider lets go of what it kept for the target (a warm pool), with a deadline.
  try {
    call_for_target(removed, "release_target", std::chrono::seconds(kCheckTimeoutSeconds * 2), "target remove's deadline");
  } catch (const std::exception& error) {
    return std::string("provider '") + removed.provider + "' could not release what it kept for the target: " + error.what();
  }
  return "";
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
    return call_for_target(target, "check_target", std::chrono::seconds(kCheckTimeoutSeconds), "berth doctor's deadline").check;
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

namespace {

// Records that the infrastructure may change under: not mid-operation, not in error.
bool is_settled(const Workspace& workspace) {
  return workspace.operation.empty() && (workspace.state == WorkspaceState::started || workspace.state == WorkspaceState::stopped ||
                                         workspace.state == WorkspaceState::paused);
}

// The record's state for what a provider found; `otherwise` when it cannot tell.
WorkspaceState state_for(InfraState found, WorkspaceState otherwise) {
  switch (found) {
    case InfraState::started: return WorkspaceState::started;
    case InfraState::stopped: return WorkspaceState::stopped;
    case InfraState::paused: return WorkspaceState::paused;
    case InfraState::gone: return WorkspaceState::error;
    case InfraState::unknown: break;
  }
  return otherwise;
}

}  // namespace

Workspace WorkspaceService::refreshed_workspace(const std::string& name, std::string* status_error) {
  require_valid_name("workspace", name);
  Workspace seen;
  uint64_t epoch = 0;
  {
    std::lock_guard lock(mutex_);
    auto it = workspaces_.find(name);
    if (it == workspaces_.end()) throw not_found("workspace '" + name + "' does not exist (berth list)");
    seen = it->second;
    epoch = epochs_[name];
  }
  if (!is_settled(seen)) return seen;
  auto status = ask_status(seen, "berth info's deadline", status_error);
  return status ? settle_found(seen, epoch, *status) : seen;  // a provider that cannot tell leaves it as it was
}

std::optional<Status> WorkspaceService::ask_status(const Workspace& seen, const std::string& deadline_source, std::string* error) {
  try {
    Target target = target_with_defaults(seen.target);
    LogProgress progress(logs_, seen.name, providers_.redactor());
    Workspace copy = seen;
    long timeout = std::min(timeout_seconds(target, kTimeoutProperty, kDefaultTimeoutSeconds), kRefreshTimeoutSeconds);
    return call_provider("status", copy, target, progress, std::chrono::seconds(timeout), deadline_source).status;
  } catch (const std::exception& failure) {
    if (error) *error = failure.what();
    return std::nullopt;
  }
}

Workspace WorkspaceService::settle_found(const Workspace& seen, uint64_t epoch, const Status& status) {
  WorkspaceState real = state_for(status.state, seen.state);
  if (real == seen.state) return seen;
  const std::string& name = seen.name;
  std::lock_guard lock(mutex_);
  auto it = workspaces_.find(name);
  // Changed meanwhile (an operation began or ended): that newer record wins.
  if (it == workspaces_.end() || !it->second.operation.empty() || epochs_[name] != epoch || it->second.updated_at != seen.updated_at ||
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
  // Under the lock, as the record in memory: the file and the memory never disagree in order
  // with an operation claiming the record meanwhile (each write is atomic: temporary, fsync, rename).
  save_workspace(updated);
  it->second = updated;
  std::string detail = !updated.last_error.empty() ? updated.last_error : status.detail;
  logs_.append(name, "==> found " + to_string(real) + " outside berth" + (detail.empty() ? "" : ": " + detail));
  return updated;
}

void WorkspaceService::apply_change(const std::string& provider, const InfraChange& change) {
  Workspace seen;
  uint64_t epoch = 0;
  {
    std::lock_guard lock(mutex_);
    if (shutting_down_) return;
    auto matches = [&](const Workspace& workspace) {
      if (workspace.provider != provider) return false;
      for (const auto& [key, value] : change.match) {
        auto held = workspace.provider_data.find(key);
        if (held == workspace.provider_data.end() || held->second != value) return false;
      }
      return true;
    };
    const Workspace* found = nullptr;
    if (!change.workspace.empty()) {
      auto it = workspaces_.find(change.workspace);
      if (it != workspaces_.end() && matches(it->second)) found = &it->second;
    } else if (!change.match.empty()) {
      for (const auto& [name, workspace] : workspaces_) {
        if (matches(workspace)) {
          found = &workspace;
          break;
        }
      }
    }
    if (!found) return;  // not this provider's, or of a container the record no longer holds
    if (!found->operation.empty()) {
      // berth's own operation is at work on it (and may cause what was reported): its outcome
      // is recorded when it ends, and then the provider is asked again.
      recheck_.insert(found->name);
      return;
    }
    if (!is_settled(*found)) return;
    // What the record says already: nothing to ask.
    if (change.state != InfraState::unknown && state_for(change.state, found->state) == found->state) return;
    seen = *found;
    epoch = epochs_[seen.name];
  }
  if (auto status = ask_status(seen, "berth's watch deadline")) {
    // The event's own words when the provider finds what it reported ("container died (exit code 137)").
    if (status->state == change.state && !change.detail.empty()) status->detail = change.detail;
    settle_found(seen, epoch, *status);
  }
}

void WorkspaceService::watch_workspace(const Workspace& workspace) {
  std::unique_ptr<ProviderWatch>& watch = watches_[workspace.provider];
  if (!watch) {
    std::string provider = workspace.provider;
    ProviderWatch::Options options;
    options.provider = provider;
    options.data_dir = provider_data_dir(provider);
    options.process = [this, provider]() -> ProviderProcess& { return providers_.process(provider); };
    options.workspaces = [this, provider](const std::string& after, size_t limit) {
      std::vector<WatchedWorkspace> page;
      std::lock_guard lock(mutex_);
      for (auto it = workspaces_.upper_bound(after); it != workspaces_.end() && page.size() < limit; ++it) {
        if (it->second.provider == provider) page.push_back(watched_of(it->second));
      }
      return page;
    };
    options.on_change = [this, provider](const InfraChange& change) { apply_change(provider, change); };
    options.note = [this](const std::string& line) {
      std::function<void(const std::string&)> report;
      {
        std::lock_guard lock(mutex_);
        report = watch_report_;
      }
      if (report) report(line);
    };
    watch = std::make_unique<ProviderWatch>(std::move(options));
    if (watching_ && !shutting_down_) watch->start();
  }
  watch->put(watched_of(workspace));
  if (workspace.operation.empty() && recheck_.erase(workspace.name) > 0) watch->recheck(workspace.name);
}

WatchedWorkspace WorkspaceService::watched_of(const Workspace& workspace) const {
  WatchedWorkspace watched{workspace.name, {}, workspace.provider_data};
  if (auto target = targets_.find(workspace.target); target != targets_.end()) watched.properties = target->second.properties;
  return watched;
}

void WorkspaceService::unwatch_workspace(const Workspace& workspace) {
  recheck_.erase(workspace.name);
  epochs_.erase(workspace.name);
  if (auto it = watches_.find(workspace.provider); it != watches_.end()) it->second->drop(workspace.name);
}

void WorkspaceService::start_watches(const std::function<void(const std::string&)>& report) {
  std::lock_guard lock(mutex_);
  watch_report_ = report;
  watching_ = true;
  if (shutting_down_) return;
  for (auto& [provider, watch] : watches_) watch->start();
}

void WorkspaceService::save_workspace(const Workspace& workspace) {
  workspace_files_.save(workspace.name, workspace_to_yaml(workspace));
  events_.publish("workspace", Json(workspace).dump());  // once it is on disk
}

std::string WorkspaceService::provider_data_dir(const std::string& provider) const {
  fs::path dir = home_.provider_data_dir() / provider;
  try {
    create_private_folders(dir);
  } catch (const std::exception&) {
    // The provider says so when it writes there.
  }
  return dir.string();
}

WorkspaceService::Accepted WorkspaceService::create(const WorkspaceRequest& request, const StringMap& call_options) {
  require_valid_name("workspace", request.name);
  check_repository(request.repository);
  check_checkout_options(request.options, request.repository);
  if (auto it = request.options.find("auto_stop"); it != request.options.end() && !parse_duration(it->second)) {
    throw invalid("option auto_stop '" + it->second.substr(0, 40) + "' must be a duration such as 90s, 30m, 2h or 7d, or off");
  }
  check_env(request.env);
  if (request.options.size() > 64) throw invalid("at most 64 create options");
  if (request.labels.size() > 64) throw invalid("at most 64 labels");
  for (const auto& [key, value] : request.labels) {
    // Keys as Docker and Kubernetes take them, so a provider can put them on what it makes.
    bool key_ok = !key.empty() && key.size() <= 128 && std::isalnum(static_cast<unsigned char>(key.front())) &&
                  key.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._/-") == std::string::npos;
    if (!key_ok) {
      throw invalid("label '" + key.substr(0, 80) + "' must start with a letter or digit and hold only letters, digits, '.', '_', '/', '-' (at most 128)");
    }
    if (value.size() > 256 || std::any_of(value.begin(), value.end(), [](char c) { return static_cast<unsigned char>(c) < 0x20; })) {
      throw invalid("the value of label '" + key + "' must be at most 256 characters, without control characters");
    }
  }
  Workspace workspace;
  {
    std::lock_guard lock(mutex_);
    if (shutting_down_) throw unavailable("the server is shutting down; try again when it is back");
    if (auto existing = workspaces_.find(request.name); existing != workspaces_.end()) {
      // A failed create leaves its record in error: say how to free the name.
      if (existing->second.state == WorkspaceState::error && existing->second.operation.empty()) {
        // The error without its own "(next: ...)": the next step here is to free the name.
        std::string error = existing->second.last_error.substr(0, existing->second.last_error.rfind(" (next: "));
        throw conflict("workspace '" + request.name + "' already exists in state error (" + error.substr(0, 300) + "); berth delete " +
                       request.name + " frees the name");
      }
      throw conflict("workspace '" + request.name + "' already exists (berth info " + request.name + ")");
    }
    std::string target_name = request.target.empty() ? default_target_ : request.target;
    if (target_name.empty()) {
      throw invalid("no --target given and no default target is set (berth target list; berth target set-default NAME)");
    }
    require_valid_name("target", target_name);
    auto target = targets_.find(target_name);
    if (target == targets_.end()) throw not_found("target '" + target_name + "' does not exist (berth target list)");
    providers_.process(target->second.provider);  // a broken or missing provider fails now, not later
    workspace.name = request.name;
    workspace.target = target_name;
    workspace.provider = target->second.provider;
    workspace.repository = request.repository;
    workspace.image = request.image;
    workspace.env = request.env;
    workspace.options = request.options;
    workspace.labels = request.labels;
    workspace.state = WorkspaceState::creating;
    workspace.operation = "create";
    workspace.created_at = workspace.updated_at = now_rfc3339();
    workspaces_[workspace.name] = workspace;  // claims the name
    ++epochs_[workspace.name];
    watch_workspace(workspace);
    ++running_;
  }
  Accepted accepted{workspace, 0};
  try {
    save_workspace(workspace);
  } catch (...) {
    {
      std::lock_guard lock(mutex_);
      workspaces_.erase(workspace.name);
      unwatch_workspace(workspace);
    }
    finish_operation();
    throw;
  }
  accepted.log_offset = logs_.begin(workspace.name, true, &accepted.log_ticket);
  runner_.submit([this, name = workspace.name, call_options, ticket = accepted.log_ticket] {
    Plan plan{Operation::create, WorkspaceState::creating, false};
    plan.call_options = call_options;
    plan.ticket = ticket;
    run_operation(name, plan);
  });
  return accepted;
}

WorkspaceService::Accepted WorkspaceService::begin_operation(const std::string& name, Plan plan) {
  require_valid_name("workspace", name);
  Operation operation = plan.operation;
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
    } else if (operation == Operation::rebuild) {
      // Refused before anything changes when the provider cannot (built before SDK 1.3).
      auto provider = providers_.find(workspace.provider);
      auto api = provider ? parse_api_version(provider->api_version) : std::nullopt;
      if (provider && !provider->broken && (!api || api->minor < 3)) {
        throw Error("unsupported", "provider '" + workspace.provider + "' was built against SDK " + provider->api_version +
                                       ", which has no rebuild (1.3); nothing was changed");
      }
    } else if (operation == Operation::destroy && plan.keep_volume && !providers_.keeps_volumes(workspace.provider)) {
      // Refused before anything is deleted: a flag the provider would ignore would cost the
      // user the very tree it asked to keep.
      throw Error("unsupported", "provider '" + workspace.provider + "' cannot keep a workspace's working tree apart (--keep-volume): deleting '" +
                                     name + "' deletes its tree too; nothing was deleted (copy what you need out of it, then berth delete " + name +
                                     " without --keep-volume)");
    }
    before = workspace;
    plan.before = workspace.state;
    workspace.state = plan.during;
    workspace.operation = operation_name(static_cast<int>(operation));
    workspace.updated_at = now_rfc3339();
    claimed = workspace;
    ++epochs_[name];
    ++running_;
  }
  try {
    save_workspace(claimed);
  } catch (...) {
    {
      std::lock_guard lock(mutex_);
      workspaces_[name] = before;
    }
    finish_operation();
    throw;
  }
  unsigned long long ticket = 0;
  long long offset = logs_.begin(name, false, &ticket);
  plan.ticket = ticket;
  runner_.submit([this, name, plan] { run_operation(name, plan); });
  return Accepted{claimed, offset, ticket};
}

WorkspaceService::Accepted WorkspaceService::start(const std::string& name) {
  return begin_operation(name, Plan{Operation::start, WorkspaceState::starting});
}

WorkspaceService::Accepted WorkspaceService::stop(const std::string& name) {
  return begin_operation(name, Plan{Operation::stop, WorkspaceState::stopping});
}

WorkspaceService::Accepted WorkspaceService::remove(const std::string& name, bool force, bool keep_volume) {
  return begin_operation(name, Plan{Operation::destroy, WorkspaceState::deleting, force, keep_volume});
}

// The record shows `creating` while it is made again (operation `rebuild`).
WorkspaceService::Accepted WorkspaceService::rebuild(const std::string& name, const StringMap& call_options) {
  Plan plan{Operation::rebuild, WorkspaceState::creating};
  plan.call_options = call_options;
  return begin_operation(name, plan);
}

void WorkspaceService::run_operation(const std::string& name, Plan plan) {
  const char* verb = operation_name(static_cast<int>(plan.operation));
  LogProgress progress(logs_, name, providers_.redactor());
  progress.line("==> " + std::string(verb) + " " + name + " at " + now_rfc3339());
  Workspace workspace = this->workspace(name);
  std::string failure, failure_code;
  bool refused = false;  // the provider cannot do this at all (code unsupported): nothing changed
  // What this delete keeps is said to the provider as a create option of this call only
  // (never saved: a later failure must not leave it on the record).
  Workspace asked = workspace;
  if (plan.keep_volume) asked.options["keep_volume"] = "true";
  for (const auto& [key, value] : plan.call_options) asked.options[key] = value;
  try {
    Target target = operation_target(workspace, plan.operation == Operation::destroy);
    const char* method = plan.operation == Operation::destroy ? "destroy" : verb;
    // The call ends by the deadline and its grace period at the latest: past them the provider's
    // process is killed, so the workspace is never freed while its provider is still at work.
    call_provider(method, asked, target, progress,
                  std::chrono::seconds(timeout_seconds(target, kTimeoutProperty, kDefaultTimeoutSeconds)), "the target's timeout");
  } catch (const std::exception& error) {
    failure = error.what();
    if (failure.empty()) failure = "the provider failed without a message";
    auto* coded = dynamic_cast<const Error*>(&error);
    failure_code = coded ? coded->code() : "provider_failed";
    // unsupported: the provider cannot; forbidden: it may not without the person's agreement
    // (a host command). Either way it said so before touching anything.
    refused = coded && (coded->code() == "unsupported" || coded->code() == "forbidden");
  }
  failure = providers_.redactor().apply(failure);
  workspace.provider_data = asked.provider_data;  // also what it recorded before it failed

  bool remove_record = plan.operation == Operation::destroy && (failure.empty() || plan.force);
  workspace.operation.clear();
  workspace.updated_at = now_rfc3339();
  if (!failure.empty() && refused && plan.operation == Operation::rebuild) {
    // Nothing was touched: the workspace stays as it was, and the log says why.
    progress.line("error: provider '" + workspace.provider + "' refused: " + failure);
    workspace.state = plan.before;
  } else if (!failure.empty()) {
    progress.line("error: " + failure);
    if (remove_record) {
      progress.line("warning: removed the record anyway (--force); what the provider made may be left behind: " + failure);
    }
    workspace.state = WorkspaceState::error;
    std::string next = plan.operation == Operation::destroy ? "berth delete " + name + " --force"
                       : plan.operation == Operation::create ? "berth logs " + name + ", then berth delete " + name
                       : plan.operation == Operation::rebuild ? "berth logs " + name + ", fix it, then berth rebuild " + name
                                                             : "berth logs " + name + ", then berth " + verb + " " + name;
    workspace.last_error = std::string(verb) + " failed: " + failure + " (next: " + next + ")";
  } else if (plan.operation != Operation::destroy) {
    workspace.state = plan.operation == Operation::stop ? WorkspaceState::stopped : WorkspaceState::started;
    workspace.last_error.clear();
  }

  try {
    if (remove_record) {
      workspace_files_.remove(name);
      events_.publish("deleted", Json{{"name", name}}.dump());
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
      unwatch_workspace(workspace);
    } else {
      workspaces_[name] = workspace;
      watch_workspace(workspace);
    }
  }
  progress.line(failure.empty() ? "==> " + std::string(verb) + " done: " + (remove_record ? "deleted" : to_string(workspace.state))
                                : "==> " + std::string(verb) + " failed");
  // The operation's typed result, after its last line: what a client acts on (never the prose).
  Json outcome{{"operation", verb}, {"ok", failure.empty()}, {"deleted", remove_record}};
  if (!failure.empty()) {
    outcome["code"] = failure_code.empty() ? "provider_failed" : failure_code;
    outcome["message"] = failure;
    outcome["refused"] = refused && plan.operation == Operation::rebuild;  // nothing was changed
    if (remove_record) outcome["left_behind"] = failure;
  }
  if (!remove_record) outcome["workspace"] = Json(workspace);
  // The work after ready begins on the log before this operation ends there, and the outcome
  // says where: a client that waits for every command (berth create) follows it from there to
  // its own outcome, with no moment between the two when nothing runs.
  auto after = workspace.provider_data.find(kAfterReady);
  bool after_ready = failure.empty() && !remove_record && workspace.state == WorkspaceState::started && after != workspace.provider_data.end();
  unsigned long long after_ticket = 0;
  if (after_ready) {
    long long offset = logs_.begin(name, false, &after_ticket);
    outcome["after_ready"] = Json{{"what", after->second}, {"ticket", after_ticket}, {"offset", offset}};
  }
  logs_.end(name, plan.ticket, outcome.dump());
  finish_operation();
  if (after_ready) run_after_ready(name, after->second, after_ticket);
}

// The work a provider left for after the workspace is ready (devcontainer.json's commands
// past waitFor): a start() call while the record stays `started`, so exec and ssh work
// meanwhile, its lines in the workspace log. An operation begun meanwhile (stop, delete) wins:
// the outcome is then only logged.
void WorkspaceService::run_after_ready(const std::string& name, const std::string& what, unsigned long long ticket) {
  {
    std::lock_guard lock(mutex_);
    if (shutting_down_) {
      // Begun on the log already: ended there, saying when the rest runs.
      if (ticket != 0) {
        logs_.end(name, ticket, Json{{"operation", "after ready"}, {"ok", false}, {"deleted", false}, {"code", "unavailable"},
                                     {"message", "the server is stopping; " + what + " runs when it starts again"}}.dump());
      }
      return;
    }
    ++running_;
  }
  Activity::Hold working = activity_.hold(name);  // the commands after ready are activity: no auto-stop under them
  if (ticket == 0) logs_.begin(name, false, &ticket);
  LogProgress progress(logs_, name, providers_.redactor());
  progress.line("==> after ready: " + what + " (the workspace is usable meanwhile)");
  std::string failure;
  Workspace seen;
  try {
    seen = this->workspace(name);
    Target target = operation_target(seen, false);
    call_provider("start", seen, target, progress, std::chrono::seconds(timeout_seconds(target, kTimeoutProperty, kDefaultTimeoutSeconds)),
                  "the target's timeout");
  } catch (const std::exception& error) {
    failure = providers_.redactor().apply(*error.what() ? error.what() : "the provider failed without a message");
  }
  bool recorded = false;
  {
    std::lock_guard lock(mutex_);
    auto it = workspaces_.find(name);
    if (it != workspaces_.end() && it->second.operation.empty() && it->second.state == WorkspaceState::started) {
      Workspace updated = it->second;
      updated.provider_data = seen.provider_data;
      updated.provider_data.erase(kAfterReady);
      if (!failure.empty()) {
        updated.state = WorkspaceState::error;
        updated.last_error = what + " failed: " + failure + " (next: berth logs " + name + ", then berth start " + name + ")";
      }
      updated.updated_at = now_rfc3339();
      try {
        save_workspace(updated);
        it->second = updated;
        recorded = true;
      } catch (const std::exception& error) {
        failure += std::string(failure.empty() ? "" : "; ") + "cannot save the record: " + error.what();
      }
    }
  }
  if (!failure.empty()) progress.line("error: " + failure);
  progress.line(std::string("==> after ready ") + (failure.empty() ? "done" : "failed") + (recorded ? "" : " (the workspace changed meanwhile)"));
  Json outcome{{"operation", "after ready"}, {"ok", failure.empty()}, {"deleted", false}};
  if (!failure.empty()) {
    outcome["code"] = "provider_failed";
    outcome["message"] = failure;
  }
  logs_.end(name, ticket, outcome.dump());
  finish_operation();
}

void WorkspaceService::check_started(const std::string& name) const {
  Workspace workspace = this->workspace(name);
  if (workspace.state != WorkspaceState::started || !workspace.operation.empty()) {
    if (workspace.state == WorkspaceState::stopped) {
      throw conflict("workspace '" + name + "' is stopped; start it first: berth start " + name);
    }
    if (workspace.state == WorkspaceState::paused && workspace.operation.empty()) {
      throw conflict("workspace '" + name + "' is paused (outside berth); resume it: berth start " + name);
    }
    throw conflict("workspace '" + name + "' is " + (workspace.operation.empty() ? to_string(workspace.state) : workspace.operation + " in progress") +
                   ", not started" + (workspace.state == WorkspaceState::error ? " (" + workspace.last_error + ")" : ""));
  }
}

void WorkspaceService::check_exec(const std::string& name, const ExecRequest& request) const {
  this->workspace(name);
  if (request.command.empty()) throw invalid("exec needs a command: berth exec " + name + " -- CMD [ARGS...]");
  check_command(SessionRequest{request.command, request.env, request.workdir, request.user, false, 24, 80});
  check_started(name);
}

namespace {

// The stdin of POST .../exec, all of it known up front, as a session's client input.
class GivenInput : public StreamInput {
 public:
  explicit GivenInput(const std::string& data) : data_(data) {}
  void run(StreamRelay& to) override {
    constexpr size_t kChunk = 64 << 10;
    for (size_t at = 0; at < data_.size() && !stopped_; at += kChunk) {
      if (!to.input(std::string_view(data_).substr(at, kChunk))) return;
    }
    to.end_of_input();
  }
  void stop() override { stopped_ = true; }

 private:
  const std::string& data_;
  std::atomic<bool> stopped_{false};
};

}  // namespace

void check_session_request(const SessionRequest& request) { check_command(request); }

int WorkspaceService::exec(const std::string& name, const ExecRequest& request, OutputSink& output) {
  check_exec(name, request);
  SessionRequest session{request.command, request.env, request.workdir, request.user, false, 24, 80};
  GivenInput input(request.stdin_data);
  return this->session(name, session, output, input);
}

int WorkspaceService::session(const std::string& name, const SessionRequest& request, OutputSink& output, StreamInput& input) {
  check_command(request);
  return stream_call("session", name, output, input, &request, 0).exit_code;
}

void WorkspaceService::connect(const std::string& name, int port, OutputSink& output, StreamInput& input) {
  if (port < 1 || port > 65535) throw invalid("port " + std::to_string(port) + " is not a TCP port (1-65535)");
  stream_call("connect", name, output, input, nullptr, port);
}

ProviderReply WorkspaceService::stream_call(const std::string& method, const std::string& name, OutputSink& output,
                                            StreamInput& input, const SessionRequest* session, int port) {
  check_started(name);
  Activity::Hold active = activity_.hold(name);  // an open stream is activity: no auto-stop meanwhile
  Workspace workspace = this->workspace(name);
  Target target = target_with_defaults(workspace.target);
  LogProgress progress(logs_, name, providers_.redactor());
  bool interactive = method == "connect" || (session && session->tty);
  auto timeout = std::chrono::seconds(interactive ? 0 : timeout_seconds(target, kExecTimeoutProperty, 0));
  {
    std::lock_guard lock(mutex_);
    if (shutting_down_) throw unavailable("the server is shutting down; try again when it is back");
    ++execs_;
  }
  struct Done {
    WorkspaceService& service;
    ~Done() {
      std::lock_guard lock(service.mutex_);
      --service.execs_;
      service.idle_.notify_all();
    }
  } done{*this};
  ProviderCall call;
  call.method = method;
  call.label = method == "connect" ? "port connection" : interactive ? "session" : "exec";
  call.workspace = &workspace;
  call.properties = &target.properties;
  call.provider_data = &workspace.provider_data;
  call.data_dir = provider_data_dir(workspace.provider);
  call.progress = &progress;
  call.output = &output;
  call.session = session;
  call.port = port;
  call.input = &input;
  call.timeout = timeout;
  call.timeout_source = "the target's exec_timeout";
  try {
    return providers_.process(workspace.provider).call(call);
  } catch (const Error& error) {
    std::string message = providers_.redactor().apply(error.what());
    if (error.code() == "unsupported") message = "provider '" + workspace.provider + "' " + message.substr(message.rfind("this provider ", 0) == 0 ? 14 : 0);
    throw Error(error.code(), message);
  }
}

IdleStop::Candidate WorkspaceService::candidate_of(const Workspace& workspace, long long now) const {
  IdleStop::Candidate candidate;
  candidate.name = workspace.name;
  auto target = targets_.find(workspace.target);
  if (target == targets_.end()) return candidate;
  auto setting = [&](const StringMap& map, const char* key) -> std::optional<std::chrono::seconds> {
    auto it = map.find(key);
    return it == map.end() ? std::nullopt : parse_duration(it->second);
  };
  candidate.started = workspace.state == WorkspaceState::started;
  candidate.stopped = workspace.state == WorkspaceState::stopped;
  auto own = setting(workspace.options, kAutoStopProperty);
  bool kept = workspace.labels.count("berth.keep-alive") || (own && own->count() == 0);
  candidate.stop_after = kept ? std::chrono::seconds(0) : own ? *own : setting(target->second.properties, kAutoStopProperty).value_or(std::chrono::seconds(0));
  candidate.delete_after = kept ? std::chrono::seconds(0) : setting(target->second.properties, kAutoDeleteProperty).value_or(std::chrono::seconds(0));
  long long since = parse_rfc3339(workspace.updated_at);
  candidate.stopped_for = std::chrono::seconds(since < 0 || now < since ? 0 : now - since);
  return candidate;
}

std::vector<IdleStop::Candidate> WorkspaceService::idle_candidates() const {
  std::vector<IdleStop::Candidate> out;
  long long now = parse_rfc3339(now_rfc3339());
  std::lock_guard lock(mutex_);
  if (shutting_down_) return out;
  for (const auto& [name, workspace] : workspaces_) {
    if (!workspace.operation.empty()) continue;  // busy: looked at when it is settled
    IdleStop::Candidate candidate = candidate_of(workspace, now);
    if (candidate.stop_after.count() > 0 || candidate.delete_after.count() > 0) out.push_back(candidate);
  }
  return out;
}

IdleStop::Candidate WorkspaceService::idle_candidate(const std::string& name) const {
  long long now = parse_rfc3339(now_rfc3339());
  std::lock_guard lock(mutex_);
  auto it = workspaces_.find(name);
  if (it == workspaces_.end()) throw not_found("workspace '" + name + "' does not exist");
  return candidate_of(it->second, now);
}

double WorkspaceService::cpu_seconds(const std::string& name) {
  Workspace workspace = this->workspace(name);
  if (workspace.state != WorkspaceState::started || !workspace.operation.empty()) return -1;
  Target target = target_with_defaults(workspace.target);
  struct Quiet : ProgressSink {
    void line(std::string_view) override {}
  } quiet;
  ProviderCall call;
  call.method = "cpu_seconds";
  call.label = "CPU reading";
  call.workspace = &workspace;
  call.properties = &target.properties;
  call.provider_data = &workspace.provider_data;  // a copy: nothing of it is saved
  call.data_dir = provider_data_dir(workspace.provider);
  call.progress = &quiet;
  call.timeout = std::chrono::seconds(kCheckTimeoutSeconds);
  call.timeout_source = "auto-stop's CPU reading";
  return providers_.process(workspace.provider).call(call).cpu_seconds;
}

void WorkspaceService::shutdown(std::chrono::milliseconds grace) {
  std::vector<Workspace> unfinished;
  std::vector<ProviderWatch*> watches;
  {
    std::unique_lock lock(mutex_);
    shutting_down_ = true;
    for (auto& [provider, watch] : watches_) watches.push_back(watch.get());
  }
  // Watches are never done: each is asked to end now (and its host is stopped below).
  for (auto* watch : watches) watch->cancel();
  // An exec may never end by itself (a shell, a server): end every one now. Each ends at the
  // cancel, or its host is killed after the grace period; either way it ends before the wait.
  for (const char* method : {"exec", "session", "port connection"}) providers_.cancel_all(method, "cancelled: berth-server is shutting down");
  {
    std::unique_lock lock(mutex_);
    idle_.wait_for(lock, grace, [&] { return running_ == 0 && execs_ == 0; });
  }
  // What still runs is ended with its host; each operation then records that it failed.
  providers_.stop_all("berth-server is shutting down");
  for (auto* watch : watches) watch->stop();
  runner_.shutdown();
  {
    std::unique_lock lock(mutex_);
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
  events_.close();
}

}  // namespace berth
