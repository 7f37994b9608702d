#include "provider_protocol.hpp"

#include "exec_frames.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstddef>
#include <cstdlib>
#include <cstring>

namespace berth {

bool FrameWriter::write_all(const std::string& frame) {
  std::lock_guard lock(mutex_);
  size_t done = 0;
  while (done < frame.size()) {
    ssize_t n = ::send(fd_, frame.data() + done, frame.size() - done, MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

bool FrameWriter::json(const Json& message) {
  return write_all(encode_frame('J', message.dump(-1, ' ', false, Json::error_handler_t::replace)));
}

bool FrameWriter::data(char type, uint32_t call_id, std::string_view bytes) {
  // Never a frame the peer must refuse as too long: big writes go as several frames.
  constexpr size_t kChunk = 1 << 20;
  if (bytes.size() > kChunk) {
    for (size_t at = 0; at < bytes.size(); at += kChunk) {
      if (!data(type, call_id, bytes.substr(at, kChunk))) return false;
    }
    return true;
  }
  std::string payload = encode_u32(call_id);
  payload.reserve(4 + bytes.size());
  payload.append(bytes);
  return write_all(encode_frame(type, payload));
}

std::string encode_u32(uint32_t value) {
  std::string bytes;
  for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<char>((value >> shift) & 0xff));
  return bytes;
}

uint32_t frame_call_id(std::string_view payload) {
  uint32_t id = 0;
  for (size_t i = 0; i < 4 && i < payload.size(); ++i) id = (id << 8) | static_cast<unsigned char>(payload[i]);
  return id;
}

std::string_view frame_bytes(std::string_view payload) { return payload.size() < 4 ? std::string_view() : payload.substr(4); }

Json abi_facts_to_json(const AbiFacts& f) {
  const char* families[] = {"other", "gcc", "clang"};
  const char* libraries[] = {"other", "libstdc++", "libc++"};
  auto pick = [](const char* const* names, int value) { return value >= 0 && value <= 2 ? names[value] : "other"; };
  return Json{{"sdk", std::to_string(f.sdk_major) + "." + std::to_string(f.sdk_minor)},
              {"compiler", std::string(pick(families, f.compiler_family)) + " " + std::to_string(f.compiler_major)},
              {"standard_library", pick(libraries, f.standard_library)},
              {"cxx11_abi", f.cxx11_abi},
              {"sizes",
               {{"string", f.size_of_string},
                {"string_map", f.size_of_string_map},
                {"workspace", f.size_of_workspace},
                {"operation_context", f.size_of_operation_context},
                {"provider_info", f.size_of_provider_info},
                {"property_spec", f.size_of_property_spec},
                {"exec_request", f.size_of_exec_request},
                {"status", f.size_of_status},
                {"target_check", f.size_of_target_check},
                {"cancellation", f.size_of_cancellation},
                {"session_request", f.size_of_session_request},
                {"session_event", f.size_of_session_event},
                {"watched_workspace", f.size_of_watched_workspace},
                {"infra_change", f.size_of_infra_change}}}};
}

AbiFacts read_abi_facts(const AbiFacts& reported) {
  AbiFacts facts{};
  std::memcpy(&facts, &reported, std::min<size_t>(std::max<size_t>(reported.size, sizeof facts.size), sizeof facts));
  return facts;
}

std::string abi_mismatch(const AbiFacts& library, const AbiFacts& host) {
  // SDK 1.2's facts are the oldest a host of this SDK takes: older libraries call sessions
  // through the exec() fallback of a struct layout that is no longer berth's.
  if (library.size < offsetof(AbiFacts, size_of_watched_workspace)) {
    return "its ABI facts are from an older SDK: rebuild it against this berth's SDK (" + std::to_string(host.sdk_major) + "." +
           std::to_string(host.sdk_minor) + ")";
  }
  if (library.standard_library != host.standard_library) {
    return "it was built against another C++ standard library (" +
           abi_facts_to_json(library)["standard_library"].get<std::string>() + ", berth uses " +
           abi_facts_to_json(host)["standard_library"].get<std::string>() + "): rebuild it with GCC's libstdc++";
  }
  if (library.cxx11_abi != host.cxx11_abi) {
    return "it was built with _GLIBCXX_USE_CXX11_ABI=" + std::to_string(library.cxx11_abi) + " but berth uses " +
           std::to_string(host.cxx11_abi) + ": rebuild it without -D_GLIBCXX_USE_CXX11_ABI=" + std::to_string(library.cxx11_abi);
  }
  struct Size {
    const char* name;
    uint32_t AbiFacts::*field;
  };
  static const Size sizes[] = {{"std::string", &AbiFacts::size_of_string},
                               {"berth::StringMap", &AbiFacts::size_of_string_map},
                               {"berth::Workspace", &AbiFacts::size_of_workspace},
                               {"berth::OperationContext", &AbiFacts::size_of_operation_context},
                               {"berth::ProviderInfo", &AbiFacts::size_of_provider_info},
                               {"berth::PropertySpec", &AbiFacts::size_of_property_spec},
                               {"berth::ExecRequest", &AbiFacts::size_of_exec_request},
                               {"berth::Status", &AbiFacts::size_of_status},
                               {"berth::TargetCheck", &AbiFacts::size_of_target_check},
                               {"berth::Cancellation", &AbiFacts::size_of_cancellation},
                               {"berth::SessionRequest", &AbiFacts::size_of_session_request},
                               {"berth::SessionEvent", &AbiFacts::size_of_session_event},
                               {"berth::WatchedWorkspace", &AbiFacts::size_of_watched_workspace},
                               {"berth::InfraChange", &AbiFacts::size_of_infra_change}};
  const AbiFacts layout{};
  for (const auto& size : sizes) {
    // A field the library's (older) SDK did not have: it never sees that struct.
    auto offset = static_cast<size_t>(reinterpret_cast<const char*>(&(layout.*size.field)) - reinterpret_cast<const char*>(&layout));
    bool known = offset < library.size;
    if (known && library.*size.field != host.*size.field) {
      return std::string("its SDK headers differ from berth's (sizeof ") + size.name + " is " +
             std::to_string(library.*size.field) + ", berth's is " + std::to_string(host.*size.field) +
             "): rebuild it against this berth's installed SDK headers, unmodified";
    }
  }
  return "";
}

Json status_to_json(const Status& status) {
  return Json{{"state", infra_state_name(status.state)}, {"detail", status.detail}};
}

Status status_from_json(const Json& json) {
  Status status;
  status.state = infra_state_from_name(json.value("state", "unknown"));
  status.detail = json.value("detail", "");
  return status;
}

const char* infra_state_name(InfraState state) {
  switch (state) {
    case InfraState::started: return "started";
    case InfraState::stopped: return "stopped";
    case InfraState::gone: return "gone";
    case InfraState::paused: return "paused";
    case InfraState::unknown: break;
  }
  return "unknown";
}

InfraState infra_state_from_name(const std::string& name) {
  for (InfraState state : {InfraState::started, InfraState::stopped, InfraState::gone, InfraState::paused}) {
    if (name == infra_state_name(state)) return state;
  }
  return InfraState::unknown;
}

Json infra_change_to_json(const InfraChange& change) {
  return Json{{"workspace", change.workspace}, {"match", change.match}, {"state", infra_state_name(change.state)}, {"detail", change.detail}};
}

InfraChange infra_change_from_json(const Json& json) {
  InfraChange change;
  change.workspace = json.value("workspace", "");
  if (auto match = json.find("match"); match != json.end() && match->is_object()) {
    for (const auto& [key, value] : match->items()) {
      if (value.is_string()) change.match[key] = value.get<std::string>();
    }
  }
  change.state = infra_state_from_name(json.value("state", "unknown"));
  change.detail = json.value("detail", "");
  return change;
}

Json watched_workspace_to_json(const WatchedWorkspace& workspace) {
  return Json{{"name", workspace.name}, {"properties", workspace.properties}, {"provider_data", workspace.provider_data}};
}

WatchedWorkspace watched_workspace_from_json(const Json& json) {
  WatchedWorkspace workspace;
  workspace.name = json.value("name", "");
  workspace.properties = json.value("properties", StringMap{});
  workspace.provider_data = json.value("provider_data", StringMap{});
  return workspace;
}

Json exec_request_to_json(const ExecRequest& request) {
  return Json{{"command", request.command}, {"env", request.env}, {"workdir", request.workdir}, {"user", request.user}};
}

ExecRequest exec_request_from_json(const Json& json) {
  ExecRequest request;
  request.command = json.value("command", std::vector<std::string>{});
  request.env = json.value("env", StringMap{});
  request.workdir = json.value("workdir", "");
  request.user = json.value("user", "");
  return request;
}

Json session_request_to_json(const SessionRequest& request) {
  return Json{{"command", request.command}, {"env", request.env}, {"workdir", request.workdir}, {"user", request.user},
              {"tty", request.tty},         {"rows", request.rows}, {"cols", request.cols}, {"attach", request.attach}};
}

SessionRequest session_request_from_json(const Json& json) {
  SessionRequest request;
  request.command = json.value("command", std::vector<std::string>{});
  request.env = json.value("env", StringMap{});
  request.workdir = json.value("workdir", "");
  request.user = json.value("user", "");
  request.tty = json.value("tty", false);
  request.rows = json.value("rows", 24);
  request.cols = json.value("cols", 80);
  request.attach = json.value("attach", false);
  return request;
}

std::string encode_size(int rows, int cols) {
  std::string bytes;
  for (int value : {rows, cols}) {
    value = std::clamp(value, 0, 65535);
    bytes.push_back(static_cast<char>((value >> 8) & 0xff));
    bytes.push_back(static_cast<char>(value & 0xff));
  }
  return bytes;
}

bool decode_size(std::string_view bytes, int& rows, int& cols) {
  if (bytes.size() != 4) return false;
  auto at = [&](size_t i) { return static_cast<int>(static_cast<unsigned char>(bytes[i])); };
  rows = at(0) << 8 | at(1);
  cols = at(2) << 8 | at(3);
  return true;
}

int signal_number(std::string_view name) {
  if (name.substr(0, 3) == "SIG") name.remove_prefix(3);
  static const std::pair<const char*, int> known[] = {{"HUP", SIGHUP},   {"INT", SIGINT},   {"QUIT", SIGQUIT}, {"KILL", SIGKILL},
                                                      {"TERM", SIGTERM}, {"USR1", SIGUSR1}, {"USR2", SIGUSR2}, {"TSTP", SIGTSTP},
                                                      {"CONT", SIGCONT}, {"WINCH", SIGWINCH}};
  for (const auto& [text, number] : known) {
    if (name == text) return number;
  }
  return 0;
}

void kill_session(int session, int except) {
  if (except == 0) ::kill(-session, SIGKILL);
  DIR* proc = ::opendir("/proc");
  if (!proc) return;
  while (dirent* entry = ::readdir(proc)) {
    char* end = nullptr;
    long pid = std::strtol(entry->d_name, &end, 10);
    if (*end != 0 || pid <= 0 || pid == except) continue;
    char path[64];
    std::snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    int fd = ::open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    char buffer[512];
    ssize_t n = ::read(fd, buffer, sizeof buffer - 1);
    ::close(fd);
    if (n <= 0) continue;
    buffer[n] = 0;
    // pid (comm) state ppid pgrp session ...; comm may hold spaces and parentheses.
    const char* close = std::strrchr(buffer, ')');
    int ppid = 0, group = 0, its_session = 0;
    char state = 0;
    if (close && std::sscanf(close + 1, " %c %d %d %d", &state, &ppid, &group, &its_session) == 4 && its_session == session) {
      ::kill(static_cast<pid_t>(pid), SIGKILL);
    }
  }
  ::closedir(proc);
}

std::string describe_wait_status(int status) {
  if (WIFSIGNALED(status)) {
    int signal = WTERMSIG(status);
    const char* abbrev = ::sigabbrev_np(signal);
    return "signal " + std::to_string(signal) + (abbrev ? std::string(", SIG") + abbrev : std::string());
  }
  if (WIFEXITED(status)) return "exit status " + std::to_string(WEXITSTATUS(status));
  return "status " + std::to_string(status);
}

}  // namespace berth
