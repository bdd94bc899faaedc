//! Decoding Kubernetes protobuf request bodies (`application/vnd.kubernetes.protobuf`) into
//! the JSON the rest of the simulator works with.
//!
//! kubectl's typed commands (`create namespace`, `create deployment`, `run`, ...) send
//! protobuf, and kube-apiserver offers no fallback a client understands, so the simulator
//! must read it. The body is the `k8s\0` magic and a `runtime.Unknown` envelope whose `raw`
//! holds the object; [`schema`] (generated from k8s-pb and k8s-openapi) gives every field's
//! tag, JSON name and kind. Responses stay JSON: clients list JSON as acceptable too.

mod schema;

use base64::Engine as _;
use serde_json::{Map, Value, json};

/// A protobuf message: its full name (`api.core.v1.Pod`) and fields.
#[derive(Debug)]
pub struct Message {
    pub name: &'static str,
    pub fields: &'static [Field],
}

/// One field of a [`Message`].
#[derive(Debug)]
pub struct Field {
    pub tag: u32,
    /// The JSON name (empty for inlined embedded structs).
    pub json: &'static str,
    pub kind: Kind,
    pub repeated: bool,
}

/// What a field holds.
#[derive(Debug)]
pub enum Kind {
    String,
    Bytes,
    Bool,
    Int,
    Double,
    Float,
    /// A message, by full name.
    Message(&'static str),
    /// An embedded Go struct whose fields appear in the parent's JSON.
    Inline(&'static str),
    /// `map<string, V>`.
    Map(&'static Kind),
}

/// Why a body could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProtoError {
    #[error("the body does not start with the Kubernetes protobuf magic number")]
    BadMagic,
    #[error("truncated or malformed protobuf at byte {0}")]
    Malformed(usize),
    #[error("protobuf field {field} of {message} has wire type {wire}, which does not fit its kind")]
    WireType {
        message: &'static str,
        field: u32,
        wire: u8,
    },
    #[error("no protobuf schema for kind {kind:?} in apiVersion {api_version:?}")]
    UnknownType { api_version: String, kind: String },
}

/// The Kubernetes protobuf magic prefix.
pub const MAGIC: &[u8] = b"k8s\x00";

fn lookup(name: &str) -> Option<&'static Message> {
    schema::MESSAGES
        .binary_search_by(|m| m.name.cmp(name))
        .ok()
        .map(|i| &schema::MESSAGES[i])
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    /// Offset of `buf` in the whole body, for error positions.
    base: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], base: usize) -> Self {
        Self { buf, pos: 0, base }
    }

    fn err(&self) -> ProtoError {
        ProtoError::Malformed(self.base + self.pos)
    }

    fn done(&self) -> bool {
        self.pos >= self.buf.len()
    }

    fn varint(&mut self) -> Result<u64, ProtoError> {
        let mut v: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = *self.buf.get(self.pos).ok_or_else(|| self.err())?;
            self.pos += 1;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(self.err())
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], ProtoError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|e| *e <= self.buf.len())
            .ok_or_else(|| self.err())?;
        let out = &self.buf[self.pos..end];
        self.pos = end;
        Ok(out)
    }

    fn len_delimited(&mut self) -> Result<(&'a [u8], usize), ProtoError> {
        let n = usize::try_from(self.varint()?).map_err(|_| self.err())?;
        let at = self.base + self.pos;
        Ok((self.bytes(n)?, at))
    }

    fn skip(&mut self, wire: u8) -> Result<(), ProtoError> {
        match wire {
            0 => self.varint().map(drop),
            1 => self.bytes(8).map(drop),
            2 => self.len_delimited().map(drop),
            5 => self.bytes(4).map(drop),
            _ => Err(self.err()),
        }
    }
}

fn fixed(bytes: &[u8]) -> u64 {
    bytes.iter().rev().fold(0u64, |acc, b| (acc << 8) | u64::from(*b))
}

