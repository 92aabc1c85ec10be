#include "common/status.h"

#include <gtest/gtest.h>

namespace pgvault {
namespace {

TEST(ExitCodeTest, EveryCodeHasItsNumber) {
  EXPECT_EQ(ExitCode(Status::Ok()), 0);
  EXPECT_EQ(ExitCode(Status::NotFound("x")), 1);
  EXPECT_EQ(ExitCode(Status::InvalidArgument("x")), 2);
  EXPECT_EQ(ExitCode(Status::Config("x")), 3);
  EXPECT_EQ(ExitCode(Status::Io("x")), 4);
  EXPECT_EQ(ExitCode(Status::Corruption("x")), 5);
  EXPECT_EQ(ExitCode(Status::Unavailable("x")), 6);
  EXPECT_EQ(ExitCode(Status::Conflict("x")), 7);
  EXPECT_EQ(ExitCode(Status::Crypto("x")), 8);
  EXPECT_EQ(ExitCode(Status::Pg("x")), 9);
  EXPECT_EQ(ExitCode(Status::Internal("x")), 10);
  EXPECT_EQ(ExitCode(Status::Warning("x")), 11);
  EXPECT_EQ(ExitCode(Status::CheckFailed("x")), 12);
}

// restore_command's protocol: 1 ends recovery quietly ("not archived"), above 125 stops it.
TEST(ExitCodeTest, ArchiveGetStopsRecoveryUnlessNotArchivedOrStandby) {
  EXPECT_EQ(ArchiveGetExitCode(Status::Ok(), false), 0);
  EXPECT_EQ(ArchiveGetExitCode(Status::NotFound("x"), false), 1);
  EXPECT_EQ(ArchiveGetExitCode(Status::Io("x"), false), 200);
  EXPECT_EQ(ArchiveGetExitCode(Status::Corruption("x"), false), kExitStopRecovery);
  EXPECT_EQ(ArchiveGetExitCode(Status::NotFound("x"), true), 1);
  EXPECT_EQ(ArchiveGetExitCode(Status::Io("x"), true), 4);
  EXPECT_EQ(ArchiveGetExitCode(Status::Corruption("x"), true), 5);
}

}  // namespace
}  // namespace pgvault
