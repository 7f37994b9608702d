#pragma once
// Sessions and port connections of the host provider: a program on this machine with a
// terminal (a pseudo-terminal) or with pipes, fed from a SessionChannel as its events come;
// and a TCP connection to 127.0.0.1.
#include "process.hpp"

#include <berth/provider.hpp>

namespace host {

struct SessionSpec {
  ProcessSpec process;  // argv, workdir, env (its stdin_data is not used)
  bool tty = false;
  int rows = 24;
  int cols = 80;
};

// Runs the program and relays it until it ends (returns its exit code, 128+N for signal N) or
// the client goes away (its process group is killed, and this throws).
int run_session(const SessionSpec& spec, berth::SessionChannel& channel, const berth::Cancellation& cancellation,
                const PidObserver& observer);

// Relays a connection to 127.0.0.1:port until either side closes; throws when nothing listens.
void connect_port(int port, berth::SessionChannel& channel, const berth::Cancellation& cancellation);

}  // namespace host
