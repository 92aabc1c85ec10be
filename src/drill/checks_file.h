// The user checks of a drill (--checks FILE), a TOML file of [[check]] tables:
//
//   [[check]]
//   name = "subjects"                      # optional; default the SQL
//   database = "exams"                     # optional; default "postgres"
//   sql = "select count(*) from subjects"
//   expect = ">= 50"                       # "= V", "!= V", ">= N", "> N", "<= N", "< N", or V
//   max_ms = 200                           # optional: the query must answer within this time
//
// A check needs `sql` and at least one of `expect` and `max_ms`. V compares as text with the
// query's first column of its first row (NULL reads as "null"); N compares as a number.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace pgvault::drill {

struct Expectation {
  enum class Op { kEq, kNe, kGe, kGt, kLe, kLt };
  Op op = Op::kEq;
  std::string value;  // as written, without the operator
  // Whether `actual` meets it; a threshold against a value that is not a number does not.
  bool Matches(const std::string& actual) const;
  std::string Describe() const;  // ">= 50"
};

struct UserCheck {
  std::string name;
  std::string database = "postgres";
  std::string sql;
  std::optional<Expectation> expect;
  std::optional<double> max_ms;
};

// kInvalidArgument naming the file, the check and the field for anything malformed.
Result<std::vector<UserCheck>> ParseChecks(std::string_view toml_text, std::string_view file_name);
Result<std::vector<UserCheck>> LoadChecks(const std::string& path);
// "50", ">= 50", "!= x": kInvalidArgument for a threshold without a number.
Result<Expectation> ParseExpectation(std::string_view text);

}  // namespace pgvault::drill
