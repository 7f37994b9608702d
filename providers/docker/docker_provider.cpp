// The docker provider: each workspace is a container on a Docker engine, driven through the
// Engine API (no docker CLI needed). Written only against berth's public SDK.
#include "agent_client.hpp"
#include "agent_container.hpp"
#include "devcontainer/plan.hpp"
#include "engine.hpp"
#include "placement.hpp"
#include "session.hpp"
#include "exec_defaults.hpp"
#include "local_command.hpp"
#include "placement.hpp"
#include "pool.hpp"
#include "working_tree.hpp"
#include "watch.hpp"

#include <berth/git_checkout.hpp>
#include <berth/provider.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
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
#include <sstream>
#include <thread>

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
                {"host", T::string, false, "unix:///var/run/docker.sock", {}, "Engine address: unix:///PATH, tcp://HOST[:PORT] or ssh://[USER@]HOST[:PORT]"},
                {"hosts", T::string, false, "", {}, "Several engines, comma-separated, instead of host: each create goes to the one with the most free capacity"},
                {"tls_ca", T::path, false, "", {}, "tcp:// over TLS: the CA certificate (PEM) that signed the engine's (as docker --tlscacert)"},
                {"tls_cert", T::path, false, "", {}, "tcp:// over TLS: berth's client certificate (PEM) (as docker --tlscert)"},
                {"tls_key", T::path, false, "", {}, "tcp:// over TLS: the client certificate's key (PEM) (as docker --tlskey)"},
                {"tls_verify", T::boolean, false, "true", {}, "With TLS: check the engine's certificate (false: encrypt only, as docker --tls)"},
                {"image", T::string, false, "debian:bookworm", {}, "Default image for workspaces (berth create --image overrides)"},
                {"pull", T::enumeration, false, "missing", {"missing", "always", "never"}, "When to pull the image"},
                {"workdir", T::string, false, "/workspaces/{name}", {}, "Folder in the container for the repository; {name} is the workspace"},
                {"user", T::string, false, "", {}, "User that commands run as (default: the image's)"},
                {"network", T::string, false, "bridge", {}, "Network the container joins"},
                {"cpus", T::string, false, "", {}, "CPU limit, e.g. 1.5 (0.01 to 1024)"},
                {"memory", T::string, false, "", {}, "Memory limit, e.g. 512m or 2g (at least 6m)"},
                {"stop_timeout", T::integer, false, "10", {}, "Seconds stop waits before killing (0 to 3600)", 0, 3600},
                {"env", T::string, false, "", {}, "Environment for every workspace: A=1,B=2"},
                {"pool", T::integer, false, "0", {}, "Containers kept started for fast creates (0 to 20; needs workdir FOLDER/{name})", 0, 20},
                {"exec_via", T::enumeration, false, "auto", {"auto", "engine"},
                 "How commands run: auto through berth's agent in the container when this machine reaches its socket, else the engine's exec; engine always the engine's exec"},
            }};
  }

  // What `target add` checks before it saves the target (SDK 1.4), without connecting anywhere:
  // the form of every engine address (scheme, port), the limits, the TLS files' paths.
  void validate_target(const berth::StringMap& properties) override {
    std::string key = property(properties, "hosts").empty() ? "host" : "hosts";
    for (const auto& address : docker::engine_addresses(properties)) {
      try {
        docker::parse_engine_address(address);
        docker::engine_link(properties, address);
      } catch (const std::invalid_argument& bad) {
        throw berth::Error("invalid", "property '" + key + "': " + bad.what());
      } catch (const berth::Error& bad) {
        throw berth::Error("invalid", bad.what());  // already names its property
      }
    }
    parse_memory(property(properties, "memory"));
    parse_cpus(property(properties, "cpus"));
    if (!property(properties, "pool").empty() && property(properties, "pool") != "0" && docker::pool_mount(properties).empty()) {
      throw berth::Error("invalid", "property 'pool': a pool needs workdir FOLDER/{name} (its containers exist before their workspace's name), not '" +
                                        property(properties, "workdir") + "'");
    }
  }

  berth::TargetCheck check_target(const berth::StringMap& properties, const std::string& data_dir) override {
    parse_memory(property(properties, "memory"));
    parse_cpus(property(properties, "cpus"));
    auto addresses = docker::engine_addresses(properties);
    if (addresses.size() > 1) return check_engines(properties, data_dir, addresses);
    auto engine = engine_for(properties, addresses.front(), kQuickDeadline);
    Reply reply = engine->get("/_ping");
    if (reply.status != 200) return {false, "the engine at " + engine->address() + " answered " + reply.message()};
    std::string message = "engine at " + engine->address() + " answers, API " + engine->api_version();
    if (!property(properties, "pool").empty() && property(properties, "pool") != "0") {
      if (docker::pool_mount(properties).empty()) {
        return {false, message + "; pool needs workdir FOLDER/{name} (its containers exist before their workspace's name), not '" +
                           property(properties, "workdir") + "'"};
      }
      docker::PoolSpec spec = pool_spec_of(properties, data_dir, engine->address());
      pool_.refill(spec);
      message += "; " + pool_.describe(spec);
    }
    return {true, message};
  }

  // A target with several engines: each one's load, and the unreachable ones named (creates
  // skip them); not ok while any is unreachable.
  berth::TargetCheck check_engines(const berth::StringMap& properties, const std::string& data_dir, const std::vector<std::string>& addresses) {
    auto loads = docker::engine_loads(addresses, [this, &properties](const std::string& address) { return engine_for(properties, address, kQuickDeadline); });
    std::string answering, unreachable;
    for (const auto& load : loads) {
      if (!load.reachable) {
        unreachable += (unreachable.empty() ? "" : "; ") + load.address + " (" + load.problem + ")";
        continue;
      }
      answering += (answering.empty() ? "" : ", ") + load.address + " (" + std::to_string(load.running) + " running)";
      docker::PoolSpec spec = pool_spec_of(properties, data_dir, load.address);
      if (spec.size > 0) {
        pool_.refill(spec);
        answering += " " + pool_.describe(spec);
      }
    }
    if (unreachable.empty()) return {true, std::to_string(loads.size()) + " engines answer: " + answering};
    return {false, "unreachable engine(s): " + unreachable + (answering.empty() ? "; no engine answers" : "; creates go to " + answering)};
  }

  // The target is going: its warm pool's containers and volumes go with it.
  void release_target(const berth::StringMap& properties, const std::string& data_dir) override {
    for (const auto& address : docker::engine_addresses(properties)) {
      docker::PoolSpec spec = pool_spec_of(properties, data_dir, address);
      if (spec.size > 0) pool_.drain(spec);
    }
  }

  // Where a new workspace goes: the target's one engine, or of several the one with the most
  // free capacity (a kept volume's engine first, while it answers); unreachable ones are
  // skipped and said.
  std::string place(berth::OperationContext& c, const std::optional<docker::KeptVolume>& kept) {
    auto addresses = docker::engine_addresses(c.properties);
    if (addresses.size() == 1) return addresses.front();
    auto loads = docker::engine_loads(addresses, [this, &c](const std::string& address) { return engine_for(c.properties, address, kQuickDeadline); });
    for (const auto& load : loads) {
      if (!load.reachable) c.progress.line("engine " + load.address + " skipped: " + load.problem);
      if (load.reachable && kept && load.address == kept->engine) return load.address;
    }
    std::string chosen = docker::choose_engine(loads);
    for (const auto& load : loads) {
      if (load.address == chosen) c.progress.line("placed on " + chosen + " (" + std::to_string(load.running) + " running containers)");
    }
    return chosen;
  }

  void create(berth::OperationContext& c) override {
    Limits limits = limits_of(c);  // refused before anything is made
    std::string key = container_name(c);
    auto kept = docker::kept_volume(c.data_dir, key);
    auto engine = engine_for(c.properties, place(c, kept), kWorkDeadline);
    // A volume of this name left by an interrupted create is ours and half filled: replaced.
    // One kept by `delete --keep-volume` holds the user's work: its tree is the checkout.
    std::string volume = key;
    bool reuse = false;
    if (kept && (kept->engine.empty() || kept->engine == engine->address()) &&
        docker::volume_owner(*engine, kept->volume, kIdentityLabel, identity(c.data_dir)) == docker::VolumeOwner::this_home) {
      volume = kept->volume;
      reuse = true;
    }
    if (!reuse) {
      auto owner = docker::volume_owner(*engine, volume, kIdentityLabel, identity(c.data_dir));
      if (owner == docker::VolumeOwner::someone_else) {
        throw failed("a volume named " + volume + " exists and is not this berth home's; remove or rename it");
      }
      if (owner == docker::VolumeOwner::this_home) docker::remove_volume(*engine, volume);
    }
    // The repository is cloned first, on this machine: its devcontainer.json, if any, decides
    // the image and the container (providers/docker/devcontainer/).
    Checkout checkout(fs::path(c.data_dir) / "staging" / c.workspace.name, c.workspace.name);
    if (reuse) {
      c.progress.line("reusing volume " + volume + " (kept by berth delete --keep-volume): its working tree, not a new clone");
      checkout.prepare();
      std::string target_image = property(c.properties, "image");
      ensure_image(*engine, target_image, property(c.properties, "pull"), c.progress);
      docker::fetch_volume_tree(*engine, volume, target_image, own_labels(c), checkout.clone);
    } else if (may_make_while_checking_out(c)) {
      // The repository's history first; when it holds no devcontainer.json nothing in its files
      // decides the container, which is then made and started while they are written out.
      fetch_repository(c, checkout);
      if (!may_hold_devcontainer(c, checkout)) {
        make_while_checking_out(c, *engine, checkout, volume, limits);
        return;
      }
      check_out(checkout, nullptr, c.progress);
    } else {
      clone_repository(c, checkout);
    }
    auto plan = docker::dc::load_plan(c, checkout.clone, workdir_of(c));
    if (!reuse && !plan && c.workspace.image.empty()) {
      docker::PoolSpec spec = pool_spec_of(c.properties, c.data_dir, engine->address());
      if (auto taken = pool_.take(spec)) {
        if (hand_out(c, *engine, *taken, spec, checkout)) return;
      }
    }
    make_container(c, *engine, checkout, volume, limits, /*copy_tree=*/!reuse, std::move(plan));
    if (reuse) docker::forget_kept(c.data_dir, key);  // recorded on this workspace again
  }

  // The container again, from the definition as it is now in the working tree (a changed
  // devcontainer.json or Dockerfile, a new image), with the same volume.
  void rebuild(berth::OperationContext& c) override {
    Limits limits = limits_of(c);
    auto engine = engine_for(c.properties, engine_address(c), kWorkDeadline);
    std::string volume = recorded(c, "volume");
    if (volume.empty()) {
      throw berth::Error("unsupported", "workspace '" + c.workspace.name + "' keeps its working tree in its container's own layer (made "
                         "before berth used volumes, or a workspaceMount holds it), so a rebuild would lose it; copy out what you need, "
                         "then berth delete " + c.workspace.name + " and create it again");
    }
    if (docker::volume_owner(*engine, volume, kIdentityLabel, identity(c.data_dir)) != docker::VolumeOwner::this_home) {
      throw failed("volume " + volume + " holding the working tree is gone or not this home's; nothing to rebuild from");
    }
    Checkout checkout(fs::path(c.data_dir) / "staging" / c.workspace.name, c.workspace.name);
    checkout.prepare();
    std::string old = recorded(c, "container_id");
    Reply found = old.empty() ? Reply{404, ""} : engine->get("/containers/" + old + "/json");
    bool old_is_ours = found.status == 200 && label_of(found, kIdentityLabel) == identity(c.data_dir);
    c.progress.line("reading the working tree from volume " + volume);
    if (old_is_ours) {
      docker::fetch_tree(*engine, old, recorded(c, "workdir"), checkout.clone);
    } else {
      std::string image = recorded(c, "image").empty() ? property(c.properties, "image") : recorded(c, "image");
      ensure_image(*engine, image, property(c.properties, "pull"), c.progress);
      docker::fetch_volume_tree(*engine, volume, image, own_labels(c), checkout.clone);
    }
    make_container(c, *engine, checkout, volume, limits, /*copy_tree=*/false, docker::dc::load_plan(c, checkout.clone, workdir_of(c)));
  }

  void start(berth::OperationContext& c) override {
    auto engine = engine_for(c.properties, engine_address(c), kWorkDeadline);
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
    if (!running) docker::agent::prepare_start(c.provider_data);
    Reply reply = running ? Reply{304, ""} : engine->post("/containers/" + container_id(c) + "/start");
    if (reply.status == 404) throw failed("container gone: it was removed outside berth; delete the workspace (berth delete " + c.workspace.name + ")");
    if (reply.status != 204 && reply.status != 304) throw failed("cannot start the container: " + reply.message());
    docker::agent::await_agent(c.provider_data, c.progress);
    // devcontainer.json's create-time commands not yet done (after a failure), then postStartCommand.
    docker::dc::run_lifecycle(c, [&](const berth::ExecRequest& request, berth::OutputSink& output) { return exec(c, request, output); });
    c.provider_data.erase("berth.after_ready");  // all done now
  }

  void stop(berth::OperationContext& c) override {
    int stop_timeout = whole_number(c.properties, "stop_timeout", 0, 3600);
    auto engine = engine_for(c.properties, engine_address(c), kWorkDeadline + std::chrono::seconds(stop_timeout));
    Reply reply = engine->post("/containers/" + container_id(c) + "/stop?t=" + std::to_string(stop_timeout));
    if (reply.status == 404) throw failed("container gone: it was removed outside berth; delete the workspace (berth delete " + c.workspace.name + ")");
    if (reply.status != 204 && reply.status != 304) throw failed("cannot stop the container: " + reply.message());
  }

  // Removes the container create recorded (on the engine it recorded, so it works after the
  // target is gone), and only while it is this home's: its identity label is ours, or, for a
  // container made before identities, it is the very container whose id create recorded.
  void destroy(berth::OperationContext& c) override {
    auto engine = engine_for(c.properties, engine_address(c), kWorkDeadline);
    auto recorded = c.provider_data.find("container_id");
    std::string id = recorded != c.provider_data.end() ? recorded->second : container_name(c);
    Reply found = engine->get("/containers/" + id + "/json");
    if (found.status == 404) {
      c.progress.line("container already gone");
      remove_working_tree(*engine, c);
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
    } else if (reply.status != 204) {
      throw failed("cannot remove the container: " + reply.message());
    } else {
      c.progress.line("container removed");
    }
    docker::agent::forget(c.provider_data, c.data_dir);
    remove_working_tree(*engine, c);
  }

  berth::Status status(berth::OperationContext& c) override {
    auto engine = engine_for(c.properties, engine_address(c), kQuickDeadline);
    Reply reply = engine->get("/containers/" + container_id(c) + "/json");
    if (reply.status == 404) return {berth::InfraState::gone, "container gone"};
    if (reply.status != 200) throw failed("cannot inspect the container: " + reply.message());
    Json state = reply.json()["State"];
    if (state.value("Paused", false)) return {berth::InfraState::paused, "container paused"};
    return {state.value("Running", false) ? berth::InfraState::started : berth::InfraState::stopped, state.value("Status", "")};
  }

  // The container's cgroup CPU counter, as the engine reports it (one reading, no sampling wait).
  double cpu_seconds(berth::OperationContext& c) override {
    auto engine = engine_for(c.properties, engine_address(c), kQuickDeadline);
    Reply reply = engine->get("/containers/" + container_id(c) + "/stats?stream=false&one-shot=true");
    if (reply.status != 200) return -1;
    Json usage = reply.json()["cpu_stats"]["cpu_usage"];
    if (!usage.is_object() || !usage.contains("total_usage") || !usage["total_usage"].is_number()) return -1;
    return usage["total_usage"].get<double>() / 1e9;
  }

  int exec(berth::OperationContext& c, const berth::ExecRequest& request, berth::OutputSink& output) override {
    auto engine = engine_for(c.properties, engine_address(c), kWorkDeadline);
    std::string id = container_id(c);
    docker::ExecDefaults defaults = docker::exec_defaults(c, request);
    if (auto agent = docker::agent::connect(c.provider_data, c.properties)) {
      return docker::agent::run_exec(*agent, command_place(c, request.user, request.workdir, request.env), request, output);
    }
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
    if (auto agent = docker::agent::connect(c.provider_data, c.properties)) {
      return docker::agent::run_session(*agent, command_place(c, request.user, request.workdir), request, channel, c.cancellation);
    }
    auto engine = engine_for(c.properties, engine_address(c), kWorkDeadline);
    return docker::run_session(*engine, command_place(c, request.user, request.workdir), request, channel, c.cancellation);
  }

  void connect(berth::OperationContext& c, int port, berth::SessionChannel& channel) override {
    auto engine = engine_for(c.properties, engine_address(c), kWorkDeadline);
    docker::connect_port(*engine, command_place(c, "", ""), port, channel, c.cancellation);
  }

  // Containers stopped, paused or removed outside berth, reported as the engines tell (watch.cpp).
  void watch(berth::WatchContext& context) override { docker::watch_engines(context, identity(context.data_dir())); }

 private:
  // The repository cloned on this machine (an empty folder without one), removed with it.
  struct Checkout {
    fs::path staging;  // staging/NAME: clone/NAME is the clone, tree/ what is copied
    fs::path clone;
    Checkout(fs::path staging_folder, const std::string& name) : staging(std::move(staging_folder)), clone(staging / "clone" / name) {}
    Checkout(const Checkout&) = delete;
    // An empty staging folder, with clone's parent made and clone itself not.
    void prepare() const {
      std::error_code error;
      fs::remove_all(staging, error);
      fs::create_directories(clone.parent_path());
    }
    // Removed after the operation has answered: renamed aside at once (the next create of the
    // name starts clean), deleted by a thread of its own.
    ~Checkout() {
      std::error_code ignored;
      fs::path aside = staging.parent_path() / (".gone-" + staging.filename().string() + "-" + std::to_string(::getpid()) + "-" +
                                                std::to_string(reinterpret_cast<uintptr_t>(this)));
      fs::rename(staging, aside, ignored);
      if (ignored) {
        fs::remove_all(staging, ignored);
        return;
      }
      std::thread([aside] {
        std::error_code error;
        fs::remove_all(aside, error);
      }).detach();
    }
  };
  // The working tree's volume create recorded: removed, or kept with `delete --keep-volume`
  // (options keep_volume) for a later create of the same name. Only a volume with this home's
  // identity; one still noted as kept (a create reusing it failed) is never removed here.
  void remove_working_tree(Engine& engine, berth::OperationContext& c) {
    std::string volume = recorded(c, "volume");
    if (volume.empty()) return;
    auto owner = docker::volume_owner(engine, volume, kIdentityLabel, identity(c.data_dir));
    if (owner == docker::VolumeOwner::none) {
      c.progress.line("volume " + volume + " already gone");
      return;
    }
    if (owner == docker::VolumeOwner::someone_else) {
      c.progress.line("volume " + volume + " is not this berth home's; it is left as it is");
      return;
    }
    auto keep = c.workspace.options.find("keep_volume");
    auto noted = docker::kept_volume(c.data_dir, container_name(c));
    if ((keep != c.workspace.options.end() && keep->second == "true") || (noted && noted->volume == volume)) {
      docker::note_kept(c.data_dir, container_name(c), {volume, engine.address()});
      c.progress.line("volume " + volume + " kept with the working tree: berth create " + c.workspace.name +
                      " --target " + c.workspace.target + " reuses it; docker volume rm " + volume + " removes it");
      return;
    }
    docker::remove_volume(engine, volume);
    c.progress.line("volume " + volume + " removed");
  }

  struct Limits {
    long long memory = 0, nano_cpus = 0;
    int stop_timeout = 10;
  };
  static Limits limits_of(const berth::StringMap& properties) {
    return Limits{parse_memory(property(properties, "memory")), parse_cpus(property(properties, "cpus")),
                  whole_number(properties, "stop_timeout", 0, 3600)};
  }
  static Limits limits_of(const berth::OperationContext& c) { return limits_of(c.properties); }

  // A container as the target's properties make it, before anything of a workspace.
  static Json plain_body(const berth::StringMap& properties, const std::string& image, const std::string& workdir, const Limits& limits) {
    Json env = Json::array();
    for (const auto& item : split_env(property(properties, "env"))) env.push_back(item);
    Json host_config{{"NetworkMode", property(properties, "network")}};
    if (limits.memory > 0) host_config["Memory"] = limits.memory;
    if (limits.nano_cpus > 0) host_config["NanoCpus"] = limits.nano_cpus;
    Json body{{"Image", image},
              // Sleeps until told to stop, and ends at once on SIGTERM (sh as PID 1 ignores it otherwise).
              {"Cmd", {"/bin/sh", "-c", docker::agent::kSleepLoop}},
              {"Entrypoint", Json::array()},
              {"Env", env},
              {"WorkingDir", workdir},
              {"StopTimeout", limits.stop_timeout},
              {"HostConfig", host_config}};
    if (auto user = property(properties, "user"); !user.empty()) body["User"] = user;
    return body;
  }

  docker::PoolSpec pool_spec_of(const berth::StringMap& properties, const std::string& data_dir, const std::string& address) {
    return docker::pool_spec(properties, address, identity(data_dir), data_dir);
  }

  // A started container of the warm pool becomes the workspace: renamed, recorded, the
  // repository copied into its volume. False (the container removed) when that fails, so the
  // create goes the usual way.
  bool hand_out(berth::OperationContext& c, Engine& engine, const docker::PoolContainer& taken, const docker::PoolSpec& spec,
                Checkout& checkout) {
    std::string name = container_name(c);
    if (Reply old = engine.get("/containers/" + name + "/json"); old.status == 200) {
      if (label_of(old, kIdentityLabel) != identity(c.data_dir)) {
        throw failed("a container named " + name + " exists and is not this berth home's; remove or rename it");
      }
      engine.del("/containers/" + name + "?force=true&v=true");  // left by an interrupted create
    }
    Reply renamed = engine.post("/containers/" + taken.id + "/rename?name=" + url_escape(name));
    if (renamed.status != 204) {
      c.progress.line("the warm pool's container could not be taken (" + renamed.message() + "); making one");
      engine.del("/containers/" + taken.id + "?force=true&v=true");
      engine.del("/volumes/" + url_escape(taken.volume));
      return false;
    }
    std::string workdir = workdir_of(c);
    c.provider_data["container_id"] = taken.id;
    c.provider_data["container_name"] = name;
    c.provider_data["docker_host"] = engine.address();
    c.provider_data["workdir"] = workdir;
    c.provider_data["image"] = property(c.properties, "image");
    c.provider_data["volume"] = taken.volume;
    c.provider_data["volume_target"] = spec.mount;
    c.provider_data["pooled"] = "true";  // env and labels live on the record, not the container
    docker::agent::adopt_pool_container(c.data_dir, taken.volume, c.provider_data);
    c.progress.line("container " + name + " (" + taken.id.substr(0, 12) + ") from the warm pool, working tree in volume " + taken.volume);
    auto run = [&](const berth::ExecRequest& request, berth::OutputSink& output) { return exec(c, request, output); };
    if (!c.workspace.repository.empty()) {
      copy_repository(engine, c, taken.id, workdir, checkout);
    } else {
      // No repository: the folder only, by a command in the running container (cheaper than an archive).
      docker::ProgressLines quiet(c.progress);
      if (run(berth::ExecRequest{{"mkdir", "-p", "--", workdir}, {}, "/", "root", {}}, quiet) != 0) {
        throw failed("cannot make " + workdir + " in the container");
      }
    }
    docker::dc::give_to_user(c, run, property(c.properties, "user"), workdir);
    return true;
  }

  static std::string recorded(const berth::OperationContext& c, const std::string& key) {
    auto it = c.provider_data.find(key);
    return it == c.provider_data.end() ? "" : it->second;
  }

  // The labels on everything this provider makes for the workspace.
  Json own_labels(const berth::OperationContext& c) {
    return Json{{kIdentityLabel, identity(c.data_dir)}, {"dev.berth.home", c.data_dir}, {"dev.berth.workspace", c.workspace.name}};
  }

  // From the checkout (a fresh clone, or the tree read from the volume): the image (pulled or
  // built from devcontainer.json), the container with the volume at the workspace folder
  // (the tree copied into it when copy_tree), started, its lifecycle commands run.
  void make_container(berth::OperationContext& c, Engine& engine, Checkout& checkout, std::string volume, const Limits& limits,
                      bool copy_tree, std::optional<docker::dc::Plan> plan) {
    std::string image = c.workspace.image.empty() ? property(c.properties, "image") : c.workspace.image;
    auto ensure = [&](const std::string& wanted) { ensure_image(engine, wanted, property(c.properties, "pull"), c.progress); };
    if (plan) {
      c.progress.line("using " + plan->shown_as);
      docker::dc::require_initialize_consent(*plan, c);  // before anything is made
      docker::dc::run_initialize_command(*plan, c.progress);
      docker::dc::prepare_image(*plan, engine, ensure, c.progress);
      docker::dc::check_host_requirements(*plan, engine);
      image = plan->image;
    } else {
      ensure(image);
    }

    std::string name = container_name(c);
    // A container of this name left by an interrupted create, or the one a rebuild replaces, is
    // ours (this home's identity): replace it. Anything else of that name is left alone.
    if (Reply old = engine.get("/containers/" + name + "/json"); old.status == 200) {
      if (label_of(old, kIdentityLabel) != identity(c.data_dir)) {
        throw failed("a container named " + name + " exists and is not this berth home's; remove or rename it");
      }
      Reply removed = engine.del("/containers/" + name + "?force=true&v=true");
      if (removed.status != 204 && removed.status != 404) throw failed("cannot replace container " + name + ": " + removed.message());
      if (!copy_tree) c.progress.line("removed the old container " + name);
    }

    std::string workdir = plan ? plan->workspace_folder() : workdir_of(c);
    Json body = plain_body(c.properties, image, workdir, limits);
    for (const auto& [key, value] : c.workspace.env) body["Env"].push_back(key + "=" + value);
    body["Labels"] = own_labels(c);
    // The user's labels, under berth's prefix: never one of berth's own (its identity label).
    for (const auto& [key, value] : c.workspace.labels) body["Labels"]["dev.berth.label." + key] = value;
    if (plan) docker::dc::shape_container(*plan, c, body);
    // The working tree's volume at the workspace folder, unless devcontainer.json mounts
    // something there itself (its workspaceMount): then the tree is in that mount. A workspace
    // from the warm pool has the volume at the folder above (the tree in NAME/ of it): a rebuild
    // keeps that while the folder stays; a new folder gets a volume of its own, the tree copied.
    Json& mounts = body["HostConfig"]["Mounts"];
    if (!mounts.is_array()) mounts = Json::array();
    bool mounted_by_user = std::any_of(mounts.begin(), mounts.end(), [&](const Json& m) { return m.value("Target", "") == workdir; });
    std::string mount_at = workdir, retired_volume;
    if (std::string above = recorded(c, "volume_target"); !above.empty() && !mounted_by_user) {
      if (recorded(c, "workdir") == workdir) {
        mount_at = above;
      } else {
        retired_volume = volume;
        volume = container_name(c);
        copy_tree = true;
      }
    }
    if (!mounted_by_user) {
      if (docker::volume_owner(engine, volume, kIdentityLabel, identity(c.data_dir)) == docker::VolumeOwner::none) {
        docker::make_volume(engine, volume, own_labels(c));
      }
      mounts.push_back(Json{{"Type", "volume"}, {"Source", volume}, {"Target", mount_at}});
    }
    if (mounts.empty()) body["HostConfig"].erase("Mounts");
    auto agent_placement = docker::agent::shape_container(engine, c, body, image, name);
    Reply created = engine.post("/containers/create?name=" + url_escape(name), body);
    if (created.status != 201) throw failed("cannot create container " + name + ": " + created.message());
    std::string id = created.json().value("Id", "");
    // What this container is, recorded afresh (a rebuild's plan may differ from the last); the
    // commit the clone is at stays (a rebuild keeps the working tree).
    auto commit = c.provider_data.find("commit");
    std::string cloned_at = commit == c.provider_data.end() ? "" : commit->second;
    c.provider_data.clear();
    if (!cloned_at.empty()) c.provider_data["commit"] = cloned_at;
    c.provider_data["container_id"] = id;
    c.provider_data["container_name"] = name;
    c.provider_data["docker_host"] = engine.address();
    c.provider_data["workdir"] = workdir;
    c.provider_data["image"] = image;
    if (!mounted_by_user) c.provider_data["volume"] = volume;
    if (mount_at != workdir) c.provider_data["volume_target"] = mount_at;
    if (plan) docker::dc::record_plan(*plan, c.provider_data);
    docker::agent::install(engine, id, agent_placement, c.provider_data);
    c.progress.line("container " + name + " (" + id.substr(0, 12) + ") from " + image +
                    (mounted_by_user ? "" : ", working tree in volume " + volume));

    // Without a repository the engine makes the (empty) folder: it is the volume's mount point.
    bool has_tree = !c.workspace.repository.empty() || !fs::is_empty(checkout.clone);
    if (copy_tree && (has_tree || mount_at != workdir)) copy_repository(engine, c, id, workdir, checkout);
    Reply started = engine.post("/containers/" + id + "/start");
    if (started.status != 204 && started.status != 304) throw failed("cannot start container " + name + ": " + started.message());
    c.progress.line("container started");
    docker::agent::await_agent(c.provider_data, c.progress);
    auto run = [&](const berth::ExecRequest& request, berth::OutputSink& output) { return exec(c, request, output); };
    if (plan) {
      docker::dc::settle_container(engine, c, run);
      docker::dc::run_lifecycle(c, run, /*until_ready=*/true);
    } else {
      docker::dc::give_to_user(c, run, property(c.properties, "user"), workdir);
    }
    if (!retired_volume.empty() && docker::remove_volume(engine, retired_volume)) c.progress.line("volume " + retired_volume + " removed (the tree moved)");
  }

  // Where a command of this workspace runs, and as whom: as every exec (docker::exec_defaults,
  // devcontainer.json's remoteUser and remoteEnv included), the request's own user and folder first.
  docker::CommandPlace command_place(const berth::OperationContext& c, const std::string& user, const std::string& workdir,
                                     const berth::StringMap& env_of_request = {}) {
    docker::ExecDefaults defaults = docker::exec_defaults(c, berth::ExecRequest{{}, env_of_request, workdir, user, {}});
    berth::StringMap env;
    for (const auto& item : defaults.env) {
      size_t equals = item.find('=');
      if (equals != std::string::npos) env[item.substr(0, equals)] = item.substr(equals + 1);
    }
    return docker::CommandPlace{container_id(c), c.workspace.name, defaults.user, defaults.workdir, env};
  }

  // A fresh Engine (and connection) per call, since operations on different workspaces run at
  // once; the negotiated API version is remembered per address so it is asked only once.
  std::shared_ptr<Engine> engine_for(const berth::StringMap& properties, const std::string& address, std::chrono::seconds deadline) {
    std::string known;
    {
      std::lock_guard lock(mutex_);
      known = versions_[address];
    }
    auto engine = std::make_shared<Engine>(link_of(properties, address), known, deadline);
    if (known.empty()) {
      std::string negotiated = engine->api_version();
      std::lock_guard lock(mutex_);
      versions_[address] = negotiated;
    }
    return engine;
  }

  // How to reach the engine at address: a tcp:// one over TLS when the target names any of
  // tls_ca, tls_cert, tls_key (the same for every engine of the target).
  static docker::EngineLink link_of(const berth::StringMap& properties, const std::string& address) {
    return docker::engine_link(properties, address);
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



  // Clones on this machine (so the image needs no git and a remote engine works the same),
  // into a folder named as the workspace (${localWorkspaceFolderBasename}).
  static void clone_repository(berth::OperationContext& c, const Checkout& checkout) {
    checkout.prepare();
    const std::string& repository = c.workspace.repository;
    if (repository.empty()) {
      fs::create_directories(checkout.clone);
    } else {
      clone_at_ref(c, checkout, /*files=*/true);
    }
  }

  // git clone (without the files: only the history), then the create's branch, commit or ref
  // (berth/git_checkout.hpp); the commit HEAD is at goes to provider data "commit".
  static void clone_at_ref(berth::OperationContext& c, const Checkout& checkout, bool files) {
    const std::string& repository = c.workspace.repository;
    berth::git::Checkout wanted = berth::git::checkout_of(c.workspace.options);
    c.progress.line("cloning " + repository + (wanted.describe().empty() ? "" : " (" + wanted.describe() + ")"));
    berth::git::GitRunner git = [&](const std::vector<std::string>& argv, std::string* out, std::string* reason) {
      berth::git::GitOutput output(c.progress, out, reason);
      int code = docker::run_local(argv, "", output);
      output.finish();
      return code;
    };
    std::vector<std::string> flags{"--quiet"};
    if (!files) flags.push_back("--no-checkout");
    std::string reason;
    if (git(berth::git::clone_command(repository, checkout.clone.string(), wanted, flags), nullptr, &reason) != 0) {
      throw failed("git clone of " + repository + " failed" + (reason.empty() ? "" : ": " + reason));
    }
    std::string commit = berth::git::settle_checkout(checkout.clone.string(), wanted, files, git);
    if (!commit.empty()) c.provider_data["commit"] = commit;
  }

  // A create that can make its container while the repository's files are written out: a
  // repository, no image of the workspace's own, no pool to take from, no user to give the tree
  // to, no devcontainer.json named.
  static bool may_make_while_checking_out(const berth::OperationContext& c) {
    auto option = [&](const char* key) {
      auto it = c.workspace.options.find(key);
      return it == c.workspace.options.end() ? std::string() : it->second;
    };
    std::string pool = property(c.properties, "pool");
    return !c.workspace.repository.empty() && c.workspace.image.empty() && (pool.empty() || pool == "0") &&
           property(c.properties, "user").empty() && option("devcontainer").empty();
  }

  // The clone without its files (objects, refs, HEAD): `check_out` writes them.
  static void fetch_repository(berth::OperationContext& c, const Checkout& checkout) {
    checkout.prepare();
    clone_at_ref(c, checkout, /*files=*/false);
  }

  struct Collected : berth::OutputSink {
    std::string text;
    void write(berth::OutputStream, std::string_view data) override { text.append(data); }
  };

  // Whether HEAD may hold a devcontainer.json where discovery looks (.devcontainer.json,
  // .devcontainer/...): yes when git cannot say. An empty repository holds none.
  static bool may_hold_devcontainer(const berth::OperationContext& c, const Checkout& checkout) {
    auto it = c.workspace.options.find("no_devcontainer");
    if (it != c.workspace.options.end() && it->second == "true") return false;
    Collected head;
    if (docker::run_local({"git", "-C", checkout.clone.string(), "rev-parse", "-q", "--verify", "HEAD"}, "", head) != 0) return false;
    Collected listed;
    if (docker::run_local({"git", "-C", checkout.clone.string(), "ls-tree", "--name-only", "HEAD", "--", ".devcontainer.json", ".devcontainer"}, "",
                          listed) != 0) {
      return true;
    }
    return !listed.text.empty();
  }

  // Writes out the files of HEAD (nothing for an empty repository). With `said`, git's output
  // is kept there instead of going to the log (another thread may be writing the log).
  static bool check_out(const Checkout& checkout, std::string* said, berth::ProgressSink& progress) {
    Collected head;
    if (docker::run_local({"git", "-C", checkout.clone.string(), "rev-parse", "-q", "--verify", "HEAD"}, "", head) != 0) return true;
    std::vector<std::string> argv{"git", "-C", checkout.clone.string(), "reset", "--hard", "--quiet", "HEAD"};
    if (said) {
      Collected output;
      int code = docker::run_local(argv, "", output);
      *said = output.text;
      return code == 0;
    }
    docker::ProgressLines lines(progress);
    if (docker::run_local(argv, "", lines) != 0) throw failed("git checkout of the clone failed");
    return true;
  }

  // The container made and started while git writes the files, which then go in through the
  // archive API (into the running container's volume).
  void make_while_checking_out(berth::OperationContext& c, Engine& engine, Checkout& checkout, const std::string& volume, const Limits& limits) {
    std::string said;
    bool written = false;
    std::thread writer([&] { written = check_out(checkout, &said, c.progress); });
    try {
      make_container(c, engine, checkout, volume, limits, /*copy_tree=*/false, std::nullopt);
    } catch (...) {
      writer.join();
      throw;
    }
    writer.join();
    if (!said.empty()) {
      std::istringstream lines(said);
      for (std::string line; std::getline(lines, line);) c.progress.line(line);
    }
    if (!written) throw failed("git checkout of the clone failed");
    copy_repository(engine, c, recorded(c, "container_id"), recorded(c, "workdir"), checkout);
  }

  // Copies the clone into the container at workdir through the archive API.
  static void copy_repository(Engine& engine, berth::OperationContext& c, const std::string& id, const std::string& workdir,
                              const Checkout& checkout) {
    fs::path staging = checkout.staging / "tree";
    // A container path: with a ".." it would name a folder of the server outside the staging tree.
    devcontainer::check_container_path(workdir, "the workspace folder (the target's workdir or devcontainer.json's workspaceFolder) ");
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
  docker::WarmPool pool_{[this](const docker::PoolSpec& spec) { return engine_for(spec.properties, spec.address, kWorkDeadline); },
                         [](const docker::PoolSpec& spec) {
                           return plain_body(spec.properties, property(spec.properties, "image"), spec.mount, limits_of(spec.properties));
                         },
                         // berth-agent as each pool container's main process (docs/agent.md).
                         docker::PoolHooks{
                             [](const docker::PoolSpec& spec, Engine& engine, Json& body, const std::string& name) {
                               docker::agent::shape_container(engine, spec.properties, spec.data_dir, body, body.value("Image", ""), name);
                             },
                             [](const docker::PoolSpec& spec, Engine& engine, const std::string& id, const std::string& name) {
                               docker::agent::prepare_pool_container(engine, id, spec.data_dir, name);
                             },
                             [](const docker::PoolSpec& spec, const std::string& name) { docker::agent::forget_folder(spec.data_dir, name); }}};
  std::map<std::string, std::string> identities_;  // data folder -> this home's identity
};

}  // namespace

BERTH_PROVIDER(DockerProvider)
