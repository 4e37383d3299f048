// SHA-256 and HMAC against published vectors (FIPS 180-2, RFC 4231), including keys
// longer than a block and an empty key, and from several threads (each keeps its own
// OpenSSL contexts).
#include "storage/crypto.h"

#include <gtest/gtest.h>

#include <string>
#include <thread>
#include <vector>

namespace recgw::crypto {
namespace {

std::string fromHex(std::string_view hex) {
  std::string out;
  for (size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

TEST(CryptoTest, Sha256KnownAnswers) {
  EXPECT_EQ(sha256Hex(""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  EXPECT_EQ(sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(sha256Hex("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq"),
            "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  // Context reuse must not carry state from one call to the next.
  EXPECT_EQ(sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

struct Rfc4231Case {
  const char* name;
  std::string key;
  std::string data;
  const char* sha256;
  const char* sha384;
  const char* sha512;
};

TEST(CryptoTest, HmacRfc4231) {
  std::vector<Rfc4231Case> cases = {
      {"case 1", std::string(20, '\x0b'), "Hi There",
       "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7",
       "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6",
       "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d9"
       "14eeb61f1"
       "702e696c203a126854"},
      {"case 2", "Jefe", "what do ya want for nothing?",
       "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843",
       "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649",
       "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab"
       "1a34d4a6b"
       "4b636e070a38bce737"},
      {"case 6 (key longer than a block)", std::string(131, '\xaa'),
       "Test Using Larger Than Block-Size Key - Hash Key First",
       "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54",
       "4ece084485813e9088d2c63a041bc5b44f9ef1012a2b588f3cd11f05033ac4c60c2ef6ab4030fe8296248df163f44952",
       "80b24263c7c1a3ebb71493c1dd7be8b49b46d1f41b4aeec1121b013783f8f3526b56d037e05f2598bd0fd2215d6a1e5295e64"
       "f73f63f0a"
       "ec8b915a985d786598"},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(hexLower(hmacSha256(c.key, c.data)), c.sha256) << c.name;
    EXPECT_EQ(hexLower(hmac(Digest::kSha256, c.key, c.data)), c.sha256) << c.name;
    EXPECT_EQ(hexLower(hmac(Digest::kSha384, c.key, c.data)), c.sha384) << c.name;
    EXPECT_EQ(hexLower(hmac(Digest::kSha512, c.key, c.data)), c.sha512) << c.name;
  }
}

TEST(CryptoTest, KeyedHmacMatchesOneShotAcrossMessages) {
  HmacSha256Key jefe("Jefe");
  HmacSha256Key longKey(std::string(131, '\xaa'));
  for (int round = 0; round < 3; ++round) {  // the key survives each restart
    EXPECT_EQ(hexLower(jefe.mac("what do ya want for nothing?")),
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    EXPECT_EQ(jefe.mac("another message"), hmacSha256("Jefe", "another message"));
    EXPECT_EQ(hexLower(longKey.mac("Test Using Larger Than Block-Size Key - Hash Key First")),
              "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54");
  }
  HmacSha256Key empty("");
  EXPECT_EQ(hexLower(empty.mac("")), "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
}

TEST(CryptoTest, HmacWithEmptyKeyAndData) {
  EXPECT_EQ(hexLower(hmacSha256("", "")), "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
  // The same context with a key again after the empty one.
  EXPECT_EQ(hexLower(hmacSha256("Jefe", "what do ya want for nothing?")),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST(CryptoTest, ThreadsKeepTheirOwnContexts) {
  const std::string want = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
  std::vector<std::thread> threads;
  std::vector<int> wrong(4, 0);
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 2000; ++i) {
        if (hexLower(hmacSha256("Jefe", "what do ya want for nothing?")) != want) ++wrong[t];
        if (sha256Hex("abc") != "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
          ++wrong[t];
      }
    });
  }
  for (auto& th : threads) th.join();
  for (int t = 0; t < 4; ++t) EXPECT_EQ(wrong[t], 0) << "thread " << t;
}

TEST(CryptoTest, HexRoundTrip) { EXPECT_EQ(hexLower(fromHex("00ff10ab")), "00ff10ab"); }

// RFC 1321's test suite.
TEST(CryptoTest, Md5KnownAnswersWholeAndPieceByPiece) {
  EXPECT_EQ(hexLower(md5("")), "d41d8cd98f00b204e9800998ecf8427e");
  EXPECT_EQ(hexLower(md5("abc")), "900150983cd24fb0d6963f7d28e17f72");
  EXPECT_EQ(hexLower(md5("message digest")), "f96b697d7cb7938d525a2f31aaf161d0");
  Md5 m;
  m.update("message ");
  m.update("");
  m.update("digest");
  EXPECT_EQ(hexLower(m.finish()), "f96b697d7cb7938d525a2f31aaf161d0");
  m.update("abc");  // finish() resets
  EXPECT_EQ(hexLower(m.finish()), "900150983cd24fb0d6963f7d28e17f72");
}

// RFC 4648 §10.
TEST(CryptoTest, Base64StandardPadded) {
  EXPECT_EQ(base64Encode(""), "");
  EXPECT_EQ(base64Encode("f"), "Zg==");
  EXPECT_EQ(base64Encode("fo"), "Zm8=");
  EXPECT_EQ(base64Encode("foo"), "Zm9v");
  EXPECT_EQ(base64Encode("foob"), "Zm9vYg==");
  EXPECT_EQ(base64Encode("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64Encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64Encode(fromHex("fbff")), "+/8=");
  EXPECT_EQ(base64Decode(base64Encode(md5("abc"))), md5("abc"));
}

}  // namespace
}  // namespace recgw::crypto
