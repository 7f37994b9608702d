#pragma once
// The plugins' API routes: the list and its health, a credential for a plugin (the owner asks
// for it), the plugin's log ring, its host binaries run for its UI, its jobs and its service. Requests made with a plugin's credential pass
// PluginAccess::check first (route_helpers' gate), which holds them to the plugin's grants.
#include "plugin_access.hpp"
#include "plugin_jobs.hpp"
#include "plugin_services.hpp"

#include <httplib.h>

namespace berth {

// GET /v1/plugins (with each one's service, jobs and log tail), enable/disable, token, log,
// exec (host binaries), jobs, and the service's own routes (/service/*, and the manifest's routes).
void register_plugin_routes(httplib::Server& server, PluginAccess& access, PluginServices& services, PluginJobs& jobs);

}  // namespace berth
