#pragma once

// Everything of sluice::analysis in one include.

#include "sluice/analysis/condition.hpp"  // IWYU pragma: export
#include "sluice/analysis/judge.hpp"      // IWYU pragma: export
#include "sluice/analysis/progress.hpp"   // IWYU pragma: export
#include "sluice/analysis/render.hpp"     // IWYU pragma: export
#include "sluice/analysis/spec.hpp"       // IWYU pragma: export
#include "sluice/analysis/threshold.hpp"  // IWYU pragma: export
#include "sluice/analysis/types.hpp"      // IWYU pragma: export
#include "sluice/analysis/window.hpp"     // IWYU pragma: export
