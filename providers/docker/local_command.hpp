#pragma once
// A program run on the server's machine for the docker provider (git clone, a devcontainer's
// initializeCommand): stdout and stderr together, streamed to a sink as they come.
#include <berth/io.hpp>

#include <string>
#include <vector>

namespace docker {

// Runs argv in folder (empty: the provider host's own); returns its exit code (128+N for a
// signal). 126: folder cannot be entered; 127: argv[0] cannot be run.
int run_local(const std::vector<std::string>& argv, const std::string& folder, berth::OutputSink& output);

// Each line of what it is given goes to a ProgressSink (the workspace log).
class ProgressLines : public berth::OutputSink {
 public:
  explicit ProgressLines(berth::ProgressSink& progress) : progress_(progress) {}
  ~ProgressLines() override { flush(); }
  void write(berth::OutputStream stream, std::string_view data) override;
  void flush();

 private:
  berth::ProgressSink& progress_;
  std::string pending_;
};

}  // namespace docker
