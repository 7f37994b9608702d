#include "ssh_keys.hpp"

#include "errors.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <vector>

extern char** environ;

namespace fs = std::filesystem;

namespace berth::cli {
namespace {

std::string read_text(const fs::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  std::string s = text.str();
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

// PATH and PATH.pub, made by ssh-keygen in a fresh folder of their own (mkdtemp) and renamed
// into place, so two berth processes making them at once each see a whole pair; the folder it
// made is all that is removed afterwards.
void make_key(const fs::path& path) {
  if (fs::exists(path) && fs::exists(path.string() + ".pub")) return;
  std::string folder_template = (path.parent_path() / ".keygen-XXXXXX").string();
  if (::mkdtemp(folder_template.data()) == nullptr) throw unavailable("cannot make a folder in " + path.parent_path().string());
  const fs::path made = folder_template;
  struct Cleanup {
    const fs::path& folder;
    ~Cleanup() {
      std::error_code ignored;
      fs::remove(folder / "key", ignored);
      fs::remove(folder / "key.pub", ignored);
      fs::remove(folder, ignored);
    }
  } cleanup{made};
  std::string temporary = (made / "key").string();
  std::vector<std::string> args = {"ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "berth", "-f", temporary};
  std::vector<char*> argv;
  for (auto& arg : args) argv.push_back(arg.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  pid_t pid = 0;
  int spawned = ::posix_spawnp(&pid, "ssh-keygen", &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (spawned != 0) {
    throw unavailable("berth's SSH access needs ssh-keygen, from OpenSSH's client (Debian/Ubuntu: apt-get install openssh-client)");
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) throw unavailable("ssh-keygen could not make " + path.string());
  fs::rename(temporary + ".pub", path.string() + ".pub");
  fs::rename(temporary, path);
}

}  // namespace

SshKeys ensure_ssh_keys(const Home& home) {
  fs::path dir = home.data_dir / "ssh";
  std::error_code ignored;
  fs::create_directories(dir, ignored);
  ::chmod(dir.c_str(), 0700);
  fs::path client = dir / "id_ed25519";
  fs::path host = dir / "host_ed25519";
  make_key(client);
  make_key(host);
  SshKeys keys;
  keys.client_private_path = client.string();
  keys.client_public = read_text(client.string() + ".pub");
  keys.host_private = read_text(host);
  keys.known_hosts_path = (dir / "known_hosts").string();
  std::string line = "berth-workspace " + read_text(host.string() + ".pub");
  if (read_text(keys.known_hosts_path) != line) {
    std::string temporary = keys.known_hosts_path + ".new-" + std::to_string(::getpid());
    std::ofstream(temporary) << line << "\n";
    fs::rename(temporary, keys.known_hosts_path);
  }
  return keys;
}

}  // namespace berth::cli