/// Decode a whole request body: magic, `runtime.Unknown` envelope, then the object.
///
/// # Errors
/// [`ProtoError`] for a malformed body or a kind without a schema.
pub fn decode(body: &[u8]) -> Result<Value, ProtoError> {
    let rest = body.strip_prefix(MAGIC).ok_or(ProtoError::BadMagic)?;
    let mut r = Reader::new(rest, MAGIC.len());
    let (mut api_version, mut kind, mut raw) = (String::new(), String::new(), None);
    while !r.done() {
        let key = r.varint()?;
        match (key >> 3, (key & 7) as u8) {
            (1, 2) => {
                let (tm, at) = r.len_delimited()?;
                let mut t = Reader::new(tm, at);
                while !t.done() {
                    let k = t.varint()?;
                    match (k >> 3, (k & 7) as u8) {
                        (1, 2) => api_version = String::from_utf8_lossy(t.len_delimited()?.0).into_owned(),
                        (2, 2) => kind = String::from_utf8_lossy(t.len_delimited()?.0).into_owned(),
                        (_, w) => t.skip(w)?,
                    }
                }
            }
            (2, 2) => raw = Some(r.len_delimited()?),
            (_, w) => r.skip(w)?,
        }
    }
    let package = match api_version.as_str() {
        "v1" => "api.core.v1".to_string(),
        "meta.k8s.io/v1" => "apimachinery.pkg.apis.meta.v1".to_string(),
        other => match other.split_once('/') {
            Some((group, version)) => {
                format!("api.{}.{version}", group.split('.').next().unwrap_or(group))
            }
            None => String::new(),
        },
    };
    let message = lookup(&format!("{package}.{kind}"))
        .or_else(|| lookup(&format!("apimachinery.pkg.apis.meta.v1.{kind}")))
        .ok_or_else(|| ProtoError::UnknownType {
            api_version: api_version.clone(),
            kind: kind.clone(),
        })?;
    let (raw, at) = raw.unwrap_or((&[], 0));
    let mut obj = decode_message(message, raw, at)?;
    obj.insert("apiVersion".into(), json!(api_version));
    obj.insert("kind".into(), json!(kind));
    Ok(Value::Object(obj))
}

fn decode_message(message: &'static Message, bytes: &[u8], base: usize) -> Result<Map<String, Value>, ProtoError> {
    let mut r = Reader::new(bytes, base);
    let mut out = Map::new();
    while !r.done() {
        let key = r.varint()?;
        let (tag, wire) = (u32::try_from(key >> 3).map_err(|_| r.err())?, (key & 7) as u8);
        let Some(field) = message.fields.iter().find(|f| f.tag == tag) else {
            r.skip(wire)?;
            continue;
        };
        let wrong = || ProtoError::WireType {
            message: message.name,
            field: tag,
            wire,
        };
        // Packed repeated scalars (not used by Kubernetes, but legal protobuf).
        if field.repeated && wire == 2 && matches!(field.kind, Kind::Int | Kind::Bool) {
            let (packed, at) = r.len_delimited()?;
            let mut p = Reader::new(packed, at);
            while !p.done() {
                let v = p.varint()?;
                push(&mut out, field, scalar_varint(&field.kind, v));
            }
            continue;
        }
        let value = match (&field.kind, wire) {
            (Kind::Int | Kind::Bool, 0) => scalar_varint(&field.kind, r.varint()?),
            (Kind::Double, 1) => json!(f64::from_bits(fixed(r.bytes(8)?))),
            (Kind::Float, 5) => json!(f32::from_bits(u32::try_from(fixed(r.bytes(4)?)).map_err(|_| r.err())?)),
            (Kind::String, 2) => json!(String::from_utf8_lossy(r.len_delimited()?.0)),
            (Kind::Bytes, 2) => {
                json!(base64::engine::general_purpose::STANDARD.encode(r.len_delimited()?.0))
            }
            (Kind::Message(name), 2) => {
                let (b, at) = r.len_delimited()?;
                decode_named(name, b, at)?
            }
            (Kind::Inline(name), 2) => {
                let (b, at) = r.len_delimited()?;
                let inner = lookup(name).ok_or_else(wrong)?;
                for (k, v) in decode_message(inner, b, at)? {
                    out.insert(k, v);
                }
                continue;
            }
            (Kind::Map(value_kind), 2) => {
                let (b, at) = r.len_delimited()?;
                let (k, v) = decode_map_entry(value_kind, b, at)?;
                let map = out.entry(field.json).or_insert_with(|| json!({}));
                if let (Some(m), Some(v)) = (map.as_object_mut(), v) {
                    m.insert(k, v);
                }
                continue;
            }
            _ => return Err(wrong()),
        };
        push(&mut out, field, value);
    }
    // Go's JSON omits empty strings and zero times (`omitempty`); gogo protobuf writes them.
    out.retain(|_, v| !(v.is_null() || v.as_str() == Some("")));
    Ok(out)
}

