//! Reader for PyTorch's *legacy* (pre-zip) checkpoint format, as written by `torch.save` before 1.6.
//!
//! Layout (torch/serialization.py, `_legacy_save`): five pickles — magic number, protocol version,
//! system info, the object itself (tensors as `_rebuild_tensor_v2(storage, offset, size, stride)`
//! with storages as persistent ids), the list of storage keys — then, for each key in that order,
//! an i64 element count followed by the raw little-endian elements. Tensors can be strided views
//! of their storage, so every tensor is gathered through its strides into C order here.

use std::collections::HashMap;

use crate::error::{Error, Result};

/// `torch.serialization.MAGIC_NUMBER` (0x1950a86a20f9469cfc6c) as pickled by LONG1, little-endian.
const MAGIC: [u8; 10] = [0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19];
const PROTOCOL_VERSION: i64 = 1001;

/// A float tensor read from a checkpoint, in C order.
#[derive(Debug, Clone)]
pub struct PthTensor {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// Elements in C (row-major) order, converted to f32.
    pub data: Vec<f32>,
}

/// Reads every floating-point tensor of a legacy `.pth` state dict, in file order.
///
/// Non-float entries (e.g. BatchNorm's `num_batches_tracked`) are skipped.
pub fn read_legacy_state_dict(bytes: &[u8]) -> Result<Vec<(String, PthTensor)>> {
    let mut pickles = Unpickler { bytes, pos: 0 };
    match pickles.load()? {
        Value::BigInt(b) if b == MAGIC => {}
        _ => return Err(bad("not a legacy PyTorch checkpoint (magic number missing)")),
    }
    match pickles.load()? {
        Value::Int(PROTOCOL_VERSION) => {}
        v => return Err(bad(format!("unsupported protocol version {v:?}"))),
    }
    if let Value::Dict(info) = pickles.load()? {
        let little = info.iter().any(|(k, v)| matches!((k, v), (Value::Str(k), Value::Bool(true)) if k == "little_endian"));
        if !little {
            return Err(bad("big-endian checkpoints are not supported"));
        }
    }
    let state = match pickles.load()? {
        Value::Dict(entries) => entries,
        _ => return Err(bad("checkpoint does not hold a state dict")),
    };
    let keys = match pickles.load()? {
        Value::List(keys) => keys,
        _ => return Err(bad("storage key list missing")),
    };

    // Storage element types, as named by the persistent ids.
    let mut storage_types: HashMap<String, StorageType> = HashMap::new();
    for (_, v) in &state {
        if let Value::Tensor(t) = v {
            storage_types.insert(t.storage_key.clone(), t.storage_type);
        }
    }
    let mut storages: HashMap<String, Vec<f32>> = HashMap::new();
    let mut pos = pickles.pos;
    for key in keys {
        let Value::Str(key) = key else { return Err(bad("storage key is not a string")) };
        let count = read_i64(bytes, pos)? as usize;
        pos += 8;
        let ty = storage_types.get(&key).copied().unwrap_or(StorageType::Other(8));
        let len = count.checked_mul(ty.size()).ok_or_else(|| bad("storage size overflow"))?;
        let raw = bytes.get(pos..pos + len).ok_or_else(|| bad("file truncated inside a storage"))?;
        pos += len;
        if let Some(values) = ty.decode(raw) {
            storages.insert(key, values);
        }
    }

    let mut tensors = Vec::new();
    for (name, value) in state {
        let (Value::Str(name), Value::Tensor(t)) = (name, value) else { continue };
        let Some(storage) = storages.get(&t.storage_key) else { continue };
        tensors.push((name.clone(), gather(storage, &t).map_err(|e| bad(format!("{name}: {e}")))?));
    }
    Ok(tensors)
}

/// Copies a strided view of `storage` into a new C-ordered tensor.
fn gather(storage: &[f32], t: &TensorRef) -> std::result::Result<PthTensor, String> {
    let n: usize = t.shape.iter().product();
    let last = t.offset + t.shape.iter().zip(&t.stride).map(|(&d, &s)| d.saturating_sub(1) * s).sum::<usize>();
    if n > 0 && last >= storage.len() {
        return Err(format!("view reaches element {last} of a storage of {}", storage.len()));
    }
    let mut data = Vec::with_capacity(n);
    let mut index = vec![0usize; t.shape.len()];
    for _ in 0..n {
        let at = t.offset + index.iter().zip(&t.stride).map(|(i, s)| i * s).sum::<usize>();
        data.push(storage[at]);
        for d in (0..index.len()).rev() {
            index[d] += 1;
            if index[d] < t.shape[d] {
                break;
            }
            index[d] = 0;
        }
    }
    Ok(PthTensor { shape: t.shape.clone(), data })
}

