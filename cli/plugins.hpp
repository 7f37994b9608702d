#pragma once
#include "commands.hpp"
#include "plugin_catalog.hpp"

#include <memory>
#include <vector>

namespace berth::cli {

// Adds each plugin's commands to the registry (hidden when disabled or broken, so a call
// still says why) and the `berth plugin` command.
void add_plugin_commands(Registry& registry, const std::shared_ptr<const std::vector<PluginEntry>>& plugins);

// Where plugins are, for a home given before the command line is parsed.
PluginFolders plugin_folders(const Home& home);

}  // namespace berth::cli
