// The docker provider: each workspace is a container on a Docker engine, driven through the
// Engine API (no docker CLI needed). Written only against berth's public SDK.
#include "devcontainer/plan.hpp"
#include "engine.hpp"
#include "session.hpp"
#include "exec_defaults.hpp"
#include "local_command.hpp"
#include "watch.hpp"

#include <berth/provider.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cstring>
#include <chrono>
#include <cmath>
#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <mutex>

namespace fs = std::filesystem;
using docker::Engine;
using docker::Json;
using docker::Reply;
using docker::url_escape;

namespace {

std::string property(const berth::StringMap& properties, const std::string& key) {
  auto it = properties.find(key);
  return it == properties.end() ? "" : it->second;
}

berth::Error failed(const std::string& message) { return berth::Error("provider_failed", message); }

// How long one engine call may wait for the engine: a status or a check answers in seconds
// (berth info must not hang on a frozen engine); work that changes things gets longer.
constexpr std::chrono::seconds kQuickDeadline{5};
constexpr std::chrono::seconds kWorkDeadline{60};


// A positive decimal number ("2", "1.5", ".5") at the start of text; the characters it used.
bool leading_number(const std::string& text, double& value, size_t& used) {
  used = 0;
  bool digits = false, point = false;
  while (used < text.size() && ((text[used] >= '0' && text[used] <= '9') || (text[used] == '.' && !point))) {
    if (text[used] == '.') point = true; else digits = true;
    ++used;
  }
  if (!digits) return false;
  value = std::strtod(text.substr(0, used).c_str(), nullptr);
  return value > 0;
}

// The memory property: "512m", "2g", "1048576" -> bytes; 0 when not set.
long long parse_memory(const std::string& text) {
  if (text.empty()) return 0;
  double amount = 0;
  size_t used = 0;
  std::string unit;
  if (leading_number(text, amount, used)) {
    for (char c : text.substr(used)) unit.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    if (unit.size() == 2 && unit[1] == 'b') unit.pop_back();  // "512mb" as "512m"
  }
  double scale = unit.empty() || unit == "b" ? 1.0 : unit == "k" ? 1024.0 : unit == "m" ? 1024.0 * 1024 : unit == "g" ? 1024.0 * 1024 * 1024 : -1;
  if (used == 0 || scale < 0 || amount * scale < 6 * 1024 * 1024 || amount * scale > 1e15) {
    throw berth::Error("invalid", "property 'memory' is '" + text + "': expected a size of at least 6m (the engine's minimum), "
                       "a number with an optional unit b, k, m or g, e.g. 512m or 2g");
  }
  return static_cast<long long>(amount * scale);
}

// The cpus property: "1.5" -> 1500000000 (the engine's NanoCpus); 0 when not set.
long long parse_cpus(const std::string& text) {
  if (text.empty()) return 0;
  double cpus = 0;
  size_t used = 0;
  if (!leading_number(text, cpus, used) || used != text.size() || cpus < 0.01 || cpus > 1024) {
    throw berth::Error("invalid", "property 'cpus' is '" + text + "': expected a number of CPUs from 0.01 to 1024, e.g. 1.5");
  }
  return std::llround(cpus * 1e9);
}

// An integer property, checked at target add; a record older than that check still gets a
// message naming the property instead of a bare conversion error.
int whole_number(const berth::StringMap& properties, const std::string& key, long minimum, long maximum) {
  std::string text = property(properties, key);
  char* end = nullptr;
  errno = 0;
  long value = std::strtol(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno != 0 || value < minimum || value > maximum) {
    throw berth::Error("invalid", "property '" + key + "' is '" + text + "': expected a whole number from " + std::to_string(minimum) +
                                      " to " + std::to_string(maximum));
  }
  return static_cast<int>(value);
}

// "A=1,B=2" -> ["A=1", "B=2"]
std::vector<std::string> split_env(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t comma = text.find(',', start);
    std::string item = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (!item.empty()) out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

// The label that says which berth home made a container.
constexpr const char* kIdentityLabel = "dev.berth.identity";
static_assert(std::string_view(kIdentityLabel) == docker::kIdentityLabel, "the watch filters on the same label");

// This home's identity on Docker engines: 32 random hex digits made once, at the provider's
// first use, and kept in its own folder (0600). Two homes at the same path on two machines
// sharing an engine get different ones, so they never share a container name or take each
// other's containers for their own.
std::string read_or_make_identity(const std::string& data_dir) {
  fs::path path = fs::path(data_dir) / "identity";
  auto read_identity = [&]() -> std::string {
    int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) return "";
    char buffer[64] = {};
    ssize_t n = ::read(fd, buffer, sizeof buffer - 1);
    ::close(fd);
    std::string text = n > 0 ? std::string(buffer, static_cast<size_t>(n)) : "";
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
    bool hex = text.size() == 32 && text.find_first_not_of("0123456789abcdef") == std::string::npos;
    return hex ? text : "";
  };
  if (std::string known = read_identity(); !known.empty()) return known;
  unsigned char random[16];
  if (::getrandom(random, sizeof random, 0) != static_cast<ssize_t>(sizeof random)) throw failed("no randomness for this home's identity");
  std::string identity;
  static const char* hex = "0123456789abcdef";
  for (unsigned char byte : random) {
    identity.push_back(hex[byte >> 4]);
    identity.push_back(hex[byte & 15]);
  }
  std::error_code error;
  fs::create_directories(path.parent_path(), error);
  // O_EXCL: made once; a concurrent first use that lost the race reads the winner's.
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd >= 0) {
    std::string line = identity + "\n";
    bool written = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size()) && ::fsync(fd) == 0;
    ::close(fd);
    if (!written) {
      ::unlink(path.c_str());
      throw failed("cannot write this home's identity to " + path.string());
    }
    return identity;
  }
  if (errno != EEXIST) throw failed("cannot make this home's identity " + path.string() + ": " + std::strerror(errno));
  if (std::string known = read_identity(); !known.empty()) return known;
  throw failed(path.string() + " is not an identity berth wrote (32 hex digits); move it away and try again");
}


