// The host provider: a workspace is a folder on the server's machine; exec runs there.
#include "process.hpp"

#include <berth/provider.hpp>

#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>

namespace fs = std::filesystem;

namespace {

// Sends each line of a process's output to the operation's progress.
class ProgressLines : public berth::OutputSink {
 public:
  explicit ProgressLines(berth::ProgressSink& progress) : progress_(progress) {}
  ~ProgressLines() override {
    if (!pending_.empty()) progress_.line(pending_);
  }
  void write(berth::OutputStream, std::string_view data) override {
    for (char c : data) {
      if (c == '\n' || c == '\r') {
        if (!pending_.empty()) progress_.line(pending_);
        pending_.clear();
      } else {
        pending_.push_back(c);
      }
    }
  }

 private:
  berth::ProgressSink& progress_;
  std::string pending_;
};

class HostProvider : public berth::Provider {
 public:
  berth::ProviderInfo info() const override {
    return {"host",
            "0.1.0",
            "Workspaces as folders on the server's own machine; commands run as the server's user",
            {
                {"root", berth::PropertyType::path, false, "", {},
                 "Folder that holds the workspaces' folders (default: inside berth's home)"},
                {"shell", berth::PropertyType::string, false, "/bin/sh", {}, "Shell for berth ssh"},
            }};
  }

  void create(berth::OperationContext& context) override {
    fs::path folder = folder_of(context);
    std::error_code error;
    if (fs::exists(folder, error) && !fs::is_empty(folder, error)) {
      throw berth::Error("conflict", "folder " + folder.string() + " already exists and is not empty; move it away or pick another name");
    }
    fs::create_directories(folder, error);
    if (error) throw berth::Error("provider_failed", "cannot create folder " + folder.string() + ": " + error.message());
    context.provider_data["path"] = folder.string();
    context.provider_data["shell"] = property(context, "shell", "/bin/sh");
    context.progress.line("folder " + folder.string());
    const std::string& repository = context.workspace.repository;
    if (!repository.empty()) {
      context.progress.line("cloning " + repository);
      ProgressLines lines(context.progress);
      int code = host::run_process({{"git", "clone", "--progress", "--", repository, folder.string()}, "", {{"GIT_TERMINAL_PROMPT", "0"}}, "", &context.cancellation}, lines);
      if (code != 0) throw berth::Error("provider_failed", "git clone of " + repository + " failed with exit code " + std::to_string(code));
    }
    fs::remove(stopped_marker(context), error);
  }

  void start(berth::OperationContext& context) override {
    require_folder(context);
    std::error_code error;
    fs::remove(stopped_marker(context), error);
  }

  void stop(berth::OperationContext& context) override {
    require_folder(context);
    fs::create_directories(stopped_marker(context).parent_path());
    std::ofstream(stopped_marker(context)) << "stopped\n";
    // A stopped workspace runs nothing: end what exec started there.
    std::set<int> groups;
    {
      std::lock_guard lock(mutex_);
      groups = running_[context.workspace.name];
    }
    for (int group : groups) ::kill(-group, SIGTERM);
    if (!groups.empty()) context.progress.line("ended " + std::to_string(groups.size()) + " running command(s)");
  }

  void destroy(berth::OperationContext& context) override {
    stop_running(context.workspace.name);
    fs::path folder = folder_of(context);
    std::error_code error;
    fs::remove_all(folder, error);
    if (error) throw berth::Error("provider_failed", "cannot remove folder " + folder.string() + ": " + error.message());
    fs::remove(stopped_marker(context), error);
    context.progress.line("removed " + folder.string());
  }

  berth::Status status(berth::OperationContext& context) override {
    fs::path folder = folder_of(context);
    std::error_code error;
    if (!fs::is_directory(folder, error)) return {berth::InfraState::gone, "folder " + folder.string() + " is gone"};
    if (fs::exists(stopped_marker(context), error)) return {berth::InfraState::stopped, ""};
    return {berth::InfraState::started, ""};
  }

  berth::TargetCheck check_target(const berth::StringMap& properties, const std::string& data_dir) override {
    auto root_it = properties.find("root");
    fs::path root = root_it == properties.end() || root_it->second.empty() ? fs::path(data_dir) / "workspaces" : fs::path(root_it->second);
    std::error_code error;
    fs::create_directories(root, error);
    if (error) return {false, "cannot create " + root.string() + ": " + error.message()};
    if (::access(root.c_str(), W_OK) != 0) return {false, root.string() + " is not writable"};
    auto shell_it = properties.find("shell");
    std::string shell = shell_it == properties.end() ? "/bin/sh" : shell_it->second;
    if (::access(shell.c_str(), X_OK) != 0) return {false, "shell " + shell + " is not executable"};
    return {true, "folder " + root.string() + " is writable; shell " + shell + " runs"};
  }

  int exec(berth::OperationContext& context, const berth::ExecRequest& request, berth::OutputSink& output) override {
    fs::path folder = require_folder(context);
    if (!request.user.empty()) {
      throw berth::Error("invalid", "the host provider runs commands as the server's user; --user is not supported");
    }
    fs::path workdir = request.workdir.empty() ? folder : fs::path(request.workdir).is_absolute() ? fs::path(request.workdir) : folder / request.workdir;
    berth::StringMap env = context.workspace.env;
    for (const auto& [key, value] : request.env) env[key] = value;
    env["BERTH_WORKSPACE"] = context.workspace.name;
    const std::string& name = context.workspace.name;
    return host::run_process({request.command, workdir.string(), env, request.stdin_data, &context.cancellation}, output, [this, name](int pid) {
      std::lock_guard lock(mutex_);
      if (pid > 0) {
        running_[name].insert(pid);
      } else {
        running_[name].clear();
      }
    });
  }

 private:
  static std::string property(const berth::OperationContext& context, const std::string& key, const std::string& fallback) {
    auto it = context.properties.find(key);
    return it == context.properties.end() || it->second.empty() ? fallback : it->second;
  }

  static fs::path folder_of(const berth::OperationContext& context) {
    std::string root = property(context, "root", "");
    fs::path base = root.empty() ? fs::path(context.data_dir) / "workspaces" : fs::path(root);
    return (base / context.workspace.name).lexically_normal();
  }

  static fs::path stopped_marker(const berth::OperationContext& context) {
    return fs::path(context.data_dir) / "stopped" / context.workspace.name;
  }

  fs::path require_folder(const berth::OperationContext& context) const {
    fs::path folder = folder_of(context);
    std::error_code error;
    if (!fs::is_directory(folder, error)) {
      throw berth::Error("provider_failed", "folder " + folder.string() + " is gone; delete the workspace (berth delete " +
                                                context.workspace.name + " --force)");
    }
    return folder;
  }

  void stop_running(const std::string& name) {
    std::lock_guard lock(mutex_);
    for (int group : running_[name]) ::kill(-group, SIGKILL);
    running_.erase(name);
  }

  std::mutex mutex_;
  std::map<std::string, std::set<int>> running_;
};

}  // namespace

BERTH_PROVIDER(HostProvider)
