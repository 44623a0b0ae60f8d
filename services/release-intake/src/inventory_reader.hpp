#pragma once

// Reading an inventory's text (inventory.hpp): a file below InventoryLimits::file_root, or an
// HTTP(S) URL (curl, bounded by the limits' timeout and size; a token file's text sent as
// "Authorization: Bearer"). Called with no database transaction open (DESIGN invariant 9).

#include <string>
#include <variant>

#include "inventory.hpp"

namespace sluice::release_intake {

std::variant<std::string, InventoryError> ReadInventoryText(const spec::InventorySource& source,
                                                            const InventoryLimits& limits);

}  // namespace sluice::release_intake
