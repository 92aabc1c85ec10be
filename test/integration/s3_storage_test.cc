// The Storage contract against a real S3 server: Ceph's RADOS Gateway, started once for this
// suite by scripts/s3/start-rgw.sh (memstore) in a temporary directory on loopback, and the
// fault-injecting HTTP proxy of s3_fault_proxy.h for the retry paths.
#include "storage/s3/s3_storage.h"

#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "common/time.h"
#include "s3_fault_proxy.h"
#include "storage/storage.h"

namespace pgvault::storage::s3 {
namespace {

using std::chrono::steady_clock;
using test::S3Fault;
using test::S3FaultProxy;

std::string RunCapture(const std::string& command, int& exit_code) {
  std::string out;
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) {
    exit_code = -1;
    return out;
  }
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  int rc = pclose(pipe);
  exit_code = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
  return out;
}

Bytes Pattern(size_t size, uint32_t seed) {
  Bytes out(size);
  uint32_t x = seed * 2654435761u + 1;
  for (size_t byte_idx = 0; byte_idx < size; ++byte_idx) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    out[byte_idx] = static_cast<uint8_t>(x);
  }
  return out;
}

class S3StorageTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/pgvault-s3-XXXXXX";  // short: Ceph's socket paths are limited
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = new std::string(tmpl);
    env_ = new std::map<std::string, std::string>();
    int rc = 0;
    std::string out =
        RunCapture(fmt::format("'{}/scripts/s3/start-rgw.sh' '{}' --memstore --size 2 2>'{}.log'",
                               PGVAULT_SOURCE_DIR, *dir_, *dir_),
                   rc);
    ASSERT_EQ(rc, 0) << "start-rgw.sh failed; see " << *dir_ << ".log";
    size_t pos = 0;
    while ((pos = out.find("export ", pos)) != std::string::npos) {
      size_t eq = out.find('=', pos);
      size_t nl = out.find('\n', eq);
      (*env_)[out.substr(pos + 7, eq - pos - 7)] = out.substr(eq + 1, nl - eq - 1);
      pos = nl;
    }
    ASSERT_FALSE(Env("S3_ENDPOINT").empty());
    ASSERT_FALSE(Env("S3_SECRET_KEY").empty());
  }

  static void TearDownTestSuite() {
    if (dir_ == nullptr) return;
    int rc = 0;
    RunCapture(fmt::format("'{}/scripts/s3/stop-rgw.sh' '{}' --purge 2>/dev/null",
                           PGVAULT_SOURCE_DIR, *dir_),
               rc);
    std::filesystem::remove_all(*dir_);
    std::filesystem::remove(*dir_ + ".log");
    delete dir_;
    delete env_;
    dir_ = nullptr;
  }

  static std::string Env(const std::string& name) {
    auto it = env_->find(name);
    return it == env_->end() ? "" : it->second;
  }
  static int GatewayPort() {
    std::string endpoint = Env("S3_ENDPOINT");
    return std::stoi(endpoint.substr(endpoint.rfind(':') + 1));
  }

  static S3Options Options(const std::string& prefix, bool lock_bucket = false) {
    S3Options o;
    o.bucket = lock_bucket ? Env("S3_LOCK_BUCKET") : Env("S3_BUCKET");
    o.prefix = prefix;
    o.endpoint = Env("S3_ENDPOINT");
    o.region = Env("S3_REGION");
    o.credentials = {Env("S3_ACCESS_KEY"), Env("S3_SECRET_KEY"), ""};
    o.object_lock = lock_bucket;
    o.retry_base_ms = 10;
    return o;
  }
  static std::unique_ptr<S3Storage> Make(S3Options o) {
    Result<std::unique_ptr<S3Storage>> s = S3Storage::Open(std::move(o));
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() ? std::move(s).value() : nullptr;
  }

  static std::string* dir_;
  static std::map<std::string, std::string>* env_;
};

std::string* S3StorageTest::dir_ = nullptr;
std::map<std::string, std::string>* S3StorageTest::env_ = nullptr;

