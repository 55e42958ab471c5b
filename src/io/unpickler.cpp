#include "io/unpickler.h"

#include <cstdio>
#include <cstring>
#include <map>
#include <unordered_map>

#include "soragen/error.h"

namespace soragen::io {
namespace {

constexpr const char* kStorageTypes[][2] = {
    {"DoubleStorage", "F64"}, {"FloatStorage", "F32"},  {"HalfStorage", "F16"},
    {"BFloat16Storage", "BF16"}, {"LongStorage", "I64"}, {"IntStorage", "I32"},
    {"ShortStorage", "I16"},  {"CharStorage", "I8"},    {"ByteStorage", "U8"},
    {"BoolStorage", "BOOL"},  {"Float8_e4m3fnStorage", "F8_E4M3"}, {"Float8_e5m2Storage", "F8_E5M2"},
};

// The callables a state dict needs. Nothing is ever called: REDUCE on one of
// these only builds the record it describes.
enum class Callable : uint8_t {
  ordered_dict,
  rebuild_tensor,     // torch._utils._rebuild_tensor(storage, offset, size, stride)
  rebuild_tensor_v2,  // ... + requires_grad, backward_hooks[, metadata]
  rebuild_parameter,  // (tensor, requires_grad, hooks[, state])
  storage_type,
};

enum class Kind : uint8_t { none, boolean, integer, floating, string, tuple, list, dict, global, storage, tensor };

const char* kind_name(Kind kind) {
  switch (kind) {
    case Kind::none: return "None";
    case Kind::boolean: return "bool";
    case Kind::integer: return "int";
    case Kind::floating: return "float";
    case Kind::string: return "str";
    case Kind::tuple: return "tuple";
    case Kind::list: return "list";
    case Kind::dict: return "dict";
    case Kind::global: return "global";
    case Kind::storage: return "storage";
    case Kind::tensor: return "tensor";
  }
  return "?";
}

// Values live in one arena and refer to each other by index: no recursive
// destruction and no reference cycles, whatever the pickle builds.
struct Value {
  Kind kind = Kind::none;
  Callable callable = Callable::ordered_dict;  // Kind::global
  uint32_t depth = 0;                          // container nesting
  int64_t integer = 0;                         // int, bool; tensor: index into tensors
  double floating = 0;
  std::string text;                            // str; global "module.name"; storage type
  std::vector<uint32_t> items;                 // tuple, list; dict: key, value, key, value...
};

class Unpickler {
 public:
  Unpickler(const uint8_t* data, size_t size, const std::string& prefix, const PickleLimits& limits)
      : data_(data), size_(size), prefix_(prefix), limits_(limits) {}

  std::vector<std::pair<std::string, PickledTensor>> run();

 private:
  [[noreturn]] void fail(const std::string& problem) const {
    throw ModelError(prefix_ + "data.pkl " + problem + " (at byte " + std::to_string(op_pos_) + ")");
  }

  const uint8_t* take(size_t n) {
    if (n > size_ - pos_) fail("ends in the middle of an opcode (truncated?)");
    const uint8_t* p = data_ + pos_;
    pos_ += n;
    return p;
  }
  uint64_t read_le(size_t n) {
    const uint8_t* p = take(n);
    uint64_t v = 0;
    for (size_t i = n; i-- > 0;) v = (v << 8) | p[i];
    return v;
  }
  std::string read_line() {
    const void* nl = std::memchr(data_ + pos_, '\n', size_ - pos_);
    if (!nl) fail("has a GLOBAL without a newline (truncated?)");
    const size_t n = static_cast<const uint8_t*>(nl) - (data_ + pos_);
    if (n > limits_.max_string) fail("has a GLOBAL name longer than " + std::to_string(limits_.max_string) + " bytes");
    std::string line(reinterpret_cast<const char*>(data_ + pos_), n);
    pos_ += n + 1;
    return line;
  }

