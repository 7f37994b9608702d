#include "atomic_file.hpp"
#include "record_folder.hpp"
#include "test_support.hpp"

#include <berth/sdk.hpp>

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <csignal>

namespace fs = std::filesystem;
using namespace berth;

namespace {

constexpr WriteStep kSteps[] = {WriteStep::created_temp, WriteStep::wrote_data, WriteStep::synced_data,
                                WriteStep::renamed, WriteStep::synced_folder};

// A write stopped after each step (as a crash there would) leaves the old record or the new
// one, whole; the next load removes the leftovers and never reads them as records.
TEST(AtomicFile, CrashAfterEveryStepLeavesOldOrNewRecord) {
  for (WriteStep stop_at : kSteps) {
    test::TempDir dir;
    RecordFolder folder(dir.path());
    folder.save("api", "state: old\n");
    folder.save("api", "state: new\n", [&](WriteStep step) { return step != stop_at; });
    std::string text = *read_file(folder.path_of("api"));
    bool renamed = stop_at == WriteStep::renamed || stop_at == WriteStep::synced_folder;
    EXPECT_EQ(text, renamed ? "state: new\n" : "state: old\n") << "stopped after step " << static_cast<int>(stop_at);

    auto records = folder.load_all();
    ASSERT_EQ(records.size(), 1u);
    EXPECT_EQ(records[0].name, "api");
    size_t files = std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator());
    EXPECT_EQ(files, 1u) << "leftover temp files must be cleaned at load";
  }
}

TEST(AtomicFile, RecordsAreOwnerOnly) {
  test::TempDir dir;
  RecordFolder(dir.path()).save("api", "x: 1\n");
  struct stat info {};
  ASSERT_EQ(::stat((dir.path() / "api.yaml").c_str(), &info), 0);
  EXPECT_EQ(info.st_mode & 0777, 0600u);
}

TEST(AtomicFile, FailedWriteKeepsOldRecordAndNamesTheFile) {
  test::TempDir dir;
  RecordFolder folder(dir.path());
  folder.save("api", "state: old\n");
  // A file size limit stands in for a full disk: the write fails part way.
  struct rlimit old_limit {};
  ::getrlimit(RLIMIT_FSIZE, &old_limit);
  auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  struct rlimit small = old_limit;
  small.rlim_cur = 16;
  ::setrlimit(RLIMIT_FSIZE, &small);
  std::string big(4096, 'x');
  try {
    folder.save("api", big);
    ADD_FAILURE() << "the write should have failed";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), "unavailable");
    EXPECT_NE(std::string(error.what()).find("api.yaml"), std::string::npos) << error.what();
  }
  ::setrlimit(RLIMIT_FSIZE, &old_limit);
  std::signal(SIGXFSZ, old_handler);
  EXPECT_EQ(*read_file(folder.path_of("api")), "state: old\n");
  EXPECT_EQ(folder.load_all().size(), 1u);
  size_t files = std::distance(fs::directory_iterator(dir.path()), fs::directory_iterator());
  EXPECT_EQ(files, 1u) << "a failed write leaves no temp file";
}

TEST(HomeLock, SecondOwnerIsRefusedWithThePid) {
  test::TempDir dir;
  HomeLock first(dir.path() / "server.lock");
  // flock is per open file description, so a second lock in this process conflicts too.
  try {
    HomeLock second(dir.path() / "server.lock");
    ADD_FAILURE() << "a second lock must be refused";
  } catch (const Error& error) {
    EXPECT_EQ(error.code(), "conflict");
    EXPECT_NE(std::string(error.what()).find("pid " + std::to_string(::getpid())), std::string::npos) << error.what();
  }
}

}  // namespace
