#include "pg/libpq.h"

#include <fmt/format.h>

#include "common/lazy_library.h"

namespace pgvault::pg {

Result<const PqApi*> Pq() {
  return LoadLibraryApi<PqApi>("libpq.so.5", "libpq5", [](LazyLibrary& lib, PqApi& api) {
    lib.Bind(api.connectdb_params, "PQconnectdbParams");
    lib.Bind(api.status, "PQstatus");
    lib.Bind(api.error_message, "PQerrorMessage");
    lib.Bind(api.finish, "PQfinish");
    lib.Bind(api.exec, "PQexec");
    lib.Bind(api.exec_params, "PQexecParams");
    lib.Bind(api.result_status, "PQresultStatus");
    lib.Bind(api.result_error_message, "PQresultErrorMessage");
    lib.Bind(api.clear, "PQclear");
    lib.Bind(api.ntuples, "PQntuples");
    lib.Bind(api.nfields, "PQnfields");
    lib.Bind(api.getisnull, "PQgetisnull");
    lib.Bind(api.getvalue, "PQgetvalue");
    lib.Bind(api.getlength, "PQgetlength");
    lib.Bind(api.get_result, "PQgetResult");
    lib.Bind(api.get_copy_data, "PQgetCopyData");
    lib.Bind(api.put_copy_data, "PQputCopyData");
    lib.Bind(api.put_copy_end, "PQputCopyEnd");
    lib.Bind(api.flush, "PQflush");
    lib.Bind(api.consume_input, "PQconsumeInput");
    lib.Bind(api.socket, "PQsocket");
    lib.Bind(api.freemem, "PQfreemem");
    lib.Bind(api.server_version, "PQserverVersion");
  });
}

Result<std::vector<Row>> TakeRows(const PqApi& pq, PGconn* conn, PGresult* res,
                                  const std::string& server) {
  ExecStatusType st = pq.result_status(res);
  if (st != PGRES_TUPLES_OK && st != PGRES_COMMAND_OK) {
    std::string msg = PqFirstLine(res ? pq.result_error_message(res) : pq.error_message(conn));
    pq.clear(res);
    return Status::Pg(fmt::format("PostgreSQL at '{}' failed: {}", server, msg));
  }
  std::vector<Row> rows;
  int nrows = pq.ntuples(res), ncols = pq.nfields(res);
  for (int row_idx = 0; row_idx < nrows; ++row_idx) {
    Row row;
    for (int col_idx = 0; col_idx < ncols; ++col_idx) {
      if (pq.getisnull(res, row_idx, col_idx))
        row.emplace_back(std::nullopt);
      else
        row.emplace_back(
            std::string(pq.getvalue(res, row_idx, col_idx), pq.getlength(res, row_idx, col_idx)));
    }
    rows.push_back(std::move(row));
  }
  pq.clear(res);
  return rows;
}

PGconn* PqConnect(const PqApi& pq, const std::vector<std::pair<std::string, std::string>>& params,
                  bool expand_dbname, std::string& error) {
  std::vector<const char*> keys, values;
  for (const auto& [key, value] : params) {
    if (value.empty()) continue;
    keys.push_back(key.c_str());
    values.push_back(value.c_str());
  }
  keys.push_back(nullptr);
  values.push_back(nullptr);
  PGconn* conn = pq.connectdb_params(keys.data(), values.data(), expand_dbname ? 1 : 0);
  if (conn && pq.status(conn) == CONNECTION_OK) return conn;
  error = PqFirstLine(conn ? pq.error_message(conn) : "out of memory");
  pq.finish(conn);
  return nullptr;
}

std::string PqFirstLine(const char* msg) {
  std::string s = msg ? msg : "";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  for (char& c : s)
    if (c == '\n') c = ' ';
  return s;
}

}  // namespace pgvault::pg
