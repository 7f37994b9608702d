#include "plugin_services.hpp"

#include "errors.hpp"
#include "home.hpp"
#include "host_binary.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>

namespace fs = std::filesystem;
using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace berth {
namespace {

bool listening(const fs::path& socket_path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::snprintf(address.sun_path, sizeof address.sun_path, "%s", socket_path.c_str());
  bool connected = ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
  ::close(fd);
  return connected;
}

std::string exit_text(int status) {
  if (WIFEXITED(status)) return "exited with status " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "was killed by signal " + std::to_string(WTERMSIG(status)) + " (" + strsignal(WTERMSIG(status)) + ")";
  return "ended";
}

}  // namespace

PluginServices::PluginServices(PluginAccess& access, fs::path sockets, std::string server_address)
    : access_(access), sockets_(std::move(sockets)), server_address_(std::move(server_address)) {}

PluginServices::~PluginServices() { stop_all(); }

void PluginServices::start(const PluginEntry& plugin, Service& service) {
  const PluginService& spec = *plugin.extensions.service;
  create_private_folders(sockets_);
  fs::path socket_path = socket_of(plugin.name);
  if (socket_path.string().size() >= sizeof(sockaddr_un{}.sun_path)) {
    throw unavailable("the socket path " + socket_path.string() + " is too long for a Unix socket (107 bytes); use a shorter berth home");
  }
  // A socket left by an earlier run of this service (only a socket, only in berth's own folder).
  struct stat info {};
  if (::lstat(socket_path.c_str(), &info) == 0 && S_ISSOCK(info.st_mode)) ::unlink(socket_path.c_str());
  fs::path data = access_.data_root() / plugin.name;
  create_private_folders(data);

  std::string token = access_.mint(plugin.name, true);
  service.token = token;
  const char* path = std::getenv("PATH");
  std::vector<std::string> env_text{"PATH=" + std::string(path ? path : "/usr/bin:/bin"), "HOME=" + data.string(), "LANG=C.UTF-8",
                                    "BERTH_PLUGIN=" + plugin.name, "BERTH_PLUGIN_SOCKET=" + socket_path.string(),
                                    "BERTH_PLUGIN_TOKEN=" + token, "BERTH_SERVER=" + server_address_};
  for (const auto& [name, value] : spec.env) env_text.push_back(name + "=" + value);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw unavailable(std::string("cannot make a pipe: ") + std::strerror(errno));
  pid_t pid = -1;
  try {
    pid = spawn_in_own_group(spec.path, spec.args, env_text, data, fds[1], fds[1]);
  } catch (const Error& error) {
    ::close(fds[0]);
    ::close(fds[1]);
    throw unavailable("cannot start the service of plugin '" + plugin.name + "': " + error.what());
  }
  ::close(fds[1]);
  if (service.reader.joinable()) service.reader.join();  // the previous run's, which has ended
  service.pid = pid;
  service.state = "starting";
  service.stopping = false;
  access_.log(plugin.name, "service started (pid " + std::to_string(pid) + ")");
  service.reader = std::thread(&PluginServices::watch, this, plugin.name, services_[plugin.name], fds[0], pid);
}

void PluginServices::watch(std::string plugin, std::shared_ptr<Service> service, int output, pid_t pid) {
  std::string pending;
  char buffer[4096];
  for (;;) {
    ssize_t n = ::read(output, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    pending.append(buffer, static_cast<size_t>(n));
    for (size_t end = pending.find('\n'); end != std::string::npos; end = pending.find('\n')) {
      access_.log(plugin, "service: " + pending.substr(0, std::min<size_t>(end, 1000)));
      pending.erase(0, end + 1);
    }
    if (pending.size() > 4096) {
      access_.log(plugin, "service: " + pending.substr(0, 1000));
      pending.clear();
    }
  }
  if (!pending.empty()) access_.log(plugin, "service: " + pending.substr(0, 1000));
  ::close(output);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  ::kill(-pid, SIGKILL);  // what it left in its group
  std::lock_guard lock(mutex_);
  access_.revoke(service->token);  // each run gets its own
  service->pid = -1;
  service->last_exit = exit_text(status);
  if (service->stopping) {
    service->state = "stopped";
    access_.log(plugin, "service stopped (" + service->last_exit + ")");
    return;
  }
  auto now = Clock::now();
  service->crashes.push_back(now);
  while (!service->crashes.empty() && now - service->crashes.front() > kCrashWindow) service->crashes.pop_front();
  if (static_cast<int>(service->crashes.size()) >= kQuarantineCrashes) {
    service->state = "quarantined";
    access_.log(plugin, "service " + service->last_exit + "; quarantined after " + std::to_string(kQuarantineCrashes) +
                            " crashes in a minute (berth plugin enable " + plugin + " starts it again)");
    return;
  }
  auto backoff = std::chrono::seconds(1 << (service->crashes.size() - 1));
  service->state = "crashed";
  service->next_start = now + backoff;
  access_.log(plugin, "service " + service->last_exit + "; it starts again on its next use, after " + std::to_string(backoff.count()) + " s");
}

HttpResponse PluginServices::forward(const PluginEntry& plugin, const std::string& method, const std::string& target, const std::string& body,
                                     const std::string& content_type) {
  if (!plugin.extensions.service) throw not_found("plugin '" + plugin.name + "' has no service (its manifest's service: section)");
  if (plugin.state != PluginState::enabled) throw unavailable("plugin '" + plugin.name + "' is " + to_string(plugin.state));
  if (!plugin.consented) {
    throw Error("forbidden", "plugin '" + plugin.name + "' has not been enabled with its permissions shown, so berth starts none of its "
                             "programs: berth plugin enable " + plugin.name);
  }
  std::shared_ptr<Service> service;
  {
    std::lock_guard lock(mutex_);
    auto& slot = services_[plugin.name];
    if (!slot) slot = std::make_shared<Service>();
    service = slot;
    if (service->state == "quarantined") {
      throw unavailable("the service of plugin '" + plugin.name + "' is quarantined: it " + service->last_exit + ", " +
                        std::to_string(kQuarantineCrashes) + " times in a minute (berth plugin logs " + plugin.name +
                        "; berth plugin enable " + plugin.name + " starts it again)");
    }
    if (service->state == "crashed" && Clock::now() < service->next_start) {
      auto wait = std::chrono::duration_cast<std::chrono::milliseconds>(service->next_start - Clock::now()).count();
      throw unavailable("the service of plugin '" + plugin.name + "' " + service->last_exit + "; it starts again in " +
                        std::to_string((wait + 999) / 1000) + " s");
    }
    if (service->state == "stopped" || service->state == "crashed") start(plugin, *service);
  }
  // Until it listens (or ends, or the deadline passes).
  fs::path socket_path = socket_of(plugin.name);
  auto deadline = Clock::now() + kStartDeadline;
  for (auto pause = std::chrono::milliseconds(2);; pause = std::min(pause * 2, std::chrono::milliseconds(50))) {
    {
      std::lock_guard lock(mutex_);
      if (service->state == "running") break;
      if (service->state != "starting") {
        throw unavailable("the service of plugin '" + plugin.name + "' " + service->last_exit + " before it listened on " + socket_path.string() +
                          " (berth plugin logs " + plugin.name + ")");
      }
      if (listening(socket_path)) {
        service->state = "running";
        access_.log(plugin.name, "service listening on " + socket_path.string());
        break;
      }
      if (Clock::now() > deadline) {
        if (service->pid > 0) ::kill(-service->pid, SIGKILL);
        throw unavailable("the service of plugin '" + plugin.name + "' did not listen on " + socket_path.string() + " within " +
                          std::to_string(kStartDeadline.count()) + " s; it was stopped (berth plugin logs " + plugin.name + ")");
      }
    }
    std::this_thread::sleep_for(pause);
  }
  HttpClient client("unix://" + socket_path.string());
  client.set_timeout(std::chrono::seconds(60));
  try {
    return client.request(method, target, body, content_type.empty() ? "application/json" : content_type);
  } catch (const std::exception& error) {
    throw unavailable("the service of plugin '" + plugin.name + "' did not answer " + method + " " + target.substr(0, 100) + ": " + error.what());
  }
}

Json PluginServices::state_json(const std::string& plugin) {
  std::lock_guard lock(mutex_);
  auto it = services_.find(plugin);
  if (it == services_.end()) return Json{{"state", "stopped"}, {"crashes", 0}};
  auto now = Clock::now();
  auto& service = *it->second;
  int recent = 0;
  for (auto when : service.crashes) recent += now - when <= kCrashWindow ? 1 : 0;
  Json json{{"state", service.state}, {"crashes", recent}};
  if (service.pid > 0) json["pid"] = service.pid;
  if (!service.last_exit.empty()) json["last_exit"] = service.last_exit;
  return json;
}

void PluginServices::reset(const std::string& plugin) {
  std::lock_guard lock(mutex_);
  auto it = services_.find(plugin);
  if (it == services_.end()) return;
  it->second->crashes.clear();
  if (it->second->state == "quarantined" || it->second->state == "crashed") it->second->state = "stopped";
}

void PluginServices::stop_all() {
  std::vector<std::shared_ptr<Service>> all;
  {
    std::lock_guard lock(mutex_);
    for (auto& [name, service] : services_) {
      service->stopping = true;
      if (service->pid > 0) ::kill(-service->pid, SIGTERM);
      all.push_back(service);
    }
  }
  auto deadline = Clock::now() + std::chrono::seconds(3);
  for (auto& service : all) {
    for (;;) {
      {
        std::lock_guard lock(mutex_);
        if (service->pid <= 0) break;
        if (Clock::now() > deadline) {
          ::kill(-service->pid, SIGKILL);
          break;
        }
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (service->reader.joinable()) service->reader.join();
  }
}

}  // namespace berth