  uint32_t make(Value v) {
    if (values_.size() >= limits_.max_values) fail("builds more than " + std::to_string(limits_.max_values) + " values");
    values_.push_back(std::move(v));
    return static_cast<uint32_t>(values_.size() - 1);
  }
  void push(uint32_t id) {
    if (stack_.size() >= limits_.max_stack) fail("stack grows past " + std::to_string(limits_.max_stack) + " entries");
    stack_.push_back(id);
  }
  uint32_t pop() {
    if (stack_.size() <= stack_floor()) fail("pops from an empty stack");
    const uint32_t id = stack_.back();
    stack_.pop_back();
    return id;
  }
  uint32_t top() {
    if (stack_.size() <= stack_floor()) fail("reads an empty stack");
    return stack_.back();
  }
  size_t stack_floor() const { return marks_.empty() ? 0 : marks_.back(); }
  std::vector<uint32_t> pop_to_mark() {
    if (marks_.empty()) fail("closes a MARK that was never opened");
    const size_t mark = marks_.back();
    marks_.pop_back();
    std::vector<uint32_t> items(stack_.begin() + static_cast<std::ptrdiff_t>(mark), stack_.end());
    stack_.resize(mark);
    return items;
  }

  void check_depth(uint32_t depth) {
    if (depth > limits_.max_depth) fail("nests containers deeper than " + std::to_string(limits_.max_depth) + " levels");
  }
  uint32_t make_container(Kind kind, std::vector<uint32_t> items) {
    Value v;
    v.kind = kind;
    for (uint32_t id : items) v.depth = std::max(v.depth, values_[id].depth + 1);
    check_depth(v.depth);
    v.items = std::move(items);
    return make(std::move(v));
  }
  void add_items(uint32_t target, const std::vector<uint32_t>& items, Kind expected, const char* op) {
    Value& t = values_[target];
    if (t.kind != expected) fail(std::string(op) + " on a " + kind_name(t.kind) + ", expected a " + kind_name(expected));
    if (expected == Kind::dict && items.size() % 2 != 0) fail(std::string(op) + " with an odd number of items");
    uint32_t depth = t.depth;
    for (uint32_t id : items) depth = std::max(depth, values_[id].depth + 1);
    check_depth(depth);
    // Re-index: make() may not be called between here and the insert.
    values_[target].depth = depth;
    values_[target].items.insert(values_[target].items.end(), items.begin(), items.end());
  }

  void memo_put(uint64_t index) {
    if (memo_.size() >= limits_.max_memo && !memo_.count(index)) {
      fail("memoizes more than " + std::to_string(limits_.max_memo) + " values");
    }
    memo_[index] = top();
  }
  void memo_get(uint64_t index) {
    const auto it = memo_.find(index);
    if (it == memo_.end()) fail("reads memo entry " + std::to_string(index) + " that was never written");
    push(it->second);
  }

  uint32_t make_string(size_t n) {
    if (n > limits_.max_string) fail("has a string of " + std::to_string(n) + " bytes, over the limit of " + std::to_string(limits_.max_string));
    const uint8_t* p = take(n);
    Value v;
    v.kind = Kind::string;
    v.text.assign(reinterpret_cast<const char*>(p), n);
    return make(std::move(v));
  }
  uint32_t make_int(int64_t i) {
    Value v;
    v.kind = Kind::integer;
    v.integer = i;
    return make(std::move(v));
  }

  void global(const std::string& module, const std::string& name);
  void reduce();
  void persistent_id();

  int64_t as_int(uint32_t id, const char* what) const {
    const Value& v = values_[id];
    if (v.kind != Kind::integer) fail(std::string(what) + " is a " + kind_name(v.kind) + ", expected an int");
    return v.integer;
  }
  std::vector<int64_t> as_int_tuple(uint32_t id, const char* what) const {
    const Value& v = values_[id];
    if (v.kind != Kind::tuple) fail(std::string(what) + " is a " + kind_name(v.kind) + ", expected a tuple");
    std::vector<int64_t> out;
    for (uint32_t item : v.items) out.push_back(as_int(item, what));
    return out;
  }
  uint32_t rebuild_tensor(const std::vector<uint32_t>& args);

  void flatten(uint32_t dict, const std::string& prefix, size_t depth,
               std::vector<std::pair<std::string, PickledTensor>>* out);

