#pragma once
// Where berth keeps its files: BERTH_HOME, or else the XDG folders.
#include <filesystem>
#include <string>

namespace berth {

struct Home {
  std::filesystem::path config_dir;  // targets/, plugins.yaml
  std::filesystem::path data_dir;    // workspaces/, logs/, providers/, plugins/, the socket

  std::filesystem::path targets_dir() const { return config_dir / "targets"; }
  std::filesystem::path workspaces_dir() const { return data_dir / "workspaces"; }
  std::filesystem::path logs_dir() const { return data_dir / "logs"; }
  // Workspace logs: a namespace of their own, so a workspace named `server` is not the server's log.
  std::filesystem::path workspace_logs_dir() const { return logs_dir() / "workspaces"; }
  std::filesystem::path providers_dir() const { return data_dir / "providers"; }
  std::filesystem::path plugins_dir() const { return data_dir / "plugins"; }
  std::filesystem::path provider_data_dir() const { return data_dir / "provider-data"; }
  std::filesystem::path socket_path() const { return data_dir / "berth.sock"; }
  std::filesystem::path lock_path() const { return data_dir / "server.lock"; }
  std::filesystem::path pid_path() const { return data_dir / "server.pid"; }
  std::filesystem::path server_log_path() const { return logs_dir() / "server.log"; }
  std::filesystem::path settings_path() const { return config_dir / "settings.yaml"; }

  // Creates every folder, owner-only.
  void create_folders() const;
  // Throws unavailable naming the folder and the fix when the home is not private: its data or
  // config folder is another user's or open to others (not 0700), or one of its folders is a
  // symbolic link, another user's, or writable by others.
  void check_private() const;
};

// Creates path and every missing folder above it, each owner-only (0700): whichever command
// first writes into a home that does not exist yet makes it private, as the server requires.
void create_private_folders(const std::filesystem::path& path);

// explicit_home: from --home; empty means BERTH_HOME, then XDG_CONFIG_HOME/XDG_DATA_HOME, then ~.
Home resolve_home(const std::string& explicit_home);

// The folder of the running executable (for built-in providers and plugins).
std::filesystem::path executable_dir();

}  // namespace berth
