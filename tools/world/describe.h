// Prompts for a Scene: several phrasings of one description, so that the
// text encoder learns words, not one sentence.
#pragma once

#include <string>
#include <vector>

#include "scene.h"

namespace soragen::world {

// The phrasing that always works:
// "a small red circle moving to the right on a blue background"
// (`to_the` picks "to the left/right" over "left/right" for horizontal motion).
std::string plain_prompt(const Scene& scene, bool to_the = true);

// Every phrasing of the scene, the plain ones first.
std::vector<std::string> describe(const Scene& scene);

}  // namespace soragen::world
