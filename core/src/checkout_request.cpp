#include "checkout_request.hpp"

#include "errors.hpp"

#include <algorithm>

namespace berth {
namespace {

bool is_hex(const std::string& text) {
  return std::all_of(text.begin(), text.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); });
}

bool is_commit(const std::string& text) { return text.size() >= 4 && text.size() <= 64 && is_hex(text); }

// git check-ref-format's rules, on a narrower alphabet (letters, digits, . _ / - +).
std::string ref_name_problem(const std::string& name) {
  if (name.empty()) return "is empty";
  if (name.size() > 200) return "is longer than 200 characters";
  if (name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._/-+") != std::string::npos) {
    return "may hold only letters, digits and . _ / - +";
  }
  if (name.front() == '-' || name.front() == '/' || name.front() == '.') return "may not start with '-', '/' or '.'";
  if (name.back() == '/' || name.back() == '.') return "may not end with '/' or '.'";
  if (name.size() >= 5 && name.compare(name.size() - 5, 5, ".lock") == 0) return "may not end with .lock";
  if (name.find("..") != std::string::npos || name.find("//") != std::string::npos || name.find("/.") != std::string::npos) {
    return "may not hold '..', '//' or '/.'";
  }
  return "";
}

std::string value_of(const StringMap& options, const char* key) {
  auto it = options.find(key);
  return it == options.end() ? std::string() : it->second;
}

}  // namespace

void check_checkout_options(const StringMap& options, const std::string& repository) {
  std::string branch = value_of(options, "branch"), commit = value_of(options, "commit"), ref = value_of(options, "ref");
  bool has_new_branch = options.count("new_branch") != 0;
  int asked = (options.count("branch") ? 1 : 0) + (options.count("commit") ? 1 : 0) + (options.count("ref") ? 1 : 0);
  if (asked == 0 && !has_new_branch) return;
  if (repository.empty()) throw invalid("--branch, --commit and --ref need a repository (--repo URL)");
  if (asked > 1) throw invalid("give one of --branch, --commit and --ref, not several");
  if (has_new_branch) {
    if (value_of(options, "new_branch") != "true") throw invalid("option new_branch must be 'true'");
    if (!options.count("branch")) throw invalid("--new-branch needs --branch NAME: the branch to make");
  }
  if (options.count("branch")) {
    if (std::string problem = ref_name_problem(branch); !problem.empty()) throw invalid("--branch '" + branch.substr(0, 80) + "' " + problem);
  }
  if (options.count("ref")) {
    if (ref.rfind("refs/", 0) != 0) throw invalid("--ref '" + ref.substr(0, 80) + "' must be a full ref under refs/ (e.g. refs/pull/1/head)");
    if (std::string problem = ref_name_problem(ref); !problem.empty()) throw invalid("--ref '" + ref.substr(0, 80) + "' " + problem);
  }
  if (options.count("commit") && !is_commit(commit)) {
    throw invalid("--commit '" + commit.substr(0, 80) + "' must be a commit id: 4 to 64 hexadecimal digits");
  }
}

std::string take_checkout_shorthand(const std::string& repository, StringMap& options) {
  // Where the path begins: after the host of a URL (user@host is before it), after the ':' of
  // git@host:org/repo, else at the start (a local path).
  size_t path_start = 0;
  if (size_t scheme = repository.find("://"); scheme != std::string::npos) {
    path_start = repository.find('/', scheme + 3);
    if (path_start == std::string::npos) return repository;
  } else if (size_t colon = repository.find(':'); colon != std::string::npos && repository.find('/') > colon) {
    path_start = colon + 1;
  }
  if (size_t hash = repository.find('#', path_start); hash != std::string::npos) {
    std::string what = repository.substr(hash + 1);
    if (what.rfind("refs/", 0) == 0) {
      options["ref"] = what;
    } else if (what.rfind("pull/", 0) == 0 || what.rfind("merge-requests/", 0) == 0) {
      options["ref"] = "refs/" + what;
    } else if (is_commit(what)) {
      options["commit"] = what;
    } else {
      throw invalid("'#" + what.substr(0, 80) + "' after the repository must be a ref (refs/..., pull/N/head) or a commit id");
    }
    return repository.substr(0, hash);
  }
  if (size_t at = repository.find('@', path_start); at != std::string::npos) {
    options["branch"] = repository.substr(at + 1);
    return repository.substr(0, at);
  }
  return repository;
}

}  // namespace berth
