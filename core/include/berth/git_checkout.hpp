#pragma once
/// berth SDK: what a create asked of the repository's clone (a branch, a new branch, a commit,
/// any ref the remote serves) and the git commands that do it, for every provider alike.
///
/// The create's options carry it (the server has checked each value; docs/workflow.md):
///   branch=B         clone B (git clone --branch B): it must exist on the remote
///   new_branch=true  with branch: B is made from the default branch instead
///   commit=SHA       the clone is left at SHA (detached); fetched when the clone lacks it
///   ref=REF          REF (refs/pull/1/head, ...) fetched and the clone left at it (detached)
/// A provider runs `clone_command`, then `settle_checkout`, and records the commit it returns
/// as provider data "commit" (berth info shows it). Header-only: nothing of it crosses the ABI.
#include <berth/io.hpp>
#include <berth/types.hpp>

#include <functional>
#include <string>
#include <vector>

namespace berth::git {

struct Checkout {
  std::string branch;
  bool new_branch = false;
  std::string commit;
  std::string ref;
  /// "branch dev", "new branch dev", "commit 1a2b3c", "ref refs/pull/1/head"; empty: the default branch.
  std::string describe() const {
    if (!commit.empty()) return "commit " + commit;
    if (!ref.empty()) return "ref " + ref;
    if (!branch.empty()) return (new_branch ? "new branch " : "branch ") + branch;
    return "";
  }
};

inline Checkout checkout_of(const StringMap& options) {
  auto value = [&](const char* key) {
    auto it = options.find(key);
    return it == options.end() ? std::string() : it->second;
  };
  return Checkout{value("branch"), value("new_branch") == "true", value("commit"), value("ref")};
}

/// git clone [FLAGS] [--branch B] -- REPOSITORY FOLDER (a new branch is made after the clone).
inline std::vector<std::string> clone_command(const std::string& repository, const std::string& folder, const Checkout& checkout,
                                              const std::vector<std::string>& flags = {}) {
  std::vector<std::string> argv{"git", "clone"};
  argv.insert(argv.end(), flags.begin(), flags.end());
  if (!checkout.branch.empty() && !checkout.new_branch) argv.insert(argv.end(), {"--branch", checkout.branch});
  argv.insert(argv.end(), {"--", repository, folder});
  return argv;
}

/// Runs one git command; returns its exit code; its standard output is appended to `out` when
/// given (else it goes where the provider sends git's output, e.g. the workspace's log), and its
/// first "fatal: " line, if any, to `reason`.
using GitRunner = std::function<int(const std::vector<std::string>& argv, std::string* out, std::string* reason)>;

/// Where a GitRunner sends a command's output: standard output into `out` when given (else as
/// lines to progress), standard error as lines to progress, its first "fatal: " line (without
/// the prefix) kept in `reason` when given. Call finish() after the command.
class GitOutput : public OutputSink {
 public:
  GitOutput(ProgressSink& progress, std::string* out, std::string* reason) : progress_(progress), out_(out), reason_(reason) {}
  void write(OutputStream stream, std::string_view data) override {
    if (stream == OutputStream::stdout_stream && out_) {
      out_->append(data);
      return;
    }
    for (char c : data) {
      if (c != '\n' && c != '\r') {
        pending_.push_back(c);
        continue;
      }
      finish();
    }
  }
  void finish() {
    if (pending_.empty()) return;
    progress_.line(pending_);
    if (reason_ && reason_->empty() && pending_.rfind("fatal: ", 0) == 0) *reason_ = pending_.substr(7);
    pending_.clear();
  }

 private:
  ProgressSink& progress_;
  std::string* out_;
  std::string* reason_;
  std::string pending_;
};

/// After clone_command: the new branch, the commit or the ref; `files_written`: whether the
/// clone has its files (false after git clone --no-checkout: only HEAD moves). Returns the
/// commit HEAD is at (empty for an empty repository); throws berth::Error("invalid") naming
/// what the remote does not have.
inline std::string settle_checkout(const std::string& folder, const Checkout& checkout, bool files_written, const GitRunner& run) {
  auto git = [&](std::vector<std::string> args, std::string* out = nullptr, std::string* reason = nullptr) {
    args.insert(args.begin(), {"git", "-C", folder});
    return run(args, out, reason);
  };
  auto move_to = [&](const std::string& what) {
    std::string reason;
    int code = files_written ? git({"checkout", "--quiet", "--detach", what}, nullptr, &reason)
                             : git({"update-ref", "--no-deref", "HEAD", what}, nullptr, &reason);
    if (code != 0) throw Error("provider_failed", "cannot check out " + checkout.describe() + (reason.empty() ? "" : ": " + reason));
  };
  if (checkout.new_branch && !checkout.branch.empty()) {
    std::string reason, head;
    // An empty repository has no commit to start from: HEAD alone names the new branch.
    bool has_commit = git({"rev-parse", "-q", "--verify", "HEAD"}, &head) == 0;
    if ((has_commit && git({"branch", "--no-track", checkout.branch}, nullptr, &reason) != 0) ||
        git({"symbolic-ref", "HEAD", "refs/heads/" + checkout.branch}, nullptr, &reason) != 0) {
      throw Error("invalid", "cannot make the new branch '" + checkout.branch + "'" + (reason.empty() ? "" : ": " + reason));
    }
  } else if (!checkout.commit.empty()) {
    std::string full;
    if (git({"rev-parse", "-q", "--verify", checkout.commit + "^{commit}"}, &full) != 0) {
      std::string reason;
      if (git({"fetch", "--quiet", "origin", checkout.commit}, nullptr, &reason) != 0) {
        // A remote gives an object it does not advertise by its full id only.
        std::string hint = checkout.commit.size() < 40 ? "; a commit no branch or tag holds must be given in full (40 hex digits)" : "";
        throw Error("invalid", "the repository has no commit " + checkout.commit + (reason.empty() ? "" : " (git: " + reason + ")") + hint);
      }
    }
    move_to(checkout.commit + "^{commit}");
  } else if (!checkout.ref.empty()) {
    std::string reason;
    if (git({"fetch", "--quiet", "origin", checkout.ref}, nullptr, &reason) != 0) {
      throw Error("invalid", "the repository serves no ref " + checkout.ref + (reason.empty() ? "" : " (git: " + reason + ")"));
    }
    move_to("FETCH_HEAD");
  }
  std::string head;
  if (git({"rev-parse", "-q", "--verify", "HEAD"}, &head) != 0) return "";
  while (!head.empty() && (head.back() == '\n' || head.back() == '\r')) head.pop_back();
  return head;
}

}  // namespace berth::git
