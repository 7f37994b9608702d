// berth-agent's reading of a container's /etc/passwd and /etc/group (providers/docker/agent/
// users.hpp), against files written here, and its frames (wire.hpp). The same resolution
// against the engine's (runc's) is in tests/integration/agent_docker_test.cpp.
#include "agent/users.hpp"
#include "agent/wire.hpp"
#include "test_support.hpp"

#include <gtest/gtest.h>

#include <fstream>

using berth_agent::Identity;
using berth_agent::resolve_identity;

namespace {

class AgentUsers : public ::testing::Test {
 protected:
  void SetUp() override {
    std::ofstream(passwd_) << "# a comment\n"
                              "root:x:0:0:root:/root:/bin/bash\n"
                              "dev:x:1000:1000:dev:/home/dev:/bin/zsh\n"
                              "broken:x:notanumber:1:::\n"
                              "nohome:x:1001:1001::::\n";
    std::ofstream(group_) << "root:x:0:\n"
                             "dev:x:1000:\n"
                             "docker:x:999:dev,other\n"
                             "wheel:x:10:other,dev\n"
                             "nohome:x:1001:\n";
  }
  bool resolve(const std::string& spec, Identity& identity, std::string& error) {
    return resolve_identity(spec, identity, error, passwd_.string(), group_.string());
  }
  berth::test::TempDir dir_;
  std::filesystem::path passwd_ = dir_.path() / "passwd", group_ = dir_.path() / "group";
};

TEST_F(AgentUsers, ANameGivesItsIdsHomeShellAndGroups) {
  Identity id;
  std::string error;
  ASSERT_TRUE(resolve("dev", id, error)) << error;
  EXPECT_EQ(id.uid, 1000u);
  EXPECT_EQ(id.gid, 1000u);
  EXPECT_EQ(id.home, "/home/dev");
  EXPECT_EQ(id.shell, "/bin/zsh");
  EXPECT_EQ(id.groups, (std::vector<gid_t>{1000, 999, 10}));
}

TEST_F(AgentUsers, EmptyIsRootAndANumberIsFoundByUid) {
  Identity id;
  std::string error;
  ASSERT_TRUE(resolve("", id, error));
  EXPECT_EQ(id.name, "root");
  EXPECT_EQ(id.home, "/root");
  ASSERT_TRUE(resolve("1000", id, error));
  EXPECT_EQ(id.name, "dev");
  EXPECT_EQ(id.groups.size(), 3u);
}

TEST_F(AgentUsers, AnUnknownUidIsThatUidWithGroupZeroAndHomeSlash) {
  Identity id;
  std::string error;
  ASSERT_TRUE(resolve("4242", id, error));
  EXPECT_EQ(id.uid, 4242u);
  EXPECT_EQ(id.gid, 0u);
  EXPECT_EQ(id.home, "/");
  EXPECT_TRUE(id.name.empty());
  EXPECT_EQ(id.groups, (std::vector<gid_t>{0}));
}

TEST_F(AgentUsers, AGroupGivenReplacesTheSupplementaryOnes) {
  Identity id;
  std::string error;
  ASSERT_TRUE(resolve("dev:docker", id, error)) << error;
  EXPECT_EQ(id.gid, 999u);
  EXPECT_EQ(id.groups, (std::vector<gid_t>{999}));
  ASSERT_TRUE(resolve("1000:77", id, error)) << error;
  EXPECT_EQ(id.uid, 1000u);
  EXPECT_EQ(id.gid, 77u);
}

TEST_F(AgentUsers, UnknownNamesAreErrorsSaidAsTheEngineSaysThem) {
  Identity id;
  std::string error;
  EXPECT_FALSE(resolve("nosuch", id, error));
  EXPECT_EQ(error, "unable to find user nosuch: no matching entries in passwd file");
  EXPECT_FALSE(resolve("dev:nosuch", id, error));
  EXPECT_EQ(error, "unable to find group nosuch: no matching entries in group file");
  EXPECT_FALSE(resolve("broken", id, error)) << "an entry whose uid is not a number is skipped";
}

TEST_F(AgentUsers, AnEmptyHomeIsSlashAndMissingFilesLeaveOnlyNumbers) {
  Identity id;
  std::string error;
  ASSERT_TRUE(resolve("nohome", id, error)) << error;
  EXPECT_EQ(id.home, "/");
  ASSERT_TRUE(resolve_identity("0", id, error, (dir_.path() / "none").string(), (dir_.path() / "none").string()));
  EXPECT_EQ(id.uid, 0u);
  EXPECT_FALSE(resolve_identity("root", id, error, (dir_.path() / "none").string(), (dir_.path() / "none").string()));
}

TEST(AgentWire, FramesRoundTripAndAnOversizedLengthIsRefused) {
  std::string buffer;
  berth_agent::append_frame(buffer, berth_agent::stdout_data, "hello");
  berth_agent::append_frame(buffer, berth_agent::exit_code, "3");
  char type = 0;
  std::string payload;
  bool bad = false;
  std::string partial = buffer.substr(0, 7);
  EXPECT_FALSE(berth_agent::take_frame(partial, type, payload, bad)) << "half a frame waits";
  EXPECT_FALSE(bad);
  ASSERT_TRUE(berth_agent::take_frame(buffer, type, payload, bad));
  EXPECT_EQ(type, 'o');
  EXPECT_EQ(payload, "hello");
  ASSERT_TRUE(berth_agent::take_frame(buffer, type, payload, bad));
  EXPECT_EQ(type, 'x');
  EXPECT_EQ(payload, "3");
  EXPECT_TRUE(buffer.empty());
  std::string huge = std::string("o") + '\x7f' + std::string(3, '\xff');
  EXPECT_FALSE(berth_agent::take_frame(huge, type, payload, bad));
  EXPECT_TRUE(bad);
}

}  // namespace