class DockerProvider : public berth::Provider {
 public:
  berth::ProviderInfo info() const override {
    using T = berth::PropertyType;
    return {"docker",
            "0.1.0",
            "Workspaces as containers on a Docker engine, local or remote, through the Engine API",
            {
                {"host", T::string, false, "unix:///var/run/docker.sock", {}, "Engine address: unix:///PATH or tcp://HOST:PORT"},
                {"image", T::string, false, "debian:bookworm", {}, "Default image for workspaces (berth create --image overrides)"},
                {"pull", T::enumeration, false, "missing", {"missing", "always", "never"}, "When to pull the image"},
                {"workdir", T::string, false, "/workspaces/{name}", {}, "Folder in the container for the repository; {name} is the workspace"},
                {"user", T::string, false, "", {}, "User that commands run as (default: the image's)"},
                {"network", T::string, false, "bridge", {}, "Network the container joins"},
                {"cpus", T::string, false, "", {}, "CPU limit, e.g. 1.5 (0.01 to 1024)"},
                {"memory", T::string, false, "", {}, "Memory limit, e.g. 512m or 2g (at least 6m)"},
                {"stop_timeout", T::integer, false, "10", {}, "Seconds stop waits before killing (0 to 3600)", 0, 3600},
                {"env", T::string, false, "", {}, "Environment for every workspace: A=1,B=2"},
            }};
  }

  berth::TargetCheck check_target(const berth::StringMap& properties, const std::string&) override {
    parse_memory(property(properties, "memory"));
    parse_cpus(property(properties, "cpus"));
    auto engine = engine_for(property(properties, "host"), kQuickDeadline);
    Reply reply = engine->get("/_ping");
    if (reply.status != 200) return {false, "the engine at " + engine->address() + " answered " + reply.message()};
    return {true, "engine at " + engine->address() + " answers, API " + engine->api_version()};
  }

