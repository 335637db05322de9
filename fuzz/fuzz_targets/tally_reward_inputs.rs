//! Epoch inputs on arbitrary bytes: no panic; the streaming decoder and the
//! serde reference decoder agree (both accept with the same inputs, or both
//! refuse with the same kind of error), also when the bytes trickle in a few
//! at a time; decoded inputs re-encode to canonical bytes that decode to the
//! same inputs with the same CID.
#![no_main]

use std::io::Read;

use libfuzzer_sys::fuzz_target;
use tally_reward::inputs::EpochInputs;
use tally_reward::{Error, Limits};

/// A reader handing out at most `step` bytes a call.
struct Trickle<'a> {
    bytes: &'a [u8],
    step: usize,
}

impl Read for Trickle<'_> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = self.step.min(out.len()).min(self.bytes.len());
        out[..n].copy_from_slice(&self.bytes[..n]);
        self.bytes = &self.bytes[n..];
        Ok(n)
    }
}

fn kind(r: &Result<EpochInputs, Error>) -> Option<std::mem::Discriminant<Error>> {
    r.as_ref().err().map(std::mem::discriminant)
}

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        max_accounts: 1_000,
        max_input_bytes: 1 << 20,
        ..Limits::default()
    };
    let streamed = EpochInputs::from_json(data, &limits);
    let reference = EpochInputs::from_json_reference(data, &limits);
    assert_eq!(kind(&streamed), kind(&reference), "{streamed:?} / {reference:?}");
    if let (Ok(s), Ok(r)) = (&streamed, &reference) {
        assert_eq!(s, r);
    }
    if data.len() <= limits.max_input_bytes {
        let step = 1 + data.first().map_or(0, |&b| usize::from(b % 13));
        let trickled = EpochInputs::from_reader(Trickle { bytes: data, step }, &limits);
        assert_eq!(trickled, streamed);
    }
    if let Ok(inputs) = streamed {
        let bytes = inputs.canonical_bytes().expect("canonical bytes");
        let again = EpochInputs::from_json(&bytes, &limits).expect("canonical bytes decode");
        assert_eq!(again, inputs);
        assert_eq!(again.cid().expect("cid"), inputs.cid().expect("cid"));
    }
});
