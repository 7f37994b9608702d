#pragma once
// How a command runs in a workspace's container: the one place exec (and sessions) ask.
#include <berth/provider.hpp>

#include <string>
#include <vector>

namespace docker {

struct ExecDefaults {
  std::string user;              // empty: the container's own user
  std::vector<std::string> env;  // KEY=VALUE, added to the container's environment
  std::string workdir;
};

// The user, environment and folder of a command in this workspace. The request's own values
// win; then what create recorded from devcontainer.json (provider_data "remote_user": its
// remoteUser, else containerUser; "remote_env": its remoteEnv as a JSON object, with
// ${containerEnv:X} already substituted; "workdir": its workspaceFolder); then the target's
// user and workdir properties.
ExecDefaults exec_defaults(const berth::OperationContext& c, const berth::ExecRequest& request);

// The workspace's folder in the container: as create recorded it, else the target's workdir
// with {name} replaced.
std::string workspace_folder(const berth::OperationContext& c);

}  // namespace docker
