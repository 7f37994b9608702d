#include "agent_container.hpp"

#include "agent/wire.hpp"
#include "agent_client.hpp"
#include "agent_image.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <set>
#include <thread>

namespace fs = std::filesystem;

namespace docker::agent {
namespace {

namespace wire = berth_agent;

berth::Error failed(const std::string& message) { return berth::Error("provider_failed", message); }

std::string value_of(const berth::StringMap& map, const std::string& key) {
  auto it = map.find(key);
  return it == map.end() ? "" : it->second;
}

std::vector<std::string> strings_of(const Json& value) {
  std::vector<std::string> out;
  if (value.is_array()) {
    for (const auto& item : value) {
      if (item.is_string()) out.push_back(item.get<std::string>());
    }
  } else if (value.is_string() && !value.get<std::string>().empty()) {
    out.push_back(value.get<std::string>());
  }
  return out;
}

// One ustar header block for `name`.
void tar_entry(std::string& tar, const std::string& name, char type, unsigned mode, size_t size) {
  char header[512] = {};
  std::snprintf(header, 100, "%s", name.c_str());
  std::snprintf(header + 100, 8, "%07o", mode);
  std::snprintf(header + 108, 8, "%07o", 0u);
  std::snprintf(header + 116, 8, "%07o", 0u);
  std::snprintf(header + 124, 12, "%011llo", static_cast<unsigned long long>(size));
  std::snprintf(header + 136, 12, "%011llo", 0ull);
  header[156] = type;
  std::memcpy(header + 257, "ustar", 6);  // magic "ustar\0", then version "00" (no NUL)
  header[263] = '0';
  header[264] = '0';
  std::memset(header + 148, ' ', 8);
  unsigned sum = 0;
  for (unsigned char byte : header) sum += byte;
  std::snprintf(header + 148, 8, "%06o", sum);
  header[155] = ' ';
  tar.append(header, sizeof header);
}

// .berth/ (0755), .berth/agent (0755), .berth/run/ (0700, the socket's mount point), root's;
// with folder "", the same without .berth/ (what goes into the agent's volume).
std::string agent_archive(const std::string& folder = ".berth/") {
  std::string_view binary = agent_image();
  std::string tar;
  tar.reserve(binary.size() + 4096);
  if (!folder.empty()) tar_entry(tar, folder, '5', 0755, 0);
  tar_entry(tar, folder + "agent", '0', 0755, binary.size());
  tar.append(binary);
  tar.append((512 - binary.size() % 512) % 512, '\0');
  tar_entry(tar, folder + "run/", '5', 0700, 0);
  tar.append(1024, '\0');
  return tar;
}

// An engine whose containers cannot bind-mount this machine's files (a remote one) gets the
// agent once, in a volume named after the binary's content, mounted read-only at /.berth in
// each container: no archive upload (about 1 MB, and the engine's untar helper) per create.
// The provider's data folder notes each engine whose volume it filled.
std::string agent_volume_name() {
  static const std::string name = [] {
    char hex[17];
    std::snprintf(hex, sizeof hex, "%016zx", std::hash<std::string_view>{}(agent_image()));
    return "berth-agent-" + std::string(hex);
  }();
  return name;
}

fs::path agent_volume_note(const std::string& data_dir, const std::string& address) {
  std::string key = address;
  for (char& c : key) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '.' && c != '-') c = '_';
  }
  return fs::path(data_dir) / "agent-volumes" / (agent_volume_name() + "@" + key);
}

bool agent_volume_noted(const std::string& data_dir, const std::string& address) {
  std::error_code error;
  return fs::exists(agent_volume_note(data_dir, address), error);
}

// The agent's volume on this engine, filled (through a helper container that never starts,
// removed after), or "" when that fails: the container then gets the agent by upload.
std::string ensure_agent_volume(Engine& engine, const std::string& image, const std::string& data_dir) {
  const std::string name = agent_volume_name();
  try {
    if (engine.get("/volumes/" + name).status == 200 && agent_volume_noted(data_dir, engine.address())) return name;
    Reply made = engine.post("/volumes/create", Json{{"Name", name}, {"Labels", {{"dev.berth.agent", "true"}}}});
    if (made.status != 201 && made.status != 200) return "";
    Json helper{{"Image", image}, {"Entrypoint", Json::array({"/.berth/agent"})}, {"Cmd", Json::array()}, {"NetworkDisabled", true},
                {"Labels", {{"dev.berth.agent", "true"}}},
                {"HostConfig", {{"Mounts", Json::array({Json{{"Type", "volume"}, {"Source", name}, {"Target", "/.berth"}}})}}}};
    Reply created = engine.post("/containers/create", helper);
    if (created.status != 201) return "";
    std::string id = created.json().value("Id", "");
    std::string tar = agent_archive("");
    bool sent = false;
    Reply put = engine.put_stream("/containers/" + id + "/archive?path=/.berth", "application/x-tar", [&](std::string& chunk) {
      if (!sent) chunk = std::move(tar);
      sent = true;
      return false;
    });
    engine.del("/containers/" + id + "?force=true");
    if (put.status != 200) return "";
    fs::path note = agent_volume_note(data_dir, engine.address());
    fs::create_directories(note.parent_path());
    std::ofstream(note) << "filled\n";
    return name;
  } catch (const std::exception&) {
    return "";
  }
}

