// The CLI side of the glance extension: `berth glance` counts workspaces by state. It runs with
// the plugin's own credential, so it can read workspaces (granted) and nothing more.
#include <berth/plugin.hpp>

#include <map>
#include <ostream>

class Glance : public berth::Plugin {
 public:
  int run(berth::Context& context, const std::string&, const std::vector<std::string>&) override {
    std::map<std::string, int> by_state;
    for (const auto& workspace : context.api().list_workspaces()) ++by_state[berth::to_string(workspace.state)];
    for (const auto& [state, count] : by_state) context.out() << state << ": " << count << "\n";
    if (by_state.empty()) context.out() << "no workspaces\n";
    return 0;
  }
};

BERTH_PLUGIN(Glance)