  void create(berth::OperationContext& c) override {
    long long memory = parse_memory(property(c.properties, "memory"));  // refused before anything is made
    long long nano_cpus = parse_cpus(property(c.properties, "cpus"));
    int stop_timeout = whole_number(c.properties, "stop_timeout", 0, 3600);
    auto engine = engine_for(property(c.properties, "host"), kWorkDeadline);
    // The repository is cloned first, on this machine: its devcontainer.json, if any, decides
    // the image and the container (providers/docker/devcontainer/).
    Checkout checkout(fs::path(c.data_dir) / "staging" / c.workspace.name, c.workspace.name);
    clone_repository(c, checkout);
    auto plan = docker::dc::load_plan(c, checkout.clone, workdir_of(c));
    std::string image = c.workspace.image.empty() ? property(c.properties, "image") : c.workspace.image;
    auto ensure = [&](const std::string& wanted) { ensure_image(*engine, wanted, property(c.properties, "pull"), c.progress); };
    if (plan) {
      c.progress.line("using " + plan->shown_as);
      docker::dc::run_initialize_command(*plan, c.progress);
      docker::dc::prepare_image(*plan, *engine, ensure, c.progress);
      docker::dc::check_host_requirements(*plan, *engine);
      image = plan->image;
    } else {
      ensure(image);
    }

    std::string name = container_name(c);
    // A container of this name left by an interrupted create is ours (this home's identity):
    // replace it. Anything else of that name is left alone.
    if (Reply old = engine->get("/containers/" + name + "/json"); old.status == 200) {
      if (label_of(old, kIdentityLabel) != identity(c.data_dir)) {
        throw failed("a container named " + name + " exists and is not this berth home's; remove or rename it");
      }
      engine->del("/containers/" + name + "?force=true&v=true");
    }

    std::string workdir = plan ? plan->workspace_folder() : workdir_of(c);
    Json env = Json::array();
    for (const auto& item : split_env(property(c.properties, "env"))) env.push_back(item);
    for (const auto& [key, value] : c.workspace.env) env.push_back(key + "=" + value);
    Json host_config{{"NetworkMode", property(c.properties, "network")}};
    if (memory > 0) host_config["Memory"] = memory;
    if (nano_cpus > 0) host_config["NanoCpus"] = nano_cpus;
    Json body{{"Image", image},
              // Sleeps until told to stop, and ends at once on SIGTERM (sh as PID 1 ignores it otherwise).
              {"Cmd", {"/bin/sh", "-c", "trap 'exit 0' TERM INT; while :; do sleep 86400 & wait $!; done"}},
              {"Entrypoint", Json::array()},
              {"Env", env},
              {"WorkingDir", workdir},
              {"Labels", {{kIdentityLabel, identity(c.data_dir)}, {"dev.berth.home", c.data_dir}, {"dev.berth.workspace", c.workspace.name}}},
              {"StopTimeout", stop_timeout},
              {"HostConfig", host_config}};
    if (auto user = property(c.properties, "user"); !user.empty()) body["User"] = user;
    // The user's labels, under berth's prefix: never one of berth's own (its identity label).
    for (const auto& [key, value] : c.workspace.labels) body["Labels"]["dev.berth.label." + key] = value;
    if (plan) docker::dc::shape_container(*plan, c, body);
    Reply created = engine->post("/containers/create?name=" + url_escape(name), body);
    if (created.status != 201) throw failed("cannot create container " + name + ": " + created.message());
    std::string id = created.json().value("Id", "");
    c.provider_data["container_id"] = id;
    c.provider_data["container_name"] = name;
    c.provider_data["docker_host"] = engine->address();
    c.provider_data["workdir"] = workdir;
    c.provider_data["image"] = image;
    if (plan) docker::dc::record_plan(*plan, c.provider_data);
    c.progress.line("container " + name + " (" + id.substr(0, 12) + ") from " + image);

    copy_repository(*engine, c, id, workdir, checkout);
    Reply started = engine->post("/containers/" + id + "/start");
    if (started.status != 204 && started.status != 304) throw failed("cannot start container " + name + ": " + started.message());
    c.progress.line("container started");
    auto run = [&](const berth::ExecRequest& request, berth::OutputSink& output) { return exec(c, request, output); };
    if (plan) {
      docker::dc::settle_container(*engine, c, run);
      docker::dc::run_lifecycle(c, run);
    } else {
      docker::dc::give_to_user(c, run, property(c.properties, "user"), workdir);
    }
  }

