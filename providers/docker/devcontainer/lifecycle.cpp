// The lifecycle commands of a devcontainer.json: initializeCommand on this machine, the others
// in the container, in the spec's order, streamed to the workspace log.
#include "plan.hpp"

#include "../local_command.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <deque>
#include <mutex>
#include <thread>

namespace docker::dc {
namespace {

berth::Error failed(const std::string& message) { return berth::Error("provider_failed", message); }

std::string shown(const std::vector<std::string>& argv) {
  if (argv.size() == 3 && argv[0] == "/bin/sh" && argv[1] == "-c") return argv[2];
  std::string out;
  for (const auto& part : argv) out += (out.empty() ? "" : " ") + part;
  return out;
}

// Command output to the workspace log line by line (prefixed with the command's name in the
// parallel form), keeping the last lines for the message of a failure. Shared by parallel
// commands, hence the lock.
class LogLines {
 public:
  explicit LogLines(berth::ProgressSink& progress) : progress_(progress) {}
  void line(const std::string& prefix, const std::string& text) {
    std::lock_guard lock(mutex_);
    progress_.line(prefix + text);
    last_.push_back(prefix + text);
    if (last_.size() > 15) last_.pop_front();
  }
  std::string last() {
    std::lock_guard lock(mutex_);
    std::string out;
    for (const auto& line : last_) out += "\n  " + line;
    return out;
  }

 private:
  berth::ProgressSink& progress_;
  std::mutex mutex_;
  std::deque<std::string> last_;
};

class LineSink : public berth::OutputSink {
 public:
  LineSink(LogLines& log, std::string prefix) : log_(log), prefix_(std::move(prefix)) {}
  ~LineSink() override { flush(); }
  void write(berth::OutputStream, std::string_view data) override {
    for (char c : data) {
      if (c == '\n' || c == '\r') flush();
      else pending_.push_back(c);
    }
  }
  void flush() {
    if (!pending_.empty()) log_.line(prefix_, pending_);
    pending_.clear();
  }

