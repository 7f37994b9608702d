#pragma once
// The OpenSSH entry of one workspace (Host NAME.berth, its ProxyCommand through this berth),
// as berth ssh-config prints it and berth code writes it.
#include "session.hpp"
#include "ssh_keys.hpp"

#include <string>

namespace berth::cli {

std::string ssh_config_entry(Session& session, const Workspace& w, const SshKeys& keys);

// text as one word for a POSIX shell ('...' unless it needs none).
std::string shell_quoted(const std::string& text);

}  // namespace berth::cli