TEST_F(S3StorageTest, PutGetRangeStatDelete) {
  auto s = Make(Options("basic"));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->Describe(), "s3://pgvault-test/basic");
  Features f = s->features();
  EXPECT_TRUE(f.atomic_if_absent);
  EXPECT_FALSE(f.object_lock);
  EXPECT_FALSE(f.local);

  Bytes data = Pattern(1000, 1);
  ASSERT_TRUE(s->Put("dir/sub/obj 1+", data).ok());
  Result<Bytes> got = s->Get("dir/sub/obj 1+");
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_EQ(*got, data);

  Result<Bytes> part = s->Get("dir/sub/obj 1+", Range{.offset = 10, .length = 20});
  ASSERT_TRUE(part.ok()) << part.status().ToString();
  EXPECT_EQ(*part, Bytes(data.begin() + 10, data.begin() + 30));
  Result<Bytes> tail = s->Get("dir/sub/obj 1+", Range{.offset = 990});
  ASSERT_TRUE(tail.ok());
  EXPECT_EQ(*tail, Bytes(data.begin() + 990, data.end()));
  Result<Bytes> beyond = s->Get("dir/sub/obj 1+", Range{.offset = 995, .length = 100});
  ASSERT_TRUE(beyond.ok());
  EXPECT_EQ(*beyond, Bytes(data.begin() + 995, data.end()));
  Result<Bytes> past = s->Get("dir/sub/obj 1+", Range{.offset = 5000, .length = 10});
  ASSERT_TRUE(past.ok()) << past.status().ToString();
  EXPECT_TRUE(past->empty());

  Result<ObjectInfo> info = s->Stat("dir/sub/obj 1+");
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->key, "dir/sub/obj 1+");
  EXPECT_EQ(info->size, 1000u);
  EXPECT_LE(std::abs(info->mtime_unix - NowUnixMicros() / 1000000), 120);

  ASSERT_TRUE(s->Put("empty", Bytes()).ok());
  Result<Bytes> empty = s->Get("empty");
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE(empty->empty());

  Result<Bytes> missing = s->Get("nope");
  EXPECT_EQ(missing.status().code(), Code::kNotFound);
  EXPECT_EQ(missing.status().message(), "'s3://pgvault-test/basic/nope' not found");
  EXPECT_EQ(s->Stat("nope").status().code(), Code::kNotFound);

  ASSERT_TRUE(s->Delete("dir/sub/obj 1+").ok());
  EXPECT_TRUE(s->Delete("dir/sub/obj 1+").ok()) << "deleting a missing key is OK";
  EXPECT_EQ(s->Get("dir/sub/obj 1+").status().code(), Code::kNotFound);
}

TEST_F(S3StorageTest, VirtualHostedStyleAddressing) {
  // curl resolves *.localhost to loopback itself; the gateway's "rgw dns name" is localhost.
  S3Options o = Options("host-style");
  o.endpoint = fmt::format("http://localhost:{}", GatewayPort());
  o.uri_style = "host";
  auto s = Make(o);
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->Put("a b/c", AsBytes("hosted")).ok());
  Result<std::vector<ObjectInfo>> listed = s->List("");
  ASSERT_TRUE(listed.ok()) << listed.status().ToString();
  ASSERT_EQ(listed->size(), 1u);
  EXPECT_EQ(listed->front().key, "a b/c");
  auto path_style = Make(Options("host-style"));
  EXPECT_EQ(AsString(*path_style->Get("a b/c")), "hosted");
}

TEST_F(S3StorageTest, IfAbsentConflicts) {
  auto s = Make(Options("absent"));
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->Put("k", AsBytes("first"), PutOptions{.if_absent = true}).ok());
  Status second = s->Put("k", AsBytes("second"), PutOptions{.if_absent = true});
  EXPECT_EQ(second.code(), Code::kConflict);
  EXPECT_EQ(second.message(), "'s3://pgvault-test/absent/k' already exists");
  EXPECT_EQ(AsString(*s->Get("k")), "first");
  ASSERT_TRUE(s->Put("k", AsBytes("third")).ok()) << "a plain Put replaces";
  EXPECT_EQ(AsString(*s->Get("k")), "third");
}

