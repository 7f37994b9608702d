#pragma once
/// Streams that cross the SDK boundary: progress lines and command output.
#include <berth/types.hpp>

#include <string>
#include <string_view>
#include <vector>

namespace berth {

/// Where progress goes; each call is one line (no trailing newline).
class ProgressSink {
 public:
  virtual ~ProgressSink() = default;
  virtual void line(std::string_view text) = 0;
};

enum class OutputStream { stdout_stream, stderr_stream };

/// Where a command's output goes, as it comes.
class OutputSink {
 public:
  virtual ~OutputSink() = default;
  virtual void write(OutputStream stream, std::string_view data) = 0;
};

/// A command to run in a workspace.
struct ExecRequest {
  std::vector<std::string> command;  ///< argv; never empty
  StringMap env;                     ///< added to the workspace's env
  std::string workdir;               ///< empty: the workspace's own folder
  std::string user;                  ///< empty: the provider's default
  std::string stdin_data;            ///< fed to the command's standard input
};

}  // namespace berth
