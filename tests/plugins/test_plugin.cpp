// A plugin for tests whose behaviour is its command's name:
//   echo-args  prints its arguments and the workspace count, through the Context
//   throw-now  throws from run()
//   garbage    returns an exit code outside 0..255
//   segv       crashes with SIGSEGV in run()
//   exit-7     returns 7
//   stop-ghost (or NAME-stop) stops the workspace named by its argument (a write, for the permission tests)
#include <berth/plugin.hpp>

#include <csignal>
#include <ostream>
#include <stdexcept>

namespace {

class TestPlugin : public berth::Plugin {
 public:
  int run(berth::Context& context, const std::string& command, const std::vector<std::string>& args) override {
    if (command == "throw-now") throw std::runtime_error("the plugin gave up on purpose");
    if (command == "garbage") return 1000;
    if (command == "segv") std::raise(SIGSEGV);
    if (command == "exit-7") return 7;
    if (command == "stop-ghost" || command.ends_with("-stop")) {
      context.api().stop_workspace(args.empty() ? "ghost" : args.front(), nullptr);
      return 0;
    }
    context.out() << "args:";
    for (const auto& arg : args) context.out() << " [" << arg << "]";
    context.out() << "\nworkspaces: " << context.api().list_workspaces().size() << "\n";
    context.out() << "data_dir: " << context.data_dir() << "\n";
    return 0;
  }
};

}  // namespace

BERTH_PLUGIN(TestPlugin)
