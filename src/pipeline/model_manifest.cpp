// model.json and config.json as data: read with size and nesting bounds,
// every config and default validated. Split from model_files.cpp so that the
// fuzzers link it without the model code.
#include "pipeline/model_manifest.h"

#include <stdexcept>

#include "io/json_file.h"
#include "io/json_value.h"
#include "soragen/error.h"
#include "soragen/request_fields.h"
#include "vae/tiny_decoder_config.h"

namespace fs = std::filesystem;
using nlohmann::json;

namespace soragen::pipeline {
namespace {

// wan/configs/shared_config.py sample_neg_prompt, used when no negative
// prompt is given.
constexpr const char* kWanNegativePrompt =
    "色调艳丽，过曝，静态，细节模糊不清，字幕，风格，作品，画作，画面，静止，整体发灰，最差质量，低质量，JPEG压缩残留，丑陋的，残缺的，多余的手指，画得不好的手部，画得不好的脸部，畸形的，毁容的，形态畸形的肢体，手指融合，静止不动的画面，杂乱的背景，三条腿，背景人很多，倒着走";

// model.json and config.json are read with io::parse_json_object's bounds.
json parse_json_object(const std::string& text, const fs::path& path) {
  return io::parse_json_object(text, "model file '" + path.string() + "'");
}

fs::path require_file(const fs::path& path, const std::string& what) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw ModelError(what + " '" + path.string() + "': no such file");
  return path;
}

const json& require_key(const json& object, const char* key, const fs::path& where) {
  if (!object.contains(key)) throw ModelError("model file '" + where.string() + "': missing \"" + key + "\"");
  return object.at(key);
}

// Each field of the table that has a model default may appear under
// "defaults"; the value must have the field's type and keep its rule.
GenerationDefaults parse_defaults(const json& object, const fs::path& where) {
  GenerationDefaults d = wan_t2v_defaults();
  try {
    if (!object.is_object()) throw std::invalid_argument("must be an object");
    for (const AnyRequestField& any : request_fields()) {
      std::visit(
          [&](const auto& field) {
            using T = typename std::decay_t<decltype(field)>::value_type;
            if (!field.model_default || !object.contains(field.key)) return;
            const T value = io::json_value_as<T>(object.at(field.key), field.key);
            const std::string problem = field.rule ? field.rule(value) : "";
            if (!problem.empty()) throw std::invalid_argument("\"" + std::string(field.key) + "\" " + problem);
            d.*field.model_default = value;
          },
          any);
    }
    // A long video's window is the model's own length unless it says otherwise.
    if (!object.contains("window")) d.window = d.frames;
  } catch (const std::exception& e) {
    throw ModelError("model file '" + where.string() + "': bad \"defaults\": " + e.what());
  }
  return d;
}

// The expert switch as a fraction of the 1000 training timesteps.
double parse_boundary(const json& value, const fs::path& where) {
  if (!value.is_number() || value.get<double>() <= 0 || value.get<double>() >= 1) {
    throw ModelError("model file '" + where.string() + "': \"boundary\" must be a number between 0 and 1");
  }
  return value.get<double>();
}

}  // namespace

ShippedDefaults read_model_defaults(const fs::path& path) {
  const json object = read_json_config(path);
  ShippedDefaults shipped;
  shipped.defaults = parse_defaults(require_key(object, "defaults", path), path);
  if (object.contains("boundary") && !(object.at("boundary").is_number() && object.at("boundary").get<double>() == 0)) {
    shipped.boundary = parse_boundary(object.at("boundary"), path);
  }
  return shipped;
}

// With `check_files` false nothing outside the JSON is touched.
ModelFiles manifest_files(const json& model, const fs::path& directory, const fs::path& manifest,
                          bool check_files) {
  ModelFiles files;
  const std::string where = "model file '" + manifest.string() + "'";
  const auto file = [&](const json& name, const std::string& what) {
    const fs::path path = directory / name.get<std::string>();
    return check_files ? require_file(path, what) : path;
  };
  try {
    files.tokenizer = file(require_key(model, "tokenizer", manifest), "tokenizer");
    const json& te = require_key(model, "text_encoder", manifest);
    files.text_encoder = file(te.at("weights"), "text encoder");
    files.text_encoder_config = text_encoder::UMT5Config::from_json(te.at("config"), where + " text_encoder.config");
    const json& dt = require_key(model, "dit", manifest);
    files.dit = file(dt.at("weights"), "transformer");
    files.dit_config = dit::DitConfig::from_json(dt.at("config"), where + " dit.config");
    // Two experts (Wan2.2 A14B): "dit" is the high-noise one.
    if (model.contains("low_noise_dit")) {
      const json& low = model.at("low_noise_dit");
      files.low_noise_dit = file(low.at("weights"), "low-noise transformer");
      files.low_noise_dit_config = dit::DitConfig::from_json(low.at("config"), where + " low_noise_dit.config");
      files.boundary = parse_boundary(require_key(model, "boundary", manifest), manifest);
    } else if (model.contains("boundary")) {
      throw ModelError(where + ": \"boundary\" without \"low_noise_dit\"");
    }
    const json& va = require_key(model, "vae", manifest);
    files.vae = file(va.at("weights"), "VAE");
    // Only the Wan2.2 VAE has a separate decoder width.
    const json& vae_config = va.at("config");
    if (vae_config.is_object() && vae_config.contains("dec_dim")) {
      files.vae_config = vae::Vae22Config::from_json(vae_config, where + " vae.config");
    } else {
      files.vae_config = vae::VaeConfig::from_json(vae_config, where + " vae.config");
    }
    // Optional: a tiny decoder for previews and --fast-decode; without a
    // "config" its weights' shapes give one (fit_preview_decoder).
    if (model.contains("preview_decoder")) {
      const json& preview = model.at("preview_decoder");
      files.preview_decoder = file(preview.at("weights"), "preview decoder");
      if (preview.contains("config")) {
        files.preview_decoder_config =
            vae::TinyDecoderConfig::from_json(preview.at("config"), where + " preview_decoder.config");
      }
    }
    files.notice = model.value("notice", std::string());
  } catch (const json::exception& e) {
    throw ModelError(where + ": " + e.what());
  }
  files.defaults = parse_defaults(model.value("defaults", json::object()), manifest);
  if (model.contains("step_cache")) {
    const std::string name = model.contains("name") && model.at("name").is_string()
                                 ? "the bundled model '" + model.at("name").get<std::string>() + "'"
                                 : "the bundled model";
    files.step_cache = dit::step_cache_tables_from_json(model.at("step_cache"), name, where);
  }
  return files;
}

json read_json_config(const fs::path& path) {
  return io::read_json_object(path, "model file '" + path.string() + "'");
}


GenerationDefaults wan_t2v_defaults() {
  GenerationDefaults d;
  d.negative_prompt = kWanNegativePrompt;
  d.frames = 81;
  d.window = 81;
  d.width = 832;
  d.height = 480;
  d.fps = 16;
  d.steps = 50;
  d.guidance = 5.0;
  d.shift = 5.0;
  d.sampler = "unipc";
  return d;
}

ModelFiles parse_model_manifest(const std::string& text, const std::filesystem::path& manifest) {
  return manifest_files(parse_json_object(text, manifest), manifest.parent_path(), manifest, /*check_files=*/false);
}

}  // namespace soragen::pipeline