fn push(out: &mut Map<String, Value>, field: &Field, value: Value) {
    if field.repeated {
        if let Some(list) = out.entry(field.json).or_insert_with(|| json!([])).as_array_mut() {
            list.push(value);
        }
    } else {
        out.insert(field.json.to_string(), value);
    }
}

#[allow(clippy::cast_possible_wrap)] // NB: protobuf int64/int32 travel as two's-complement varints.
fn scalar_varint(kind: &Kind, v: u64) -> Value {
    match kind {
        Kind::Bool => json!(v != 0),
        _ => json!(v as i64),
    }
}

fn decode_map_entry(value_kind: &Kind, bytes: &[u8], base: usize) -> Result<(String, Option<Value>), ProtoError> {
    let mut r = Reader::new(bytes, base);
    let (mut key, mut value) = (String::new(), None);
    while !r.done() {
        let k = r.varint()?;
        match (k >> 3, (k & 7) as u8, value_kind) {
            (1, 2, _) => key = String::from_utf8_lossy(r.len_delimited()?.0).into_owned(),
            (2, 2, Kind::String) => value = Some(json!(String::from_utf8_lossy(r.len_delimited()?.0))),
            (2, 2, Kind::Bytes) => {
                value = Some(json!(
                    base64::engine::general_purpose::STANDARD.encode(r.len_delimited()?.0)
                ))
            }
            (2, 2, Kind::Message(name)) => {
                let (b, at) = r.len_delimited()?;
                value = Some(decode_named(name, b, at)?);
            }
            (_, w, _) => r.skip(w)?,
        }
    }
    // A map value that was never written is its zero value.
    if value.is_none() {
        value = Some(match value_kind {
            Kind::Message(_) => json!({}),
            _ => json!(""),
        });
    }
    Ok((key, value))
}

