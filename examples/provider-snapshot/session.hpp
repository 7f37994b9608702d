#pragma once
// Sessions and port connections for workspaces that are folders on this machine: what
// `berth exec`, `berth ssh` and `berth forward` reach (Provider::session and Provider::connect,
// SDK 1.2). Only the public SDK and POSIX; copy it for a provider of your own.
#include <berth/provider.hpp>

#include <string>

namespace snapshot {

// Runs request.command (or $SHELL, else /bin/sh) in `folder` with `env` added (the workspace's
// own env, then the request's): with a pseudo-terminal when request.tty, with pipes otherwise.
// Input, end of input, resizes and signals come from the channel's events; output goes to the
// channel as it comes. Returns the exit code (128 + N for a signal). A `closed` event or a
// cancellation kills the command's process group and throws.
int run_session(const std::string& folder, const berth::StringMap& env, const berth::SessionRequest& request,
                berth::SessionChannel& channel, const berth::Cancellation& cancellation);

// Connects to 127.0.0.1:port and relays bytes both ways until the port's side closes or the
// client is gone. Throws when nothing listens there.
void connect_to_port(int port, berth::SessionChannel& channel, const berth::Cancellation& cancellation);

}  // namespace snapshot
