// verify's repository-wide object checks: every pack's trailer index, every block reference
// against the index of its pack, and objects no backup references.
//
// What is an error and what a warning:
//   - a pack whose trailer cannot be read or decoded, or whose index does not cover its blobs
//     exactly: error (the pack cannot be checked or salvaged on its own);
//   - a manifest's block reference that is not in its pack's index: error;
//   - a reference into a pack gc --repack moved that its redirect does not list, a redirect that
//     does not decode, or one whose entry is not in its target pack's index under the same block
//     id and size: error (references into a moved pack count for the pack the redirect names);
//   - manifest parts without a manifest: error (a backup lost its manifest), unless a backup lock
//     for that id exists (a backup is being written, or was killed) or its incomplete marker
//     (a backup, expire or repo-sync of it was interrupted; gc removes them): warning;
//   - a pack no intact backup references, or bytes of a pack no backup references, and objects
//     under backups/ that no manifest names: "unreferenced" warnings (left by an interrupted
//     backup, by expire's grace period, or by a damaged backup's references). They cost space,
//     not data; verify still says OK.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "repo/manifest.h"
#include "repo/pack.h"
#include "repo/redirect.h"
#include "repo/repository.h"

namespace pgvault::verify {

class PackTable {
 public:
  // Lists the packs; their trailers are read when first referenced, or by CheckAll.
  static Result<PackTable> List(repo::Repository& repo);
  // Records a block reference; an error line when the pack's index does not hold it. A pack that
  // does not exist is left to the block read, which names it.
  // A reference into a moved pack marks where the current redirect says, id checked against it.
  std::optional<std::string> Mark(const repo::BlockLocation& loc, const pipeline::Digest& id);
  // Reads the trailers of the packs not referenced yet, and checks the entries of every current
  // redirect of a referenced pack against the index of the pack they point into. Thread-safe
  // like Mark.
  void LoadAll();
  // One error line per pack whose trailer is damaged.
  std::vector<std::string> problems() const;
  // Packs and pack bytes no marked reference uses.
  std::vector<std::string> UnreferencedWarnings() const;

 private:
  struct Pack {
    std::string key;
    uint64_t size = 0;
    bool loaded = false;
    std::string problem;            // trailer damage, once loaded
    std::vector<uint32_t> offsets;  // of the blobs, ascending
    std::vector<uint32_t> sizes;
    std::vector<pipeline::Digest> ids;
    std::vector<bool> referenced;
  };
  struct Moved {
    std::string key;  // the newest redirect generation
    bool loaded = false;
    bool referenced = false;  // a backup names the pack (else its targets may be gone)
    std::optional<repo::Redirect> redirect;  // once loaded; nullopt: problem says why
  };
  void Load(const repo::PackId& id, Pack& pack);
  const repo::Redirect* LoadRedirect(Moved& moved);
  // Marks loc in its pack; with id, the index entry must hold that id (a redirect's target).
  std::optional<std::string> MarkStored(const repo::BlockLocation& loc, const pipeline::Digest* id);
  repo::Repository* repo_ = nullptr;
  std::map<repo::PackId, Pack> packs_;
  std::map<repo::PackId, Moved> moved_;
  std::vector<std::string> redirect_problems_;
  std::unique_ptr<std::mutex> mu_ = std::make_unique<std::mutex>();
};

struct ManifestObjectFindings {
  std::vector<std::string> problems, warnings;
};
// Manifest parts without a manifest, and objects under backups/ no intact manifest names.
Result<ManifestObjectFindings> CheckManifestObjects(repo::Repository& repo);

// The small objects nothing else reads back in full: every catalog record must decode (restore
// and expire trust the newest pin and walcut), every key object must have a key object's shape
// (whether it unwraps needs its secret), and the `cluster` object must exist once a backup does
// and agree with the backups' system identifier, major version and segment size: a wrong one
// makes every later backup and archive-push refuse. One error line each, naming the object.
std::vector<std::string> CheckSmallObjects(repo::Repository& repo);

}  // namespace pgvault::verify
