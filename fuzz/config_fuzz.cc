// The TOML config file: ApplyConfigText as every command reads it (top level, then a daemon
// cluster section), and the daemon's own reading of the same text (ParseDaemonConfig: schedules,
// time zone, cluster sections). Errors must be kConfig (or kInvalidArgument for a bad value);
// toml++'s exceptions must not escape.
#include <cstddef>
#include <cstdint>
#include <string>

#include "config/settings.h"
#include "daemon/config.h"
#include "fuzz_check.h"

using namespace pgvault;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const config::Options defaults = config::DefaultOptions();
  std::string text(reinterpret_cast<const char*>(data), size);
  config::Options options = defaults;
  Status s = config::ApplyConfigText(text, "fuzz.toml", options);
  FUZZ_CHECK(s.ok() || s.code() == Code::kConfig || s.code() == Code::kInvalidArgument);
  options = defaults;
  s = config::ApplyConfigText(text, "fuzz.toml", options, "cluster.main");
  FUZZ_CHECK(s.ok() || s.code() == Code::kConfig || s.code() == Code::kInvalidArgument);
  auto daemon = daemon::ParseDaemonConfig(defaults, text, "fuzz.toml");
  FUZZ_CHECK(daemon.ok() || daemon.status().code() == Code::kConfig ||
             daemon.status().code() == Code::kInvalidArgument);
  return 0;
}
