#pragma once
// The REST API (JSON under /v1) on top of the workspace service.
#include "api_keys.hpp"
#include "provider_registry.hpp"
#include "workspace_service.hpp"

namespace httplib { class Server; }

namespace berth {

inline constexpr size_t kMaxRequestBody = 1 << 20;

// Registers every route, the JSON error answers and the body limit on server.
void register_api(httplib::Server& server, WorkspaceService& service, ProviderRegistry& providers, ApiKeyStore& keys);

// Makes every request on server (the TCP listener) present a live API key.
void require_api_key(httplib::Server& server, const ApiKeyStore& keys);

}  // namespace berth
