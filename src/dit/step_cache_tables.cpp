#include "dit/step_cache_tables.h"

#include <cmath>
#include <stdexcept>

#include "io/json_value.h"
#include "soragen/error.h"

namespace soragen::dit {

namespace {

// MagCache's published magnitude ratios (MagCache4Wan2.1 and MagCache4Wan2.2,
// magcache_generate.py, measured at 50 steps for Wan2.1 and TI2V-5B and 40
// for the A14B experts), without the [1.0, 1.0] they put before step 0.
// wan2.1-t2v-1.3b: 49 steps after the first, cond and uncond interleaved
const std::vector<double> kWan21T2V13B{
    1.0124, 1.02213, 1.00166, 1.0041, 0.99791, 1.00061, 0.99682, 0.99762,
    0.99634, 0.99685, 0.99567, 0.99586, 0.99416, 0.99422, 0.99578, 0.99575,
    0.9957, 0.99563, 0.99511, 0.99506, 0.99535, 0.99531, 0.99552, 0.99549,
    0.99541, 0.99539, 0.9954, 0.99536, 0.99489, 0.99485, 0.99518, 0.99514,
    0.99484, 0.99478, 0.99481, 0.99479, 0.99415, 0.99413, 0.99419, 0.99416,
    0.99396, 0.99393, 0.99388, 0.99386, 0.99349, 0.99349, 0.99309, 0.99304,
    0.9927, 0.9927, 0.99228, 0.99226, 0.99171, 0.9917, 0.99137, 0.99135,
    0.99068, 0.99063, 0.99005, 0.99003, 0.98944, 0.98942, 0.98849, 0.98849,
    0.98758, 0.98757, 0.98644, 0.98643, 0.98504, 0.98503, 0.9836, 0.98359,
    0.98202, 0.98201, 0.97977, 0.97978, 0.97717, 0.97718, 0.9741, 0.97411,
    0.97003, 0.97002, 0.96538, 0.96541, 0.9593, 0.95933, 0.95086, 0.95089,
    0.94013, 0.94019, 0.92402, 0.92414, 0.90241, 0.9026, 0.86821, 0.86868,
    0.81838, 0.81939,
};

// wan2.1-t2v-14b: 49 steps after the first, cond and uncond interleaved
const std::vector<double> kWan21T2V14B{
    1.02504, 1.03017, 1.00025, 1.00251, 0.9985, 0.99962, 0.99779, 0.99771,
    0.9966, 0.99658, 0.99482, 0.99476, 0.99467, 0.99451, 0.99664, 0.99656,
    0.99434, 0.99431, 0.99533, 0.99545, 0.99468, 0.99465, 0.99438, 0.99434,
    0.99516, 0.99517, 0.99384, 0.9938, 0.99404, 0.99401, 0.99517, 0.99516,
    0.99409, 0.99408, 0.99428, 0.99426, 0.99347, 0.99343, 0.99418, 0.99416,
    0.99271, 0.99269, 0.99313, 0.99311, 0.99215, 0.99215, 0.99218, 0.99215,
    0.99216, 0.99217, 0.99163, 0.99161, 0.99138, 0.99135, 0.98982, 0.9898,
    0.98996, 0.98995, 0.9887, 0.98866, 0.98772, 0.9877, 0.98767, 0.98765,
    0.98573, 0.9857, 0.98501, 0.98498, 0.9838, 0.98376, 0.98177, 0.98173,
    0.98037, 0.98035, 0.97678, 0.97677, 0.97546, 0.97543, 0.97184, 0.97183,
    0.96711, 0.96708, 0.96349, 0.96345, 0.95629, 0.95625, 0.94926, 0.94929,
    0.93964, 0.93961, 0.92511, 0.92504, 0.90693, 0.90678, 0.8796, 0.87945,
    0.86111, 0.86189,
};

// wan2.2-t2v-a14b: 39 steps after the first, cond and uncond interleaved
const std::vector<double> kWan22T2VA14B{
    1.00124, 1.00155, 0.99822, 0.99851, 0.99696, 0.99687, 0.99703, 0.99732,
    0.9966, 0.99679, 0.99602, 0.99658, 0.99578, 0.99664, 0.99484, 0.9949,
    0.99633, 0.996, 0.99659, 0.99683, 0.99534, 0.99549, 0.99584, 0.99577,
    0.99681, 0.99694, 0.99563, 0.99554, 0.9944, 0.99473, 0.99594, 0.9964,
    0.99466, 0.99461, 0.99453, 0.99481, 0.99389, 0.99365, 0.99391, 0.99406,
    0.99354, 0.99361, 0.99283, 0.99278, 0.99268, 0.99263, 0.99057, 0.99091,
    0.99125, 0.99126, 0.65523, 0.65252, 0.98808, 0.98852, 0.98765, 0.98736,
    0.9851, 0.98535, 0.98311, 0.98339, 0.9805, 0.9806, 0.97776, 0.97771,
    0.97278, 0.97286, 0.96731, 0.96728, 0.95857, 0.95855, 0.94385, 0.94385,
    0.92118, 0.921, 0.88108, 0.88076, 0.80263, 0.80181,
};

// wan2.2-ti2v-5b/t2v: 49 steps after the first, cond and uncond interleaved
const std::vector<double> kWan22TI2V5BText{
    0.99505, 0.99389, 0.99441, 0.9957, 0.99558, 0.99551, 0.99499, 0.9945,
    0.99534, 0.99548, 0.99468, 0.9946, 0.99463, 0.99458, 0.9946, 0.99453,
    0.99408, 0.99404, 0.9945, 0.99441, 0.99409, 0.99398, 0.99403, 0.99397,
    0.99382, 0.99377, 0.99349, 0.99343, 0.99377, 0.99378, 0.9933, 0.99328,
    0.99303, 0.99301, 0.99217, 0.99216, 0.992, 0.99201, 0.99201, 0.99202,
    0.99133, 0.99132, 0.99112, 0.9911, 0.99155, 0.99155, 0.98958, 0.98957,
    0.98959, 0.98958, 0.98838, 0.98835, 0.98826, 0.98825, 0.9883, 0.98828,
    0.98711, 0.98709, 0.98562, 0.98561, 0.98511, 0.9851, 0.98414, 0.98412,
    0.98284, 0.98282, 0.98104, 0.98101, 0.97981, 0.97979, 0.97849, 0.97849,
    0.97557, 0.97554, 0.97398, 0.97395, 0.97171, 0.97166, 0.96917, 0.96913,
    0.96511, 0.96507, 0.96263, 0.96257, 0.95839, 0.95835, 0.95483, 0.95475,
    0.94942, 0.94936, 0.9468, 0.94678, 0.94583, 0.94594, 0.94843, 0.94872,
    0.96949, 0.97015,
};

// wan2.2-ti2v-5b/i2v: 49 steps after the first, cond and uncond interleaved
const std::vector<double> kWan22TI2V5BImage{
    0.99512, 0.99559, 0.99559, 0.99561, 0.99595, 0.99577, 0.99512, 0.99512,
    0.99546, 0.99534, 0.99543, 0.99531, 0.99496, 0.99491, 0.99504, 0.99499,
    0.99444, 0.99449, 0.99481, 0.99481, 0.99435, 0.99435, 0.9943, 0.99431,
    0.99411, 0.99406, 0.99373, 0.99376, 0.99413, 0.99405, 0.99363, 0.99359,
    0.99335, 0.99331, 0.99244, 0.99243, 0.99229, 0.99229, 0.99239, 0.99236,
    0.99163, 0.9916, 0.99149, 0.99151, 0.99191, 0.99192, 0.9898, 0.98981,
    0.9899, 0.98987, 0.98849, 0.98849, 0.98846, 0.98846, 0.98861, 0.98861,
    0.9874, 0.98738, 0.98588, 0.98589, 0.98539, 0.98534, 0.98444, 0.98439,
    0.9831, 0.98309, 0.98119, 0.98118, 0.98001, 0.98, 0.97862, 0.97859,
    0.97555, 0.97558, 0.97392, 0.97388, 0.97152, 0.97145, 0.96871, 0.9687,
    0.96435, 0.96434, 0.96129, 0.96127, 0.95639, 0.95638, 0.95176, 0.95175,
    0.94446, 0.94452, 0.93972, 0.93974, 0.93575, 0.9359, 0.93537, 0.93552,
    0.96655, 0.96616,
};

// wan2.2-i2v-a14b: 39 steps after the first, cond and uncond interleaved
const std::vector<double> kWan22I2VA14B{
    0.99191, 0.99144, 0.99356, 0.99337, 0.99326, 0.99285, 0.99251, 0.99264,
    0.99393, 0.99366, 0.9943, 0.9943, 0.99276, 0.99288, 0.99389, 0.99393,
    0.99274, 0.99289, 0.99316, 0.9931, 0.99379, 0.99377, 0.99268, 0.99271,
    0.99222, 0.99227, 0.99175, 0.9916, 0.91076, 0.91046, 0.98931, 0.98933,
    0.99087, 0.99088, 0.98852, 0.98855, 0.98895, 0.98896, 0.98806, 0.98808,
    0.9871, 0.98711, 0.98613, 0.98618, 0.98434, 0.98435, 0.983, 0.98307,
    0.98185, 0.98187, 0.98131, 0.98131, 0.9783, 0.97835, 0.97619, 0.9762,
    0.97264, 0.9727, 0.97088, 0.97098, 0.96568, 0.9658, 0.96045, 0.96055,
    0.95322, 0.95335, 0.94579, 0.94594, 0.93297, 0.93311, 0.91699, 0.9172,
    0.89174, 0.89202, 0.8541, 0.85446, 0.79823, 0.79902,
};

// TeaCache4Wan2.1's polynomials for its e0 form (teacache_generate.py, use_ret_steps).
const std::vector<double> kTeaWan21T2V13B{-5.21862437e+04, 9.23041404e+03, -5.28275948e+02, 1.36987616e+01,
                                          -4.99875664e-02};
const std::vector<double> kTeaWan21T2V14B{-3.03318725e+05, 4.90537029e+04, -2.65530556e+03, 5.87365115e+01,
                                          -3.15583525e-01};

MagCacheTable magcache(const std::vector<double>& ratios, double threshold, int max_skips, double retention,
                       const std::string& split = "") {
  return MagCacheTable{ratios, threshold, max_skips, retention, split};
}

}  // namespace

StepCacheTables published_step_cache_tables(const DitConfig& dit, bool two_experts) {
  StepCacheTables tables;
  const bool wan21_t2v = dit.model_type == "t2v" && dit.in_dim == 16 && dit.out_dim == 16;
  // The thresholds, K and retention are the ones each README runs with.
  if (wan21_t2v && !two_experts && dit.dim == 1536 && dit.num_layers == 30) {
    tables.model = "Wan2.1 T2V-1.3B";
    tables.teacache = TeaCacheTable{kTeaWan21T2V13B, 5, 0.05};
    tables.magcache = magcache(kWan21T2V13B, 0.12, 4, 0.2);
  } else if (wan21_t2v && !two_experts && dit.dim == 5120 && dit.num_layers == 40) {
    tables.model = "Wan2.1 T2V-14B";
    tables.teacache = TeaCacheTable{kTeaWan21T2V14B, 5, 0.10};
    tables.magcache = magcache(kWan21T2V14B, 0.24, 6, 0.2);
  } else if (wan21_t2v && two_experts && dit.dim == 5120 && dit.num_layers == 40) {
    tables.model = "Wan2.2 T2V-A14B";
    tables.magcache = magcache(kWan22T2VA14B, 0.06, 2, 0.4, "t2v");
  } else if (dit.model_type == "i2v" && two_experts && dit.dim == 5120 && dit.num_layers == 40) {
    tables.model = "Wan2.2 I2V-A14B";
    tables.magcache = magcache(kWan22I2VA14B, 0.06, 2, 0.1, "i2v");
  } else if (dit.model_type == "ti2v" && !two_experts && dit.dim == 3072 && dit.num_layers == 30 &&
             dit.out_dim == 48) {
    tables.model = "Wan2.2 TI2V-5B";
    tables.magcache = magcache(kWan22TI2V5BText, 0.06, 2, 0.2);
    tables.magcache_image = magcache(kWan22TI2V5BImage, 0.06, 2, 0.2);
  } else {
    tables.model = "this DiT";
  }
  return tables;
}

namespace {

template <typename T>
T read(const nlohmann::json& object, const char* key, T fallback, const std::string& where) {
  if (!object.contains(key)) return fallback;
  try {
    return io::json_value_as<T>(object.at(key), key);
  } catch (const std::invalid_argument& e) {
    throw ModelError(where + ": step_cache: " + e.what());
  }
}

std::vector<double> read_numbers(const nlohmann::json& object, const char* key, const std::string& where) {
  const auto bad = [&](const std::string& problem) {
    return ModelError(where + ": step_cache: \"" + key + "\" " + problem);
  };
  if (!object.contains(key) || !object.at(key).is_array() || object.at(key).empty()) {
    throw bad("must be a list of numbers");
  }
  std::vector<double> out;
  for (const auto& item : object.at(key)) {
    if (!item.is_number() || !std::isfinite(item.get<double>())) throw bad("must be a list of finite numbers");
    out.push_back(item.get<double>());
  }
  return out;
}

void check_positive(double value, const char* key, const std::string& where) {
  if (!(value > 0)) throw ModelError(where + ": step_cache: \"" + std::string(key) + "\" must be above 0");
}

}  // namespace

StepCacheTables step_cache_tables_from_json(const nlohmann::json& json, const std::string& model,
                                            const std::string& where) {
  if (!json.is_object()) throw ModelError(where + ": step_cache must be an object");
  StepCacheTables tables;
  tables.model = model;
  if (json.contains("teacache")) {
    const nlohmann::json& tea = json.at("teacache");
    if (!tea.is_object()) throw ModelError(where + ": step_cache: \"teacache\" must be an object");
    TeaCacheTable table;
    table.coefficients = read_numbers(tea, "coefficients", where);
    table.ret_steps = read<int>(tea, "ret_steps", table.ret_steps, where);
    table.threshold = read<double>(tea, "threshold", table.threshold, where);
    if (table.ret_steps < 1) throw ModelError(where + ": step_cache: \"ret_steps\" must be 1 or more");
    check_positive(table.threshold, "threshold", where);
    tables.teacache = table;
  }
  if (json.contains("magcache")) {
    const nlohmann::json& mag = json.at("magcache");
    if (!mag.is_object()) throw ModelError(where + ": step_cache: \"magcache\" must be an object");
    MagCacheTable table;
    table.ratios = read_numbers(mag, "ratios", where);
    if (table.ratios.size() % 2 != 0) {
      throw ModelError(where + ": step_cache: \"ratios\" must hold cond and uncond pairs (an even count)");
    }
    table.threshold = read<double>(mag, "threshold", table.threshold, where);
    table.max_skips = read<int>(mag, "k", table.max_skips, where);
    table.retention = read<double>(mag, "retention", table.retention, where);
    check_positive(table.threshold, "threshold", where);
    if (table.max_skips < 1) throw ModelError(where + ": step_cache: \"k\" must be 1 or more");
    if (!(table.retention >= 0 && table.retention < 1)) {
      throw ModelError(where + ": step_cache: \"retention\" must be in [0, 1)");
    }
    tables.magcache = table;
  }
  return tables;
}

nlohmann::json to_json(const StepCacheTables& tables) {
  nlohmann::json out = nlohmann::json::object();
  if (tables.teacache) {
    out["teacache"] = {{"coefficients", tables.teacache->coefficients},
                       {"ret_steps", tables.teacache->ret_steps},
                       {"threshold", tables.teacache->threshold}};
  }
  if (tables.magcache) {
    out["magcache"] = {{"ratios", tables.magcache->ratios},
                       {"threshold", tables.magcache->threshold},
                       {"k", tables.magcache->max_skips},
                       {"retention", tables.magcache->retention}};
  }
  return out;
}

}  // namespace soragen::dit
