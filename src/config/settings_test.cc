#include "config/settings.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>

#include "cli/args.h"
#include "config/forward.h"

namespace pgvault::config {
namespace {

EnvLookup NoEnv() {
  return [](const char*) -> const char* { return nullptr; };
}

TEST(OptionTableTest, NamesAreUniqueAndEveryDefaultPassesItsOwnChecks) {
  std::set<std::string_view> names;
  for (const auto& spec : OptionTable()) {
    EXPECT_TRUE(names.insert(spec.name).second) << spec.name;
    EXPECT_NE(spec.commands, 0u) << spec.name;
    EXPECT_FALSE(spec.help.empty()) << spec.name;
    if (!spec.allowed.empty()) {
      EXPECT_EQ(TypeOf(spec), Type::kString) << spec.name;
    }
    if (spec.min < spec.max) {
      EXPECT_EQ(TypeOf(spec), Type::kInt) << spec.name;
    }
    Options o;
    if (!spec.default_value.empty()) {
      Status s = SetOption(spec, std::string(spec.default_value), "default", Code::kInternal, o);
      EXPECT_TRUE(s.ok()) << spec.name;
    }
    // What restore forwards, archive-get must take, as one --NAME VALUE pair.
    if (spec.forward != Forward::kNo) {
      EXPECT_TRUE(Takes(spec, Command::kArchiveGet)) << spec.name;
      EXPECT_TRUE(TypeOf(spec) == Type::kString || TypeOf(spec) == Type::kInt) << spec.name;
    }
  }
}

TEST(OptionTableTest, DefaultsComeFromTheTable) {
  Options o = DefaultOptions();
  EXPECT_EQ(o.jobs, 2);
  EXPECT_EQ(o.pg_port, 5432);
  EXPECT_EQ(o.cipher, "aes-256-gcm");
  EXPECT_EQ(o.block_size_kib, 128u);
  EXPECT_EQ(o.gc_grace, 3600);
  EXPECT_EQ(o.s3_uri_style, "path");
  EXPECT_EQ(o.log_level, "warn");
  EXPECT_FALSE(o.json);
  EXPECT_EQ(o.sync_to, 2);
}

TEST(SettingsTest, FlagBeatsEnvironmentBeatsConfigFile) {
  Options o = DefaultOptions();
  ASSERT_TRUE(ApplyConfigText("jobs = 3\npg_port = 6000\nrepo = \"/file\"\n", "f.toml", o).ok());
  EXPECT_EQ(o.jobs, 3);
  EXPECT_EQ(o.pg_port, 6000);
  EXPECT_TRUE(o.pg_port_given);
  std::map<std::string, std::string> env = {{"PGVAULT_JOBS", "4"}, {"PGVAULT_REPO", "/env"}};
  auto lookup = [&env](const char* n) -> const char* {
    auto it = env.find(n);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  auto r = Resolve(Command::kBackup, {{"jobs", "5"}}, lookup);
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(r->jobs, 5);
  EXPECT_EQ(r->repo, "/env");
  EXPECT_FALSE(r->pg_port_given);
}

TEST(SettingsTest, ACommandRejectsAnOptionItDoesNotTake) {
  auto r = Resolve(Command::kBackup, {{"cipher", "none"}}, NoEnv());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.status().message(), "option '--cipher' is not accepted by command 'backup'");
  EXPECT_EQ(r.status().hint(),
            "--cipher is taken by: repo-create; 'pgvault backup --help' lists the options of "
            "backup");
}

TEST(SettingsTest, FlagValuesAreCheckedAgainstTheTable) {
  auto r = Resolve(Command::kBackup, {{"jobs", "0"}}, NoEnv());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.status().message(),
            "invalid value '0' for --jobs: expected an integer from 1 to 256");
}

// How config file `text` is refused: always as a configuration error.
Status ConfigError(const std::string& text) {
  Options o = DefaultOptions();
  Status s = ApplyConfigText(text, "/etc/pgvault.toml", o);
  EXPECT_EQ(s.code(), Code::kConfig) << s.ToString();
  return s;
}

TEST(SettingsTest, UnknownConfigKeyIsRejectedWithTheNearestName) {
  Status s = ConfigError("repo = \"/r\"\njbos = 3\n");
  EXPECT_EQ(s.message(),
            "config file '/etc/pgvault.toml' line 2: unknown option 'jbos', did you mean 'jobs'?");
}

TEST(SettingsTest, ConfigSyntaxErrorNamesTheLine) {
  Status s = ConfigError("repo = \"/r\"\njobs = = 3\n");
  EXPECT_TRUE(s.message().starts_with("config file '/etc/pgvault.toml' line 2, column "))
      << s.message();
  EXPECT_NE(s.message().find("syntax error"), std::string::npos) << s.message();
}

TEST(SettingsTest, ConfigValueOutOfRangeNamesKeyAndLine) {
  Status s = ConfigError("\njobs = 0\n");
  EXPECT_EQ(s.message(),
            "invalid value '0' for 'jobs' in config file '/etc/pgvault.toml' line 2: expected an "
            "integer from 1 to 256");
}

TEST(SettingsTest, SecretsAreNeverReadFromTheConfigFile) {
  Status s = ConfigError("passphrase = \"correct horse battery staple\"\n");
  EXPECT_EQ(s.message(),
            "config file '/etc/pgvault.toml' line 1: 'passphrase' is a secret and is never read "
            "from a config file");
  EXPECT_EQ(s.hint(), "set PGVAULT_PASSPHRASE in pgvault's environment, or use key-file = FILE");
  EXPECT_EQ(s.message().find("horse"), std::string::npos);
}

TEST(SettingsTest, ListsAndBooleansFromTheConfigFile) {
  Options o = DefaultOptions();
  ASSERT_TRUE(ApplyConfigText("tablespace-map = [\"1=/a\", \"2=/b\"]\njson = true\n", "f", o).ok());
  EXPECT_EQ(o.tablespace_map, (std::vector<std::string>{"1=/a", "2=/b"}));
  EXPECT_TRUE(o.json);
}

TEST(SettingsTest, RetentionKeysAsDottedTomlOrFlatNames) {
  Options o = DefaultOptions();
  EXPECT_EQ(o.retention_timezone, "UTC");
  ASSERT_TRUE(ApplyConfigText("retention.daily = \"30d\"\nretention.monthly = \"7y\"\n"
                              "retention-pitr = \"14d\"\n",
                              "f", o)
                  .ok());
  ASSERT_TRUE(ApplyConfigText("[retention]\nweekly = \"12w\"\n", "f", o).ok());
  EXPECT_EQ(o.retention_daily, "30d");
  EXPECT_EQ(o.retention_weekly, "12w");
  EXPECT_EQ(o.retention_monthly, "7y");
  EXPECT_EQ(o.retention_pitr, "14d");
  Status s = ConfigError("retention.dayly = \"30d\"\n");
  EXPECT_EQ(s.message(),
            "config file '/etc/pgvault.toml' line 1: unknown option 'retention-dayly', did you "
            "mean 'retention-daily'?");
  auto r = Resolve(Command::kBackup, {{"tier", "hourly"}}, NoEnv());
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
}

// restore_command for every repository kind, parsed back as archive-get would be: every option
// needed to reach the repository survives the trip.
TEST(SettingsTest, DaemonSectionsAreSkippedAtTopLevelAndReadByName) {
  const char* text =
      "repo = \"/top\"\njobs = 2\n[schedule]\nbackup = \"0 2 * * *\"\n"
      "[cluster.main]\nrepo = \"/main\"\npg-port = 5433\n";
  Options top = DefaultOptions();
  ASSERT_TRUE(ApplyConfigText(text, "d.toml", top).ok());
  EXPECT_EQ(top.repo, "/top");
  Options main = top;
  ASSERT_TRUE(ApplyConfigText(text, "d.toml", main, "cluster.main").ok());
  EXPECT_EQ(main.repo, "/main");
  EXPECT_EQ(main.pg_port, 5433);
  EXPECT_EQ(main.jobs, 2);
  Status missing = ApplyConfigText(text, "d.toml", main, "cluster.other");
  EXPECT_EQ(missing.message(), "config file 'd.toml' has no section '[cluster.other]'");
  Status other = ApplyConfigText("[stanza]\nrepo = \"/x\"\n", "d.toml", top);
  EXPECT_EQ(other.message(),
            "config file 'd.toml' line 1: sections are not supported ('[stanza]')");
}

TEST(ForwardTest, RestoreCommandReachesEveryRepositoryKind) {
  Options posix = DefaultOptions();
  posix.repo = "/srv/repo";
  posix.key_file = "/etc/pgvault/repo.key";
  posix.pgdata = "/var/lib/pg";  // not forwarded
  EXPECT_EQ(RestoreCommand("/usr/bin/pgvault", posix),
            "/usr/bin/pgvault --repo /srv/repo --key-file /etc/pgvault/repo.key archive-get %f "
            "\"%p\"");

  Options s3 = DefaultOptions();
  s3.repo = "s3://bucket/prefix";
  s3.s3_endpoint = "https://s3.example.com:9000";
  s3.s3_region = "eu-west-1";
  s3.s3_uri_style = "host";
  s3.s3_ca_file = "/etc/ssl/my ca.pem";
  s3.s3_timeout = 5;  // a server's restore_command needs the same patience as the restore
  s3.config = ::testing::TempDir() + "pgvault-forward-test.toml";
  std::ofstream(s3.config) << "log-level = \"warn\"\n";
  s3.prefetch = 8;
  s3.jobs = 4;
  EXPECT_EQ(RestoreCommand("/usr/bin/pgvault", s3),
            "/usr/bin/pgvault --repo s3://bucket/prefix --s3-endpoint https://s3.example.com:9000 "
            "--s3-region eu-west-1 --s3-uri-style host --s3-ca-file '/etc/ssl/my ca.pem' "
            "--s3-timeout 5 --jobs 4 --prefetch 8 --config " +
                s3.config + " archive-get %f \"%p\"");

  Options replicated = s3;
  replicated.repo2 = "s3://other/prefix";
  replicated.repo2_s3_endpoint = "https://s3.other.com";
  replicated.repo2_s3_region = "us-east-1";
  replicated.write_policy = "any";  // writes only: not forwarded

  for (const Options* o : {&posix, &s3, &replicated}) {
    std::vector<std::string> words = {"pgvault"};
    for (const auto& w : ForwardedArgs(*o)) words.push_back(w);
    for (const char* w : {"archive-get", "000000010000000000000001", "pg_wal/RECOVERYXLOG"})
      words.push_back(w);
    std::vector<const char*> argv;
    for (const auto& w : words) argv.push_back(w.c_str());
    auto inv = cli::ParseArgs(static_cast<int>(argv.size()), argv.data());
    ASSERT_TRUE(inv.ok()) << inv.status().ToString();
    ASSERT_EQ(inv->command->id, Command::kArchiveGet);
    auto back = Resolve(Command::kArchiveGet, inv->flags, NoEnv());
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    for (const auto& spec : OptionTable())
      if (spec.forward != Forward::kNo) {
        EXPECT_EQ(ValueText(spec, *back), ValueText(spec, *o)) << spec.name;
      }
    EXPECT_EQ(inv->positional.size(), 2u);
  }
}

TEST(ForwardTest, RelativePathsAreMadeAbsolute) {
  Options o = DefaultOptions();
  o.repo = "repo";
  o.s3_ca_file = "ca.pem";
  std::vector<std::string> args = ForwardedArgs(o);
  ASSERT_EQ(args.size(), 4u);
  EXPECT_EQ(args[1], AbsolutePath("repo"));
  EXPECT_TRUE(args[1].starts_with("/")) << args[1];
  EXPECT_EQ(args[3], AbsolutePath("ca.pem"));
}

// A restored server gets only the secrets its restore_command names no other way to reach.
TEST(ForwardTest, RestoredServerInheritsOnlyTheSecretsRestoreCommandNeeds) {
  using Names = std::vector<std::string>;
  Options passphrase = DefaultOptions();
  passphrase.repo = "/srv/repo";
  EXPECT_EQ(ServerEnvToDrop(passphrase, true, true),
            (Names{"PGVAULT_NEW_PASSPHRASE", "PGVAULT_S3_KEY", "PGVAULT_S3_KEY_SECRET"}));
  Options key_file = passphrase;
  key_file.key_file = "/etc/pgvault/repo.key";
  EXPECT_EQ(ServerEnvToDrop(key_file, true, true),
            (Names{"PGVAULT_NEW_PASSPHRASE", "PGVAULT_PASSPHRASE", "PGVAULT_S3_KEY",
                   "PGVAULT_S3_KEY_SECRET"}));
  EXPECT_EQ(ServerEnvToDrop(passphrase, false, true),
            (Names{"PGVAULT_NEW_PASSPHRASE", "PGVAULT_PASSPHRASE", "PGVAULT_S3_KEY",
                   "PGVAULT_S3_KEY_SECRET"}));
  Options s3 = key_file;
  s3.repo2 = "s3://bucket/prefix";
  EXPECT_EQ(ServerEnvToDrop(s3, true, true),
            (Names{"PGVAULT_NEW_PASSPHRASE", "PGVAULT_PASSPHRASE"}));
  // A server that keeps archiving may run an archive_command that needs them.
  EXPECT_EQ(ServerEnvToDrop(key_file, true, false), (Names{"PGVAULT_NEW_PASSPHRASE"}));
  Names secrets = SecretEnvNames();
  for (const std::string& name : ServerEnvToDrop(key_file, false, true))
    EXPECT_NE(std::find(secrets.begin(), secrets.end(), name), secrets.end()) << name;
}

}  // namespace
}  // namespace pgvault::config