  void start(berth::OperationContext& c) override {
    auto engine = engine_for(engine_address(c), kWorkDeadline);
    // A start from error may find the container running (a lifecycle command failed after it
    // started); the engine's 304 to a second start has no length, so it is not asked.
    Reply found = engine->get("/containers/" + container_id(c) + "/json");
    // Paused outside berth (docker pause): start resumes it.
    if (found.status == 200 && found.json()["State"].value("Paused", false)) {
      Reply resumed = engine->post("/containers/" + container_id(c) + "/unpause");
      if (resumed.status != 204) throw failed("cannot resume the paused container: " + resumed.message());
      c.progress.line("container resumed (it was paused)");
    }
    bool running = found.status == 200 && found.json()["State"].value("Running", false);
    Reply reply = running ? Reply{304, ""} : engine->post("/containers/" + container_id(c) + "/start");
    if (reply.status == 404) throw failed("container gone: it was removed outside berth; delete the workspace (berth delete " + c.workspace.name + ")");
    if (reply.status != 204 && reply.status != 304) throw failed("cannot start the container: " + reply.message());
    // devcontainer.json's create-time commands not yet done (after a failure), then postStartCommand.
    docker::dc::run_lifecycle(c, [&](const berth::ExecRequest& request, berth::OutputSink& output) { return exec(c, request, output); });
  }

  void stop(berth::OperationContext& c) override {
    int stop_timeout = whole_number(c.properties, "stop_timeout", 0, 3600);
    auto engine = engine_for(engine_address(c), kWorkDeadline + std::chrono::seconds(stop_timeout));
    Reply reply = engine->post("/containers/" + container_id(c) + "/stop?t=" + std::to_string(stop_timeout));
    if (reply.status == 404) throw failed("container gone: it was removed outside berth; delete the workspace (berth delete " + c.workspace.name + ")");
    if (reply.status != 204 && reply.status != 304) throw failed("cannot stop the container: " + reply.message());
  }

  // Removes the container create recorded (on the engine it recorded, so it works after the
  // target is gone), and only while it is this home's: its identity label is ours, or, for a
  // container made before identities, it is the very container whose id create recorded.
  void destroy(berth::OperationContext& c) override {
    auto engine = engine_for(engine_address(c), kWorkDeadline);
    auto recorded = c.provider_data.find("container_id");
    std::string id = recorded != c.provider_data.end() ? recorded->second : container_name(c);
    Reply found = engine->get("/containers/" + id + "/json");
    if (found.status == 404) {
      c.progress.line("container already gone");
      return;
    }
    if (found.status != 200) throw failed("cannot inspect the container: " + found.message());
    std::string label = label_of(found, kIdentityLabel);
    bool ours = label == identity(c.data_dir) ||
                (label.empty() && recorded != c.provider_data.end() && found.json().value("Id", "") == recorded->second);
    if (!ours && recorded == c.provider_data.end()) {
      // No container was recorded as made (the create stopped before): the one of that name
      // is someone else's.
      c.progress.line("no container was recorded for this workspace; " + id + " is not this home's and is left as it is");
      return;
    }
    if (!ours) {
      throw failed("container " + id + " is not this berth home's (its identity label is '" + label +
                   "'); it is left as it is. berth delete " + c.workspace.name + " --force removes the record only");
    }
    Reply reply = engine->del("/containers/" + id + "?force=true&v=true");
    if (reply.status == 404) {
      c.progress.line("container already gone");
      return;
    }
    if (reply.status != 204) throw failed("cannot remove the container: " + reply.message());
    c.progress.line("container removed");
  }

