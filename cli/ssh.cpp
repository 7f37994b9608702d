// berth ssh NAME: a shell (or a command) in a workspace, with a terminal, through the server's
// session stream: the same for every provider and for a server on another machine.
// berth ssh NAME --stdio: the workspace's own OpenSSH server on stdin/stdout, as an ssh
// ProxyCommand; berth ssh-config prints the entries that use it, so ssh, scp, rsync and
// editors (VS Code Remote-SSH, JetBrains Gateway) reach workspaces.
#include "codec.hpp"
#include "commands.hpp"
#include "errors.hpp"
#include "ssh_keys.hpp"
#include "stream_relay.hpp"

#include <unistd.h>

#include <cstdlib>
#include <iostream>

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
// workspace's sshd_config applies (it may not exist, or forbid what berth needs).
std::string sshd_script(const SshKeys& keys) {
  return "sshd=; for d in /usr/sbin /usr/local/sbin /sbin /usr/bin /usr/local/bin; do "
         "if [ -x \"$d/sshd\" ]; then sshd=\"$d/sshd\"; break; fi; done\n"
         "if [ -z \"$sshd\" ]; then echo \"berth: this workspace has no OpenSSH server (sshd); install openssh-server in its "
         "image (Debian/Ubuntu: apt-get install openssh-server; Alpine: apk add openssh-server; Fedora: dnf install "
         "openssh-server)\" >&2; exit 127; fi\n"
         "umask 077; dir=\"${TMPDIR:-/tmp}/.berth-sshd-$(id -u)\"; mkdir -p \"$dir\" || exit 1\n"
         "printf '%s\\n' " + quoted_for_shell(keys.host_private) + " > \"$dir/host_key\"\n"
         "printf '%s\\n' " + quoted_for_shell(keys.client_public) + " > \"$dir/authorized_keys\"\n"
         "[ \"$(id -u)\" = 0 ] && mkdir -p /run/sshd /var/empty 2>/dev/null\n"
         "exec \"$sshd\" -i -e -f /dev/null -h \"$dir/host_key\" -o \"AuthorizedKeysFile $dir/authorized_keys\" "
         "-o StrictModes=no -o PidFile=none -o PermitRootLogin=prohibit-password -o PasswordAuthentication=no "
         "-o KbdInteractiveAuthentication=no -o \"Subsystem sftp internal-sftp\" -o LogLevel=ERROR -o PrintMotd=no "
         "-o AllowTcpForwarding=yes -o AllowStreamLocalForwarding=yes\n";
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
      Json body{{"tty", false}, {"attach", true}, {"command", std::vector<std::string>{"/bin/sh", "-c", sshd_script(keys)}}};
      run.exit_code = relay_stream([&] { return api.open_stream(session_path(*name), body.dump()); },
                                   RelayOptions{0, 1, 2, false, false, "the ssh connection"});
      return;
    }
    bool tty = ::isatty(0) == 1 && ::isatty(1) == 1;
    std::string body = session_body(*command, tty, *shell).dump();
    run.exit_code = relay_stream([&] { return api.open_stream(session_path(*name), body); }, RelayOptions{0, 1, 2, tty, !tty, "the session"});
  });
}

}  // namespace

void define_ssh(CLI::App& app, Invocation& run) { define_ssh_command(app, run); }

void define_ssh_config(CLI::App& app, Invocation& run) {
  auto names = std::make_shared<std::vector<std::string>>();
  app.add_option("names", *names, "Workspaces (default: every one)");
  app.footer(
      "Prints 'Host NAME.berth' entries for OpenSSH clients:\n"
      "  berth ssh-config > ~/.ssh/berth.config   (and 'Include berth.config' at the top of ~/.ssh/config)\n"
      "  ssh api.berth; scp file api.berth:/tmp/; rsync -a dir/ api.berth:dir/\n"
      "VS Code Remote-SSH and JetBrains Gateway list the same hosts. The workspace needs an OpenSSH server (sshd).");
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
    std::string self = "berth";
    char path[4096];
    if (ssize_t n = ::readlink("/proc/self/exe", path, sizeof path - 1); n > 0) self.assign(path, static_cast<size_t>(n));
    std::string global = " --home " + quoted_for_shell(run.session.home().data_dir.string());
    if (!run.session.options.server.empty()) global += " --server " + quoted_for_shell(run.session.options.server);
    std::cout << "# berth workspaces, for OpenSSH (berth ssh-config); the connection goes through berth, not the network\n";
    for (const auto& w : workspaces) {
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
      std::cout << "\nHost " << w.name << ".berth\n"
                << "  HostName " << w.name << "\n";
      if (!user.empty()) {
        std::cout << "  User " << user << "\n";
      } else {
        std::cout << "  # User: not known while the workspace is " << to_string(w.state) << " (berth start " << w.name << ")\n";
      }
      std::cout << "  ProxyCommand " << quoted_for_shell(self) << global << " ssh " << w.name << " --stdio\n"
                << "  IdentityFile \"" << keys.client_private_path << "\"\n"
                << "  IdentitiesOnly yes\n"
                << "  UserKnownHostsFile \"" << keys.known_hosts_path << "\"\n"
                << "  HostKeyAlias berth-workspace\n"
                << "  StrictHostKeyChecking yes\n";
    }
  });
}

}  // namespace berth::cli
