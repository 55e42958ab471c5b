#include "dit/config.h"

#include <map>
#include <optional>
#include <set>
#include <vector>

#include <nlohmann/json.hpp>

#include "io/json_file.h"
#include "io/state_dict.h"
#include "io/tensor_source.h"
#include "soragen/error.h"

namespace soragen::dit {
namespace {

using nlohmann::json;

const json& require(const json& object, const char* key, const std::string& where) {
  const auto it = object.find(key);
  if (it == object.end()) throw ModelError(where + ": key '" + key + "' is missing");
  return *it;
}

int64_t get_int(const json& object, const char* key, const std::string& where) {
  const json& value = require(object, key, where);
  if (!value.is_number_integer()) throw ModelError(where + ": '" + key + "' must be an integer, got " + value.dump());
  return value.get<int64_t>();
}

double get_number(const json& object, const char* key, const std::string& where) {
  const json& value = require(object, key, where);
  if (!value.is_number()) throw ModelError(where + ": '" + key + "' must be a number, got " + value.dump());
  return value.get<double>();
}

bool get_bool(const json& object, const char* key, const std::string& where) {
  const json& value = require(object, key, where);
  if (!value.is_boolean()) throw ModelError(where + ": '" + key + "' must be true or false, got " + value.dump());
  return value.get<bool>();
}

template <size_t N>
std::array<int64_t, N> get_ints(const json& object, const char* key, const std::string& where) {
  const json& value = require(object, key, where);
  std::array<int64_t, N> out{};
  if (!value.is_array() || value.size() != N) {
    throw ModelError(where + ": '" + key + "' must be a list of " + std::to_string(N) + " integers, got " +
                     value.dump());
  }
  for (size_t i = 0; i < N; ++i) {
    if (!value[i].is_number_integer()) {
      throw ModelError(where + ": '" + key + "' must be a list of integers, got " + value.dump());
    }
    out[i] = value[i].get<int64_t>();
  }
  return out;
}

std::string shape_text(const std::vector<int64_t>& shape) { return io::format_shape(shape); }

}  // namespace

DitConfig DitConfig::from_json(const json& object, const std::string& where) {
  if (!object.is_object()) throw ModelError(where + ": expected a JSON object");
  DitConfig c;
  if (object.contains("model_type")) {
    const json& type = object.at("model_type");
    if (!type.is_string()) throw ModelError(where + ": 'model_type' must be a string, got " + type.dump());
    c.model_type = type.get<std::string>();
  }
  c.patch_size = get_ints<3>(object, "patch_size", where);
  c.text_len = get_int(object, "text_len", where);
  c.in_dim = get_int(object, "in_dim", where);
  c.dim = get_int(object, "dim", where);
  c.ffn_dim = get_int(object, "ffn_dim", where);
  c.freq_dim = get_int(object, "freq_dim", where);
  c.text_dim = get_int(object, "text_dim", where);
  c.out_dim = get_int(object, "out_dim", where);
  c.num_heads = get_int(object, "num_heads", where);
  c.num_layers = get_int(object, "num_layers", where);
  c.window_size = get_ints<2>(object, "window_size", where);
  c.qk_norm = get_bool(object, "qk_norm", where);
  c.cross_attn_norm = get_bool(object, "cross_attn_norm", where);
  c.eps = get_number(object, "eps", where);
  // Not in the official config.json: WanModel hard-codes them (rope_params).
  if (object.contains("rope_theta")) c.rope_theta = get_number(object, "rope_theta", where);
  if (object.contains("rope_max_positions")) c.rope_max_positions = get_int(object, "rope_max_positions", where);
  c.validate(where);
  return c;
}

DitConfig DitConfig::from_file(const std::filesystem::path& path) {
  const std::string where = "config '" + path.string() + "'";
  return from_json(io::read_json_object(path, where), where);
}

void DitConfig::validate(const std::string& where) const {
  const auto fail = [&](const std::string& message) { throw ModelError(where + ": " + message); };
  // ti2v (Wan2.2 TI2V-5B) is the t2v network fed per-token timesteps; i2v
  // (Wan2.2 I2V-A14B) is the t2v network whose input carries the
  // conditioning channels y after the latent (golden README, Wan2.2 trap 11).
  // Wan2.1's i2v adds a CLIP image branch (img_emb, k_img, v_img) that soragen
  // does not build: such a checkpoint fails its load on those tensors.
  if (model_type != "t2v" && model_type != "ti2v" && model_type != "i2v") {
    fail("model_type '" + model_type + "' is not supported (t2v, ti2v and i2v)");
  }
  for (int64_t p : patch_size) {
    if (p < 1) fail("patch_size entries must be >= 1");
  }
  const std::pair<const char*, int64_t> positive[] = {
      {"text_len", text_len}, {"in_dim", in_dim},       {"dim", dim},
      {"ffn_dim", ffn_dim},   {"freq_dim", freq_dim},   {"text_dim", text_dim},
      {"out_dim", out_dim},   {"num_heads", num_heads}, {"num_layers", num_layers},
      {"rope_max_positions", rope_max_positions}};
  for (const auto& [name, value] : positive) {
    if (value < 1) fail(std::string(name) + " must be >= 1, got " + std::to_string(value));
  }
  if (freq_dim % 2 != 0) fail("freq_dim must be even (cos and sin halves), got " + std::to_string(freq_dim));
  if (dim % num_heads != 0) {
    fail("dim " + std::to_string(dim) + " is not a multiple of num_heads " + std::to_string(num_heads));
  }
  // RoPE rotates pairs and gives each of frame/height/width at least one.
  if (head_dim() % 2 != 0 || head_dim() < 6) {
    fail("head_dim (dim/num_heads) must be even and >= 6 for 3D RoPE, got " + std::to_string(head_dim()));
  }
  if (window_size[0] != -1 || window_size[1] != -1) {
    fail("window_size [" + std::to_string(window_size[0]) + "," + std::to_string(window_size[1]) +
         "] is not supported (only global attention, [-1,-1])");
  }
  if (!(eps > 0)) fail("eps must be > 0");
  if (!(rope_theta > 0)) fail("rope_theta must be > 0");
}

int64_t token_count(const DitConfig& config, int64_t frames, int64_t height, int64_t width) {
  const std::array<int64_t, 3> sizes{frames, height, width};
  int64_t tokens = 1;
  for (size_t i = 0; i < 3; ++i) {
    if (sizes[i] < 1 || sizes[i] % config.patch_size[i] != 0) {
      throw UsageError("latent size [" + std::to_string(frames) + "," + std::to_string(height) + "," +
                       std::to_string(width) + "] is not a positive multiple of the patch size [" +
                       std::to_string(config.patch_size[0]) + "," + std::to_string(config.patch_size[1]) + "," +
                       std::to_string(config.patch_size[2]) + "]");
    }
    tokens *= sizes[i] / config.patch_size[i];
  }
  return tokens;
}

void check_config_against_weights(const DitConfig& c, const io::TensorSource& source, const io::KeyMap& key_map) {
  std::map<std::string, const io::TensorInfo*> tensors;  // internal name -> info
  std::set<int64_t> block_indices;
  for (const auto& [name, info] : source.infos()) {
    const std::optional<std::string> internal = key_map.apply(name);
    if (!internal) continue;
    tensors[*internal] = &info;
    if (internal->rfind("blocks.", 0) == 0) {
      const size_t end = internal->find('.', 7);
      const std::string index = internal->substr(7, end == std::string::npos ? std::string::npos : end - 7);
      if (!index.empty() && index.find_first_not_of("0123456789") == std::string::npos) {
        block_indices.insert(std::stoll(index));
      }
    }
  }
  const std::string prefix = source.error_prefix();
  const int64_t blocks = block_indices.empty() ? 0 : *block_indices.rbegin() + 1;
  if (blocks != c.num_layers || static_cast<int64_t>(block_indices.size()) != blocks) {
    throw ModelError(prefix + "checkpoint has " + std::to_string(block_indices.size()) + " transformer blocks, config num_layers is " +
                     std::to_string(c.num_layers));
  }
  // Absent tensors are left to the strict loader, which lists them all.
  const auto check = [&](const std::string& name, const std::vector<int64_t>& expected, const std::string& meaning) {
    const auto it = tensors.find(name);
    if (it == tensors.end() || it->second->shape == expected) return;
    throw ModelError(prefix + "tensor '" + name + "' has shape " + shape_text(it->second->shape) + ", config (" +
                     meaning + ") expects " + shape_text(expected));
  };
  check("patch_embedding.weight", {c.dim, c.in_dim, c.patch_size[0], c.patch_size[1], c.patch_size[2]},
        "dim, in_dim, patch_size");
  check("text_embedding.0.weight", {c.dim, c.text_dim}, "dim, text_dim");
  check("time_embedding.0.weight", {c.dim, c.freq_dim}, "dim, freq_dim");
  check("blocks.0.ffn.0.weight", {c.ffn_dim, c.dim}, "ffn_dim, dim");
  check("head.head.weight", {c.out_dim * c.patch_volume(), c.dim}, "out_dim, patch_size, dim");
  const auto check_flag = [&](const std::string& name, bool flag, const char* key) {
    if (tensors.count(name) != static_cast<size_t>(flag)) {
      throw ModelError(prefix + "config " + key + " is " + (flag ? "true" : "false") + " but the checkpoint " +
                       (flag ? "lacks" : "has") + " '" + name + "'");
    }
  };
  check_flag("blocks.0.self_attn.norm_q.weight", c.qk_norm, "qk_norm");
  check_flag("blocks.0.norm3.weight", c.cross_attn_norm, "cross_attn_norm");
}

}  // namespace soragen::dit
