// PgSession: one libpq connection. Errors from libpq are translated here, once, into
// Status::Pg messages that name the server. Not thread-safe.
#pragma once

#include <libpq-fe.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"
#include "pg/libpq.h"

namespace pgvault::pg {

struct ConnOptions {
  std::string host;  // host name, IP or unix socket directory; empty = libpq default
  int port = 5432;
  std::string user;  // empty = libpq default
  std::string dbname = "postgres";
  // A libpq connection string or URI (catalog-export --db): when set, it overrides the fields
  // above, and messages name it as 'the --db database' (it may hold a password).
  std::string conninfo;
  std::string Describe() const;
};

class PgSession {
 public:
  static Result<std::unique_ptr<PgSession>> Connect(const ConnOptions& options);
  ~PgSession();
  // Runs sql with text parameters $1..$n and returns all rows.
  Result<std::vector<Row>> Query(const std::string& sql,
                                 const std::vector<std::string>& params = {});
  // First column of the first row; kPg if there is none or it is NULL.
  Result<std::string> Scalar(const std::string& sql, const std::vector<std::string>& params = {});

 private:
  PgSession(PGconn* conn, ConnOptions options) : conn_(conn), options_(std::move(options)) {}
  PGconn* conn_;
  ConnOptions options_;
};

}  // namespace pgvault::pg
