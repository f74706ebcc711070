// A strict reader and a writer of safetensors files (the format of Hugging
// Face's `safetensors`): the network runner reads a model's weights from one
// (names: docs/weights.md) and dumps per-layer outputs into one. Pure C++17,
// no CUDA.
//
// File layout: 8 bytes little-endian N, then N bytes of UTF-8 JSON (the header),
// then the data. The header maps each tensor name to {"dtype", "shape",
// "data_offsets": [BEGIN, END]} (offsets into the data, END exclusive), plus an
// optional "__metadata__" object of string -> string.
//
// The reader refuses what the reference (Rust) reader refuses: a header
// length over 100,000,000 or past the end of the file, a header that does not
// start with '{' or is not UTF-8 or not a JSON object, an entry missing a
// field or with one of the wrong type, offsets that do not tile the data from 0
// with no hole or overlap, a tensor whose byte count is not numel * dtype
// size, and bytes after the last tensor. It is stricter in four places, each
// a sign of a broken writer: duplicate keys anywhere in the header (the
// reference keeps the last), unknown keys in a tensor entry, numbers other
// than plain integers in shape and data_offsets ("1.0", "1e3"), and a
// "__metadata__": null.
//
// Every error is a SafetensorsError whose message starts with the file path
// and says what is wrong ("w.safetensors: tensor 'fc.weight': data_offsets
// [0, 20] hold 20 bytes, but F32 [2, 3] needs 24").
#pragma once
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace btc::net {

struct SafetensorsError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The dtypes read and written, in the reference's order (which its writer
// sorts the data by: widest first, so every tensor is aligned to its element
// size). Any other dtype string of the format (F8_E4M3, F4, C64, ...) is an
// "unsupported dtype" error.
enum class Dtype { BOOL, U8, I8, I16, U16, F16, BF16, I32, U32, F32, F64, I64, U64 };

const char* dtype_name(Dtype d);                              // "F32"
size_t dtype_size_bytes(Dtype d);                             // 4
std::optional<Dtype> dtype_from_name(const std::string& name);  // nullopt: not one of the above

// A tensor of an open file: `data` points into the file's bytes (no alignment
// assumed; read it with memcpy or to_f32).
struct TensorView {
  std::string name;
  Dtype dtype = Dtype::F32;
  std::vector<int64_t> shape;  // [] is a scalar (numel 1)
  const uint8_t* data = nullptr;
  size_t bytes = 0;
  int64_t numel() const;
};

// "[64, 3, 7, 7]", for messages.
std::string shape_string(const std::vector<int64_t>& shape);

class SafetensorsFile {
 public:
  // Reads the whole file into memory and validates it; throws SafetensorsError.
  static SafetensorsFile open(const std::string& path);
  // The same from bytes already in memory; `path` names them in messages.
  static SafetensorsFile parse(const std::string& path, std::vector<uint8_t> bytes);

  // Views point into bytes_: moving keeps them valid (the buffer moves), a
  // copy would not.
  SafetensorsFile(SafetensorsFile&&) = default;
  SafetensorsFile& operator=(SafetensorsFile&&) = default;
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;

  const TensorView* find(const std::string& name) const;  // nullptr when absent
  const TensorView& get(const std::string& name) const;   // throws when absent
  const std::vector<TensorView>& tensors() const { return tensors_; }  // in data order
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::string& path() const { return path_; }
  size_t file_size_bytes() const { return bytes_.size(); }

  // Values as float: F32 as is, F16 and BF16 exactly, F64 rounded to nearest,
  // integers converted. BOOL is refused (a mask is no weight).
  std::vector<float> to_f32(const TensorView& t) const;
  // get(name), its shape checked against `shape`, then to_f32: what a layer's
  // loader needs ("tensor 'conv1.weight': shape [64, 3, 3, 3] where [64, 3, 7, 7] expected").
  std::vector<float> read_f32(const std::string& name, const std::vector<int64_t>& shape) const;

 private:
  SafetensorsFile() = default;
  [[noreturn]] void fail(const std::string& what) const;

  std::string path_;
  std::vector<uint8_t> bytes_;
  std::vector<TensorView> tensors_;
  std::map<std::string, size_t> index_;  // name -> position in tensors_
  std::map<std::string, std::string> metadata_;
};

// A tensor to write: bytes are little-endian, numel * dtype size of them.
struct OwnedTensor {
  Dtype dtype = Dtype::F32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;
};

// The file's bytes as the reference writer lays them out: data sorted by dtype
// (widest first) then name, compact JSON header ("__metadata__" first when
// not empty, its keys sorted), padded with spaces to a multiple of 8. With
// one metadata key (or none) the bytes equal Python safetensors' save().
std::vector<uint8_t> serialize_safetensors(const std::vector<std::pair<std::string, OwnedTensor>>& tensors,
                                           const std::map<std::string, std::string>& metadata = {});

// serialize_safetensors written atomically: a temporary file in the same
// folder, flushed, then renamed over `path` (which it replaces).
void write_safetensors(const std::string& path, const std::vector<std::pair<std::string, OwnedTensor>>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// Helpers for writers: float values as an F32 tensor.
OwnedTensor f32_tensor(std::vector<int64_t> shape, const std::vector<float>& values);

// IEEE half and bfloat16 bit patterns to float, exactly (subnormals, inf, NaN kept).
float f16_to_f32(uint16_t bits);
float bf16_to_f32(uint16_t bits);

}  // namespace btc::net
