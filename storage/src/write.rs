//! Every write, described once for the three engines: its SQL with `$1`, `$2`... placeholders
//! in bind order (each once, so MySQL's `?` are derived from it), its values, and what it
//! answers. Each engine runs the same description its own way (`database::Database::write_row`):
//! SQLite and PostgreSQL add `RETURNING *` and queue it for their group commit; MySQL, which has
//! no `RETURNING` on UPDATE, runs it and reads the row back in one transaction.

use chrono::NaiveDateTime;
use sqlx::error::BoxDynError;
use sqlx::{Arguments, Encode, Type};

/// A value a write binds: the column types of the schema, and no other (PostgreSQL's group
/// commit writes these, and only these, into SQL text: see `postgres::literal`).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Text(String),
    NullableText(Option<String>),
    Integer(i32),
    NullableReal(Option<f64>),
    Timestamp(NaiveDateTime),
}

/// `Value::from(x)` for each column type (and `&str`, as text).
macro_rules! value_from {
    ($($type:ty => $variant:ident),* $(,)?) => {
        $(impl From<$type> for Value {
            fn from(value: $type) -> Value {
                Value::$variant(value.into())
            }
        })*
    };
}

value_from! {
    String => Text,
    &str => Text,
    Option<String> => NullableText,
    i32 => Integer,
    Option<f64> => NullableReal,
    NaiveDateTime => Timestamp,
}

/// Adds copies of `values` to any engine's arguments (a group may send a write twice).
pub(crate) fn add_all<'q, A>(values: &[Value], arguments: &mut A) -> sqlx::Result<()>
where
    A: Arguments<'q>,
    String: Encode<'q, A::Database> + Type<A::Database>,
    Option<String>: Encode<'q, A::Database> + Type<A::Database>,
    i32: Encode<'q, A::Database> + Type<A::Database>,
    Option<f64>: Encode<'q, A::Database> + Type<A::Database>,
    NaiveDateTime: Encode<'q, A::Database> + Type<A::Database>,
{
    let add = |value: &Value, arguments: &mut A| -> Result<(), BoxDynError> {
        match value.clone() {
            Value::Text(text) => arguments.add(text),
            Value::NullableText(text) => arguments.add(text),
            Value::Integer(number) => arguments.add(number),
            Value::NullableReal(number) => arguments.add(number),
            Value::Timestamp(at) => arguments.add(at),
        }
    };
    values
        .iter()
        .try_for_each(|value| add(value, arguments))
        .map_err(sqlx::Error::Encode)
}

/// One write: `INSERT`, `UPDATE` or `DELETE` of one table, described for every engine.
#[derive(Debug, Clone)]
pub(crate) struct Write {
    /// The storage operation it is timed as (`db_query_duration_seconds`).
    pub(crate) operation: &'static str,
    /// The table written, whose row MySQL reads back.
    pub(crate) table: &'static str,
    /// The id of the row written (an insert's new id, an update's target).
    pub(crate) id: String,
    /// `$n` placeholders in bind order, each once; no `RETURNING`.
    pub(crate) sql: String,
    pub(crate) values: Vec<Value>,
    /// A duplicate key is no error: it changed nothing (`ON CONFLICT DO NOTHING`).
    pub(crate) duplicates_ignored: bool,
    /// A delete of row `id` and, through the foreign keys, of its dependents (which MySQL does
    /// itself: the course's schema does not cascade).
    pub(crate) cascades: bool,
}

