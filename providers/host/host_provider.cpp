// The host provider: a workspace is a folder on the server's machine; exec runs there.
#include "process.hpp"
#include "session.hpp"

#include <berth/git_checkout.hpp>
#include <berth/provider.hpp>

#include <fcntl.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>
#include <map>
#include <mutex>
#include <optional>
#include <set>

namespace fs = std::filesystem;

namespace {

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

  // Makes ROOT/NAME (never one that exists), records its path in provider_data and its identity
  // (device and inode) in a marker in the provider's own folder, clones, and only then marks
  // the create complete: status() calls a workspace without that mark unfinished.
  void create(berth::OperationContext& context) override {
    std::string root = property(context, "root", "");
    if (!root.empty() && !fs::path(root).is_absolute()) {
      throw berth::Error("invalid", "the target's root '" + root + "' must be an absolute path; fix the target (berth target show " +
                                        context.workspace.target + ")");
    }
    fs::path base = root.empty() ? fs::path(context.data_dir) / "workspaces" : fs::path(root);
    fs::path folder = (base / context.workspace.name).lexically_normal();
    std::error_code error;
    fs::create_directories(base, error);
    if (error) throw berth::Error("provider_failed", "cannot create folder " + base.string() + ": " + error.message());
    // mkdir, not create_directories: it fails on anything already there, so berth never takes
    // over (and later deletes) a folder it did not make.
    if (::mkdir(folder.c_str(), 0700) != 0) {
      int saved = errno;
      if (saved == EEXIST) {
        throw berth::Error("conflict", "folder " + folder.string() +
                                           " already exists and berth did not make it; it is left as it is: move it away or pick another name");
      }
      throw berth::Error("provider_failed", "cannot create folder " + folder.string() + ": " + std::strerror(saved));
    }
    Marker marker;
    marker.path = folder.string();
    struct stat made {};
    if (::lstat(folder.c_str(), &made) != 0) throw berth::Error("provider_failed", "cannot read folder " + folder.string() + ": " + std::strerror(errno));
    marker.device = made.st_dev;
    marker.inode = made.st_ino;
    marker.born = birth_time(folder);
    std::string marker_file = new_marker_name(context.workspace.name);
    write_marker(context.data_dir, marker_file, marker);
    context.provider_data["path"] = folder.string();
    context.provider_data["marker"] = marker_file;
    context.provider_data["shell"] = property(context, "shell", "/bin/sh");
    context.progress.line("folder " + folder.string());
    const std::string& repository = context.workspace.repository;
    if (!repository.empty()) {
      berth::git::Checkout checkout = berth::git::checkout_of(context.workspace.options);
      context.progress.line("cloning " + repository + (checkout.describe().empty() ? "" : " (" + checkout.describe() + ")"));
      berth::git::GitRunner git = [&](const std::vector<std::string>& argv, std::string* out, std::string* reason) {
        berth::git::GitOutput output(context.progress, out, reason);
        int code = host::run_process({argv, "", {{"GIT_TERMINAL_PROMPT", "0"}}, "", &context.cancellation}, output);
        output.finish();
        return code;
      };
      std::string reason;
      int code = git(berth::git::clone_command(repository, folder.string(), checkout, {"--progress"}), nullptr, &reason);
      if (code != 0) {
        // git's own reason ("fatal: ... does not appear to be a git repository") says more than its code.
        throw berth::Error("provider_failed", "git clone of " + repository + " failed with exit code " + std::to_string(code) +
                                                  (reason.empty() ? "" : ": " + reason));
      }
      std::string commit = berth::git::settle_checkout(folder.string(), checkout, true, git);
      if (!commit.empty()) context.provider_data["commit"] = commit;
    }
    fs::remove(stopped_marker(context), error);
    marker.complete = true;
    write_marker(context.data_dir, marker_file, marker);
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
    std::set<int> groups, lingering;
    {
      std::lock_guard lock(mutex_);
      groups = running_[context.workspace.name];
      lingering = lingering_[context.workspace.name];  // kept: delete ends what ignores SIGTERM; a CPU reading forgets the dead
    }
    for (int group : groups) ::kill(-group, SIGTERM);
    // What commands left running: each process still the workspace's, never a whole group id.
    int left = 0;
    for_each_process({}, lingering, context.workspace.name, [&](int pid, int, long long) { left += ::kill(pid, SIGTERM) == 0 ? 1 : 0; });
    if (!groups.empty()) context.progress.line("ended " + std::to_string(groups.size()) + " running command(s)");
    if (left > 0) context.progress.line("ended " + std::to_string(left) + " process(es) that commands left running");
  }