TEST_F(S3StorageTest, ListPaginatesPastOneThousandAndDeleteManyBatches) {
  auto s = Make(Options("list/repo"));
  auto other = Make(Options("list/repo-other"));
  ASSERT_TRUE(s && other);
  ASSERT_TRUE(other->Put("many/0000", AsBytes("x")).ok());
  constexpr int kKeys = 1100;
  std::vector<std::string> keys;
  for (int key_idx = kKeys - 1; key_idx >= 0; --key_idx)
    keys.push_back(fmt::format("many/{:04}", key_idx));
  std::atomic<int> next{0}, failures{0};
  std::vector<std::thread> threads;
  for (int thread_idx = 0; thread_idx < 8; ++thread_idx)
    threads.emplace_back([&] {
      for (int i; (i = next++) < kKeys;)
        if (!s->Put(keys[i], AsBytes(keys[i])).ok()) ++failures;
    });
  for (auto& t : threads) t.join();
  ASSERT_EQ(failures, 0);
  ASSERT_TRUE(s->Put("few/a", AsBytes("a")).ok());

  Result<std::vector<ObjectInfo>> all = s->List("many/");
  ASSERT_TRUE(all.ok()) << all.status().ToString();
  ASSERT_EQ(all->size(), static_cast<size_t>(kKeys));
  for (int key_idx = 0; key_idx < kKeys; ++key_idx) {
    EXPECT_EQ((*all)[key_idx].key, fmt::format("many/{:04}", key_idx));
    EXPECT_EQ((*all)[key_idx].size, 9u);
  }
  Result<std::vector<ObjectInfo>> whole = s->List("");
  ASSERT_TRUE(whole.ok());
  EXPECT_EQ(whole->size(), static_cast<size_t>(kKeys + 1)) << "repo-other must not show";
  EXPECT_EQ(whole->back().key, "many/1099");
  EXPECT_EQ(whole->front().key, "few/a");
  Result<std::vector<ObjectInfo>> some = s->List("many/105");
  ASSERT_TRUE(some.ok());
  EXPECT_EQ(some->size(), 10u);
  Result<std::vector<ObjectInfo>> none = s->List("nothing/");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());

  keys.push_back("many/never-written");
  ASSERT_TRUE(s->DeleteMany(keys).ok());
  Result<std::vector<ObjectInfo>> left = s->List("");
  ASSERT_TRUE(left.ok());
  ASSERT_EQ(left->size(), 1u);
  EXPECT_EQ(left->front().key, "few/a");
  EXPECT_TRUE(other->Get("many/0000").ok());
}

TEST_F(S3StorageTest, MultipartUploadInParallelParts) {
  S3Options o = Options("multipart");
  o.multipart_threshold = 8 << 20;
  o.part_size = 8 << 20;
  auto s = Make(o);
  ASSERT_TRUE(s);
  Bytes data = Pattern(70 << 20, 7);  // 9 parts, the last one 6 MiB
  auto start = steady_clock::now();
  Status put = s->Put("big", data);
  double put_s = std::chrono::duration<double>(steady_clock::now() - start).count();
  ASSERT_TRUE(put.ok()) << put.ToString();
  Result<ObjectInfo> info = s->Stat("big");
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->size, data.size());
  start = steady_clock::now();
  Result<Bytes> got = s->Get("big");
  double get_s = std::chrono::duration<double>(steady_clock::now() - start).count();
  ASSERT_TRUE(got.ok()) << got.status().ToString();
  EXPECT_TRUE(*got == data);
  std::printf("70 MiB: multipart PUT %.0f MB/s, GET %.0f MB/s\n", 70 * 1.048576 / put_s,
              70 * 1.048576 / get_s);
  // Across the boundary of parts 1 and 2.
  Result<Bytes> across = s->Get("big", Range{.offset = (8 << 20) - 100, .length = 200});
  ASSERT_TRUE(across.ok());
  EXPECT_TRUE(*across == Bytes(data.begin() + (8 << 20) - 100, data.begin() + (8 << 20) + 100));

  Status again = s->Put("big", data, PutOptions{.if_absent = true});
  EXPECT_EQ(again.code(), Code::kConflict);
  EXPECT_EQ(again.message(), "'s3://pgvault-test/multipart/big' already exists");
  ASSERT_TRUE(s->Delete("big").ok());
}

