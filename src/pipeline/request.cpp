// Validating and resolving a generation request, field by field through the
// table of soragen/request_fields.h.
#include <random>
#include <string>

#include "soragen/error.h"
#include "soragen/options.h"
#include "soragen/request_fields.h"

namespace soragen {
namespace {

bool is_blank(const std::string& text) {
  return text.find_first_not_of(" \t\r\n\f\v") == std::string::npos;
}

}  // namespace

void validate_request(const GenerationRequest& request) {
  if (is_blank(request.prompt)) throw UsageError("--prompt: must not be empty");
  for (const AnyRequestField& any : request_fields()) {
    std::visit(
        [&](const auto& field) {
          const auto& value = request.*field.requested;
          if (!value) return;
          const std::string error = request_field_error(field, *value);
          if (!error.empty()) throw UsageError(error);
        },
        any);
  }
}

ResolvedRequest resolve_request(const GenerationRequest& request, const GenerationDefaults& defaults) {
  validate_request(request);
  ResolvedRequest out;
  out.prompt = request.prompt;
  for (const AnyRequestField& any : request_fields()) {
    std::visit(
        [&](const auto& field) {
          // A field without a model default keeps ResolvedRequest's own
          // initial value when unset.
          if (const auto& value = request.*field.requested) {
            out.*field.resolved = *value;
          } else if (field.model_default) {
            out.*field.resolved = defaults.*field.model_default;
          }
        },
        any);
  }
  // The reference's plain-float guide_scale serves both experts.
  if (request.guidance && !request.guidance_high) out.guidance_high = *request.guidance;
  if (!request.seed) {
    // 32 bits keep a logged seed short enough to retype.
    std::random_device entropy;
    out.seed = entropy();
  }
  return out;
}

}  // namespace soragen
