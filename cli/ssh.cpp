// berth ssh NAME: a shell (or a command) in a workspace, with a terminal, through the server's
// session stream: the same for every provider and for a server on another machine.
// berth ssh NAME --stdio: the workspace's own OpenSSH server on stdin/stdout, as an ssh
// ProxyCommand; berth ssh-config prints the entries that use it, so ssh, scp, rsync and
// editors (VS Code Remote-SSH, JetBrains Gateway) reach workspaces.
#include "codec.hpp"
#include "commands.hpp"
#include "errors.hpp"
#include "ssh_config.hpp"
#include "ssh_keys.hpp"
#include "stream_relay.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <sstream>

namespace berth::cli {
namespace {

std::string session_path(const std::string& name) { return "/v1/workspaces/" + name + "/session"; }

std::string quoted_for_shell(const std::string& text) {
  std::string out = "'";
  for (char c : text) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

// Runs the workspace's sshd in inetd mode on the stream: this machine's berth key is the only
// one it accepts, its host key is berth's own (so the client can check it), and nothing of the
// workspace's sshd_config applies (it may not exist, or forbid what berth needs). The keys are
// not in this script (a command line any local user can read in /proc): they come first on its
// input (ssh_preamble), read a line at a time by the shell's read, which takes no byte more
// than its line, so sshd gets the SSH stream that follows untouched.
std::string sshd_script() {
  return "sshd=; for d in /usr/sbin /usr/local/sbin /sbin /usr/bin /usr/local/bin; do "
         "if [ -x \"$d/sshd\" ]; then sshd=\"$d/sshd\"; break; fi; done\n"
         "if [ -z \"$sshd\" ]; then echo \"berth: this workspace has no OpenSSH server (sshd); install openssh-server in its "
         "image (Debian/Ubuntu: apt-get install openssh-server; Alpine: apk add openssh-server; Fedora: dnf install "
         "openssh-server)\" >&2; exit 127; fi\n"
         "umask 077; dir=$(mktemp -d \"${TMPDIR:-/tmp}/.berth-sshd-XXXXXX\") || exit 1\n"
         "IFS= read -r lines || exit 1\n"
         "i=0; while [ \"$i\" -lt \"$lines\" ]; do IFS= read -r line || exit 1; printf '%s\\n' \"$line\" >> \"$dir/host_key\"; "
         "i=$((i+1)); done\n"
         "IFS= read -r line || exit 1; printf '%s\\n' \"$line\" > \"$dir/authorized_keys\"\n"
         "[ \"$(id -u)\" = 0 ] && mkdir -p /run/sshd /var/empty 2>/dev/null\n"
         "\"$sshd\" -i -e -f /dev/null -h \"$dir/host_key\" -o \"AuthorizedKeysFile $dir/authorized_keys\" "
         "-o StrictModes=no -o PidFile=none -o PermitRootLogin=prohibit-password -o PasswordAuthentication=no "
         "-o KbdInteractiveAuthentication=no -o \"Subsystem sftp internal-sftp\" -o LogLevel=ERROR -o PrintMotd=no "
         "-o AllowTcpForwarding=yes -o AllowStreamLocalForwarding=yes\n"
         "code=$?; rm -rf \"$dir\"; exit $code\n";
}

// What sshd_script reads first: the host key's line count, its lines, the client's public key.
std::string ssh_preamble(const SshKeys& keys) {
  std::string key = keys.host_private;
  while (!key.empty() && key.back() == '\n') key.pop_back();
  size_t lines = key.empty() ? 0 : 1 + static_cast<size_t>(std::count(key.begin(), key.end(), '\n'));
  std::string client = keys.client_public;
  while (!client.empty() && client.back() == '\n') client.pop_back();
  return std::to_string(lines) + "\n" + key + "\n" + client + "\n";
}

Json session_body(const std::vector<std::string>& command, bool tty, const std::string& shell) {
  Json body{{"tty", tty}, {"attach", true}};
  if (!command.empty()) {
    body["command"] = command;
  } else if (!shell.empty()) {
    body["command"] = std::vector<std::string>{shell};
  }
  if (tty) ask_for_terminal(body);
  return body;
}

void define_ssh_command(CLI::App& app, Invocation& run) {
  auto name = std::make_shared<std::string>();
  auto shell = std::make_shared<std::string>();
  auto command = std::make_shared<std::vector<std::string>>();
  auto stdio = std::make_shared<bool>(false);
  app.add_option("name", *name, "Workspace name")->required();
  app.add_option("command", *command, "A command to run instead of the shell, after --");
  app.add_option("--shell", *shell, "Shell to run (default: the workspace user's login shell)");
  app.add_flag("--stdio", *stdio,
               "Speak SSH on stdin/stdout with the workspace's own sshd (an ssh ProxyCommand; see berth ssh-config)");
  app.footer(
      "Examples:\n  berth ssh api\n  berth ssh api -- top\n  berth ssh-config >> ~/.ssh/config && ssh api.berth\n\n"
      "With a terminal on stdin the session has one too (raw mode, resizes, Ctrl-C and Ctrl-Z reach the workspace);\n"
      "its exit code is berth ssh's own.");
  app.callback([&run, name, shell, command, stdio] {
    require_name_argument("workspace", *name);
    auto& api = run.session.api();
    if (*stdio) {
      SshKeys keys = ensure_ssh_keys(run.session.home());
      Json body{{"tty", false}, {"attach", true}, {"command", std::vector<std::string>{"/bin/sh", "-c", sshd_script()}}};
      run.exit_code = relay_stream([&] { return api.open_stream(session_path(*name), body.dump()); },
                                   RelayOptions{0, 1, 2, false, false, "the ssh connection", ssh_preamble(keys)});
      return;
    }
    bool tty = ::isatty(0) == 1 && ::isatty(1) == 1;
    std::string body = session_body(*command, tty, *shell).dump();
    run.exit_code = relay_stream([&] { return api.open_stream(session_path(*name), body); }, RelayOptions{0, 1, 2, tty, !tty, "the session", ""});
  });
}

// A path as ssh_config reads it: '%' starts a token there (%d, %h, ...), so a literal one is
// written '%%'; a '"' cannot be quoted at all.
std::string ssh_config_path(const std::string& path) {
  if (path.find('"') != std::string::npos) throw invalid("the path " + path + " holds a '\"', which an ssh_config entry cannot quote");
  std::string out;
  for (char c : path) out += c == '%' ? std::string("%%") : std::string(1, c);
  return out;
}

}  // namespace

void define_ssh(CLI::App& app, Invocation& run) { define_ssh_command(app, run); }

std::string shell_quoted(const std::string& text) { return quoted_for_shell(text); }

std::string ssh_config_entry(Session& session, const Workspace& w, const SshKeys& keys) {
  auto& api = session.api();
  std::string user;
  if (w.state == WorkspaceState::started) {
    // Who the workspace's commands run as is the login to ask for.
    struct Capture : OutputSink {
      void write(OutputStream stream, std::string_view data) override {
        if (stream == OutputStream::stdout_stream) text.append(data);
      }
      std::string text;
    } capture;
    try {
      if (api.exec(w.name, ExecRequest{{"id", "-un"}, {}, "", "", ""}, capture) == 0) {
        user = capture.text.substr(0, capture.text.find('\n'));
      }
    } catch (const Error&) {
    }
  }
  std::string self = "berth";
  char path[4096];
  if (ssize_t n = ::readlink("/proc/self/exe", path, sizeof path - 1); n > 0) self.assign(path, static_cast<size_t>(n));
  std::string global = " --home " + quoted_for_shell(session.home().data_dir.string());
  if (!session.options.server.empty()) global += " --server " + quoted_for_shell(session.options.server);
  std::ostringstream out;
  out << "Host " << w.name << ".berth\n"
      << "  HostName " << w.name << "\n";
  if (!user.empty()) {
    out << "  User " << user << "\n";
  } else {
    out << "  # User: not known while the workspace is " << to_string(w.state) << " (berth start " << w.name << ")\n";
  }
  std::string proxy;  // ProxyCommand expands '%' tokens too
  for (char c : quoted_for_shell(self) + global + " ssh " + w.name + " --stdio") proxy += c == '%' ? std::string("%%") : std::string(1, c);
  out << "  ProxyCommand " << proxy << "\n"
      << "  IdentityFile \"" << ssh_config_path(keys.client_private_path) << "\"\n"
      << "  IdentitiesOnly yes\n"
      << "  UserKnownHostsFile \"" << ssh_config_path(keys.known_hosts_path) << "\"\n"
      << "  HostKeyAlias berth-workspace\n"
      << "  StrictHostKeyChecking yes\n";
  return out.str();
}

void define_ssh_config(CLI::App& app, Invocation& run) {
  auto names = std::make_shared<std::vector<std::string>>();
  app.add_option("names", *names, "Workspaces (default: every one)");
  app.footer(
      "Prints 'Host NAME.berth' entries for OpenSSH clients:\n"
      "  berth ssh-config > ~/.ssh/berth.config   (and 'Include berth.config' at the top of ~/.ssh/config)\n"
      "  ssh api.berth; scp file api.berth:/tmp/; rsync -a dir/ api.berth:dir/\n"
      "VS Code Remote-SSH and JetBrains Gateway list the same hosts (berth code NAME writes the entry and opens the editor).\n"
      "The workspace needs an OpenSSH server (sshd).");
  app.callback([&run, names] {
    for (const auto& name : *names) require_name_argument("workspace", name);
    auto& api = run.session.api();
    SshKeys keys = ensure_ssh_keys(run.session.home());
    std::vector<Workspace> workspaces;
    if (names->empty()) {
      workspaces = api.list_workspaces();
    } else {
      for (const auto& name : *names) workspaces.push_back(api.get_workspace(name));
    }
    std::cout << "# berth workspaces, for OpenSSH (berth ssh-config); the connection goes through berth, not the network\n";
    for (const auto& w : workspaces) std::cout << "\n" << ssh_config_entry(run.session, w, keys);
  });
}

}  // namespace berth::cli
