#include "check/health.h"

#include <fmt/format.h>

#include <charconv>
#include <cmath>

namespace pgvault::check {
namespace {

HealthCheck Critical(HealthCheck c, std::string hint, Code code = Code::kCheckFailed) {
  c.verdict = Verdict::kCritical;
  c.hint = std::move(hint);
  c.code = code;
  return c;
}

HealthCheck Warning(HealthCheck c, std::string hint) {
  c.verdict = Verdict::kWarning;
  c.hint = std::move(hint);
  return c;
}

// A status of the cause's code; kCheckFailed for a threshold (and anything unexpected).
Status StatusOf(Code code, std::string message) {
  switch (code) {
    case Code::kPg:
      return Status::Pg(std::move(message));
    case Code::kUnavailable:
      return Status::Unavailable(std::move(message));
    case Code::kConflict:
      return Status::Conflict(std::move(message));
    case Code::kIo:
      return Status::Io(std::move(message));
    case Code::kConfig:
      return Status::Config(std::move(message));
    case Code::kCorruption:
      return Status::Corruption(std::move(message));
    case Code::kCrypto:
      return Status::Crypto(std::move(message));
    case Code::kNotFound:
      return Status::NotFound(std::move(message));
    default:
      return Status::CheckFailed(std::move(message));
  }
}

std::string Seconds(double s) { return fmt::format("{:.0f} s", s); }

}  // namespace

const char* VerdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::kOk:
      return "ok";
    case Verdict::kWarning:
      return "warning";
    case Verdict::kCritical:
      return "critical";
  }
  return "critical";
}

Result<FreeSpace> ParseFreeSpace(std::string_view text) {
  auto bad = [&] {
    return std::move(Status::InvalidArgument(fmt::format("invalid --min-free-space '{}'", text)))
        .WithHint("give a percentage of the file system (e.g. 10%) or an amount (512MiB, 20GiB)");
  };
  double number = 0;
  const char* end = text.data() + text.size();
  auto [rest, ec] = std::from_chars(text.data(), end, number);
  if (ec != std::errc() || number < 0 || !std::isfinite(number)) return bad();
  std::string_view unit(rest, static_cast<size_t>(end - rest));
  if (unit == "%") {
    if (number > 100) return bad();
    return FreeSpace{.percent = true, .value = number};
  }
  double scale = 0;
  if (unit.empty() || unit == "MiB") scale = 1024.0 * 1024;
  if (unit == "GiB") scale = 1024.0 * 1024 * 1024;
  if (unit == "TiB") scale = 1024.0 * 1024 * 1024 * 1024;
  if (scale == 0) return bad();
  return FreeSpace{.percent = false, .value = number * scale};
}

std::string FormatBytes(uint64_t bytes) {
  const double b = static_cast<double>(bytes);
  if (b >= 1024.0 * 1024 * 1024) return fmt::format("{:.1f} GiB", b / (1024.0 * 1024 * 1024));
  return fmt::format("{:.1f} MiB", b / (1024.0 * 1024));
}

HealthCheck DiskCheck(const std::string& name, const std::string& path, uint64_t available_bytes,
                      uint64_t total_bytes, const FreeSpace& min_free) {
  const double total = static_cast<double>(total_bytes);
  const double avail = static_cast<double>(available_bytes);
  const double pct = total > 0 ? 100.0 * avail / total : 0;
  HealthCheck c{
      .name = name,
      .value = fmt::format("{} free of {} ({:.1f}%) at '{}'", FormatBytes(available_bytes),
                           FormatBytes(total_bytes), pct, path)};
  const double minimum = min_free.percent ? total * min_free.value / 100.0 : min_free.value;
  const std::string wanted = min_free.percent ? fmt::format("{:g}%", min_free.value)
                                              : FormatBytes(static_cast<uint64_t>(minimum));
  if (avail < minimum)
    return Critical(c, fmt::format("free space at '{}' is below --min-free-space {}: free some "
                                   "space or grow the file system",
                                   path, wanted));
  if (avail < 2 * minimum)
    return Warning(
        c, fmt::format("free space at '{}' is below twice --min-free-space {}", path, wanted));
  return c;
}

