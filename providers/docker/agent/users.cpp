#include "users.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>

namespace berth_agent {
namespace {

std::string read_file(const std::string& path) {
  std::string text;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return text;
  char buffer[8192];
  ssize_t n;
  while ((n = ::read(fd, buffer, sizeof buffer)) > 0) text.append(buffer, static_cast<size_t>(n));
  ::close(fd);
  return text;
}

// The ':'-separated fields of each line of a passwd or group file.
template <typename OnLine>
void each_entry(const std::string& text, OnLine on_line) {
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    start = end + 1;
    if (line.empty() || line[0] == '#') continue;
    std::vector<std::string> fields;
    size_t from = 0;
    while (true) {
      size_t colon = line.find(':', from);
      fields.push_back(line.substr(from, colon == std::string::npos ? std::string::npos : colon - from));
      if (colon == std::string::npos) break;
      from = colon + 1;
    }
    if (on_line(fields)) return;
  }
}

bool number(const std::string& text, unsigned long& value) {
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos || text.size() > 10) return false;
  value = std::strtoul(text.c_str(), nullptr, 10);
  return value <= 0xfffffffeUL;
}

}  // namespace

bool resolve_identity(const std::string& spec, Identity& identity, std::string& error, const std::string& passwd_path,
                      const std::string& group_path) {
  identity = Identity{};
  std::string user = spec, group;
  if (size_t colon = spec.find(':'); colon != std::string::npos) {
    user = spec.substr(0, colon);
    group = spec.substr(colon + 1);
  }
  if (user.empty()) user = "0";
  std::string passwd = read_file(passwd_path);
  unsigned long numeric = 0;
  bool by_number = number(user, numeric);
  bool found = false;
  each_entry(passwd, [&](const std::vector<std::string>& f) {
    if (f.size() < 7) return false;
    unsigned long uid = 0, gid = 0;
    if (!number(f[2], uid) || !number(f[3], gid)) return false;
    if (by_number ? uid != numeric : f[0] != user) return false;
    identity.name = f[0];
    identity.uid = static_cast<uid_t>(uid);
    identity.gid = static_cast<gid_t>(gid);
    identity.home = f[5].empty() ? "/" : f[5];
    identity.shell = f[6];
    found = true;
    return true;
  });
  if (!found) {
    if (!by_number) {
      error = "unable to find user " + user + ": no matching entries in passwd file";
      return false;
    }
    identity.uid = static_cast<uid_t>(numeric);
    identity.gid = 0;
  }
  std::string groups = read_file(group_path);
  if (!group.empty()) {
    unsigned long gid = 0;
    bool group_by_number = number(group, gid);
    bool group_found = group_by_number;
    if (!group_by_number) {
      each_entry(groups, [&](const std::vector<std::string>& f) {
        if (f.size() < 3 || f[0] != group) return false;
        group_found = number(f[2], gid);
        return group_found;
      });
    }
    if (!group_found) {
      error = "unable to find group " + group + ": no matching entries in group file";
      return false;
    }
    identity.gid = static_cast<gid_t>(gid);
    identity.groups = {identity.gid};
    return true;
  }
  identity.groups = {identity.gid};
  if (!identity.name.empty()) {
    each_entry(groups, [&](const std::vector<std::string>& f) {
      if (f.size() < 4) return false;
      unsigned long gid = 0;
      if (!number(f[2], gid)) return false;
      size_t from = 0;
      const std::string& members = f[3];
      while (from <= members.size()) {
        size_t comma = members.find(',', from);
        std::string member = members.substr(from, comma == std::string::npos ? std::string::npos : comma - from);
        if (member == identity.name) {
          bool known = false;
          for (gid_t g : identity.groups) known = known || g == gid;
          if (!known) identity.groups.push_back(static_cast<gid_t>(gid));
          break;
        }
        if (comma == std::string::npos) break;
        from = comma + 1;
      }
      return false;
    });
  }
  return true;
}

}  // namespace berth_agent
