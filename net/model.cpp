#include "net/model.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

namespace btc::net {
namespace {

[[noreturn]] void fail(const std::string& source, int line, const std::string& what) {
  throw ModelError(source + ":" + std::to_string(line) + ": " + what);
}

int parse_int(const std::string& s, const std::string& what, const std::string& source, int line, int lo, int hi) {
  char* end = nullptr;
  errno = 0;
  const long v = std::strtol(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || errno == ERANGE || v < lo || v > hi)
    fail(source, line, what + " must be an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                           "], got '" + s + "'");
  return static_cast<int>(v);
}

float parse_float(const std::string& s, const std::string& what, const std::string& source, int line) {
  char* end = nullptr;
  errno = 0;
  const float v = std::strtof(s.c_str(), &end);
  if (s.empty() || *end != '\0' || errno == ERANGE || !std::isfinite(v) || v <= 0)
    fail(source, line, what + " must be a positive number, got '" + s + "'");
  return v;
}

bool valid_name(const std::string& s) {
  if (s.empty() || s == "input" || s == "-") return false;
  return std::all_of(s.begin(), s.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

const char* kHeaderKeys[] = {"model", "description", "input", "input_scale", "batch", "bn_eps"};

bool is_header_key(const std::string& w) {
  return std::find(std::begin(kHeaderKeys), std::end(kHeaderKeys), w) != std::end(kHeaderKeys);
}

std::string shape_str(const Shape& s) {
  return std::to_string(s.h) + "x" + std::to_string(s.w) + "x" + std::to_string(s.c);
}

// P x Q of a k x k, stride, pad filter over `in`; fails where it does not fit.
Shape conv_shape(const Layer& l, const Shape& in, const std::string& source) {
  const int p = (in.h + 2 * l.pad - l.kernel) / l.stride + 1;
  const int q = (in.w + 2 * l.pad - l.kernel) / l.stride + 1;
  if (in.h + 2 * l.pad < l.kernel || in.w + 2 * l.pad < l.kernel || p < 1 || q < 1)
    fail(source, l.line, "'" + l.name + "': a " + std::to_string(l.kernel) + "x" + std::to_string(l.kernel) +
                             " filter does not fit the " + std::to_string(in.h) + "x" + std::to_string(in.w) +
                             " input with padding " + std::to_string(l.pad));
  if (l.pad >= l.kernel) fail(source, l.line, "'" + l.name + "': padding must be smaller than the filter");
  return {p, q, l.out};
}

// Shapes, in file order, with every cross-row rule checked.
void infer_shapes(Model& m, const std::string& source) {
  m.shapes.clear();
  for (size_t i = 0; i < m.layers.size(); ++i) {
    const Layer& l = m.layers[i];
    LayerShapes s;
    const bool from_image = l.input == "input";
    bool reads_half = false;  // the input holds fp16 values (a half-output layer)
    if (!from_image) {
      const int j = m.index_of(l.input);
      if (j < 0 || j >= static_cast<int>(i))
        fail(source, l.line, "layer '" + l.name + "' reads '" + l.input + "', which is not an earlier layer");
      if (m.layers[j].float_out) fail(source, l.line, "layer '" + l.name + "' reads the float logits of '" + l.input + "'");
      s.in = m.shapes[j].out;
      reads_half = m.layers[j].half_out;
    } else {
      s.in = m.input;
    }
    s.pooled_in = s.in;
    switch (l.op) {
      case Op::kStem:
      case Op::kBconv: {
        if (l.op == Op::kStem && !from_image) fail(source, l.line, "a stem reads the image: write 'input'");
        if (l.op == Op::kBconv && from_image)
          fail(source, l.line,
               "a bconv reads bits: the image goes through a stem or a conv (or a bfc, which binarizes it)");
        if (l.op == Op::kBconv && s.in.c % 32 != 0)
          fail(source, l.line, "bconv '" + l.name + "': input channels " + std::to_string(s.in.c) +
                                   " are not a multiple of 32 (bits are packed 32 channels per word)");
        if (l.out % 32 != 0)
          fail(source, l.line, "'" + l.name + "': out " + std::to_string(l.out) + " is not a multiple of 32");
        s.conv_out = conv_shape(l, s.in, source);
        s.dot_bits = static_cast<int64_t>(l.kernel) * l.kernel * s.in.c;
        s.value_bound = l.op == Op::kStem ? s.dot_bits * 127 : s.dot_bits;
        break;
      }
      case Op::kBfc:
        s.conv_out = {1, 1, l.out};
        s.dot_bits = s.in.elements();
        s.value_bound = s.dot_bits;
        break;
      case Op::kConv: {
        if (!from_image && !reads_half)
          fail(source, l.line, "'" + l.name + "': a conv reads fp16 values: '" + l.input + "' writes bits");
        if (l.out % 32 != 0)
          fail(source, l.line, "'" + l.name + "': out " + std::to_string(l.out) +
                                   " is not a multiple of 32 (its bits feed bconvs, 32 channels per word)");
        if (l.prepool == Layer::Prepool::kAvg2) {
          if (s.in.h % 2 != 0 || s.in.w % 2 != 0)
            fail(source, l.line, "'" + l.name + "': prepool=avg2 needs an even input height and width, got " +
                                     std::to_string(s.in.h) + "x" + std::to_string(s.in.w));
          s.pooled_in = {s.in.h / 2, s.in.w / 2, s.in.c};
        }
        s.conv_out = conv_shape(l, s.pooled_in, source);
        s.dot_bits = static_cast<int64_t>(l.kernel) * l.kernel * s.pooled_in.c;
        s.value_bound = 0;  // real-valued: no integer bound
        break;
      }
      case Op::kFc:
        if (!reads_half)
          fail(source, l.line, "'" + l.name + "': an fc reads fp16 values: '" + l.input + "' " +
                                   (from_image ? "is the image (a conv reads it)" : "writes bits"));
        if (l.prepool == Layer::Prepool::kGlobalAvg) s.pooled_in = {1, 1, s.in.c};
        s.conv_out = {1, 1, l.out};
        s.dot_bits = s.pooled_in.elements();
        s.value_bound = 0;
        break;
    }
    if (l.half_out && l.op == Op::kBconv) s.value_bound = s.dot_bits;  // |z| <= K; y is fp16
    s.out = s.conv_out;
    if (l.maxpool2) {
      if (s.conv_out.h < 2 || s.conv_out.w < 2) fail(source, l.line, "'" + l.name + "': pool=max2 needs at least 2x2");
      s.out.h /= 2;
      s.out.w /= 2;
    }
    if (l.maxpool3) {  // 3x3, stride 2, pad 1: (P + 2 - 3) / 2 + 1
      s.out.h = (s.conv_out.h - 1) / 2 + 1;
      s.out.w = (s.conv_out.w - 1) / 2 + 1;
    }
    if (!l.shortcut.empty()) {
      const int j = m.index_of(l.shortcut);
      if (j < 0 || j >= static_cast<int>(i))
        fail(source, l.line, "'" + l.name + "': shortcut '" + l.shortcut + "' is not an earlier layer");
      if (!m.layers[j].half_out || m.layers[j].float_out)
        fail(source, l.line, "'" + l.name + "': shortcut '" + l.shortcut + "' writes " +
                                 (m.layers[j].float_out ? "logits" : "bits") + ", not fp16 values");
      if (!(m.shapes[j].out == s.conv_out))
        fail(source, l.line, "'" + l.name + "': shortcut '" + l.shortcut + "' is " + shape_str(m.shapes[j].out) +
                                 ", the output " + shape_str(s.conv_out) + " (they must be equal)");
    }
    if (!l.add.empty()) {
      const int j = m.saver_of(l.add);
      if (j < 0 || j >= static_cast<int>(i))
        fail(source, l.line, "'" + l.name + "' adds residual '" + l.add + "', which no earlier layer saves");
      s.residual = m.shapes[j].conv_out;
      const int want_h = l.add_pool2 ? 2 * s.conv_out.h : s.conv_out.h;
      const int want_w = l.add_pool2 ? 2 * s.conv_out.w : s.conv_out.w;
      if (s.residual.h != want_h || s.residual.w != want_w)
        fail(source, l.line, "'" + l.name + "': residual '" + l.add + "' is " + std::to_string(s.residual.h) + "x" +
                                 std::to_string(s.residual.w) + ", the output " + std::to_string(s.conv_out.h) + "x" +
                                 std::to_string(s.conv_out.w) + (l.add_pool2 ? " (after :pool2 it must be twice that)" : ""));
      if (s.residual.c > l.out)
        fail(source, l.line, "'" + l.name + "': residual '" + l.add + "' has more channels (" +
                                 std::to_string(s.residual.c) + ") than the layer (" + std::to_string(l.out) + ")");
      s.value_bound += m.shapes[j].value_bound;
    }
    if (s.value_bound > (int64_t{1} << 30))
      fail(source, l.line, "'" + l.name + "': values may reach " + std::to_string(s.value_bound) + ", past int32 headroom");
    m.shapes.push_back(s);
  }
}

}  // namespace

const char* op_name(Op op) {
  switch (op) {
    case Op::kStem: return "stem";
    case Op::kBconv: return "bconv";
    case Op::kBfc: return "bfc";
    case Op::kConv: return "conv";
    case Op::kFc: return "fc";
  }
  return "?";
}

const Layer* Model::find(const std::string& layer_name) const {
  const int i = index_of(layer_name);
  return i < 0 ? nullptr : &layers[i];
}

int Model::index_of(const std::string& layer_name) const {
  for (size_t i = 0; i < layers.size(); ++i)
    if (layers[i].name == layer_name) return static_cast<int>(i);
  return -1;
}

int Model::saver_of(const std::string& residual) const {
  for (size_t i = 0; i < layers.size(); ++i)
    if (layers[i].save == residual) return static_cast<int>(i);
  return -1;
}

double Model::binary_ops_per_image() const {
  double ops = 0;
  for (size_t i = 0; i < layers.size(); ++i)
    if (layers[i].op == Op::kBconv || layers[i].op == Op::kBfc)
      ops += 2.0 * static_cast<double>(shapes[i].dot_bits) * static_cast<double>(shapes[i].conv_out.elements());
  return ops;
}

double Model::stem_macs_per_image() const {
  double macs = 0;
  for (size_t i = 0; i < layers.size(); ++i)
    if (layers[i].op == Op::kStem)
      macs += static_cast<double>(shapes[i].dot_bits) * static_cast<double>(shapes[i].conv_out.elements());
  return macs;
}

double Model::real_macs_per_image() const {
  double macs = 0;
  for (size_t i = 0; i < layers.size(); ++i)
    if (layers[i].op == Op::kConv || layers[i].op == Op::kFc)
      macs += static_cast<double>(shapes[i].dot_bits) * static_cast<double>(shapes[i].conv_out.elements());
  return macs;
}

Model parse_model(const std::string& text, const std::string& source) {
  Model m;
  std::istringstream in(text);
  std::string raw;
  int line = 0;
  bool have_input = false;
  std::map<std::string, int> header_line;  // a repeated header line would silently win
  while (std::getline(in, raw)) {
    ++line;
    if (const auto hash = raw.find('#'); hash != std::string::npos) raw.resize(hash);
    std::istringstream ls(raw);
    std::vector<std::string> w;
    for (std::string t; ls >> t;) w.push_back(t);
    if (w.empty()) continue;
    if (is_header_key(w[0])) {
      if (!m.layers.empty()) fail(source, line, "'" + w[0] + "' after the first layer row: header lines come first");
      if (const auto seen = header_line.find(w[0]); seen != header_line.end())
        fail(source, line, "'" + w[0] + "' given twice (first at line " + std::to_string(seen->second) + ")");
      header_line[w[0]] = line;
      auto need = [&](size_t n) {
        if (w.size() != n + 1) fail(source, line, "'" + w[0] + "' takes " + std::to_string(n) + " value(s)");
      };
      if (w[0] == "model") {
        need(1);
        m.name = w[1];
      } else if (w[0] == "description") {
        const auto at = raw.find("description");
        m.description = raw.substr(at + 11);
        m.description.erase(0, m.description.find_first_not_of(" \t"));
        m.description.erase(m.description.find_last_not_of(" \t\r") + 1);
      } else if (w[0] == "input") {
        need(3);
        m.input.c = parse_int(w[1], "input C", source, line, 1, 4096);
        m.input.h = parse_int(w[2], "input H", source, line, 1, 4096);
        m.input.w = parse_int(w[3], "input W", source, line, 1, 4096);
        have_input = true;
      } else if (w[0] == "input_scale") {
        need(1);
        m.input_scale = parse_float(w[1], "input_scale", source, line);
      } else if (w[0] == "batch") {
        need(1);
        m.batch = parse_int(w[1], "batch", source, line, 1, 1 << 20);
      } else if (w[0] == "bn_eps") {
        need(1);
        m.bn_eps = parse_float(w[1], "bn_eps", source, line);
      }
      continue;
    }
    // name op from out kernel stride pad [options]
    if (w.size() < 7)
      fail(source, line, "a layer row is 'name op from out kernel stride pad [options]', got " +
                             std::to_string(w.size()) + " fields");
    Layer l;
    l.line = line;
    l.name = w[0];
    if (!valid_name(l.name)) fail(source, line, "bad layer name '" + l.name + "' (letters, digits, _; not 'input')");
    if (m.find(l.name)) fail(source, line, "layer '" + l.name + "' is defined twice");
    if (w[1] == "stem") l.op = Op::kStem;
    else if (w[1] == "bconv") l.op = Op::kBconv;
    else if (w[1] == "bfc") l.op = Op::kBfc;
    else if (w[1] == "conv") l.op = Op::kConv;
    else if (w[1] == "fc") l.op = Op::kFc;
    else fail(source, line, "unknown op '" + w[1] + "' (stem, bconv, bfc, conv, fc)");
    l.input = w[2];
    l.out = parse_int(w[3], "out", source, line, 1, 1 << 16);
    const bool spatial = l.op != Op::kBfc && l.op != Op::kFc;
    if (spatial) {
      l.kernel = parse_int(w[4], "kernel", source, line, 1, 15);
      l.stride = parse_int(w[5], "stride", source, line, 1, 8);
      l.pad = parse_int(w[6], "pad", source, line, 0, 7);
    } else if (w[4] != "-" || w[5] != "-" || w[6] != "-") {
      fail(source, line, std::string("a") + (l.op == Op::kFc ? "n " : " ") + op_name(l.op) +
                             " has no kernel, stride or pad: write '-'");
    }
    std::set<std::string> keys;  // a repeated option would silently win
    for (size_t k = 7; k < w.size(); ++k) {
      const auto eq = w[k].find('=');
      if (eq == std::string::npos) fail(source, line, "option '" + w[k] + "' is not key=value");
      const std::string key = w[k].substr(0, eq), val = w[k].substr(eq + 1);
      if (!keys.insert(key).second) fail(source, line, "option '" + key + "' given twice");
      if (key == "add" && l.op == Op::kBconv) {
        const auto colon = val.find(':');
        l.add = val.substr(0, colon);
        if (colon != std::string::npos) {
          if (val.substr(colon + 1) != "pool2") fail(source, line, "add=R takes only ':pool2', got '" + val + "'");
          l.add_pool2 = true;
        }
        if (!valid_name(l.add)) fail(source, line, "bad residual name '" + l.add + "'");
      } else if (key == "save" && (l.op == Op::kStem || l.op == Op::kBconv)) {
        if (!valid_name(val)) fail(source, line, "bad residual name '" + val + "'");
        if (m.saver_of(val) >= 0) fail(source, line, "residual '" + val + "' is saved twice");
        l.save = val;
      } else if (key == "pool" && (l.op == Op::kStem || l.op == Op::kBconv)) {
        if (val != "max2") fail(source, line, "pool takes 'max2', got '" + val + "'");
        l.maxpool2 = true;
      } else if (key == "pool" && l.op == Op::kConv) {
        if (val != "max3") fail(source, line, "a conv's pool takes 'max3', got '" + val + "'");
        l.maxpool3 = true;
      } else if (key == "padval" && l.op == Op::kBconv) {
        if (val == "zero") l.pad_value = Pad::kZero;
        else if (val == "+1") l.pad_value = Pad::kPlusOne;
        else if (val == "-1") l.pad_value = Pad::kMinusOne;
        else fail(source, line, "padval takes zero, +1 or -1, got '" + val + "'");
      } else if (key == "out" && l.op == Op::kBfc) {
        if (val != "bits" && val != "float") fail(source, line, "out takes bits or float, got '" + val + "'");
        l.float_out = val == "float";
      } else if (key == "out" && l.op == Op::kBconv) {
        if (val != "bits" && val != "half") fail(source, line, "a bconv's out takes bits or half, got '" + val + "'");
        l.half_out = val == "half";
      } else if (key == "out" && l.op == Op::kFc) {
        if (val != "float") fail(source, line, "an fc's out takes float (its logits), got '" + val + "'");
        l.float_out = true;
      } else if (key == "act" && l.op == Op::kConv) {
        if (val != "relu") fail(source, line, "a conv's act takes 'relu', got '" + val + "'");
        l.relu = true;
      } else if (key == "shortcut" && (l.op == Op::kBconv || l.op == Op::kConv)) {
        if (!valid_name(val)) fail(source, line, "bad shortcut layer name '" + val + "'");
        l.shortcut = val;
      } else if (key == "prepool" && l.op == Op::kConv) {
        if (val != "avg2") fail(source, line, "a conv's prepool takes 'avg2', got '" + val + "'");
        l.prepool = Layer::Prepool::kAvg2;
      } else if (key == "prepool" && l.op == Op::kFc) {
        if (val != "avg") fail(source, line, "an fc's prepool takes 'avg', got '" + val + "'");
        l.prepool = Layer::Prepool::kGlobalAvg;
      } else {
        fail(source, line, "option '" + key + "' does not apply to a" + (l.op == Op::kFc ? "n " : " ") +
                               op_name(l.op) +
                               " (stem: save pool; bconv: add save pool padval out shortcut; bfc: out; "
                               "conv: prepool pool shortcut act; fc: prepool out)");
      }
    }
    // The half-precision rules of a row, whatever the order of its options.
    if (l.op == Op::kConv || l.op == Op::kFc) l.half_out = true;
    if (l.op == Op::kBconv && !l.half_out && !l.shortcut.empty())
      fail(source, line, "shortcut= needs out=half (it adds a layer's fp16 values to BN(z))");
    if (l.op == Op::kBconv && l.half_out) {
      const char* bad = !l.add.empty() ? "add=" : !l.save.empty() ? "save=" : l.maxpool2 ? "pool=max2" : nullptr;
      if (bad)
        fail(source, line, std::string("a bconv with out=half has no ") + bad +
                               " (its residual is shortcut=, a half layer's values)");
    }
    if (l.op == Op::kFc && !l.float_out) fail(source, line, "an fc writes the logits: write out=float");
    m.layers.push_back(l);
  }
  const int last = static_cast<int>(m.layers.size()) - 1;
  if (m.name.empty()) fail(source, 1, "no 'model NAME' line");
  if (!have_input) fail(source, 1, "no 'input C H W' line");
  if (last < 0) fail(source, line, "no layers");
  for (int i = 0; i < last; ++i)
    if (m.layers[i].float_out)
      fail(source, m.layers[i].line, m.layers[i].op == Op::kFc ? "an fc must be the last layer (it writes the logits)"
                                                              : "only the last layer may have out=float");
  if (!m.layers[last].float_out)
    fail(source, m.layers[last].line, "the last layer must be a bfc with out=float or an fc (the logits)");
  infer_shapes(m, source);
  m.classes = m.layers[last].out;
  return m;
}

Model load_model(const std::string& name_or_path, const std::string& models_dir) {
  const bool is_path = name_or_path.find('/') != std::string::npos ||
                       (name_or_path.size() > 6 && name_or_path.substr(name_or_path.size() - 6) == ".model");
  const std::string path = is_path ? name_or_path : models_dir + "/" + name_or_path + ".model";
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    std::string known;
    if (!is_path)
      for (const auto& n : model_names(models_dir)) known += (known.empty() ? "" : ", ") + n;
    throw ModelError("no model file " + path + (known.empty() ? "" : " (models: " + known + ")"));
  }
  if (std::filesystem::file_size(path, ec) > (1u << 20)) throw ModelError(path + ": over 1 MiB, not a model file");
  std::ifstream f(path, std::ios::binary);
  std::ostringstream ss;
  ss << f.rdbuf();
  const std::string text = ss.str();
  if (text.find('\0') != std::string::npos) throw ModelError(path + ": binary data, not a model file");
  return parse_model(text, path);
}

std::vector<std::string> model_names(const std::string& models_dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(models_dir, ec))
    if (e.path().extension() == ".model") names.push_back(e.path().stem().string());
  std::sort(names.begin(), names.end());
  return names;
}

}  // namespace btc::net
