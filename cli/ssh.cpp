// berth ssh NAME: an interactive shell in a workspace, by the way its provider recorded:
// a folder on this machine (provider_data "path"), or a container on a Docker engine
// (provider_data "container_id" and "docker_host"), through the engine's exec API with a TTY.
#include "codec.hpp"
#include "commands.hpp"
#include "errors.hpp"
#include "http_client.hpp"
#include "unix_http.hpp"

#include <poll.h>
#include <signal.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>

#include <cerrno>
#include <fcntl.h>

namespace berth::cli {
namespace {

int winch_pipe[2] = {-1, -1};

void on_winch(int) {
  char c = 1;
  [[maybe_unused]] ssize_t n = ::write(winch_pipe[1], &c, 1);
}

// Puts the terminal in raw mode for the life of the object.
class RawTerminal {
 public:
  RawTerminal() {
    if (::isatty(0) != 1 || ::tcgetattr(0, &saved_) != 0) return;
    termios raw = saved_;
    ::cfmakeraw(&raw);
    active_ = ::tcsetattr(0, TCSANOW, &raw) == 0;
  }
  ~RawTerminal() {
    if (active_) ::tcsetattr(0, TCSANOW, &saved_);
  }

 private:
  termios saved_{};
  bool active_ = false;
};

void resize(HttpClient& client, const std::string& exec_id) {
  winsize size{};
  if (::ioctl(0, TIOCGWINSZ, &size) != 0 || size.ws_row == 0) return;
  try {
    client.request("POST", "/exec/" + exec_id + "/resize?h=" + std::to_string(size.ws_row) + "&w=" + std::to_string(size.ws_col));
  } catch (const HttpError&) {
    // A resize that does not reach the engine only leaves the old size.
  }
}

int docker_shell(const Workspace& w, const std::string& shell) {
  const std::string& address = w.provider_data.at("docker_host");
  const std::string& id = w.provider_data.at("container_id");
  HttpClient client(address);
  const char* term = std::getenv("TERM");
  Json body{{"AttachStdin", true}, {"AttachStdout", true}, {"AttachStderr", true}, {"Tty", true},
            {"Cmd", {shell}}, {"Env", {std::string("TERM=") + (term ? term : "xterm")}},
            {"WorkingDir", w.provider_data.count("workdir") ? w.provider_data.at("workdir") : "/"}};
  HttpResponse created;
  try {
    created = client.request("POST", "/containers/" + id + "/exec", body.dump());
  } catch (const HttpError& error) {
    throw unavailable("cannot reach the Docker engine at " + address + ": " + error.what());
  }
  if (created.status == 404) throw conflict("the container of '" + w.name + "' is gone; delete the workspace (berth delete " + w.name + ")");
  if (created.status == 409) throw conflict("the container of '" + w.name + "' is not running (berth start " + w.name + ")");
  if (created.status != 201) throw provider_failed("the engine refused the shell: " + created.body);
  std::string exec_id = Json::parse(created.body).value("Id", "");

  std::string start = Json{{"Detach", false}, {"Tty", true}}.dump();
  std::string request = "POST /exec/" + exec_id + "/start HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\n"
                        "Connection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: " + std::to_string(start.size()) + "\r\n\r\n" + start;
  int status = 0;
  std::string head;
  int fd = open_raw_stream(address, request, status, head);
  if (status != 101 && status != 200) {
    ::close(fd);
    throw provider_failed("the engine refused the shell (HTTP " + std::to_string(status) + ")");
  }

  if (::pipe2(winch_pipe, O_CLOEXEC | O_NONBLOCK) == 0) {
    struct sigaction action {};
    action.sa_handler = on_winch;
    ::sigaction(SIGWINCH, &action, nullptr);
  }
  {
    RawTerminal raw;
    resize(client, exec_id);
    pollfd fds[3] = {{0, POLLIN, 0}, {fd, POLLIN, 0}, {winch_pipe[0], POLLIN, 0}};
    char buffer[16384];
    bool input_open = true;
    while (true) {
      fds[0].fd = input_open ? 0 : -1;
      if (::poll(fds, 3, -1) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (fds[2].revents & POLLIN) {
        while (::read(winch_pipe[0], buffer, sizeof buffer) > 0) {
        }
        resize(client, exec_id);
      }
      if (fds[0].revents & (POLLIN | POLLHUP)) {
        ssize_t n = ::read(0, buffer, sizeof buffer);
        if (n <= 0) {
          input_open = false;
          ::shutdown(fd, SHUT_WR);
        } else if (::send(fd, buffer, static_cast<size_t>(n), MSG_NOSIGNAL) < 0) {
          break;
        }
      }
      if (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t n = ::recv(fd, buffer, sizeof buffer, 0);
        if (n <= 0) break;
        for (ssize_t done = 0; done < n;) {
          ssize_t written = ::write(1, buffer + done, static_cast<size_t>(n - done));
          if (written <= 0) break;
          done += written;
        }
      }
    }
  }
  ::close(fd);
  HttpResponse inspected;
  try {
    inspected = client.request("GET", "/exec/" + exec_id + "/json");
  } catch (const HttpError&) {
    return 1;
  }
  Json state = Json::parse(inspected.body, nullptr, false);
  return state.is_object() && state["ExitCode"].is_number() ? state["ExitCode"].get<int>() : 1;
}

[[noreturn]] void local_shell(const Workspace& w, const std::string& path, const std::string& shell) {
  for (const auto& [key, value] : w.env) ::setenv(key.c_str(), value.c_str(), 1);
  ::setenv("BERTH_WORKSPACE", w.name.c_str(), 1);
  if (::chdir(path.c_str()) != 0) throw unavailable("cannot enter " + path + ": its folder is gone (berth delete " + w.name + ")");
  ::execl(shell.c_str(), shell.c_str(), "-i", static_cast<char*>(nullptr));
  throw unavailable("cannot run " + shell);
}

}  // namespace

void define_ssh(CLI::App& app, Invocation& run) {
  auto name = std::make_shared<std::string>();
  auto shell = std::make_shared<std::string>();
  app.add_option("name", *name, "Workspace name")->required();
  app.add_option("--shell", *shell, "Shell to run (default: the target's, or /bin/sh)");
  app.callback([&run, name, shell] {
    require_name_argument("workspace", *name);
    Workspace w = run.session.api().get_workspace(*name);
    if (w.state != WorkspaceState::started) {
      throw conflict("workspace '" + *name + "' is " + to_string(w.state) + "; start it first: berth start " + *name);
    }
    const auto& data = w.provider_data;
    std::string chosen = !shell->empty() ? *shell : data.count("shell") ? data.at("shell") : "/bin/sh";
    if (!run.session.local_server()) {
      throw unavailable("berth ssh reaches workspaces of a server on this machine only; run it where the server runs");
    }
    if (data.count("container_id") && data.count("docker_host")) {
      run.exit_code = docker_shell(w, chosen);
      return;
    }
    if (data.count("path")) local_shell(w, data.at("path"), chosen);
    throw unavailable("berth ssh does not know how to reach a " + w.provider + " workspace; use berth exec " + *name + " -- CMD");
  });
}

}  // namespace berth::cli
