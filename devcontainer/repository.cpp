// Paths a repository names, resolved inside it (see repository.hpp).
#include <devcontainer/repository.hpp>

#include <berth/sdk.hpp>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <deque>

namespace devcontainer {
namespace {

berth::Error invalid(const std::string& message) { return berth::Error("invalid", message); }

constexpr int kMaxLinks = 40;  // as the kernel's own limit on links in one lookup

std::deque<std::string> split(const std::string& path) {
  std::deque<std::string> parts;
  size_t start = 0;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    std::string part = path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (!part.empty() && part != ".") parts.push_back(part);
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
  return parts;
}

// The folders walked so far, each held open, so a lookup never goes through a path twice.
class Walk {
 public:
  explicit Walk(int root) { fds_.push_back(::dup(root)); }
  ~Walk() {
    for (int fd : fds_) ::close(fd);
  }
  Walk(const Walk&) = delete;
  Walk& operator=(const Walk&) = delete;
  int top() const { return fds_.back(); }
  bool at_root() const { return names_.empty(); }
  void down(int fd, const std::string& name) {
    fds_.push_back(fd);
    names_.push_back(name);
  }
  void up() {
    ::close(fds_.back());
    fds_.pop_back();
    names_.pop_back();
  }
  std::string relative() const {
    std::string out;
    for (const auto& name : names_) out += (out.empty() ? "" : "/") + name;
    return out;
  }
  std::string last_name() const { return names_.empty() ? "" : names_.back(); }

 private:
  std::vector<int> fds_;
  std::vector<std::string> names_;
};

}  // namespace

Repository::Repository(const fs::path& root) : root_(root) {
  root_fd_ = ::open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (root_fd_ < 0) throw invalid("the repository's folder " + root.string() + " cannot be opened");
}

Repository::~Repository() {
  if (root_fd_ >= 0) ::close(root_fd_);
}

std::string Repository::parent_of(const std::string& relative) {
  size_t slash = relative.rfind('/');
  return slash == std::string::npos ? "" : relative.substr(0, slash);
}

Repository::Found Repository::resolve(const std::string& base, const std::string& path, Kind kind, const std::string& where,
                                      bool must_exist) const {
  auto refuse = [&](const std::string& why) -> berth::Error {
    return invalid(where + "names '" + path + "', which " + why + "; berth resolves every path a repository names inside the repository (docs/security.md)");
  };
  if (path.find('\0') != std::string::npos) throw refuse("holds a NUL byte");
  if (!path.empty() && path[0] == '/') throw refuse("is an absolute path on the server");
  Walk walk(root_fd_);
  std::deque<std::string> pending = split(base);
  size_t from_base = pending.size();
  for (const auto& part : split(path)) pending.push_back(part);
  int links = 0;
  std::string through;  // the last symbolic link followed, for the message
  while (!pending.empty()) {
    std::string part = pending.front();
    pending.pop_front();
    bool in_base = from_base > 0;
    if (in_base) --from_base;
    if (part == "..") {
      if (walk.at_root()) {
        throw refuse(through.empty() ? "leads outside the repository" : "leads outside the repository through the symbolic link '" + through + "'");
      }
      walk.up();
      continue;
    }
    struct stat status {};
    if (::fstatat(walk.top(), part.c_str(), &status, AT_SYMLINK_NOFOLLOW) != 0) {
      if (errno == ENOENT || errno == ENOTDIR) {
        if (must_exist) throw refuse("does not exist in the repository");
        return Found{};
      }
      throw refuse(std::string("cannot be looked up: ") + std::strerror(errno));
    }
    if (S_ISLNK(status.st_mode)) {
      if (in_base) throw refuse("is below a symbolic link");  // a base is real: never happens
      if (++links > kMaxLinks) throw refuse("goes through more than 40 symbolic links");
      char target[4096];
      ssize_t n = ::readlinkat(walk.top(), part.c_str(), target, sizeof target - 1);
      if (n < 0) throw refuse(std::string("cannot be read: ") + std::strerror(errno));
      std::string link(target, static_cast<size_t>(n));
      std::string shown = walk.relative().empty() ? part : walk.relative() + "/" + part;
      if (!link.empty() && link[0] == '/') {
        throw refuse("goes through the symbolic link '" + shown + "' to " + link + ", outside the repository");
      }
      through = shown;
      std::deque<std::string> inner = split(link);
      pending.insert(pending.begin(), inner.begin(), inner.end());
      continue;
    }
    if (!pending.empty() && !S_ISDIR(status.st_mode)) {
      if (must_exist) throw refuse("does not exist in the repository ('" + part + "' is not a folder)");
      return Found{};
    }
    int fd = ::openat(walk.top(), part.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0) throw refuse(std::string("cannot be opened: ") + std::strerror(errno));
    walk.down(fd, part);
  }
  struct stat status {};
  if (::fstat(walk.top(), &status) != 0) throw refuse(std::string("cannot be looked up: ") + std::strerror(errno));
  if (kind == Kind::folder && !S_ISDIR(status.st_mode)) throw refuse("is not a folder");
  if (kind == Kind::file && !S_ISREG(status.st_mode)) throw refuse("is not a regular file");
  if (kind == Kind::any && !S_ISREG(status.st_mode) && !S_ISDIR(status.st_mode)) throw refuse("is neither a file nor a folder");
  Found found{true, walk.relative(), {}};
  found.path = found.relative.empty() ? root_ : root_ / found.relative;
  return found;
}

std::string Repository::read(const Found& file, size_t limit, const std::string& where) const {
  // The real path has no links; each component is still opened without following one.
  int folder = ::dup(root_fd_);
  std::deque<std::string> parts = split(file.relative);
  if (parts.empty()) throw invalid(where + "is the repository's folder, not a file");
  std::string name = parts.back();
  parts.pop_back();
  for (const auto& part : parts) {
    int next = ::openat(folder, part.c_str(), O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    ::close(folder);
    if (next < 0) throw invalid(where + "cannot be opened: " + std::strerror(errno));
    folder = next;
  }
  int fd = ::openat(folder, name.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  ::close(folder);
  if (fd < 0) throw invalid(where + "cannot be read: " + std::strerror(errno));
  std::string text;
  char buffer[65536];
  while (true) {
    ssize_t n = ::read(fd, buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buffer, static_cast<size_t>(n));
    if (text.size() > limit) {
      ::close(fd);
      throw invalid(where + "is larger than " + std::to_string(limit >> 10) + " KiB");
    }
  }
  ::close(fd);
  return text;
}

void check_container_path(const std::string& path, const std::string& where) {
  auto refuse = [&](const std::string& why) -> berth::Error {
    return invalid(where + "must be an absolute path in the container without '.' or '..' (not '" + path.substr(0, 200) + "': " + why + ")");
  };
  if (path.empty() || path[0] != '/') throw refuse("not absolute");
  if (path.size() > 4096) throw refuse("longer than 4096 bytes");
  for (char c : path) {
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) throw refuse("a control character");
  }
  size_t start = 1;
  while (start <= path.size()) {
    size_t slash = path.find('/', start);
    std::string part = path.substr(start, slash == std::string::npos ? std::string::npos : slash - start);
    if (part == "." || part == "..") throw refuse("a '" + part + "' component");
    if (slash == std::string::npos) break;
    start = slash + 1;
  }
}

}  // namespace devcontainer
