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

std::optional<std::string> read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream content;
  content << in.rdbuf();
  return content.str();
}

}  // namespace berth
