// glance's backend service: a small HTTP server on the Unix socket berth names in
// BERTH_PLUGIN_SOCKET, started by berth on first use and supervised there. Its routes:
//   GET /load     this machine's load average and uptime (from /proc)
//   GET /summary  workspaces by state, asked of berth with glance's own credential
//                 (BERTH_SERVER, BERTH_PLUGIN_TOKEN): what glance was granted, nothing more
// The dashboard reaches it through berth: berth.service.get('/load') in a glance page, or
// GET /v1/plugins/glance/service/load and GET /v1/plugins/glance/summary (a manifest route).
// One request per connection, no dependencies: an example, not a framework.
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

namespace {

std::string read_first_line(const char* path) {
  std::ifstream file(path);
  std::string line;
  std::getline(file, line);
  return line;
}

int connect_unix(const std::string& path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::snprintf(address.sun_path, sizeof address.sun_path, "%s", path.c_str());
  if (fd >= 0 && ::connect(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0) return fd;
  if (fd >= 0) ::close(fd);
  return -1;
}

bool write_all(int fd, const std::string& data) {
  for (size_t done = 0; done < data.size();) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n <= 0) return false;
    done += static_cast<size_t>(n);
  }
  return true;
}

std::string read_all(int fd) {
  std::string data;
  char buffer[8192];
  for (ssize_t n; (n = ::read(fd, buffer, sizeof buffer)) > 0;) data.append(buffer, static_cast<size_t>(n));
  return data;
}

// GET path from berth with glance's credential: the status and the body.
std::pair<int, std::string> ask_berth(const std::string& path) {
  const char* server = std::getenv("BERTH_SERVER");
  const char* token = std::getenv("BERTH_PLUGIN_TOKEN");
  std::string address = server ? server : "";
  if (address.rfind("unix://", 0) != 0 || !token) return {502, "no BERTH_SERVER or BERTH_PLUGIN_TOKEN"};
  int fd = connect_unix(address.substr(7));
  if (fd < 0) return {502, "cannot reach berth at " + address};
  write_all(fd, "GET " + path + " HTTP/1.1\r\nHost: berth\r\nX-Berth-Plugin-Token: " + token + "\r\nConnection: close\r\n\r\n");
  std::string answer = read_all(fd);
  ::close(fd);
  size_t space = answer.find(' ');
  size_t body = answer.find("\r\n\r\n");
  if (space == std::string::npos || body == std::string::npos) return {502, "berth's answer was cut short"};
  std::string text = answer.substr(body + 4);
  // A chunked body (berth streams long lists): keep the chunks' data only.
  if (answer.substr(0, body).find("chunked") != std::string::npos) {
    std::string plain;
    for (size_t at = 0;;) {
      size_t line = text.find("\r\n", at);
      if (line == std::string::npos) break;
      size_t size = std::strtoul(text.substr(at, line - at).c_str(), nullptr, 16);
      if (size == 0) break;
      plain += text.substr(line + 2, size);
      at = line + 2 + size + 2;
    }
    text = plain;
  }
  return {std::atoi(answer.c_str() + space + 1), text};
}

// {"started": 2, "stopped": 1} from berth's list, counting "state" fields (no JSON library here).
std::string summary() {
  auto [status, body] = ask_berth("/v1/workspaces?fields=name,state");
  if (status != 200) return "{\"error\": " + std::to_string(status) + "}";
  std::map<std::string, int> counts;
  for (size_t at = body.find("\"state\":\""); at != std::string::npos; at = body.find("\"state\":\"", at + 1)) {
    size_t start = at + 9;
    counts[body.substr(start, body.find('"', start) - start)]++;
  }
  std::string json = "{";
  for (const auto& [state, count] : counts) json += (json.size() > 1 ? ", \"" : "\"") + state + "\": " + std::to_string(count);
  return json + "}";
}

std::string load() {
  std::istringstream loadavg(read_first_line("/proc/loadavg"));
  std::istringstream uptime(read_first_line("/proc/uptime"));
  std::string one, five, fifteen;
  double seconds = 0;
  loadavg >> one >> five >> fifteen;
  uptime >> seconds;
  return "{\"load\": [" + one + ", " + five + ", " + fifteen + "], \"uptime_seconds\": " + std::to_string(static_cast<long>(seconds)) + "}";
}

void answer(int client) {
  std::string request;
  char buffer[4096];
  while (request.find("\r\n\r\n") == std::string::npos && request.size() < 65536) {
    ssize_t n = ::read(client, buffer, sizeof buffer);
    if (n <= 0) return;
    request.append(buffer, static_cast<size_t>(n));
  }
  std::istringstream line(request.substr(0, request.find("\r\n")));
  std::string method, target;
  line >> method >> target;
  std::string path = target.substr(0, target.find('?'));
  int status = 200;
  std::string body;
  if (method == "GET" && path == "/load") {
    body = load();
    if (read_first_line("/proc/loadavg").empty()) {
      status = 503;  // one of the manifest's error codes: berth shows it as glance:no-proc, with its status
      body = "{\"error\": {\"code\": \"no-proc\", \"message\": \"/proc/loadavg cannot be read here\"}}";
    }
  } else if (method == "GET" && path == "/summary") {
    body = summary();
  } else {
    status = 404;
    body = "{\"error\": {\"code\": \"not-here\", \"message\": \"glance's service has no " + method + " " + path.substr(0, 100) + "\"}}";
  }
  write_all(client, "HTTP/1.1 " + std::to_string(status) + (status == 200 ? " OK" : status == 404 ? " Not Found" : " Service Unavailable") +
                        "\r\nContent-Type: application/json\r\nConnection: close\r\nContent-Length: " + std::to_string(body.size()) +
                        "\r\n\r\n" + body);
}

}  // namespace

int main() {
  std::signal(SIGPIPE, SIG_IGN);
  const char* socket_path = std::getenv("BERTH_PLUGIN_SOCKET");
  if (!socket_path) {
    std::fprintf(stderr, "glance-service: BERTH_PLUGIN_SOCKET is not set (berth starts this service)\n");
    return 2;
  }
  int listener = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un address{};
  address.sun_family = AF_UNIX;
  std::snprintf(address.sun_path, sizeof address.sun_path, "%s", socket_path);
  if (listener < 0 || ::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 || ::listen(listener, 64) != 0) {
    std::fprintf(stderr, "glance-service: cannot listen on %s: %s\n", socket_path, std::strerror(errno));
    return 1;
  }
  std::printf("glance-service listening on %s\n", socket_path);
  std::fflush(stdout);
  for (;;) {
    int client = ::accept4(listener, nullptr, nullptr, SOCK_CLOEXEC);
    if (client < 0) continue;
    answer(client);
    ::close(client);
  }
}