HealthCheck ArchiveCheck(const ArchiveFacts& f, double max_lag_seconds,
                         const std::string& archiving_hint) {
  HealthCheck c{.name = "archive"};
  if (f.primary_archives) {
    c.value =
        "standby: its primary archives the WAL (archive_mode is not 'always'); run check "
        "against the primary to prove it";
    return c;
  }
  if (!f.archiving) {
    c.value = "the server does not archive WAL";
    return Critical(c, archiving_hint, Code::kPg);
  }
  std::string lag = fmt::format("lag {} ({} segments)", Seconds(f.lag_seconds), f.lag_segments);
  if (!f.switch_error.empty()) {
    c.value = f.switch_error + "; " + lag;
    return Critical(c,
                    "check archive_command and the server log; raise --archive-timeout if the "
                    "archive is just slow",
                    Code::kPg);
  }
  if (f.standby)
    c.value = "standby: " + lag + "; the WAL switch test runs on the primary";
  else
    c.value = fmt::format("segment {} reached the repository in {:.2f} s; {}", f.switched_segment,
                          f.arrival_seconds, lag);
  if (f.failing)
    return Critical(c,
                    fmt::format("archive_command fails (last on '{}'): check it and the server log",
                                f.last_failed_wal),
                    Code::kPg);
  if (f.lag_seconds > max_lag_seconds)
    return Warning(c, fmt::format("archiving is {} behind (more than --max-archive-lag {}): the "
                                  "recovery point is at risk; check archive_command's speed",
                                  Seconds(f.lag_seconds), Seconds(max_lag_seconds)));
  return c;
}

HealthCheck ReplicationCheck(const ReplicationFacts& f, double max_lag_seconds) {
  HealthCheck c{.name = "replication"};
  if (f.standby) {
    c.value = fmt::format("standby: replay {} ({} bytes) behind the received WAL{}",
                          Seconds(f.lag_seconds), f.lag_bytes,
                          f.receiving ? "" : "; no WAL receiver streams");
    if (!f.receiving)
      return Warning(c,
                     "the standby does not stream from a primary: check primary_conninfo and "
                     "the primary's log");
  } else if (f.standby_count == 0) {
    c.value = "not a standby, and no standbys";
    return c;
  } else {
    c.value = fmt::format("{} standbys, the furthest {} ({} bytes) behind", f.standby_count,
                          Seconds(f.lag_seconds), f.lag_bytes);
  }
  if (f.lag_seconds > max_lag_seconds)
    return Warning(c, fmt::format("replication is more than --max-replication-lag {} behind: "
                                  "check the standby's I/O and the network",
                                  Seconds(max_lag_seconds)));
  return c;
}

HealthCheck ClockSkewCheck(std::optional<double> skew_seconds, const Thresholds& t) {
  HealthCheck c{.name = "clock_skew"};
  if (!skew_seconds) {
    c.value = "skipped: the repository has no server clock of its own";
    return c;
  }
  double skew = *skew_seconds;
  // round(-0.4) is -0: adding 0 makes it +0 (no "-0 s").
  c.value = fmt::format("the repository's clock is {:+.0f} s from the local clock",
                        std::round(skew) + 0.0);
  const std::string fix = "synchronise the clock with NTP (chrony, systemd-timesyncd)";
  if (std::fabs(skew) > t.clock_skew_critical_seconds)
    return Critical(c, fmt::format("more than {} off: {}; S3 refuses requests signed 15 minutes "
                                   "off, and lock and retention times depend on it",
                                   Seconds(t.clock_skew_critical_seconds), fix));
  if (std::fabs(skew) > t.clock_skew_warning_seconds)
    return Warning(c,
                   fmt::format("more than {} off: {}", Seconds(t.clock_skew_warning_seconds), fix));
  return c;
}

Verdict Worst(const std::vector<HealthCheck>& checks) {
  Verdict worst = Verdict::kOk;
  for (const auto& c : checks)
    if (static_cast<int>(c.verdict) > static_cast<int>(worst)) worst = c.verdict;
  return worst;
}

const HealthCheck* FirstCritical(const std::vector<HealthCheck>& checks) {
  for (const auto& c : checks)
    if (c.verdict == Verdict::kCritical) return &c;
  return nullptr;
}

Status CriticalStatus(const std::vector<HealthCheck>& checks) {
  const HealthCheck* c = FirstCritical(checks);
  if (!c) return Status::Ok();
  size_t more = 0;
  for (const auto& other : checks) more += other.verdict == Verdict::kCritical ? 1 : 0;
  std::string message = fmt::format("health check '{}' is critical: {}", c->name, c->value);
  if (more > 1) message += fmt::format(" (and {} more critical checks, listed above)", more - 1);
  return std::move(StatusOf(c->code, std::move(message))).WithHint(c->hint);
}

}  // namespace pgvault::check
