// libpq's functions, loaded on first use (common/lazy_library.h says why): the one table that
// PgSession (SQL) and ReplicationConnection (the streaming replication protocol) call through.
#pragma once

#include <libpq-fe.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/status.h"

namespace pgvault::pg {

struct PqApi {
  decltype(&::PQconnectdbParams) connectdb_params;
  decltype(&::PQstatus) status;
  decltype(&::PQerrorMessage) error_message;
  decltype(&::PQfinish) finish;
  decltype(&::PQexec) exec;
  decltype(&::PQexecParams) exec_params;
  decltype(&::PQresultStatus) result_status;
  decltype(&::PQresultErrorMessage) result_error_message;
  decltype(&::PQclear) clear;
  decltype(&::PQntuples) ntuples;
  decltype(&::PQnfields) nfields;
  decltype(&::PQgetisnull) getisnull;
  decltype(&::PQgetvalue) getvalue;
  decltype(&::PQgetlength) getlength;
  decltype(&::PQgetResult) get_result;
  decltype(&::PQgetCopyData) get_copy_data;
  decltype(&::PQputCopyData) put_copy_data;
  decltype(&::PQputCopyEnd) put_copy_end;
  decltype(&::PQflush) flush;
  decltype(&::PQconsumeInput) consume_input;
  decltype(&::PQsocket) socket;
  decltype(&::PQfreemem) freemem;
  decltype(&::PQserverVersion) server_version;
};

// The table, once libpq.so.5 loaded; kUnavailable naming the Debian package when it cannot be.
Result<const PqApi*> Pq();

// One row of a result: text values, NULL as nullopt.
using Row = std::vector<std::optional<std::string>>;

// The rows of res, a command's or query's result, or kPg "PostgreSQL at '<server>' failed: ..."
// with the server's message. Clears res either way.
Result<std::vector<Row>> TakeRows(const PqApi& pq, PGconn* conn, PGresult* res,
                                  const std::string& server);

// Connects with keyword/value pairs (a pair with an empty value is left out; the strings live in
// `params` for the whole call, as libpq needs). nullptr on failure, with libpq's message in error.
PGconn* PqConnect(const PqApi& pq, const std::vector<std::pair<std::string, std::string>>& params,
                  bool expand_dbname, std::string& error);

// libpq's message as one line (it ends messages with newlines and may span several).
std::string PqFirstLine(const char* msg);

}  // namespace pgvault::pg
