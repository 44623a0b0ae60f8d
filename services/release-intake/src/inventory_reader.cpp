#include "inventory_reader.hpp"

#include <filesystem>
#include <fstream>
#include <sluice/http/client.hpp>
#include <system_error>

namespace sluice::release_intake {
namespace {

namespace fs = std::filesystem;

InventoryError Unreachable(const spec::InventorySource& source, const std::string& what) {
  return InventoryError{InventoryProblem::kUnreachable,
                        "inventory " + DescribeSource(source) + ": " + what};
}

// A file's text, or why it was not read (`why` not empty).
struct FileRead {
  std::string text;
  std::string why;
};

// At most `max_bytes` + 1 bytes of `path` when, resolved (links, '..'), it is a regular file
// below `root`.
FileRead ReadBelow(const std::string& path, const std::string& root, std::size_t max_bytes) {
  std::error_code ec;
  const fs::path real_root = fs::canonical(root, ec);
  if (ec) return {"", "the inventory directory " + root + " (SLUICE_INVENTORY_DIR) does not exist"};
  const fs::path real = fs::canonical(path, ec);
  if (ec) return {"", "cannot be read (" + ec.message() + ")"};
  const auto rel = real.lexically_relative(real_root);
  if (rel.empty() || *rel.begin() == "..") {
    return {"", "is not below the inventory directory " + real_root.string() +
                    " (SLUICE_INVENTORY_DIR)"};
  }
  if (!fs::is_regular_file(real, ec)) return {"", "is not a regular file"};
  std::ifstream in(real, std::ios::binary);
  if (!in) return {"", "cannot be opened"};
  std::string text(max_bytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  return {std::move(text), ""};
}

}  // namespace

std::variant<std::string, InventoryError> ReadInventoryText(const spec::InventorySource& source,
                                                            const InventoryLimits& limits) {
  const auto too_large = [&] {
    return InventoryError{InventoryProblem::kTooLarge,
                          "inventory " + DescribeSource(source) + ": is over " +
                              std::to_string(limits.max_bytes) + " bytes"};
  };
  if (!source.file.empty()) {
    auto read = ReadBelow(source.file, limits.file_root, limits.max_bytes);
    if (!read.why.empty()) return Unreachable(source, read.why);
    if (read.text.size() > limits.max_bytes) return too_large();
    return std::move(read.text);
  }
  if (!InventoryUrlAllowed(source.url, limits.url_prefixes)) {
    return InventoryError{InventoryProblem::kNotAllowed,
                          "inventory " + DescribeSource(source) +
                              ": is not below a URL that SLUICE_INVENTORY_URLS allows" +
                              (limits.url_prefixes.empty() ? " (it lists none)" : "")};
  }
  http::ClientRequest req;
  req.url = source.url;
  req.timeout = std::chrono::milliseconds(limits.timeout_ms);
  req.max_response_bytes = limits.max_bytes;
  req.headers.emplace_back("Accept", "application/json");
  if (!source.token_file.empty()) {
    auto token = ReadBelow(source.token_file, limits.file_root, 8192);
    if (!token.why.empty()) {
      return Unreachable(source, "token file " + source.token_file + " " + token.why);
    }
    std::string t = std::move(token.text);
    while (!t.empty() && (t.back() == '\n' || t.back() == '\r' || t.back() == ' ')) t.pop_back();
    if (t.empty() || t.size() > 8192 ||
        t.find_first_of(std::string("\r\n\0", 3)) != std::string::npos) {
      return Unreachable(source, "token file " + source.token_file + " holds no usable token");
    }
    req.headers.emplace_back("Authorization", "Bearer " + t);
  }
  try {
    auto res = http::Send(req);
    if (res.status < 200 || res.status > 299) {
      return Unreachable(source, "answered HTTP " + std::to_string(res.status));
    }
    return std::move(res.body);
  } catch (const http::HttpError& e) {
    const std::string what = e.what();
    if (what.find("response larger than") != std::string::npos) return too_large();
    return Unreachable(source, "no answer (" + what + ")");
  }
}

}  // namespace sluice::release_intake
