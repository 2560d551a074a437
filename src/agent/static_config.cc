#include "agent/static_config.h"

#include <yaml-cpp/yaml.h>

#include <fstream>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "policy/policy_parser.h"

namespace rampart::agent {

namespace {

class Parser {
 public:
  Parser(std::string_view doc, std::string base) : doc_(doc), base_(std::move(base)) {}

  absl::Status Fail(const std::string& field, const std::string& reason) {
    return absl::InvalidArgumentError(absl::StrCat(doc_, ": ", field, ": ", reason));
  }

  absl::Status CheckKeys(const YAML::Node& n, const std::string& path, const std::set<std::string>& allowed) {
    if (!n.IsMap()) return Fail(path, "must be a mapping");
    for (const auto& kv : n) {
      if (!kv.first.IsScalar()) return Fail(path, "keys must be plain strings");
      const std::string& k = kv.first.Scalar();
      if (!allowed.count(k)) return Fail(path.empty() ? k : path + "." + k, "unknown field");
    }
    return absl::OkStatus();
  }

  template <typename T>
  absl::StatusOr<T> Scalar(const YAML::Node& n, const std::string& path) {
    if (!n.IsScalar()) return Fail(path, "must be a scalar");
    try {
      return n.as<T>();
    } catch (const YAML::Exception&) {
      return Fail(path, absl::StrCat("'", n.Scalar(), "' has the wrong type"));
    }
  }

