#pragma once
// Users and groups as the container's own /etc/passwd and /etc/group name them: a static
// binary has no NSS, and the container's files, not the machine's, are the ones that count.
#include <sys/types.h>

#include <string>
#include <vector>

namespace berth_agent {

struct Identity {
  uid_t uid = 0;
  gid_t gid = 0;
  std::vector<gid_t> groups;  // supplementary groups, the primary one included
  std::string name;           // empty when /etc/passwd has no entry for the uid
  std::string home = "/";
  std::string shell;          // empty when /etc/passwd has none
};

// "NAME", "UID", "NAME:GROUP", "UID:GID" (the engine's User forms); empty is root. As runc
// does: a number not in /etc/passwd is that uid with gid 0 and home /; a name not there is an
// error; without an explicit group the supplementary groups are those of /etc/group listing
// the user's name. False with `error` set when the user or group does not exist.
bool resolve_identity(const std::string& spec, Identity& identity, std::string& error,
                      const std::string& passwd_path = "/etc/passwd", const std::string& group_path = "/etc/group");

}  // namespace berth_agent
