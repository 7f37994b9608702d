// An operation's result is a field, never a sentence (issue 23, point 1): a follow of the
// operation's log ends with its typed outcome after a record separator (0x1E), and the CLI acts
// on that, not on the log's wording.
#include "http_client.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <thread>

namespace fs = std::filesystem;
using berth::test::Result;
using berth::test::ServerHome;
using Json = nlohmann::json;

namespace {

// The outcome line of a followed log, parsed; null when there is none.
Json outcome_of(const std::string& followed) {
  size_t at = followed.rfind('\x1e');
  if (at == std::string::npos) return Json();
  return Json::parse(followed.substr(at + 1), nullptr, false);
}

class Outcome : public ::testing::Test {
 protected:
  berth::HttpResponse request(const std::string& method, const std::string& path, const std::string& body = "") {
    berth::HttpClient client("unix://" + (server.home() / "berth.sock").string());
    if (!body.empty()) client.set_header("Content-Type", "application/json");
    return client.request(method, path, body);
  }
  // Starts an operation and follows its log to the end with ?outcome=true.
  std::string follow(const berth::HttpResponse& accepted, const std::string& name) {
    std::string ticket = accepted.header("x-berth-log-ticket");
    EXPECT_FALSE(ticket.empty()) << accepted.body;
    return request("GET", "/v1/workspaces/" + name + "/logs?follow=true&offset=" + accepted.header("x-berth-log-offset") +
                              "&until=" + ticket + "&outcome=true")
        .body;
  }
  ServerHome server;
};

TEST_F(Outcome, AFollowEndsWithTheOperationsTypedResult) {
  berth::test::TempDir repo_dir;
  fs::path repo = berth::test::make_git_repo(repo_dir.path() / "repo", "first");
  auto created = request("POST", "/v1/workspaces", Json{{"name", "ok"}, {"repository", repo.string()}}.dump());
  ASSERT_EQ(created.status, 202) << created.body;
  std::string followed = follow(created, "ok");
  Json outcome = outcome_of(followed);
  ASSERT_TRUE(outcome.is_object()) << followed;
  EXPECT_EQ(outcome["operation"], "create");
  EXPECT_EQ(outcome["ok"], true);
  EXPECT_EQ(outcome["deleted"], false);
  EXPECT_EQ(outcome["workspace"]["state"], "started") << "the record as it ended, without asking again";
  EXPECT_EQ(followed.find('\x1e'), followed.rfind('\x1e')) << "one outcome, at the end";
  EXPECT_EQ(berth::test::read_text(server.home() / "logs" / "workspaces" / "ok.log").find('\x1e'), std::string::npos)
      << "the outcome is not in the log file";

  // A failure: its code and message as fields, the record in error.
  auto failing = request("POST", "/v1/workspaces", Json{{"name", "bad"}, {"repository", (repo_dir.path() / "nothing-here").string()}}.dump());
  ASSERT_EQ(failing.status, 202) << failing.body;
  Json failed = outcome_of(follow(failing, "bad"));
  ASSERT_TRUE(failed.is_object());
  EXPECT_EQ(failed["ok"], false);
  EXPECT_FALSE(failed.value("code", "").empty()) << failed.dump();
  EXPECT_FALSE(failed.value("message", "").empty()) << failed.dump();
  EXPECT_EQ(failed["workspace"]["state"], "error");

  // A forced delete: deleted, and said so as a field.
  auto deleted = request("DELETE", "/v1/workspaces/bad?force=true");
  ASSERT_EQ(deleted.status, 202) << deleted.body;
  Json gone = outcome_of(follow(deleted, "bad"));
  EXPECT_EQ(gone["operation"], "delete");
  EXPECT_EQ(gone["deleted"], true);
  EXPECT_FALSE(gone.contains("workspace"));

  // Without ?outcome=true the follow is the log alone, as before.
  auto stopped = request("POST", "/v1/workspaces/ok/stop");
  ASSERT_EQ(stopped.status, 202);
  std::string plain = request("GET", "/v1/workspaces/ok/logs?follow=true&until=" + stopped.header("x-berth-log-ticket")).body;
  EXPECT_EQ(plain.find('\x1e'), std::string::npos) << plain;
}

// The CLI reads the outcome: `berth logs -f` of a failed operation exits 1 because the outcome
// says so, and a create's failure is the record's last_error, word for word.
TEST_F(Outcome, TheCliActsOnTheOutcome) {
  berth::test::TempDir dir;
  Result failed = server.berth({"create", "gone", "--repo", "file://" + (dir.path() / "missing").string()});
  EXPECT_EQ(failed.exit_code, 1) << failed.err;
  Json record = Json::parse(server.berth({"info", "gone", "-o", "json"}).out);
  EXPECT_NE(failed.err.find(record["last_error"].get<std::string>()), std::string::npos) << failed.err;
  Result followed = server.berth({"logs", "-f", "gone"});
  EXPECT_EQ(followed.exit_code, 1) << followed.out;
  EXPECT_EQ(followed.out.find('\x1e'), std::string::npos) << "the outcome is never printed";
  ASSERT_EQ(server.berth({"delete", "--force", "gone"}).exit_code, 0);
}

}  // namespace

