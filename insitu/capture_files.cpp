// The capture files of insitu/capture.h: VTK XML ImageData (.vti) with
// base64 binary point data, .pvd collections, and capture.json (the format:
// docs/insitu.md). The .vti and .pvd files are plain writes; capture.json,
// written last, goes through btc::write_file_atomic (a temporary file, then
// moved into place, never replacing one): a capture without it is unfinished.
#include "insitu/capture.h"

#include <cmath>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <exception>
#include <filesystem>
#include <future>
#include <algorithm>
#include <map>
#include <memory>
#include <set>
#include <utility>

#include "harness/core/json.h"
#include "harness/core/results.h"

namespace btc::insitu {
namespace fs = std::filesystem;

namespace {

constexpr const char* kSchema = "btcbench.insitu/1";

bool host_is_little_endian() {
  const uint16_t one = 1;
  unsigned char first = 0;
  std::memcpy(&first, &one, 1);
  return first == 1;
}

// Standard base64 (RFC 4648, with '=' padding) of one stream of bytes,
// straight into the output string (one resize per call, no per-character
// append: the writer thread turns ~20 MB a ResNet-18 step into text).
class Base64 {
 public:
  explicit Base64(std::string* out) : out_(out) {}
  void write(const void* data, size_t n) {
    const auto* p = static_cast<const unsigned char*>(data);
    size_t i = 0;
    while (len_ != 0 && i < n) {  // finish a group left open by the last call
      buf_[len_++] = p[i++];
      if (len_ == 3) emit(buf_, 1);
    }
    const size_t groups = (n - i) / 3;
    if (groups > 0) {
      emit(p + i, groups);
      i += groups * 3;
    }
    while (i < n) buf_[len_++] = p[i++];
  }
  void finish() {
    if (len_ == 0) return;
    const size_t have = len_;
    while (len_ < 3) buf_[len_++] = 0;
    emit(buf_, 1);
    out_->resize(out_->size() - (3 - have));
    out_->append(3 - have, '=');
  }

