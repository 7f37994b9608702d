#pragma once
// Runs a program with pipes and streams its output as it comes.
#include <berth/io.hpp>
#include <berth/provider.hpp>

#include <functional>
#include <string>
#include <vector>

namespace host {

struct ProcessSpec {
  std::vector<std::string> argv;
  std::string workdir;
  berth::StringMap extra_env;  // added to (or replacing in) the server's environment
  std::string stdin_data;
  // When berth asks the operation to end, the process group is killed and run_process throws.
  const berth::Cancellation* cancellation = nullptr;
};

// The server's environment with extra added (or replacing), as KEY=VALUE strings.
std::vector<std::string> build_environment(const berth::StringMap& extra);

// Called with each process group id when it starts and with its negative when it has ended.
using PidObserver = std::function<void(int)>;

// Runs spec; output goes to sink as it comes. Returns the exit code (128+N for signal N).
// Throws std::runtime_error when the program cannot be started. If the sink throws (the client
// went away), the process group is killed and the exception passes on.
int run_process(const ProcessSpec& spec, berth::OutputSink& sink, const PidObserver& observer = nullptr);

}  // namespace host