  absl::StatusOr<std::array<uint8_t, 6>> Mac(const YAML::Node& n, const std::string& path) {
    auto s = Scalar<std::string>(n, path);
    if (!s.ok()) return s.status();
    std::array<uint8_t, 6> mac{};
    unsigned v[6];
    char extra;
    if (std::sscanf(s->c_str(), "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &extra) != 6) {
      return Fail(path, absl::StrCat("'", *s, "' is not a MAC address like 02:00:00:00:00:01"));
    }
    for (int i = 0; i < 6; ++i) mac[i] = static_cast<uint8_t>(v[i]);
    if (mac[0] & 1) return Fail(path, absl::StrCat("'", *s, "' is a multicast address"));
    return mac;
  }

  absl::StatusOr<StaticConfig> Parse(std::string_view text) {
    // yaml-cpp throws on conversions the checks below did not foresee; such input is the
    // document's error, never a crash.
    try {
      return ParseUnchecked(text);
    } catch (const YAML::Exception& e) {
      return absl::InvalidArgumentError(absl::StrCat(doc_, ": line ", e.mark.line + 1, ", column ", e.mark.column + 1, ": ", e.msg));
    }
  }

  absl::StatusOr<StaticConfig> ParseUnchecked(std::string_view text) {
    YAML::Node root;
    try {
      root = YAML::Load(std::string(text));
    } catch (const YAML::ParserException& e) {
      return absl::InvalidArgumentError(absl::StrCat(doc_, ": line ", e.mark.line + 1, ", column ", e.mark.column + 1, ": ", e.msg));
    }
    if (auto st = CheckKeys(root, "", {"kind", "bridge", "tunnel_port", "firewall_port", "vni", "hosts", "instances", "vms"}); !st.ok()) return st;
    StaticConfig c;
    if (root["kind"]) {
      auto k = Scalar<std::string>(root["kind"], "kind");
      if (!k.ok()) return k.status();
      if (*k != "HostConfig") return Fail("kind", absl::StrCat("'", *k, "' is not HostConfig"));
    }
    for (auto [key, field] : {std::pair{"bridge", &c.bridge}, {"tunnel_port", &c.tunnel_port}, {"firewall_port", &c.firewall_port}}) {
      if (root[key]) {
        auto v = Scalar<std::string>(root[key], key);
        if (!v.ok()) return v.status();
        *field = *v;
      }
    }
    if (root["vni"]) {
      auto v = Scalar<uint64_t>(root["vni"], "vni");
      if (!v.ok()) return v.status();
      if (*v == 0 || *v > 0xffffff) return Fail("vni", "must be 1..16777215");
      c.vni = *v;
    }
    std::set<std::string> host_names;
    if (root["hosts"]) {
      if (!root["hosts"].IsSequence()) return Fail("hosts", "must be a list");
      for (size_t i = 0; i < root["hosts"].size(); ++i) {
        const YAML::Node& h = root["hosts"][i];
        std::string path = absl::StrCat("hosts[", i, "]");
        if (auto st = CheckKeys(h, path, {"name", "underlay"}); !st.ok()) return st;
        HostConfig hc;
        auto name = Scalar<std::string>(h["name"], path + ".name");
        if (!name.ok()) return name.status();
        hc.name = *name;
        auto ul = Scalar<std::string>(h["underlay"], path + ".underlay");
        if (!ul.ok()) return ul.status();
        auto ip = Ip::Parse(*ul);
        if (!ip || !ip->IsV4()) return Fail(path + ".underlay", absl::StrCat("'", *ul, "' is not an IPv4 address"));
        hc.underlay = *ip;
        if (!host_names.insert(hc.name).second) return Fail(path + ".name", absl::StrCat("host '", hc.name, "' is listed twice"));
        c.hosts.push_back(hc);
      }
    }
    std::set<uint32_t> instance_ids;
    if (root["instances"]) {
      if (!root["instances"].IsSequence()) return Fail("instances", "must be a list");
      for (size_t i = 0; i < root["instances"].size(); ++i) {
        const YAML::Node& n = root["instances"][i];
        std::string path = absl::StrCat("instances[", i, "]");
        if (auto st = CheckKeys(n, path, {"id", "name", "options", "policy", "policy_file"}); !st.ok()) return st;
        InstanceConfig ic;
        auto id = Scalar<uint32_t>(n["id"], path + ".id");
        if (!id.ok()) return id.status();
        ic.id = *id;
        if (!instance_ids.insert(ic.id).second) return Fail(path + ".id", absl::StrCat("instance id ", ic.id, " is used twice"));
        if (n["name"]) {
          auto nm = Scalar<std::string>(n["name"], path + ".name");
          if (!nm.ok()) return nm.status();
          ic.name = *nm;
        }
        if (n["options"]) {
          if (!n["options"].IsMap()) return Fail(path + ".options", "must be a mapping");
          for (const auto& kv : n["options"]) {
            if (!kv.first.IsScalar() || !kv.second.IsScalar()) return Fail(path + ".options", "must map names to plain values");
            const std::string& k = kv.first.Scalar();
            const std::string& v = kv.second.Scalar();
            if (v == "true" || v == "false") ic.options[k] = (v == "true");
            else if (!v.empty() && v.find_first_not_of("0123456789") == std::string::npos) ic.options[k] = std::stoull(v);
            else ic.options[k] = v;
          }
        }
        if (n["policy"] && n["policy_file"]) return Fail(path, "give policy or policy_file, not both");
        if (n["policy"]) {
          if (n["policy"].IsScalar()) {
            ic.policy_yaml = n["policy"].Scalar();
          } else {
            YAML::Emitter out;
            out << n["policy"];
            ic.policy_yaml = out.c_str();
          }
        } else if (n["policy_file"]) {
          auto f = Scalar<std::string>(n["policy_file"], path + ".policy_file");
          if (!f.ok()) return f.status();
          std::string p = (!f->empty() && (*f)[0] == '/') ? *f : base_ + "/" + *f;
          std::ifstream in(p);
          if (!in) return Fail(path + ".policy_file", absl::StrCat("cannot read '", p, "'"));
          std::stringstream ss;
          ss << in.rdbuf();
          ic.policy_yaml = ss.str();
        } else {
          return Fail(path, "needs policy or policy_file");
        }
        // Validate now, so a bad policy is reported against this document before anything is applied.
        auto pol = ParsePolicyYaml(ic.policy_yaml, absl::StrCat(doc_, ": ", path, ".policy"));
        if (!pol.ok()) return pol.status();
        c.instances.push_back(std::move(ic));
      }
    }
    std::set<std::string> vm_names;
    std::set<uint16_t> tags;
    std::set<std::pair<uint32_t, uint32_t>> ports;
    std::set<std::array<uint8_t, 6>> macs;
    if (root["vms"]) {
      if (!root["vms"].IsSequence()) return Fail("vms", "must be a list");
      for (size_t i = 0; i < root["vms"].size(); ++i) {
        const YAML::Node& n = root["vms"][i];
        std::string path = absl::StrCat("vms[", i, "]");
        if (auto st = CheckKeys(n, path, {"name", "mac", "host", "ovs_port", "protect"}); !st.ok()) return st;
        VmConfig vm;
        auto name = Scalar<std::string>(n["name"], path + ".name");
        if (!name.ok()) return name.status();
        vm.name = *name;
        if (!vm_names.insert(vm.name).second) return Fail(path + ".name", absl::StrCat("VM '", vm.name, "' is listed twice"));
        auto mac = Mac(n["mac"], path + ".mac");
        if (!mac.ok()) return mac.status();
        vm.mac = *mac;
        if (!macs.insert(vm.mac).second) return Fail(path + ".mac", "another VM has this MAC");
        auto host = Scalar<std::string>(n["host"], path + ".host");
        if (!host.ok()) return host.status();
        if (!host_names.count(*host)) return Fail(path + ".host", absl::StrCat("unknown host '", *host, "' (not in hosts)"));
        vm.host = *host;
        vm.ovs_port = "vm-" + vm.name;
        if (n["ovs_port"]) {
          auto p = Scalar<std::string>(n["ovs_port"], path + ".ovs_port");
          if (!p.ok()) return p.status();
          vm.ovs_port = *p;
        }
        if (n["protect"]) {
          const YAML::Node& pr = n["protect"];
          std::string pp = path + ".protect";
          if (auto st = CheckKeys(pr, pp, {"instance", "port", "tags"}); !st.ok()) return st;
          Protection prot;
          auto inst = Scalar<uint32_t>(pr["instance"], pp + ".instance");
          if (!inst.ok()) return inst.status();
          if (!instance_ids.count(*inst)) return Fail(pp + ".instance", absl::StrCat("unknown instance ", *inst));
          prot.instance = *inst;
          auto port = Scalar<uint32_t>(pr["port"], pp + ".port");
          if (!port.ok()) return port.status();
          prot.port = *port;
          if (!ports.insert({prot.instance, prot.port}).second) return Fail(pp + ".port", absl::StrCat("port ", prot.port, " of instance ", prot.instance, " is used twice"));
          if (!pr["tags"].IsSequence() || pr["tags"].size() != 2) return Fail(pp + ".tags", "must be [from-vm tag, to-vm tag]");
          for (int t = 0; t < 2; ++t) {
            auto tag = Scalar<uint32_t>(pr["tags"][t], absl::StrCat(pp, ".tags[", t, "]"));
            if (!tag.ok()) return tag.status();
            if (*tag < 1 || *tag > 4094) return Fail(absl::StrCat(pp, ".tags[", t, "]"), "must be 1..4094");
            if (!tags.insert(static_cast<uint16_t>(*tag)).second) return Fail(absl::StrCat(pp, ".tags[", t, "]"), absl::StrCat("tag ", *tag, " is used twice"));
            (t == 0 ? prot.tag_from_vm : prot.tag_to_vm) = static_cast<uint16_t>(*tag);
          }
          vm.protect = prot;
        }
        c.vms.push_back(std::move(vm));
      }
    }
    return c;
  }

 private:
  std::string doc_;
  std::string base_;
};

}  // namespace

const HostConfig* StaticConfig::FindHost(std::string_view name) const {
  for (const auto& h : hosts) {
    if (h.name == name) return &h;
  }
  return nullptr;
}

absl::StatusOr<StaticConfig> ParseStaticConfig(std::string_view text, std::string_view doc_name, const std::string& base_dir) {
  return Parser(doc_name, base_dir).Parse(text);
}

absl::StatusOr<StaticConfig> LoadStaticConfig(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read '", path, "'"));
  std::stringstream ss;
  ss << in.rdbuf();
  std::string dir = path.find('/') == std::string::npos ? "." : path.substr(0, path.rfind('/'));
  return ParseStaticConfig(ss.str(), path, dir);
}

}  // namespace rampart::agent
