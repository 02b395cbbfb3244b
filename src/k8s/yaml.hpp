#pragma once

#include <nlohmann/json.hpp>
#include <string>

// JSON as YAML, for Kubernetes manifests people read and edit: block style,
// every string double-quoted as JSON quotes it (valid YAML, so no string is
// ever read back as a number, a boolean or null), and multi-line text as a
// literal block (a scenario file in a ConfigMap stays readable).
namespace pgleak::k8s {

// One document, ending with a newline.
std::string to_yaml(const nlohmann::json& document);

}  // namespace pgleak::k8s
