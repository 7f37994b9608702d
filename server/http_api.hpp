#pragma once
// The REST API (JSON under /v1) on top of the workspace service.
#include "api_keys.hpp"
#include "provider_registry.hpp"
#include "workspace_service.hpp"

namespace httplib { class Server; }

namespace berth {

inline constexpr size_t kMaxRequestBody = 1 << 20;
// After an answer larger than this (a listing of about 400 workspaces), the freed pages go back
// to the system: a dashboard open on 1,000 workspaces otherwise kept megabytes (docs/performance.md).
inline constexpr size_t kTrimAfterBytes = 64 << 10;

// Who a listener serves: the server's own Unix socket (the machine's owner and whoever may open
// its 0600 socket), or TCP (API key holders). Decides what a repository may run on this machine.
struct Listener {
  bool remote = false;
  bool allow_remote_initialize = false;  // berth serve --allow-remote-initialize
};

// Registers every route, the JSON error answers and the body limit on server.
void register_api(httplib::Server& server, WorkspaceService& service, ProviderRegistry& providers, ApiKeyStore& keys,
                  const Listener& listener);

class Dashboard;

// Makes every request on server (the TCP listener) present a live API key, and an admin key for
// what changes the server's configuration (keys, providers enabled or not, targets). With a
// dashboard (TLS listeners): its pages are public, and its session cookie stands for the key it
// signed in with (dashboard/dashboard.hpp).
void require_api_key(httplib::Server& server, const ApiKeyStore& keys, Dashboard* dashboard = nullptr);

}  // namespace berth
