// What of a repository a create checks out (issue 27): --branch, --new-branch, --commit, --ref
// and DevPod's URL@BRANCH / URL#REF shorthands, on the host provider through the real CLI and
// server; the commit the clone resolved to is recorded and shown. Values that are not a ref are
// refused before anything is made.
#include "test_support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <fstream>

namespace fs = std::filesystem;
using berth::test::Result;
using berth::test::RunOptions;
using berth::test::ServerHome;
using Json = nlohmann::json;

namespace {

std::string trimmed(std::string text) {
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

// A repository with a default branch, a branch `dev` with dev.txt, an older commit, and a
// pull-request ref (refs/pull/1/head) whose commit no branch holds.
class Checkout : public ::testing::Test {
 protected:
  void SetUp() override {
    repo_ = berth::test::make_git_repo(scratch_.path() / "repo", "first");
    first_ = git({"rev-parse", "HEAD"});
    git({"checkout", "-q", "-b", "dev"});
    std::ofstream(repo_ / "dev.txt") << "on dev\n";
    berth::test::commit_all(repo_, "dev work");
    dev_ = git({"rev-parse", "HEAD"});
    git({"checkout", "-q", "-b", "pr-source", first_});
    std::ofstream(repo_ / "pr.txt") << "proposed\n";
    berth::test::commit_all(repo_, "proposed change");
    pull_ = git({"rev-parse", "HEAD"});
    git({"update-ref", "refs/pull/1/head", pull_});
    git({"checkout", "-q", "-"});  // back to dev
    git({"checkout", "-q", default_branch()});
    git({"branch", "-q", "-D", "pr-source"});  // only refs/pull/1/head holds it now
    std::ofstream(repo_ / "later.txt") << "later\n";
    berth::test::commit_all(repo_, "later on the default branch");
    tip_ = git({"rev-parse", "HEAD"});
  }
  std::string git(std::vector<std::string> args) {
    args.insert(args.begin(), {"git", "-C", repo_.string()});
    RunOptions options;
    options.env = {{"GIT_AUTHOR_NAME", "berth"}, {"GIT_AUTHOR_EMAIL", "berth@example.org"},
                   {"GIT_COMMITTER_NAME", "berth"}, {"GIT_COMMITTER_EMAIL", "berth@example.org"}};
    Result result = berth::test::run_program(args, options);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return trimmed(result.out);
  }
  std::string default_branch() {
    RunOptions options;
    Result result = berth::test::run_program({"git", "-C", repo_.string(), "config", "init.defaultBranch"}, options);
    std::string configured = trimmed(result.out);
    // The first branch git made: the one that is not dev or pr-source.
    for (const std::string& name : {configured, std::string("main"), std::string("master")}) {
      if (!name.empty() && berth::test::run_program({"git", "-C", repo_.string(), "rev-parse", "-q", "--verify", "refs/heads/" + name}).exit_code == 0) {
        return name;
      }
    }
    return "master";
  }
  // In the workspace: the command's output, trimmed.
  std::string in(const std::string& name, const std::vector<std::string>& command) {
    std::vector<std::string> argv{"exec", name, "--"};
    argv.insert(argv.end(), command.begin(), command.end());
    Result result = server_.berth(argv);
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return trimmed(result.out);
  }
  Json info(const std::string& name) {
    Result result = server_.berth({"info", name, "-o", "json"});
    EXPECT_EQ(result.exit_code, 0) << result.err;
    return Json::parse(result.out);
  }

  berth::test::TempDir scratch_;
  fs::path repo_;
  std::string first_, dev_, pull_, tip_;
  ServerHome server_;
};

TEST_F(Checkout, ABranchACommitAndAPullRequestRefAreWhatTheWorkspaceHolds) {
  Result branch = server_.berth({"create", "on-dev", "--repo", repo_.string(), "--branch", "dev"});
  ASSERT_EQ(branch.exit_code, 0) << branch.err;
  EXPECT_NE(branch.err.find("(branch dev)"), std::string::npos) << "the progress says what is cloned: " << branch.err;
  EXPECT_EQ(in("on-dev", {"git", "rev-parse", "--abbrev-ref", "HEAD"}), "dev");
  EXPECT_EQ(in("on-dev", {"cat", "dev.txt"}), "on dev");
  Json record = info("on-dev");
  EXPECT_EQ(record["options"]["branch"], "dev");
  EXPECT_EQ(record["provider_data"]["commit"], dev_) << "the record keeps the commit the branch resolved to";
  Result shown = server_.berth({"info", "on-dev"});
  EXPECT_NE(shown.out.find("branch dev at " + dev_.substr(0, 12)), std::string::npos) << shown.out;

  Result commit = server_.berth({"create", "at-first", "--repo", repo_.string(), "--commit", first_.substr(0, 10)});
  ASSERT_EQ(commit.exit_code, 0) << commit.err;
  EXPECT_EQ(in("at-first", {"git", "rev-parse", "HEAD"}), first_);
  EXPECT_EQ(in("at-first", {"ls"}), "README.md") << "the files of that commit, none later";
  EXPECT_EQ(info("at-first")["provider_data"]["commit"], first_);

  Result pull = server_.berth({"create", "pr-1", "--repo", repo_.string(), "--ref", "refs/pull/1/head"});
  ASSERT_EQ(pull.exit_code, 0) << pull.err;
  EXPECT_EQ(in("pr-1", {"git", "rev-parse", "HEAD"}), pull_) << "a ref no branch holds is fetched";
  EXPECT_EQ(in("pr-1", {"cat", "pr.txt"}), "proposed");

  Result fresh = server_.berth({"create", "feature", "--repo", repo_.string(), "--branch", "feature/login", "--new-branch"});
  ASSERT_EQ(fresh.exit_code, 0) << fresh.err;
  EXPECT_EQ(in("feature", {"git", "rev-parse", "--abbrev-ref", "HEAD"}), "feature/login");
  EXPECT_EQ(in("feature", {"git", "rev-parse", "HEAD"}), tip_) << "a new branch starts at the default branch";

  Result plain = server_.berth({"create", "plain", "--repo", repo_.string()});
  ASSERT_EQ(plain.exit_code, 0) << plain.err;
  EXPECT_EQ(in("plain", {"git", "rev-parse", "HEAD"}), tip_);
  EXPECT_EQ(info("plain")["provider_data"]["commit"], tip_);
}

TEST_F(Checkout, ShorthandsAfterTheUrlAreDevPods) {
  // file:// so that the text is not a local path; '@' and '#' after the path.
  std::string url = "file://" + repo_.string();
  Result at = server_.berth({"create", "short-dev", "--repo", url + "@dev"});
  ASSERT_EQ(at.exit_code, 0) << at.err;
  EXPECT_EQ(in("short-dev", {"git", "rev-parse", "--abbrev-ref", "HEAD"}), "dev");
  Json record = info("short-dev");
  EXPECT_EQ(record["repository"], url) << "the record keeps the URL without the shorthand";
  EXPECT_EQ(record["options"]["branch"], "dev");

  Result hash = server_.berth({"create", "short-pr", "--repo", url + "#pull/1/head"});
  ASSERT_EQ(hash.exit_code, 0) << hash.err;
  EXPECT_EQ(in("short-pr", {"git", "rev-parse", "HEAD"}), pull_);
  EXPECT_EQ(info("short-pr")["options"]["ref"], "refs/pull/1/head");

  Result sha = server_.berth({"create", "short-sha", "--repo", url + "#" + first_});
  ASSERT_EQ(sha.exit_code, 0) << sha.err;
  EXPECT_EQ(in("short-sha", {"git", "rev-parse", "HEAD"}), first_);
}

TEST_F(Checkout, WhatTheRemoteDoesNotHaveFailsNamingIt) {
  Result branch = server_.berth({"create", "no-branch", "--repo", repo_.string(), "--branch", "nope"});
  EXPECT_NE(branch.exit_code, 0);
  EXPECT_NE(branch.err.find("nope"), std::string::npos) << branch.err;
  Result ref = server_.berth({"create", "no-ref", "--repo", repo_.string(), "--ref", "refs/pull/99/head"});
  EXPECT_NE(ref.exit_code, 0);
  EXPECT_NE(ref.err.find("the repository serves no ref refs/pull/99/head"), std::string::npos) << ref.err;
  Result commit = server_.berth({"create", "no-commit", "--repo", repo_.string(), "--commit", "0123456789abcdef0123456789abcdef01234567"});
  EXPECT_NE(commit.exit_code, 0);
  EXPECT_NE(commit.err.find("the repository has no commit 0123456789abcdef0123456789abcdef01234567"), std::string::npos) << commit.err;
}

TEST_F(Checkout, ValuesThatAreNotRefsAreRefusedBeforeAnythingIsMade) {
  struct Case {
    std::vector<std::string> args;
    std::string says;
  };
  std::vector<Case> cases{
      {{"--branch", "-x"}, "--branch '-x' may not start with"},
      {{"--branch", "a..b"}, "--branch 'a..b' may not hold '..'"},
      {{"--branch", "x y"}, "--branch 'x y' may hold only"},
      {{"--ref", "pull/1/head"}, "--ref 'pull/1/head' must be a full ref under refs/"},
      {{"--commit", "xyz"}, "--commit 'xyz' must be a commit id"},
      {{"--branch", "dev", "--commit", "abcd"}, "give one of --branch, --commit and --ref"},
      {{"--new-branch"}, "--new-branch needs --branch NAME"},
  };
  for (const auto& each : cases) {
    std::vector<std::string> argv{"create", "refused", "--repo", repo_.string()};
    argv.insert(argv.end(), each.args.begin(), each.args.end());
    Result result = server_.berth(argv);
    EXPECT_EQ(result.exit_code, 2) << each.says << ": " << result.err;
    EXPECT_NE(result.err.find(each.says), std::string::npos) << result.err;
  }
  Result no_repo = server_.berth({"create", "refused", "--branch", "dev"});
  EXPECT_NE(no_repo.err.find("need a repository"), std::string::npos) << no_repo.err;
  // The server checks too (a client other than this CLI): straight to the API.
  std::string body = Json{{"name", "refused"}, {"repository", repo_.string()}, {"options", {{"ref", "../../etc"}}}}.dump();
  std::string raw = berth::test::send_raw(server_.home() / "berth.sock",
                                          "POST /v1/workspaces HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\n"
                                          "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body,
                                          std::chrono::seconds(10));
  EXPECT_EQ(raw.rfind("HTTP/1.1 400", 0), 0u) << raw.substr(0, 300);
  EXPECT_NE(raw.find("must be a full ref under refs/"), std::string::npos) << raw;
  EXPECT_EQ(server_.berth({"list", "-q"}).out, "") << "nothing was made";
}

}  // namespace
