#include "atomic_file.hpp"

#include "errors.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace fs = std::filesystem;

namespace berth {
namespace {
constexpr std::string_view kLeftoverMarker = ".tmp-";

Error io_error(const std::string& what, const fs::path& path, int error_number) {
  return unavailable("cannot " + what + " " + path.string() + ": " + std::strerror(error_number));
}

void sync_folder(const fs::path& folder) {
  int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw io_error("open folder", folder, errno);
  int result = ::fsync(fd);
  int saved = errno;
  ::close(fd);
  if (result != 0) throw io_error("sync folder", folder, saved);
}

bool keep_going(const WriteHook& hook, WriteStep step) { return !hook || hook(step); }
}  // namespace

std::string read_file_from(const fs::path& path, long long offset) {
  std::ifstream in(path, std::ios::binary);
  if (!in || !in.seekg(offset)) return "";
  std::ostringstream rest;
  rest << in.rdbuf();
  return rest.str();
}

bool is_write_leftover(const std::string& file_name) {
  return !file_name.empty() && file_name[0] == '.' && file_name.find(kLeftoverMarker) != std::string::npos;
}

void write_file_atomically(const fs::path& path, std::string_view data, mode_t mode,
                           const WriteHook& hook) {
  fs::path folder = path.parent_path();
  std::string temp_name = ".";
  temp_name.append(path.filename().string()).append(kLeftoverMarker).append("XXXXXX");
  std::string pattern = (folder / temp_name).string();
  int fd = ::mkostemp(pattern.data(), O_CLOEXEC);
  if (fd < 0) throw io_error("create a temporary file in", folder, errno);
  fs::path temp = pattern;
  auto fail = [&](const char* what, int error_number) {
    ::close(fd);
    ::unlink(temp.c_str());
    return io_error(what, path, error_number);
  };
  if (::fchmod(fd, mode) != 0) throw fail("set the mode of", errno);
  if (!keep_going(hook, WriteStep::created_temp)) return (void)::close(fd);

  const char* cursor = data.data();
  size_t left = data.size();
  while (left > 0) {
    ssize_t written = ::write(fd, cursor, left);
    if (written < 0) {
      if (errno == EINTR) continue;
      throw fail("write", errno);
    }
    cursor += written;
    left -= static_cast<size_t>(written);
  }
  if (!keep_going(hook, WriteStep::wrote_data)) return (void)::close(fd);
  if (::fsync(fd) != 0) throw fail("sync", errno);
  if (!keep_going(hook, WriteStep::synced_data)) return (void)::close(fd);
  if (::close(fd) != 0) {
    int saved = errno;
    ::unlink(temp.c_str());
    throw io_error("close", path, saved);
  }
  if (::rename(temp.c_str(), path.c_str()) != 0) {
    int saved = errno;
    ::unlink(temp.c_str());
    throw io_error("replace", path, saved);
  }
  if (!keep_going(hook, WriteStep::renamed)) return;
  sync_folder(folder);
  keep_going(hook, WriteStep::synced_folder);
}

void remove_file_durably(const fs::path& path) {
  if (::unlink(path.c_str()) != 0) {
    if (errno == ENOENT) return;
    throw io_error("remove", path, errno);
  }
  sync_folder(path.parent_path());
}

namespace {
// An open regular file, never through a symbolic link; -1 otherwise.
int open_home_file(const fs::path& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return -1;
  struct stat info {};
  if (::fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
    ::close(fd);
    return -1;
  }
  return fd;
}

std::string read_rest(int fd, long long offset) {
  std::string out;
  char buffer[65536];
  while (true) {
    ssize_t n = ::pread(fd, buffer, sizeof buffer, static_cast<off_t>(offset));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buffer, static_cast<size_t>(n));
    offset += n;
  }
  return out;
}
}  // namespace

std::optional<std::string> read_home_file(const fs::path& path) {
  int fd = open_home_file(path);
  if (fd < 0) return std::nullopt;
  std::string text = read_rest(fd, 0);
  ::close(fd);
  return text;
}

std::string read_home_file_from(const fs::path& path, long long offset) {
  if (offset < 0) return "";
  int fd = open_home_file(path);
  if (fd < 0) return "";
  std::string text = read_rest(fd, offset);
  ::close(fd);
  return text;
}

long long home_file_size(const fs::path& path) {
  struct stat info {};
  if (::lstat(path.c_str(), &info) != 0 || !S_ISREG(info.st_mode)) return -1;
  return static_cast<long long>(info.st_size);
}

std::optional<std::string> read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

}  // namespace berth
