#include "s3_gateway.h"

#include <fmt/format.h>
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <regex>
#include <thread>

namespace pgvault::test {
namespace {

S3Gateway* gateway = nullptr;

std::string Script(const std::string& name) {
  return std::string(PGVAULT_SOURCE_DIR) + "/scripts/s3/" + name;
}

int Shell(const std::string& cmd) { return std::system(cmd.c_str()); }

void Start() {
  auto started = std::make_unique<S3Gateway>(S3Gateway{std::make_unique<TempDir>("rgw"), {}});
  const std::string& dir = started->dir->path();
  // The directory must be empty for the script, and short (unix socket paths).
  bool up = Shell("bash " + Script("start-rgw.sh") + " " + dir + " --memstore >/dev/null 2>" + dir +
                  ".start.log") == 0;
  std::ifstream in(dir + "/env.sh");
  std::string line;
  std::regex export_line(R"(export (\w+)=(.*))");
  std::smatch m;
  while (up && std::getline(in, line))
    if (std::regex_match(line, m, export_line)) {
      std::string value = m[2];
      if (value.size() >= 2 && value.front() == '\'' && value.back() == '\'')
        value = value.substr(1, value.size() - 2);
      started->env[m[1]] = value;
    }
  if (!up || started->env["S3_ENDPOINT"].empty()) {
    std::string log = ReadFile(dir + ".start.log");
    Shell("bash " + Script("stop-rgw.sh") + " " + dir + " >/dev/null 2>&1");
    FAIL() << "the S3 gateway did not start:\n" << log;
  }
  gateway = started.release();
}

}  // namespace

S3Location S3Gateway::Location(const std::string& prefix, const std::string& bucket_var) const {
  return {.url = "s3://" + env.at(bucket_var) + "/" + prefix,
          .env = {"AWS_ACCESS_KEY_ID=" + env.at("S3_ACCESS_KEY"),
                  "AWS_SECRET_ACCESS_KEY=" + env.at("S3_SECRET_KEY"),
                  "AWS_ENDPOINT_URL=" + env.at("S3_ENDPOINT"),
                  "AWS_DEFAULT_REGION=" + env.at("S3_REGION")},
          .options = Options(prefix, bucket_var)};
}

storage::s3::S3Options S3Gateway::Options(const std::string& prefix, const std::string& bucket_var,
                                          bool object_lock) const {
  return {.bucket = env.at(bucket_var),
          .prefix = prefix,
          .endpoint = env.at("S3_ENDPOINT"),
          .region = env.at("S3_REGION"),
          .object_lock = object_lock,
          .credentials = {env.at("S3_ACCESS_KEY"), env.at("S3_SECRET_KEY"), ""}};
}

size_t S3Gateway::LoggedRequests(const std::string& method_and_path) const {
  // The gateway writes its log from a thread of its own: flushed first, every request answered
  // so far is in the file. (Its admin socket's name holds its pid and a random number.)
  Shell(
      fmt::format("ceph --admin-daemon {}/run/ceph-client.rgw.pgvault.{}.*.asok log flush "
                  ">/dev/null 2>&1",
                  dir->path(), Pid()));
  std::string log = ReadFile(dir->path() + "/log/client.rgw.pgvault.log");
  std::string needle = "\"" + method_and_path;
  size_t count = 0;
  for (size_t at = log.find(needle); at != std::string::npos; at = log.find(needle, at + 1))
    ++count;
  return count;
}

pid_t S3Gateway::Pid() const {
  return static_cast<pid_t>(std::stol(ReadFile(dir->path() + "/run/client.rgw.pgvault.pid")));
}

S3Gateway* StartS3Gateway() {
  if (!gateway) Start();
  return gateway;
}

void StopS3Gateway() {
  if (!gateway) return;
  Shell("bash " + Script("stop-rgw.sh") + " " + gateway->dir->path() + " >/dev/null 2>&1");
  delete gateway;
  gateway = nullptr;
}

void KillS3GatewayProcess() {
  pid_t pid = gateway->Pid();
  ::kill(pid, SIGKILL);
  for (int attempt = 0; attempt < 100 && ::kill(pid, 0) == 0; ++attempt)
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
}

void RestartS3GatewayProcess() {
  const std::string& dir = gateway->dir->path();
  ASSERT_EQ(Shell("radosgw -c " + dir + "/ceph.conf -n client.rgw.pgvault >>" + dir +
                  "/log/restart.log 2>&1"),
            0);
  for (int attempt = 0; attempt < 200; ++attempt) {
    if (Shell("curl -so /dev/null --max-time 2 " + gateway->env["S3_ENDPOINT"] + "/") == 0) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  FAIL() << "radosgw did not come back";
}

std::string NewS3Prefix() {
  static int counter = 0;
  return "t" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

std::unique_ptr<TestRepo> RepoStoreTest::NewRepo(RepoCipher cipher,
                                                 const std::vector<std::string>& create_args) {
  if (GetParam() == RepoStore::kPosix) return std::make_unique<TestRepo>(cipher, create_args);
  S3Gateway* s3 = StartS3Gateway();
  if (!s3) throw HarnessError("the S3 gateway did not start");
  return std::make_unique<TestRepo>(cipher, create_args, s3->Location(NewS3Prefix()));
}

std::string RepoStoreName(const ::testing::TestParamInfo<RepoStore>& info) {
  return info.param == RepoStore::kPosix ? "posix" : "s3";
}

}  // namespace pgvault::test