  berth::Status status(berth::OperationContext& c) override {
    auto engine = engine_for(engine_address(c), kQuickDeadline);
    Reply reply = engine->get("/containers/" + container_id(c) + "/json");
    if (reply.status == 404) return {berth::InfraState::gone, "container gone"};
    if (reply.status != 200) throw failed("cannot inspect the container: " + reply.message());
    Json state = reply.json()["State"];
    if (state.value("Paused", false)) return {berth::InfraState::paused, "container paused"};
    return {state.value("Running", false) ? berth::InfraState::started : berth::InfraState::stopped, state.value("Status", "")};
  }

  int exec(berth::OperationContext& c, const berth::ExecRequest& request, berth::OutputSink& output) override {
    auto engine = engine_for(engine_address(c), kWorkDeadline);
    std::string id = container_id(c);
    docker::ExecDefaults defaults = docker::exec_defaults(c, request);
    Json body{{"Cmd", request.command}, {"Env", defaults.env}, {"AttachStdout", true}, {"AttachStderr", true},
              {"AttachStdin", !request.stdin_data.empty()}, {"Tty", false}, {"WorkingDir", defaults.workdir}};
    if (!defaults.user.empty()) body["User"] = defaults.user;
    Reply created = engine->post("/containers/" + id + "/exec", body);
    if (created.status == 404) throw failed("container gone: it was removed outside berth; delete the workspace (berth delete " + c.workspace.name + ")");
    if (created.status == 409) throw berth::Error("conflict", "the container is not running (berth start " + c.workspace.name + ")");
    if (created.status != 201) throw failed("cannot run the command: " + created.message());
    std::string exec_id = created.json().value("Id", "");

    int fd = engine->hijack("/exec/" + exec_id + "/start", Json{{"Detach", false}, {"Tty", false}});
    struct Closer {
      int fd;
      ~Closer() { ::close(fd); }
    } closer{fd};
    for (size_t sent = 0; sent < request.stdin_data.size();) {
      ssize_t n = ::send(fd, request.stdin_data.data() + sent, request.stdin_data.size() - sent, MSG_NOSIGNAL);
      if (n <= 0) break;
      sent += static_cast<size_t>(n);
    }
    ::shutdown(fd, SHUT_WR);
    demultiplex(fd, output);

    Reply inspected = engine->get("/exec/" + exec_id + "/json");
    Json exit_code = inspected.json()["ExitCode"];
    if (!exit_code.is_number()) throw failed("the engine did not report the command's exit code");
    return exit_code.get<int>();
  }

  int session(berth::OperationContext& c, const berth::SessionRequest& request, berth::SessionChannel& channel) override {
    // A person or an editor attaching: devcontainer.json's postAttachCommand first (its output
    // goes to the workspace log; a failure ends the session with the command and its exit code).
    if (request.attach) {
      docker::dc::run_attach_commands(c, [&](const berth::ExecRequest& command, berth::OutputSink& output) { return exec(c, command, output); });
    }
    auto engine = engine_for(engine_address(c), kWorkDeadline);
    return docker::run_session(*engine, command_place(c, request.user, request.workdir), request, channel, c.cancellation);
  }

  void connect(berth::OperationContext& c, int port, berth::SessionChannel& channel) override {
    auto engine = engine_for(engine_address(c), kWorkDeadline);
    docker::connect_port(*engine, command_place(c, "", ""), port, channel, c.cancellation);
  }

  // Containers stopped, paused or removed outside berth, reported as the engines tell (watch.cpp).
  void watch(berth::WatchContext& context) override { docker::watch_engines(context, identity(context.data_dir())); }

 private:
  // Where a command of this workspace runs, and as whom: as every exec (docker::exec_defaults,
  // devcontainer.json's remoteUser and remoteEnv included), the request's own user and folder first.
  docker::CommandPlace command_place(const berth::OperationContext& c, const std::string& user, const std::string& workdir) {
    docker::ExecDefaults defaults = docker::exec_defaults(c, berth::ExecRequest{{}, {}, workdir, user, {}});
    berth::StringMap env;
    for (const auto& item : defaults.env) {
      size_t equals = item.find('=');
      if (equals != std::string::npos) env[item.substr(0, equals)] = item.substr(equals + 1);
    }
    return docker::CommandPlace{container_id(c), c.workspace.name, defaults.user, defaults.workdir, env};
  }

