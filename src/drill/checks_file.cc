#include "drill/checks_file.h"

#include <fmt/format.h>
#include <toml++/toml.h>

#include <charconv>
#include <fstream>
#include <sstream>

namespace pgvault::drill {
namespace {

using Op = Expectation::Op;

std::string Trim(std::string_view s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return "";
  size_t e = s.find_last_not_of(" \t");
  return std::string(s.substr(b, e - b + 1));
}

std::optional<double> Number(const std::string& s) {
  std::string t = Trim(s);
  double v = 0;
  auto [end, ec] = std::from_chars(t.data(), t.data() + t.size(), v);
  if (ec != std::errc() || end != t.data() + t.size() || t.empty()) return std::nullopt;
  return v;
}

const char* OpText(Op op) {
  switch (op) {
    case Op::kEq:
      return "=";
    case Op::kNe:
      return "!=";
    case Op::kGe:
      return ">=";
    case Op::kGt:
      return ">";
    case Op::kLe:
      return "<=";
    case Op::kLt:
      return "<";
  }
  return "=";
}

Status Bad(std::string_view file, size_t index, std::string_view what) {
  return std::move(Status::InvalidArgument(
                       fmt::format("checks file '{}': check {}: {}", file, index + 1, what)))
      .WithHint(
          "each [[check]] needs sql = \"...\" and expect = \">= 50\" (or a value) and/or "
          "max_ms = N");
}

Result<UserCheck> ParseOne(const toml::table& t, std::string_view file, size_t index) {
  UserCheck c;
  // A misspelt key is named, not reported as the key it was meant to be missing.
  for (const auto& [key, value] : t)
    if (key != "sql" && key != "name" && key != "database" && key != "expect" && key != "max_ms")
      return Bad(file, index, fmt::format("unknown key '{}'", key.str()));
  auto sql = t["sql"].value<std::string>();
  if (!sql || Trim(*sql).empty()) return Bad(file, index, "'sql' is missing or not a string");
  c.sql = *sql;
  c.name = t["name"].value_or(c.sql);
  c.database = t["database"].value_or(std::string("postgres"));
  if (const toml::node* e = t.get("expect")) {
    std::string text;
    if (auto s = e->value<std::string>()) {
      text = *s;
    } else if (auto i = e->value<int64_t>()) {
      text = std::to_string(*i);
    } else if (auto b = e->value<bool>()) {
      text = *b ? "t" : "f";  // how PostgreSQL prints a boolean
    } else {
      return Bad(file, index, "'expect' must be a string, an integer or a boolean");
    }
    auto parsed = ParseExpectation(text);
    if (!parsed.ok()) return Bad(file, index, parsed.status().message());
    c.expect = *parsed;
  }
  if (const toml::node* m = t.get("max_ms")) {
    auto ms = m->value<double>();
    if (!ms || *ms <= 0) return Bad(file, index, "'max_ms' must be a positive number");
    c.max_ms = *ms;
  }
  if (!c.expect && !c.max_ms) return Bad(file, index, "it has neither 'expect' nor 'max_ms'");
  return c;
}

}  // namespace

bool Expectation::Matches(const std::string& actual) const {
  if (op == Op::kEq || op == Op::kNe) {
    bool equal = Trim(actual) == value;
    auto a = Number(actual), b = Number(value);
    if (a && b) equal = *a == *b;
    return op == Op::kEq ? equal : !equal;
  }
  auto a = Number(actual), b = Number(value);
  if (!a || !b) return false;
  switch (op) {
    case Op::kGe:
      return *a >= *b;
    case Op::kGt:
      return *a > *b;
    case Op::kLe:
      return *a <= *b;
    default:
      return *a < *b;
  }
}

std::string Expectation::Describe() const { return fmt::format("{} {}", OpText(op), value); }

Result<Expectation> ParseExpectation(std::string_view text) {
  std::string t = Trim(text);
  Expectation e;
  for (Op op : {Op::kGe, Op::kLe, Op::kNe, Op::kGt, Op::kLt, Op::kEq}) {
    std::string_view prefix = OpText(op);
    if (t.starts_with(prefix)) {
      e.op = op;
      t = Trim(std::string_view(t).substr(prefix.size()));
      break;
    }
  }
  e.value = t;
  if (e.op != Op::kEq && e.op != Op::kNe && !Number(e.value))
    return Status::InvalidArgument(
        fmt::format("'expect' threshold '{}' is not a number", std::string(text)));
  return e;
}

Result<std::vector<UserCheck>> ParseChecks(std::string_view toml_text, std::string_view file) {
  toml::table root;
  try {
    root = toml::parse(toml_text, file);
  } catch (const toml::parse_error& e) {
    return std::move(Status::InvalidArgument(
                         fmt::format("checks file '{}' is not valid TOML: {} (line {})", file,
                                     e.description(), e.source().begin.line)))
        .WithHint("see docs/user-guide.md, drill");
  }
  for (const auto& [key, value] : root)
    if (key != "check")
      return std::move(Status::InvalidArgument(
                           fmt::format("checks file '{}': unknown key '{}'", file, key.str())))
          .WithHint("write each check as a [[check]] table");
  std::vector<UserCheck> out;
  const toml::array* checks = root["check"].as_array();
  if (!checks) return out;
  for (size_t i = 0; i < checks->size(); ++i) {
    const toml::table* t = (*checks)[i].as_table();
    if (!t) return Bad(file, i, "not a table");
    PGV_ASSIGN_OR_RETURN(UserCheck c, ParseOne(*t, file, i));
    out.push_back(std::move(c));
  }
  return out;
}

Result<std::vector<UserCheck>> LoadChecks(const std::string& path) {
  std::ifstream in(path);
  if (!in)
    return std::move(Status::NotFound(fmt::format("cannot read checks file '{}'", path)))
        .WithHint("pass --checks FILE with a readable TOML file");
  std::stringstream ss;
  ss << in.rdbuf();
  return ParseChecks(ss.str(), path);
}

}  // namespace pgvault::drill
