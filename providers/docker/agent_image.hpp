#pragma once
// The berth-agent binary (providers/docker/agent/), built static and embedded into the docker
// provider at build time (agent/embed.cmake), so it always matches the provider that injects it.
#include <string_view>

namespace docker::agent {

std::string_view agent_image();

}  // namespace docker::agent
