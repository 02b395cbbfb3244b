#include "scenario/json_shape.hpp"

#include <fmt/format.h>

#include <nlohmann/json.hpp>
#include <set>

#include "scenario/json_pointer.hpp"

namespace pgleak::scenario::detail {
namespace {

using nlohmann::json;

class ShapeChecker final : public nlohmann::json_sax<json> {
 public:
  std::vector<Problem> problems;

  bool null() override { return value(); }
  bool boolean(bool) override { return value(); }
  bool number_integer(number_integer_t) override { return value(); }
  bool number_unsigned(number_unsigned_t) override { return value(); }
  bool number_float(number_float_t, const string_t&) override { return value(); }
  bool string(string_t&) override { return value(); }
  bool binary(binary_t&) override { return value(); }
  bool start_object(std::size_t) override { return open(false); }
  bool start_array(std::size_t) override { return open(true); }
  bool end_object() override { return close(); }
  bool end_array() override { return close(); }
  bool key(string_t& k) override {
    auto& top = frames_.back();
    top.token = pointer_token(k);
    if (!top.keys.insert(k).second) {
      problems.push_back({pointer(),
                          "duplicate key: JSON keeps only one of them, and pgleak "
                          "will not guess which one you meant"});
    }
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;  // the tree parser reports it, with line and column
  }

 private:
  struct Frame {
    bool array = false;
    size_t next = 0;    // arrays: index of the next element
    std::string token;  // the current element's pointer token
    std::set<std::string> keys;
  };

  // A value starts: inside an array it is the next element.
  void element() {
    if (!frames_.empty() && frames_.back().array) {
      frames_.back().token = std::to_string(frames_.back().next++);
    }
  }
  bool value() {
    element();
    return true;
  }
  bool open(bool array) {
    element();
    if (frames_.size() >= kMaxDepth) {
      problems.push_back({pointer(), fmt::format("nested deeper than {} levels", kMaxDepth)});
      return false;
    }
    frames_.push_back({array, 0, {}, {}});
    return true;
  }
  bool close() {
    frames_.pop_back();
    return true;
  }
  std::string pointer() const {
    std::string out;
    for (const auto& f : frames_) {
      out += "/" + f.token;
    }
    return out;
  }

  std::vector<Frame> frames_;
};

}  // namespace

std::vector<Problem> shape_problems(const std::string& text) {
  ShapeChecker checker;
  json::sax_parse(text, &checker, json::input_format_t::json, /*strict=*/true,
                  /*ignore_comments=*/true);
  return std::move(checker.problems);
}

}  // namespace pgleak::scenario::detail
