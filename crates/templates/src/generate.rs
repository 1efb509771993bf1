//! Generated secret values: passwords a template's `secret` parameters get when a deploy
//! does not give one. Drawn from the [`RandomSource`] the caller hands in: the system's
//! CSPRNG (`ring::rand::SystemRandom`) in the server, a fixed one in tests (ring's own
//! `SecureRandom` is sealed, so tests could not supply one).

pub use ring::rand::SystemRandom;
use satusky_core::secrets::SecretValue;

/// The characters of a generated value: safe unquoted in URLs, shells and config files.
const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
/// Bytes at or above this are drawn again, so every character is equally likely
/// (248 = 4 × 62).
const UNBIASED_BELOW: u8 = 248;
/// Draws of 64 bytes before giving up on a source that never yields a usable byte.
const MAX_DRAWS: usize = 64;

/// The random source failed (or never gave a usable byte).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the random source failed")]
pub struct RandomError;

/// Where random bytes come from.
pub trait RandomSource {
    fn fill(&self, dest: &mut [u8]) -> Result<(), RandomError>;
}

impl RandomSource for SystemRandom {
    fn fill(&self, dest: &mut [u8]) -> Result<(), RandomError> {
        ring::rand::SecureRandom::fill(self, dest).map_err(|_| RandomError)
    }
}

/// `length` characters of `[A-Za-z0-9]`, each uniformly drawn.
pub fn secret(rng: &dyn RandomSource, length: usize) -> Result<SecretValue, RandomError> {
    let mut out = String::with_capacity(length);
    let mut buf = [0u8; 64];
    for _ in 0..MAX_DRAWS {
        rng.fill(&mut buf)?;
        for b in buf.iter().filter(|b| **b < UNBIASED_BELOW) {
            if out.len() == length {
                return Ok(SecretValue::new(out));
            }
            out.push(char::from(ALPHABET[usize::from(*b) % ALPHABET.len()]));
        }
        if out.len() == length {
            return Ok(SecretValue::new(out));
        }
    }
    Err(RandomError)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::cell::Cell;

    /// A deterministic source: counts up from a seed.
    pub(crate) struct Counting(pub Cell<u8>);

    impl RandomSource for Counting {
        fn fill(&self, dest: &mut [u8]) -> Result<(), RandomError> {
            for b in dest {
                *b = self.0.get();
                self.0.set(self.0.get().wrapping_add(1));
            }
            Ok(())
        }
    }

    #[test]
    fn values_have_the_length_and_alphabet_and_skip_biased_bytes() {
        let rng = Counting(Cell::new(0));
        let v = secret(&rng, 32).unwrap();
        assert_eq!(v.expose().len(), 32);
        assert!(v.expose().bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_eq!(&v.expose()[..3], "ABC");
        // Bytes 248..=255 are skipped: 246, 247, then 0 ('A').
        let rng = Counting(Cell::new(246));
        let v = secret(&rng, 3).unwrap();
        let at = |b: usize| char::from(ALPHABET[b % ALPHABET.len()]);
        assert_eq!(v.expose(), format!("{}{}A", at(246), at(247)));
    }

    #[test]
    fn the_system_source_gives_different_values() {
        let rng = ring::rand::SystemRandom::new();
        let a = secret(&rng, 32).unwrap();
        let b = secret(&rng, 32).unwrap();
        assert_ne!(a, b);
    }

    struct Broken;

    impl RandomSource for Broken {
        fn fill(&self, _: &mut [u8]) -> Result<(), RandomError> {
            Err(RandomError)
        }
    }

    #[test]
    fn a_failing_source_is_an_error() {
        assert_eq!(secret(&Broken, 8), Err(RandomError));
        struct High;
        impl RandomSource for High {
            fn fill(&self, dest: &mut [u8]) -> Result<(), RandomError> {
                dest.fill(255);
                Ok(())
            }
        }
        assert_eq!(secret(&High, 8), Err(RandomError));
    }
}
