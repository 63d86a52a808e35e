//! The shared line vectors (tests/vectors/ctp01_lines.json), loaded once for every test file.

use ct_parser::DEFAULT_MAX_LINE_LEN;
use serde_json::Value;

const VECTORS: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../tests/vectors/ctp01_lines.json"
));

pub struct Vector {
    pub name: String,
    pub bytes: Vec<u8>,
    /// The parser's line cap for this vector (the default unless the vector sets one).
    pub max_line_len: usize,
    pub expect: Value,
}

impl Vector {
    /// Expected to parse as a read or a session line.
    #[allow(dead_code)] // not every test file asks
    pub fn valid(&self) -> bool {
        self.expect.get("read").is_some() || self.expect.get("session").is_some()
    }
}

pub fn vectors() -> Vec<Vector> {
    let all: Value = serde_json::from_str(VECTORS).expect("vectors are JSON");
    all.as_array()
        .expect("a list")
        .iter()
        .map(|v| {
            let bytes = match (v.get("line"), v.get("line_hex")) {
                (Some(line), _) => line.as_str().unwrap().as_bytes().to_vec(),
                (None, Some(hex)) => from_hex(hex.as_str().unwrap()),
                _ => panic!("vector without a line: {v}"),
            };
            Vector {
                name: v["name"].as_str().unwrap().to_owned(),
                bytes,
                max_line_len: v
                    .get("max_line_len")
                    .map_or(DEFAULT_MAX_LINE_LEN, |n| n.as_u64().unwrap() as usize),
                expect: v["expect"].clone(),
            }
        })
        .collect()
}

fn from_hex(hex: &str) -> Vec<u8> {
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
        .collect()
}