  const uint8_t* data_;
  size_t size_;
  size_t pos_ = 0;
  size_t op_pos_ = 0;
  const std::string& prefix_;
  const PickleLimits& limits_;
  std::vector<Value> values_;
  std::vector<uint32_t> stack_;
  std::vector<size_t> marks_;
  std::unordered_map<uint64_t, uint32_t> memo_;
  std::vector<PickledTensor> tensors_;
  size_t flattened_ = 0;    // dict entries visited by flatten()
  size_t names_total_ = 0;  // bytes of the names flatten() emitted
};

void Unpickler::global(const std::string& module, const std::string& name) {
  Value v;
  v.kind = Kind::global;
  v.text = module + "." + name;
  if (module == "collections" && name == "OrderedDict") {
    v.callable = Callable::ordered_dict;
  } else if (module == "torch._utils" && name == "_rebuild_tensor") {
    v.callable = Callable::rebuild_tensor;
  } else if (module == "torch._utils" && name == "_rebuild_tensor_v2") {
    v.callable = Callable::rebuild_tensor_v2;
  } else if (module == "torch._utils" &&
             (name == "_rebuild_parameter" || name == "_rebuild_parameter_with_state")) {
    v.callable = Callable::rebuild_parameter;
  } else if (module == "torch" && storage_type_dtype(name)) {
    v.callable = Callable::storage_type;
    v.text = name;
  } else {
    // Refused when named, before anything could refer to it.
    fail("asks for global '" + v.text + "', which a state dict never needs; refusing to load it");
  }
  push(make(std::move(v)));
}

void Unpickler::persistent_id() {
  // torch.save: ('storage', <torch.XStorage>, key, location, numel)
  const uint32_t pid = pop();
  const Value& t = values_[pid];
  if (t.kind != Kind::tuple || t.items.size() != 5) fail("has a persistent id that is not a 5-tuple");
  const Value& tag = values_[t.items[0]];
  const Value& type = values_[t.items[1]];
  const Value& key = values_[t.items[2]];
  if (tag.kind != Kind::string || tag.text != "storage") fail("has a persistent id that is not a storage");
  if (type.kind != Kind::global || type.callable != Callable::storage_type) fail("has a storage of no known storage type");
  if (key.kind != Kind::string) fail("has a storage whose key is not a string");
  Value v;
  v.kind = Kind::storage;
  v.text = type.text;
  Value key_value;
  key_value.kind = Kind::string;
  key_value.text = key.text;
  v.items.push_back(make(std::move(key_value)));
  push(make(std::move(v)));
}

uint32_t Unpickler::rebuild_tensor(const std::vector<uint32_t>& args) {
  const Value& storage = values_[args[0]];
  if (storage.kind != Kind::storage) fail("rebuilds a tensor from a " + std::string(kind_name(storage.kind)) + ", expected a storage");
  PickledTensor t;
  t.storage_type = storage.text;
  t.storage_key = values_[storage.items[0]].text;
  t.storage_offset = as_int(args[1], "a tensor's storage offset");
  t.sizes = as_int_tuple(args[2], "a tensor's size");
  t.strides = as_int_tuple(args[3], "a tensor's stride");
  if (t.sizes.size() != t.strides.size()) fail("rebuilds a tensor whose size and stride differ in length");
  if (t.sizes.size() > limits_.max_rank) {
    fail("rebuilds a tensor of " + std::to_string(t.sizes.size()) + " dimensions, more than the limit of " +
         std::to_string(limits_.max_rank));
  }
  tensors_.push_back(std::move(t));
  Value v;
  v.kind = Kind::tensor;
  v.integer = static_cast<int64_t>(tensors_.size() - 1);
  return make(std::move(v));
}

void Unpickler::reduce() {
  const uint32_t args_id = pop();
  const uint32_t fn_id = pop();
  const Value& fn = values_[fn_id];
  if (fn.kind != Kind::global) fail("calls a " + std::string(kind_name(fn.kind)) + ", which is not callable");
  if (values_[args_id].kind != Kind::tuple) fail("calls '" + fn.text + "' with arguments that are not a tuple");
  const std::vector<uint32_t> args = values_[args_id].items;
  switch (fn.callable) {
    case Callable::ordered_dict:
      if (!args.empty()) fail("calls OrderedDict with arguments; torch.save never does");
      push(make_container(Kind::dict, {}));
      return;
    case Callable::rebuild_tensor:
      if (args.size() != 4) fail("calls _rebuild_tensor with " + std::to_string(args.size()) + " arguments, expected 4");
      push(rebuild_tensor(args));
      return;
    case Callable::rebuild_tensor_v2:
      if (args.size() < 6 || args.size() > 7) {
        fail("calls _rebuild_tensor_v2 with " + std::to_string(args.size()) + " arguments, expected 6 or 7");
      }
      push(rebuild_tensor(args));
      return;
    case Callable::rebuild_parameter:
      if (args.size() < 3 || args.size() > 4 || values_[args[0]].kind != Kind::tensor) {
        fail("calls " + fn.text + " without a tensor");
      }
      push(args[0]);
      return;
    case Callable::storage_type:
      fail("calls storage type '" + fn.text + "'; torch.save refers to storages by persistent id only");
  }
}

std::vector<std::pair<std::string, PickledTensor>> Unpickler::run() {
  for (;;) {
    op_pos_ = pos_;
    const uint8_t op = *take(1);
    switch (op) {
      case 0x80: {  // PROTO
        const uint8_t version = *take(1);
        if (version > 5) fail("uses pickle protocol " + std::to_string(version) + ", newer than any known");
        break;
      }
      case 0x95: take(8); break;  // FRAME: framing is irrelevant to a reader of the whole buffer
      case '(':                   // MARK
        if (marks_.size() >= limits_.max_depth) fail("nests MARKs deeper than " + std::to_string(limits_.max_depth));
        marks_.push_back(stack_.size());
        break;
      case '.': {  // STOP
        if (!marks_.empty()) fail("stops with an open MARK");
        const uint32_t root = pop();
        if (values_[root].kind != Kind::dict) {
          fail("holds a " + std::string(kind_name(values_[root].kind)) + ", expected a dict of tensors");
        }
        std::vector<std::pair<std::string, PickledTensor>> out;
        flatten(root, "", 0, &out);
        return out;
      }
      case '}': push(make_container(Kind::dict, {})); break;   // EMPTY_DICT
      case ']': push(make_container(Kind::list, {})); break;   // EMPTY_LIST
      case ')': push(make_container(Kind::tuple, {})); break;  // EMPTY_TUPLE
      case 'N': push(make(Value{})); break;                    // NONE
      case 0x88:                                               // NEWTRUE
      case 0x89: {                                             // NEWFALSE
        Value v;
        v.kind = Kind::boolean;
        v.integer = op == 0x88;
        push(make(std::move(v)));
        break;
      }
      case 'K': push(make_int(static_cast<int64_t>(read_le(1)))); break;                        // BININT1
      case 'M': push(make_int(static_cast<int64_t>(read_le(2)))); break;                        // BININT2
      case 'J': push(make_int(static_cast<int32_t>(static_cast<uint32_t>(read_le(4))))); break;  // BININT
      case 0x8a: {  // LONG1: little-endian two's complement of n bytes
        const size_t n = *take(1);
        if (n > 8) fail("has an integer of " + std::to_string(n) + " bytes, more than 64 bits");
        uint64_t v = n ? read_le(n) : 0;
        if (n > 0 && n < 8 && (v >> (8 * n - 1)) & 1) v |= ~uint64_t{0} << (8 * n);
        push(make_int(static_cast<int64_t>(v)));
        break;
      }
      case 'G': {  // BINFLOAT, big-endian
        const uint8_t* p = take(8);
        uint64_t bits = 0;
        for (int i = 0; i < 8; ++i) bits = (bits << 8) | p[i];
        Value v;
        v.kind = Kind::floating;
        std::memcpy(&v.floating, &bits, sizeof bits);
        push(make(std::move(v)));
        break;
      }
      case 'X': push(make_string(read_le(4))); break;   // BINUNICODE
      case 0x8c: push(make_string(read_le(1))); break;  // SHORT_BINUNICODE
      case 'q': memo_put(read_le(1)); break;            // BINPUT
      case 'r': memo_put(read_le(4)); break;            // LONG_BINPUT
      case 0x94: memo_put(memo_.size()); break;         // MEMOIZE
      case 'h': memo_get(read_le(1)); break;            // BINGET
      case 'j': memo_get(read_le(4)); break;            // LONG_BINGET
      case 'c': {                                       // GLOBAL
        const std::string module = read_line();
        const std::string name = read_line();
        global(module, name);
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        const uint32_t name = pop();
        const uint32_t module = pop();
        if (values_[name].kind != Kind::string || values_[module].kind != Kind::string) {
          fail("has a STACK_GLOBAL whose names are not strings");
        }
        global(values_[module].text, values_[name].text);
        break;
      }
      case 't': push(make_container(Kind::tuple, pop_to_mark())); break;  // TUPLE
      case 0x85: {                                                        // TUPLE1
        const uint32_t a = pop();
        push(make_container(Kind::tuple, {a}));
        break;
      }
      case 0x86: {  // TUPLE2
        const uint32_t b = pop();
        const uint32_t a = pop();
        push(make_container(Kind::tuple, {a, b}));
        break;
      }
      case 0x87: {  // TUPLE3
        const uint32_t c = pop();
        const uint32_t b = pop();
        const uint32_t a = pop();
        push(make_container(Kind::tuple, {a, b, c}));
        break;
      }
      case 'l': push(make_container(Kind::list, pop_to_mark())); break;  // LIST
      case 'd': {                                                        // DICT
        std::vector<uint32_t> items = pop_to_mark();
        const uint32_t dict = make_container(Kind::dict, {});
        add_items(dict, items, Kind::dict, "DICT");
        push(dict);
        break;
      }
      case 'a': {  // APPEND
        const uint32_t item = pop();
        add_items(top(), {item}, Kind::list, "APPEND");
        break;
      }
      case 'e': {  // APPENDS
        const std::vector<uint32_t> items = pop_to_mark();
        add_items(top(), items, Kind::list, "APPENDS");
        break;
      }
      case 's': {  // SETITEM
        const uint32_t value = pop();
        const uint32_t key = pop();
        add_items(top(), {key, value}, Kind::dict, "SETITEM");
        break;
      }
      case 'u': {  // SETITEMS
        const std::vector<uint32_t> items = pop_to_mark();
        add_items(top(), items, Kind::dict, "SETITEMS");
        break;
      }
      case 'Q': persistent_id(); break;  // BINPERSID
      case 'R': reduce(); break;         // REDUCE
      case 'b': {                        // BUILD
        // A state dict's OrderedDict carries `_metadata` (module versions) as
        // instance state; it does not affect the tensors.
        pop();
        const Kind target = values_[top()].kind;
        if (target != Kind::dict && target != Kind::tensor) {
          fail(std::string("sets state on a ") + kind_name(target) + "; only dicts and tensors are accepted");
        }
        break;
      }
      case '0': pop(); break;            // POP
      case '1': pop_to_mark(); break;    // POP_MARK
      case '2': push(top()); break;      // DUP
      default: {
        char hex[8];
        std::snprintf(hex, sizeof hex, "0x%02x", op);
        fail(std::string("has pickle opcode ") + hex + ", which torch.save does not write");
      }
    }
  }
}

void Unpickler::flatten(uint32_t dict, const std::string& prefix, size_t depth,
                        std::vector<std::pair<std::string, PickledTensor>>* out) {
  if (depth > limits_.max_depth) fail("nests dicts deeper than " + std::to_string(limits_.max_depth) + " levels");
  const std::vector<uint32_t>& items = values_[dict].items;
  for (size_t i = 0; i + 1 < items.size(); i += 2) {
    if (++flattened_ > limits_.max_entries) {
      fail("expands to more than " + std::to_string(limits_.max_entries) + " dict entries (one dict shared many times?)");
    }
    const Value& key = values_[items[i]];
    const Value& value = values_[items[i + 1]];
    if (key.kind != Kind::string) continue;  // e.g. optimizer state keyed by int
    if (value.kind != Kind::tensor && value.kind != Kind::dict) continue;
    if (prefix.size() + key.text.size() > limits_.max_name) {
      fail("has a tensor name longer than " + std::to_string(limits_.max_name) + " bytes");
    }
    const std::string name = prefix + key.text;
    if (value.kind == Kind::tensor) {
      names_total_ += name.size();
      if (names_total_ > limits_.max_names_total) {
        fail("has tensor names longer than " + std::to_string(limits_.max_names_total) + " bytes in all");
      }
      out->emplace_back(name, tensors_[static_cast<size_t>(value.integer)]);
    } else if (value.kind == Kind::dict) {
      flatten(items[i + 1], name + ".", depth + 1, out);
    }
  }
}

}  // namespace

const char* storage_type_dtype(const std::string& storage_type) {
  for (const auto& entry : kStorageTypes) {
    if (storage_type == entry[0]) return entry[1];
  }
  return nullptr;
}

std::vector<std::pair<std::string, PickledTensor>> unpickle_state_dict(const uint8_t* data, size_t size,
                                                                       const std::string& error_prefix,
                                                                       const PickleLimits& limits) {
  return Unpickler(data, size, error_prefix, limits).run();
}

}  // namespace soragen::io