// The agent in the bound folder, as it runs there (the folder is /.berth/run in the container).
constexpr const char* kBinaryName = "berth-agent";
const std::string kBoundAgentPath = std::string(wire::kSocketFolder) + "/" + kBinaryName;

// Engines whose containers have answered on a bound socket: they see this machine's files, so
// a bind mount of the agent binary works there (and saves the archive upload, ~50 ms: the
// engine runs its untar helper for each). Learnt per provider process; the first container on
// an engine gets the binary through the archive API.
std::mutex shared_mutex;
std::set<std::string> engines_sharing_files;

bool shares_files(const std::string& address) {
  std::lock_guard lock(shared_mutex);
  return engines_sharing_files.count(address) > 0;
}

// Writes the embedded binary to folder/berth-agent (0755), whole or not at all.
void write_binary(const fs::path& folder) {
  std::string_view binary = agent_image();
  fs::path target = folder / kBinaryName, temporary = folder / ".berth-agent.tmp";
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0755);
  bool written = fd >= 0;
  for (size_t at = 0; written && at < binary.size();) {
    ssize_t n = ::write(fd, binary.data() + at, binary.size() - at);
    written = n > 0;
    if (written) at += static_cast<size_t>(n);
  }
  if (fd >= 0) ::close(fd);
  if (!written || ::chmod(temporary.c_str(), 0755) != 0 || ::rename(temporary.c_str(), target.c_str()) != 0) {
    ::unlink(temporary.c_str());
    throw failed("cannot write berth's agent to " + target.string() + ": " + std::strerror(errno));
  }
}

}  // namespace

Placement shape_container(Engine& engine, const berth::OperationContext& c, Json& body, const std::string& image,
                          const std::string& container_name) {
  return shape_container(engine, c.properties, c.data_dir, body, image, container_name);
}

Placement shape_container(Engine& engine, const berth::StringMap& properties, const std::string& data_dir, Json& body,
                          const std::string& image, const std::string& container_name) {
  std::vector<std::string> entrypoint = strings_of(body.value("Entrypoint", Json()));
  std::vector<std::string> command = strings_of(body.value("Cmd", Json()));
  bool keep_image_command = !body.contains("Entrypoint") && !body.contains("Cmd");
  std::string user = body.contains("User") && body["User"].is_string() ? body["User"].get<std::string>() : "";
  if (keep_image_command || user.empty()) {
    Reply inspected = engine.get("/images/" + url_escape(image) + "/json");
    if (inspected.status != 200) throw failed("cannot inspect the image " + image + ": " + inspected.message());
    const Json config = inspected.json().value("Config", Json::object());
    if (keep_image_command) {
      entrypoint = strings_of(config.value("Entrypoint", Json()));
      command = strings_of(config.value("Cmd", Json()));
    }
    if (user.empty() && config.is_object() && config.contains("User") && config["User"].is_string()) user = config["User"].get<std::string>();
  }
  std::vector<std::string> main = entrypoint;
  main.insert(main.end(), command.begin(), command.end());
  if (main == std::vector<std::string>{"/bin/sh", "-c", kSleepLoop}) main.clear();  // the agent waits itself

  Placement placement;
  std::string address = engine.address();
  fs::path folder = fs::path(data_dir) / "agents" / container_name;
  if (value_of(properties, "exec_via") == "engine") {
    placement.reason = "the target's exec_via is engine";
  } else if (address.rfind("unix://", 0) != 0) {
    placement.reason = "the engine at " + address + " is not on this machine, so the agent's socket is not either";
  } else if (folder.string().find_first_of(":,") != std::string::npos) {
    placement.reason = "the provider's data folder " + folder.string() + " holds ':' or ',', which a bind mount cannot name";
  } else {
    // A folder left by an earlier container of this name (this home's: the name holds its
    // identity) is replaced.
    std::error_code error;
    fs::remove_all(folder, error);
    fs::create_directories(folder);
    ::chmod(folder.c_str(), 0700);
    placement.socket_folder = folder.string();
    if (shares_files(address)) {
      write_binary(folder);
      placement.binary_in_folder = true;
    }
    Json& binds = body["HostConfig"]["Binds"];
    if (!binds.is_array()) binds = Json::array();
    binds.push_back(placement.socket_folder + ":" + wire::kSocketFolder);
  }

  if (placement.socket_folder.empty()) {
    placement.volume = ensure_agent_volume(engine, image, data_dir);
    if (!placement.volume.empty()) {
      Json& mounts = body["HostConfig"]["Mounts"];
      if (!mounts.is_array()) mounts = Json::array();
      mounts.push_back(Json{{"Type", "volume"}, {"Source", placement.volume}, {"Target", "/.berth"}, {"ReadOnly", true}});
    }
  }

  Json agent_command = Json::array({placement.binary_in_folder ? kBoundAgentPath : std::string(wire::kAgentPath)});
  if (!placement.socket_folder.empty()) agent_command.insert(agent_command.end(), {"--listen", wire::kSocketFolder});
  if (!user.empty()) agent_command.insert(agent_command.end(), {"--user", user});
  agent_command.push_back("--");
  body["Entrypoint"] = agent_command;
  body["Cmd"] = main;
  body["User"] = "0";  // the agent switches to each command's user itself
  return placement;
}

