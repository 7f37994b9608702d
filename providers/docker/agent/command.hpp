#pragma once
// Starting a command in the container as the agent's child: as a user from the container's
// own files, in a folder, with an environment, on pipes or on a new terminal.
#include "users.hpp"

#include <sys/types.h>

#include <string>
#include <vector>

namespace berth_agent {

struct CommandSpec {
  std::vector<std::string> argv;  // empty: the user's login shell (from /etc/passwd, else /bin/sh), with -l
  std::vector<std::string> env;   // KEY=VALUE, the whole environment (PATH from here finds argv[0])
  std::string workdir;            // empty: stay in /
  Identity identity;
  bool tty = false;
  int rows = 24, cols = 80;
  bool own_stdio = false;  // keep the agent's stdin, stdout and stderr (the image's own command)
};

struct Spawned {
  pid_t pid = -1;
  // Non-blocking, close-on-exec. With a terminal stdout_fd is its master, stdin_fd a copy of
  // it and stderr_fd -1; with own_stdio all three are -1.
  int stdin_fd = -1, stdout_fd = -1, stderr_fd = -1;
};

// Forks the command: a process group of its own (a session with a controlling terminal when
// tty), the agent's signal mask and dispositions undone, then setgroups, setgid, setuid, chdir
// and exec. What fails after the fork is said on the command's stderr and it exits 126
// (127 when the program is not found), as a shell would. False with `error` when the fork or
// the descriptors fail.
bool spawn_command(const CommandSpec& spec, Spawned& spawned, std::string& error);

// Changes a terminal's size (the master's descriptor).
void resize_terminal(int master, int rows, int cols);

}  // namespace berth_agent
