#include "home.hpp"

#include "errors.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <system_error>

namespace fs = std::filesystem;

namespace berth {
namespace {
std::string env_or_empty(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

void create_private_folder(const fs::path& path) {
  try {
    create_private_folders(path);
  } catch (const Error& error) {
    throw unavailable(error.what());
  }
}
}  // namespace

void create_private_folders(const fs::path& path) {
  fs::path partial;
  for (const auto& part : path.lexically_normal()) {
    partial /= part;
    if (part.empty() || partial == partial.root_path()) continue;
    if (::mkdir(partial.c_str(), 0700) != 0 && errno != EEXIST) {
      throw unavailable("cannot create folder " + partial.string() + ": " + std::strerror(errno));
    }
  }
}

void Home::create_folders() const {
  for (const auto& dir : {config_dir, data_dir}) {
    create_private_folder(dir);
  }
  for (const auto& dir : {targets_dir(), workspaces_dir(), logs_dir(), workspace_logs_dir(), providers_dir(),
                          plugins_dir(), provider_data_dir()}) {
    create_private_folder(dir);
  }
}

void Home::check_private() const {
  auto octal = [](mode_t mode) {
    char text[8];
    std::snprintf(text, sizeof text, "%03o", static_cast<unsigned>(mode & 0777));
    return std::string(text);
  };
  uid_t me = ::geteuid();
  for (const auto& dir : {config_dir, data_dir}) {
    struct stat info {};
    if (::stat(dir.c_str(), &info) != 0) throw unavailable("cannot read berth's home " + dir.string() + ": " + std::strerror(errno));
    if (info.st_uid != me) {
      throw unavailable("berth's home " + dir.string() + " belongs to user " + std::to_string(info.st_uid) + ", not to you (user " +
                        std::to_string(me) + "); use a home of your own (--home DIR or BERTH_HOME)");
    }
    if (info.st_mode & 077) {
      throw unavailable("berth's home " + dir.string() + " is open to other users (mode " + octal(info.st_mode) +
                        "); make it private: chmod 700 " + dir.string());
    }
  }
  for (const auto& dir : {targets_dir(), workspaces_dir(), logs_dir(), workspace_logs_dir(), providers_dir(), plugins_dir(),
                          provider_data_dir(), config_dir / "apikeys"}) {
    struct stat info {};
    if (::lstat(dir.c_str(), &info) != 0) continue;  // made when needed
    if (S_ISLNK(info.st_mode) || !S_ISDIR(info.st_mode)) {
      throw unavailable(dir.string() + " in berth's home is not a folder (a symbolic link or a file); berth follows no links in its "
                        "home: move it away and restart");
    }
    if (info.st_uid != me || (info.st_mode & 022)) {
      throw unavailable(dir.string() + " in berth's home is another user's or writable by others (mode " + octal(info.st_mode) +
                        "); make it yours and private: chmod 700 " + dir.string());
    }
  }
}

Home resolve_home(const std::string& explicit_home) {
  std::string home = explicit_home.empty() ? env_or_empty("BERTH_HOME") : explicit_home;
  if (!home.empty()) {
    fs::path path = fs::absolute(home).lexically_normal();
    return Home{path, path};
  }
  std::string user_home = env_or_empty("HOME");
  if (user_home.empty()) throw invalid("neither BERTH_HOME nor HOME is set: set BERTH_HOME or pass --home DIR");
  std::string config = env_or_empty("XDG_CONFIG_HOME");
  std::string data = env_or_empty("XDG_DATA_HOME");
  fs::path config_dir = config.empty() ? fs::path(user_home) / ".config" : fs::path(config);
  fs::path data_dir = data.empty() ? fs::path(user_home) / ".local" / "share" : fs::path(data);
  return Home{config_dir / "berth", data_dir / "berth"};
}

fs::path executable_dir() {
  std::error_code error;
  fs::path self = fs::read_symlink("/proc/self/exe", error);
  if (error) return fs::current_path();
  return self.parent_path();
}

}  // namespace berth
