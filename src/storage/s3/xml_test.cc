#include "storage/s3/xml.h"

#include <gtest/gtest.h>

namespace pgvault::storage::s3 {
namespace {

TEST(S3XmlTest, ElementsDoNotMatchLongerTagNames) {
  std::string doc =
      "<ListBucketResult><KeyCount>2</KeyCount><Contents><Key>a&amp;b</Key><Size>3</Size>"
      "</Contents><Contents><Key>c&lt;d&#x20AC;&#65;</Key><Size>0</Size></Contents>"
      "<IsTruncated>false</IsTruncated></ListBucketResult>";
  std::vector<std::string_view> contents = XmlElements(doc, "Contents");
  ASSERT_EQ(contents.size(), 2u);
  EXPECT_EQ(XmlText(contents[0], "Key"), "a&b");
  EXPECT_EQ(XmlText(contents[1], "Key"),
            "c<d\xe2\x82\xac"
            "A");
  EXPECT_EQ(XmlText(doc, "KeyCount"), "2");
  EXPECT_EQ(XmlText(doc, "IsTruncated"), "false");
  EXPECT_EQ(XmlText(doc, "Missing"), "");
}

TEST(S3XmlTest, AttributesSelfClosingAndTruncatedInput) {
  EXPECT_EQ(XmlText("<Error xmlns=\"x\"><Code>SlowDown</Code><Message/></Error>", "Code"),
            "SlowDown");
  EXPECT_EQ(XmlElements("<Message/>", "Message").size(), 1u);
  EXPECT_TRUE(XmlElements("<Code>never closed", "Code").empty());
  EXPECT_EQ(XmlUnescape("a &unknown; b &amp"), "a &unknown; b &amp");
}

TEST(S3XmlTest, EscapeRoundTrips) {
  std::string text = "a<b>&\"c'd";
  EXPECT_EQ(XmlEscape(text), "a&lt;b&gt;&amp;&quot;c&#39;d");
  EXPECT_EQ(XmlUnescape(XmlEscape(text)), text);
}

}  // namespace
}  // namespace pgvault::storage::s3