  // A fresh Engine (and connection) per call, since operations on different workspaces run at
  // once; the negotiated API version is remembered per address so it is asked only once.
  std::shared_ptr<Engine> engine_for(const std::string& address, std::chrono::seconds deadline) {
    std::string known;
    {
      std::lock_guard lock(mutex_);
      known = versions_[address];
    }
    auto engine = std::make_shared<Engine>(address, known, deadline);
    if (known.empty()) {
      std::string negotiated = engine->api_version();
      std::lock_guard lock(mutex_);
      versions_[address] = negotiated;
    }
    return engine;
  }

  // The engine the workspace's container was made on, as create recorded it (the target may
  // since point elsewhere, or be gone); the target's host for records older than that.
  static std::string engine_address(const berth::OperationContext& c) {
    auto it = c.provider_data.find("docker_host");
    return it != c.provider_data.end() && !it->second.empty() ? it->second : property(c.properties, "host");
  }

  // This home's identity, read or made once per data folder.
  std::string identity(const std::string& data_dir) {
    std::lock_guard lock(mutex_);
    std::string& known = identities_[data_dir];
    if (known.empty()) known = read_or_make_identity(data_dir);
    return known;
  }

  static std::string label_of(const Reply& inspected, const char* label) {
    Json labels = inspected.json()["Config"]["Labels"];
    return labels.is_object() && labels.contains(label) && labels[label].is_string() ? labels[label].get<std::string>() : "";
  }

  std::string container_name(const berth::OperationContext& c) {
    return "berth-" + identity(c.data_dir).substr(0, 12) + "-" + c.workspace.name;
  }

  std::string container_id(const berth::OperationContext& c) {
    auto it = c.provider_data.find("container_id");
    return it == c.provider_data.end() ? container_name(c) : it->second;
  }

  static std::string workdir_of(const berth::OperationContext& c) { return docker::workspace_folder(c); }

  static void ensure_image(Engine& engine, const std::string& image, const std::string& policy, berth::ProgressSink& progress) {
    bool present = engine.get("/images/" + url_escape(image) + "/json").status == 200;
    if (present && policy != "always") return;
    if (!present && policy == "never") {
      throw failed("image '" + image + "' is not on the engine at " + engine.address() +
                   " and the target's pull policy is 'never': load it there (docker pull or docker import) or set pull: missing");
    }
    std::string repository = image, tag = "latest";
    size_t colon = image.rfind(':');
    if (colon != std::string::npos && image.find('/', colon) == std::string::npos) {
      repository = image.substr(0, colon);
      tag = image.substr(colon + 1);
    }
    progress.line("pulling " + image);
    docker::EventLines events;
    std::string stream_error, last;
    Reply reply = engine.post_streaming("/images/create?fromImage=" + url_escape(repository) + "&tag=" + url_escape(tag),
                                        [&](std::string_view data) {
                                          events.feed(data, [&](const Json& event) {
                                            if (event.contains("error")) stream_error = event.value("error", "");
                                            std::string line = event.value("status", "");
                                            if (event.contains("id")) line = event.value("id", "") + ": " + line;
                                            if (!line.empty() && line != last && event.value("progress", "").empty()) progress.line(line);
                                            last = line;
                                          });
                                        });
    if (reply.status >= 400 || !stream_error.empty()) {
      throw failed("cannot pull image '" + image + "' to the engine at " + engine.address() + ": " +
                   (stream_error.empty() ? reply.message() : stream_error));
    }
  }

  // The repository cloned on this machine (an empty folder without one), removed with it.
  struct Checkout {
    fs::path staging;  // staging/NAME: clone/NAME is the clone, tree/ what is copied
    fs::path clone;
    Checkout(fs::path staging_folder, const std::string& name) : staging(std::move(staging_folder)), clone(staging / "clone" / name) {}
    Checkout(const Checkout&) = delete;
    ~Checkout() {
      std::error_code ignored;
      fs::remove_all(staging, ignored);
    }
  };