 private:
  void emit(const unsigned char* p, size_t groups) {
    static const char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    const size_t at = out_->size();
    out_->resize(at + 4 * groups);
    char* o = out_->data() + at;
    for (size_t g = 0; g < groups; ++g, p += 3, o += 4) {
      const unsigned v = (unsigned(p[0]) << 16) | (unsigned(p[1]) << 8) | unsigned(p[2]);
      o[0] = kAlphabet[(v >> 18) & 63];
      o[1] = kAlphabet[(v >> 12) & 63];
      o[2] = kAlphabet[(v >> 6) & 63];
      o[3] = kAlphabet[v & 63];
    }
    len_ = 0;
  }
  std::string* out_;
  unsigned char buf_[3] = {0, 0, 0};
  size_t len_ = 0;
};

const char* vtk_type(Dtype d) {
  switch (d) {
    case Dtype::kInt8: return "Int8";
    case Dtype::kInt32: return "Int32";
    case Dtype::kFloat32: return "Float32";
  }
  return "?";
}

// The manifest's dtype strings (numpy's names).
const char* dtype_string(Dtype d) {
  switch (d) {
    case Dtype::kInt8: return "int8";
    case Dtype::kInt32: return "int32";
    case Dtype::kFloat32: return "float32";
  }
  return "?";
}

bool valid_dtype(Dtype d) { return d == Dtype::kInt8 || d == Dtype::kInt32 || d == Dtype::kFloat32; }

// A name that can stand in a file name, an XML attribute and a JSON key as it is.
bool plain_name(const std::string& s) {
  if (s.empty()) return false;
  for (char ch : s) {
    const bool ok = (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_';
    if (!ok) return false;
  }
  return true;
}

// One element of `data` (of dtype d) as a double.
double element(Dtype d, const void* data, size_t i) {
  switch (d) {
    case Dtype::kInt8: { int8_t v; std::memcpy(&v, static_cast<const char*>(data) + i, 1); return v; }
    case Dtype::kInt32: { int32_t v; std::memcpy(&v, static_cast<const char*>(data) + 4 * i, 4); return v; }
    case Dtype::kFloat32: { float v; std::memcpy(&v, static_cast<const char*>(data) + 4 * i, 4); return v; }
  }
  return 0;
}

std::string shape_text(const TensorView& t) {
  return std::to_string(t.images) + " x " + std::to_string(t.h) + " x " + std::to_string(t.w) + " x " +
         std::to_string(t.c);
}

void check_view(const TensorView& t, const std::string& what) {
  if (!valid_dtype(t.dtype)) throw CaptureError(what + ": unknown dtype");
  if (t.h < 1 || t.w < 1 || t.c < 1 || t.images < 1)
    throw CaptureError(what + ": shape " + shape_text(t) + " (images x h x w x c) has a dimension below 1");
  if (t.data == nullptr) throw CaptureError(what + ": no data");
}

size_t numel(const TensorView& t) {
  return size_t(t.images) * size_t(t.h) * size_t(t.w) * size_t(t.c);
}

// Writes through the repo's atomic writer; its errors become CaptureErrors.
// A .vti or .pvd: one write, no fsync (an fsync per file cost the writer
// thread more than the H200 gave it between two observed forwards). A
// capture is complete only once capture.json, written last and atomically
// (write_file_atomic), lists the file.
int64_t write_whole(const std::string& path, const std::string& content) {
  std::FILE* f = std::fopen(path.c_str(), "wbx");  // x: never replaces a file
  if (f == nullptr) throw CaptureError("cannot write " + path + ": " + std::strerror(errno));
  const size_t wrote = std::fwrite(content.data(), 1, content.size(), f);
  const bool closed = std::fclose(f) == 0;
  if (wrote != content.size() || !closed) throw CaptureError("cannot write " + path + ": " + std::strerror(errno));
  return static_cast<int64_t>(content.size());
}

std::string step_file(const std::string& tensor, int step) {
  char digits[32];
  std::snprintf(digits, sizeof digits, "%06d", step);
  return tensor + "_" + digits + ".vti";
}

json::Value number_array(const std::vector<double>& v) {
  json::Value a = json::Value::array();
  for (double x : v) a.push_back(json::Value(x));
  return a;
}

}  // namespace

const char* tensor_name(TensorKind k) {
  switch (k) {
    case TensorKind::kInput: return "input";
    case TensorKind::kPre: return "pre";
    case TensorKind::kOutput: return "output";
    case TensorKind::kWeights: return "weights";
  }
  return "?";
}

bool parse_tensor_kind(const std::string& s, TensorKind* out) {
  for (TensorKind k : {TensorKind::kInput, TensorKind::kPre, TensorKind::kOutput, TensorKind::kWeights}) {
    if (s == tensor_name(k)) {
      if (out) *out = k;
      return true;
    }
  }
  return false;
}

int dtype_bytes(Dtype d) {
  switch (d) {
    case Dtype::kInt8: return 1;
    case Dtype::kInt32: return 4;
    case Dtype::kFloat32: return 4;
  }
  return 0;
}

// ---------------------------------------------------------------- stats

namespace {

// channel_stats' argument checks, apart so that write_step makes them before
// it writes a file.
void check_stats_args(const TensorView* pre, const TensorView* output, const std::vector<double>& threshold) {
  if (pre) {
    check_view(*pre, "channel_stats: pre");
    if (pre->kind != TensorKind::kPre)
      throw CaptureError(std::string("channel_stats: the pre view is of kind '") + tensor_name(pre->kind) + "'");
  }
  if (output) {
    check_view(*output, "channel_stats: output");
    if (output->kind != TensorKind::kOutput)
      throw CaptureError(std::string("channel_stats: the output view is of kind '") + tensor_name(output->kind) +
                         "'");
  }
  if (pre && output) {
    // h and w may differ (a max-pooled output); images and channels may not.
    if (pre->c != output->c || pre->images != output->images)
      throw CaptureError("channel_stats: pre (" + shape_text(*pre) + ") and output (" + shape_text(*output) +
                         ") differ in images or channels (images x h x w x c)");
  }
  const TensorView* any = pre ? pre : output;
  if (any && !threshold.empty() && threshold.size() != size_t(any->c))
    throw CaptureError("channel_stats: " + std::to_string(threshold.size()) + " thresholds for " +
                       std::to_string(any->c) + " channels");
}

// The statistics of arguments check_stats_args passed.
ChannelStats stats_of(const TensorView* pre, const TensorView* output, const std::vector<double>& threshold) {
  ChannelStats s;
  if (output) {
    const size_t c = size_t(output->c), pixels = numel(*output) / c;
    std::vector<int64_t> plus(c, 0);
    const bool bits = output->dtype == Dtype::kInt8;
    for (size_t p = 0; p < pixels; ++p)
      for (size_t k = 0; k < c; ++k) {
        const double v = element(output->dtype, output->data, p * c + k);
        plus[k] += bits ? (v > 0) : (v >= 0);
      }
    s.frac_plus.resize(c);
    for (size_t k = 0; k < c; ++k) s.frac_plus[k] = double(plus[k]) / double(pixels);
  }
  if (pre) {
    const size_t c = size_t(pre->c), pixels = numel(*pre) / c;
    std::vector<double> sum(c, 0.0), dev2(c, 0.0), margin(c, 0.0);
    for (size_t p = 0; p < pixels; ++p)
      for (size_t k = 0; k < c; ++k) sum[k] += element(pre->dtype, pre->data, p * c + k);
    s.pre_mean.resize(c);
    for (size_t k = 0; k < c; ++k) s.pre_mean[k] = sum[k] / double(pixels);
    // Two passes: the squared deviations from the mean, not E[x^2] - E[x]^2.
    for (size_t p = 0; p < pixels; ++p)
      for (size_t k = 0; k < c; ++k) {
        const double v = element(pre->dtype, pre->data, p * c + k);
        dev2[k] += (v - s.pre_mean[k]) * (v - s.pre_mean[k]);
        if (!threshold.empty()) margin[k] += std::fabs(v - threshold[k]);
      }
    s.pre_std.resize(c);
    for (size_t k = 0; k < c; ++k) s.pre_std[k] = std::sqrt(dev2[k] / double(pixels));
    if (!threshold.empty()) {
      s.margin_mean.resize(c);
      for (size_t k = 0; k < c; ++k) s.margin_mean[k] = margin[k] / double(pixels);
    }
  }
  for (const auto* v : {&s.frac_plus, &s.pre_mean, &s.pre_std, &s.margin_mean})
    for (double x : *v)
      if (!std::isfinite(x)) throw CaptureError("channel_stats: a statistic is not finite (a NaN or infinite value)");
  return s;
}

}  // namespace

ChannelStats channel_stats(const TensorView* pre, const TensorView* output, const std::vector<double>& threshold) {
  check_stats_args(pre, output, threshold);
  return stats_of(pre, output, threshold);
}

// ---------------------------------------------------------------- files

// One image's NHWC block (plane = H*W pixels of c channels) -> planar CHW, in
// elements of T (a memcpy per element of runtime size cost the writer thread
// most of its time on a ResNet-18 step).
namespace {

template <typename T>
void to_planar(const char* src, char* dst, size_t plane, size_t c) {
  static_assert(sizeof(T) == 1 || sizeof(T) == 4, "the capture's dtypes are 1 or 4 bytes");
  for (size_t p = 0; p < plane; ++p)
    for (size_t k = 0; k < c; ++k) {
      T v;
      std::memcpy(&v, src + (p * c + k) * sizeof(T), sizeof(T));
      std::memcpy(dst + (k * plane + p) * sizeof(T), &v, sizeof(T));
    }
}

}  // namespace

int64_t write_vti(const std::string& path, int w, int h, int c, const std::vector<VtiArray>& arrays) {
  if (!host_is_little_endian()) throw CaptureError(path + ": the writer assumes a little-endian host");
  if (w < 1 || h < 1 || c < 1)
    throw CaptureError(path + ": extent " + std::to_string(w) + " x " + std::to_string(h) + " x " +
                       std::to_string(c) + " has a dimension below 1");
  if (arrays.empty()) throw CaptureError(path + ": no arrays to write");
  std::set<std::string> names;
  for (const VtiArray& a : arrays) {
    if (!plain_name(a.name)) throw CaptureError(path + ": array name '" + a.name + "' is not [A-Za-z0-9_]+");
    if (!names.insert(a.name).second) throw CaptureError(path + ": array name '" + a.name + "' appears twice");
    if (!valid_dtype(a.dtype)) throw CaptureError(path + ": array '" + a.name + "' has an unknown dtype");
    if (a.data == nullptr) throw CaptureError(path + ": array '" + a.name + "' has no data");
  }
  const std::string extent =
      "0 " + std::to_string(w - 1) + " 0 " + std::to_string(h - 1) + " 0 " + std::to_string(c - 1);
  const uint64_t count = uint64_t(w) * uint64_t(h) * uint64_t(c);
  std::string out;
  out.reserve(1024 + arrays.size() * (256 + (count * 4 + 8) / 3 * 4 + 4));
  out += "<?xml version=\"1.0\"?>\n";
  out += "<VTKFile type=\"ImageData\" version=\"1.0\" byte_order=\"LittleEndian\" header_type=\"UInt64\">\n";
  out += "  <ImageData WholeExtent=\"" + extent + "\" Origin=\"0 0 0\" Spacing=\"1 1 1\">\n";
  out += "    <Piece Extent=\"" + extent + "\">\n";
  out += "      <PointData Scalars=\"" + arrays[0].name + "\">\n";
  for (const VtiArray& a : arrays) {
    const uint64_t bytes = count * uint64_t(dtype_bytes(a.dtype));
    out += "        <DataArray type=\"" + std::string(vtk_type(a.dtype)) + "\" Name=\"" + a.name +
           "\" NumberOfComponents=\"1\" format=\"binary\">\n          ";
    // As vtkXMLWriter does: one base64 stream of [UInt64 byte count][data].
    Base64 b64(&out);
    b64.write(&bytes, sizeof bytes);
    b64.write(a.data, size_t(bytes));
    b64.finish();
    out += "\n        </DataArray>\n";
  }
  out += "      </PointData>\n";
  out += "      <CellData>\n      </CellData>\n";
  out += "    </Piece>\n";
  out += "  </ImageData>\n";
  out += "</VTKFile>\n";
  return write_whole(path, out);
}

int64_t write_pvd(const std::string& path, const std::vector<std::pair<double, std::string>>& steps) {
  std::string out;
  out += "<?xml version=\"1.0\"?>\n";
  out += "<VTKFile type=\"Collection\" version=\"0.1\" byte_order=\"LittleEndian\">\n";
  out += "  <Collection>\n";
  for (const auto& [t, file] : steps) {
    if (!std::isfinite(t)) throw CaptureError(path + ": timestep of '" + file + "' is not finite");
    if (file.empty() || file.find_first_of("\"<>&") != std::string::npos)
      throw CaptureError(path + ": file name '" + file + "' is empty or holds one of \" < > &");
    char ts[40];
    std::snprintf(ts, sizeof ts, "%.17g", t);
    out += "    <DataSet timestep=\"" + std::string(ts) + "\" group=\"\" part=\"0\" file=\"" + file + "\"/>\n";
  }
  out += "  </Collection>\n";
  out += "</VTKFile>\n";
  return write_whole(path, out);
}

// ---------------------------------------------------------------- the writer

struct CaptureWriter::Impl {
  struct TensorRecord {
    TensorKind kind;
    bool seen = false;  // dtype and shape are fixed by the first step written
    Dtype dtype = Dtype::kInt8;
    int h = 0, w = 0, c = 0;
    struct File {
      int step;
      std::string rel;  // relative to the capture dir
      int64_t bytes;
    };
    std::vector<File> files;
  };
  struct WeightsRecord {
    std::string file;
    Dtype dtype = Dtype::kInt8;
    int h = 0, w = 0, c = 0;
    int64_t bytes = 0;
  };
  struct StatsRecord {
    int step;
    int64_t batch;
    ChannelStats stats;
  };
  struct LayerRecord {
    LayerInfo info;
    std::vector<TensorRecord> tensors;  // the step tensors, in LayerInfo::tensors order (weights left out)
    bool has_weights = false;
    WeightsRecord weights;
    std::vector<StatsRecord> stats;
  };

