#pragma once
// Crash-safe files: a record is either the old one or the new one, never torn.
#include <sys/types.h>

#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace berth {

// The steps of an atomic write, in order; a test hook may stop the write after any of them
// to stand for a crash at that instant.
enum class WriteStep { created_temp, wrote_data, synced_data, renamed, synced_folder };

// Returns false to stop the write there, as a crash would (the temp file is left behind).
using WriteHook = std::function<bool(WriteStep)>;

// Writes data to a temp file in the same folder, fsyncs it, renames it over path and fsyncs
// the folder. On an I/O error (disk full, ...) the temp file is removed, the old file is left
// as it was, and an Error("unavailable") names the file and the cause.
void write_file_atomically(const std::filesystem::path& path, std::string_view data,
                           mode_t mode = 0600, const WriteHook& hook = nullptr);

// Removes path and fsyncs its folder; no error when it is already gone.
void remove_file_durably(const std::filesystem::path& path);

// The whole file, or nullopt when it does not exist.
std::optional<std::string> read_file(const std::filesystem::path& path);

// The bytes of path from offset on ("" when it is shorter, or missing).
std::string read_file_from(const std::filesystem::path& path, long long offset);

// The same for a file in berth's home: opened with O_NOFOLLOW, so a symbolic link planted
// there is never followed (nullopt / ""), nor is anything but a regular file read.
std::optional<std::string> read_home_file(const std::filesystem::path& path);
std::string read_home_file_from(const std::filesystem::path& path, long long offset);

// The size of a regular file in the home, or -1 when it is missing or not a regular file
// (a symbolic link counts as missing).
long long home_file_size(const std::filesystem::path& path);

// True for the name of a temp file an interrupted write left behind.
bool is_write_leftover(const std::string& file_name);

}  // namespace berth
