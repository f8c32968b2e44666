//! A write's values as PostgreSQL constants, for a group commit's one simple-query message (that
//! protocol takes no parameters: see `postgres::writer`).
//!
//! The fence around putting values into SQL text:
//! - only the schema's own column types can be written (`crate::write::Value` is a closed enum:
//!   no other type reaches this module);
//! - every value, numbers and times included, is a quoted, untyped constant `E'...'`, whose
//!   only special characters are `\` and `'` (both doubled), whatever
//!   `standard_conforming_strings` says; PostgreSQL gives it the column's type, as it does a
//!   parameter;
//! - text with a NUL byte cannot be a constant (the query is a C string on the server): its
//!   write runs alone, bound as a parameter;
//! - at connect, the session must be UTF8 with `standard_conforming_strings` on
//!   (`check_session`), the settings under which the escaping below is the server's own;
//! - property tests: our escaping agrees with `postgres-protocol`'s `escape_literal` (below),
//!   and generated Unicode round-trips through a real server (tests/tests/pg_literals.rs);
//! - `PG_GROUP_COMMIT=off` turns grouping off during an incident: every write runs alone, as
//!   a prepared statement with its parameters.

use crate::write::Value;

/// `E'...'`: an untyped string constant whose backslashes are escapes whatever
/// `standard_conforming_strings` says, so `\` and `'` are the only characters to escape.
fn quoted(text: &str, out: &mut String) -> bool {
    if text.contains('\0') {
        return false;
    }
    out.reserve(text.len() + 3);
    out.push_str("E'");
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\'' => out.push_str("''"),
            c => out.push(c),
        }
    }
    out.push('\'');
    true
}

/// Rust's shortest representation that reads back as the same double, as float8in does.
fn real(number: f64) -> String {
    if number.is_nan() {
        "NaN".to_owned()
    } else if number.is_infinite() {
        if number > 0.0 {
            "Infinity"
        } else {
            "-Infinity"
        }
        .to_owned()
    } else {
        number.to_string()
    }
}

/// Appends `value` as a constant to `out`; false when it cannot be one.
pub(crate) fn write_literal(value: &Value, out: &mut String) -> bool {
    match value {
        Value::Text(text) | Value::NullableText(Some(text)) => quoted(text, out),
        Value::Integer(number) => quoted(&number.to_string(), out),
        Value::NullableReal(Some(number)) => quoted(&real(*number), out),
        // Microseconds, as a TIMESTAMP keeps them (`models::now` has no finer digits).
        Value::Timestamp(at) => quoted(&at.format("%Y-%m-%d %H:%M:%S%.6f").to_string(), out),
        Value::NullableText(None) | Value::NullableReal(None) => {
            out.push_str("NULL");
            true
        }
    }
}

/// `sql` with each `$n` replaced by the n-th value as a constant; None when one cannot be
/// written or is missing.
pub(crate) fn inlined(sql: &str, values: &[Value]) -> Option<String> {
    let mut literals = Vec::with_capacity(values.len());
    for value in values {
        let mut literal = String::new();
        if !write_literal(value, &mut literal) {
            return None;
        }
        literals.push(literal);
    }
    let mut out =
        String::with_capacity(sql.len() + literals.iter().map(String::len).sum::<usize>());
    let mut rest = sql;
    while let Some(at) = rest.find('$') {
        out.push_str(&rest[..at]);
        rest = &rest[at + 1..];
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        let literal = rest[..digits]
            .parse::<usize>()
            .ok()
            .and_then(|n| literals.get(n.checked_sub(1)?))?;
        out.push_str(literal);
        rest = &rest[digits..];
    }
    out.push_str(rest);
    Some(out)
}

/// The session settings under which `quoted` is PostgreSQL's own escaping: the text is sent as
/// UTF-8 and read as UTF-8, and `''` is a quote inside a constant. Checked once at connect, so
/// that a server configured otherwise fails at start, not with a mangled value.
pub(crate) async fn check_session(pool: &sqlx::PgPool) -> crate::error::Result<()> {
    let (encoding, conforming): (String, String) = sqlx::query_as(
        "SELECT current_setting('client_encoding'), \
                current_setting('standard_conforming_strings')",
    )
    .fetch_one(pool)
    .await?;
    if encoding != "UTF8" || conforming != "on" {
        return Err(crate::error::StorageError::Session(format!(
            "client_encoding is {encoding} and standard_conforming_strings is {conforming}; \
             the writes need UTF8 and on"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(value: Option<&str>) -> Value {
        Value::NullableText(value.map(str::to_owned))
    }

    #[test]
    fn values_become_escaped_constants_in_place_of_their_placeholders() {
        let values = [text(Some("it's")), text(Some("back\\slash $1")), text(None)];
        assert_eq!(
            inlined("INSERT INTO t VALUES ($1, $2, $2, $3, $10)", &values),
            None,
            "$10 has no value"
        );
        assert_eq!(
            inlined("INSERT INTO t VALUES ($1, $2, $2, $3)", &values).as_deref(),
            Some(r"INSERT INTO t VALUES (E'it''s', E'back\\slash $1', E'back\\slash $1', NULL)")
        );
    }

    #[test]
    fn text_with_a_nul_byte_is_no_constant() {
        assert_eq!(inlined("UPDATE t SET a = $1", &[text(Some("a\0b"))]), None);
    }

    proptest::proptest! {
        /// The text between the quotes is what libpq's rules (`postgres-protocol`'s
        /// `escape_literal`: quotes and backslashes doubled, `E` before a backslash) make of it.
        #[test]
        fn text_is_escaped_as_postgres_protocol_escapes_it(text in "[^\\x00]{0,64}") {
            let mut ours = String::new();
            proptest::prop_assert!(quoted(&text, &mut ours));
            let theirs = postgres_protocol::escape::escape_literal(&text);
            let inner = |literal: &str| {
                let start = literal.find('\'').map_or(0, |at| at + 1);
                literal[start..literal.len() - 1].to_owned()
            };
            proptest::prop_assert_eq!(inner(&ours), inner(&theirs));
        }
    }

    #[test]
    fn numbers_and_times_are_quoted_constants() {
        let at = chrono::DateTime::from_timestamp(1_700_000_000, 123_456_000)
            .unwrap_or_default()
            .naive_utc();
        let values = [
            Value::Integer(-42),
            Value::NullableReal(Some(0.1)),
            Value::NullableReal(Some(f64::NEG_INFINITY)),
            Value::Timestamp(at),
        ];
        assert_eq!(
            inlined("V($1, $2, $3, $4)", &values).as_deref(),
            Some("V(E'-42', E'0.1', E'-Infinity', E'2023-11-14 22:13:20.123456')")
        );
    }
}
