#include <optional>
#include <sluice/core/strict_json.hpp>
#include <unordered_set>
#include <vector>

namespace sluice::core {
namespace {

using nlohmann::json;

// A SAX handler that checks every event and forwards it to nlohmann's own DOM builder. The
// first violation stops the parse (a handler returning false), so the partial value never
// grows deeper than the limit.
class StrictSax {
 public:
  StrictSax(json& root, const JsonLimits& limits) : dom_(root, true), limits_(limits) {}

  bool null() { return Value(dom_.null()); }
  bool boolean(bool v) { return Value(dom_.boolean(v)); }
  bool number_integer(json::number_integer_t v) { return Value(dom_.number_integer(v)); }
  bool number_unsigned(json::number_unsigned_t v) { return Value(dom_.number_unsigned(v)); }
  bool number_float(json::number_float_t v, const json::string_t& s) {
    return Value(dom_.number_float(v, s));
  }
  bool binary(json::binary_t& v) { return Value(dom_.binary(v)); }
  bool string(json::string_t& v) {
    if (!limits_.allow_nul && HasNul(v)) {
      return Refuse(PathHere(), "holds a NUL character (\\u0000), which cannot be stored");
    }
    return Value(dom_.string(v));
  }

  bool start_object(std::size_t n) {
    if (!Open()) return false;
    frames_.push_back(Frame{false, 0, {}, {}});
    return dom_.start_object(n);
  }
  bool key(json::string_t& k) {
    Frame& f = frames_.back();
    f.key = k;
    if (!limits_.allow_nul && HasNul(k)) {
      return Refuse(PathHere(), "this key holds a NUL character (\\u0000)");
    }
    if (!f.keys.insert(k).second) {
      return Refuse(PathHere(), "is given twice in the same object");
    }
    return dom_.key(k);
  }
  bool end_object() {
    frames_.pop_back();
    return Value(dom_.end_object());
  }
  bool start_array(std::size_t n) {
    if (!Open()) return false;
    frames_.push_back(Frame{true, 0, {}, {}});
    return dom_.start_array(n);
  }
  bool end_array() {
    frames_.pop_back();
    return Value(dom_.end_array());
  }

  template <class Exception>
  bool parse_error(std::size_t byte, const std::string& /*token*/, const Exception& e) {
    error_ = JsonInputError("", byte, e.what());
    return false;
  }

  const std::optional<JsonInputError>& Error() const { return error_; }

 private:
  struct Frame {
    bool array;
    std::size_t index;  // of the element being read (arrays)
    std::string key;    // of the member being read (objects)
    std::unordered_set<std::string> keys;
  };

  // A value (scalar or a closed container) completed: the next array element gets the next
  // index.
  bool Value(bool ok) {
    if (!frames_.empty() && frames_.back().array) ++frames_.back().index;
    return ok;
  }

  bool Open() {
    if (frames_.size() + 1 > limits_.max_depth) {
      return Refuse(PathHere(), "nests objects and arrays deeper than " +
                                    std::to_string(limits_.max_depth) + " levels");
    }
    return true;
  }

  std::string PathHere() const {
    std::string p;
    for (const Frame& f : frames_) {
      if (f.array) {
        p += "[" + std::to_string(f.index) + "]";
      } else {
        if (!p.empty()) p += ".";
        p += f.key;
      }
      if (p.size() > 256) return p.substr(0, 256) + "…";
    }
    return p;
  }

  bool Refuse(const std::string& path, const std::string& what) {
    error_ = JsonInputError(path, 0, (path.empty() ? "the document" : path) + " " + what);
    return false;
  }

  nlohmann::detail::json_sax_dom_parser<json> dom_;
  const JsonLimits& limits_;
  std::vector<Frame> frames_;
  std::optional<JsonInputError> error_;
};

}  // namespace

json ParseStrictJson(std::string_view text, const JsonLimits& limits) {
  json result;
  StrictSax sax(result, limits);
  bool ok = false;
  try {
    ok = json::sax_parse(text, &sax, json::input_format_t::json, /*strict=*/true);
  } catch (const json::exception& e) {
    // The DOM builder's own limits (sizes); parse errors come through parse_error().
    throw JsonInputError("", 0, e.what());
  }
  if (!ok) {
    if (sax.Error()) throw *sax.Error();
    throw JsonInputError("", 0, "the input is not valid JSON");
  }
  return result;
}

}  // namespace sluice::core
