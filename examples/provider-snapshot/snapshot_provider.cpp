// snapshot: each workspace is a folder under `root`. Stopping it packs the folder into
// ROOT/NAME.tar[.gz] and removes the folder, so a stopped workspace costs one file; starting
// unpacks it again. Sessions (berth exec, berth ssh) and ports (berth forward) run on this
// machine, in the folder: session.cpp. Written only against berth's public SDK.
#include "session.hpp"

#include <berth/provider.hpp>

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>

namespace fs = std::filesystem;

namespace {

// Runs argv, sends each output line to progress, and returns the exit code.
int run(const std::vector<std::string>& argv, berth::ProgressSink& progress, const std::string& workdir = "") {
  int pipe_fds[2];
  if (::pipe(pipe_fds) != 0) throw berth::Error("provider_failed", "pipe failed");
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(pipe_fds[1], 1);
    ::dup2(pipe_fds[1], 2);
    ::close(pipe_fds[0]);
    if (!workdir.empty() && ::chdir(workdir.c_str()) != 0) ::_exit(126);
    std::vector<char*> args;
    for (const auto& arg : argv) args.push_back(const_cast<char*>(arg.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  ::close(pipe_fds[1]);
  std::string pending;
  std::array<char, 4096> buffer{};
  ssize_t n;
  while ((n = ::read(pipe_fds[0], buffer.data(), buffer.size())) > 0) {
    for (ssize_t i = 0; i < n; ++i) {
      if (buffer[static_cast<size_t>(i)] == '\n') {
        progress.line(pending);
        pending.clear();
      } else {
        pending.push_back(buffer[static_cast<size_t>(i)]);
      }
    }
  }
  if (!pending.empty()) progress.line(pending);
  ::close(pipe_fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Collects a command's output for exec, separated by stream.
class ExecOutput : public berth::ProgressSink {
 public:
  explicit ExecOutput(berth::OutputSink& out) : out_(out) {}
  void line(std::string_view text) override {
    out_.write(berth::OutputStream::stdout_stream, text);
    out_.write(berth::OutputStream::stdout_stream, "\n");
  }

 private:
  berth::OutputSink& out_;
};

class SnapshotProvider : public berth::Provider {
 public:
  berth::ProviderInfo info() const override {
    return {"snapshot", "1.0.0", "Folders that are packed into a tarball while stopped, and unpacked on start",
            {{"root", berth::PropertyType::path, true, "", {}, "Folder that holds the workspaces and their snapshots"},
             {"compression", berth::PropertyType::enumeration, false, "gzip", {"gzip", "none"}, "How snapshots are packed"}}};
  }

  void create(berth::OperationContext& context) override {
    fs::path folder = folder_of(context);
    fs::create_directories(folder);
    context.provider_data["path"] = folder.string();
    if (!context.workspace.repository.empty()) {
      context.progress.line("cloning " + context.workspace.repository);
      if (run({"git", "clone", "--quiet", "--", context.workspace.repository, folder.string()}, context.progress) != 0) {
        throw berth::Error("provider_failed", "git clone of " + context.workspace.repository + " failed");
      }
    }
  }

  void start(berth::OperationContext& context) override {
    fs::path archive = archive_of(context);
    if (!fs::exists(archive)) {
      if (fs::is_directory(folder_of(context))) return;  // already unpacked
      throw berth::Error("provider_failed", "neither the folder nor the snapshot " + archive.string() + " exists");
    }
    fs::create_directories(folder_of(context));
    if (run({"tar", gzip(context) ? "-xzf" : "-xf", archive.string(), "-C", folder_of(context).string()}, context.progress) != 0) {
      throw berth::Error("provider_failed", "cannot unpack " + archive.string());
    }
    fs::remove(archive);
    context.progress.line("unpacked " + archive.filename().string());
  }

  void stop(berth::OperationContext& context) override {
    fs::path folder = folder_of(context);
    if (!fs::is_directory(folder)) return;  // already packed
    fs::path archive = archive_of(context);
    if (run({"tar", gzip(context) ? "-czf" : "-cf", archive.string(), "-C", folder.string(), "."}, context.progress) != 0) {
      throw berth::Error("provider_failed", "cannot pack " + folder.string());
    }
    fs::remove_all(folder);
    context.progress.line("packed into " + archive.string() + " (" + std::to_string(fs::file_size(archive)) + " bytes)");
  }

  void destroy(berth::OperationContext& context) override {
    fs::remove_all(folder_of(context));
    fs::remove(archive_of(context));
  }

  berth::Status status(berth::OperationContext& context) override {
    if (fs::is_directory(folder_of(context))) return {berth::InfraState::started, ""};
    if (fs::exists(archive_of(context))) return {berth::InfraState::stopped, "packed"};
    return {berth::InfraState::gone, "neither folder nor snapshot exists"};
  }

  int exec(berth::OperationContext& context, const berth::ExecRequest& request, berth::OutputSink& output) override {
    ExecOutput lines(output);
    return run(request.command, lines, folder_of(context).string());
  }

  // berth exec and berth ssh (SDK 1.2): streamed stdin, a terminal when asked, resizes, signals.
  int session(berth::OperationContext& context, const berth::SessionRequest& request, berth::SessionChannel& channel) override {
    fs::path folder = folder_of(context);
    if (!fs::is_directory(folder)) {
      throw berth::Error("conflict", "workspace '" + context.workspace.name + "' is packed (berth start " + context.workspace.name + ")");
    }
    return snapshot::run_session(folder.string(), context.workspace.env, request, channel, context.cancellation);
  }

  // berth forward (SDK 1.2): the workspace's ports are this machine's.
  void connect(berth::OperationContext& context, int port, berth::SessionChannel& channel) override {
    snapshot::connect_to_port(port, channel, context.cancellation);
  }

 private:
  static fs::path root(const berth::OperationContext& context) { return context.properties.at("root"); }
  static fs::path folder_of(const berth::OperationContext& context) { return root(context) / context.workspace.name; }
  static bool gzip(const berth::OperationContext& context) { return context.properties.at("compression") == "gzip"; }
  static fs::path archive_of(const berth::OperationContext& context) {
    return root(context) / (context.workspace.name + (gzip(context) ? ".tar.gz" : ".tar"));
  }
};

}  // namespace

BERTH_PROVIDER(SnapshotProvider)
