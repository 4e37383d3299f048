#pragma once
// Owning handles for OpenSSL objects (storage's digests and MACs, handlers' JWT keys): each
// has exactly one owner and is freed on every path.
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/decoder.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/params.h>

#include "reactor/owned_handle.h"

namespace recgw::storage {

// Bytes OpenSSL allocated for us (i2d_*, BN_bn2hex …).
struct OpensslFree {
  void operator()(unsigned char* bytes) const noexcept { OPENSSL_free(bytes); }
};

using EvpMdPtr = OwnedHandle<EVP_MD, EVP_MD_free>;
using EvpMdCtxPtr = OwnedHandle<EVP_MD_CTX, EVP_MD_CTX_free>;
using EvpMacPtr = OwnedHandle<EVP_MAC, EVP_MAC_free>;
using EvpMacCtxPtr = OwnedHandle<EVP_MAC_CTX, EVP_MAC_CTX_free>;
using EvpPkeyPtr = OwnedHandle<EVP_PKEY, EVP_PKEY_free>;
using EvpPkeyCtxPtr = OwnedHandle<EVP_PKEY_CTX, EVP_PKEY_CTX_free>;
using BignumPtr = OwnedHandle<BIGNUM, BN_free>;
using EcdsaSigPtr = OwnedHandle<ECDSA_SIG, ECDSA_SIG_free>;
using ParamBldPtr = OwnedHandle<OSSL_PARAM_BLD, OSSL_PARAM_BLD_free>;
using ParamPtr = OwnedHandle<OSSL_PARAM, OSSL_PARAM_free>;
using DecoderCtxPtr = OwnedHandle<OSSL_DECODER_CTX, OSSL_DECODER_CTX_free>;
using BioPtr = OwnedHandle<BIO, BIO_free>;
using OpensslBytesPtr = std::unique_ptr<unsigned char, OpensslFree>;

}  // namespace recgw::storage
