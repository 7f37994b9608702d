#include "working_tree.hpp"

#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace fs = std::filesystem;

namespace docker {
namespace {

berth::Error failed(const std::string& message) { return berth::Error("provider_failed", message); }

}  // namespace

VolumeOwner volume_owner(Engine& engine, const std::string& volume, const std::string& identity_label, const std::string& identity) {
  Reply found = engine.get("/volumes/" + url_escape(volume));
  if (found.status == 404) return VolumeOwner::none;
  if (found.status != 200) throw failed("cannot inspect volume " + volume + ": " + found.message());
  Json labels = found.json()["Labels"];
  bool ours = labels.is_object() && labels.value(identity_label, "") == identity;
  return ours ? VolumeOwner::this_home : VolumeOwner::someone_else;
}

void make_volume(Engine& engine, const std::string& volume, const Json& labels) {
  Reply made = engine.post("/volumes/create", Json{{"Name", volume}, {"Labels", labels}});
  if (made.status != 201) throw failed("cannot make volume " + volume + ": " + made.message());
}

bool remove_volume(Engine& engine, const std::string& volume) {
  Reply removed = engine.del("/volumes/" + url_escape(volume));
  if (removed.status == 404) return false;
  if (removed.status == 409) {
    throw failed("volume " + volume + " is in use by another container (docker ps -a --filter volume=" + volume +
                 "); remove that container, then berth delete again");
  }
  if (removed.status != 204) throw failed("cannot remove volume " + volume + ": " + removed.message());
  return true;
}

void fetch_tree(Engine& engine, const std::string& container, const std::string& path, const fs::path& into) {
  // The archive holds the folder under its own name: extracted next to `into`, then renamed.
  fs::path unpacked = into.parent_path() / (".fetch-" + into.filename().string());
  std::error_code ignored;
  fs::remove_all(unpacked, ignored);
  fs::create_directories(unpacked);
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) throw failed(std::string("pipe failed: ") + std::strerror(errno));
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[0], 0);
    ::execlp("tar", "tar", "-x", "--no-same-owner", "-C", unpacked.c_str(), "-f", "-", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(fds[0]);
  bool tar_gone = false;
  Reply reply = engine.get_streaming("/containers/" + container + "/archive?path=" + url_escape(path), [&](std::string_view data) {
    while (!data.empty() && !tar_gone) {
      ssize_t n = ::write(fds[1], data.data(), data.size());
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        tar_gone = true;  // tar ended early: its status says why
        break;
      }
      data.remove_prefix(static_cast<size_t>(n));
    }
    return true;  // read to the end even when tar stopped: its status says why
  });
  ::close(fds[1]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (reply.status != 200) throw failed("cannot read " + path + " from the container: " + reply.message());
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) throw failed("tar could not unpack " + path + " from the container");
  fs::path top = unpacked / fs::path(path).filename();
  if (!fs::is_directory(top)) throw failed("the container's archive of " + path + " holds no folder " + top.filename().string());
  fs::rename(top, into);
  fs::remove_all(unpacked, ignored);
}

void fetch_volume_tree(Engine& engine, const std::string& volume, const std::string& image, const Json& labels,
                       const fs::path& into) {
  Json body{{"Image", image},
            {"Cmd", {"true"}},
            {"Entrypoint", Json::array()},
            {"Labels", labels},
            {"HostConfig", {{"Mounts", Json::array({Json{{"Type", "volume"}, {"Source", volume}, {"Target", "/berth-tree"}}})}}}};
  Reply created = engine.post("/containers/create", body);
  if (created.status != 201) throw failed("cannot read volume " + volume + " (a container from " + image + "): " + created.message());
  std::string id = created.json().value("Id", "");
  struct Remove {
    Engine& engine;
    std::string id;
    ~Remove() { engine.del("/containers/" + id + "?force=true"); }
  } remove{engine, id};
  fetch_tree(engine, id, "/berth-tree", into);
}

void note_kept(const std::string& data_dir, const std::string& key, const KeptVolume& kept) {
  fs::path note = fs::path(data_dir) / "kept-volumes" / key;
  std::error_code error;
  fs::create_directories(note.parent_path(), error);
  std::string text = kept.volume + "\n" + kept.engine + "\n";
  int fd = ::open(note.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) throw failed("cannot note the kept volume in " + note.string() + ": " + std::strerror(errno));
  bool written = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size()) && ::fsync(fd) == 0;
  ::close(fd);
  if (!written) throw failed("cannot note the kept volume in " + note.string());
}

void forget_kept(const std::string& data_dir, const std::string& key) {
  std::error_code error;
  fs::remove(fs::path(data_dir) / "kept-volumes" / key, error);
}

std::optional<KeptVolume> kept_volume(const std::string& data_dir, const std::string& key) {
  int fd = ::open((fs::path(data_dir) / "kept-volumes" / key).c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) return std::nullopt;
  char buffer[1024];
  ssize_t n = ::read(fd, buffer, sizeof buffer);
  ::close(fd);
  std::string text = n > 0 ? std::string(buffer, static_cast<size_t>(n)) : "";
  size_t newline = text.find('\n');
  KeptVolume kept;
  kept.volume = text.substr(0, newline);
  if (newline != std::string::npos) kept.engine = text.substr(newline + 1, text.find('\n', newline + 1) - newline - 1);
  if (kept.volume.empty()) kept.volume = key;  // a note from before notes held the name
  return kept;
}

}  // namespace docker