  // Clones on this machine (so the image needs no git and a remote engine works the same),
  // into a folder named as the workspace (${localWorkspaceFolderBasename}).
  static void clone_repository(berth::OperationContext& c, const Checkout& checkout) {
    std::error_code error;
    fs::remove_all(checkout.staging, error);
    fs::create_directories(checkout.clone.parent_path());
    const std::string& repository = c.workspace.repository;
    if (repository.empty()) {
      fs::create_directories(checkout.clone);
    } else {
      c.progress.line("cloning " + repository);
      docker::ProgressLines lines(c.progress);
      if (docker::run_local({"git", "clone", "--quiet", "--", repository, checkout.clone.string()}, "", lines) != 0) {
        throw failed("git clone of " + repository + " failed");
      }
    }
  }

  // Copies the clone into the container at workdir through the archive API.
  static void copy_repository(Engine& engine, berth::OperationContext& c, const std::string& id, const std::string& workdir,
                              const Checkout& checkout) {
    fs::path staging = checkout.staging / "tree";
    fs::path relative = fs::path(workdir).relative_path();
    if (relative.empty()) throw failed("the workspace folder cannot be / (the target's workdir or devcontainer.json's workspaceFolder)");
    fs::path target = staging / relative;
    fs::create_directories(target.parent_path());
    // The folders above the repository as an image would have them (the server's umask may be
    // 077, and the engine applies the archive's modes): readable by the user commands run as.
    for (fs::path folder = target.parent_path(); folder != staging.parent_path() && !folder.empty(); folder = folder.parent_path()) {
      fs::permissions(folder, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec | fs::perms::others_read | fs::perms::others_exec);
    }
    fs::rename(checkout.clone, target);
    std::string top = relative.begin()->string();  // the archive holds that, never "/" itself
    // tar streams the staging tree (workdir and its parents) straight into the engine.
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) throw failed("pipe failed");
    pid_t pid = ::fork();
    if (pid == 0) {
      ::dup2(fds[1], 1);
      ::execlp("tar", "tar", "-C", staging.c_str(), "-cf", "-", "--", top.c_str(), static_cast<char*>(nullptr));
      ::_exit(127);
    }
    ::close(fds[1]);
    Reply reply = engine.put_stream("/containers/" + id + "/archive?path=/", "application/x-tar", [&](std::string& chunk) {
      chunk.resize(65536);
      ssize_t n = ::read(fds[0], chunk.data(), chunk.size());
      chunk.resize(n > 0 ? static_cast<size_t>(n) : 0);
      return n > 0;
    });
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) throw failed("tar of the repository failed");
    if (reply.status != 200) throw failed("cannot copy the repository into the container: " + reply.message());
    c.progress.line("copied into " + workdir);
  }

  // Docker's multiplexed stream: 8-byte headers [stream, 0, 0, 0, size (big-endian)], then data.
  static void demultiplex(int fd, berth::OutputSink& output) {
    std::string buffer;
    char chunk[65536];
    while (true) {
      ssize_t n = ::recv(fd, chunk, sizeof chunk, 0);
      if (n <= 0) break;
      buffer.append(chunk, static_cast<size_t>(n));
      size_t offset = 0;
      while (buffer.size() - offset >= 8) {
        uint32_t size = (uint32_t(uint8_t(buffer[offset + 4])) << 24) | (uint32_t(uint8_t(buffer[offset + 5])) << 16) |
                        (uint32_t(uint8_t(buffer[offset + 6])) << 8) | uint32_t(uint8_t(buffer[offset + 7]));
        if (buffer.size() - offset - 8 < size) break;
        auto stream = buffer[offset] == 2 ? berth::OutputStream::stderr_stream : berth::OutputStream::stdout_stream;
        output.write(stream, std::string_view(buffer).substr(offset + 8, size));
        offset += 8 + size;
      }
      buffer.erase(0, offset);
    }
  }

  std::mutex mutex_;
  std::map<std::string, std::string> versions_;  // address -> negotiated API version
  std::map<std::string, std::string> identities_;  // data folder -> this home's identity
};

}  // namespace

BERTH_PROVIDER(DockerProvider)
