#include "controller/api/certs.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/ip.h"

namespace rampart::controller {
namespace {

namespace fs = std::filesystem;

struct KeyFree { void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); } };
struct CertFree { void operator()(X509* x) const { X509_free(x); } };
using KeyPtr = std::unique_ptr<EVP_PKEY, KeyFree>;
using CertPtr = std::unique_ptr<X509, CertFree>;

std::string SslError(std::string_view what) {
  unsigned long e = ERR_get_error();
  char buf[256] = "unknown error";
  if (e) ERR_error_string_n(e, buf, sizeof buf);
  return absl::StrCat(std::string(what), ": ", buf);
}

absl::StatusOr<KeyPtr> NewKey() {
  KeyPtr k(EVP_EC_gen("P-256"));
  if (!k) return absl::InternalError(SslError("cannot generate a P-256 key"));
  return k;
}

absl::Status AddExt(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (!ext) return absl::InternalError(SslError(absl::StrCat("certificate extension '", value, "'")));
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return absl::OkStatus();
}

// A certificate for `key`, CN `cn`, signed by (issuer, issuer_key); self-signed when issuer is null.
absl::StatusOr<CertPtr> MakeCert(EVP_PKEY* key, const std::string& cn, X509* issuer, EVP_PKEY* issuer_key, int days,
                                 const std::vector<std::pair<int, std::string>>& exts) {
  CertPtr x(X509_new());
  if (!x) return absl::InternalError("out of memory");
  X509_set_version(x.get(), 2);
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) return absl::InternalError(SslError("RAND_bytes"));
  serial[0] &= 0x7f;  // positive
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x.get()));
  BN_free(bn);
  X509_gmtime_adj(X509_getm_notBefore(x.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(x.get()), static_cast<long>(days) * 86400);
  X509_set_pubkey(x.get(), key);
  X509_NAME* name = X509_get_subject_name(x.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("Rampart"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(x.get(), issuer ? X509_get_subject_name(issuer) : name);
  X509* iss = issuer ? issuer : x.get();
  for (const auto& [nid, value] : exts)
    if (auto st = AddExt(x.get(), iss, nid, value); !st.ok()) return st;
  if (!X509_sign(x.get(), issuer_key ? issuer_key : key, EVP_sha256()))
    return absl::InternalError(SslError("cannot sign the certificate"));
  return x;
}

absl::Status WriteFile(const fs::path& p, bool secret, const std::function<bool(FILE*)>& write) {
  fs::path tmp = p;
  tmp += ".tmp";
  FILE* f = std::fopen(tmp.c_str(), "w");
  if (!f) return absl::PermissionDeniedError(absl::StrCat("cannot write ", tmp.string()));
  if (secret) fchmod(fileno(f), 0600);
  bool ok = write(f);
  ok = std::fclose(f) == 0 && ok;
  if (!ok) return absl::InternalError(SslError(absl::StrCat("cannot write ", p.string())));
  std::error_code ec;
  fs::rename(tmp, p, ec);
  if (ec) return absl::InternalError(absl::StrCat("cannot rename ", tmp.string(), ": ", ec.message()));
  return absl::OkStatus();
}

absl::Status WritePair(const fs::path& cert_path, X509* cert, const fs::path& key_path, EVP_PKEY* key) {
  if (auto st = WriteFile(key_path, true, [&](FILE* f) {
        return PEM_write_PrivateKey(f, key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
      });
      !st.ok())
    return st;
  return WriteFile(cert_path, false, [&](FILE* f) { return PEM_write_X509(f, cert) == 1; });
}

bool ValidHostName(const std::string& h) {
  if (h.empty() || h.size() > 64) return false;
  for (char c : h)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
      return false;
  return h[0] != '.' && h[0] != '-';
}

}  // namespace

absl::StatusOr<std::string> RandomToken() {
  unsigned char b[32];
  if (RAND_bytes(b, sizeof b) != 1) return absl::InternalError(SslError("RAND_bytes"));
  static const char* kHex = "0123456789abcdef";
  std::string s;
  for (unsigned char c : b) {
    s += kHex[c >> 4];
    s += kHex[c & 15];
  }
  return s;
}

absl::StatusOr<std::vector<std::string>> InitCerts(const CertsOptions& o) {
  if (o.dir.empty()) return absl::InvalidArgumentError("certs: --dir is required");
  for (const auto& h : o.hosts)
    if (!ValidHostName(h))
      return absl::InvalidArgumentError(absl::StrCat("certs: host '", h, "' may contain only letters, digits, '-', '_' and '.'"));
  fs::path dir(o.dir);
  std::error_code ec;
  fs::create_directories(dir / "hosts", ec);
  if (ec) return absl::PermissionDeniedError(absl::StrCat("certs: cannot create ", (dir / "hosts").string(), ": ", ec.message()));
  std::vector<std::string> created;

  // The CA: reuse when present.
  KeyPtr ca_key;
  CertPtr ca;
  fs::path ca_pem = dir / "ca.pem", ca_keyf = dir / "ca.key";
  if (fs::exists(ca_pem) || fs::exists(ca_keyf)) {
    FILE* f = std::fopen(ca_pem.c_str(), "r");
    FILE* g = std::fopen(ca_keyf.c_str(), "r");
    if (f) ca.reset(PEM_read_X509(f, nullptr, nullptr, nullptr));
    if (g) ca_key.reset(PEM_read_PrivateKey(g, nullptr, nullptr, nullptr));
    if (f) std::fclose(f);
    if (g) std::fclose(g);
    if (!ca || !ca_key)
      return absl::FailedPreconditionError(absl::StrCat("certs: ", dir.string(), " has an unreadable or partial CA (ca.pem, ca.key); remove both to make a new one"));
    if (X509_check_private_key(ca.get(), ca_key.get()) != 1)
      return absl::FailedPreconditionError(absl::StrCat("certs: ", ca_keyf.string(), " is not the key of ", ca_pem.string()));
  } else {
    auto k = NewKey();
    if (!k.ok()) return k.status();
    auto c = MakeCert(k->get(), "Rampart CA", nullptr, nullptr, 3650,
                      {{NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
                       {NID_key_usage, "critical,keyCertSign,cRLSign"},
                       {NID_subject_key_identifier, "hash"}});
    if (!c.ok()) return c.status();
    if (auto st = WritePair(ca_pem, c->get(), ca_keyf, k->get()); !st.ok()) return st;
    ca_key = std::move(*k);
    ca = std::move(*c);
    created.push_back(ca_pem.string());
    created.push_back(ca_keyf.string());
  }

  auto leaf = [&](const fs::path& pem, const fs::path& keyf, const std::string& cn, const std::string& san,
                  const std::string& eku) -> absl::Status {
    if (fs::exists(pem) && fs::exists(keyf)) return absl::OkStatus();
    auto k = NewKey();
    if (!k.ok()) return k.status();
    auto c = MakeCert(k->get(), cn, ca.get(), ca_key.get(), o.days,
                      {{NID_basic_constraints, "critical,CA:FALSE"},
                       {NID_key_usage, "critical,digitalSignature,keyEncipherment"},
                       {NID_ext_key_usage, eku},
                       {NID_subject_alt_name, san},
                       {NID_subject_key_identifier, "hash"},
                       {NID_authority_key_identifier, "keyid:always"}});
    if (!c.ok()) return c.status();
    if (auto st = WritePair(pem, c->get(), keyf, k->get()); !st.ok()) return st;
    created.push_back(pem.string());
    created.push_back(keyf.string());
    return absl::OkStatus();
  };
  std::vector<std::string> sans = {"DNS:localhost", "IP:127.0.0.1"};
  for (const auto& n : o.extra_names) sans.push_back(Ip::Parse(n) ? "IP:" + n : "DNS:" + n);
  if (auto st = leaf(dir / "server.pem", dir / "server.key", "rampart-controller", absl::StrJoin(sans, ","), "serverAuth");
      !st.ok())
    return st;
  for (const auto& h : o.hosts)
    if (auto st = leaf(dir / "hosts" / (h + ".pem"), dir / "hosts" / (h + ".key"), h, "DNS:" + h, "clientAuth"); !st.ok())
      return st;

  fs::path tokens = dir / "tokens.yaml";
  if (!fs::exists(tokens)) {
    auto t = RandomToken();
    if (!t.ok()) return t.status();
    std::string text = absl::StrCat(
        "# Bearer tokens of the controller's REST API (docs/api.md): token, name, role, tenant.\n"
        "# Roles: datacenter-admin, tenant-admin (needs tenant), read-only (tenant optional).\n"
        "- {token: ", *t, ", name: admin, role: datacenter-admin}\n");
    if (auto st = WriteFile(tokens, true, [&](FILE* f) { return std::fwrite(text.data(), 1, text.size(), f) == text.size(); });
        !st.ok())
      return st;
    created.push_back(tokens.string());
  }
  return created;
}

}  // namespace rampart::controller
