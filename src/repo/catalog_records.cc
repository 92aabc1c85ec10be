#include "repo/catalog_records.h"

#include <fmt/format.h>

namespace pgvault::repo {
namespace {

using nlohmann::json;

// Reads fields of one record; the first missing or mistyped one is remembered.
class RecordReader {
 public:
  RecordReader(std::string_view what, std::string_view backup_id, const json& j)
      : what_(what), backup_id_(backup_id), j_(j) {}
  template <typename T>
  void Get(const char* key, T& out) {
    if (!status_.ok()) return;
    auto it = j_.find(key);
    if (it == j_.end()) {
      Fail(key, "missing");
      return;
    }
    try {
      out = it->get<T>();
    } catch (const json::exception&) {
      Fail(key, "of the wrong type");
    }
  }
  // An array field, each element read by `parse(RecordReader&, T&)` into `out`.
  template <typename T, typename Parse>
  void GetArray(const char* key, std::vector<T>& out, Parse parse) {
    json items;
    Get(key, items);
    if (status_.ok() && !items.is_array()) Fail(key, "not an array");
    for (const auto& item : items) {
      if (!status_.ok()) return;
      RecordReader element(what_, backup_id_, item);
      T value;
      parse(element, value);
      status_ = element.status();
      out.push_back(std::move(value));
    }
  }
  void Fail(std::string_view key, std::string_view why) {
    status_ = Status::Corruption(
        fmt::format("{} record of backup '{}': field '{}' is {}", what_, backup_id_, key, why));
  }
  const Status& status() const { return status_; }

 private:
  std::string_view what_, backup_id_;
  const json& j_;
  Status status_ = Status::Ok();
};

json ProblemsToJson(const std::vector<RecordProblem>& problems) {
  json out = json::array();
  for (const auto& p : problems) out.push_back({{"object", p.object}, {"message", p.message}});
  return out;
}

std::string ResultText(bool passed) { return passed ? "pass" : "fail"; }

bool ReadResult(RecordReader& r, const char* key) {
  std::string text;
  r.Get(key, text);
  if (r.status().ok() && text != "pass" && text != "fail") r.Fail(key, "neither 'pass' nor 'fail'");
  return text == "pass";
}

}  // namespace

json VerifyRecordToJson(const VerifyRecord& v) {
  return {{"result", ResultText(v.passed)},
          {"time", v.time},
          {"seconds", v.seconds},
          {"checked", v.checked},
          {"sample_percent", v.sample_percent},
          {"files", v.files},
          {"blocks", v.blocks},
          {"bytes_read", v.bytes_read},
          {"problems", ProblemsToJson(v.problems)}};
}

Result<VerifyRecord> ParseVerifyRecord(std::string_view backup_id, const json& j) {
  VerifyRecord v;
  RecordReader r("verify", backup_id, j);
  if (!j.is_object()) r.Fail("", "not a JSON object");
  v.passed = ReadResult(r, "result");
  r.Get("time", v.time);
  r.Get("seconds", v.seconds);
  r.Get("checked", v.checked);
  r.Get("sample_percent", v.sample_percent);
  r.Get("files", v.files);
  r.Get("blocks", v.blocks);
  r.Get("bytes_read", v.bytes_read);
  r.GetArray("problems", v.problems, [](RecordReader& pr, RecordProblem& problem) {
    pr.Get("object", problem.object);
    pr.Get("message", problem.message);
  });
  if (!r.status().ok()) return r.status();
  return v;
}

json DrillRecordToJson(const DrillRecord& d) {
  json checks = json::array();
  for (const auto& c : d.checks)
    checks.push_back({{"name", c.name},
                      {"result", ResultText(c.passed)},
                      {"value", c.value},
                      {"detail", c.detail},
                      {"seconds", c.seconds}});
  return {{"result", ResultText(d.passed)},
          {"time", d.time},
          {"target", d.target},
          {"failed", d.failed},
          {"restore_seconds", d.restore_seconds},
          {"replay_seconds", d.replay_seconds},
          {"checks_seconds", d.checks_seconds},
          {"rto_seconds", d.rto_seconds},
          {"checks", checks}};
}

Result<DrillRecord> ParseDrillRecord(std::string_view backup_id, const json& j) {
  DrillRecord d;
  RecordReader r("drill", backup_id, j);
  if (!j.is_object()) r.Fail("", "not a JSON object");
  d.passed = ReadResult(r, "result");
  r.Get("time", d.time);
  r.Get("target", d.target);
  r.Get("failed", d.failed);
  r.Get("restore_seconds", d.restore_seconds);
  r.Get("replay_seconds", d.replay_seconds);
  r.Get("checks_seconds", d.checks_seconds);
  r.Get("rto_seconds", d.rto_seconds);
  r.GetArray("checks", d.checks, [](RecordReader& cr, DrillCheck& check) {
    cr.Get("name", check.name);
    check.passed = ReadResult(cr, "result");
    cr.Get("value", check.value);
    cr.Get("detail", check.detail);
    cr.Get("seconds", check.seconds);
  });
  if (!r.status().ok()) return r.status();
  return d;
}

RecordProblem ProblemFromLine(const std::string& line) {
  if (line.size() > 1 && line[0] == '\'') {
    size_t end = line.find("': ", 1);
    if (end != std::string::npos) return {line.substr(1, end - 1), line.substr(end + 3)};
  }
  return {"", line};
}

}  // namespace pgvault::repo