  fs::path dir;
  CaptureConfig config;
  std::vector<LayerRecord> layers;
  std::map<int, int64_t> steps;  // step -> batch index
  int64_t bytes = 0;
  bool finished = false;

  void check_layer(int layer, const char* what) const {
    if (finished) throw CaptureError(std::string(what) + ": the capture is finished");
    if (layer < 0 || size_t(layer) >= layers.size())
      throw CaptureError(std::string(what) + ": layer index " + std::to_string(layer) + " is not one of the " +
                         std::to_string(layers.size()) + " layers");
  }
};

CaptureWriter::CaptureWriter(const std::string& dir, const CaptureConfig& config,
                             const std::vector<LayerInfo>& layers)
    : impl_(nullptr) {
  auto impl = std::make_unique<Impl>();
  impl->dir = fs::path(dir);
  impl->config = config;

  if (dir.empty()) throw CaptureError("capture: the capture directory is an empty path");
  if (config.batch < 1) throw CaptureError("capture: batch " + std::to_string(config.batch) + " is below 1");
  if (config.every < 1) throw CaptureError("capture: every " + std::to_string(config.every) + " is below 1");
  if (config.images.empty()) throw CaptureError("capture: no images to capture (CaptureConfig::images is empty)");
  std::set<int> seen_images;
  for (int b : config.images) {
    if (b < 0 || b >= config.batch)
      throw CaptureError("capture: image " + std::to_string(b) + " is outside the batch of " +
                         std::to_string(config.batch));
    if (!seen_images.insert(b).second) throw CaptureError("capture: image " + std::to_string(b) + " listed twice");
  }
  if (layers.empty()) throw CaptureError("capture: no layers");
  std::set<std::string> names;
  for (const LayerInfo& l : layers) {
    if (!plain_name(l.name))
      throw CaptureError("capture: layer name '" + l.name +
                         "' is not [A-Za-z0-9_]+ (it names a folder; map '.' and other characters to '_')");
    if (l.name == "view")
      throw CaptureError("capture: layer name 'view' is reserved (python3 -m analysis.insitu_view writes there)");
    if (!names.insert(l.name).second) throw CaptureError("capture: layer name '" + l.name + "' appears twice");
    if (l.op.empty()) throw CaptureError("capture: layer '" + l.name + "' has no op");
    if (!l.flip.empty() && l.flip.size() != l.threshold.size())
      throw CaptureError("capture: layer '" + l.name + "' has " + std::to_string(l.flip.size()) + " flips for " +
                         std::to_string(l.threshold.size()) + " thresholds");
    for (double t : l.threshold)
      if (!std::isfinite(t)) throw CaptureError("capture: layer '" + l.name + "' has a threshold that is not finite");
    Impl::LayerRecord rec;
    rec.info = l;
    std::set<TensorKind> kinds;
    for (TensorKind k : l.tensors) {
      if (!kinds.insert(k).second)
        throw CaptureError("capture: layer '" + l.name + "' lists tensor '" + tensor_name(k) + "' twice");
      if (k == TensorKind::kWeights) continue;  // written once, by write_weights
      Impl::TensorRecord t;
      t.kind = k;
      rec.tensors.push_back(t);
    }
    impl->layers.push_back(std::move(rec));
  }

  // The directory: new, or empty. Never an earlier capture's.
  std::error_code ec;
  const fs::file_status st = fs::status(impl->dir, ec);
  if (fs::exists(st)) {
    if (!fs::is_directory(st))
      throw CaptureError("capture: '" + dir + "' exists and is not a directory");
    if (!fs::is_empty(impl->dir, ec))
      throw CaptureError("capture: '" + dir + "' is a directory that is not empty; refusing to write over an earlier "
                         "capture (choose a new directory)");
    if (ec) throw CaptureError("capture: cannot read '" + dir + "': " + ec.message());
  }
  fs::create_directories(impl->dir, ec);
  if (ec) throw CaptureError("capture: cannot create '" + dir + "': " + ec.message());
  for (const auto& l : impl->layers) {
    fs::create_directory(impl->dir / l.info.name, ec);
    if (ec) throw CaptureError("capture: cannot create '" + (impl->dir / l.info.name).string() + "': " + ec.message());
  }
  impl_ = impl.release();
}

CaptureWriter::~CaptureWriter() { delete impl_; }

int64_t CaptureWriter::bytes_written() const { return impl_->bytes; }

void CaptureWriter::write_step(int step, int64_t batch_index, int layer, const std::vector<TensorView>& tensors) {
  Impl& m = *impl_;
  m.check_layer(layer, "write_step");
  Impl::LayerRecord& L = m.layers[size_t(layer)];
  const std::string where = "write_step(layer '" + L.info.name + "', step " + std::to_string(step) + ")";
  if (step < 0) throw CaptureError(where + ": the step is negative");
  if (batch_index < 0) throw CaptureError(where + ": batch index " + std::to_string(batch_index) + " is negative");
  if (auto it = m.steps.find(step); it != m.steps.end() && it->second != batch_index)
    throw CaptureError(where + ": batch index " + std::to_string(batch_index) + ", but the step is batch " +
                       std::to_string(it->second) + " in another layer");
  for (const auto& s : L.stats)
    if (s.step == step) throw CaptureError(where + ": this step is written already");
  // Steps number the captured forwards in order (the .pvd's timesteps are their batch indices).
  for (const auto& [s, b] : m.steps)
    if (s != step && (b == batch_index || (s < step) != (b < batch_index)))
      throw CaptureError(where + ": batch index " + std::to_string(batch_index) + " is out of order with step " +
                         std::to_string(s) + " (batch " + std::to_string(b) + ")");

  // Everything is checked before the first file is written.
  const int images = int(m.config.images.size());
  std::vector<const TensorView*> by_record(L.tensors.size(), nullptr);
  for (const TensorView& t : tensors) {
    const std::string what = where + ": tensor '" + tensor_name(t.kind) + "'";
    size_t i = 0;
    while (i < L.tensors.size() && L.tensors[i].kind != t.kind) ++i;
    if (i == L.tensors.size()) {
      std::string listed;
      for (const auto& r : L.tensors) listed += std::string(listed.empty() ? "" : ", ") + tensor_name(r.kind);
      throw CaptureError(what + " is not one the layer captures (" + (listed.empty() ? "none" : listed) + ")");
    }
    if (by_record[i]) throw CaptureError(what + " is given twice");
    check_view(t, what);
    if (t.images != images)
      throw CaptureError(what + ": " + std::to_string(t.images) + " images, but the capture takes " +
                         std::to_string(images));
    const Impl::TensorRecord& r = L.tensors[i];
    if (r.seen && (r.dtype != t.dtype || r.h != t.h || r.w != t.w || r.c != t.c))
      throw CaptureError(what + ": " + dtype_string(t.dtype) + " " + std::to_string(t.h) + " x " +
                         std::to_string(t.w) + " x " + std::to_string(t.c) + " where earlier steps had " +
                         dtype_string(r.dtype) + " " + std::to_string(r.h) + " x " + std::to_string(r.w) + " x " +
                         std::to_string(r.c));
    by_record[i] = &t;
  }
  for (size_t i = 0; i < L.tensors.size(); ++i)
    if (!by_record[i]) throw CaptureError(where + ": tensor '" + tensor_name(L.tensors[i].kind) + "' is missing");

  const TensorView* pre = nullptr;
  const TensorView* output = nullptr;
  for (const TensorView* t : by_record) {
    if (t->kind == TensorKind::kPre) pre = t;
    if (t->kind == TensorKind::kOutput) output = t;
  }
  try {
    check_stats_args(pre, output, L.info.threshold);
  } catch (const CaptureError& e) {
    throw CaptureError(where + ": " + e.what());
  }

  // The step's files in parallel, a thread a tensor, its statistics on this
  // thread: on one thread a Bi-Real ResNet-18 step took the observer's writer
  // 53 ms on the H200 host, longer than the 43 ms between observed forwards
  // (every 10th at batch 256), so due forwards were dropped.
  std::vector<std::string> rels(L.tensors.size());
  std::vector<std::future<int64_t>> files;
  for (size_t i = 0; i < L.tensors.size(); ++i) {
    const TensorView& t = *by_record[i];
    rels[i] = L.info.name + "/" + step_file(tensor_name(t.kind), step);
    const std::string path = (m.dir / rels[i]).string();
    files.push_back(std::async(std::launch::async, [&t, &m, path, images] {
      // NHWC blocks -> planar x = W, y = H, z = C (x fastest).
      const size_t eb = size_t(dtype_bytes(t.dtype)), plane = size_t(t.h) * size_t(t.w);
      const size_t block = plane * size_t(t.c);
      std::vector<std::vector<char>> planar(size_t(images), std::vector<char>(block * eb));
      std::vector<VtiArray> arrays;
      for (int b = 0; b < images; ++b) {
        const char* src = static_cast<const char*>(t.data) + size_t(b) * block * eb;
        char* dst = planar[size_t(b)].data();
        if (eb == 1)
          to_planar<uint8_t>(src, dst, plane, size_t(t.c));
        else
          to_planar<uint32_t>(src, dst, plane, size_t(t.c));
        arrays.push_back({"img" + std::to_string(m.config.images[size_t(b)]), t.dtype, dst});
      }
      return write_vti(path, t.w, t.h, t.c, arrays);
    }));
  }
  std::exception_ptr failed;
  ChannelStats stats;
  try {
    stats = stats_of(pre, output, L.info.threshold);  // its arguments checked above
  } catch (const CaptureError& e) {
    failed = std::make_exception_ptr(CaptureError(where + ": " + e.what()));
  }
  std::vector<int64_t> bytes(files.size(), 0);
  std::vector<bool> wrote(files.size(), false);
  for (size_t i = 0; i < files.size(); ++i) {  // every thread joined before anything is thrown
    try {
      bytes[i] = files[i].get();
      wrote[i] = true;
    } catch (...) {
      if (!failed) failed = std::current_exception();
    }
  }
  if (failed) {  // the step is not recorded, nor are the files it wrote kept
    for (size_t i = 0; i < rels.size(); ++i) {
      std::error_code ec;
      if (wrote[i]) fs::remove(m.dir / rels[i], ec);
    }
    std::rethrow_exception(failed);
  }

  for (size_t i = 0; i < L.tensors.size(); ++i) {
    const TensorView& t = *by_record[i];
    Impl::TensorRecord& r = L.tensors[i];
    m.bytes += bytes[i];
    if (!r.seen) {
      r.seen = true;
      r.dtype = t.dtype;
      r.h = t.h;
      r.w = t.w;
      r.c = t.c;
    }
    r.files.push_back({step, rels[i], bytes[i]});
  }
  m.steps[step] = batch_index;
  L.stats.push_back({step, batch_index, std::move(stats)});
}

void CaptureWriter::write_weights(int layer, const TensorView& weights) {
  Impl& m = *impl_;
  m.check_layer(layer, "write_weights");
  Impl::LayerRecord& L = m.layers[size_t(layer)];
  const std::string where = "write_weights(layer '" + L.info.name + "')";
  if (L.has_weights) throw CaptureError(where + ": the weights are written already");
  if (weights.kind != TensorKind::kWeights)
    throw CaptureError(where + ": the view is of kind '" + std::string(tensor_name(weights.kind)) + "'");
  check_view(weights, where);
  if (weights.images != 1) throw CaptureError(where + ": weights are one block (images = 1)");
  const std::string rel = L.info.name + "/weights.vti";
  // K x (R*S) x C untransposed: x = C, y = R*S, z = K.
  const int64_t n = write_vti((m.dir / rel).string(), weights.c, weights.w, weights.h,
                              {{"weights", weights.dtype, weights.data}});
  m.bytes += n;
  L.has_weights = true;
  L.weights = {rel, weights.dtype, weights.h, weights.w, weights.c, n};
}

void CaptureWriter::finish(const CaptureSummary& summary) {
  Impl& m = *impl_;
  if (m.finished) throw CaptureError("finish: the capture is finished already");
  const CaptureConfig& cfg = m.config;

  json::Value layers = json::Value::array();
  json::Value stats = json::Value::object();
  for (Impl::LayerRecord& L : m.layers) {
    json::Value layer = json::Value::object();
    layer.set("name", L.info.name);
    layer.set("op", L.info.op);
    json::Value tensors = json::Value::object();
    for (Impl::TensorRecord& r : L.tensors) {
      // Steps may arrive out of order; the manifest and the .pvd list them by step.
      std::sort(r.files.begin(), r.files.end(),
                [](const Impl::TensorRecord::File& a, const Impl::TensorRecord::File& b) { return a.step < b.step; });
      std::vector<std::pair<double, std::string>> pvd;
      json::Value files = json::Value::array(), sizes = json::Value::array();
      for (const auto& f : r.files) {
        pvd.emplace_back(double(m.steps.at(f.step)), fs::path(f.rel).filename().string());
        files.push_back(json::Value(f.rel));
        sizes.push_back(json::Value(f.bytes));
      }
      const std::string pvd_rel = L.info.name + "/" + tensor_name(r.kind) + ".pvd";
      m.bytes += write_pvd((m.dir / pvd_rel).string(), pvd);
      json::Value t = json::Value::object();
      t.set("dtype", r.seen ? json::Value(dtype_string(r.dtype)) : json::Value());
      t.set("shape", r.seen ? json::Value(json::Value::Array{r.h, r.w, r.c}) : json::Value());
      t.set("pvd", pvd_rel);
      t.set("files", std::move(files));
      t.set("bytes", std::move(sizes));
      tensors.set(tensor_name(r.kind), std::move(t));
    }
    layer.set("tensors", std::move(tensors));
    if (L.has_weights) {
      json::Value w = json::Value::object();
      w.set("file", L.weights.file);
      w.set("dtype", dtype_string(L.weights.dtype));
      w.set("shape", json::Value::Array{L.weights.h, L.weights.w, L.weights.c});
      w.set("bytes", L.weights.bytes);
      layer.set("weights", std::move(w));
    } else {
      layer.set("weights", json::Value());
    }
    if (!L.info.threshold.empty()) {
      layer.set("threshold", number_array(L.info.threshold));
      json::Value flip = json::Value::array();
      for (size_t k = 0; k < L.info.threshold.size(); ++k)
        flip.push_back(json::Value(L.info.flip.empty() ? false : L.info.flip[k] != 0));
      layer.set("flip", std::move(flip));
    }
    layers.push_back(std::move(layer));

    std::sort(L.stats.begin(), L.stats.end(),
              [](const Impl::StatsRecord& a, const Impl::StatsRecord& b) { return a.step < b.step; });
    json::Value per_step = json::Value::array();
    for (const Impl::StatsRecord& s : L.stats) {
      json::Value e = json::Value::object();
      e.set("step", s.step);
      e.set("batch", s.batch);
      e.set("frac_plus", number_array(s.stats.frac_plus));
      e.set("pre_mean", number_array(s.stats.pre_mean));
      e.set("pre_std", number_array(s.stats.pre_std));
      e.set("margin_mean", number_array(s.stats.margin_mean));
      per_step.push_back(std::move(e));
    }
    stats.set(L.info.name, std::move(per_step));
  }
  json::Value steps = json::Value::array();
  for (const auto& [step, batch] : m.steps) {
    json::Value s = json::Value::object();
    s.set("step", step);
    s.set("batch", batch);
    steps.push_back(std::move(s));
  }

  json::Value sum = json::Value::object();
  sum.set("batches", summary.batches);
  sum.set("due", summary.due);
  sum.set("captured", summary.captured);
  sum.set("dropped", summary.dropped);
  sum.set("ring_slots", summary.ring_slots);
  sum.set("ring_slot_bytes", summary.ring_slot_bytes);
  sum.set("bytes_written", m.bytes);

  json::Value root = json::Value::object();
  root.set("schema", kSchema);
  root.set("model", cfg.model);
  root.set("command", cfg.command);
  root.set("batch", cfg.batch);
  root.set("every", cfg.every);
  json::Value images = json::Value::array();
  for (int b : cfg.images) images.push_back(json::Value(b));
  root.set("images", std::move(images));
  root.set("layers", std::move(layers));
  root.set("steps", std::move(steps));
  root.set("stats", std::move(stats));
  root.set("summary", std::move(sum));
  const std::string manifest = (m.dir / "capture.json").string();
  try {
    write_file_atomic(manifest, root.dump(), /*force=*/false);
  } catch (const ResultsError& e) {
    throw CaptureError("cannot write " + manifest + ": " + e.what());
  }
  m.finished = true;
}

}  // namespace btc::insitu
