#include "io/pth.h"

#include <ATen/ATen.h>
#include <c10/util/Exception.h>
#include <caffe2/serialize/inline_container.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <set>

#include "io/dtypes.h"
#include "io/mapped_file.h"
#include "io/unpickler.h"
#include "io/zip_directory.h"
#include "soragen/error.h"

namespace soragen::io {
namespace {

// data.pkl grows by ~200 bytes per tensor; this is room for 300k tensors.
constexpr size_t kMaxPickleBytes = 64u << 20;

std::string first_line(const std::string& text) { return text.substr(0, text.find('\n')); }

// libtorch's zip reader reads through this, from the mapping (or buffer),
// never past its end.
class MappedAdapter final : public caffe2::serialize::ReadAdapterInterface {
 public:
  explicit MappedAdapter(std::shared_ptr<const MappedFile> file) : file_(std::move(file)) {}
  size_t size() const override { return file_->size(); }
  size_t read(uint64_t pos, void* buf, size_t n, const char* /*what*/) const override {
    if (pos >= file_->size()) return 0;
    const size_t take = std::min<uint64_t>(n, file_->size() - pos);
    std::memcpy(buf, file_->data() + pos, take);
    return take;
  }

 private:
  std::shared_ptr<const MappedFile> file_;
};

struct Record {
  PickledTensor tensor;
  const DtypeSpec* spec = nullptr;
};

class PthSource final : public TensorSource {
 public:
  explicit PthSource(std::shared_ptr<const MappedFile> file) : TensorSource(file->path()), file_(std::move(file)) {
    open();
  }

  std::string format() const override { return "pth"; }
  at::Tensor load(const std::string& name) const override;

 private:
  [[noreturn]] void fail(const std::string& problem) const { throw ModelError(error_prefix() + problem); }
  [[noreturn]] void fail(const std::string& tensor, const std::string& problem) const {
    throw ModelError(error_prefix() + "tensor '" + tensor + "' " + problem);
  }

  void open();
  void check_record_sizes() const;
  std::pair<at::DataPtr, size_t> read_record(const std::string& record) const;