// Every saved or removed record is pushed on GET /v1/events (server-sent events), so a view of
// the list follows `berth stop` without polling; Last-Event-ID resumes where a client left off.
namespace {

// Reads the event stream from the socket until text holds every fragment, or the deadline.
std::string read_events_until(const fs::path& socket, const std::string& query, const std::vector<std::string>& fragments,
                              std::chrono::milliseconds deadline) {
  return berth::test::send_raw(socket, "GET /v1/events" + query + " HTTP/1.1\r\nHost: berth\r\n\r\n", deadline, [&](const std::string& text) {
    return std::all_of(fragments.begin(), fragments.end(), [&](const std::string& f) { return text.find(f) != std::string::npos; });
  });
}

TEST(Events, EveryRecordChangeIsPushed) {
  ServerHome server;
  fs::path socket = server.home() / "berth.sock";
  std::string before;
  std::thread watcher([&] {
    before = read_events_until(socket, "", {R"("name":"ev")", R"("state":"stopped")", "event: deleted"}, std::chrono::seconds(30));
  });
  // The watcher is connected when its first idle comment or event could come; a create before
  // that is seen through ?after=0 below, so no ordering is assumed here.
  ASSERT_EQ(server.berth({"create", "ev", "-q"}).exit_code, 0);
  ASSERT_EQ(server.berth({"stop", "ev", "-q"}).exit_code, 0);
  ASSERT_EQ(server.berth({"delete", "ev", "-q"}).exit_code, 0);
  std::string replay = read_events_until(socket, "?after=0", {R"("state":"creating")", R"("state":"stopped")", "event: deleted"},
                                         std::chrono::seconds(10));
  watcher.join();
  EXPECT_NE(replay.find("Content-Type: text/event-stream"), std::string::npos) << replay;
  for (const char* fragment : {R"("state":"creating")", R"("state":"started")", R"("state":"stopping")", R"("state":"stopped")",
                               "event: deleted\ndata: {\"name\":\"ev\"}"}) {
    EXPECT_NE(replay.find(fragment), std::string::npos) << fragment << " in:\n" << replay;
  }
  // Resuming after the stopped event gives only what came after it: the delete.
  size_t stopped = replay.find(R"("state":"stopped")");
  size_t id_at = replay.rfind("id: ", stopped);
  ASSERT_NE(id_at, std::string::npos);
  std::string id = replay.substr(id_at + 4, replay.find('\n', id_at) - id_at - 4);
  std::string resumed = read_events_until(socket, "?after=" + id, {"event: deleted"}, std::chrono::seconds(10));
  EXPECT_NE(resumed.find("event: deleted"), std::string::npos) << resumed;
  EXPECT_EQ(resumed.find(R"("state":"stopped")"), std::string::npos) << "resumed after it: " << resumed;
  EXPECT_EQ(berth::test::send_raw(socket, "GET /v1/events?after=x HTTP/1.1\r\nHost: b\r\n\r\n", std::chrono::seconds(5)).find("400"), 9u);
}

}  // namespace
