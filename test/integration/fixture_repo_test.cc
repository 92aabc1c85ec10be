// A repository written by an earlier pgvault (test/fixtures/repo-format1, made by
// scripts/make-fixture-repo.sh at the commit named in its made-by file) must still verify,
// list and restore with this build: format changes keep old repositories readable.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>

#include "pg_cluster.h"

namespace pgvault::test {
namespace {

constexpr char kFixtureBackup[] = "20261202-020546F";

TEST(FixtureRepoTest, RepositoryOfFormat1VerifiesListsAndRestoresExactly) {
  namespace fs = std::filesystem;
  TempDir work("fixture");
  const std::string fixture = std::string(PGVAULT_SOURCE_DIR) + "/test/fixtures/repo-format1";
  // Copied as root (the checkout may not be readable by postgres), then handed to postgres; a
  // checkout does not keep the key file's mode 0600.
  fs::copy(fixture, work.Sub("f"), fs::copy_options::recursive);
  ASSERT_EQ(std::system(fmt::format("chown -R postgres: '{}'", work.Sub("f")).c_str()), 0);
  ASSERT_EQ(chmod(work.Sub("f/key").c_str(), 0600), 0);
  const std::vector<std::string> flags = {"--repo", work.Sub("f/repo"), "--key-file",
                                          work.Sub("f/key")};
  auto vault = [&](std::vector<std::string> args) {
    args.insert(args.begin(), flags.begin(), flags.end());
    return RunPgvault(args);
  };

  ProcessResult verified = vault({"verify"});
  EXPECT_EQ(verified.exit_code, 0) << verified.out << verified.err;

  ProcessResult info = vault({"info", "--json"});
  ASSERT_EQ(info.exit_code, 0) << info.err;
  ASSERT_NE(info.out.find(kFixtureBackup), std::string::npos) << info.out;

  ProcessResult restored = vault({"restore", "--pgdata", work.Sub("pg")});
  ASSERT_EQ(restored.exit_code, 0) << restored.out << restored.err;
  auto cluster = PgCluster::Adopt(work.Sub("pg"));
  cluster->WaitForRecoveryEnd();
  std::string expected = ReadFile(work.Sub("f/expected"));
  expected.erase(expected.find_last_not_of('\n') + 1);
  EXPECT_EQ(cluster->Scalar("SELECT count(*) || ' ' || md5(string_agg(id || ':' || note, ',' "
                            "ORDER BY id)) FROM fixture"),
            expected);
}

}  // namespace
}  // namespace pgvault::test
