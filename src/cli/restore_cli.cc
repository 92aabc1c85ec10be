#include "cli/restore_cli.h"

namespace pgvault::cli {

using config::Options;

Status FillRestoreTarget(const Options& o, restore::RestoreOptions& ro) {
  using Kind = restore::RecoveryTarget::Kind;
  auto& t = ro.target;
  int given = 0;
  auto set = [&](const std::string& value, Kind kind) {
    if (value.empty()) return;
    t.kind = kind, t.value = value;
    given++;
  };
  set(o.target_time, Kind::kTime);
  set(o.target_lsn, Kind::kLsn);
  set(o.target_xid, Kind::kXid);
  set(o.target_name, Kind::kName);
  if (o.target_immediate) t.kind = Kind::kImmediate, given++;
  if (given > 1)
    return std::move(Status::InvalidArgument("more than one recovery target given"))
        .WithHint(
            "use one of --target-time, --target-lsn, --target-xid, --target-name, "
            "--target-immediate");
  if (!o.target_inclusive.empty()) t.inclusive = o.target_inclusive == "true";
  t.action = o.target_action;
  t.timeline = o.target_timeline;
  ro.standby = o.type == "standby";
  if (!o.primary_conninfo.empty() && !ro.standby)
    return std::move(Status::InvalidArgument("--primary-conninfo needs --type standby"))
        .WithHint("add --type standby to build a replica");
  ro.primary_conninfo = o.primary_conninfo;
  // A cluster restore --start starts (a test, a rehearsal) does not archive into the source's
  // repository unless asked: its new timeline would be what the next PITR follows.
  ro.archive_mode_off =
      o.archive_mode == "off" || (o.archive_mode.empty() && o.start && !ro.standby);
  if (o.pg_port_given) ro.port = o.pg_port;
  // A malformed target is refused before the repository is even opened. Restore checks the
  // copy it gets again (its own callers need not come through here).
  restore::RecoveryTarget parsed = t;
  return restore::ValidateTarget(parsed);
}

}  // namespace pgvault::cli