TEST_F(S3StorageTest, MultipartFailureAbortsTheUpload) {
  S3FaultProxy proxy(Env("S3_ENDPOINT"));
  proxy.SetPlan({{.target = "partNumber=2&", .faults = {S3Fault::kAccessDenied403}}});
  S3Options o = Options("multipart-abort");
  o.endpoint = proxy.endpoint();
  o.multipart_threshold = 5 << 20;
  o.part_size = 5 << 20;
  o.upload_threads = 1;
  auto s = Make(o);
  ASSERT_TRUE(s);
  Status put = s->Put("obj", Pattern(12 << 20, 3));
  EXPECT_EQ(put.code(), Code::kIo);
  EXPECT_EQ(put.message(),
            "part 2 of 3: s3 PUT 's3://pgvault-test/multipart-abort/obj' refused: "
            "HTTP 403 AccessDenied: injected");
  std::vector<test::S3ProxiedRequest> requests = proxy.Requests();
  ASSERT_FALSE(requests.empty());
  EXPECT_EQ(requests.back().method, "DELETE");
  EXPECT_TRUE(requests.back().target.starts_with("/pgvault-test/multipart-abort/obj?uploadId="))
      << requests.back().target;
  EXPECT_EQ(s->Stat("obj").status().code(), Code::kNotFound);
}

// A multipart upload whose completion and abort both failed (as a writer killed between its
// parts and its completion leaves it): invisible to List, found and aborted by
// RemoveAbandonedWrites once older than the cutoff, and only then.
TEST_F(S3StorageTest, AbandonedMultipartUploadsAreAbortedOnlyOnceOld) {
  S3FaultProxy proxy(Env("S3_ENDPOINT"));
  proxy.SetPlan(
      {{.method = "POST", .target = "?uploadId=", .faults = {S3Fault::kAccessDenied403}},
       {.method = "DELETE", .target = "?uploadId=", .faults = {S3Fault::kAccessDenied403}}});
  S3Options o = Options("multipart-abandoned");
  o.endpoint = proxy.endpoint();
  o.multipart_threshold = 5 << 20;
  o.part_size = 5 << 20;
  auto s = Make(o);
  ASSERT_TRUE(s);
  ASSERT_FALSE(s->Put("packs/ab/abandoned", Pattern(7 << 20, 5)).ok());
  proxy.SetPlan({});
  EXPECT_TRUE(s->List("")->empty());
  int64_t now = std::time(nullptr);
  auto young = s->RemoveAbandonedWrites(now - 3600, false);
  ASSERT_TRUE(young.ok()) << young.status().ToString();
  EXPECT_EQ(young->count, 0u);
  // Another prefix's uploads are not ours.
  auto other = Make(Options("multipart-abandoned-other"));
  ASSERT_TRUE(other);
  EXPECT_EQ(other->RemoveAbandonedWrites(now + 60, false)->count, 0u);
  auto dry = s->RemoveAbandonedWrites(now + 60, true);
  ASSERT_TRUE(dry.ok()) << dry.status().ToString();
  EXPECT_EQ(dry->count, 1u);
  auto removed = s->RemoveAbandonedWrites(now + 60, false);
  ASSERT_TRUE(removed.ok()) << removed.status().ToString();
  EXPECT_EQ(removed->count, 1u);
  EXPECT_EQ(s->RemoveAbandonedWrites(now + 60, false)->count, 0u);  // aborted for good
}

