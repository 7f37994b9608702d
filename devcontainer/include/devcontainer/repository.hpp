#pragma once
// A repository on this machine whose author berth does not trust: every path its files name
// (build.context, build.dockerfile, a local feature, a bind mount's source, the definition
// itself) is resolved inside it, one component at a time with openat(O_NOFOLLOW), following
// symbolic links only while they stay inside. Nothing here joins strings into a server path.
#include <filesystem>
#include <string>
#include <vector>

namespace devcontainer {

namespace fs = std::filesystem;

class Repository {
 public:
  // Opens root (the clone's folder). Throws berth::Error("invalid") when it is not a folder.
  explicit Repository(const fs::path& root);
  ~Repository();
  Repository(const Repository&) = delete;
  Repository& operator=(const Repository&) = delete;

  enum class Kind { file, folder, any };

  struct Found {
    bool exists = false;    // false: nothing by that name (refusals throw instead)
    std::string relative;   // the real path inside the repository, without links ("" is the root)
    fs::path path;          // root / relative
  };

  // Resolves path (relative, as a repository file writes it) from the folder base (a real
  // path inside the repository, as Found::relative gives). A path that is absolute, or whose
  // "..", or whose symbolic link, leads outside the repository, or that names the wrong kind,
  // is refused: berth::Error("invalid", where + "names '" + path + "', which ...").
  // A missing path is Found{false} unless must_exist, then refused likewise.
  Found resolve(const std::string& base, const std::string& path, Kind kind, const std::string& where, bool must_exist = true) const;

  // The content of a file resolved as above (at most limit bytes; more is refused).
  std::string read(const Found& file, size_t limit, const std::string& where) const;

  const fs::path& root() const { return root_; }

  // The parent folder of a real relative path ("" for a top-level name).
  static std::string parent_of(const std::string& relative);

 private:
  fs::path root_;
  int root_fd_ = -1;
};

// A container path from a repository (workspaceFolder, a mount target): absolute, no "." or ".."
// component, no control character. Throws berth::Error("invalid", where + "...") otherwise.
void check_container_path(const std::string& path, const std::string& where);

}  // namespace devcontainer