void install(Engine& engine, const std::string& container_id, const Placement& placement, berth::StringMap& provider_data) {
  if (placement.binary_in_folder) {
    provider_data["agent"] = kBoundAgentPath;
    provider_data["agent_socket_folder"] = placement.socket_folder;
    return;
  }
  if (placement.volume.empty()) {
    std::string tar = agent_archive();
    bool sent = false;
    Reply reply = engine.put_stream("/containers/" + container_id + "/archive?path=/", "application/x-tar", [&](std::string& chunk) {
      if (!sent) chunk = std::move(tar);
      sent = true;
      return false;
    });
    if (reply.status != 200) throw failed("cannot put berth's agent into the container: " + reply.message());
  }
  provider_data["agent"] = wire::kAgentPath;
  if (!placement.socket_folder.empty()) {
    provider_data["agent_socket_folder"] = placement.socket_folder;
  } else {
    provider_data.erase("agent_socket_folder");
    provider_data["exec_via"] = "engine";
  }
}

void await_agent(berth::StringMap& provider_data, berth::ProgressSink& progress) {
  std::string folder = value_of(provider_data, "agent_socket_folder");
  if (folder.empty()) {
    if (!value_of(provider_data, "agent").empty()) provider_data["exec_via"] = "engine";
    return;
  }
  // The agent binds its socket as it starts: a few milliseconds after the engine's start.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  while (true) {
    if (connect_folder(folder)) {
      provider_data["exec_via"] = "agent";
      std::string address = value_of(provider_data, "docker_host");
      std::lock_guard lock(shared_mutex);
      if (!address.empty()) engines_sharing_files.insert(address);
      return;
    }
    if (std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  provider_data["exec_via"] = "engine";
  progress.line("berth's agent did not answer on " + folder + "/" + wire::kSocketName +
                " (an engine in a VM or another mount namespace?): commands run through the engine's exec");
}

void prepare_start(const berth::StringMap& provider_data) {
  std::string folder = value_of(provider_data, "agent_socket_folder");
  if (folder.empty() || value_of(provider_data, "agent") != kBoundAgentPath) return;
  std::error_code error;
  if (fs::exists(fs::path(folder) / kBinaryName, error)) return;
  fs::create_directories(folder, error);
  ::chmod(folder.c_str(), 0700);
  write_binary(folder);
}

void prepare_pool_container(Engine& engine, const std::string& container_id, const std::string& data_dir, const std::string& name) {
  fs::path folder = fs::path(data_dir) / "agents" / name;
  Placement placement;
  std::error_code error;
  if (fs::is_directory(folder, error)) placement.socket_folder = folder.string();
  placement.binary_in_folder = fs::exists(folder / kBinaryName, error);
  // Shaped moments ago with the agent's volume when the engine has one (its note is there).
  if (placement.socket_folder.empty() && agent_volume_noted(data_dir, engine.address())) placement.volume = agent_volume_name();
  berth::StringMap unused;
  install(engine, container_id, placement, unused);
}

void adopt_pool_container(const std::string& data_dir, const std::string& name, berth::StringMap& provider_data) {
  fs::path folder = fs::path(data_dir) / "agents" / name;
  std::error_code error;
  if (!fs::is_directory(folder, error)) return;  // a pool container made before the agent, or on a remote engine
  provider_data["agent_socket_folder"] = folder.string();
  provider_data["agent"] = fs::exists(folder / kBinaryName, error) ? kBoundAgentPath : wire::kAgentPath;
  bool answers = connect_folder(folder.string()).has_value();
  provider_data["exec_via"] = answers ? "agent" : "engine";
  if (std::string address = value_of(provider_data, "docker_host"); answers && !address.empty()) {
    std::lock_guard lock(shared_mutex);
    engines_sharing_files.insert(address);
  }
}

void forget_folder(const std::string& data_dir, const std::string& name) {
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") return;
  std::error_code ignored;
  fs::remove_all(fs::path(data_dir) / "agents" / name, ignored);
}

void forget(const berth::StringMap& provider_data, const std::string& data_dir) {
  std::string folder = value_of(provider_data, "agent_socket_folder");
  if (folder.empty()) return;
  fs::path own = fs::weakly_canonical(fs::path(data_dir) / "agents");
  fs::path recorded = fs::weakly_canonical(folder);
  if (recorded.parent_path() != own) return;  // not a folder this provider makes
  std::error_code ignored;
  fs::remove_all(recorded, ignored);
}

}  // namespace docker::agent