TEST_F(S3StorageTest, ObjectLockRefusesDeletingALockedVersion) {
  auto s = Make(Options("locked", /*lock_bucket=*/true));
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->features().object_lock);
  int64_t now = NowUnixMicros() / 1000000;
  ASSERT_TRUE(s->Put("wal/1", AsBytes("precious"), PutOptions{.lock_until_unix = now + 3600}).ok());
  Result<std::string> version = s->CurrentVersion("wal/1");
  ASSERT_TRUE(version.ok()) << version.status().ToString();
  ASSERT_NE(*version, "null");

  Status refused = s->DeleteVersion("wal/1", *version);
  EXPECT_EQ(refused.code(), Code::kIo);
  EXPECT_EQ(refused.message(),
            "s3 DELETE 's3://pgvault-lock/locked/wal/1' refused: HTTP 403 AccessDenied: "
            "forbidden by object lock");
  EXPECT_EQ(s->PutRetention("wal/1", now + 60).code(), Code::kIo) << "shortening is refused";
  EXPECT_TRUE(s->PutRetention("wal/1", now + 7200).ok()) << "extending is allowed";

  // A plain delete only hides the object behind a delete marker; the version survives.
  ASSERT_TRUE(s->Delete("wal/1").ok());
  EXPECT_EQ(s->Get("wal/1").status().code(), Code::kNotFound);
  EXPECT_EQ(s->DeleteVersion("wal/1", *version).code(), Code::kIo);

  // Legal hold: blocks deleting the version until released.
  ASSERT_TRUE(s->Put("held", AsBytes("x")).ok());
  Result<std::string> held = s->CurrentVersion("held");
  ASSERT_TRUE(held.ok());
  ASSERT_TRUE(s->PutLegalHold("held", true).ok());
  EXPECT_EQ(s->DeleteVersion("held", *held).code(), Code::kIo);
  ASSERT_TRUE(s->PutLegalHold("held", false).ok());
  EXPECT_TRUE(s->DeleteVersion("held", *held).ok());
  EXPECT_EQ(s->Stat("held").status().code(), Code::kNotFound);
}

TEST_F(S3StorageTest, RetriesSlowDownThenSucceeds) {
  S3FaultProxy proxy(Env("S3_ENDPOINT"));
  proxy.SetPlan({{.limit = 2, .faults = {S3Fault::kSlowDown503}}});
  S3Options o = Options("retry");
  o.endpoint = proxy.endpoint();
  auto s = Make(o);
  ASSERT_TRUE(s);
  ASSERT_TRUE(s->Put("k", AsBytes("after two 503s")).ok());
  EXPECT_EQ(proxy.FaultCount(), 2u);
  std::vector<test::S3ProxiedRequest> requests = proxy.Requests();
  ASSERT_EQ(requests.size(), 3u);
  for (const auto& request : requests)
    EXPECT_EQ(request.method + " " + request.target, "PUT /pgvault-test/retry/k");
  EXPECT_EQ(AsString(*s->Get("k")), "after two 503s");
}

TEST_F(S3StorageTest, RetriesTimeoutsAndResets) {
  S3FaultProxy proxy(Env("S3_ENDPOINT"));
  proxy.SetDelayMs(5000);
  proxy.SetPlan({{.limit = 2, .faults = {S3Fault::kDelayResponse, S3Fault::kResetRequest}}});
  S3Options o = Options("retry");
  o.endpoint = proxy.endpoint();
  o.http.request_timeout_ms = 1000;
  auto s = Make(o);
  ASSERT_TRUE(s);
  auto start = steady_clock::now();
  ASSERT_TRUE(s->Put("slow", AsBytes("late")).ok());
  EXPECT_LT(steady_clock::now() - start, std::chrono::seconds(4)) << "the 1 s timeout fired";
  EXPECT_EQ(proxy.FaultCount(), 2u);
  EXPECT_EQ(proxy.RequestCount(), 3u);
  EXPECT_EQ(AsString(*s->Get("slow")), "late");
}

TEST_F(S3StorageTest, GivesUpAfterMaxAttemptsNamingTheObject) {
  S3FaultProxy proxy(Env("S3_ENDPOINT"));
  proxy.SetPlan({{.faults = {S3Fault::kSlowDown503}}});
  S3Options o = Options("retry");
  o.endpoint = proxy.endpoint();
  o.max_attempts = 3;
  auto s = Make(o);
  ASSERT_TRUE(s);
  Status put = s->Put("exhausted", AsBytes("never"));
  EXPECT_EQ(put.code(), Code::kUnavailable);
  EXPECT_TRUE(put.retryable());
  EXPECT_EQ(put.message(),
            "s3 PUT 's3://pgvault-test/retry/exhausted' failed after 3 attempts: "
            "HTTP 503 SlowDown: Please reduce your request rate.");
  EXPECT_EQ(proxy.RequestCount(), 3u);
}

