// initializeCommand runs on the server's machine, as the server's user: only for a client on
// the server's own Unix socket (or over TCP where the server's owner allowed it), and only once
// that person agreed to this repository's command (berth create --trust, or a yes to the
// CLI's question), remembered per repository and command as VS Code's workspace trust is.
#include "plan.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <mutex>
#include <sstream>

namespace docker::dc {
namespace {

std::string option(const berth::StringMap& options, const std::string& key) {
  auto it = options.find(key);
  return it == options.end() ? "" : it->second;
}

std::mutex trust_mutex;  // one provider process: its creates never write the store at once

fs::path trust_file(const berth::OperationContext& c) { return fs::path(c.data_dir) / "trusted-initialize-commands.json"; }

Json read_trust(const fs::path& file) {
  std::ifstream in(file);
  if (!in) return Json::object();
  std::ostringstream text;
  text << in.rdbuf();
  Json store = Json::parse(text.str(), nullptr, false);
  return store.is_object() ? store : Json::object();
}

// Atomic: a temporary file beside it, synced, renamed over it.
void write_trust(const fs::path& file, const Json& store) {
  fs::create_directories(file.parent_path());
  fs::path temporary = file.string() + ".tmp-" + std::to_string(::getpid());
  int fd = ::open(temporary.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw berth::Error("provider_failed", "cannot write " + temporary.string());
  std::string text = store.dump(2) + "\n";
  size_t done = 0;
  while (done < text.size()) {
    ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n <= 0) {
      ::close(fd);
      throw berth::Error("provider_failed", "cannot write " + temporary.string());
    }
    done += static_cast<size_t>(n);
  }
  ::fsync(fd);
  ::close(fd);
  fs::rename(temporary, file);
}

std::string now_utc() {
  auto seconds = std::chrono::system_clock::to_time_t(std::chrono::system_clock::now());
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&seconds));
  return text;
}

}  // namespace

std::string initialize_command_hash(const Plan& plan, const std::string& repository) {
  const Json& command = plan.config.document.value["initializeCommand"];
  return devcontainer::sha256_hex(repository + '\n' + plan.shown_as + '\n' + command.dump());
}

void require_initialize_consent(const Plan& plan, berth::OperationContext& c) {
  const Json& root = plan.config.document.value;
  if (!root.contains("initializeCommand")) return;
  const std::string where = plan.config.document.where("/initializeCommand");
  std::string shown = root["initializeCommand"].is_string() ? root["initializeCommand"].get<std::string>() : root["initializeCommand"].dump();
  if (option(c.workspace.options, "berth.host_commands") != "allowed") {
    throw berth::Error("forbidden", where + "would run '" + shown.substr(0, 200) +
                                        "' on the server's machine, as the server's user; berth runs it only for a client on the "
                                        "server's own Unix socket (this request came over TCP). The server's owner can allow it: "
                                        "berth serve --allow-remote-initialize");
  }
  std::string hash = initialize_command_hash(plan, c.workspace.repository);
  std::lock_guard lock(trust_mutex);
  Json store = read_trust(trust_file(c));
  if (option(c.workspace.options, "trust") == "true") {
    if (!store.contains(hash)) {
      store[hash] = Json{{"repository", c.workspace.repository}, {"file", plan.shown_as}, {"command", root["initializeCommand"]},
                         {"trusted_at", now_utc()}, {"workspace", c.workspace.name}};
      write_trust(trust_file(c), store);
    }
    c.progress.line("initializeCommand trusted (--trust): remembered for this repository and command");
    return;
  }
  if (store.contains(hash)) {
    c.progress.line("initializeCommand trusted since " + store[hash].value("trusted_at", std::string("earlier")) + " for this repository and command");
    return;
  }
  // What the CLI shows when it asks (a field of the record, never read from this message).
  c.provider_data["berth.consent"] = Json{{"field", "initializeCommand"},
                                          {"file", plan.shown_as},
                                          {"line", plan.config.document.line_of("/initializeCommand")},
                                          {"command", root["initializeCommand"]},
                                          {"repository", c.workspace.repository},
                                          {"hash", hash}}
                                         .dump();
  throw berth::Error("forbidden", where + "would run '" + shown.substr(0, 200) +
                                      "' on the server's machine, as the server's user. Run it only if you trust this repository: add "
                                      "--trust to berth create (or berth rebuild) " + c.workspace.name +
                                      "; berth remembers the answer for this repository and command");
}

}  // namespace docker::dc
