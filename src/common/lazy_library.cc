#include "common/lazy_library.h"

#include <dlfcn.h>
#include <fmt/format.h>

namespace pgvault {

Status LazyLibrary::Open() {
  if (!tried_) {
    tried_ = true;
    handle_ = ::dlopen(soname_.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (!handle_) open_error_ = ::dlerror();
  }
  return Check();
}

void* LazyLibrary::Find(const char* name) {
  void* fn = handle_ ? ::dlsym(handle_, name) : nullptr;
  if (!fn && missing_symbol_.empty()) missing_symbol_ = name;
  return fn;
}

Status LazyLibrary::Check() const {
  if (!handle_)
    return std::move(Status::Config(fmt::format("cannot load '{}': {}", soname_, open_error_)))
        .WithHint(fmt::format("install it: apt-get install {}", package_));
  if (!missing_symbol_.empty())
    return std::move(Status::Config(fmt::format("'{}' lacks '{}': it is older than pgvault needs",
                                                soname_, missing_symbol_)))
        .WithHint(fmt::format("upgrade it: apt-get install {}", package_));
  return Status::Ok();
}

}  // namespace pgvault