fn bad(msg: impl Into<String>) -> Error {
    Error::Weights(msg.into())
}

fn read_i64(bytes: &[u8], pos: usize) -> Result<i64> {
    let b = bytes.get(pos..pos + 8).ok_or_else(|| bad("file truncated"))?;
    Ok(i64::from_le_bytes(b.try_into().expect("8 bytes")))
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum StorageType {
    Float,
    Double,
    Half,
    Other(usize),
}

impl StorageType {
    fn from_name(name: &str) -> Self {
        match name {
            "FloatStorage" => Self::Float,
            "DoubleStorage" => Self::Double,
            "HalfStorage" => Self::Half,
            "LongStorage" => Self::Other(8),
            "IntStorage" => Self::Other(4),
            "ShortStorage" => Self::Other(2),
            _ => Self::Other(1),
        }
    }

    fn size(self) -> usize {
        match self {
            Self::Float => 4,
            Self::Double => 8,
            Self::Half => 2,
            Self::Other(n) => n,
        }
    }

    fn decode(self, raw: &[u8]) -> Option<Vec<f32>> {
        match self {
            Self::Float => Some(raw.chunks_exact(4).map(|c| f32::from_le_bytes(c.try_into().unwrap())).collect()),
            Self::Double => Some(raw.chunks_exact(8).map(|c| f64::from_le_bytes(c.try_into().unwrap()) as f32).collect()),
            Self::Half => Some(
                raw.chunks_exact(2).map(|c| half::f16::from_le_bytes(c.try_into().unwrap()).to_f32()).collect(),
            ),
            Self::Other(_) => None,
        }
    }
}

#[derive(Debug, Clone)]
struct TensorRef {
    storage_key: String,
    storage_type: StorageType,
    offset: usize,
    shape: Vec<usize>,
    stride: Vec<usize>,
}

/// The subset of Python values a state-dict pickle needs.
#[derive(Debug, Clone)]
enum Value {
    Mark,
    None,
    Bool(bool),
    Int(i64),
    BigInt(Vec<u8>),
    Float,
    Str(String),
    Tuple(Vec<Value>),
    List(Vec<Value>),
    Dict(Vec<(Value, Value)>),
    Global(String, String),
    Storage(String, StorageType),
    Tensor(TensorRef),
    Object,
}

impl Value {
    fn as_usize(&self) -> std::result::Result<usize, Error> {
        match self {
            Value::Int(i) if *i >= 0 => Ok(*i as usize),
            v => Err(bad(format!("expected a non-negative integer, found {v:?}"))),
        }
    }

    fn as_usizes(&self) -> std::result::Result<Vec<usize>, Error> {
        match self {
            Value::Tuple(v) | Value::List(v) => v.iter().map(Value::as_usize).collect(),
            v => Err(bad(format!("expected a tuple of integers, found {v:?}"))),
        }
    }
}

/// A minimal pickle virtual machine (protocols 2–4, the opcodes `torch.save` emits).
struct Unpickler<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Unpickler<'_> {
    fn take(&mut self, n: usize) -> Result<&[u8]> {
        let s = self.bytes.get(self.pos..self.pos + n).ok_or_else(|| bad("file truncated inside a pickle"))?;
        self.pos += n;
        Ok(s)
    }

    fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    fn u16(&mut self) -> Result<u16> {
        Ok(u16::from_le_bytes(self.take(2)?.try_into().unwrap()))
    }

    fn u32(&mut self) -> Result<u32> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }

    fn string(&mut self, n: usize) -> Result<String> {
        String::from_utf8(self.take(n)?.to_vec()).map_err(|_| bad("invalid UTF-8 in pickle"))
    }

    fn line(&mut self) -> Result<String> {
        let end = self.bytes[self.pos..].iter().position(|&b| b == b'\n').ok_or_else(|| bad("unterminated line"))?;
        let s = self.string(end)?;
        self.pos += 1;
        Ok(s)
    }

    /// Runs one pickle up to its STOP opcode and returns the value it built.
    fn load(&mut self) -> Result<Value> {
        let mut stack: Vec<Value> = Vec::new();
        let mut memo: HashMap<u32, Value> = HashMap::new();
        let pop_mark = |stack: &mut Vec<Value>| -> Result<Vec<Value>> {
            let at = stack.iter().rposition(|v| matches!(v, Value::Mark)).ok_or_else(|| bad("MARK missing"))?;
            let items = stack.split_off(at + 1);
            stack.pop();
            Ok(items)
        };
        let pop = |stack: &mut Vec<Value>| stack.pop().ok_or_else(|| bad("pickle stack underflow"));
        loop {
            let op = self.u8()?;
            match op {
                0x80 => {
                    self.u8()?; // PROTO
                }
                0x95 => {
                    self.take(8)?; // FRAME
                }
                b'.' => return pop(&mut stack),
                b'(' => stack.push(Value::Mark),
                b'N' => stack.push(Value::None),
                0x88 => stack.push(Value::Bool(true)),
                0x89 => stack.push(Value::Bool(false)),
                b'J' => stack.push(Value::Int(self.u32()? as i32 as i64)),
                b'K' => stack.push(Value::Int(self.u8()? as i64)),
                b'M' => stack.push(Value::Int(self.u16()? as i64)),
                0x8a => {
                    let n = self.u8()? as usize;
                    let b = self.take(n)?.to_vec();
                    stack.push(if n <= 8 {
                        let mut v = if b.last().is_some_and(|&x| x & 0x80 != 0) { [0xff; 8] } else { [0; 8] };
                        v[..n].copy_from_slice(&b);
                        Value::Int(i64::from_le_bytes(v))
                    } else {
                        Value::BigInt(b)
                    });
                }
                b'G' => {
                    self.take(8)?;
                    stack.push(Value::Float);
                }
                b'X' => {
                    let n = self.u32()? as usize;
                    stack.push(Value::Str(self.string(n)?));
                }
                0x8c => {
                    let n = self.u8()? as usize;
                    stack.push(Value::Str(self.string(n)?));
                }
                b'U' => {
                    let n = self.u8()? as usize;
                    stack.push(Value::Str(String::from_utf8_lossy(self.take(n)?).into_owned()));
                }
                b'T' => {
                    let n = self.u32()? as usize;
                    stack.push(Value::Str(String::from_utf8_lossy(self.take(n)?).into_owned()));
                }
                b')' => stack.push(Value::Tuple(Vec::new())),
                b't' => {
                    let items = pop_mark(&mut stack)?;
                    stack.push(Value::Tuple(items));
                }
                0x85..=0x87 => {
                    let n = (op - 0x84) as usize;
                    if stack.len() < n {
                        return Err(bad("pickle stack underflow"));
                    }
                    let items = stack.split_off(stack.len() - n);
                    stack.push(Value::Tuple(items));
                }
                b']' => stack.push(Value::List(Vec::new())),
                b'}' => stack.push(Value::Dict(Vec::new())),
                b'a' => {
                    let v = pop(&mut stack)?;
                    if let Some(Value::List(l)) = stack.last_mut() {
                        l.push(v);
                    }
                }
                b'e' => {
                    let items = pop_mark(&mut stack)?;
                    if let Some(Value::List(l)) = stack.last_mut() {
                        l.extend(items);
                    }
                }
                b's' => {
                    let v = pop(&mut stack)?;
                    let k = pop(&mut stack)?;
                    if let Some(Value::Dict(d)) = stack.last_mut() {
                        d.push((k, v));
                    }
                }
                b'u' => {
                    let items = pop_mark(&mut stack)?;
                    if let Some(Value::Dict(d)) = stack.last_mut() {
                        let mut it = items.into_iter();
                        while let (Some(k), Some(v)) = (it.next(), it.next()) {
                            d.push((k, v));
                        }
                    }
                }
                b'q' => {
                    let i = self.u8()? as u32;
                    memo.insert(i, stack.last().cloned().ok_or_else(|| bad("memo of empty stack"))?);
                }
                b'r' => {
                    let i = self.u32()?;
                    memo.insert(i, stack.last().cloned().ok_or_else(|| bad("memo of empty stack"))?);
                }
                0x94 => {
                    let i = memo.len() as u32;
                    memo.insert(i, stack.last().cloned().ok_or_else(|| bad("memo of empty stack"))?);
                }
                b'h' => {
                    let i = self.u8()? as u32;
                    stack.push(memo.get(&i).cloned().ok_or_else(|| bad("unknown memo key"))?);
                }
                b'j' => {
                    let i = self.u32()?;
                    stack.push(memo.get(&i).cloned().ok_or_else(|| bad("unknown memo key"))?);
                }
                b'c' => {
                    let module = self.line()?;
                    let name = self.line()?;
                    stack.push(Value::Global(module, name));
                }
                0x93 => {
                    let name = pop(&mut stack)?;
                    let module = pop(&mut stack)?;
                    match (module, name) {
                        (Value::Str(m), Value::Str(n)) => stack.push(Value::Global(m, n)),
                        _ => return Err(bad("STACK_GLOBAL needs two strings")),
                    }
                }
                b'Q' => {
                    let pid = pop(&mut stack)?;
                    stack.push(persistent_load(pid)?);
                }
                b'R' => {
                    let args = pop(&mut stack)?;
                    let callable = pop(&mut stack)?;
                    stack.push(reduce(callable, args)?);
                }
                0x81 => {
                    let _args = pop(&mut stack)?; // NEWOBJ
                    let _cls = pop(&mut stack)?;
                    stack.push(Value::Object);
                }
                b'b' => {
                    pop(&mut stack)?; // BUILD: state (e.g. OrderedDict metadata) is not needed
                }
                other => return Err(bad(format!("unsupported pickle opcode 0x{other:02x} at byte {}", self.pos - 1))),
            }
        }
    }
}

