#include "text_encoder/umt5_config.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "io/json_file.h"
#include "soragen/error.h"

namespace soragen::text_encoder {
namespace {

int64_t positive_int(const nlohmann::json& json, const std::string& origin, const char* key,
                     const char* alias = nullptr) {
  const char* found = json.contains(key) ? key : (alias && json.contains(alias) ? alias : nullptr);
  if (!found) throw ModelError(origin + ": missing '" + key + "'");
  const nlohmann::json& value = json.at(found);
  if (!value.is_number_integer()) {
    throw ModelError(origin + ": '" + found + "' must be an integer, got " + value.dump());
  }
  const int64_t n = value.get<int64_t>();
  if (n <= 0) throw ModelError(origin + ": '" + found + "' must be positive, got " + std::to_string(n));
  return n;
}

void require_flag(const nlohmann::json& json, const std::string& origin, const char* key, bool expected,
                  const char* why) {
  if (!json.contains(key)) return;
  const nlohmann::json& value = json.at(key);
  if (!value.is_boolean()) throw ModelError(origin + ": '" + key + "' must be true or false, got " + value.dump());
  if (value.get<bool>() != expected) {
    throw ModelError(origin + ": '" + key + "' " + value.dump() + " is not supported (" + why + ")");
  }
}

}  // namespace

UMT5Config UMT5Config::from_json(const nlohmann::json& json, const std::string& origin) {
  if (!json.is_object()) throw ModelError(origin + ": expected a JSON object, got " + json.type_name());
  UMT5Config c;
  c.origin = origin;
  c.vocab = positive_int(json, origin, "vocab");
  c.dim = positive_int(json, origin, "dim");
  c.dim_attn = positive_int(json, origin, "dim_attn");
  c.dim_ffn = positive_int(json, origin, "dim_ffn");
  c.num_heads = positive_int(json, origin, "num_heads");
  c.num_layers = positive_int(json, origin, "num_layers");
  c.num_buckets = positive_int(json, origin, "num_buckets");
  c.max_dist = positive_int(json, origin, "max_dist", "max_distance");
  c.text_len = positive_int(json, origin, "text_len");
  if (json.contains("eps")) {
    const nlohmann::json& eps = json.at("eps");
    if (!eps.is_number()) throw ModelError(origin + ": 'eps' must be a number, got " + eps.dump());
    c.eps = eps.get<double>();
    if (!(c.eps > 0) || !std::isfinite(c.eps)) throw ModelError(origin + ": 'eps' must be positive, got " + eps.dump());
  }
  require_flag(json, origin, "shared_pos", false, "umT5 has a position table in every layer");
  require_flag(json, origin, "bidirectional", true, "the encoder attends in both directions");

  if (c.dim_attn % c.num_heads != 0) {
    throw ModelError(origin + ": num_heads " + std::to_string(c.num_heads) + " does not divide dim_attn " +
                     std::to_string(c.dim_attn));
  }
  // Half the buckets per direction, half of those exact offsets: the
  // logarithmic half needs at least one exact bucket and room above it.
  if (c.num_buckets % 2 != 0 || c.num_buckets < 4) {
    throw ModelError(origin + ": num_buckets must be even and at least 4, got " + std::to_string(c.num_buckets));
  }
  const int64_t max_exact = c.num_buckets / 4;
  if (c.max_dist <= max_exact) {
    throw ModelError(origin + ": max_dist " + std::to_string(c.max_dist) + " must exceed num_buckets/4 = " +
                     std::to_string(max_exact));
  }
  return c;
}

UMT5Config UMT5Config::from_file(const std::filesystem::path& path) {
  const std::string origin = "config '" + path.string() + "'";
  return UMT5Config::from_json(io::read_json_object(path, origin), origin);
}

}  // namespace soragen::text_encoder