  // Removes only the folder create recorded, and only while it is still the folder create made:
  // the marker create wrote is there and names this path, device and inode. Never a path
  // computed from the target's current root.
  void destroy(berth::OperationContext& context) override {
    stop_running(context.workspace.name);
    std::error_code error;
    fs::remove(stopped_marker(context), error);
    std::string recorded = recorded_path(context);
    if (recorded.empty()) {
      context.progress.line("no folder was recorded as made for this workspace; nothing removed");
      return;
    }
    fs::path folder = recorded;
    std::string marker_file = data_value(context, "marker");
    struct stat found {};
    if (::lstat(folder.c_str(), &found) != 0) {
      context.progress.line("folder " + folder.string() + " is already gone");
      remove_marker(context.data_dir, marker_file);
      return;
    }
    std::optional<Marker> marker = read_marker(context.data_dir, marker_file);
    // Device and inode alone are not enough: a folder removed and made again often gets the
    // same inode back. Its birth time does not come back.
    bool ours = marker && marker->path == folder.string() && S_ISDIR(found.st_mode) && marker->device == found.st_dev &&
                marker->inode == found.st_ino && marker->born == birth_time(folder);
    if (!ours) {
      context.progress.line("warning: left " + folder.string() +
                            " in place: it is not the folder berth made for this workspace (no marker of berth's, or the folder "
                            "was replaced); remove it yourself if it is unwanted");
      return;
    }
    fs::remove_all(folder, error);
    if (error) throw berth::Error("provider_failed", "cannot remove folder " + folder.string() + ": " + error.message());
    remove_marker(context.data_dir, marker_file);
    context.progress.line("removed " + folder.string());
  }

  berth::Status status(berth::OperationContext& context) override {
    std::string recorded = recorded_path(context);
    if (recorded.empty()) return {berth::InfraState::gone, "no folder was recorded for this workspace (its create did not finish)"};
    std::error_code error;
    if (!fs::is_directory(recorded, error)) return {berth::InfraState::gone, "folder " + recorded + " is gone"};
    // Only a create that reached its end marks the marker complete (records made before
    // markers existed have none and are taken as they are).
    if (std::string marker_file = data_value(context, "marker"); !marker_file.empty()) {
      std::optional<Marker> marker = read_marker(context.data_dir, marker_file);
      if (!marker || !marker->complete) return {berth::InfraState::unknown, "the create of " + recorded + " did not finish"};
    }
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
    host::ProcessSpec spec = command_spec(context, request.command, request.env, request.workdir, request.user);
    spec.stdin_data = request.stdin_data;
    spec.cancellation = &context.cancellation;
    return host::run_process(spec, output, observer_for(context.workspace.name));
  }

  int session(berth::OperationContext& context, const berth::SessionRequest& request, berth::SessionChannel& channel) override {
    std::vector<std::string> command = request.command;
    if (command.empty()) {
      auto shell = context.workspace.provider_data.find("shell");
      command = {shell == context.workspace.provider_data.end() ? "/bin/sh" : shell->second, "-l"};
    }
    host::SessionSpec spec{command_spec(context, command, request.env, request.workdir, request.user), request.tty, request.rows,
                           request.cols};
    return host::run_session(spec, channel, context.cancellation, observer_for(context.workspace.name));
  }

  void connect(berth::OperationContext& context, int port, berth::SessionChannel& channel) override {
    require_folder(context);
    host::connect_port(port, channel, context.cancellation);
  }


 private:
  static std::string property(const berth::OperationContext& context, const std::string& key, const std::string& fallback) {
    auto it = context.properties.find(key);
    return it == context.properties.end() || it->second.empty() ? fallback : it->second;
  }

  static std::string data_value(const berth::OperationContext& context, const std::string& key) {
    auto it = context.provider_data.find(key);
    return it == context.provider_data.end() ? "" : it->second;
  }

  // The folder create made, as it recorded it; empty when it made none.
  static std::string recorded_path(const berth::OperationContext& context) { return data_value(context, "path"); }

  // What create wrote about the folder it made, in the provider's own folder (never in the
  // user's tree): the path, the folder's device and inode, and whether the create finished.
  struct Marker {
    std::string path;
    dev_t device = 0;
    ino_t inode = 0;
    std::string born;  // the folder's birth time, "SECONDS.NANOSECONDS"; empty where the filesystem keeps none
    bool complete = false;
  };

