#include "pipeline/codec.h"

#include <gtest/gtest.h>

#include <random>

namespace pgvault::pipeline {
namespace {

SecretKey TestKey() { return SecretKey(RandomBytes(kKeySize)); }

TEST(CodecTest, RoundTripsEveryCompressionWithAndWithoutEncryption) {
  Bytes data(65536);
  for (size_t byte_idx = 0; byte_idx < data.size(); ++byte_idx) data[byte_idx] = byte_idx % 7;
  for (auto comp : {Compression::kNone, Compression::kZstd, Compression::kLz4}) {
    for (bool encrypted : {false, true}) {
      Codec codec(encrypted ? std::optional(TestKey()) : std::nullopt, comp, 3);
      Bytes sealed = codec.Encode(data, AsBytes("aad"));
      if (comp != Compression::kNone) {
        EXPECT_LT(sealed.size(), data.size() / 4);
      }
      auto back = codec.Decode(sealed, AsBytes("aad"));
      ASSERT_TRUE(back.ok()) << back.status().ToString();
      EXPECT_EQ(*back, data);
    }
  }
}

// DecodeTo hands the same bytes as Decode in pieces of at most 1 MiB, for every compression,
// and a damaged blob gives no piece at all (it is authenticated first).
TEST(CodecTest, DecodeToStreamsWhatDecodeReturns) {
  // A size that ends between pieces, and one that ends exactly at a piece's end (a WAL segment:
  // the frame ends as the output fills up).
  for (size_t size : {size_t{5 * (1 << 20) + 12345}, size_t{16} << 20})
    for (auto compression : {Compression::kZstd, Compression::kLz4, Compression::kNone}) {
      Bytes plain(size);
      for (size_t byte_idx = 0; byte_idx < plain.size(); ++byte_idx)
        plain[byte_idx] = static_cast<uint8_t>((byte_idx * 7) % 251 + (byte_idx >> 16));
      for (bool encrypted : {true, false}) {
        std::optional<SecretKey> key;
        if (encrypted) key = SecretKey(RandomBytes(kKeySize));
        Codec codec(key, compression, 3);
        Bytes sealed = codec.Encode(plain, AsBytes("aad"));
        Bytes streamed;
        size_t pieces = 0;
        Status s = codec.DecodeTo(sealed, AsBytes("aad"), [&](ByteView piece) {
          EXPECT_LE(piece.size(), size_t{1} << 20);
          Append(streamed, piece);
          ++pieces;
          return Status::Ok();
        });
        ASSERT_TRUE(s.ok()) << s.ToString();
        EXPECT_EQ(streamed, plain);
        EXPECT_GE(pieces, size >> 20);
        sealed[sealed.size() / 2] ^= 1;
        pieces = 0;
        s = codec.DecodeTo(sealed, AsBytes("aad"), [&](ByteView) {
          ++pieces;
          return Status::Ok();
        });
        EXPECT_EQ(s.code(), Code::kCorruption) << s.ToString();
        if (encrypted) {
          EXPECT_EQ(pieces, 0u);
        }
      }
    }
}

// Found by fuzz/codec_fuzz.cc (crash-816b91f2): a zstd blob with no frame and a raw size of 0.
// Decode gives empty content; DecodeTo said "truncated". Both must agree.
TEST(CodecTest, DecodeToAgreesWithDecodeOnAnEmptyZstdPayload) {
  const Bytes inner = {0x01, 0x00, 0x00, 0x00, 0x00};  // zstd, 0 bytes, no frame
  SecretKey key(Bytes(kKeySize, 1));
  Codec codec(key, Compression::kZstd, 3);
  Bytes sealed = Seal(key, inner, AsBytes("aad"));
  auto decoded = codec.Decode(sealed, AsBytes("aad"));
  ASSERT_TRUE(decoded.ok()) << decoded.status().ToString();
  EXPECT_TRUE(decoded->empty());
  size_t pieces = 0;
  Status to = codec.DecodeTo(sealed, AsBytes("aad"), [&](ByteView) {
    ++pieces;
    return Status::Ok();
  });
  EXPECT_TRUE(to.ok()) << to.ToString();
  EXPECT_EQ(pieces, 0u);
}

TEST(CodecTest, DetectsAFlippedByteAndAWrongAad) {
  Bytes data = RandomBytes(10000);
  for (bool encrypted : {false, true}) {
    Codec codec(encrypted ? std::optional(TestKey()) : std::nullopt, Compression::kZstd, 3);
    Bytes sealed = codec.Encode(data, AsBytes("block-1"));
    EXPECT_EQ(codec.Decode(sealed, AsBytes("block-2")).status().code(), Code::kCorruption);
    sealed[sealed.size() / 2] ^= 0x01;
    EXPECT_EQ(codec.Decode(sealed, AsBytes("block-1")).status().code(), Code::kCorruption);
  }
}

TEST(CodecTest, WrongKeyFailsAuthentication) {
  Codec a(TestKey(), Compression::kZstd, 3), b(TestKey(), Compression::kZstd, 3);
  Bytes sealed = a.Encode(AsBytes("secret data"), {});
  auto r = b.Decode(sealed, {});
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_EQ(r.status().message(), "authentication tag mismatch");
}

// Found by fuzz/codec_fuzz.cc (oom-3a91ea8d): an unencrypted blob, its CRC valid, whose inner
// header says 0xA2000000 bytes of uncompressed data follow, and one byte does. Decode allocated
// the 2.7 GB before comparing sizes.
TEST(CodecTest, RefusesAStoredSizeItsDataCannotHold) {
  const Bytes sealed = {0x00, 0x00, 0x00, 0x00, 0xa2, 0xee, 0x69, 0xfc, 0x33};
  Codec codec(std::nullopt, Compression::kZstd, 3);
  auto r = codec.Decode(sealed, AsBytes("pgvault-fuzz"));
  EXPECT_EQ(r.status().code(), Code::kCorruption);
  EXPECT_EQ(r.status().message(),
            "blob says 2717908992 bytes, more than 0 bytes of none data can hold");
  Status to =
      codec.DecodeTo(sealed, AsBytes("pgvault-fuzz"), [](ByteView) { return Status::Ok(); });
  EXPECT_EQ(to.code(), Code::kCorruption);
  EXPECT_EQ(to.message(), r.status().message());
}

TEST(CodecTest, DecompressRefusesSizesBeyondWhatTheInputCanHold) {
  Bytes zeros(16 << 20, 0);  // a fresh WAL segment: the most compressible real input
  for (auto comp : {Compression::kZstd, Compression::kLz4}) {
    Bytes packed;
    ASSERT_TRUE(Compress(comp, 3, zeros, packed));
    Bytes out;
    ASSERT_TRUE(Decompress(comp, packed, zeros.size(), out).ok()) << CompressionName(comp);
    EXPECT_EQ(out, zeros);
    Status s = Decompress(comp, packed, size_t{4} << 30, out);
    EXPECT_EQ(s.code(), Code::kCorruption) << CompressionName(comp);
  }
}

// Blocks switch match finders by how well the block before compressed (compress.cc): blocks
// of rows and of random bytes, interleaved, each round-trip whichever context served them.
TEST(CodecTest, BlocksRoundTripWhileTheFinderSwitches) {
  Codec codec(std::nullopt, Compression::kZstd, 3);
  std::mt19937 gen(7);
  for (int block_idx = 0; block_idx < 12; ++block_idx) {
    Bytes block(128 << 10);
    bool rows = block_idx % 3 != 2;
    for (size_t byte_idx = 0; byte_idx < block.size(); ++byte_idx)
      block[byte_idx] = rows ? (byte_idx % 128 < 8 ? static_cast<uint8_t>(gen()) : ' ')
                             : static_cast<uint8_t>(gen());
    Bytes sealed = codec.Encode(block, AsBytes("aad"));
    if (rows) {
      EXPECT_LT(sealed.size(), block.size() / 3);
    }
    auto back = codec.Decode(sealed, AsBytes("aad"));
    ASSERT_TRUE(back.ok()) << back.status().ToString();
    EXPECT_EQ(*back, block) << "block " << block_idx;
  }
}

TEST(CryptoTest, HmacMatchesRfc4231Case2) {
  // RFC 4231 test case 2 uses a 4-byte key; SecretKey zero-pads to 32, which HMAC treats the
  // same way (keys shorter than the block size are zero-padded), so the published tag applies.
  SecretKey key(AsBytes("Jefe"));
  Hmac hmac(key);
  EXPECT_EQ(ToHex(hmac.Compute(AsBytes("what do ya want for nothing?"))),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(CryptoTest, Sha256OfAbc) {
  EXPECT_EQ(ToHex(Sha256(AsBytes("abc"))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace pgvault::pipeline
