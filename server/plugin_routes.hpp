#pragma once
// The plugins' own API routes: a credential for a plugin (the owner asks for it), the plugin's
// log ring, and its host binaries run for its UI. Requests made with a plugin's credential pass
// PluginAccess::check first (route_helpers' gate), which holds them to the plugin's grants.
#include "plugin_access.hpp"

#include <httplib.h>

namespace berth {

void register_plugin_routes(httplib::Server& server, PluginAccess& access);

}  // namespace berth