  static std::string birth_time(const fs::path& folder) {
    struct statx info {};
    if (::statx(AT_FDCWD, folder.c_str(), AT_SYMLINK_NOFOLLOW, STATX_BTIME, &info) != 0 || !(info.stx_mask & STATX_BTIME)) return "";
    return std::to_string(info.stx_btime.tv_sec) + "." + std::to_string(info.stx_btime.tv_nsec);
  }

  static std::string new_marker_name(const std::string& workspace) {
    unsigned char random[8] = {};
    if (::getrandom(random, sizeof random, 0) != static_cast<ssize_t>(sizeof random)) {
      throw berth::Error("provider_failed", "no randomness for the workspace's marker");
    }
    std::string name = workspace + "-";
    static const char* hex = "0123456789abcdef";
    for (unsigned char byte : random) {
      name.push_back(hex[byte >> 4]);
      name.push_back(hex[byte & 15]);
    }
    return name;
  }

  static bool is_marker_name(const std::string& name) {
    return !name.empty() && name.size() < 128 && name.find('/') == std::string::npos && name[0] != '.';
  }

  static void write_marker(const std::string& data_dir, const std::string& name, const Marker& marker) {
    fs::path folder = fs::path(data_dir) / "made";
    std::error_code error;
    fs::create_directories(folder, error);
    std::string text = "device=" + std::to_string(marker.device) + "\ninode=" + std::to_string(marker.inode) +
                       "\nborn=" + marker.born + "\ncomplete=" + (marker.complete ? "true" : "false") + "\npath=" + marker.path;
    fs::path temp = folder / ("." + name + ".tmp");
    int fd = ::open(temp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
    bool written = fd >= 0 && ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
    if (fd >= 0) ::close(fd);
    if (!written || ::rename(temp.c_str(), (folder / name).c_str()) != 0) {
      int saved = errno;
      ::unlink(temp.c_str());
      throw berth::Error("provider_failed", "cannot write the marker " + (folder / name).string() + ": " + std::strerror(saved));
    }
  }

  static std::optional<Marker> read_marker(const std::string& data_dir, const std::string& name) {
    if (!is_marker_name(name)) return std::nullopt;
    fs::path path = fs::path(data_dir) / "made" / name;
    int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return std::nullopt;
    std::string text;
    char buffer[4096];
    ssize_t n;
    while ((n = ::read(fd, buffer, sizeof buffer)) > 0 && text.size() < 65536) text.append(buffer, static_cast<size_t>(n));
    ::close(fd);
    Marker marker;
    size_t at = text.find("path=");
    if (at == std::string::npos) return std::nullopt;
    marker.path = text.substr(at + 5);
    std::string head = text.substr(0, at);
    auto field = [&](const std::string& key) {
      size_t start = head.find(key + "=");
      if (start == std::string::npos) return std::string();
      start += key.size() + 1;
      return head.substr(start, head.find('\n', start) - start);
    };
    try {
      marker.device = static_cast<dev_t>(std::stoull(field("device")));
      marker.inode = static_cast<ino_t>(std::stoull(field("inode")));
    } catch (const std::exception&) {
      return std::nullopt;
    }
    marker.born = field("born");
    marker.complete = field("complete") == "true";
    return marker;
  }

  static void remove_marker(const std::string& data_dir, const std::string& name) {
    if (!is_marker_name(name)) return;
    ::unlink((fs::path(data_dir) / "made" / name).c_str());
  }

  static fs::path stopped_marker(const berth::OperationContext& context) {
    return fs::path(context.data_dir) / "stopped" / context.workspace.name;
  }

  fs::path require_folder(const berth::OperationContext& context) const {
    fs::path folder = recorded_path(context);
    std::error_code error;
    if (folder.empty() || !fs::is_directory(folder, error)) {
      throw berth::Error("provider_failed", (folder.empty() ? std::string("no folder was recorded for this workspace")
                                                            : "folder " + folder.string() + " is gone") +
                                                "; delete the workspace (berth delete " + context.workspace.name + " --force)");
    }
    return folder;
  }

  host::ProcessSpec command_spec(berth::OperationContext& context, const std::vector<std::string>& command, const berth::StringMap& extra_env,
                                 const std::string& workdir, const std::string& user) {
    fs::path folder = require_folder(context);
    if (!user.empty()) {
      throw berth::Error("invalid", "the host provider runs commands as the server's user; --user is not supported");
    }
    fs::path where = workdir.empty() ? folder : fs::path(workdir).is_absolute() ? fs::path(workdir) : folder / workdir;
    berth::StringMap env = context.workspace.env;
    for (const auto& [key, value] : extra_env) env[key] = value;
    env["BERTH_WORKSPACE"] = context.workspace.name;
    return host::ProcessSpec{command, where.string(), env, {}, nullptr};
  }

  // Keeps the workspace's running commands' groups, so stop and delete end them.
  host::PidObserver observer_for(const std::string& name) {
    return [this, name](int pid) {
      std::lock_guard lock(mutex_);
      if (pid > 0) {
        running_[name].insert(pid);
      } else {
        running_[name].erase(-pid);  // only this command: the workspace's others still run
        // What it left running in its group (`cmd &`) is still the workspace's: its CPU counts
        // for auto-stop, and stop ends it.
        lingering_[name].insert(-pid);
      }
    };
  }

  // The CPU time of the processes in the workspace's commands' groups (and of their reaped
  // children); a lingering group with no process of the workspace left is forgotten.
  double cpu_seconds(berth::OperationContext& context) override {
    const std::string& name = context.workspace.name;
    std::set<int> running, lingering, alive;
    {
      std::lock_guard lock(mutex_);
      running = running_[name];
      lingering = lingering_[name];
    }
    long long ticks = 0;
    for_each_process(running, lingering, name, [&](int, int group, long long used) {
      alive.insert(group);
      ticks += used;
    });
    {
      std::lock_guard lock(mutex_);
      // Only groups this pass looked for: one added meanwhile (an exec that just ended) stays.
      std::erase_if(lingering_[name], [&](int group) { return lingering.count(group) && !alive.count(group); });
    }
    return static_cast<double>(ticks) / static_cast<double>(::sysconf(_SC_CLK_TCK));
  }

  // Each process in one of `running` (groups whose leader berth is waiting for: theirs for
  // sure) or of `lingering` (the leader ended: a group id may have been reused since, so only a
  // process whose environment says BERTH_WORKSPACE=name counts), with its CPU ticks.
  static void for_each_process(const std::set<int>& running, const std::set<int>& lingering, const std::string& name,
                               const std::function<void(int pid, int group, long long ticks)>& visit) {
    std::string mark = "BERTH_WORKSPACE=" + name;
    std::error_code error;
    for (const auto& entry : fs::directory_iterator("/proc", error)) {
      std::string pid = entry.path().filename().string();
      if (pid.empty() || pid.find_first_not_of("0123456789") != std::string::npos) continue;
      std::ifstream file(entry.path() / "stat");
      std::string stat((std::istreambuf_iterator<char>(file)), std::istreambuf_iterator<char>());
      size_t after_name = stat.rfind(')');  // the name may hold spaces and ')'
      if (after_name == std::string::npos || after_name + 2 > stat.size()) continue;
      std::istringstream fields(stat.substr(after_name + 2));
      std::string state;
      long long ppid = 0, group = 0, session = 0, tty = 0, tpgid = 0, flags = 0, minflt = 0, cminflt = 0, majflt = 0, cmajflt = 0;
      long long utime = 0, stime = 0, cutime = 0, cstime = 0;
      fields >> state >> ppid >> group >> session >> tty >> tpgid >> flags >> minflt >> cminflt >> majflt >> cmajflt >> utime >> stime >> cutime >> cstime;
      if (!fields) continue;
      int id = static_cast<int>(group);
      if (!running.count(id)) {
        if (!lingering.count(id)) continue;
        std::ifstream environ(entry.path() / "environ");
        std::string env((std::istreambuf_iterator<char>(environ)), std::istreambuf_iterator<char>());
        // Entries are NUL-terminated: the mark is a whole entry when NUL stands on both sides.
        std::string padded = std::string(1, '\0') + env + std::string(1, '\0');
        bool ours = padded.find(std::string(1, '\0') + mark + std::string(1, '\0')) != std::string::npos;
        if (!ours) continue;
      }
      visit(std::stoi(pid), id, utime + stime + cutime + cstime);
    }
  }

  void stop_running(const std::string& name) {
    std::lock_guard lock(mutex_);
    for (int group : running_[name]) ::kill(-group, SIGKILL);
    for_each_process({}, lingering_[name], name, [](int pid, int, long long) { ::kill(pid, SIGKILL); });
    running_.erase(name);
    lingering_.erase(name);
  }

  std::mutex mutex_;
  std::map<std::string, std::set<int>> running_;
  std::map<std::string, std::set<int>> lingering_;  // groups whose leader ended: what they left may still run
};

}  // namespace

BERTH_PROVIDER(HostProvider)
