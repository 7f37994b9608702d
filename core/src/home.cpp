#include "home.hpp"

#include "errors.hpp"

#include <unistd.h>

#include <cstdlib>
#include <system_error>

namespace fs = std::filesystem;

namespace berth {
namespace {
std::string env_or_empty(const char* name) {
  const char* value = std::getenv(name);
  return value ? value : "";
}

void create_private_folder(const fs::path& path) {
  std::error_code error;
  fs::create_directories(path, error);
  if (error) throw unavailable("cannot create folder " + path.string() + ": " + error.message());
}
}  // namespace

void Home::create_folders() const {
  for (const auto& dir : {config_dir, data_dir}) {
    bool existed = fs::exists(dir);
    create_private_folder(dir);
    if (!existed) fs::permissions(dir, fs::perms::owner_all, fs::perm_options::replace);
  }
  for (const auto& dir : {targets_dir(), workspaces_dir(), logs_dir(), providers_dir(),
                          plugins_dir(), provider_data_dir()}) {
    create_private_folder(dir);
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