/// Decode a message, with the special JSON forms of the apimachinery wrapper types.
fn decode_named(name: &'static str, bytes: &[u8], base: usize) -> Result<Value, ProtoError> {
    let fields = || -> Result<Vec<(u64, Vec<u8>, u64)>, ProtoError> {
        let mut r = Reader::new(bytes, base);
        let mut out = Vec::new();
        while !r.done() {
            let k = r.varint()?;
            match (k & 7) as u8 {
                0 => out.push((k >> 3, Vec::new(), r.varint()?)),
                2 => out.push((k >> 3, r.len_delimited()?.0.to_vec(), 0)),
                w => r.skip(w)?,
            }
        }
        Ok(out)
    };
    let num = |fs: &[(u64, Vec<u8>, u64)], tag| fs.iter().find(|f| f.0 == tag).map_or(0, |f| f.2);
    let text = |fs: &[(u64, Vec<u8>, u64)], tag| {
        fs.iter()
            .find(|f| f.0 == tag)
            .map(|f| String::from_utf8_lossy(&f.1).into_owned())
    };
    match name {
        "apimachinery.pkg.apis.meta.v1.Time" | "apimachinery.pkg.apis.meta.v1.MicroTime" => {
            let fs = fields()?;
            #[allow(clippy::cast_possible_wrap)]
            let (secs, nanos) = (num(&fs, 1) as i64, num(&fs, 2));
            if secs == 0 && nanos == 0 {
                return Ok(Value::Null);
            }
            let ts = jiff::Timestamp::new(secs, i32::try_from(nanos).unwrap_or(0))
                .map_err(|_| ProtoError::Malformed(base))?;
            Ok(json!(if name.ends_with("MicroTime") {
                format!("{ts:.6}")
            } else {
                jiff::Timestamp::from_second(secs)
                    .map_err(|_| ProtoError::Malformed(base))?
                    .to_string()
            }))
        }
        "apimachinery.pkg.api.resource.Quantity" => Ok(json!(text(&fields()?, 1).unwrap_or_default())),
        "apimachinery.pkg.util.intstr.IntOrString" => {
            let fs = fields()?;
            Ok(if num(&fs, 1) == 1 {
                json!(text(&fs, 3).unwrap_or_default())
            } else {
                #[allow(clippy::cast_possible_truncation, clippy::cast_possible_wrap)]
                let n = num(&fs, 2) as i32;
                json!(n)
            })
        }
        "apimachinery.pkg.runtime.RawExtension" | "apimachinery.pkg.apis.meta.v1.FieldsV1" => {
            let raw = fields()?
                .into_iter()
                .find(|f| f.0 == 1)
                .map(|f| f.1)
                .unwrap_or_default();
            if raw.is_empty() {
                return Ok(Value::Null);
            }
            serde_json::from_slice(&raw).map_err(|_| ProtoError::Malformed(base))
        }
        "apimachinery.pkg.apis.meta.v1.Duration" => {
            #[allow(clippy::cast_possible_wrap)]
            let ns = num(&fields()?, 1) as i64;
            Ok(json!(format!("{}s", ns as f64 / 1e9)))
        }
        _ => {
            let message = lookup(name).ok_or(ProtoError::Malformed(base))?;
            Ok(Value::Object(decode_message(message, bytes, base)?))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn varint(mut v: u64, out: &mut Vec<u8>) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(b);
                return;
            }
            out.push(b | 0x80);
        }
    }

    fn ld(tag: u64, bytes: &[u8], out: &mut Vec<u8>) {
        varint(tag << 3 | 2, out);
        varint(bytes.len() as u64, out);
        out.extend_from_slice(bytes);
    }

    fn envelope(api_version: &str, kind: &str, raw: &[u8]) -> Vec<u8> {
        let mut tm = Vec::new();
        ld(1, api_version.as_bytes(), &mut tm);
        ld(2, kind.as_bytes(), &mut tm);
        let mut body = MAGIC.to_vec();
        ld(1, &tm, &mut body);
        ld(2, raw, &mut body);
        body
    }

    #[test]
    fn schema_is_sorted_and_resolvable() {
        assert!(schema::MESSAGES.windows(2).all(|w| w[0].name < w[1].name));
        for m in schema::MESSAGES {
            for f in m.fields {
                if let Kind::Message(n) | Kind::Inline(n) | Kind::Map(Kind::Message(n)) = &f.kind {
                    assert!(lookup(n).is_some(), "{}.{} -> {n}", m.name, f.json);
                }
            }
        }
    }

    #[test]
    fn decodes_a_namespace_with_labels_and_zero_fields() {
        // ObjectMeta: name=1, generateName=2 (empty), creationTimestamp=8 (zero), labels=11.
        let mut meta = Vec::new();
        ld(1, b"shop", &mut meta);
        ld(2, b"", &mut meta);
        ld(8, &[], &mut meta);
        let mut entry = Vec::new();
        ld(1, b"env", &mut entry);
        ld(2, b"prod", &mut entry);
        ld(11, &entry, &mut meta);
        let mut ns = Vec::new();
        ld(1, &meta, &mut ns);
        ld(2, &[], &mut ns);
        let v = decode(&envelope("v1", "Namespace", &ns)).unwrap();
        assert_eq!(
            v,
            json!({"metadata": {"name": "shop", "labels": {"env": "prod"}}, "spec": {}, "apiVersion": "v1", "kind": "Namespace"})
        );
    }

    #[test]
    fn decodes_int_or_string_and_replicas() {
        // DeploymentSpec.replicas = 1 (varint), strategy.rollingUpdate.maxSurge = "25%".
        let mut ios = Vec::new();
        varint(1 << 3, &mut ios);
        varint(1, &mut ios);
        ld(3, b"25%", &mut ios);
        let mut ru = Vec::new();
        ld(2, &ios, &mut ru);
        let mut strategy = Vec::new();
        ld(1, b"RollingUpdate", &mut strategy);
        ld(2, &ru, &mut strategy);
        let mut spec = Vec::new();
        varint(1 << 3, &mut spec);
        varint(0, &mut spec);
        ld(4, &strategy, &mut spec);
        let mut d = Vec::new();
        ld(2, &spec, &mut d);
        let v = decode(&envelope("apps/v1", "Deployment", &d)).unwrap();
        assert_eq!(v["spec"]["replicas"], 0);
        assert_eq!(v["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
    }

    #[test]
    fn malformed_bodies_are_errors_not_panics() {
        assert_eq!(decode(b"{}"), Err(ProtoError::BadMagic));
        assert!(matches!(decode(b"k8s\x00\x0a\xff\xff"), Err(ProtoError::Malformed(_))));
        assert!(matches!(
            decode(&envelope("v1", "Nope", &[])),
            Err(ProtoError::UnknownType { .. })
        ));
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..2000 {
            let mut body = envelope("apps/v1", "Deployment", &[]);
            body.truncate(4);
            body.extend((0..rng.usize(0..64)).map(|_| rng.u8(..)));
            let _ = decode(&body);
        }
    }
}