  std::shared_ptr<const MappedFile> file_;
  std::unique_ptr<caffe2::serialize::PyTorchStreamReader> reader_;
  mutable std::mutex mutex_;
  std::map<std::string, Record> records_;
};

std::pair<at::DataPtr, size_t> PthSource::read_record(const std::string& record) const {
  std::lock_guard<std::mutex> lock(mutex_);
  try {
    auto [data, size] = reader_->getRecord(record);
    return {std::move(data), size};
  } catch (const c10::Error& e) {
    fail("cannot read record '" + record + "': " + first_line(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    fail("cannot read record '" + record + "': " + first_line(e.what()));
  }
}

void PthSource::check_record_sizes() const {
  const uint64_t size = file_->size();
  for (const auto& [name, record] : read_zip_directory(file_->data(), size, error_prefix(), kMaxPthRecords)) {
    const bool stored = record.method == 0;
    if ((stored && (record.uncompressed != record.compressed || record.uncompressed > size)) ||
        record.uncompressed / kMaxPthInflation > size) {
      fail("record '" + name + "' claims " + std::to_string(record.uncompressed) + " bytes in an archive of " +
           std::to_string(size) + " (damaged, or a zip bomb)");
    }
  }
}

void PthSource::open() {
  // libtorch's reader allocates whatever a record claims: check first.
  check_record_sizes();
  std::set<std::string> records;
  try {
    reader_ = std::make_unique<caffe2::serialize::PyTorchStreamReader>(std::make_shared<MappedAdapter>(file_));
    for (auto& name : reader_->getAllRecords()) records.insert(std::move(name));
  } catch (const c10::Error& e) {
    fail("not a readable PyTorch zip archive (truncated?): " + first_line(e.what_without_backtrace()));
  } catch (const std::exception& e) {
    fail("not a readable PyTorch zip archive (truncated?): " + first_line(e.what()));
  }
  if (!records.count("data.pkl")) {
    fail("archive has no data.pkl; only torch.save'd dicts of tensors can be read (not TorchScript modules)");
  }
  if (records.count("byteorder")) {
    const auto [data, size] = read_record("byteorder");
    const std::string order(static_cast<const char*>(data.get()), size);
    if (order != "little") fail("stores its tensors in '" + order + "' byte order; only little-endian is supported");
  }
  const auto [pickle, pickle_size] = read_record("data.pkl");
  if (pickle_size > kMaxPickleBytes) {
    fail("data.pkl is " + std::to_string(pickle_size) + " bytes, over the limit of " + std::to_string(kMaxPickleBytes));
  }
  const auto entries =
      unpickle_state_dict(static_cast<const uint8_t*>(pickle.get()), pickle_size, error_prefix());
  for (const auto& [name, tensor] : entries) {
    const char* dtype = storage_type_dtype(tensor.storage_type);
    const DtypeSpec* spec = dtype ? find_dtype(dtype) : nullptr;
    if (!spec) fail(name, "has storage type '" + tensor.storage_type + "', which cannot be loaded");
    if (!records.count("data/" + tensor.storage_key)) {
      fail(name, "refers to storage record 'data/" + tensor.storage_key + "' missing from the archive");
    }
    if (tensor.storage_offset < 0) fail(name, "has a negative storage offset");
    for (size_t i = 0; i < tensor.sizes.size(); ++i) {
      if (tensor.sizes[i] < 0) fail(name, "has a negative size " + format_shape(tensor.sizes));
      if (tensor.strides[i] < 0) fail(name, "has a negative stride " + format_shape(tensor.strides));
    }
    // Keys repeat when a nested dict flattens onto an existing name; the last
    // one wins, as it would in Python.
    infos_[name] = TensorInfo{name, spec->name, tensor.sizes};
    records_[name] = Record{tensor, spec};
  }
}

at::Tensor PthSource::load(const std::string& name) const {
  const TensorInfo& meta = info(name);
  const Record& record = records_.at(name);
  const PickledTensor& t = record.tensor;
  const size_t element = record.spec->size;

  // Elements the view reaches: offset + sum((size-1) * stride) + 1, checked
  // for overflow because every number came from the file.
  uint64_t extent = 0;
  bool empty = false;
  bool overflow = __builtin_add_overflow(static_cast<uint64_t>(t.storage_offset), 1, &extent);
  for (size_t i = 0; i < t.sizes.size(); ++i) {
    if (t.sizes[i] == 0) empty = true;
    uint64_t reach = 0;
    overflow = overflow || __builtin_mul_overflow(static_cast<uint64_t>(std::max<int64_t>(t.sizes[i] - 1, 0)),
                                                   static_cast<uint64_t>(t.strides[i]), &reach) ||
               __builtin_add_overflow(extent, reach, &extent);
  }
  uint64_t needed = 0;
  overflow = overflow || __builtin_mul_overflow(extent, element, &needed);
  if (empty) return at::empty(meta.shape, at::TensorOptions().dtype(record.spec->type));

  auto [data, nbytes] = read_record("data/" + t.storage_key);
  if (overflow || needed > nbytes) {
    fail(name, "with shape " + format_shape(t.sizes) + ", stride " + format_shape(t.strides) + " and offset " +
                   std::to_string(t.storage_offset) + " reaches past its storage of " + std::to_string(nbytes) +
                   " bytes");
  }
  const at::ScalarType stored = record.spec->float8 ? at::kByte : record.spec->type;
  c10::Storage storage(c10::Storage::use_byte_size_t(), nbytes, std::move(data), nullptr, false);
  at::Tensor view = at::empty({0}, at::TensorOptions().dtype(stored));
  view.set_(storage, t.storage_offset, t.sizes, t.strides);
  // A view of a larger storage (a slice, a transpose) becomes its own
  // contiguous tensor, so it neither keeps the rest alive nor surprises callers
  // with strides.
  const bool whole = view.is_contiguous() && static_cast<uint64_t>(view.numel()) * element == nbytes;
  at::Tensor out = whole ? view : view.clone(at::MemoryFormat::Contiguous);
  return record.spec->float8 ? decode_float8(out, *record.spec) : out;
}

}  // namespace

std::unique_ptr<TensorSource> open_pth(const std::filesystem::path& path) {
  return std::make_unique<PthSource>(MappedFile::open(path));
}

std::unique_ptr<TensorSource> open_pth(std::shared_ptr<const MappedFile> file) {
  return std::make_unique<PthSource>(std::move(file));
}

}  // namespace soragen::io
