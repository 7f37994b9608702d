#pragma once
// The keys berth's SSH access uses, made once per home in <home>/ssh (0700) with ssh-keygen:
// the client key OpenSSH logs in with, and the host key every workspace's sshd presents
// (so the client checks it against one known_hosts line instead of trusting any).
#include "home.hpp"

#include <string>

namespace berth::cli {

struct SshKeys {
  std::string client_private_path;
  std::string client_public;  // the authorized key
  std::string host_private;   // given to the workspace's sshd
  std::string known_hosts_path;
};

// Makes what is missing; throws unavailable naming what to install when ssh-keygen is absent.
SshKeys ensure_ssh_keys(const Home& home);

}  // namespace berth::cli
