#include "common/status.h"

namespace pgvault {

std::string Status::ToString() const {
  if (ok()) return "ok";
  std::string out = message_;
  if (!hint_.empty()) out += "\nHINT: " + hint_;
  return out;
}

int ExitCode(const Status& s) {
  switch (s.code()) {
    case Code::kOk:
      return 0;
    case Code::kNotFound:
      return 1;
    case Code::kInvalidArgument:
      return 2;
    case Code::kConfig:
      return 3;
    case Code::kIo:
      return 4;
    case Code::kCorruption:
      return 5;
    case Code::kUnavailable:
      return 6;
    case Code::kConflict:
      return 7;
    case Code::kCrypto:
      return 8;
    case Code::kPg:
      return 9;
    case Code::kInternal:
      return 10;
    case Code::kWarning:
      return 11;
    case Code::kCheckFailed:
      return 12;
  }
  return 10;
}

int ArchiveGetExitCode(const Status& s, bool standby) {
  if (s.ok() || s.IsNotFound() || standby) return ExitCode(s);
  return kExitStopRecovery;
}

}  // namespace pgvault
