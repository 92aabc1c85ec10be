// Escaping text for HTML and XML (the status page, S3 request bodies).
#pragma once

#include <string>
#include <string_view>

namespace pgvault {

// Escapes & < > " ' for element text and attribute values of HTML and XML alike (' as &#39;,
// which both read).
std::string EscapeMarkup(std::string_view text);

}  // namespace pgvault
