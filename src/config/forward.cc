#include "config/forward.h"

#include <unistd.h>

namespace pgvault::config {

std::string AbsolutePath(const std::string& path) {
  if (path.empty() || path.front() == '/' || path.starts_with("s3://")) return path;
  char cwd[4096];
  if (!::getcwd(cwd, sizeof cwd)) return path;
  return std::string(cwd) + "/" + path;
}

std::string ShellQuote(const std::string& s) {
  bool plain = !s.empty() && s.find_first_not_of(
                                 "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                 "0123456789/._-=:%+@,") == std::string::npos;
  if (plain) return s;
  std::string out = "'";
  for (char c : s) out += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return out + "'";
}

std::string ValueText(const OptionSpec& spec, const Options& o) {
  return std::visit(
      [&](auto field) -> std::string {
        const auto& v = o.*field;
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, std::string>) {
          return v;
        } else if constexpr (std::is_same_v<T, bool>) {
          return v ? "true" : "false";
        } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
          std::string out;
          for (const auto& item : v) out += (out.empty() ? "" : ",") + item;
          return out;
        } else {
          return std::to_string(v);
        }
      },
      spec.field);
}

std::vector<std::string> ForwardedArgs(const Options& options) {
  std::vector<std::string> words;
  for (const auto& spec : OptionTable()) {
    if (spec.forward == Forward::kNo) continue;
    std::string value = ValueText(spec, options);
    if (value.empty() || value == spec.default_value) continue;
    words.push_back("--" + std::string(spec.name));
    words.push_back(spec.forward == Forward::kPath ? AbsolutePath(value) : value);
  }
  return words;
}

std::string RestoreCommand(const std::string& self, const Options& options) {
  std::string cmd = ShellQuote(self);
  for (const auto& word : ForwardedArgs(options)) cmd += " " + ShellQuote(word);
  return cmd + " archive-get %f \"%p\"";
}

std::vector<std::string> SecretEnvNames() {
  return {"PGVAULT_PASSPHRASE", "PGVAULT_NEW_PASSPHRASE", "PGVAULT_S3_KEY",
          "PGVAULT_S3_KEY_SECRET"};
}

std::vector<std::string> ServerEnvToDrop(const Options& options, bool encrypted,
                                         bool archive_mode_off) {
  // A server that keeps archiving runs an archive_command restore did not write: it may need
  // what pgvault was given, so only the key being added is withheld from it.
  std::vector<std::string> drop = {"PGVAULT_NEW_PASSPHRASE"};
  if (!archive_mode_off) return drop;
  if (!encrypted || !options.key_file.empty()) drop.emplace_back("PGVAULT_PASSPHRASE");
  if (!options.repo.starts_with("s3://") && !options.repo2.starts_with("s3://"))
    drop.insert(drop.end(), {"PGVAULT_S3_KEY", "PGVAULT_S3_KEY_SECRET"});
  return drop;
}

}  // namespace pgvault::config