/// `a = $1, b = $2...` (joined by `separator`) and the values, in bind order from `$first`.
fn assignments(
    columns: Vec<(&'static str, Value)>,
    first: usize,
    separator: &str,
) -> (String, Vec<Value>) {
    let sql: Vec<String> = columns
        .iter()
        .enumerate()
        .map(|(at, (name, _))| format!("{name} = ${}", first + at))
        .collect();
    let values = columns.into_iter().map(|(_, value)| value).collect();
    (sql.join(separator), values)
}

impl Write {
    fn new(
        operation: &'static str,
        table: &'static str,
        id: &str,
        sql: String,
        values: Vec<Value>,
    ) -> Write {
        Write {
            operation,
            table,
            id: id.to_owned(),
            sql,
            values,
            duplicates_ignored: false,
            cascades: false,
        }
    }

    /// `INSERT INTO table (columns...) VALUES ($1, ...)`; `id` is the new row's.
    pub(crate) fn insert(
        operation: &'static str,
        table: &'static str,
        id: &str,
        columns: Vec<(&'static str, Value)>,
    ) -> Write {
        let names: Vec<&str> = columns.iter().map(|(name, _)| *name).collect();
        let placeholders: Vec<String> = (1..=columns.len()).map(|n| format!("${n}")).collect();
        let (names, placeholders) = (names.join(", "), placeholders.join(", "));
        let sql = format!("INSERT INTO {table} ({names}) VALUES ({placeholders})");
        let values = columns.into_iter().map(|(_, value)| value).collect();
        Write::new(operation, table, id, sql, values)
    }

    /// `UPDATE table SET column = $1, ... WHERE id = $n`.
    pub(crate) fn update(
        operation: &'static str,
        table: &'static str,
        id: &str,
        columns: Vec<(&'static str, Value)>,
    ) -> Write {
        let last = columns.len() + 1;
        let (set, mut values) = assignments(columns, 1, ", ");
        values.push(Value::from(id));
        let sql = format!("UPDATE {table} SET {set} WHERE id = ${last}");
        Write::new(operation, table, id, sql, values)
    }

    /// `DELETE FROM table WHERE id = $1`, and its dependents with it (see `cascades`).
    pub(crate) fn delete_row(operation: &'static str, table: &'static str, id: &str) -> Write {
        let sql = format!("DELETE FROM {table} WHERE id = $1");
        Write {
            cascades: true,
            ..Write::new(operation, table, id, sql, vec![Value::from(id)])
        }
    }

    /// `DELETE FROM table WHERE a = $1 AND b = $2 ...`.
    pub(crate) fn delete_where(
        operation: &'static str,
        table: &'static str,
        conditions: Vec<(&'static str, Value)>,
    ) -> Write {
        let (conditions, values) = assignments(conditions, 1, " AND ");
        let sql = format!("DELETE FROM {table} WHERE {conditions}");
        Write::new(operation, table, "", sql, values)
    }

    /// The same write, answering 0 rows changed instead of failing on a duplicate key.
    pub(crate) fn ignoring_duplicates(mut self) -> Write {
        self.duplicates_ignored = true;
        self
    }

    /// The statement as SQLite and PostgreSQL run it: the row back when `returning`, a
    /// duplicate skipped when asked.
    /// The values are moved out with it: a queued write owns them.
    pub(crate) fn into_statement(self, returning: bool) -> (String, Vec<Value>) {
        let mut sql = self.sql;
        if self.duplicates_ignored {
            sql.push_str(" ON CONFLICT DO NOTHING");
        }
        if returning {
            sql.push_str(" RETURNING *");
        }
        (sql, self.values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_placeholder_stands_once_in_bind_order() {
        let write = Write::update(
            "update_state",
            "states",
            "id-1",
            vec![("name", "Oregon".into()), ("updated_at", Value::Integer(7))],
        );
        assert_eq!(
            write.sql,
            "UPDATE states SET name = $1, updated_at = $2 WHERE id = $3"
        );
        assert_eq!(write.values.last(), Some(&Value::Text("id-1".into())));
        let write = Write::insert(
            "create_state",
            "states",
            "id-1",
            vec![("id", "id-1".into()), ("name", "Oregon".into())],
        );
        assert_eq!(write.sql, "INSERT INTO states (id, name) VALUES ($1, $2)");
        assert_eq!(
            write.ignoring_duplicates().into_statement(true).0,
            "INSERT INTO states (id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING *"
        );
        let write = Write::delete_where(
            "unlink_amenity",
            "place_amenity",
            vec![("place_id", "p".into()), ("amenity_id", "a".into())],
        );
        assert_eq!(
            write.sql,
            "DELETE FROM place_amenity WHERE place_id = $1 AND amenity_id = $2"
        );
    }
}