 private:
  LogLines& log_;
  std::string prefix_;
  std::string pending_;
};

// Runs argv on this machine in folder; its output goes to log. Returns the exit code.
int run_here(const std::vector<std::string>& argv, const fs::path& folder, LogLines& log, const std::string& prefix) {
  LineSink sink(log, prefix);
  int code = run_local(argv, folder.string(), sink);
  sink.flush();
  return code;
}

using Runner = std::function<int(const std::vector<std::string>& argv, LogLines& log, const std::string& prefix)>;

// One command in its three forms; the object form's commands run at once. Throws on failure.
void run_command(const std::string& what, const Json& command, berth::ProgressSink& progress, const Runner& run) {
  auto steps = devcontainer::command_steps(command);
  if (steps.empty()) return;
  LogLines log(progress);
  std::vector<int> codes(steps.size(), 0);
  std::vector<std::string> errors(steps.size());
  auto one = [&](size_t i) {
    const auto& [name, argv] = steps[i];
    try {
      codes[i] = run(argv, log, name.empty() ? "" : "[" + name + "] ");
    } catch (const std::exception& error) {
      errors[i] = error.what();
      codes[i] = -1;
    }
  };
  for (const auto& [name, argv] : steps) progress.line("running " + what + (name.empty() ? "" : " '" + name + "'") + ": " + shown(argv));
  if (steps.size() == 1) {
    one(0);
  } else {
    std::vector<std::thread> threads;
    for (size_t i = 0; i < steps.size(); ++i) threads.emplace_back(one, i);
    for (auto& thread : threads) thread.join();
  }
  for (size_t i = 0; i < steps.size(); ++i) {
    if (codes[i] == 0) continue;
    const auto& [name, argv] = steps[i];
    std::string named = what + (name.empty() ? "" : " '" + name + "'");
    if (!errors[i].empty()) throw failed(named + " could not run: " + errors[i]);
    throw failed(named + " failed with exit code " + std::to_string(codes[i]) + ": " + shown(argv) + "; its last lines:" + log.last());
  }
}

std::string value_of(const berth::StringMap& map, const std::string& key) {
  auto it = map.find(key);
  return it == map.end() ? "" : it->second;
}

}  // namespace

void run_initialize_command(const Plan& plan, berth::ProgressSink& progress) {
  const Json& root = plan.config.document.value;
  if (!root.contains("initializeCommand")) return;
  // Never silently: who runs it, and where, is said before its output.
  progress.line("initializeCommand runs on the server's machine as user " + std::to_string(::getuid()) + ", in the clone " + plan.checkout.string());
  run_command("initializeCommand", root["initializeCommand"], progress, [&](const std::vector<std::string>& argv, LogLines& log, const std::string& prefix) {
    return run_here(argv, plan.checkout, log, prefix);
  });
}

void give_to_user(berth::OperationContext& c, const ExecFunction& exec, const std::string& user, const std::string& folder) {
  if (user.empty() || user == "root" || user == "0" || user.rfind("0:", 0) == 0) return;
  berth::ExecRequest request;
  request.command = {"/bin/sh", "-c",
                     "case \"$1\" in *[!0-9:]*) owner=\"$(id -u \"$1\"):$(id -g \"$1\")\" || exit 1;; *) owner=\"$1\";; esac; "
                     "chown -R \"$owner\" \"$2\"",
                     "sh", user, folder};
  request.user = "root";
  request.workdir = "/";
  LogLines log(c.progress);
  LineSink sink(log, "");
  int code = exec(request, sink);
  sink.flush();
  if (code != 0) throw failed("cannot give " + folder + " to user '" + user + "' (exit code " + std::to_string(code) + "): does the image have that user?" + log.last());
}

void settle_container(Engine& engine, berth::OperationContext& c, const ExecFunction& exec) {
  Reply inspected = engine.get("/containers/" + value_of(c.provider_data, "container_id") + "/json");
  if (inspected.status != 200) throw failed("cannot inspect the container: " + inspected.message());
  // The container's environment as its processes have it: PID 1's, which holds what the engine
  // adds to the image's ENV (PATH when the image sets none, HOSTNAME, HOME); the configured
  // Env where it cannot be read (no cat in the image), with the engine's default PATH.
  std::map<std::string, std::string> container_env;
  auto add = [&](const std::string& text) {
    size_t equals = text.find('=');
    if (equals != std::string::npos && equals > 0) container_env[text.substr(0, equals)] = text.substr(equals + 1);
  };
  for (const auto& item : inspected.json()["Config"].value("Env", Json::array())) {
    if (item.is_string()) add(item.get<std::string>());
  }
  struct Capture : berth::OutputSink {
    std::string out;
    void write(berth::OutputStream stream, std::string_view data) override {
      if (stream == berth::OutputStream::stdout_stream && out.size() < (1 << 20)) out.append(data);
    }
  } environ;
  berth::ExecRequest read;
  read.command = {"cat", "/proc/1/environ"};
  read.user = "root";
  read.workdir = "/";
  try {
    if (exec(read, environ) == 0) {
      for (size_t at = 0; at < environ.out.size();) {
        size_t end = environ.out.find('\0', at);
        add(environ.out.substr(at, end == std::string::npos ? std::string::npos : end - at));
        if (end == std::string::npos) break;
        at = end + 1;
      }
    }
  } catch (const std::exception&) {
    // The configured Env stands.
  }
  container_env.try_emplace("PATH", "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");  // the engine's default
  for (const char* key : {"remote_env", "devcontainer.commands", "devcontainer.merged"}) {
    Json value = Json::parse(value_of(c.provider_data, key), nullptr, false);
    if (value.is_discarded()) continue;
    devcontainer::substitute_container_env(value, container_env);
    c.provider_data[key] = value.dump();
  }
  give_to_user(c, exec, value_of(c.provider_data, "remote_user"), value_of(c.provider_data, "workdir"));
}

namespace {

Json recorded_commands(const berth::OperationContext& c) {
  if (!c.provider_data.count("devcontainer.commands")) return nullptr;
  Json commands = Json::parse(value_of(c.provider_data, "devcontainer.commands"), nullptr, false);
  return commands.is_object() ? commands : Json(nullptr);
}

Runner in_container(const ExecFunction& exec) {
  return [&exec](const std::vector<std::string>& argv, LogLines& log, const std::string& prefix) {
    berth::ExecRequest request;
    request.command = argv;
    LineSink sink(log, prefix);
    int code = exec(request, sink);
    sink.flush();
    return code;
  };
}

}  // namespace

void run_attach_commands(berth::OperationContext& c, const ExecFunction& exec) {
  Json commands = recorded_commands(c);
  if (commands.is_null()) return;
  for (const auto& command : commands.value("postAttachCommands", Json::array())) {
    run_command("postAttachCommand", command, c.progress, in_container(exec));
  }
}

void run_lifecycle(berth::OperationContext& c, const ExecFunction& exec, bool until_ready) {
  Json commands = recorded_commands(c);
  if (commands.is_null()) return;
  Runner run = in_container(exec);
  static const std::pair<const char*, const char*> kStages[] = {{"onCreateCommands", "onCreateCommand"},
                                                                {"updateContentCommands", "updateContentCommand"},
                                                                {"postCreateCommands", "postCreateCommand"},
                                                                {"postStartCommands", "postStartCommand"}};
  // waitFor: the last stage the workspace waits for before it is ready (the spec's default
  // updateContentCommand; initializeCommand ran on this machine already, so none here).
  int last = 3;
  if (until_ready) {
    std::string wait_for = value_of(c.provider_data, "devcontainer.wait_for");
    last = wait_for == "initializeCommand" ? -1 : wait_for == "onCreateCommand" ? 0 : wait_for == "postCreateCommand" ? 2
           : wait_for == "postStartCommand" ? 3 : 1;
  }
  int next = std::atoi(value_of(c.provider_data, "devcontainer.next_command").c_str());
  for (int stage = next; stage < 3 && stage <= last; ++stage) {
    const auto& [plural, single] = kStages[stage];
    for (const auto& command : commands.value(plural, Json::array())) run_command(single, command, c.progress, run);
    c.provider_data["devcontainer.next_command"] = std::to_string(stage + 1);
  }
  if (last >= 3) {
    for (const auto& command : commands.value("postStartCommands", Json::array())) run_command("postStartCommand", command, c.progress, run);
    return;
  }
  // What is left goes on once the workspace is ready: the server calls start() again at once
  // (berth.after_ready), which runs it from devcontainer.next_command.
  std::string left;
  for (int stage = std::max(next, last + 1); stage < 4; ++stage) {
    if (!commands.value(kStages[stage].first, Json::array()).empty()) left += std::string(left.empty() ? "" : ", ") + kStages[stage].second;
  }
  if (left.empty()) return;
  c.provider_data["berth.after_ready"] = left;
  c.progress.line("ready (waitFor: " + value_of(c.provider_data, "devcontainer.wait_for") + "); then, in the background: " + left +
                  " (berth logs -f " + c.workspace.name + ")");
}

}  // namespace docker::dc