TEST_F(S3StorageTest, WrongSecretIsRefusedWithoutRetries) {
  S3Options o = Options("auth");
  o.credentials.secret_access_key = "not-the-secret";
  auto s = Make(o);
  ASSERT_TRUE(s);
  Status put = s->Put("k", AsBytes("x"));
  EXPECT_EQ(put.code(), Code::kIo);
  EXPECT_EQ(put.message(),
            "s3 PUT 's3://pgvault-test/auth/k' refused: HTTP 403 SignatureDoesNotMatch");
  EXPECT_EQ(put.message().find("not-the-secret"), std::string::npos);
}

// check's clock skew: the gateway's Date header, also on a refused request (a far-off clock
// gets 403 RequestTimeTooSkewed, which still carries the server's time).
TEST_F(S3StorageTest, ServerTimeComesFromTheDateHeaderWhateverTheStatus) {
  auto s = Make(Options("clock"));
  ASSERT_TRUE(s);
  int64_t before = NowUnixMicros() / 1000000;
  Result<std::optional<int64_t>> t = s->ServerTimeUnix();
  int64_t after = NowUnixMicros() / 1000000;
  ASSERT_TRUE(t.ok()) << t.status().ToString();
  ASSERT_TRUE(t->has_value());
  // The gateway runs on this machine: its clock is ours, to the Date header's whole second.
  EXPECT_GE(**t, before - 1);
  EXPECT_LE(**t, after + 1);
  S3Options o = Options("clock");
  o.credentials.secret_access_key = "not-the-secret";
  auto refused = Make(o);
  ASSERT_TRUE(refused);
  Result<std::optional<int64_t>> t2 = refused->ServerTimeUnix();
  ASSERT_TRUE(t2.ok()) << t2.status().ToString();
  ASSERT_TRUE(t2->has_value());
  EXPECT_LE(std::abs(**t2 - after), 2);
}

TEST_F(S3StorageTest, OpenStorageRoutesS3Urls) {
  setenv("AWS_ACCESS_KEY_ID", Env("S3_ACCESS_KEY").c_str(), 1);
  setenv("AWS_SECRET_ACCESS_KEY", Env("S3_SECRET_KEY").c_str(), 1);
  OpenOptions options{.s3_endpoint = Env("S3_ENDPOINT"), .s3_region = Env("S3_REGION")};
  Result<std::unique_ptr<Storage>> repo = OpenStorage("s3://pgvault-test/open/repo/", options);
  ASSERT_TRUE(repo.ok()) << repo.status().ToString();
  EXPECT_EQ((*repo)->Describe(), "s3://pgvault-test/open/repo");
  ASSERT_TRUE((*repo)->Put("a", AsBytes("via OpenStorage")).ok());
  auto direct = Make(Options("open"));
  EXPECT_EQ(AsString(*direct->Get("repo/a")), "via OpenStorage");

  Result<std::unique_ptr<Storage>> no_bucket = OpenStorage("s3:///x", options);
  EXPECT_EQ(no_bucket.status().code(), Code::kConfig);
  options.s3_endpoint = "http://s3.example.com";
  Result<std::unique_ptr<Storage>> plain = OpenStorage("s3://b/p", options);
  EXPECT_EQ(plain.status().code(), Code::kConfig);
  EXPECT_EQ(plain.status().message(),
            "S3 endpoint 'http://s3.example.com' is plain http and not on this machine");
  unsetenv("AWS_ACCESS_KEY_ID");
  unsetenv("AWS_SECRET_ACCESS_KEY");
  unsetenv("PGVAULT_S3_KEY");
  options.s3_endpoint = Env("S3_ENDPOINT");
  Result<std::unique_ptr<Storage>> no_keys = OpenStorage("s3://b/p", options);
  EXPECT_EQ(no_keys.status().code(), Code::kConfig);
  EXPECT_EQ(no_keys.status().message(),
            "no S3 credentials: an access key and its secret are needed");
}

}  // namespace
}  // namespace pgvault::storage::s3