/// `('storage', storage_type, key, location, numel[, view_metadata])` → a storage reference.
fn persistent_load(pid: Value) -> Result<Value> {
    let Value::Tuple(parts) = pid else { return Err(bad("persistent id is not a tuple")) };
    match parts.as_slice() {
        [Value::Str(tag), Value::Global(_, ty), Value::Str(key), ..] if tag == "storage" => {
            Ok(Value::Storage(key.clone(), StorageType::from_name(ty)))
        }
        _ => Err(bad("unsupported persistent id")),
    }
}

fn reduce(callable: Value, args: Value) -> Result<Value> {
    let Value::Global(module, name) = &callable else { return Ok(Value::Object) };
    let Value::Tuple(args) = args else { return Err(bad("REDUCE arguments are not a tuple")) };
    match (module.as_str(), name.as_str()) {
        ("collections", "OrderedDict") => Ok(Value::Dict(Vec::new())),
        ("torch._utils", "_rebuild_tensor_v2") | ("torch._utils", "_rebuild_tensor") => {
            let [Value::Storage(key, ty), offset, size, stride, ..] = args.as_slice() else {
                return Err(bad("unexpected _rebuild_tensor arguments"));
            };
            let shape = size.as_usizes()?;
            let stride = stride.as_usizes()?;
            if shape.len() != stride.len() {
                return Err(bad("tensor size and stride differ in rank"));
            }
            Ok(Value::Tensor(TensorRef { storage_key: key.clone(), storage_type: *ty, offset: offset.as_usize()?, shape, stride }))
        }
        _ => Ok(Value::Object),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gather_honours_strides() {
        // A 2×3 tensor stored transposed (column-major): stride (1, 2).
        let storage = [0.0, 3.0, 1.0, 4.0, 2.0, 5.0];
        let t = TensorRef { storage_key: String::new(), storage_type: StorageType::Float, offset: 0, shape: vec![2, 3], stride: vec![1, 2] };
        assert_eq!(gather(&storage, &t).unwrap().data, vec![0.0, 1.0, 2.0, 3.0, 4.0, 5.0]);
        let out_of_range = TensorRef { offset: 1, ..t };
        assert!(gather(&storage, &out_of_range).is_err());
    }

    #[test]
    fn rejects_other_files() {
        assert!(read_legacy_state_dict(b"PK\x03\x04 not a pickle").is_err());
        assert!(read_legacy_state_dict(&[]).is_err());
    }
}
