#pragma once
// The docker provider's watch (berth::Provider::watch, SDK 1.3): each engine that a watched
// workspace's container lives on is followed through its /events stream, filtered to this
// home's containers (the identity label), and what happens to them outside berth is reported.
#include <berth/provider.hpp>

#include <string>

namespace docker {

// The label that says which berth home made a container; its value is the home's identity.
inline constexpr const char* kIdentityLabel = "dev.berth.identity";
// The label that names the workspace a container belongs to.
inline constexpr const char* kWorkspaceLabel = "dev.berth.workspace";

// Follows every engine in use until context.cancellation() is requested. On each (re)connect
// to an engine it reports the state of every watched workspace there (so what happened while
// no one followed it is caught up), then each die, stop, pause, unpause, start and destroy
// event as it comes.
void watch_engines(berth::WatchContext& context, const std::string& identity);

}  // namespace docker
