// A shared library opened the first time a command needs it (dlopen), not at process start.
//
// pgvault loads libcurl and libpq this way: with their dependencies (Kerberos, LDAP, GnuTLS,
// SASL, ...) they are 30 of the binary's 39 libraries and ~2.5 ms of CPU of every process start,
// and PostgreSQL starts archive-push and archive-get once per WAL segment. A command that needs
// neither (every archive-push to a local repository) never loads them.
#pragma once

#include <string>

#include "common/status.h"

namespace pgvault {

class LazyLibrary {
 public:
  // soname: e.g. "libcurl.so.4"; package: the Debian package that provides it (for the hint).
  LazyLibrary(std::string soname, std::string package)
      : soname_(std::move(soname)), package_(std::move(package)) {}
  LazyLibrary(const LazyLibrary&) = delete;
  LazyLibrary& operator=(const LazyLibrary&) = delete;

  // Opens the library (once; later calls return the first outcome).
  Status Open();
  // Points fn at the library's function `name`; after Open() succeeded. A missing function
  // makes Check() fail, naming it.
  template <typename Fn>
  void Bind(Fn*& fn, const char* name) {
    fn = reinterpret_cast<Fn*>(Find(name));
  }
  // Ok when Open() and every Bind() succeeded.
  Status Check() const;

 private:
  void* Find(const char* name);

  std::string soname_, package_;
  void* handle_ = nullptr;
  bool tried_ = false;
  std::string open_error_, missing_symbol_;
};

// The table of functions `Api` of one library, opened and bound by `bind(lib, api)` the first
// time it is asked for; every later call returns the first outcome. Each call site (each
// `bind` lambda) has its own table and library.
template <typename Api, typename BindAll>
Result<const Api*> LoadLibraryApi(const char* soname, const char* package, BindAll bind) {
  static Api api;
  static const Status loaded = [&] {
    static LazyLibrary lib(soname, package);
    PGV_RETURN_IF_ERROR(lib.Open());
    bind(lib, api);
    return lib.Check();
  }();
  if (!loaded.ok()) return loaded;
  return &api;
}

}  // namespace pgvault
