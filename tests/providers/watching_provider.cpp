// A provider for tests with a watch (SDK 1.3): a workspace's real state is the word in the file
// STATE_DIR/NAME (started when there is none), which a test writes behind berth's back. Its
// watch reports each file's word when it changes, and writes the names it was given to watch to
// STATE_DIR/.watched (one a line), so a test sees the set the server sent.
#include <berth/provider.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

namespace fs = std::filesystem;

namespace {

std::string word_in(const fs::path& file) {
  std::ifstream in(file);
  std::string word;
  in >> word;
  return word.empty() ? "started" : word;
}

berth::InfraState state_of(const std::string& word) {
  if (word == "stopped") return berth::InfraState::stopped;
  if (word == "paused") return berth::InfraState::paused;
  if (word == "gone") return berth::InfraState::gone;
  return berth::InfraState::started;
}

class WatchingProvider : public berth::Provider {
 public:
  berth::ProviderInfo info() const override {
    return {"watching", "0.1.0", "Test provider: state in files, reported by its watch",
            {{"state_dir", berth::PropertyType::path, true, "", {}, "Folder of the state files"}}};
  }
  void create(berth::OperationContext& c) override { write(c, "started"); c.provider_data["made"] = c.workspace.name; }
  void start(berth::OperationContext& c) override { write(c, "started"); }
  void stop(berth::OperationContext& c) override { write(c, "stopped"); }
  void destroy(berth::OperationContext& c) override { fs::remove(file(c.properties, c.workspace.name)); }
  berth::Status status(berth::OperationContext& c) override {
    std::string word = word_in(file(c.properties, c.workspace.name));
    return {state_of(word), "the file says " + word};
  }
  int exec(berth::OperationContext& c, const berth::ExecRequest&, berth::OutputSink& output) override {
    // "deaf" in the workspace's file: an exec that never returns, deaf to cancellation.
    while (word_in(file(c.properties, c.workspace.name)) == "deaf") std::this_thread::sleep_for(std::chrono::milliseconds(100));
    output.write(berth::OutputStream::stdout_stream, "ran\n");
    return 0;
  }

  void watch(berth::WatchContext& context) override {
    std::map<std::string, std::string> reported;  // name -> the word last reported
    std::vector<berth::WatchedWorkspace> workspaces;
    while (!context.cancellation().requested()) {
      workspaces = context.workspaces();
      std::set<std::string> names;
      fs::path folder;
      for (const auto& workspace : workspaces) {
        names.insert(workspace.name);
        folder = workspace.properties.at("state_dir");
        std::string word = word_in(file(workspace.properties, workspace.name));
        if (reported[workspace.name] == word) continue;
        reported[workspace.name] = word;
        context.report({workspace.name, {{"made", workspace.name}}, state_of(word), "the watch saw " + word});
      }
      if (!folder.empty()) {
        std::ostringstream listed;
        for (const auto& name : names) listed << name << "\n";
        std::ofstream(folder / ".watched.tmp") << listed.str();
        fs::rename(folder / ".watched.tmp", folder / ".watched");
      }
      context.changed(std::chrono::milliseconds(20));  // the set changed, or time to look at the files again
    }
  }

 private:
  static fs::path file(const berth::StringMap& properties, const std::string& name) { return fs::path(properties.at("state_dir")) / name; }
  static void write(berth::OperationContext& c, const std::string& word) { std::ofstream(file(c.properties, c.workspace.name)) << word << "\n"; }
};

}  // namespace

BERTH_PROVIDER(WatchingProvider)
