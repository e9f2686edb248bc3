//! Serde through `Display`/`FromStr`: for the protocol, a value's text form is its
//! wire form (`"10.0.0.0/8"`, `"static"`, `"02:00:00:00:00:01"`). The `fib` and
//! `dataplane` crates have no serde; these helpers let a field of their types say
//! `#[serde(with = "crate::proto::text")]` (or `text::opt` for an `Option`) instead
//! of a module per type.

use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serializer};
use std::borrow::Cow;
use std::fmt::Display;
use std::str::FromStr;

pub fn serialize<T: Display, S: Serializer>(value: &T, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(value)
}

pub fn deserialize<'de, T, D>(d: D) -> Result<T, D::Error>
where
    T: FromStr,
    T::Err: Display,
    D: Deserializer<'de>,
{
    let s = <Cow<'de, str>>::deserialize(d)?;
    s.parse().map_err(D::Error::custom)
}

/// The same for `Option<T>`: `null` is `None`.
pub mod opt {
    use super::*;

    pub fn serialize<T: Display, S: Serializer>(
        value: &Option<T>,
        s: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => s.collect_str(v),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, T, D>(d: D) -> Result<Option<T>, D::Error>
    where
        T: FromStr,
        T::Err: Display,
        D: Deserializer<'de>,
    {
        let s = <Option<Cow<'de, str>>>::deserialize(d)?;
        s.map(|s| s.parse().map_err(D::Error::custom)).transpose()
    }
}

/// `Serialize`/`Deserialize` for a type of this crate through its text form.
macro_rules! serde_as_text {
    ($t:ty) => {
        impl serde::Serialize for $t {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                $crate::proto::text::serialize(self, s)
            }
        }
        impl<'de> serde::Deserialize<'de> for $t {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                $crate::proto::text::deserialize(d)
            }
        }
    };
}
pub(crate) use serde_as_text;

#[cfg(test)]
mod tests {
    use dataplane::wire::ethernet::EthernetAddress;
    use fib::{Ipv4Prefix, Protocol};
    use serde::{Deserialize, Serialize};

    #[derive(Debug, PartialEq, Serialize, Deserialize)]
    struct Fields {
        #[serde(with = "super")]
        prefix: Ipv4Prefix,
        #[serde(with = "super")]
        protocol: Protocol,
        #[serde(with = "super::opt", default)]
        mac: Option<EthernetAddress>,
    }

    #[test]
    fn text_forms_round_trip_and_bad_text_is_an_error() {
        let json = r#"{"prefix":"10.0.0.0/8","protocol":"static","mac":"02:00:00:00:00:01"}"#;
        let f: Fields = serde_json::from_str(json).unwrap();
        assert_eq!(serde_json::to_string(&f).unwrap(), json);
        let none: Fields =
            serde_json::from_str(r#"{"prefix":"10.0.0.0/8","protocol":"kernel"}"#).unwrap();
        assert_eq!(none.mac, None);
        assert!(
            serde_json::from_str::<Fields>(r#"{"prefix":"10.0.0.1/8","protocol":"static"}"#)
                .is_err()
        );
        assert!(
            serde_json::from_str::<Fields>(r#"{"prefix":"10.0.0.0/8","protocol":"nope"}"#).is_err()
        );
    }
}
