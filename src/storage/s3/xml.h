// Just enough XML for S3 responses and request bodies: S3 answers are flat, machine-written
// documents, so finding <Tag>...</Tag> pairs is sufficient; no DTDs, namespaces or CDATA.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace pgvault::storage::s3 {

// Escapes & < > " ' for element text.
std::string XmlEscape(std::string_view text);
// Decodes the five named entities and numeric &#N; / &#xN; references (as UTF-8).
std::string XmlUnescape(std::string_view text);
// Raw (still escaped) contents of every <tag>...</tag> in doc, in order; <tag/> gives "".
// Elements must not nest inside an element of the same name (true for S3 responses).
std::vector<std::string_view> XmlElements(std::string_view doc, std::string_view tag);
// Unescaped text of the first <tag> element, or "" when there is none.
std::string XmlText(std::string_view doc, std::string_view tag);

}  // namespace pgvault::storage::s3
