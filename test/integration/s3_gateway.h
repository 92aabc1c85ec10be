// The S3 server of the integration tests: a one-node Ceph RADOS Gateway (scripts/s3/start-rgw.sh
// --memstore) in a scratch directory, started by the suite that needs it and stopped at the
// suite's end. Also the fixture of suites that run the same tests on both kinds of repository
// (a local directory and a bucket prefix on the gateway): TEST_P on a RepoStoreTest subclass,
// instantiated once a store with INSTANTIATE_REPO_STORES, so each store is a suite of its own
// ("Posix/Suite", "S3/Suite": one ctest test each).
//
// Not thread-safe, like the rest of the harness.
#pragma once

#include <gtest/gtest.h>
#include <sys/types.h>

#include <map>
#include <memory>
#include <string>

#include "pg_cluster.h"
#include "storage/s3/s3_storage.h"

namespace pgvault::test {

struct S3Gateway {
  std::unique_ptr<TempDir> dir;
  std::map<std::string, std::string> env;  // S3_ENDPOINT, S3_BUCKET, ... from its env.sh

  // What pgvault needs to reach `bucket_var`'s bucket (S3_BUCKET, S3_LOCK_BUCKET) under prefix:
  // the repository URL, and the credentials, endpoint and region as environment entries (for
  // pgvault and for the servers' archive_command and restore_command alike).
  S3Location Location(const std::string& prefix, const std::string& bucket_var = "S3_BUCKET") const;
  // The same bucket prefix as pgvault's own driver sees it, for checks behind pgvault's back.
  storage::s3::S3Options Options(const std::string& prefix,
                                 const std::string& bucket_var = "S3_BUCKET",
                                 bool object_lock = false) const;
  // How many requests the gateway has answered so far whose method and path start with
  // method_and_path, e.g. "POST /pgvault-test/?delete=" (DeleteObjects) or "DELETE
  // /pgvault-test/PREFIX/packs/" (from its access log lines: "METHOD /PATH HTTP/1.1" STATUS).
  size_t LoggedRequests(const std::string& method_and_path) const;
  pid_t Pid() const;
};

// The running gateway; starts it on the first call (a failed start is a test failure, and then
// nullptr). StopS3Gateway stops it and removes its directory; a no-op when none runs.
S3Gateway* StartS3Gateway();
void StopS3Gateway();
// The gateway process only (the cluster, with its data, stays), and its restart.
void KillS3GatewayProcess();
void RestartS3GatewayProcess();

// A fresh bucket prefix for each repository of a test process: repositories never share objects.
std::string NewS3Prefix();

enum class RepoStore { kPosix, kS3 };

class RepoStoreTest : public ::testing::TestWithParam<RepoStore> {
 protected:
  static void TearDownTestSuite() { StopS3Gateway(); }
  // A repository on this suite's store (S3: a new prefix of the plain bucket, the gateway
  // started when it is not running yet).
  std::unique_ptr<TestRepo> NewRepo(RepoCipher cipher,
                                    const std::vector<std::string>& create_args = {});
};

std::string RepoStoreName(const ::testing::TestParamInfo<RepoStore>& info);

}  // namespace pgvault::test

// Instantiates the TEST_Ps of `suite` (a RepoStoreTest) once for each store.
#define INSTANTIATE_REPO_STORES(suite)                                                          \
  INSTANTIATE_TEST_SUITE_P(Posix, suite, ::testing::Values(::pgvault::test::RepoStore::kPosix), \
                           ::pgvault::test::RepoStoreName);                                     \
  INSTANTIATE_TEST_SUITE_P(S3, suite, ::testing::Values(::pgvault::test::RepoStore::kS3),       \
                           ::pgvault::test::RepoStoreName)
