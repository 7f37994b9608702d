#pragma once
// Runs one of a plugin's host binaries for its UI (/v1/plugins/NAME/exec): the executable the
// manifest lists, with the arguments given as a list (no shell sees them), in the plugin's data
// folder, with a small environment, its output kept up to a limit and its time bounded.
#include <chrono>
#include <filesystem>
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

HostBinaryRun run_host_binary(const std::filesystem::path& binary, const std::vector<std::string>& args, const std::filesystem::path& folder,
                              const std::vector<std::string>& environment, std::chrono::milliseconds timeout);

}  // namespace berth
