#pragma once
// Runs one of a plugin's host binaries for its UI (/v1/plugins/NAME/exec): the executable the
// manifest lists, with the arguments given as a list (no shell sees them), in the plugin's data
// folder, with a small environment, its output kept up to a limit and its time bounded.
#include <chrono>
#include <filesystem>
#include <functional>

#include <sys/types.h>
#include <string>
#include <vector>

namespace berth {

struct HostBinaryRun {
  int exit_code = -1;  // 128 + signal when a signal ended it
  bool timed_out = false;
  std::string out;
  std::string err;
  bool truncated = false;
};

// Starts program with args and environment (nothing else) in folder, in a process group of its
// own, stdin from /dev/null and its output to out_fd and err_fd. Throws unavailable.
pid_t spawn_in_own_group(const std::filesystem::path& program, const std::vector<std::string>& args, const std::vector<std::string>& environment,
                         const std::filesystem::path& folder, int out_fd, int err_fd);

// started, when given, is told the process's pid (also its process group) once it runs, so an
// owner can end it early; it is told 0 once it has been reaped.
HostBinaryRun run_host_binary(const std::filesystem::path& binary, const std::vector<std::string>& args, const std::filesystem::path& folder,
                              const std::vector<std::string>& environment, std::chrono::milliseconds timeout,
                              const std::function<void(pid_t)>& started = nullptr);

}  // namespace berth
