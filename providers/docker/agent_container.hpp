#pragma once
// berth-agent in a workspace's container (providers/docker/agent/, docs/agent.md): the
// container's main process, put in through the archive API before the container starts (or,
// on an engine known to see this machine's files, bind-mounted from the provider's folder),
// and, when the engine runs on this machine, serving exec and sessions on a socket in a folder
// of the provider's own that is bind-mounted into the container. Hooks for make_container,
// start and destroy: shape the create body, install before the start, await the socket after
// it; prepare a start again; forget the folder once the container is gone.
#include "engine.hpp"

#include <berth/provider.hpp>

#include <string>

namespace docker::agent {

// berth's own main command when the image's is not kept: sleeps until told to stop. With the
// agent as PID 1 it is not run at all (the agent waits itself).
inline constexpr const char* kSleepLoop = "trap 'exit 0' TERM INT; while :; do sleep 86400 & wait $!; done";

// What shape_container decided, for install to record.
struct Placement {
  std::string socket_folder;  // on this machine, bind-mounted at /.berth/run; empty: exec through the engine
  std::string reason;         // when empty: why (said in the workspace log)
  bool binary_in_folder = false;  // the agent binary is in that folder too: no archive upload
  std::string volume;             // the agent's own volume (an engine elsewhere), mounted at /.berth: no upload either
};

// Turns the create body into one whose main process is the agent: the body's Entrypoint and
// Cmd (or, when both are absent — devcontainer.json's overrideCommand: false — the image's)
// become the agent's child, berth's own sleep loop none at all; the container's user (the
// body's User, else the image's) becomes the agent's default user and the agent runs as root
// to switch users. Adds the socket folder's bind mount when the engine is on this machine
// (a unix:// address) and the target's exec_via is not "engine"; otherwise mounts the agent's
// volume (berth-agent-HASH, filled once per engine, never deleted by berth: it is shared and
// tiny; `docker volume rm` is safe, the next create fills it again).
Placement shape_container(Engine& engine, const berth::OperationContext& c, Json& body, const std::string& image,
                          const std::string& container_name);
// The same from a target's properties and the provider's data folder (a warm pool's container).
Placement shape_container(Engine& engine, const berth::StringMap& properties, const std::string& data_dir, Json& body,
                          const std::string& image, const std::string& container_name);

// Puts the agent binary at /.berth/agent in the created (not yet started) container (unless
// it is in the bound folder or the agent's volume already) and records what was placed: provider_data "agent" (its
// path in the container) and "agent_socket_folder".
void install(Engine& engine, const std::string& container_id, const Placement& placement, berth::StringMap& provider_data);

// Before a container is started again: the agent binary back in its bound folder if it was
// there and is gone (the provider's data folder cleaned behind berth's back).
void prepare_start(const berth::StringMap& provider_data);

// After the container started: waits (up to a second) for the agent to answer on its socket
// and records provider_data "exec_via": "agent", or "engine" (with the reason in the log).
void await_agent(berth::StringMap& provider_data, berth::ProgressSink& progress);

// A warm pool's container (providers/docker/pool.hpp): shaped as above with its pool name;
// between its create and its start the agent goes in as install would; at its hand-out the
// workspace's record gets what install and await_agent record. `forget_folder` removes the
// socket folder of a pool container the pool removed.
void prepare_pool_container(Engine& engine, const std::string& container_id, const std::string& data_dir, const std::string& name);
void adopt_pool_container(const std::string& data_dir, const std::string& name, berth::StringMap& provider_data);
void forget_folder(const std::string& data_dir, const std::string& name);

// Removes the socket folder recorded for a container that is gone (only that folder, only
// when it lies in this provider's data folder).
void forget(const berth::StringMap& provider_data, const std::string& data_dir);

}  // namespace docker::agent
