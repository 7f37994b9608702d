#pragma once
// Commands through a workspace's berth-agent: a connection to its socket (straight from this
// process, the engine not involved), a request, then frames both ways until the exit code.
// Used by exec and sessions when the agent answers; the engine's exec otherwise.
#include "session.hpp"

#include <berth/provider.hpp>

#include <optional>

namespace docker::agent {

// A connected, greeted agent socket; closed with the object.
class Connection {
 public:
  explicit Connection(int fd) : fd_(fd) {}
  Connection(Connection&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
  Connection(const Connection&) = delete;
  ~Connection();
  int fd() const { return fd_; }

 private:
  int fd_;
};

// The workspace's agent, when create recorded a socket folder for it (provider_data
// "agent_socket_folder"), the target does not say exec_via: engine, and the agent answers its
// greeting; nullopt otherwise (no agent, the container stopped, a socket this process cannot
// reach), and the caller uses the engine.
std::optional<Connection> connect(const berth::StringMap& provider_data, const berth::StringMap& properties);

// The same, for a socket folder: whether an agent answers there now.
std::optional<Connection> connect_folder(const std::string& socket_folder);

// A command without a terminal: stdin_data, then the end of input; output as it comes; the
// exit code. Throws when the agent goes away before the command ends.
int run_exec(Connection& agent, const CommandPlace& place, const berth::ExecRequest& request, berth::OutputSink& output);

// A session (as run_session does through the engine): the channel's input, resizes and
// signals go to the command, its output to the channel; a closed channel or a requested
// cancellation ends the command (the agent kills its process group when the connection closes).
int run_session(Connection& agent, const CommandPlace& place, const berth::SessionRequest& request, berth::SessionChannel& channel,
                const berth::Cancellation& cancellation);

}  // namespace docker::agent
