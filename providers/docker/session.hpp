#pragma once
// Sessions and port connections of the docker provider, through the Engine API's exec:
// a command with or without a terminal, its stdin streamed from the channel, resizes through
// /exec/ID/resize, signals and the end of a session through a second exec that kills the
// command's process group (its pid comes first on its output, from a small sh wrapper).
#include "engine.hpp"

#include <berth/provider.hpp>

namespace docker {

// Where and how a workspace's commands run.
struct CommandPlace {
  std::string container_id;
  std::string workspace;  // for messages
  std::string user;       // empty: the container's
  std::string workdir;
  berth::StringMap env;
};

int run_session(Engine& engine, const CommandPlace& place, const berth::SessionRequest& request, berth::SessionChannel& channel,
                const berth::Cancellation& cancellation);

// Relays a connection to TCP port `port` of the container: straight to its address when this
// machine can reach it, else through nc inside the container.
void connect_port(Engine& engine, const CommandPlace& place, int port, berth::SessionChannel& channel,
                  const berth::Cancellation& cancellation);

}  // namespace docker
